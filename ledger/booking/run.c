/* run.c: `carrot-ledger run`, booking awards from Kafka exactly once. On
 * every partition assignment the consumer seeks to the offsets stored in
 * PostgreSQL with the rows (book.c); after each commit they are copied to
 * Kafka too, only so that consumer lag shows in the usual tools.
 * Batches are pipelined: while one is booked (a thread of its own, which
 * alone uses the connection meanwhile), the next is read and decoded, so
 * the client's work overlaps PostgreSQL's. At most one batch is in flight,
 * and it lands (joined, then counted and its offsets copied) before the next
 * starts, so batches still commit in order; a rebalance waits for it before
 * reading the stored offsets. */
#include "carrot/award.h"
#include "carrot/book.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "ledger.h"

#include <pthread.h>
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

typedef struct flight_s flight_t;

typedef struct {
    const ledger_conf_t *cf;
    PGconn *pg;
    carrot_drain_t *drain;
    int rebalanced;
    rd_kafka_topic_partition_list_t *booked;
    ledger_watch_t *watch;
    flight_t *inflight; /* the batch being booked, if any */
} ledger_t;

static void flight_wait(flight_t *f);

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
    /* the connection is the booking thread's until it is done; and the
     * offsets read below must include the batch in flight */
    if (l->inflight) flight_wait(l->inflight);
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
        /* atomic: the booking thread's flush may call this too */
        __atomic_fetch_add((long long *)opaque, 1, __ATOMIC_RELAXED);
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
    carrot_log_kafka_t at = {d->cf->topic, m->partition, m->offset};
    carrot_logk(CARROT_LOG_WARN, &at, "dead letter: %s", reason);
    carrot_dead_letter_t dl = carrot_dead_letter_of(m, "ledger", reason);
    if (carrot_kafka_dead_letter(d->producer, d->cf->dlq_topic, &dl, NULL, -1, errstr,
                                 sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        __atomic_fetch_add(d->dlq_failed, 1, __ATOMIC_RELAXED);
    }
}

/* Waits until every queued dead letter is acknowledged; 0 if all were. */
static int dead_letters_durable(dlq_t *d) {
    while (rd_kafka_outq_len(d->producer) > 0) rd_kafka_flush(d->producer, 1000);
    return __atomic_load_n(d->dlq_failed, __ATOMIC_RELAXED) ? -1 : 0;
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
    carrot_log_kafka_t at = {d->cf->topic, partition, offset};
    carrot_logk(CARROT_LOG_ERROR, &at, "a refused award is not in the batch");
    return -1;
}

/* One batch, from its messages to its commit. Two take turns: one read
 * while the other is booked. */
struct flight_s {
    ledger_t *l;
    carrot_book_t *book;
    rd_kafka_message_t **msgs;
    size_t n, ndead;
    dlq_t d;
    pthread_t thread;
    int running; /* the thread is started and not joined */
    int pending; /* messages held: booked or not, not yet landed */
    carrot_ledger_err_t rc;
    long long inserted;
    char errstr[512];
};

/* The booking thread: commits the batch, retrying what may pass on retry. */
static void *flight_book(void *opaque) {
    flight_t *f = opaque;
    const ledger_conf_t *cf = f->l->cf;
    int backoff = 200;
    while ((f->rc = carrot_book_commit(f->book, f->l->pg, cf->group, cf->topic, on_refused, &f->d,
                                       &f->inserted, f->errstr, sizeof(f->errstr))) ==
           CARROT_LEDGER_RETRY) {
        carrot_warn("%s; retrying in %d ms", f->errstr, backoff);
        ledger_watch_pg_error(f->l->watch, f->errstr);
        f->d.refused = 0; /* the retry finds them again */
        if (carrot_ledger_stop) break;
        carrot_ledger_sleep_ms(backoff);
        if (backoff < 5000) backoff *= 2;
        if (PQstatus(f->l->pg) != CONNECTION_OK) PQreset(f->l->pg);
    }
    return NULL;
}

static int flight_start(flight_t *f) {
    f->l->inflight = f;
    if (pthread_create(&f->thread, NULL, flight_book, f) != 0) {
        f->l->inflight = NULL;
        return -1;
    }
    f->running = 1;
    return 0;
}

/* Waits for the batch's commit (a no-op when it is not running). */
static void flight_wait(flight_t *f) {
    if (!f->running) return;
    pthread_join(f->thread, NULL);
    f->running = 0;
    f->l->inflight = NULL;
}

static void flight_drop(flight_t *f) {
    for (size_t i = 0; i < f->n; i++) rd_kafka_message_destroy(f->msgs[i]);
    f->n = 0;
    f->pending = 0;
}

/* What the run has booked, for its last line. */
typedef struct {
    long long booked, skipped, dead;
    int64_t last_ms; /* the last batch committed */
} totals_t;

/* Lands the batch booked last, if any: waits for its commit, counts it and
 * copies its offsets to Kafka. 0 when it committed (or there was none); 1
 * when it failed for good; 2 when it stopped while retrying (it replays). */
static int land(flight_t *f, rd_kafka_t *consumer, totals_t *t,
                rd_kafka_topic_partition_list_t **kafka_pos) {
    if (!f->pending) return 0;
    flight_wait(f);
    if (f->rc != CARROT_LEDGER_OK) {
        if (f->rc == CARROT_LEDGER_FATAL) carrot_error("%s", f->errstr);
        flight_drop(f);
        return f->rc == CARROT_LEDGER_FATAL ? 1 : 2;
    }
    t->last_ms = carrot_time_mono_ms();
    long long already = (long long)carrot_book_count(f->book) - f->inserted - f->d.refused;
    t->booked += f->inserted;
    t->skipped += already;
    t->dead += (long long)f->ndead + f->d.refused;
    ledger_watch_batch(f->l->watch, f->msgs, f->n, f->inserted, already,
                       (long long)f->ndead + f->d.refused);
    /* Offsets live in PostgreSQL; copying them to Kafka keeps lag visible. */
    rd_kafka_topic_partition_list_t *booked_pos = f->l->booked;
    for (size_t i = 0; i < f->n; i++) {
        const char *topic = rd_kafka_topic_name(f->msgs[i]->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(booked_pos, topic,
                                                                           f->msgs[i]->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(booked_pos, topic, f->msgs[i]->partition);
        if (f->msgs[i]->offset + 1 > p->offset) p->offset = f->msgs[i]->offset + 1;
    }
    commit_to_kafka(consumer, booked_pos, kafka_pos, 1);
    flight_drop(f);
    return 0;
}

int carrot_ledger_run(const carrot_conf_t *conf, const ledger_conf_t *cf) {
    char errstr[512];
    int exit_code = 1;
    long long dlq_failed = 0;
    totals_t t = {0};
    int64_t first_ms = 0;        /* first message seen */
    int64_t idle_checked_ms = 0; /* when an idle ledger last looked at its positions */
    rd_kafka_topic_partition_list_t *kafka_pos = NULL; /* the offsets last copied to Kafka */

    /* booked: the next offset per partition known to be booked (from
     * PostgreSQL at assignment, then per batch); committed to Kafka
     * synchronously on the way out, as the per-batch commits are asynchronous */
    char instance[128];
    carrot_instance_id(cf->instance, instance, sizeof(instance));
    carrot_log_set_instance(instance); /* in logfmt and JSON lines */
    rd_kafka_topic_partition_list_t *booked_pos = rd_kafka_topic_partition_list_new(8);
    ledger_t l = {.cf = cf, .drain = carrot_drain_new(), .booked = booked_pos};
    flight_t fl[2] = {{.l = &l}, {.l = &l}};
    int cur = 0; /* the batch being read; fl[!cur] may be in flight */
    for (int i = 0; i < 2; i++) {
        fl[i].book = carrot_book_new();
        fl[i].msgs = calloc((size_t)cf->batch_size, sizeof(*fl[i].msgs));
    }
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
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
    if (!l.drain || !fl[0].book || !fl[1].book || !fl[0].msgs || !fl[1].msgs ||
        !(l.pg = carrot_ledger_connect(cf->pg, 0)))
        goto out;
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
        flight_t *f = &fl[cur], *prev = &fl[!cur];
        size_t n = carrot_kafka_collect(consumer, f->msgs, (size_t)cf->batch_size,
                                        (int)cf->batch_ms, -1, l.drain, &l.rebalanced,
                                        &carrot_ledger_stop);
        f->n = n;
        if (rd_kafka_fatal_error(consumer, errstr, sizeof(errstr))) {
            carrot_error("stopping: the consumer failed for good (%s); a restart resumes at the "
                         "offsets in PostgreSQL",
                         errstr);
            exit_code = 1;
            flight_drop(f);
            break;
        }
        int landed;
        if (n == 0) {
            /* nothing to read meanwhile: the batch in flight lands now */
            if ((landed = land(prev, consumer, &t, &kafka_pos))) {
                exit_code = landed == 1;
                break;
            }
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
        carrot_book_reset(f->book);
        f->ndead = 0;
        f->d = (dlq_t){
            .cf = cf, .producer = producer, .msgs = f->msgs, .n = n, .dlq_failed = &dlq_failed};
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = f->msgs[i];
            avro_value_t *value;
            carrot_award_t award;
            if (carrot_codec_decode(codec, m->payload, m->len, &value, errstr, sizeof(errstr)) ==
                    CARROT_CODEC_OK &&
                carrot_award_from_avro(value, &award, errstr, sizeof(errstr)) == 0) {
                if (drift && strcmp(award.program_id, last_program) != 0) { /* cheap: runs */
                    ledger_drift_seen(drift, award.program_id);
                    snprintf(last_program, sizeof(last_program), "%s", award.program_id);
                }
                if (carrot_book_add(f->book, &award, m->partition, m->offset) != 0) {
                    carrot_error("out of memory");
                    exit_code = 1;
                    flight_drop(f);
                    goto stop;
                }
                continue;
            }
            dead_letter(&f->d, m, errstr);
            carrot_book_advance(f->book, m->partition, m->offset + 1);
            f->ndead++;
        }
        /* A dead letter must be durable before its offset moves past it. */
        if ((f->ndead && dead_letters_durable(&f->d)) ||
            __atomic_load_n(&dlq_failed, __ATOMIC_RELAXED)) {
            carrot_error("could not write %lld dead letters; stopping without booking the batch",
                         __atomic_load_n(&dlq_failed, __ATOMIC_RELAXED));
            exit_code = 1;
            flight_drop(f);
            break;
        }
        /* batches commit in order: the one before lands first */
        if ((landed = land(prev, consumer, &t, &kafka_pos))) {
            exit_code = landed == 1;
            flight_drop(f);
            break;
        }
        f->pending = 1;
        if (flight_start(f)) {
            carrot_error("could not start the booking thread");
            exit_code = 1;
            flight_drop(f);
            break;
        }
        cur = !cur;
    }
stop:
    for (int i = 0; i < 2; i++) { /* the batch still in flight, on the way out */
        int landed = land(&fl[i], consumer, &t, &kafka_pos);
        if (landed == 1) exit_code = 1;
    }
    carrot_info("stopping: %lld awards booked, %lld already booked, %lld dead-lettered", t.booked,
                t.skipped, t.dead);
    printf("{\"booked\":%lld,\"already_booked\":%lld,\"dead_lettered\":%lld,\"busy_ms\":%lld}\n",
           t.booked, t.skipped, t.dead, (long long)(t.last_ms - first_ms));
    fflush(stdout);
out:
    for (int i = 0; i < 2; i++) { /* none is in flight past stop:, but an early exit */
        flight_wait(&fl[i]);
        flight_drop(&fl[i]);
    }
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
    for (int i = 0; i < 2; i++) {
        carrot_book_destroy(fl[i].book);
        free(fl[i].msgs);
    }
    carrot_drain_destroy(l.drain);
    ledger_drift_stop(drift); /* it writes to the watch */
    ledger_watch_destroy(l.watch);
    if (l.pg) PQfinish(l.pg);
    return exit_code;
}
