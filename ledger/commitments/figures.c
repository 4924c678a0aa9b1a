/* figures.c: the inputs of pacing and of a close, read once and kept
 * sorted by participant: the scorer's figures from Redis, the terms and
 * the previous period's settlements from PostgreSQL; and who a commitment
 * holds. */
#include "carrot/period.h"
#include "commit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *commit_vec_push(commit_vec_t *a) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        void *v = realloc(a->v, cap * a->size);
        if (!v) return NULL;
        a->v = v;
        a->cap = cap;
    }
    void *e = (char *)a->v + a->n++ * a->size;
    memset(e, 0, a->size);
    return e;
}

static int by_who(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void commit_vec_sort(commit_vec_t *a) {
    if (a->n > 1) qsort(a->v, a->n, a->size, by_who);
}

void *commit_vec_find(const commit_vec_t *a, const char *who) {
    const char *key = who;
    return a->n ? bsearch(&key, a->v, a->n, a->size, by_who) : NULL;
}

void commit_vec_free(commit_vec_t *a) {
    for (size_t i = 0; i < a->n; i++) free(*(char **)((char *)a->v + i * a->size));
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

carrot_ledger_err_t commit_dir_err(carrot_directory_err_t err) {
    return err == CARROT_DIRECTORY_OK      ? CARROT_LEDGER_OK
           : err == CARROT_DIRECTORY_RETRY ? CARROT_LEDGER_RETRY
                                           : CARROT_LEDGER_FATAL;
}

static int on_figure(void *opaque, const char *who, int64_t n, int64_t d) {
    commit_fig_t *f = commit_vec_push(opaque);
    if (!f || !(f->who = strdup(who))) return 1;
    f->n = n;
    f->d = d;
    return 0;
}

carrot_ledger_err_t commit_read_figures(carrot_board_t *board, const char *program,
                                        const char *commitment, const char *period,
                                        commit_vec_t *figs, char *errstr, size_t errstr_size) {
    commit_vec_t raw = {.size = sizeof(commit_fig_t)};
    carrot_board_err_t berr = carrot_board_commit_figures(board, program, commitment, period,
                                                          on_figure, &raw, errstr, errstr_size);
    if (berr != CARROT_BOARD_OK) {
        commit_vec_free(&raw);
        return berr == CARROT_BOARD_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
    }
    commit_vec_sort(&raw);
    commit_fig_t *r = raw.v;
    size_t i = 0;
    for (; i < raw.n; i++) { /* a participant's n and d fields come apart: merge them */
        commit_fig_t *last = figs->n ? (commit_fig_t *)figs->v + figs->n - 1 : NULL;
        if (last && strcmp(last->who, r[i].who) == 0) {
            last->n += r[i].n;
            last->d += r[i].d;
            free(r[i].who);
            continue;
        }
        commit_fig_t *f = commit_vec_push(figs);
        if (!f) break;
        *f = r[i];
    }
    int oom = i < raw.n;
    for (; i < raw.n; i++) free(r[i].who);
    free(raw.v);
    if (oom) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    return CARROT_LEDGER_OK;
}

static int on_terms(void *opaque, const char *who, const carrot_commit_terms_t *t) {
    commit_terms_t *e = commit_vec_push(opaque);
    if (!e || !(e->who = strdup(who))) return 1;
    e->t = *t;
    return 0;
}

carrot_ledger_err_t commit_read_terms(PGconn *pg, const char *program, const carrot_commitment_t *c,
                                      commit_vec_t *terms, char *errstr, size_t errstr_size) {
    carrot_ledger_err_t rc = carrot_commit_terms(pg, program, c->id, NULL, c->target, on_terms,
                                                 terms, errstr, errstr_size);
    commit_vec_sort(terms);
    return rc;
}

int commit_holds(const carrot_rules_t *rules, int i, const carrot_participant_t *p, int64_t end_ms,
                 const commit_vec_t *terms) {
    if (!p->found || !p->active) return 0;
    if (commit_vec_find(terms, p->participant_id)) return 1;
    int tenure = p->hired_at_ms > 0 && p->hired_at_ms < end_ms
                     ? (int)((end_ms - p->hired_at_ms) / 86400000)
                     : -1;
    return carrot_rules_commitment_holds(rules, i, p->segment, p->team_id, p->region, tenure);
}

carrot_ledger_err_t commit_read_prev(PGconn *pg, const char *program, const char *commitment,
                                     const char *period, commit_vec_t *prevs, char *errstr,
                                     size_t errstr_size) {
    char prev[32];
    if (carrot_period_previous(period, prev, sizeof(prev)) != 0) return CARROT_LEDGER_OK;
    const char *p[] = {program, commitment, prev};
    PGresult *r = PQexecParams(pg,
                               "SELECT participant_id, met, streak, misses FROM "
                               "commitment_settlements WHERE program_id = $1 AND "
                               "commitment_id = $2 AND period_id = $3",
                               3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(
            pg, r, "reading the previous period's settlements", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        commit_prev_t *e = commit_vec_push(prevs);
        if (!e || !(e->who = strdup(PQgetvalue(r, i, 0)))) {
            PQclear(r);
            snprintf(errstr, errstr_size, "out of memory");
            return CARROT_LEDGER_FATAL;
        }
        e->met = PQgetvalue(r, i, 1)[0] == 't';
        e->streak = atoi(PQgetvalue(r, i, 2));
        e->misses = atoi(PQgetvalue(r, i, 3));
    }
    PQclear(r);
    commit_vec_sort(prevs);
    return CARROT_LEDGER_OK;
}
