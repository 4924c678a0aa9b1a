/* prog.h: carrot-notify's settings and commands (main.c), shared with the
 * consumer and deliverer (run.c). */
#ifndef CARROT_NOTIFY_PROG_H
#define CARROT_NOTIFY_PROG_H

#include "carrot/config.h"
#include "carrot/notify.h"

#include <signal.h>

typedef struct {
    char *brokers, *group, *instance, *pg_dsn, *awards_topic, *dlq_topic, *rules_topic, *config;
    char *config_topic;
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
extern volatile sig_atomic_t notify_reread; /* SIGHUP: the file read again (follow.c) */

/* The configuration in force and where it comes from (follow.c). */
typedef struct carrot_keyed_feed_s carrot_keyed_feed_t;
typedef struct {
    const carrot_conf_t *conf;
    const notify_conf_t *cf;
    carrot_keyed_feed_t *feed; /* the configuration topic; NULL: the file alone */
    carrot_notify_config_t *cfg;
} notify_follow_t;

/* Reads --notifications and the configuration topic: f->cfg is the topic's
 * newest for the group when it is valid, else the file's (which seeds an
 * empty topic). 0, 3 for a file that is not valid, 1 when the topic cannot
 * be read or written; logged. */
int notify_follow_start(notify_follow_t *f, const carrot_conf_t *conf, const notify_conf_t *cf);
/* Between two batches: a SIGHUP's file published (or, without a topic,
 * switched to), and the topic's newest switched to when it differs from
 * what is in force. 1 when n now works under a new f->cfg. */
int notify_follow_poll(notify_follow_t *f, carrot_notifier_t *n);
void notify_follow_end(notify_follow_t *f);
/* cfg's text to the configuration topic, keyed by the group. */
int notify_publish(const carrot_conf_t *conf, const notify_conf_t *cf,
                   const carrot_notify_config_t *cfg, char *errstr, size_t errstr_size);

/* `carrot-notify run`: the awards consumer, the ledger's looks and the
 * deliveries, in one loop; an exit code. */
int notify_run(const carrot_conf_t *conf, const notify_conf_t *cf);

#endif
