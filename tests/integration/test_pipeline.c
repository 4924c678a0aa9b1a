/* test_pipeline.c: the whole path on the real services: JSON lines through
 * carrot-ingest, carrot-scorer and carrot-ledger, then the exact Redis scores,
 * PostgreSQL rows and dead letters expected. Also: a replay of the whole
 * topic by a second scorer group and a second ledger run change no total. */
#include "ittools.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* %2$s: the time of every activity, a day before the test runs */
#define T "%2$s"
#define GOOD(id, p, type, change, rec)                                                          \
    "{\"event_id\":\"" id "\",\"program_id\":\"%1$s\",\"participant_id\":\"" p "\","            \
    "\"activity_type\":\"" type "\",\"change_type\":\"" change "\",\"source_record_id\":\"" rec \
    "\",\"occurred_at\":\"" T "\",\"segment\":\"dealer\"}\n"

static const char feed_fmt[] = GOOD("e1", "p1", "call", "CREATE", "r1")
    GOOD("e2", "p1", "meeting", "CREATE", "r2") GOOD("e3", "p1", "deal_won", "CREATE", "r3")
        GOOD("e4", "p2", "call", "CREATE", "r4") GOOD("e5", "p2", "call", "CREATE", "r5")
            GOOD("e6", "p2", "call", "DELETE", "r5") GOOD("e7", "p3", "note", "CREATE", "r7")
                GOOD("e1", "p1", "call", "CREATE", "r1") /* a duplicate delivery of e1 */
    GOOD("e8", "p3", "note", "UPDATE", "r7")
    /* a DELETE that names no activity type: the record's own points come back;
     * an UNDELETE restores a deleted record; a DELETE of a record that never
     * earned anything takes nothing. (Changes that name no participant at all,
     * and their order against the CREATE, are test_board.c's.) */
    "{\"event_id\":\"e9\",\"program_id\":\"%1$s\",\"change_type\":\"DELETE\","
    "\"participant_id\":\"p2\",\"source_record_id\":\"r4\",\"occurred_at\":\"" T "\"}\n"
    "{\"event_id\":\"e10\",\"program_id\":\"%1$s\",\"change_type\":\"UNDELETE\","
    "\"participant_id\":\"p2\",\"source_record_id\":\"r5\",\"occurred_at\":\"" T "\"}\n"
    "{\"event_id\":\"e11\",\"program_id\":\"%1$s\",\"change_type\":\"DELETE\","
    "\"participant_id\":\"p2\",\"source_record_id\":\"r99\",\"occurred_at\":\"" T "\"}\n"
    "{\"event_id\":\"b1\",\"participant_id\":\n"
    "{\"event_id\":\"b2\",\"program_id\":\"%1$s\",\"participant_id\":\"p1\",\"activity_type\":\"coffee_break\",\"occurred_at\":\"" T
    "\"}\n"
    "{\"event_id\":\"b3\",\"program_id\":\"%1$s\",\"activity_type\":\"call\",\"occurred_at\":\"" T
    "\"}\n";

static const char rules_fmt[] =
    "{\"program\":\"%s\",\"version\":\"it-1\",\"points\":{\"call\":5,\"meeting\":10,"
    "\"deal_won\":50,\"note\":3}}";

/* noinline: inlined at -O3, GCC 12 takes the result for a dangling pointer */
__attribute__((noinline)) static long long json_count(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) ck_abort_msg("no \"%s\" in %s", key, json);
    return strtoll(p + strlen(pat), NULL, 10);
}

static long long zscore(redisContext *rc, const char *program, const char *member) {
    redisReply *r = redisCommand(rc, "ZSCORE carrot:{%s}:lb:ptd:all %s", program, member);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -999999;
    freeReplyObject(r);
    return v;
}

typedef struct {
    char program[48], act[96], dlq[96], awards[96], awards_dlq[96], sgroup[96], lgroup[96];
    char *rules, *feed;
} fixture_t;

static void setup_fixture(fixture_t *f) {
    it_unique(f->program, sizeof(f->program), "it");
    snprintf(f->act, sizeof(f->act), "%s.activities", f->program);
    snprintf(f->dlq, sizeof(f->dlq), "%s.activities.dlq", f->program);
    snprintf(f->awards, sizeof(f->awards), "%s.awards", f->program);
    snprintf(f->awards_dlq, sizeof(f->awards_dlq), "%s.awards.dlq", f->program);
    snprintf(f->sgroup, sizeof(f->sgroup), "%s.scorer", f->program);
    snprintf(f->lgroup, sizeof(f->lgroup), "%s.ledger", f->program);
    it_create_topic(f->act, 3, NULL);
    it_create_topic(f->dlq, 1, NULL);
    it_create_topic(f->awards, 3, NULL);
    it_create_topic(f->awards_dlq, 1, NULL);
    char buf[4096];
    snprintf(buf, sizeof(buf), rules_fmt, f->program);
    f->rules = it_write_temp(buf);
    char at[40];
    it_time_ago(at, sizeof(at), 86400000);
    snprintf(buf, sizeof(buf), feed_fmt, f->program, at);
    f->feed = it_write_temp(buf);
}

static char *run_scorer(fixture_t *f, const char *group) {
    char *out;
    char *argv[] = {CARROT_SCORER, "--topic",         f->act,         "--dlq-topic",
                    f->dlq,        "--awards-topic",  f->awards,      "--group",
                    (char *)group, "--instance",      f->program,     "--rules",
                    f->rules,      "--until-drained", "--batch-size", "4",
                    NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    return out;
}

static char *run_ledger(fixture_t *f) {
    char *out;
    char *argv[] = {CARROT_LEDGER, "run",     "--topic", f->awards,         "--dlq-topic",
                    f->awards_dlq, "--group", f->lgroup, "--until-drained", NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    return out;
}

START_TEST(feed_scores_exactly_once) {
    fixture_t f;
    setup_fixture(&f);
    char *out;

    /* ingest: 12 good lines (one a duplicate delivery), 3 bad ones */
    char *ingest[] = {CARROT_INGEST, "--input",     f.feed, "--topic",
                      f.act,         "--dlq-topic", f.dlq,  NULL};
    ck_assert_int_eq(it_run(ingest, &out), 0);
    ck_assert_int_eq(json_count(out, "valid"), 12);
    ck_assert_int_eq(json_count(out, "delivered"), 12);
    ck_assert_int_eq(json_count(out, "dead_lettered"), 3);
    ck_assert_int_eq(json_count(out, "failed"), 0);
    free(out);
    /* bytes that are not Avro at all, straight onto the activities topic */
    it_produce(f.act, "p9", "not avro", 8);

    out = run_scorer(&f, f.sgroup);
    ck_assert_int_eq(json_count(out, "consumed"), 13);
    ck_assert_int_eq(json_count(out, "scored"), 9);
    ck_assert_int_eq(json_count(out, "awards"), 9);
    ck_assert_int_eq(json_count(out, "points"), 73);
    ck_assert_int_eq(json_count(out, "duplicates"), 1);
    ck_assert_int_eq(json_count(out, "unscored"), 2); /* the UPDATE, the DELETE of r99 */
    ck_assert_int_eq(json_count(out, "dead_lettered"), 1);
    free(out);

    redisContext *rc = it_redis_for(f.program);
    ck_assert_int_eq(zscore(rc, f.program, "p1"), 65);
    ck_assert_int_eq(zscore(rc, f.program, "p2"), 5);
    ck_assert_int_eq(zscore(rc, f.program, "p3"), 3);
    redisReply *r = redisCommand(rc, "ZCARD carrot:{%s}:lb:ptd:all", f.program);
    ck_assert_int_eq(r->integer, 3);
    freeReplyObject(r);

    /* the leaderboard command agrees */
    char *board[] = {CARROT_LEADERBOARD, "--program", f.program, "--top", "2",
                     "--format",         "json",      NULL};
    ck_assert_int_eq(it_run(board, &out), 0);
    ck_assert_msg(strstr(out, "\"entries\":[{\"rank\":1,\"participant_id\":\"p1\",\"points\":65},"
                              "{\"rank\":2,\"participant_id\":\"p2\",\"points\":5}],"
                              "\"participants\":3,\"total_points\":73}") != NULL,
                  "%s", out);
    free(out);

    /* dead letters: reason, original bytes and where they came from (kafka.h) */
    it_msg_t *act, *dl;
    size_t nact = it_consume_all(f.act, &act), ndl = it_consume_all(f.dlq, &dl);
    const it_msg_t *raw = NULL; /* the bytes that are not Avro, as the scorer read them */
    for (size_t i = 0; i < nact; i++)
        if (act[i].value_len == 8 && memcmp(act[i].value, "not avro", 8) == 0) raw = &act[i];
    ck_assert_ptr_nonnull(raw);
    char raw_partition[16], raw_offset[24], where[4200];
    ck_assert_uint_eq(ndl, 4);
    int ingest_seen = 0, scorer_seen = 0;
    for (size_t i = 0; i < ndl; i++) {
        ck_assert_ptr_nonnull(dl[i].error);
        if (strcmp(dl[i].stage, "scorer") == 0) {
            scorer_seen++;
            ck_assert_str_eq(dl[i].value, "not avro");
            ck_assert_ptr_nonnull(strstr(dl[i].error, "not an Avro single-object message"));
            snprintf(raw_partition, sizeof(raw_partition), "%d", (int)raw->partition);
            snprintf(raw_offset, sizeof(raw_offset), "%lld", (long long)raw->offset);
            ck_assert_str_eq(dl[i].key, "p9");
            ck_assert_str_eq(dl[i].source, f.act);
            ck_assert_str_eq(dl[i].orig_topic, f.act);
            ck_assert_str_eq(dl[i].orig_partition, raw_partition);
            ck_assert_str_eq(dl[i].orig_offset, raw_offset);
            continue;
        }
        ck_assert_str_eq(dl[i].stage, "ingest");
        ingest_seen++;
        ck_assert_ptr_null(dl[i].orig_topic); /* from a file, not from Kafka */
        ck_assert_ptr_null(dl[i].orig_partition);
        ck_assert_ptr_null(dl[i].orig_offset);
        int line;
        if (strncmp(dl[i].value, "{\"event_id\":\"b1\"", 16) == 0) {
            ck_assert_str_eq(dl[i].value, "{\"event_id\":\"b1\",\"participant_id\":");
            ck_assert_ptr_nonnull(strstr(dl[i].error, "malformed JSON"));
            line = 13;
        } else if (strstr(dl[i].value, "\"b2\"")) {
            ck_assert_str_eq(dl[i].error, "unknown activity type \"coffee_break\"");
            line = 14;
        } else {
            ck_assert_ptr_nonnull(strstr(dl[i].value, "\"b3\""));
            ck_assert_str_eq(dl[i].error, "missing participant_id");
            line = 15;
        }
        snprintf(where, sizeof(where), "%s:%d", f.feed, line); /* the feed file's line */
        ck_assert_str_eq(dl[i].source, where);
    }
    ck_assert_int_eq(ingest_seen, 3);
    ck_assert_int_eq(scorer_seen, 1);
    it_msgs_free(dl, ndl);
    it_msgs_free(act, nact);

    /* ledger: migrate (twice: idempotent), then book, with one undecodable award */
    char *migrate[] = {CARROT_LEDGER, "migrate", NULL};
    ck_assert_int_eq(it_run(migrate, NULL), 0);
    ck_assert_int_eq(it_run(migrate, NULL), 0);
    it_produce(f.awards, "p1", "\xC3\x01ZZZZZZZZgarbage", 17); /* framed, unknown schema */
    out = run_ledger(&f);
    ck_assert_int_eq(json_count(out, "booked"), 9);
    ck_assert_int_eq(json_count(out, "dead_lettered"), 1);
    free(out);

    PGconn *pg = it_pg();
    const char *params[] = {f.program};
    char *v = it_pg_value(
        pg,
        "SELECT string_agg(participant_id || '=' || pts, ',' ORDER BY participant_id)"
        " FROM (SELECT participant_id, sum(points) AS pts FROM awards"
        " WHERE program_id = $1 GROUP BY 1) t",
        1, params);
    ck_assert_str_eq(v, "p1=65,p2=5,p3=3");
    free(v);
    v = it_pg_value(pg,
                    "SELECT string_agg(award_id || ':' || points || ':' || rules_version, ','"
                    " ORDER BY award_id) FROM awards WHERE program_id = $1",
                    1, params);
    ck_assert_str_eq(v, "e1/base.call:5:it-1,e10/restore:5:it-1,e2/base.meeting:10:it-1,"
                        "e3/base.deal_won:50:it-1,e4/base.call:5:it-1,e5/base.call:5:it-1,"
                        "e6/reversal:-5:it-1,e7/base.note:3:it-1,e9/reversal:-5:it-1");
    free(v);
    it_msg_t *adl;
    size_t nadl = it_consume_all(f.awards_dlq, &adl);
    ck_assert_uint_eq(nadl, 1);
    ck_assert_str_eq(adl[0].stage, "ledger");
    ck_assert_ptr_nonnull(strstr(adl[0].error, "unknown writer schema fingerprint"));
    it_msg_t *aw;
    size_t naw = it_consume_all(f.awards, &aw);
    raw = NULL;
    for (size_t i = 0; i < naw; i++)
        if (aw[i].value_len == 17 && memcmp(aw[i].value, "\xC3\x01ZZZZZZZZgarbage", 17) == 0)
            raw = &aw[i];
    ck_assert_ptr_nonnull(raw);
    snprintf(raw_partition, sizeof(raw_partition), "%d", (int)raw->partition);
    snprintf(raw_offset, sizeof(raw_offset), "%lld", (long long)raw->offset);
    ck_assert_uint_eq(adl[0].value_len, 17);
    ck_assert_int_eq(memcmp(adl[0].value, raw->value, 17), 0);
    ck_assert_str_eq(adl[0].key, "p1");
    ck_assert_str_eq(adl[0].source, f.awards);
    ck_assert_str_eq(adl[0].orig_topic, f.awards);
    ck_assert_str_eq(adl[0].orig_partition, raw_partition);
    ck_assert_str_eq(adl[0].orig_offset, raw_offset);
    it_msgs_free(aw, naw);
    it_msgs_free(adl, nadl);

    /* A second scorer group replays the whole topic (as after lost offsets):
     * Redis must not move, and the re-produced awards must not book twice. */
    char group2[128];
    snprintf(group2, sizeof(group2), "%s.replay", f.sgroup);
    out = run_scorer(&f, group2);
    ck_assert_int_eq(json_count(out, "awards"), 9);
    free(out);
    ck_assert_int_eq(zscore(rc, f.program, "p1"), 65);
    ck_assert_int_eq(zscore(rc, f.program, "p2"), 5);
    ck_assert_int_eq(zscore(rc, f.program, "p3"), 3);
    out = run_ledger(&f);
    ck_assert_int_eq(json_count(out, "booked"), 0);
    ck_assert_int_eq(json_count(out, "already_booked"), 9);
    free(out);
    v = it_pg_value(pg, "SELECT count(*) || '/' || sum(points) FROM awards WHERE program_id = $1",
                    1, params);
    ck_assert_str_eq(v, "9/73");
    free(v);

    /* and a ledger restart with nothing new books nothing */
    out = run_ledger(&f);
    ck_assert_int_eq(json_count(out, "booked"), 0);
    ck_assert_int_eq(json_count(out, "already_booked"), 0);
    free(out);

    PQfinish(pg);
    redisFree(rc);
    unlink(f.rules);
    unlink(f.feed);
    free(f.rules);
    free(f.feed);
}
END_TEST

int main(void) {
    const TTest *tests[] = {feed_scores_exactly_once, NULL};
    Suite *s = carrot_test_suite("pipeline", tests);
    return carrot_test_run(s);
}
