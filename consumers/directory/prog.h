/* prog.h: what carrot-directory's main.c (settings, start, the loop) and
 * batch.c (one batch: decode, put, dead letters, commit) share. Not a
 * library header: the directory's API is carrot/directory.h. */
#ifndef CARROT_DIRECTORY_PROG_H
#define CARROT_DIRECTORY_PROG_H

#include "carrot/codec.h"
#include "carrot/directory.h"
#include "carrot/kafka.h"
#include "carrot/kafka_lag.h"
#include "carrot/metrics.h"
#include "carrot/registry.h"

#include <signal.h>
#include <stdint.h>

typedef struct {
    char *brokers, *topic, *dlq_topic, *group, *instance, *redis_host, *schema_registry, *log_level,
        *log_format, *metrics_listen;
    long long redis_port, batch_size, batch_ms, metrics_port;
    int until_drained;
} dir_conf_t;

typedef struct {
    long long consumed, stored, older, dead_lettered, tombstones, batches;
} dir_counts_t;

typedef struct {
    const dir_conf_t *cf;
    volatile sig_atomic_t *stop;
    rd_kafka_t *consumer, *producer;
    carrot_directory_t *dir;
    carrot_codec_t *codec;
    carrot_registry_t *registry; /* NULL: single-object messages only */
    carrot_drain_t *drain;
    int rebalanced;
    long long dlq_failed;    /* dead letters Kafka did not take (delivery reports) */
    int64_t redis_warned_ms; /* when "cannot reach Redis" was last said; 0: reachable */
    dir_counts_t counts;
    carrot_metrics_t *metrics;
    carrot_lag_t *lag; /* consumer lag gauges, fed by stats_cb and each batch */
    carrot_metric_t *m_consumed, *m_stored, *m_older, *m_dead, *m_dead_letters, *m_redis_errors,
        *m_redis_up, *m_batches;
} dir_prog_t;

/* Puts msgs[0..n) into the directory in order, dead-letters the ones that
 * do not decode, waits for the dead letters to be acknowledged, then
 * commits the offsets. Redis out of reach is retried (warned every 10 s)
 * until it answers or stop is set. Returns 0; 1 when stopped part way (what
 * was put is committed); -1 on a fatal error (nothing more committed: a
 * restart reads the rest again). */
int dir_process_batch(dir_prog_t *d, rd_kafka_message_t **msgs, size_t n);

/* Redis reachable or not, in the metrics and the readiness check. */
void dir_redis_state(dir_prog_t *d, int up, const char *why);

/* Pings Redis and records the answer as above, saying in the log when it is
 * lost (every 10 s while away) and when it is back: an idle directory's
 * /readyz follows Redis too. */
void dir_redis_check(dir_prog_t *d);

#endif
