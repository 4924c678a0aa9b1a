/* test_commitments.c: the arithmetic of accountability, without services:
 * period bounds in a program's time zone (a DST change, ISO week 53) and
 * pacing of every metric kind, during a period and after it. */
#include "carrot/commitments.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "testutil.h"

#include <string.h>

static int64_t at(const char *t) {
    int64_t ms;
    ck_assert_int_eq(carrot_time_parse(t, &ms), 0);
    return ms;
}

#define HOUR 3600000LL

/* A week, a month and ISO week 53 from their ids, in Chicago. */
START_TEST(period_ids_have_local_bounds) {
    carrot_period_t p;
    int64_t start, end;
    /* 2026-W44: Monday Oct 26 to Monday Nov 2; DST ends Sunday Nov 1: 169 hours */
    ck_assert_int_eq(carrot_period_of_id("w:2026-W44", "America/Chicago", &p, &start, &end), 0);
    ck_assert_int_eq(p, CARROT_PERIOD_WEEK);
    ck_assert_int_eq(start, at("2026-10-26T00:00:00-05:00"));
    ck_assert_int_eq(end, at("2026-11-02T00:00:00-06:00"));
    ck_assert_int_eq(end - start, 169 * HOUR);
    /* 2026 has 53 ISO weeks: W53 runs Dec 28 to Jan 4 2027 */
    ck_assert_int_eq(carrot_period_of_id("w:2026-W53", "America/Chicago", &p, &start, &end), 0);
    ck_assert_int_eq(start, at("2026-12-28T00:00:00-06:00"));
    ck_assert_int_eq(end, at("2027-01-04T00:00:00-06:00"));
    char id[32], prev[32];
    ck_assert_int_eq(carrot_period_of(CARROT_PERIOD_WEEK, at("2027-01-01T12:00:00-06:00"),
                                      "America/Chicago", id, sizeof(id), NULL),
                     0);
    ck_assert_str_eq(id, "w:2026-W53");
    ck_assert_int_eq(carrot_period_previous("w:2027-W01", prev, sizeof(prev)), 0);
    ck_assert_str_eq(prev, "w:2026-W53");
    /* 2027 has 52: its week 53 does not exist */
    ck_assert_int_eq(carrot_period_of_id("w:2027-W53", "America/Chicago", &p, &start, &end), -1);
    /* March 2026 springs forward: 743 hours */
    ck_assert_int_eq(carrot_period_of_id("m:2026-03", "America/Chicago", &p, &start, &end), 0);
    ck_assert_int_eq(p, CARROT_PERIOD_MONTH);
    ck_assert_int_eq(end - start, (31 * 24 - 1) * HOUR);
    ck_assert_int_eq(carrot_period_of_id("q:2026-Q4", "UTC", &p, &start, &end), 0);
    ck_assert_int_eq(start, at("2026-10-01T00:00:00Z"));
    ck_assert_int_eq(end, at("2027-01-01T00:00:00Z"));
    ck_assert_int_eq(carrot_period_of_id("d:2026-11-01", "America/Chicago", &p, &start, &end), 0);
    ck_assert_int_eq(end - start, 25 * HOUR);
    /* the span of a moment agrees with the span of its id */
    int64_t s2, e2;
    ck_assert_int_eq(carrot_period_span(CARROT_PERIOD_WEEK, at("2026-10-29T09:00:00-05:00"),
                                        "America/Chicago", id, sizeof(id), &s2, &e2),
                     0);
    ck_assert_str_eq(id, "w:2026-W44");
    ck_assert_int_eq(s2, at("2026-10-26T00:00:00-05:00"));
    ck_assert_int_eq(e2, at("2026-11-02T00:00:00-06:00"));
    const char *bad[] = {"ptd", "w:2026-W54", "x:2026", "m:2026-13", "", "d:2026-02-30"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(carrot_period_of_id(bad[i], "UTC", &p, &start, &end) == -1, "%s", bad[i]);
    ck_assert_int_eq(carrot_period_of_id("w:2026-W44", "Mars/Olympus", &p, &start, &end), -1);
}
END_TEST

/* What is due grows with real time, across the week's extra hour. */
START_TEST(pace_counts_across_dst) {
    int64_t start = at("2026-10-26T00:00:00-05:00"), end = at("2026-11-02T00:00:00-06:00");
    carrot_pace_t p;
    /* 48 of 169 hours: 15 * 48 / 169 = 4.26, so 4 are due */
    carrot_pace(CARROT_COMMIT_COUNT, 15, 4, 0, start, end, start + 48 * HOUR, &p);
    ck_assert_int_eq(p.expected, 4);
    ck_assert_int_eq(p.state, CARROT_PACE_ON_TRACK);
    ck_assert(p.elapsed > 0.284 && p.elapsed < 0.285);
    carrot_pace(CARROT_COMMIT_COUNT, 15, 3, 0, start, end, start + 48 * HOUR, &p);
    ck_assert_int_eq(p.state, CARROT_PACE_BEHIND);
    ck_assert_str_eq(carrot_pace_state_name(p.state), "behind");
    /* Sunday Nov 1, 23:00 local: 168 of 169 hours (a naive 7 x 24 would say the week is over) */
    carrot_pace(CARROT_COMMIT_COUNT, 169, 167, 0, start, end, at("2026-11-01T23:00:00-06:00"), &p);
    ck_assert_int_eq(p.expected, 168);
    ck_assert_int_eq(p.state, CARROT_PACE_BEHIND);
    /* reaching the target is met at once, and stays met */
    carrot_pace(CARROT_COMMIT_POINTS, 100, 100, 0, start, end, start + HOUR, &p);
    ck_assert_int_eq(p.state, CARROT_PACE_MET);
    /* before the start nothing is due; after the end all of it, and short is missed */
    carrot_pace(CARROT_COMMIT_COUNT, 15, 0, 0, start, end, start - HOUR, &p);
    ck_assert_int_eq(p.expected, 0);
    ck_assert_int_eq(p.state, CARROT_PACE_ON_TRACK);
    carrot_pace(CARROT_COMMIT_COUNT, 15, 14, 0, start, end, end, &p);
    ck_assert_int_eq(p.expected, 15);
    ck_assert_int_eq(p.state, CARROT_PACE_MISSED);
    ck_assert_str_eq(carrot_pace_state_name(CARROT_PACE_MISSED), "missed");
    ck_assert_str_eq(carrot_pace_state_name((carrot_pace_state_t)9), "?");
}
END_TEST

/* Shares: the target percent of what was judged; nothing judged is no miss
 * until the period ends. */
START_TEST(pace_shares) {
    int64_t start = at("2026-12-28T00:00:00-06:00"), end = at("2027-01-04T00:00:00-06:00");
    int64_t mid = at("2027-01-01T12:00:00-06:00");
    carrot_pace_t p;
    carrot_pace(CARROT_COMMIT_COMPLETE, 80, 0, 0, start, end, mid, &p);
    ck_assert_int_eq(p.share_pct, -1);
    ck_assert_int_eq(p.expected, 80);
    ck_assert_int_eq(p.state, CARROT_PACE_ON_TRACK);
    carrot_pace(CARROT_COMMIT_COMPLETE, 80, 7, 9, start, end, mid, &p); /* 77 % */
    ck_assert_int_eq(p.share_pct, 77);
    ck_assert_int_eq(p.state, CARROT_PACE_BEHIND);
    carrot_pace(CARROT_COMMIT_ON_TIME, 80, 8, 10, start, end, mid, &p);
    ck_assert_int_eq(p.state, CARROT_PACE_ON_TRACK); /* a share is met only at the close */
    carrot_pace(CARROT_COMMIT_ON_TIME, 80, 8, 10, start, end, end, &p);
    ck_assert_int_eq(p.state, CARROT_PACE_MET);
    carrot_pace(CARROT_COMMIT_ON_TIME, 80, 0, 0, start, end, end, &p);
    ck_assert_int_eq(p.state, CARROT_PACE_MISSED);
    ck_assert(carrot_commit_is_met(CARROT_COMMIT_COMPLETE, 80, 4, 5));
    ck_assert(!carrot_commit_is_met(CARROT_COMMIT_COMPLETE, 80, 79, 100));
    ck_assert(!carrot_commit_is_met(CARROT_COMMIT_COMPLETE, 1, 0, 0));
    ck_assert(carrot_commit_is_met(CARROT_COMMIT_COUNT, 15, 15, 0));
    ck_assert(!carrot_commit_is_met(CARROT_COMMIT_POINTS, 15, 14, 0));
}
END_TEST

int main(void) {
    const TTest *tests[] = {period_ids_have_local_bounds, pace_counts_across_dst, pace_shares,
                            NULL};
    return carrot_test_run(carrot_test_suite("commitments", tests));
}
