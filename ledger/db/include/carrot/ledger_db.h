/* ledger_db.h: the ledger's PostgreSQL layer, shared by booking and
 * spending: the one error contract every ledger function returns, small
 * libpq helpers, the schema migrations and the one function that posts to
 * the double-entry journal. Messages follow PostgreSQL's own (libpq's
 * trailing newline removed). */
#ifndef CARROT_LEDGER_DB_H
#define CARROT_LEDGER_DB_H

#include <libpq-fe.h>
#include <stddef.h>

/* What every ledger function returns; anything but OK comes with errstr. */
typedef enum {
    CARROT_LEDGER_OK = 0,
    /* the database is unreachable or shutting down, or the transaction lost
     * a serialization race or a deadlock: the same call may succeed later */
    CARROT_LEDGER_RETRY = 1,
    /* anything else: a bug, a schema mismatch, a file that cannot be
     * written; repeating the call repeats the failure */
    CARROT_LEDGER_FATAL = 2,
    /* fatal too, but the request is at fault: unknown, insufficient points,
     * out of stock, a check failed, a row PostgreSQL refuses. Kept apart from
     * FATAL because the user is told so (carrot-ledger exits 3, not 1) */
    CARROT_LEDGER_REFUSED = 3
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

/* --- the journal (journal.c) --- */

/* Classifies a failed statement, as carrot_pg_failure() does. */
typedef carrot_ledger_err_t (*carrot_pg_classify_fn)(PGconn *pg, const PGresult *r,
                                                     const char *what, char *errstr,
                                                     size_t errstr_size);

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
