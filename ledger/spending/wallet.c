/* wallet.c: redemptions and expiry as single PostgreSQL transactions (see
 * spending.h for the locking order that keeps them safe under concurrency). */
#include "spending_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_ledger_err_t carrot_wallet_catalog_set(PGconn *pg, const char *program, const char *item,
                                              const char *name, int64_t price, int64_t stock,
                                              char *errstr, size_t errstr_size) {
    if (price <= 0 || stock < 0 || stock > 2147483647) {
        snprintf(errstr, errstr_size, "price must be positive and stock not negative");
        return CARROT_LEDGER_REFUSED;
    }
    char p[24], s[24];
    snprintf(p, sizeof(p), "%lld", (long long)price);
    snprintf(s, sizeof(s), "%lld", (long long)stock);
    const char *params[] = {program, item, name, p, s};
    return carrot_pg_command(pg,
                             "INSERT INTO catalog (program_id, item_id, name, price, stock)"
                             " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, item_id)"
                             " DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price,"
                             " stock = EXCLUDED.stock",
                             5, params, errstr, errstr_size);
}

void carrot_wallet_explain_shortfall(PGconn *pg, const char *program, const char *participant,
                                     const char *what, const char *cost, char *errstr,
                                     size_t errstr_size) {
    char *avail = NULL;
    const char *params[] = {program, participant};
    carrot_pg_value(pg,
                    "SELECT available FROM balances WHERE program_id = $1 AND participant_id = $2",
                    2, params, &avail, errstr, errstr_size);
    if (avail)
        snprintf(errstr, errstr_size,
                 "insufficient points: participant \"%s\" has %s available, needs %s for %s",
                 participant, avail, cost, what);
    else
        snprintf(errstr, errstr_size, "unknown participant \"%s\" in program \"%s\"", participant,
                 program);
    free(avail);
}

/* The redemption and its journal transaction, in one statement. */
static const carrot_posting_t reserve_posting = {
    .with = "r AS (INSERT INTO redemptions (program_id, participant_id, item_id, price)"
            " VALUES ($1, $2, $3, $4) RETURNING redemption_id)",
    .rows = "SELECT $1, 'reserve', redemption_id::text, $2, 'wallet', 'pending', $4::bigint"
            " FROM r",
    .result = "SELECT redemption_id FROM r"};

carrot_ledger_err_t carrot_wallet_redeem(PGconn *pg, const char *program, const char *participant,
                                         const char *item, int64_t *idp, char *errstr,
                                         size_t errstr_size) {
    char *price = NULL, *id = NULL;
    carrot_ledger_err_t rc;
    if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
    /* 1. the item: one unit out of stock */
    const char *p1[] = {program, item};
    if ((rc = carrot_pg_value(
             pg,
             "UPDATE catalog SET stock = stock - 1 WHERE program_id = $1 AND item_id = $2"
             " AND stock > 0 RETURNING price",
             2, p1, &price, errstr, errstr_size)))
        return carrot_pg_abort(pg, rc);
    if (!price) {
        char *exists = NULL;
        carrot_pg_value(pg, "SELECT 1 FROM catalog WHERE program_id = $1 AND item_id = $2", 2, p1,
                        &exists, errstr, errstr_size);
        snprintf(errstr, errstr_size,
                 exists ? "item \"%s\" is out of stock"
                        : "no item \"%s\" in the catalog of program \"%s\"",
                 item, program);
        free(exists);
        return carrot_pg_abort(pg, CARROT_LEDGER_REFUSED);
    }
    /* 2. the wallet: available -> pending, only if it covers the price */
    const char *p2[] = {program, participant, price};
    char *left = NULL;
    if ((rc = carrot_pg_value(
             pg,
             "UPDATE balances SET available = available - $3::bigint,"
             " pending = pending + $3::bigint WHERE program_id = $1 AND participant_id = $2"
             " AND available >= $3::bigint RETURNING available",
             3, p2, &left, errstr, errstr_size)))
        goto out;
    if (!left) {
        char what[300];
        snprintf(what, sizeof(what), "\"%s\"", item);
        carrot_wallet_explain_shortfall(pg, program, participant, what, price, errstr, errstr_size);
        rc = CARROT_LEDGER_REFUSED;
        goto out;
    }
    free(left);
    /* 3. the redemption and its journal transaction */
    const char *p3[] = {program, participant, item, price};
    if ((rc = carrot_journal_post(pg, &reserve_posting, 4, p3, &id, errstr, errstr_size)) ||
        (rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size)))
        goto out;
    *idp = atoll(id);
out:
    free(price);
    free(id);
    return rc ? carrot_pg_abort(pg, rc) : CARROT_LEDGER_OK;
}

/* A settled redemption's journal transaction: the pending points are spent
 * (fulfil) or back in the wallet (reject). */
static const carrot_posting_t settle_posting = {
    .rows = "SELECT $1::text, $5::text, $4::text, $2::text, 'pending',"
            " CASE WHEN $5 = 'fulfil' THEN 'redeemed' ELSE 'wallet' END, $3::bigint"};

carrot_ledger_err_t carrot_wallet_settle(PGconn *pg, int64_t redemption_id, int fulfil,
                                         const char *reason, char *errstr, size_t errstr_size) {
    char rid[24];
    snprintf(rid, sizeof(rid), "%lld", (long long)redemption_id);
    char *row = NULL;
    carrot_ledger_err_t rc;
    if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
    const char *p1[] = {rid, fulfil ? "fulfilled" : "rejected", reason};
    if ((rc = carrot_pg_value(
             pg,
             "UPDATE redemptions SET status = $2, reason = $3, decided_at = now()"
             " WHERE redemption_id = $1 AND status = 'pending'"
             " RETURNING program_id || '|' || participant_id || '|' || item_id || '|' || price",
             3, p1, &row, errstr, errstr_size)))
        return carrot_pg_abort(pg, rc);
    if (!row) {
        char *status = NULL;
        carrot_pg_value(pg, "SELECT status FROM redemptions WHERE redemption_id = $1", 1, p1,
                        &status, errstr, errstr_size);
        if (status) snprintf(errstr, errstr_size, "redemption %s is already %s", rid, status);
        else
            snprintf(errstr, errstr_size, "no redemption %s", rid);
        free(status);
        return carrot_pg_abort(pg, CARROT_LEDGER_REFUSED);
    }
    /* program|participant|item|price; ids cannot hold '|' only by convention, so split from the right */
    char *f[4];
    f[3] = strrchr(row, '|');
    *f[3]++ = '\0';
    f[2] = strrchr(row, '|');
    *f[2]++ = '\0';
    f[0] = row;
    f[1] = strchr(row, '|');
    *f[1]++ = '\0';
    /* f: program, participant, item, price */
    const char *pb[] = {f[0], f[1], f[3]};
    const char *pc[] = {f[0], f[2]};
    const char *pj[] = {f[0], f[1], f[3], rid, fulfil ? "fulfil" : "reject"};
    if ((rc = carrot_pg_command(pg,
                                fulfil ? "UPDATE balances SET pending = pending - $3::bigint,"
                                         " redeemed = redeemed + $3::bigint"
                                         " WHERE program_id = $1 AND participant_id = $2"
                                       : "UPDATE balances SET pending = pending - $3::bigint,"
                                         " available = available + $3::bigint"
                                         " WHERE program_id = $1 AND participant_id = $2",
                                3, pb, errstr, errstr_size)) ||
        (!fulfil && (rc = carrot_pg_command(pg,
                                            "UPDATE catalog SET stock = stock + 1"
                                            " WHERE program_id = $1 AND item_id = $2",
                                            2, pc, errstr, errstr_size))) ||
        (rc = carrot_journal_post(pg, &settle_posting, 5, pj, NULL, errstr, errstr_size)) ||
        (rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size))) {
        free(row);
        return carrot_pg_abort(pg, rc);
    }
    free(row);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_wallet_set_expiry(PGconn *pg, const char *program, int months,
                                             char *errstr, size_t errstr_size) {
    char m[16];
    snprintf(m, sizeof(m), "%d", months);
    const char *params[] = {program, months > 0 ? m : NULL};
    return carrot_pg_command(pg,
                             "INSERT INTO programs (program_id, expiry_months) VALUES ($1, $2)"
                             " ON CONFLICT (program_id) DO UPDATE"
                             " SET expiry_months = EXCLUDED.expiry_months, updated_at = now()",
                             2, params, errstr, errstr_size);
}

/* One statement: for each wallet, x = available - (points earned since the
 * cutoff), if positive, is what outlived the policy. It becomes an 'expire'
 * transaction (wallet -x, expired +x) and moves in balances. The journal's
 * unique (program, kind, ref) makes a second run for the same as_of a no-op. */
static const carrot_posting_t expire_posting = {
    .with =
        "cut AS ("
        "  SELECT p.program_id, $2::timestamptz - make_interval(months => p.expiry_months) AS cutoff"
        "  FROM programs p WHERE p.expiry_months IS NOT NULL AND ($1::text IS NULL OR p.program_id = $1)"
        "), due AS ("
        "  SELECT b.program_id, b.participant_id,"
        "    b.available - coalesce((SELECT sum(a.points) FROM awards a"
        "      WHERE a.program_id = b.program_id AND a.participant_id = b.participant_id"
        "      AND a.points > 0 AND a.awarded_at >= cut.cutoff), 0) AS x"
        "  FROM balances b JOIN cut ON cut.program_id = b.program_id"
        "  ORDER BY b.program_id, b.participant_id FOR UPDATE OF b"
        "), pos AS (SELECT * FROM due WHERE x > 0)",
    .rows = "SELECT program_id, 'expire', to_char($2::timestamptz AT TIME ZONE 'UTC',"
            "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '/' || participant_id, participant_id,"
            "  'wallet', 'expired', x FROM pos",
    .skip_posted = 1,
    .after = "b AS ("
             "  UPDATE balances bal SET available = bal.available - posted.amount,"
             "  expired = bal.expired + posted.amount FROM posted"
             "  WHERE bal.program_id = posted.program_id"
             "  AND bal.participant_id = posted.participant_id)",
    .result = "SELECT coalesce(sum(amount), 0) || ' ' || count(*) FROM posted"};

carrot_ledger_err_t carrot_wallet_expire(PGconn *pg, const char *program, const char *as_of,
                                         long long *pointsp, long long *participantsp, char *errstr,
                                         size_t errstr_size) {
    const char *params[] = {program, as_of ? as_of : "now"};
    char *v = NULL;
    carrot_ledger_err_t rc = carrot_journal_post(pg, &expire_posting, 2, params, &v, errstr,
                                                 errstr_size);
    if (rc) return rc;
    *pointsp = *participantsp = 0;
    if (v) sscanf(v, "%lld %lld", pointsp, participantsp);
    free(v);
    return CARROT_LEDGER_OK;
}
