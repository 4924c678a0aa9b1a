/* prog.h: carrot-report's settings and commands (main.c), shared with the
 * facts consumer (run.c). */
#ifndef CARROT_REPORT_PROG_H
#define CARROT_REPORT_PROG_H

#include "carrot/adoption.h"
#include "carrot/config.h"

#include <signal.h>

typedef struct {
    char *brokers, *group, *instance, *pg_dsn;
    char *activities_topic, *awards_topic, *participants_topic, *dlq_topic, *rules_topic;
    long long batch_size, batch_ms;
    int until_drained, reread;
    char *program, *period, *segment, *band, *team, *at, *format;
    long long periods;
    char *drop_before;
    int detach;
    char *log_level, *log_format;
    long long metrics_port;
    char *metrics_listen;
} report_conf_t;

extern volatile sig_atomic_t report_stop;

/* `carrot-report run`: the facts consumer; an exit code. */
int report_run(const carrot_conf_t *conf, const report_conf_t *cf);

#endif
