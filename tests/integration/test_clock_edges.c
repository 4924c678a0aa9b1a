/* test_clock_edges.c: the scorer at the edges of time, on the real services.
 * A program in Asia/Kolkata (UTC+05:30, so local midnight is not UTC's) is
 * scored by processes whose clock is shifted (CARROT_TEST_CLOCK_SHIFT) to
 * 20 s before the next local Monday 00:00, T. Across T, during the run:
 * - the oldest day board of the feed, whose own retention ends exactly at T,
 *   keeps taking points after T: its quarter's board (a sum of day boards)
 *   keeps it, and it expires when the longest keeping of its periods does;
 * - a day, a week and a daily cap roll over in the program's time zone;
 * - carrot-leaderboard's "now" moves to the new week with the clock.
 * Redis and Kafka keep the real clock: the shift is forward, so Redis holds
 * every key at least as long as the scorer's clock says, and the scorer
 * decides what has expired. Board names are worked out here from the
 * clock, independently of libcarrot's period code; the oldest day's keeping
 * takes its periods' ends from carrot_period_of (checked against the
 * calendar by the unit tests). */
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "ittools.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IST_MS 19800000LL /* Asia/Kolkata: UTC+05:30 all year, no DST */
#define DAY_MS 86400000LL

static int64_t delta_ms; /* the children's clock minus this process's */

static int64_t child_now(void) { return carrot_time_now_ms() + delta_ms; }

/* The all-scope boards of t's local (IST) day and ISO week, as the scorer names them. */
static void ist_day(int64_t t, char *buf, size_t size) {
    char iso[40];
    carrot_time_format(t + IST_MS, iso, sizeof(iso));
    snprintf(buf, size, "d:%.10s:all", iso);
}

static void ist_week(int64_t t, char *buf, size_t size) {
    time_t s = (time_t)((t + IST_MS) / 1000);
    struct tm tm;
    ck_assert_ptr_nonnull(gmtime_r(&s, &tm));
    char w[16];
    ck_assert_uint_gt(strftime(w, sizeof(w), "%G-W%V", &tm), 0);
    snprintf(buf, size, "w:%s:all", w);
}

/* Waits (up to 60 s) until who has want points program to date. */
static void wait_ptd(redisContext *rc, const char *program, const char *who, long long want) {
    long long got = 0;
    for (int i = 0; i < 600 && (got = it_zscore(rc, program, "ptd:all", who)) != want; i++)
        usleep(100000);
    ck_assert_msg(got == want, "%s has %lld points program to date, want %lld", who, got, want);
}

static void call(char *buf, size_t size, size_t *len, const char *program, const char *id,
                 const char *who, int64_t at) {
    char t[40];
    carrot_time_format(at, t, sizeof(t));
    *len += (size_t)snprintf(
        buf + *len, size - *len,
        "{\"event_id\":\"%s\",\"program_id\":\"%s\",\"activity_type\":\"call\","
        "\"occurred_at\":\"%s\",\"participant_id\":\"%s\"}\n",
        id, program, t, who);
    ck_assert_uint_lt(*len, size);
}

static void ingest(const char *feed, const char *topic, const char *dlq) {
    char *path = it_write_temp(feed);
    char *argv[] = {CARROT_INGEST, "--input",     path,        "--topic",
                    (char *)topic, "--dlq-topic", (char *)dlq, NULL};
    ck_assert_int_eq(it_run(argv, NULL), 0);
    unlink(path);
    free(path);
}

START_TEST(expiry_and_period_boundary_during_the_run) {
    it_topics_t t;
    it_topics(&t, "ck", 2, 1);
    char *program = t.program, *act = t.act, *dlq = t.dlq, *awards = t.awards, *rtopic = t.rules,
         *group = t.group, buf[4096];

    /* T: the first local Monday 00:00 at least a minute from now; the children start
     * `lead` before it (more under a slow wrapper such as valgrind) */
    const int64_t lead = getenv("CARROT_IT_WRAPPER") ? 120000 : 20000;
    int64_t now = carrot_time_now_ms();
    int64_t local_day = (now + 60000 + IST_MS) / DAY_MS; /* 1970-01-01 was a Thursday */
    int64_t monday = local_day + (7 - (local_day + 3) % 7);
    const int64_t T = monday * DAY_MS - IST_MS;
    delta_ms = (T - lead - now) / 1000 * 1000;
    int64_t outer = carrot_time_shift_ms() > 0 ? carrot_time_shift_ms() : 0;
    char shift[32];
    snprintf(shift, sizeof(shift), "+%llds", (long long)((outer + delta_ms) / 1000));
    const char *was = getenv("CARROT_TEST_CLOCK_SHIFT");
    char *outer_text = was ? strdup(was) : NULL;
    ck_assert_int_eq(setenv("CARROT_TEST_CLOCK_SHIFT", shift, 1), 0);

    /* the oldest day of the feed: its own keeping (35 days after it ends) is over at T,
     * but its board is kept while its week's, month's or quarter's is (they are summed
     * from the day boards): the longest of the four */
    const int64_t old_day = T - 36 * DAY_MS;
    static const long long keep_days[4] = {35, 91, 400, 800}; /* the rules' below */
    long long old_keep = 0;
    for (int p = 0; p < 4; p++) {
        char id[32];
        int64_t end;
        ck_assert_int_eq(
            carrot_period_of((carrot_period_t)p, old_day, "Asia/Kolkata", id, sizeof(id), &end), 0);
        if (end / 1000 + keep_days[p] * 86400 > old_keep)
            old_keep = end / 1000 + keep_days[p] * 86400;
    }
    ck_assert_int_gt(old_keep, T / 1000);
    char d_old[32], w_old[32], d_sun[32], d_mon[32], w_sun[32], w_mon[32];
    ist_day(old_day, d_old, sizeof(d_old));
    ist_week(old_day, w_old, sizeof(w_old));
    ist_day(T - 1, d_sun, sizeof(d_sun));
    ist_day(T, d_mon, sizeof(d_mon));
    ist_week(T - 1, w_sun, sizeof(w_sun));
    ist_week(T, w_mon, sizeof(w_mon));
    ck_assert_str_ne(w_sun, w_mon);

    snprintf(
        buf, sizeof(buf),
        "program: %s\nversion: v1\ntimezone: Asia/Kolkata\n"
        "kpis:\n  - {id: call, when: {activity: call}, points: 5, cap: {period: day, points: 10}}\n"
        "retention_days: {day: 35, week: 91, month: 400, quarter: 800}\n",
        program);
    char *rules = it_write_temp(buf);
    char *scorer[] = {CARROT_SCORER,    "--topic", act,       "--dlq-topic",   dlq,
                      "--awards-topic", awards,    "--group", group,           "--instance",
                      program,          "--rules", rules,     "--rules-topic", rtopic,
                      "--batch-ms",     "20",      NULL};
    pid_t pid = it_spawn(scorer);
    redisContext *rc = it_redis();

    /* before T: a call on the oldest day, and three on Sunday evening (the cap takes
     * the third) */
    size_t len = 0;
    call(buf, sizeof(buf), &len, program, "old-1", "ann", old_day + 10 * 3600000LL);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "sun-%d", i);
        call(buf, sizeof(buf), &len, program, id, "bob", child_now());
    }
    ingest(buf, act, dlq);
    wait_ptd(rc, program, "ann", 5);
    wait_ptd(rc, program, "bob", 10);
    ck_assert_msg(child_now() < T - 1000,
                  "the first round was scored only %lld ms before the boundary it must precede",
                  (long long)(T - child_now()));
    ck_assert_int_eq(it_zscore(rc, program, d_old, "ann"), 5);
    ck_assert_int_eq(it_expiretime(rc, program, d_old), old_keep);
    ck_assert_int_eq(it_zscore(rc, program, d_sun, "bob"), 10);
    ck_assert_int_eq(it_zscore(rc, program, w_sun, "bob"), 10);

    /* after T: the oldest day is past its own keeping by the scorer's clock, yet still
     * counts (its quarter keeps it); Monday has a day, a week and a cap of its own */
    int64_t wait = T + 2000 - child_now();
    if (wait > 0) usleep((useconds_t)(wait * 1000));
    len = 0;
    call(buf, sizeof(buf), &len, program, "old-2", "ann", old_day + 11 * 3600000LL);
    call(buf, sizeof(buf), &len, program, "mon-0", "bob", child_now());
    ingest(buf, act, dlq);
    wait_ptd(rc, program, "ann", 10);
    wait_ptd(rc, program, "bob", 15);
    ck_assert_int_eq(it_zscore(rc, program, d_old, "ann"), 10);
    ck_assert_int_eq(it_zscore(rc, program, w_old, "ann"), 10);
    ck_assert_int_eq(it_zscore(rc, program, d_sun, "bob"), 10);
    ck_assert_int_eq(it_zscore(rc, program, w_sun, "bob"), 10);
    ck_assert_int_eq(it_zscore(rc, program, d_mon, "bob"), 5);
    ck_assert_int_eq(it_zscore(rc, program, w_mon, "bob"), 5);

    /* the awards: every call booked once, the cap's line negative */
    it_award_t *aw;
    size_t n = it_read_awards(awards, &aw);
    long long ann = 0, bob = 0, caps = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(aw[i].participant_id, "ann")) ann += aw[i].points;
        if (!strcmp(aw[i].participant_id, "bob")) bob += aw[i].points;
        if (!strcmp(aw[i].rule_id, "cap.call")) caps += aw[i].points;
    }
    it_awards_free(aw, n);
    ck_assert_int_eq(ann, 10);
    ck_assert_int_eq(bob, 15);
    ck_assert_int_eq(caps, -5);

    /* the leaderboard's "now" is the shifted clock's: this week is the new one */
    char *out;
    char *lb[] = {CARROT_LEADERBOARD, "--program", program, "--period", "week",
                  "--format",         "json",      NULL};
    ck_assert_int_eq(it_run(lb, &out), 0);
    snprintf(buf, sizeof(buf), "\"board\":\"%s\"", w_mon);
    ck_assert_msg(strstr(out, buf) && strstr(out, "\"total_points\":5"), "%s", out);
    free(out);
    char *lb_before[] = {
        CARROT_LEADERBOARD, "--program", program, "--period", "week", "--at", "-1h",
        "--format",         "json",      NULL};
    ck_assert_int_eq(it_run(lb_before, &out), 0);
    snprintf(buf, sizeof(buf), "\"board\":\"%s\"", w_sun);
    ck_assert_msg(strstr(out, buf) && strstr(out, "\"total_points\":10"), "%s", out);
    free(out);

    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (outer_text) setenv("CARROT_TEST_CLOCK_SHIFT", outer_text, 1);
    else
        unsetenv("CARROT_TEST_CLOCK_SHIFT");
    free(outer_text);
    redisFree(rc);
    unlink(rules);
    free(rules);
}
END_TEST

int main(void) {
    const TTest *tests[] = {expiry_and_period_boundary_during_the_run, NULL};
    return carrot_test_run(carrot_test_suite("clock_edges", tests));
}
