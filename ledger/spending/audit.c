/* audit.c: each check is one query that counts the rows in violation. */
#include "carrot/spending.h"

#include <stdio.h>

#include <stdlib.h>

static const struct {
    const char *name, *sql;
} checks[] = {
    {"every transaction balances",
     "SELECT count(*) FROM (SELECT txn_id FROM entries GROUP BY txn_id HAVING sum(amount) <> 0) t"},
    {"every transaction has entries",
     "SELECT count(*) FROM journal j WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.txn_id = j.txn_id)"},
    /* in place of a foreign key (migration 005), which cost a row lock per entry */
    {"every entry has its journal transaction",
     "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.txn_id = e.txn_id)"},
    {"every award is in the journal",
     "SELECT count(*) FROM awards a WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.program_id ="
     " a.program_id AND j.kind = 'award' AND j.ref = a.award_id)"},
    {"balances equal their entries",
     "WITH s AS (SELECT j.program_id, j.participant_id,"
     "  coalesce(sum(e.amount) FILTER (WHERE e.account = 'wallet' AND j.kind IN ('award', 'prize')), 0) AS earned,"
     "  coalesce(sum(e.amount) FILTER (WHERE e.account = 'wallet'), 0) AS available,"
     "  coalesce(sum(e.amount) FILTER (WHERE e.account = 'pending'), 0) AS pending,"
     "  coalesce(sum(e.amount) FILTER (WHERE e.account = 'expired'), 0) AS expired,"
     "  coalesce(sum(e.amount) FILTER (WHERE e.account IN ('redeemed', 'sweepstakes')), 0) AS redeemed"
     "  FROM journal j JOIN entries e ON e.txn_id = j.txn_id GROUP BY 1, 2)"
     " SELECT count(*) FROM s FULL JOIN balances b USING (program_id, participant_id)"
     " WHERE (s.earned, s.available, s.pending, s.expired, s.redeemed) IS DISTINCT FROM"
     " (b.earned, b.available, b.pending, b.expired, b.redeemed)"},
    {"pending equals pending redemptions",
     "SELECT count(*) FROM balances b WHERE b.pending <> coalesce((SELECT sum(price) FROM redemptions r"
     " WHERE r.program_id = b.program_id AND r.participant_id = b.participant_id"
     " AND r.status = 'pending'), 0)"},
};

carrot_ledger_err_t carrot_audit_books(PGconn *pg, FILE *out, int *failedp, char *errstr,
                                       size_t errstr_size) {
    *failedp = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        PGresult *r = PQexec(pg, checks[i].sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(out, "%-40s ERROR %s", checks[i].name, PQerrorMessage(pg));
            carrot_ledger_err_t rc = carrot_pg_failure(pg, r, checks[i].name, errstr, errstr_size);
            PQclear(r);
            return rc;
        }
        long long bad = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (bad) (*failedp)++;
        if (bad) fprintf(out, "%-40s FAILED (%lld rows)\n", checks[i].name, bad);
        else
            fprintf(out, "%-40s ok\n", checks[i].name);
    }
    return CARROT_LEDGER_OK;
}
