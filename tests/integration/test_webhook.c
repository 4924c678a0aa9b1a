/* test_webhook.c: carrot-webhook over real HTTP (libcurl on loopback) into
 * the real Kafka and Redis: a signed HubSpot batch is accepted and its
 * activities produced once; the same batch retried is recognised; a bad
 * signature and a stale timestamp are refused; a signed body that is not a
 * batch goes to the dead-letter topic. */
#include "activity.h"
#include "ittools.h"
#include "testutil.h"
#include "timeutil.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char response[1024];

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    (void)ud;
    size_t len = size * n, have = strlen(response);
    if (have + len < sizeof(response)) {
        memcpy(response + have, p, len);
        response[have + len] = '\0';
    }
    return len;
}

/* POSTs body signed with secret (NULL: unsigned) at time ts_ms; returns the status. */
static long post(const char *url, const char *body, const char *secret, long long ts_ms) {
    char ts[32], sig[128], h1[160], h2[200];
    snprintf(ts, sizeof(ts), "%lld", ts_ms);
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
    response[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
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

START_TEST(signed_batches_once) {
    char program[48], topic[96], dlq[96], port[16], url[128];
    it_unique(program, sizeof(program), "wh");
    snprintf(topic, sizeof(topic), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    it_create_topic(topic, 2, NULL);
    it_create_topic(dlq, 1, NULL);
    snprintf(port, sizeof(port), "%d", 30000 + getpid() % 20000);
    snprintf(url, sizeof(url), "http://127.0.0.1:%s/webhooks/hubspot", port);
    char public_url[64];
    snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%s", port);
    char *secret = secret_file("s3cret", 0600);
    char *argv[] = {CARROT_WEBHOOK, "--port", port, "--public-url", public_url, "--secret-file",
                    secret, "--topic", topic, "--dlq-topic", dlq, "--program", program,
                    "--log-level", "warn", NULL};
    pid_t pid = it_spawn(argv);
    char *body = carrot_test_read("tests/data/hubspot-webhook.json", NULL);
    body[strcspn(body, "\n")] = '\0';
    /* the fixture's event ids are fixed: make them this run's own, so Redis has not seen them */
    char *batch = malloc(strlen(body) + 64);
    char portal[16];
    snprintf(portal, sizeof(portal), "%d", 10000 + getpid() % 80000);
    size_t out = 0;
    for (const char *p = body; *p;) {
        if (strncmp(p, "62515", 5) == 0) {
            out += (size_t)sprintf(batch + out, "%s", portal);
            p += 5;
        } else
            batch[out++] = *p++;
    }
    batch[out] = '\0';
    long status = 0;
    for (int i = 0; i < 100 && status == 0; i++) { /* until it listens */
        status = post(url, batch, "s3cret", now_ms());
        if (!status) usleep(100000);
    }
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(response, "{\"accepted\":3,\"duplicates\":0,\"dead_lettered\":0,\"skipped\":2}");
    ck_assert_int_eq(post(url, batch, "s3cret", now_ms()), 200); /* HubSpot's retry */
    ck_assert_str_eq(response, "{\"accepted\":0,\"duplicates\":5,\"dead_lettered\":0,\"skipped\":0}");
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
                                             sizeof(errstr)), 0);
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
    it_msgs_free(msgs, n);
    free(batch);
    free(body);
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
    char *argv2[] = {CARROT_WEBHOOK, "--secret-file", open_file, "--listen", "not-an-address",
                     NULL};
    ck_assert_int_eq(it_run(argv2, &out), 2);
    free(out);
    unlink(open_file);
    free(open_file);
    char *argv3[] = {CARROT_WEBHOOK, "--listen", "not-an-address", NULL}; /* no secret at all */
    ck_assert_int_eq(it_run(argv3, &out), 2);
    free(out);
}
END_TEST

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const TTest *tests[] = {signed_batches_once, secret_only_from_env_or_file, NULL};
    int rc = carrot_test_run(carrot_test_suite("webhook", tests));
    curl_global_cleanup();
    return rc;
}
