/* repair.c: Redis as a projection of Kafka. The boards' watermark per
 * partition says what Redis has applied; the group's committed offset says
 * what Kafka has committed awards for. With appendfsync everysec a host
 * crash can lose Redis's last second after Kafka committed it, and a Redis
 * restored from an older copy, or empty, is further behind: the range
 * between is replayed into Redis, without producing its awards again. */
#include "carrot/log.h"
#include "scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t scorer_repair_until(const scorer_t *s, int32_t p) {
    return p >= 0 && p < s->nrepair ? s->repair_until[p] : 0;
}

void scorer_repair_progress(scorer_t *s, int32_t p, int64_t next_offset) {
    if (p < 0 || p >= s->nrepair || !s->repair_until[p] || next_offset < s->repair_until[p]) return;
    carrot_log_kafka_t at = {s->cf->topic, p, s->repair_until[p]};
    carrot_logk(CARROT_LOG_INFO, &at, "Redis caught up with Kafka; scoring on as usual");
    s->repair_until[p] = 0;
}

void scorer_repair_clear(scorer_t *s) {
    if (s->repair_until) memset(s->repair_until, 0, (size_t)s->nrepair * sizeof(int64_t));
}

static int mark(scorer_t *s, int32_t p, int64_t until) {
    if (p >= s->nrepair) {
        int n = p + 16;
        int64_t *r = realloc(s->repair_until, (size_t)n * sizeof(*r));
        if (!r) return -1;
        memset(r + s->nrepair, 0, (size_t)(n - s->nrepair) * sizeof(*r));
        s->repair_until = r;
        s->nrepair = n;
    }
    s->repair_until[p] = until;
    return 0;
}

/* Seeks the partitions of msgs[0..n) that are not in seeked back to their
 * first offset in msgs, so the batch can be dropped and read again. */
static void rewind_others(scorer_t *s, rd_kafka_message_t **msgs, size_t n,
                          const rd_kafka_topic_partition_list_t *seeked) {
    rd_kafka_topic_partition_list_t *back = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        if (rd_kafka_topic_partition_list_find(seeked, t, msgs[i]->partition) ||
            rd_kafka_topic_partition_list_find(back, t, msgs[i]->partition))
            continue;
        rd_kafka_topic_partition_list_add(back, t, msgs[i]->partition)->offset = msgs[i]->offset;
    }
    if (back->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(s->consumer, back, 10000);
        if (e) { /* the batch is dropped either way: a failed seek is a stuck partition */
            carrot_error("could not rewind the dropped batch: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(back);
}

int scorer_repair_check(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(s->consumer, &parts);
    if (err) {
        carrot_warn("could not read the assignment: %s", rd_kafka_err2str(err));
        return -1;
    }
    int rc = 0;
    if (parts->cnt > 0 && (err = rd_kafka_committed(s->consumer, parts, 10000))) {
        carrot_warn("could not read the committed offsets to check Redis against: %s",
                    rd_kafka_err2str(err));
        rc = -1;
    }
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    const char *program = carrot_rules_program(s->rules);
    for (int i = 0; i < parts->cnt && rc == 0; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t committed = p->err ? RD_KAFKA_OFFSET_INVALID : p->offset, wm;
        char stream[300], errstr[512];
        snprintf(stream, sizeof(stream), "%s:%d", p->topic, (int)p->partition);
        carrot_board_err_t berr = carrot_board_watermark(s->board, program, stream, &wm, errstr,
                                                         sizeof(errstr));
        if (berr != CARROT_BOARD_OK) {
            carrot_warn("could not read the boards' watermark of %s: %s", stream, errstr);
            scorer_redis_state(s, 0, errstr);
            rc = berr == CARROT_BOARD_FATAL ? -2 : -1;
            break;
        }
        int64_t until = scorer_repair_until(s, p->partition); /* a repair under way */
        if (until > committed) committed = until;
        if (committed < 0 || wm + 1 >= committed) continue; /* nothing committed is missing */
        carrot_warn("%s: Redis holds program %s only up to offset %lld, Kafka has committed up "
                    "to %lld: replaying %lld activities into Redis without producing their "
                    "awards again",
                    stream, program, (long long)wm, (long long)committed,
                    (long long)(committed - wm - 1));
        if (mark(s, p->partition, committed) != 0) {
            carrot_error("out of memory");
            rc = -2;
            break;
        }
        /* an empty Redis: from the start of what the topic keeps */
        rd_kafka_topic_partition_list_add(seek, p->topic, p->partition)->offset =
            wm >= 0 ? wm + 1 : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rc == 0 && seek->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(s->consumer, seek, 10000);
        if (e) {
            carrot_warn("could not seek back to replay into Redis: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            for (int i = 0; i < seek->cnt; i++) s->repair_until[seek->elems[i].partition] = 0;
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < seek->cnt; i++)
            if (seek->elems[i].err) {
                carrot_warn("could not seek %s [%d] back: %s", seek->elems[i].topic,
                            (int)seek->elems[i].partition, rd_kafka_err2str(seek->elems[i].err));
                for (int j = 0; j < seek->cnt; j++) s->repair_until[seek->elems[j].partition] = 0;
                rc = -1;
            }
    }
    if (rc == 0) {
        s->redis_check = 0;
        s->redis_connects = carrot_board_connects(s->board);
        if (seek->cnt > 0) { /* the batch in hand comes after the replay: read it again */
            rewind_others(s, msgs, n, seek);
            rc = 1;
        }
    } else {
        rewind_others(s, msgs, n, seek); /* seek is empty unless the seek itself failed */
    }
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}
