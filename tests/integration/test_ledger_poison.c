/* test_ledger_poison.c: awards no ledger can book, in the middle of one
 * batch of good ones: a string that is not UTF-8 and one holding a NUL byte
 * (refused by the decoder) and a timestamp PostgreSQL cannot store (refused
 * by the COPY, found by booking the batch in halves). Each lands in the
 * dead-letter topic with its reason and original bytes; every good award
 * before and after is booked exactly once, in the same transaction; the
 * ledger goes on to later awards; a restart and a replay of the whole topic
 * by another group book nothing twice. */
#include "carrot/award.h"
#include "ittools.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char program[48], topic[96], dlq[96], group[96];

typedef struct {
    char *bytes;
    size_t len;
} blob_t;

/* Encodes one award as the scorer would (or another producer might). */
static blob_t encode_award(const carrot_award_t *a) {
    char errstr[512];
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    ck_assert_msg(codec != NULL, "%s", errstr);
    avro_value_t *v = carrot_codec_value(codec);
    const void *buf;
    size_t len;
    ck_assert_int_eq(carrot_award_to_avro(a, v, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_codec_encode(codec, v, &buf, &len, errstr, sizeof(errstr)), 0);
    blob_t b = {malloc(len), len};
    memcpy(b.bytes, buf, len);
    carrot_codec_destroy(codec);
    return b;
}

/* Runs `carrot-ledger run` for group to the end and returns its summary line. */
static char *run_ledger(const char *grp) {
    char *out;
    ck_assert_int_eq(it_ledger(&out, "run", "--topic", topic, "--dlq-topic", dlq, "--group", grp,
                               "--batch-size", "5000", "--batch-ms", "1000", "--until-drained",
                               "--log-level", "error", NULL),
                     0);
    return out;
}

static long long summary(const char *out, const char *key) {
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(out, k);
    ck_assert_msg(p != NULL, "no %s in %s", key, out);
    return atoll(p + strlen(k));
}

static char *value(const char *sql) {
    PGconn *pg = it_pg();
    const char *params[] = {program};
    char *v = it_pg_value(pg, sql, 1, params);
    PQfinish(pg);
    return v;
}

START_TEST(poison_in_mid_batch_is_dead_lettered_and_the_rest_booked_once) {
    it_unique(program, sizeof(program), "px");
    snprintf(topic, sizeof(topic), "%s.awards", program);
    snprintf(dlq, sizeof(dlq), "%s.awards.dlq", program);
    snprintf(group, sizeof(group), "%s.ledger", program);
    it_create_topic(topic, 1, NULL);
    it_create_topic(dlq, 1, NULL);
    ck_assert_int_eq(it_ledger(NULL, "migrate", NULL), 0);

    const char *who[20];
    int64_t pts[20];
    for (int i = 0; i < 20; i++) {
        who[i] = i % 2 ? "bob" : "ann";
        pts[i] = i + 1; /* ann: 1+3+...+19 = 100, bob: 2+4+...+20 = 110 per 20 */
    }
    it_produce_awards(topic, program, "before", 20, who, pts, NULL); /* offsets 0..19 */

    int64_t now = 1793000000000LL;
    carrot_award_t a = {.award_id = "utf8",
                        .program_id = program,
                        .event_id = "e-utf8",
                        .participant_id = "ann\xc3(",
                        .activity_type = "call",
                        .rule_id = "r",
                        .rules_version = "v",
                        .points = 1000,
                        .occurred_at = now,
                        .awarded_at = now};
    blob_t poison[3];
    poison[0] = encode_award(&a); /* offset 20: not UTF-8 */
    a.award_id = "nul-X";
    a.participant_id = "ann";
    poison[1] = encode_award(&a); /* offset 21: a NUL would book it as "nul-" */
    char *x = memchr(poison[1].bytes, 'X', poison[1].len);
    ck_assert_ptr_nonnull(x);
    *x = '\0';
    a.award_id = "far-future";
    a.occurred_at = 10000000000000000LL; /* the year 316889: beyond timestamptz */
    poison[2] = encode_award(&a);        /* offset 22 */
    for (int i = 0; i < 3; i++) it_produce(topic, "ann", poison[i].bytes, poison[i].len);
    it_produce_awards(topic, program, "after", 20, who, pts, NULL); /* offsets 23..42 */

    char *out = run_ledger(group);
    ck_assert_int_eq(summary(out, "booked"), 40);
    ck_assert_int_eq(summary(out, "already_booked"), 0);
    ck_assert_int_eq(summary(out, "dead_lettered"), 3);
    free(out);

    /* every good award once, none of the poison, all in one transaction
     * (booked_at is the transaction's now()): the poison was mid-batch */
    char *v = value("SELECT count(*) || '/' || count(DISTINCT award_id) || '/' || sum(points)"
                    " || '/' || count(DISTINCT booked_at) || '/' || min(source_offset) || '-'"
                    " || max(source_offset) FROM awards WHERE program_id = $1");
    ck_assert_str_eq(v, "40/40/420/1/0-42");
    free(v);
    v = value("SELECT count(*) FROM awards WHERE program_id = $1 AND (award_id LIKE 'nul%'"
              " OR award_id IN ('utf8', 'far-future') OR source_offset BETWEEN 20 AND 22)");
    ck_assert_str_eq(v, "0");
    free(v);
    v = value("SELECT string_agg(participant_id || '=' || available, ',' ORDER BY participant_id)"
              " FROM balances WHERE program_id = $1");
    ck_assert_str_eq(v, "ann=200,bob=220");
    free(v);
    const char *op[] = {group, topic};
    PGconn *pg = it_pg();
    v = it_pg_value(pg,
                    "SELECT next_offset FROM kafka_offsets WHERE consumer_group = $1"
                    " AND topic = $2",
                    2, op);
    ck_assert_str_eq(v, "43");
    free(v);
    PQfinish(pg);

    /* the dead letters: in order, original bytes, the reason */
    it_msg_t *msgs;
    size_t n = it_consume_all(dlq, &msgs);
    ck_assert_uint_eq(n, 3);
    const char *reasons[] = {
        "(field \"participant_id\"): not valid UTF-8: a truncated sequence at byte 3 of the string",
        /* award_id is the first field: at byte 1, after its length */
        ("invalid Avro string at byte 1 (field \"award_id\"): a NUL byte at byte 4 of the string,"
         " which text cannot hold"),
        "PostgreSQL refused the award: timestamp out of range"};
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(msgs[i].value_len, poison[i].len);
        ck_assert_msg(memcmp(msgs[i].value, poison[i].bytes, poison[i].len) == 0,
                      "dead letter %zu: not the original bytes", i);
        ck_assert_ptr_nonnull(msgs[i].error);
        ck_assert_msg(strstr(msgs[i].error, reasons[i]) != NULL, "dead letter %zu: reason \"%s\"",
                      i, msgs[i].error);
        ck_assert_str_eq(msgs[i].stage, "ledger");
        /* where the original is: the awards topic, its one partition, offsets 20..22 */
        char offset[16];
        snprintf(offset, sizeof(offset), "%zu", 20 + i);
        ck_assert_str_eq(msgs[i].source, topic);
        ck_assert_str_eq(msgs[i].orig_topic, topic);
        ck_assert_str_eq(msgs[i].orig_partition, "0");
        ck_assert_str_eq(msgs[i].orig_offset, offset);
        ck_assert_str_eq(msgs[i].key, "ann");
    }
    /* where COPY found it */
    ck_assert_msg(strstr(msgs[2].error, "column occurred_at") != NULL, "%s", msgs[2].error);
    it_msgs_free(msgs, n);

    /* it goes on: later awards are booked, the poison is not read again */
    const char *one[] = {"bob"};
    const int64_t five[] = {5};
    it_produce_awards(topic, program, "later", 1, one, five, NULL);
    out = run_ledger(group);
    ck_assert_int_eq(summary(out, "booked"), 1);
    ck_assert_int_eq(summary(out, "dead_lettered"), 0);
    free(out);
    /* a replay of the whole topic (another group) books nothing twice */
    char replay[128];
    snprintf(replay, sizeof(replay), "%s.replay", program);
    out = run_ledger(replay);
    ck_assert_int_eq(summary(out, "booked"), 0);
    ck_assert_int_eq(summary(out, "already_booked"), 41);
    ck_assert_int_eq(summary(out, "dead_lettered"), 3);
    free(out);
    v = value("SELECT count(*) || '/' || sum(points) FROM awards WHERE program_id = $1");
    ck_assert_str_eq(v, "41/425");
    free(v);
    v = value("SELECT sum(available) FROM balances WHERE program_id = $1");
    ck_assert_str_eq(v, "425");
    free(v);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
    for (int i = 0; i < 3; i++) free(poison[i].bytes);
}
END_TEST

int main(void) {
    const TTest *tests[] = {poison_in_mid_batch_is_dead_lettered_and_the_rest_booked_once, NULL};
    return carrot_test_run(carrot_test_suite("ledger_poison", tests));
}
