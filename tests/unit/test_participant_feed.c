/* test_participant_feed.c: the participants feeds of carrot-ingest: a JSON
 * line in the schema's fields and a Salesforce User export row, good ones
 * field by field, and each bad field refused with a reason naming it. */
#include "carrot/participant_feed.h"
#include "testutil.h"

#include <string.h>

static char errstr[512];
#define NOW 1793000000000LL

static json_t *parse(const char *text) {
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    ck_assert_msg(obj != NULL, "%s: %s", text, jerr.text);
    return obj;
}

static int from_json(const char *text, carrot_participant_t *p) {
    json_t *obj = parse(text);
    int rc = carrot_participant_from_json(obj, "demo", NOW, p, errstr, sizeof(errstr));
    json_decref(obj); /* nothing borrowed: p holds copies */
    return rc;
}

START_TEST(json_line_good) {
    carrot_participant_t p;
    ck_assert_msg(from_json("{\"participant_id\":\"p0003\",\"display_name\":\"Mia Chen\","
                            "\"segment\":\"dealer\",\"team_id\":\"team-02\",\"region\":\"east\","
                            "\"hired_at\":\"2019-04-01\",\"level\":1,\"supervisor_id\":\"p0001\","
                            "\"active\":false,\"hide_from_screen\":true,"
                            "\"updated_at\":\"2026-11-02T08:00:00Z\"}",
                            &p) == 0,
                  "%s", errstr);
    ck_assert_str_eq(p.program_id, "demo"); /* the caller's default */
    ck_assert_str_eq(p.participant_id, "p0003");
    ck_assert_str_eq(p.display_name, "Mia Chen");
    ck_assert_str_eq(p.segment, "dealer");
    ck_assert_str_eq(p.team_id, "team-02");
    ck_assert_str_eq(p.region, "east");
    ck_assert_int_eq(p.hired_at_ms, 1554076800000LL);
    ck_assert_int_eq(p.level, 1);
    ck_assert_str_eq(p.supervisor_id, "p0001");
    ck_assert_int_eq(p.active, 0);
    ck_assert_int_eq(p.hide_from_screen, 1);
    ck_assert_int_eq(p.updated_at_ms, 1793606400000LL);
    /* the least there can be: defaults everywhere, updated now */
    ck_assert_int_eq(from_json("{\"participant_id\":\"p9\",\"program_id\":\"other\","
                               "\"display_name\":null,\"updated_at\":1793000000001}",
                               &p),
                     0);
    ck_assert_str_eq(p.program_id, "other");
    ck_assert_str_eq(p.display_name, "");
    ck_assert_int_eq(p.level, -1);
    ck_assert_int_eq(p.hired_at_ms, 0);
    ck_assert_int_eq(p.active, 1);
    ck_assert_int_eq(p.hide_from_screen, 0);
    ck_assert_int_eq(p.updated_at_ms, 1793000000001LL);
    ck_assert_int_eq(from_json("{\"participant_id\":\"p9\"}", &p), 0);
    ck_assert_int_eq(p.updated_at_ms, NOW);
}
END_TEST

static void json_bad(const char *text, const char *want) {
    carrot_participant_t p;
    ck_assert_msg(from_json(text, &p) == -1, "accepted %s", text);
    ck_assert_msg(strstr(errstr, want) != NULL, "%s: want \"%s\" in \"%s\"", text, want, errstr);
}

START_TEST(json_line_bad_fields) {
    json_bad("[1]", "expected a JSON object");
    json_bad("{\"display_name\":\"x\"}", "missing participant_id");
    json_bad("{\"participant_id\":\"\"}", "missing participant_id");
    json_bad("{\"participant_id\":\"p1\",\"nickname\":\"x\"}", "unknown field \"nickname\"");
    json_bad("{\"participant_id\":7}", "participant_id: expected a string");
    json_bad("{\"participant_id\":\"p1\",\"segment\":true}", "segment: expected a string");
    json_bad("{\"participant_id\":\"p1\",\"level\":\"2\"}", "level: expected an integer");
    json_bad("{\"participant_id\":\"p1\",\"level\":-1}", "level: expected an integer");
    json_bad("{\"participant_id\":\"p1\",\"hired_at\":\"last spring\"}",
             "hired_at: not a timestamp");
    json_bad("{\"participant_id\":\"p1\",\"hired_at\":0}", "hired_at: 0");
    json_bad("{\"participant_id\":\"p1\",\"updated_at\":\"2026-11-02T08:00:00\"}",
             "updated_at: not a timestamp");
    json_bad("{\"participant_id\":\"p1\",\"updated_at\":12}", "updated_at 12 is not a time");
    json_bad("{\"participant_id\":\"p1\",\"active\":\"yes\"}", "active: expected true or false");
    json_bad("{\"participant_id\":\"p1\",\"hide_from_screen\":1}",
             "hide_from_screen: expected true or false");
    json_bad("{\"participant_id\":\"p1\",\"supervisor_id\":\"p1\"}", "supervise themselves");
    json_bad("{\"participant_id\":\"p\\u001e1\"}", "participant_id holds a control character");
    json_bad("{\"participant_id\":\"p1\",\"display_name\":\"a\\tb\"}",
             "display_name holds a control character");
    char text[400] = "{\"participant_id\":\"p1\",\"segment\":\"";
    memset(text + strlen(text), 's', 64);
    strcat(text, "\"}");
    json_bad(text, "segment is longer than 63 bytes");
}
END_TEST

static int from_row(const char *text, carrot_participant_t *p) {
    json_t *row = parse(text);
    int rc = carrot_participant_from_salesforce_user(row, "acme", NOW, p, errstr, sizeof(errstr));
    json_decref(row);
    return rc;
}

START_TEST(salesforce_user_good) {
    carrot_participant_t p;
    ck_assert_msg(
        from_row("{\"Id\":\"0055e000001AbcDAAS\",\"Name\":\"Dana Brooks\","
                 "\"UserRoleId\":\"00E5e000000RoLeAAA\",\"ManagerId\":\"0055e000001MgrAAAS\","
                 "\"IsActive\":\"true\",\"UserType\":\"PowerPartner\","
                 "\"Division\":\"West\",\"LastModifiedDate\":\"2026-11-02T15:10:00.000Z\","
                 "\"Email\":\"dana@example.com\"}",
                 &p) == 0,
        "%s", errstr);
    ck_assert_str_eq(p.program_id, "acme");
    ck_assert_str_eq(p.participant_id, "0055e000001AbcDAAS");
    ck_assert_str_eq(p.display_name, "Dana Brooks");
    ck_assert_str_eq(p.team_id, "00E5e000000RoLeAAA");
    ck_assert_str_eq(p.supervisor_id, "0055e000001MgrAAAS");
    ck_assert_str_eq(p.segment, "dealer");
    ck_assert_str_eq(p.region, "West");
    ck_assert_int_eq(p.active, 1);
    ck_assert_int_eq(p.hide_from_screen, 0);
    ck_assert_int_eq(p.level, -1);
    ck_assert_int_eq(p.updated_at_ms, 1793632200000LL);
    /* custom columns win over the standard ones; names from First and Last */
    ck_assert_msg(
        from_row("{\"Id\":\"005A\",\"FirstName\":\"Li\",\"LastName\":\"Wei\","
                 "\"UserRoleId\":\"00E1\",\"Team__c\":\"team-07\",\"Region__c\":\"north\","
                 "\"Division\":\"West\",\"Segment__c\":\"distributor\","
                 "\"UserType\":\"Standard\",\"IsActive\":\"0\",\"Level__c\":\"3\","
                 "\"Hide_From_Screen__c\":\"1\",\"Hire_Date__c\":\"2020-01-06\"}",
                 &p) == 0,
        "%s", errstr);
    ck_assert_str_eq(p.display_name, "Li Wei");
    ck_assert_str_eq(p.team_id, "team-07");
    ck_assert_str_eq(p.region, "north");
    ck_assert_str_eq(p.segment, "distributor");
    ck_assert_int_eq(p.active, 0);
    ck_assert_int_eq(p.level, 3);
    ck_assert_int_eq(p.hide_from_screen, 1);
    ck_assert_int_eq(p.hired_at_ms, 1578268800000LL);
    ck_assert_int_eq(p.updated_at_ms, NOW);
    ck_assert_int_eq(from_row("{\"Id\":\"005B\",\"UserType\":\"Standard\"}", &p), 0);
    ck_assert_str_eq(p.segment, "direct");
    ck_assert_str_eq(p.display_name, "");
}
END_TEST

static void row_bad(const char *text, const char *want) {
    carrot_participant_t p;
    ck_assert_msg(from_row(text, &p) == -1, "accepted %s", text);
    ck_assert_msg(strstr(errstr, want) != NULL, "%s: want \"%s\" in \"%s\"", text, want, errstr);
}

START_TEST(salesforce_user_bad_fields) {
    row_bad("{\"Name\":\"No Id\"}", "Id: missing");
    row_bad("{\"Id\":\"005A\",\"IsActive\":\"maybe\"}", "IsActive: \"maybe\" is not true or false");
    row_bad("{\"Id\":\"005A\",\"Hide_From_Screen__c\":\"y\"}", "Hide_From_Screen__c");
    row_bad("{\"Id\":\"005A\",\"Level__c\":\"senior\"}", "Level__c: \"senior\" is not an integer");
    row_bad("{\"Id\":\"005A\",\"Level__c\":\"5000\"}", "Level__c");
    row_bad("{\"Id\":\"005A\",\"LastModifiedDate\":\"11/02/2026\"}",
            "LastModifiedDate: not a timestamp");
    row_bad("{\"Id\":\"005A\",\"Hire_Date__c\":\"soon\"}", "Hire_Date__c: not a timestamp");
    row_bad("{\"Id\":\"005A\",\"ManagerId\":\"005A\"}", "supervise themselves");
    char text[400] = "{\"Id\":\"005A\",\"Segment__c\":\"";
    memset(text + strlen(text), 's', 70);
    strcat(text, "\"}");
    row_bad(text, "Segment__c is longer than 63 bytes");
}
END_TEST

int main(void) {
    const TTest *tests[] = {json_line_good, json_line_bad_fields, salesforce_user_good,
                            salesforce_user_bad_fields, NULL};
    return carrot_test_run(carrot_test_suite("participant_feed", tests));
}
