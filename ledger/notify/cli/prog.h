/* prog.h: carrot-notify's settings and commands (main.c), shared with the
 * consumer and deliverer (run.c). */
#ifndef CARROT_NOTIFY_PROG_H
#define CARROT_NOTIFY_PROG_H

#include "carrot/config.h"
#include "carrot/notify.h"

#include <signal.h>

typedef struct {
    char *brokers, *group, *instance, *pg_dsn, *awards_topic, *dlq_topic, *rules_topic, *config;
    char *redis_host;
    long long redis_port;
    long long batch_size, batch_ms, ledger_ms, digest_ms, deliver_batch;
    char *program, *participant, *trigger, *channel, *email, *time_zone, *state, *format;
    long long message, limit;
    char *log_level, *log_format;
    long long metrics_port;
    char *metrics_listen;
} notify_conf_t;

extern volatile sig_atomic_t notify_stop;

/* `carrot-notify run`: the awards consumer, the ledger's looks and the
 * deliveries, in one loop; an exit code. */
int notify_run(const carrot_conf_t *conf, const notify_conf_t *cf);

#endif
