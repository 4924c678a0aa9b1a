/* direct.c: the direct booking path. A batch of awards that were never
 * booked before (the usual case: replays come only after a crash or a
 * rebalance) is COPYed straight into awards, journal and entries, the
 * txn_ids reserved from journal's sequence in one statement, then the
 * balances are upserted in one statement from the batch's sums (sums.c,
 * added up while the batch was read). Nothing is staged and joined back, so
 * the book costs about what a plain COPY of the same rows costs.
 * The primary key of awards still decides what is new: an award booked
 * before (or booked at the same time by a fenced-out ledger, which the
 * unique index makes this one wait for) fails the COPY with a unique
 * violation; so does a bad row with its data error. Either way the savepoint
 * undoes the whole direct attempt and book.c books the batch through the
 * staging table, which skips the first and bisects the second, as before.
 * Reserved txn_ids that are rolled back are gaps, as with any rolled-back
 * nextval. */
#include "book_int.h"

#include <stdio.h>
#include <string.h>

/* COPY lines of journal (txn_id, program_id, kind, ref, participant_id) and
 * entries (txn_id, account, amount) for the batch, each txn_id taken from
 * the reservation r (row i gets row i's id). */
static int build(carrot_book_t *b, const PGresult *r) {
    book_buf_t *j = &b->scratch[0], *e = &b->scratch[1];
    j->len = e->len = 0;
    if (book_buf_reserve(j, b->journal.len + b->rows * 24) ||
        book_buf_reserve(e, b->rows * 2 * (24 + 10 + 24)))
        return -1;
    for (size_t i = 0; i < b->rows; i++) {
        const char *id = PQgetvalue(r, (int)i, 0);
        size_t idlen = strlen(id);
        size_t from = b->row[i].jstart;
        size_t to = i + 1 < b->rows ? b->row[i + 1].jstart : b->journal.len;
        if (book_buf_reserve(j, idlen + 1 + (to - from)) || book_buf_reserve(e, 2 * idlen + 64))
            return -1;
        memcpy(j->p + j->len, id, idlen);
        j->len += idlen;
        j->p[j->len++] = '\t';
        memcpy(j->p + j->len, b->journal.p + from, to - from);
        j->len += to - from;
        /* the two entries of journal.c's postings: budget -points, wallet +points */
        e->len += (size_t)snprintf(e->p + e->len, e->cap - e->len,
                                   "%s\tbudget\t%lld\n%s\twallet\t%lld\n", id,
                                   -(long long)b->row[i].points, id, (long long)b->row[i].points);
    }
    return 0;
}

/* The awards, the journal transactions and entries, the balances. */
static carrot_ledger_err_t copy_all(carrot_book_t *b, PGconn *pg, char *errstr,
                                    size_t errstr_size) {
    char n[24];
    snprintf(n, sizeof(n), "%zu", b->rows);
    const char *params[] = {n};
    /* each nextval() is its own: ids other sessions take meanwhile never collide */
    PGresult *r = PQexecParams(
        pg, "SELECT nextval('journal_txn_id_seq') FROM generate_series(1, $1::int)", 1, NULL,
        params, NULL, NULL, 0);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = book_classify(pg, r, "reserving journal ids", errstr, errstr_size);
    else if ((size_t)PQntuples(r) != b->rows) {
        snprintf(errstr, errstr_size, "reserving journal ids: %d ids for %zu awards", PQntuples(r),
                 b->rows);
        rc = CARROT_LEDGER_FATAL;
    } else if (build(b, r)) {
        snprintf(errstr, errstr_size, "booking awards: out of memory");
        rc = CARROT_LEDGER_FATAL;
    }
    PQclear(r);
    if (rc) return rc;
    if ((rc = book_copy(pg, "COPY awards (" BOOK_AWARD_COLUMNS ") FROM STDIN", b->copy.p,
                        b->copy.len, errstr, errstr_size)) ||
        (rc = book_copy(pg,
                        "COPY journal (txn_id, program_id, kind, ref, participant_id) FROM STDIN",
                        b->scratch[0].p, b->scratch[0].len, errstr, errstr_size)) ||
        (rc = book_copy(pg, "COPY entries (txn_id, account, amount) FROM STDIN", b->scratch[1].p,
                        b->scratch[1].len, errstr, errstr_size)))
        return rc;
    if (book_sums_arrays(&b->sums, &b->scratch[2], &b->scratch[3], &b->scratch[4])) {
        snprintf(errstr, errstr_size, "booking awards: out of memory");
        return CARROT_LEDGER_FATAL;
    }
    /* as the staging statement does: one row per participant, locked in key
     * order, so two ledgers never deadlock on balances */
    const char *sums[] = {b->scratch[2].p, b->scratch[3].p, b->scratch[4].p};
    r = PQexecParams(pg,
                     "INSERT INTO balances AS bal (program_id, participant_id, earned, available)"
                     " SELECT p, q, s, s FROM unnest($1::text[], $2::text[], $3::bigint[])"
                     " AS u(p, q, s) ORDER BY 1, 2"
                     " ON CONFLICT (program_id, participant_id) DO UPDATE"
                     " SET earned = bal.earned + EXCLUDED.earned,"
                     " available = bal.available + EXCLUDED.available",
                     3, NULL, sums, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = book_classify(pg, r, "booking balances", errstr, errstr_size);
    PQclear(r);
    return rc;
}

carrot_ledger_err_t book_direct(carrot_book_t *b, PGconn *pg, long long *insertedp, char *errstr,
                                size_t errstr_size) {
    carrot_ledger_err_t rc;
    if (b->sums.unsummable) return CARROT_LEDGER_REFUSED; /* nothing done yet to undo */
    if ((rc = book_exec(pg, "SAVEPOINT carrot_direct", PGRES_COMMAND_OK, errstr, errstr_size)))
        return rc;
    rc = copy_all(b, pg, errstr, errstr_size);
    if (rc == CARROT_LEDGER_OK) {
        *insertedp = (long long)b->rows;
        return book_exec(pg, "RELEASE SAVEPOINT carrot_direct", PGRES_COMMAND_OK, errstr,
                         errstr_size);
    }
    if (rc != CARROT_LEDGER_REFUSED) return rc;
    carrot_ledger_err_t undo;
    if ((undo = book_exec(pg, "ROLLBACK TO SAVEPOINT carrot_direct", PGRES_COMMAND_OK, errstr,
                          errstr_size)) ||
        (undo = book_exec(pg, "RELEASE SAVEPOINT carrot_direct", PGRES_COMMAND_OK, errstr,
                          errstr_size)))
        return undo == CARROT_LEDGER_REFUSED ? CARROT_LEDGER_FATAL : undo;
    return CARROT_LEDGER_REFUSED;
}
