/* carrot-ledger: the points ledger in PostgreSQL. `run` books every award
 * from carrot.awards exactly once into a double-entry book (run.c, book.c);
 * the other commands (commands.c) spend, expire, report and audit points.
 * This file holds the program's two tables, its settings and its commands,
 * and dispatches a command line through them. */
#include "carrot/log.h"
#include "ledger.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(ledger_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"topic", CARROT_CONF_STR, OFF(topic), "carrot.awards", 0, 0, "topic of Award events"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "carrot.awards.dlq", 0, 0,
     "dead-letter topic for award messages that cannot be decoded or that PostgreSQL refuses, with "
     "the reason in a header and the original bytes"},
    {"group", CARROT_CONF_STR, OFF(group), "carrot-ledger", 0, 0, "Kafka consumer group"},
    {"instance", CARROT_CONF_STR, OFF(instance), NULL, 0, 0,
     "stable name of this ledger in its group (group.instance.id); default: the host name. Give "
     "each ledger of a group its own, and keep it across restarts"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg), "host=127.0.0.1 port=15432 dbname=carrot user=carrot", 0,
     0, "PostgreSQL connection string (libpq keywords or a postgresql:// URI)"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "5000", 1, 1000000,
     "most awards booked in one transaction"},
    {"batch-ms", CARROT_CONF_INT, OFF(batch_ms), "200", 1, 60000,
     "longest wait to fill a batch, in milliseconds"},
    {"until-drained", CARROT_CONF_BOOL, OFF(until_drained), "false", 0, 0,
     "run: exit once every assigned partition is read to its end (batch runs, tests)"},
    CARROT_CONF_LOG_ROWS(ledger_conf_t),
    CARROT_CONF_METRICS_ROWS(ledger_conf_t),
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0,
     "Redis host of the leaderboards (reconcile, and run's drift check)"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"redis-timeout-ms", CARROT_CONF_INT, OFF(redis_timeout_ms), "5000", 10, 600000,
     "longest wait to connect to Redis and for each reply"},
    {"activities-topic", CARROT_CONF_STR, OFF(activities_topic), "crm.activities", 0, 0,
     "the scorers' topic of CRM activities, whose board watermarks the drift check fences on"},
    {"scorer-group", CARROT_CONF_STR, OFF(scorer_group), "carrot-scorer", 0, 0,
     "the scorers' consumer group"},
    {"fence-timeout-ms", CARROT_CONF_INT, OFF(fence_timeout_ms), "30000", 100, 3600000,
     "longest wait, in a drift check, for the scorers to commit what the boards hold, and to "
     "read the awards in flight; past it the check is skipped"},
    {"drift-interval", CARROT_CONF_INT, OFF(drift_interval), "60", 0, 86400,
     "run: seconds between drift checks of the boards against the ledger (0: none)"},
    {"program", CARROT_CONF_STR, OFF(program), NULL, 0, 0, "program the command is about"},
    {"participant", CARROT_CONF_STR, OFF(participant), NULL, 0, 0, "participant id"},
    {"item", CARROT_CONF_STR, OFF(item), NULL, 0, 0, "catalog item id"},
    {"name", CARROT_CONF_STR, OFF(name), NULL, 0, 0, "display name of an item or sweepstakes"},
    {"price", CARROT_CONF_INT, OFF(price), "0", 0, 1000000000000LL, "item price in points"},
    {"stock", CARROT_CONF_INT, OFF(stock), "0", 0, 2147483647, "items in stock"},
    {"redemption", CARROT_CONF_INT, OFF(redemption), "0", 0, 0x7fffffffffffffffLL,
     "redemption id (from redeem)"},
    {"reason", CARROT_CONF_STR, OFF(reason), NULL, 0, 0, "why a redemption is rejected"},
    {"months", CARROT_CONF_INT, OFF(months), "0", 0, 1200,
     "expiry-set: points expire this many months after they are earned (0: never)"},
    {"as-of", CARROT_CONF_STR, OFF(as_of), NULL, 0, 0,
     "expire: the moment to expire as of (RFC 3339); default now"},
    {"sweepstakes", CARROT_CONF_STR, OFF(sweepstakes), NULL, 0, 0, "sweepstakes id"},
    {"entry-cost", CARROT_CONF_INT, OFF(entry_cost), "0", 0, 1000000000LL,
     "points per sweepstakes entry"},
    {"prizes", CARROT_CONF_STR, OFF(prizes), NULL, 0, 0,
     "sweepstakes prizes as JSON: [{\"prize\": \"e-bike\", \"weight\": 1}, {\"prize\": null, "
     "\"weight\": 999}]; \"points\": N credits points"},
    {"seed-file", CARROT_CONF_STR, OFF(seed_file), NULL, 0, 0,
     "file holding the sweepstakes' secret seed (written by sweepstakes-create)"},
    {"entries", CARROT_CONF_INT, OFF(entries), "1", 1, 100000, "sweepstakes entries to buy"},
    CARROT_CONF_END};

#define MAX_SETTINGS 20

/* One command: what --help says of it, the settings it needs (a string set
 * and not empty, a number above 0; checked in this order before it runs)
 * and the others it reads, and its function. log-level, log-format, and pg-dsn for a
 * command marked db, go with every one. */
typedef struct {
    const char *name;
    const char *summary;
    const char *needs[MAX_SETTINGS];
    const char *takes[MAX_SETTINGS];
    int db; /* connected to PostgreSQL (pg-dsn) before fn runs */
    ledger_command_fn fn;
} ledger_command_t;

static const ledger_command_t commands[] = {
    {.name = "migrate",
     .summary = "apply the ledger's schema migrations (safe to run twice)",
     .db = 1,
     .fn = ledger_cmd_migrate},
    {.name = "run",
     .summary = "book awards from Kafka into PostgreSQL, exactly once",
     .takes = {"brokers", "topic", "dlq-topic", "group", "instance", "pg-dsn", "batch-size",
               "batch-ms", "until-drained", "metrics-port", "metrics-listen", "drift-interval",
               "redis-host", "redis-port", "redis-timeout-ms", "activities-topic", "scorer-group",
               "fence-timeout-ms"},
     .fn = ledger_cmd_run},
    {.name = "balance",
     .summary = "a participant's balances",
     .needs = {"program", "participant"},
     .db = 1,
     .fn = ledger_cmd_balance},
    {.name = "statement",
     .summary = "a participant's history with running balance",
     .needs = {"program", "participant"},
     .db = 1,
     .fn = ledger_cmd_statement},
    {.name = "liability",
     .summary = "points outstanding per program (--program to pick one)",
     .takes = {"program"},
     .db = 1,
     .fn = ledger_cmd_liability},
    {.name = "catalog-set",
     .summary = "add or change an item, with its --price and --stock",
     .needs = {"program", "item", "name"},
     .takes = {"price", "stock"},
     .db = 1,
     .fn = ledger_cmd_catalog_set},
    {.name = "redeem",
     .summary = "reserve an item's price",
     .needs = {"program", "participant", "item"},
     .db = 1,
     .fn = ledger_cmd_redeem},
    {.name = "fulfil",
     .summary = "settle a redemption as delivered",
     .needs = {"redemption"},
     .db = 1,
     .fn = ledger_cmd_fulfil},
    {.name = "reject",
     .summary = "settle a redemption as refused, returning points",
     .needs = {"reason", "redemption"},
     .db = 1,
     .fn = ledger_cmd_reject},
    {.name = "expiry-set",
     .summary = "a program's expiry policy: --months after earning (0: never)",
     .needs = {"program"},
     .takes = {"months"},
     .db = 1,
     .fn = ledger_cmd_expiry_set},
    {.name = "expire",
     .summary = "expire points past the policy (--as-of, --program)",
     .takes = {"as-of", "program"},
     .db = 1,
     .fn = ledger_cmd_expire},
    {.name = "sweepstakes-create",
     .summary = "a spin-to-win, each entry for --entry-cost points",
     .needs = {"program", "sweepstakes", "name", "prizes", "seed-file"},
     .takes = {"entry-cost"},
     .db = 1,
     .fn = ledger_cmd_sweepstakes_create},
    {.name = "enter",
     .summary = "buy --entries (1 unless given)",
     .needs = {"program", "sweepstakes", "participant"},
     .takes = {"entries"},
     .db = 1,
     .fn = ledger_cmd_enter},
    {.name = "close",
     .summary = "end a sweepstakes' entries, publishing its entry list's hash",
     .needs = {"program", "sweepstakes"},
     .db = 1,
     .fn = ledger_cmd_close},
    {.name = "draw",
     .summary = "reveal the seed and draw a closed sweepstakes",
     .needs = {"program", "sweepstakes", "seed-file"},
     .db = 1,
     .fn = ledger_cmd_draw},
    {.name = "verify",
     .summary = "check the books; with --sweepstakes, re-check that draw",
     .takes = {"program", "sweepstakes"},
     .db = 1,
     .fn = ledger_cmd_verify},
    {.name = "reconcile",
     .summary = "hold the leaderboards in Redis against the ledger, counting the awards in flight; "
                "exit 3 when they differ",
     .takes = {"program", "brokers", "topic", "group", "redis-host", "redis-port",
               "redis-timeout-ms", "activities-topic", "scorer-group", "fence-timeout-ms"},
     .db = 1,
     .fn = ledger_cmd_reconcile},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char exit_codes[] = "Exit codes: 0 done, 1 failed, 2 bad usage, 3 refused (unknown, "
                                 "insufficient points, out of stock, a check failed).";

static const ledger_command_t *find_command(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static const carrot_conf_prop_t *find_prop(const char *name) {
    for (const carrot_conf_prop_t *p = props; p->name; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}

static int listed(const char *const *names, const char *name) {
    for (int i = 0; i < MAX_SETTINGS && names[i]; i++)
        if (strcmp(names[i], name) == 0) return 1;
    return 0;
}

/* Whether c reads setting name. */
static int takes(const ledger_command_t *c, const char *name) {
    return listed(c->needs, name) || listed(c->takes, name) || strcmp(name, "log-level") == 0 ||
           strcmp(name, "log-format") == 0 || (c->db && strcmp(name, "pg-dsn") == 0);
}

/* Appends printf-style text to buf (size bytes), truncating. */
__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t size, const char *fmt,
                                                         ...) {
    size_t len = strlen(buf);
    if (len + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* The program's usage: the commands, from the table. */
static void program_usage(char *buf, size_t size) {
    snprintf(buf, size,
             "usage: carrot-ledger COMMAND [settings]\n"
             "Books awards from Kafka into a double-entry ledger in PostgreSQL exactly once, and "
             "spends, expires, reports and audits the points; carrot-ledger COMMAND --help shows "
             "one command's settings.\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const ledger_command_t *c = &commands[i];
        append(buf, size, "  %-19s %s", c->name, c->summary);
        for (int k = 0; k < MAX_SETTINGS && c->needs[k]; k++)
            append(buf, size, "%s--%s", k ? " " : " (", c->needs[k]);
        append(buf, size, "%s\n", c->needs[0] ? ")" : "");
    }
    append(buf, size, "%s", exit_codes);
}

/* One command's usage: its synopsis with the settings it needs. */
static void command_usage(const ledger_command_t *c, char *buf, size_t size) {
    snprintf(buf, size, "usage: carrot-ledger %s", c->name);
    for (int k = 0; k < MAX_SETTINGS && c->needs[k]; k++) {
        char var[64];
        snprintf(var, sizeof(var), "%s", c->needs[k]);
        for (char *v = var; *v; v++) *v = *v == '-' ? '_' : (char)toupper((unsigned char)*v);
        append(buf, size, " --%s %s", c->needs[k], var);
    }
    /* the second line is the man page's one-line description: a sentence */
    append(buf, size, " [settings]\n%c%s.\n%s", toupper((unsigned char)c->summary[0]),
           c->summary + 1, exit_codes);
}

/* The --help flag asked for before any "--", as carrot_conf_parse_args()
 * reads it: -1 for none. --version wins, as it does there. */
static int help_format(int argc, char **argv) {
    int format = -1;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--version") == 0) return -1;
        if (format >= 0) continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) format = CARROT_HELP_TEXT;
        else if (strcmp(argv[i], "--help-markdown") == 0)
            format = CARROT_HELP_MARKDOWN;
        else if (strcmp(argv[i], "--help-man") == 0)
            format = CARROT_HELP_MAN;
    }
    return format;
}

/* `carrot-ledger CMD --help`: CMD's usage and only the settings it reads,
 * generated from both tables. */
static int command_help(const ledger_command_t *c, carrot_help_format_t format) {
    carrot_conf_prop_t mine[sizeof(props) / sizeof(props[0])];
    size_t n = 0;
    for (const carrot_conf_prop_t *p = props; p->name; p++)
        if (takes(c, p->name)) mine[n++] = *p;
    mine[n] = (carrot_conf_prop_t)CARROT_CONF_END;
    ledger_conf_t cf;
    char errstr[256], usage[1024];
    carrot_conf_t *conf = carrot_conf_new(mine, &cf, errstr, sizeof(errstr));
    if (!conf) {
        carrot_error("%s", errstr);
        return 1;
    }
    command_usage(c, usage, sizeof(usage));
    carrot_conf_print_help(conf, stdout, usage, format);
    carrot_conf_destroy(conf);
    return 0;
}

/* The README's reference starts with the commands, then the settings. */
static void print_commands_markdown(void) {
    printf("| command | needs | also reads | what it does |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const ledger_command_t *c = &commands[i];
        printf("| `%s` |", c->name);
        for (int k = 0; k < MAX_SETTINGS && c->needs[k]; k++)
            printf("%s`--%s`", k ? ", " : " ", c->needs[k]);
        printf(" |");
        const char *sep = " ";
        for (const carrot_conf_prop_t *p = props; p->name; p++)
            if (takes(c, p->name) && !listed(c->needs, p->name)) {
                printf("%s`--%s`", sep, p->name);
                sep = ", ";
            }
        printf(" | %s |\n", c->summary);
    }
    printf("\n");
}

static void on_signal(int sig) {
    (void)sig;
    carrot_ledger_stop = 1;
}

/* Checks what c needs, connects if it uses the database, and runs it. */
static int dispatch(const ledger_command_t *c, const carrot_conf_t *conf, const ledger_conf_t *cf) {
    for (int k = 0; k < MAX_SETTINGS && c->needs[k]; k++) {
        const carrot_conf_prop_t *p = find_prop(c->needs[k]);
        if (!p) { /* a mistake in the command table */
            carrot_error("%s needs \"%s\", which is no setting", c->name, c->needs[k]);
            return 1;
        }
        const char *base = (const char *)cf + p->offset;
        int set = p->type == CARROT_CONF_INT ? *(const long long *)base > 0
                                             : *(char *const *)base && **(char *const *)base;
        if (!set) {
            carrot_error("%s needs --%s", c->name, p->name);
            return 2;
        }
    }
    ledger_ctx_t ctx = {.conf = conf, .cf = cf, .pg = NULL};
    if (c->db && !(ctx.pg = carrot_ledger_connect(cf->pg, 1))) return 1;
    int exit_code = c->fn(&ctx);
    if (ctx.pg) PQfinish(ctx.pg);
    return exit_code;
}

int main(int argc, char **argv) {
    ledger_conf_t cf;
    int npos = 0, exit_code;
    int format = help_format(argc, argv);
    const ledger_command_t *c = argc > 1 ? find_command(argv[1]) : NULL;
    if (format >= 0 && c) return command_help(c, (carrot_help_format_t)format);
    if (format == CARROT_HELP_MARKDOWN) print_commands_markdown();
    char usage[4096];
    program_usage(usage, sizeof(usage));
    carrot_conf_t *conf = carrot_conf_init_program("carrot-ledger", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    if (npos != 1) {
        carrot_error("expected one command (see --help)");
        carrot_conf_destroy(conf);
        return 2;
    }
    if (!(c = find_command(argv[1]))) {
        carrot_error("unknown command \"%s\" (see --help)", argv[1]);
        carrot_conf_destroy(conf);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a write to a Redis that went away fails with EPIPE, reported and
     * retried; hiredis does not ask the kernel to spare the process */
    signal(SIGPIPE, SIG_IGN);
    exit_code = dispatch(c, conf, &cf);
    carrot_conf_destroy(conf);
    return exit_code;
}
