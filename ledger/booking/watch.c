/* watch.c: what `carrot-ledger run` shows on metrics-port: its counts, the
 * freshness of the ledger, consumer lag, the process, and readiness
 * (PostgreSQL reachable, partitions assigned). Every call is a no-op when
 * metrics are off. */
#include "carrot/kafka_lag.h"
#include "carrot/log.h"
#include "carrot/metrics.h"
#include "carrot/timeutil.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ledger_watch_s {
    carrot_metrics_t *m;
    carrot_lag_t *lag;
    carrot_metric_t *consumed, *booked, *already, *dead, *pg_errors, *batches, *last_commit;
    carrot_metric_t *freshness;
    carrot_metric_t *drift_ok, *drift_failed, *drift_checked;
    struct drift_gauges {
        char *program;
        carrot_metric_t *differing, *points;
    } * drift;
    int ndrift;
};

ledger_watch_t *ledger_watch_new(const ledger_conf_t *cf, char *errstr, size_t errstr_size) {
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    ledger_watch_t *w = calloc(1, sizeof(*w));
    if (!w) goto oom;
    if (!cf->metrics_port) return w;
    carrot_metrics_t *m = w->m = carrot_metrics_new();
    if (!m || carrot_metrics_add_process(m, "carrot-ledger") != 0 ||
        !(w->lag = carrot_lag_new(m, cf->group)) ||
        carrot_metrics_check(m, "kafka", 0, "not yet in the consumer group") != 0 ||
        carrot_metrics_check(m, "postgres", 0, "not yet connected") != 0 ||
        !(w->consumed = carrot_metrics_counter(m, "carrot_ledger_awards_consumed_total",
                                               "Award messages read and committed.", NULL)) ||
        !(w->booked = carrot_metrics_counter(m, "carrot_ledger_awards_booked_total",
                                             "Awards booked into the journal.", NULL)) ||
        !(w->already = carrot_metrics_counter(m, "carrot_ledger_already_booked_total",
                                              "Awards found booked already (replays).", NULL)) ||
        !(w->dead = carrot_metrics_counter(m, "carrot_dead_letters_total",
                                           "Messages sent to a dead-letter topic, by stage.",
                                           "stage=\"ledger\",reason=\"undecodable or refused\"")) ||
        !(w->pg_errors = carrot_metrics_counter(m, "carrot_ledger_postgres_errors_total",
                                                "PostgreSQL calls that failed and were retried.",
                                                NULL)) ||
        !(w->batches = carrot_metrics_counter(m, "carrot_ledger_batches_total",
                                              "PostgreSQL transactions committed.", NULL)) ||
        !(w->last_commit = carrot_metrics_gauge(
              m, "carrot_ledger_last_commit_timestamp_seconds",
              "When the last batch committed, or the ledger started (Unix time).", NULL)) ||
        !(w->freshness = carrot_metrics_histogram(
              m, "carrot_ledger_produce_to_commit_seconds",
              "From an award's Kafka timestamp to the commit of the batch that booked it.", bounds,
              (int)(sizeof(bounds) / sizeof(bounds[0])))) ||
        !(w->drift_ok = carrot_metrics_counter(m, "carrot_ledger_drift_checks_total",
                                               "Drift checks of the boards against the ledger, by "
                                               "result (failed: a service down, the fence open).",
                                               "result=\"ok\"")) ||
        !(w->drift_failed = carrot_metrics_counter(m, "carrot_ledger_drift_checks_total", "",
                                                   "result=\"failed\"")) ||
        !(w->drift_checked = carrot_metrics_gauge(
              m, "carrot_ledger_drift_check_timestamp_seconds",
              "When the last drift check succeeded, or the ledger started (Unix time).", NULL)))
        goto oom;
    carrot_metric_set(w->drift_checked, (double)carrot_time_now_ms() / 1000.0);
    carrot_metric_set(w->last_commit, (double)carrot_time_now_ms() / 1000.0);
    if (carrot_metrics_serve(m, cf->metrics_listen, (int)cf->metrics_port, errstr, errstr_size)) {
        ledger_watch_destroy(w);
        return NULL;
    }
    carrot_info("metrics on http://%s:%lld/metrics", cf->metrics_listen, cf->metrics_port);
    return w;
oom:
    snprintf(errstr, errstr_size, "out of memory");
    ledger_watch_destroy(w);
    return NULL;
}

void ledger_watch_destroy(ledger_watch_t *w) {
    if (!w) return;
    for (int i = 0; i < w->ndrift; i++) free(w->drift[i].program);
    free(w->drift);
    carrot_metrics_destroy(w->m); /* stops serving first */
    carrot_lag_destroy(w->lag);
    free(w);
}

void ledger_watch_check(ledger_watch_t *w, const char *check, int up, const char *why) {
    if (w && w->m) carrot_metrics_check(w->m, check, up, why);
}

void ledger_watch_pg_error(ledger_watch_t *w, const char *why) {
    if (!w || !w->m) return;
    carrot_metric_add(w->pg_errors, 1);
    carrot_metrics_check(w->m, "postgres", 0, why);
}

void ledger_watch_batch(ledger_watch_t *w, rd_kafka_message_t **msgs, size_t n, long long booked,
                        long long already, long long dead) {
    if (!w || !w->m) return;
    carrot_metrics_check(w->m, "postgres", 1, NULL);
    carrot_metric_add(w->consumed, (double)n);
    carrot_metric_add(w->booked, (double)booked);
    carrot_metric_add(w->already, (double)already);
    carrot_metric_add(w->dead, (double)dead);
    carrot_metric_add(w->batches, 1);
    carrot_metric_set(w->last_commit, (double)carrot_time_now_ms() / 1000.0);
    int64_t wall = carrot_time_wall_ms(); /* Kafka stamps by the wall clock */
    for (size_t i = 0; i < n; i++) {
        int64_t ts = rd_kafka_message_timestamp(msgs[i], NULL);
        if (ts > 0) carrot_metric_observe(w->freshness, (double)(wall - ts) / 1000.0);
        if (i + 1 == n || msgs[i + 1]->partition != msgs[i]->partition)
            carrot_lag_seen(w->lag, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition, ts);
    }
}

void ledger_watch_stats(ledger_watch_t *w, const char *json, size_t len) {
    char errstr[256];
    if (w && w->lag &&
        carrot_lag_stats(w->lag, json, len, carrot_time_wall_ms(), errstr, sizeof(errstr)) != 0)
        carrot_warn("%s", errstr);
}

/* The label set program="<id>", escaped as the text format wants. */
static void program_label(char *buf, size_t size, const char *program) {
    size_t n = (size_t)snprintf(buf, size, "program=\"");
    for (const char *c = program; *c && n + 4 < size; c++) {
        if (*c == '"' || *c == '\\') buf[n++] = '\\';
        if (*c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *c;
        }
    }
    snprintf(buf + n, size - n, "\"");
}

/* Only the drift thread calls this: the list needs no lock of its own. */
void ledger_watch_drift(ledger_watch_t *w, const char *program, long differing, long long points) {
    if (!w || !w->m) return;
    int i = 0;
    while (i < w->ndrift && strcmp(w->drift[i].program, program) != 0) i++;
    if (i == w->ndrift) {
        char labels[600];
        program_label(labels, sizeof(labels), program);
        struct drift_gauges *g = realloc(w->drift, (size_t)(w->ndrift + 1) * sizeof(*g));
        if (!g) return;
        w->drift = g;
        g[i] = (struct drift_gauges){
            .program = strdup(program),
            .differing = carrot_metrics_gauge(
                w->m, "carrot_ledger_drift_participants",
                "Participants whose program-to-date board points differ from the ledger's "
                "(booked plus in flight), at the last drift check.",
                labels),
            .points = carrot_metrics_gauge(w->m, "carrot_ledger_drift_points",
                                           "Sum of the differences, in points, at the last drift "
                                           "check: 0 when the boards and the ledger agree.",
                                           labels)};
        if (!g[i].program) return;
        w->ndrift++;
    }
    carrot_metric_set(w->drift[i].differing, (double)differing);
    carrot_metric_set(w->drift[i].points, (double)points);
}

void ledger_watch_drift_checked(ledger_watch_t *w, int ok) {
    if (!w || !w->m) return;
    carrot_metric_add(ok ? w->drift_ok : w->drift_failed, 1);
    if (ok) carrot_metric_set(w->drift_checked, (double)carrot_time_now_ms() / 1000.0);
}
