/* test_directory.c: the participants directory against the real Kafka and
 * Redis: a JSON-lines feed and a Salesforce User export through
 * carrot-ingest into a compacted topic, carrot-directory putting them into
 * Redis, and carrot_directory_get reading them back field by field; an
 * older update not overwriting a newer one; a supervisor change moving the
 * reports set; a hidden participant's screen name; bad lines and a bad
 * message dead-lettered with their original bytes. */
#include "carrot/directory.h"
#include "ittools.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char errstr[512];
static char program[48], topic[96], ingest_dlq[96], dir_dlq[96], group[96];

static long long count(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, json);
    return atoll(p + strlen(pat));
}

static char *ingest(const char *format, const char *path) {
    char *out, *argv[] = {CARROT_INGEST,
                          "--format",
                          (char *)format,
                          "--input",
                          (char *)path,
                          "--participants-topic",
                          topic,
                          "--participants-dlq-topic",
                          ingest_dlq,
                          "--program",
                          program,
                          "--brokers",
                          (char *)it_brokers(),
                          "--log-level",
                          "error",
                          NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    return out;
}

/* Runs carrot-directory until the topic is drained; returns its counts. */
static char *run_directory(void) {
    char port[16], *out;
    snprintf(port, sizeof(port), "%d", it_redis_port());
    char *argv[] = {CARROT_DIRECTORY,
                    "--topic",
                    topic,
                    "--dlq-topic",
                    dir_dlq,
                    "--group",
                    group,
                    "--redis-port",
                    port,
                    "--brokers",
                    (char *)it_brokers(),
                    "--until-drained",
                    "--log-level",
                    "error",
                    NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    return out;
}

static const char feed[] =
    "{\"participant_id\":\"p1\",\"display_name\":\"Ava Stone\",\"segment\":\"direct\","
    "\"team_id\":\"hq\",\"region\":\"north\",\"hired_at\":\"2015-03-02\",\"level\":3,"
    "\"updated_at\":\"2026-11-01T00:00:00Z\"}\n"
    "{\"participant_id\":\"p2\",\"display_name\":\"Ben Ito\",\"segment\":\"dealer\","
    "\"team_id\":\"team-01\",\"region\":\"west\",\"level\":2,\"supervisor_id\":\"p1\","
    "\"updated_at\":\"2026-11-01T00:00:00Z\"}\n"
    "{\"participant_id\":\"p3\",\"display_name\":\"Cleo Park\",\"segment\":\"dealer\","
    "\"team_id\":\"team-01\",\"region\":\"west\",\"level\":1,\"supervisor_id\":\"p2\","
    "\"hide_from_screen\":true,\"active\":true,\"updated_at\":\"2026-11-01T00:00:00Z\"}\n"
    "{\"participant_id\":\"p4\",\"level\":\"senior\"}\n";

static void get(carrot_directory_t *dir, const char *const *ids, size_t n,
                carrot_participant_t *out) {
    ck_assert_msg(carrot_directory_get(dir, program, ids, n, out, errstr, sizeof(errstr)) ==
                      CARROT_DIRECTORY_OK,
                  "%s", errstr);
}

static size_t reports(carrot_directory_t *dir, const char *who, char (*ids)[257]) {
    size_t n;
    ck_assert_msg(carrot_directory_reports(dir, program, who, ids, 8, &n, errstr, sizeof(errstr)) ==
                      CARROT_DIRECTORY_OK,
                  "%s", errstr);
    return n;
}

START_TEST(feeds_into_the_directory) {
    it_unique(program, sizeof(program), "dir");
    snprintf(topic, sizeof(topic), "%s.participants", program);
    snprintf(ingest_dlq, sizeof(ingest_dlq), "%s.pdlq", program);
    snprintf(dir_dlq, sizeof(dir_dlq), "%s.ddlq", program);
    snprintf(group, sizeof(group), "%s.directory", program);
    it_create_topic(topic, 2, "compact");
    it_create_topic(ingest_dlq, 1, NULL);
    it_create_topic(dir_dlq, 1, NULL);

    /* the two feeds: one bad line in each, dead-lettered by ingest */
    char *path = it_write_temp(feed);
    char *out = ingest("participants", path);
    ck_assert_int_eq(count(out, "valid"), 3);
    ck_assert_int_eq(count(out, "invalid"), 1);
    ck_assert_int_eq(count(out, "delivered"), 3);
    free(out);
    char csv[4200];
    snprintf(csv, sizeof(csv), "%s/tests/data/salesforce-users.csv", CARROT_SOURCE_DIR);
    out = ingest("participants-csv", csv);
    ck_assert_int_eq(count(out, "valid"), 2);
    ck_assert_int_eq(count(out, "invalid"), 1);
    free(out);
    it_msg_t *m;
    size_t n = it_consume_all(ingest_dlq, &m);
    ck_assert_uint_eq(n, 2);
    char where[4400];
    snprintf(where, sizeof(where), "%s:4", path);
    ck_assert_str_eq(m[0].source, where);
    ck_assert_str_eq(m[0].stage, "ingest");
    ck_assert_str_eq(m[0].error, "level: expected an integer from 0 to 1000");
    ck_assert_str_eq(m[0].value, "{\"participant_id\":\"p4\",\"level\":\"senior\"}");
    snprintf(where, sizeof(where), "%s:3", csv);
    ck_assert_str_eq(m[1].source, where);
    ck_assert_str_eq(m[1].error, "IsActive: \"maybe\" is not true or false");
    it_msgs_free(m, n);
    free(path);

    out = run_directory();
    ck_assert_int_eq(count(out, "stored"), 5);
    ck_assert_int_eq(count(out, "dead_lettered"), 0);
    free(out);

    carrot_directory_t *dir = carrot_directory_new("127.0.0.1", it_redis_port(), 5000);
    const char *ids[] = {"p1", "p2", "p3", "0055e000001AbcDAAS", "0055e000001QrsDAAS", "nobody"};
    carrot_participant_t p[6];
    get(dir, ids, 6, p);
    ck_assert_int_eq(p[0].found, 1);
    ck_assert_str_eq(p[0].program_id, program);
    ck_assert_str_eq(p[0].participant_id, "p1");
    ck_assert_str_eq(p[0].display_name, "Ava Stone");
    ck_assert_str_eq(p[0].segment, "direct");
    ck_assert_str_eq(p[0].team_id, "hq");
    ck_assert_str_eq(p[0].region, "north");
    ck_assert_int_eq(p[0].hired_at_ms, 1425254400000LL);
    ck_assert_int_eq(p[0].level, 3);
    ck_assert_str_eq(p[0].supervisor_id, "");
    ck_assert_int_eq(p[0].active, 1);
    ck_assert_int_eq(p[0].hide_from_screen, 0);
    ck_assert_int_eq(p[0].updated_at_ms, 1793491200000LL);
    ck_assert_str_eq(carrot_participant_screen_name(&p[0]), "Ava Stone");
    ck_assert_str_eq(p[1].supervisor_id, "p1");
    ck_assert_int_eq(p[1].level, 2);
    ck_assert_int_eq(p[1].hired_at_ms, 0);
    ck_assert_int_eq(p[2].hide_from_screen, 1);
    ck_assert_str_eq(p[2].display_name, "Cleo Park"); /* kept, never shown */
    ck_assert_str_eq(carrot_participant_screen_name(&p[2]), "hidden");
    /* from the Salesforce export */
    ck_assert_int_eq(p[3].found, 1);
    ck_assert_str_eq(p[3].display_name, "Dana Brooks");
    ck_assert_str_eq(p[3].segment, "dealer");
    ck_assert_str_eq(p[3].team_id, "00E5e000000RoLeAAA");
    ck_assert_str_eq(p[3].region, "West");
    ck_assert_str_eq(p[3].supervisor_id, "p2");
    ck_assert_int_eq(p[3].level, -1);
    ck_assert_int_eq(p[3].updated_at_ms, 1793632200000LL);
    ck_assert_int_eq(p[4].active, 0);
    ck_assert_str_eq(p[4].segment, "direct");
    ck_assert_str_eq(carrot_participant_screen_name(&p[4]), "0055e000001QrsDAAS");
    ck_assert_int_eq(p[5].found, 0);
    ck_assert_str_eq(p[5].participant_id, "nobody");

    char r[8][257];
    ck_assert_uint_eq(reports(dir, "p1", r), 1);
    ck_assert_str_eq(r[0], "p2");
    ck_assert_uint_eq(reports(dir, "p2", r), 2);
    ck_assert_str_eq(r[0], "0055e000001AbcDAAS");
    ck_assert_str_eq(r[1], "p3");

    /* an older update of p2 (a late replay) does not win; a newer p3 moves to p1 */
    path = it_write_temp("{\"participant_id\":\"p2\",\"display_name\":\"Old Name\","
                         "\"updated_at\":\"2026-10-01T00:00:00Z\"}\n"
                         "{\"participant_id\":\"p3\",\"display_name\":\"Cleo Park\","
                         "\"supervisor_id\":\"p1\",\"hide_from_screen\":true,"
                         "\"updated_at\":\"2026-11-05T00:00:00Z\"}\n");
    free(ingest("participants", path));
    free(path);
    /* and a message that is no Participant at all, straight to the topic */
    static const char junk[] = "\x00\x00\x00\x00\x2a not avro";
    char key[128];
    snprintf(key, sizeof(key), "%s\x1ejunk", program);
    it_produce(topic, key, junk, sizeof(junk) - 1);
    out = run_directory();
    ck_assert_int_eq(count(out, "stored"), 1);
    ck_assert_int_eq(count(out, "older"), 1);
    ck_assert_int_eq(count(out, "dead_lettered"), 1);
    free(out);
    get(dir, ids, 3, p);
    ck_assert_str_eq(p[1].display_name, "Ben Ito");
    ck_assert_str_eq(p[1].supervisor_id, "p1");
    ck_assert_str_eq(p[2].supervisor_id, "p1");
    ck_assert_int_eq(p[2].level, -1); /* a record is the whole participant */
    ck_assert_uint_eq(reports(dir, "p2", r), 1);
    ck_assert_str_eq(r[0], "0055e000001AbcDAAS");
    ck_assert_uint_eq(reports(dir, "p1", r), 2);
    ck_assert_str_eq(r[0], "p2");
    ck_assert_str_eq(r[1], "p3");
    ck_assert_uint_eq(reports(dir, "nobody", r), 0);

    n = it_consume_all(dir_dlq, &m);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(m[0].stage, "directory");
    ck_assert_str_eq(m[0].orig_topic, topic);
    ck_assert_ptr_nonnull(strstr(m[0].error, "undecodable"));
    ck_assert_uint_eq(m[0].value_len, sizeof(junk) - 1);
    ck_assert_mem_eq(m[0].value, junk, sizeof(junk) - 1);
    ck_assert_uint_eq(m[0].key_len, strlen(key));
    it_msgs_free(m, n);

    /* straight through the API: an equal updated_at stores again, an older does not */
    carrot_participant_t q = p[0];
    int applied = -1;
    ck_assert_int_eq(carrot_directory_put(dir, &q, &applied, errstr, sizeof(errstr)),
                     CARROT_DIRECTORY_OK);
    ck_assert_int_eq(applied, 1);
    q.updated_at_ms--;
    strcpy(q.display_name, "Stale");
    ck_assert_int_eq(carrot_directory_put(dir, &q, &applied, errstr, sizeof(errstr)),
                     CARROT_DIRECTORY_OK);
    ck_assert_int_eq(applied, 0);
    get(dir, ids, 1, p);
    ck_assert_str_eq(p[0].display_name, "Ava Stone");
    q.participant_id[0] = '\0';
    ck_assert_int_eq(carrot_directory_put(dir, &q, &applied, errstr, sizeof(errstr)),
                     CARROT_DIRECTORY_FATAL);
    carrot_directory_destroy(dir);
}
END_TEST

START_TEST(redis_down_is_retry) {
    /* nothing listens there: creation works, every call says RETRY */
    carrot_directory_t *dir = carrot_directory_new("127.0.0.1", it_free_port(), 500);
    ck_assert_ptr_nonnull(dir);
    const char *ids[] = {"p1"};
    carrot_participant_t p;
    ck_assert_int_eq(carrot_directory_get(dir, "x", ids, 1, &p, errstr, sizeof(errstr)),
                     CARROT_DIRECTORY_RETRY);
    ck_assert_ptr_nonnull(strstr(errstr, "could not connect to Redis"));
    ck_assert_int_eq(carrot_directory_ping(dir, errstr, sizeof(errstr)), CARROT_DIRECTORY_RETRY);
    ck_assert_uint_eq(carrot_directory_connects(dir), 0);
    carrot_directory_destroy(dir);
    carrot_directory_destroy(NULL);
}
END_TEST

int main(void) {
    const TTest *tests[] = {feeds_into_the_directory, redis_down_is_retry, NULL};
    return carrot_test_run(carrot_test_suite("directory", tests));
}
