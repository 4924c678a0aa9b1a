/* kafka_lag.h: a consumer's lag per partition, in messages and in seconds,
 * as Prometheus gauges, from librdkafka's statistics (statistics.interval.ms,
 * stats_cb) and the timestamps of the messages the program consumed.
 *
 * Gauges, labelled group, topic and partition:
 *   carrot_consumer_lag_messages    end (last stable offset, for
 *                                   read_committed) minus committed offset
 *   carrot_consumer_lag_seconds     0 when caught up, else how old the last
 *                                   message this consumer processed is
 *   carrot_consumer_committed_offset, carrot_consumer_end_offset
 * A partition this member does not own (any more) reads 0 lag, so a group's
 * lag is max by (group, topic, partition) over its members. */
#ifndef CARROT_KAFKA_LAG_H
#define CARROT_KAFKA_LAG_H

#include "carrot/metrics.h"

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_lag_s carrot_lag_t;

/* metrics (must outlive it) receives the gauges; group is copied. NULL when
 * out of memory. Not thread safe: feed it from the thread that polls. */
carrot_lag_t *carrot_lag_new(carrot_metrics_t *metrics, const char *group);
void carrot_lag_destroy(carrot_lag_t *lag); /* NULL is a no-op */

/* Feeds one statistics document (the json of librdkafka's stats_cb).
 * now_ms: the wall clock. 0, or -1 with errstr when it is not JSON of the
 * expected shape (nothing is changed then). */
int carrot_lag_stats(carrot_lag_t *lag, const char *json, size_t len, int64_t now_ms, char *errstr,
                     size_t errstr_size);

/* Notes a message the program processed: its topic, partition and Kafka
 * timestamp (ms; <= 0 when the message has none, which is ignored). */
void carrot_lag_seen(carrot_lag_t *lag, const char *topic, int32_t partition, int64_t ts_ms);

#endif
