/* direct.c: the direct booking path. A batch of awards that were never
 * booked before (the usual case: replays come only after a crash or a
 * rebalance) is COPYed straight into awards, then posted through the
 * journal's bulk path (carrot_journal_copy: ids reserved from the sequence,
 * journal and entries COPYed), then the balances are upserted in one
 * statement from the batch's sums (sums.c, added up while the batch was
 * read). Nothing is staged and joined back, so the book costs about what a
 * plain COPY of the same rows costs.
 * The primary key of awards still decides what is new: an award booked
 * before (or booked at the same time by a fenced-out ledger, which the
 * unique index makes this one wait for) fails the COPY with a unique
 * violation; so does a bad row with its data error. Either way the savepoint
 * undoes the whole direct attempt and book.c books the batch through the
 * staging table, which skips the first and bisects the second, as before. */
#include "book_int.h"

#include <stdio.h>
#include <string.h>

/* The awards, their postings, the balances. */
static carrot_ledger_err_t copy_all(carrot_book_t *b, PGconn *pg, char *errstr,
                                    size_t errstr_size) {
    carrot_ledger_err_t rc;
    if ((rc = carrot_pg_copy(pg, "COPY awards (" BOOK_AWARD_COLUMNS ") FROM STDIN", b->copy.p,
                             b->copy.len, book_classify, errstr, errstr_size)) ||
        (rc = carrot_journal_copy(pg, b->journal, book_classify, errstr, errstr_size)))
        return rc;
    if (book_sums_arrays(&b->sums, &b->scratch[0], &b->scratch[1], &b->scratch[2])) {
        snprintf(errstr, errstr_size, "booking awards: out of memory");
        return CARROT_LEDGER_FATAL;
    }
    /* as the staging statement does: one row per participant, locked in key
     * order, so two ledgers never deadlock on balances */
    const char *sums[] = {b->scratch[0].p, b->scratch[1].p, b->scratch[2].p};
    PGresult *r = PQexecParams(
        pg,
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
