/* test_metrics.c: the Prometheus text the metrics module writes, and its
 * HTTP endpoint. */
#include "carrot/metrics.h"
#include "testutil.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

START_TEST(exposition_format) {
    carrot_metrics_t *m = carrot_metrics_new();
    carrot_metric_t *c = carrot_metrics_counter(m, "x_total", "Things.", NULL);
    carrot_metric_t *g = carrot_metrics_gauge(m, "x_info", "Info.", "version=\"v1\"");
    static const double bounds[] = {0.1, 1};
    carrot_metric_t *h = carrot_metrics_histogram(m, "x_seconds", "Time.", bounds, 2);
    carrot_metric_add(c, 3);
    carrot_metric_add(c, 2);
    carrot_metric_set(g, 1);
    carrot_metric_set_labels(g, "version=\"v2\"");
    carrot_metric_observe(h, 0.05);
    carrot_metric_observe(h, 0.5);
    carrot_metric_observe(h, 7);
    char *text = carrot_metrics_render(m);
    ck_assert_str_eq(text, "# HELP x_total Things.\n# TYPE x_total counter\nx_total 5\n"
                           "# HELP x_info Info.\n# TYPE x_info gauge\nx_info{version=\"v2\"} 1\n"
                           "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n"
                           "x_seconds_bucket{le=\"0.1\"} 1\nx_seconds_bucket{le=\"1\"} 2\n"
                           "x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 7.5499999999999998\n"
                           "x_seconds_count 3\n");
    free(text);
    carrot_metric_add(NULL, 1); /* a metric that could not be made is a no-op */
    carrot_metrics_destroy(m);
    carrot_metrics_destroy(NULL);
}
END_TEST

static size_t collect(char *p, size_t size, size_t n, void *userdata) {
    size_t len = strlen(userdata);
    if (len + size * n < 4000) {
        memcpy((char *)userdata + len, p, size * n);
        ((char *)userdata)[len + size * n] = '\0';
    }
    return size * n;
}

static long get(const char *url, char *body) {
    CURL *c = curl_easy_init();
    long code = 0;
    body[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

START_TEST(served_over_http) {
    char errstr[256], url[64], body[4096];
    carrot_metrics_t *m = carrot_metrics_new();
    carrot_metric_add(carrot_metrics_counter(m, "served_total", "Served.", NULL), 42);
    int port = 0;
    for (int p = 39200 + getpid() % 500; p < 39800 && !port; p++) /* a free port */
        if (carrot_metrics_serve(m, "127.0.0.1", p, errstr, sizeof(errstr)) == 0) port = p;
    ck_assert_int_ne(port, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    ck_assert_int_eq(get(url, body), 200);
    ck_assert_ptr_nonnull(strstr(body, "served_total 42\n"));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/other", port);
    ck_assert_int_eq(get(url, body), 404);
    carrot_metrics_t *m2 = carrot_metrics_new(); /* the port is taken: a clear error */
    ck_assert_int_eq(carrot_metrics_serve(m2, "127.0.0.1", port, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "could not listen"));
    ck_assert_int_eq(carrot_metrics_serve(m2, "localhost", port, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "not an IPv4 address"));
    carrot_metrics_destroy(m2);
    carrot_metrics_destroy(m);
}
END_TEST

/* Series of one name share one HELP and TYPE, in the order first registered. */
START_TEST(series_of_one_name_grouped) {
    carrot_metrics_t *m = carrot_metrics_new();
    carrot_metric_set(carrot_metrics_gauge(m, "lag", "Lag.", "partition=\"0\""), 3);
    carrot_metric_set(carrot_metrics_gauge(m, "other", "Other.", NULL), 1);
    carrot_metric_set(carrot_metrics_gauge(m, "lag", "ignored", "partition=\"1\""), 4);
    char *text = carrot_metrics_render(m);
    ck_assert_str_eq(text, "# HELP lag Lag.\n# TYPE lag gauge\nlag{partition=\"0\"} 3\n"
                           "lag{partition=\"1\"} 4\n# HELP other Other.\n# TYPE other gauge\n"
                           "other 1\n");
    free(text);
    carrot_metrics_destroy(m);
}
END_TEST

static void copy_in(void *opaque) {
    static int scrapes;
    carrot_metric_set(opaque, ++scrapes * 10);
}

/* A program's own counters are copied in at each scrape. */
START_TEST(collected_at_scrape) {
    carrot_metrics_t *m = carrot_metrics_new();
    carrot_metric_t *g = carrot_metrics_counter(m, "copied_total", "Copied.", NULL);
    carrot_metrics_on_scrape(m, copy_in, g);
    char *a = carrot_metrics_render(m), *b = carrot_metrics_render(m);
    ck_assert_ptr_nonnull(strstr(a, "\ncopied_total 10\n"));
    ck_assert_ptr_nonnull(strstr(b, "\ncopied_total 20\n"));
    free(a);
    free(b);
    carrot_metrics_destroy(m);
}
END_TEST

static double sample(const char *text, const char *name) {
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "no %s in %s", name, text);
    return strtod(p + strlen(key), NULL);
}

/* The process metrics are this process's: memory it holds, descriptors it
 * opened, a start time before now, CPU it burnt. */
START_TEST(process_metrics_are_this_process) {
    carrot_metrics_t *m = carrot_metrics_new();
    ck_assert_int_eq(carrot_metrics_add_process(m, "carrot-test"), 0);
    volatile double x = 0;
    for (long i = 0; i < 30000000; i++) x += (double)i; /* some CPU time to see */
    ck_assert_double_gt(x, 0);
    FILE *extra[8];
    char *before = carrot_metrics_render(m);
    for (int i = 0; i < 8; i++) extra[i] = fopen("/dev/null", "r");
    char *after = carrot_metrics_render(m);
    ck_assert_double_eq_tol(sample(after, "process_open_fds") - sample(before, "process_open_fds"),
                            8, 0.1);
    ck_assert_double_gt(sample(after, "process_resident_memory_bytes"), 1 << 20);
    ck_assert_double_ge(sample(after, "process_virtual_memory_bytes"),
                        sample(after, "process_resident_memory_bytes"));
    ck_assert_double_gt(sample(after, "process_cpu_seconds_total"), 0);
    double start = sample(after, "process_start_time_seconds"), now = (double)time(NULL);
    ck_assert_double_le(start, now + 1);
    ck_assert_double_gt(start, now - 3600);
    ck_assert_double_ge(sample(after, "process_max_fds"), sample(after, "process_open_fds"));
    ck_assert_ptr_nonnull(strstr(after, "\ncarrot_build_info{program=\"carrot-test\",version=\""));
    for (int i = 0; i < 8; i++)
        if (extra[i]) fclose(extra[i]);
    free(before);
    free(after);
    carrot_metrics_destroy(m);
}
END_TEST

/* /healthz answers while the process does; /readyz only when every check
 * is up, naming the ones that are not; a check is a gauge too. */
START_TEST(health_and_readiness) {
    char errstr[256], url[64], body[4096];
    carrot_metrics_t *m = carrot_metrics_new();
    int port = 0;
    for (int p = 39950 + getpid() % 40; p < 39995 && !port; p++)
        if (carrot_metrics_serve(m, "127.0.0.1", p, errstr, sizeof(errstr)) == 0) port = p;
    ck_assert_int_ne(port, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    ck_assert_int_eq(get(url, body), 200);
    ck_assert_str_eq(body, "ok\n");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    ck_assert_int_eq(get(url, body), 200); /* no check yet */
    ck_assert_int_eq(carrot_metrics_check(m, "kafka", 1, NULL), 0);
    ck_assert_int_eq(carrot_metrics_check(m, "redis", 0, "connection refused"), 0);
    ck_assert_int_eq(get(url, body), 503);
    ck_assert_str_eq(body, "redis: connection refused\n");
    ck_assert_int_eq(carrot_metrics_ready(m), 0);
    char *text = carrot_metrics_render(m);
    ck_assert_ptr_nonnull(strstr(text, "carrot_ready{check=\"kafka\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "carrot_ready{check=\"redis\"} 0\n"));
    free(text);
    ck_assert_int_eq(carrot_metrics_check(m, "redis", 1, "ignored when up"), 0);
    ck_assert_int_eq(get(url, body), 200);
    ck_assert_str_eq(body, "ready\n");
    ck_assert_int_eq(carrot_metrics_ready(m), 1);
    carrot_metrics_destroy(m);
}
END_TEST

/* Four threads update while the endpoint's thread renders: every scrape is a
 * consistent set (the histogram's count equals its last bucket) and nothing
 * is lost. Under ThreadSanitizer (tests/run.sh's TSAN phase) a data race fails it. */
#define WRITERS 4
#define UPDATES 20000
static carrot_metric_t *hits, *latency;

static void *writer(void *arg) {
    (void)arg;
    for (int i = 0; i < UPDATES; i++) {
        carrot_metric_add(hits, 1);
        carrot_metric_observe(latency, (i % 10) / 10.0);
    }
    return NULL;
}

static long long value_after(const char *body, const char *prefix) {
    const char *p = strstr(body, prefix);
    ck_assert_msg(p != NULL, "no \"%s\" in %s", prefix, body);
    return strtoll(p + strlen(prefix), NULL, 10);
}

START_TEST(updates_while_served) {
    static const double bounds[] = {0.25, 0.5};
    char errstr[256], url[64], body[4096];
    carrot_metrics_t *m = carrot_metrics_new();
    hits = carrot_metrics_counter(m, "hits_total", "Hits.", NULL);
    latency = carrot_metrics_histogram(m, "latency_seconds", "Latency.", bounds, 2);
    int port = 0;
    for (int p = 39800 + getpid() % 150; p < 39950 && !port; p++)
        if (carrot_metrics_serve(m, "127.0.0.1", p, errstr, sizeof(errstr)) == 0) port = p;
    ck_assert_int_ne(port, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer, NULL), 0);
    long long last = -1;
    for (int k = 0; k < 20; k++) { /* scrapes during the updates */
        ck_assert_int_eq(get(url, body), 200);
        long long n = value_after(body, "latency_seconds_count ");
        ck_assert_int_eq(value_after(body, "latency_seconds_bucket{le=\"+Inf\"} "), n);
        ck_assert_int_ge(n, last); /* counts only grow */
        last = n;
    }
    for (int i = 0; i < WRITERS; i++) pthread_join(t[i], NULL);
    ck_assert_int_eq(get(url, body), 200);
    ck_assert_int_eq(value_after(body, "\nhits_total "), WRITERS * UPDATES);
    ck_assert_int_eq(value_after(body, "latency_seconds_count "), WRITERS * UPDATES);
    carrot_metrics_destroy(m);
}
END_TEST

int main(void) {
    const TTest *tests[] = {exposition_format,    series_of_one_name_grouped,
                            collected_at_scrape,  process_metrics_are_this_process,
                            health_and_readiness, served_over_http,
                            updates_while_served, NULL};
    return carrot_test_run(carrot_test_suite("metrics", tests));
}
