/* run.c: `carrot-ledger run`, booking awards from Kafka exactly once. On
 * every partition assignment the consumer seeks to the offsets stored in
 * PostgreSQL with the rows (book.c); after each commit they are copied to
 * Kafka too, only so that consumer lag shows in the usual tools. */
#include "carrot/award.h"
#include "carrot/book.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t carrot_ledger_stop;

void carrot_ledger_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Server notices ("relation ... already exists, skipping") are debug noise. */
static void notice_cb(void *arg, const char *msg) {
    (void)arg;
    carrot_debug("postgres: %s", msg);
}

PGconn *carrot_ledger_connect(const char *dsn, int once) {
    int backoff = 200;
    for (;;) {
        PGconn *pg = PQconnectdb(dsn);
        if (PQstatus(pg) == CONNECTION_OK) {
            PQsetNoticeProcessor(pg, notice_cb, NULL);
            return pg;
        }
        char *msg = PQerrorMessage(pg);
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n') msg[--n] = '\0';
        if (once || carrot_ledger_stop) {
            carrot_error("could not connect to PostgreSQL: %s", msg);
            PQfinish(pg);
            return NULL;
        }
        carrot_warn("could not connect to PostgreSQL: %s; retrying in %d ms", msg, backoff);
        PQfinish(pg);
        carrot_ledger_sleep_ms(backoff);
        if (backoff < 5000) backoff *= 2;
    }
}

typedef struct {
    const ledger_conf_t *cf;
    PGconn *pg;
    carrot_drain_t *drain;
    int rebalanced;
    rd_kafka_topic_partition_list_t *booked;
    ledger_watch_t *watch;
} ledger_t;

/* Copies the booked offsets to Kafka, each moved on to the consumer's
 * position where that is further: after a transaction's last award comes
 * its commit marker, which the consumer steps over but never hands out, so
 * "last award + 1" would leave kafka-consumer-groups showing a lag of 1
 * forever. Called between batches, when every message handed out is booked. */
static rd_kafka_resp_err_t commit_to_kafka(rd_kafka_t *consumer,
                                           const rd_kafka_topic_partition_list_t *booked,
                                           rd_kafka_topic_partition_list_t **lastp, int async) {
    /* Not while rejoining (after a broker restart, say): a commit sent with no
     * member id fences this static member for good. The copy is cosmetic;
     * the next batch or idle second sends it. */
    char *member = rd_kafka_memberid(consumer);
    int joined = member && *member;
    if (member) rd_kafka_mem_free(consumer, member);
    if (!joined) return RD_KAFKA_RESP_ERR__STATE;
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(booked);
    rd_kafka_topic_partition_list_t *cur = rd_kafka_topic_partition_list_copy(booked);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!rd_kafka_position(consumer, cur))
        for (int i = 0; i < pos->cnt; i++)
            if (cur->elems[i].offset > pos->elems[i].offset)
                pos->elems[i].offset = cur->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(cur);
    int same = *lastp && (*lastp)->cnt == pos->cnt;
    for (int i = 0; same && i < pos->cnt; i++)
        same = (*lastp)->elems[i].partition == pos->elems[i].partition &&
               (*lastp)->elems[i].offset == pos->elems[i].offset;
    if (same || pos->cnt == 0) { /* nothing new to say */
        rd_kafka_topic_partition_list_destroy(pos);
        return err;
    }
    err = rd_kafka_commit(consumer, pos, async);
    if (*lastp) rd_kafka_topic_partition_list_destroy(*lastp);
    *lastp = pos;
    return err;
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    ledger_watch_stats(((ledger_t *)opaque)->watch, json, len);
    return 0; /* librdkafka frees json */
}

/* On assignment, start every partition at the offset stored in PostgreSQL. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    ledger_t *l = opaque;
    l->rebalanced = 1;
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        carrot_info("revoked %d partitions", parts->cnt);
        rd_kafka_assign(rk, NULL);
        carrot_drain_assign(l->drain, NULL);
        ledger_watch_check(l->watch, "kafka", 0, "rebalancing: no partitions assigned");
        return;
    }
    int32_t *pids = calloc((size_t)parts->cnt + 1, sizeof(*pids));
    int64_t *offs = calloc((size_t)parts->cnt + 1, sizeof(*offs));
    char errstr[512];
    for (int i = 0; pids && i < parts->cnt; i++) pids[i] = parts->elems[i].partition;
    int backoff = 200, loaded = 0;
    while (pids && offs && !carrot_ledger_stop) {
        carrot_ledger_err_t rc = carrot_book_load_offsets(l->pg, l->cf->group, l->cf->topic, pids,
                                                          offs, parts->cnt, errstr, sizeof(errstr));
        if (rc == CARROT_LEDGER_OK) {
            loaded = 1;
            break;
        }
        carrot_warn("%s; retrying in %d ms", errstr, backoff);
        ledger_watch_pg_error(l->watch, errstr);
        carrot_ledger_sleep_ms(backoff);
        if (backoff < 5000) backoff *= 2;
        if (PQstatus(l->pg) != CONNECTION_OK) PQreset(l->pg);
    }
    if (!loaded) { /* stopping, or out of memory: take nothing; a restart resumes */
        carrot_error("not taking the assigned partitions: their stored offsets could not be read");
        carrot_ledger_stop = 1;
        free(pids);
        free(offs);
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        parts->elems[i].offset = offs[i] >= 0 ? offs[i] : RD_KAFKA_OFFSET_BEGINNING;
        if (offs[i] < 0) continue;
        rd_kafka_topic_partition_t *b = rd_kafka_topic_partition_list_find(
            l->booked, parts->elems[i].topic, pids[i]);
        if (!b) b = rd_kafka_topic_partition_list_add(l->booked, parts->elems[i].topic, pids[i]);
        if (offs[i] > b->offset) b->offset = offs[i];
    }
    free(pids);
    free(offs);
    carrot_info("assigned %d partitions, resuming at the offsets stored in PostgreSQL", parts->cnt);
    rd_kafka_assign(rk, parts);
    carrot_drain_assign(l->drain, parts);
    ledger_watch_check(l->watch, "kafka", 1, NULL); /* in the group (maybe with none) */
    ledger_watch_check(l->watch, "postgres", 1, NULL);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    if (m->err) {
        (*(long long *)opaque)++;
        carrot_error("could not deliver dead letter: %s", rd_kafka_err2str(m->err));
    }
}

/* What the refused-award callback needs to find a message and dead-letter it. */
typedef struct {
    const ledger_conf_t *cf;
    rd_kafka_t *producer;
    rd_kafka_message_t **msgs;
    size_t n;
    long long *dlq_failed;
    long long refused; /* dead-lettered from inside carrot_book_commit() */
} dlq_t;

/* Queues a dead letter of m (kafka.h: the original bytes and key, the reason
 * and where it came from in headers). Delivery is checked by the caller
 * (flush, then dlq_failed). */
static void dead_letter(dlq_t *d, const rd_kafka_message_t *m, const char *reason) {
    char errstr[512];
    carrot_warn("dead letter %s [%d] @%lld: %s", d->cf->topic, (int)m->partition,
                (long long)m->offset, reason);
    carrot_dead_letter_t dl = carrot_dead_letter_of(m, "ledger", reason);
    if (carrot_kafka_dead_letter(d->producer, d->cf->dlq_topic, &dl, NULL, -1, errstr,
                                 sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        (*d->dlq_failed)++;
    }
}

/* Waits until every queued dead letter is acknowledged; 0 if all were. */
static int dead_letters_durable(dlq_t *d) {
    while (rd_kafka_outq_len(d->producer) > 0) rd_kafka_flush(d->producer, 1000);
    return *d->dlq_failed ? -1 : 0;
}

/* carrot_book_refused_cb: an award PostgreSQL refuses (book.h) goes to the
 * dead-letter topic, durably, before the transaction that skips it commits. */
static int on_refused(void *opaque, int32_t partition, int64_t offset, const char *reason) {
    dlq_t *d = opaque;
    for (size_t i = 0; i < d->n; i++) {
        if (d->msgs[i]->partition != partition || d->msgs[i]->offset != offset) continue;
        dead_letter(d, d->msgs[i], reason);
        if (dead_letters_durable(d)) return -1;
        d->refused++;
        return 0;
    }
    carrot_error("refused award at partition %d offset %lld is not in the batch", (int)partition,
                 (long long)offset);
    return -1;
}

int carrot_ledger_run(const carrot_conf_t *conf, const ledger_conf_t *cf) {
    char errstr[512];
    int exit_code = 1;
    long long dlq_failed = 0, booked = 0, skipped = 0, dead = 0;
    int64_t first_ms = 0, last_ms = 0; /* first message seen, last batch committed */
    int64_t idle_checked_ms = 0;       /* when an idle ledger last looked at its positions */
    rd_kafka_topic_partition_list_t *kafka_pos = NULL; /* the offsets last copied to Kafka */

    /* booked: the next offset per partition known to be booked (from
     * PostgreSQL at assignment, then per batch); committed to Kafka
     * synchronously on the way out, as the per-batch commits are asynchronous */
    char instance[128];
    carrot_instance_id(cf->instance, instance, sizeof(instance));
    carrot_log_set_instance(instance); /* in logfmt and JSON lines */
    rd_kafka_topic_partition_list_t *booked_pos = rd_kafka_topic_partition_list_new(8);
    ledger_t l = {.cf = cf, .drain = carrot_drain_new(), .booked = booked_pos};
    carrot_book_t *book = carrot_book_new();
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    rd_kafka_message_t **msgs = calloc((size_t)cf->batch_size, sizeof(*msgs));
    rd_kafka_t *consumer = NULL, *producer = NULL;
    ledger_drift_t *drift = NULL;
    char last_program[256] = "";
    if (!codec) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (!(l.watch = ledger_watch_new(cf, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (!l.drain || !book || !msgs || !(l.pg = carrot_ledger_connect(cf->pg, 0))) goto out;
    ledger_watch_check(l.watch, "postgres", 1, NULL);

    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, cf->brokers, NULL, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        if (k) rd_kafka_conf_destroy(k);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(k, dr_cb);
    rd_kafka_conf_set_opaque(k, &dlq_failed);
    if (!(producer = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        rd_kafka_conf_destroy(k);
        goto out;
    }
    /* Static membership, as in the scorer: a restarted ledger resumes at once;
     * where it starts is the rebalance callback's (the offsets in PostgreSQL). */
    carrot_kafka_consumer_opts_t co = {.brokers = cf->brokers,
                                       .group = cf->group,
                                       .instance = cf->instance,
                                       .topic = cf->topic,
                                       .partition_eof = cf->until_drained,
                                       .rebalance_cb = rebalance_cb,
                                       .stats_cb = stats_cb,
                                       .opaque = &l};
    if (!(consumer = carrot_kafka_consumer_new(conf, &co, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }

    drift = ledger_drift_start(conf, cf, l.watch);
    exit_code = 0;
    while (!carrot_ledger_stop) {
        size_t n = carrot_kafka_collect(consumer, msgs, (size_t)cf->batch_size, (int)cf->batch_ms,
                                        l.drain, &l.rebalanced, &carrot_ledger_stop);
        if (rd_kafka_fatal_error(consumer, errstr, sizeof(errstr))) {
            carrot_error("stopping: the consumer failed for good (%s); a restart resumes at the "
                         "offsets in PostgreSQL",
                         errstr);
            exit_code = 1;
            break;
        }
        if (n == 0) {
            /* idle: step the copy in Kafka over the last commit marker too, once the
             * consumer has (checked each second; committed only when it moved) */
            int64_t mono = carrot_time_mono_ms();
            if (mono - idle_checked_ms >= 1000) {
                idle_checked_ms = mono;
                commit_to_kafka(consumer, booked_pos, &kafka_pos, 1);
            }
            if (cf->until_drained && carrot_drain_done(l.drain)) break;
            continue;
        }
        if (!first_ms) first_ms = carrot_time_mono_ms();
        carrot_book_reset(book);
        size_t ndead = 0;
        dlq_t d = {.cf = cf, .producer = producer, .msgs = msgs, .n = n, .dlq_failed = &dlq_failed};
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            avro_value_t *value;
            carrot_award_t award;
            if (carrot_codec_decode(codec, m->payload, m->len, &value, errstr, sizeof(errstr)) ==
                    CARROT_CODEC_OK &&
                carrot_award_from_avro(value, &award, errstr, sizeof(errstr)) == 0) {
                if (drift && strcmp(award.program_id, last_program) != 0) { /* cheap: runs */
                    ledger_drift_seen(drift, award.program_id);
                    snprintf(last_program, sizeof(last_program), "%s", award.program_id);
                }
                if (carrot_book_add(book, &award, m->partition, m->offset) != 0) {
                    carrot_error("out of memory");
                    exit_code = 1;
                    goto out;
                }
                continue;
            }
            dead_letter(&d, m, errstr);
            carrot_book_advance(book, m->partition, m->offset + 1);
            ndead++;
        }
        /* A dead letter must be durable before its offset moves past it. */
        if ((ndead && dead_letters_durable(&d)) || dlq_failed) {
            carrot_error("could not write %lld dead letters; stopping without booking the batch",
                         dlq_failed);
            exit_code = 1;
            for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
            break;
        }
        long long inserted = 0;
        int backoff = 200;
        carrot_ledger_err_t rc;
        while ((rc = carrot_book_commit(book, l.pg, cf->group, cf->topic, on_refused, &d, &inserted,
                                        errstr, sizeof(errstr))) == CARROT_LEDGER_RETRY) {
            carrot_warn("%s; retrying in %d ms", errstr, backoff);
            ledger_watch_pg_error(l.watch, errstr);
            d.refused = 0; /* the retry finds them again */
            if (carrot_ledger_stop) break;
            carrot_ledger_sleep_ms(backoff);
            if (backoff < 5000) backoff *= 2;
            if (PQstatus(l.pg) != CONNECTION_OK) PQreset(l.pg);
        }
        if (rc != CARROT_LEDGER_OK) {
            if (rc == CARROT_LEDGER_FATAL) carrot_error("%s", errstr);
            exit_code = rc == CARROT_LEDGER_FATAL ? 1 : 0; /* stopped while retrying: replays */
            for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
            break;
        }
        last_ms = carrot_time_mono_ms();
        long long already = (long long)carrot_book_count(book) - inserted - d.refused;
        booked += inserted;
        skipped += already;
        dead += (long long)ndead + d.refused;
        ledger_watch_batch(l.watch, msgs, n, inserted, already, (long long)ndead + d.refused);
        /* Offsets live in PostgreSQL; copying them to Kafka keeps lag visible. */
        for (size_t i = 0; i < n; i++) {
            const char *t = rd_kafka_topic_name(msgs[i]->rkt);
            rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(booked_pos, t,
                                                                               msgs[i]->partition);
            if (!p) p = rd_kafka_topic_partition_list_add(booked_pos, t, msgs[i]->partition);
            if (msgs[i]->offset + 1 > p->offset) p->offset = msgs[i]->offset + 1;
        }
        commit_to_kafka(consumer, booked_pos, &kafka_pos, 1);
        for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
    }
    carrot_info("stopping: %lld awards booked, %lld already booked, %lld dead-lettered", booked,
                skipped, dead);
    printf("{\"booked\":%lld,\"already_booked\":%lld,\"dead_lettered\":%lld,\"busy_ms\":%lld}\n",
           booked, skipped, dead, (long long)(last_ms - first_ms));
    fflush(stdout);
out:
    if (consumer && booked_pos->cnt > 0) {
        rd_kafka_topic_partition_list_t *once = NULL; /* synchronous, whatever went before */
        rd_kafka_resp_err_t cerr = commit_to_kafka(consumer, booked_pos, &once, 0);
        if (once) rd_kafka_topic_partition_list_destroy(once);
        if (cerr)
            carrot_warn("could not copy the final offsets to Kafka: %s", rd_kafka_err2str(cerr));
    }
    rd_kafka_topic_partition_list_destroy(booked_pos);
    if (kafka_pos) rd_kafka_topic_partition_list_destroy(kafka_pos);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (producer) {
        rd_kafka_flush(producer, 10000);
        rd_kafka_destroy(producer);
    }
    carrot_codec_destroy(codec);
    carrot_book_destroy(book);
    carrot_drain_destroy(l.drain);
    ledger_drift_stop(drift); /* it writes to the watch */
    ledger_watch_destroy(l.watch);
    free(msgs);
    if (l.pg) PQfinish(l.pg);
    return exit_code;
}
