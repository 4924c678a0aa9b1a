/* kafka.h: what every Carrot Kafka client shares: building an rd_kafka_conf_t
 * from the program's settings (the "kafka.*" keys pass through untouched),
 * routing librdkafka's logs to carrot_log(), the consumer every group member
 * starts with, and knowing when a consumer has read everything there is
 * ("drained"), for batch runs and tests. It owns Carrot's Kafka sink: the one
 * produce (with retry on a full queue), the one dead-letter writer and its
 * header contract, and the one Award emitter. */
#ifndef CARROT_KAFKA_H
#define CARROT_KAFKA_H

#include "carrot/award.h"
#include "carrot/config.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>

/* Returns a new conf with bootstrap.servers = brokers, Carrot's log callback,
 * client.id = the program's name (carrot_log_set_ident; a group member's is
 * "<program>.<instance>", a transactional producer's its transactional.id),
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

/* Encodes a with codec (from carrot_award_codec_new()) and produces it to
 * topic keyed by its participant id, as the scorer and back-fill write every
 * Award (a participant's awards stay in order on one partition). stream
 * (may be NULL: no headers) and offset name what the boards applied it as:
 * the board watermark stream ("crm.activities:3", "backfill:<id>") and the
 * position in it, sent as the headers carrot.stream and carrot.offset
 * (decimal), so a reconciliation can tell the awards the boards hold from
 * those scored since it read them. timeout_ms as for
 * carrot_kafka_produce(). 0, or -1 with errstr. */
int carrot_kafka_produce_award(rd_kafka_t *rk, carrot_codec_t *codec, const char *topic,
                               const carrot_award_t *a, const char *stream, int64_t offset,
                               int timeout_ms, char *errstr, size_t errstr_size);

/* The two halves of carrot_kafka_produce_award(), for a caller that encodes
 * on one thread and produces on another (carrot-scorer's committer).
 * Encode: *bufp is the codec's and valid until its next use; 0 or -1 with
 * errstr. Produce: the bytes encoded, keyed by key (the participant id). */
int carrot_award_encode(carrot_codec_t *codec, const carrot_award_t *a, const void **bufp,
                        size_t *lenp, char *errstr, size_t errstr_size);
int carrot_kafka_produce_encoded_award(rd_kafka_t *rk, const char *topic, const char *key,
                                       size_t key_len, const void *value, size_t value_len,
                                       const char *stream, int64_t offset, int timeout_ms,
                                       char *errstr, size_t errstr_size);

/* --- dead letters --------------------------------------------------------- */

/* A dead letter: bytes a program gave up on, kept unchanged with why and
 * where from. Every program writes these headers (README "Dead letters"):
 *   carrot.error      reason, always
 *   carrot.stage      stage, always (scorer, ingest, webhook, ledger)
 *   carrot.source     source, always: a file:line, an HTTP path, or the topic
 *   carrot.topic      topic, partition and offset (decimal) of the original
 *   carrot.partition  message, when the bytes came from Kafka (topic is not
 *   carrot.offset     NULL)
 * then each extra header (NULL-terminated name, value pairs; may be NULL). */
typedef struct {
    const char *reason, *stage, *source;
    const char *topic; /* NULL: the bytes did not come from Kafka */
    int32_t partition;
    int64_t offset;
    const void *key; /* the original key and value, produced as they are */
    size_t key_len;
    const void *value;
    size_t value_len;
    const char *const *extra;
} carrot_dead_letter_t;

/* The dead letter of a consumed message m: its key, value and place, with
 * its topic as the source. */
carrot_dead_letter_t carrot_dead_letter_of(const rd_kafka_message_t *m, const char *stage,
                                           const char *reason);

/* Produces dl to dlq_topic with the headers above; opaque reaches the
 * delivery report callback, timeout_ms as for carrot_kafka_produce().
 * 0, or -1 with errstr. */
int carrot_kafka_dead_letter(rd_kafka_t *rk, const char *dlq_topic, const carrot_dead_letter_t *dl,
                             void *opaque, int timeout_ms, char *errstr, size_t errstr_size);

/* --- consuming ------------------------------------------------------------ */

/* How a Carrot group member consumes: it commits offsets itself, reads only
 * committed transactions, and is a static member (group.instance.id): one
 * restarted with the same instance takes its partitions back at once
 * instead of waiting for its old session to time out. */
typedef struct {
    const char *brokers, *group;
    const char *instance;        /* as for carrot_instance_id(): NULL is the host name */
    const char *topic;           /* subscribed to */
    const char *const *topics;   /* or, when topic is NULL, these (NULL-terminated) */
    const char *const *settings; /* set after the user's kafka.* ones (key, value pairs,
                                    NULL-terminated); may be NULL */
    const char *const *defaults; /* set before them, after Carrot's own (at most 8 pairs);
                                    may be NULL */
    int partition_eof;           /* enable.partition.eof, for carrot_drain_t */
    void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
    void *opaque; /* the rebalance and statistics callbacks' */
    /* librdkafka's statistics (JSON, see kafka_lag.h), every 5 s unless
     * kafka.statistics.interval.ms says otherwise; NULL: none. Return 0. */
    int (*stats_cb)(rd_kafka_t *rk, char *json, size_t len, void *opaque);
} carrot_kafka_consumer_opts_t;

/* A consumer with group.id, group.instance.id, enable.auto.commit=false,
 * isolation.level=read_committed and enable.partition.eof as o says, o's
 * rebalance callback, its poll queue the consumer's, subscribed to o->topic.
 * Its session times out after 15 s unless kafka.session.timeout.ms says
 * otherwise: that long, a member gone for good keeps its partitions.
 * NULL with errstr on failure. */
rd_kafka_t *carrot_kafka_consumer_new(const carrot_conf_t *conf,
                                      const carrot_kafka_consumer_opts_t *o, char *errstr,
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
 * drain tracker (may be NULL). Once the first message is in, it waits at
 * most linger_ms more (0: takes only what librdkafka has already fetched,
 * so a busy consumer's batches grow with its backlog and a quiet one's
 * stay small and fresh; -1: up to timeout_ms, to fill the batch). When *rebalanced becomes non-zero during the
 * poll (the caller's rebalance callback sets it), the messages collected so
 * far are dropped: their partitions restart from the committed offsets
 * wherever they are assigned now. Stops early when *stop is set. Returns the
 * count; the caller owns msgs[0..n) (rd_kafka_message_destroy each). A
 * fatal consumer error (a fenced static member, say) is logged and returns
 * 0: the caller checks rd_kafka_fatal_error() and stops, for a restart to
 * resume from the committed offsets, rather than polling a dead consumer. */
size_t carrot_kafka_collect(rd_kafka_t *consumer, rd_kafka_message_t **msgs, size_t max,
                            int timeout_ms, int linger_ms, carrot_drain_t *drain, int *rebalanced,
                            volatile sig_atomic_t *stop);

#endif
