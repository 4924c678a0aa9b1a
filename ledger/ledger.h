/* ledger.h: the carrot-ledger program's internals shared by main.c (the
 * settings and command tables), commands.c (the commands) and run.c
 * (booking from Kafka). */
#ifndef CARROT_LEDGER_H
#define CARROT_LEDGER_H

#include "carrot/config.h"
#include "carrot/reconcile.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>

typedef struct {
    char *brokers, *topic, *dlq_topic, *group, *instance, *pg, *log_level, *log_format;
    char *metrics_listen;
    long long batch_size, batch_ms, metrics_port;
    /* the boards, for reconcile and run's drift check */
    char *redis_host, *activities_topic, *scorer_group;
    long long redis_port, redis_timeout_ms, fence_timeout_ms, drift_interval;
    int until_drained;
    /* command arguments */
    char *program, *participant, *item, *name, *reason, *as_of, *sweepstakes, *prizes, *seed_file;
    long long price, stock, redemption, months, entry_cost, entries;
} ledger_conf_t;

/* What a command is handed: the settings (conf owns cf's strings), and a
 * connection for the commands the table marks as using the database. */
typedef struct {
    const carrot_conf_t *conf;
    const ledger_conf_t *cf;
    PGconn *pg; /* NULL for a command that connects itself (run) */
} ledger_ctx_t;

/* A command; returns the process exit code (0 done, 1 failed, 2 bad usage,
 * 3 refused). Messages for the user go to stdout, errors to the log. */
typedef int (*ledger_command_fn)(const ledger_ctx_t *ctx);

/* The commands, in commands.c (run's calls run.c's carrot_ledger_run). */
int ledger_cmd_migrate(const ledger_ctx_t *ctx);
int ledger_cmd_run(const ledger_ctx_t *ctx);
int ledger_cmd_balance(const ledger_ctx_t *ctx);
int ledger_cmd_statement(const ledger_ctx_t *ctx);
int ledger_cmd_liability(const ledger_ctx_t *ctx);
int ledger_cmd_catalog_set(const ledger_ctx_t *ctx);
int ledger_cmd_redeem(const ledger_ctx_t *ctx);
int ledger_cmd_fulfil(const ledger_ctx_t *ctx);
int ledger_cmd_reject(const ledger_ctx_t *ctx);
int ledger_cmd_expiry_set(const ledger_ctx_t *ctx);
int ledger_cmd_expire(const ledger_ctx_t *ctx);
int ledger_cmd_sweepstakes_create(const ledger_ctx_t *ctx);
int ledger_cmd_enter(const ledger_ctx_t *ctx);
int ledger_cmd_close(const ledger_ctx_t *ctx);
int ledger_cmd_draw(const ledger_ctx_t *ctx);
int ledger_cmd_verify(const ledger_ctx_t *ctx);
int ledger_cmd_reconcile(const ledger_ctx_t *ctx);

/* Set by SIGINT/SIGTERM: finish the batch in hand and stop. */
extern volatile sig_atomic_t carrot_ledger_stop;

void carrot_ledger_sleep_ms(int ms);

/* Connects; when once is 0, waits (with backoff) while PostgreSQL is
 * unreachable, until carrot_ledger_stop. NULL on failure, logged. */
PGconn *carrot_ledger_connect(const char *dsn, int once);

/* watch.c: run's metrics and health on metrics-port; with metrics-port 0
 * the handle exists and every call is a no-op. NULL with errstr. */
typedef struct ledger_watch_s ledger_watch_t;
ledger_watch_t *ledger_watch_new(const ledger_conf_t *cf, char *errstr, size_t errstr_size);
void ledger_watch_destroy(ledger_watch_t *w); /* NULL is a no-op */
/* A readiness check ("kafka", "postgres"), as carrot_metrics_check(). */
void ledger_watch_check(ledger_watch_t *w, const char *check, int up, const char *why);
/* A PostgreSQL call failed (retried): counted, and postgres unready. */
void ledger_watch_pg_error(ledger_watch_t *w, const char *why);
/* A batch of n messages committed: booked, already booked, dead-lettered. */
void ledger_watch_batch(ledger_watch_t *w, rd_kafka_message_t **msgs, size_t n, long long booked,
                        long long already, long long dead);
/* librdkafka's statistics, for the consumer lag gauges. */
void ledger_watch_stats(ledger_watch_t *w, const char *json, size_t len);
/* A drift check of program: participants whose board and ledger differ,
 * and by how many points in all (carrot_ledger_drift_*{program}). */
void ledger_watch_drift(ledger_watch_t *w, const char *program, long differing, long long points);
/* A drift check ended: ok, or it could not be made (a service down, the
 * fence not closing). */
void ledger_watch_drift_checked(ledger_watch_t *w, int ok);

/* drift.c: run's periodic reconcile (every drift-interval seconds; 0: off),
 * on its own thread with its own PostgreSQL, Redis and Kafka connections,
 * so booking never waits for it; results go to w. NULL when off or when
 * the thread cannot start (logged). conf, cf and w must outlive it. */
typedef struct ledger_drift_s ledger_drift_t;
ledger_drift_t *ledger_drift_start(const carrot_conf_t *conf, const ledger_conf_t *cf,
                                   ledger_watch_t *w);
void ledger_drift_stop(ledger_drift_t *d); /* stops and joins; NULL is a no-op */
/* The run booked an award of program: the check covers it from now on (a
 * PostgreSQL shared by ledgers of other topics holds programs whose awards
 * in flight this ledger cannot see). NULL d is a no-op. */
void ledger_drift_seen(ledger_drift_t *d, const char *program);

/* The reconcile settings of cf, for carrot_reconcile_new() (borrowed). */
carrot_reconcile_conf_t ledger_reconcile_conf(const ledger_conf_t *cf);

/* `carrot-ledger run`: consume and book awards until stopped (or drained).
 * Returns the process exit code. */
int carrot_ledger_run(const carrot_conf_t *conf, const ledger_conf_t *cf);

#endif
