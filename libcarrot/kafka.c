/* kafka.c: librdkafka configuration and log routing, the group consumer,
 * drain tracking, and the sink: produce, Award emission, dead letters. */
#include "carrot/kafka.h"

#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* librdkafka uses syslog levels, as does carrot_log_level_t */
    carrot_log_level_t l = level <= 3   ? CARROT_LOG_ERROR
                           : level == 4 ? CARROT_LOG_WARN
                           : level <= 6 ? CARROT_LOG_INFO
                                        : CARROT_LOG_DEBUG;
    carrot_log(l, "librdkafka %s: %s", fac, buf);
}

int carrot_kafka_set(rd_kafka_conf_t *kconf, const char *key, const char *value, char *errstr,
                     size_t errstr_size) {
    char err[512];
    if (rd_kafka_conf_set(kconf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka setting \"%s\": %s", key, err);
        return -1;
    }
    return 0;
}

typedef struct {
    rd_kafka_conf_t *kconf;
    char *errstr;
    size_t errstr_size;
} apply_t;

static int apply_one(const char *key, const char *value, void *opaque) {
    apply_t *a = opaque;
    return carrot_kafka_set(a->kconf, key, value, a->errstr, a->errstr_size);
}

/* As carrot_kafka_conf_new(), with client.id set first (defaults and the
 * user's kafka.client.id still override it), so Kafka's tools name the
 * program and, where there is one, its instance. */
static rd_kafka_conf_t *conf_new_named(const carrot_conf_t *conf, const char *brokers,
                                       const char *client_id, const char *const *defaults,
                                       char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(kconf, log_cb);
    apply_t a = {kconf, errstr, errstr_size};
    if (carrot_kafka_set(kconf, "client.id", client_id, errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    for (; defaults && defaults[0]; defaults += 2) {
        if (carrot_kafka_set(kconf, defaults[0], defaults[1], errstr, errstr_size) != 0) {
            rd_kafka_conf_destroy(kconf);
            return NULL;
        }
    }
    if (carrot_kafka_set(kconf, "bootstrap.servers", brokers, errstr, errstr_size) != 0 ||
        (conf && carrot_conf_foreach_prefixed(conf, "kafka.", apply_one, &a) != 0)) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    return kconf;
}

rd_kafka_conf_t *carrot_kafka_conf_new(const carrot_conf_t *conf, const char *brokers,
                                       const char *const *defaults, char *errstr,
                                       size_t errstr_size) {
    return conf_new_named(conf, brokers, carrot_log_get_ident(), defaults, errstr, errstr_size);
}

int carrot_kafka_create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                              const char *cleanup_policy, char *errstr, size_t errstr_size) {
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
    if (!nt) {
        snprintf(errstr, errstr_size, "could not create topic %s: %s", topic, err);
        return -1;
    }
    if (cleanup_policy) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", cleanup_policy);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        ev ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n) : NULL;
    int rc = 0;
    if (!ev) {
        snprintf(errstr, errstr_size, "could not create topic %s: no answer in 30 s", topic);
        rc = -1;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "could not create topic %s: %s", topic,
                 rd_kafka_event_error_string(ev));
        rc = -1;
    } else if (n != 1 ||
               (rd_kafka_topic_result_error(tr[0]) &&
                rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)) {
        snprintf(errstr, errstr_size, "could not create topic %s: %s", topic,
                 n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
        rc = -1;
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}

int carrot_kafka_partition_count(rd_kafka_t *rk, const char *topic, char *errstr,
                                 size_t errstr_size) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000)
                                  : RD_KAFKA_RESP_ERR__FAIL;
    int n = -1;
    if (err)
        snprintf(errstr, errstr_size, "no metadata for topic %s: %s", topic, rd_kafka_err2str(err));
    else {
        n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
        if (n < 0)
            snprintf(errstr, errstr_size, "no topic %s: %s", topic,
                     md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
        rd_kafka_metadata_destroy(md);
    }
    if (rkt) rd_kafka_topic_destroy(rkt);
    return n;
}

void carrot_instance_id(const char *name, char *out, size_t out_size) {
    if (name && *name) {
        snprintf(out, out_size, "%s", name);
        return;
    }
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    snprintf(out, out_size, "%s", host);
}

typedef struct {
    char *topic;
    int32_t partition;
    int at_end;
} drain_part_t;

struct carrot_drain_s {
    drain_part_t *parts;
    int n;
};

carrot_drain_t *carrot_drain_new(void) { return calloc(1, sizeof(carrot_drain_t)); }

static void drain_clear(carrot_drain_t *d) {
    for (int i = 0; i < d->n; i++) free(d->parts[i].topic);
    free(d->parts);
    d->parts = NULL;
    d->n = 0;
}

void carrot_drain_destroy(carrot_drain_t *d) {
    if (!d) return;
    drain_clear(d);
    free(d);
}

void carrot_drain_assign(carrot_drain_t *d, const rd_kafka_topic_partition_list_t *parts) {
    drain_clear(d);
    if (!parts || parts->cnt == 0) return;
    d->parts = calloc((size_t)parts->cnt, sizeof(*d->parts));
    if (!d->parts) return; /* treated as "not drained": the run simply continues */
    for (int i = 0; i < parts->cnt; i++) {
        d->parts[d->n].topic = strdup(parts->elems[i].topic);
        d->parts[d->n].partition = parts->elems[i].partition;
        if (d->parts[d->n].topic) d->n++;
    }
}

void carrot_drain_seen(carrot_drain_t *d, const rd_kafka_message_t *msg) {
    const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : NULL;
    for (int i = 0; topic && i < d->n; i++) {
        if (d->parts[i].partition == msg->partition && strcmp(d->parts[i].topic, topic) == 0) {
            d->parts[i].at_end = msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
            return;
        }
    }
}

int carrot_drain_done(const carrot_drain_t *d) {
    if (d->n == 0) return 0;
    for (int i = 0; i < d->n; i++)
        if (!d->parts[i].at_end) return 0;
    return 1;
}

size_t carrot_kafka_collect(rd_kafka_t *consumer, rd_kafka_message_t **msgs, size_t max,
                            int timeout_ms, int linger_ms, carrot_drain_t *drain, int *rebalanced,
                            volatile sig_atomic_t *stop) {
    size_t n = 0;
    int64_t deadline = carrot_time_mono_ms() + timeout_ms, first_by = deadline;
    *rebalanced = 0;
    while (n < max && !*stop) {
        /* past the deadline: no more waiting, but what is already fetched is taken */
        int64_t left = deadline - carrot_time_mono_ms();
        if (left <= 0 && n == 0) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, left > 0 ? (int)left : 0);
        if (*rebalanced) {
            for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
            n = 0;
            *rebalanced = 0;
            deadline = first_by;
        }
        if (!m) {
            if (left <= 0) break;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) { /* the consumer is dead (e.g. fenced) */
            char why[512];
            rd_kafka_fatal_error(consumer, why, sizeof(why));
            carrot_error("consumer: fatal error: %s", why);
            rd_kafka_message_destroy(m);
            for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
            return 0; /* the caller sees rd_kafka_fatal_error() and stops */
        }
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            carrot_warn("consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (drain) carrot_drain_seen(drain, m);
        if (m->err) rd_kafka_message_destroy(m);
        else {
            msgs[n++] = m;
            if (n == 1 && linger_ms >= 0) { /* the batch has begun: wait linger_ms at most */
                int64_t by = carrot_time_mono_ms() + linger_ms;
                if (by < deadline) deadline = by;
            }
        }
    }
    return n;
}

rd_kafka_t *carrot_kafka_txn_producer_new(const carrot_conf_t *conf, const char *brokers,
                                          const char *const *defaults, const char *txid,
                                          long long txn_timeout_ms, char *errstr,
                                          size_t errstr_size) {
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%lld", txn_timeout_ms);
    /* the transactional id already names the program, its group and instance */
    rd_kafka_conf_t *k = conf_new_named(conf, brokers, txid, defaults, errstr, errstr_size);
    if (!k) return NULL;
    if (carrot_kafka_set(k, "transactional.id", txid, errstr, errstr_size) ||
        carrot_kafka_set(k, "transaction.timeout.ms", timeout, errstr, errstr_size)) {
        rd_kafka_conf_destroy(k);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(k);
        return NULL;
    }
    rd_kafka_error_t *err = rd_kafka_init_transactions(rk, 60000);
    if (err) {
        snprintf(errstr, errstr_size,
                 "could not initialize transactions (transactional.id %.200s): %s", txid,
                 rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

int carrot_kafka_produce(rd_kafka_t *rk, const carrot_kafka_msg_t *m, int timeout_ms, char *errstr,
                         size_t errstr_size) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : carrot_time_mono_ms() + timeout_ms;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(m->hdrs),
            RD_KAFKA_V_OPAQUE(m->opaque), RD_KAFKA_V_END);
        if (!err) return 0;
        int64_t left = deadline - carrot_time_mono_ms();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || left <= 0) {
            snprintf(errstr, errstr_size, "could not produce to %s: %s", m->topic,
                     rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, left < 50 ? (int)left : 50); /* delivery reports make room */
    }
}

int carrot_award_encode(carrot_codec_t *codec, const carrot_award_t *a, const void **bufp,
                        size_t *lenp, char *errstr, size_t errstr_size) {
    avro_value_t *av = carrot_codec_value(codec);
    if (carrot_award_to_avro(a, av, errstr, errstr_size) != 0 ||
        carrot_codec_encode(codec, av, bufp, lenp, errstr, errstr_size) != CARROT_CODEC_OK)
        return -1;
    return 0;
}

int carrot_kafka_produce_award(rd_kafka_t *rk, carrot_codec_t *codec, const char *topic,
                               const carrot_award_t *a, const char *stream, int64_t offset,
                               int timeout_ms, char *errstr, size_t errstr_size) {
    const void *buf;
    size_t len;
    if (carrot_award_encode(codec, a, &buf, &len, errstr, errstr_size) != 0) return -1;
    return carrot_kafka_produce_encoded_award(rk, topic, a->participant_id,
                                              strlen(a->participant_id), buf, len, stream, offset,
                                              timeout_ms, errstr, errstr_size);
}

int carrot_kafka_produce_encoded_award(rd_kafka_t *rk, const char *topic, const char *key,
                                       size_t key_len, const void *value, size_t value_len,
                                       const char *stream, int64_t offset, int timeout_ms,
                                       char *errstr, size_t errstr_size) {
    carrot_kafka_msg_t m = {.topic = topic,
                            .partition = RD_KAFKA_PARTITION_UA,
                            .key = key,
                            .key_len = key_len,
                            .value = value,
                            .value_len = value_len};
    if (stream) {
        char off[24];
        snprintf(off, sizeof(off), "%lld", (long long)offset);
        m.hdrs = rd_kafka_headers_new(2);
        rd_kafka_header_add(m.hdrs, "carrot.stream", -1, stream, -1);
        rd_kafka_header_add(m.hdrs, "carrot.offset", -1, off, -1);
    }
    int rc = carrot_kafka_produce(rk, &m, timeout_ms, errstr, errstr_size);
    if (rc && m.hdrs) rd_kafka_headers_destroy(m.hdrs); /* librdkafka's only once produced */
    return rc;
}

carrot_dead_letter_t carrot_dead_letter_of(const rd_kafka_message_t *m, const char *stage,
                                           const char *reason) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    return (carrot_dead_letter_t){.reason = reason,
                                  .stage = stage,
                                  .source = topic,
                                  .topic = topic,
                                  .partition = m->partition,
                                  .offset = m->offset,
                                  .key = m->key,
                                  .key_len = m->key_len,
                                  .value = m->payload,
                                  .value_len = m->len};
}

int carrot_kafka_dead_letter(rd_kafka_t *rk, const char *dlq_topic, const carrot_dead_letter_t *dl,
                             void *opaque, int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "carrot.error", -1, dl->reason, -1);
    rd_kafka_header_add(h, "carrot.stage", -1, dl->stage, -1);
    rd_kafka_header_add(h, "carrot.source", -1, dl->source, -1);
    if (dl->topic) {
        char partition[16], offset[24];
        snprintf(partition, sizeof(partition), "%d", (int)dl->partition);
        snprintf(offset, sizeof(offset), "%lld", (long long)dl->offset);
        rd_kafka_header_add(h, "carrot.topic", -1, dl->topic, -1);
        rd_kafka_header_add(h, "carrot.partition", -1, partition, -1);
        rd_kafka_header_add(h, "carrot.offset", -1, offset, -1);
    }
    for (const char *const *x = dl->extra; x && x[0]; x += 2)
        rd_kafka_header_add(h, x[0], -1, x[1], -1);
    carrot_kafka_msg_t m = {.topic = dlq_topic,
                            .partition = RD_KAFKA_PARTITION_UA,
                            .key = dl->key,
                            .key_len = dl->key_len,
                            .value = dl->value,
                            .value_len = dl->value_len,
                            .hdrs = h,
                            .opaque = opaque};
    int rc = carrot_kafka_produce(rk, &m, timeout_ms, errstr, errstr_size);
    if (rc) rd_kafka_headers_destroy(h); /* librdkafka owns them only once produced */
    return rc;
}

rd_kafka_t *carrot_kafka_consumer_new(const carrot_conf_t *conf,
                                      const carrot_kafka_consumer_opts_t *o, char *errstr,
                                      size_t errstr_size) {
    /* The prefetch queue is bounded by bytes, 16 MiB, well below librdkafka's
     * 64 MiB: a member that falls behind would otherwise hold that much of
     * the topic in memory (a batch is at most some thousands of messages).
     * queued.min.messages is what makes librdkafka fetch again, and it
     * counts every partition's messages together (the consumer queue they
     * are forwarded to): at 10,000, a scorer emptied what it had and then
     * sat idle until the fetcher's next look, some 2 s apart, a quarter of
     * a catch-up spent waiting (bench_scorer: 18,000 against 24,900/s). */
    static const char *const defaults[] = {"session.timeout.ms",
                                           "15000",
                                           "queued.min.messages",
                                           "100000",
                                           "queued.max.messages.kbytes",
                                           "16384",
                                           "statistics.interval.ms",
                                           "5000",
                                           NULL};
    char instance[256];
    carrot_instance_id(o->instance, instance, sizeof(instance));
    /* without a statistics callback, the defaults end before statistics.interval.ms */
    static const char *const no_stats[] = {"session.timeout.ms",
                                           "15000",
                                           "queued.min.messages",
                                           "100000",
                                           "queued.max.messages.kbytes",
                                           "16384",
                                           NULL};
    const char *all[sizeof(defaults) / sizeof(defaults[0]) + 16];
    size_t n = 0;
    for (const char *const *d = o->stats_cb ? defaults : no_stats; *d; d++) all[n++] = *d;
    for (const char *const *d = o->defaults; d && d[0] && d[1]; d += 2)
        if (n + 2 < sizeof(all) / sizeof(all[0])) all[n++] = d[0], all[n++] = d[1];
    all[n] = NULL;
    char client_id[512];
    snprintf(client_id, sizeof(client_id), "%s.%s", carrot_log_get_ident(), instance);
    rd_kafka_conf_t *k = conf_new_named(conf, o->brokers, client_id, all, errstr, errstr_size);
    if (!k) return NULL;
    if (carrot_kafka_set(k, "group.id", o->group, errstr, errstr_size) ||
        carrot_kafka_set(k, "group.instance.id", instance, errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, errstr_size) ||
        carrot_kafka_set(k, "isolation.level", "read_committed", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.partition.eof", o->partition_eof ? "true" : "false", errstr,
                         errstr_size)) {
        rd_kafka_conf_destroy(k);
        return NULL;
    }
    for (const char *const *s = o->settings; s && s[0]; s += 2) {
        if (carrot_kafka_set(k, s[0], s[1], errstr, errstr_size) != 0) {
            rd_kafka_conf_destroy(k);
            return NULL;
        }
    }
    if (o->rebalance_cb) rd_kafka_conf_set_rebalance_cb(k, o->rebalance_cb);
    if (o->stats_cb) rd_kafka_conf_set_stats_cb(k, o->stats_cb);
    rd_kafka_conf_set_opaque(k, o->opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(k);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(4);
    if (o->topic) rd_kafka_topic_partition_list_add(topics, o->topic, RD_KAFKA_PARTITION_UA);
    for (const char *const *t = o->topic ? NULL : o->topics; t && *t; t++)
        rd_kafka_topic_partition_list_add(topics, *t, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "could not subscribe to %s: %s",
                 o->topic ? o->topic : "the topics", rd_kafka_err2str(err));
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}
