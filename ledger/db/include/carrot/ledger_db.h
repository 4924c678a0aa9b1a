/* ledger_db.h: the ledger's PostgreSQL layer, shared by booking and
 * spending: the one error contract every ledger function returns, small
 * libpq and COPY helpers, the schema migrations and the only code that
 * writes the double-entry journal (journal.c: one posting statement, and its
 * bulk path by COPY). Messages follow PostgreSQL's own (libpq's trailing
 * newline removed). */
#ifndef CARROT_LEDGER_DB_H
#define CARROT_LEDGER_DB_H

#include "carrot/error.h"

#include "carrot/metrics.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* What every ledger function returns (carrot/error.h's contract and
 * values); anything but OK comes with errstr. */
typedef enum {
    CARROT_LEDGER_OK = CARROT_OK,
    /* the database is unreachable or shutting down, or the transaction lost
     * a serialization race or a deadlock: the same call may succeed later */
    CARROT_LEDGER_RETRY = CARROT_RETRY,
    /* anything else: a bug, a schema mismatch, a file that cannot be
     * written; repeating the call repeats the failure */
    CARROT_LEDGER_FATAL = CARROT_FATAL,
    /* fatal too, but the request is at fault: unknown, insufficient points,
     * out of stock, a check failed, a row PostgreSQL refuses. Kept apart from
     * FATAL because the user is told so (carrot-ledger exits 3, not 1) */
    CARROT_LEDGER_REFUSED = CARROT_REFUSED
} carrot_ledger_err_t;

/* --- libpq helpers (pgutil.c) --- */

/* Reads a failed result (r may be NULL): RETRY when the connection is gone
 * or the server asks for a retry (SQLSTATE classes 08, 40, 53, 57P), FATAL
 * otherwise. errstr gets "what: <PostgreSQL's message>" (errstr_size 0:
 * classify only). */
carrot_ledger_err_t carrot_pg_failure(PGconn *pg, const PGresult *r, const char *what, char *errstr,
                                      size_t errstr_size);

/* Runs a statement that returns no rows we need. */
carrot_ledger_err_t carrot_pg_command(PGconn *pg, const char *sql, int nparams,
                                      const char *const *params, char *errstr, size_t errstr_size);

/* Runs a query; *valuep gets a copy of the first column of the first row
 * (caller frees), or NULL when there is no row or it is NULL. */
carrot_ledger_err_t carrot_pg_value(PGconn *pg, const char *sql, int nparams,
                                    const char *const *params, char **valuep, char *errstr,
                                    size_t errstr_size);

/* Ends the open transaction with ROLLBACK (when the connection still stands). */
void carrot_pg_rollback(PGconn *pg);

/* carrot_pg_rollback(), then returns rc: for the refusal and error paths of
 * a transaction. */
carrot_ledger_err_t carrot_pg_abort(PGconn *pg, carrot_ledger_err_t rc);

/* Copies PQerrorMessage without its trailing newline. */
void carrot_pg_error(PGconn *pg, const char *what, char *errstr, size_t errstr_size);

/* Classifies a failed statement, as carrot_pg_failure() does. */
typedef carrot_ledger_err_t (*carrot_pg_classify_fn)(PGconn *pg, const PGresult *r,
                                                     const char *what, char *errstr,
                                                     size_t errstr_size);

/* --- a long-running consumer's connection (keep.c) --- */

/* What carrot_pg_keep_* keep: all borrowed. metrics (may be NULL) gets the
 * "postgres" health check; errors (may be NULL) counts each failure; the
 * connection is retried until *stop is set. */
typedef struct {
    const char *dsn;
    volatile sig_atomic_t *stop;
    carrot_metrics_t *metrics;
    carrot_metric_t *errors;
} carrot_pg_keep_t;

/* Connected (notices to the debug log), or NULL once *stop is set; each
 * failure is logged and waited out, the wait doubling to 5 s. */
PGconn *carrot_pg_keep_connect(const carrot_pg_keep_t *k);

/* After a transaction PostgreSQL could not take (RETRY): logs errstr,
 * waits *backoff ms (doubling to 5 s for the next failure), and connects
 * again when the connection is gone (*pg may become NULL: stopping). */
void carrot_pg_keep_recover(const carrot_pg_keep_t *k, PGconn **pg, const char *errstr,
                            int *backoff);

/* --- COPY (pgutil.c): how the ledger writes many rows in one round trip --- */

/* A growable buffer of rows in COPY's text format. A zeroed struct is an
 * empty buffer; its owner frees p. */
typedef struct {
    char *p;
    size_t len, cap;
} carrot_copy_buf_t;

/* Makes room for more bytes; -1 when out of memory. */
int carrot_copy_reserve(carrot_copy_buf_t *buf, size_t more);

/* Appends s as one field (\N for NULL, backslash escapes), then sep ('\t'
 * between fields, '\n' after a row's last); -1 when out of memory. */
int carrot_copy_field(carrot_copy_buf_t *buf, const char *s, char sep);

/* Runs sql, a "COPY ... FROM STDIN", with data (len bytes of whole rows) in
 * the caller's transaction. A failure is read by classify (NULL:
 * carrot_pg_failure()) and named "COPY". */
carrot_ledger_err_t carrot_pg_copy(PGconn *pg, const char *sql, const char *data, size_t len,
                                   carrot_pg_classify_fn classify, char *errstr,
                                   size_t errstr_size);

/* --- the journal (journal.c) --- */

/* One posting statement: for every row of `rows`, one journal transaction
 * whose two entries move amount out of from_account into to_account, so
 * they sum to zero. The statement is
 *
 *   WITH <with>, carrot_post AS (<rows>), <the journal and entries inserts>,
 *        posted AS (<the rows posted, with their txn_id>), <after>
 *   <result>
 *
 * so that what a posting belongs to (an award, a redemption, a balance) is
 * written by the same statement. The strings are borrowed for the call. */
typedef struct {
    /* CTEs the rows draw on ("name AS (...), ..."), or NULL */
    const char *with;
    /* a SELECT of (program_id, kind, ref, participant_id, from_account,
     * to_account, amount), in that order */
    const char *rows;
    /* a (program, kind, ref) already in the journal is skipped rather than
     * refused, so running the same posting twice is a no-op */
    int skip_posted;
    /* CTEs after the posting, which may read `posted` (the columns of rows
     * plus txn_id, without the skipped rows), or NULL */
    const char *after;
    /* the final SELECT, which may read every CTE; NULL: the count of posted */
    const char *result;
    /* names the statement in errors; NULL: "database error" */
    const char *what;
    /* how a failure is read; NULL: carrot_pg_failure() */
    carrot_pg_classify_fn classify;
} carrot_posting_t;

/* Runs the posting with params $1..$nparams (nparams 0: as a simple query).
 * *valuep, when valuep is not NULL, gets a copy of the first column of the
 * result's first row (caller frees; NULL when there is none). */
carrot_ledger_err_t carrot_journal_post(PGconn *pg, const carrot_posting_t *posting, int nparams,
                                        const char *const *params, char **valuep, char *errstr,
                                        size_t errstr_size);

/* --- the journal's bulk path (journal.c) ---
 * The same postings as carrot_journal_post(), for a batch whose refs are all
 * new: the transaction ids are reserved from journal's sequence in one
 * statement, then the transactions and their entries are COPYed, so posting
 * costs about what a plain COPY of the rows costs. The ledger writer books a
 * batch of new awards this way (ledger/booking/direct.c). */
typedef struct carrot_journal_batch_s carrot_journal_batch_t;

/* NULL when out of memory. */
carrot_journal_batch_t *carrot_journal_batch_new(void);
void carrot_journal_batch_destroy(carrot_journal_batch_t *batch); /* NULL is a no-op */

/* Empties the batch; its memory is kept for the next. */
void carrot_journal_batch_reset(carrot_journal_batch_t *batch);

/* How many postings the batch holds. */
size_t carrot_journal_batch_count(const carrot_journal_batch_t *batch);

/* Adds one posting: a transaction (program_id, kind, ref, participant_id)
 * whose two entries move amount out of from_account into to_account. The
 * strings are copied. -1 when out of memory, the batch as it was. */
int carrot_journal_batch_add(carrot_journal_batch_t *batch, const char *program_id,
                             const char *kind, const char *ref, const char *participant_id,
                             const char *from_account, const char *to_account, int64_t amount);

/* Keeps the first count postings and drops the rest. */
void carrot_journal_batch_truncate(carrot_journal_batch_t *batch, size_t count);

/* Posts every posting of the batch in the caller's transaction. A ref
 * already in the journal fails the COPY (a unique violation), as does a row
 * PostgreSQL refuses; classify (NULL: carrot_pg_failure()) reads either, and
 * the caller rolls back. Ids reserved and rolled back are gaps, as with any
 * rolled-back nextval(). The batch is left as it was. */
carrot_ledger_err_t carrot_journal_copy(PGconn *pg, carrot_journal_batch_t *batch,
                                        carrot_pg_classify_fn classify, char *errstr,
                                        size_t errstr_size);

/* --- the schema (migrate.c): versioned migrations compiled into
 * carrot-ledger from ledger/db/migrations/NNN_name.sql --- */

/* Applies, in order, every migration newer than the database's version, each
 * in its own transaction, under an advisory lock so concurrent runs are safe.
 * Running it twice is a no-op. *appliedp gets how many were applied. */
carrot_ledger_err_t carrot_ledger_migrate(PGconn *pg, int *appliedp, char *errstr,
                                          size_t errstr_size);

/* The newest migration version this build knows. */
int carrot_ledger_schema_version(void);

#endif
