/* test_codec.c: single-object encoding of CrmActivity: round trip, header
 * layout, schema resolution from an older writer, and every kind of bad
 * input rejected with the right error instead of a crash, including strings
 * (of activities and awards) that are not UTF-8 or hold a NUL byte. */
#include "carrot/activity.h"
#include "carrot/award.h"
#include "carrot/codec.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static char errstr[512];

static carrot_activity_t sample(void) {
    carrot_activity_t a = {.event_id = "evt-1",
                           .program_id = "demo",
                           .source_system = "salesforce",
                           .source_record_id = "00T5e00000AbCdE",
                           .change_type = CARROT_CHANGE_CREATE,
                           .activity_type = "call",
                           .occurred_at = 1793000000000LL,
                           .recorded_at = 1793000060000LL,
                           .participant_id = "005xx0001",
                           .segment = "dealer",
                           .region = "west",
                           .has_tenure_days = 1,
                           .tenure_days = 400,
                           .disposition = "connected",
                           .has_amount = 1,
                           .amount_minor = 123456,
                           .currency = "USD",
                           .has_duration = 1,
                           .duration_seconds = 300,
                           .text_length = 42,
                           .ncustom = 2,
                           .custom = {{"Product__c", "pump-x"}, {"Channel__c", "phone"}}};
    return a;
}

static const void *encode(carrot_codec_t *c, const carrot_activity_t *a, size_t *lenp) {
    avro_value_t *v = carrot_codec_value(c);
    ck_assert_int_eq(carrot_activity_to_avro(a, v, errstr, sizeof(errstr)), 0);
    const void *buf;
    ck_assert_int_eq(carrot_codec_encode(c, v, &buf, lenp, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    return buf;
}

START_TEST(round_trip) {
    carrot_codec_t *c = carrot_activity_codec_new(errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(c);
    carrot_activity_t in = sample(), out;
    size_t len;
    const unsigned char *buf = encode(c, &in, &len);
    ck_assert_uint_eq(buf[0], 0xC3);
    ck_assert_uint_eq(buf[1], 0x01);
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++) fp |= (uint64_t)buf[2 + i] << (8 * i);
    ck_assert_uint_eq(fp, carrot_codec_fingerprint(c));
    char *copy = malloc(len);
    memcpy(copy, buf, len);
    avro_value_t *v;
    ck_assert_int_eq(carrot_codec_decode(c, copy, len, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    ck_assert_int_eq(carrot_activity_from_avro(v, &out, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(out.event_id, "evt-1");
    ck_assert_str_eq(out.source_record_id, "00T5e00000AbCdE");
    ck_assert_int_eq(out.change_type, CARROT_CHANGE_CREATE);
    ck_assert_int_eq(out.occurred_at, 1793000000000LL);
    ck_assert_str_eq(out.segment, "dealer");
    ck_assert_ptr_null(out.team_id);
    ck_assert_int_eq(out.has_tenure_days, 1);
    ck_assert_int_eq(out.tenure_days, 400);
    ck_assert_int_eq(out.amount_minor, 123456);
    ck_assert_int_eq(out.text_length, 42);
    ck_assert_uint_eq(out.ncustom, 2);
    ck_assert_int_eq(carrot_activity_validate(&out, errstr, sizeof(errstr)), 0);
    free(copy);
    carrot_codec_destroy(c);
    carrot_codec_destroy(NULL);
}
END_TEST

START_TEST(bad_input_is_classified) {
    carrot_codec_t *c = carrot_activity_codec_new(errstr, sizeof(errstr));
    carrot_activity_t in = sample();
    size_t len;
    const unsigned char *enc = encode(c, &in, &len);
    unsigned char *buf = malloc(len);
    memcpy(buf, enc, len);
    avro_value_t *v;

    ck_assert_int_eq(carrot_codec_decode(c, "{\"json\":1}", 10, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_FRAMING);
    ck_assert_int_eq(carrot_codec_decode(c, buf, 5, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_FRAMING);
    /* truncated body */
    ck_assert_int_eq(carrot_codec_decode(c, buf, len - 3, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    /* trailing garbage */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0x02;
    ck_assert_int_eq(carrot_codec_decode(c, longer, len + 1, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    ck_assert_ptr_nonnull(strstr(errstr, "trailing bytes"));
    free(longer);
    /* a string length of ~2^62: rejected before avro-c would allocate it */
    unsigned char huge[] = {0xC3, 0x01, 0,    0,    0,    0,    0,    0,    0,   0,
                            0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    memcpy(huge + 2, buf + 2, 8);
    ck_assert_int_eq(carrot_codec_decode(c, huge, sizeof(huge), &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    ck_assert_ptr_nonnull(strstr(errstr, "past the end"));
    /* unknown fingerprint */
    buf[5] ^= 0xff;
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(errstr, "unknown writer schema fingerprint"));
    buf[5] ^= 0xff;
    /* an enum index out of range: change_type is the 5th field, after four strings
     * of 5, 4, 10 and 15 bytes, each behind a one-byte length */
    const size_t change_at = 10 + (1 + 5) + (1 + 4) + (1 + 10) + (1 + 15);
    ck_assert_uint_eq(buf[change_at], 0x00); /* CREATE: index 0 */
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)), CARROT_CODEC_OK);
    const unsigned char beyond[] = {0x08 /* 4: one past UNDELETE */, 0x12 /* 9 */, 0x01 /* -1 */};
    for (size_t i = 0; i < sizeof(beyond); i++) {
        buf[change_at] = beyond[i];
        ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)),
                         CARROT_CODEC_ERR_BODY);
        ck_assert_ptr_nonnull(strstr(errstr, "enum index out of range"));
    }
    buf[change_at] = 0x00;
    ck_assert_str_eq(carrot_codec_err_name(CARROT_CODEC_ERR_BODY), "body");
    free(buf);
    carrot_codec_destroy(c);
}
END_TEST

/* Version 0 of CrmActivity: fewer fields. The current reader fills the rest
 * from the defaults in schemas/crm_activity.avsc. */
static const char v0_schema[] =
    "{\"type\":\"record\",\"name\":\"CrmActivity\",\"namespace\":\"io.carrot.crm\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"program_id\",\"type\":\"string\"},"
    "{\"name\":\"source_system\",\"type\":\"string\"},"
    "{\"name\":\"source_record_id\",\"type\":\"string\"},"
    "{\"name\":\"change_type\",\"type\":{\"type\":\"enum\",\"name\":\"ChangeType\","
    "\"symbols\":[\"CREATE\",\"UPDATE\",\"DELETE\",\"UNDELETE\"]}},"
    "{\"name\":\"activity_type\",\"type\":\"string\"},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"recorded_at\",\"type\":\"long\"},"
    "{\"name\":\"participant_id\",\"type\":\"string\"}]}";

START_TEST(older_writer_resolves) {
    carrot_codec_t *cur = carrot_activity_codec_new(errstr, sizeof(errstr));
    carrot_codec_t *old = carrot_codec_new(v0_schema, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(old);
    avro_value_t *v = carrot_codec_value(old), f;
    const char *strs[][2] = {{"event_id", "e0"},           {"program_id", "demo"},
                             {"source_system", "old"},     {"source_record_id", "r0"},
                             {"activity_type", "meeting"}, {"participant_id", "p7"}};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_int_eq(avro_value_get_by_name(v, strs[i][0], &f, NULL), 0);
        ck_assert_int_eq(avro_value_set_string(&f, strs[i][1]), 0);
    }
    avro_value_get_by_name(v, "change_type", &f, NULL);
    avro_value_set_enum(&f, CARROT_CHANGE_DELETE);
    avro_value_get_by_name(v, "occurred_at", &f, NULL);
    avro_value_set_long(&f, 1793000000000LL);
    avro_value_get_by_name(v, "recorded_at", &f, NULL);
    avro_value_set_long(&f, 1793000000001LL);
    const void *buf;
    size_t len;
    ck_assert_int_eq(carrot_codec_encode(old, v, &buf, &len, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);

    avro_value_t *out;
    /* not registered yet: unknown */
    ck_assert_int_eq(carrot_codec_decode(cur, buf, len, &out, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_UNKNOWN);
    ck_assert_msg(carrot_codec_add_writer(cur, v0_schema, errstr, sizeof(errstr)) == 0, "%s",
                  errstr);
    ck_assert_int_eq(carrot_codec_add_writer(cur, v0_schema, errstr, sizeof(errstr)), 0);
    ck_assert_msg(carrot_codec_decode(cur, buf, len, &out, errstr, sizeof(errstr)) ==
                      CARROT_CODEC_OK,
                  "%s", errstr);
    carrot_activity_t a;
    ck_assert_msg(carrot_activity_from_avro(out, &a, errstr, sizeof(errstr)) == 0, "%s", errstr);
    ck_assert_str_eq(a.event_id, "e0");
    ck_assert_str_eq(a.activity_type, "meeting");
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_DELETE);
    ck_assert_ptr_null(a.segment);
    ck_assert_int_eq(a.text_length, 0);
    ck_assert_uint_eq(a.ncustom, 0);
    carrot_codec_destroy(old);
    carrot_codec_destroy(cur);
}
END_TEST

START_TEST(validation_rejects_bad_activities) {
    carrot_activity_t a = sample();
    ck_assert_int_eq(carrot_activity_validate(&a, errstr, sizeof(errstr)), 0);
    a.participant_id = "";
    ck_assert_int_eq(carrot_activity_validate(&a, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "missing participant_id");
    a = sample();
    a.activity_type = "coffee_break";
    ck_assert_int_eq(carrot_activity_validate(&a, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "unknown activity type \"coffee_break\"");
    a = sample();
    a.occurred_at = 5;
    ck_assert_int_eq(carrot_activity_validate(&a, errstr, sizeof(errstr)), -1);
    a = sample();
    a.currency = "DOLLARS";
    ck_assert_int_eq(carrot_activity_validate(&a, errstr, sizeof(errstr)), -1);
}
END_TEST

/* avro-c writes whatever bytes it is given as a string, as another producer
 * of the topic might: the decoder must refuse them. */
START_TEST(strings_must_be_utf8_without_nul) {
    carrot_codec_t *c = carrot_activity_codec_new(errstr, sizeof(errstr));
    carrot_activity_t in = sample();
    in.participant_id = "p\xed\xa0\x80"; /* a surrogate */
    size_t len;
    const void *enc = encode(c, &in, &len);
    unsigned char *buf = malloc(len);
    memcpy(buf, enc, len);
    avro_value_t *v;
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    ck_assert_msg(strstr(errstr, "(field \"participant_id\"): not valid UTF-8: a surrogate") !=
                      NULL,
                  "%s", errstr);
    free(buf);
    /* a custom field's key is a string too */
    in = sample();
    in.custom[0].key = "Prod\xc0\xafuct";
    enc = encode(c, &in, &len);
    buf = malloc(len);
    memcpy(buf, enc, len);
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    ck_assert_msg(strstr(errstr, "(field \"custom\"): not valid UTF-8: an overlong") != NULL, "%s",
                  errstr);
    free(buf);
    /* a NUL inside a string: valid UTF-8, but it would cut the id short */
    in = sample();
    in.event_id = "evt-XYZ";
    enc = encode(c, &in, &len);
    buf = malloc(len);
    memcpy(buf, enc, len);
    unsigned char *x = memchr(buf, 'X', len);
    ck_assert_ptr_nonnull(x);
    *x = '\0';
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    ck_assert_msg(strstr(errstr, "(field \"event_id\"): a NUL byte at byte 4 of the string") !=
                      NULL,
                  "%s", errstr);
    free(buf);
    /* producers refuse the same before encoding */
    in = sample();
    in.segment = "d\xc3(aler";
    ck_assert_int_eq(carrot_activity_validate(&in, errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "segment is not valid UTF-8: a truncated sequence at byte 1");
    carrot_codec_destroy(c);

    /* and awards, through the same decoder */
    c = carrot_award_codec_new(errstr, sizeof(errstr));
    carrot_award_t aw = {.award_id = "a-1",
                         .program_id = "demo",
                         .event_id = "e-1",
                         .participant_id = "p1",
                         .region = "r\xf4\x90\x80\x80",
                         .activity_type = "call",
                         .rule_id = "r",
                         .rules_version = "v",
                         .points = 5,
                         .occurred_at = 1793000000000LL,
                         .awarded_at = 1793000000000LL};
    v = carrot_codec_value(c);
    ck_assert_int_eq(carrot_award_to_avro(&aw, v, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_codec_encode(c, v, &enc, &len, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    buf = malloc(len);
    memcpy(buf, enc, len);
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)),
                     CARROT_CODEC_ERR_BODY);
    ck_assert_msg(
        strstr(errstr, "(field \"region\"): not valid UTF-8: a code point above U+10FFFF") != NULL,
        "%s", errstr);
    free(buf);
    aw.region = "r\xc3\xa9gion"; /* valid: decodes */
    v = carrot_codec_value(c);
    ck_assert_int_eq(carrot_award_to_avro(&aw, v, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_codec_encode(c, v, &enc, &len, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    buf = malloc(len);
    memcpy(buf, enc, len);
    ck_assert_msg(carrot_codec_decode(c, buf, len, &v, errstr, sizeof(errstr)) == CARROT_CODEC_OK,
                  "%s", errstr);
    free(buf);
    carrot_codec_destroy(c);
}
END_TEST

int main(void) {
    const TTest *tests[] = {round_trip,
                            bad_input_is_classified,
                            older_writer_resolves,
                            validation_rejects_bad_activities,
                            strings_must_be_utf8_without_nul,
                            NULL};
    return carrot_test_run(carrot_test_suite("codec", tests));
}
