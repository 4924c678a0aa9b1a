/* journal.c: carrot_journal_post, the one place that writes journal
 * transactions and their entries (see ledger_db.h). The statement is built
 * around the caller's CTEs, so each posting stays one set-based statement:
 * a batch of 5,000 awards costs the same one round trip as before. */
#include "carrot/ledger_db.h"
#include "pgutil_int.h"

#include <stdio.h>
#include <stdlib.h>

/* Writes the posting's statement into buf (size bytes); returns its length
 * as snprintf does, so a first call with size 0 measures it. */
static int posting_sql(const carrot_posting_t *p, char *buf, size_t size) {
    return snprintf(
        buf, size,
        "WITH %s%s"
        "carrot_post (program_id, kind, ref, participant_id, from_account, to_account, amount)"
        " AS (%s),"
        " carrot_txn AS (INSERT INTO journal (program_id, kind, ref, participant_id)"
        "  SELECT program_id, kind, ref, participant_id FROM carrot_post%s"
        "  RETURNING txn_id, program_id, kind, ref),"
        " posted AS (SELECT carrot_post.*, carrot_txn.txn_id"
        "  FROM carrot_post JOIN carrot_txn USING (program_id, kind, ref)),"
        " carrot_entries AS (INSERT INTO entries (txn_id, account, amount)"
        "  SELECT posted.txn_id, x.account, x.amount FROM posted CROSS JOIN LATERAL"
        "  (VALUES (posted.from_account, -posted.amount), (posted.to_account, posted.amount))"
        "  AS x(account, amount))"
        "%s%s %s",
        p->with ? p->with : "", p->with ? ", " : "", p->rows,
        p->skip_posted ? " ON CONFLICT (program_id, kind, ref) DO NOTHING" : "",
        p->after ? ", " : "", p->after ? p->after : "",
        p->result ? p->result : "SELECT count(*) FROM posted");
}

carrot_ledger_err_t carrot_journal_post(PGconn *pg, const carrot_posting_t *posting, int nparams,
                                        const char *const *params, char **valuep, char *errstr,
                                        size_t errstr_size) {
    if (valuep) *valuep = NULL;
    int len = posting_sql(posting, NULL, 0);
    char *sql = len > 0 ? malloc((size_t)len + 1) : NULL;
    if (!sql) {
        snprintf(errstr, errstr_size, "%s: out of memory",
                 posting->what ? posting->what : "posting to the journal");
        return CARROT_LEDGER_FATAL;
    }
    posting_sql(posting, sql, (size_t)len + 1);
    carrot_ledger_err_t rc = carrot_pg_value_as(pg, sql, nparams, params, posting->what,
                                                posting->classify, valuep, errstr, errstr_size);
    free(sql);
    return rc;
}
