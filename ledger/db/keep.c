/* keep.c: the PostgreSQL connection of a long-running consumer (carrot-report
 * run, carrot-notify run): connected with a doubling backoff until it stops,
 * and after a failed transaction connected again only when the connection
 * itself is gone, its health check and error counter kept up to date. */
#include "carrot/ledger_db.h"
#include "carrot/log.h"

#include <stdio.h>
#include <time.h>

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void notice_cb(void *arg, const char *msg) {
    (void)arg;
    carrot_debug("postgres: %s", msg);
}

PGconn *carrot_pg_keep_connect(const carrot_pg_keep_t *k) {
    int backoff = 200;
    while (!*k->stop) {
        PGconn *pg = PQconnectdb(k->dsn);
        if (PQstatus(pg) == CONNECTION_OK) {
            PQsetNoticeProcessor(pg, notice_cb, NULL);
            if (k->metrics) carrot_metrics_check(k->metrics, "postgres", 1, NULL);
            return pg;
        }
        char errstr[512];
        carrot_pg_error(pg, "could not connect to PostgreSQL", errstr, sizeof(errstr));
        carrot_warn("%s; retrying in %d ms", errstr, backoff);
        if (k->metrics) carrot_metrics_check(k->metrics, "postgres", 0, errstr);
        PQfinish(pg);
        sleep_ms(backoff);
        if (backoff < 5000) backoff *= 2;
    }
    return NULL;
}

void carrot_pg_keep_recover(const carrot_pg_keep_t *k, PGconn **pg, const char *errstr,
                            int *backoff) {
    carrot_warn("%s; retrying in %d ms", errstr, *backoff);
    if (k->errors) carrot_metric_add(k->errors, 1);
    if (k->metrics) carrot_metrics_check(k->metrics, "postgres", 0, errstr);
    sleep_ms(*backoff);
    if (*backoff < 5000) *backoff *= 2;
    if (PQstatus(*pg) != CONNECTION_OK) {
        PQfinish(*pg);
        *pg = carrot_pg_keep_connect(k);
    }
}
