/* carrot-report: adoption analytics. `run` keeps the adoption facts in
 * PostgreSQL from the activity, award, participant and dead-letter topics
 * (run.c); `adoption` prints the adoption report; `partitions` drops or
 * detaches old months. This file holds the settings and the commands. */
#include "carrot/log.h"
#include "prog.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(report_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"group", CARROT_CONF_STR, OFF(group), "carrot-report", 0, 0,
     "run: Kafka consumer group (where it starts; what is applied is kept in PostgreSQL)"},
    {"instance", CARROT_CONF_STR, OFF(instance), NULL, 0, 0,
     "run: stable name of this member (group.instance.id); default: the host name"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string of the ledger's database"},
    {"activities-topic", CARROT_CONF_STR, OFF(activities_topic), "crm.activities", 0, 0,
     "run: topic of CRM activities"},
    {"awards-topic", CARROT_CONF_STR, OFF(awards_topic), "carrot.awards", 0, 0,
     "run: topic of awards (the points of each day)"},
    {"participants-topic", CARROT_CONF_STR, OFF(participants_topic), "carrot.participants", 0, 0,
     "run: compacted topic of participants (who is eligible)"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "crm.activities.dlq", 0, 0,
     "run: dead-letter topic of the activity feed (what was refused, and why)"},
    {"rules-topic", CARROT_CONF_STR, OFF(rules_topic), "carrot.rules", 0, 0,
     "run: compacted topic of every program's rules (time zone, bands, quality and timeliness)"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "5000", 1, 1000000,
     "run: most messages folded in one transaction"},
    {"batch-ms", CARROT_CONF_INT, OFF(batch_ms), "200", 1, 60000,
     "run: longest wait to fill a batch, in milliseconds"},
    {"until-drained", CARROT_CONF_BOOL, OFF(until_drained), "false", 0, 0,
     "run: exit once every assigned partition is read to its end (batch runs, tests)"},
    {"reread", CARROT_CONF_BOOL, OFF(reread), "false", 0, 0,
     "run: read every partition from its start; what the facts hold already is skipped (a check "
     "that a replay moves nothing)"},
    {"program", CARROT_CONF_STR, OFF(program), NULL, 0, 0, "adoption: the program (required)"},
    {"period", CARROT_CONF_STR, OFF(period), "week", 0, 0, "adoption: day, week, month or quarter"},
    {"periods", CARROT_CONF_INT, OFF(periods), "8", 1, 104,
     "adoption: how many periods, the last one holding --at"},
    {"at", CARROT_CONF_STR, OFF(at), NULL, 0, 0,
     "adoption: a day (YYYY-MM-DD) of the last period shown; default today in the program's time "
     "zone"},
    {"segment", CARROT_CONF_STR, OFF(segment), NULL, 0, 0, "adoption: only this segment"},
    {"band", CARROT_CONF_STR, OFF(band), NULL, 0, 0, "adoption: only this maturity band"},
    {"team", CARROT_CONF_STR, OFF(team), NULL, 0, 0, "adoption: only this team or dealer"},
    {"format", CARROT_CONF_STR, OFF(format), "text", 0, 0, "adoption: text, json or csv"},
    {"drop-before", CARROT_CONF_STR, OFF(drop_before), NULL, 0, 0,
     "partitions: drop the months wholly before this day (YYYY-MM-DD)"},
    {"detach", CARROT_CONF_BOOL, OFF(detach), "false", 0, 0,
     "partitions: detach those months and keep them as plain tables (to archive) instead"},
    CARROT_CONF_METRICS_ROWS(report_conf_t),
    CARROT_CONF_LOG_ROWS(report_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-report run [--until-drained] [--reread]\n"
    "       carrot-report adoption --program P [--period day|week|month|quarter] [--periods N]\n"
    "                              [--at YYYY-MM-DD] [--segment S] [--band B] [--team T]\n"
    "                              [--format text|json|csv]\n"
    "       carrot-report partitions [--drop-before YYYY-MM-DD [--detach]]\n"
    "Adoption analytics: run keeps the facts (who logged what, how complete and how timely) in "
    "PostgreSQL exactly once; adoption reports them per segment, band, team and period; "
    "partitions lists the monthly partitions or drops old ones. Exit codes: 0 done, 1 failed, 2 "
    "bad usage, 3 refused (an unknown program, period, segment, band or team).";

volatile sig_atomic_t report_stop;

static void notice_cb(void *arg, const char *msg) {
    (void)arg;
    carrot_debug("postgres: %s", msg);
}

static PGconn *connect_pg(const report_conf_t *cf) {
    PGconn *pg = PQconnectdb(cf->pg_dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        char errstr[512];
        carrot_pg_error(pg, "could not connect to PostgreSQL", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, notice_cb, NULL);
    return pg;
}

static int exit_of(carrot_ledger_err_t rc, const char *errstr) {
    if (rc != CARROT_LEDGER_OK) carrot_error("%s", errstr);
    return rc == CARROT_LEDGER_OK ? 0 : rc == CARROT_LEDGER_REFUSED ? 3 : 1;
}

static int cmd_adoption(const report_conf_t *cf) {
    carrot_report_format_t format;
    if (strcmp(cf->format, "text") == 0) format = CARROT_REPORT_TEXT;
    else if (strcmp(cf->format, "json") == 0)
        format = CARROT_REPORT_JSON;
    else if (strcmp(cf->format, "csv") == 0)
        format = CARROT_REPORT_CSV;
    else {
        carrot_error("--format: expected text, json or csv, not \"%s\"", cf->format);
        return 2;
    }
    if (!cf->program || !*cf->program) {
        carrot_error("adoption needs --program");
        return 2;
    }
    PGconn *pg = connect_pg(cf);
    if (!pg) return 1;
    carrot_report_query_t q = {cf->program, cf->period, cf->segment,     cf->band,
                               cf->team,    cf->at,     (int)cf->periods};
    char errstr[1024], *out = NULL;
    carrot_ledger_err_t rc = carrot_report_adoption(pg, &q, format, &out, errstr, sizeof(errstr));
    if (!rc) fputs(out, stdout);
    if (!rc && format == CARROT_REPORT_JSON) fputc('\n', stdout);
    free(out);
    PQfinish(pg);
    return exit_of(rc, errstr);
}

static int cmd_partitions(const report_conf_t *cf) {
    PGconn *pg = connect_pg(cf);
    if (!pg) return 1;
    char errstr[1024];
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (cf->drop_before) {
        int n = 0;
        rc = carrot_facts_drop_before(pg, cf->drop_before, cf->detach, &n, errstr, sizeof(errstr));
        if (!rc)
            carrot_info("%s %d month partition%s before %s", cf->detach ? "detached" : "dropped", n,
                        n == 1 ? "" : "s", cf->drop_before);
    }
    if (!rc) {
        PGresult *r = PQexec(pg, "SELECT c.relname, pg_total_relation_size(c.oid), "
                                 "  pg_get_expr(c.relpartbound, c.oid) "
                                 "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                 "WHERE i.inhparent = 'adoption_facts'::regclass ORDER BY 1");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = carrot_pg_failure(pg, r, "listing partitions", errstr, sizeof(errstr));
        } else {
            for (int i = 0; i < PQntuples(r); i++)
                printf("%s\t%s bytes\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                       PQgetvalue(r, i, 2));
        }
        PQclear(r);
    }
    PQfinish(pg);
    return exit_of(rc, errstr);
}

int main(int argc, char **argv) {
    report_conf_t cf;
    int npos = 0, exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-report", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 2;
    if (npos != 1) carrot_error("expected one command (see --help)");
    else if (strcmp(argv[1], "run") == 0)
        exit_code = report_run(conf, &cf);
    else if (strcmp(argv[1], "adoption") == 0)
        exit_code = cmd_adoption(&cf);
    else if (strcmp(argv[1], "partitions") == 0)
        exit_code = cmd_partitions(&cf);
    else
        carrot_error("unknown command \"%s\" (see --help)", argv[1]);
    carrot_conf_destroy(conf);
    return exit_code;
}
