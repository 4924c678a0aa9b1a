/* ledger.h: the carrot-ledger program's internals shared by main.c (the
 * commands) and run.c (booking from Kafka). */
#ifndef CARROT_LEDGER_H
#define CARROT_LEDGER_H

#include "carrot/config.h"

#include <libpq-fe.h>
#include <signal.h>

typedef struct {
    char *brokers, *topic, *dlq_topic, *group, *instance, *pg, *log_level;
    long long batch_size, batch_ms;
    int until_drained;
    /* command arguments */
    char *program, *participant, *item, *name, *reason, *as_of, *sweepstakes, *prizes, *seed_file;
    long long price, stock, redemption, months, entry_cost, entries;
} ledger_conf_t;

/* Set by SIGINT/SIGTERM: finish the batch in hand and stop. */
extern volatile sig_atomic_t carrot_ledger_stop;

void carrot_ledger_sleep_ms(int ms);

/* Connects; when once is 0, waits (with backoff) while PostgreSQL is
 * unreachable, until carrot_ledger_stop. NULL on failure, logged. */
PGconn *carrot_ledger_connect(const char *dsn, int once);

/* `carrot-ledger run`: consume and book awards until stopped (or drained).
 * Returns the process exit code. */
int carrot_ledger_run(const carrot_conf_t *conf, const ledger_conf_t *cf);

#endif
