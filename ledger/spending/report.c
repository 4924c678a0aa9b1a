/* report.c: read-only queries over balances and the journal. */
#include "carrot/report.h"

#include "carrot/log.h"
#include "carrot/pgutil.h"

static PGresult *query(PGconn *pg, const char *sql, int n, const char *const *params) {
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
    char errstr[512];
    carrot_pg_error(pg, "database error", errstr, sizeof(errstr));
    carrot_error("%s", errstr);
    PQclear(r);
    return NULL;
}

int carrot_report_balance(PGconn *pg, const char *program, const char *participant, FILE *out) {
    const char *params[] = {program, participant};
    PGresult *r = query(pg,
                        "SELECT earned, available, pending, expired, redeemed FROM balances"
                        " WHERE program_id = $1 AND participant_id = $2",
                        2, params);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        carrot_error("unknown participant \"%s\" in program \"%s\"", participant, program);
        return 1;
    }
    fprintf(out, "program %s, participant %s\n", program, participant);
    static const char *labels[] = {"earned (lifetime)", "available", "pending", "expired",
                                   "redeemed"};
    for (int i = 0; i < 5; i++) fprintf(out, "  %-18s %12s\n", labels[i], PQgetvalue(r, 0, i));
    PQclear(r);
    return 0;
}

int carrot_report_statement(PGconn *pg, const char *program, const char *participant, FILE *out) {
    const char *params[] = {program, participant};
    PGresult *r = query(
        pg,
        "SELECT to_char(j.booked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
        " j.kind, j.ref, e.amount,"
        " sum(e.amount) OVER (ORDER BY j.txn_id) AS running"
        " FROM journal j JOIN entries e ON e.txn_id = j.txn_id AND e.account = 'wallet'"
        " WHERE j.program_id = $1 AND j.participant_id = $2 ORDER BY j.txn_id",
        2, params);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        carrot_error("unknown participant \"%s\" in program \"%s\"", participant, program);
        return 1;
    }
    fprintf(out, "%-19s  %-8s %-40s %10s %10s\n", "booked (UTC)", "kind", "reference", "points",
            "available");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "%-19s  %-8s %-40s %10s %10s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    return 0;
}

int carrot_report_liability(PGconn *pg, const char *program, FILE *out) {
    const char *params[] = {program};
    PGresult *r = query(
        pg,
        "SELECT b.program_id, count(*), sum(b.available), sum(b.pending),"
        " sum(b.available + b.pending), sum(b.earned), sum(b.redeemed), sum(b.expired),"
        " (SELECT count(*) FROM awards a WHERE a.program_id = b.program_id),"
        " (SELECT coalesce(sum(points), 0) FROM awards a WHERE a.program_id = b.program_id)"
        " FROM balances b WHERE $1::text IS NULL OR b.program_id = $1"
        " GROUP BY b.program_id ORDER BY b.program_id",
        1, params);
    if (!r) return -1;
    fprintf(out, "%-16s %12s %12s %10s %12s %12s %10s %10s %8s %12s\n", "program", "participants",
            "available", "pending", "outstanding", "earned", "redeemed", "expired", "awards",
            "award points");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "%-16s %12s %12s %10s %12s %12s %10s %10s %8s %12s\n", PQgetvalue(r, i, 0),
                PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
                PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8),
                PQgetvalue(r, i, 9));
    PQclear(r);
    return 0;
}
