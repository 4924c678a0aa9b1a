/* carrot-ingest: reads CRM activities as JSON lines (a file or stdin),
 * validates and encodes them as Avro single-object messages, and produces
 * them to the activities topic keyed by participant id with the idempotent
 * producer. A line that fails goes to the dead-letter topic with its reason
 * and its original bytes; the good lines still go through. It exits once
 * every message is acknowledged, and reports the counts. */
#include "activity.h"
#include "activity_json.h"
#include "config.h"
#include "kafka.h"
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *brokers, *topic, *dlq_topic, *input, *program, *source, *log_level;
    long long max_line_bytes;
} ingest_conf_t;

#define OFF(f) offsetof(ingest_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"topic", CARROT_CONF_STR, OFF(topic), "crm.activities", 0, 0, "topic the activities go to"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "crm.activities.dlq", 0, 0,
     "dead-letter topic for lines that fail, with reason headers and the original bytes"},
    {"input", CARROT_CONF_STR, OFF(input), "-", 0, 0, "JSON-lines file to read; - is stdin"},
    {"program", CARROT_CONF_STR, OFF(program), "default", 0, 0,
     "program id for activities that name none"},
    {"source", CARROT_CONF_STR, OFF(source), "generic", 0, 0,
     "source system for activities that name none"},
    {"max-line-bytes", CARROT_CONF_INT, OFF(max_line_bytes), "262144", 1024, 900000,
     "longer lines go to the dead-letter topic, truncated to this size"},
    {"log-level", CARROT_CONF_STR, OFF(log_level), "info", 0, 0, "error, warn, info or debug"},
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-ingest [settings] [--input FILE]\n"
    "Produces CRM activities from JSON lines to Kafka; bad lines go to the dead-letter topic.";

typedef struct {
    long long lines, blank, valid, invalid;
    long long delivered, dlq_delivered, failed;
} counts_t;

/* The opaque of each message says which topic it went to. */
static char DEST_MAIN, DEST_DLQ;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    counts_t *c = opaque;
    if (m->err) {
        c->failed++;
        carrot_error("could not deliver message to %s: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    } else if (m->_private == &DEST_DLQ)
        c->dlq_delivered++;
    else
        c->delivered++;
}

/* Produces, waiting for room in the queue rather than dropping. */
static int produce(rd_kafka_t *rk, const char *topic, const void *key, size_t keylen,
                   const void *val, size_t len, rd_kafka_headers_t *hdrs, void *dest) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(dest), RD_KAFKA_V_END);
        if (!err) return 0; /* headers now owned by librdkafka */
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            carrot_error("could not produce to %s: %s", topic, rd_kafka_err2str(err));
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            return -1;
        }
        rd_kafka_poll(rk, 100);
    }
}

static int dead_letter(rd_kafka_t *rk, const ingest_conf_t *cf, const char *line, size_t len,
                       long long lineno, const char *reason, int truncated) {
    char where[512];
    snprintf(where, sizeof(where), "%s:%lld", strcmp(cf->input, "-") ? cf->input : "stdin",
             lineno);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "carrot.error", -1, reason, -1);
    rd_kafka_header_add(h, "carrot.stage", -1, "ingest", -1);
    rd_kafka_header_add(h, "carrot.source", -1, where, -1);
    if (truncated) rd_kafka_header_add(h, "carrot.truncated", -1, "true", -1);
    carrot_warn("%s: %s", where, reason);
    return produce(rk, cf->dlq_topic, NULL, 0, line, len, h, &DEST_DLQ);
}

int main(int argc, char **argv) {
    ingest_conf_t cf;
    char errstr[512];
    int npos = 0, rc;
    carrot_log_set_ident("carrot-ingest");
    carrot_conf_t *conf = carrot_conf_new(props, &cf, errstr, sizeof(errstr));
    if (!conf) {
        carrot_error("%s", errstr);
        return 2;
    }
    rc = carrot_conf_parse_args(conf, argc, argv, &npos, usage, errstr, sizeof(errstr));
    if (rc != 0 || npos > 0) {
        if (rc < 0 || npos > 0) carrot_error("%s", rc < 0 ? errstr : "unexpected argument (see --help)");
        carrot_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    int level = carrot_log_level_parse(cf.log_level);
    if (level < 0) {
        carrot_error("invalid log-level \"%s\"", cf.log_level);
        carrot_conf_destroy(conf);
        return 2;
    }
    carrot_log_set_level((carrot_log_level_t)level);

    FILE *in = strcmp(cf.input, "-") == 0 ? stdin : fopen(cf.input, "r");
    if (!in) {
        carrot_error("could not open input \"%s\": %s", cf.input, strerror(errno));
        carrot_conf_destroy(conf);
        return 2;
    }
    counts_t counts = {0};
    static const char *const kafka_defaults[] = {"linger.ms", "20", NULL};
    rd_kafka_conf_t *kconf = carrot_kafka_conf_new(conf, cf.brokers, kafka_defaults, errstr,
                                                   sizeof(errstr));
    if (!kconf || carrot_kafka_set(kconf, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        if (kconf) rd_kafka_conf_destroy(kconf);
        if (in != stdin) fclose(in);
        carrot_conf_destroy(conf);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_cb);
    rd_kafka_conf_set_opaque(kconf, &counts);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
    carrot_codec_t *codec = rk ? carrot_activity_codec_new(errstr, sizeof(errstr)) : NULL;
    if (!rk || !codec) {
        carrot_error("%s", errstr);
        if (!rk) rd_kafka_conf_destroy(kconf);
        rd_kafka_destroy(rk);
        if (in != stdin) fclose(in);
        carrot_conf_destroy(conf);
        return 2;
    }

    carrot_activity_json_defaults_t defaults = {cf.program, cf.source};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int fatal = 0;
    while (!fatal && (len = getline(&line, &cap, in)) >= 0) {
        counts.lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) {
            counts.blank++;
            continue;
        }
        char reason[512];
        if (len > cf.max_line_bytes) {
            snprintf(reason, sizeof(reason), "line of %zd bytes is longer than max-line-bytes %lld",
                     len, cf.max_line_bytes);
            counts.invalid++;
            fatal = dead_letter(rk, &cf, line, (size_t)cf.max_line_bytes, counts.lines, reason, 1);
            continue;
        }
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        carrot_activity_t act;
        avro_value_t *value = carrot_codec_value(codec);
        const void *buf;
        size_t buflen;
        if (!obj) {
            snprintf(reason, sizeof(reason), "malformed JSON at column %d: %s", jerr.column,
                     jerr.text);
        } else if (carrot_activity_from_json(obj, &defaults, &act, reason, sizeof(reason)) == 0 &&
                   carrot_activity_to_avro(&act, value, reason, sizeof(reason)) == 0 &&
                   carrot_codec_encode(codec, value, &buf, &buflen, reason, sizeof(reason)) ==
                       CARROT_CODEC_OK) {
            counts.valid++;
            fatal = produce(rk, cf.topic, act.participant_id, strlen(act.participant_id), buf,
                            buflen, NULL, &DEST_MAIN);
            json_decref(obj);
            rd_kafka_poll(rk, 0);
            continue;
        }
        json_decref(obj);
        counts.invalid++;
        fatal = dead_letter(rk, &cf, line, (size_t)len, counts.lines, reason, 0);
        rd_kafka_poll(rk, 0);
    }
    if (ferror(in)) {
        carrot_error("could not read input \"%s\": %s", cf.input, strerror(errno));
        fatal = 1;
    }
    free(line);
    if (in != stdin) fclose(in);

    /* Every message must be acknowledged (or failed) before the counts mean anything. */
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_flush(rk, 1000);
    printf("{\"lines\":%lld,\"blank\":%lld,\"valid\":%lld,\"invalid\":%lld,"
           "\"delivered\":%lld,\"dead_lettered\":%lld,\"failed\":%lld}\n",
           counts.lines, counts.blank, counts.valid, counts.invalid, counts.delivered,
           counts.dlq_delivered, counts.failed);
    carrot_info("read %lld lines: %lld activities delivered, %lld to %s, %lld failed",
                counts.lines, counts.delivered, counts.dlq_delivered, cf.dlq_topic, counts.failed);
    int exit_code = fatal || counts.failed ? 1 : 0;
    carrot_codec_destroy(codec);
    rd_kafka_destroy(rk);
    carrot_conf_destroy(conf);
    return exit_code;
}
