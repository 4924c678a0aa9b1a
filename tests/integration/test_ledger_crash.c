/* test_ledger_crash.c: the ledger killed with SIGKILL mid-batch again and
 * again, PostgreSQL and the Kafka broker each restarted under it, then run
 * to the end: the rows and points in PostgreSQL equal the awards topic
 * exactly, the stored offsets are the topic's ends (and Kafka's committed
 * offsets too, for lag tools), and the books balance.
 * Mid-batch is checked, not hoped for: before each kill the ledger is
 * stopped (SIGSTOP) and PostgreSQL must show its session inside a
 * transaction that has written (pg_stat_activity.backend_xid set: rows in
 * the staging table or the books, not yet committed); otherwise it is let go
 * on and caught later. */
#include "ittools.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 when the session named app is inside a transaction that has written. */
static int in_batch(PGconn *pg, const char *app) {
    const char *params[] = {app};
    PGresult *r = PQexecParams(pg,
                               "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                               " AND backend_xid IS NOT NULL",
                               1, NULL, params, NULL, NULL, 0);
    int yes = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return yes;
}

/* Waits (up to 180 s: after a broker restart the ledger first reconnects and
 * rejoins its group, which a loaded CI host can make slow) until pid is inside
 * a batch's transaction, stopped there, then kills it. Returns 1 for a kill
 * mid-batch, 0 when pid exited first. */
static int kill_mid_batch(pid_t pid, const char *app) {
    PGconn *pg = it_pg();
    int killed = 0, status;
    time_t deadline = time(NULL) + 180;
    while (!killed && time(NULL) < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) break; /* finished before we got to it */
        if (!in_batch(pg, app)) {
            sleep_ms(1);
            continue;
        }
        kill(pid, SIGSTOP);
        /* stopped: what PostgreSQL shows now is where the kill lands (a
         * commit already sent is processed and shows as no transaction) */
        sleep_ms(20);
        if (in_batch(pg, app)) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            killed = 1;
        } else
            kill(pid, SIGCONT);
    }
    PQfinish(pg);
    ck_assert_msg(killed || time(NULL) < deadline, "the ledger never opened a batch in 180 s");
    return killed;
}

START_TEST(kill_and_restart_change_no_total) {
    char program[48], topic[96], group[96];
    it_unique(program, sizeof(program), "kl");
    snprintf(topic, sizeof(topic), "%s.awards", program);
    snprintf(group, sizeof(group), "%s.ledger", program);
    it_create_topic(topic, 3, NULL);
    ck_assert_int_eq(it_ledger(NULL, "migrate", NULL), 0);

    /* fewer awards under valgrind, which is some 30 times slower */
    int n = getenv("CARROT_IT_WRAPPER") ? 4000 : 60000;
    const char **who = calloc((size_t)n, sizeof(*who));
    int64_t *pts = calloc((size_t)n, sizeof(*pts));
    char(*names)[16] = calloc(200, 16);
    long long want_sum = 0;
    srand(7);
    for (int i = 0; i < 200; i++) snprintf(names[i], 16, "p%03d", i);
    for (int i = 0; i < n; i++) {
        who[i] = names[rand() % 200];
        pts[i] = rand() % 56 - 5; /* penalties too */
        if (pts[i] == 0) pts[i] = 1;
        want_sum += pts[i];
    }
    /* The awards arrive in five parts, one before the start and one before each kill,
     * so every kill finds a batch to land in; the killed runs never stop by themselves
     * (no --until-drained), only the final one does. */
    const int parts = 5, part = n / parts;
    int produced = 0;
    char tag[16];
    it_produce_awards(topic, program, "kl0", part, who, pts, NULL);
    produced += part;

    char dsn[512];
    snprintf(dsn, sizeof(dsn), "%s application_name=%s", it_pg_dsn(), program);
    char *argv[] = {CARROT_LEDGER, "run",          "--topic", topic,      "--group",
                    group,         "--batch-size", "500",     "--pg-dsn", dsn,
                    "--log-level", "error",        NULL,      NULL};
    int kills = 0, pg_restarted = 0, kafka_restarted = 0;
    pid_t pid = it_spawn(argv);
    for (int round = 0; round < 6; round++) {
        sleep_ms(300 + rand() % 500);
        if (round == 2) { /* PostgreSQL goes away under the running ledger, and comes back */
            char cmd[4096];
            snprintf(cmd, sizeof(cmd),
                     "bash %s/deploy/postgres.sh stop >/dev/null 2>&1 && sleep 1 &&"
                     " bash %s/deploy/postgres.sh start >/dev/null 2>&1",
                     CARROT_SOURCE_DIR, CARROT_SOURCE_DIR);
            ck_assert_int_eq(system(cmd), 0);
            pg_restarted = 1;
            continue;
        }
        if (round == 4) { /* and so does the Kafka broker */
            char cmd[4096];
            snprintf(cmd, sizeof(cmd),
                     "bash %s/deploy/kafka.sh stop >/dev/null 2>&1 &&"
                     " bash %s/deploy/kafka.sh start >/dev/null 2>&1",
                     CARROT_SOURCE_DIR, CARROT_SOURCE_DIR);
            ck_assert_int_eq(system(cmd), 0);
            kafka_restarted = 1;
            continue;
        }
        int count = kills + 2 == parts ? n - produced : part; /* the last part: the rest */
        snprintf(tag, sizeof(tag), "kl%d", kills + 1);
        it_produce_awards(topic, program, tag, count, who + produced, pts + produced, NULL);
        produced += count;
        ck_assert_msg(kill_mid_batch(pid, program), "the ledger exited before kill %d", kills + 1);
        kills++;
        if (round < 5) pid = it_spawn(argv);
    }
    ck_assert_int_eq(produced, n);
    /* the final run, to the end */
    argv[12] = "--until-drained";
    pid = it_spawn(argv);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "final ledger run failed");
    ck_assert_msg(kills == 4, "%d kills mid-batch, expected 4", kills); /* rounds 0, 1, 3, 5 */
    ck_assert(pg_restarted);
    ck_assert(kafka_restarted);

    PGconn *pg = it_pg();
    const char *params[] = {program};
    char *v = it_pg_value(
        pg, "SELECT count(*) || '/' || sum(points) FROM awards WHERE program_id = $1", 1, params);
    char want[64];
    snprintf(want, sizeof(want), "%d/%lld", n, want_sum);
    ck_assert_str_eq(v, want);
    free(v);
    v = it_pg_value(pg, "SELECT sum(available) FROM balances WHERE program_id = $1", 1, params);
    ck_assert_int_eq(atoll(v), want_sum);
    free(v);
    const char *op[] = {group, topic};
    v = it_pg_value(pg,
                    "SELECT sum(next_offset) FROM kafka_offsets WHERE consumer_group = $1"
                    " AND topic = $2",
                    2, op);
    ck_assert_int_eq(atoll(v), n); /* every message of the topic, each exactly once */
    free(v);
    PQfinish(pg);
    ck_assert_int_eq(it_committed_sum(group, topic), n);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
    free(who);
    free(pts);
    free(names);
}
END_TEST

int main(void) {
    const TTest *tests[] = {kill_and_restart_change_no_total, NULL};
    return carrot_test_run(carrot_test_suite("ledger_crash", tests));
}
