/* run.c: `carrot-notify run`. One loop: awards from Kafka (its own group;
 * every partition starts where notify_offsets says, and each batch's
 * triggers are queued with those places in one transaction), the ledger's
 * tables every --ledger-ms, then the outbox's due messages. A message given
 * up on is also written to the dead-letter topic with the channel's answer.
 * PostgreSQL gone: the same batch is tried again once it is back. Between
 * two batches the configuration published last is taken (follow.c). */
#include "carrot/kafka.h"
#include "carrot/kafka_lag.h"
#include "carrot/log.h"
#include "carrot/metrics.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    M_AWARDS,
    M_TRIGGERS,
    M_QUEUED,
    M_SKIPPED,
    M_SENT,
    M_RETRIED,
    M_DEAD,
    M_REPEATED,
    M_LIMITED,
    M_HELD,
    M_PG_ERRORS,
    M_DLQ_FAILED,
    M_COUNT
};

typedef struct {
    const notify_conf_t *cf;
    PGconn *pg;
    carrot_pg_keep_t keep;
    carrot_drain_t *drain;
    int rebalanced;
    carrot_metrics_t *metrics;
    carrot_lag_t *lag;
    carrot_metric_t *m[M_COUNT];
    rd_kafka_t *producer;
    carrot_notifier_t *n;
} run_t;

static void on_signal(int sig) {
    if (sig == SIGHUP) notify_reread = 1;
    else
        notify_stop = 1;
}

/* PostgreSQL failed: a fresh connection when the old one is gone. */
static void recover_pg(run_t *r, const char *errstr, int *backoff) {
    carrot_pg_keep_recover(&r->keep, &r->pg, errstr, backoff);
}

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
    while (!notify_stop && r->pg &&
           (rc = carrot_notifier_positions(r->n, r->pg, parts, errstr, sizeof(errstr))) ==
               CARROT_LEDGER_RETRY)
        recover_pg(r, errstr, &backoff);
    if (rc != CARROT_LEDGER_OK) {
        if (rc == CARROT_LEDGER_FATAL) carrot_error("%s", errstr);
        carrot_error("not taking the assigned partitions: their places could not be read");
        notify_stop = 1;
        return;
    }
    carrot_info("assigned %d partitions, resuming where the outbox is", parts->cnt);
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

static int make_metrics(run_t *r, char *errstr, size_t errstr_size) {
    carrot_metrics_t *m = r->metrics = carrot_metrics_new();
    if (!m) goto oom;
    static const struct {
        const char *name, *help, *labels;
    } defs[M_COUNT] = {
        {"carrot_notify_awards_total", "Awards read from the awards topic.", NULL},
        {"carrot_notify_triggers_total", "Triggers found and stored (each once).", NULL},
        {"carrot_notify_messages_total", "Messages queued in the outbox, by what became of them.",
         "state=\"queued\""},
        {"carrot_notify_messages_total", "Messages queued in the outbox, by what became of them.",
         "state=\"skipped\""},
        {"carrot_notify_deliveries_total", "Delivery attempts, by outcome.", "outcome=\"sent\""},
        {"carrot_notify_deliveries_total", "Delivery attempts, by outcome.", "outcome=\"retry\""},
        {"carrot_notify_deliveries_total", "Delivery attempts, by outcome.", "outcome=\"dead\""},
        {"carrot_notify_possibly_repeated_total",
         "Messages sent again after a crash mid-delivery on a channel that takes no idempotency "
         "key.",
         NULL},
        {"carrot_notify_rate_limited_total", "Messages held back by their channel's rate limit.",
         NULL},
        {"carrot_notify_held_total",
         "Messages held back because their channel did not answer or answered 429 or 5xx (the "
         "channel is tried again after a delay, not message by message).",
         NULL},
        {"carrot_notify_pg_errors_total", "Transactions PostgreSQL could not take, retried.", NULL},
        {"carrot_notify_dlq_failed_total",
         "Dead messages that could not be written to the dead-letter topic (they stay in the "
         "outbox as dead).",
         NULL},
    };
    for (int i = 0; i < M_COUNT; i++)
        if (!(r->m[i] = carrot_metrics_counter(m, defs[i].name, defs[i].help, defs[i].labels)))
            goto oom;
    if (carrot_metrics_add_process(m, "carrot-notify") != 0 ||
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

static void on_dead(const carrot_notify_dead_t *d, void *opaque) {
    run_t *r = opaque;
    char id[24], status[16], errstr[512];
    snprintf(id, sizeof(id), "%lld", d->message_id);
    snprintf(status, sizeof(status), "%d", d->status);
    const char *extra[] = {"carrot.message_id",
                           id,
                           "carrot.idempotency_key",
                           d->idempotency_key,
                           "carrot.status",
                           status,
                           NULL};
    carrot_dead_letter_t dl = {.reason = d->reason,
                               .stage = "notify",
                               .source = d->channel,
                               .key = d->idempotency_key,
                               .key_len = strlen(d->idempotency_key),
                               .value = d->body,
                               .value_len = strlen(d->body),
                               .extra = extra};
    carrot_warn("message %lld on %s given up: %s", d->message_id, d->channel, d->reason);
    if (carrot_kafka_dead_letter(r->producer, r->cf->dlq_topic, &dl, NULL, 10000, errstr,
                                 sizeof(errstr)) != 0) {
        carrot_metric_add(r->m[M_DLQ_FAILED], 1);
        carrot_warn("%s (the message stays dead in the outbox)", errstr);
    }
}

/* Until PostgreSQL takes it (or stopping): a failed call kept nothing. */
#define RETRYING(r, rc, call)                                                     \
    do {                                                                          \
        int backoff_ = 200;                                                       \
        (rc) = CARROT_LEDGER_RETRY;                                               \
        while ((r)->pg && !notify_stop && ((rc) = (call)) == CARROT_LEDGER_RETRY) \
            recover_pg((r), errstr, &backoff_);                                   \
    } while (0)

int notify_run(const carrot_conf_t *conf, const notify_conf_t *cf) {
    char errstr[1024];
    int exit_code = 1;
    run_t r = {.cf = cf};
    rd_kafka_t *consumer = NULL;
    carrot_notifier_t *n = NULL;
    notify_follow_t fw = {0};
    rd_kafka_message_t **msgs = calloc((size_t)cf->batch_size, sizeof(*msgs));
    char instance[128];
    carrot_instance_id(cf->instance, instance, sizeof(instance));
    carrot_log_set_instance(instance);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!cf->config) {
        carrot_error("run needs --notifications FILE");
        exit_code = 2;
        goto out;
    }
    if ((exit_code = notify_follow_start(&fw, conf, cf)) != 0) goto out;
    exit_code = 1;
    carrot_notifier_opts_t o = {fw.cfg,
                                cf->redis_host && *cf->redis_host ? cf->redis_host : NULL,
                                (int)cf->redis_port,
                                cf->awards_topic,
                                cf->group,
                                instance,
                                cf->digest_ms};
    if (!msgs || !(r.drain = carrot_drain_new())) {
        carrot_error("out of memory");
        goto out;
    }
    if (make_metrics(&r, errstr, sizeof(errstr)) != 0 ||
        !(r.n = n = carrot_notifier_new(&o, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (carrot_notifier_follow_rules(n, conf, cf->brokers, cf->rules_topic, errstr,
                                     sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    r.keep = (carrot_pg_keep_t){cf->pg_dsn, &notify_stop, r.metrics, r.m[M_PG_ERRORS]};
    if (!(r.pg = carrot_pg_keep_connect(&r.keep))) goto out;
    int applied = 0;
    if (carrot_ledger_migrate(r.pg, &applied, errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        goto out;
    }
    long released = 0;
    carrot_ledger_err_t rrc;
    RETRYING(&r, rrc, carrot_notifier_release(n, r.pg, &released, errstr, sizeof(errstr)));
    if (rrc) {
        if (rrc != CARROT_LEDGER_RETRY) carrot_error("%s", errstr);
        goto out;
    }
    if (released)
        carrot_info("%ld messages this member had claimed before it stopped are due again",
                    released);
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, cf->brokers, NULL, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        if (k) rd_kafka_conf_destroy(k);
        goto out;
    }
    if (!(r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        rd_kafka_conf_destroy(k);
        goto out;
    }
    if (carrot_kafka_create_topic(r.producer, cf->dlq_topic, 1, NULL, errstr, sizeof(errstr)))
        carrot_warn("%s", errstr);
    carrot_kafka_consumer_opts_t co = {.brokers = cf->brokers,
                                       .group = cf->group,
                                       .instance = cf->instance,
                                       .topic = cf->awards_topic,
                                       .rebalance_cb = rebalance_cb,
                                       .stats_cb = stats_cb,
                                       .opaque = &r};
    if (!(consumer = carrot_kafka_consumer_new(conf, &co, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    carrot_info("notifying with version %s%s", carrot_notify_config_version(fw.cfg),
                o.redis_host ? "" : "; no Redis: no rank triggers");
    if (cf->metrics_port)
        carrot_info("metrics on http://%s:%lld/metrics", cf->metrics_listen, cf->metrics_port);
    exit_code = 0;
    int64_t next_ledger = 0, next_follow = 0;
    int backlog = 0;
    while (!notify_stop) {
        if (notify_reread || carrot_time_mono_ms() >= next_follow) { /* between two batches */
            notify_follow_poll(&fw, n);
            next_follow = carrot_time_mono_ms() + 500;
        }
        /* awards waited for only when no message is due: a backlog of messages is sent
         * without pausing between rounds */
        size_t cnt = carrot_kafka_collect(consumer, msgs, (size_t)cf->batch_size,
                                          backlog ? 0 : (int)cf->batch_ms, -1, r.drain,
                                          &r.rebalanced, &notify_stop);
        if (rd_kafka_fatal_error(consumer, errstr, sizeof(errstr))) {
            carrot_error("stopping: the consumer failed for good (%s)", errstr);
            exit_code = 1;
            break;
        }
        carrot_notify_stats_t st = {0};
        carrot_ledger_err_t rc = CARROT_LEDGER_OK;
        if (cnt) {
            RETRYING(&r, rc,
                     carrot_notifier_awards(n, r.pg, msgs, cnt, &st, errstr, sizeof(errstr)));
            for (size_t i = 0; i < cnt; i++) rd_kafka_message_destroy(msgs[i]);
            if (!rc) rd_kafka_commit(consumer, NULL, 1); /* a copy, for the lag tools */
        }
        if (!rc && carrot_time_mono_ms() >= next_ledger) {
            carrot_notify_stats_t ls = {0};
            RETRYING(&r, rc, carrot_notifier_ledger(n, r.pg, &ls, errstr, sizeof(errstr)));
            st.triggers += ls.triggers;
            st.messages += ls.messages;
            st.skipped += ls.skipped;
            next_ledger = carrot_time_mono_ms() + cf->ledger_ms;
        }
        carrot_metric_add(r.m[M_AWARDS], (double)st.awards);
        carrot_metric_add(r.m[M_TRIGGERS], (double)st.triggers);
        carrot_metric_add(r.m[M_QUEUED], (double)st.messages);
        carrot_metric_add(r.m[M_SKIPPED], (double)st.skipped);
        /* deliver what is due, for a quarter second at most before reading again */
        backlog = 0;
        int64_t until = carrot_time_mono_ms() + 250;
        while (!rc && !notify_stop) {
            carrot_deliver_stats_t ds = {0};
            int did = 0;
            RETRYING(&r, rc,
                     carrot_notifier_deliver(n, r.pg, (int)cf->deliver_batch, on_dead, &r, &ds,
                                             &did, errstr, sizeof(errstr)));
            carrot_metric_add(r.m[M_SENT], (double)ds.sent);
            carrot_metric_add(r.m[M_RETRIED], (double)ds.retried);
            carrot_metric_add(r.m[M_DEAD], (double)ds.dead);
            carrot_metric_add(r.m[M_REPEATED], (double)ds.possibly_repeated);
            carrot_metric_add(r.m[M_LIMITED], (double)ds.rate_limited);
            carrot_metric_add(r.m[M_HELD], (double)ds.held);
            if (did < cf->deliver_batch) break;
            if (carrot_time_mono_ms() >= until) {
                backlog = 1;
                break;
            }
        }
        rd_kafka_poll(r.producer, 0);
        if (rc != CARROT_LEDGER_OK) {
            if (rc == CARROT_LEDGER_FATAL || rc == CARROT_LEDGER_REFUSED) {
                carrot_error("%s", errstr);
                exit_code = 1;
            }
            break;
        }
        carrot_metrics_check(r.metrics, "postgres", 1, NULL);
    }
out:
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (r.producer) {
        rd_kafka_flush(r.producer, 10000);
        rd_kafka_destroy(r.producer);
    }
    carrot_notifier_destroy(n);
    notify_follow_end(&fw);
    carrot_drain_destroy(r.drain);
    carrot_lag_destroy(r.lag);
    carrot_metrics_destroy(r.metrics);
    if (r.pg) PQfinish(r.pg);
    free(msgs);
    curl_global_cleanup();
    return exit_code;
}
