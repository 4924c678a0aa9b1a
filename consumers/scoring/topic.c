/* topic.c: the compacted carrot.rules topic: publishing a program's rules,
 * and following them so every scorer of a group switches to the same
 * version without a restart. A library of its own (carrot_rules_topic), so
 * the rules library itself has no Kafka in it. */
#include "carrot/rules_topic.h"

#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int carrot_rules_publish(const carrot_conf_t *conf, const char *brokers, const char *topic,
                         const carrot_rules_t *rules, char *errstr, size_t errstr_size) {
    static const char *const defaults[] = {"enable.idempotence", "true", NULL};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, brokers, defaults, errstr, errstr_size);
    if (!k) return -1;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(k);
        return -1;
    }
    size_t len;
    const char *text = carrot_rules_text(rules, &len);
    const char *program = carrot_rules_program(rules);
    int rc = -1;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(program, strlen(program)),
        RD_KAFKA_V_VALUE((void *)text, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (err)
        snprintf(errstr, errstr_size, "could not publish rules to %s: %s", topic,
                 rd_kafka_err2str(err));
    else if ((err = rd_kafka_flush(rk, 30000)) || rd_kafka_outq_len(rk) > 0)
        snprintf(errstr, errstr_size, "rules not acknowledged by %s within 30 s: %s", topic,
                 rd_kafka_err2str(err));
    else
        rc = 0;
    rd_kafka_destroy(rk);
    return rc;
}

struct carrot_rules_feed_s {
    rd_kafka_t *rk;
    char *program;
    carrot_drain_t *drain;
    char *latest; /* newest record for the program not yet returned */
    size_t latest_len;
    int have_latest;
};

carrot_rules_feed_t *carrot_rules_feed_new(const carrot_conf_t *conf, const char *brokers,
                                           const char *topic, const char *program, char *errstr,
                                           size_t errstr_size) {
    carrot_rules_feed_t *f = calloc(1, sizeof(*f));
    rd_kafka_conf_t *k = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (!f || !(f->program = strdup(program)) || !(f->drain = carrot_drain_new())) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* No group: every scorer reads every partition of the topic itself. */
    if (!(k = carrot_kafka_conf_new(conf, brokers, NULL, errstr, errstr_size)) ||
        carrot_kafka_set(k, "enable.partition.eof", "true", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, errstr_size) ||
        carrot_kafka_set(k, "group.id", "carrot-rules-reader", errstr, errstr_size))
        goto fail;
    if (!(f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, errstr_size))) goto fail;
    k = NULL;
    /* one partition is plenty: a record per program, compacted */
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
    carrot_rules_feed_destroy(f);
    return NULL;
}

void carrot_rules_feed_destroy(carrot_rules_feed_t *f) {
    if (!f) return;
    if (f->rk) {
        rd_kafka_consumer_close(f->rk);
        rd_kafka_destroy(f->rk);
    }
    carrot_drain_destroy(f->drain);
    free(f->program);
    free(f->latest);
    free(f);
}

int carrot_rules_feed_poll(carrot_rules_feed_t *f, int timeout_ms, int catch_up,
                           carrot_rules_t **rulesp, char *errstr, size_t errstr_size) {
    *rulesp = NULL;
    int64_t deadline = carrot_time_mono_ms() + timeout_ms;
    size_t plen = strlen(f->program);
    for (;;) {
        int64_t left = deadline - carrot_time_mono_ms();
        if (left < 0) left = 0;
        if (catch_up && carrot_drain_done(f->drain)) left = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, (int)left);
        if (!m) break;
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) carrot_drain_seen(f->drain, m);
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                carrot_warn("reading rules: %s", rd_kafka_message_errstr(m));
        } else if (m->key_len == plen && memcmp(m->key, f->program, plen) == 0 && m->payload) {
            char *copy = malloc(m->len + 1);
            if (copy) {
                memcpy(copy, m->payload, m->len);
                copy[m->len] = '\0';
                free(f->latest);
                f->latest = copy;
                f->latest_len = m->len;
                f->have_latest = 1;
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (!f->have_latest) return 0;
    f->have_latest = 0;
    char origin[300];
    snprintf(origin, sizeof(origin), "rules of %s from the rules topic", f->program);
    carrot_rules_t *r = carrot_rules_parse(f->latest, f->latest_len, origin, errstr, errstr_size);
    if (!r) return -1;
    if (strcmp(carrot_rules_program(r), f->program) != 0) {
        snprintf(errstr, errstr_size, "%s: names program \"%s\"", origin, carrot_rules_program(r));
        carrot_rules_destroy(r);
        return -1;
    }
    *rulesp = r;
    return 1;
}
