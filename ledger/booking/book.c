/* book.c: the batch (COPY rows collected as awards are read) and how it is
 * written: in one transaction, the awards booked (journal, entries,
 * balances), then the offsets. A batch of new awards goes straight into the
 * book by COPY (direct.c). Otherwise (an award in it was booked before, or
 * PostgreSQL refuses one) the batch is COPYed into a per-session temporary
 * table and one statement inserts the new awards and books them: the
 * primary key drops rows that were already booked.
 * One bad row fails the whole COPY, and a replay would fail the same way
 * for ever; so on a data error the batch is booked again in halves under
 * savepoints until the rows PostgreSQL refuses stand alone. The search costs
 * about 2 log2(n) statements per bad row, and only when there is one: the
 * usual batch takes the single fast path. */
#include "book_int.h"

#include "carrot/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_book_t *carrot_book_new(void) {
    carrot_book_t *b = calloc(1, sizeof(*b));
    if (b && !(b->journal = carrot_journal_batch_new())) {
        free(b);
        return NULL;
    }
    return b;
}

void carrot_book_destroy(carrot_book_t *b) {
    if (!b) return;
    free(b->copy.p);
    carrot_journal_batch_destroy(b->journal);
    book_sums_free(&b->sums);
    for (int i = 0; i < 3; i++) free(b->scratch[i].p);
    free(b->row);
    free(b->adv);
    free(b);
}

void carrot_book_reset(carrot_book_t *b) {
    b->copy.len = b->rows = 0;
    carrot_journal_batch_reset(b->journal);
    book_sums_reset(&b->sums);
    b->nadv = 0;
}

size_t carrot_book_count(const carrot_book_t *b) { return b->rows; }

carrot_ledger_err_t carrot_book_advance(carrot_book_t *b, int32_t partition, int64_t next_offset) {
    for (int i = 0; i < b->nadv; i++) {
        if (b->adv[i].partition == partition) {
            if (next_offset > b->adv[i].next) b->adv[i].next = next_offset;
            return CARROT_LEDGER_OK;
        }
    }
    if (b->nadv == b->capadv) {
        int cap = b->capadv ? b->capadv * 2 : 16;
        advance_t *na = realloc(b->adv, (size_t)cap * sizeof(*na));
        if (!na) return CARROT_LEDGER_FATAL;
        b->adv = na;
        b->capadv = cap;
    }
    b->adv[b->nadv++] = (advance_t){partition, next_offset};
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_book_add(carrot_book_t *b, const carrot_award_t *a, int32_t partition,
                                    int64_t offset) {
    char points[24], occurred[40], awarded[40], part[16], off[24];
    snprintf(points, sizeof(points), "%lld", (long long)a->points);
    carrot_time_format(a->occurred_at, occurred, sizeof(occurred));
    carrot_time_format(a->awarded_at, awarded, sizeof(awarded));
    snprintf(part, sizeof(part), "%d", (int)partition);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    const char *fields[] = {a->award_id, a->program_id,
                            a->event_id, a->participant_id,
                            a->segment,  a->team_id,
                            a->region,   a->activity_type,
                            a->rule_id,  a->rules_version,
                            points,      occurred,
                            awarded,     part,
                            off};
    const int nf = (int)(sizeof(fields) / sizeof(fields[0]));
    size_t mark = b->copy.len;
    if (b->rows == b->caprows) {
        size_t cap = b->caprows ? 2 * b->caprows : 1024;
        row_t *nr = realloc(b->row, cap * sizeof(*nr));
        if (!nr) return CARROT_LEDGER_FATAL;
        b->row = nr;
        b->caprows = cap;
    }
    b->row[b->rows] = (row_t){mark, partition, offset, a->points};
    int failed = 0;
    for (int i = 0; i < nf && !failed; i++)
        failed = carrot_copy_field(&b->copy, fields[i], i + 1 < nf ? '\t' : '\n');
    /* for the direct path (direct.c): the award's posting (budget -points,
     * wallet +points, as book_posting below) and the participant's sum,
     * made here while the batch is read */
    failed = failed || carrot_journal_batch_add(b->journal, a->program_id, "award", a->award_id,
                                                a->participant_id, "budget", "wallet", a->points);
    if (failed || book_sums_add(&b->sums, a->program_id, a->participant_id, a->points)) {
        b->copy.len = mark;
        carrot_journal_batch_truncate(b->journal, b->rows);
        return CARROT_LEDGER_FATAL;
    }
    b->rows++;
    return carrot_book_advance(b, partition, offset + 1);
}

/* Classifies a failure as carrot_pg_failure() does, and tells apart a
 * failure caused by the rows themselves, which a retry would repeat: data
 * exceptions (22: invalid UTF-8, a value out of range), integrity
 * constraint violations (23) and program limits (54: a key too long for its
 * index). Those are CARROT_LEDGER_REFUSED inside this file, which never
 * returns REFUSED to its callers. */
carrot_ledger_err_t book_classify(PGconn *pg, const PGresult *r, const char *what, char *errstr,
                                  size_t errstr_size) {
    carrot_ledger_err_t rc = carrot_pg_failure(pg, r, what, errstr, errstr_size);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (rc != CARROT_LEDGER_FATAL || !state ||
        (strncmp(state, "22", 2) != 0 && strncmp(state, "23", 2) != 0 &&
         strncmp(state, "54", 2) != 0))
        return rc;
    /* the reason a dead letter carries: PostgreSQL's words, without libpq's
     * "ERROR:" and with where it was found (COPY names the column) */
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
    snprintf(errstr, errstr_size, "PostgreSQL refused the award: %s (SQLSTATE %s%s%.*s)",
             msg ? msg : "?", state, ctx ? "; " : "", ctx ? (int)strcspn(ctx, "\n") : 0,
             ctx ? ctx : "");
    return CARROT_LEDGER_REFUSED;
}

carrot_ledger_err_t book_exec(PGconn *pg, const char *sql, ExecStatusType want, char *errstr,
                              size_t errstr_size) {
    PGresult *r = PQexec(pg, sql);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (PQresultStatus(r) != want) rc = book_classify(pg, r, sql, errstr, errstr_size);
    PQclear(r);
    return rc;
}

/* New awards only (the primary key drops those booked before) enter the
 * book: one journal transaction each, budget -points and wallet +points, and
 * the participant's balances. Balances are locked in key order, so two
 * ledgers never deadlock on them. */
static const carrot_posting_t book_posting = {
    .with = "ins AS ("
            "  INSERT INTO awards SELECT * FROM awards_in ON CONFLICT (program_id, award_id)"
            "  DO NOTHING RETURNING program_id, award_id, participant_id, points)",
    .rows = "SELECT program_id, 'award', award_id, participant_id, 'budget', 'wallet', points"
            " FROM ins",
    .after = "b AS ("
             "  INSERT INTO balances AS bal (program_id, participant_id, earned, available)"
             "  SELECT program_id, participant_id, sum(points), sum(points) FROM ins"
             "  GROUP BY 1, 2 ORDER BY 1, 2"
             "  ON CONFLICT (program_id, participant_id) DO UPDATE"
             "  SET earned = bal.earned + EXCLUDED.earned,"
             "  available = bal.available + EXCLUDED.available)",
    .result = "SELECT count(*) FROM ins",
    .what = "booking awards",
    .classify = book_classify};

/* COPYs rows [lo, hi) into awards_in and books them; *insertedp += the new ones. */
static carrot_ledger_err_t copy_and_book(carrot_book_t *b, PGconn *pg, size_t lo, size_t hi,
                                         long long *insertedp, char *errstr, size_t errstr_size) {
    carrot_ledger_err_t rc;
    size_t from = b->row[lo].start, to = hi < b->rows ? b->row[hi].start : b->copy.len;
    if ((rc = book_exec(pg,
                        "CREATE TEMP TABLE IF NOT EXISTS awards_in"
                        " (LIKE awards INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                        PGRES_COMMAND_OK, errstr, errstr_size)) ||
        (rc = carrot_pg_copy(pg, "COPY awards_in (" BOOK_AWARD_COLUMNS ") FROM STDIN",
                             b->copy.p + from, to - from, book_classify, errstr, errstr_size)))
        return rc;
    char *count = NULL;
    if ((rc = carrot_journal_post(pg, &book_posting, 0, NULL, &count, errstr, errstr_size)))
        return rc;
    *insertedp += count ? atoll(count) : 0;
    free(count);
    return CARROT_LEDGER_OK;
}

typedef struct {
    carrot_book_refused_cb refused;
    void *opaque;
} refuse_t;

/* Books rows [lo, hi) under a savepoint; on a data error, rolls back to it
 * and books each half the same way; a single refused row goes to the
 * callback. Rows booked earlier in the transaction stay booked, so a row
 * refused only together with another (a balance overflowing) is found too. */
static carrot_ledger_err_t isolate(carrot_book_t *b, PGconn *pg, size_t lo, size_t hi,
                                   const refuse_t *rf, long long *insertedp, char *errstr,
                                   size_t errstr_size) {
    carrot_ledger_err_t rc;
    if ((rc = book_exec(pg, "SAVEPOINT carrot_rows", PGRES_COMMAND_OK, errstr, errstr_size)))
        return rc;
    long long inserted = 0;
    rc = copy_and_book(b, pg, lo, hi, &inserted, errstr, errstr_size);
    if (rc == CARROT_LEDGER_OK) {
        *insertedp += inserted;
        /* emptied by hand: ON COMMIT DELETE ROWS waits for the commit */
        if ((rc = book_exec(pg, "DELETE FROM awards_in", PGRES_COMMAND_OK, errstr, errstr_size)))
            return rc;
        return book_exec(pg, "RELEASE SAVEPOINT carrot_rows", PGRES_COMMAND_OK, errstr,
                         errstr_size);
    }
    if (rc != CARROT_LEDGER_REFUSED) return rc;
    char why[1024];
    snprintf(why, sizeof(why), "%s", errstr);
    if ((rc = book_exec(pg, "ROLLBACK TO SAVEPOINT carrot_rows", PGRES_COMMAND_OK, errstr,
                        errstr_size)) ||
        (rc = book_exec(pg, "RELEASE SAVEPOINT carrot_rows", PGRES_COMMAND_OK, errstr,
                        errstr_size)))
        return rc;
    if (hi - lo == 1) {
        if (rf->refused &&
            rf->refused(rf->opaque, b->row[lo].partition, b->row[lo].offset, why) == 0)
            return CARROT_LEDGER_OK;
        snprintf(errstr, errstr_size,
                 "could not dead-letter the award at partition %d offset %lld"
                 " that PostgreSQL refused: %s",
                 (int)b->row[lo].partition, (long long)b->row[lo].offset, why);
        return CARROT_LEDGER_FATAL;
    }
    size_t mid = lo + (hi - lo) / 2;
    if ((rc = isolate(b, pg, lo, mid, rf, insertedp, errstr, errstr_size))) return rc;
    return isolate(b, pg, mid, hi, rf, insertedp, errstr, errstr_size);
}

/* The batch's next offsets of (group, topic), in one statement, locked in
 * partition order. Never moved backwards: a fenced-out ledger may still
 * commit. */
static carrot_ledger_err_t store_offsets(carrot_book_t *b, PGconn *pg, const char *group,
                                         const char *topic, char *errstr, size_t errstr_size) {
    char *parts = malloc((size_t)b->nadv * 12 + 3), *nexts = malloc((size_t)b->nadv * 21 + 3);
    if (!parts || !nexts) {
        free(parts);
        free(nexts);
        snprintf(errstr, errstr_size, "storing offsets: out of memory");
        return CARROT_LEDGER_FATAL;
    }
    size_t pl = 0, nl = 0;
    parts[pl++] = nexts[nl++] = '{';
    for (int i = 0; i < b->nadv; i++) {
        pl += (size_t)sprintf(parts + pl, "%s%d", i ? "," : "", (int)b->adv[i].partition);
        nl += (size_t)sprintf(nexts + nl, "%s%lld", i ? "," : "", (long long)b->adv[i].next);
    }
    parts[pl++] = nexts[nl++] = '}';
    parts[pl] = nexts[nl] = '\0';
    const char *params[] = {group, topic, parts, nexts};
    PGresult *r = PQexecParams(
        pg,
        "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset)"
        " SELECT $1, $2, p, n FROM unnest($3::int[], $4::bigint[]) AS u(p, n) ORDER BY p"
        " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
        " SET next_offset = EXCLUDED.next_offset, updated_at = now()"
        " WHERE kafka_offsets.next_offset < EXCLUDED.next_offset",
        4, NULL, params, NULL, NULL, 0);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = book_classify(pg, r, "storing offsets", errstr, errstr_size);
    PQclear(r);
    free(parts);
    free(nexts);
    return rc;
}

/* One attempt at the batch in one transaction: straight into the book
 * (direct.c) while every award is new, else through the staging table; with
 * search set, row by savepoint-guarded halves (isolate()) instead. */
static carrot_ledger_err_t attempt(carrot_book_t *b, PGconn *pg, const char *group,
                                   const char *topic, const refuse_t *search, long long *insertedp,
                                   char *errstr, size_t errstr_size) {
    carrot_ledger_err_t rc;
    *insertedp = 0;
    if ((rc = book_exec(pg, "BEGIN", PGRES_COMMAND_OK, errstr, errstr_size))) goto fail;
    if (b->rows > 0 && search)
        rc = isolate(b, pg, 0, b->rows, search, insertedp, errstr, errstr_size);
    else if (b->rows > 0) {
        /* REFUSED: an award already booked, or one PostgreSQL refuses; the
         * staging statement skips the former and finds the latter again */
        rc = book_direct(b, pg, insertedp, errstr, errstr_size);
        if (rc == CARROT_LEDGER_REFUSED)
            rc = copy_and_book(b, pg, 0, b->rows, insertedp, errstr, errstr_size);
    }
    if (rc) goto fail;
    if (b->nadv > 0 && (rc = store_offsets(b, pg, group, topic, errstr, errstr_size))) goto fail;
    if ((rc = book_exec(pg, "COMMIT", PGRES_COMMAND_OK, errstr, errstr_size))) goto fail;
    return CARROT_LEDGER_OK;
fail:
    carrot_pg_rollback(pg);
    *insertedp = 0;
    return rc;
}

carrot_ledger_err_t carrot_book_commit(carrot_book_t *b, PGconn *pg, const char *group,
                                       const char *topic, carrot_book_refused_cb refused,
                                       void *opaque, long long *insertedp, char *errstr,
                                       size_t errstr_size) {
    carrot_ledger_err_t rc = attempt(b, pg, group, topic, NULL, insertedp, errstr, errstr_size);
    if (rc != CARROT_LEDGER_REFUSED) return rc;
    const refuse_t rf = {refused, opaque};
    rc = attempt(b, pg, group, topic, &rf, insertedp, errstr, errstr_size);
    /* a data error outside the rows (the offsets): nothing to set aside */
    return rc == CARROT_LEDGER_REFUSED ? CARROT_LEDGER_FATAL : rc;
}

carrot_ledger_err_t carrot_book_load_offsets(PGconn *pg, const char *group, const char *topic,
                                             const int32_t *partitions, int64_t *offsets, int n,
                                             char *errstr, size_t errstr_size) {
    const char *params[] = {group, topic};
    PGresult *r = PQexecParams(pg,
                               "SELECT partition, next_offset FROM kafka_offsets"
                               " WHERE consumer_group = $1 AND topic = $2",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = book_classify(pg, r, "reading stored offsets", errstr,
                                               errstr_size);
        PQclear(r);
        return rc == CARROT_LEDGER_REFUSED ? CARROT_LEDGER_FATAL : rc;
    }
    for (int i = 0; i < n; i++) offsets[i] = -1;
    for (int row = 0; row < PQntuples(r); row++) {
        int32_t p = (int32_t)atoi(PQgetvalue(r, row, 0));
        for (int i = 0; i < n; i++)
            if (partitions[i] == p) offsets[i] = atoll(PQgetvalue(r, row, 1));
    }
    PQclear(r);
    return CARROT_LEDGER_OK;
}
