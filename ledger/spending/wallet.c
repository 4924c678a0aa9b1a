/* wallet.c: redemptions and expiry as single PostgreSQL transactions (see
 * wallet.h for the locking order that keeps them safe under concurrency). */
#include "carrot/wallet.h"

#include "carrot/pgutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_wallet_err_t carrot_wallet_catalog_set(PGconn *pg, const char *program, const char *item,
                                              const char *name, int64_t price, int64_t stock,
                                              char *errstr, size_t errstr_size) {
    if (price <= 0 || stock < 0 || stock > 2147483647) {
        snprintf(errstr, errstr_size, "price must be positive and stock not negative");
        return CARROT_WALLET_REFUSED;
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
                             5, params, errstr, errstr_size)
               ? CARROT_WALLET_ERROR
               : CARROT_WALLET_OK;
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

carrot_wallet_err_t carrot_wallet_abort(PGconn *pg, carrot_wallet_err_t rc) {
    carrot_pg_rollback(pg);
    return rc;
}

carrot_wallet_err_t carrot_wallet_redeem(PGconn *pg, const char *program, const char *participant,
                                         const char *item, int64_t *idp, char *errstr,
                                         size_t errstr_size) {
    char *price = NULL, *id = NULL;
    if (carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size)) return CARROT_WALLET_ERROR;
    /* 1. the item: one unit out of stock */
    const char *p1[] = {program, item};
    if (carrot_pg_value(
            pg,
            "UPDATE catalog SET stock = stock - 1 WHERE program_id = $1 AND item_id = $2"
            " AND stock > 0 RETURNING price",
            2, p1, &price, errstr, errstr_size))
        return carrot_wallet_abort(pg, CARROT_WALLET_ERROR);
    if (!price) {
        char *exists = NULL;
        carrot_pg_value(pg, "SELECT 1 FROM catalog WHERE program_id = $1 AND item_id = $2", 2, p1,
                        &exists, errstr, errstr_size);
        snprintf(errstr, errstr_size,
                 exists ? "item \"%s\" is out of stock"
                        : "no item \"%s\" in the catalog of program \"%s\"",
                 item, program);
        free(exists);
        return carrot_wallet_abort(pg, CARROT_WALLET_REFUSED);
    }
    /* 2. the wallet: available -> pending, only if it covers the price */
    const char *p2[] = {program, participant, price};
    char *left = NULL;
    if (carrot_pg_value(
            pg,
            "UPDATE balances SET available = available - $3::bigint,"
            " pending = pending + $3::bigint WHERE program_id = $1 AND participant_id = $2"
            " AND available >= $3::bigint RETURNING available",
            3, p2, &left, errstr, errstr_size))
        goto error;
    if (!left) {
        char what[300];
        snprintf(what, sizeof(what), "\"%s\"", item);
        carrot_wallet_explain_shortfall(pg, program, participant, what, price, errstr, errstr_size);
        free(price);
        return carrot_wallet_abort(pg, CARROT_WALLET_REFUSED);
    }
    free(left);
    /* 3. the redemption and its journal transaction */
    const char *p3[] = {program, participant, item, price};
    if (carrot_pg_value(
            pg,
            "WITH r AS (INSERT INTO redemptions (program_id, participant_id, item_id, price)"
            " VALUES ($1, $2, $3, $4) RETURNING redemption_id),"
            " j AS (INSERT INTO journal (program_id, kind, ref, participant_id)"
            " SELECT $1, 'reserve', redemption_id::text, $2 FROM r RETURNING txn_id),"
            " e AS (INSERT INTO entries (txn_id, account, amount)"
            " SELECT txn_id, x.a, x.n FROM j CROSS JOIN LATERAL"
            " (VALUES ('wallet', -$4::bigint), ('pending', $4::bigint)) AS x(a, n))"
            " SELECT redemption_id FROM r",
            4, p3, &id, errstr, errstr_size) ||
        carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size))
        goto error;
    *idp = atoll(id);
    free(id);
    free(price);
    return CARROT_WALLET_OK;
error:
    free(price);
    free(id);
    return carrot_wallet_abort(pg, CARROT_WALLET_ERROR);
}

carrot_wallet_err_t carrot_wallet_settle(PGconn *pg, int64_t redemption_id, int fulfil,
                                         const char *reason, char *errstr, size_t errstr_size) {
    char rid[24];
    snprintf(rid, sizeof(rid), "%lld", (long long)redemption_id);
    char *row = NULL;
    if (carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size)) return CARROT_WALLET_ERROR;
    const char *p1[] = {rid, fulfil ? "fulfilled" : "rejected", reason};
    if (carrot_pg_value(
            pg,
            "UPDATE redemptions SET status = $2, reason = $3, decided_at = now()"
            " WHERE redemption_id = $1 AND status = 'pending'"
            " RETURNING program_id || '|' || participant_id || '|' || item_id || '|' || price",
            3, p1, &row, errstr, errstr_size))
        return carrot_wallet_abort(pg, CARROT_WALLET_ERROR);
    if (!row) {
        char *status = NULL;
        carrot_pg_value(pg, "SELECT status FROM redemptions WHERE redemption_id = $1", 1, p1,
                        &status, errstr, errstr_size);
        if (status) snprintf(errstr, errstr_size, "redemption %s is already %s", rid, status);
        else
            snprintf(errstr, errstr_size, "no redemption %s", rid);
        free(status);
        return carrot_wallet_abort(pg, CARROT_WALLET_REFUSED);
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
    int failed = carrot_pg_command(pg,
                                   fulfil ? "UPDATE balances SET pending = pending - $3::bigint,"
                                            " redeemed = redeemed + $3::bigint"
                                            " WHERE program_id = $1 AND participant_id = $2"
                                          : "UPDATE balances SET pending = pending - $3::bigint,"
                                            " available = available + $3::bigint"
                                            " WHERE program_id = $1 AND participant_id = $2",
                                   3, pb, errstr, errstr_size) ||
                 (!fulfil && carrot_pg_command(pg,
                                               "UPDATE catalog SET stock = stock + 1"
                                               " WHERE program_id = $1 AND item_id = $2",
                                               2, pc, errstr, errstr_size)) ||
                 carrot_pg_command(
                     pg,
                     "WITH j AS (INSERT INTO journal (program_id, kind, ref, participant_id)"
                     " VALUES ($1, $5, $4, $2) RETURNING txn_id)"
                     " INSERT INTO entries (txn_id, account, amount)"
                     " SELECT txn_id, x.a, x.n FROM j CROSS JOIN LATERAL (VALUES"
                     " ('pending', -$3::bigint),"
                     " (CASE WHEN $5 = 'fulfil' THEN 'redeemed' ELSE 'wallet' END, $3::bigint))"
                     " AS x(a, n)",
                     5, pj, errstr, errstr_size) ||
                 carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    free(row);
    return failed ? carrot_wallet_abort(pg, CARROT_WALLET_ERROR) : CARROT_WALLET_OK;
}

carrot_wallet_err_t carrot_wallet_set_expiry(PGconn *pg, const char *program, int months,
                                             char *errstr, size_t errstr_size) {
    char m[16];
    snprintf(m, sizeof(m), "%d", months);
    const char *params[] = {program, months > 0 ? m : NULL};
    return carrot_pg_command(pg,
                             "INSERT INTO programs (program_id, expiry_months) VALUES ($1, $2)"
                             " ON CONFLICT (program_id) DO UPDATE"
                             " SET expiry_months = EXCLUDED.expiry_months, updated_at = now()",
                             2, params, errstr, errstr_size)
               ? CARROT_WALLET_ERROR
               : CARROT_WALLET_OK;
}

/* One statement: for each wallet, x = available - (points earned since the
 * cutoff), if positive, is what outlived the policy. It becomes an 'expire'
 * transaction (wallet -x, expired +x) and moves in balances. The journal's
 * unique (program, kind, ref) makes a second run for the same as_of a no-op. */
static const char expire_sql[] =
    "WITH cut AS ("
    "  SELECT p.program_id, $2::timestamptz - make_interval(months => p.expiry_months) AS cutoff"
    "  FROM programs p WHERE p.expiry_months IS NOT NULL AND ($1::text IS NULL OR p.program_id = $1)"
    "), due AS ("
    "  SELECT b.program_id, b.participant_id,"
    "    b.available - coalesce((SELECT sum(a.points) FROM awards a"
    "      WHERE a.program_id = b.program_id AND a.participant_id = b.participant_id"
    "      AND a.points > 0 AND a.awarded_at >= cut.cutoff), 0) AS x"
    "  FROM balances b JOIN cut ON cut.program_id = b.program_id"
    "  ORDER BY b.program_id, b.participant_id FOR UPDATE OF b"
    "), pos AS (SELECT * FROM due WHERE x > 0"
    "), j AS ("
    "  INSERT INTO journal (program_id, kind, ref, participant_id)"
    "  SELECT program_id, 'expire', to_char($2::timestamptz AT TIME ZONE 'UTC',"
    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '/' || participant_id, participant_id FROM pos"
    "  ON CONFLICT (program_id, kind, ref) DO NOTHING"
    "  RETURNING txn_id, program_id, participant_id"
    "), e AS ("
    "  INSERT INTO entries (txn_id, account, amount)"
    "  SELECT j.txn_id, v.a, v.n FROM j JOIN pos USING (program_id, participant_id)"
    "  CROSS JOIN LATERAL (VALUES ('wallet', -pos.x), ('expired', pos.x)) AS v(a, n)"
    "), b AS ("
    "  UPDATE balances bal SET available = bal.available - pos.x, expired = bal.expired + pos.x"
    "  FROM pos JOIN j USING (program_id, participant_id)"
    "  WHERE bal.program_id = pos.program_id AND bal.participant_id = pos.participant_id"
    ")"
    " SELECT coalesce(sum(pos.x), 0) || ' ' || count(*) FROM pos JOIN j USING (program_id, participant_id)";

carrot_wallet_err_t carrot_wallet_expire(PGconn *pg, const char *program, const char *as_of,
                                         long long *pointsp, long long *participantsp, char *errstr,
                                         size_t errstr_size) {
    const char *params[] = {program, as_of ? as_of : "now"};
    char *v = NULL;
    if (carrot_pg_value(pg, expire_sql, 2, params, &v, errstr, errstr_size))
        return CARROT_WALLET_ERROR;
    *pointsp = *participantsp = 0;
    if (v) sscanf(v, "%lld %lld", pointsp, participantsp);
    free(v);
    return CARROT_WALLET_OK;
}
