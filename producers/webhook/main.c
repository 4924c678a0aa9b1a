/* carrot-webhook: the HTTP endpoint HubSpot posts webhook batches to. It
 * checks X-HubSpot-Signature-v3 and the request's age, drops events it has
 * delivered before (retries resend the same eventId), maps the rest to CRM
 * activities, produces them, and answers once Kafka has them: 200 with
 * counts; 401 for a bad signature; 503 when Kafka did not take them in time
 * or Redis cannot be asked (HubSpot then retries). A signed body that is not
 * a batch of events goes to the dead-letter topic. The HTTP server is
 * libmicrohttpd.
 *
 * It faces the Internet, so nothing costly happens before the request has
 * shown it could be a delivery. The path, the method and Content-Length are
 * judged as soon as the headers are in, before any of the body is read (a
 * body without Content-Length is cut the moment it outgrows max-body); the
 * connections are capped in total and per address; and a request must be
 * complete within request-timeout of its first byte: libmicrohttpd's own
 * timeout only counts idle time, which a client sending a byte a second
 * never reaches, so the main thread shuts down the sockets of requests older
 * than that.
 *
 * Requests are served by libmicrohttpd's thread pool (threads). A request
 * waits only for its own messages' delivery reports, at most flush-timeout-ms,
 * and Redis commands have a timeout, so a slow Kafka or Redis holds one thread
 * for a bounded time. The Kafka producer is shared (it is thread safe); a
 * hiredis context and an Avro codec are not, so each request takes one of
 * each from a pool for itself.
 *
 * Dedup claims each event id atomically before producing it (SET NX: of two
 * requests carrying the same event, one wins), marks it delivered once Kafka
 * has it, and releases the claim when the answer is 503, so HubSpot's retry
 * can deliver it. A claim is short-lived until it is confirmed, so a crash
 * between claim and answer delays a retry by a minute rather than losing the
 * event for dedup-ttl. Redis unreachable means 503: HubSpot retries, and
 * nothing is produced that could be produced again. See the README. */
#include "carrot/activity.h"
#include "carrot/activity_json.h"
#include "carrot/adapter.h"
#include "carrot/config.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *listen, *path, *public_url, *secret, *secret_file, *brokers, *topic, *dlq_topic, *program;
    char *redis_host, *log_level;
    long long port, redis_port, redis_timeout_ms, dedup_ttl, max_body, threads, connection_limit,
        per_ip_connection_limit, request_timeout, flush_timeout_ms;
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
    {"redis-timeout-ms", CARROT_CONF_INT, OFF(redis_timeout_ms), "1000", 10, 60000,
     "longest wait to connect to Redis and for each reply; past it the request gets 503"},
    {"dedup-ttl", CARROT_CONF_INT, OFF(dedup_ttl), "259200", 60, 31536000,
     "seconds a delivered eventId is remembered (HubSpot retries for up to 3 days)"},
    {"max-body", CARROT_CONF_INT, OFF(max_body), "1048576", 1024, 67108864,
     "largest request body accepted, in bytes: a larger Content-Length gets 413 before any of "
     "the body is read, a chunked body is cut when it grows past it"},
    {"threads", CARROT_CONF_INT, OFF(threads), "8", 1, 256,
     "threads serving requests (libmicrohttpd's thread pool); each request waits for Kafka on "
     "one of them"},
    {"connection-limit", CARROT_CONF_INT, OFF(connection_limit), "512", 1, 65536,
     "most connections open at once; more are closed as they come (at least threads)"},
    {"per-ip-connection-limit", CARROT_CONF_INT, OFF(per_ip_connection_limit), "32", 0, 65536,
     "most connections open at once from one IP address (0: no limit, e.g. behind a proxy)"},
    {"request-timeout", CARROT_CONF_INT, OFF(request_timeout), "30", 1, 3600,
     "seconds a request may take from its first byte to its last, and a connection may sit "
     "idle; then it is closed"},
    {"flush-timeout-ms", CARROT_CONF_INT, OFF(flush_timeout_ms), "10000", 100, 300000,
     "longest wait for Kafka to acknowledge a request's messages; then the answer is 503 "
     "(also the default kafka.message.timeout.ms)"},
    {"log-level", CARROT_CONF_STR, OFF(log_level), "info", 0, 0, "error, warn, info or debug"},
    CARROT_CONF_END};

static const char usage[] = "usage: CARROT_SECRET=S carrot-webhook [settings], or "
                            "carrot-webhook --secret-file FILE [settings]\n"
                            "Receives HubSpot webhooks and produces CRM activities to Kafka.";

/* A stack of objects that are not thread safe (hiredis contexts, Avro
 * codecs): a request takes one for itself and gives it back. Holds at most
 * cap (the thread count: no more requests run at once); the pool owns what
 * it holds. */
typedef struct {
    pthread_mutex_t lock;
    void **items;
    size_t n, cap;
    void (*destroy)(void *item);
} pool_t;

/* One connection, from accept to close (libmicrohttpd's socket context). */
typedef struct conn_s {
    struct conn_s *prev, *next;
    MHD_socket fd;
    long long start_ms; /* when its current request began (monotonic) */
    int busy;           /* its request is in and being answered: not cut */
    int cut;            /* shut down for taking longer than request-timeout */
    char *uri;          /* the current request's URI as sent: undecoded, with its query */
} conn_t;

typedef struct batch_s batch_t;

/* One event of a request (or the whole body, when it goes to the dead-letter
 * topic): its messages not yet reported, and whether one failed. */
typedef struct {
    batch_t *b;
    int pending, failed;
} slot_t;

/* What a request's delivery reports count down. refs: the request, plus one
 * per message whose report has not come; whoever drops the last one frees
 * it, so a report after a 503 (the request gave up waiting) is harmless. */
struct batch_s {
    int refs;
    size_t n;
    slot_t slots[];
};

typedef struct {
    const webhook_conf_t *cf;
    rd_kafka_t *rk;
    pool_t redis, codecs;
    long long claim_ttl;  /* seconds an unconfirmed claim lives */
    pthread_mutex_t lock; /* conns, and the counts of every batch */
    conn_t *conns;
    atomic_llong requests, rejected, refused, accepted, duplicates, dead, skipped, cut, unavailable;
} webhook_t;

/* The body of a request being read. */
typedef struct {
    char *body;
    size_t len, cap;
} request_t;

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* Milliseconds on a clock that only moves forward, for timeouts. */
static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pool_init(pool_t *p, size_t cap, void (*destroy)(void *)) {
    p->n = 0;
    p->cap = cap;
    p->destroy = destroy;
    p->items = calloc(cap, sizeof(*p->items));
    return p->items && pthread_mutex_init(&p->lock, NULL) == 0 ? 0 : -1;
}

/* Returns an item, or NULL when the pool is empty (the caller makes one). */
static void *pool_take(pool_t *p) {
    pthread_mutex_lock(&p->lock);
    void *item = p->n ? p->items[--p->n] : NULL;
    pthread_mutex_unlock(&p->lock);
    return item;
}

/* Takes ownership of item (NULL is a no-op). */
static void pool_give(pool_t *p, void *item) {
    if (!item) return;
    pthread_mutex_lock(&p->lock);
    int kept = p->n < p->cap;
    if (kept) p->items[p->n++] = item;
    pthread_mutex_unlock(&p->lock);
    if (!kept) p->destroy(item);
}

static void pool_destroy(pool_t *p) {
    if (!p->items) return;
    for (size_t i = 0; i < p->n; i++) p->destroy(p->items[i]);
    free(p->items);
    pthread_mutex_destroy(&p->lock);
}

static void redis_free_item(void *rc) { redisFree(rc); }
static void codec_free_item(void *codec) { carrot_codec_destroy(codec); }

static batch_t *batch_new(size_t n) {
    batch_t *b = calloc(1, sizeof(*b) + (n ? n : 1) * sizeof(slot_t));
    if (!b) return NULL;
    b->refs = 1;
    b->n = n ? n : 1;
    for (size_t i = 0; i < b->n; i++) b->slots[i].b = b;
    return b;
}

/* Drops the request's reference: the batch is freed now, or by the last report. */
static void batch_release(webhook_t *w, batch_t *b) {
    pthread_mutex_lock(&w->lock);
    int last = --b->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) free(b);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    webhook_t *w = opaque;
    slot_t *s = m->_private;
    if (m->err)
        carrot_error("could not deliver to %s: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    if (!s) return;
    pthread_mutex_lock(&w->lock);
    s->pending--;
    if (m->err) s->failed = 1;
    int last = --s->b->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) free(s->b);
}

/* Produces one message counted in slot s; gives up at deadline_ms when the
 * queue stays full. Takes ownership of h. 0, or -1 with s marked failed. */
static int produce(webhook_t *w, slot_t *s, long long deadline_ms, const char *topic,
                   const char *key, const void *val, size_t len, rd_kafka_headers_t *h) {
    pthread_mutex_lock(&w->lock);
    s->pending++;
    s->b->refs++;
    pthread_mutex_unlock(&w->lock);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                w->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL &&
           mono_ms() < deadline_ms)
        rd_kafka_poll(w->rk, 10);
    if (err) {
        if (h) rd_kafka_headers_destroy(h);
        pthread_mutex_lock(&w->lock);
        s->pending--;
        s->failed = 1;
        s->b->refs--; /* never the last: the request holds one */
        pthread_mutex_unlock(&w->lock);
        carrot_error("could not produce to %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int dead_letter(webhook_t *w, slot_t *s, long long deadline_ms, const char *bytes,
                       size_t len, const char *reason) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "carrot.error", -1, reason, -1);
    rd_kafka_header_add(h, "carrot.stage", -1, "webhook", -1);
    rd_kafka_header_add(h, "carrot.source", -1, "hubspot", -1);
    carrot_warn("dead letter: %s", reason);
    return produce(w, s, deadline_ms, w->cf->dlq_topic, NULL, bytes, len, h);
}

/* Waits until every message of b is reported or deadline_ms passes; serves
 * delivery reports itself (any thread may), so it needs no other thread.
 * 0 when all are reported, -1 at the deadline. */
static int await_batch(webhook_t *w, batch_t *b, long long deadline_ms) {
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int outstanding = b->refs - 1;
        pthread_mutex_unlock(&w->lock);
        if (outstanding == 0) return 0;
        long long left = deadline_ms - mono_ms();
        if (left <= 0) return -1;
        rd_kafka_poll(w->rk, left < 20 ? (int)left : 20);
    }
}

/* Redis: a context for this request, from the pool or new, with the command
 * timeout set. NULL with errstr when Redis cannot be reached. *pooled tells
 * whether it came from the pool (and so may have been closed by the server
 * since). */
static redisContext *redis_take(webhook_t *w, int *pooled, char *errstr, size_t errstr_size) {
    redisContext *rc = pool_take(&w->redis);
    *pooled = rc != NULL;
    if (rc) return rc;
    struct timeval tv = {(time_t)(w->cf->redis_timeout_ms / 1000),
                         (suseconds_t)(w->cf->redis_timeout_ms % 1000 * 1000)};
    rc = redisConnectWithTimeout(w->cf->redis_host, (int)w->cf->redis_port, tv);
    if (rc && !rc->err && redisSetTimeout(rc, tv) == REDIS_OK) return rc;
    snprintf(errstr, errstr_size, "could not connect to Redis at %s:%lld: %s", w->cf->redis_host,
             w->cf->redis_port, rc ? rc->errstr : "out of memory");
    redisFree(rc);
    return NULL;
}

/* Sends the commands fmt (one %s: each of keys[0..n-1], then the optional
 * number arg) in one pipeline and returns their n replies (free them with
 * free_replies()), or NULL with errstr when Redis could not be asked or did
 * not answer all. A pooled context that fails before its first reply was
 * closed while idle: the commands are sent once more on a new one. */
static redisReply **redis_run(webhook_t *w, const char *fmt, char *const *keys, size_t n,
                              long long arg, char *errstr, size_t errstr_size) {
    redisReply **r = calloc(n ? n : 1, sizeof(*r));
    if (!r) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int pooled;
        redisContext *rc = redis_take(w, &pooled, errstr, errstr_size);
        if (!rc) break;
        size_t got = 0;
        for (size_t i = 0; i < n; i++) redisAppendCommand(rc, fmt, keys[i], arg);
        while (got < n && redisGetReply(rc, (void **)&r[got]) == REDIS_OK) got++;
        if (got == n) {
            pool_give(&w->redis, rc);
            return r;
        }
        snprintf(errstr, errstr_size, "Redis did not answer: %s", rc->errstr);
        redisFree(rc);
        for (size_t i = 0; i < got; i++) freeReplyObject(r[i]);
        memset(r, 0, n * sizeof(*r));
        if (got || !pooled) break;
    }
    free(r);
    return NULL;
}

static void free_replies(redisReply **r, size_t n) {
    for (size_t i = 0; r && i < n; i++)
        if (r[i]) freeReplyObject(r[i]);
    free(r);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *json) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), (void *)json,
                                                                MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* What dedup made of one event of a batch. */
enum { EV_UNKEYED, EV_REPEAT, EV_CLAIMED, EV_TAKEN, EV_DELIVERED_BEFORE, EV_IN_FLIGHT };

typedef struct {
    char key[96]; /* carrot:{hubspot}:webhook:<portalId>:<eventId> */
    int state;
} event_t;

/* Orders pointers into one array of events by key, then by position. */
static int by_key(const void *a, const void *b) {
    const event_t *ea = *(const event_t *const *)a, *eb = *(const event_t *const *)b;
    int c = strcmp(ea->key, eb->key);
    return c ? c : (ea > eb) - (ea < eb);
}

/* Collects into keys the keys of the events (n of them) in that state;
 * returns how many. */
static size_t keys_in(event_t *ev, size_t n, int state, char **keys) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].state == state) keys[k++] = ev[i].key;
    return k;
}

/* Releases the claims of the events in state state (DEL), after a 503. */
static void release(webhook_t *w, event_t *ev, size_t n, int state, char **keys) {
    char errstr[256];
    size_t k = keys_in(ev, n, state, keys);
    redisReply **r = k ? redis_run(w, "DEL %s", keys, k, 0, errstr, sizeof(errstr)) : NULL;
    if (k && !r)
        carrot_warn("could not release %zu claimed event ids (they expire in %lld s): %s", k,
                    w->claim_ttl, errstr);
    free_replies(r, k);
}

/* A signed body: claim, map, produce, wait for Kafka, confirm or release. */
static enum MHD_Result process(webhook_t *w, struct MHD_Connection *c, const char *body,
                               size_t len) {
    long long deadline = mono_ms() + w->cf->flush_timeout_ms;
    json_error_t jerr;
    json_t *batch = json_loadb(body, len, 0, &jerr);
    char reason[512], out[256], errstr[256];
    if (!json_is_array(batch)) {
        snprintf(reason, sizeof(reason),
                 batch ? "webhook body is not an array of events" : "webhook body is not JSON: %s",
                 jerr.text);
        json_decref(batch);
        batch_t *b = batch_new(1);
        if (!b) return MHD_NO;
        int ok = dead_letter(w, &b->slots[0], deadline, body, len, reason) == 0 &&
                 await_batch(w, b, deadline) == 0;
        pthread_mutex_lock(&w->lock);
        ok = ok && !b->slots[0].failed;
        pthread_mutex_unlock(&w->lock);
        batch_release(w, b);
        if (!ok) {
            atomic_fetch_add(&w->unavailable, 1);
            return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "{\"error\":\"could not deliver to Kafka; retry\"}");
        }
        atomic_fetch_add(&w->dead, 1);
        return reply(c, MHD_HTTP_OK,
                     "{\"accepted\":0,\"dead_lettered\":1,\"error\":\"not a batch\"}");
    }
    size_t n = json_array_size(batch);
    event_t *ev = calloc(n ? n : 1, sizeof(*ev));
    event_t **order = calloc(n ? n : 1, sizeof(*order));
    char **keys = calloc(n ? n : 1, sizeof(*keys));
    batch_t *b = batch_new(n);
    if (!ev || !order || !keys || !b) {
        free(ev), free(order), free(keys), free(b);
        json_decref(batch);
        return MHD_NO;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(batch, i);
        json_t *pid = json_object_get(e, "portalId"), *eid = json_object_get(e, "eventId");
        order[i] = &ev[i];
        if (!json_is_integer(pid) || !json_is_integer(eid)) continue; /* EV_UNKEYED */
        snprintf(ev[i].key, sizeof(ev[i].key), "carrot:{hubspot}:webhook:%lld:%lld",
                 (long long)json_integer_value(pid), (long long)json_integer_value(eid));
        ev[i].state = EV_CLAIMED;
    }
    /* an event repeated inside the batch is produced once: its first occurrence
     * (sorted, not compared pairwise: a signed 1 MiB body can hold 10,000 events) */
    qsort(order, n, sizeof(*order), by_key);
    for (size_t i = 1; i < n; i++)
        if (order[i]->state == EV_CLAIMED && strcmp(order[i]->key, order[i - 1]->key) == 0)
            order[i]->state = EV_REPEAT;
    free(order);

    /* claim every event id before producing any: SET NX, short-lived until confirmed */
    unsigned int status = MHD_HTTP_OK;
    const char *why = NULL;
    size_t k = keys_in(ev, n, EV_CLAIMED, keys);
    redisReply **r = k ? redis_run(w, "SET %s p NX EX %lld", keys, k, w->claim_ttl, errstr,
                                   sizeof(errstr))
                       : NULL;
    if (k && !r) {
        /* some of the claims may have been made: they expire in claim_ttl */
        carrot_warn("could not claim event ids: %s", errstr);
        for (size_t i = 0; i < n; i++)
            if (ev[i].state == EV_CLAIMED) ev[i].state = EV_UNKEYED;
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        why = "could not reach Redis; retry";
    }
    for (size_t i = 0, j = 0; r && i < n; i++) {
        if (ev[i].state != EV_CLAIMED) continue;
        redisReply *x = r[j++];
        if (x->type == REDIS_REPLY_NIL) ev[i].state = EV_TAKEN;
        else if (x->type != REDIS_REPLY_STATUS) { /* an error reply: not claimed */
            carrot_warn("could not claim %s: %s", ev[i].key,
                        x->type == REDIS_REPLY_ERROR ? x->str : "unexpected reply");
            ev[i].state = EV_IN_FLIGHT;
        }
    }
    free_replies(r, k);
    /* taken: delivered before ("1"), or claimed by a request still running */
    k = status == MHD_HTTP_OK ? keys_in(ev, n, EV_TAKEN, keys) : 0;
    r = k ? redis_run(w, "GET %s", keys, k, 0, errstr, sizeof(errstr)) : NULL;
    if (k && !r) {
        carrot_warn("could not look up event ids: %s", errstr);
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        why = "could not reach Redis; retry";
    }
    for (size_t i = 0, j = 0; r && i < n; i++) {
        if (ev[i].state != EV_TAKEN) continue;
        redisReply *x = r[j++];
        ev[i].state = x->type == REDIS_REPLY_STRING && strcmp(x->str, "1") == 0
                          ? EV_DELIVERED_BEFORE
                          : EV_IN_FLIGHT;
    }
    free_replies(r, k);
    for (size_t i = 0; status == MHD_HTTP_OK && i < n; i++)
        if (ev[i].state == EV_IN_FLIGHT) {
            /* answering 200 now could lose it: the other request may yet fail */
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
            why = "an event of this batch is being delivered by another request; retry";
        }
    if (status != MHD_HTTP_OK) {
        release(w, ev, n, EV_CLAIMED, keys);
        goto answer;
    }

    long long accepted = 0, dups = 0, dead = 0, skipped = 0;
    carrot_activity_json_defaults_t defaults = {w->cf->program, "hubspot"};
    carrot_codec_t *codec = pool_take(&w->codecs);
    if (!codec && !(codec = carrot_activity_codec_new(errstr, sizeof(errstr))))
        carrot_error("%s", errstr);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].state == EV_REPEAT || ev[i].state == EV_DELIVERED_BEFORE) {
            dups++;
            continue;
        }
        json_t *e = json_array_get(batch, i), *acts = json_array();
        carrot_activity_t a;
        slot_t *s = &b->slots[i];
        int bad = carrot_adapt_hubspot(e, acts, reason, sizeof(reason));
        for (size_t j = 0; !bad && j < json_array_size(acts); j++)
            bad = carrot_activity_from_json(json_array_get(acts, j), &defaults, &a, reason,
                                            sizeof(reason));
        if (bad) {
            char *text = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
            dead_letter(w, s, deadline, text ? text : "", text ? strlen(text) : 0, reason);
            free(text);
            dead++;
        } else if (json_array_size(acts) == 0) {
            skipped++;
        }
        for (size_t j = 0; !bad && j < json_array_size(acts); j++) {
            const void *buf;
            size_t blen;
            char keybuf[600];
            carrot_activity_from_json(json_array_get(acts, j), &defaults, &a, reason,
                                      sizeof(reason));
            avro_value_t *v = codec ? carrot_codec_value(codec) : NULL;
            if (v && carrot_activity_to_avro(&a, v, reason, sizeof(reason)) == 0 &&
                carrot_codec_encode(codec, v, &buf, &blen, reason, sizeof(reason)) == 0) {
                if (produce(w, s, deadline, w->cf->topic,
                            carrot_activity_key(&a, keybuf, sizeof(keybuf)), buf, blen, NULL) == 0)
                    accepted++;
            } else {
                carrot_error("could not encode an activity: %s", v ? reason : "no codec");
                pthread_mutex_lock(&w->lock);
                s->failed = 1;
                pthread_mutex_unlock(&w->lock);
            }
        }
        json_decref(acts);
    }
    pool_give(&w->codecs, codec);

    /* answer only once Kafka has everything: then the ids count as delivered */
    int all = await_batch(w, b, deadline) == 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        int delivered = b->slots[i].pending == 0 && !b->slots[i].failed;
        all = all && delivered;
        if (ev[i].state == EV_CLAIMED && !delivered) ev[i].state = EV_IN_FLIGHT;
    }
    pthread_mutex_unlock(&w->lock);
    /* delivered: remembered for dedup-ttl; the rest released for the retry */
    k = keys_in(ev, n, EV_CLAIMED, keys);
    r = k ? redis_run(w, "SET %s 1 EX %lld", keys, k, w->cf->dedup_ttl, errstr, sizeof(errstr))
          : NULL;
    if (k && !r)
        carrot_warn("could not mark %zu event ids delivered (a retry before their claims expire "
                    "is dropped, one after is produced again): %s",
                    k, errstr);
    free_replies(r, k);
    release(w, ev, n, EV_IN_FLIGHT, keys);
    if (!all) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        why = "could not deliver to Kafka; retry";
    } else {
        snprintf(out, sizeof(out),
                 "{\"accepted\":%lld,\"duplicates\":%lld,\"dead_lettered\":%lld,\"skipped\":%lld}",
                 accepted, dups, dead, skipped);
        atomic_fetch_add(&w->accepted, accepted);
        atomic_fetch_add(&w->duplicates, dups);
        atomic_fetch_add(&w->dead, dead);
        atomic_fetch_add(&w->skipped, skipped);
    }
answer:
    json_decref(batch);
    batch_release(w, b);
    free(ev);
    free(keys);
    if (status != MHD_HTTP_OK) {
        atomic_fetch_add(&w->unavailable, 1);
        snprintf(out, sizeof(out), "{\"error\":\"%s\"}", why);
    }
    return reply(c, status, out);
}

static conn_t *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state) {
    (void)version;
    webhook_t *w = cls;
    request_t *req = *state;
    if (!req) { /* the headers are in: refuse what cannot be a delivery before reading its body */
        atomic_fetch_add(&w->requests, 1);
        if (strcmp(url, w->cf->path) != 0) {
            atomic_fetch_add(&w->refused, 1);
            return reply(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
        }
        if (strcmp(method, "POST") != 0) {
            atomic_fetch_add(&w->refused, 1);
            return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"POST only\"}");
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = 0;
        if (cl) {
            char *end;
            errno = 0;
            declared = strtoull(cl, &end, 10);
            if (errno || *end || end == cl || declared > (unsigned long long)w->cf->max_body) {
                atomic_fetch_add(&w->refused, 1);
                return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"body too large\"}");
            }
        }
        if (!(req = calloc(1, sizeof(*req)))) return MHD_NO;
        if (declared && !(req->body = malloc(declared))) {
            free(req);
            return MHD_NO;
        }
        req->cap = declared;
        *state = req;
        return MHD_YES;
    }
    if (*size) { /* a piece of the body: one without Content-Length is cut when it grows too big */
        if (req->len + *size > (size_t)w->cf->max_body) {
            atomic_fetch_add(&w->refused, 1);
            carrot_debug("closed a connection whose body grew past max-body (%lld bytes)",
                         w->cf->max_body);
            return MHD_NO;
        }
        if (req->len + *size > req->cap) {
            size_t cap = (req->len + *size) * 2;
            if (cap > (size_t)w->cf->max_body) cap = (size_t)w->cf->max_body;
            char *nb = realloc(req->body, cap);
            if (!nb) return MHD_NO;
            req->body = nb;
            req->cap = cap;
        }
        memcpy(req->body + req->len, data, *size);
        req->len += *size;
        *size = 0;
        return MHD_YES;
    }
    conn_t *conn = conn_of(c);
    if (conn) { /* from here on the time is ours (bounded by flush-timeout-ms), not the client's */
        pthread_mutex_lock(&w->lock);
        conn->busy = 1;
        pthread_mutex_unlock(&w->lock);
    }
    /* the signed URI is the full URL as HubSpot called it: the raw request
     * target (still percent-encoded, with its query) after public-url */
    const char *target = conn && conn->uri ? conn->uri : url;
    size_t ulen = strlen(w->cf->public_url) + strlen(target) + 1;
    char *uri = malloc(ulen), errstr[256];
    if (!uri) return MHD_NO;
    snprintf(uri, ulen, "%s%s", w->cf->public_url, target);
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-HubSpot-Request-Timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-HubSpot-Signature-v3");
    int bad = carrot_hubspot_verify(w->cf->secret, method, uri, req->body ? req->body : "",
                                    req->len, ts, sig, carrot_time_now_ms(), errstr,
                                    sizeof(errstr));
    free(uri);
    if (bad) {
        atomic_fetch_add(&w->rejected, 1);
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

/* The request line is in: keep its URI as sent (libmicrohttpd hands the
 * handler the path alone, percent-decoded, but HubSpot signs what it sent). */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    conn_t *conn = conn_of(c);
    if (conn) {
        free(conn->uri);
        conn->uri = strdup(uri);
    }
    return NULL; /* the handler's first call still sees *state == NULL */
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe) {
    (void)toe;
    webhook_t *w = cls;
    request_t *req = *state;
    if (req) {
        free(req->body);
        free(req);
    }
    *state = NULL;
    conn_t *conn = conn_of(c);
    if (conn) { /* a kept-alive connection's next request starts its clock now */
        pthread_mutex_lock(&w->lock);
        conn->busy = 0;
        conn->start_ms = mono_ms();
        pthread_mutex_unlock(&w->lock);
    }
}

/* Tracks every connection for the request time limit. libmicrohttpd reports
 * CLOSED before it closes the socket, so a socket on the list is still open. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe) {
    webhook_t *w = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *conn = ci ? calloc(1, sizeof(*conn)) : NULL;
        *socket_context = conn;
        if (!conn) return; /* untracked: only libmicrohttpd's idle timeout applies */
        conn->fd = ci->connect_fd;
        conn->start_ms = mono_ms();
        pthread_mutex_lock(&w->lock);
        conn->next = w->conns;
        if (w->conns) w->conns->prev = conn;
        w->conns = conn;
        pthread_mutex_unlock(&w->lock);
        return;
    }
    conn_t *conn = *socket_context;
    if (!conn) return;
    pthread_mutex_lock(&w->lock);
    if (conn->prev) conn->prev->next = conn->next;
    else
        w->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    pthread_mutex_unlock(&w->lock);
    free(conn->uri);
    free(conn);
    *socket_context = NULL;
}

/* Shuts down the sockets of requests older than request-timeout: their
 * thread sees the end of the stream and closes the connection. */
static void cut_slow_requests(webhook_t *w) {
    long long too_old = mono_ms() - w->cf->request_timeout * 1000;
    long long n = 0;
    pthread_mutex_lock(&w->lock);
    for (conn_t *conn = w->conns; conn; conn = conn->next)
        if (!conn->busy && !conn->cut && conn->start_ms < too_old) {
            shutdown(conn->fd, SHUT_RDWR);
            conn->cut = 1;
            n++;
        }
    pthread_mutex_unlock(&w->lock);
    if (n) {
        atomic_fetch_add(&w->cut, n);
        carrot_debug("closed %lld connections whose request took over %lld s", n,
                     w->cf->request_timeout);
    }
}

/* libmicrohttpd's messages, through Carrot's log. A flood (every connection
 * over a limit is one message) is cut to one line a second. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static long long last_s = -1, suppressed;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '.')) msg[--len] = '\0';
    long long now_s = mono_ms() / 1000, skipped = -1;
    pthread_mutex_lock(&lock);
    if (now_s != last_s) {
        skipped = suppressed;
        suppressed = 0;
        last_s = now_s;
    } else
        suppressed++;
    pthread_mutex_unlock(&lock);
    if (skipped > 0)
        carrot_warn("libmicrohttpd: %s (and %lld more messages in the last second)", msg, skipped);
    else if (skipped == 0)
        carrot_warn("libmicrohttpd: %s", msg);
}

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

int main(int argc, char **argv) {
    webhook_conf_t cf;
    char errstr[512];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-webhook", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
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
        cf.secret = secret_buf; /* the conf frees the table's strings: taken back below */
    }
    if (!cf.secret || !*cf.secret) {
        carrot_error("the client secret is required: set CARROT_SECRET in the environment or "
                     "pass --secret-file FILE (mode 0600)");
        if (secret_buf) cf.secret = NULL;
        free(secret_buf);
        carrot_conf_destroy(conf);
        return 2;
    }
    if (cf.connection_limit < cf.threads) {
        carrot_error("connection-limit (%lld) is below threads (%lld): each thread needs one",
                     cf.connection_limit, cf.threads);
        if (secret_buf) cf.secret = NULL;
        free(secret_buf);
        carrot_conf_destroy(conf);
        return 2;
    }
    exit_code = 1;
    webhook_t w = {.cf = &cf};
    /* an unconfirmed claim outlives the longest request: Kafka's wait and a few Redis replies */
    w.claim_ttl = cf.flush_timeout_ms / 1000 + 4 * cf.redis_timeout_ms / 1000 + 60;
    pthread_mutex_init(&w.lock, NULL);
    struct MHD_Daemon *d = NULL;
    char flush_ms[32];
    snprintf(flush_ms, sizeof(flush_ms), "%lld", cf.flush_timeout_ms);
    /* a message not delivered when the request gives up waiting should not be delivered
     * after the 503 either (HubSpot's retry would produce it again) */
    const char *const defaults[] = {"linger.ms", "5", "message.timeout.ms", flush_ms, NULL};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(conf, cf.brokers, defaults, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        if (k) rd_kafka_conf_destroy(k);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(k, dr_cb);
    rd_kafka_conf_set_opaque(k, &w);
    if (!(w.rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(k);
        carrot_error("%s", errstr);
        goto out;
    }
    if (pool_init(&w.redis, (size_t)cf.threads, redis_free_item) != 0 ||
        pool_init(&w.codecs, (size_t)cf.threads, codec_free_item) != 0) {
        carrot_error("out of memory");
        goto out;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cf.port)};
    if (inet_pton(AF_INET, cf.listen, &addr.sin_addr) != 1) {
        carrot_error("listen: \"%s\" is not an IPv4 address", cf.listen);
        goto out;
    }
    /* epoll (MHD_USE_AUTO on Linux): select() could not watch more than 1024 sockets */
    d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cf.port, NULL,
        NULL, handler, &w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, or some escape it */
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cf.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cf.connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cf.per_ip_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cf.request_timeout,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, &w, MHD_OPTION_URI_LOG_CALLBACK, uri_log,
        &w, MHD_OPTION_NOTIFY_COMPLETED, completed, &w, MHD_OPTION_END);
    if (!d) {
        carrot_error("could not listen on %s:%lld", cf.listen, cf.port);
        goto out;
    }
    carrot_info("listening on http://%s:%lld%s (signed as %s%s), %lld threads", cf.listen, cf.port,
                cf.path, cf.public_url, cf.path, cf.threads);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop) {
        rd_kafka_poll(w.rk, 200);
        cut_slow_requests(&w);
    }
    exit_code = 0;
out:
    if (d) MHD_stop_daemon(d); /* waits for the requests being answered */
    if (w.rk) {
        rd_kafka_flush(w.rk, 10000);
        /* what is left gets its (failed) report now, so every batch is freed */
        rd_kafka_purge(w.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(w.rk, 1000);
        rd_kafka_destroy(w.rk);
    }
    carrot_info("stopping: %lld requests, %lld refused before reading a body or cut at max-body, "
                "%lld rejected, %lld answered 503, %lld activities, %lld duplicates, %lld skipped, "
                "%lld dead-lettered, %lld connections cut at request-timeout",
                (long long)w.requests, (long long)w.refused, (long long)w.rejected,
                (long long)w.unavailable, (long long)w.accepted, (long long)w.duplicates,
                (long long)w.skipped, (long long)w.dead, (long long)w.cut);
    pool_destroy(&w.codecs);
    pool_destroy(&w.redis);
    pthread_mutex_destroy(&w.lock);
    if (secret_buf) {
        explicit_bzero(secret_buf, strlen(secret_buf));
        free(secret_buf);
        cf.secret = NULL; /* not the conf's to free */
    }
    carrot_conf_destroy(conf);
    return exit_code;
}
