/* ittools.h: what the integration tests share: running Carrot's programs as
 * child processes, creating uniquely named topics, and reading back what
 * landed in Kafka, Redis and PostgreSQL. The services are the real ones
 * started by deploy/services.sh; addresses come from the same CARROT_*
 * environment variables deploy/env.sh sets, with the same defaults. */
#ifndef CARROT_ITTOOLS_H
#define CARROT_ITTOOLS_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

const char *it_brokers(void);
const char *it_pg_dsn(void);
int it_redis_port(void);

/* A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's
 * pick, so parallel runs never collide on a computed one). */
int it_free_port(void);

/* A name unique to this test run: prefix + pid + time. Static buffer per call site
 * is the caller's: writes into buf. */
void it_unique(char *buf, size_t size, const char *prefix);

/* Writes into buf (at least 32 bytes) the RFC 3339 UTC time ago_ms before
 * now by Carrot's clock (carrot_time_now_ms, which a test clock shift
 * moves), so a test's activities are dated relative to when it runs. */
void it_time_ago(char *buf, size_t size, int64_t ago_ms);

/* A test's own program and topics: program is it_unique(prefix); act, dlq,
 * awards, rules and group are "<program>.activities", ".dlq", ".awards",
 * ".rules" and ".scorer". it_topics() creates the activities topic with
 * act_partitions, the awards topic with awards_partitions and the dead-letter
 * topic with one (the rules topic is the scorer's to create). */
typedef struct {
    char program[48], act[96], dlq[96], awards[96], rules[96], group[96];
} it_topics_t;
void it_topics(it_topics_t *t, const char *prefix, int act_partitions, int awards_partitions);

/* A participant's points on a program's board ("ptd:all", "d:2026-11-10:all";
 * a week's, month's or quarter's through the board library, which sums its
 * day boards); not on it counts as 0. */
long long it_zscore(redisContext *rc, const char *program, const char *board, const char *who);

/* When a program's board expires (Unix seconds; -1 never): absolute, so it
 * means the same under a test clock shift, while Redis keeps the real clock. */
long long it_expiretime(redisContext *rc, const char *program, const char *board);

/* Creates topic with partitions (fails the test on error). */
void it_create_topic(const char *topic, int partitions, const char *cleanup_policy);

/* Runs argv (argv[0] is a path) to completion; captures stdout into *outp
 * (caller frees) if outp is not NULL. Returns the exit status, or -1 when it
 * died of a signal. */
int it_run(char *const argv[], char **outp);

/* Starts argv in the background, stdout to /dev/null; returns its pid. */
pid_t it_spawn(char *const argv[]);

/* A message read back from a topic. */
typedef struct {
    int32_t partition;
    int64_t offset;
    char *key, *value;
    size_t key_len, value_len;
    /* dead-letter headers (kafka.h), each NULL when absent: carrot.error,
     * carrot.stage, carrot.source, and carrot.topic, carrot.partition,
     * carrot.offset (the original message's place) */
    char *error, *stage, *source, *orig_topic, *orig_partition, *orig_offset;
    char *truncated; /* carrot.truncated (ingest: a line cut at max-line-bytes) */
} it_msg_t;

/* Reads every committed message of topic from the beginning until all
 * partitions are at their end. Returns the count; *msgsp is freed with
 * it_msgs_free(). */
size_t it_consume_all(const char *topic, it_msg_t **msgsp);
void it_msgs_free(it_msg_t *msgs, size_t n);

redisContext *it_redis(void);
/* A connection to the Redis node that serves program's keys: the one Redis,
 * or in a Redis Cluster the master of the program's hash tag. */
redisContext *it_redis_for(const char *program);
PGconn *it_pg(void);

/* Runs one SQL query with the given text params and returns the single
 * value of its single row as a new string (caller frees), or NULL. */
char *it_pg_value(PGconn *pg, const char *sql, int nparams, const char *const *params);

/* Writes text to a new temporary file and returns its path (caller frees). */
char *it_write_temp(const char *text);

/* Produces one message (acks=all) and waits for its delivery. */
void it_produce(const char *topic, const char *key, const void *value, size_t len);

/* Produces Award events (Avro, as the scorer writes them) for program:
 * award i goes to participants[i] with points[i], awarded at awarded_at[i]
 * (ms; 0 means now). Award ids are "<tag>-<i>". Waits for delivery. */
void it_produce_awards(const char *topic, const char *program, const char *tag, int n,
                       const char *const *participants, const int64_t *points,
                       const int64_t *awarded_at);

/* An Award read back from a topic (strings copied). */
typedef struct {
    char *award_id, *event_id, *participant_id, *rule_id, *rules_version;
    int64_t points;
} it_award_t;

/* Every committed Award of topic, decoded. Returns the count; free with
 * it_awards_free(). */
size_t it_read_awards(const char *topic, it_award_t **awardsp);
void it_awards_free(it_award_t *awards, size_t n);

/* Runs `carrot-ledger ARGS...` (NULL-terminated) and returns its exit code;
 * *outp gets its stdout when not NULL. */
int it_ledger(char **outp, ...);

/* Sum over the topic's partitions of the offsets group has committed in
 * Kafka (what lag tools see). */
long long it_committed_sum(const char *group, const char *topic);

#endif
