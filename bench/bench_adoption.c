/* bench_adoption: what adoption analytics cost, each figure against a
 * baseline measured in the same run.
 *
 * 1. The facts. --activities activities of a program of the bench's own
 *    (carrot-loadgen with resent and deleting lines, then carrot-ingest) fill
 *    a fresh --partitions topic; the program's rules (deploy/demo/rules.yaml)
 *    go to a fresh rules topic, and the award, participant and dead-letter
 *    topics are fresh and empty. `carrot-report run --until-drained` folds
 *    them into a fresh database, timed from its start to its exit (and its
 *    peak RSS from wait4). Baselines: a plain read_committed consume of the
 *    same topic (every message fetched, nothing done with it, timed from
 *    the first message to the last as bench_scorer does), and a plain COPY
 *    of the fact rows the consumer wrote (read back from adoption_facts)
 *    into a table shaped like adoption_facts (LIKE ... INCLUDING ALL: its
 *    columns and primary key, nothing else, partitioned by month), in
 *    batches of --batch rows, each committed. The consumer aggregates many
 *    activities into one row, so the COPY's rows per second are also given
 *    per activity; and as it also keeps a row per CRM record
 *    (adoption_records), a COPY of those too is given beside. --rounds
 *    rounds, each in a fresh database: the consumer first in the first, the
 *    baselines first in the next (whose COPY takes the first round's rows,
 *    and whose consumer must write the very same rows).
 * 2. The report. --days days of --rate activities a day by --participants
 *    participants (3 segments, 2 bands, 100 teams, 12 activity types),
 *    generated with SQL straight into adoption_facts of a fresh database
 *    (with the directory, the first days, the bands and the time zone), one
 *    INSERT ... SELECT per month. carrot_report_adoption() by week, 8 weeks
 *    to the last day, --queries times for every segment and for one,
 *    against the plain aggregate its sum of the facts is, run alternately:
 *    p50, p99 and max. Then EXPLAIN (ANALYZE, BUFFERS) of the report's
 *    per-participant query, and the table's size.
 * Drops its databases and deletes its topics at the end (also when it
 * fails). Asserts nothing about timing. Needs the services of
 * deploy/services.sh and a role that may CREATE DATABASE. */
#include "carrot/adoption.h"
#include "carrot/config.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *brokers, *pg, *measure, *log_level, *log_format;
    long long activities, feed_participants, duplicate_every, delete_every, partitions, batch,
        rounds;
    long long days, rate, participants, queries;
    int keep;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg), "host=127.0.0.1 port=15432 dbname=carrot user=carrot", 0,
     0, "PostgreSQL connection string (of a role that may CREATE DATABASE)"},
    {"measure", CARROT_CONF_STR, OFF(measure), "all", 0, 0,
     "all, facts (the facts consumer) or report (the weekly report)"},
    {"activities", CARROT_CONF_INT, OFF(activities), "200000", 1000, 100000000,
     "facts: activities in the bench topic (carrot-loadgen --count)"},
    {"feed-participants", CARROT_CONF_INT, OFF(feed_participants), "2000", 1, 10000000,
     "facts: distinct participants of the feed"},
    {"duplicate-every", CARROT_CONF_INT, OFF(duplicate_every), "50", 0, 1000000000,
     "facts: every Nth line of the feed resends the line before (0: none)"},
    {"delete-every", CARROT_CONF_INT, OFF(delete_every), "49", 0, 1000000000,
     "facts: every Nth line deletes an earlier record (0: none); a line that is also a resent "
     "one is resent instead, so 50 with --duplicate-every 50 would delete nothing"},
    {"partitions", CARROT_CONF_INT, OFF(partitions), "6", 1, 1000,
     "facts: partitions of the activities topic"},
    {"batch", CARROT_CONF_INT, OFF(batch), "5000", 1, 1000000,
     "facts: messages per transaction of the consumer, and rows per transaction of the COPY"},
    {"rounds", CARROT_CONF_INT, OFF(rounds), "2", 1, 100,
     "facts: rounds, each in a fresh database, alternating which side runs first"},
    {"days", CARROT_CONF_INT, OFF(days), "90", 7, 3650, "report: days of facts generated"},
    {"rate", CARROT_CONF_INT, OFF(rate), "1000000", 1000, 1000000000,
     "report: activities logged a day on average (weekdays more, weekends less)"},
    {"participants", CARROT_CONF_INT, OFF(participants), "20000", 100, 10000000,
     "report: participants, in the directory and in the facts"},
    {"queries", CARROT_CONF_INT, OFF(queries), "20", 1, 10000,
     "report: timed runs of each report and of its baseline"},
    {"keep", CARROT_CONF_BOOL, OFF(keep), "false", 0, 0,
     "report: keep its database (named in the output) to look at, instead of dropping it"},
    CARROT_CONF_LOG_ROWS(bench_conf_t),
    CARROT_CONF_END};

/* What the bench made, so that clean_up() removes it, at the end and on
 * failure: the live databases, the topics and the files. */
static struct {
    const char *pg, *brokers;
    char db[2][128];
    char topics[5][160];
    int ntopics;
    char files[2][256];
} made;

static void drop_database(const char *db) {
    PGconn *admin = PQconnectdb(made.pg);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    PGresult *r = PQstatus(admin) == CONNECTION_OK ? PQexec(admin, sql) : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        carrot_warn("could not drop database %s: %s", db, PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
}

static void forget_database(const char *name, int drop) {
    char db[128];
    snprintf(db, sizeof(db), "%s", name); /* name may be made.db[i] itself */
    for (int i = 0; i < 2; i++)
        if (strcmp(made.db[i], db) == 0) made.db[i][0] = '\0';
    if (drop) drop_database(db);
}

static void clean_up(void) {
    for (int i = 0; i < 2; i++)
        if (made.db[i][0]) forget_database(made.db[i], 1);
    for (int i = 0; i < 2; i++)
        if (made.files[i][0]) unlink(made.files[i]);
    if (!made.ntopics) return;
    char errstr[512];
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, made.brokers, NULL, errstr, sizeof(errstr));
    rd_kafka_t *rk = k ? rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)) : NULL;
    if (!rk) {
        carrot_warn("could not delete the bench topics: %s", errstr);
        return;
    }
    rd_kafka_DeleteTopic_t *del[5];
    for (int i = 0; i < made.ntopics; i++) del[i] = rd_kafka_DeleteTopic_new(made.topics[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, (size_t)made.ntopics, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev || rd_kafka_event_error(ev)) carrot_warn("could not delete the bench topics");
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(del, (size_t)made.ntopics);
    rd_kafka_destroy(rk);
    made.ntopics = 0;
}

static void die(const char *what) {
    carrot_error("%s", what);
    clean_up();
    exit(1);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- PostgreSQL --------------------------------------------------------- */

static void quiet(void *arg, const char *msg) { /* "already exists, skipping" */
    (void)arg;
    (void)msg;
}

static PGconn *connect_to(const char *dsn) {
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) die(PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet, NULL);
    return pg;
}

/* Runs sql (several statements when n is 0); its result (tuples or none),
 * the caller's to PQclear. */
static PGresult *sql_ok(PGconn *pg, const char *sql, int n, const char *const *params) {
    PGresult *r = n ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "%.200s...: %s", sql, PQerrorMessage(pg));
        die(msg);
    }
    return r;
}

static void exec_ok(PGconn *pg, const char *sql, int n, const char *const *params) {
    PQclear(sql_ok(pg, sql, n, params));
}

/* A fresh database db (remembered for clean_up), migrated; its DSN in dsn. */
static void fresh_database(const char *db, char *dsn, size_t dsn_size) {
    char sql[256], errstr[512];
    PGconn *admin = connect_to(made.pg);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    exec_ok(admin, sql, 0, NULL);
    PQfinish(admin);
    for (int i = 0; i < 2; i++)
        if (!made.db[i][0]) {
            snprintf(made.db[i], sizeof(made.db[i]), "%s", db);
            break;
        }
    snprintf(dsn, dsn_size, "%s dbname=%s", made.pg, db); /* the last dbname wins */
    PGconn *pg = connect_to(dsn);
    int applied = 0;
    if (carrot_ledger_migrate(pg, &applied, errstr, sizeof(errstr)) != CARROT_LEDGER_OK)
        die(errstr);
    PQfinish(pg);
}

/* ---- children ----------------------------------------------------------- */

/* Runs argv to its end, its stdout into out_path unless NULL: the exit status. */
static int run_argv(char *const argv[], const char *out_path) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (out_path) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || dup2(fd, 1) < 0) _exit(126);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static long long field(const char *json, const char *name) {
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *p = json ? strstr(json, key) : NULL;
    return p ? atoll(p + strlen(key)) : -1;
}

/* ---- 1. the facts ------------------------------------------------------- */

typedef struct {
    char program[64], activities[96], awards[96], participants[96], dlq[96], rules[96];
} names_t;

/* One run of the facts consumer: from its start to its exit, and to the
 * moment it logged its partitions assigned; what it counted. */
typedef struct {
    double ms, startup_ms;
    long rss_kib;
    long long activities, duplicates, deletes, refusals, skipped, unusable;
} facts_run_t;

static void create_topic(rd_kafka_t *rk, const char *topic, int partitions, const char *policy) {
    char errstr[512];
    if (carrot_kafka_create_topic(rk, topic, partitions, policy, errstr, sizeof(errstr)))
        die(errstr);
    snprintf(made.topics[made.ntopics++], sizeof(made.topics[0]), "%s", topic);
}

/* The topics, the feed in the activities topic and the rules in the rules
 * topic (not timed). */
static void fill_topics(const bench_conf_t *cf, const names_t *n) {
    char errstr[512];
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf->brokers, NULL, errstr, sizeof(errstr));
    rd_kafka_t *admin = k ? rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)) : NULL;
    if (!admin) die(errstr);
    create_topic(admin, n->activities, (int)cf->partitions, NULL);
    create_topic(admin, n->awards, (int)cf->partitions, NULL);
    create_topic(admin, n->participants, (int)cf->partitions, "compact");
    create_topic(admin, n->dlq, 1, NULL);
    create_topic(admin, n->rules, 1, "compact");
    rd_kafka_destroy(admin);

    /* the demo's rules, under the bench's program */
    char *rules = made.files[0], *feed = made.files[1], line[1024];
    snprintf(rules, sizeof(made.files[0]), "/tmp/%s.rules.yaml", n->program);
    snprintf(feed, sizeof(made.files[1]), "/tmp/%s.jsonl", n->program);
    FILE *in = fopen(CARROT_DEMO_RULES, "r"), *out = fopen(rules, "w");
    if (!in || !out) die("could not copy " CARROT_DEMO_RULES);
    while (fgets(line, sizeof(line), in)) {
        if (strncmp(line, "program:", 8) == 0) fprintf(out, "program: %s\n", n->program);
        else
            fputs(line, out);
    }
    fclose(in);
    if (fclose(out) != 0) die("could not write the rules");
    char *publish[] = {CARROT_RULES_BIN, "publish",   rules,       "--rules-topic",
                       (char *)n->rules, "--brokers", cf->brokers, "--log-level",
                       "warn",           NULL};
    if (run_argv(publish, "/dev/null") != 0) die("carrot-rules publish failed");
    unlink(rules);

    char count[24], people[24], dup[24], del[24];
    snprintf(count, sizeof(count), "%lld", cf->activities);
    snprintf(people, sizeof(people), "%lld", cf->feed_participants);
    snprintf(dup, sizeof(dup), "%lld", cf->duplicate_every);
    snprintf(del, sizeof(del), "%lld", cf->delete_every);
    char *loadgen[] = {
        CARROT_LOADGEN_BIN, "--count",           count, "--participants", people, "--program",
        (char *)n->program, "--duplicate-every", dup,   "--delete-every", del,    NULL};
    if (run_argv(loadgen, feed) != 0) die("carrot-loadgen failed");
    char *ingest[] = {CARROT_INGEST_BIN,
                      "--input",
                      feed,
                      "--brokers",
                      cf->brokers,
                      "--topic",
                      (char *)n->activities,
                      "--dlq-topic",
                      (char *)n->dlq,
                      "--program",
                      (char *)n->program,
                      "--log-level",
                      "warn",
                      NULL};
    if (run_argv(ingest, "/dev/null") != 0) die("carrot-ingest failed");
    unlink(feed);
}

/* Reads every message of the activities topic from the beginning,
 * read_committed, doing nothing with it: the ms from the first message to
 * the last, as bench_scorer times it (librdkafka's start-up and its fetch
 * waits at the end, some 1 s, are left out); *gotp the count. */
static double plain_consume(const bench_conf_t *cf, const names_t *n, const char *group,
                            long long *gotp) {
    char errstr[512];
    double first = 0, last = 0;
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf->brokers, NULL, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "group.id", group, errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "isolation.level", "read_committed", errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, sizeof(errstr)))
        die(errstr);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, sizeof(errstr));
    if (!c) die(errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)cf->partitions);
    for (int p = 0; p < cf->partitions; p++)
        rd_kafka_topic_partition_list_add(parts, n->activities, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    long long got = 0, eofs = 0;
    while (eofs < cf->partitions) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eofs++;
        else if (!m->err) {
            if (!got++) first = now_ms();
            last = now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    *gotp = got;
    return last - first;
}

/* `carrot-report run --until-drained` over the bench topics into dsn's
 * database, timed from its start to its exit. */
static void facts_run(const bench_conf_t *cf, const names_t *n, const char *dsn, const char *group,
                      facts_run_t *fr) {
    char batch[24];
    snprintf(batch, sizeof(batch), "%lld", cf->batch);
    char *argv[] = {CARROT_REPORT_BIN,
                    "run",
                    "--until-drained",
                    "--brokers",
                    cf->brokers,
                    "--pg-dsn",
                    (char *)dsn,
                    "--group",
                    (char *)group,
                    "--activities-topic",
                    (char *)n->activities,
                    "--awards-topic",
                    (char *)n->awards,
                    "--participants-topic",
                    (char *)n->participants,
                    "--dlq-topic",
                    (char *)n->dlq,
                    "--rules-topic",
                    (char *)n->rules,
                    "--batch-size",
                    batch,
                    "--log-level",
                    "info",
                    NULL};
    int po[2], pe[2];
    if (pipe(po) || pipe(pe)) die("pipe");
    memset(fr, 0, sizeof(*fr));
    fr->startup_ms = -1;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    buf_t out = {0}, err = {0};
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    for (int open_fds = 2; open_fds > 0;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            char chunk[4096];
            ssize_t got = read(fds[i].fd, chunk, sizeof(chunk));
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            buf_add(i ? &err : &out, chunk, (size_t)got);
            if (i && fr->startup_ms < 0 && strstr(err.p, "assigned "))
                fr->startup_ms = now_ms() - t0;
        }
    }
    struct rusage ru;
    int status;
    if (wait4(pid, &status, 0, &ru) < 0) die("wait4");
    fr->ms = now_ms() - t0;
    fr->rss_kib = ru.ru_maxrss;
    fr->activities = field(out.p, "activities");
    fr->duplicates = field(out.p, "duplicates");
    fr->deletes = field(out.p, "deletes");
    fr->refusals = field(out.p, "refusals");
    fr->skipped = field(out.p, "skipped");
    fr->unusable = field(out.p, "unusable");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || fr->activities < 0) {
        fprintf(stderr, "%s", err.p ? err.p : "");
        die("carrot-report run failed");
    }
    free(out.p);
    free(err.p);
}

/* A program's rows of a table as COPY text, in key order, and where each
 * row starts (line[n] is the end). */
typedef struct {
    buf_t text;
    size_t *line;
    long long n;
} rows_t;

static void rows_free(rows_t *rows) {
    free(rows->text.p);
    free(rows->line);
    memset(rows, 0, sizeof(*rows));
}

static int rows_equal(const rows_t *a, const rows_t *b) {
    return a->n == b->n && a->text.len == b->text.len &&
           (!a->text.len || memcmp(a->text.p, b->text.p, a->text.len) == 0);
}

static void dump_rows(PGconn *pg, const char *table, const char *key, const char *program,
                      rows_t *rows) {
    memset(rows, 0, sizeof(*rows));
    char *lit = PQescapeLiteral(pg, program, strlen(program)), sql[512];
    snprintf(sql, sizeof(sql),
             "COPY (SELECT * FROM %s WHERE program_id = %s ORDER BY %s) TO STDOUT", table, lit,
             key);
    PQfreemem(lit);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) die(PQerrorMessage(pg));
    PQclear(r);
    size_t cap = 0;
    char *row;
    int len;
    while ((len = PQgetCopyData(pg, &row, 0)) > 0) {
        if ((size_t)rows->n + 2 > cap) {
            cap = cap ? cap * 2 : 65536;
            size_t *line = realloc(rows->line, cap * sizeof(*line));
            if (!line) die("out of memory");
            rows->line = line;
        }
        rows->line[rows->n++] = rows->text.len;
        buf_add(&rows->text, row, (size_t)len);
        PQfreemem(row);
    }
    if (len != -1 || !rows->line) die("could not read the consumer's rows back");
    rows->line[rows->n] = rows->text.len;
    while ((r = PQgetResult(pg))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQerrorMessage(pg));
        PQclear(r);
    }
}

static void dump_facts(PGconn *pg, const char *program, rows_t *facts, rows_t *records) {
    dump_rows(pg, "adoption_facts", "program_id, day, participant_id, activity_type", program,
              facts);
    dump_rows(pg, "adoption_records", "program_id, source_system, source_record_id", program,
              records);
}

/* A table's constraints and index count, as text. */
static void shape_of(PGconn *pg, const char *table, char *shape, size_t shape_size) {
    const char *p[] = {table};
    PGresult *r = sql_ok(pg,
                         "SELECT string_agg(pg_get_constraintdef(c.oid), ', '), "
                         "  (SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass) "
                         "FROM pg_constraint c WHERE c.conrelid = $1::regclass",
                         1, p);
    snprintf(shape, shape_size, "%s, %s index%s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
             strcmp(PQgetvalue(r, 0, 1), "1") ? "es" : "");
    PQclear(r);
}

/* The baseline tables: adoption_facts' and adoption_records' columns,
 * defaults, keys and every other index or constraint they have (LIKE ...
 * INCLUDING ALL), the facts partitioned by month the same way, with the
 * months of facts made beforehand (not timed). Their shapes into shape. */
static void copy_tables(PGconn *pg, const rows_t *facts, char *shape, size_t shape_size) {
    exec_ok(pg,
            "CREATE TABLE bench_copy_facts (LIKE adoption_facts INCLUDING ALL) "
            "PARTITION BY RANGE (day); "
            "CREATE TABLE bench_copy_records (LIKE adoption_records INCLUDING ALL)",
            0, NULL);
    char last[8] = "";
    for (long long i = 0; i < facts->n; i++) {
        const char *day = memchr(facts->text.p + facts->line[i], '\t',
                                 facts->line[i + 1] - facts->line[i]);
        if (!day || memcmp(day + 1, last, 7) == 0) continue;
        memcpy(last, day + 1, 7);
        char sql[256], name[8];
        memcpy(name, last, 7);
        name[4] = '_';
        name[7] = '\0';
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE bench_copy_facts_%s PARTITION OF bench_copy_facts "
                 "FOR VALUES FROM ('%.7s-01') TO (('%.7s-01'::date + interval '1 month')::date)",
                 name, last, last);
        exec_ok(pg, sql, 0, NULL);
    }
    char f[256], r[256];
    shape_of(pg, "bench_copy_facts", f, sizeof(f));
    shape_of(pg, "bench_copy_records", r, sizeof(r));
    snprintf(shape, shape_size, "facts: %s, by month; records: %s", f, r);
}

/* The COPY of rows into table in batches of batch rows, each committed: the ms. */
static double copy_rows(PGconn *pg, const char *table, const rows_t *rows, long long batch) {
    char sql[128];
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", table);
    double t0 = now_ms();
    for (long long i = 0; i < rows->n; i += batch) {
        long long end = i + batch < rows->n ? i + batch : rows->n;
        exec_ok(pg, "BEGIN", 0, NULL);
        PGresult *r = PQexec(pg, sql);
        size_t from = rows->line[i], len = rows->line[end] - from;
        if (PQresultStatus(r) != PGRES_COPY_IN ||
            PQputCopyData(pg, rows->text.p + from, (int)len) != 1 || PQputCopyEnd(pg, NULL) != 1)
            die(PQerrorMessage(pg));
        PQclear(r);
        while ((r = PQgetResult(pg))) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQerrorMessage(pg));
            PQclear(r);
        }
        exec_ok(pg, "COMMIT", 0, NULL);
    }
    return now_ms() - t0;
}

static void bench_facts(const bench_conf_t *cf, const char *program) {
    names_t n;
    snprintf(n.program, sizeof(n.program), "%s", program);
    snprintf(n.activities, sizeof(n.activities), "%s.activities", program);
    snprintf(n.awards, sizeof(n.awards), "%s.awards", program);
    snprintf(n.participants, sizeof(n.participants), "%s.participants", program);
    snprintf(n.dlq, sizeof(n.dlq), "%s.dlq", program);
    snprintf(n.rules, sizeof(n.rules), "%s.rules", program);
    double t0 = now_ms();
    fill_topics(cf, &n);
    printf("set-up:   %lld activities (carrot-loadgen --participants %lld --duplicate-every %lld "
           "--delete-every %lld) in %s (%lld partitions), rules in %s, in %.1f s\n",
           cf->activities, cf->feed_participants, cf->duplicate_every, cf->delete_every,
           n.activities, cf->partitions, n.rules, (now_ms() - t0) / 1e3);
    fflush(stdout);

    double facts_ms = 0, startup_ms = 0, consume_ms = 0, copy_ms = 0, rec_ms = 0;
    long peak_rss = 0;
    long long logged = 0, deleted = 0;
    facts_run_t first = {0};
    rows_t facts0 = {0}, records0 = {0};
    char shape[768] = "";
    for (long long round = 0; round < cf->rounds; round++) {
        char db[128], dsn[1024], group[160], cgroup[160], q[256];
        snprintf(db, sizeof(db), "%s_r%lld", program, round);
        for (char *c = db; *c; c++)
            if (*c == '-') *c = '_';
        snprintf(group, sizeof(group), "%s.facts.r%lld", program, round);
        snprintf(cgroup, sizeof(cgroup), "%s.consume.r%lld", program, round);
        fresh_database(db, dsn, sizeof(dsn));
        PGconn *pg = connect_to(dsn);
        facts_run_t fr;
        rows_t facts, records;
        long long got = 0;
        double c_ms, k_ms, r_ms;
        int facts_first = round % 2 == 0;
        if (facts_first) { /* the consumer, then the baselines on the rows it wrote */
            facts_run(cf, &n, dsn, group, &fr);
            c_ms = plain_consume(cf, &n, cgroup, &got);
            dump_facts(pg, program, &facts, &records);
            copy_tables(pg, &facts, shape, sizeof(shape));
            k_ms = copy_rows(pg, "bench_copy_facts", &facts, cf->batch);
            r_ms = copy_rows(pg, "bench_copy_records", &records, cf->batch);
        } else { /* the baselines, on the first round's rows, then the consumer */
            c_ms = plain_consume(cf, &n, cgroup, &got);
            copy_tables(pg, &facts0, shape, sizeof(shape));
            k_ms = copy_rows(pg, "bench_copy_facts", &facts0, cf->batch);
            r_ms = copy_rows(pg, "bench_copy_records", &records0, cf->batch);
            facts_run(cf, &n, dsn, group, &fr);
            dump_facts(pg, program, &facts, &records);
        }
        if (got != cf->activities) {
            snprintf(q, sizeof(q), "the bench topic holds %lld messages, not %lld", got,
                     cf->activities);
            die(q);
        }
        if (fr.skipped != 0) die("the facts consumer skipped messages of a fresh database");
        if (round == 0) {
            facts0 = facts;
            records0 = records;
            first = fr;
            const char *p[] = {program};
            PGresult *r = sql_ok(pg,
                                 "SELECT coalesce(sum(logged), 0), coalesce(sum(deleted), 0) "
                                 "FROM adoption_facts WHERE program_id = $1",
                                 1, p);
            logged = atoll(PQgetvalue(r, 0, 0));
            deleted = atoll(PQgetvalue(r, 0, 1));
            PQclear(r);
        } else {
            if (!rows_equal(&facts, &facts0) || !rows_equal(&records, &records0))
                die("the facts of this round differ from the first round's (the same topic)");
            rows_free(&facts);
            rows_free(&records);
        }
        PQfinish(pg);
        forget_database(db, 1);
        printf("round %lld (%s first): facts %.0f ms (start-up to partitions assigned %.0f ms), "
               "consume %.0f ms, COPY of the facts %.0f ms (and of the records %.0f ms)\n",
               round + 1, facts_first ? "facts" : "baselines", fr.ms, fr.startup_ms, c_ms, k_ms,
               r_ms);
        fflush(stdout);
        facts_ms += fr.ms;
        startup_ms += fr.startup_ms;
        consume_ms += c_ms;
        copy_ms += k_ms;
        rec_ms += r_ms;
        if (fr.rss_kib > peak_rss) peak_rss = fr.rss_kib;
    }
    /* the rates below are over every round */
    long long acts = cf->activities * cf->rounds, copied = facts0.n * cf->rounds;
    long long recs = records0.n * cf->rounds;
    double facts_rate = (double)acts * 1e3 / facts_ms;
    double consume_rate = (double)acts * 1e3 / consume_ms;
    double copy_rate = (double)copied * 1e3 / copy_ms;
    double per_row = (double)acts / (double)copied;
    double both_rate = (double)acts * 1e3 / (copy_ms + rec_ms); /* activities/s */
    printf("facts:    %lld activities folded in %.0f ms = %.0f activities/s (peak RSS %ld MiB; "
           "from start to exit, of which %.0f ms start-up to partitions assigned; batches of "
           "%lld, each one transaction; %lld rounds)\n",
           acts, facts_ms, facts_rate, peak_rss / 1024, startup_ms, cf->batch, cf->rounds);
    printf("          each round: %lld CREATEs counted, %lld duplicates, %lld deletes, %lld "
           "refusals, %lld unusable; it wrote %lld fact rows (logged %lld, deleted %lld) and "
           "%lld CRM records (adoption_records, with their event ids)\n",
           first.activities, first.duplicates, first.deletes, first.refusals, first.unusable,
           facts0.n, logged, deleted, records0.n);
    printf("consume:  %lld messages plainly consumed in %.0f ms = %.0f messages/s (read_committed, "
           "from the first message to the last, as bench_scorer times it)\n",
           acts, consume_ms, consume_rate);
    printf(
        "copy:     %lld fact rows (from %lld activities) plainly COPYed in %.0f ms = %.0f rows/s "
        "(tables LIKE ... INCLUDING ALL: %s; batches of %lld rows, each committed)\n",
        copied, acts, copy_ms, copy_rate, shape, cf->batch);
    printf("ratio:    facts %.2f of a plain consume, %.2f of a plain COPY of the rows it wrote "
           "(per activity: facts %.0f activities/s against the COPY's %.0f rows/s x %.2f "
           "activities per row = %.0f activities/s; per row: facts %.0f fact rows/s against "
           "%.0f)\n",
           facts_rate / consume_rate, facts_rate / (copy_rate * per_row), facts_rate, copy_rate,
           per_row, copy_rate * per_row, (double)copied * 1e3 / facts_ms, copy_rate);
    printf("also:     with the %lld CRM records it also wrote (%.0f ms more): a plain COPY of both "
           "in %.0f ms = %.0f activities/s; facts %.2f of that\n",
           recs, rec_ms, copy_ms + rec_ms, both_rate, facts_rate / both_rate);
    printf("{\"bench\":\"adoption_facts\",\"activities\":%lld,\"fact_rows\":%lld,\"records\":%lld,"
           "\"facts_per_s\":%.0f,\"consume_per_s\":%.0f,\"copy_rows_per_s\":%.0f,"
           "\"ratio_consume\":%.3f,\"ratio_copy\":%.3f,\"ratio_copy_with_records\":%.3f,"
           "\"facts_peak_rss_kib\":%ld}\n",
           acts, copied, recs, facts_rate, consume_rate, copy_rate, facts_rate / consume_rate,
           facts_rate / (copy_rate * per_row), facts_rate / both_rate, peak_rss);
    fflush(stdout);
    rows_free(&facts0);
    rows_free(&records0);
}

/* ---- 2. the report ------------------------------------------------------ */

/* Generation: a hash of a key and a stream as a uniform [0, 1), so the data
 * is the same in every run; the days and their targets (weekdays 100,
 * Saturdays 45, Sundays 35, scaled so the days sum to days x rate exactly);
 * the activity types (by name order: rows go in in key order), how likely a
 * participant logs each on an active day, its weight, whether the demo
 * rules judge its quality and timeliness, its points; the participants. */
static const char GEN_SETUP[] =
    "CREATE FUNCTION bench_u(bigint, bigint) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "  AS $$ SELECT (hashint8extended($1, $2) & 2147483647)::float8 / 2147483648.0 $$; "
    "CREATE TEMP TABLE gen_days (day date PRIMARY KEY, f int, target bigint); "
    "CREATE TEMP TABLE gen_types (k int, name text, prob float8, tw float8, q bool, t bool, "
    "  pts int); "
    "CREATE TEMP TABLE gen_people (i int, id text, segment text, team text, region text, "
    "  hired date, first_day date, last_day date, p_active float8, breadth float8, "
    "  weight float8, cq float8, ct float8); "
    "INSERT INTO gen_types VALUES (0, 'call', 0.97, 3.0, true, true, 5), "
    "  (1, 'certification_passed', 0.08, 0.1, false, false, 40), "
    "  (2, 'deal_lost', 0.30, 0.2, false, false, 0), (3, 'deal_won', 0.35, 0.2, false, false, 50), "
    "  (4, 'email', 0.95, 2.5, false, false, 2), (5, 'lead', 0.70, 0.6, false, false, 8), "
    "  (6, 'meeting', 0.85, 1.0, true, true, 10), (7, 'note', 0.85, 1.2, false, true, 3), "
    "  (8, 'opportunity_stage', 0.60, 0.6, false, false, 12), "
    "  (9, 'quote', 0.60, 0.5, false, false, 15), (10, 'task', 0.85, 1.0, false, false, 2), "
    "  (11, 'training_completed', 0.15, 0.2, false, false, 15)";

/* $1 the last day, $2 days, $3 the rate. */
static const char GEN_DAYS[] =
    "WITH d AS (SELECT day::date AS day, CASE extract(isodow FROM day) WHEN 6 THEN 45 "
    "    WHEN 7 THEN 35 ELSE 100 END AS f "
    "  FROM generate_series($1::date - ($2::int - 1), $1::date, interval '1 day') day), "
    "c AS (SELECT day, f, sum(f) OVER (ORDER BY day) AS cf, sum(f) OVER () AS tf FROM d) "
    "INSERT INTO gen_days SELECT day, f, (div($3::numeric * $2::int * cf, tf) "
    "  - div($3::numeric * $2::int * (cf - f), tf))::bigint FROM c";

/* $1 the last day, $2 days, $3 participants: 15% hired during the window
 * (they start logging two days after), 15% in the half year before it (new
 * at first, seasoned later), the rest earlier; 4% stop logging for good on
 * a day of the window (quiet); how likely each logs on a weekday, how many
 * kinds of activity, how much (a capped exponential), how complete and
 * timely; half direct reps, 30% dealers, 20% distributors; 100 teams. */
static const char GEN_PEOPLE[] =
    "INSERT INTO gen_people SELECT i, 'p' || lpad(i::text, 6, '0'), "
    "  CASE WHEN bench_u(i, 19) < 0.5 THEN 'direct' WHEN bench_u(i, 19) < 0.8 THEN 'dealer' "
    "    ELSE 'distributor' END, "
    "  'team-' || lpad((i % 100)::text, 3, '0'), "
    "  (ARRAY['north', 'south', 'east', 'west'])[1 + i % 4], "
    "  h.hired, greatest($1::date - ($2::int - 1), h.hired + 2), "
    "  CASE WHEN bench_u(i, 12) < 0.04 "
    "    THEN $1::date - ($2::int - 1) + floor(bench_u(i, 13) * $2::int)::int ELSE $1::date END, "
    "  0.75 + 0.25 * bench_u(i, 14), 0.7 + 0.6 * bench_u(i, 15), "
    "  0.2 + least(-ln(1 - bench_u(i, 16)), 4.0), 0.6 + 0.38 * bench_u(i, 17), "
    "  0.7 + 0.28 * bench_u(i, 18) "
    "FROM generate_series(0, $3::int - 1) i CROSS JOIN LATERAL (SELECT CASE "
    "  WHEN bench_u(i, 10) < 0.15 "
    "    THEN $1::date - ($2::int - 1) + floor(bench_u(i, 11) * $2::int)::int "
    "  WHEN bench_u(i, 10) < 0.30 THEN $1::date - ($2::int - 1) - floor(bench_u(i, 11) * 180)::int "
    "  ELSE $1::date - ($2::int - 1) - 181 - floor(bench_u(i, 11) * 3000)::int END AS hired) h";

/* One month ($2, its first day) of the program $1's facts: a participant is
 * active on a day of theirs with their weekday chance (x 0.45 on Saturdays,
 * x 0.35 on Sundays), logs each type with its chance x their breadth, with
 * a raw weight; each day's raw weights are scaled to its target exactly (the
 * running sum's floor differences: every row at least 1 while a day's raw
 * sum is below 100 x its target). Complete, on time and deleted are drawn
 * per row; the band is the tenure on that day (new up to 180 days). */
static const char GEN_MONTH[] =
    "INSERT INTO adoption_facts (program_id, day, participant_id, activity_type, segment, band, "
    "  team_id, logged, q_judged, complete, t_judged, on_time, deleted, points) "
    "SELECT $1, day, id, name, segment, band, team, logged, "
    "  CASE WHEN q THEN logged ELSE 0 END, "
    "  CASE WHEN q THEN least(logged, floor(logged * cq + u))::bigint ELSE 0 END, "
    "  CASE WHEN t THEN logged ELSE 0 END, "
    "  CASE WHEN t THEN least(logged, floor(logged * ct + u))::bigint ELSE 0 END, "
    "  dl, (logged - dl) * pts "
    "FROM (SELECT x.*, least(logged, floor(logged * 0.02 + u))::bigint AS dl FROM ("
    "  SELECT w.*, (div(cum * target, tot) - div((cum - raw) * target, tot))::bigint AS logged "
    "  FROM (SELECT g.day, p.id, p.segment, p.team, t.name, t.q, t.t, t.pts, p.cq, p.ct, "
    "      g.target, CASE WHEN g.day - p.hired <= 180 THEN 'new' ELSE 'seasoned' END AS band, "
    "      bench_u((g.day - date '2000-01-01') * 1000000000::bigint + p.i * 16 + t.k, 4) AS u, "
    "      r.raw, "
    "      sum(r.raw) OVER (PARTITION BY g.day ORDER BY p.i, t.k ROWS UNBOUNDED PRECEDING) AS cum, "
    "      sum(r.raw) OVER (PARTITION BY g.day) AS tot "
    "    FROM gen_days g "
    "    JOIN gen_people p ON g.day BETWEEN p.first_day AND p.last_day "
    "      AND bench_u((g.day - date '2000-01-01') * 1000000000::bigint + p.i, 1) "
    "        < p.p_active * g.f / 100.0 "
    "    CROSS JOIN gen_types t "
    "    CROSS JOIN LATERAL (SELECT 100 + floor(100 * t.tw * p.weight * least(-ln(1 - "
    "      bench_u((g.day - date '2000-01-01') * 1000000000::bigint + p.i * 16 + t.k, 3)), "
    "      5.0))::bigint AS raw) r "
    "    WHERE g.day >= $2::date AND g.day < ($2::date + interval '1 month')::date "
    "      AND bench_u((g.day - date '2000-01-01') * 1000000000::bigint + p.i * 16 + t.k, 2) "
    "        < t.prob * p.breadth) w) x) y";

/* The report's per-participant query: figures.c people(), copied. */
static const char PEOPLE_SQL[] =
    "SELECT adoption_period_start($2, day)::text, participant_id, max(seg), "
    "  sum(n), count(*) FILTER (WHERE n > 0), max(day) FILTER (WHERE n > 0)::text "
    "FROM (SELECT day, participant_id, max(segment) AS seg, sum(logged) AS n "
    "  FROM adoption_facts WHERE program_id = $1 AND day >= $3::date "
    "  AND day <= $4::date"
    " AND ($5 = '' OR segment = $5) AND ($6 = '' OR band = $6) AND ($7 = '' OR team_id = $7) "
    "GROUP BY day, participant_id) d "
    "GROUP BY 1, 2 HAVING sum(n) > 0";

/* Its sum of the facts per period and type: figures.c sums(), copied. */
static const char SUMS_SQL[] =
    "SELECT adoption_period_start($2, day)::text, activity_type, sum(logged), "
    "  sum(deleted), sum(points), sum(q_judged), sum(complete), sum(t_judged), "
    "  sum(on_time) "
    "FROM adoption_facts WHERE program_id = $1 AND day >= $3::date "
    "  AND day <= $4::date"
    " AND ($5 = '' OR segment = $5) AND ($6 = '' OR band = $6) AND ($7 = '' OR team_id = $7) "
    "GROUP BY 1, 2 ORDER BY 1, 2";

/* Its active participants per day: figures.c heatmap(), copied. */
static const char HEATMAP_SQL[] =
    "SELECT d::date::text, coalesce(x.n, 0) "
    "FROM generate_series($2::date, $3::date, interval '1 day') d LEFT JOIN "
    "  (SELECT day, count(DISTINCT participant_id) AS n FROM adoption_facts "
    "   WHERE program_id = $1 AND day >= $2::date AND day <= $3::date "
    "     AND logged > 0 AND ($4 = '' OR segment = $4) AND ($5 = '' OR band = $5) "
    "     AND ($6 = '' OR team_id = $6) GROUP BY day) x ON x.day = d::date "
    "ORDER BY 1";

/* The baseline: the plain sum the report's sums() stands for. */
static const char BASE_SQL[] =
    "SELECT date_trunc('week', day), activity_type, sum(logged) FROM adoption_facts "
    "WHERE program_id = $1 AND day BETWEEN $2::date AND $3::date AND ($4 = '' OR segment = $4) "
    "GROUP BY 1, 2";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double p50, p99, max;
} lat_t;

static lat_t lat_of(double *ms, long long n) {
    qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
    return (lat_t){ms[n / 2], ms[(n * 99) / 100], ms[n - 1]};
}

/* The report q and the baseline, alternately (each first in every other
 * run) after one untimed run of each; *lastp the report's last JSON. */
static void time_report(const bench_conf_t *cf, PGconn *pg, const carrot_report_query_t *q,
                        const char *lo, const char *hi, lat_t *rep, lat_t *base, char **lastp) {
    long long n = cf->queries;
    double *r_ms = malloc((size_t)n * sizeof(double)), *b_ms = malloc((size_t)n * sizeof(double));
    if (!r_ms || !b_ms) die("out of memory");
    const char *bp[] = {q->program, lo, hi, q->segment ? q->segment : ""};
    char errstr[1024];
    for (long long i = -1; i < n; i++) {
        for (int side = 0; side < 2; side++) {
            double t0 = now_ms();
            if ((side == 0) == (i % 2 == 0)) {
                char *out = NULL;
                if (carrot_report_adoption(pg, q, CARROT_REPORT_JSON, &out, errstr,
                                           sizeof(errstr)) != CARROT_LEDGER_OK)
                    die(errstr);
                if (i >= 0) r_ms[i] = now_ms() - t0;
                free(*lastp);
                *lastp = out;
            } else {
                exec_ok(pg, BASE_SQL, 4, bp);
                if (i >= 0) b_ms[i] = now_ms() - t0;
            }
        }
    }
    *rep = lat_of(r_ms, n);
    *base = lat_of(b_ms, n);
    free(r_ms);
    free(b_ms);
}

/* The execution time EXPLAIN ANALYZE gives sql, in ms; with print, the
 * whole plan to stdout, indented. */
static double explain(PGconn *pg, const char *sql, int n, const char *const *p, int print) {
    char *text = malloc(strlen(sql) + 64);
    if (!text) die("out of memory");
    sprintf(text, "EXPLAIN (ANALYZE, BUFFERS) %s", sql);
    PGresult *r = sql_ok(pg, text, n, p);
    free(text);
    double ms = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *line = PQgetvalue(r, i, 0);
        if (print) printf("    %s\n", line);
        if (strncmp(line, "Execution Time: ", 16) == 0) ms = atof(line + 16);
    }
    PQclear(r);
    return ms;
}

static void print_report(const char *name, const lat_t *rep, const lat_t *base, long long n,
                         const char *what) {
    printf("report:   %s: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%lld runs)\n", name, rep->p50,
           rep->p99, rep->max, n);
    printf("baseline: %s: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n", what, base->p50, base->p99,
           base->max);
    printf("ratio:    report p50 %.1fx the baseline's, p99 %.1fx\n", rep->p50 / base->p50,
           rep->p99 / base->p99);
}

/* The last period's figures of a report, in one line. */
static void print_last(const char *name, const char *json) {
    json_t *doc = json_loads(json, 0, NULL);
    json_t *periods = json_object_get(doc, "periods");
    json_t *p = json_array_get(periods, json_array_size(periods) - 1);
    if (!p) {
        json_decref(doc);
        return;
    }
    printf("          %s, last week %s: eligible %lld, active %lld, activities %lld (%.2f per "
           "active), top 10%% %.1f%%, new %lld, quiet %lld (%zu named)\n",
           name, json_string_value(json_object_get(p, "period")),
           (long long)json_integer_value(json_object_get(p, "eligible")),
           (long long)json_integer_value(json_object_get(p, "active")),
           (long long)json_integer_value(json_object_get(p, "activities")),
           json_number_value(json_object_get(p, "per_active")),
           100 * json_number_value(json_object_get(p, "top10_share")),
           (long long)json_integer_value(json_object_get(p, "new")),
           (long long)json_integer_value(json_object_get(p, "quiet")),
           json_array_size(json_object_get(doc, "quiet")));
    json_decref(doc);
}

static void bench_report(const bench_conf_t *cf, const char *program) {
    char db[128], dsn[1024], days[24], rate[24], people[24], last[16], lo[16], hi[16], lo0[16];
    snprintf(db, sizeof(db), "%s_report", program);
    for (char *c = db; *c; c++)
        if (*c == '-') *c = '_';
    snprintf(days, sizeof(days), "%lld", cf->days);
    snprintf(rate, sizeof(rate), "%lld", cf->rate);
    snprintf(people, sizeof(people), "%lld", cf->participants);
    fresh_database(db, dsn, sizeof(dsn));

    /* the data, in one session: its own settings, its temporary tables */
    double t0 = now_ms();
    PGconn *gen = connect_to(dsn);
    exec_ok(gen, "SET synchronous_commit = off", 0, NULL);
    exec_ok(gen, "SET work_mem = '512MB'", 0, NULL); /* each month's window sorts in memory */
    PGresult *r = sql_ok(gen,
                         "SELECT ((now() AT TIME ZONE 'America/Chicago')::date - 1)::text, "
                         "  (date_trunc('week', (now() AT TIME ZONE 'America/Chicago')::date - 1)"
                         "   - interval '7 weeks')::date::text, "
                         "  (date_trunc('week', (now() AT TIME ZONE 'America/Chicago')::date - 1)"
                         "   + interval '6 days')::date::text, "
                         "  (date_trunc('week', (now() AT TIME ZONE 'America/Chicago')::date - 1)"
                         "   - interval '8 weeks')::date::text",
                         0, NULL);
    snprintf(last, sizeof(last), "%s", PQgetvalue(r, 0, 0));
    snprintf(lo, sizeof(lo), "%s", PQgetvalue(r, 0, 1));
    snprintf(hi, sizeof(hi), "%s", PQgetvalue(r, 0, 2));
    snprintf(lo0, sizeof(lo0), "%s", PQgetvalue(r, 0, 3));
    PQclear(r);
    exec_ok(gen, GEN_SETUP, 0, NULL);
    const char *dp[] = {last, days, rate}, *pp[] = {last, days, people};
    exec_ok(gen, GEN_DAYS, 3, dp);
    exec_ok(gen, GEN_PEOPLE, 3, pp);
    exec_ok(gen, "ANALYZE gen_days; ANALYZE gen_types; ANALYZE gen_people", 0, NULL);
    r = sql_ok(gen,
               "SELECT m::date::text FROM generate_series(date_trunc('month', "
               "  $1::date - ($2::int - 1)), $1::date, interval '1 month') m",
               2, dp);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *mp[] = {program, PQgetvalue(r, i, 0)};
        exec_ok(gen, "SELECT adoption_partition($1::date)", 1, mp + 1);
        exec_ok(gen, GEN_MONTH, 2, mp);
    }
    PQclear(r);
    const char *p1[] = {program};
    exec_ok(gen,
            "INSERT INTO participants (program_id, participant_id, display_name, segment, "
            "  team_id, region, hired_at, active, updated_at) "
            "SELECT $1, id, 'Person ' || i, segment, team, region, "
            "  (hired + time '09:00') AT TIME ZONE 'America/Chicago', true, now() FROM gen_people",
            1, p1);
    exec_ok(gen,
            "INSERT INTO adoption_first SELECT program_id, participant_id, min(day) "
            "FROM adoption_facts WHERE program_id = $1 AND logged > 0 GROUP BY 1, 2",
            1, p1);
    exec_ok(gen, "INSERT INTO adoption_programs VALUES ($1, 'America/Chicago', 'bench')", 1, p1);
    exec_ok(gen,
            "INSERT INTO adoption_bands VALUES ($1, 'new', 0, NULL, 180), "
            "  ($1, 'seasoned', 1, 181, NULL)",
            1, p1);
    exec_ok(gen, "VACUUM (ANALYZE) adoption_facts", 0, NULL);
    exec_ok(gen, "ANALYZE participants; ANALYZE adoption_first; ANALYZE adoption_bands", 0, NULL);
    double gen_s = (now_ms() - t0) / 1e3;
    r = sql_ok(gen,
               "SELECT count(*), sum(logged), min(logged), max(logged), "
               "  (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
               "   WHERE inhparent = 'adoption_facts'::regclass), "
               "  (SELECT count(*) FROM pg_inherits WHERE inhparent = 'adoption_facts'::regclass), "
               "  (SELECT min(target) FROM gen_days), (SELECT max(target) FROM gen_days), "
               "  min(day)::text "
               "FROM adoption_facts WHERE program_id = $1",
               1, p1);
    long long nrows = atoll(PQgetvalue(r, 0, 0)), bytes = atoll(PQgetvalue(r, 0, 4));
    printf("set-up:   %lld fact rows generated in %.0f s: %lld participants (3 segments, 2 bands, "
           "100 teams, 12 activity types), %s to %s, %s partitions; logged %s (%lld a day on "
           "average: %s to %s a day, weekends less), %s to %s per row\n",
           nrows, gen_s, cf->participants, PQgetvalue(r, 0, 8), last, PQgetvalue(r, 0, 5),
           PQgetvalue(r, 0, 1), cf->rate, PQgetvalue(r, 0, 6), PQgetvalue(r, 0, 7),
           PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    printf("size:     adoption_facts %.0f MiB with its key (%.0f bytes a row), %lld rows\n",
           (double)bytes / 1048576.0, (double)bytes / (double)(nrows ? nrows : 1), nrows);
    PQclear(r);
    PQfinish(gen);
    fflush(stdout);

    /* the reports, on a connection with the server's settings */
    PGconn *pg = connect_to(dsn);
    carrot_report_query_t q = {program, "week", NULL, NULL, NULL, last, 8};
    lat_t rep, base, srep, sbase;
    char *json = NULL, *sjson = NULL, name[128], what[256];
    time_report(cf, pg, &q, lo, hi, &rep, &base, &json);
    snprintf(name, sizeof(name), "by week, 8 weeks to %s, every segment", last);
    snprintf(what, sizeof(what), "the plain sum by week and type over %s to %s", lo, hi);
    print_report(name, &rep, &base, cf->queries, what);
    print_last("every segment", json);
    fflush(stdout);
    q.segment = "dealer";
    time_report(cf, pg, &q, lo, hi, &srep, &sbase, &sjson);
    print_report("segment dealer", &srep, &sbase, cf->queries, "the same sum, segment dealer");
    print_last("segment dealer", sjson);
    fflush(stdout);

    /* what the report's three statements over the facts cost, and the plan of the heaviest */
    const char *fp[] = {program, "week", lo, hi, "", "", ""};
    const char *pp0[] = {program, "week", lo0, hi, "", "", ""};
    const char *hp[] = {program, lo, hi, "", "", ""};
    double sums_ms = explain(pg, SUMS_SQL, 7, fp, 0);
    double heat_ms = explain(pg, HEATMAP_SQL, 6, hp, 0);
    printf("queries:  EXPLAIN ANALYZE, every segment: sums() %.0f ms, heatmap() %.0f ms, people() "
           "below\n",
           sums_ms, heat_ms);
    printf("plan:     figures.c people() ($1 %s, $2 week, $3 %s, $4 %s, no filter):\n", program,
           lo0, hi);
    explain(pg, PEOPLE_SQL, 7, pp0, 1);
    PQfinish(pg);
    printf("{\"bench\":\"adoption_report\",\"fact_rows\":%lld,\"bytes\":%lld,\"generate_s\":%.0f,"
           "\"report_p50_ms\":%.0f,\"report_p99_ms\":%.0f,\"baseline_p50_ms\":%.0f,"
           "\"ratio\":%.2f,\"segment_p50_ms\":%.0f,\"segment_p99_ms\":%.0f,"
           "\"segment_baseline_p50_ms\":%.0f,\"segment_ratio\":%.2f}\n",
           nrows, bytes, gen_s, rep.p50, rep.p99, base.p50, rep.p50 / base.p50, srep.p50, srep.p99,
           sbase.p50, srep.p50 / sbase.p50);
    free(json);
    free(sjson);
    if (cf->keep) {
        printf("kept:     database %s (drop it with: DROP DATABASE %s)\n", db, db);
        forget_database(db, 0);
    } else {
        forget_database(db, 1);
    }
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program(
        "bench_adoption", props, &cf, argc, argv, NULL,
        "usage: bench_adoption [settings]\nTimes the adoption facts consumer against a plain "
        "consume and a plain COPY, and the weekly adoption report against a plain sum.",
        &exit_code);
    if (!conf) return exit_code;
    int facts = strcmp(cf.measure, "all") == 0 || strcmp(cf.measure, "facts") == 0;
    int report = strcmp(cf.measure, "all") == 0 || strcmp(cf.measure, "report") == 0;
    if (!facts && !report) {
        carrot_error("measure: expected all, facts or report, not \"%s\"", cf.measure);
        carrot_conf_destroy(conf);
        return 2;
    }
    char program[64];
    snprintf(program, sizeof(program), "bad-%d-%lld", (int)getpid(),
             (long long)(carrot_time_now_ms() % 100000));
    made.pg = cf.pg;
    made.brokers = cf.brokers;
    if (facts) {
        printf("== facts: carrot-report run vs a plain consume and a plain COPY ==\n");
        fflush(stdout);
        bench_facts(&cf, program);
    }
    if (report) {
        printf("== report: by week over %lld days of %lld activities a day, %lld participants ==\n",
               cf.days, cf.rate, cf.participants);
        fflush(stdout);
        bench_report(&cf, program);
    }
    clean_up();
    carrot_conf_destroy(conf);
    return 0;
}
