/* keyed_topic.c: a compacted topic of one current text per key, published
 * and followed (carrot/keyed_topic.h). */
#include "carrot/keyed_topic.h"

#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int carrot_keyed_publish(const carrot_conf_t *conf, const char *brokers, const char *topic,
                         const char *key, const char *text, size_t len, const char *what,
                         char *errstr, size_t errstr_size) {
    static const char *const defaults[] = {"enable.idempotence", "true", NULL};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, brokers, defaults, errstr, errstr_size);
    if (!k) return -1;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(k);
        return -1;
    }
    int rc = -1;
    /* one partition is plenty: a record per key, compacted */
    if (carrot_kafka_create_topic(rk, topic, 1, "compact", errstr, errstr_size)) {
        rd_kafka_destroy(rk);
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)text, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (err)
        snprintf(errstr, errstr_size, "could not publish %s to %s: %s", what, topic,
                 rd_kafka_err2str(err));
    else if ((err = rd_kafka_flush(rk, 30000)) || rd_kafka_outq_len(rk) > 0)
        snprintf(errstr, errstr_size, "%s not acknowledged by %s within 30 s: %s", what, topic,
                 rd_kafka_err2str(err));
    else
        rc = 0;
    rd_kafka_destroy(rk);
    return rc;
}

struct carrot_keyed_feed_s {
    rd_kafka_t *rk;
    char *key;
    carrot_drain_t *drain;
    char *latest; /* newest record for the key */
    size_t latest_len;
    int fresh; /* latest not yet returned */
};

carrot_keyed_feed_t *carrot_keyed_feed_new(const carrot_conf_t *conf, const char *brokers,
                                           const char *topic, const char *key, char *errstr,
                                           size_t errstr_size) {
    carrot_keyed_feed_t *f = calloc(1, sizeof(*f));
    rd_kafka_conf_t *k = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (!f || !(f->key = strdup(key)) || !(f->drain = carrot_drain_new())) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* No group: every follower reads every partition of the topic itself. */
    if (!(k = carrot_kafka_conf_new(conf, brokers, NULL, errstr, errstr_size)) ||
        carrot_kafka_set(k, "enable.partition.eof", "true", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, errstr_size) ||
        carrot_kafka_set(k, "group.id", "carrot-keyed-reader", errstr, errstr_size))
        goto fail;
    if (!(f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, errstr_size))) goto fail;
    k = NULL;
    if (carrot_kafka_create_topic(f->rk, topic, 1, "compact", errstr, errstr_size)) goto fail;
    int n = carrot_kafka_partition_count(f->rk, topic, errstr, errstr_size);
    if (n < 0) goto fail;
    parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(f->rk, parts);
    if (err) {
        snprintf(errstr, errstr_size, "could not read %s: %s", topic, rd_kafka_err2str(err));
        goto fail;
    }
    carrot_drain_assign(f->drain, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    return f;
fail:
    if (k) rd_kafka_conf_destroy(k);
    if (parts) rd_kafka_topic_partition_list_destroy(parts);
    carrot_keyed_feed_destroy(f);
    return NULL;
}

void carrot_keyed_feed_destroy(carrot_keyed_feed_t *f) {
    if (!f) return;
    if (f->rk) {
        rd_kafka_consumer_close(f->rk);
        rd_kafka_destroy(f->rk);
    }
    carrot_drain_destroy(f->drain);
    free(f->key);
    free(f->latest);
    free(f);
}

int carrot_keyed_feed_poll(carrot_keyed_feed_t *f, int timeout_ms, int catch_up, const char **textp,
                           size_t *lenp) {
    int64_t deadline = carrot_time_mono_ms() + timeout_ms;
    size_t klen = strlen(f->key);
    for (;;) {
        int64_t left = deadline - carrot_time_mono_ms();
        if (left < 0) left = 0;
        if (catch_up && carrot_drain_done(f->drain)) left = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, (int)left);
        if (!m) break;
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) carrot_drain_seen(f->drain, m);
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                carrot_warn("reading %s: %s", f->key, rd_kafka_message_errstr(m));
        } else if (m->key_len == klen && memcmp(m->key, f->key, klen) == 0 && m->payload) {
            char *copy = malloc(m->len + 1);
            if (copy) {
                memcpy(copy, m->payload, m->len);
                copy[m->len] = '\0';
                free(f->latest);
                f->latest = copy;
                f->latest_len = m->len;
                f->fresh = 1;
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (!f->fresh) return 0;
    f->fresh = 0;
    *textp = f->latest;
    *lenp = f->latest_len;
    return 1;
}

int carrot_keyed_feed_caught_up(const carrot_keyed_feed_t *f) {
    return carrot_drain_done(f->drain);
}
