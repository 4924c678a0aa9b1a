/* test_rules.c: the rules file (YAML and JSON): loading, clear errors that
 * name the line and the problem, and what each kind of rule gives an
 * activity, with caps and goals settled in memory as a simulation does. */
#include "carrot/rules.h"
#include "carrot/timeutil.h"
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char errstr[512];

static carrot_rules_t *parse(const char *text) {
    return carrot_rules_parse(text, strlen(text), "rules.yaml", errstr, sizeof(errstr));
}

/* The points of rule id in sc, or -999 when it has no such line. */
static long long line(const carrot_scoring_t *sc, const char *id) {
    for (int i = 0; i < sc->nlines; i++)
        if (strcmp(sc->lines[i].rule_id, id) == 0) return (long long)sc->lines[i].points;
    return -999;
}

static long long total(const carrot_scoring_t *sc) {
    long long t = 0;
    for (int i = 0; i < sc->nlines; i++) t += sc->lines[i].points;
    return t;
}

static int64_t at(const char *t) {
    int64_t ms;
    ck_assert_int_eq(carrot_time_parse(t, &ms), 0);
    return ms;
}

START_TEST(demo_rules_load) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/deploy/demo/rules.yaml", CARROT_SOURCE_DIR);
    carrot_rules_t *r = carrot_rules_load(path, errstr, sizeof(errstr));
    ck_assert_msg(r != NULL, "%s", errstr);
    ck_assert_str_eq(carrot_rules_program(r), "demo");
    ck_assert_str_eq(carrot_rules_version(r), "2026.12-1");
    ck_assert_str_eq(carrot_rules_timezone(r), "America/Chicago");
    ck_assert_int_eq(carrot_rules_retention_s(r, CARROT_PERIOD_DAY), 35 * 86400);
    ck_assert_int_eq(carrot_rules_retention_s(r, CARROT_PERIOD_PTD), 0);
    size_t len;
    ck_assert_ptr_nonnull(strstr(carrot_rules_text(r, &len), "weekly-calls"));
    carrot_rules_destroy(r);
    carrot_rules_destroy(NULL);
}
END_TEST

/* Each message names the file, the line, the place and the problem. */
START_TEST(invalid_rules_name_line_and_problem) {
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"{\"program\":\"p\",\n\"version\":\"1\",\n\"points\":{\"call\":5}\n",
         "rules.yaml:4: did not find expected"},
        {"program: p\nversion: \"1\"\npoints: {coffee: 5}\n",
         "rules.yaml:3: points: unknown activity type \"coffee\""},
        {"program: p\nversion: \"1\"\npoints:\n  call: five\n",
         "rules.yaml:4: points.call: expected an integer, not \"five\""},
        {"program: p\npoints: {call: 5}\n", "rules.yaml:1: version: is required"},
        {"program: p\nversion: v1\nkpis:\n  - id: c\n    when: {activity: cal}\n    points: 1\n",
         "rules.yaml:5: kpis[0].when.activity: unknown activity type \"cal\""},
        {"program: p\nversion: v1\nkpis:\n  - id: c\n    when: {band: rookie}\n    points: 1\n",
         "rules.yaml:5: kpis[0].when.band: no band \"rookie\""},
        {"program: p\nversion: v1\nkpis:\n  - id: c\n    points: 1\n    pionts: 2\n",
         "rules.yaml:6: kpis[0]: unknown key \"pionts\""},
        {"program: p\nversion: v1\nkpis:\n  - {id: c, points: 1, cap: {period: fortnight, points: 3}}\n",
         "rules.yaml:4: kpis[0].cap.period: expected day, week, month, quarter or ptd"},
        {"program: p\nversion: v1\ntimezone: Mars/Olympus\npoints: {call: 1}\n",
         "rules.yaml:3: timezone: unknown time zone \"Mars/Olympus\""},
        {"program: p\nversion: v1\npoints: {call: 1}\npromotions:\n  - {id: x, from: yesterday, bonus: 1}\n",
         "rules.yaml:5: promotions[0].from: expected an RFC 3339 time"},
        {"program: p\nversion: v1\npoints: {call: 1}\nquality:\n  - {id: q, require: [colour]}\n",
         "rules.yaml:5: quality[0].require: unknown field \"colour\""},
        {"program: p\nversion: v1\npoints: {call: 1}\ngoals:\n  - {id: g, period: week, target: 0, bonus: 5}\n",
         "rules.yaml:5: goals[0].target: 0 is out of range"},
        {"program: p\nversion: v1\nprogram: q\npoints: {call: 1}\n",
         "rules.yaml:3: key \"program\" appears twice"},
        {"program: p\nversion: v1\n", "rules.yaml:1: no \"kpis\", \"points\" or \"goals\""},
        {"program: p\nversion: v1\nbands: [{id: b}]\npoints: {call: 1}\n",
         "rules.yaml:3: bands[0]: a band needs min_tenure_days, max_tenure_days or levels"},
        {"program: p\nversion: v1\npoints: {call: 1}\n---\nprogram: q\n",
         "more than one YAML document"},
        {"", "rules.yaml: the file is empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errstr[0] = '\0';
        carrot_rules_t *r = parse(cases[i].text);
        ck_assert_msg(r == NULL, "case %zu accepted", i);
        ck_assert_msg(strstr(errstr, cases[i].expect) != NULL, "case %zu: got \"%s\", want \"%s\"",
                      i, errstr, cases[i].expect);
    }
    ck_assert_ptr_null(carrot_rules_load("/nonexistent.yaml", errstr, sizeof(errstr)));
    ck_assert_ptr_nonnull(strstr(errstr, "could not open rules file"));
}
END_TEST

START_TEST(change_types_and_json_shorthand) {
    carrot_rules_t *r = parse(
        "{\"program\":\"p\",\"version\":\"v7\",\"points\":{\"call\":5,\"note\":0}}");
    ck_assert_msg(r != NULL, "%s", errstr);
    ck_assert_str_eq(carrot_rules_timezone(r), "UTC");
    carrot_activity_t a = {.activity_type = "call", .change_type = CARROT_CHANGE_CREATE};
    carrot_scoring_t sc;
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 1);
    ck_assert_int_eq(line(&sc, "base.call"), 5);
    /* DELETE and UNDELETE act on what the record earned (the scorer's business) */
    a.change_type = CARROT_CHANGE_DELETE;
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 0);
    a.change_type = CARROT_CHANGE_UNDELETE;
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 0);
    a.change_type = CARROT_CHANGE_UPDATE;
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 0);
    a.change_type = CARROT_CHANGE_CREATE;
    a.activity_type = "note"; /* zero points: no award */
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 0);
    a.activity_type = "meeting"; /* not listed */
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 0);
    carrot_rules_destroy(r);
}
END_TEST

static const char kinds[] =
    "program: p\n"
    "version: v1\n"
    "bands:\n"
    "  - {id: new, max_tenure_days: 90}\n"
    "  - {id: seasoned, min_tenure_days: 91}\n"
    "  - {id: new_by_level, levels: [bronze]}\n"
    "kpis:\n"
    "  - {id: training.new, when: {activity: training_completed, band: [new, new_by_level]}, points: 40}\n"
    "  - {id: training, when: {activity: training_completed}, points: 10}\n"
    "  - {id: call.dealer, when: {activity: call, segment: dealer}, points: 3}\n"
    "  - {id: call, when: {activity: call}, points: 10, cap: {period: day, points: 25}}\n"
    "  - {id: quote, when: {activity: quote}, points: 20}\n"
    "quality:\n"
    "  - id: call_record\n"
    "    when: {activity: call}\n"
    "    require: [account_id, custom.product]\n"
    "    picklists: {disposition: [connected, voicemail]}\n"
    "    min_text_length: 10\n"
    "    complete_bonus: 2\n"
    "    incomplete_keep_percent: 50\n"
    "    incomplete_penalty: -1\n"
    "timeliness:\n"
    "  - {id: on_time, when: {activity: [call, quote]}, full_hours: 24, zero_hours: 124,\n"
    "     floor_percent: 0, late_hours: 200, late_penalty: -4}\n"
    "promotions:\n"
    "  - {id: x2, from: \"2026-11-09T00:00:00Z\", to: \"2026-11-16T00:00:00Z\",\n"
    "     when: {activity: quote, region: west, product: X200}, multiplier: 2, bonus: 1}\n"
    "goals:\n"
    "  - {id: calls, when: {activity: call}, period: week, target: 3, bonus: 50}\n";

START_TEST(each_rule_kind) {
    carrot_rules_t *r = parse(kinds);
    ck_assert_msg(r != NULL, "%s", errstr);
    carrot_scoring_t sc;
    carrot_kv_t product = {"product", "X200"};
    carrot_activity_t a = {.activity_type = "training_completed",
                           .change_type = CARROT_CHANGE_CREATE,
                           .participant_id = "ann",
                           .has_tenure_days = 1,
                           .tenure_days = 30,
                           .occurred_at = at("2026-11-10T10:00:00Z")};
    a.recorded_at = a.occurred_at;
    /* maturity bands: first match wins */
    carrot_rules_score(r, &a, &sc);
    ck_assert_str_eq(sc.kpi, "training.new");
    ck_assert_int_eq(line(&sc, "training.new"), 40);
    a.tenure_days = 400;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "training"), 10);
    a.has_tenure_days = 0; /* no tenure: no band, the general rule */
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "training"), 10);
    carrot_kv_t level = {"level", "bronze"}; /* a band by level, from the CRM's custom field */
    a.ncustom = 1;
    a.custom[0] = level;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "training.new"), 40);
    a.ncustom = 0;
    /* segment, and data quality: complete earns the bonus */
    a.activity_type = "call";
    a.segment = "dealer";
    a.account_id = "acct-1";
    a.disposition = "connected";
    a.text_length = 12;
    a.ncustom = 1;
    a.custom[0] = product;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "call.dealer"), 3);
    ck_assert_int_eq(line(&sc, "quality.call_record"), 2);
    ck_assert(!sc.capped);
    a.segment = "direct";
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "call"), 10);
    ck_assert(sc.capped && sc.cap_period == CARROT_PERIOD_DAY && sc.cap_points == 25);
    /* incomplete: a missing field, an off-list value, a short note each keep 50% and -1 */
    a.account_id = NULL;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "quality.call_record"), -6);
    a.account_id = "acct-1";
    a.disposition = "sort of happened";
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "quality.call_record"), -6);
    a.disposition = "voicemail";
    a.text_length = 3;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "quality.call_record"), -6);
    a.text_length = 30;
    /* timeliness: full within 24 h, linear to 0% at 124 h, a penalty after 200 h */
    a.recorded_at = a.occurred_at + 24 * 3600000LL;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "timeliness.on_time"), -999); /* nothing taken */
    a.recorded_at = a.occurred_at + 74 * 3600000LL;          /* half way */
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "timeliness.on_time"), -5);
    a.recorded_at = a.occurred_at + 201 * 3600000LL;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "timeliness.on_time"), -14);
    ck_assert_int_eq(total(&sc), 10 - 14 + 2);
    a.recorded_at = a.occurred_at;
    /* promotions: window, filter, multiplier on what was earned, plus bonus */
    a.activity_type = "quote";
    a.region = "west";
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "quote"), 20);
    ck_assert_int_eq(line(&sc, "promo.x2"), 21);
    a.recorded_at = a.occurred_at + 74 * 3600000LL; /* late: the multiplier doubles the 10 kept */
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "timeliness.on_time"), -10);
    ck_assert_int_eq(line(&sc, "promo.x2"), 11);
    a.recorded_at = a.occurred_at;
    a.region = "east";
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "promo.x2"), -999);
    a.region = "west";
    a.occurred_at = a.recorded_at = at("2026-11-16T00:00:00Z"); /* the window is [from, to) */
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(line(&sc, "promo.x2"), -999);
    carrot_rules_destroy(r);
}
END_TEST

/* Caps and goals, settled in memory the way the Redis script settles them. */
START_TEST(caps_and_goals_settle) {
    carrot_rules_t *r = parse(kinds);
    ck_assert_msg(r != NULL, "%s", errstr);
    carrot_settle_t *st = carrot_settle_new(at("2026-11-12T00:00:00Z") / 1000);
    carrot_kv_t product = {"product", "X200"};
    carrot_activity_t a = {.activity_type = "call",
                           .change_type = CARROT_CHANGE_CREATE,
                           .participant_id = "bob",
                           .segment = "direct",
                           .account_id = "a",
                           .disposition = "connected",
                           .text_length = 50,
                           .ncustom = 1,
                           .occurred_at = at("2026-11-10T10:00:00Z")};
    a.custom[0] = product;
    a.recorded_at = a.occurred_at;
    long long got[4];
    for (int i = 0; i < 4; i++) { /* 12 a call against a cap of 25 a day */
        carrot_scoring_t sc;
        carrot_rules_score(r, &a, &sc);
        ck_assert_int_eq(carrot_settle_apply(st, r, &a, &sc), 0);
        got[i] = total(&sc);
        if (i == 2) {
            ck_assert_int_eq(line(&sc, "cap.call"), -11);
            ck_assert_int_eq(line(&sc, "goal.calls"), 50); /* the third call of the week */
        }
    }
    ck_assert_int_eq(got[0], 12);
    ck_assert_int_eq(got[1], 12);
    ck_assert_int_eq(got[2], 1 + 50);
    ck_assert_int_eq(got[3], 0);
    /* the next day the cap starts again; the goal is paid once a week */
    a.occurred_at = a.recorded_at = at("2026-11-11T10:00:00Z");
    carrot_scoring_t sc;
    carrot_rules_score(r, &a, &sc);
    carrot_settle_apply(st, r, &a, &sc);
    ck_assert_int_eq(total(&sc), 12);
    ck_assert_int_eq(line(&sc, "goal.calls"), -999);
    /* another participant has caps and goals of their own */
    a.participant_id = "cy";
    carrot_rules_score(r, &a, &sc);
    carrot_settle_apply(st, r, &a, &sc);
    ck_assert_int_eq(total(&sc), 12);
    carrot_settle_destroy(st);
    carrot_rules_destroy(r);
}
END_TEST

/* Periods in the program's time zone: where a day, an ISO week, a month and
 * a quarter start and end. */
START_TEST(periods_in_time_zone) {
    char id[32];
    int64_t end;
    /* 05:30 UTC on Monday 2026-11-23 is still Sunday evening in Chicago (UTC-6) */
    int64_t t = at("2026-11-23T05:30:00Z");
    ck_assert_int_eq(
        carrot_period_of(CARROT_PERIOD_DAY, t, "America/Chicago", id, sizeof(id), &end), 0);
    ck_assert_str_eq(id, "d:2026-11-22");
    ck_assert_int_eq(end, at("2026-11-23T06:00:00Z"));
    carrot_period_of(CARROT_PERIOD_WEEK, t, "America/Chicago", id, sizeof(id), &end);
    ck_assert_str_eq(id, "w:2026-W47");
    ck_assert_int_eq(end, at("2026-11-23T06:00:00Z"));
    carrot_period_of(CARROT_PERIOD_WEEK, t, "UTC", id, sizeof(id), &end);
    ck_assert_str_eq(id, "w:2026-W48");
    /* ISO week 53 of 2026 runs into January 2027 */
    carrot_period_of(CARROT_PERIOD_WEEK, at("2027-01-02T12:00:00Z"), "UTC", id, sizeof(id), NULL);
    ck_assert_str_eq(id, "w:2026-W53");
    carrot_period_of(CARROT_PERIOD_MONTH, at("2026-12-01T03:00:00Z"), "America/Chicago", id,
                     sizeof(id), &end);
    ck_assert_str_eq(id, "m:2026-11");
    ck_assert_int_eq(end, at("2026-12-01T06:00:00Z"));
    carrot_period_of(CARROT_PERIOD_QUARTER, at("2026-11-02T00:00:00Z"), "Europe/Paris", id,
                     sizeof(id), &end);
    ck_assert_str_eq(id, "q:2026-Q4");
    ck_assert_int_eq(end, at("2026-12-31T23:00:00Z"));
    /* a day across the spring DST change is 23 hours long */
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-03-08T12:00:00Z"), "America/Chicago", id,
                     sizeof(id), &end);
    ck_assert_str_eq(id, "d:2026-03-08");
    ck_assert_int_eq(end, at("2026-03-09T05:00:00Z"));
    /* repeated calls (answered from the last period found) agree at the edges */
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-11-10T12:00:00Z"), "UTC", id, sizeof(id), &end);
    ck_assert_str_eq(id, "d:2026-11-10");
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-11-10T23:59:59.999Z"), "UTC", id, sizeof(id),
                     &end);
    ck_assert_str_eq(id, "d:2026-11-10");
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-11-11T00:00:00Z"), "UTC", id, sizeof(id), &end);
    ck_assert_str_eq(id, "d:2026-11-11");
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-11-10T23:00:00Z"), "UTC", id, sizeof(id), &end);
    ck_assert_str_eq(id, "d:2026-11-10");
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-11-10T23:00:00Z"), "America/Chicago", id,
                     sizeof(id), &end);
    ck_assert_str_eq(id, "d:2026-11-10");
    carrot_period_of(CARROT_PERIOD_DAY, at("2026-11-11T05:59:59Z"), "America/Chicago", id,
                     sizeof(id), &end);
    ck_assert_str_eq(id, "d:2026-11-10");
    carrot_period_of(CARROT_PERIOD_WEEK, at("2026-11-15T23:59:59Z"), "UTC", id, sizeof(id), NULL);
    ck_assert_str_eq(id, "w:2026-W46");
    carrot_period_of(CARROT_PERIOD_WEEK, at("2026-11-09T00:00:00Z"), "UTC", id, sizeof(id), NULL);
    ck_assert_str_eq(id, "w:2026-W46");
    carrot_period_of(CARROT_PERIOD_WEEK, at("2026-11-08T23:59:59Z"), "UTC", id, sizeof(id), NULL);
    ck_assert_str_eq(id, "w:2026-W45");
    carrot_period_of(CARROT_PERIOD_QUARTER, at("2026-10-01T00:00:00Z"), "UTC", id, sizeof(id),
                     NULL);
    ck_assert_str_eq(id, "q:2026-Q4");
    carrot_period_of(CARROT_PERIOD_QUARTER, at("2026-09-30T23:59:59Z"), "UTC", id, sizeof(id),
                     NULL);
    ck_assert_str_eq(id, "q:2026-Q3");
    ck_assert_int_eq(carrot_period_of(CARROT_PERIOD_PTD, t, "UTC", id, sizeof(id), NULL), 0);
    ck_assert_str_eq(id, "ptd");
    ck_assert_int_eq(carrot_period_of(CARROT_PERIOD_DAY, t, "Nowhere/City", id, sizeof(id), NULL),
                     -1);
    ck_assert_int_eq(carrot_tz_valid("../../etc/passwd"), 0);
    ck_assert_int_eq(carrot_period_parse("quarter"), CARROT_PERIOD_QUARTER);
    ck_assert_int_eq(carrot_period_parse("year"), -1);
}
END_TEST

/* "What earns points now": every rule, and only the promotions running or
 * starting within 14 days, with their window. */
START_TEST(explain_what_earns_now) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/deploy/demo/rules.yaml", CARROT_SOURCE_DIR);
    carrot_rules_t *r = carrot_rules_load(path, errstr, sizeof(errstr));
    ck_assert_msg(r != NULL, "%s", errstr);
    /* 2026-11-10 12:00 Chicago: dealer-quote-push runs (Nov 9-16), certification-week is over */
    char *text = carrot_rules_explain(r, at("2026-11-10T18:00:00Z"));
    ck_assert_ptr_nonnull(text);
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    ck_assert_msg(o != NULL, "%s: %s", err.text, text);
    ck_assert_str_eq(json_string_value(json_object_get(o, "version")), "2026.12-1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "timezone")), "America/Chicago");
    ck_assert_int_eq(json_array_size(json_object_get(o, "kpis")), 14);
    json_t *call = json_array_get(json_object_get(o, "kpis"), 7);
    ck_assert_str_eq(json_string_value(json_object_get(call, "id")), "call");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(call, "cap"), "points")),
                     40);
    json_t *promos = json_object_get(o, "promotions");
    ck_assert_int_eq(json_array_size(promos), 1);
    json_t *p = json_array_get(promos, 0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "id")), "dealer-quote-push");
    ck_assert(json_is_true(json_object_get(p, "running")));
    ck_assert_str_eq(json_string_value(json_object_get(p, "to")), "2026-11-16T06:00:00Z");
    ck_assert(json_real_value(json_object_get(p, "multiplier")) == 2.0);
    ck_assert_int_eq(json_array_size(json_object_get(o, "goals")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(o, "quality")), 2);
    json_decref(o);
    free(text);
    /* 2026-10-25: both promotions start within 14 days, neither runs yet */
    text = carrot_rules_explain(r, at("2026-10-27T12:00:00Z"));
    o = json_loads(text, 0, &err);
    ck_assert_int_eq(json_array_size(json_object_get(o, "promotions")), 2);
    ck_assert(json_is_false(
        json_object_get(json_array_get(json_object_get(o, "promotions"), 0), "running")));
    json_decref(o);
    free(text);
    /* December: nothing to show */
    text = carrot_rules_explain(r, at("2026-12-20T12:00:00Z"));
    o = json_loads(text, 0, &err);
    ck_assert_int_eq(json_array_size(json_object_get(o, "promotions")), 0);
    json_decref(o);
    free(text);
    carrot_rules_destroy(r);
}
END_TEST

#define COMMIT_BASE                                                                    \
    "program: p\nversion: v1\npoints: {call: 5, meeting: 10}\n"                        \
    "quality:\n  - {id: call_record, when: {activity: call}, require: [disposition], " \
    "complete_bonus: 2}\n"                                                             \
    "timeliness:\n  - {id: same_day, full_hours: 24, floor_percent: 50}\n"

/* A bad commitment is refused with its line and what is wrong. */
START_TEST(invalid_commitments_refused) {
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {COMMIT_BASE
         "commitments:\n  - {id: c, period: week, metric: {count: call}, target: ten}\n",
         "rules.yaml:9: commitments[0].target: expected an integer, not \"ten\""},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, metric: {count: cal}, target: 1}\n",
         "rules.yaml:9: commitments[0].metric.count: unknown activity type \"cal\""},
        {COMMIT_BASE
         "commitments:\n  - {id: c, period: week, metric: {points: calls}, target: 1}\n",
         "rules.yaml:9: commitments[0].metric.points: no rule \"calls\""},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, metric: {complete: x}, target: 80}\n",
         "commitments[0].metric.complete: no quality rule \"x\""},
        {COMMIT_BASE
         "commitments:\n  - {id: c, period: week, metric: {on_time: same_day}, target: 120}\n",
         "commitments[0].target: 120 is out of range (1 to 100)"},
        {COMMIT_BASE "commitments:\n  - {id: c, period: ptd, metric: {count: call}, target: 1}\n",
         "rules.yaml:9: commitments[0].period: a commitment is per day, week, month or quarter"},
        {COMMIT_BASE
         "commitments:\n  - {id: c, period: week, metric: {count: call, points: call}, target: 1}\n",
         "commitments[0].metric: name one of count, points, complete or on_time"},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, target: 1}\n",
         "commitments[0].metric: is required"},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, metric: {count: call}, target: 1, "
                     "who: {activity: call}}\n",
         "commitments[0].who: unknown key \"activity\""},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, metric: {count: call}, target: 1, "
                     "bonus: -5}\n",
         "commitments[0].bonus: -5 is out of range"},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, metric: {count: call}, target: 1}\n"
                     "  - {id: c, period: month, metric: {count: call}, target: 1}\n",
         "rules.yaml:10: commitments[1]: id \"c\" is used twice"},
        {COMMIT_BASE "commitments:\n  - {id: c, period: week, metric: {count: call}, target: 1, "
                     "streak: {periods: 1, bonus: 5}}\n",
         "commitments[0].streak.periods: 1 is out of range (2 to 520)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errstr[0] = '\0';
        carrot_rules_t *r = parse(cases[i].text);
        ck_assert_msg(r == NULL, "case %zu accepted", i);
        ck_assert_msg(strstr(errstr, cases[i].expect) != NULL, "case %zu: got \"%s\", want \"%s\"",
                      i, errstr, cases[i].expect);
    }
}
END_TEST

/* What one activity adds to each kind of commitment. */
START_TEST(commitment_metrics) {
    carrot_rules_t *r = parse(
        COMMIT_BASE
        "kpis:\n  - {id: demo, when: {activity: quote}, points: 7, cap: {period: day, "
        "points: 10}}\n"
        "commitments:\n"
        "  - {id: calls, text: \"15 calls a week\", period: week, metric: {count: [call, "
        "meeting]}, target: 15, who: {segment: dealer}, bonus: 20, penalty: -5, "
        "streak: {periods: 3, bonus: 50}}\n"
        "  - {id: pts, period: month, metric: {points: [base.call, quality.call_record, "
        "demo]}, target: 100}\n"
        "  - {id: complete, period: week, metric: {complete: call_record}, target: 80}\n"
        "  - {id: timely, period: week, metric: {on_time: same_day}, target: 90}\n");
    ck_assert_msg(r != NULL, "%s", errstr);
    ck_assert_int_eq(carrot_rules_ncommitments(r), 4);
    const carrot_commitment_t *c = carrot_rules_commitment(r, 0);
    ck_assert_str_eq(c->id, "calls");
    ck_assert_str_eq(c->text, "15 calls a week");
    ck_assert_int_eq(c->period, CARROT_PERIOD_WEEK);
    ck_assert_int_eq(c->metric, CARROT_COMMIT_COUNT);
    ck_assert_int_eq(c->target, 15);
    ck_assert_int_eq(c->bonus, 20);
    ck_assert_int_eq(c->penalty, -5);
    ck_assert_int_eq(c->streak_periods, 3);
    ck_assert_int_eq(c->streak_bonus, 50);
    ck_assert_str_eq(carrot_rules_commitment(r, 1)->text, "");
    ck_assert_ptr_null(carrot_rules_commitment(r, 4));
    ck_assert_int_eq(carrot_rules_commitment_find(r, "timely"), 3);
    ck_assert_int_eq(carrot_rules_commitment_find(r, "nope"), -1);
    ck_assert_str_eq(carrot_commit_metric_name(CARROT_COMMIT_ON_TIME), "on_time");
    ck_assert(carrot_rules_commitment_holds(r, 0, "dealer", NULL, NULL, -1));
    ck_assert(!carrot_rules_commitment_holds(r, 0, "direct", NULL, NULL, -1));
    ck_assert(!carrot_rules_commitment_holds(r, 0, NULL, NULL, NULL, -1));
    ck_assert(carrot_rules_commitment_holds(r, 1, NULL, NULL, NULL, -1));

    /* a dealer's complete call, logged 2 h after: counts 1, 5 + 2 points, complete, on time */
    int64_t t0 = at("2026-11-10T15:00:00Z");
    carrot_activity_t a = {.activity_type = "call",
                           .change_type = CARROT_CHANGE_CREATE,
                           .segment = "dealer",
                           .disposition = "connected",
                           .occurred_at = t0,
                           .recorded_at = t0 + 2 * 3600000};
    carrot_scoring_t sc;
    ck_assert_int_gt(carrot_rules_score(r, &a, &sc), 0);
    ck_assert_int_eq(sc.ncommits, 4);
    ck_assert_str_eq(sc.commits[0].id, "calls");
    ck_assert_int_eq(sc.commits[0].value, 1);
    ck_assert_int_eq(sc.commits[0].judged, 0);
    ck_assert_str_eq(sc.commits[1].id, "pts");
    ck_assert_int_eq(sc.commits[1].value, 7);
    ck_assert_int_eq(sc.commits[1].period, CARROT_PERIOD_MONTH);
    ck_assert_int_eq(sc.commits[2].value, 1);
    ck_assert_int_eq(sc.commits[2].judged, 1);
    ck_assert_int_eq(sc.commits[3].value, 1);
    ck_assert_int_eq(sc.commits[3].judged, 1);
    /* a direct rep's incomplete call logged 30 h late: not counted for "calls" (dealers),
       judged incomplete and late */
    a.segment = "direct";
    a.disposition = NULL;
    a.recorded_at = t0 + 30 * 3600000LL;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(sc.ncommits, 3);
    ck_assert_str_eq(sc.commits[0].id, "pts");
    ck_assert_int_eq(sc.commits[0].value, 5); /* timeliness took 3 off, but it is not named */
    ck_assert_str_eq(sc.commits[1].id, "complete");
    ck_assert_int_eq(sc.commits[1].value, 0);
    ck_assert_int_eq(sc.commits[1].judged, 1);
    ck_assert_int_eq(sc.commits[2].value, 0);
    ck_assert_int_eq(sc.commits[2].judged, 1);
    /* a quote: its capped KPI is named, so the cap counts (with_cap); no quality rule judges it */
    a.activity_type = "quote";
    a.recorded_at = t0;
    carrot_rules_score(r, &a, &sc);
    ck_assert_int_eq(sc.ncommits, 2);
    ck_assert_str_eq(sc.commits[0].id, "pts");
    ck_assert_int_eq(sc.commits[0].value, 7);
    ck_assert(sc.commits[0].with_cap);
    ck_assert_str_eq(sc.commits[1].id, "timely");
    /* a DELETE adds nothing here: the scorer takes back what the record added */
    a.change_type = CARROT_CHANGE_DELETE;
    ck_assert_int_eq(carrot_rules_score(r, &a, &sc), 0);
    ck_assert_int_eq(sc.ncommits, 0);
    carrot_rules_destroy(r);
}
END_TEST

/* How the rules judge a record for the adoption facts: whatever it earns,
 * quality and timeliness rules whose `when` matches judge it, and its band
 * is the first that holds it. */
START_TEST(judge_records) {
    carrot_rules_t *r = parse(kinds);
    ck_assert_msg(r != NULL, "%s", errstr);
    carrot_kv_t product = {"product", "X200"};
    carrot_activity_t a = {.activity_type = "call",
                           .change_type = CARROT_CHANGE_CREATE,
                           .participant_id = "ann",
                           .account_id = "acct-1",
                           .disposition = "connected",
                           .text_length = 12,
                           .ncustom = 1,
                           .has_tenure_days = 1,
                           .tenure_days = 30,
                           .occurred_at = at("2026-11-10T10:00:00Z")};
    a.custom[0] = product;
    a.recorded_at = a.occurred_at + 24 * 3600000LL; /* exactly full_hours: on time */
    carrot_judgement_t j;
    carrot_rules_judge(r, &a, &j);
    ck_assert_int_eq(j.q_judged, 1);
    ck_assert_int_eq(j.complete, 1);
    ck_assert_int_eq(j.t_judged, 1);
    ck_assert_int_eq(j.on_time, 1);
    ck_assert_str_eq(j.band, "new");
    a.recorded_at += 1;      /* a millisecond later: late */
    a.disposition = "lunch"; /* outside the pick list: incomplete */
    a.tenure_days = 400;
    carrot_rules_judge(r, &a, &j);
    ck_assert_int_eq(j.q_judged, 1);
    ck_assert_int_eq(j.complete, 0);
    ck_assert_int_eq(j.on_time, 0);
    ck_assert_str_eq(j.band, "seasoned");
    a.activity_type = "meeting"; /* no rule applies: judged by none, neither good */
    a.has_tenure_days = 0;
    carrot_rules_judge(r, &a, &j);
    ck_assert_int_eq(j.q_judged + j.complete + j.t_judged + j.on_time, 0);
    ck_assert_ptr_null(j.band);
    a.activity_type = "quote"; /* timeliness only; a DELETE is judged the same way */
    a.change_type = CARROT_CHANGE_DELETE;
    a.recorded_at = a.occurred_at - 5000; /* logged "before" it happened: lag 0 */
    carrot_rules_judge(r, &a, &j);
    ck_assert_int_eq(j.q_judged, 0);
    ck_assert_int_eq(j.t_judged, 1);
    ck_assert_int_eq(j.on_time, 1);
    int has_min, has_max, levels;
    int64_t min, max;
    ck_assert_str_eq(carrot_rules_band(r, 0, &has_min, &min, &has_max, &max, &levels), "new");
    ck_assert(!has_min && has_max && max == 90 && !levels);
    ck_assert_str_eq(carrot_rules_band(r, 2, &has_min, &min, &has_max, &max, &levels),
                     "new_by_level");
    ck_assert(levels);
    ck_assert_ptr_null(carrot_rules_band(r, 3, &has_min, &min, &has_max, &max, &levels));
    carrot_rules_destroy(r);
}
END_TEST

int main(void) {
    const TTest *tests[] = {demo_rules_load,
                            invalid_commitments_refused,
                            commitment_metrics,
                            invalid_rules_name_line_and_problem,
                            change_types_and_json_shorthand,
                            each_rule_kind,
                            judge_records,
                            caps_and_goals_settle,
                            periods_in_time_zone,
                            explain_what_earns_now,
                            NULL};
    return carrot_test_run(carrot_test_suite("rules", tests));
}
