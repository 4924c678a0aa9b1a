/* range.c: a time range of a topic, read once from every partition with a
 * group-less consumer (offsets_for_times for the ends), for simulations
 * and back-fills. Nothing is committed. */
#include "cli.h"

#include "carrot/kafka.h"
#include "carrot/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_msg(const void *x, const void *y) {
    const range_msg_t *a = x, *b = y;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    if (a->partition != b->partition) return a->partition < b->partition ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

void range_free(range_msg_t *msgs, long n) {
    for (long i = 0; i < n; i++) free(msgs[i].value);
    free(msgs);
}

/* Offsets of the first message at or after ms, per partition; -1 (none)
 * becomes the high watermark. */
static int offsets_at(rd_kafka_t *rk, const char *topic, int nparts, int64_t ms, int64_t *out,
                      char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++) rd_kafka_topic_partition_list_add(l, topic, i)->offset = ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, l, 15000);
    for (int i = 0; !err && i < nparts; i++) {
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 15000);
        out[i] = l->elems[i].err || l->elems[i].offset < 0 ? hi : l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        snprintf(errstr, errstr_size, "could not find offsets of %s: %s", topic,
                 rd_kafka_err2str(err));
    return err ? -1 : 0;
}

long range_read(const carrot_conf_t *conf, const char *brokers, const char *topic, int64_t from_ms,
                int64_t to_ms, range_msg_t **msgsp, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, brokers, NULL, errstr, errstr_size);
    if (!k) return -1;
    if (carrot_kafka_set(k, "group.id", "carrot-rules-tool", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, errstr_size) ||
        carrot_kafka_set(k, "isolation.level", "read_committed", errstr, errstr_size)) {
        rd_kafka_conf_destroy(k);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(k);
        return -1;
    }
    long n = -1, cap = 0, count = 0;
    range_msg_t *msgs = NULL;
    int64_t *start = NULL, *end = NULL;
    int nparts = carrot_kafka_partition_count(rk, topic, errstr, errstr_size);
    if (nparts < 0) goto out;
    start = calloc((size_t)nparts, sizeof(*start));
    end = calloc((size_t)nparts, sizeof(*end));
    if (!start || !end) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    if (offsets_at(rk, topic, nparts, from_ms, start, errstr, errstr_size) ||
        offsets_at(rk, topic, nparts, to_ms == INT64_MAX ? -1 : to_ms, end, errstr, errstr_size))
        goto out;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    int open = 0;
    for (int i = 0; i < nparts; i++) {
        if (start[i] >= end[i]) continue;
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = start[i];
        open++;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* With read_committed, the last offsets may be transaction markers that
     * are never delivered: a partition is done at its end offset, or when
     * nothing more comes for a while. */
    int idle = 0;
    while (open > 0 && idle < 30) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                carrot_warn("reading %s: %s", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int32_t p = m->partition;
        if (m->offset < end[p]) {
            if (count == cap) {
                cap = cap ? cap * 2 : 4096;
                range_msg_t *nm = realloc(msgs, (size_t)cap * sizeof(*nm));
                if (!nm) {
                    rd_kafka_message_destroy(m);
                    snprintf(errstr, errstr_size, "out of memory");
                    goto out;
                }
                msgs = nm;
            }
            range_msg_t *r = &msgs[count];
            r->ts = rd_kafka_message_timestamp(m, NULL);
            r->partition = p;
            r->offset = m->offset;
            r->len = m->len;
            if (!(r->value = malloc(m->len ? m->len : 1))) {
                rd_kafka_message_destroy(m);
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
            }
            if (m->len) memcpy(r->value, m->payload, m->len);
            count++;
        }
        if (m->offset >= end[p] - 1 && start[p] < end[p]) {
            start[p] = end[p]; /* done */
            open--;
        }
        rd_kafka_message_destroy(m);
    }
    qsort(msgs, (size_t)count, sizeof(*msgs), cmp_msg);
    *msgsp = msgs;
    n = count;
    msgs = NULL;
out:
    if (msgs) range_free(msgs, count);
    free(start);
    free(end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}
