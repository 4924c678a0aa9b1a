/* commit_int.h: what close.c and pacing.c share inside the commitments
 * component: arrays sorted by participant, the scorer's figures and the
 * terms read into them, and who a commitment holds. Not installed. */
#ifndef CARROT_COMMIT_INT_H
#define CARROT_COMMIT_INT_H

#include "carrot/commitments.h"

/* A growable array of n elements of size bytes, each starting with its
 * participant (char *who, malloc'd): sorted and searched by it. */
typedef struct {
    void *v;
    size_t n, cap, size;
} commit_vec_t;

void *commit_vec_push(commit_vec_t *a); /* a zeroed new element, or NULL */
void commit_vec_sort(commit_vec_t *a);
void *commit_vec_find(const commit_vec_t *a, const char *who); /* NULL: absent */
void commit_vec_free(commit_vec_t *a);                         /* and every who */

typedef struct {
    char *who;
    int64_t n, d; /* figure, judged */
} commit_fig_t;

typedef struct {
    char *who;
    carrot_commit_terms_t t;
} commit_terms_t;

/* Every figure of commitment in period (commit_fig_t, one per
 * participant), sorted. */
carrot_ledger_err_t commit_read_figures(carrot_board_t *board, const char *program,
                                        const char *commitment, const char *period,
                                        commit_vec_t *figs, char *errstr, size_t errstr_size);

/* Every participant's recorded terms of commitment c (commit_terms_t),
 * sorted. */
carrot_ledger_err_t commit_read_terms(PGconn *pg, const char *program, const carrot_commitment_t *c,
                                      commit_vec_t *terms, char *errstr, size_t errstr_size);

/* How a participant ended the period before this one. */
typedef struct {
    char *who;
    int met, streak, misses; /* streak: met in a row; misses: missed in a row */
} commit_prev_t;

/* The settlements (commit_prev_t) of commitment in the period before
 * period ("w:2026-W49"), sorted; none when it was not closed. */
carrot_ledger_err_t commit_read_prev(PGconn *pg, const char *program, const char *commitment,
                                     const char *period, commit_vec_t *prevs, char *errstr,
                                     size_t errstr_size);

/* Whether commitment i holds p at end_ms: by default (segment, team,
 * region, tenure then), or because a target was set for them. Inactive
 * participants are held to nothing. */
int commit_holds(const carrot_rules_t *rules, int i, const carrot_participant_t *p, int64_t end_ms,
                 const commit_vec_t *terms);

/* A directory error as a ledger one. */
carrot_ledger_err_t commit_dir_err(carrot_directory_err_t err);

#endif
