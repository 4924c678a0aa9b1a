/* main.c: carrot-webhook's settings table and main(): start, serve, stop. */
#include "carrot/config.h"
#include "carrot/log.h"
#include "webhook.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    CARROT_CONF_METRICS_ROWS(webhook_conf_t),
    CARROT_CONF_LOG_ROWS(webhook_conf_t),
    CARROT_CONF_END};

static const char usage[] = "usage: CARROT_SECRET=S carrot-webhook [settings], or "
                            "carrot-webhook --secret-file FILE [settings]\n"
                            "Receives HubSpot webhooks and produces CRM activities to Kafka.";

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
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
        if (!(secret_buf = webhook_read_secret_file(cf.secret_file, errstr, sizeof(errstr)))) {
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
    /* before anything answers: a SIGTERM the moment /ready does must stop cleanly */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a write to a Redis that went away fails with EPIPE, reported and
     * retried; hiredis does not ask the kernel to spare the process */
    signal(SIGPIPE, SIG_IGN);
    webhook_t w = {.cf = &cf};
    /* an unconfirmed claim outlives the longest request: Kafka's wait and a few Redis replies */
    w.claim_ttl = cf.flush_timeout_ms / 1000 + 4 * cf.redis_timeout_ms / 1000 + 60;
    pthread_mutex_init(&w.lock, NULL);
    struct MHD_Daemon *d = NULL;
    if (!(w.rk = webhook_producer_new(conf, &w, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (!(w.redis = carrot_pool_new((size_t)cf.threads, webhook_redis_free)) ||
        !(w.codecs = carrot_pool_new((size_t)cf.threads, webhook_codec_free))) {
        carrot_error("out of memory");
        goto out;
    }
    if (webhook_metrics_start(&w, errstr, sizeof(errstr)) != 0 ||
        !(d = webhook_http_start(&w, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    carrot_info("listening on http://%s:%lld%s (signed as %s%s), %lld threads", cf.listen, cf.port,
                cf.path, cf.public_url, cf.path, cf.threads);
    while (!stop) {
        rd_kafka_poll(w.rk, 200);
        webhook_cut_slow_requests(&w);
        webhook_metrics_tick(&w);
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
    carrot_metrics_destroy(w.metrics); /* stops serving first */
    carrot_pool_destroy(w.codecs);
    carrot_pool_destroy(w.redis);
    pthread_mutex_destroy(&w.lock);
    if (secret_buf) {
        explicit_bzero(secret_buf, strlen(secret_buf));
        free(secret_buf);
        cf.secret = NULL; /* not the conf's to free */
    }
    carrot_conf_destroy(conf);
    return exit_code;
}
