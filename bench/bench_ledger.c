/* bench_ledger: awards booked per second by carrot-ledger (from a pre-filled
 * carrot.awards-shaped topic into the double-entry book), against a plain
 * COPY of the same rows into tables shaped like the ones the ledger writes
 * (awards, journal, entries: one award, one transaction and two entries per
 * award, with the same keys and unique constraints; no entries-to-journal
 * foreign key, as the ledger has none since migration 005), in the same
 * run, the same batch size, each batch committed. Each round runs both in a
 * fresh database (so both start empty), alternating which goes first. The
 * ledger's extra work is decoding from Kafka, skipping awards already booked,
 * the balance upsert and the offsets. Also reports the ledger's peak memory.
 * Needs the services of deploy/services.sh and a role that may CREATE DATABASE. */
#include "carrot/award.h"
#include "carrot/config.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char *brokers, *pg;
    long long awards, participants, batch, partitions, rounds;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg), "host=127.0.0.1 port=15432 dbname=carrot user=carrot", 0,
     0, "PostgreSQL connection string"},
    {"awards", CARROT_CONF_INT, OFF(awards), "200000", 1000, 100000000, "awards to book"},
    {"participants", CARROT_CONF_INT, OFF(participants), "2000", 1, 10000000,
     "distinct participants"},
    {"batch", CARROT_CONF_INT, OFF(batch), "5000", 1, 1000000, "rows per transaction, both sides"},
    {"partitions", CARROT_CONF_INT, OFF(partitions), "6", 1, 1000, "partitions of the bench topic"},
    {"rounds", CARROT_CONF_INT, OFF(rounds), "2", 1, 100,
     "rounds, each in a fresh database, alternating which side runs first"},
    CARROT_CONF_END};

static int die(const char *what) {
    carrot_error("%s", what);
    exit(1);
}

static void create_topic(rd_kafka_t *rk, const char *topic, int partitions) {
    char errstr[512];
    if (carrot_kafka_create_topic(rk, topic, partitions, NULL, errstr, sizeof(errstr))) die(errstr);
}

/* Row i of the bench, as an award and as its COPY line. */
static void award_of(long long i, const bench_conf_t *cf, const char *program, char *id, char *who,
                     carrot_award_t *a) {
    sprintf(id, "b-%lld", i);
    sprintf(who, "p%06lld", i % cf->participants);
    *a = (carrot_award_t){.award_id = id,
                          .program_id = program,
                          .event_id = id,
                          .participant_id = who,
                          .segment = "dealer",
                          .activity_type = "call",
                          .rule_id = "base.call",
                          .rules_version = "bench",
                          .points = 1 + i % 50,
                          .occurred_at = 1793628180000LL,
                          .awarded_at = 1793628180000LL};
}

static void run_child(char *const argv[], int out_fd) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (out_fd >= 0) dup2(out_fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) die("carrot-ledger migrate failed");
}

static void migrate(const char *dsn) {
    char *argv[] = {CARROT_LEDGER_BIN, "migrate", "--log-level", "warn", NULL};
    setenv("CARROT_PG_DSN", dsn, 1);
    run_child(argv, -1);
}

/* carrot-ledger run over the whole topic into dsn's database: its busy time in ms. */
static long long ledger_run(const bench_conf_t *cf, const char *dsn, const char *topic,
                            const char *group, long *rss_kib) {
    char batch[24];
    snprintf(batch, sizeof(batch), "%lld", cf->batch);
    setenv("CARROT_BROKERS", cf->brokers, 1);
    setenv("CARROT_PG_DSN", dsn, 1);
    char *run[] = {
        CARROT_LEDGER_BIN, "run",          "--topic", (char *)topic, "--group", (char *)group,
        "--until-drained", "--batch-size", batch,     "--log-level", "warn",    NULL};
    int fds[2];
    if (pipe(fds)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv(run[0], run);
        _exit(127);
    }
    close(fds[1]);
    char out[512] = "";
    ssize_t got = read(fds[0], out, sizeof(out) - 1);
    out[got > 0 ? got : 0] = '\0';
    close(fds[0]);
    struct rusage ru;
    int status;
    wait4(pid, &status, 0, &ru);
    const char *busy = strstr(out, "\"busy_ms\":"), *booked = strstr(out, "\"booked\":");
    if (!WIFEXITED(status) || WEXITSTATUS(status) || !busy || !booked)
        die("carrot-ledger run failed");
    if (atoll(booked + 9) != cf->awards) die("carrot-ledger did not book every award");
    *rss_kib = ru.ru_maxrss;
    return atoll(busy + 10);
}

static const char *const tables[] = {"awards", "journal", "entries"};

/* Tables shaped like the ledger's, with the same keys and unique constraints
 * (LIKE ... INCLUDING ALL). No foreign key: the ledger's entries have none
 * since migration 005 (`carrot-ledger verify` checks every entry has its
 * journal transaction instead), so the baseline pays for none either. */
static void copy_tables(PGconn *pg, const char *program) {
    char sql[1024];
    for (int t = 0; t < 3; t++) {
        snprintf(sql, sizeof(sql), "CREATE TABLE \"%s_%s\" (LIKE %s INCLUDING ALL)", program,
                 tables[t], tables[t]);
        PGresult *r = PQexec(pg, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQerrorMessage(pg));
        PQclear(r);
    }
}

/* The baseline: a plain COPY of the same rows, in the same batches, each
 * committed. Returns the time in ms. */
static long long copy_rows(PGconn *pg, const bench_conf_t *cf, const char *program) {
    static const char award_columns[] =
        "award_id, program_id, event_id, participant_id, segment, team_id, region, activity_type,"
        " rule_id, rules_version, points, occurred_at, awarded_at, source_partition, source_offset";
    static const char *const columns[] = {
        award_columns, "txn_id, program_id, kind, ref, participant_id", "txn_id, account, amount"};
    char sql[1024];
    size_t cap = (size_t)cf->batch * 256;
    char *bufs[3] = {malloc(cap), malloc(cap), malloc(cap)};
    if (!bufs[0] || !bufs[1] || !bufs[2]) die("out of memory");
    int64_t t0 = carrot_time_mono_ms();
    for (long long i = 0; i < cf->awards;) {
        size_t lens[3] = {0, 0, 0};
        for (long long end = i + cf->batch; i < end && i < cf->awards; i++) {
            char id[32], who[32];
            carrot_award_t a;
            award_of(i, cf, program, id, who, &a);
            lens[0] += (size_t)snprintf(
                bufs[0] + lens[0], cap - lens[0],
                "%s\t%s\t%s\t%s\tdealer\t\\N\t\\N\tcall\tbase.call\tbench\t"
                "%lld\t2026-11-02T14:03:00Z\t2026-11-02T14:03:00Z\t0\t%lld\n",
                a.award_id, a.program_id, a.event_id, a.participant_id, (long long)a.points, i);
            lens[1] += (size_t)snprintf(bufs[1] + lens[1], cap - lens[1],
                                        "%lld\t%s\taward\t%s\t%s\n", i + 1, a.program_id,
                                        a.award_id, a.participant_id);
            lens[2] += (size_t)snprintf(bufs[2] + lens[2], cap - lens[2],
                                        "%lld\twallet\t%lld\n%lld\tbudget\t%lld\n", i + 1,
                                        (long long)a.points, i + 1, -(long long)a.points);
        }
        PQclear(PQexec(pg, "BEGIN"));
        for (int t = 0; t < 3; t++) {
            snprintf(sql, sizeof(sql), "COPY \"%s_%s\" (%s) FROM STDIN", program, tables[t],
                     columns[t]);
            PGresult *r = PQexec(pg, sql);
            if (PQresultStatus(r) != PGRES_COPY_IN ||
                PQputCopyData(pg, bufs[t], (int)lens[t]) != 1 || PQputCopyEnd(pg, NULL) != 1)
                die(PQerrorMessage(pg));
            PQclear(r);
            while ((r = PQgetResult(pg))) {
                if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQerrorMessage(pg));
                PQclear(r);
            }
        }
        PQclear(PQexec(pg, "COMMIT"));
    }
    for (int t = 0; t < 3; t++) free(bufs[t]);
    return carrot_time_mono_ms() - t0;
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    char errstr[512], program[64], topic[96], group[96];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("bench_ledger", props, &cf, argc, argv, NULL,
                                                   "usage: bench_ledger [settings]", &exit_code);
    if (!conf) return exit_code;
    snprintf(program, sizeof(program), "bench-%d-%lld", (int)getpid(),
             (long long)carrot_time_now_ms() % 100000);
    snprintf(topic, sizeof(topic), "%s.awards", program);
    snprintf(group, sizeof(group), "%s.ledger", program);

    /* 1. a topic filled with the awards (not timed) */
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf.brokers, NULL, errstr, sizeof(errstr));
    carrot_kafka_set(k, "linger.ms", "50", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr));
    if (!rk) die(errstr);
    create_topic(rk, topic, (int)cf.partitions);
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    for (long long i = 0; i < cf.awards; i++) {
        char id[32], who[32];
        carrot_award_t a;
        award_of(i, &cf, program, id, who, &a);
        if (carrot_kafka_produce_award(rk, codec, topic, &a, NULL, 0, -1, errstr, sizeof(errstr)))
            die(errstr); /* keyed by participant (who), as the scorer writes them */
    }
    if (rd_kafka_flush(rk, 120000)) die("could not fill the bench topic");
    rd_kafka_destroy(rk);

    /* 2. rounds: in each, a fresh database, so the ledger and the COPY both start from
     * empty tables with the same indexes and constraints; the first round times the COPY
     * first, the next the ledger first (whichever goes second finds warmer caches) */
    long long ledger_ms = 0, copy_ms = 0;
    long peak_rss = 0;
    PGconn *admin = PQconnectdb(cf.pg);
    if (PQstatus(admin) != CONNECTION_OK) die(PQerrorMessage(admin));
    for (long long round = 0; round < cf.rounds; round++) {
        char db[96], dsn[1024], sql[256], rgroup[128];
        snprintf(db, sizeof(db), "%s_r%lld", program, round);
        for (char *c = db; *c; c++)
            if (*c == '-') *c = '_';
        snprintf(dsn, sizeof(dsn), "%s dbname=%s", cf.pg, db); /* the last dbname wins */
        snprintf(rgroup, sizeof(rgroup), "%s.r%lld", group, round);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
        PGresult *r = PQexec(admin, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQerrorMessage(admin));
        PQclear(r);
        migrate(dsn);
        PGconn *pg = PQconnectdb(dsn);
        if (PQstatus(pg) != CONNECTION_OK) die(PQerrorMessage(pg));
        copy_tables(pg, program);
        long long c = 0, l = 0;
        long rss = 0;
        if (round % 2 == 0) {
            c = copy_rows(pg, &cf, program);
            l = ledger_run(&cf, dsn, topic, rgroup, &rss);
        } else {
            l = ledger_run(&cf, dsn, topic, rgroup, &rss);
            c = copy_rows(pg, &cf, program);
        }
        PQfinish(pg);
        snprintf(sql, sizeof(sql), "DROP DATABASE %s", db);
        PQclear(PQexec(admin, sql));
        printf("round %lld (%s first): ledger %lld ms, COPY %lld ms, ratio %.2f\n", round + 1,
               round % 2 ? "ledger" : "COPY", l, c, (double)c / (double)(l ? l : 1));
        ledger_ms += l;
        copy_ms += c;
        if (rss > peak_rss) peak_rss = rss;
    }
    PQfinish(admin);
    cf.awards *= cf.rounds; /* the rates below are over every round */

    double ledger_rate = cf.awards * 1000.0 / (double)(ledger_ms ? ledger_ms : 1);
    double copy_rate = cf.awards * 1000.0 / (double)(copy_ms ? copy_ms : 1);
    printf("ledger:   %lld awards booked in %lld ms = %.0f awards/s (peak RSS %ld MiB)\n",
           cf.awards, ledger_ms, ledger_rate, peak_rss / 1024);
    printf("baseline: %lld awards as plain COPY rows (award, journal, 2 entries; the same keys"
           " and unique constraints, and no entries-to-journal foreign key, as in the ledger since"
           " migration 005) in %lld ms = %.0f awards/s\n",
           cf.awards, copy_ms, copy_rate);
    printf("ratio:    %.2f of plain COPY (batches of %lld rows, each committed)\n",
           ledger_rate / copy_rate, cf.batch);
    printf("{\"bench\":\"ledger\",\"awards\":%lld,\"ledger_awards_per_s\":%.0f,"
           "\"copy_awards_per_s\":%.0f,\"ratio\":%.3f,\"ledger_peak_rss_kib\":%ld}\n",
           cf.awards, ledger_rate, copy_rate, ledger_rate / copy_rate, peak_rss);
    carrot_codec_destroy(codec);
    carrot_conf_destroy(conf);
    return 0;
}
