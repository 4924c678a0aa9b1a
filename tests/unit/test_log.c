/* test_log.c: one event per line in the text, logfmt and JSON formats,
 * multi-line messages folded, the Kafka fields where a line names one. */
#include "carrot/log.h"
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs one log call with stderr sent to a file; returns what it wrote. */
static char *captured(carrot_log_format_t format, int with_kafka) {
    static char out[8192];
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(f), 2);
    carrot_log_set_format(format);
    carrot_log_set_ident("carrot-test");
    carrot_log_set_instance("host-1");
    carrot_log_kafka_t k = {"crm.activities", 3, 1234};
    /* what libpq's PQerrorMessage looks like: several lines, a trailing newline */
    carrot_logk(CARROT_LOG_WARN, with_kafka ? &k : NULL,
                "could not book: ERROR:  say \"no\"\nDETAIL:  Key (id)=(7) exists.\n");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    carrot_log_set_format(CARROT_LOG_TEXT);
    return out;
}

/* The line after its leading timestamp (24 characters). */
static const char *after_ts(const char *line, const char *prefix) {
    size_t plen = strlen(prefix);
    ck_assert_msg(strncmp(line, prefix, plen) == 0, "%s", line);
    ck_assert_msg(strlen(line) > plen + 24 && line[plen + 23] == 'Z', "%s", line);
    return line + plen + 24;
}

START_TEST(text_format) {
    ck_assert_str_eq(after_ts(captured(CARROT_LOG_TEXT, 1), ""),
                     " carrot-test WARN: could not book: ERROR:  say \"no\" DETAIL:  Key (id)=(7) "
                     "exists. (topic crm.activities, partition 3, offset 1234)\n");
    ck_assert_str_eq(after_ts(captured(CARROT_LOG_TEXT, 0), ""),
                     " carrot-test WARN: could not book: ERROR:  say \"no\" DETAIL:  Key (id)=(7) "
                     "exists.\n");
}
END_TEST

START_TEST(logfmt_format) {
    ck_assert_str_eq(after_ts(captured(CARROT_LOG_LOGFMT, 1), "ts="),
                     " level=warn program=carrot-test instance=\"host-1\" msg=\"could not book: "
                     "ERROR:  say \\\"no\\\" DETAIL:  Key (id)=(7) exists.\" "
                     "topic=\"crm.activities\" partition=3 offset=1234\n");
}
END_TEST

START_TEST(json_format) {
    const char *line = captured(CARROT_LOG_JSON, 1);
    ck_assert_int_eq((int)(strchr(line, '\n') - line), (int)strlen(line) - 1); /* one line */
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    ck_assert_msg(o != NULL, "not JSON: %s (%s)", line, err.text);
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "warn");
    ck_assert_str_eq(json_string_value(json_object_get(o, "program")), "carrot-test");
    ck_assert_str_eq(json_string_value(json_object_get(o, "instance")), "host-1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")),
                     "could not book: ERROR:  say \"no\" DETAIL:  Key (id)=(7) exists.");
    ck_assert_str_eq(json_string_value(json_object_get(o, "topic")), "crm.activities");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "partition")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "offset")), 1234);
    ck_assert_int_eq((int)strlen(json_string_value(json_object_get(o, "ts"))), 24);
    json_decref(o);
}
END_TEST

START_TEST(format_names) {
    ck_assert_int_eq(carrot_log_format_parse("text"), CARROT_LOG_TEXT);
    ck_assert_int_eq(carrot_log_format_parse("logfmt"), CARROT_LOG_LOGFMT);
    ck_assert_int_eq(carrot_log_format_parse("json"), CARROT_LOG_JSON);
    ck_assert_int_eq(carrot_log_format_parse("JSON"), -1);
    ck_assert_int_eq(carrot_log_format_parse(""), -1);
}
END_TEST

int main(void) {
    const TTest *tests[] = {text_format, logfmt_format, json_format, format_names, NULL};
    return carrot_test_run(carrot_test_suite("log", tests));
}
