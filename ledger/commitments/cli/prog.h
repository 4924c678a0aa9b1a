/* prog.h: what carrot-commit's files share: its settings, the services a
 * command uses, and the helpers on the directory. main.c holds the table
 * and the dispatch, terms.c set / acknowledge / show, closing.c close /
 * followups / followup. Not a library header: the component's API is
 * carrot/commitments.h. */
#ifndef CARROT_COMMIT_PROG_H
#define CARROT_COMMIT_PROG_H

#include "carrot/commitments.h"
#include "carrot/config.h"

#include <jansson.h>

#include <signal.h>

typedef struct {
    char *program, *rules, *pg_dsn, *redis_host, *brokers, *awards_topic, *participant, *commitment,
        *target, *by, *note, *period, *at, *supervisor, *kind, *date, *format, *log_level,
        *log_format;
    long long redis_port, redis_timeout_ms, grace_hours, seen_ttl;
} commit_conf_t;

/* Exit codes (README "Accountability"). */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_REFUSED = 3 };

typedef struct {
    const carrot_conf_t *conf;
    const commit_conf_t *cf;
    carrot_rules_t *rules;
    PGconn *pg;
    carrot_board_t *board;
    carrot_directory_t *dir;
    int64_t now_ms; /* --at, or the program's clock */
    int json;
    volatile sig_atomic_t *stop;
} commit_ctx_t;

/* Prints o as one compact JSON line (--format json) and releases it. */
void commit_print_json(json_t *o);

/* The exit code of a ledger error (the message already logged). */
int commit_exit(carrot_ledger_err_t rc);

/* The participant id, looked up: EXIT_OK with *p filled, EXIT_REFUSED when
 * the directory does not know them (logged, naming what: "participant",
 * "supervisor"), EXIT_FAILED when Redis fails. */
int commit_person(commit_ctx_t *x, const char *what, const char *id, carrot_participant_t *p);

/* Whether boss is above p in the directory (their supervisor, or theirs,
 * up to 32 levels). -1 when Redis fails (logged). */
int commit_is_above(commit_ctx_t *x, const carrot_participant_t *p, const char *boss);

/* Everyone under supervisor, every level, in *idsp (malloc'd, caller frees
 * each and the array): -1 when Redis fails (logged). */
long commit_under(commit_ctx_t *x, const char *supervisor, char ***idsp);

/* The commitment named by --commitment: its index, or -1 (logged). */
int commit_find(commit_ctx_t *x);

int commit_cmd_set(commit_ctx_t *x);
int commit_cmd_acknowledge(commit_ctx_t *x);
int commit_cmd_show(commit_ctx_t *x);
int commit_cmd_close(commit_ctx_t *x);
int commit_cmd_followups(commit_ctx_t *x);
int commit_cmd_followup(commit_ctx_t *x);

#endif
