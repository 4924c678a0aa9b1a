/* kafka.h: what every Carrot Kafka client shares: building an rd_kafka_conf_t
 * from the program's settings (the "kafka.*" keys pass through untouched),
 * routing librdkafka's logs to carrot_log(), and knowing when a consumer has
 * read everything there is ("drained"), for batch runs and tests. */
#ifndef CARROT_KAFKA_H
#define CARROT_KAFKA_H

#include "carrot/config.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>

/* Returns a new conf with bootstrap.servers = brokers, Carrot's log callback,
 * the program's defaults (NULL-terminated key, value pairs; may be NULL), then
 * every "kafka.<key>" setting of conf applied as <key>, so users can override
 * the defaults. Settings a program depends on for correctness are set by the
 * caller afterwards. The caller owns the result (rd_kafka_new() takes it over
 * on success). NULL with errstr naming the bad key on error. */
rd_kafka_conf_t *carrot_kafka_conf_new(const carrot_conf_t *conf, const char *brokers,
                                       const char *const *defaults, char *errstr,
                                       size_t errstr_size);

/* Sets key=value on kconf or fills errstr ("kafka setting \"k\": ..."). */
int carrot_kafka_set(rd_kafka_conf_t *kconf, const char *key, const char *value, char *errstr,
                     size_t errstr_size);

/* A transactional producer with transactional.id txid, its transactions
 * initialized (which fences an earlier producer with the same id and
 * aborts its open transaction). defaults as for carrot_kafka_conf_new().
 * NULL with errstr on failure. */
rd_kafka_t *carrot_kafka_txn_producer_new(const carrot_conf_t *conf, const char *brokers,
                                          const char *const *defaults, const char *txid,
                                          long long txn_timeout_ms, char *errstr,
                                          size_t errstr_size);

/* Creates topic with partitions (replication 1: Carrot's own single-broker
 * deployments, tests and benchmarks) and, when cleanup_policy is not NULL,
 * that cleanup.policy. An existing topic is fine. 0, or -1 with errstr. */
int carrot_kafka_create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                              const char *cleanup_policy, char *errstr, size_t errstr_size);

/* The topic's partition count, or -1 with errstr. */
int carrot_kafka_partition_count(rd_kafka_t *rk, const char *topic, char *errstr,
                                 size_t errstr_size);

/* The stable instance name of a group member: name if given, else the host
 * name. Used for group.instance.id (static membership: a member restarted
 * with the same name takes its partitions back without waiting for its old
 * session to time out) and for transactional ids. */
void carrot_instance_id(const char *name, char *out, size_t out_size);

/* --- producing ----------------------------------------------------------- */

/* A message to produce. Key, value and headers as librdkafka takes them:
 * key and value are copied; hdrs (may be NULL) pass to librdkafka on
 * success and stay the caller's on failure. partition is
 * RD_KAFKA_PARTITION_UA to let the partitioner choose; opaque reaches the
 * delivery report callback. */
typedef struct {
    const char *topic;
    int32_t partition;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    rd_kafka_headers_t *hdrs;
    void *opaque;
} carrot_kafka_msg_t;

/* Produces m, serving delivery reports (rd_kafka_poll) while the local
 * queue is full instead of dropping, for up to timeout_ms (-1: as long as
 * it takes). 0, or -1 with errstr ("could not produce to T: ..."). */
int carrot_kafka_produce(rd_kafka_t *rk, const carrot_kafka_msg_t *m, int timeout_ms, char *errstr,
                         size_t errstr_size);

/* Tracks which assigned partitions have reached their end (needs
 * enable.partition.eof=true on the consumer). Not thread safe. */
typedef struct carrot_drain_s carrot_drain_t;

carrot_drain_t *carrot_drain_new(void);
void carrot_drain_destroy(carrot_drain_t *drain); /* NULL is a no-op */
/* Call with the new assignment (NULL or empty clears it). */
void carrot_drain_assign(carrot_drain_t *drain, const rd_kafka_topic_partition_list_t *parts);
/* Call for each consumed message (err == 0) or partition-EOF event. */
void carrot_drain_seen(carrot_drain_t *drain, const rd_kafka_message_t *msg);
/* 1 when the assignment is non-empty and every partition is at its end. */
int carrot_drain_done(const carrot_drain_t *drain);

/* Polls the consumer for up to max messages within timeout_ms, feeding the
 * drain tracker (may be NULL). When *rebalanced becomes non-zero during the
 * poll (the caller's rebalance callback sets it), the messages collected so
 * far are dropped: their partitions restart from the committed offsets
 * wherever they are assigned now. Stops early when *stop is set. Returns the
 * count; the caller owns msgs[0..n) (rd_kafka_message_destroy each). */
size_t carrot_kafka_collect(rd_kafka_t *consumer, rd_kafka_message_t **msgs, size_t max,
                            int timeout_ms, carrot_drain_t *drain, int *rebalanced,
                            volatile sig_atomic_t *stop);

#endif
