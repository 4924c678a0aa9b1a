/* carrot-ledger: the points ledger in PostgreSQL. `run` books every award
 * from carrot.awards exactly once into a double-entry book (run.c, book.c);
 * the other commands spend, expire, report and audit points. */
#include "carrot/audit.h"
#include "carrot/draw.h"
#include "carrot/log.h"
#include "carrot/migrate.h"
#include "carrot/report.h"
#include "carrot/wallet.h"
#include "ledger.h"

#include <signal.h>
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
    {"log-level", CARROT_CONF_STR, OFF(log_level), "info", 0, 0, "error, warn, info or debug"},
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

static const char usage[] =
    "usage: carrot-ledger COMMAND [settings]\n"
    "  migrate             apply the ledger's schema migrations (safe to run twice)\n"
    "  run                 book awards from Kafka into PostgreSQL, exactly once\n"
    "  balance             a participant's balances (--program --participant)\n"
    "  statement           a participant's history with running balance\n"
    "  liability           points outstanding per program (--program to pick one)\n"
    "  catalog-set         add or change an item (--program --item --name --price --stock)\n"
    "  redeem              reserve an item's price (--program --participant --item)\n"
    "  fulfil              settle a redemption as delivered (--redemption)\n"
    "  reject              settle a redemption as refused, returning points (--redemption --reason)\n"
    "  expiry-set          a program's expiry policy (--program --months)\n"
    "  expire              expire points past the policy (--as-of, --program)\n"
    "  sweepstakes-create  a spin-to-win (--program --sweepstakes --name --entry-cost --prizes "
    "--seed-file)\n"
    "  enter               buy entries (--program --sweepstakes --participant --entries)\n"
    "  close               end a sweepstakes' entries, publishing its entry list's hash\n"
    "  draw                reveal the seed and draw a closed sweepstakes (--seed-file)\n"
    "  verify              check the books; with --sweepstakes, re-check that draw\n"
    "Exit codes: 0 done, 1 failed, 2 bad usage, 3 refused (unknown, insufficient points, out of "
    "stock, a check failed).";

static void on_signal(int sig) {
    (void)sig;
    carrot_ledger_stop = 1;
}

static int wallet_exit(carrot_wallet_err_t rc, const char *errstr) {
    if (rc != CARROT_WALLET_OK) carrot_error("%s", errstr);
    return rc == CARROT_WALLET_OK ? 0 : rc == CARROT_WALLET_REFUSED ? 3 : 1;
}

static int command(const char *cmd, const carrot_conf_t *conf, ledger_conf_t *cf) {
    char errstr[1024];
    carrot_wallet_err_t rc;
    if (strcmp(cmd, "run") == 0) return carrot_ledger_run(conf, cf);

    static const struct {
        const char *cmd;
        const char *need[6];
    } needs[] = {
        {"balance", {"program", "participant"}},
        {"statement", {"program", "participant"}},
        {"catalog-set", {"program", "item", "name"}},
        {"redeem", {"program", "participant", "item"}},
        {"reject", {"reason"}},
        {"expiry-set", {"program"}},
        {"sweepstakes-create", {"program", "sweepstakes", "name", "prizes", "seed-file"}},
        {"enter", {"program", "sweepstakes", "participant"}},
        {"close", {"program", "sweepstakes"}},
        {"draw", {"program", "sweepstakes", "seed-file"}},
    };
    const char *known[] = {
        "migrate", "balance", "statement",  "liability", "catalog-set",        "redeem",
        "fulfil",  "reject",  "expiry-set", "expire",    "sweepstakes-create", "enter",
        "close",   "draw",    "verify"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) ok |= strcmp(cmd, known[i]) == 0;
    if (!ok) {
        carrot_error("unknown command \"%s\" (see --help)", cmd);
        return 2;
    }
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        if (strcmp(cmd, needs[i].cmd) != 0) continue;
        for (int k = 0; k < 6 && needs[i].need[k]; k++) {
            const char *n = needs[i].need[k];
            const char *v = strcmp(n, "program") == 0       ? cf->program
                            : strcmp(n, "participant") == 0 ? cf->participant
                            : strcmp(n, "item") == 0        ? cf->item
                            : strcmp(n, "name") == 0        ? cf->name
                            : strcmp(n, "reason") == 0      ? cf->reason
                            : strcmp(n, "sweepstakes") == 0 ? cf->sweepstakes
                            : strcmp(n, "prizes") == 0      ? cf->prizes
                                                            : cf->seed_file;
            if (!v || !*v) {
                carrot_error("%s needs --%s", cmd, n);
                return 2;
            }
        }
    }
    if ((strcmp(cmd, "fulfil") == 0 || strcmp(cmd, "reject") == 0) && cf->redemption <= 0) {
        carrot_error("%s needs --redemption", cmd);
        return 2;
    }

    PGconn *pg = carrot_ledger_connect(cf->pg, 1);
    if (!pg) return 1;
    int exit_code = 0;
    if (strcmp(cmd, "migrate") == 0) {
        int applied = 0;
        if (carrot_ledger_migrate(pg, &applied, errstr, sizeof(errstr)) == 0)
            carrot_info("schema at version %d (%d migrations applied)",
                        carrot_ledger_schema_version(), applied);
        else {
            carrot_error("%s", errstr);
            exit_code = 1;
        }
    } else if (strcmp(cmd, "balance") == 0) {
        int r = carrot_report_balance(pg, cf->program, cf->participant, stdout);
        exit_code = r < 0 ? 1 : r ? 3 : 0;
    } else if (strcmp(cmd, "statement") == 0) {
        int r = carrot_report_statement(pg, cf->program, cf->participant, stdout);
        exit_code = r < 0 ? 1 : r ? 3 : 0;
    } else if (strcmp(cmd, "liability") == 0) {
        exit_code = carrot_report_liability(pg, cf->program, stdout) ? 1 : 0;
    } else if (strcmp(cmd, "catalog-set") == 0) {
        rc = carrot_wallet_catalog_set(pg, cf->program, cf->item, cf->name, cf->price, cf->stock,
                                       errstr, sizeof(errstr));
        if (!rc)
            printf("item %s: %s, %lld points, %lld in stock\n", cf->item, cf->name, cf->price,
                   cf->stock);
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "redeem") == 0) {
        int64_t id = 0;
        rc = carrot_wallet_redeem(pg, cf->program, cf->participant, cf->item, &id, errstr,
                                  sizeof(errstr));
        if (!rc) printf("redemption %lld pending\n", (long long)id);
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "fulfil") == 0 || strcmp(cmd, "reject") == 0) {
        int fulfil = cmd[0] == 'f';
        rc = carrot_wallet_settle(pg, cf->redemption, fulfil, cf->reason, errstr, sizeof(errstr));
        if (!rc) printf("redemption %lld %s\n", cf->redemption, fulfil ? "fulfilled" : "rejected");
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "expiry-set") == 0) {
        rc = carrot_wallet_set_expiry(pg, cf->program, (int)cf->months, errstr, sizeof(errstr));
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "expire") == 0) {
        long long points = 0, people = 0;
        rc = carrot_wallet_expire(pg, cf->program, cf->as_of, &points, &people, errstr,
                                  sizeof(errstr));
        if (!rc) printf("expired %lld points of %lld participants\n", points, people);
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "sweepstakes-create") == 0) {
        rc = carrot_draw_create(pg, cf->program, cf->sweepstakes, cf->name, cf->entry_cost,
                                cf->prizes, cf->seed_file, errstr, sizeof(errstr));
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "enter") == 0) {
        int first = 0;
        rc = carrot_draw_enter(pg, cf->program, cf->sweepstakes, cf->participant, (int)cf->entries,
                               &first, errstr, sizeof(errstr));
        if (!rc) printf("entries %d to %d\n", first, first + (int)cf->entries - 1);
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "close") == 0) {
        rc = carrot_draw_close(pg, cf->program, cf->sweepstakes, errstr, sizeof(errstr));
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "draw") == 0) {
        rc = carrot_draw_run(pg, cf->program, cf->sweepstakes, cf->seed_file, errstr,
                             sizeof(errstr));
        exit_code = wallet_exit(rc, errstr);
    } else if (strcmp(cmd, "verify") == 0) {
        if (cf->sweepstakes) {
            long long n = 0, w = 0;
            if (!cf->program) {
                carrot_error("verify --sweepstakes needs --program");
                exit_code = 2;
            } else {
                rc = carrot_draw_verify(pg, cf->program, cf->sweepstakes, &n, &w, errstr,
                                        sizeof(errstr));
                if (!rc)
                    printf("draw of %s verified: %lld entries, %lld winners\n", cf->sweepstakes, n,
                           w);
                exit_code = wallet_exit(rc, errstr);
            }
        } else {
            int failed = carrot_audit_books(pg, stdout);
            exit_code = failed < 0 ? 1 : failed ? 3 : 0;
        }
    }
    PQfinish(pg);
    return exit_code;
}

int main(int argc, char **argv) {
    ledger_conf_t cf;
    int npos = 0, exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-ledger", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    if (npos != 1) {
        carrot_error("expected one command (see --help)");
        carrot_conf_destroy(conf);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    exit_code = command(argv[1], conf, &cf);
    carrot_conf_destroy(conf);
    return exit_code;
}
