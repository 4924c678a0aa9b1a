/* drift.c: `carrot-ledger run`'s drift check: every drift-interval seconds,
 * on a thread of its own, the boards are reconciled with the ledger
 * (carrot/reconcile.h) and the result set on the metrics, so a Redis that
 * lost writes or an award that was never booked shows on the dashboard. */
#include "carrot/log.h"
#include "ledger.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ledger_drift_s {
    const carrot_conf_t *conf;
    const ledger_conf_t *cf;
    ledger_watch_t *w;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    char **programs; /* booked by this run: the ones checked (under lock) */
    int nprograms;
};

void ledger_drift_seen(ledger_drift_t *d, const char *program) {
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    int i = 0;
    while (i < d->nprograms && strcmp(d->programs[i], program) != 0) i++;
    char **p = i == d->nprograms ? realloc(d->programs, (size_t)(i + 1) * sizeof(*p)) : NULL;
    if (p) {
        d->programs = p;
        if ((p[i] = strdup(program))) d->nprograms++;
    }
    pthread_mutex_unlock(&d->lock);
}

carrot_reconcile_conf_t ledger_reconcile_conf(const ledger_conf_t *cf) {
    return (carrot_reconcile_conf_t){.brokers = cf->brokers,
                                     .awards_topic = cf->topic,
                                     .ledger_group = cf->group,
                                     .activities_topic = cf->activities_topic,
                                     .scorer_group = cf->scorer_group,
                                     .fence_timeout_ms = (int)cf->fence_timeout_ms,
                                     .stop = &carrot_ledger_stop};
}

/* One check; its connections are opened for it, so a service that was down
 * is simply found again at the next one. */
static void check(ledger_drift_t *d) {
    pthread_mutex_lock(&d->lock); /* a copy: the booking thread may add while this runs */
    int n = d->nprograms;
    const char **programs = n ? malloc((size_t)n * sizeof(*programs)) : NULL;
    for (int i = 0; programs && i < n; i++) programs[i] = d->programs[i]; /* never freed early */
    pthread_mutex_unlock(&d->lock);
    if (n == 0) return; /* nothing booked yet by this run: nothing to hold the boards against */
    char errstr[1024] = "out of memory";
    carrot_reconcile_conf_t rcf = ledger_reconcile_conf(d->cf);
    carrot_reconcile_t *r = programs ? carrot_reconcile_new(d->conf, &rcf, errstr, sizeof(errstr))
                                     : NULL;
    carrot_board_t *board = carrot_board_new(d->cf->redis_host, (int)d->cf->redis_port,
                                             (int)d->cf->redis_timeout_ms);
    PGconn *pg = PQconnectdb(d->cf->pg);
    carrot_drift_t *out = NULL;
    carrot_ledger_err_t rc = CARROT_LEDGER_FATAL;
    if (!r || !board) {
        if (r) snprintf(errstr, sizeof(errstr), "out of memory"); /* the board's */
    } else if (PQstatus(pg) != CONNECTION_OK) {
        carrot_pg_error(pg, "could not connect to PostgreSQL", errstr, sizeof(errstr));
    } else {
        rc = carrot_reconcile_run(r, pg, board, programs, n, &out, errstr, sizeof(errstr));
    }
    if (rc == CARROT_LEDGER_OK) {
        for (int i = 0; i < out->nprograms; i++) {
            const carrot_drift_program_t *p = &out->programs[i];
            ledger_watch_drift(d->w, p->program_id, p->differing, (long long)p->drift);
            if (p->differing)
                carrot_warn("drift: %ld of %ld participants of program %s differ by %lld points "
                            "in all (board %lld, ledger %lld, in flight %lld); carrot-ledger "
                            "reconcile --program %s lists them",
                            p->differing, p->participants, p->program_id, (long long)p->drift,
                            (long long)p->board_total, (long long)p->ledger_total,
                            (long long)p->in_flight, p->program_id);
        }
    } else {
        carrot_warn("drift check skipped: %s", errstr);
    }
    ledger_watch_drift_checked(d->w, rc == CARROT_LEDGER_OK);
    carrot_drift_destroy(out);
    free(programs);
    PQfinish(pg);
    carrot_board_destroy(board);
    carrot_reconcile_destroy(r);
}

static void *loop(void *arg) {
    ledger_drift_t *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)d->cf->drift_interval;
        while (!d->stop && pthread_cond_timedwait(&d->wake, &d->lock, &until) != ETIMEDOUT) {
        }
        if (d->stop) break;
        pthread_mutex_unlock(&d->lock);
        check(d);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

ledger_drift_t *ledger_drift_start(const carrot_conf_t *conf, const ledger_conf_t *cf,
                                   ledger_watch_t *w) {
    if (cf->drift_interval <= 0) return NULL;
    ledger_drift_t *d = calloc(1, sizeof(*d));
    if (!d) {
        carrot_warn("drift check off: out of memory");
        return NULL;
    }
    *d = (ledger_drift_t){.conf = conf, .cf = cf, .w = w};
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    if (pthread_create(&d->thread, NULL, loop, d) != 0) {
        carrot_warn("drift check off: could not start its thread");
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    carrot_info("drift check every %lld s against Redis at %s:%lld", cf->drift_interval,
                cf->redis_host, cf->redis_port);
    return d;
}

void ledger_drift_stop(ledger_drift_t *d) {
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    d->stop = 1;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL); /* a check under way finishes first */
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    for (int i = 0; i < d->nprograms; i++) free(d->programs[i]);
    free(d->programs);
    free(d);
}
