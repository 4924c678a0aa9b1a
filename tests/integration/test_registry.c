/* test_registry.c: the Confluent wire format end to end on the real Kafka:
 * carrot-ingest registers the schema and frames activities with its id; an
 * older schema version written by another producer is fetched by id and
 * resolved; carrot-scorer reads both through the registry; an id the
 * registry does not know goes to the dead-letter topic. The registry is
 * tests/integration/schema_registry.py (see there why). */
#include "carrot/activity.h"
#include "carrot/registry.h"
#include "ittools.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char v0_schema[] =
    "{\"type\":\"record\",\"name\":\"CrmActivity\",\"namespace\":\"io.carrot.crm\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"program_id\",\"type\":\"string\"},"
    "{\"name\":\"source_system\",\"type\":\"string\"},{\"name\":\"source_record_id\",\"type\":\"string\"},"
    "{\"name\":\"change_type\",\"type\":{\"type\":\"enum\",\"name\":\"ChangeType\","
    "\"symbols\":[\"CREATE\",\"UPDATE\",\"DELETE\",\"UNDELETE\"]}},"
    "{\"name\":\"activity_type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"recorded_at\",\"type\":\"long\"},{\"name\":\"participant_id\",\"type\":\"string\"}]}";

START_TEST(confluent_wire_format) {
    char program[48], topic[96], dlq[96], awards[96], group[96], port[16], url[64], errstr[512];
    it_unique(program, sizeof(program), "cf");
    snprintf(topic, sizeof(topic), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    snprintf(awards, sizeof(awards), "%s.awards", program);
    snprintf(group, sizeof(group), "%s.scorer", program);
    it_create_topic(topic, 1, NULL);
    it_create_topic(dlq, 1, NULL);
    it_create_topic(awards, 1, NULL);
    char script[4096];
    snprintf(script, sizeof(script), "%s/tests/integration/schema_registry.py", CARROT_SOURCE_DIR);
    /* a port the kernel just had free; should another process take it before the
     * registry binds it (its start then fails), try another */
    pid_t reg_pid = -1;
    carrot_registry_t *reg = NULL;
    int32_t id0 = -1;
    for (int attempt = 0; attempt < 5 && id0 < 0; attempt++) {
        snprintf(port, sizeof(port), "%d", it_free_port());
        snprintf(url, sizeof(url), "http://127.0.0.1:%s", port);
        reg_pid = fork();
        if (reg_pid == 0) {
            execlp("python3", "python3", script, port, (char *)NULL);
            _exit(127);
        }
        carrot_registry_destroy(reg);
        reg = carrot_registry_new(url, errstr, sizeof(errstr));
        int exited = 0;
        for (int i = 0; i < 100 && id0 < 0 && !exited; i++) /* until it listens */
            if (carrot_registry_register(reg, "other-producer-value", v0_schema, &id0, errstr,
                                         sizeof(errstr))) {
                exited = waitpid(reg_pid, NULL, WNOHANG) == reg_pid;
                if (!exited) usleep(100000);
            }
        if (id0 < 0 && !exited) { /* it runs but does not answer: stop it before the next */
            kill(reg_pid, SIGTERM);
            waitpid(reg_pid, NULL, 0);
        }
    }
    ck_assert_msg(id0 >= 0, "%s", errstr);

    /* another producer writes version 0, Confluent-framed */
    carrot_codec_t *old = carrot_codec_new(v0_schema, errstr, sizeof(errstr));
    carrot_codec_set_registry_id(old, id0);
    avro_value_t *v = carrot_codec_value(old), f;
    const char *strs[][2] = {{"event_id", "old-1"},        {"program_id", program},
                             {"source_system", "legacy"},  {"source_record_id", "r1"},
                             {"activity_type", "meeting"}, {"participant_id", "p-old"}};
    for (int i = 0; i < 6; i++) {
        avro_value_get_by_name(v, strs[i][0], &f, NULL);
        avro_value_set_string(&f, strs[i][1]);
    }
    avro_value_get_by_name(v, "occurred_at", &f, NULL);
    avro_value_set_long(&f, 1793628180000LL);
    avro_value_get_by_name(v, "recorded_at", &f, NULL);
    avro_value_set_long(&f, 1793628180000LL);
    const void *buf;
    size_t len;
    ck_assert_int_eq(carrot_codec_encode(old, v, &buf, &len, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(((const unsigned char *)buf)[0], 0);
    it_produce(topic, "p-old", buf, len);
    carrot_codec_destroy(old);
    /* and a message naming an id the registry never gave */
    it_produce(topic, "p-x", "\x00\x00\x00\x03\xe7garbage", 12);

    char feed[1024], at1[40], at2[40];
    it_time_ago(at1, sizeof(at1), 86400000);
    it_time_ago(at2, sizeof(at2), 86400000 - 300000);
    snprintf(
        feed, sizeof(feed),
        "{\"event_id\":\"n1\",\"program_id\":\"%s\",\"participant_id\":\"p1\",\"activity_type\":\"call\",\"occurred_at\":\"%s\"}\n"
        "{\"event_id\":\"n2\",\"program_id\":\"%s\",\"participant_id\":\"p1\",\"activity_type\":\"call\",\"occurred_at\":\"%s\"}\n",
        program, at1, program, at2);
    char *feedfile = it_write_temp(feed), *out;
    char *ingest[] = {CARROT_INGEST, "--input",           feedfile, "--topic",
                      topic,         "--dlq-topic",       dlq,      "--wire-format",
                      "confluent",   "--schema-registry", url,      NULL};
    ck_assert_int_eq(it_run(ingest, &out), 0);
    free(out);
    it_msg_t *msgs;
    size_t n = it_consume_all(topic, &msgs);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq((unsigned char)msgs[3].value[0], 0); /* ingest wrote Confluent framing */
    int32_t id1 = ((unsigned char)msgs[3].value[1] << 24) |
                  ((unsigned char)msgs[3].value[2] << 16) | ((unsigned char)msgs[3].value[3] << 8) |
                  (unsigned char)msgs[3].value[4];
    ck_assert_int_ne(id1, id0);
    it_msgs_free(msgs, n);

    char rules[512];
    snprintf(rules, sizeof(rules),
             "{\"program\":\"%s\",\"version\":\"cf\",\"points\":{\"call\":5,\"meeting\":7}}",
             program);
    char *rulesfile = it_write_temp(rules);
    char *scorer[] = {
        CARROT_SCORER, "--topic",           topic, "--dlq-topic",     dlq,     "--awards-topic",
        awards,        "--group",           group, "--instance",      program, "--rules",
        rulesfile,     "--schema-registry", url,   "--until-drained", NULL};
    ck_assert_int_eq(it_run(scorer, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"scored\":3,\"awards\":3,\"points\":17"));
    ck_assert_ptr_nonnull(strstr(out, "\"dead_lettered\":1"));
    free(out);
    n = it_consume_all(dlq, &msgs);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(msgs[0].error, "Schema 999 not found"));
    it_msgs_free(msgs, n);

    carrot_registry_destroy(reg);
    kill(reg_pid, SIGTERM);
    waitpid(reg_pid, NULL, 0);
    unlink(feedfile);
    unlink(rulesfile);
    free(feedfile);
    free(rulesfile);
}
END_TEST

int main(void) {
    const TTest *tests[] = {confluent_wire_format, NULL};
    return carrot_test_run(carrot_test_suite("registry", tests));
}
