/* test_kafka_lag.c: consumer lag gauges from librdkafka's statistics JSON. */
#include "carrot/kafka_lag.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shape librdkafka writes (STATISTICS.md), trimmed to what is read. */
static const char *stats(long long lag0, const char *state1) {
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"name\":\"c#consumer-1\",\"type\":\"consumer\",\"topics\":{\"crm.activities\":"
             "{\"topic\":\"crm.activities\",\"partitions\":{"
             "\"0\":{\"partition\":0,\"fetch_state\":\"active\",\"committed_offset\":90,"
             "\"hi_offset\":101,\"ls_offset\":100,\"consumer_lag\":%lld},"
             "\"1\":{\"partition\":1,\"fetch_state\":\"%s\",\"committed_offset\":5,"
             "\"hi_offset\":9,\"ls_offset\":9,\"consumer_lag\":4},"
             "\"-1\":{\"partition\":-1,\"fetch_state\":\"none\",\"consumer_lag\":-1}}}}}",
             lag0, state1);
    return buf;
}

static double sample(const char *text, const char *series) {
    const char *p = strstr(text, series);
    ck_assert_msg(p != NULL, "no %s in %s", series, text);
    return strtod(p + strlen(series), NULL);
}

#define P0 "{group=\"g\",topic=\"crm.activities\",partition=\"0\"} "
#define P1 "{group=\"g\",topic=\"crm.activities\",partition=\"1\"} "

START_TEST(lag_from_statistics) {
    char errstr[256];
    carrot_metrics_t *m = carrot_metrics_new();
    carrot_lag_t *l = carrot_lag_new(m, "g");
    carrot_lag_seen(l, "crm.activities", 0, 1000000);
    ck_assert_int_eq(carrot_lag_stats(l, stats(10, "active"), strlen(stats(10, "active")), 1012500,
                                      errstr, sizeof(errstr)),
                     0);
    char *text = carrot_metrics_render(m);
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_messages" P0), 10);
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_seconds" P0), 12.5);
    ck_assert_double_eq(sample(text, "carrot_consumer_committed_offset" P0), 90);
    ck_assert_double_eq(sample(text, "carrot_consumer_end_offset" P0), 100); /* the LSO */
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_messages" P1), 4);
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_seconds" P1), 0); /* nothing seen */
    ck_assert_ptr_null(strstr(text, "partition=\"-1\""));
    free(text);
    /* caught up: 0 s; a partition handed to another member: 0 here */
    ck_assert_int_eq(carrot_lag_stats(l, stats(0, "none"), strlen(stats(0, "none")), 1099999,
                                      errstr, sizeof(errstr)),
                     0);
    text = carrot_metrics_render(m);
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_messages" P0), 0);
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_seconds" P0), 0);
    ck_assert_double_eq(sample(text, "carrot_consumer_lag_messages" P1), 0);
    free(text);
    carrot_lag_destroy(l);
    carrot_metrics_destroy(m);
}
END_TEST

START_TEST(bad_statistics_refused) {
    char errstr[256];
    carrot_metrics_t *m = carrot_metrics_new();
    carrot_lag_t *l = carrot_lag_new(m, "g");
    ck_assert_int_eq(carrot_lag_stats(l, "{\"topics\":", 10, 0, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "statistics: "));
    ck_assert_int_eq(carrot_lag_stats(l, "[1]", 3, 0, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "statistics: no \"topics\" object");
    ck_assert_int_eq(carrot_lag_stats(l, "{\"topics\":{\"t\":{\"partitions\":7}}}", 33, 0, errstr,
                                      sizeof(errstr)),
                     0); /* odd but harmless: nothing to read */
    carrot_lag_destroy(l);
    carrot_lag_destroy(NULL);
    carrot_metrics_destroy(m);
}
END_TEST

int main(void) {
    const TTest *tests[] = {lag_from_statistics, bad_statistics_refused, NULL};
    return carrot_test_run(carrot_test_suite("kafka_lag", tests));
}
