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
    long long redis_port, redis_lanes, batch_size, batch_ms, batch_linger_ms, seen_ttl,
        txn_timeout_ms, metrics_port;
    int until_drained;
} scorer_conf_t;

typedef struct {
    long long consumed, scored, awards, points, duplicates, unscored, other_program;
    long long dead_lettered, batches, aborted, rules_switches, repaired;
} scorer_counts_t;

typedef struct scorer_scratch_s scorer_scratch_t; /* batch.c's working arrays */

/* One thing a batch's transaction produces: a dead letter of msgs[msg]
 * (reason at value), or (msg -1) an award already encoded. Offsets into
 * the transaction's buf. */
typedef struct {
    long msg;
    size_t key, key_len, value, value_len, stream;
    int64_t offset; /* an award's: the activity's offset in its stream */
} scorer_rec_t;

/* A scored batch whose boards are written, waiting for (or done with) its
 * Kafka transaction. Built by the main thread (batch.c), run by the
 * committer (commit.c), reaped by the main thread again; reused. */
typedef struct scorer_txn_s {
    struct scorer_txn_s *next;
    rd_kafka_message_t **msgs; /* the batch, owned: destroyed when reset */
    size_t n, msgcap;
    char *buf; /* the records' bytes */
    size_t len, cap;
    scorer_rec_t *recs;
    size_t nrec, reccap;
    const char *awards_topic, *dlq_topic;
    rd_kafka_topic_partition_list_t *offsets; /* the consumer offsets it commits */
    rd_kafka_consumer_group_metadata_t *cgmd;
    scorer_counts_t counts;      /* what it adds once committed */
    int64_t started_ms, done_ms; /* monotonic */
    int oom;
    int rc; /* committer: 0 committed, -1 aborted, -2 fatal, -3 skipped after a failure */
} scorer_txn_t;

typedef struct scorer_pipe_s scorer_pipe_t; /* commit.c: the committer thread */

/* Batches that may wait for their transactions at once (the main thread
 * holds back beyond it, or beyond eight batches' messages); the committer
 * commits all that wait in one transaction. */
#define SCORER_PIPE_MAX 1024

/* Starts the committer for producer (which it alone uses from then on);
 * NULL when out of memory or threads. */
scorer_pipe_t *scorer_pipe_new(rd_kafka_t *producer);
/* Stops the committer once its queue is run, and frees what was not reaped. */
void scorer_pipe_destroy(scorer_pipe_t *p); /* NULL is a no-op */
/* Queues t's transaction; the pipe holds t until scorer_pipe_done returns it. */
void scorer_pipe_push(scorer_pipe_t *p, scorer_txn_t *t);
/* The oldest finished transaction (in push order; rc says how it ended), or
 * NULL when none has finished; wait: block until one does while any is in
 * flight. The caller owns it again. */
scorer_txn_t *scorer_pipe_done(scorer_pipe_t *p, int wait);
/* Transactions pushed and not yet returned (and their messages in *msgs). */
size_t scorer_pipe_inflight(scorer_pipe_t *p, size_t *msgs);
/* After a failure the committer skips every queued transaction (rc -3)
 * until the caller, having rewound, resumes it. */
void scorer_pipe_resume(scorer_pipe_t *p);

scorer_txn_t *scorer_txn_new(void);     /* NULL when out of memory */
void scorer_txn_reset(scorer_txn_t *t); /* destroys its messages; keeps its memory */
void scorer_txn_free(scorer_txn_t *t);  /* NULL is a no-op */
/* Appends len bytes (and a NUL) to t's buf; returns their offset (oom set on failure). */
size_t scorer_txn_put(scorer_txn_t *t, const void *data, size_t len);
/* A new zeroed record (msg -1), or NULL with oom set. */
scorer_rec_t *scorer_txn_rec(scorer_txn_t *t);

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
    scorer_pipe_t *pipe;          /* the committer: batches' transactions, in order */
    scorer_txn_t *spare;          /* reaped transactions, for reuse */
    int64_t last_commit_ms;       /* monotonic time of the last commit */
    int fatal;                    /* set where no error can be returned (the rebalance) */
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

/* Scores msgs[0..n) exactly once: decodes and scores them, writes the
 * boards (guarded, see carrot/board.h), then hands the batch's transaction
 * (dead letters, awards, the consumer offsets) to the committer, which
 * commits it or nothing of it. Takes the messages (the caller's array can be
 * reused at once). Returns 0; -1 when the batch was rewound (Redis out of
 * reach: read it again later); -2 on a fatal error (the caller exits; a
 * restart resumes exactly once). */
int scorer_process_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n);
/* Takes back the batches whose transactions finished, oldest first, and
 * counts them. how: 0 those already finished, 1 at least one when any is in
 * flight, 2 all of them. Returns 0; -1 when a transaction was aborted: every
 * batch after it was skipped, and the partitions are rewound to the first
 * of them (the caller drops what it holds and backs off); -2 on a fatal
 * error. */
int scorer_reap(scorer_t *s, int how);
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
