/* scorer.h: the carrot-scorer program's internals, shared by main.c (set-up
 * and the consume loop) and batch.c (one batch, scored exactly once). */
#ifndef CARROT_SCORER_H
#define CARROT_SCORER_H

#include "carrot/board.h"
#include "carrot/codec.h"
#include "carrot/kafka.h"
#include "carrot/kafka_lag.h"
#include "carrot/metrics.h"
#include "carrot/registry.h"
#include "carrot/rules.h"
#include "carrot/rules_topic.h"

#include <signal.h>

typedef struct {
    char *brokers, *topic, *awards_topic, *dlq_topic, *group, *instance, *rules, *rules_topic;
    char *redis_host, *log_level, *log_format, *schema_registry, *metrics_listen;
    long long redis_port, batch_size, batch_ms, seen_ttl, txn_timeout_ms, metrics_port;
    int until_drained;
} scorer_conf_t;

typedef struct {
    long long consumed, scored, awards, points, duplicates, unscored, other_program;
    long long dead_lettered, batches, aborted, rules_switches, repaired;
} scorer_counts_t;

typedef struct scorer_scratch_s scorer_scratch_t; /* batch.c's working arrays */

typedef struct scorer_s {
    const scorer_conf_t *cf;
    rd_kafka_t *consumer, *producer;
    carrot_codec_t *activity_codec, *award_codec;
    carrot_registry_t *registry; /* NULL unless --schema-registry */
    carrot_rules_t *rules;       /* the version in force; switched between batches */
    carrot_rules_feed_t *feed;   /* the rules topic; NULL when --rules-topic is "" */
    carrot_board_t *board;
    carrot_drain_t *drain;
    volatile sig_atomic_t *stop;
    int rebalanced; /* set by the rebalance callback: drop the batch being collected */
    int meta_dirty; /* the program's time zone and version are not yet in Redis */
    /* Redis against Kafka (repair.c): checked after each assignment and
     * whenever the board reconnects, before the next batch */
    int redis_check;
    unsigned long redis_connects; /* carrot_board_connects() at the last check */
    scorer_scratch_t *scratch;    /* kept across batches; scorer_scratch_free() */
    int64_t *repair_until;        /* by partition: below it, replay into Redis, produce nothing */
    int nrepair;                  /* partitions repair_until has room for */
    scorer_counts_t counts;
    /* Prometheus metrics (metrics.h); every handle may be NULL */
    carrot_metrics_t *metrics;
    carrot_metric_t *m_consumed, *m_scored, *m_awards, *m_points, *m_duplicates, *m_unscored;
    carrot_metric_t *m_other, *m_dead, *m_batches, *m_aborted, *m_switches, *m_rules_info;
    carrot_metric_t *m_lag, *m_batch_seconds, *m_last_commit, *m_redis_up, *m_redis_errors;
    carrot_metric_t *m_dead_letters; /* carrot_dead_letters_total{stage="scorer"} */
    carrot_metric_t *m_repaired;     /* activities replayed into a Redis that lost them */
    carrot_metric_t *m_conflicts;    /* Redis transactions refused and settled again */
    unsigned long conflicts_seen;    /* carrot_board_conflicts() when last counted */
    carrot_lag_t *lag;               /* consumer lag per partition; NULL without metrics */
} scorer_t;

/* Scores msgs[0..n) in one Kafka transaction: dead letters, Redis increments
 * (guarded, see carrot/board.h), awards and the consumer offsets commit
 * together or not at all. Returns 0; -1 when the transaction was aborted and
 * the partitions rewound to the batch start (the caller just goes on); -2 on
 * a fatal error (the caller exits; a restart resumes exactly once). The
 * messages stay owned by the caller. */
int scorer_process_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n);
/* Frees the working arrays scorer_process_batch() keeps between batches. */
void scorer_scratch_free(scorer_t *s);

/* repair.c. Compares each assigned partition's board watermark with the
 * group's committed offset; where Redis is behind (it lost writes Kafka
 * kept), seeks the partition back to the watermark and marks the range,
 * whose activities scorer_process_batch() then applies to Redis again
 * without producing their awards or dead letters a second time (they are
 * in Kafka already) or moving the committed offset back. msgs[0..n) is
 * the batch in hand, read before the check: returns 0 (process it), 1 (a
 * partition was sent back: the batch's other partitions are rewound, drop
 * it), -1 when Redis or Kafka could not be asked (rewound too: drop it and
 * check again), -2 on a fatal error. */
int scorer_repair_check(scorer_t *s, rd_kafka_message_t **msgs, size_t n);
/* The repair mark of partition p (0: none). */
int64_t scorer_repair_until(const scorer_t *s, int32_t p);
/* The batch committed up to next_offset on p: a mark it reached is cleared. */
void scorer_repair_progress(scorer_t *s, int32_t p, int64_t next_offset);
/* Forgets every mark (the partitions were revoked: their next owner checks). */
void scorer_repair_clear(scorer_t *s);

/* Records whether the last call to Redis worked: the carrot_scorer_redis_up
 * gauge, the "redis" readiness check (why: the error), the error counter. */
void scorer_redis_state(scorer_t *s, int up, const char *why);

#endif
