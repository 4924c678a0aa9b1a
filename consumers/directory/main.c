/* carrot-directory: keeps the participants directory (carrot/directory.h)
 * in Redis from the compacted carrot.participants topic. A member of the
 * consumer group carrot-directory; a new group reads the topic from the
 * start, so an empty Redis is rebuilt by starting one with a new group (or
 * after deleting the group's offsets). The work of a batch is batch.c's. */
#include "carrot/config.h"
#include "carrot/log.h"
#include "carrot/participant.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define OFF(f) offsetof(dir_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"topic", CARROT_CONF_STR, OFF(topic), "carrot.participants", 0, 0,
     "compacted topic of participants, keyed <program>\\x1e<participant>"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "carrot.participants.dlq", 0, 0,
     "dead-letter topic for participants that cannot be decoded or are invalid"},
    {"group", CARROT_CONF_STR, OFF(group), "carrot-directory", 0, 0,
     "Kafka consumer group (a new one reads the topic from the start)"},
    {"instance", CARROT_CONF_STR, OFF(instance), NULL, 0, 0,
     "stable name of this member (group.instance.id); default: the host name"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "500", 1, 100000,
     "most participants put before one offset commit"},
    {"batch-ms", CARROT_CONF_INT, OFF(batch_ms), "100", 1, 60000,
     "longest wait to fill a batch, in milliseconds"},
    {"until-drained", CARROT_CONF_BOOL, OFF(until_drained), "false", 0, 0,
     "exit once every assigned partition is read to its end (batch runs, tests, the demo)"},
    {"schema-registry", CARROT_CONF_STR, OFF(schema_registry), NULL, 0, 0,
     "base URL of a Confluent-compatible schema registry, to read participants in the Confluent "
     "wire format (single-object messages need none)"},
    CARROT_CONF_METRICS_ROWS(dir_conf_t),
    CARROT_CONF_LOG_ROWS(dir_conf_t),
    CARROT_CONF_END};

static const char usage[] = "usage: carrot-directory [settings]\n"
                            "Keeps the participants directory in Redis from the compacted "
                            "participants topic.";

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    dir_prog_t *d = opaque;
    int assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    carrot_info("%s %d partitions", assigned ? "assigned" : "revoked", parts->cnt);
    rd_kafka_assign(rk, assigned ? parts : NULL);
    carrot_drain_assign(d->drain, assigned ? parts : NULL);
    carrot_metrics_check(d->metrics, "kafka", assigned,
                         assigned ? NULL : "rebalancing: no partitions assigned");
    d->rebalanced = 1;
}

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    dir_prog_t *d = opaque;
    if (m->err) {
        d->dlq_failed++;
        carrot_error("could not deliver a dead letter to %s: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    }
}

/* The metrics; see README "Participants". */
static int make_metrics(dir_prog_t *d, char *errstr, size_t errstr_size) {
    carrot_metrics_t *m = d->metrics = carrot_metrics_new();
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    d->m_consumed = carrot_metrics_counter(m, "carrot_directory_consumed_total",
                                           "Participant messages read.", NULL);
    d->m_stored = carrot_metrics_counter(m, "carrot_directory_stored_total",
                                         "Participants stored in the directory.", NULL);
    d->m_older = carrot_metrics_counter(
        m, "carrot_directory_older_total",
        "Participants not stored: the directory held a newer updated_at.", NULL);
    d->m_dead = carrot_metrics_counter(m, "carrot_directory_dead_lettered_total",
                                       "Messages sent to the dead-letter topic.", NULL);
    d->m_dead_letters = carrot_metrics_counter(
        m, "carrot_dead_letters_total", "Messages sent to a dead-letter topic, by stage.",
        "stage=\"directory\",reason=\"undecodable or invalid\"");
    d->m_batches = carrot_metrics_counter(m, "carrot_directory_batches_total",
                                          "Batches put and committed.", NULL);
    d->m_redis_errors = carrot_metrics_counter(m, "carrot_directory_redis_errors_total",
                                               "Calls to Redis that failed and were retried.",
                                               NULL);
    d->m_redis_up = carrot_metrics_gauge(m, "carrot_directory_redis_up",
                                         "1 when the last call to Redis succeeded, else 0.", NULL);
    if (carrot_metrics_add_process(m, "carrot-directory") != 0 ||
        !(d->lag = carrot_lag_new(m, d->cf->group)) ||
        carrot_metrics_check(m, "kafka", 0, "not yet in the consumer group") != 0 ||
        carrot_metrics_check(m, "redis", 0, "not yet reached") != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (d->cf->metrics_port &&
        carrot_metrics_serve(m, d->cf->metrics_listen, (int)d->cf->metrics_port, errstr,
                             errstr_size) != 0)
        return -1;
    return 0;
}

static rd_kafka_t *make_producer(dir_prog_t *d, const carrot_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
    static const char *const defaults[] = {"linger.ms", "5", NULL};
    rd_kafka_conf_t *kconf = carrot_kafka_conf_new(conf, d->cf->brokers, defaults, errstr,
                                                   errstr_size);
    if (!kconf || carrot_kafka_set(kconf, "enable.idempotence", "true", errstr, errstr_size)) {
        if (kconf) rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dlq_dr_cb);
    rd_kafka_conf_set_opaque(kconf, d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (!rk) rd_kafka_conf_destroy(kconf); /* rd_kafka_new() owns it only on success */
    return rk;
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    dir_prog_t *d = opaque;
    char errstr[256];
    if (carrot_lag_stats(d->lag, json, len, carrot_time_wall_ms(), errstr, sizeof(errstr)) != 0)
        carrot_warn("%s", errstr);
    return 0; /* librdkafka frees json */
}

static rd_kafka_t *make_consumer(dir_prog_t *d, const carrot_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
    /* a new group reads the compacted topic from its start: the whole directory */
    static const char *const settings[] = {"auto.offset.reset", "earliest", NULL};
    carrot_kafka_consumer_opts_t o = {.brokers = d->cf->brokers,
                                      .group = d->cf->group,
                                      .instance = d->cf->instance,
                                      .topic = d->cf->topic,
                                      .settings = settings,
                                      .partition_eof = d->cf->until_drained,
                                      .rebalance_cb = rebalance_cb,
                                      .stats_cb = stats_cb,
                                      .opaque = d};
    return carrot_kafka_consumer_new(conf, &o, errstr, errstr_size);
}

int main(int argc, char **argv) {
    dir_conf_t cf;
    char errstr[512];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-directory", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 1;
    dir_prog_t d = {.cf = &cf, .stop = &stop};
    char instance[128];
    carrot_instance_id(cf.instance, instance, sizeof(instance));
    carrot_log_set_instance(instance);
    rd_kafka_message_t **msgs = calloc((size_t)cf.batch_size, sizeof(*msgs));
    d.drain = carrot_drain_new();
    d.dir = carrot_directory_new(cf.redis_host, (int)cf.redis_port, 5000);
    if (!msgs || !d.drain || !d.dir) {
        carrot_error("out of memory");
        goto out;
    }
    if (make_metrics(&d, errstr, sizeof(errstr)) != 0 ||
        (cf.schema_registry &&
         !(d.registry = carrot_registry_new(cf.schema_registry, errstr, sizeof(errstr)))) ||
        !(d.codec = carrot_participant_codec_new(errstr, sizeof(errstr))) ||
        !(d.producer = make_producer(&d, conf, errstr, sizeof(errstr))) ||
        !(d.consumer = make_consumer(&d, conf, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (cf.metrics_port)
        carrot_info("metrics on http://%s:%lld/metrics", cf.metrics_listen, cf.metrics_port);
    /* Redis out of reach is said at once, not at the first participant */
    dir_redis_check(&d);
    int64_t pinged_ms = carrot_time_mono_ms();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a write to a Redis that went away fails with EPIPE, reported and
     * retried; hiredis does not ask the kernel to spare the process */
    signal(SIGPIPE, SIG_IGN);
    exit_code = 0;
    while (!stop) {
        size_t n = carrot_kafka_collect(d.consumer, msgs, (size_t)cf.batch_size, (int)cf.batch_ms,
                                        -1, d.drain, &d.rebalanced, &stop);
        if (rd_kafka_fatal_error(d.consumer, errstr, sizeof(errstr))) {
            carrot_error("stopping: the consumer failed for good (%s); a restart resumes from "
                         "the committed offsets",
                         errstr);
            exit_code = 1;
            break;
        }
        if (n == 0) {
            rd_kafka_poll(d.producer, 0);
            if (carrot_time_mono_ms() - pinged_ms >= 2000) { /* idle: is Redis still there? */
                dir_redis_check(&d);
                pinged_ms = carrot_time_mono_ms();
            }
            if (cf.until_drained && carrot_drain_done(d.drain)) break;
            continue;
        }
        int rc = dir_process_batch(&d, msgs, n);
        for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
        if (rc < 0) {
            exit_code = 1;
            break;
        }
    }
    carrot_info("stopping: %lld consumed, %lld stored, %lld older than the directory's, %lld "
                "dead-lettered",
                d.counts.consumed, d.counts.stored, d.counts.older, d.counts.dead_lettered);
    printf("{\"consumed\":%lld,\"stored\":%lld,\"older\":%lld,\"dead_lettered\":%lld,"
           "\"tombstones\":%lld,\"batches\":%lld}\n",
           d.counts.consumed, d.counts.stored, d.counts.older, d.counts.dead_lettered,
           d.counts.tombstones, d.counts.batches);
    fflush(stdout);
out:
    if (d.consumer) {
        rd_kafka_consumer_close(d.consumer);
        rd_kafka_destroy(d.consumer);
    }
    if (d.producer) {
        rd_kafka_flush(d.producer, 10000);
        rd_kafka_destroy(d.producer);
    }
    carrot_codec_destroy(d.codec);
    carrot_registry_destroy(d.registry);
    carrot_lag_destroy(d.lag);
    carrot_metrics_destroy(d.metrics);
    carrot_directory_destroy(d.dir);
    carrot_drain_destroy(d.drain);
    free(msgs);
    carrot_conf_destroy(conf);
    return exit_code;
}
