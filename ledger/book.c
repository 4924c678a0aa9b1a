/* book.c: COPY into a per-session temporary table, then one statement that
 * inserts the new awards and books them (journal, entries, balances), then
 * the offsets, in one transaction.
 * COPY is the fastest way into PostgreSQL; the staging table lets the
 * primary key drop rows that were already booked. */
#include "book.h"

#include "pgutil.h"

#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* New awards only (the primary key drops those booked before) enter the
 * book: one journal transaction each, wallet +points and budget -points, and
 * the participant's balances. Balances are locked in key order, so two
 * ledgers never deadlock on them. */
static const char book_sql[] =
    "WITH ins AS ("
    "  INSERT INTO awards SELECT * FROM awards_in ON CONFLICT (program_id, award_id) DO NOTHING"
    "  RETURNING program_id, award_id, participant_id, points"
    "), j AS ("
    "  INSERT INTO journal (program_id, kind, ref, participant_id)"
    "  SELECT program_id, 'award', award_id, participant_id FROM ins"
    "  RETURNING txn_id, program_id, ref"
    "), e AS ("
    "  INSERT INTO entries (txn_id, account, amount)"
    "  SELECT j.txn_id, x.account, x.amount"
    "  FROM j JOIN ins ON ins.program_id = j.program_id AND ins.award_id = j.ref"
    "  CROSS JOIN LATERAL (VALUES ('wallet', ins.points), ('budget', -ins.points)) AS x(account, amount)"
    "), b AS ("
    "  INSERT INTO balances AS bal (program_id, participant_id, earned, available)"
    "  SELECT program_id, participant_id, sum(points), sum(points) FROM ins"
    "  GROUP BY 1, 2 ORDER BY 1, 2"
    "  ON CONFLICT (program_id, participant_id) DO UPDATE"
    "  SET earned = bal.earned + EXCLUDED.earned, available = bal.available + EXCLUDED.available"
    ")"
    " SELECT count(*) FROM ins";

typedef struct {
    int32_t partition;
    int64_t next;
} advance_t;

struct carrot_book_s {
    char *buf;
    size_t len, cap, rows;
    advance_t *adv;
    int nadv, capadv;
};

carrot_book_t *carrot_book_new(void) { return calloc(1, sizeof(carrot_book_t)); }

void carrot_book_destroy(carrot_book_t *b) {
    if (!b) return;
    free(b->buf);
    free(b->adv);
    free(b);
}

void carrot_book_reset(carrot_book_t *b) {
    b->len = b->rows = 0;
    b->nadv = 0;
}

size_t carrot_book_count(const carrot_book_t *b) { return b->rows; }

static int reserve(carrot_book_t *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more) cap *= 2;
    char *nb = realloc(b->buf, cap);
    if (!nb) return -1;
    b->buf = nb;
    b->cap = cap;
    return 0;
}

/* Appends s in COPY text format (\N for NULL, backslash escapes), then sep. */
static int put_field(carrot_book_t *b, const char *s, char sep) {
    size_t n = s ? strlen(s) : 0;
    if (reserve(b, 2 * n + 4)) return -1;
    if (!s) {
        memcpy(b->buf + b->len, "\\N", 2);
        b->len += 2;
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
                b->buf[b->len++] = '\\';
                b->buf[b->len++] = e;
            } else
                b->buf[b->len++] = c;
        }
    }
    b->buf[b->len++] = sep;
    return 0;
}

int carrot_book_advance(carrot_book_t *b, int32_t partition, int64_t next_offset) {
    for (int i = 0; i < b->nadv; i++) {
        if (b->adv[i].partition == partition) {
            if (next_offset > b->adv[i].next) b->adv[i].next = next_offset;
            return 0;
        }
    }
    if (b->nadv == b->capadv) {
        int cap = b->capadv ? b->capadv * 2 : 16;
        advance_t *na = realloc(b->adv, (size_t)cap * sizeof(*na));
        if (!na) return -1;
        b->adv = na;
        b->capadv = cap;
    }
    b->adv[b->nadv++] = (advance_t){partition, next_offset};
    return 0;
}

int carrot_book_add(carrot_book_t *b, const carrot_award_t *a, int32_t partition, int64_t offset) {
    char points[24], occurred[40], awarded[40], part[16], off[24];
    snprintf(points, sizeof(points), "%lld", (long long)a->points);
    carrot_time_format(a->occurred_at, occurred, sizeof(occurred));
    carrot_time_format(a->awarded_at, awarded, sizeof(awarded));
    snprintf(part, sizeof(part), "%d", (int)partition);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    const char *fields[] = {a->award_id, a->program_id, a->event_id, a->participant_id,
                            a->segment, a->team_id, a->region, a->activity_type, a->rule_id,
                            a->rules_version, points, occurred, awarded, part, off};
    const int nf = (int)(sizeof(fields) / sizeof(fields[0]));
    size_t mark = b->len;
    for (int i = 0; i < nf; i++) {
        if (put_field(b, fields[i], i + 1 < nf ? '\t' : '\n')) {
            b->len = mark;
            return -1;
        }
    }
    b->rows++;
    return carrot_book_advance(b, partition, offset + 1);
}

/* Classifies a failure by connection state and SQLSTATE class. */
static carrot_book_err_t classify(PGconn *pg, PGresult *r, const char *what, char *errstr,
                                  size_t errstr_size) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(errstr, errstr_size, "%s: %s", what, PQerrorMessage(pg));
    /* trim libpq's trailing newline */
    size_t n = strlen(errstr);
    while (n > 0 && errstr[n - 1] == '\n') errstr[--n] = '\0';
    if (PQstatus(pg) != CONNECTION_OK || !state) return CARROT_BOOK_RETRY;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0)
        return CARROT_BOOK_RETRY;
    return CARROT_BOOK_FATAL;
}

static carrot_book_err_t exec(PGconn *pg, const char *sql, ExecStatusType want, char *errstr,
                              size_t errstr_size) {
    PGresult *r = PQexec(pg, sql);
    carrot_book_err_t rc = CARROT_BOOK_OK;
    if (PQresultStatus(r) != want) rc = classify(pg, r, sql, errstr, errstr_size);
    PQclear(r);
    return rc;
}

carrot_book_err_t carrot_book_commit(carrot_book_t *b, PGconn *pg, const char *group,
                                     const char *topic, long long *insertedp, char *errstr,
                                     size_t errstr_size) {
    carrot_book_err_t rc;
    *insertedp = 0;
    if ((rc = exec(pg, "BEGIN", PGRES_COMMAND_OK, errstr, errstr_size)) ||
        (rc = exec(pg,
                   "CREATE TEMP TABLE IF NOT EXISTS awards_in"
                   " (LIKE awards INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                   PGRES_COMMAND_OK, errstr, errstr_size)))
        goto fail;
    if (b->rows > 0) {
        if ((rc = exec(pg,
                       "COPY awards_in (award_id, program_id, event_id, participant_id, segment,"
                       " team_id, region, activity_type, rule_id, rules_version, points,"
                       " occurred_at, awarded_at, source_partition, source_offset) FROM STDIN",
                       PGRES_COPY_IN, errstr, errstr_size)))
            goto fail;
        if (PQputCopyData(pg, b->buf, (int)b->len) != 1 || PQputCopyEnd(pg, NULL) != 1) {
            rc = classify(pg, NULL, "COPY", errstr, errstr_size);
            goto fail;
        }
        PGresult *r = PQgetResult(pg);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = classify(pg, r, "COPY", errstr, errstr_size);
            PQclear(r);
            while ((r = PQgetResult(pg))) PQclear(r);
            goto fail;
        }
        PQclear(r);
        while ((r = PQgetResult(pg))) PQclear(r);
        r = PQexec(pg, book_sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = classify(pg, r, "booking awards", errstr, errstr_size);
            PQclear(r);
            goto fail;
        }
        *insertedp = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    for (int i = 0; i < b->nadv; i++) {
        char part[16], next[24];
        snprintf(part, sizeof(part), "%d", (int)b->adv[i].partition);
        snprintf(next, sizeof(next), "%lld", (long long)b->adv[i].next);
        const char *params[] = {group, topic, part, next};
        /* never move an offset backwards: a fenced-out ledger may still commit */
        PGresult *r = PQexecParams(
            pg,
            "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
            " SET next_offset = EXCLUDED.next_offset, updated_at = now()"
            " WHERE kafka_offsets.next_offset < EXCLUDED.next_offset",
            4, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = classify(pg, r, "storing offsets", errstr, errstr_size);
            PQclear(r);
            goto fail;
        }
        PQclear(r);
    }
    if ((rc = exec(pg, "COMMIT", PGRES_COMMAND_OK, errstr, errstr_size))) goto fail;
    return CARROT_BOOK_OK;
fail:
    carrot_pg_rollback(pg);
    return rc;
}

carrot_book_err_t carrot_book_load_offsets(PGconn *pg, const char *group, const char *topic,
                                           const int32_t *partitions, int64_t *offsets, int n,
                                           char *errstr, size_t errstr_size) {
    const char *params[] = {group, topic};
    PGresult *r = PQexecParams(pg,
                               "SELECT partition, next_offset FROM kafka_offsets"
                               " WHERE consumer_group = $1 AND topic = $2",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_book_err_t rc = classify(pg, r, "reading stored offsets", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    for (int i = 0; i < n; i++) offsets[i] = -1;
    for (int row = 0; row < PQntuples(r); row++) {
        int32_t p = (int32_t)atoi(PQgetvalue(r, row, 0));
        for (int i = 0; i < n; i++)
            if (partitions[i] == p) offsets[i] = atoll(PQgetvalue(r, row, 1));
    }
    PQclear(r);
    return CARROT_BOOK_OK;
}
