/* metrics.h: a program's counters, gauges and histograms, served over HTTP
 * in the Prometheus text format (GET /metrics) for dashboards and alerts,
 * beside the health checks (GET /healthz, GET /readyz) on the same port.
 *
 * Updates take a mutex: the scorer makes a dozen per batch, so the cost is
 * nothing next to a Kafka transaction, and the HTTP thread always reads a
 * consistent set. */
#ifndef CARROT_METRICS_H
#define CARROT_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_metrics_s carrot_metrics_t;
typedef struct carrot_metric_s carrot_metric_t; /* owned by its carrot_metrics_t */

carrot_metrics_t *carrot_metrics_new(void);
void carrot_metrics_destroy(carrot_metrics_t *m); /* stops serving; NULL is a no-op */

/* Registers a metric; name and help are copied; labels (may be NULL) is a
 * fixed label set written as is, e.g. "program=\"demo\"". Several metrics
 * may share a name with different labels (one series each, written under
 * one HELP and TYPE: the help of the first). NULL when out of memory.
 * bounds: the histogram's upper bounds, ascending (copied). */
carrot_metric_t *carrot_metrics_counter(carrot_metrics_t *m, const char *name, const char *help,
                                        const char *labels);
carrot_metric_t *carrot_metrics_gauge(carrot_metrics_t *m, const char *name, const char *help,
                                      const char *labels);
carrot_metric_t *carrot_metrics_histogram(carrot_metrics_t *m, const char *name, const char *help,
                                          const double *bounds, int nbounds);

void carrot_metric_add(carrot_metric_t *metric, double v);     /* counter or gauge; NULL no-op */
void carrot_metric_set(carrot_metric_t *metric, double v);     /* gauge */
void carrot_metric_observe(carrot_metric_t *metric, double v); /* histogram */
/* Replaces a metric's labels (an info gauge whose value names a version). */
int carrot_metric_set_labels(carrot_metric_t *metric, const char *labels);

/* Adds the standard process metrics, read from /proc at each scrape
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds), and carrot_build_info{program, version,
 * revision} 1. 0, or -1 when out of memory. */
int carrot_metrics_add_process(carrot_metrics_t *m, const char *program);

/* Readiness: named checks ("kafka", "redis", "postgres", "assigned") that
 * the program's own loop keeps current, so the HTTP thread never touches
 * a client connection. GET /readyz answers 200 "ready" when every check is
 * up, else 503 with one line per check that is down and why (why may be
 * NULL; copied). Each check is also the gauge carrot_ready{check="..."}.
 * A check is registered by its first call. 0, or -1 when out of memory. */
int carrot_metrics_check(carrot_metrics_t *m, const char *check, int up, const char *why);

/* 1 when every check is up (or there is none), else 0. */
int carrot_metrics_ready(carrot_metrics_t *m);

/* Calls collect(opaque) at the start of every scrape (on the HTTP thread,
 * before the text is written), for a program that keeps its figures in
 * counters of its own: the callback copies them in with carrot_metric_set().
 * NULL removes it. Set it before carrot_metrics_serve(). */
void carrot_metrics_on_scrape(carrot_metrics_t *m, void (*collect)(void *opaque), void *opaque);

/* The exposition text; the caller frees it. NULL when out of memory. */
char *carrot_metrics_render(carrot_metrics_t *m);

/* Serves GET /metrics, GET /healthz (200 "ok" while the process answers)
 * and GET /readyz (see carrot_metrics_check) on host:port from a thread of
 * libmicrohttpd's. 0, or -1 with errstr (the port is taken, the host is
 * not an IPv4 address). */
int carrot_metrics_serve(carrot_metrics_t *m, const char *host, int port, char *errstr,
                         size_t errstr_size);

#endif
