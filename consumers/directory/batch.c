/* batch.c: one batch of carrot.participants messages into the directory:
 * each decoded and put in order (a newer updated_at wins inside Redis, so
 * a replayed or reordered message changes nothing), the undecodable ones
 * dead-lettered with their reason and original bytes, and the offsets
 * committed only after the Redis writes and the dead letters are done. At
 * least once is exact here: a message read twice is put twice, which
 * stores the same thing. */
#include "carrot/log.h"
#include "carrot/participant.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void dir_redis_state(dir_prog_t *d, int up, const char *why) {
    carrot_metric_set(d->m_redis_up, up);
    carrot_metrics_check(d->metrics, "redis", up, why);
    if (!up) carrot_metric_add(d->m_redis_errors, 1);
}

/* Said once when Redis comes back, every 10 s while it is away. */
static void redis_seen(dir_prog_t *d, int up, const char *why) {
    dir_redis_state(d, up, why);
    int64_t now = carrot_time_mono_ms();
    if (up) {
        if (d->redis_warned_ms)
            carrot_info("Redis at %s:%lld is reachable", d->cf->redis_host, d->cf->redis_port);
        d->redis_warned_ms = 0;
    } else if (!d->redis_warned_ms || now - d->redis_warned_ms >= 10000) {
        carrot_warn("cannot reach Redis at %s:%lld (%s): the directory is not updated; retrying",
                    d->cf->redis_host, d->cf->redis_port, why);
        d->redis_warned_ms = now;
    }
}

void dir_redis_check(dir_prog_t *d) {
    char errstr[256];
    int up = carrot_directory_ping(d->dir, errstr, sizeof(errstr)) == CARROT_DIRECTORY_OK;
    redis_seen(d, up, up ? NULL : errstr);
}

/* Puts p, retrying while Redis is out of reach (warned every 10 s, as the
 * scorer does) until it answers or stop is set (then RETRY). */
static carrot_directory_err_t put_retrying(dir_prog_t *d, const carrot_participant_t *p,
                                           int *appliedp, char *errstr, size_t errstr_size) {
    for (;;) {
        carrot_directory_err_t err = carrot_directory_put(d->dir, p, appliedp, errstr, errstr_size);
        if (err != CARROT_DIRECTORY_RETRY) {
            if (err == CARROT_DIRECTORY_OK) redis_seen(d, 1, NULL);
            return err;
        }
        redis_seen(d, 0, errstr);
        if (*d->stop) return err;
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Why m cannot go into the directory, in reason; 0 when *p is good. */
static int decode(dir_prog_t *d, const rd_kafka_message_t *m, carrot_participant_t *p, char *reason,
                  size_t size) {
    char why[400], key[600];
    avro_value_t *value;
    carrot_codec_err_t cerr = carrot_registry_decode(d->registry, d->codec, m->payload, m->len,
                                                     &value, why, sizeof(why));
    if (cerr != CARROT_CODEC_OK) {
        snprintf(reason, size, "undecodable (%s): %s", carrot_codec_err_name(cerr), why);
        return -1;
    }
    if (carrot_participant_from_avro(value, p, why, sizeof(why)) != 0) {
        snprintf(reason, size, "invalid participant: %s", why);
        return -1;
    }
    /* compaction keeps the latest record per key: a record under another
     * participant's key would hide theirs */
    size_t keylen = carrot_participant_key(p, key, sizeof(key));
    if (!m->key || m->key_len != keylen || memcmp(m->key, key, keylen) != 0) {
        snprintf(reason, size, "key is not <program>\\x1e<participant> of %s/%s", p->program_id,
                 p->participant_id);
        return -1;
    }
    return 0;
}

/* Commits the offset after the last message of each partition in
 * msgs[0..n). A failed commit (a rebalance took the partition) is only
 * warned about: the new owner reads those messages again, and a put twice
 * stores the same. */
static void commit(dir_prog_t *d, rd_kafka_message_t **msgs, size_t n) {
    if (n == 0) return;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(offsets, topic,
                                                                            msgs[i]->partition);
        if (!tp) tp = rd_kafka_topic_partition_list_add(offsets, topic, msgs[i]->partition);
        if (msgs[i]->offset + 1 > tp->offset) tp->offset = msgs[i]->offset + 1;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(d->consumer, offsets, 0);
    if (err)
        carrot_warn("could not commit offsets (%s): they are read again, which is harmless",
                    rd_kafka_err2str(err));
    else {
        d->counts.batches++;
        carrot_metric_add(d->m_batches, 1);
    }
    rd_kafka_topic_partition_list_destroy(offsets);
}

int dir_process_batch(dir_prog_t *d, rd_kafka_message_t **msgs, size_t n) {
    char errstr[512], reason[600];
    size_t done = 0;
    int rc = 0;
    long long failed_before = d->dlq_failed;
    for (; done < n && rc == 0; done++) {
        rd_kafka_message_t *m = msgs[done];
        carrot_participant_t p;
        d->counts.consumed++;
        carrot_metric_add(d->m_consumed, 1);
        if (!m->payload) { /* a tombstone: nothing to store (leavers are active=false) */
            d->counts.tombstones++;
            continue;
        }
        if (decode(d, m, &p, reason, sizeof(reason)) != 0) {
            carrot_log_kafka_t at = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
            carrot_logk(CARROT_LOG_WARN, &at, "dead letter: %s", reason);
            carrot_dead_letter_t dl = carrot_dead_letter_of(m, "directory", reason);
            if (carrot_kafka_dead_letter(d->producer, d->cf->dlq_topic, &dl, NULL, -1, errstr,
                                         sizeof(errstr)) != 0) {
                carrot_error("%s", errstr);
                rc = -1;
                break;
            }
            d->counts.dead_lettered++;
            carrot_metric_add(d->m_dead, 1);
            carrot_metric_add(d->m_dead_letters, 1);
            continue;
        }
        int applied = 0;
        carrot_directory_err_t err = put_retrying(d, &p, &applied, errstr, sizeof(errstr));
        if (err == CARROT_DIRECTORY_RETRY) { /* stopped while Redis was away */
            rc = 1;
            break;
        }
        if (err == CARROT_DIRECTORY_FATAL) {
            carrot_error("%s: stopping", errstr);
            rc = -1;
            break;
        }
        if (applied) {
            d->counts.stored++;
            carrot_metric_add(d->m_stored, 1);
        } else {
            d->counts.older++;
            carrot_metric_add(d->m_older, 1);
        }
    }
    /* dead letters acknowledged before the offsets past them are committed */
    while (rd_kafka_outq_len(d->producer) > 0 && rd_kafka_flush(d->producer, 1000)) {
        if (*d->stop && rc != 0) break;
    }
    if (d->dlq_failed > failed_before || rd_kafka_outq_len(d->producer) > 0) {
        carrot_error("a dead letter could not be delivered to %s: stopping (a restart reads the "
                     "batch again)",
                     d->cf->dlq_topic);
        return -1;
    }
    if (rc >= 0) {
        size_t upto = rc == 0 ? n : done;
        commit(d, msgs, upto);
        /* in order, so each partition's gauge ends at its newest message */
        for (size_t i = 0; i < upto; i++)
            carrot_lag_seen(d->lag, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition,
                            rd_kafka_message_timestamp(msgs[i], NULL));
    }
    return rc;
}
