/* test_rules.c: the rules file: loading, clear errors naming the line and
 * problem, and how change types score. */
#include "rules.h"
#include "testutil.h"

#include <string.h>

static char errstr[512];

static carrot_rules_t *parse(const char *text) {
    return carrot_rules_parse(text, strlen(text), "rules.json", errstr, sizeof(errstr));
}

START_TEST(demo_rules_load) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/deploy/demo/rules.json", CARROT_SOURCE_DIR);
    carrot_rules_t *r = carrot_rules_load(path, errstr, sizeof(errstr));
    ck_assert_msg(r != NULL, "%s", errstr);
    ck_assert_str_eq(carrot_rules_program(r), "demo");
    carrot_rules_destroy(r);
    carrot_rules_destroy(NULL);
}
END_TEST

START_TEST(invalid_rules_name_line_and_problem) {
    ck_assert_ptr_null(parse("{\"program\":\"p\",\n\"version\":\"1\",\n\"points\":{\"call\":5,}}"));
    ck_assert_msg(strncmp(errstr, "rules.json:3:", 13) == 0, "%s", errstr);
    ck_assert_ptr_null(parse("{\"program\":\"p\",\"version\":\"1\",\"points\":{\"coffee\":5}}"));
    ck_assert_str_eq(errstr, "rules.json: points: unknown activity type \"coffee\"");
    ck_assert_ptr_null(parse("{\"program\":\"p\",\"version\":\"1\",\"points\":{\"call\":\"5\"}}"));
    ck_assert_ptr_nonnull(strstr(errstr, "points.call: expected an integer"));
    ck_assert_ptr_null(parse("{\"program\":\"p\",\"points\":{}}"));
    ck_assert_ptr_nonnull(strstr(errstr, "\"version\" must be"));
    ck_assert_ptr_null(carrot_rules_load("/nonexistent.json", errstr, sizeof(errstr)));
    ck_assert_ptr_nonnull(strstr(errstr, "could not open rules file"));
}
END_TEST

START_TEST(change_types_score) {
    carrot_rules_t *r = parse("{\"program\":\"p\",\"version\":\"v7\",\"points\":{\"call\":5,\"note\":0}}");
    ck_assert_ptr_nonnull(r);
    carrot_activity_t a = {.activity_type = "call", .change_type = CARROT_CHANGE_CREATE};
    carrot_score_t s[CARROT_RULES_MAX_SCORES];
    ck_assert_int_eq(carrot_rules_score(r, &a, s), 1);
    ck_assert_str_eq(s[0].rule_id, "base.call");
    ck_assert_int_eq(s[0].points, 5);
    /* DELETE and UNDELETE act on what the record earned (the scorer's business) */
    a.change_type = CARROT_CHANGE_DELETE;
    ck_assert_int_eq(carrot_rules_score(r, &a, s), 0);
    a.change_type = CARROT_CHANGE_UNDELETE;
    ck_assert_int_eq(carrot_rules_score(r, &a, s), 0);
    a.change_type = CARROT_CHANGE_UPDATE;
    ck_assert_int_eq(carrot_rules_score(r, &a, s), 0);
    a.change_type = CARROT_CHANGE_CREATE;
    a.activity_type = "note"; /* zero points: no award */
    ck_assert_int_eq(carrot_rules_score(r, &a, s), 0);
    a.activity_type = "meeting"; /* not listed */
    ck_assert_int_eq(carrot_rules_score(r, &a, s), 0);
    carrot_rules_destroy(r);
}
END_TEST

int main(void) {
    const TTest *tests[] = {demo_rules_load, invalid_rules_name_line_and_problem,
                            change_types_score, NULL};
    return carrot_test_run(carrot_test_suite("rules", tests));
}
