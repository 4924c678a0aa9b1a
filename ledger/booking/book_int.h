/* book_int.h: what book.c (the batch, the staging path, the bisection) and
 * direct.c (the direct path) share; not part of carrot/book.h. */
#ifndef CARROT_LEDGER_BOOK_INT_H
#define CARROT_LEDGER_BOOK_INT_H

#include "carrot/book.h"

/* The columns of a row in book_t.copy, in order. */
#define BOOK_AWARD_COLUMNS                                                                     \
    "award_id, program_id, event_id, participant_id, segment, team_id, region, activity_type," \
    " rule_id, rules_version, points, occurred_at, awarded_at, source_partition, source_offset"

/* Points summed per (program, participant): sums.c. */
typedef struct {
    uint64_t hash;
    size_t key; /* "program\0participant\0" at keys.p + key */
    int64_t sum;
    int used;
} sum_slot_t;

typedef struct {
    sum_slot_t *slot;
    size_t cap, n;
    carrot_copy_buf_t keys;
    /* a sum left int64, or a key is missing: the direct path leaves the
     * batch to the staging path, where PostgreSQL refuses the row */
    int unsummable;
} book_sums_t;

void book_sums_reset(book_sums_t *sums);
void book_sums_free(book_sums_t *sums); /* the memory only: the struct is the caller's */
/* -1 when out of memory. */
int book_sums_add(book_sums_t *sums, const char *program, const char *participant, int64_t points);
/* The sums as three array literals ({"p1","p2"}, {"x","y"}, {10,-2}), each
 * NUL-terminated, for text parameters of type text[] and bigint[]; -1 when
 * out of memory. */
int book_sums_arrays(const book_sums_t *sums, carrot_copy_buf_t *programs,
                     carrot_copy_buf_t *participants, carrot_copy_buf_t *totals);

typedef struct {
    int32_t partition;
    int64_t next;
} advance_t;

typedef struct {
    size_t start; /* where the row's COPY line starts in copy */
    int32_t partition;
    int64_t offset;
    int64_t points;
} row_t;

struct carrot_book_s {
    carrot_copy_buf_t copy;          /* awards rows in COPY text format */
    carrot_journal_batch_t *journal; /* each award's posting, for the direct path */
    book_sums_t sums;                /* points per balance, for the direct path */
    carrot_copy_buf_t scratch[3];    /* the sums' arrays, kept for reuse */
    size_t rows, caprows;
    row_t *row;
    advance_t *adv;
    int nadv, capadv;
};

/* Reads a failure as carrot_pg_failure() does, but REFUSED for one the rows
 * themselves caused (SQLSTATE classes 22, 23, 54), with PostgreSQL's words
 * in errstr. */
carrot_ledger_err_t book_classify(PGconn *pg, const PGresult *r, const char *what, char *errstr,
                                  size_t errstr_size);

/* Runs sql (a simple query) and expects status want. */
carrot_ledger_err_t book_exec(PGconn *pg, const char *sql, ExecStatusType want, char *errstr,
                              size_t errstr_size);

/* The direct path (direct.c): books the whole batch by COPYing it straight
 * into awards, journal and entries under a savepoint, inside the caller's
 * transaction, then upserts the balances from the sums. OK: every award was new and is booked
 * (*insertedp = the batch's count). REFUSED: PostgreSQL refused a row (an
 * award already booked, or a bad one); everything since the savepoint is
 * rolled back and the transaction is usable, for the staging path. RETRY,
 * FATAL: as carrot_book_commit(); the transaction must be rolled back. */
carrot_ledger_err_t book_direct(carrot_book_t *book, PGconn *pg, long long *insertedp, char *errstr,
                                size_t errstr_size);

#endif
