/* reconcile.h: holds the leaderboards against the ledger. For every
 * participant of a program, the program-to-date points on the boards in
 * Redis must equal the award points booked in PostgreSQL plus those still
 * in flight (committed to the awards topic, not yet booked). A difference
 * that stays is a loss: a Redis that came back without its last writes, an
 * award the ledger dead-lettered, a bug.
 *
 * The comparison is exact while the pipeline runs at any rate, so a healthy
 * pipeline reads 0, never "about 0":
 *   1. PostgreSQL, in one REPEATABLE READ snapshot: each participant's
 *      booked award points (balances.earned less sweepstakes prizes) and the
 *      ledger's offsets in the awards topic;
 *   2. Redis, in one MULTI/EXEC per program: the ptd board and the board
 *      watermark of every activity partition (what the boards applied);
 *   3. the fence: wait until the scorers' group has committed past those
 *      watermarks, so every award of what the boards applied is in Kafka;
 *   4. Kafka: read the awards topic from the ledger's offsets to its end
 *      (read_committed), counting an award only when its carrot.stream and
 *      carrot.offset headers say the boards had applied it at step 2 (an
 *      award without them, e.g. from an older scorer, counts).
 * Awards PostgreSQL held at 1 were applied to the boards before 2, so none
 * is counted twice or missed. A carrot-rules backfill's awards count as
 * applied: while one runs, its adjustments may show as drift.
 *
 * Errors: carrot_ledger_err_t with errstr. RETRY: a service is unreachable,
 * or the fence did not close within fence_timeout_ms (a scorer is down or
 * holds a transaction open): check again later. FATAL: anything else. */
#ifndef CARROT_RECONCILE_H
#define CARROT_RECONCILE_H

#include "carrot/board.h"
#include "carrot/config.h"
#include "carrot/ledger_db.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *brokers;
    const char *awards_topic;          /* the ledger's input */
    const char *ledger_group;          /* whose offsets PostgreSQL keeps */
    const char *activities_topic;      /* the scorers' input */
    const char *scorer_group;          /* whose commits close the fence */
    int fence_timeout_ms;              /* longest wait for the fence, and for the topic's end */
    const volatile sig_atomic_t *stop; /* may be NULL; once set, a run gives up (RETRY) */
} carrot_reconcile_conf_t;

/* One participant whose board and ledger disagree. */
typedef struct {
    char program_id[128];
    char participant_id[257];
    int64_t board, ledger, in_flight; /* drift = board - ledger - in_flight */
} carrot_drift_row_t;

/* One program's figures. */
typedef struct {
    char program_id[128];
    long participants;    /* on the board or in the ledger */
    long differing;       /* participants whose drift is not 0 */
    int64_t drift;        /* sum of |drift| over them */
    int64_t board_total;  /* ptd board */
    int64_t ledger_total; /* booked */
    int64_t in_flight;    /* committed to the awards topic, not yet booked */
} carrot_drift_program_t;

typedef struct {
    int nprograms;
    carrot_drift_program_t *programs; /* by program id */
    size_t nrows;
    carrot_drift_row_t *rows; /* every differing participant, largest |drift| first */
} carrot_drift_t;

typedef struct carrot_reconcile_s carrot_reconcile_t;

/* conf supplies the user's kafka.* settings (may be NULL); cf's strings are
 * copied. Connects to Kafka lazily. NULL with errstr on failure. */
carrot_reconcile_t *carrot_reconcile_new(const carrot_conf_t *conf,
                                         const carrot_reconcile_conf_t *cf, char *errstr,
                                         size_t errstr_size);
void carrot_reconcile_destroy(carrot_reconcile_t *r); /* NULL is a no-op */

/* Compares the boards of programs[0..n) (n 0: every program with booked
 * points) with the ledger. pg and board are the caller's; pg must be idle
 * (no open transaction). On OK *outp gets a report the caller frees with
 * carrot_drift_destroy(). */
carrot_ledger_err_t carrot_reconcile_run(carrot_reconcile_t *r, PGconn *pg, carrot_board_t *board,
                                         const char *const *programs, int n, carrot_drift_t **outp,
                                         char *errstr, size_t errstr_size);

void carrot_drift_destroy(carrot_drift_t *d); /* NULL is a no-op */

#endif
