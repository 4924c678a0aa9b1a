/* metrics.c: see metrics.h. The HTTP side is libmicrohttpd's. */
#include "carrot/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { COUNTER, GAUGE, HISTOGRAM } kind_t;

struct carrot_metric_s {
    carrot_metrics_t *owner;
    kind_t kind;
    char *name, *help, *labels;
    double value, sum;
    int nbounds;
    double *bounds;
    uint64_t *buckets, count; /* buckets[i]: observations <= bounds[i] (not cumulative) */
};

struct carrot_metrics_s {
    pthread_mutex_t lock;
    carrot_metric_t **metrics;
    size_t n, cap;
    struct MHD_Daemon *daemon;
};

carrot_metrics_t *carrot_metrics_new(void) {
    carrot_metrics_t *m = calloc(1, sizeof(*m));
    if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void metric_free(carrot_metric_t *x) {
    free(x->name);
    free(x->help);
    free(x->labels);
    free(x->bounds);
    free(x->buckets);
    free(x);
}

void carrot_metrics_destroy(carrot_metrics_t *m) {
    if (!m) return;
    if (m->daemon) MHD_stop_daemon(m->daemon);
    for (size_t i = 0; i < m->n; i++) metric_free(m->metrics[i]);
    free(m->metrics);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static carrot_metric_t *add(carrot_metrics_t *m, kind_t kind, const char *name, const char *help,
                            const char *labels) {
    carrot_metric_t *x = calloc(1, sizeof(*x));
    if (!x) return NULL;
    x->owner = m;
    x->kind = kind;
    x->name = strdup(name);
    x->help = strdup(help);
    x->labels = labels ? strdup(labels) : NULL;
    if (!x->name || !x->help || (labels && !x->labels)) {
        metric_free(x);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        carrot_metric_t **nm = realloc(m->metrics, cap * sizeof(*nm));
        if (!nm) {
            pthread_mutex_unlock(&m->lock);
            metric_free(x);
            return NULL;
        }
        m->metrics = nm;
        m->cap = cap;
    }
    m->metrics[m->n++] = x;
    pthread_mutex_unlock(&m->lock);
    return x;
}

carrot_metric_t *carrot_metrics_counter(carrot_metrics_t *m, const char *name, const char *help,
                                        const char *labels) {
    return add(m, COUNTER, name, help, labels);
}

carrot_metric_t *carrot_metrics_gauge(carrot_metrics_t *m, const char *name, const char *help,
                                      const char *labels) {
    return add(m, GAUGE, name, help, labels);
}

carrot_metric_t *carrot_metrics_histogram(carrot_metrics_t *m, const char *name, const char *help,
                                          const double *bounds, int nbounds) {
    double *b = malloc((size_t)nbounds * sizeof(*b));
    uint64_t *k = calloc((size_t)nbounds + 1, sizeof(*k));
    if (!b || !k) {
        free(b);
        free(k);
        return NULL;
    }
    memcpy(b, bounds, (size_t)nbounds * sizeof(*b));
    carrot_metric_t *x = add(m, HISTOGRAM, name, help, NULL);
    if (!x) {
        free(b);
        free(k);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    x->bounds = b;
    x->buckets = k;
    x->nbounds = nbounds;
    pthread_mutex_unlock(&m->lock);
    return x;
}

void carrot_metric_add(carrot_metric_t *x, double v) {
    if (!x) return;
    pthread_mutex_lock(&x->owner->lock);
    x->value += v;
    pthread_mutex_unlock(&x->owner->lock);
}

void carrot_metric_set(carrot_metric_t *x, double v) {
    if (!x) return;
    pthread_mutex_lock(&x->owner->lock);
    x->value = v;
    pthread_mutex_unlock(&x->owner->lock);
}

void carrot_metric_observe(carrot_metric_t *x, double v) {
    if (!x || x->kind != HISTOGRAM) return;
    pthread_mutex_lock(&x->owner->lock);
    int i = 0;
    while (i < x->nbounds && v > x->bounds[i]) i++;
    x->buckets[i]++; /* i == nbounds: only +Inf */
    x->count++;
    x->sum += v;
    pthread_mutex_unlock(&x->owner->lock);
}

int carrot_metric_set_labels(carrot_metric_t *x, const char *labels) {
    char *l = strdup(labels);
    if (!l) return -1;
    pthread_mutex_lock(&x->owner->lock);
    free(x->labels);
    x->labels = l;
    pthread_mutex_unlock(&x->owner->lock);
    return 0;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} out_t;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
put(out_t *o, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = 1;
            return;
        }
        if (o->buf && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + (size_t)n + 1) cap *= 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->oom = 1;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
}

char *carrot_metrics_render(carrot_metrics_t *m) {
    out_t o = {0};
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n && !o.oom; i++) {
        const carrot_metric_t *x = m->metrics[i];
        put(&o, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name, types[x->kind]);
        if (x->kind != HISTOGRAM) {
            if (x->labels) put(&o, "%s{%s} %.17g\n", x->name, x->labels, x->value);
            else
                put(&o, "%s %.17g\n", x->name, x->value);
            continue;
        }
        uint64_t cum = 0;
        for (int b = 0; b < x->nbounds; b++) {
            cum += x->buckets[b];
            put(&o, "%s_bucket{le=\"%g\"} %llu\n", x->name, x->bounds[b], (unsigned long long)cum);
        }
        put(&o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", x->name,
            (unsigned long long)x->count, x->name, x->sum, x->name, (unsigned long long)x->count);
    }
    pthread_mutex_unlock(&m->lock);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf ? o.buf : strdup("");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state) {
    (void)version;
    (void)data;
    (void)size;
    (void)state;
    carrot_metrics_t *m = cls;
    int ok = strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0;
    char *text = ok ? carrot_metrics_render(m) : NULL;
    const char *body = text ? text : ok ? "out of memory\n" : "only GET /metrics\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)body, text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", text ? "text/plain; version=0.0.4" : "text/plain");
    enum MHD_Result ret = MHD_queue_response(c,
                                             text ? MHD_HTTP_OK
                                             : ok ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                  : MHD_HTTP_NOT_FOUND,
                                             r);
    MHD_destroy_response(r);
    return ret;
}

int carrot_metrics_serve(carrot_metrics_t *m, const char *host, int port, char *errstr,
                         size_t errstr_size) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "metrics: \"%s\" is not an IPv4 address", host);
        return -1;
    }
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL,
                                 handler, m, MHD_OPTION_SOCK_ADDR, &addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(errstr, errstr_size, "metrics: could not listen on %s:%d", host, port);
        return -1;
    }
    return 0;
}
