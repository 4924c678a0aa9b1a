/* test_timeutil.c: strict RFC 3339 parsing and formatting. */
#include "testutil.h"
#include "timeutil.h"

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
    const char *bad[] = {"", "yesterday", "2026-11-02T14:03:00", "2026-02-30", "2025-02-29",
                         "2026-13-01T00:00:00Z", "2026-11-02T24:00:00Z", "2026-11-02T14:03:00Zjunk",
                         "2026-11-02T14:03:00.Z", "20261102", NULL};
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

int main(void) {
    const TTest *tests[] = {parses_zones_fractions_and_dates, rejects_ambiguous_and_invalid,
                            formats_round_trip, NULL};
    return carrot_test_run(carrot_test_suite("timeutil", tests));
}
