/* test_adapters.c: the CRM adapters on realistic payloads (tests/data/):
 * Salesforce Task and Event REST records and a data-export CSV with quotes,
 * line breaks, a BOM, a deleted row and broken rows; Change Data Capture
 * with several record ids, DELETE, UNDELETE, GAP and an opportunity closing;
 * HubSpot webhook batches and their v3 signatures; a mapping file. */
#include "carrot/activity_json.h"
#include "carrot/adapter.h"
#include "carrot/csv.h"
#include "carrot/mapping.h"
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char errstr[512];
static const carrot_activity_json_defaults_t defaults = {"demo", "generic"};

/* Checks that out[i] is a valid activity and returns it (strings borrowed from out). */
static carrot_activity_t valid(json_t *out, size_t i) {
    carrot_activity_t a;
    ck_assert_msg(carrot_activity_from_json(json_array_get(out, i), &defaults, &a, errstr,
                                            sizeof(errstr)) == 0,
                  "activity %zu: %s", i, errstr);
    return a;
}

static json_t *line_of(const char *text, int n) { /* the n-th line (0-based) as JSON */
    const char *p = text;
    for (int i = 0; i < n; i++) p = strchr(p, '\n') + 1;
    json_error_t jerr;
    json_t *j = json_loadb(p, strcspn(p, "\n"), 0, &jerr);
    ck_assert_msg(j != NULL, "line %d: %s", n, jerr.text);
    return j;
}

START_TEST(salesforce_rest_records) {
    char *text = carrot_test_read("tests/data/salesforce-tasks.json", NULL);
    json_t *q = line_of(text, 0), *out = json_array();
    ck_assert_int_eq(carrot_adapt_salesforce(q, NULL, out, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(json_array_size(out), 3);
    carrot_activity_t a = valid(out, 0);
    ck_assert_str_eq(a.event_id, "sf:Task:00T5e00000AbCdEAAV");
    ck_assert_str_eq(a.activity_type, "call");
    ck_assert_str_eq(a.participant_id, "0055e000001AbcDAAS");
    ck_assert_str_eq(a.source_system, "salesforce");
    ck_assert_str_eq(a.opportunity_id, "0065e00000QwErTAAZ");
    ck_assert_int_eq(a.occurred_at, 1793631845000LL); /* CompletedDateTime 15:04:05 */
    ck_assert_int_eq(a.recorded_at, 1793632200000LL); /* CreatedDate 15:10 */
    ck_assert_int_eq(a.duration_seconds, 312);
    ck_assert_str_eq(a.disposition, "Connected - discussed pricing");
    ck_assert_int_eq(a.text_length, 64); /* characters, not bytes */
    a = valid(out, 1);
    ck_assert_str_eq(a.activity_type, "email");
    ck_assert_ptr_null(a.opportunity_id);             /* WhatId is an account */
    ck_assert_int_eq(a.occurred_at, 1793664000000LL); /* ActivityDate: UTC midnight, unshifted */
    a = valid(out, 2);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_DELETE);
    ck_assert_str_eq(a.event_id, "sf:Task:00T5e00000AbCdGAAV:DELETE:2026-11-04T08:30:00.000+0000");
    json_decref(q);
    json_decref(out);

    json_t *ev = line_of(text, 1);
    out = json_array();
    ck_assert_int_eq(carrot_adapt_salesforce(ev, NULL, out, errstr, sizeof(errstr)), 0);
    a = valid(out, 0);
    ck_assert_str_eq(a.activity_type, "meeting");
    ck_assert_int_eq(a.duration_seconds, 5400);
    ck_assert_int_eq(a.occurred_at, 1793797200000LL);
    json_decref(ev);
    json_decref(out);

    json_t *noowner = line_of(text, 2);
    out = json_array();
    ck_assert_int_eq(carrot_adapt_salesforce(noowner, NULL, out, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(
        carrot_activity_from_json(json_array_get(out, 0), &defaults, &a, errstr, sizeof(errstr)),
        -1);
    ck_assert_str_eq(errstr, "missing participant_id");
    json_decref(noowner);
    json_decref(out);
    json_t *lead = line_of(text, 3);
    out = json_array();
    ck_assert_int_eq(carrot_adapt_salesforce(lead, NULL, out, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "a Lead record is not a Task or an Event");
    json_decref(lead);
    json_decref(out);
    free(text);
}
END_TEST

START_TEST(salesforce_csv_export) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/salesforce-tasks.csv", CARROT_SOURCE_DIR);
    FILE *fp = fopen(path, "r");
    carrot_csv_t *csv = carrot_csv_new(fp);
    char **f;
    const char *raw;
    size_t rawlen;
    long line;
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 18);
    ck_assert_str_eq(f[0], "Id"); /* the BOM is gone */
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 18);
    ck_assert_int_eq(line, 2);
    ck_assert_str_eq(f[14], "Asked about the \"X200\", pricing,\nand delivery dates");
    ck_assert_str_eq(f[17], "0");
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 18);
    ck_assert_int_eq(line, 4); /* the quoted line break took a line */
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 18);
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 18);
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "text after the closing quote of field 3");
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 3);
    ck_assert_int_eq(carrot_csv_next(csv, &f, &line, &raw, &rawlen, errstr, sizeof(errstr)), 0);
    carrot_csv_destroy(csv);
    fclose(fp);
    /* a CSV row as an object of column -> text maps like a REST record */
    json_t *row = json_pack("{ssssssssssssssss}", "Id", "00T5e00000Csv04AAV", "OwnerId", "005x",
                            "TaskSubtype", "Call", "CallDurationInSeconds", "a lot", "CreatedDate",
                            "2026-11-01T09:00:00.000Z", "IsDeleted", "0", "ActivityDate",
                            "2026-11-01", "Status", "Completed");
    json_t *out = json_array();
    ck_assert_int_eq(carrot_adapt_salesforce(row, "Task", out, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "CallDurationInSeconds \"a lot\" is not a number of seconds");
    json_decref(row);
    json_decref(out);
}
END_TEST

START_TEST(salesforce_change_data_capture) {
    char *text = carrot_test_read("tests/data/salesforce-cdc.jsonl", NULL);
    json_t *out = json_array();
    for (int i = 0; i < 7; i++) {
        json_t *e = line_of(text, i);
        int rc = carrot_adapt_salesforce_cdc(e, out, errstr, sizeof(errstr));
        if (i == 4) {
            ck_assert_int_eq(rc, -1); /* GAP: reported, with the records to re-sync */
            ck_assert_str_eq(errstr,
                             "GAP_OVERFLOW event for Task: Salesforce could not send these "
                             "changes; re-sync records [00T5e00000Cdc03AAV,00T5e00000Cdc04AAV]");
        } else
            ck_assert_msg(rc == 0, "event %d: %s", i, errstr);
        json_decref(e);
    }
    /* CREATE, UPDATE, DELETE x2, UNDELETE, Closed Won; the NextStep update is no activity */
    ck_assert_uint_eq(json_array_size(out), 6);
    carrot_activity_t a = valid(out, 0);
    ck_assert_str_eq(a.event_id, "sf:Task:00T5e00000Cdc01AAV"); /* same id as a REST pull */
    ck_assert_str_eq(a.activity_type, "call");
    ck_assert_int_eq(a.duration_seconds, 95);
    a = valid(out, 1);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_UPDATE);
    ck_assert_str_eq(a.activity_type, "");
    a = valid(out, 2);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_DELETE);
    ck_assert_str_eq(a.source_record_id, "00T5e00000Cdc01AAV");
    ck_assert_str_eq(a.event_id, "sf:Task:00T5e00000Cdc01AAV:DELETE:2026-11-02T17:36:40.000Z:1");
    ck_assert_str_eq(a.participant_id, "");
    a = valid(out, 3);
    ck_assert_str_eq(a.source_record_id, "00T5e00000Cdc02AAV");
    a = valid(out, 4);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_UNDELETE);
    ck_assert_str_eq(a.activity_type, "call");
    a = valid(out, 5);
    ck_assert_str_eq(a.event_id, "sf:Opportunity:0065e00000QwErTAAZ:stage:Closed Won");
    ck_assert_str_eq(a.activity_type, "deal_won");
    ck_assert_str_eq(a.participant_id, "0055e000001AbcDAAS");
    ck_assert_int_eq(a.amount_minor, 12500050);
    ck_assert_str_eq(a.currency, "USD");
    json_decref(out);
    free(text);
}
END_TEST

START_TEST(hubspot_webhook_batch) {
    size_t len;
    char *body = carrot_test_read("tests/data/hubspot-webhook.json", &len);
    json_t *arr = json_loadb(body, len, 0, NULL), *out = json_array(), *e;
    size_t i;
    json_array_foreach(arr, i, e)
        ck_assert_int_eq(carrot_adapt_hubspot(e, out, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(json_array_size(out),
                      3); /* contact creation and an owner change are skipped */
    carrot_activity_t a = valid(out, 0);
    ck_assert_str_eq(a.event_id, "hs:62515:1001");
    ck_assert_str_eq(a.activity_type, "call");
    ck_assert_str_eq(a.participant_id, "hubspot-user:4711");
    ck_assert_str_eq(a.source_record_id, "0-48:9001");
    ck_assert_int_eq(a.occurred_at, 1793637845000LL);
    a = valid(out, 1);
    ck_assert_str_eq(a.event_id, "hs:62515:deal:7001:stage:closedwon");
    ck_assert_str_eq(a.activity_type, "deal_won");
    a = valid(out, 2);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_DELETE);
    ck_assert_str_eq(a.source_record_id, "0-48:9001");
    json_t *bad = json_pack("{sisisssisI}", "eventId", 9, "portalId", 1, "subscriptionType",
                            "object.creation", "objectId", 5, "occurredAt",
                            (json_int_t)1793637845000LL);
    json_object_set_new(bad, "objectTypeId", json_string("0-48"));
    ck_assert_int_eq(carrot_adapt_hubspot(bad, out, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "names no participant"));
    json_decref(bad);
    json_decref(out);
    json_decref(arr);
    free(body);
}
END_TEST

START_TEST(hubspot_signature_v3) {
    /* Computed independently: base64(HMAC-SHA256("secret", "POST" + uri + body + ts)) with
     * Python's hmac and base64 modules. */
    const char *uri = "https://carrot.example.com/webhooks/hubspot", *body = "[{\"eventId\":1}]",
               *ts = "1793637845000", *sig = "0wdP//L2tzWXGs5fAepEQdrE6SUbjrLJsDp0fQMmm0s=";
    long long now = 1793637845000LL + 60000;
    ck_assert_msg(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), ts, sig, now,
                                        errstr, sizeof(errstr)) == 0,
                  "%s", errstr);
    ck_assert_int_eq(carrot_hubspot_verify("other", "POST", uri, body, strlen(body), ts, sig, now,
                                           errstr, sizeof(errstr)),
                     -1);
    ck_assert_str_eq(errstr, "X-HubSpot-Signature-v3 does not match the request");
    ck_assert_int_eq(
        carrot_hubspot_verify("secret", "POST", uri, "[]", 2, ts, sig, now, errstr, sizeof(errstr)),
        -1);
    ck_assert_int_eq(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), ts, sig,
                                           now + 300000, errstr, sizeof(errstr)),
                     -1);
    ck_assert_ptr_nonnull(strstr(errstr, "away from now"));
    ck_assert_int_eq(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), NULL, sig,
                                           now, errstr, sizeof(errstr)),
                     -1);
    /* timestamps that are not plain milliseconds, or too far away to subtract from now */
    static const char *const not_ms[] = {"-9223372036854775808",
                                         "9223372036854775808",
                                         "99999999999999999999999",
                                         " 1793637845000",
                                         "+1793637845000",
                                         "-1",
                                         "1793637845000 ",
                                         "",
                                         "0x10"};
    for (size_t i = 0; i < sizeof(not_ms) / sizeof(not_ms[0]); i++) {
        ck_assert_int_eq(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), not_ms[i],
                                               sig, now, errstr, sizeof(errstr)),
                         -1);
        ck_assert_msg(strstr(errstr, "is not milliseconds"), "\"%s\": %s", not_ms[i], errstr);
    }
    ck_assert_int_eq(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body),
                                           "9223372036854775807", sig, now, errstr, sizeof(errstr)),
                     -1);
    ck_assert_ptr_nonnull(strstr(errstr, "away from now"));
    ck_assert_int_eq(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), "0", sig,
                                           LLONG_MAX, errstr, sizeof(errstr)),
                     -1);
    ck_assert_ptr_nonnull(strstr(errstr, "away from now"));
    ck_assert_int_eq(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), ts, sig,
                                           LLONG_MIN, errstr, sizeof(errstr)),
                     -1);
    ck_assert_ptr_nonnull(strstr(errstr, "away from now"));
    /* the window's edges are inside it */
    ck_assert_msg(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), ts, sig,
                                        1793637845000LL + 300000, errstr, sizeof(errstr)) == 0,
                  "%s", errstr);
    ck_assert_msg(carrot_hubspot_verify("secret", "POST", uri, body, strlen(body), ts, sig,
                                        1793637845000LL - 300000, errstr, sizeof(errstr)) == 0,
                  "%s", errstr);
}
END_TEST

START_TEST(mapping_file) {
    const char *m =
        "{\"fields\":{\"event_id\":\"id\",\"participant_id\":\"owner.id\","
        "\"activity_type\":\"kind\",\"occurred_at\":\"when\",\"duration_seconds\":\"secs\"},"
        "\"values\":{\"activity_type\":{\"Phone call\":\"call\",\"Visit\":\"meeting\"}},"
        "\"constants\":{\"source_system\":\"acme-crm\"},\"custom\":{\"sku\":\"product.sku\"}}";
    carrot_mapping_t *map = carrot_mapping_parse(m, strlen(m), "map.json", errstr, sizeof(errstr));
    ck_assert_msg(map != NULL, "%s", errstr);
    json_t *rec = json_loads(
        "{\"id\":\"a-1\",\"owner\":{\"id\":\"u7\"},\"kind\":\"Visit\","
        "\"when\":\"2026-11-02T10:00:00Z\",\"secs\":600,\"product\":{\"sku\":42}}",
        0, NULL);
    json_t *out = json_array();
    ck_assert_int_eq(carrot_mapping_apply(map, rec, out, errstr, sizeof(errstr)), 0);
    carrot_activity_t a = valid(out, 0);
    ck_assert_str_eq(a.activity_type, "meeting");
    ck_assert_str_eq(a.participant_id, "u7");
    ck_assert_str_eq(a.source_system, "acme-crm");
    ck_assert_int_eq(a.duration_seconds, 600);
    ck_assert_str_eq(a.custom[0].value, "42");
    json_decref(out);
    json_decref(rec);
    carrot_mapping_destroy(map);
    ck_assert_ptr_null(carrot_mapping_parse("{\"fields\":{\"owner\":\"x\"}}", 24, "m.json", errstr,
                                            sizeof(errstr)));
    ck_assert_str_eq(errstr, "m.json: fields: \"owner\" is not a Carrot activity field");
    ck_assert_ptr_null(
        carrot_mapping_parse("{\"feilds\":{}}", 13, "m.json", errstr, sizeof(errstr)));
    ck_assert_ptr_nonnull(strstr(errstr, "unknown section \"feilds\""));
}
END_TEST

int main(void) {
    const TTest *tests[] = {salesforce_rest_records,
                            salesforce_csv_export,
                            salesforce_change_data_capture,
                            hubspot_webhook_batch,
                            hubspot_signature_v3,
                            mapping_file,
                            NULL};
    return carrot_test_run(carrot_test_suite("adapters", tests));
}
