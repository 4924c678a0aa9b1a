/* test_webhook.c: carrot-webhook over real HTTP (libcurl and plain sockets on
 * loopback) into the real Kafka and Redis: a signed HubSpot batch is
 * accepted and its activities produced once; the same batch retried is
 * recognised; a bad signature, a stale or overflowing timestamp are
 * refused; a signed body that is not a batch goes to the dead-letter topic;
 * a target URL with a query or percent-encoding verifies; Redis down means
 * 503 and nothing produced; concurrent and repeated deliveries produce once;
 * Kafka down means a bounded 503 while other requests are still served;
 * thousands of slow connections and 64 MiB uploads are cut while signed
 * deliveries go on; the secret is never taken from the command line.
 *
 * Settings the webhook did not always have are passed in its environment
 * (CARROT_*), which an older build ignores: the same test then shows what
 * that build does without them. */
#include "carrot/activity.h"
#include "carrot/timeutil.h"
#include "ittools.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char response[1024];

typedef struct {
    char *buf;
    size_t size;
} sink_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    sink_t *sink = ud;
    size_t len = size * n, have = strlen(sink->buf);
    if (have + len < sink->size) {
        memcpy(sink->buf + have, p, len);
        sink->buf[have + len] = '\0';
    }
    return len;
}

/* POSTs body signed with secret (NULL: unsigned) with timestamp header ts;
 * the answer's body goes to resp. Returns the status, 0 if none came. */
static long post_ts(const char *url, const char *body, const char *secret, const char *ts,
                    char *resp, size_t resp_size) {
    char sig[128], h1[160], h2[200];
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (secret) {
        /* the v3 signature, computed here independently of carrot_hubspot_verify() */
        size_t n = strlen("POST") + strlen(url) + strlen(body) + strlen(ts);
        char *msg = malloc(n + 1);
        snprintf(msg, n + 1, "POST%s%s%s", url, body, ts);
        unsigned char md[64];
        size_t mdlen = 0;
        ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                                        (unsigned char *)msg, n, md, sizeof(md), &mdlen));
        EVP_EncodeBlock((unsigned char *)sig, md, (int)mdlen);
        free(msg);
        snprintf(h1, sizeof(h1), "X-HubSpot-Signature-v3: %s", sig);
        hdrs = curl_slist_append(hdrs, h1);
    }
    snprintf(h2, sizeof(h2), "X-HubSpot-Request-Timestamp: %s", ts);
    hdrs = curl_slist_append(hdrs, h2);
    resp[0] = '\0';
    sink_t sink = {resp, resp_size};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}

/* POSTs body signed with secret (NULL: unsigned) at time ts_ms; returns the status. */
static long post(const char *url, const char *body, const char *secret, long long ts_ms) {
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", ts_ms);
    return post_ts(url, body, secret, ts, response, sizeof(response));
}

/* HubSpot's clock, as the webhook judges it: Carrot's (a test clock shift moves both) */
static long long now_ms(void) { return (long long)carrot_time_now_ms(); }

/* A file holding secret (and a newline, as an editor leaves it) with that mode; caller frees
 * the path. */
static char *secret_file(const char *secret, mode_t mode) {
    char text[256];
    snprintf(text, sizeof(text), "%s\n", secret);
    char *path = it_write_temp(text);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

/* A port bound but never listened on: connections to it are refused for as
 * long as *fdp stays open (what a stopped Redis or Kafka looks like). */
static int closed_port(int *fdp) {
    *fdp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(*fdp, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(*fdp, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* Starts carrot-webhook with argv (after the program) and env ("NAME=value"
 * strings, NULL-terminated; may be NULL) added to its environment, honouring
 * CARROT_IT_WRAPPER as it_spawn does. The kernel kills it if this test
 * process dies (a failed assertion runs no cleanup). */
static pid_t spawn_webhook(char *const argv[], const char *const *env) {
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0) return pid;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    for (size_t i = 0; env && env[i]; i++) putenv(strdup(env[i]));
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    close(fd);
    const char *wrapper = getenv("CARROT_IT_WRAPPER");
    char *args[96];
    int n = 0;
    if (wrapper && *wrapper) {
        char *words = strdup(wrapper), *save = NULL;
        for (char *w = strtok_r(words, " ", &save); w && n < 32; w = strtok_r(NULL, " ", &save))
            args[n++] = w;
    }
    args[n++] = CARROT_WEBHOOK;
    for (int i = 0; argv[i] && n < 95; i++) args[n++] = argv[i];
    args[n] = NULL;
    execvp(args[0], args);
    _exit(127);
}

/* Waits (bounded) until something answers HTTP on port. */
static void wait_listening(int port) {
    char url[64], resp[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", port);
    long status = 0;
    for (int i = 0; i < 300 && status == 0; i++) { /* 30 s: valgrind starts slowly */
        status = post_ts(url, "", NULL, "0", resp, sizeof(resp));
        if (!status) usleep(100000);
    }
    ck_assert_int_ne(status, 0);
}

static void stop_webhook(pid_t pid) {
    kill(pid, SIGTERM);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "carrot-webhook ended with %d", st);
}

/* The fixture batch (3 activities, 2 skipped events) with a portalId of its
 * own, so Redis has not seen its event ids (they are kept for days). Caller
 * frees. */
static char *fresh_batch(void) {
    static int seq;
    char *body = carrot_test_read("tests/data/hubspot-webhook.json", NULL);
    body[strcspn(body, "\n")] = '\0';
    char *batch = malloc(strlen(body) + 256);
    char portal[32];
    snprintf(portal, sizeof(portal), "%lld",
             ((long long)(time(NULL) % 1000000) * 100000 + getpid() % 100000) * 100 + seq++);
    size_t out = 0;
    for (const char *p = body; *p;) {
        if (strncmp(p, "62515", 5) == 0) {
            out += (size_t)sprintf(batch + out, "%s", portal);
            p += 5;
        } else
            batch[out++] = *p++;
    }
    batch[out] = '\0';
    free(body);
    return batch;
}

/* One topic and dead-letter topic of a test's own. */
typedef struct {
    char program[48], topic[96], dlq[96];
} topics_t;

static void make_topics(topics_t *t, const char *prefix) {
    it_unique(t->program, sizeof(t->program), prefix);
    snprintf(t->topic, sizeof(t->topic), "%s.activities", t->program);
    snprintf(t->dlq, sizeof(t->dlq), "%s.dlq", t->program);
    it_create_topic(t->topic, 2, NULL);
    it_create_topic(t->dlq, 1, NULL);
}

static size_t count_messages(const char *topic) {
    it_msg_t *msgs;
    size_t n = it_consume_all(topic, &msgs);
    it_msgs_free(msgs, n);
    return n;
}

START_TEST(signed_batches_once) {
    char program[48], topic[96], dlq[96], port[16], url[128];
    it_unique(program, sizeof(program), "wh");
    snprintf(topic, sizeof(topic), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    it_create_topic(topic, 2, NULL);
    it_create_topic(dlq, 1, NULL);
    snprintf(port, sizeof(port), "%d", it_free_port());
    snprintf(url, sizeof(url), "http://127.0.0.1:%s/webhooks/hubspot", port);
    char public_url[64];
    snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%s", port);
    char *secret = secret_file("s3cret", 0600);
    char *argv[] = {CARROT_WEBHOOK, "--port",        port,   "--public-url",
                    public_url,     "--secret-file", secret, "--topic",
                    topic,          "--dlq-topic",   dlq,    "--program",
                    program,        "--log-level",   "warn", NULL};
    pid_t pid = spawn_webhook(argv + 1, NULL);
    char *batch = fresh_batch();
    long status = 0;
    for (int i = 0; i < 100 && status == 0; i++) { /* until it listens */
        status = post(url, batch, "s3cret", now_ms());
        if (!status) usleep(100000);
    }
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(response,
                     "{\"accepted\":3,\"duplicates\":0,\"dead_lettered\":0,\"skipped\":2}");
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200); /* HubSpot's retry */
    ck_assert_str_eq(response,
                     "{\"accepted\":0,\"duplicates\":5,\"dead_lettered\":0,\"skipped\":0}");
    ck_assert_int_eq(post(url, batch, "wrong", now_ms()), 401);
    ck_assert_ptr_nonnull(strstr(response, "does not match"));
    ck_assert_int_eq(post(url, batch, NULL, now_ms()), 401);
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms() - 10 * 60 * 1000), 401);
    ck_assert_ptr_nonnull(strstr(response, "away from now"));
    ck_assert_int_eq(post(url, "{\"not\":\"a batch\"}", "s3cret", now_ms()), 200);
    ck_assert_ptr_nonnull(strstr(response, "\"dead_lettered\":1"));
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    it_msg_t *msgs;
    size_t n = it_consume_all(topic, &msgs);
    ck_assert_uint_eq(n, 3);
    char errstr[256], ids[512] = "";
    carrot_codec_t *codec = carrot_activity_codec_new(errstr, sizeof(errstr));
    int calls = 0, won = 0, deletes = 0;
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v;
        carrot_activity_t a;
        ck_assert_int_eq(carrot_codec_decode(codec, msgs[i].value, msgs[i].value_len, &v, errstr,
                                             sizeof(errstr)),
                         0);
        ck_assert_int_eq(carrot_activity_from_avro(v, &a, errstr, sizeof(errstr)), 0);
        ck_assert_str_eq(a.program_id, program);
        calls += strcmp(a.activity_type, "call") == 0;
        won += strcmp(a.activity_type, "deal_won") == 0;
        deletes += a.change_type == CARROT_CHANGE_DELETE;
        strcat(ids, a.event_id);
    }
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(won, 1);
    ck_assert_int_eq(deletes, 1);
    carrot_codec_destroy(codec);
    it_msgs_free(msgs, n);
    n = it_consume_all(dlq, &msgs);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(msgs[0].value, "{\"not\":\"a batch\"}");
    ck_assert_str_eq(msgs[0].error, "webhook body is not an array of events");
    ck_assert_str_eq(msgs[0].stage, "webhook");
    ck_assert_str_eq(msgs[0].source, "/webhooks/hubspot"); /* the path it was posted to */
    ck_assert_ptr_null(msgs[0].orig_topic);                /* not from Kafka */
    ck_assert_ptr_null(msgs[0].orig_partition);
    ck_assert_ptr_null(msgs[0].orig_offset);
    it_msgs_free(msgs, n);
    free(batch);
    unlink(secret);
    free(secret);
}
END_TEST

/* The secret never on the command line (/proc/PID/cmdline is public): the flag
 * is refused, and so is a file others may read. */
START_TEST(secret_only_from_env_or_file) {
    char *argv[] = {CARROT_WEBHOOK, "--secret", "s3cret", "--listen", "not-an-address", NULL};
    char *out = NULL;
    ck_assert_int_eq(it_run(argv, &out), 2);
    free(out);
    char *open_file = secret_file("s3cret", 0644);
    char *argv2[] = {CARROT_WEBHOOK, "--secret-file",  open_file,
                     "--listen",     "not-an-address", NULL};
    ck_assert_int_eq(it_run(argv2, &out), 2);
    free(out);
    unlink(open_file);
    free(open_file);
    char *argv3[] = {CARROT_WEBHOOK, "--listen", "not-an-address", NULL}; /* no secret at all */
    ck_assert_int_eq(it_run(argv3, &out), 2);
    free(out);
}
END_TEST

/* Starts a webhook for t on a port of its own (stdout to /dev/null); the
 * secret comes from the environment. extra: more flags (NULL-terminated),
 * env: more environment. Fills url with the target URL's base. */
static pid_t start(const topics_t *t, char *url, size_t url_size, const char *const *extra,
                   const char *const *env) {
    static char port[16], public_url[64];
    snprintf(port, sizeof(port), "%d", it_free_port());
    snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%s", port);
    snprintf(url, url_size, "%s", public_url);
    char *argv[48] = {"--port",           port,           "--public-url",
                      public_url,         "--topic",      (char *)t->topic,
                      "--dlq-topic",      (char *)t->dlq, "--program",
                      (char *)t->program, "--log-level",  "warn"};
    int n = 12;
    for (int i = 0; extra && extra[i] && n < 46; i++) argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    const char *envs[16] = {"CARROT_SECRET=s3cret"};
    for (int i = 0; env && env[i] && i < 14; i++) envs[i + 1] = env[i];
    pid_t pid = spawn_webhook(argv, envs);
    wait_listening(atoi(port));
    return pid;
}

/* HubSpot signs the target URL exactly as it calls it: with its query, and
 * percent-encoded as it was written. A timestamp that is not milliseconds
 * (LLONG_MIN, one past LLONG_MAX) is refused, and the webhook lives on. */
START_TEST(signed_over_the_raw_uri) {
    topics_t t;
    make_topics(&t, "whuri");
    char base[64], url[256];
    pid_t pid = start(&t, base, sizeof(base), NULL, NULL);
    char *batch = fresh_batch();
    snprintf(url, sizeof(url), "%s/webhooks/hubspot?portal=7&tag=a%%2Fb%%20c", base);
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200);
    ck_assert_str_eq(response,
                     "{\"accepted\":3,\"duplicates\":0,\"dead_lettered\":0,\"skipped\":2}");
    snprintf(url, sizeof(url), "%s/webhooks/hub%%73pot?x=%%41%%2B", base);
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200);
    ck_assert_str_eq(response,
                     "{\"accepted\":0,\"duplicates\":5,\"dead_lettered\":0,\"skipped\":0}");
    /* timestamps that cannot be subtracted from now */
    static const char *const bad_ts[] = {"-9223372036854775808", "9223372036854775808",
                                         "9223372036854775807", "-1"};
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
        ck_assert_int_eq(post_ts(url, batch, "s3cret", bad_ts[i], response, sizeof(response)), 401);
        ck_assert_msg(strstr(response, i == 2 ? "away from now" : "not milliseconds"), "%s: %s",
                      bad_ts[i], response);
    }
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200); /* still there */
    stop_webhook(pid);
    ck_assert_uint_eq(count_messages(t.topic), 3);
    free(batch);
}
END_TEST

/* Redis unreachable: 503 and nothing produced (fail closed; HubSpot
 * retries). Redis back: the retry is produced, once. */
START_TEST(redis_down_then_back) {
    topics_t t;
    make_topics(&t, "whredis");
    int hole;
    char redis_port[16], base[64], url[128];
    snprintf(redis_port, sizeof(redis_port), "%d", closed_port(&hole));
    const char *const down[] = {"--redis-port", redis_port, NULL};
    pid_t pid = start(&t, base, sizeof(base), down, NULL);
    snprintf(url, sizeof(url), "%s/webhooks/hubspot", base);
    char *batch = fresh_batch();
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 503);
    ck_assert_ptr_nonnull(strstr(response, "Redis"));
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 503); /* HubSpot's first retry */
    stop_webhook(pid);
    close(hole);
    ck_assert_uint_eq(count_messages(t.topic), 0);
    pid = start(&t, base, sizeof(base), NULL, NULL); /* the real Redis, same topic */
    snprintf(url, sizeof(url), "%s/webhooks/hubspot", base);
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200);
    ck_assert_str_eq(response,
                     "{\"accepted\":3,\"duplicates\":0,\"dead_lettered\":0,\"skipped\":2}");
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200);
    ck_assert_str_eq(response,
                     "{\"accepted\":0,\"duplicates\":5,\"dead_lettered\":0,\"skipped\":0}");
    stop_webhook(pid);
    ck_assert_uint_eq(count_messages(t.topic), 3);
    free(batch);
}
END_TEST

typedef struct {
    const char *url, *body;
    pthread_barrier_t *start;
    long status;
    char resp[512];
    atomic_int done;
} delivery_t;

static void *deliver(void *arg) {
    delivery_t *d = arg;
    if (d->start) pthread_barrier_wait(d->start);
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", now_ms());
    d->status = post_ts(d->url, d->body, "s3cret", ts, d->resp, sizeof(d->resp));
    atomic_store(&d->done, 1);
    return NULL;
}

/* The same batch delivered by 8 requests at once, and one event repeated
 * inside a batch: each is produced once. */
START_TEST(concurrent_and_repeated_once) {
    topics_t t;
    make_topics(&t, "whconc");
    char base[64], url[128];
    pid_t pid = start(&t, base, sizeof(base), NULL, NULL);
    snprintf(url, sizeof(url), "%s/webhooks/hubspot", base);
    char *batch = fresh_batch();
    enum { N = 8 };
    delivery_t d[N];
    pthread_t th[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        d[i] = (delivery_t){.url = url, .body = batch, .start = &go};
        ck_assert_int_eq(pthread_create(&th[i], NULL, deliver, &d[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        /* 200, or 503 while another request holds the claim: never a lost event */
        ck_assert_msg(d[i].status == 200 || d[i].status == 503, "%ld %s", d[i].status, d[i].resp);
        ok += d[i].status == 200;
    }
    pthread_barrier_destroy(&go);
    ck_assert_int_ge(ok, 1);
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200); /* a retry afterwards */
    ck_assert_str_eq(response,
                     "{\"accepted\":0,\"duplicates\":5,\"dead_lettered\":0,\"skipped\":0}");
    /* one call, three times in one batch */
    char ev[512], repeated[1600];
    snprintf(ev, sizeof(ev),
             "{\"eventId\":1,\"portalId\":%lld,\"occurredAt\":1793637845000,\"subscriptionType\":"
             "\"object.creation\",\"objectId\":9001,\"objectTypeId\":\"0-48\",\"sourceId\":"
             "\"userId:4711\"}",
             (long long)time(NULL) * 100000 + getpid() % 100000);
    snprintf(repeated, sizeof(repeated), "[%s,%s,%s]", ev, ev, ev);
    ck_assert_int_eq(post(url, repeated, "s3cret", now_ms()), 200);
    ck_assert_str_eq(response,
                     "{\"accepted\":1,\"duplicates\":2,\"dead_lettered\":0,\"skipped\":0}");
    stop_webhook(pid);
    ck_assert_uint_eq(count_messages(t.topic), 3 + 1);
    free(batch);
}
END_TEST

/* Kafka unreachable: the request waits at most flush-timeout-ms and gets
 * 503, its claims released for the retry; meanwhile other requests are
 * answered (another thread serves them). */
START_TEST(kafka_down_bounded_503) {
    topics_t t;
    make_topics(&t, "whkafka");
    int hole;
    char brokers[32], base[64], url[128];
    snprintf(brokers, sizeof(brokers), "127.0.0.1:%d", closed_port(&hole));
    const char *const extra[] = {"--brokers", brokers, NULL};
    const char *const env[] = {"CARROT_FLUSH_TIMEOUT_MS=3000", NULL};
    pid_t pid = start(&t, base, sizeof(base), extra, env);
    snprintf(url, sizeof(url), "%s/webhooks/hubspot", base);
    char *batch = fresh_batch();
    char key[128];
    long long portal = atoll(strstr(batch, "\"portalId\":") + strlen("\"portalId\":"));
    snprintf(key, sizeof(key), "carrot:{hubspot}:webhook:%lld:1001", portal);
    delivery_t slow = {.url = url, .body = batch};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, deliver, &slow), 0);
    redisContext *rc = it_redis();
    int claimed = 0;
    /* until it waits for Kafka (its claim is made), or at most 2 s */
    for (int i = 0; i < 80 && !claimed && !atomic_load(&slow.done); i++) {
        redisReply *r = redisCommand(rc, "EXISTS %s", key);
        claimed = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        if (!claimed) usleep(25000);
    }
    ck_assert_int_eq(post(url, batch, NULL, now_ms()), 401); /* served while the other waits */
    ck_assert_msg(!atomic_load(&slow.done), "the unsigned request was answered only after the "
                                            "slow one");
    pthread_join(th, NULL);
    ck_assert_int_eq(slow.status, 503);
    ck_assert_ptr_nonnull(strstr(slow.resp, "Kafka"));
    ck_assert_msg(claimed, "the slow delivery never claimed its events");
    redisReply *r = redisCommand(rc, "EXISTS %s", key); /* released: the retry may deliver it */
    ck_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    freeReplyObject(r);
    redisFree(rc);
    stop_webhook(pid);
    close(hole);
    free(batch);
}
END_TEST

/* A connection to the webhook from source address 127.0.0.<ip> (all of
 * 127/8 is loopback), non-blocking, connecting. -1 if the socket could not
 * be made. */
static int connect_from(int ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000000u | (unsigned)ip)};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* An unsigned 64 MiB upload from 127.0.0.1. With Content-Length the answer
 * (413) must come before any of the body is sent; either way the webhook
 * must stop taking it long before 64 MiB. Returns the bytes it took. */
static size_t big_upload(int port, int chunked, char *status, size_t status_size) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char head[256];
    snprintf(head, sizeof(head), "POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n\r\n",
             chunked ? "Transfer-Encoding: chunked" : "Content-Length: 67108864");
    ck_assert_int_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    status[0] = '\0';
    if (!chunked) { /* the answer, before a byte of the body */
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) == 1) {
            ssize_t n = recv(fd, status, status_size - 1, 0);
            status[n > 0 ? n : 0] = '\0';
        }
    }
    static char chunk[65536 + 16];
    size_t sent = 0, total = (size_t)64 << 20, hdr = chunked ? 7 : 0;
    if (chunked) memcpy(chunk, "10000\r\n", 7);
    memset(chunk + hdr, 'x', 65536);
    if (chunked) memcpy(chunk + hdr + 65536, "\r\n", 2);
    while (sent < total) {
        ssize_t n = send(fd, chunk, 65536 + (chunked ? 9 : 0), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += (size_t)n;
    }
    close(fd);
    return sent;
}

/* 2,000 connections from 127.0.0.2-11 trickling a byte a second (half still
 * in their headers, half in a body), a 64 MiB upload with Content-Length and
 * one chunked: all are cut (the per-address limit at once, request-timeout
 * later), and signed deliveries from 127.0.0.1 meanwhile all get 200. */
START_TEST(survives_slow_connections) {
    int slowed = getenv("CARROT_IT_WRAPPER") && *getenv("CARROT_IT_WRAPPER");
    int nslow = slowed ? 200 : 2000, nips = 10, timeout_s = 3,
        rounds = timeout_s + (slowed ? 20 : 8);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < (rlim_t)nslow + 512) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nslow + 1024 ? rl.rlim_max : (rlim_t)nslow + 1024;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    ck_assert_msg(rl.rlim_cur >= (rlim_t)nslow + 512, "need %d file descriptors", nslow + 512);
    topics_t t;
    make_topics(&t, "whslow");
    char base[64], url[128], timeout[48];
    snprintf(timeout, sizeof(timeout), "CARROT_REQUEST_TIMEOUT=%d", timeout_s);
    const char *const env[] = {timeout, NULL};
    pid_t pid = start(&t, base, sizeof(base), NULL, env);
    snprintf(url, sizeof(url), "%s/webhooks/hubspot", base);
    int port = atoi(strrchr(base, ':') + 1);

    char status[256];
    size_t took = big_upload(port, 0, status, sizeof(status));
    ck_assert_msg(strncmp(status, "HTTP/1.1 413", 12) == 0, "no 413 before the body: \"%.40s\"",
                  status);
    ck_assert_uint_lt(took, (size_t)64 << 20);
    fprintf(stderr, "64 MiB with Content-Length: 413 before the body, %zu bytes taken\n", took);

    int *fds = malloc((size_t)nslow * sizeof(*fds)), *cut_at = calloc((size_t)nslow, sizeof(int));
    struct pollfd *pfd = calloc((size_t)nslow, sizeof(*pfd));
    for (int i = 0; i < nslow; i++) {
        fds[i] = connect_from(2 + i % nips, port);
        ck_assert_msg(fds[i] >= 0, "socket %d: %s", i, strerror(errno));
        cut_at[i] = -1;
    }
    static const char *const starts[] = {
        "POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        "POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4096\r\n\r\n["};
    int open = nslow, signed_ok = 0, signed_sent = 0;
    char *batch = fresh_batch();
    for (int round = 0; round <= rounds && open > 0; round++) {
        for (int i = 0; i < nslow; i++)
            pfd[i] = (struct pollfd){cut_at[i] < 0 ? fds[i] : -1, POLLIN, 0};
        poll(pfd, (nfds_t)nslow, 0);
        for (int i = 0; i < nslow; i++) {
            if (cut_at[i] >= 0) continue;
            int gone = 0;
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                char buf[512];
                ssize_t n = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
                gone = n == 0 || (n < 0 && errno != EAGAIN);
                if (n > 0) gone = 1; /* an answer (408, 400): the request is over */
            }
            if (!gone) {
                const char *what = round == 0 ? starts[i % 2] : "x";
                ssize_t n = send(fds[i], what, strlen(what), MSG_NOSIGNAL | MSG_DONTWAIT);
                gone = n < 0 && errno != EAGAIN && errno != ENOTCONN;
            }
            if (gone) {
                cut_at[i] = round;
                close(fds[i]);
                open--;
            }
        }
        if (round == 0) {
            /* the chunked 64 MiB while the slow ones hold their connections */
            took = big_upload(port, 1, status, sizeof(status));
            ck_assert_uint_lt(took, (size_t)64 << 20);
            fprintf(stderr, "64 MiB chunked: cut after %zu bytes\n", took);
        }
        /* a signed delivery, from 127.0.0.1, among them */
        signed_sent++;
        long st = post(url, batch, "s3cret", now_ms());
        ck_assert_msg(st == 200, "signed delivery %d during the slow ones: %ld %s", signed_sent, st,
                      response);
        signed_ok++;
        fprintf(stderr, "second %d: %d of %d slow connections still open\n", round, open, nslow);
        if (open > 0) sleep(1);
    }
    int by_limit = 0, by_time = 0;
    for (int i = 0; i < nslow; i++) {
        if (cut_at[i] < 0) close(fds[i]);
        else if (cut_at[i] <= 1)
            by_limit++;
        else
            by_time++;
    }
    fprintf(stderr,
            "slow connections: %d cut within a second (limits), %d later (request-timeout), "
            "%d never; %d of %d signed deliveries got 200\n",
            by_limit, by_time, open, signed_ok, signed_sent);
    ck_assert_msg(open == 0, "%d of %d slow connections were never cut", open, nslow);
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200);
    stop_webhook(pid);
    free(batch);
    free(fds);
    free(cut_at);
    free(pfd);
}
END_TEST

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const TTest *tests[] = {signed_batches_once,          secret_only_from_env_or_file,
                            signed_over_the_raw_uri,      redis_down_then_back,
                            concurrent_and_repeated_once, kafka_down_bounded_503,
                            survives_slow_connections,    NULL};
    int rc = carrot_test_run(carrot_test_suite("webhook", tests));
    curl_global_cleanup();
    return rc;
}
