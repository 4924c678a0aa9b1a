/* report.c: read-only queries over balances and the journal. */
#include "carrot/spending.h"

/* Runs a query: OK with *rp the rows (caller clears), or the failure. With
 * need_rows (params then being program, participant), no row means the
 * participant is unknown: REFUSED. */
static carrot_ledger_err_t query(PGconn *pg, const char *sql, int n, const char *const *params,
                                 int need_rows, PGresult **rp, char *errstr, size_t errstr_size) {
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = carrot_pg_failure(pg, r, "database error", errstr, errstr_size);
    else if (need_rows && PQntuples(r) == 0) {
        snprintf(errstr, errstr_size, "unknown participant \"%s\" in program \"%s\"", params[1],
                 params[0]);
        rc = CARROT_LEDGER_REFUSED;
    }
    if (rc) PQclear(r);
    *rp = rc ? NULL : r;
    return rc;
}

carrot_ledger_err_t carrot_report_balance(PGconn *pg, const char *program, const char *participant,
                                          FILE *out, char *errstr, size_t errstr_size) {
    const char *params[] = {program, participant};
    PGresult *r;
    carrot_ledger_err_t rc = query(pg,
                                   "SELECT earned, available, pending, expired, redeemed"
                                   " FROM balances WHERE program_id = $1 AND participant_id = $2",
                                   2, params, 1, &r, errstr, errstr_size);
    if (rc) return rc;
    fprintf(out, "program %s, participant %s\n", program, participant);
    static const char *labels[] = {"earned (lifetime)", "available", "pending", "expired",
                                   "redeemed"};
    for (int i = 0; i < 5; i++) fprintf(out, "  %-18s %12s\n", labels[i], PQgetvalue(r, 0, i));
    PQclear(r);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_report_statement(PGconn *pg, const char *program,
                                            const char *participant, FILE *out, char *errstr,
                                            size_t errstr_size) {
    const char *params[] = {program, participant};
    PGresult *r;
    carrot_ledger_err_t rc = query(
        pg,
        "SELECT to_char(j.booked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
        " j.kind, j.ref, e.amount,"
        " sum(e.amount) OVER (ORDER BY j.txn_id) AS running"
        " FROM journal j JOIN entries e ON e.txn_id = j.txn_id AND e.account = 'wallet'"
        " WHERE j.program_id = $1 AND j.participant_id = $2 ORDER BY j.txn_id",
        2, params, 1, &r, errstr, errstr_size);
    if (rc) return rc;
    fprintf(out, "%-19s  %-8s %-40s %10s %10s\n", "booked (UTC)", "kind", "reference", "points",
            "available");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "%-19s  %-8s %-40s %10s %10s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_report_liability(PGconn *pg, const char *program, FILE *out,
                                            char *errstr, size_t errstr_size) {
    const char *params[] = {program};
    PGresult *r;
    carrot_ledger_err_t rc = query(
        pg,
        "SELECT b.program_id, count(*), sum(b.available), sum(b.pending),"
        " sum(b.available + b.pending), sum(b.earned), sum(b.redeemed), sum(b.expired),"
        " (SELECT count(*) FROM awards a WHERE a.program_id = b.program_id),"
        " (SELECT coalesce(sum(points), 0) FROM awards a WHERE a.program_id = b.program_id)"
        " FROM balances b WHERE $1::text IS NULL OR b.program_id = $1"
        " GROUP BY b.program_id ORDER BY b.program_id",
        1, params, 0, &r, errstr, errstr_size);
    if (rc) return rc;
    fprintf(out, "%-16s %12s %12s %10s %12s %12s %10s %10s %8s %12s\n", "program", "participants",
            "available", "pending", "outstanding", "earned", "redeemed", "expired", "awards",
            "award points");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "%-16s %12s %12s %10s %12s %12s %10s %10s %8s %12s\n", PQgetvalue(r, i, 0),
                PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
                PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8),
                PQgetvalue(r, i, 9));
    PQclear(r);
    return CARROT_LEDGER_OK;
}
