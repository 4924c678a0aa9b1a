/* metrics.c: see metrics.h. The HTTP side is libmicrohttpd's. */
#include "carrot/metrics.h"

#include "carrot/version.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

typedef struct {
    char *name, *why;
    int up;
    carrot_metric_t *gauge;
} check_t;

struct carrot_metrics_s {
    pthread_mutex_t lock;
    carrot_metric_t **metrics;
    size_t n, cap;
    struct MHD_Daemon *daemon;
    check_t *checks;
    size_t nchecks;
    void (*collect)(void *opaque); /* see carrot_metrics_on_scrape() */
    void *collect_opaque;
    /* process_* metrics, refreshed at each scrape; NULL unless added */
    carrot_metric_t *p_cpu, *p_rss, *p_vsize, *p_fds, *p_maxfds, *p_start;
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
    for (size_t i = 0; i < m->nchecks; i++) {
        free(m->checks[i].name);
        free(m->checks[i].why);
    }
    free(m->checks);
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

/* The process's own figures from /proc (Linux), as the Prometheus client
 * libraries export them. Called with the lock held. */
static void process_collect(carrot_metrics_t *m) {
    if (!m->p_cpu) return;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        unsigned long utime = 0, stime = 0, vsize = 0;
        unsigned long long start = 0;
        long rss = 0;
        /* skip "pid (comm) " up to the last ')': comm may hold spaces */
        char buf[1024];
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        if (p && sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
                        "%*d %llu %lu %ld",
                        &utime, &stime, &start, &vsize, &rss) == 5) {
            double hz = (double)sysconf(_SC_CLK_TCK);
            m->p_cpu->value = (double)(utime + stime) / hz;
            m->p_vsize->value = (double)vsize;
            m->p_rss->value = (double)rss * (double)sysconf(_SC_PAGESIZE);
            double btime = 0;
            FILE *st = fopen("/proc/stat", "r");
            if (st) {
                char line[256];
                while (fgets(line, sizeof(line), st))
                    if (sscanf(line, "btime %lf", &btime) == 1) break;
                fclose(st);
            }
            m->p_start->value = btime + (double)start / hz;
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long n = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') n++;
        closedir(d);
        m->p_fds->value = (double)(n - 1); /* not the one opendir holds */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) m->p_maxfds->value = (double)rl.rlim_cur;
}

static void render_one(out_t *o, const carrot_metric_t *x) {
    if (x->kind != HISTOGRAM) {
        if (x->labels) put(o, "%s{%s} %.17g\n", x->name, x->labels, x->value);
        else
            put(o, "%s %.17g\n", x->name, x->value);
        return;
    }
    uint64_t cum = 0;
    for (int b = 0; b < x->nbounds; b++) {
        cum += x->buckets[b];
        put(o, "%s_bucket{le=\"%g\"} %llu\n", x->name, x->bounds[b], (unsigned long long)cum);
    }
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", x->name,
        (unsigned long long)x->count, x->name, x->sum, x->name, (unsigned long long)x->count);
}

void carrot_metrics_on_scrape(carrot_metrics_t *m, void (*collect)(void *opaque), void *opaque) {
    pthread_mutex_lock(&m->lock);
    m->collect = collect;
    m->collect_opaque = opaque;
    pthread_mutex_unlock(&m->lock);
}

char *carrot_metrics_render(carrot_metrics_t *m) {
    out_t o = {0};
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->lock);
    void (*collect)(void *) = m->collect;
    void *opaque = m->collect_opaque;
    pthread_mutex_unlock(&m->lock);
    if (collect) collect(opaque); /* it sets metrics, which takes the lock */
    pthread_mutex_lock(&m->lock);
    process_collect(m);
    for (size_t i = 0; i < m->n && !o.oom; i++) {
        const carrot_metric_t *x = m->metrics[i];
        size_t j = 0;
        while (j < i && strcmp(m->metrics[j]->name, x->name) != 0) j++;
        if (j < i) continue; /* written with the first of its name */
        put(&o, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name, types[x->kind]);
        for (size_t k = i; k < m->n; k++)
            if (k == i || strcmp(m->metrics[k]->name, x->name) == 0) render_one(&o, m->metrics[k]);
    }
    pthread_mutex_unlock(&m->lock);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf ? o.buf : strdup("");
}

int carrot_metrics_add_process(carrot_metrics_t *m, const char *program) {
    char labels[512];
    snprintf(labels, sizeof(labels), "program=\"%s\",version=\"%s\",revision=\"%s\"", program,
             carrot_version_number(), carrot_version_revision());
    carrot_metric_t *info = carrot_metrics_gauge(
        m, "carrot_build_info", "Which Carrot this process runs (always 1).", labels);
    carrot_metric_t *cpu = carrot_metrics_counter(m, "process_cpu_seconds_total",
                                                  "User and system CPU time spent.", NULL);
    carrot_metric_t *rss = carrot_metrics_gauge(m, "process_resident_memory_bytes",
                                                "Resident memory size.", NULL);
    carrot_metric_t *vsize = carrot_metrics_gauge(m, "process_virtual_memory_bytes",
                                                  "Virtual memory size.", NULL);
    carrot_metric_t *fds = carrot_metrics_gauge(m, "process_open_fds", "Open file descriptors.",
                                                NULL);
    carrot_metric_t *maxfds = carrot_metrics_gauge(m, "process_max_fds",
                                                   "Limit of open file descriptors.", NULL);
    carrot_metric_t *start = carrot_metrics_gauge(m, "process_start_time_seconds",
                                                  "Start time since the Unix epoch.", NULL);
    if (!info || !cpu || !rss || !vsize || !fds || !maxfds || !start) return -1;
    carrot_metric_set(info, 1);
    pthread_mutex_lock(&m->lock);
    m->p_cpu = cpu;
    m->p_rss = rss;
    m->p_vsize = vsize;
    m->p_fds = fds;
    m->p_maxfds = maxfds;
    m->p_start = start;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int carrot_metrics_check(carrot_metrics_t *m, const char *check, int up, const char *why) {
    pthread_mutex_lock(&m->lock);
    check_t *c = NULL;
    for (size_t i = 0; i < m->nchecks && !c; i++)
        if (strcmp(m->checks[i].name, check) == 0) c = &m->checks[i];
    pthread_mutex_unlock(&m->lock);
    if (!c) { /* first call: register it (only the program's thread adds checks) */
        char labels[256];
        snprintf(labels, sizeof(labels), "check=\"%s\"", check);
        carrot_metric_t *g = carrot_metrics_gauge(
            m, "carrot_ready", "1 when the check is up; /readyz is 200 when all are.", labels);
        char *name = strdup(check);
        pthread_mutex_lock(&m->lock);
        check_t *nc = g && name ? realloc(m->checks, (m->nchecks + 1) * sizeof(*nc)) : NULL;
        if (!nc) {
            pthread_mutex_unlock(&m->lock);
            free(name);
            return -1;
        }
        m->checks = nc;
        c = &m->checks[m->nchecks++];
        *c = (check_t){.name = name, .gauge = g};
        pthread_mutex_unlock(&m->lock);
    }
    char *w = why && !up ? strdup(why) : NULL;
    pthread_mutex_lock(&m->lock);
    c->up = up != 0;
    free(c->why);
    c->why = w;
    c->gauge->value = c->up;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* "ready\n", or one line per check that is down; the caller frees it. */
static char *readiness(carrot_metrics_t *m, int *readyp) {
    out_t o = {0};
    int ready = 1;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nchecks; i++)
        if (!m->checks[i].up) {
            ready = 0;
            put(&o, "%s: %s\n", m->checks[i].name, m->checks[i].why ? m->checks[i].why : "down");
        }
    pthread_mutex_unlock(&m->lock);
    if (ready) put(&o, "ready\n");
    *readyp = ready;
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

int carrot_metrics_ready(carrot_metrics_t *m) {
    int ready = 1;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nchecks; i++) ready &= m->checks[i].up;
    pthread_mutex_unlock(&m->lock);
    return ready;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state) {
    (void)version;
    (void)data;
    (void)size;
    (void)state;
    carrot_metrics_t *m = cls;
    unsigned int status = MHD_HTTP_NOT_FOUND;
    const char *type = "text/plain";
    char *text = NULL;
    const char *body = "only GET /metrics, /healthz and /readyz\n";
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") == 0) {
        text = carrot_metrics_render(m);
        status = text ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
        type = "text/plain; version=0.0.4";
    } else if (strcmp(url, "/healthz") == 0) {
        status = MHD_HTTP_OK;
        body = "ok\n";
    } else if (strcmp(url, "/readyz") == 0) {
        int ready = 0;
        text = readiness(m, &ready);
        status = !text   ? MHD_HTTP_INTERNAL_SERVER_ERROR
                 : ready ? MHD_HTTP_OK
                         : MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (!text && status == MHD_HTTP_INTERNAL_SERVER_ERROR) body = "out of memory\n";
    if (text) body = text;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)body, text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
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
