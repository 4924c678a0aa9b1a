/* metrics.h: a program's counters, gauges and histograms, served over HTTP
 * in the Prometheus text format (GET /metrics) for dashboards and alerts.
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
 * fixed label set written as is, e.g. "program=\"demo\"". NULL when out of
 * memory. bounds: the histogram's upper bounds, ascending (copied). */
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

/* The exposition text; the caller frees it. NULL when out of memory. */
char *carrot_metrics_render(carrot_metrics_t *m);

/* Serves GET /metrics on host:port from a thread of libmicrohttpd's. 0, or
 * -1 with errstr (the port is taken, the host is not an IPv4 address). */
int carrot_metrics_serve(carrot_metrics_t *m, const char *host, int port, char *errstr,
                         size_t errstr_size);

#endif
