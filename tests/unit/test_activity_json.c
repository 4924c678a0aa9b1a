/* test_activity_json.c: the generic JSON-lines feed: defaults, every field,
 * and the bad lines that must go to the dead-letter topic with a reason. */
#include "carrot/activity_json.h"
#include "testutil.h"

#include <string.h>

static char errstr[512];
static const carrot_activity_json_defaults_t defaults = {"demo", "generic"};

static int map(const char *line, carrot_activity_t *a, json_t **objp) {
    json_error_t jerr;
    *objp = json_loads(line, 0, &jerr);
    ck_assert_msg(*objp != NULL, "test line is not JSON: %s", jerr.text);
    return carrot_activity_from_json(*objp, &defaults, a, errstr, sizeof(errstr));
}

START_TEST(minimal_line_gets_defaults) {
    carrot_activity_t a;
    json_t *obj;
    ck_assert_int_eq(
        map("{\"event_id\":\"e1\",\"participant_id\":\"p1\",\"activity_type\":\"call\","
            "\"occurred_at\":\"2026-11-02T14:03:00Z\"}",
            &a, &obj),
        0);
    ck_assert_str_eq(a.program_id, "demo");
    ck_assert_str_eq(a.source_system, "generic");
    ck_assert_str_eq(a.source_record_id, "e1");
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_CREATE);
    ck_assert_int_eq(a.recorded_at, a.occurred_at);
    ck_assert_ptr_null(a.segment);
    json_decref(obj);
}
END_TEST

START_TEST(full_line_maps_every_field) {
    carrot_activity_t a;
    json_t *obj;
    ck_assert_msg(
        map("{\"event_id\":\"e2\",\"program_id\":\"p\",\"source_system\":\"salesforce\","
            "\"source_record_id\":\"00T1\",\"change_type\":\"delete\","
            "\"activity_type\":\"meeting\",\"occurred_at\":1793628180000,"
            "\"recorded_at\":\"2026-11-02T15:00:00+01:00\",\"participant_id\":\"u\","
            "\"segment\":\"dealer\",\"team_id\":\"t\",\"region\":\"r\",\"tenure_days\":12,"
            "\"account_id\":\"a\",\"opportunity_id\":\"o\",\"outcome\":\"held\","
            "\"disposition\":null,\"stage\":\"s\",\"amount_minor\":-5,\"currency\":\"EUR\","
            "\"duration_seconds\":60,\"text_length\":9,\"custom\":{\"k\":\"v\"}}",
            &a, &obj) == 0,
        "%s", errstr);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_DELETE);
    ck_assert_int_eq(a.occurred_at, 1793628180000LL);
    ck_assert_int_eq(a.recorded_at, 1793628000000LL);
    ck_assert_int_eq(a.tenure_days, 12);
    ck_assert_ptr_null(a.disposition);
    ck_assert_int_eq(a.amount_minor, -5);
    ck_assert_uint_eq(a.ncustom, 1);
    ck_assert_str_eq(a.custom[0].value, "v");
    json_decref(obj);
}
END_TEST

START_TEST(bad_lines_have_reasons) {
    static const struct {
        const char *line, *reason;
    } cases[] = {
        {"{\"event_id\":\"e\",\"activity_type\":\"call\",\"occurred_at\":\"2026-11-02T14:03:00Z\"}",
         "missing participant_id"},
        {"{\"event_id\":\"e\",\"participant_id\":\"p\",\"activity_type\":\"coffee\","
         "\"occurred_at\":\"2026-11-02T14:03:00Z\"}",
         "unknown activity type \"coffee\""},
        {"{\"event_id\":\"e\",\"participant_id\":\"p\",\"activity_type\":\"call\","
         "\"occurred_at\":\"yesterday\"}",
         "occurred_at: not a timestamp"},
        {"{\"event_id\":\"e\",\"participant_id\":\"p\",\"activity_type\":\"call\"}",
         "missing occurred_at"},
        {"{\"event_id\":\"e\",\"participant_id\":7,\"activity_type\":\"call\","
         "\"occurred_at\":\"2026-11-02T14:03:00Z\"}",
         "participant_id: expected a string"},
        {"{\"event_id\":\"e\",\"participant_id\":\"p\",\"activity_type\":\"call\","
         "\"occurred_at\":\"2026-11-02T14:03:00Z\",\"Subject\":\"x\"}",
         "unknown field \"Subject\""},
        {"{\"event_id\":\"e\",\"participant_id\":\"p\",\"activity_type\":\"call\","
         "\"occurred_at\":\"2026-11-02T14:03:00Z\",\"change_type\":\"MERGE\"}",
         "change_type:"},
        {"{\"event_id\":\"e\",\"participant_id\":\"p\",\"activity_type\":\"call\","
         "\"occurred_at\":\"2026-11-02T14:03:00Z\",\"duration_seconds\":-1}",
         "duration_seconds: expected an integer"},
        {"[1,2]", "expected a JSON object"},
        {"{\"participant_id\":\"p\",\"activity_type\":\"call\",\"occurred_at\":\"2026-11-02T14:03:00Z\"}",
         "missing event_id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        carrot_activity_t a;
        json_t *obj;
        ck_assert_msg(map(cases[i].line, &a, &obj) == -1, "accepted case %zu", i);
        ck_assert_msg(strstr(errstr, cases[i].reason) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      errstr, cases[i].reason);
        json_decref(obj);
    }
}
END_TEST

int main(void) {
    const TTest *tests[] = {minimal_line_gets_defaults, full_line_maps_every_field,
                            bad_lines_have_reasons, NULL};
    return carrot_test_run(carrot_test_suite("activity_json", tests));
}
