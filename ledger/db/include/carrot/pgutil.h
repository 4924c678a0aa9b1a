/* pgutil.h: small libpq helpers for the ledger's commands. Messages follow
 * PostgreSQL's own (libpq's trailing newline removed). */
#ifndef CARROT_LEDGER_PGUTIL_H
#define CARROT_LEDGER_PGUTIL_H

#include <libpq-fe.h>
#include <stddef.h>

/* Runs a statement that returns no rows we need. 0 or -1 with errstr. */
int carrot_pg_command(PGconn *pg, const char *sql, int nparams, const char *const *params,
                      char *errstr, size_t errstr_size);

/* Runs a query; *valuep gets a copy of the first column of the first row
 * (caller frees), or NULL when there is no row or it is NULL. 0 or -1. */
int carrot_pg_value(PGconn *pg, const char *sql, int nparams, const char *const *params,
                    char **valuep, char *errstr, size_t errstr_size);

/* Ends the open transaction with ROLLBACK (when the connection still stands). */
void carrot_pg_rollback(PGconn *pg);

/* Copies PQerrorMessage without its trailing newline. */
void carrot_pg_error(PGconn *pg, const char *what, char *errstr, size_t errstr_size);

#endif
