/* run.c: `carrot-report run`, the facts consumer. A member of its own
 * group (carrot-report) on the activity, award, participant and dead-letter
 * topics; every partition starts where PostgreSQL says the facts are
 * (adoption_offsets), and each batch is folded in one transaction with
 * those places (facts.c). A batch PostgreSQL could not take (it restarted,
 * a deadlock) is folded again once it is back: nothing of it was kept. The
 * programs' rules come from the compacted rules topic, read to its end
 * before the first batch. */
#include "carrot/kafka.h"
#include "carrot/kafka_lag.h"
#include "carrot/log.h"
#include "carrot/metrics.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const report_conf_t *cf;
    PGconn *pg;
    carrot_pg_keep_t keep;
    carrot_drain_t *drain;
    int rebalanced;
    carrot_metrics_t *metrics;
    carrot_lag_t *lag;
    carrot_metric_t *m[9];
    rd_kafka_t *rules;
    carrot_drain_t *rules_drain;
    carrot_facts_t *facts;
} run_t;

static void on_signal(int sig) {
    (void)sig;
    report_stop = 1;
}

/* PostgreSQL failed: a fresh connection when the old one is gone. */
static void recover_pg(run_t *r, const char *errstr, int *backoff) {
    carrot_pg_keep_recover(&r->keep, &r->pg, errstr, backoff);
}

/* On assignment, every partition starts where the facts are. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    run_t *r = opaque;
    r->rebalanced = 1;
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        carrot_info("revoked %d partitions", parts->cnt);
        rd_kafka_assign(rk, NULL);
        carrot_drain_assign(r->drain, NULL);
        carrot_metrics_check(r->metrics, "kafka", 0, "rebalancing: no partitions assigned");
        return;
    }
    char errstr[512];
    int backoff = 200;
    carrot_ledger_err_t rc = CARROT_LEDGER_RETRY;
    while (!report_stop && r->pg &&
           (rc = carrot_facts_positions(r->pg, parts, errstr, sizeof(errstr))) ==
               CARROT_LEDGER_RETRY)
        recover_pg(r, errstr, &backoff);
    if (rc != CARROT_LEDGER_OK) {
        if (rc == CARROT_LEDGER_FATAL) carrot_error("%s", errstr);
        carrot_error("not taking the assigned partitions: their places could not be read");
        report_stop = 1;
        return;
    }
    if (r->cf->reread)
        for (int i = 0; i < parts->cnt; i++) parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    carrot_info("assigned %d partitions, %s", parts->cnt,
                r->cf->reread ? "reading them again from their start"
                              : "resuming where the facts are");
    rd_kafka_assign(rk, parts);
    carrot_drain_assign(r->drain, parts);
    carrot_metrics_check(r->metrics, "kafka", 1, NULL);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    run_t *r = opaque;
    char errstr[256];
    if (carrot_lag_stats(r->lag, json, len, carrot_time_wall_ms(), errstr, sizeof(errstr)) != 0)
        carrot_warn("%s", errstr);
    return 0;
}

/* A reader of every program's rules: the whole compacted topic, no group. */
static int rules_open(run_t *r, const carrot_conf_t *conf, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, r->cf->brokers, NULL, errstr, errstr_size);
    if (!k || carrot_kafka_set(k, "enable.partition.eof", "true", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, errstr_size) ||
        carrot_kafka_set(k, "group.id", "carrot-rules-reader", errstr, errstr_size)) {
        if (k) rd_kafka_conf_destroy(k);
        return -1;
    }
    if (!(r->rules = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, errstr_size))) {
        rd_kafka_conf_destroy(k);
        return -1;
    }
    if (carrot_kafka_create_topic(r->rules, r->cf->rules_topic, 1, "compact", errstr, errstr_size))
        return -1;
    int n = carrot_kafka_partition_count(r->rules, r->cf->rules_topic, errstr, errstr_size);
    if (n < 0) return -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, r->cf->rules_topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(r->rules, parts);
    if (!err) carrot_drain_assign(r->rules_drain, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        snprintf(errstr, errstr_size, "could not read %s: %s", r->cf->rules_topic,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Takes what the rules topic holds now (catch_up: all of it, first). A bad
 * record keeps the program's rules as they were. */
static int rules_poll(run_t *r, int catch_up) {
    int64_t deadline = carrot_time_mono_ms() + (catch_up ? 30000 : 0);
    for (;;) {
        int left = (int)(deadline - carrot_time_mono_ms());
        if (left < 0 || (catch_up && carrot_drain_done(r->rules_drain))) left = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rules, left);
        if (!m) return 0;
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            carrot_drain_seen(r->rules_drain, m);
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                carrot_warn("reading rules: %s", rd_kafka_message_errstr(m));
        } else if (m->payload) {
            /* parsed again for each attempt: carrot_facts_rules() takes the rules */
            char errstr[1024], program[300] = "", version[300] = "";
            carrot_ledger_err_t rc = CARROT_LEDGER_OK;
            int backoff = 200;
            while (r->pg) {
                carrot_rules_t *rules = carrot_rules_parse(
                    m->payload, m->len, "a record of the rules topic", errstr, sizeof(errstr));
                if (!rules) {
                    carrot_warn("%s; keeping that program's rules as they were", errstr);
                    break;
                }
                snprintf(program, sizeof(program), "%s", carrot_rules_program(rules));
                snprintf(version, sizeof(version), "%s", carrot_rules_version(rules));
                rc = carrot_facts_rules(r->facts, r->pg, rules, errstr, sizeof(errstr));
                if (rc != CARROT_LEDGER_RETRY) break;
                recover_pg(r, errstr, &backoff);
            }
            if (rc == CARROT_LEDGER_FATAL) {
                carrot_error("%s", errstr);
                rd_kafka_message_destroy(m);
                return -1;
            }
            if (!rc && program[0]) carrot_info("rules of %s: version %s", program, version);
        }
        rd_kafka_message_destroy(m);
    }
}

static int make_metrics(run_t *r, char *errstr, size_t errstr_size) {
    carrot_metrics_t *m = r->metrics = carrot_metrics_new();
    if (!m) goto oom;
    static const char *const kinds[] = {"activity",    "duplicate", "delete",  "award",
                                        "participant", "refusal",   "skipped", "unusable"};
    for (int i = 0; i < 8; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[i]);
        if (!(r->m[i] = carrot_metrics_counter(
                  m, "carrot_report_folded_total",
                  "Messages folded into the adoption facts, by what they were (skipped: applied "
                  "before; unusable: undecodable or without a participant).",
                  labels)))
            goto oom;
    }
    if (!(r->m[8] = carrot_metrics_counter(m, "carrot_report_pg_errors_total",
                                           "Transactions PostgreSQL could not take, retried.",
                                           NULL)) ||
        carrot_metrics_add_process(m, "carrot-report") != 0 ||
        !(r->lag = carrot_lag_new(m, r->cf->group)) ||
        carrot_metrics_check(m, "kafka", 0, "not yet in the consumer group") != 0 ||
        carrot_metrics_check(m, "postgres", 0, "not yet connected") != 0)
        goto oom;
    if (r->cf->metrics_port &&
        carrot_metrics_serve(m, r->cf->metrics_listen, (int)r->cf->metrics_port, errstr,
                             errstr_size) != 0)
        return -1;
    return 0;
oom:
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
}

int report_run(const carrot_conf_t *conf, const report_conf_t *cf) {
    char errstr[1024];
    int exit_code = 1;
    run_t r = {.cf = cf};
    rd_kafka_t *consumer = NULL;
    carrot_facts_stats_t total = {0};
    const carrot_facts_topics_t topics = {cf->activities_topic, cf->awards_topic,
                                          cf->participants_topic, cf->dlq_topic};
    rd_kafka_message_t **msgs = calloc((size_t)cf->batch_size, sizeof(*msgs));
    char instance[128];
    carrot_instance_id(cf->instance, instance, sizeof(instance));
    carrot_log_set_instance(instance);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!msgs || !(r.drain = carrot_drain_new()) || !(r.rules_drain = carrot_drain_new())) {
        carrot_error("out of memory");
        goto out;
    }
    if (make_metrics(&r, errstr, sizeof(errstr)) != 0 ||
        !(r.facts = carrot_facts_new(&topics, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    r.keep = (carrot_pg_keep_t){cf->pg_dsn, &report_stop, r.metrics, r.m[8]};
    if (!(r.pg = carrot_pg_keep_connect(&r.keep))) goto out;
    int applied = 0;
    carrot_ledger_err_t mrc = carrot_ledger_migrate(r.pg, &applied, errstr, sizeof(errstr));
    if (mrc) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (rules_open(&r, conf, errstr, sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (rules_poll(&r, 1) != 0) goto out;
    const char *const subscribed[] = {cf->activities_topic, cf->awards_topic,
                                      cf->participants_topic, cf->dlq_topic, NULL};
    carrot_kafka_consumer_opts_t co = {.brokers = cf->brokers,
                                       .group = cf->group,
                                       .instance = cf->instance,
                                       .topics = subscribed,
                                       .partition_eof = cf->until_drained,
                                       .rebalance_cb = rebalance_cb,
                                       .stats_cb = stats_cb,
                                       .opaque = &r};
    if (!(consumer = carrot_kafka_consumer_new(conf, &co, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (cf->metrics_port)
        carrot_info("metrics on http://%s:%lld/metrics", cf->metrics_listen, cf->metrics_port);
    exit_code = 0;
    while (!report_stop) {
        if (rules_poll(&r, 0) != 0) {
            exit_code = 1;
            break;
        }
        size_t n = carrot_kafka_collect(consumer, msgs, (size_t)cf->batch_size, (int)cf->batch_ms,
                                        -1, r.drain, &r.rebalanced, &report_stop);
        if (rd_kafka_fatal_error(consumer, errstr, sizeof(errstr))) {
            carrot_error("stopping: the consumer failed for good (%s); a restart resumes where "
                         "the facts are",
                         errstr);
            exit_code = 1;
            break;
        }
        if (n == 0) {
            if (cf->until_drained && carrot_drain_done(r.drain)) break;
            continue;
        }
        carrot_facts_stats_t st;
        carrot_ledger_err_t rc = CARROT_LEDGER_RETRY;
        int backoff = 200;
        while (r.pg && !report_stop &&
               (rc = carrot_facts_apply(r.facts, r.pg, msgs, n, &st, errstr, sizeof(errstr))) ==
                   CARROT_LEDGER_RETRY)
            recover_pg(&r, errstr, &backoff);
        for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
        if (rc != CARROT_LEDGER_OK) {
            if (rc == CARROT_LEDGER_FATAL || rc == CARROT_LEDGER_REFUSED) {
                carrot_error("%s", errstr);
                exit_code = 1;
            }
            break; /* stopping (or fatal): nothing of the batch was kept */
        }
        carrot_metrics_check(r.metrics, "postgres", 1, NULL);
        long v[] = {st.activities,   st.duplicates, st.deletes, st.awards,
                    st.participants, st.refusals,   st.skipped, st.unusable};
        for (int i = 0; i < 8; i++) carrot_metric_add(r.m[i], (double)v[i]);
        total.activities += st.activities;
        total.duplicates += st.duplicates;
        total.deletes += st.deletes;
        total.awards += st.awards;
        total.participants += st.participants;
        total.refusals += st.refusals;
        total.skipped += st.skipped;
        total.unusable += st.unusable;
        /* a copy of the place in Kafka, for the usual lag tools only */
        rd_kafka_commit(consumer, NULL, 1);
    }
    carrot_info("stopping: %ld activities, %ld duplicates, %ld deletes, %ld awards, %ld "
                "participants, %ld refusals folded; %ld skipped, %ld unusable",
                total.activities, total.duplicates, total.deletes, total.awards, total.participants,
                total.refusals, total.skipped, total.unusable);
    printf("{\"activities\":%ld,\"duplicates\":%ld,\"deletes\":%ld,\"awards\":%ld,"
           "\"participants\":%ld,\"refusals\":%ld,\"skipped\":%ld,\"unusable\":%ld}\n",
           total.activities, total.duplicates, total.deletes, total.awards, total.participants,
           total.refusals, total.skipped, total.unusable);
    fflush(stdout);
out:
    if (consumer) {
        rd_kafka_commit(consumer, NULL, 0);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (r.rules) {
        rd_kafka_consumer_close(r.rules);
        rd_kafka_destroy(r.rules);
    }
    carrot_facts_destroy(r.facts);
    carrot_drain_destroy(r.drain);
    carrot_drain_destroy(r.rules_drain);
    carrot_lag_destroy(r.lag);
    carrot_metrics_destroy(r.metrics);
    if (r.pg) PQfinish(r.pg);
    free(msgs);
    return exit_code;
}
