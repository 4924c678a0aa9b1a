/* carrot-notify: celebrations and notifications. `run` finds the triggers
 * (run.c) and delivers the outbox; `check` reads a configuration and
 * `publish` puts it in force (follow.c); `log`,
 * `replay`, `opt-out`, `opt-in` and `contact` are the operator's commands.
 * This file holds the settings and those commands. */
#include "carrot/file.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "prog.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(notify_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"notifications", CARROT_CONF_STR, OFF(config), NULL, 0, 0,
     "run, check, publish: the notification configuration (YAML: channels, triggers, "
     "templates)"},
    {"config-topic", CARROT_CONF_STR, OFF(config_topic), "carrot.notify.config", 0, 0,
     "run, publish: compacted topic of each deployment's configuration, keyed by --group: every "
     "member follows the version published last (\"\": the file alone)"},
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"group", CARROT_CONF_STR, OFF(group), "carrot-notify", 0, 0,
     "run, publish: the deployment: its Kafka consumer group and the key of its configuration"},
    {"instance", CARROT_CONF_STR, OFF(instance), NULL, 0, 0,
     "run: stable name of this member (group.instance.id); default: the host name"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string of the ledger's database"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0,
     "run: Redis of the boards (rank triggers) and the directory (names); \"\": neither"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "run: its port"},
    {"awards-topic", CARROT_CONF_STR, OFF(awards_topic), "carrot.awards", 0, 0,
     "run: topic of awards"},
    {"rules-topic", CARROT_CONF_STR, OFF(rules_topic), "carrot.rules", 0, 0,
     "run: compacted topic of the programs' rules (promotions' starts and ends)"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "carrot.notify.dlq", 0, 0,
     "run: where a message given up on goes, with the channel's answer"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "2000", 1, 100000,
     "run: most awards read in one transaction"},
    {"batch-ms", CARROT_CONF_INT, OFF(batch_ms), "100", 1, 60000,
     "run: longest wait for awards before delivering, in milliseconds"},
    {"ledger-ms", CARROT_CONF_INT, OFF(ledger_ms), "2000", 100, 3600000,
     "run: how often the ledger is looked at (commitments, redemptions, draws), in milliseconds"},
    {"digest-ms", CARROT_CONF_INT, OFF(digest_ms), "3600000", 1000, 86400000,
     "run: how often points expiring and last week's summaries are looked for, in "
     "milliseconds (each is sent once a day or week however often)"},
    {"deliver-batch", CARROT_CONF_INT, OFF(deliver_batch), "20", 1, 64,
     "run: most messages claimed at once (held from other members while they are sent)"},
    {"program", CARROT_CONF_STR, OFF(program), NULL, 0, 0,
     "log, opt-out, opt-in, contact: the program"},
    {"participant", CARROT_CONF_STR, OFF(participant), NULL, 0, 0,
     "log, opt-out, opt-in, contact: the participant (or supervisor)"},
    {"trigger", CARROT_CONF_STR, OFF(trigger), "*", 0, 0,
     "opt-out, opt-in: a trigger, or * for all"},
    {"channel", CARROT_CONF_STR, OFF(channel), "*", 0, 0,
     "opt-out, opt-in: a channel's name, or * for all"},
    {"email", CARROT_CONF_STR, OFF(email), NULL, 0, 0, "contact: the e-mail address"},
    {"time-zone", CARROT_CONF_STR, OFF(time_zone), NULL, 0, 0,
     "contact: the time zone of their quiet hours (IANA, e.g. Europe/Berlin)"},
    {"state", CARROT_CONF_STR, OFF(state), NULL, 0, 0,
     "log: only pending, sending, sent, dead or skipped messages"},
    {"message", CARROT_CONF_INT, OFF(message), "0", 0, 9223372036854775807LL,
     "replay: the dead message's id (from log)"},
    {"limit", CARROT_CONF_INT, OFF(limit), "50", 1, 100000, "log: most messages listed"},
    {"format", CARROT_CONF_STR, OFF(format), "text", 0, 0, "log: text or json"},
    CARROT_CONF_METRICS_ROWS(notify_conf_t),
    CARROT_CONF_LOG_ROWS(notify_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-notify run --notifications FILE\n"
    "       carrot-notify check --notifications FILE\n"
    "       carrot-notify publish --notifications FILE [--group G]\n"
    "       carrot-notify log [--program P] [--participant X] [--state S] [--limit N] "
    "[--format text|json]\n"
    "       carrot-notify replay --message ID\n"
    "       carrot-notify opt-out|opt-in --program P --participant X [--trigger T] [--channel C]\n"
    "       carrot-notify contact --program P --participant X [--email E] [--time-zone TZ]\n"
    "Tells people what Carrot did: goals reached, ranks taken, commitments met or missed, "
    "rewards, draws; through Slack, Teams, e-mail and signed webhooks, each message once, from "
    "an outbox in PostgreSQL. Exit codes: 0 done, 1 failed, 2 bad usage, 3 refused (a "
    "configuration or request that is wrong, with why).";

volatile sig_atomic_t notify_stop;

static PGconn *connect_pg(const notify_conf_t *cf) {
    PGconn *pg = PQconnectdb(cf->pg_dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        char errstr[512];
        carrot_pg_error(pg, "could not connect to PostgreSQL", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        PQfinish(pg);
        return NULL;
    }
    char errstr[512];
    int applied = 0;
    if (carrot_ledger_migrate(pg, &applied, errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static int exit_of(carrot_ledger_err_t rc, const char *errstr) {
    if (rc != CARROT_LEDGER_OK) carrot_error("%s", errstr);
    return rc == CARROT_LEDGER_OK ? 0 : rc == CARROT_LEDGER_REFUSED ? 3 : 1;
}

/* --notifications read for cmd; NULL (logged) with *exitp 2 when not given, 3 when wrong. */
static carrot_notify_config_t *load(const notify_conf_t *cf, const char *cmd, int *exitp) {
    if (!cf->config) {
        carrot_error("%s needs --notifications FILE", cmd);
        *exitp = 2;
        return NULL;
    }
    char errstr[1024];
    carrot_notify_config_t *c = carrot_notify_config_load(cf->config, errstr, sizeof(errstr));
    if (!c) carrot_error("%s", errstr);
    *exitp = 3;
    return c;
}

static int cmd_check(const notify_conf_t *cf) {
    int exit_code;
    carrot_notify_config_t *c = load(cf, "check", &exit_code);
    if (!c) return exit_code;
    printf("%s: version %s, %d channel%s; triggers on:", cf->config,
           carrot_notify_config_version(c), carrot_notify_channel_count(c),
           carrot_notify_channel_count(c) == 1 ? "" : "s");
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++)
        if (carrot_notify_trigger_on(c, (carrot_trigger_t)t))
            printf(" %s", carrot_trigger_name((carrot_trigger_t)t));
    printf("\n");
    carrot_notify_config_destroy(c);
    return 0;
}

/* The file, checked, made the deployment's configuration: every member
 * running switches to it between two batches. */
static int cmd_publish(const carrot_conf_t *conf, const notify_conf_t *cf) {
    if (!cf->config_topic || !*cf->config_topic) {
        carrot_error("publish needs a --config-topic");
        return 2;
    }
    int exit_code;
    carrot_notify_config_t *c = load(cf, "publish", &exit_code);
    if (!c) return exit_code;
    char errstr[1024];
    int rc = notify_publish(conf, cf, c, errstr, sizeof(errstr));
    if (rc) carrot_error("%s", errstr);
    else
        printf("published version %s of %s to %s for %s\n", carrot_notify_config_version(c),
               cf->config, cf->config_topic, cf->group);
    carrot_notify_config_destroy(c);
    return rc ? 1 : 0;
}

static int need_who(const notify_conf_t *cf, const char *cmd) {
    if (!cf->program || !*cf->program || !cf->participant || !*cf->participant) {
        carrot_error("%s needs --program and --participant", cmd);
        return 0;
    }
    return 1;
}

static int cmd_optout(const notify_conf_t *cf, int out) {
    if (!need_who(cf, out ? "opt-out" : "opt-in")) return 2;
    if (strcmp(cf->trigger, "*") != 0 && carrot_trigger_parse(cf->trigger) < 0) {
        carrot_error("--trigger: no trigger \"%s\" (goal, number_one, top_n, overtaken, "
                     "commitment_met, commitment_missed, streak, redemption_fulfilled, "
                     "redemption_rejected, draw_won, or *)",
                     cf->trigger);
        return 2;
    }
    PGconn *pg = connect_pg(cf);
    if (!pg) return 1;
    char errstr[1024];
    const char *p[] = {cf->program, cf->participant, cf->trigger, cf->channel};
    carrot_ledger_err_t rc = carrot_pg_command(
        pg,
        out ? "INSERT INTO notify_optouts (program_id, participant_id, trigger, channel) VALUES "
              "($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            : "DELETE FROM notify_optouts WHERE program_id = $1 AND participant_id = $2 AND "
              "trigger = $3 AND channel = $4",
        4, p, errstr, sizeof(errstr));
    PQfinish(pg);
    if (!rc)
        carrot_info("%s of %s: %s opted %s of trigger %s on channel %s", cf->participant,
                    cf->program, cf->participant, out ? "out" : "back in", cf->trigger,
                    cf->channel);
    return exit_of(rc, errstr);
}

static int cmd_contact(const notify_conf_t *cf) {
    if (!need_who(cf, "contact")) return 2;
    if (cf->time_zone && !carrot_tz_valid(cf->time_zone)) {
        carrot_error("--time-zone: \"%s\" is not a time zone", cf->time_zone);
        return 2;
    }
    if (cf->email && !carrot_notify_email_ok(cf->email)) {
        carrot_error("--email: \"%s\" is not an e-mail address", cf->email);
        return 2;
    }
    PGconn *pg = connect_pg(cf);
    if (!pg) return 1;
    char errstr[1024];
    const char *p[] = {cf->program, cf->participant, cf->email, cf->time_zone};
    carrot_ledger_err_t rc = carrot_pg_command(
        pg,
        "INSERT INTO notify_contacts (program_id, participant_id, email, time_zone) VALUES ($1, "
        "$2, $3, $4) ON CONFLICT (program_id, participant_id) DO UPDATE SET email = "
        "coalesce(excluded.email, notify_contacts.email), time_zone = "
        "coalesce(excluded.time_zone, notify_contacts.time_zone)",
        4, p, errstr, sizeof(errstr));
    PQfinish(pg);
    return exit_of(rc, errstr);
}

static int cmd_replay(const notify_conf_t *cf) {
    if (cf->message <= 0) {
        carrot_error("replay needs --message ID (see carrot-notify log --state dead)");
        return 2;
    }
    PGconn *pg = connect_pg(cf);
    if (!pg) return 1;
    char errstr[1024];
    carrot_ledger_err_t rc = carrot_notify_replay(pg, cf->message, errstr, sizeof(errstr));
    PQfinish(pg);
    if (!rc) carrot_info("message %lld is due again", cf->message);
    return exit_of(rc, errstr);
}

static int cmd_log(const notify_conf_t *cf) {
    int json = strcmp(cf->format, "json") == 0;
    if (!json && strcmp(cf->format, "text") != 0) {
        carrot_error("--format: expected text or json, not \"%s\"", cf->format);
        return 2;
    }
    PGconn *pg = connect_pg(cf);
    if (!pg) return 1;
    char lim[24];
    snprintf(lim, sizeof(lim), "%lld", cf->limit);
    const char *p[] = {cf->program, cf->participant, cf->state, lim};
    PGresult *r = PQexecParams(
        pg,
        "SELECT o.message_id, o.created_at::text, o.program_id, o.kind, o.channel, o.recipient, "
        "  o.state, o.attempts, o.possibly_repeated, coalesce(o.last_status::text, ''), "
        "  coalesce(o.last_answer, ''), coalesce(o.sent_at::text, ''), o.event_id, "
        "  o.idempotency_key, o.config_version "
        "FROM notify_outbox o WHERE ($1::text IS NULL OR o.program_id = $1) AND ($2::text IS "
        "NULL OR o.recipient = $2) AND ($3::text IS NULL OR o.state = $3) "
        "ORDER BY o.message_id DESC LIMIT $4::bigint",
        4, NULL, p, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char errstr[1024];
        rc = exit_of(carrot_pg_failure(pg, r, "reading the log", errstr, sizeof(errstr)), errstr);
    } else if (json) {
        static const char *const names[] = {
            "message_id", "created_at", "program",  "trigger",           "channel",
            "recipient",  "state",      "attempts", "possibly_repeated", "status",
            "answer",     "sent_at",    "event_id", "idempotency_key",   "config_version"};
        printf("[");
        for (int i = 0; i < PQntuples(r); i++) {
            printf(i ? ",\n{" : "{");
            for (int c = 0; c < 15; c++) {
                printf("%s\"%s\":", c ? "," : "", names[c]);
                const char *v = PQgetvalue(r, i, c);
                if (c == 0 || c == 7) printf("%s", v);
                else if (c == 8)
                    printf("%s", strcmp(v, "t") == 0 ? "true" : "false");
                else
                    carrot_json_print_string(stdout, v);
            }
            printf("}");
        }
        printf("]\n");
    } else {
        printf("%-8s %-22s %-20s %-12s %-14s %-8s %-4s %s\n", "id", "queued", "trigger", "channel",
               "recipient", "state", "try", "answer");
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-8s %-22.22s %-20s %-12s %-14s %-8s %-4s %s%s%s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
                   PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
                   PQgetvalue(r, i, 9), *PQgetvalue(r, i, 9) ? " " : "", PQgetvalue(r, i, 10));
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}

int main(int argc, char **argv) {
    notify_conf_t cf;
    int npos = 0, exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-notify", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 2;
    if (npos != 1) carrot_error("expected one command (see --help)");
    else if (strcmp(argv[1], "run") == 0)
        exit_code = notify_run(conf, &cf);
    else if (strcmp(argv[1], "check") == 0)
        exit_code = cmd_check(&cf);
    else if (strcmp(argv[1], "publish") == 0)
        exit_code = cmd_publish(conf, &cf);
    else if (strcmp(argv[1], "log") == 0)
        exit_code = cmd_log(&cf);
    else if (strcmp(argv[1], "replay") == 0)
        exit_code = cmd_replay(&cf);
    else if (strcmp(argv[1], "opt-out") == 0)
        exit_code = cmd_optout(&cf, 1);
    else if (strcmp(argv[1], "opt-in") == 0)
        exit_code = cmd_optout(&cf, 0);
    else if (strcmp(argv[1], "contact") == 0)
        exit_code = cmd_contact(&cf);
    else
        carrot_error("unknown command \"%s\" (see --help)", argv[1]);
    carrot_conf_destroy(conf);
    return exit_code;
}
