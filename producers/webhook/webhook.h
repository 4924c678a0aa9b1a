/* webhook.h: carrot-webhook's internals, shared by its files (private). */
/* carrot-webhook is the HTTP endpoint HubSpot posts webhook batches to. It
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
#ifndef CARROT_WEBHOOK_H
#define CARROT_WEBHOOK_H

#include "carrot/config.h"

#include "carrot/metrics.h"
#include "carrot/pool.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct {
    char *listen, *path, *public_url, *secret, *secret_file, *brokers, *topic, *dlq_topic, *program;
    char *redis_host, *log_level, *log_format, *metrics_listen;
    long long metrics_port, port, redis_port, redis_timeout_ms, dedup_ttl, max_body, threads,
        connection_limit, per_ip_connection_limit, request_timeout, flush_timeout_ms;
} webhook_conf_t;

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
    carrot_pool_t *redis, *codecs; /* per request: hiredis contexts, Avro codecs */
    long long claim_ttl;           /* seconds an unconfirmed claim lives */
    pthread_mutex_t lock;          /* conns, and the counts of every batch */
    conn_t *conns;
    atomic_llong requests, rejected, refused, accepted, duplicates, dead, skipped, cut, unavailable;
    carrot_metrics_t *metrics;    /* NULL unless metrics-port */
    carrot_metric_t *m_counts[9]; /* the counts above, copied in at each scrape (metrics.c) */
    long long kafka_checked_ms;   /* when the readiness probe last asked the broker */
} webhook_t;

/* The body of a request being read. */
typedef struct {
    char *body;
    size_t len, cap;
} request_t;

/* What dedup made of one event of a batch. */
enum { EV_UNKEYED, EV_REPEAT, EV_CLAIMED, EV_TAKEN, EV_DELIVERED_BEFORE, EV_IN_FLIGHT };

typedef struct {
    char key[96]; /* carrot:{hubspot}:webhook:<portalId>:<eventId> */
    int state;
} event_t;

/* kafka.c: the producer, and each request's messages counted in its batch */
/* The shared producer, delivery reports counted down in the batches. NULL
 * with errstr on failure. */
rd_kafka_t *webhook_producer_new(const carrot_conf_t *conf, webhook_t *w, char *errstr,
                                 size_t errstr_size);
/* A batch of n slots (at least one), held by the request. */
batch_t *batch_new(size_t n);
/* Drops the request's reference: the batch is freed now, or by the last report. */
void batch_release(webhook_t *w, batch_t *b);
/* Produces one message counted in slot s; gives up at deadline_ms when the
 * queue stays full. 0, or -1 with s marked failed. */
int webhook_produce(webhook_t *w, slot_t *s, long long deadline_ms, const char *key,
                    const void *val, size_t len);
/* Dead-letters bytes (kafka.h's contract; the source is the webhook's path),
 * counted in slot s as webhook_produce() does. */
int webhook_dead_letter(webhook_t *w, slot_t *s, long long deadline_ms, const char *bytes,
                        size_t len, const char *reason);
/* Waits until every message of b is reported or deadline_ms passes; serves
 * delivery reports itself (any thread may), so it needs no other thread.
 * 0 when all are reported, -1 at the deadline. */
int webhook_await(webhook_t *w, batch_t *b, long long deadline_ms);

/* dedup.c: event ids in Redis */
/* Keys the n events of batch into ev and claims them (see above): returns
 * MHD_HTTP_OK with ev[].state EV_CLAIMED for those to produce, or
 * MHD_HTTP_SERVICE_UNAVAILABLE with *why (its claims released); 0 when out
 * of memory. keys has room for n. */
unsigned int webhook_dedup_claim(webhook_t *w, json_t *batch, event_t *ev, size_t n, char **keys,
                                 const char **why);
/* After Kafka answered: the events still EV_CLAIMED are marked delivered
 * for dedup-ttl, those EV_IN_FLIGHT released for the retry. */
void webhook_dedup_settle(webhook_t *w, event_t *ev, size_t n, char **keys);
void webhook_redis_free(void *rc); /* a pool's destroy */
/* PING on a pooled connection: 0, or -1 with errstr (readiness). */
int webhook_redis_ping(webhook_t *w, char *errstr, size_t errstr_size);

/* deliver.c: a signed body becomes activities */
enum MHD_Result webhook_process(webhook_t *w, struct MHD_Connection *c, const char *body,
                                size_t len);
void webhook_codec_free(void *codec); /* a pool's destroy */

/* signature.c */
/* 0 when the request (its method, raw target, body and HubSpot headers)
 * carries a valid, fresh X-HubSpot-Signature-v3; 1 with errstr when not;
 * -1 when out of memory. */
int webhook_verify(const webhook_t *w, struct MHD_Connection *c, const char *method,
                   const char *target, const char *body, size_t len, char *errstr,
                   size_t errstr_size);
/* The client secret from path, which only its owner may read. NULL with errstr. */
char *webhook_read_secret_file(const char *path, char *errstr, size_t errstr_size);

/* metrics.c: /metrics, /healthz and /readyz on metrics-port */
/* Starts serving when metrics-port is set (else does nothing). 0, or -1 with errstr. */
int webhook_metrics_start(webhook_t *w, char *errstr, size_t errstr_size);
/* From the main loop: every few seconds asks the broker for its metadata
 * and Redis for a PONG: the "kafka" and "redis" readiness checks. */
void webhook_metrics_tick(webhook_t *w);

/* http.c: libmicrohttpd, the limits, the connections */
/* Listens as cf says. NULL with errstr. */
struct MHD_Daemon *webhook_http_start(webhook_t *w, char *errstr, size_t errstr_size);
enum MHD_Result webhook_reply(struct MHD_Connection *c, unsigned int status, const char *json);
/* Shuts down the sockets of requests older than request-timeout. */
void webhook_cut_slow_requests(webhook_t *w);

#endif
