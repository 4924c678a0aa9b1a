/* journal.c: the one place that writes journal transactions and their
 * entries (see ledger_db.h). carrot_journal_post builds its statement
 * around the caller's CTEs, so each posting stays one set-based statement:
 * a batch of 5,000 awards costs one round trip. The bulk path
 * (carrot_journal_copy) writes the same rows by COPY for a batch whose refs
 * are all new. */
#include "carrot/ledger_db.h"
#include "pgutil_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* --- the bulk path --- */

typedef struct {
    size_t line;     /* its "program\tkind\tref\tparticipant\n" in lines */
    size_t from, to; /* its accounts in accounts, each followed by a tab */
    int64_t amount;
} posting_t;

struct carrot_journal_batch_s {
    carrot_copy_buf_t lines, accounts; /* COPY text, escaped once when added */
    posting_t *row;
    size_t n, cap;
    carrot_copy_buf_t journal, entries; /* the COPY data, kept for reuse */
};

carrot_journal_batch_t *carrot_journal_batch_new(void) {
    return calloc(1, sizeof(carrot_journal_batch_t));
}

void carrot_journal_batch_destroy(carrot_journal_batch_t *jb) {
    if (!jb) return;
    free(jb->lines.p);
    free(jb->accounts.p);
    free(jb->row);
    free(jb->journal.p);
    free(jb->entries.p);
    free(jb);
}

void carrot_journal_batch_reset(carrot_journal_batch_t *jb) {
    carrot_journal_batch_truncate(jb, 0);
}

size_t carrot_journal_batch_count(const carrot_journal_batch_t *jb) { return jb->n; }

void carrot_journal_batch_truncate(carrot_journal_batch_t *jb, size_t count) {
    if (count >= jb->n) return;
    jb->n = count;
    jb->lines.len = count ? jb->row[count].line : 0;
    jb->accounts.len = count ? jb->row[count].from : 0;
}

int carrot_journal_batch_add(carrot_journal_batch_t *jb, const char *program_id, const char *kind,
                             const char *ref, const char *participant_id, const char *from_account,
                             const char *to_account, int64_t amount) {
    if (jb->n == jb->cap) {
        size_t cap = jb->cap ? 2 * jb->cap : 1024;
        posting_t *nr = realloc(jb->row, cap * sizeof(*nr));
        if (!nr) return -1;
        jb->row = nr;
        jb->cap = cap;
    }
    posting_t *p = &jb->row[jb->n];
    *p = (posting_t){.line = jb->lines.len, .from = jb->accounts.len, .amount = amount};
    int failed = carrot_copy_field(&jb->lines, program_id, '\t') ||
                 carrot_copy_field(&jb->lines, kind, '\t') ||
                 carrot_copy_field(&jb->lines, ref, '\t') ||
                 carrot_copy_field(&jb->lines, participant_id, '\n') ||
                 carrot_copy_field(&jb->accounts, from_account, '\t');
    p->to = jb->accounts.len;
    if (failed || carrot_copy_field(&jb->accounts, to_account, '\t')) {
        jb->lines.len = p->line;
        jb->accounts.len = p->from;
        return -1;
    }
    jb->n++;
    return 0;
}

/* Appends "<id>\t<account>\t<amount>\n" (the account already escaped). */
static void entry(carrot_copy_buf_t *e, const char *id, size_t idlen, const char *account,
                  size_t accountlen, long long amount) {
    memcpy(e->p + e->len, id, idlen);
    e->len += idlen;
    e->p[e->len++] = '\t';
    memcpy(e->p + e->len, account, accountlen);
    e->len += accountlen;
    e->len += (size_t)snprintf(e->p + e->len, e->cap - e->len, "\t%lld\n", amount);
}

/* The COPY data of journal (txn_id, program_id, kind, ref, participant_id)
 * and entries (txn_id, account, amount), posting i taking row i's id of r. */
static int build(carrot_journal_batch_t *jb, const PGresult *r) {
    carrot_copy_buf_t *j = &jb->journal, *e = &jb->entries;
    j->len = e->len = 0;
    for (size_t i = 0; i < jb->n; i++) {
        const posting_t *p = &jb->row[i];
        const char *id = PQgetvalue(r, (int)i, 0);
        size_t idlen = strlen(id);
        size_t lineend = i + 1 < jb->n ? jb->row[i + 1].line : jb->lines.len;
        size_t toend = (i + 1 < jb->n ? jb->row[i + 1].from : jb->accounts.len) - 1;
        if (carrot_copy_reserve(j, idlen + 1 + (lineend - p->line)) ||
            carrot_copy_reserve(e, 2 * (idlen + 26) + (toend - p->from)))
            return -1;
        memcpy(j->p + j->len, id, idlen);
        j->len += idlen;
        j->p[j->len++] = '\t';
        memcpy(j->p + j->len, jb->lines.p + p->line, lineend - p->line);
        j->len += lineend - p->line;
        entry(e, id, idlen, jb->accounts.p + p->from, p->to - 1 - p->from, -(long long)p->amount);
        entry(e, id, idlen, jb->accounts.p + p->to, toend - p->to, (long long)p->amount);
    }
    return 0;
}

carrot_ledger_err_t carrot_journal_copy(PGconn *pg, carrot_journal_batch_t *jb,
                                        carrot_pg_classify_fn classify, char *errstr,
                                        size_t errstr_size) {
    if (jb->n == 0) return CARROT_LEDGER_OK;
    if (!classify) classify = carrot_pg_failure;
    char n[24];
    snprintf(n, sizeof(n), "%zu", jb->n);
    const char *params[] = {n};
    /* each nextval() is its own: ids other sessions take meanwhile never collide */
    PGresult *r = PQexecParams(
        pg, "SELECT nextval('journal_txn_id_seq') FROM generate_series(1, $1::int)", 1, NULL,
        params, NULL, NULL, 0);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = classify(pg, r, "reserving journal ids", errstr, errstr_size);
    else if ((size_t)PQntuples(r) != jb->n) {
        snprintf(errstr, errstr_size, "reserving journal ids: %d ids for %zu postings",
                 PQntuples(r), jb->n);
        rc = CARROT_LEDGER_FATAL;
    } else if (build(jb, r)) {
        snprintf(errstr, errstr_size, "posting to the journal: out of memory");
        rc = CARROT_LEDGER_FATAL;
    }
    PQclear(r);
    if (rc) return rc;
    if ((rc = carrot_pg_copy(pg,
                             "COPY journal (txn_id, program_id, kind, ref, participant_id)"
                             " FROM STDIN",
                             jb->journal.p, jb->journal.len, classify, errstr, errstr_size)))
        return rc;
    return carrot_pg_copy(pg, "COPY entries (txn_id, account, amount) FROM STDIN", jb->entries.p,
                          jb->entries.len, classify, errstr, errstr_size);
}
