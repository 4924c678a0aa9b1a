/* test_wallet.c: the double-entry book on the real PostgreSQL, fed through
 * the real Kafka: balances and the audit after booking, redemptions under
 * concurrency (many clients on one wallet; many wallets on one last item),
 * fulfil and reject, clear refusals, first-in-first-out expiry, a batch
 * partly booked before, and verify failing on an entry without its journal
 * transaction. */
#include "ittools.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char topic[96], program[48], group[96];

/* Books awards for program through `carrot-ledger run`. */
static void book(const char *tag, int n, const char *const *who, const int64_t *pts,
                 const int64_t *at) {
    it_produce_awards(topic, program, tag, n, who, pts, at);
    char *out;
    ck_assert_int_eq(it_ledger(&out, "run", "--topic", topic, "--group", group, "--until-drained",
                               "--log-level", "warn", NULL),
                     0);
    free(out);
}

static void setup(void) {
    it_unique(program, sizeof(program), "wl");
    snprintf(topic, sizeof(topic), "%s.awards", program);
    snprintf(group, sizeof(group), "%s.ledger", program);
    it_create_topic(topic, 2, NULL);
    ck_assert_int_eq(it_ledger(NULL, "migrate", NULL), 0);
}

static long long balance(const char *participant, const char *column) {
    PGconn *pg = it_pg();
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM balances WHERE program_id = $1 AND participant_id = $2", column);
    const char *params[] = {program, participant};
    char *v = it_pg_value(pg, sql, 2, params);
    PQfinish(pg);
    long long n = v ? atoll(v) : -1;
    free(v);
    return n;
}

/* The figure in column `name` of the program's row of `carrot-ledger
 * liability` output: the header names the columns (whitespace separated),
 * the one row of the program holds them in the same order. Fails the test
 * unless there is exactly one such row with a value in that column. */
static const char *liability(const char *out, const char *name) {
    static char value[64];
    char *copy = strdup(out), *save = NULL, *line, *cols[16], *vals[16];
    int ncols = 0, nvals = 0, rows = 0;
    line = strtok_r(copy, "\n", &save);
    ck_assert_ptr_nonnull(line);
    for (char *t, *s2 = NULL, *l = line; ncols < 16 && (t = strtok_r(l, " ", &s2)); l = NULL)
        cols[ncols++] = t;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *s2 = NULL, *first = strtok_r(line, " ", &s2);
        if (!first || strcmp(first, program) != 0) continue;
        rows++;
        nvals = 0;
        vals[nvals++] = first;
        for (char *t; nvals < 16 && (t = strtok_r(NULL, " ", &s2));) vals[nvals++] = t;
    }
    ck_assert_msg(rows == 1, "%d rows for %s in:\n%s", rows, program, out);
    int col = -1;
    for (int i = 0; i < ncols; i++)
        if (strcmp(cols[i], name) == 0) col = i;
    ck_assert_msg(col >= 0 && col < nvals, "no column %s in:\n%s", name, out);
    snprintf(value, sizeof(value), "%s", vals[col]);
    free(copy);
    return value;
}

/* Runs k copies of `carrot-ledger redeem` at once; returns how many exit 0,
 * and checks the others were refused (3), not failed. */
static int redeem_concurrently(int k, const char *const *participants, const char *item) {
    pid_t *pids = calloc((size_t)k, sizeof(*pids));
    for (int i = 0; i < k; i++) {
        char *argv[] = {CARROT_LEDGER,
                        "redeem",
                        "--program",
                        program,
                        "--participant",
                        (char *)participants[i],
                        "--item",
                        (char *)item,
                        "--log-level",
                        "error",
                        NULL};
        pids[i] = it_spawn(argv);
    }
    int ok = 0;
    for (int i = 0; i < k; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        ck_assert(WIFEXITED(status));
        ck_assert_msg(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3, "exit %d",
                      WEXITSTATUS(status));
        ok += WEXITSTATUS(status) == 0;
    }
    free(pids);
    return ok;
}

START_TEST(booking_balances_and_audit) {
    setup();
    const char *who[] = {"a", "a", "b", "a"};
    const int64_t pts[] = {100, 50, 7, -20};
    book("bk", 4, who, pts, NULL);
    ck_assert_int_eq(balance("a", "earned"), 130);
    ck_assert_int_eq(balance("a", "available"), 130);
    ck_assert_int_eq(balance("b", "available"), 7);
    char *out;
    ck_assert_int_eq(it_ledger(&out, "verify", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "every transaction balances               ok"));
    free(out);
    ck_assert_int_eq(it_ledger(&out, "statement", "--program", program, "--participant", "a", NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "bk-3"));
    ck_assert_ptr_nonnull(strstr(out, "-20        130")); /* running balance */
    free(out);
    ck_assert_int_eq(it_ledger(&out, "liability", "--program", program, NULL), 0);
    /* a = 130 and b = 7 available, nothing pending: 137 outstanding */
    ck_assert_str_eq(liability(out, "participants"), "2");
    ck_assert_str_eq(liability(out, "available"), "137");
    ck_assert_str_eq(liability(out, "pending"), "0");
    ck_assert_str_eq(liability(out, "outstanding"), "137");
    ck_assert_str_eq(liability(out, "earned"), "137");
    ck_assert_str_eq(liability(out, "awards"), "4");
    free(out);
    ck_assert_int_eq(it_ledger(NULL, "balance", "--program", program, "--participant", "nobody",
                               "--log-level", "error", NULL),
                     3);
}
END_TEST

START_TEST(one_wallet_many_clients) {
    setup();
    const char *who[] = {"w"};
    const int64_t pts[] = {100};
    book("ow", 1, who, pts, NULL);
    ck_assert_int_eq(it_ledger(NULL, "catalog-set", "--program", program, "--item", "mug", "--name",
                               "Mug", "--price", "30", "--stock", "100", NULL),
                     0);
    const char *same[20];
    for (int i = 0; i < 20; i++) same[i] = "w";
    ck_assert_int_eq(redeem_concurrently(20, same, "mug"), 3); /* 100 / 30 */
    ck_assert_int_eq(balance("w", "available"), 10);
    ck_assert_int_eq(balance("w", "pending"), 90);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
}
END_TEST

START_TEST(one_last_item_many_wallets) {
    setup();
    const char *who[10];
    int64_t pts[10];
    char names[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof(names[i]), "u%d", i);
        who[i] = names[i];
        pts[i] = 500;
    }
    book("li", 10, who, pts, NULL);
    ck_assert_int_eq(it_ledger(NULL, "catalog-set", "--program", program, "--item", "tv", "--name",
                               "TV", "--price", "400", "--stock", "1", NULL),
                     0);
    ck_assert_int_eq(redeem_concurrently(10, who, "tv"), 1);
    PGconn *pg = it_pg();
    const char *params[] = {program};
    char *v = it_pg_value(pg,
                          "SELECT stock || '/' || (SELECT sum(pending) FROM balances WHERE"
                          " program_id = $1) FROM catalog WHERE program_id = $1",
                          1, params);
    ck_assert_str_eq(v, "0/400");
    free(v);
    v = it_pg_value(pg, "SELECT min(redemption_id) FROM redemptions WHERE program_id = $1", 1,
                    params);
    char *rid = v;
    /* reject returns the points and the item; fulfil of a settled one is refused */
    char *out;
    ck_assert_int_eq(it_ledger(&out, "reject", "--redemption", rid, "--reason", "no address", NULL),
                     0);
    free(out);
    v = it_pg_value(pg,
                    "SELECT stock || '/' || (SELECT sum(pending) || '/' || sum(available) FROM"
                    " balances WHERE program_id = $1) FROM catalog WHERE program_id = $1",
                    1, params);
    ck_assert_str_eq(v, "1/0/5000");
    free(v);
    ck_assert_int_eq(it_ledger(NULL, "fulfil", "--redemption", rid, "--log-level", "error", NULL),
                     3);
    free(rid);
    /* a second round, fulfilled */
    ck_assert_int_eq(redeem_concurrently(10, who, "tv"), 1);
    v = it_pg_value(pg, "SELECT max(redemption_id) FROM redemptions WHERE program_id = $1", 1,
                    params);
    ck_assert_int_eq(it_ledger(NULL, "fulfil", "--redemption", v, NULL), 0);
    free(v);
    v = it_pg_value(
        pg, "SELECT sum(redeemed) || '/' || sum(pending) FROM balances WHERE program_id = $1", 1,
        params);
    ck_assert_str_eq(v, "400/0");
    free(v);
    PQfinish(pg);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
}
END_TEST

START_TEST(refusals_are_clear) {
    setup();
    const char *who[] = {"r"};
    const int64_t pts[] = {10};
    book("rf", 1, who, pts, NULL);
    ck_assert_int_eq(it_ledger(NULL, "catalog-set", "--program", program, "--item", "pen", "--name",
                               "Pen", "--price", "50", "--stock", "1", NULL),
                     0);
    /* stderr carries the message; the exit code says refused */
    ck_assert_int_eq(it_ledger(NULL, "redeem", "--program", program, "--participant", "r", "--item",
                               "pen", "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(NULL, "redeem", "--program", program, "--participant", "ghost",
                               "--item", "pen", "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(NULL, "redeem", "--program", program, "--participant", "r", "--item",
                               "nothing", "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(NULL, "redeem", "--program", program, "--log-level", "error", NULL),
                     2);
    ck_assert_int_eq(balance("r", "available"), 10);
    ck_assert_int_eq(balance("r", "pending"), 0);
}
END_TEST

START_TEST(expiry_first_in_first_out) {
    setup();
    /* 100 earned in January 2025, 50 in June 2026; 30 spent */
    const char *who[] = {"x", "x"};
    const int64_t pts[] = {100, 50};
    const int64_t at[] = {1735732800000LL /* 2025-01-01T12:00Z */,
                          1780315200000LL /* 2026-06-01T12:00Z */};
    book("ex", 2, who, pts, at);
    ck_assert_int_eq(it_ledger(NULL, "catalog-set", "--program", program, "--item", "cap", "--name",
                               "Cap", "--price", "30", "--stock", "5", NULL),
                     0);
    ck_assert_int_eq(it_ledger(NULL, "redeem", "--program", program, "--participant", "x", "--item",
                               "cap", NULL),
                     0);
    ck_assert_int_eq(it_ledger(NULL, "expiry-set", "--program", program, "--months", "12", NULL),
                     0);
    char *out;
    /* as of 2026-07-01 the cutoff is 2025-07-01: of the 120 available, 50 were earned since */
    ck_assert_int_eq(
        it_ledger(&out, "expire", "--program", program, "--as-of", "2026-07-01T00:00:00Z", NULL),
        0);
    ck_assert_str_eq(out, "expired 70 points of 1 participants\n");
    free(out);
    ck_assert_int_eq(
        it_ledger(&out, "expire", "--program", program, "--as-of", "2026-07-01T00:00:00Z", NULL),
        0);
    ck_assert_str_eq(out, "expired 0 points of 0 participants\n");
    free(out);
    ck_assert_int_eq(balance("x", "available"), 50);
    ck_assert_int_eq(balance("x", "expired"), 70);
    ck_assert_int_eq(balance("x", "pending"), 30);
    ck_assert_int_eq(balance("x", "earned"), 150);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
}
END_TEST

/* A batch whose awards are partly booked already cannot go straight into
 * the book (the award's key refuses the direct COPY): it takes the staging
 * path, which books only the new ones. A second consumer group over the same
 * topic replays the three booked awards with two new ones in one batch. */
START_TEST(partly_booked_batch_books_only_the_new) {
    setup();
    const char *who[] = {"a", "b", "a"};
    const int64_t pts[] = {10, 20, 30};
    book("pb", 3, who, pts, NULL);
    const char *who2[] = {"a", "c"};
    const int64_t pts2[] = {1, 2};
    it_produce_awards(topic, program, "pb2", 2, who2, pts2, NULL);
    char again[128], *out;
    snprintf(again, sizeof(again), "%s.again", group);
    ck_assert_int_eq(it_ledger(&out, "run", "--topic", topic, "--group", again, "--until-drained",
                               "--log-level", "warn", NULL),
                     0);
    ck_assert_msg(strstr(out, "\"booked\":2,\"already_booked\":3,\"dead_lettered\":0"), "%s", out);
    free(out);
    ck_assert_int_eq(balance("a", "available"), 41);
    ck_assert_int_eq(balance("b", "earned"), 20);
    ck_assert_int_eq(balance("c", "available"), 2);
    /* and the first group, run again, finds nothing but the two new ones */
    ck_assert_int_eq(it_ledger(&out, "run", "--topic", topic, "--group", group, "--until-drained",
                               "--log-level", "warn", NULL),
                     0);
    ck_assert_msg(strstr(out, "\"booked\":0,\"already_booked\":2,"), "%s", out);
    free(out);
    ck_assert_int_eq(balance("a", "available"), 41);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
}
END_TEST

static void pg_do(PGconn *pg, const char *sql) {
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

/* Entries carry no foreign key to journal (migration 005): verify checks
 * instead that every entry has its journal transaction. In a database of its
 * own, as the orphan would fail every other test's verify meanwhile. */
START_TEST(orphan_entry_fails_verify) {
    char db[64], dsn[1024], sql[128];
    it_unique(db, sizeof(db), "orphan");
    for (char *c = db; *c; c++)
        if (*c == '-') *c = '_';
    PGconn *admin = it_pg();
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    pg_do(admin, sql);
    snprintf(dsn, sizeof(dsn), "%s dbname=%s", it_pg_dsn(), db); /* the last dbname wins */
    setenv("CARROT_PG_DSN", dsn, 1);
    ck_assert_int_eq(it_ledger(NULL, "migrate", NULL), 0);
    char *out;
    ck_assert_int_eq(it_ledger(&out, "verify", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "every entry has its journal transaction  ok"));
    free(out);
    PGconn *pg = PQconnectdb(dsn);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
    /* a transaction booked properly, then two entries (summing to zero, so
     * only the new check sees them) of a transaction that does not exist */
    pg_do(pg, "INSERT INTO journal (txn_id, program_id, kind, ref, participant_id)"
              " VALUES (1, 'p', 'award', 'a1', 'x')");
    pg_do(pg, "INSERT INTO entries VALUES (1, 'budget', -5), (1, 'wallet', 5)");
    pg_do(pg, "INSERT INTO balances (program_id, participant_id, earned, available)"
              " VALUES ('p', 'x', 5, 5)");
    pg_do(pg, "INSERT INTO entries VALUES (999, 'budget', -7), (999, 'wallet', 7)");
    ck_assert_int_eq(it_ledger(&out, "verify", "--log-level", "error", NULL), 3);
    ck_assert_msg(strstr(out, "every entry has its journal transaction  FAILED (2 rows)"), "%s",
                  out);
    ck_assert_ptr_nonnull(strstr(out, "every transaction balances               ok"));
    free(out);
    pg_do(pg, "DELETE FROM entries WHERE txn_id = 999");
    ck_assert_int_eq(it_ledger(&out, "verify", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "every entry has its journal transaction  ok"));
    free(out);
    PQfinish(pg);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s", db);
    pg_do(admin, sql);
    PQfinish(admin);
}
END_TEST

int main(void) {
    const TTest *tests[] = {booking_balances_and_audit, one_wallet_many_clients,
                            one_last_item_many_wallets, refusals_are_clear,
                            expiry_first_in_first_out,  partly_booked_batch_books_only_the_new,
                            orphan_entry_fails_verify,  NULL};
    return carrot_test_run(carrot_test_suite("wallet", tests));
}
