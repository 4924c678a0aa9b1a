/* commit.c: the committer, a thread that runs each scored batch's Kafka
 * transaction (its dead letters, its awards, its consumer offsets) in the
 * order the batches were scored, while the main thread reads, scores and
 * writes the boards of the next ones.
 *
 * Why a thread: a transaction's commit waits on the broker (some 5 to 10 ms,
 * and now and then over 100 ms on a busy machine); the boards of the
 * activities that arrive meanwhile need not wait for it. Why it stays exactly
 * once: the boards are written before a batch's transaction in any case (a
 * crash between the two replays the batch, which Redis absorbs and answers
 * with what the first run did), so boards ahead of Kafka by several batches
 * are the same state as boards ahead by one. Once a transaction fails, the
 * ones queued after it are skipped (never committed past a gap) and the main
 * thread rewinds to the first of them (batch.c, scorer_reap). */
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "scorer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct scorer_pipe_s {
    rd_kafka_t *producer;
    /* pthread rather than C11 threads: glibc's mtx_* bypass the hooks
     * ThreadSanitizer checks the committer with (libcarrot/tsan_threads.c) */
    pthread_mutex_t mu;
    pthread_cond_t work, done_cv;
    pthread_t thread;
    scorer_txn_t *queue, *queue_tail; /* waiting, oldest first */
    scorer_txn_t *done, *done_tail;   /* finished, oldest first, until reaped */
    size_t inflight, inflight_msgs;   /* pushed and not yet reaped */
    int failed;                       /* a transaction failed: skip the rest until resumed */
    int quit;
};

/* A failed call's error into a short string, and destroys it. */
static void take(rd_kafka_error_t *err, char *buf, size_t size) {
    snprintf(buf, size, "%s", rd_kafka_error_string(err));
    rd_kafka_error_destroy(err);
}

/* Aborts the open transaction: -1, or -2 when even that fails. */
static int abort_txn(scorer_pipe_t *p, const char *why) {
    carrot_warn("aborting transaction: %s", why);
    rd_kafka_error_t *err = rd_kafka_abort_transaction(p->producer, 60000);
    if (err) {
        char msg[512];
        take(err, msg, sizeof(msg));
        carrot_error("could not abort transaction: %s", msg);
        return -2;
    }
    return -1;
}

/* Produces what t's records say: 0, or -1 with errstr. */
static int produce(scorer_pipe_t *p, const scorer_txn_t *t, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < t->nrec; i++) {
        const scorer_rec_t *r = &t->recs[i];
        int rc;
        if (r->msg >= 0) { /* a dead letter: the original message, with its reason */
            carrot_dead_letter_t dl = carrot_dead_letter_of(t->msgs[r->msg], "scorer",
                                                            t->buf + r->value);
            rc = carrot_kafka_dead_letter(p->producer, t->dlq_topic, &dl, NULL, -1, errstr,
                                          errstr_size);
        } else { /* an award, encoded by the main thread */
            rc = carrot_kafka_produce_encoded_award(
                p->producer, t->awards_topic, t->buf + r->key, r->key_len, t->buf + r->value,
                r->value_len, t->buf + r->stream, r->offset, -1, errstr, errstr_size);
        }
        if (rc) return -1;
    }
    return 0;
}

/* One transaction for the batches group[0..n), in order (those queued while
 * the last commit ran: a slow commit is shared, not repeated): 0 committed,
 * -1 aborted, -2 fatal. */
static int run(scorer_pipe_t *p, scorer_txn_t *const *group, size_t n) {
    char errstr[512];
    rd_kafka_error_t *kerr = rd_kafka_begin_transaction(p->producer);
    if (kerr) {
        take(kerr, errstr, sizeof(errstr));
        carrot_error("could not begin transaction: %s", errstr);
        return -2;
    }
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
    for (size_t g = 0; g < n; g++) {
        if (produce(p, group[g], errstr, sizeof(errstr))) {
            carrot_error("%s", errstr);
            rd_kafka_topic_partition_list_destroy(offsets);
            return abort_txn(p, errstr);
        }
        const rd_kafka_topic_partition_list_t *o = group[g]->offsets;
        for (int i = 0; i < o->cnt; i++) { /* the furthest offset per partition */
            rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(
                offsets, o->elems[i].topic, o->elems[i].partition);
            if (!e)
                e = rd_kafka_topic_partition_list_add(offsets, o->elems[i].topic,
                                                      o->elems[i].partition);
            if (o->elems[i].offset > e->offset) e->offset = o->elems[i].offset;
        }
    }
    kerr = NULL;
    if (offsets->cnt > 0) /* none while a replay is still below the committed offsets */
        kerr = rd_kafka_send_offsets_to_transaction(p->producer, offsets, group[n - 1]->cgmd, -1);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (!kerr) /* a retriable error is retried, an abortable one aborts */
        while ((kerr = rd_kafka_commit_transaction(p->producer, -1)) &&
               rd_kafka_error_is_retriable(kerr)) {
            carrot_warn("commit failed, retrying: %s", rd_kafka_error_string(kerr));
            rd_kafka_error_destroy(kerr);
        }
    if (!kerr) return 0;
    int fatal = rd_kafka_error_is_fatal(kerr) || !rd_kafka_error_txn_requires_abort(kerr);
    take(kerr, errstr, sizeof(errstr));
    if (fatal) {
        carrot_error("transaction failed: %s", errstr);
        return -2;
    }
    return abort_txn(p, errstr);
}

static void *committer(void *arg) {
    scorer_pipe_t *p = arg;
    scorer_txn_t *group[SCORER_PIPE_MAX];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->queue && !p->quit) pthread_cond_wait(&p->work, &p->mu);
        if (!p->queue) break; /* quit, and nothing left */
        size_t n = 0;         /* every batch queued, in one transaction */
        scorer_txn_t *rest = p->queue;
        while (rest && n < SCORER_PIPE_MAX) {
            group[n++] = rest;
            rest = rest->next;
        }
        if (!(p->queue = rest)) p->queue_tail = NULL;
        int skip = p->failed;
        pthread_mutex_unlock(&p->mu);
        int rc = skip ? -3 : run(p, group, n);
        int64_t done = carrot_time_mono_ms();
        pthread_mutex_lock(&p->mu);
        if (rc == -1 || rc == -2) p->failed = 1;
        for (size_t g = 0; g < n; g++) {
            scorer_txn_t *t = group[g];
            t->rc = rc;
            t->done_ms = done;
            t->next = NULL;
            if (p->done_tail) p->done_tail->next = t;
            else
                p->done = t;
            p->done_tail = t;
        }
        pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

scorer_pipe_t *scorer_pipe_new(rd_kafka_t *producer) {
    scorer_pipe_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->producer = producer;
    if (pthread_mutex_init(&p->mu, NULL)) goto fail_mu;
    if (pthread_cond_init(&p->work, NULL)) goto fail_work;
    if (pthread_cond_init(&p->done_cv, NULL)) goto fail_done;
    if (pthread_create(&p->thread, NULL, committer, p)) goto fail_thread;
    return p;
fail_thread:
    pthread_cond_destroy(&p->done_cv);
fail_done:
    pthread_cond_destroy(&p->work);
fail_work:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    free(p);
    return NULL;
}

void scorer_pipe_push(scorer_pipe_t *p, scorer_txn_t *t) {
    pthread_mutex_lock(&p->mu);
    t->next = NULL;
    if (p->queue_tail) p->queue_tail->next = t;
    else
        p->queue = t;
    p->queue_tail = t;
    p->inflight++;
    p->inflight_msgs += t->n;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

scorer_txn_t *scorer_pipe_done(scorer_pipe_t *p, int wait) {
    pthread_mutex_lock(&p->mu);
    while (wait && !p->done && p->inflight > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    scorer_txn_t *t = p->done;
    if (t) {
        if (!(p->done = t->next)) p->done_tail = NULL;
        t->next = NULL;
        p->inflight--;
        p->inflight_msgs -= t->n;
    }
    pthread_mutex_unlock(&p->mu);
    return t;
}

size_t scorer_pipe_inflight(scorer_pipe_t *p, size_t *msgs) {
    pthread_mutex_lock(&p->mu);
    size_t n = p->inflight;
    if (msgs) *msgs = p->inflight_msgs;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void scorer_pipe_resume(scorer_pipe_t *p) {
    pthread_mutex_lock(&p->mu);
    p->failed = 0;
    pthread_mutex_unlock(&p->mu);
}

void scorer_pipe_destroy(scorer_pipe_t *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    /* what was never reaped (the caller reaps before, but a fatal stop may not) */
    for (scorer_txn_t *t = p->done, *next; t; t = next) {
        next = t->next;
        scorer_txn_free(t);
    }
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* --- a batch's transaction, as built by the main thread -------------------- */

scorer_txn_t *scorer_txn_new(void) { return calloc(1, sizeof(scorer_txn_t)); }

void scorer_txn_reset(scorer_txn_t *t) {
    for (size_t i = 0; i < t->n; i++) rd_kafka_message_destroy(t->msgs[i]);
    t->n = t->len = t->nrec = 0;
    if (t->offsets) rd_kafka_topic_partition_list_destroy(t->offsets);
    if (t->cgmd) rd_kafka_consumer_group_metadata_destroy(t->cgmd);
    t->offsets = NULL;
    t->cgmd = NULL;
    t->rc = 0;
    memset(&t->counts, 0, sizeof(t->counts));
}

void scorer_txn_free(scorer_txn_t *t) {
    if (!t) return;
    scorer_txn_reset(t);
    free(t->msgs);
    free(t->buf);
    free(t->recs);
    free(t);
}

size_t scorer_txn_put(scorer_txn_t *t, const void *data, size_t len) {
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 65536;
        while (cap < t->len + len + 1) cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = 1;
            return 0;
        }
        t->buf = b;
        t->cap = cap;
    }
    size_t at = t->len;
    memcpy(t->buf + at, data, len);
    t->buf[at + len] = '\0';
    t->len += len + 1;
    return at;
}

scorer_rec_t *scorer_txn_rec(scorer_txn_t *t) {
    if (t->nrec == t->reccap) {
        size_t cap = t->reccap ? t->reccap * 2 : 256;
        scorer_rec_t *r = realloc(t->recs, cap * sizeof(*r));
        if (!r) {
            t->oom = 1;
            return NULL;
        }
        t->recs = r;
        t->reccap = cap;
    }
    scorer_rec_t *r = &t->recs[t->nrec++];
    memset(r, 0, sizeof(*r));
    r->msg = -1;
    return r;
}
