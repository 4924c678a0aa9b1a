/* metrics.c: carrot-webhook's metrics and health on metrics-port: its
 * request counts (kept as atomics by the HTTP threads, copied in at each
 * scrape), the process metrics, and readiness from the broker's answer. */
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "webhook.h"

#include <stdio.h>

static const struct {
    const char *name, *help, *labels;
} counts[9] = {
    {"carrot_webhook_requests_total", "Requests received.", NULL},
    {"carrot_webhook_rejected_total", "Requests refused for their signature or timestamp (401).",
     NULL},
    {"carrot_webhook_refused_total", "Requests refused by a limit before or while reading them.",
     NULL},
    {"carrot_webhook_activities_produced_total", "Activities produced to Kafka.", NULL},
    {"carrot_webhook_duplicates_total", "Events already delivered, not produced again.", NULL},
    {"carrot_dead_letters_total", "Messages sent to a dead-letter topic, by stage.",
     "stage=\"webhook\",reason=\"invalid\""},
    {"carrot_webhook_skipped_total", "Events of no interest (no activity to produce).", NULL},
    {"carrot_webhook_cut_total", "Connections cut at request-timeout.", NULL},
    {"carrot_webhook_unavailable_total", "Requests answered 503 (Kafka or Redis unavailable).",
     NULL},
};

static void collect(void *opaque) {
    webhook_t *w = opaque;
    atomic_llong *v[9] = {&w->requests, &w->rejected, &w->refused, &w->accepted,   &w->duplicates,
                          &w->dead,     &w->skipped,  &w->cut,     &w->unavailable};
    for (int i = 0; i < 9; i++) carrot_metric_set(w->m_counts[i], (double)atomic_load(v[i]));
}

int webhook_metrics_start(webhook_t *w, char *errstr, size_t errstr_size) {
    const webhook_conf_t *cf = w->cf;
    if (!cf->metrics_port) return 0;
    if (!(w->metrics = carrot_metrics_new()) ||
        carrot_metrics_add_process(w->metrics, "carrot-webhook") != 0 ||
        carrot_metrics_check(w->metrics, "kafka", 0, "the broker has not answered yet") != 0 ||
        carrot_metrics_check(w->metrics, "redis", 0, "not yet asked") != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < 9; i++)
        if (!(w->m_counts[i] = carrot_metrics_counter(w->metrics, counts[i].name, counts[i].help,
                                                      counts[i].labels))) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
    carrot_metrics_on_scrape(w->metrics, collect, w);
    if (carrot_metrics_serve(w->metrics, cf->metrics_listen, (int)cf->metrics_port, errstr,
                             errstr_size) != 0)
        return -1;
    webhook_metrics_tick(w);
    carrot_info("metrics on http://%s:%lld/metrics", cf->metrics_listen, cf->metrics_port);
    return 0;
}

void webhook_metrics_tick(webhook_t *w) {
    long long now = carrot_time_mono_ms();
    if (!w->metrics || (w->kafka_checked_ms && now - w->kafka_checked_ms < 5000)) return;
    w->kafka_checked_ms = now;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(w->rk, 0, NULL, &md, 2000);
    carrot_metrics_check(w->metrics, "kafka", !err, err ? rd_kafka_err2str(err) : NULL);
    if (md) rd_kafka_metadata_destroy(md);
    char why[512];
    int down = webhook_redis_ping(w, why, sizeof(why));
    carrot_metrics_check(w->metrics, "redis", !down, down ? why : NULL);
}
