/* carrot-commit: accountability from the command line: supervisors set
 * participants' commitments, participants acknowledge them, anyone shows
 * the pacing, a scheduled job closes each period, and supervisors read and
 * work their follow-up list. This file holds the settings, the commands and
 * the helpers on the directory; the commands are in terms.c and closing.c. */
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(commit_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"program", CARROT_CONF_STR, OFF(program), NULL, 0, 0, "the program (required)"},
    {"rules", CARROT_CONF_STR, OFF(rules), NULL, 0, 0,
     "the program's rules file, whose commitments are meant (required)"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string of the ledger"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0,
     "Redis of the boards and the directory"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"redis-timeout-ms", CARROT_CONF_INT, OFF(redis_timeout_ms), "10000", 10, 600000,
     "longest wait to connect to Redis and for each reply"},
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0,
     "close: Kafka bootstrap servers"},
    {"awards-topic", CARROT_CONF_STR, OFF(awards_topic), "carrot.awards", 0, 0,
     "close: the awards topic the consequences are produced to"},
    {"participant", CARROT_CONF_STR, OFF(participant), NULL, 0, 0, "the participant"},
    {"commitment", CARROT_CONF_STR, OFF(commitment), NULL, 0, 0,
     "a commitment id of the rules (close, show: default all)"},
    {"target", CARROT_CONF_STR, OFF(target), NULL, 0, 0,
     "set: the new target (a count, points, or a percent for the shares)"},
    {"by", CARROT_CONF_STR, OFF(by), NULL, 0, 0,
     "who does it: set and followup, a supervisor above the participant; acknowledge, the "
     "participant"},
    {"note", CARROT_CONF_STR, OFF(note), "", 0, 0, "set, followup: a note kept with the record"},
    {"period", CARROT_CONF_STR, OFF(period), NULL, 0, 0,
     "a period id (w:2026-W47, m:2026-11, q:2026-Q4, d:2026-11-23); close: also \"last\" (each "
     "commitment's period before the current one); show: default the current one"},
    {"at", CARROT_CONF_STR, OFF(at), NULL, 0, 0, "the moment to act as of (RFC 3339); default now"},
    {"supervisor", CARROT_CONF_STR, OFF(supervisor), NULL, 0, 0,
     "show, followups: everyone under this supervisor, every level"},
    {"kind", CARROT_CONF_STR, OFF(kind), "reminder", 0, 0,
     "followup: reminder, discussion or note"},
    {"date", CARROT_CONF_STR, OFF(date), NULL, 0, 0,
     "followup: the day it was held (YYYY-MM-DD); default today"},
    {"grace-hours", CARROT_CONF_INT, OFF(grace_hours), "24", 0, 8760,
     "close: hours after a period's end that late records are waited for"},
    {"seen-ttl", CARROT_CONF_INT, OFF(seen_ttl), "2592000", 60, 315360000,
     "close: seconds Redis remembers the consequences it applied (a rerun applies none twice)"},
    {"format", CARROT_CONF_STR, OFF(format), "text", 0, 0, "text or json"},
    CARROT_CONF_LOG_ROWS(commit_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-commit set --participant U --commitment C --target N --by SUPERVISOR\n"
    "       carrot-commit acknowledge --participant U --commitment C --by U\n"
    "       carrot-commit show [--participant U | --supervisor S] [--commitment C] [--period ID]\n"
    "       carrot-commit close --period ID|last [--commitment C] [--grace-hours H]\n"
    "       carrot-commit followups --supervisor S [--period ID]\n"
    "       carrot-commit followup --participant U --commitment C --period ID --by SUPERVISOR\n"
    "                              [--kind reminder|discussion|note] [--note TEXT] [--date D]\n"
    "Sets, acknowledges, paces and closes participants' commitments, and keeps the "
    "supervisors' follow-up list (all need --program and --rules). Exit codes: 0 done, 1 "
    "failed, 2 bad usage, 3 refused (unknown participant, not their supervisor, a bad "
    "target, nothing to follow up, a period not over).";

static const struct {
    const char *name;
    int (*fn)(commit_ctx_t *);
} commands[] = {{"set", commit_cmd_set},
                {"acknowledge", commit_cmd_acknowledge},
                {"show", commit_cmd_show},
                {"close", commit_cmd_close},
                {"followups", commit_cmd_followups},
                {"followup", commit_cmd_followup}};

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void notice_cb(void *arg, const char *msg) {
    (void)arg;
    carrot_debug("postgres: %s", msg);
}

void commit_print_json(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) printf("%s\n", s);
    free(s);
    json_decref(o);
}

int commit_exit(carrot_ledger_err_t rc) {
    return rc == CARROT_LEDGER_OK        ? EXIT_OK
           : rc == CARROT_LEDGER_REFUSED ? EXIT_REFUSED
                                         : EXIT_FAILED;
}

int commit_person(commit_ctx_t *x, const char *what, const char *id, carrot_participant_t *p) {
    char errstr[512];
    if (carrot_directory_get(x->dir, x->cf->program, &id, 1, p, errstr, sizeof(errstr)) !=
        CARROT_DIRECTORY_OK) {
        carrot_error("reading the participants directory: %s", errstr);
        return EXIT_FAILED;
    }
    if (!p->found) {
        carrot_error("unknown %s \"%s\": the directory of program %s has no such participant", what,
                     id, x->cf->program);
        return EXIT_REFUSED;
    }
    return EXIT_OK;
}

int commit_is_above(commit_ctx_t *x, const carrot_participant_t *p, const char *boss) {
    carrot_participant_t cur = *p;
    char errstr[512];
    for (int level = 0; level < 32 && cur.supervisor_id[0]; level++) {
        if (strcmp(cur.supervisor_id, boss) == 0) return 1;
        const char *id = cur.supervisor_id;
        carrot_participant_t next;
        if (carrot_directory_get(x->dir, x->cf->program, &id, 1, &next, errstr, sizeof(errstr)) !=
            CARROT_DIRECTORY_OK) {
            carrot_error("reading the participants directory: %s", errstr);
            return -1;
        }
        if (!next.found) break;
        cur = next;
    }
    return 0;
}

long commit_under(commit_ctx_t *x, const char *supervisor, char ***idsp) {
    char errstr[512];
    size_t n = 0;
    if (carrot_commit_team(x->dir, x->cf->program, supervisor, 10000000, idsp, &n, errstr,
                           sizeof(errstr)) != CARROT_LEDGER_OK) {
        carrot_error("reading the participants directory: %s", errstr);
        return -1;
    }
    return (long)n;
}

int commit_find(commit_ctx_t *x) {
    int i = carrot_rules_commitment_find(x->rules, x->cf->commitment);
    if (i < 0)
        carrot_error("the rules of %s (version %s) have no commitment \"%s\"", x->cf->program,
                     carrot_rules_version(x->rules), x->cf->commitment);
    return i;
}

int main(int argc, char **argv) {
    commit_conf_t cf;
    int npos = 0, exit_code;
    char errstr[512];
    carrot_conf_t *conf = carrot_conf_init_program("carrot-commit", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    commit_ctx_t x = {.conf = conf, .cf = &cf, .stop = &stop};
    exit_code = EXIT_USAGE;
    size_t c = 0;
    if (npos != 1) {
        carrot_error("expected one command (see --help)");
        goto out;
    }
    while (c < sizeof(commands) / sizeof(commands[0]) && strcmp(commands[c].name, argv[1])) c++;
    if (c == sizeof(commands) / sizeof(commands[0])) {
        carrot_error("unknown command \"%s\" (see --help)", argv[1]);
        goto out;
    }
    if (!cf.program || !*cf.program || !cf.rules || !*cf.rules) {
        carrot_error("%s needs --program and --rules", argv[1]);
        goto out;
    }
    if (strcmp(cf.format, "text") && strcmp(cf.format, "json")) {
        carrot_error("--format: expected text or json, not \"%s\"", cf.format);
        goto out;
    }
    x.json = strcmp(cf.format, "json") == 0;
    x.now_ms = carrot_time_now_ms();
    if (cf.at && carrot_time_parse(cf.at, &x.now_ms) != 0) {
        carrot_error("--at: expected an RFC 3339 time with a zone, not \"%s\"", cf.at);
        goto out;
    }
    exit_code = EXIT_FAILED;
    if (!(x.rules = carrot_rules_load(cf.rules, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (strcmp(carrot_rules_program(x.rules), cf.program) != 0) {
        carrot_error("%s holds the rules of program %s, not %s", cf.rules,
                     carrot_rules_program(x.rules), cf.program);
        exit_code = EXIT_USAGE;
        goto out;
    }
    x.pg = PQconnectdb(cf.pg_dsn);
    if (PQstatus(x.pg) != CONNECTION_OK) {
        carrot_pg_error(x.pg, "could not connect to PostgreSQL", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        goto out;
    }
    PQsetNoticeProcessor(x.pg, notice_cb, NULL);
    x.board = carrot_board_new(cf.redis_host, (int)cf.redis_port, (int)cf.redis_timeout_ms);
    x.dir = carrot_directory_new(cf.redis_host, (int)cf.redis_port, (int)cf.redis_timeout_ms);
    if (!x.board || !x.dir) {
        carrot_error("out of memory");
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a write to a Redis that went away fails with EPIPE, reported and
     * retried; hiredis does not ask the kernel to spare the process */
    signal(SIGPIPE, SIG_IGN);
    exit_code = commands[c].fn(&x);
out:
    if (x.pg) PQfinish(x.pg);
    carrot_board_destroy(x.board);
    carrot_directory_destroy(x.dir);
    carrot_rules_destroy(x.rules);
    carrot_conf_destroy(conf);
    return exit_code;
}
