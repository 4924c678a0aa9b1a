/* carrot-webhook: the HTTP endpoint HubSpot posts webhook batches to. It
 * checks X-HubSpot-Signature-v3 and the request's age, drops events it has
 * delivered before (retries resend the same eventId; the ids are kept in
 * Redis, so any number of endpoints can sit behind one load balancer), maps
 * the rest to CRM activities, produces them, and answers once Kafka has them:
 * 200 with counts; 401 for a bad signature; 503 when Kafka did not take them
 * (HubSpot then retries, and nothing was marked delivered). A signed body
 * that is not a batch of events goes to the dead-letter topic. The HTTP
 * server is libmicrohttpd. */
#include "activity.h"
#include "activity_json.h"
#include "adapter.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *listen, *path, *public_url, *secret, *secret_file, *brokers, *topic, *dlq_topic, *program;
    char *redis_host, *log_level;
    long long port, redis_port, dedup_ttl, max_body;
} webhook_conf_t;

#define OFF(f) offsetof(webhook_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"listen", CARROT_CONF_STR, OFF(listen), "127.0.0.1", 0, 0, "address to listen on"},
    {"port", CARROT_CONF_INT, OFF(port), "18080", 1, 65535, "TCP port to listen on"},
    {"path", CARROT_CONF_STR, OFF(path), "/webhooks/hubspot", 0, 0, "the webhook's path"},
    {"public-url", CARROT_CONF_STR, OFF(public_url), "http://127.0.0.1:18080", 0, 0,
     "scheme and host HubSpot posts to (the signature covers the full URL), e.g. "
     "https://carrot.example.com"},
    {"secret", CARROT_CONF_SECRET, OFF(secret), NULL, 0, 0,
     "the HubSpot app's client secret; this or secret-file is required"},
    {"secret-file", CARROT_CONF_STR, OFF(secret_file), NULL, 0, 0,
     "file holding the client secret (one trailing newline is dropped); refused if its group "
     "or others may read it"},
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"topic", CARROT_CONF_STR, OFF(topic), "crm.activities", 0, 0, "topic the activities go to"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "crm.activities.dlq", 0, 0,
     "dead-letter topic for events and bodies that cannot become activities"},
    {"program", CARROT_CONF_STR, OFF(program), "default", 0, 0, "program id of the activities"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0,
     "Redis host (remembers delivered event ids)"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"dedup-ttl", CARROT_CONF_INT, OFF(dedup_ttl), "259200", 60, 31536000,
     "seconds a delivered eventId is remembered (HubSpot retries for up to 3 days)"},
    {"max-body", CARROT_CONF_INT, OFF(max_body), "1048576", 1024, 67108864,
     "largest request body accepted, in bytes"},
    {"log-level", CARROT_CONF_STR, OFF(log_level), "info", 0, 0, "error, warn, info or debug"},
    CARROT_CONF_END};

static const char usage[] = "usage: CARROT_SECRET=S carrot-webhook [settings], or "
                            "carrot-webhook --secret-file FILE [settings]\n"
                            "Receives HubSpot webhooks and produces CRM activities to Kafka.";

typedef struct {
    const webhook_conf_t *cf;
    rd_kafka_t *rk;
    carrot_codec_t *codec;
    redisContext *redis;
    long long failed; /* delivery failures since the request began */
    long long requests, rejected, accepted, duplicates, dead, skipped;
} webhook_t;

typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
} request_t;

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    if (m->err) {
        ((webhook_t *)opaque)->failed++;
        carrot_error("could not deliver to %s: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
}

static int produce(webhook_t *w, const char *topic, const char *key, const void *val, size_t len,
                   rd_kafka_headers_t *h) {
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(w->rk, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                    RD_KAFKA_V_VALUE((void *)val, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(w->rk, 10);
    if (err) {
        if (h) rd_kafka_headers_destroy(h);
        w->failed++;
        carrot_error("could not produce to %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static void dead_letter(webhook_t *w, const char *bytes, size_t len, const char *reason) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "carrot.error", -1, reason, -1);
    rd_kafka_header_add(h, "carrot.stage", -1, "webhook", -1);
    rd_kafka_header_add(h, "carrot.source", -1, "hubspot", -1);
    carrot_warn("dead letter: %s", reason);
    if (produce(w, w->cf->dlq_topic, NULL, bytes, len, h) == 0) w->dead++;
}

/* Redis: has this event been delivered before? Connection trouble means "no":
 * a duplicate that gets through is still scored once (the scorer drops
 * repeated event ids), while dropping a new event would lose it. */
static int seen(webhook_t *w, const char *key, int mark) {
    if (!w->redis || w->redis->err) {
        if (w->redis) redisFree(w->redis);
        struct timeval tv = {1, 0};
        w->redis = redisConnectWithTimeout(w->cf->redis_host, (int)w->cf->redis_port, tv);
        if (!w->redis || w->redis->err) {
            carrot_warn("could not reach Redis for webhook dedup: %s",
                        w->redis ? w->redis->errstr : "out of memory");
            return 0;
        }
    }
    redisReply *r = mark ? redisCommand(w->redis, "SET %s 1 EX %lld", key, w->cf->dedup_ttl)
                         : redisCommand(w->redis, "EXISTS %s", key);
    int hit = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r) freeReplyObject(r);
    return hit;
}

/* Reads the secret from path into a new string (the caller frees it), or
 * returns NULL with errstr. A file its group or others may read is refused:
 * the secret would be as public as on the command line. */
static char *read_secret_file(const char *path, char *errstr, size_t errstr_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errstr, errstr_size, "could not open secret file \"%s\": %s", path,
                 strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(errstr, errstr_size,
                 S_ISREG(st.st_mode) ? "secret file \"%s\" is readable by group or others "
                                       "(mode %04o): chmod 600 it"
                                     : "secret file \"%s\" is not a regular file (mode %04o)",
                 path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return NULL;
    }
    char buf[4097];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (len > 0 && buf[len - 1] == '\n') len--;
    buf[len] = '\0';
    char *secret = NULL;
    if (len == sizeof(buf) - 2 || strlen(buf) != len)
        snprintf(errstr, errstr_size, "secret file \"%s\" holds more than a secret", path);
    else if (len == 0)
        snprintf(errstr, errstr_size, "secret file \"%s\" is empty", path);
    else if (!(secret = strdup(buf)))
        snprintf(errstr, errstr_size, "out of memory");
    explicit_bzero(buf, sizeof(buf));
    return secret;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *json) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A signed body: map, dedup, produce, wait for Kafka. */
static enum MHD_Result process(webhook_t *w, struct MHD_Connection *c, const char *body, size_t len) {
    json_error_t jerr;
    json_t *batch = json_loadb(body, len, 0, &jerr);
    char reason[512], out[256];
    if (!json_is_array(batch)) {
        snprintf(reason, sizeof(reason), batch ? "webhook body is not an array of events"
                                               : "webhook body is not JSON: %s", jerr.text);
        dead_letter(w, body, len, reason);
        json_decref(batch);
        rd_kafka_flush(w->rk, 10000);
        snprintf(out, sizeof(out), "{\"accepted\":0,\"dead_lettered\":1,\"error\":\"not a batch\"}");
        return reply(c, MHD_HTTP_OK, out); /* a retry would not fix it */
    }
    w->failed = 0;
    long long accepted = 0, dups = 0, dead = 0, skipped = 0;
    size_t n = json_array_size(batch);
    char **keys = calloc(n + 1, sizeof(*keys));
    carrot_activity_json_defaults_t defaults = {w->cf->program, "hubspot"};
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(batch, i), *acts = json_array();
        char key[256], b1[64], b2[64];
        json_t *pid = json_object_get(e, "portalId"), *eid = json_object_get(e, "eventId");
        int keyed = json_is_integer(pid) && json_is_integer(eid);
        snprintf(b1, sizeof(b1), "%lld", keyed ? (long long)json_integer_value(pid) : 0LL);
        snprintf(b2, sizeof(b2), "%lld", keyed ? (long long)json_integer_value(eid) : 0LL);
        snprintf(key, sizeof(key), "carrot:{hubspot}:webhook:%s:%s", b1, b2);
        if (keyed && seen(w, key, 0)) {
            dups++;
            json_decref(acts);
            continue;
        }
        carrot_activity_t a;
        int bad = carrot_adapt_hubspot(e, acts, reason, sizeof(reason));
        for (size_t k = 0; !bad && k < json_array_size(acts); k++)
            bad = carrot_activity_from_json(json_array_get(acts, k), &defaults, &a, reason,
                                            sizeof(reason));
        if (bad) {
            char *text = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
            dead_letter(w, text ? text : "", text ? strlen(text) : 0, reason);
            free(text);
            dead++;
        } else if (json_array_size(acts) == 0) {
            skipped++;
        }
        for (size_t k = 0; !bad && k < json_array_size(acts); k++) {
            avro_value_t *v = carrot_codec_value(w->codec);
            const void *buf;
            size_t blen;
            char keybuf[600];
            carrot_activity_from_json(json_array_get(acts, k), &defaults, &a, reason, sizeof(reason));
            if (carrot_activity_to_avro(&a, v, reason, sizeof(reason)) == 0 &&
                carrot_codec_encode(w->codec, v, &buf, &blen, reason, sizeof(reason)) == 0 &&
                produce(w, w->cf->topic, carrot_activity_key(&a, keybuf, sizeof(keybuf)), buf, blen,
                        NULL) == 0)
                accepted++;
        }
        if (keyed) keys[i] = strdup(key); /* a retry would map it the same way */
        json_decref(acts);
    }
    json_decref(batch);
    /* answer only once Kafka has everything: then the ids count as delivered */
    while (rd_kafka_outq_len(w->rk) > 0 && rd_kafka_flush(w->rk, 10000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
        if (stop) break;
    unsigned int status = MHD_HTTP_OK;
    if (w->failed || rd_kafka_outq_len(w->rk) > 0) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(out, sizeof(out), "{\"error\":\"could not deliver to Kafka; retry\"}");
    } else {
        for (size_t i = 0; i < n; i++)
            if (keys[i]) seen(w, keys[i], 1);
        snprintf(out, sizeof(out),
                 "{\"accepted\":%lld,\"duplicates\":%lld,\"dead_lettered\":%lld,\"skipped\":%lld}",
                 accepted, dups, dead, skipped);
        w->accepted += accepted;
        w->duplicates += dups;
        w->skipped += skipped;
    }
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    return reply(c, status, out);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state) {
    (void)version;
    webhook_t *w = cls;
    request_t *req = *state;
    if (!req) { /* headers are in: set up the body */
        if (!(req = calloc(1, sizeof(*req)))) return MHD_NO;
        *state = req;
        return MHD_YES;
    }
    if (*size) { /* a piece of the body */
        if (req->len + *size > (size_t)w->cf->max_body) req->too_big = 1;
        else {
            if (req->len + *size > req->cap) {
                size_t cap = (req->len + *size) * 2;
                char *nb = realloc(req->body, cap);
                if (!nb) return MHD_NO;
                req->body = nb;
                req->cap = cap;
            }
            memcpy(req->body + req->len, data, *size);
            req->len += *size;
        }
        *size = 0;
        return MHD_YES;
    }
    w->requests++;
    if (strcmp(url, w->cf->path) != 0) return reply(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
    if (strcmp(method, "POST") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"POST only\"}");
    if (req->too_big) return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"body too large\"}");
    char uri[2048], errstr[256];
    /* the signed URI is the full URL as HubSpot called it */
    snprintf(uri, sizeof(uri), "%s%s", w->cf->public_url, url);
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-HubSpot-Request-Timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-HubSpot-Signature-v3");
    if (carrot_hubspot_verify(w->cf->secret, method, uri, req->body ? req->body : "", req->len, ts,
                              sig, carrot_time_now_ms(), errstr, sizeof(errstr)) != 0) {
        w->rejected++;
        carrot_warn("rejected a webhook: %s", errstr);
        char out[400];
        json_t *msg = json_pack("{ss}", "error", errstr);
        char *text = json_dumps(msg, JSON_COMPACT);
        snprintf(out, sizeof(out), "%s", text ? text : "{}");
        free(text);
        json_decref(msg);
        return reply(c, MHD_HTTP_UNAUTHORIZED, out);
    }
    return process(w, c, req->body ? req->body : "", req->len);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    request_t *req = *state;
    if (req) {
        free(req->body);
        free(req);
    }
    *state = NULL;
}

int main(int argc, char **argv) {
    webhook_conf_t cf;
    char errstr[512];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-webhook", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 1;
    /* the secret: from the environment (the table refuses it as a flag) or a file */
    char *secret_buf = NULL;
    if (cf.secret_file && cf.secret) {
        carrot_error("both CARROT_SECRET and secret-file are set: use one");
        carrot_conf_destroy(conf);
        return 2;
    }
    if (cf.secret_file) {
        if (!(secret_buf = read_secret_file(cf.secret_file, errstr, sizeof(errstr)))) {
            carrot_error("%s", errstr);
            carrot_conf_destroy(conf);
            return 2;
        }
        cf.secret = secret_buf; /* the conf frees the table's strings: take it back below */
    }
    if (!cf.secret || !*cf.secret) {
        carrot_error("the client secret is required: set CARROT_SECRET in the environment or "
                     "pass --secret-file FILE (mode 0600)");
        if (secret_buf) cf.secret = NULL;
        free(secret_buf);
        carrot_conf_destroy(conf);
        return 2;
    }
    webhook_t w = {.cf = &cf};
    static const char *const defaults[] = {"linger.ms", "5", NULL};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, cf.brokers, defaults, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        if (k) rd_kafka_conf_destroy(k);
        carrot_conf_destroy(conf);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(k, dr_cb);
    rd_kafka_conf_set_opaque(k, &w);
    struct MHD_Daemon *d = NULL;
    if (!(w.rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(k);
        carrot_error("%s", errstr);
        goto out;
    }
    if (!(w.codec = carrot_activity_codec_new(errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cf.port)};
    if (inet_pton(AF_INET, cf.listen, &addr.sin_addr) != 1) {
        carrot_error("listen: \"%s\" is not an IPv4 address", cf.listen);
        goto out;
    }
    /* One thread serves requests in turn: each waits for Kafka's acknowledgement,
     * which takes milliseconds; run more endpoints to serve more. */
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cf.port,
                         NULL, NULL, handler, &w, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (!d) {
        carrot_error("could not listen on %s:%lld", cf.listen, cf.port);
        goto out;
    }
    carrot_info("listening on http://%s:%lld%s (signed as %s%s)", cf.listen, cf.port, cf.path,
                cf.public_url, cf.path);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop) {
        rd_kafka_poll(w.rk, 200);
    }
    exit_code = 0;
out:
    if (d) MHD_stop_daemon(d);
    if (w.rk) {
        rd_kafka_flush(w.rk, 10000);
        rd_kafka_destroy(w.rk);
    }
    carrot_info("stopping: %lld requests, %lld rejected, %lld activities, %lld duplicates, "
                "%lld skipped, %lld dead-lettered", w.requests, w.rejected, w.accepted,
                w.duplicates, w.skipped, w.dead);
    carrot_codec_destroy(w.codec);
    if (w.redis) redisFree(w.redis);
    if (secret_buf) {
        explicit_bzero(secret_buf, strlen(secret_buf));
        free(secret_buf);
        cf.secret = NULL; /* not the conf's to free */
    }
    carrot_conf_destroy(conf);
    return exit_code;
}
