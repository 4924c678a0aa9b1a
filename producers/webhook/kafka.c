/* kafka.c: carrot-webhook's Kafka side: the producer, each request's messages, dead letters. */
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

batch_t *batch_new(size_t n) {
    batch_t *b = calloc(1, sizeof(*b) + (n ? n : 1) * sizeof(slot_t));
    if (!b) return NULL;
    b->refs = 1;
    b->n = n ? n : 1;
    for (size_t i = 0; i < b->n; i++) b->slots[i].b = b;
    return b;
}

void batch_release(webhook_t *w, batch_t *b) {
    pthread_mutex_lock(&w->lock);
    int last = --b->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) free(b);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    webhook_t *w = opaque;
    slot_t *s = m->_private;
    if (m->err)
        carrot_error("could not deliver to %s: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    if (!s) return;
    pthread_mutex_lock(&w->lock);
    s->pending--;
    if (m->err) s->failed = 1;
    int last = --s->b->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) free(s->b);
}

rd_kafka_t *webhook_producer_new(const carrot_conf_t *conf, webhook_t *w, char *errstr,
                                 size_t errstr_size) {
    const webhook_conf_t *cf = w->cf;
    char flush_ms[32];
    snprintf(flush_ms, sizeof(flush_ms), "%lld", cf->flush_timeout_ms);
    /* a message not delivered when the request gives up waiting should not be delivered
     * after the 503 either (HubSpot's retry would produce it again) */
    const char *const defaults[] = {"linger.ms", "5", "message.timeout.ms", flush_ms, NULL};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, cf->brokers, defaults, errstr, errstr_size);
    if (!k || carrot_kafka_set(k, "enable.idempotence", "true", errstr, errstr_size)) {
        if (k) rd_kafka_conf_destroy(k);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(k, dr_cb);
    rd_kafka_conf_set_opaque(k, w);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, errstr_size);
    if (!rk) rd_kafka_conf_destroy(k);
    return rk;
}

/* Counts a message about to be produced in slot s (its report counts it down). */
static void slot_hold(webhook_t *w, slot_t *s) {
    pthread_mutex_lock(&w->lock);
    s->pending++;
    s->b->refs++;
    pthread_mutex_unlock(&w->lock);
}

/* The message slot_hold() counted was not produced: s has failed. */
static void slot_fail(webhook_t *w, slot_t *s) {
    pthread_mutex_lock(&w->lock);
    s->pending--;
    s->failed = 1;
    s->b->refs--; /* never the last: the request holds one */
    pthread_mutex_unlock(&w->lock);
}

/* What is left of the request's time for a full queue; never -1 (for ever). */
static int left_ms(long long deadline_ms) {
    long long left = deadline_ms - carrot_time_mono_ms();
    return left > 0 ? (int)left : 0;
}

int webhook_produce(webhook_t *w, slot_t *s, long long deadline_ms, const char *key,
                    const void *val, size_t len) {
    char errstr[512];
    carrot_kafka_msg_t m = {.topic = w->cf->topic,
                            .partition = RD_KAFKA_PARTITION_UA,
                            .key = key,
                            .key_len = key ? strlen(key) : 0,
                            .value = val,
                            .value_len = len,
                            .opaque = s};
    slot_hold(w, s);
    if (carrot_kafka_produce(w->rk, &m, left_ms(deadline_ms), errstr, sizeof(errstr)) == 0)
        return 0;
    slot_fail(w, s);
    carrot_error("%s", errstr);
    return -1;
}

int webhook_dead_letter(webhook_t *w, slot_t *s, long long deadline_ms, const char *bytes,
                        size_t len, const char *reason) {
    char errstr[512];
    const char *const hdr[] = {"carrot.program", w->cf->program, NULL};
    carrot_dead_letter_t dl = {.reason = reason,
                               .stage = "webhook",
                               .source = w->cf->path,
                               .value = bytes,
                               .value_len = len,
                               .extra = hdr};
    carrot_warn("dead letter: %s", reason);
    slot_hold(w, s);
    if (carrot_kafka_dead_letter(w->rk, w->cf->dlq_topic, &dl, s, left_ms(deadline_ms), errstr,
                                 sizeof(errstr)) == 0)
        return 0;
    slot_fail(w, s);
    carrot_error("%s", errstr);
    return -1;
}

int webhook_await(webhook_t *w, batch_t *b, long long deadline_ms) {
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int outstanding = b->refs - 1;
        pthread_mutex_unlock(&w->lock);
        if (outstanding == 0) return 0;
        long long left = deadline_ms - carrot_time_mono_ms();
        if (left <= 0) return -1;
        rd_kafka_poll(w->rk, left < 20 ? (int)left : 20);
    }
}
