/* bench_commit: what a period's close and a supervisor's follow-up list
 * cost, each against plain SQL of the same rows in the same run.
 *
 * Set-up, under a program of the bench's own: --people participants in the
 * directory (one supervisor of 50 supervisors of 100 people each, so 5,050
 * under them; the rest under supervisors of 100), a week's figures of three
 * commitments in Redis as the scorer writes them (a count of calls, a count
 * of meetings, a share of complete call records).
 *   1. settle: carrot_commit_close() of the three commitments (directory,
 *      figures and terms read, COPY, INSERT ... ON CONFLICT DO NOTHING):
 *      3 x --people settlements; no consequences, so no awards. Baseline: a
 *      plain INSERT ... SELECT of the same rows into the same table.
 *   2. follow-ups: carrot_commit_followups() of the 5,050 people, --queries
 *      times: p50 and p99. Baseline: a plain SELECT of the same misses.
 * Reports seconds, rows per second and the ratios; peak RSS. Asserts nothing
 * about timing. Needs deploy/services.sh's Redis and PostgreSQL; removes its
 * rows and keys at the end. */
#include "carrot/commitments.h"
#include "carrot/config.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *redis_host, *pg_dsn, *log_level, *log_format;
    long long redis_port, people, queries;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string"},
    {"people", CARROT_CONF_INT, OFF(people), "100000", 6000, 10000000,
     "participants settled (3 commitments each)"},
    {"queries", CARROT_CONF_INT, OFF(queries), "200", 10, 100000, "follow-up list queries timed"},
    CARROT_CONF_LOG_ROWS(bench_conf_t),
    CARROT_CONF_END};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "bench_commit: %s: %s\n", what, why);
    exit(1);
}

static void exec_ok(PGconn *pg, const char *sql, int n, const char *const *params) {
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(sql, PQerrorMessage(pg));
    PQclear(r);
}

/* The participant id of index i, and who their supervisor is. */
static void who(long i, char *buf, size_t size) { snprintf(buf, size, "u%07ld", i); }

/* Person i of the directory, from -1 - people / 100 up: the supervisors t00050
 * and up (of 100 people each, from u0005000), then the 50 supervisors s000 to
 * s049 under "big" (-51 to -2; of u0000000 to u0004999), "big" (-1), and the
 * people u<i> (0 and up). */
static void person(long i, char *id, size_t size, char *boss, size_t boss_size) {
    boss[0] = '\0';
    if (i >= 0) {
        who(i, id, size);
        if (i < 5000) snprintf(boss, boss_size, "s%03ld", i / 100);
        else
            snprintf(boss, boss_size, "t%05ld", i / 100);
    } else if (i == -1) {
        snprintf(id, size, "big");
    } else if (i >= -51) {
        snprintf(id, size, "s%03ld", -i - 2);
        snprintf(boss, boss_size, "big");
    } else {
        snprintf(id, size, "t%05ld", -i - 52 + 50);
    }
}

static void quiet(void *arg, const char *msg) { /* "already exists, skipping" */
    (void)arg;
    (void)msg;
}

static int count_row(void *opaque, const carrot_followup_row_t *row) {
    (void)row;
    ++*(long *)opaque;
    return 0;
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    int exit_code;
    char errstr[512], program[64], rules_text[2048];
    carrot_conf_t *conf = carrot_conf_init_program(
        "bench_commit", props, &cf, argc, argv, NULL,
        "usage: bench_commit [settings]\nTimes a period's close and a follow-up list against "
        "plain SQL of the same rows.",
        &exit_code);
    if (!conf) return exit_code;
    snprintf(program, sizeof(program), "bc-%d", (int)getpid());
    snprintf(rules_text, sizeof(rules_text),
             "program: %s\nversion: v1\ntimezone: UTC\npoints: {call: 1, meeting: 2}\n"
             "quality:\n  - {id: call_record, when: {activity: call}, require: [disposition]}\n"
             "commitments:\n"
             "  - {id: calls, period: week, metric: {count: call}, target: 3}\n"
             "  - {id: meetings, period: week, metric: {count: meeting}, target: 1}\n"
             "  - {id: complete, period: week, metric: {complete: call_record}, target: 50}\n",
             program);
    carrot_rules_t *rules = carrot_rules_parse(rules_text, strlen(rules_text), "bench", errstr,
                                               sizeof(errstr));
    if (!rules) die("rules", errstr);
    PGconn *pg = PQconnectdb(cf.pg_dsn);
    if (PQstatus(pg) != CONNECTION_OK) die("PostgreSQL", PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet, NULL);
    int applied;
    if (carrot_ledger_migrate(pg, &applied, errstr, sizeof(errstr)) != CARROT_LEDGER_OK)
        die("migrate", errstr);
    redisContext *rc = redisConnect(cf.redis_host, (int)cf.redis_port);
    if (!rc || rc->err) die("Redis", rc ? rc->errstr : "out of memory");
    carrot_directory_t *dir = carrot_directory_new(cf.redis_host, (int)cf.redis_port, 30000);
    carrot_board_t *board = carrot_board_new(cf.redis_host, (int)cf.redis_port, 30000);

    /* last week, and the set-up: the directory, then the figures, pipelined */
    char period[32];
    int64_t week_ago = carrot_time_now_ms() - 7 * 86400000LL;
    carrot_period_of(CARROT_PERIOD_WEEK, week_ago, "UTC", period, sizeof(period), NULL);
    double t0 = now_s();
    long people = (long)cf.people;
    srand(7);
    for (long i = -1 - people / 100; i < people; i++) {
        carrot_participant_t p;
        carrot_participant_init(&p);
        snprintf(p.program_id, sizeof(p.program_id), "%s", program);
        person(i, p.participant_id, sizeof(p.participant_id), p.supervisor_id,
               sizeof(p.supervisor_id));
        snprintf(p.segment, sizeof(p.segment), "dealer");
        p.updated_at_ms = 1764547200000LL; /* 2025-12-01 */
        int stored;
        if (carrot_directory_put(dir, &p, &stored, errstr, sizeof(errstr)) != CARROT_DIRECTORY_OK)
            die("directory", errstr);
    }
    const char *keys[] = {"calls", "meetings", "complete"};
    for (long i = 0; i < people; i++) {
        char id[32];
        who(i, id, sizeof(id));
        for (int k = 0; k < 3; k++)
            redisAppendCommand(rc, "HSET carrot:{%s}:cm:%s:%s n\x1f%s %d", program, keys[k], period,
                               id, rand() % 6);
        redisAppendCommand(rc, "HSET carrot:{%s}:cm:complete:%s d\x1f%s %d", program, period, id,
                           1 + rand() % 6);
    }
    for (long i = 0; i < people * 4; i++) {
        redisReply *r;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK) die("Redis", rc->errstr);
        freeReplyObject(r);
    }
    double setup = now_s() - t0;

    /* 1. settle */
    carrot_close_report_t rep;
    long settled = 0;
    t0 = now_s();
    for (int k = 0; k < 3; k++) {
        carrot_close_opts_t o = {.pg = pg,
                                 .board = board,
                                 .dir = dir,
                                 .rules = rules,
                                 .commitment = k,
                                 .period = period,
                                 .now_ms = carrot_time_now_ms(),
                                 .seen_ttl = 3600};
        if (carrot_commit_close(&o, &rep, errstr, sizeof(errstr)) != CARROT_LEDGER_OK)
            die("close", errstr);
        settled += rep.settled;
    }
    double close_s = now_s() - t0;
    char copy[80];
    snprintf(copy, sizeof(copy), "%s#copy", program);
    const char *pp[] = {program, copy};
    t0 = now_s();
    exec_ok(pg,
            "INSERT INTO commitment_settlements SELECT $2, commitment_id, period_id, "
            "participant_id, supervisor_id, metric, figure, judged, target, met, streak, misses, "
            "set_by, acknowledged_at, bonus, penalty, streak_bonus, rules_version, period_end, "
            "settled_at, booked_at FROM commitment_settlements WHERE program_id = $1",
            2, pp);
    double insert_s = now_s() - t0;

    /* 2. the follow-up list of "big": 5,050 people */
    char **ids = malloc(5050 * sizeof(*ids));
    for (long i = 0; i < 5000; i++) {
        ids[i] = malloc(16);
        who(i, ids[i], 16);
    }
    for (long i = 0; i < 50; i++) {
        ids[5000 + i] = malloc(16);
        snprintf(ids[5000 + i], 16, "s%03ld", i);
    }
    long q = (long)cf.queries, rows = 0;
    double *lat = malloc((size_t)q * sizeof(*lat)), *base = malloc((size_t)q * sizeof(*base));
    char *arr = malloc(5050 * 12 + 8);
    size_t len = 0;
    arr[len++] = '{';
    for (long i = 0; i < 5050; i++) len += (size_t)sprintf(arr + len, "%s%s", i ? "," : "", ids[i]);
    arr[len++] = '}';
    arr[len] = '\0';
    const char *bp[] = {program, period, arr};
    for (long i = 0; i < q; i++) {
        long n = 0;
        double s = now_s();
        if (carrot_commit_followups(pg, rules, NULL, (const char *const *)ids, 5050, count_row, &n,
                                    errstr, sizeof(errstr)) != CARROT_LEDGER_OK)
            die("followups", errstr);
        lat[i] = now_s() - s;
        rows = n;
        s = now_s();
        exec_ok(pg,
                "SELECT * FROM commitment_settlements WHERE program_id = $1 AND period_id = $2 "
                "AND participant_id = ANY($3::text[]) AND NOT met ORDER BY misses DESC, "
                "participant_id",
                3, bp);
        base[i] = now_s() - s;
    }
    qsort(lat, (size_t)q, sizeof(*lat), cmp_double);
    qsort(base, (size_t)q, sizeof(*base), cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long n3 = settled; /* the supervisors are held too */
    printf("set-up: %ld participants in the directory and %ld figures in Redis in %.1f s\n",
           people + 1 + people / 100, 4 * people, setup);
    printf("settle: %ld settlements (3 commitments x %ld people) in %.2f s, %.0f rows/s; plain "
           "INSERT ... SELECT of the same rows %.2f s, %.0f rows/s; ratio %.2f of plain SQL\n",
           settled, settled / 3, close_s, (double)n3 / close_s, insert_s, (double)n3 / insert_s,
           insert_s / close_s);
    printf("follow-ups of a supervisor of 5,050: %ld misses; p50 %.1f ms, p99 %.1f ms; plain "
           "SELECT of the same misses p50 %.1f ms, p99 %.1f ms; ratio %.2f at p99\n",
           rows, lat[q / 2] * 1e3, lat[q * 99 / 100] * 1e3, base[q / 2] * 1e3,
           base[q * 99 / 100] * 1e3, lat[q * 99 / 100] / base[q * 99 / 100]);
    printf("peak RSS %.0f MiB\n", (double)ru.ru_maxrss / 1024.0);

    /* clean up: the rows, and every key of the program */
    /* on a new connection: this one's cached plans (the foreign key's check among them)
     * were made while the table was empty, and would scan it once per row deleted */
    PQfinish(pg);
    pg = PQconnectdb(cf.pg_dsn);
    if (PQstatus(pg) != CONNECTION_OK) die("PostgreSQL", PQerrorMessage(pg));
    exec_ok(pg, "ANALYZE commitment_settlements", 0, NULL);
    exec_ok(pg, "DELETE FROM commitment_settlements WHERE program_id IN ($1, $2)", 2, pp);
    /* the keys it wrote are known: no SCAN of a big keyspace */
    long nkeys = 0;
    for (long i = -1 - people / 100; i < people; i++) {
        char id[32], boss[32];
        person(i, id, sizeof(id), boss, sizeof(boss));
        redisAppendCommand(rc, "UNLINK carrot:{%s}:who:%s carrot:{%s}:reports:%s", program, id,
                           program, id);
        nkeys++;
    }
    for (int k = 0; k < 3; k++, nkeys++)
        redisAppendCommand(rc, "UNLINK carrot:{%s}:cm:%s:%s", program, keys[k], period);
    redisAppendCommand(rc, "UNLINK carrot:{%s}:people", program);
    for (long i = 0; i <= nkeys; i++) {
        redisReply *u;
        if (redisGetReply(rc, (void **)&u) != REDIS_OK) die("Redis", rc->errstr);
        freeReplyObject(u);
    }
    for (long i = 0; i < 5050; i++) free(ids[i]);
    free(ids);
    free(lat);
    free(base);
    free(arr);
    redisFree(rc);
    carrot_board_destroy(board);
    carrot_directory_destroy(dir);
    PQfinish(pg);
    carrot_rules_destroy(rules);
    carrot_conf_destroy(conf);
    return 0;
}
