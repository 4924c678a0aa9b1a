/* test_feeds.c: carrot-ingest reading real CRM feed formats from
 * tests/data/ into the real Kafka: Salesforce REST JSON, a data-export CSV
 * and Change Data Capture; what maps becomes activities, the rest lands in
 * the dead-letter topic whole, with its reason and original bytes. */
#include "carrot/activity.h"
#include "ittools.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static long long count(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, json);
    return atoll(p + strlen(pat));
}

/* Asserts a dead letter of ingest came from line of tests/data/file, and not
 * from Kafka (no carrot.topic, carrot.partition, carrot.offset). */
static void assert_from_line(const it_msg_t *m, const char *file, int line) {
    char where[4200];
    snprintf(where, sizeof(where), "%s/tests/data/%s:%d", CARROT_SOURCE_DIR, file, line);
    ck_assert_str_eq(m->stage, "ingest");
    ck_assert_str_eq(m->source, where);
    ck_assert_ptr_null(m->orig_topic);
    ck_assert_ptr_null(m->orig_partition);
    ck_assert_ptr_null(m->orig_offset);
}

/* Ingests file in format into fresh topics; returns ingest's JSON counts. */
static char *ingest(const char *format, const char *file, const char *entity, char *topic,
                    char *dlq) {
    char program[48], path[4096];
    it_unique(program, sizeof(program), "fd");
    sprintf(topic, "%s.activities", program);
    sprintf(dlq, "%s.dlq", program);
    it_create_topic(topic, 1, NULL);
    it_create_topic(dlq, 1, NULL);
    snprintf(path, sizeof(path), "%s/tests/data/%s", CARROT_SOURCE_DIR, file);
    char *out, *argv[] = {CARROT_INGEST,
                          "--format",
                          (char *)format,
                          "--input",
                          path,
                          "--topic",
                          topic,
                          "--dlq-topic",
                          dlq,
                          "--program",
                          program,
                          "--log-level",
                          "error",
                          entity ? "--entity" : NULL,
                          (char *)entity,
                          NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    return out;
}

START_TEST(salesforce_rest_json) {
    char topic[96], dlq[96];
    char *out = ingest("salesforce", "salesforce-tasks.json", NULL, topic, dlq);
    ck_assert_int_eq(count(out, "valid"), 4);
    ck_assert_int_eq(count(out, "invalid"), 2);
    ck_assert_int_eq(count(out, "delivered"), 4);
    free(out);
    it_msg_t *m;
    size_t n = it_consume_all(dlq, &m);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(m[0].error, "missing participant_id");
    ck_assert_str_eq(m[1].error, "a Lead record is not a Task or an Event");
    ck_assert_ptr_nonnull(strstr(m[1].value, "\"00Q5e00000AAAAAAA1\""));
    assert_from_line(&m[0], "salesforce-tasks.json", 3);
    assert_from_line(&m[1], "salesforce-tasks.json", 4);
    it_msgs_free(m, n);
}
END_TEST

START_TEST(salesforce_csv_export) {
    char topic[96], dlq[96];
    char *out = ingest("salesforce-csv", "salesforce-tasks.csv", "Task", topic, dlq);
    ck_assert_int_eq(count(out, "valid"), 3);
    ck_assert_int_eq(count(out, "invalid"), 3);
    free(out);
    it_msg_t *m;
    size_t n = it_consume_all(dlq, &m);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(m[0].error, "CallDurationInSeconds \"a lot\" is not a number of seconds");
    ck_assert_str_eq(m[1].error, "malformed CSV: text after the closing quote of field 3");
    ck_assert_ptr_nonnull(strstr(m[1].value, "\"x\"y\""));
    ck_assert_str_eq(m[2].error, "3 fields where the header has 18");
    for (int i = 0; i < 3; i++) assert_from_line(&m[i], "salesforce-tasks.csv", 6 + i);
    it_msgs_free(m, n);
    n = it_consume_all(topic, &m);
    ck_assert_uint_eq(n, 3);
    char errstr[256];
    carrot_codec_t *codec = carrot_activity_codec_new(errstr, sizeof(errstr));
    avro_value_t *v;
    carrot_activity_t a;
    ck_assert_int_eq(
        carrot_codec_decode(codec, m[0].value, m[0].value_len, &v, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_activity_from_avro(v, &a, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(a.event_id, "sf:Task:00T5e00000Csv01AAV");
    ck_assert_int_eq(a.text_length, 51); /* the quoted description, line break and all */
    ck_assert_int_eq(
        carrot_codec_decode(codec, m[2].value, m[2].value_len, &v, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_activity_from_avro(v, &a, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(a.change_type, CARROT_CHANGE_DELETE);
    carrot_codec_destroy(codec);
    it_msgs_free(m, n);
}
END_TEST

START_TEST(salesforce_cdc) {
    char topic[96], dlq[96];
    char *out = ingest("salesforce-cdc", "salesforce-cdc.jsonl", NULL, topic, dlq);
    ck_assert_int_eq(count(out, "valid"), 6);
    ck_assert_int_eq(count(out, "invalid"), 1);
    ck_assert_int_eq(count(out, "skipped"), 1);
    free(out);
    it_msg_t *m;
    size_t n = it_consume_all(dlq, &m);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(m[0].error, "GAP_OVERFLOW event for Task"));
    ck_assert_ptr_nonnull(strstr(m[0].value, "\"GAP_OVERFLOW\""));
    it_msgs_free(m, n);
}
END_TEST

START_TEST(mapped_json) {
    char program[48], topic[96], dlq[96];
    it_unique(program, sizeof(program), "mp");
    sprintf(topic, "%s.activities", program);
    sprintf(dlq, "%s.dlq", program);
    it_create_topic(topic, 1, NULL);
    it_create_topic(dlq, 1, NULL);
    char *map = it_write_temp(
        "{\"fields\":{\"event_id\":\"id\",\"participant_id\":\"rep.email\","
        "\"activity_type\":\"kind\",\"occurred_at\":\"at\"},"
        "\"values\":{\"activity_type\":{\"Phone\":\"call\",\"Visit\":\"meeting\"}},"
        "\"constants\":{\"source_system\":\"acme\"}}");
    char *feed = it_write_temp(
        "{\"id\":\"a1\",\"rep\":{\"email\":\"ann@x\"},\"kind\":\"Phone\",\"at\":\"2026-11-02T10:00:00Z\"}\n"
        "{\"id\":\"a2\",\"rep\":{\"email\":\"bob@x\"},\"kind\":\"Visit\",\"at\":1793628180000}\n"
        "{\"id\":\"a3\",\"rep\":{\"email\":\"bob@x\"},\"kind\":\"Lunch\",\"at\":1793628180000}\n");
    char *out, *argv[] = {CARROT_INGEST, "--format",    "mapped", "--mapping",   map, "--input",
                          feed,          "--topic",     topic,    "--dlq-topic", dlq, "--program",
                          program,       "--log-level", "error",  NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    ck_assert_int_eq(count(out, "valid"), 2);
    ck_assert_int_eq(count(out, "invalid"), 1); /* "Lunch" is in no pick list */
    free(out);
    char *bad[] = {CARROT_INGEST, "--format", "mapped",      "--mapping", "/nonexistent.json",
                   "--input",     feed,       "--log-level", "error",     NULL};
    ck_assert_int_eq(it_run(bad, NULL), 2);
    it_msg_t *m;
    size_t n = it_consume_all(dlq, &m);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(m[0].error, "unknown activity type \"Lunch\"");
    it_msgs_free(m, n);
    unlink(map);
    unlink(feed);
    free(map);
    free(feed);
}
END_TEST

/* A line longer than max-line-bytes goes to the dead-letter topic cut to
 * that size and marked carrot.truncated; other dead letters are not marked. */
START_TEST(overlong_line_is_cut) {
    char program[48], topic[96], dlq[96], text[2100];
    it_unique(program, sizeof(program), "ol");
    sprintf(topic, "%s.activities", program);
    sprintf(dlq, "%s.dlq", program);
    it_create_topic(topic, 1, NULL);
    it_create_topic(dlq, 1, NULL);
    memset(text, 'x', 2000);
    strcpy(text + 2000, "\nnot json\n");
    char *feed = it_write_temp(text);
    char *out, *argv[] = {CARROT_INGEST, "--input",     feed,        "--topic", topic,
                          "--dlq-topic", dlq,           "--program", program,   "--max-line-bytes",
                          "1024",        "--log-level", "error",     NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    ck_assert_msg(strstr(out, "\"valid\":0,\"invalid\":2,\"skipped\":0,\"delivered\":0,"
                              "\"dead_lettered\":2,\"failed\":0") != NULL,
                  "%s", out);
    free(out);
    it_msg_t *m;
    char where[4200];
    ck_assert_uint_eq(it_consume_all(dlq, &m), 2);
    ck_assert_uint_eq(m[0].value_len, 1024);
    ck_assert_int_eq(memcmp(m[0].value, text, 1024), 0);
    ck_assert_str_eq(m[0].truncated, "true");
    ck_assert_str_eq(m[0].error, "line of 2000 bytes is longer than max-line-bytes 1024");
    snprintf(where, sizeof(where), "%s:1", feed);
    ck_assert_str_eq(m[0].source, where);
    ck_assert_str_eq(m[1].value, "not json");
    ck_assert_ptr_null(m[1].truncated);
    snprintf(where, sizeof(where), "%s:2", feed);
    ck_assert_str_eq(m[1].source, where);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_str_eq(m[i].stage, "ingest");
        ck_assert_ptr_null(m[i].orig_topic);
    }
    it_msgs_free(m, 2);
    unlink(feed);
    free(feed);
}
END_TEST

/* SIGTERM while ingest waits on a pipe: it stops reading, delivers every
 * record it read, prints its counts and exits 3 (it used to die with none). */
START_TEST(sigterm_delivers_what_was_read) {
    char program[48], topic[96], dlq[96], fifo[64], outpath[64], at[40];
    it_unique(program, sizeof(program), "fs");
    snprintf(topic, sizeof(topic), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    it_create_topic(topic, 1, NULL);
    it_create_topic(dlq, 1, NULL);
    snprintf(fifo, sizeof(fifo), "/tmp/carrot-it-fifo-%d", (int)getpid());
    snprintf(outpath, sizeof(outpath), "/tmp/carrot-it-out-%d", (int)getpid());
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    char *argv[] = {"/bin/sh",     "-c",      "exec \"$0\" \"$@\" > \"$CARROT_IT_OUT\"",
                    CARROT_INGEST, "--input", fifo,
                    "--topic",     topic,     "--dlq-topic",
                    dlq,           NULL};
    setenv("CARROT_IT_OUT", outpath, 1);
    pid_t pid = it_spawn(argv);
    FILE *w = fopen(fifo, "w"); /* opens once ingest has it open for reading */
    ck_assert_ptr_nonnull(w);
    it_time_ago(at, sizeof(at), 3600000);
    for (int i = 0; i < 100; i++)
        fprintf(w,
                "{\"event_id\":\"s%d\",\"program_id\":\"%s\",\"participant_id\":\"p%d\","
                "\"activity_type\":\"call\",\"occurred_at\":\"%s\"}\n",
                i, program, i % 7, at);
    fflush(w);
    /* the lines are in; the pipe stays open, as a CRM export still running would */
    it_msg_t *msgs;
    size_t n = 0;
    for (int tries = 0; tries < 300 && n < 100; tries++) {
        n = it_consume_all(topic, &msgs);
        it_msgs_free(msgs, n);
        if (n < 100) usleep(100000);
    }
    ck_assert_uint_eq(n, 100);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    fclose(w);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3, "ingest ended with %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
    FILE *r = fopen(outpath, "r");
    ck_assert_ptr_nonnull(r);
    char line[512] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), r));
    fclose(r);
    ck_assert_int_eq(count(line, "lines"), 100);
    ck_assert_int_eq(count(line, "delivered"), 100);
    ck_assert_ptr_nonnull(strstr(line, "\"interrupted\":true"));
    n = it_consume_all(topic, &msgs);
    it_msgs_free(msgs, n);
    ck_assert_uint_eq(n, 100); /* nothing lost, nothing twice */
    unlink(fifo);
    unlink(outpath);
}
END_TEST

int main(void) {
    const TTest *tests[] = {salesforce_rest_json,
                            salesforce_csv_export,
                            salesforce_cdc,
                            mapped_json,
                            overlong_line_is_cut,
                            sigterm_delivers_what_was_read,
                            NULL};
    return carrot_test_run(carrot_test_suite("feeds", tests));
}
