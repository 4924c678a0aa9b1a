/* carrot-ingest: reads a CRM feed (a file or stdin) in one of several
 * formats, maps each record to CRM activities (adapter.h, mapping.h),
 * validates and encodes them as Avro single-object messages, and produces
 * them to the activities topic keyed by participant id with the idempotent
 * producer. The participants feeds (participant_feed.h) go the same way to
 * the compacted participants topic, keyed by program and participant. A record that fails goes to the dead-letter topic with its
 * reason and its original bytes; the good records still go through. It exits
 * once every message is acknowledged, and reports the counts. Exit codes: 0
 * done, 1 a record could not be delivered or the input not read, 2 bad
 * settings, 3 stopped by SIGTERM or SIGINT (what was read is delivered). */
#include "carrot/activity.h"
#include "carrot/activity_json.h"
#include "carrot/adapter.h"
#include "carrot/config.h"
#include "carrot/csv.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/mapping.h"
#include "carrot/participant_feed.h"
#include "carrot/registry.h"
#include "carrot/schemas.h"
#include "carrot/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SIGTERM or SIGINT: stop reading, deliver what was read, report, exit 3. */
static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

typedef struct {
    char *brokers, *topic, *dlq_topic, *input, *program, *source, *log_level, *log_format, *format,
        *mapping, *entity, *wire_format, *schema_registry, *participants_topic,
        *participants_dlq_topic;
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
     "program id for activities and participants that name none (a Salesforce User export "
     "names none: all of its users are in this program)"},
    {"source", CARROT_CONF_STR, OFF(source), "generic", 0, 0,
     "source system for activities that name none"},
    {"max-line-bytes", CARROT_CONF_INT, OFF(max_line_bytes), "262144", 1024, 900000,
     "longer lines go to the dead-letter topic, truncated to this size"},
    {"format", CARROT_CONF_STR, OFF(format), "generic", 0, 0,
     "generic (JSON lines in Carrot's fields), mapped (JSON lines with --mapping), salesforce "
     "(Task/Event REST JSON, a record or a query response per line), salesforce-csv (a data "
     "export with a header row; --entity), salesforce-cdc (Change Data Capture events, one per "
     "line), hubspot (webhook bodies or events, one per line), participants (JSON lines in the "
     "Participant schema's fields, to --participants-topic), participants-csv (a Salesforce User "
     "export with a header row, to --participants-topic)"},
    {"mapping", CARROT_CONF_STR, OFF(mapping), NULL, 0, 0, "mapping file for --format mapped"},
    {"entity", CARROT_CONF_STR, OFF(entity), NULL, 0, 0,
     "Task or Event: what a salesforce-csv file holds (or a salesforce record when it does not "
     "say)"},
    {"wire-format", CARROT_CONF_STR, OFF(wire_format), "single-object", 0, 0,
     "single-object (Avro single-object encoding) or confluent (magic byte 0 and a schema "
     "registry id; needs --schema-registry)"},
    {"schema-registry", CARROT_CONF_STR, OFF(schema_registry), NULL, 0, 0,
     "base URL of a Confluent-compatible schema registry; the schema is registered under "
     "<topic>-value"},
    {"participants-topic", CARROT_CONF_STR, OFF(participants_topic), "carrot.participants", 0, 0,
     "compacted topic the participants formats go to, keyed <program>\\x1e<participant>"},
    {"participants-dlq-topic", CARROT_CONF_STR, OFF(participants_dlq_topic),
     "carrot.participants.dlq", 0, 0,
     "dead-letter topic for participants lines that fail (instead of --dlq-topic)"},
    CARROT_CONF_LOG_ROWS(ingest_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-ingest [settings] [--format F] [--input FILE]\n"
    "Produces CRM activities or participants from a feed to Kafka; bad records are dead-lettered.\n"
    "Exits 0 when done, 1 when a record could not be delivered, 2 on bad settings, 3 when\n"
    "stopped by SIGTERM or SIGINT (every record read by then is delivered and counted).";

typedef struct {
    long long lines, blank, valid, invalid, skipped;
    long long delivered, dlq_delivered, failed;
} counts_t;

typedef enum {
    F_GENERIC,
    F_MAPPED,
    F_SALESFORCE,
    F_SALESFORCE_CSV,
    F_SALESFORCE_CDC,
    F_HUBSPOT,
    F_PARTICIPANTS,
    F_PARTICIPANTS_CSV
} format_t;

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
                   const void *val, size_t len) {
    char errstr[512];
    carrot_kafka_msg_t m = {.topic = topic,
                            .partition = RD_KAFKA_PARTITION_UA,
                            .key = key,
                            .key_len = keylen,
                            .value = val,
                            .value_len = len,
                            .opaque = &DEST_MAIN};
    if (carrot_kafka_produce(rk, &m, -1, errstr, sizeof(errstr)) == 0) return 0;
    carrot_error("%s", errstr);
    return -1;
}

static int dead_letter(rd_kafka_t *rk, const ingest_conf_t *cf, const char *dlq_topic,
                       const char *line, size_t len, long long lineno, const char *reason,
                       int truncated) {
    /* the program lines that name none are in: adoption reports count the refusal there */
    const char *const hdr[] = {"carrot.program", cf->program, "carrot.truncated", "true", NULL};
    const char *const hdr_whole[] = {"carrot.program", cf->program, NULL};
    char where[512], errstr[512];
    snprintf(where, sizeof(where), "%s:%lld", strcmp(cf->input, "-") ? cf->input : "stdin", lineno);
    carrot_warn("%s: %s", where, reason);
    carrot_dead_letter_t dl = {.reason = reason,
                               .stage = "ingest",
                               .source = where,
                               .value = line,
                               .value_len = len,
                               .extra = truncated ? hdr : hdr_whole};
    if (carrot_kafka_dead_letter(rk, dlq_topic, &dl, &DEST_DLQ, -1, errstr, sizeof(errstr)) == 0)
        return 0;
    carrot_error("%s", errstr);
    return -1;
}

typedef struct {
    const ingest_conf_t *cf;
    format_t format;
    const char *topic, *dlq_topic; /* by format: activities or participants */
    rd_kafka_t *rk;
    carrot_codec_t *codec;
    carrot_mapping_t *mapping;
    carrot_activity_json_defaults_t defaults;
    counts_t counts;
} ingest_t;

static const char *const format_names[] = {"generic",        "mapped",          "salesforce",
                                           "salesforce-csv", "salesforce-cdc",  "hubspot",
                                           "participants",   "participants-csv"};

/* The record's activities in the generic shape, appended to out. */
static int adapt(ingest_t *in, json_t *record, json_t *out, char *reason, size_t size) {
    switch (in->format) {
    case F_GENERIC: json_array_append(out, record); return 0;
    case F_MAPPED: return carrot_mapping_apply(in->mapping, record, out, reason, size);
    case F_SALESFORCE:
    case F_SALESFORCE_CSV:
        return carrot_adapt_salesforce(record, in->cf->entity, out, reason, size);
    case F_SALESFORCE_CDC: return carrot_adapt_salesforce_cdc(record, out, reason, size);
    case F_PARTICIPANTS:
    case F_PARTICIPANTS_CSV: break; /* handle_participant()'s */
    case F_HUBSPOT:
        if (json_is_array(record)) { /* a whole webhook body */
            size_t i;
            json_t *e;
            json_array_foreach(record, i, e) {
                if (carrot_adapt_hubspot(e, out, reason, size) != 0) return -1;
            }
            return 0;
        }
        return carrot_adapt_hubspot(record, out, reason, size);
    }
    return -1;
}

/* One participants record: produced to the participants topic, or to its
 * dead-letter topic with the reason. Returns -1 only on a fatal produce
 * error. */
static int handle_participant(ingest_t *in, const char *raw, size_t len, json_t *record,
                              long long lineno, const char *parse_error) {
    char reason[512], key[600];
    carrot_participant_t p;
    int64_t now = carrot_time_now_ms();
    int bad = parse_error != NULL;
    if (bad) snprintf(reason, sizeof(reason), "%s", parse_error);
    else if (in->format == F_PARTICIPANTS)
        bad = carrot_participant_from_json(record, in->cf->program, now, &p, reason,
                                           sizeof(reason)) != 0;
    else
        bad = carrot_participant_from_salesforce_user(record, in->cf->program, now, &p, reason,
                                                      sizeof(reason)) != 0;
    if (bad) {
        in->counts.invalid++;
        return dead_letter(in->rk, in->cf, in->dlq_topic, raw, len, lineno, reason, 0);
    }
    avro_value_t *value = carrot_codec_value(in->codec);
    const void *buf;
    size_t buflen;
    if (carrot_participant_to_avro(&p, value, reason, sizeof(reason)) != 0 ||
        carrot_codec_encode(in->codec, value, &buf, &buflen, reason, sizeof(reason)) !=
            CARROT_CODEC_OK) {
        carrot_error("%s", reason); /* valid participants always encode: a bug */
        return -1;
    }
    in->counts.valid++;
    size_t keylen = carrot_participant_key(&p, key, sizeof(key));
    int fatal = produce(in->rk, in->topic, key, keylen, buf, buflen);
    rd_kafka_poll(in->rk, 0);
    return fatal;
}

/* One input record: all of its activities are produced, or the record goes
 * whole to the dead-letter topic. Returns -1 only on a fatal produce error. */
static int handle(ingest_t *in, const char *raw, size_t len, json_t *record, long long lineno,
                  const char *parse_error) {
    if (in->format == F_PARTICIPANTS || in->format == F_PARTICIPANTS_CSV)
        return handle_participant(in, raw, len, record, lineno, parse_error);
    char reason[512];
    json_t *acts = json_array();
    int bad = 0;
    if (parse_error) {
        snprintf(reason, sizeof(reason), "%s", parse_error);
        bad = 1;
    } else if (adapt(in, record, acts, reason, sizeof(reason)) != 0)
        bad = 1;
    size_t n = json_array_size(acts);
    carrot_activity_t act;
    for (size_t i = 0; !bad && i < n; i++) {
        char why[400];
        if (carrot_activity_from_json(json_array_get(acts, i), &in->defaults, &act, why,
                                      sizeof(why)) != 0) {
            if (n > 1) snprintf(reason, sizeof(reason), "activity %zu of %zu: %s", i + 1, n, why);
            else
                snprintf(reason, sizeof(reason), "%s", why);
            bad = 1;
        }
    }
    if (bad) {
        json_decref(acts);
        in->counts.invalid++;
        return dead_letter(in->rk, in->cf, in->dlq_topic, raw, len, lineno, reason, 0);
    }
    if (n == 0) in->counts.skipped++;
    int fatal = 0;
    for (size_t i = 0; i < n && !fatal; i++) {
        avro_value_t *value = carrot_codec_value(in->codec);
        const void *buf;
        size_t buflen;
        carrot_activity_from_json(json_array_get(acts, i), &in->defaults, &act, reason,
                                  sizeof(reason));
        if (carrot_activity_to_avro(&act, value, reason, sizeof(reason)) != 0 ||
            carrot_codec_encode(in->codec, value, &buf, &buflen, reason, sizeof(reason)) !=
                CARROT_CODEC_OK) {
            carrot_error("%s", reason); /* valid activities always encode: a bug */
            fatal = -1;
            break;
        }
        in->counts.valid++;
        char keybuf[600];
        const char *key = carrot_activity_key(&act, keybuf, sizeof(keybuf));
        fatal = produce(in->rk, in->topic, key, strlen(key), buf, buflen);
    }
    json_decref(acts);
    rd_kafka_poll(in->rk, 0);
    return fatal;
}

static int read_json_lines(ingest_t *in, FILE *fp) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int fatal = 0;
    while (!fatal && !stop && (len = getline(&line, &cap, fp)) >= 0) {
        in->counts.lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) {
            in->counts.blank++;
            continue;
        }
        if (len > in->cf->max_line_bytes) {
            char reason[128];
            snprintf(reason, sizeof(reason), "line of %zd bytes is longer than max-line-bytes %lld",
                     len, in->cf->max_line_bytes);
            in->counts.invalid++;
            fatal = dead_letter(in->rk, in->cf, in->dlq_topic, line, (size_t)in->cf->max_line_bytes,
                                in->counts.lines, reason, 1);
            continue;
        }
        json_error_t jerr;
        char perr[256];
        json_t *obj = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj)
            snprintf(perr, sizeof(perr), "malformed JSON at column %d: %s", jerr.column, jerr.text);
        fatal = handle(in, line, (size_t)len, obj, in->counts.lines, obj ? NULL : perr);
        json_decref(obj);
    }
    free(line);
    return fatal;
}

static int read_csv(ingest_t *in, FILE *fp) {
    carrot_csv_t *csv = carrot_csv_new(fp);
    char **fields, errstr[256];
    const char *raw;
    size_t rawlen;
    long line;
    json_t *header = json_array();
    int fatal = 0, n;
    while (!fatal && !stop && csv &&
           (n = carrot_csv_next(csv, &fields, &line, &raw, &rawlen, errstr, sizeof(errstr))) != 0) {
        in->counts.lines++;
        if (n == 1 && !fields[0][0]) {
            in->counts.blank++;
            continue;
        }
        if (json_array_size(header) == 0) {
            if (n < 0) {
                carrot_error("%s:%ld: the header row is not valid CSV: %s", in->cf->input, line,
                             errstr);
                fatal = -1;
                break;
            }
            for (int i = 0; i < n; i++) json_array_append_new(header, json_string(fields[i]));
            continue;
        }
        char reason[300];
        json_t *rec = NULL;
        if (n < 0) snprintf(reason, sizeof(reason), "malformed CSV: %s", errstr);
        else if ((size_t)n != json_array_size(header))
            snprintf(reason, sizeof(reason), "%d fields where the header has %zu", n,
                     json_array_size(header));
        else {
            rec = json_object();
            for (int i = 0; i < n && rec; i++) {
                json_t *v = json_string(fields[i]);
                if (!v) {
                    snprintf(reason, sizeof(reason), "column %s is not valid UTF-8",
                             json_string_value(json_array_get(header, (size_t)i)));
                    json_decref(rec);
                    rec = NULL;
                } else if (fields[i][0])
                    json_object_set_new(rec, json_string_value(json_array_get(header, (size_t)i)),
                                        v);
                else
                    json_decref(v);
            }
        }
        fatal = handle(in, raw, rawlen, rec, line, rec ? NULL : reason);
        json_decref(rec);
    }
    if (!csv) fatal = -1;
    json_decref(header);
    carrot_csv_destroy(csv);
    return fatal;
}

int main(int argc, char **argv) {
    ingest_conf_t cf;
    char errstr[512];
    int rc, exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-ingest", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 2;
    ingest_t in = {.cf = &cf};
    rd_kafka_conf_t *kconf = NULL;
    FILE *fp = NULL;
    in.format = (format_t)-1;
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
        if (strcmp(cf.format, format_names[i]) == 0) in.format = (format_t)i;
    if ((int)in.format < 0) {
        carrot_error("unknown format \"%s\" (see --help)", cf.format);
        goto out;
    }
    if (in.format == F_MAPPED &&
        !(cf.mapping ? (in.mapping = carrot_mapping_load(cf.mapping, errstr, sizeof(errstr)))
                     : NULL)) {
        carrot_error("%s", cf.mapping ? errstr : "--format mapped needs --mapping FILE");
        goto out;
    }
    int participants = in.format == F_PARTICIPANTS || in.format == F_PARTICIPANTS_CSV;
    in.topic = participants ? cf.participants_topic : cf.topic;
    in.dlq_topic = participants ? cf.participants_dlq_topic : cf.dlq_topic;
    if (cf.entity && strcmp(cf.entity, "Task") != 0 && strcmp(cf.entity, "Event") != 0) {
        carrot_error("entity must be Task or Event, not \"%s\"", cf.entity);
        goto out;
    }
    fp = strcmp(cf.input, "-") == 0 ? stdin : fopen(cf.input, "r");
    if (!fp) {
        carrot_error("could not open input \"%s\": %s", cf.input, strerror(errno));
        goto out;
    }
    static const char *const kafka_defaults[] = {"linger.ms", "20", NULL};
    kconf = carrot_kafka_conf_new(conf, cf.brokers, kafka_defaults, errstr, sizeof(errstr));
    if (!kconf || carrot_kafka_set(kconf, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_cb);
    rd_kafka_conf_set_opaque(kconf, &in.counts);
    if (!(in.rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr))) ||
        !(in.codec = participants ? carrot_participant_codec_new(errstr, sizeof(errstr))
                                  : carrot_activity_codec_new(errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    kconf = NULL; /* rd_kafka_new() owns it now */
    if (strcmp(cf.wire_format, "confluent") == 0) {
        char subject[512];
        int32_t id;
        snprintf(subject, sizeof(subject), "%s-value", in.topic);
        carrot_registry_t *reg = cf.schema_registry ? carrot_registry_new(cf.schema_registry,
                                                                          errstr, sizeof(errstr))
                                                    : NULL;
        if (!cf.schema_registry)
            snprintf(errstr, sizeof(errstr), "--wire-format confluent needs --schema-registry URL");
        rc = reg ? carrot_registry_register(reg, subject,
                                            participants ? carrot_schema_participant
                                                         : carrot_schema_crm_activity,
                                            &id, errstr, sizeof(errstr))
                 : -1;
        carrot_registry_destroy(reg);
        if (rc) {
            carrot_error("%s", errstr);
            goto out;
        }
        carrot_info("schema registered as id %d under %s", (int)id, subject);
        carrot_codec_set_registry_id(in.codec, id);
    } else if (strcmp(cf.wire_format, "single-object") != 0) {
        carrot_error("wire-format must be single-object or confluent, not \"%s\"", cf.wire_format);
        goto out;
    }
    in.defaults = (carrot_activity_json_defaults_t){cf.program, cf.source};

    /* no SA_RESTART: a read blocked on a pipe or terminal returns, and the loop sees stop */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int fatal = in.format == F_SALESFORCE_CSV || in.format == F_PARTICIPANTS_CSV
                    ? read_csv(&in, fp)
                    : read_json_lines(&in, fp);
    if (ferror(fp) && !(stop && errno == EINTR)) {
        carrot_error("could not read input \"%s\": %s", cf.input, strerror(errno));
        fatal = 1;
    }
    /* Every message must be acknowledged (or failed) before the counts mean anything. */
    while (rd_kafka_outq_len(in.rk) > 0) rd_kafka_flush(in.rk, 1000);
    counts_t *c = &in.counts;
    printf("{\"lines\":%lld,\"blank\":%lld,\"valid\":%lld,\"invalid\":%lld,\"skipped\":%lld,"
           "\"delivered\":%lld,\"dead_lettered\":%lld,\"failed\":%lld,\"interrupted\":%s}\n",
           c->lines, c->blank, c->valid, c->invalid, c->skipped, c->delivered, c->dlq_delivered,
           c->failed, stop ? "true" : "false");
    if (stop)
        carrot_warn("stopped by a signal after %lld records: every record read was delivered; "
                    "feed the rest again (event ids make a repeat harmless)",
                    c->lines);
    carrot_info("read %lld records: %lld %s delivered, %lld records to %s, %lld skipped "
                "(not activities), %lld failed",
                c->lines, c->delivered, participants ? "participants" : "activities",
                c->dlq_delivered, in.dlq_topic, c->skipped, c->failed);
    exit_code = fatal || c->failed ? 1 : stop ? 3 : 0;
out:
    if (kconf) rd_kafka_conf_destroy(kconf);
    carrot_codec_destroy(in.codec);
    if (in.rk) rd_kafka_destroy(in.rk);
    carrot_mapping_destroy(in.mapping);
    if (fp && fp != stdin) fclose(fp);
    carrot_conf_destroy(conf);
    return exit_code;
}
