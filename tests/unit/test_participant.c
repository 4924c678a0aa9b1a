/* test_participant.c: the Participant codec: round trip (single-object and
 * Confluent framing), bytes written with schema version 1 decoding under
 * version 2 with hide_from_screen false, the Kafka key, and validation. */
#include "carrot/codec.h"
#include "carrot/participant.h"
#include "carrot/schemas.h"
#include "testutil.h"

#include <string.h>

static char errstr[512];

static carrot_participant_t sample(void) {
    carrot_participant_t p;
    carrot_participant_init(&p);
    strcpy(p.program_id, "demo");
    strcpy(p.participant_id, "005xx0001");
    strcpy(p.display_name, "Zoë Ramírez");
    strcpy(p.segment, "dealer");
    strcpy(p.team_id, "team-03");
    strcpy(p.region, "west");
    p.hired_at_ms = 1600000000000LL;
    p.level = 2;
    strcpy(p.supervisor_id, "005xx0000");
    p.hide_from_screen = 1;
    p.updated_at_ms = 1793000000000LL;
    return p;
}

static carrot_participant_t round_trip_with(carrot_codec_t *c, const carrot_participant_t *in) {
    avro_value_t *v = carrot_codec_value(c), *out;
    const void *buf;
    size_t len;
    ck_assert_msg(carrot_participant_to_avro(in, v, errstr, sizeof(errstr)) == 0, "%s", errstr);
    ck_assert_int_eq(carrot_codec_encode(c, v, &buf, &len, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    ck_assert_msg(carrot_codec_decode(c, buf, len, &out, errstr, sizeof(errstr)) == CARROT_CODEC_OK,
                  "%s", errstr);
    carrot_participant_t p;
    ck_assert_msg(carrot_participant_from_avro(out, &p, errstr, sizeof(errstr)) == 0, "%s", errstr);
    return p;
}

/* field by field: padding bytes of a struct copied by value are unspecified */
static void same(const carrot_participant_t *a, const carrot_participant_t *b) {
    ck_assert_str_eq(a->program_id, b->program_id);
    ck_assert_str_eq(a->participant_id, b->participant_id);
    ck_assert_str_eq(a->display_name, b->display_name);
    ck_assert_str_eq(a->segment, b->segment);
    ck_assert_str_eq(a->team_id, b->team_id);
    ck_assert_str_eq(a->region, b->region);
    ck_assert_int_eq(a->hired_at_ms, b->hired_at_ms);
    ck_assert_int_eq(a->level, b->level);
    ck_assert_str_eq(a->supervisor_id, b->supervisor_id);
    ck_assert_int_eq(a->active, b->active);
    ck_assert_int_eq(a->hide_from_screen, b->hide_from_screen);
    ck_assert_int_eq(a->updated_at_ms, b->updated_at_ms);
}

START_TEST(round_trip) {
    carrot_codec_t *c = carrot_participant_codec_new(errstr, sizeof(errstr));
    ck_assert_msg(c != NULL, "%s", errstr);
    carrot_participant_t in = sample(), out = round_trip_with(c, &in);
    same(&in, &out);
    /* the optional fields absent: null in Avro, "" / 0 / -1 back */
    carrot_participant_init(&in);
    strcpy(in.program_id, "demo");
    strcpy(in.participant_id, "p1");
    in.active = 0;
    in.updated_at_ms = 1793000000000LL;
    out = round_trip_with(c, &in);
    same(&in, &out);
    ck_assert_int_eq(out.level, -1);
    ck_assert_int_eq(out.hired_at_ms, 0);
    ck_assert_str_eq(out.display_name, "");
    /* the Confluent wire format, as activities have it */
    carrot_codec_set_registry_id(c, 7);
    ck_assert_int_eq(
        carrot_codec_add_writer_id(c, 7, carrot_schema_participant, errstr, sizeof(errstr)), 0);
    in = sample();
    out = round_trip_with(c, &in);
    same(&in, &out);
    carrot_codec_destroy(c);
}
END_TEST

START_TEST(version_1_bytes_decode_under_version_2) {
    /* a producer of before hide_from_screen, writing with the version 1 schema */
    carrot_codec_t *v1 = carrot_codec_new(carrot_schema_participant_v1, errstr, sizeof(errstr));
    carrot_codec_t *v2 = carrot_participant_codec_new(errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(v1);
    ck_assert_ptr_nonnull(v2);
    ck_assert_uint_ne(carrot_codec_fingerprint(v1), carrot_codec_fingerprint(v2));
    avro_value_t *v = carrot_codec_value(v1), f, b, *out;
    ck_assert_int_eq(avro_value_get_by_name(v, "participant_id", &f, NULL), 0);
    avro_value_set_string(&f, "p0007");
    avro_value_get_by_name(v, "program_id", &f, NULL);
    avro_value_set_string(&f, "demo");
    avro_value_get_by_name(v, "display_name", &f, NULL);
    avro_value_set_branch(&f, 1, &b);
    avro_value_set_string(&b, "Ada Okafor");
    const char *nulls[] = {"segment", "team_id", "region", "hired_at", "level", "supervisor_id"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        avro_value_get_by_name(v, nulls[i], &f, NULL);
        avro_value_set_branch(&f, 0, &b);
        avro_value_set_null(&b);
    }
    avro_value_get_by_name(v, "active", &f, NULL);
    avro_value_set_boolean(&f, 1);
    avro_value_get_by_name(v, "updated_at", &f, NULL);
    avro_value_set_long(&f, 1793000000000LL);
    const void *buf;
    size_t len;
    ck_assert_msg(carrot_codec_encode(v1, v, &buf, &len, errstr, sizeof(errstr)) == CARROT_CODEC_OK,
                  "%s", errstr);
    ck_assert_msg(carrot_codec_decode(v2, buf, len, &out, errstr, sizeof(errstr)) ==
                      CARROT_CODEC_OK,
                  "%s", errstr);
    carrot_participant_t p;
    ck_assert_msg(carrot_participant_from_avro(out, &p, errstr, sizeof(errstr)) == 0, "%s", errstr);
    ck_assert_str_eq(p.participant_id, "p0007");
    ck_assert_str_eq(p.display_name, "Ada Okafor");
    ck_assert_str_eq(p.segment, "");
    ck_assert_int_eq(p.level, -1);
    ck_assert_int_eq(p.active, 1);
    ck_assert_int_eq(p.hide_from_screen, 0); /* the version 2 default */
    ck_assert_int_eq(p.updated_at_ms, 1793000000000LL);
    carrot_codec_destroy(v1);
    carrot_codec_destroy(v2);
}
END_TEST

START_TEST(key_splits_back) {
    carrot_participant_t p = sample();
    char key[514];
    size_t n = carrot_participant_key(&p, key, sizeof(key));
    ck_assert_uint_eq(n, strlen("demo") + 1 + strlen("005xx0001"));
    ck_assert_mem_eq(key,
                     "demo\x1e"
                     "005xx0001",
                     n);
    /* the longest ids fit the documented buffer */
    memset(p.program_id, 'a', 256);
    p.program_id[256] = '\0';
    memset(p.participant_id, 'b', 256);
    p.participant_id[256] = '\0';
    ck_assert_uint_eq(carrot_participant_key(&p, key, sizeof(key)), 513);
}
END_TEST

static void rejects(carrot_participant_t p, const char *want) {
    ck_assert_int_eq(carrot_participant_validate(&p, errstr, sizeof(errstr)), -1);
    ck_assert_msg(strstr(errstr, want) != NULL, "want \"%s\" in \"%s\"", want, errstr);
}

START_TEST(validation) {
    carrot_participant_t p = sample();
    ck_assert_int_eq(carrot_participant_validate(&p, errstr, sizeof(errstr)), 0);
    p.participant_id[0] = '\0';
    rejects(p, "missing participant_id");
    p = sample();
    p.program_id[0] = '\0';
    rejects(p, "missing program_id");
    p = sample();
    strcpy(p.team_id, "team\x1e"
                      "1");
    rejects(p, "team_id holds a control character (0x1e)");
    p = sample();
    strcpy(p.display_name, "Jo\nDoe");
    rejects(p, "display_name holds a control character");
    p = sample();
    strcpy(p.region, "\xc3\x28");
    rejects(p, "region is not valid UTF-8");
    p = sample();
    strcpy(p.display_name, "\xed\xa0\x80"); /* a UTF-16 surrogate: not strict UTF-8 */
    rejects(p, "display_name is not valid UTF-8");
    p = sample();
    p.level = 1001;
    rejects(p, "level 1001");
    p = sample();
    p.updated_at_ms = 0;
    rejects(p, "updated_at 0 is not a time");
    p = sample();
    p.hired_at_ms = -3000000000000LL;
    rejects(p, "hired_at");
    p = sample();
    strcpy(p.supervisor_id, p.participant_id);
    rejects(p, "supervise themselves");
    char field[64], long_segment[65];
    memset(long_segment, 's', 64);
    long_segment[64] = '\0';
    ck_assert_int_eq(carrot_participant_set(field, sizeof(field), "segment", long_segment, errstr,
                                            sizeof(errstr)),
                     -1);
    ck_assert_str_eq(errstr, "segment is longer than 63 bytes");
}
END_TEST

START_TEST(decoded_strings_are_checked) {
    /* bytes that name a participant with a control character: the directory
     * refuses them even when a producer of its own did not check */
    carrot_codec_t *c = carrot_participant_codec_new(errstr, sizeof(errstr));
    carrot_participant_t in = sample();
    strcpy(in.participant_id, "p\x01");
    avro_value_t *v = carrot_codec_value(c), *out;
    const void *buf;
    size_t len;
    ck_assert_int_eq(carrot_participant_to_avro(&in, v, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_codec_encode(c, v, &buf, &len, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    ck_assert_int_eq(carrot_codec_decode(c, buf, len, &out, errstr, sizeof(errstr)),
                     CARROT_CODEC_OK);
    carrot_participant_t p;
    ck_assert_int_eq(carrot_participant_from_avro(out, &p, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "participant_id holds a control character"));
    carrot_codec_destroy(c);
}
END_TEST

int main(void) {
    const TTest *tests[] = {round_trip,
                            version_1_bytes_decode_under_version_2,
                            key_splits_back,
                            validation,
                            decoded_strings_are_checked,
                            NULL};
    return carrot_test_run(carrot_test_suite("participant", tests));
}
