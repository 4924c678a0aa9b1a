/* test_timeutil.c: strict RFC 3339 parsing and formatting, durations, the
 * period before a period,
 * command-line times relative to now, and the test clock shift. */
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(parses_zones_fractions_and_dates) {
    int64_t ms;
    ck_assert_int_eq(carrot_time_parse("1970-01-01T00:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(carrot_time_parse("2026-11-02T14:03:00.250Z", &ms), 0);
    ck_assert_int_eq(ms, 1793628180250LL);
    ck_assert_int_eq(carrot_time_parse("2026-11-02T16:03:00.25+02:00", &ms), 0);
    ck_assert_int_eq(ms, 1793628180250LL);
    ck_assert_int_eq(carrot_time_parse("2026-11-02 09:03:00-0500", &ms), 0);
    ck_assert_int_eq(ms, 1793628180000LL);
    /* a date alone is UTC midnight, as Salesforce's ActivityDate */
    ck_assert_int_eq(carrot_time_parse("2024-02-29", &ms), 0);
    ck_assert_int_eq(ms, 1709164800000LL);
}
END_TEST

START_TEST(rejects_ambiguous_and_invalid) {
    int64_t ms;
    const char *bad[] = {"",
                         "yesterday",
                         "2026-11-02T14:03:00",
                         "2026-02-30",
                         "2025-02-29",
                         "2026-13-01T00:00:00Z",
                         "2026-11-02T24:00:00Z",
                         "2026-11-02T14:03:00Zjunk",
                         "2026-11-02T14:03:00.Z",
                         "20261102",
                         NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(carrot_time_parse(bad[i], &ms) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(formats_round_trip) {
    char buf[40];
    int64_t values[] = {0, 1793628180250LL, 1709164800000LL, -1, 4102444799999LL};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        int64_t back;
        carrot_time_format(values[i], buf, sizeof(buf));
        ck_assert_int_eq(carrot_time_parse(buf, &back), 0);
        ck_assert_int_eq(back, values[i]);
    }
    carrot_time_format(1793628180250LL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2026-11-02T14:03:00.250Z");
}
END_TEST

START_TEST(durations) {
    int64_t ms;
    ck_assert_int_eq(carrot_duration_parse("14d", &ms), 0);
    ck_assert_int_eq(ms, 14 * 86400000LL);
    ck_assert_int_eq(carrot_duration_parse("90m", &ms), 0);
    ck_assert_int_eq(ms, 5400000);
    ck_assert_int_eq(carrot_duration_parse("2w", &ms), 0);
    ck_assert_int_eq(ms, 1209600000);
    ck_assert_int_eq(carrot_duration_parse("0s", &ms), 0);
    ck_assert_int_eq(ms, 0);
    const char *bad[] = {"",
                         "d",
                         "14",
                         "14x",
                         "14dd",
                         "-1d",
                         "1.5h",
                         " 1d",
                         "99999999999999999999d",
                         "100000000000w",
                         NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(carrot_duration_parse(bad[i], &ms) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(cli_times_relative_to_now) {
    const int64_t now = 1793628180250LL; /* 2026-11-02T14:03:00.250Z */
    int64_t ms;
    ck_assert_int_eq(carrot_time_parse_cli("now", now, &ms), 0);
    ck_assert_int_eq(ms, now);
    ck_assert_int_eq(carrot_time_parse_cli("-14d", now, &ms), 0);
    ck_assert_int_eq(ms, now - 14 * 86400000LL);
    ck_assert_int_eq(carrot_time_parse_cli("now-36h", now, &ms), 0);
    ck_assert_int_eq(ms, now - 36 * 3600000LL);
    ck_assert_int_eq(carrot_time_parse_cli("+1h", now, &ms), 0);
    ck_assert_int_eq(ms, now + 3600000LL);
    ck_assert_int_eq(carrot_time_parse_cli("2026-11-02T08:00:00Z", now, &ms), 0);
    ck_assert_int_eq(ms, 1793606400000LL);
    const char *bad[] = {"", "nowish", "now2026-11-02", "-", "-14", "yesterday", "now+", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(carrot_time_parse_cli(bad[i], now, &ms) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(carrot_time_parse_cli(NULL, now, &ms), -1);
}
END_TEST

/* The shift is read once per process, so each case runs in a child. */
static int64_t shift_in_child(const char *value) {
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (value) setenv("CARROT_TEST_CLOCK_SHIFT", value, 1);
        else
            unsetenv("CARROT_TEST_CLOCK_SHIFT");
        int64_t before = carrot_time_wall_ms(), now = carrot_time_now_ms();
        int64_t out[2] = {carrot_time_shift_ms(), now - before};
        _exit(write(fd[1], out, sizeof(out)) == sizeof(out) ? 0 : 1);
    }
    int64_t got[2] = {0, 0};
    close(fd[1]);
    ck_assert_int_eq(read(fd[0], got, sizeof(got)), (ssize_t)sizeof(got));
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the program's clock is the wall clock plus the shift (within a second of work) */
    int64_t applied = got[0] > 0 ? got[0] : 0;
    ck_assert_msg(got[1] >= applied && got[1] < applied + 1000, "shift %lld, now - wall %lld",
                  (long long)got[0], (long long)got[1]);
    return got[0];
}

START_TEST(test_clock_shift) {
    ck_assert_int_eq(shift_in_child(NULL), 0);
    ck_assert_int_eq(shift_in_child(""), 0);
    ck_assert_int_eq(shift_in_child("+60d"), 60 * 86400000LL);
    ck_assert_int_eq(shift_in_child("+3600s"), 3600000LL);
    /* forward only: Redis and Kafka keep the real clock */
    ck_assert_int_eq(shift_in_child("-60d"), -1);
    ck_assert_int_eq(shift_in_child("60d"), -1);
    ck_assert_int_eq(shift_in_child("+soon"), -1);
}
END_TEST

START_TEST(previous_periods) {
    static const char *const cases[][2] = {
        {"d:2026-03-01", "d:2026-02-28"}, {"d:2028-03-01", "d:2028-02-29"},
        {"d:2027-01-01", "d:2026-12-31"}, {"d:2026-11-22", "d:2026-11-21"},
        {"w:2026-W47", "w:2026-W46"},     {"w:2027-W01", "w:2026-W53"}, /* 2026 has 53 */
        {"w:2026-W01", "w:2025-W52"},     {"w:2026-W53", "w:2026-W52"},
        {"m:2026-01", "m:2025-12"},       {"m:2026-11", "m:2026-10"},
        {"q:2026-Q1", "q:2025-Q4"},       {"q:2026-Q4", "q:2026-Q3"}};
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(carrot_period_previous(cases[i][0], out, sizeof(out)) == 0, "%s refused",
                      cases[i][0]);
        ck_assert_str_eq(out, cases[i][1]);
    }
    /* the week before a period's first day is the period of that day minus a week */
    int64_t ms;
    char now[32], before[32];
    ck_assert_int_eq(carrot_time_parse("2027-01-04T12:00:00Z", &ms), 0);
    ck_assert_int_eq(carrot_period_of(CARROT_PERIOD_WEEK, ms, "UTC", now, sizeof(now), NULL), 0);
    ck_assert_int_eq(carrot_period_of(CARROT_PERIOD_WEEK, ms - 7 * 86400000LL, "UTC", before,
                                      sizeof(before), NULL),
                     0);
    ck_assert_int_eq(carrot_period_previous(now, out, sizeof(out)), 0);
    ck_assert_str_eq(out, before);
    static const char *const bad[] = {
        "ptd",       "d:2026-02-30", "d:2026-13-01",  "w:2025-W53", "w:2026-W00", "m:2026-00",
        "q:2026-Q5", "d:2026-1-01",  "d:2026-11-22x", "",           "x:2026-01",  "q:0001-Q1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(carrot_period_previous(bad[i], out, sizeof(out)) == -1, "%s taken", bad[i]);
}
END_TEST

/* The days of a week, month or quarter: the calendar's, and each one's
 * period is the one asked for (carrot_period_of at the day's noon). */
START_TEST(period_days) {
    static const struct {
        const char *id, *first, *last;
        int n;
    } cases[] = {{"w:2026-W47", "d:2026-11-16", "d:2026-11-22", 7},
                 {"w:2026-W53", "d:2026-12-28", "d:2027-01-03", 7},
                 {"w:2026-W01", "d:2025-12-29", "d:2026-01-04", 7},
                 {"m:2028-02", "d:2028-02-01", "d:2028-02-29", 29},
                 {"m:2026-12", "d:2026-12-01", "d:2026-12-31", 31},
                 {"q:2026-Q4", "d:2026-10-01", "d:2026-12-31", 92},
                 {"q:2026-Q1", "d:2026-01-01", "d:2026-03-31", 90}};
    char days[CARROT_PERIOD_MAX_DAYS][16];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = carrot_period_days(cases[i].id, days, CARROT_PERIOD_MAX_DAYS);
        ck_assert_msg(n == cases[i].n, "%s: %d days", cases[i].id, n);
        ck_assert_str_eq(days[0], cases[i].first);
        ck_assert_str_eq(days[n - 1], cases[i].last);
        carrot_period_t p = cases[i].id[0] == 'w'   ? CARROT_PERIOD_WEEK
                            : cases[i].id[0] == 'm' ? CARROT_PERIOD_MONTH
                                                    : CARROT_PERIOD_QUARTER;
        for (int d = 0; d < n; d++) {
            char at[32], id[32];
            int64_t ms;
            snprintf(at, sizeof(at), "%.10sT12:00:00Z", days[d] + 2);
            ck_assert_int_eq(carrot_time_parse(at, &ms), 0);
            ck_assert_int_eq(carrot_period_of(p, ms, "UTC", id, sizeof(id), NULL), 0);
            ck_assert_msg(strcmp(id, cases[i].id) == 0, "%s is in %s, not %s", days[d], id,
                          cases[i].id);
        }
    }
    ck_assert_int_eq(carrot_period_days("q:2026-Q4", days, 91), -1); /* no room */
    static const char *const bad[] = {"ptd",       "d:2026-11-22", "w:2025-W53",
                                      "m:2026-13", "q:2026-Q0",    ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(carrot_period_days(bad[i], days, CARROT_PERIOD_MAX_DAYS) == -1, "%s taken",
                      bad[i]);
}
END_TEST

int main(void) {
    const TTest *tests[] = {period_days,
                            parses_zones_fractions_and_dates,
                            rejects_ambiguous_and_invalid,
                            formats_round_trip,
                            durations,
                            cli_times_relative_to_now,
                            test_clock_shift,
                            previous_periods,
                            NULL};
    return carrot_test_run(carrot_test_suite("timeutil", tests));
}
