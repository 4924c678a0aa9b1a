/* pgutil.c: the libpq helpers of ledger_db.h and how a failure is read. */
#include "carrot/ledger_db.h"
#include "pgutil_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void carrot_pg_error(PGconn *pg, const char *what, char *errstr, size_t errstr_size) {
    snprintf(errstr, errstr_size, "%s: %s", what, PQerrorMessage(pg));
    size_t n = strlen(errstr);
    while (n > 0 && (errstr[n - 1] == '\n' || errstr[n - 1] == ' ')) errstr[--n] = '\0';
}

carrot_ledger_err_t carrot_pg_failure(PGconn *pg, const PGresult *r, const char *what, char *errstr,
                                      size_t errstr_size) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (errstr_size) carrot_pg_error(pg, what, errstr, errstr_size);
    /* no SQLSTATE: libpq itself failed, as when the connection drops */
    if (PQstatus(pg) != CONNECTION_OK || !state) return CARROT_LEDGER_RETRY;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0)
        return CARROT_LEDGER_RETRY;
    return CARROT_LEDGER_FATAL;
}

void carrot_pg_rollback(PGconn *pg) {
    if (PQstatus(pg) == CONNECTION_OK) PQclear(PQexec(pg, "ROLLBACK"));
}

carrot_ledger_err_t carrot_pg_abort(PGconn *pg, carrot_ledger_err_t rc) {
    carrot_pg_rollback(pg);
    return rc;
}

static PGresult *exec(PGconn *pg, const char *sql, int nparams, const char *const *params) {
    return nparams ? PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
}

carrot_ledger_err_t carrot_pg_command(PGconn *pg, const char *sql, int nparams,
                                      const char *const *params, char *errstr, size_t errstr_size) {
    PGresult *r = exec(pg, sql, nparams, params);
    ExecStatusType st = PQresultStatus(r);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = carrot_pg_failure(pg, r, "database error", errstr, errstr_size);
    PQclear(r);
    return rc;
}

carrot_ledger_err_t carrot_pg_value_as(PGconn *pg, const char *sql, int nparams,
                                       const char *const *params, const char *what,
                                       carrot_pg_classify_fn classify, char **valuep, char *errstr,
                                       size_t errstr_size) {
    if (valuep) *valuep = NULL;
    PGresult *r = exec(pg, sql, nparams, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = (classify ? classify : carrot_pg_failure)(
            pg, r, what ? what : "database error", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    if (valuep && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) *valuep = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_pg_value(PGconn *pg, const char *sql, int nparams,
                                    const char *const *params, char **valuep, char *errstr,
                                    size_t errstr_size) {
    return carrot_pg_value_as(pg, sql, nparams, params, NULL, NULL, valuep, errstr, errstr_size);
}

int carrot_copy_reserve(carrot_copy_buf_t *buf, size_t more) {
    if (buf->len + more <= buf->cap) return 0;
    size_t cap = buf->cap ? buf->cap : 65536;
    while (cap < buf->len + more) cap *= 2;
    char *nb = realloc(buf->p, cap);
    if (!nb) return -1;
    buf->p = nb;
    buf->cap = cap;
    return 0;
}

int carrot_copy_field(carrot_copy_buf_t *buf, const char *s, char sep) {
    size_t n = s ? strlen(s) : 0;
    if (carrot_copy_reserve(buf, 2 * n + 4)) return -1;
    if (!s) {
        memcpy(buf->p + buf->len, "\\N", 2);
        buf->len += 2;
    } else {
        for (const char *p = s; *p; p++) {
            char c = *p, e = 0;
            switch (c) {
            case '\\': e = '\\'; break;
            case '\t': e = 't'; break;
            case '\n': e = 'n'; break;
            case '\r': e = 'r'; break;
            }
            if (e) {
                buf->p[buf->len++] = '\\';
                buf->p[buf->len++] = e;
            } else
                buf->p[buf->len++] = c;
        }
    }
    buf->p[buf->len++] = sep;
    return 0;
}

carrot_ledger_err_t carrot_pg_copy(PGconn *pg, const char *sql, const char *data, size_t len,
                                   carrot_pg_classify_fn classify, char *errstr,
                                   size_t errstr_size) {
    if (!classify) classify = carrot_pg_failure;
    PGresult *r = PQexec(pg, sql);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (PQresultStatus(r) != PGRES_COPY_IN) rc = classify(pg, r, sql, errstr, errstr_size);
    PQclear(r);
    if (rc) return rc;
    if (PQputCopyData(pg, data, (int)len) != 1 || PQputCopyEnd(pg, NULL) != 1)
        return classify(pg, NULL, "COPY", errstr, errstr_size);
    r = PQgetResult(pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = classify(pg, r, "COPY", errstr, errstr_size);
    PQclear(r);
    while ((r = PQgetResult(pg))) PQclear(r);
    return rc;
}
