/* pacing.c: where people stand on a commitment now: the scorer's figure
 * of the period, the target in force and its acknowledgment, the pace
 * (carrot_pace) in the program's time zone, and the streak so far. */
#include "commit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 500

carrot_ledger_err_t carrot_commit_pacing(PGconn *pg, carrot_board_t *board, carrot_directory_t *dir,
                                         const carrot_rules_t *rules, int i, const char *period,
                                         int64_t start, int64_t end, int64_t now_ms,
                                         const char *const *people, size_t n, carrot_pacing_cb cb,
                                         void *opaque, char *errstr, size_t errstr_size) {
    const carrot_commitment_t *c = carrot_rules_commitment(rules, i);
    const char *program = carrot_rules_program(rules);
    const char *pid = period;
    if (errstr_size) errstr[0] = '\0';
    if (!c) {
        snprintf(errstr, errstr_size, "no such commitment");
        return CARROT_LEDGER_REFUSED;
    }
    commit_vec_t figs = {.size = sizeof(commit_fig_t)}, terms = {.size = sizeof(commit_terms_t)},
                 prevs = {.size = sizeof(commit_prev_t)};
    char(*all)[257] = NULL;
    const char **ptrs = NULL;
    carrot_participant_t *page = malloc(PAGE * sizeof(*page));
    carrot_ledger_err_t rc = page ? CARROT_LEDGER_OK : CARROT_LEDGER_FATAL;
    if (!rc) rc = commit_read_figures(board, program, c->id, pid, &figs, errstr, errstr_size);
    if (!rc) rc = commit_read_terms(pg, program, c, &terms, errstr, errstr_size);
    if (!rc) rc = commit_read_prev(pg, program, c->id, pid, &prevs, errstr, errstr_size);
    if (!rc && !people) { /* everyone */
        size_t count = 0, got = 0;
        rc = commit_dir_err(
            carrot_directory_people(dir, program, NULL, 0, &count, errstr, errstr_size));
        if (!rc && count && !(all = malloc(count * sizeof(*all)))) rc = CARROT_LEDGER_FATAL;
        if (!rc && count)
            rc = commit_dir_err(
                carrot_directory_people(dir, program, all, count, &got, errstr, errstr_size));
        if (!rc && !(ptrs = malloc((got ? got : 1) * sizeof(*ptrs)))) rc = CARROT_LEDGER_FATAL;
        for (size_t k = 0; !rc && k < got && k < count; k++) ptrs[k] = all[k];
        n = got < count ? got : count;
        people = ptrs;
    }
    if (rc == CARROT_LEDGER_FATAL && !*errstr) snprintf(errstr, errstr_size, "out of memory");
    for (size_t at = 0; !rc && at < n; at += PAGE) {
        size_t k = n - at < PAGE ? n - at : PAGE;
        if ((rc = commit_dir_err(
                 carrot_directory_get(dir, program, people + at, k, page, errstr, errstr_size))))
            break;
        int stop = 0;
        for (size_t j = 0; j < k && !stop; j++) {
            const carrot_participant_t *p = &page[j];
            if (!commit_holds(rules, i, p, end, &terms)) continue;
            const commit_fig_t *f = commit_vec_find(&figs, p->participant_id);
            const commit_terms_t *t = commit_vec_find(&terms, p->participant_id);
            const commit_prev_t *pv = commit_vec_find(&prevs, p->participant_id);
            carrot_commit_terms_t dflt = {.target = c->target};
            carrot_pacing_row_t row = {.who = p,
                                       .commitment = c,
                                       .period = pid,
                                       .period_start_ms = start,
                                       .period_end_ms = end,
                                       .terms = t ? &t->t : &dflt,
                                       .streak = pv ? pv->streak : 0,
                                       .misses = pv ? pv->misses : 0};
            carrot_pace(c->metric, row.terms->target, f ? f->n : 0, f ? f->d : 0, start, end,
                        now_ms, &row.pace);
            stop = cb(opaque, &row);
        }
        if (stop) break;
    }
    free(page);
    free(all);
    free(ptrs);
    commit_vec_free(&figs);
    commit_vec_free(&terms);
    commit_vec_free(&prevs);
    return rc;
}
