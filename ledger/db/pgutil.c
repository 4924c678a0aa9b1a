/* pgutil.c: see pgutil.h. */
#include "carrot/pgutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void carrot_pg_error(PGconn *pg, const char *what, char *errstr, size_t errstr_size) {
    snprintf(errstr, errstr_size, "%s: %s", what, PQerrorMessage(pg));
    size_t n = strlen(errstr);
    while (n > 0 && (errstr[n - 1] == '\n' || errstr[n - 1] == ' ')) errstr[--n] = '\0';
}

void carrot_pg_rollback(PGconn *pg) {
    if (PQstatus(pg) == CONNECTION_OK) PQclear(PQexec(pg, "ROLLBACK"));
}

static PGresult *exec(PGconn *pg, const char *sql, int nparams, const char *const *params) {
    return nparams ? PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
}

int carrot_pg_command(PGconn *pg, const char *sql, int nparams, const char *const *params,
                      char *errstr, size_t errstr_size) {
    PGresult *r = exec(pg, sql, nparams, params);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return 0;
    carrot_pg_error(pg, "database error", errstr, errstr_size);
    return -1;
}

int carrot_pg_value(PGconn *pg, const char *sql, int nparams, const char *const *params,
                    char **valuep, char *errstr, size_t errstr_size) {
    *valuep = NULL;
    PGresult *r = exec(pg, sql, nparams, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        carrot_pg_error(pg, "database error", errstr, errstr_size);
        return -1;
    }
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) *valuep = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}
