/* test_chaos.c: exactly once while scorers crash. A large synthetic feed
 * (carrot-loadgen: deletes of earlier records and resent lines, plus
 * undeletes and deletes that overtake their create woven in) goes through
 * carrot-ingest onto six partitions, in two halves, while three
 * carrot-scorer processes of one consumer group share them and, at seeded
 * random moments, one of them is killed with SIGKILL and restarted under the
 * same --instance. Once all three have drained the topic, every leaderboard
 * in Redis (each period and scope, every member's score) and the committed
 * Award events must equal a recount this test makes from the feed lines
 * alone, and no award id may appear twice. */
#include "ittools.h"
#include "testutil.h"

#include "carrot/award.h"
#include "carrot/board.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSCORERS 3
#define PARTITIONS 6
#define AWARD_PARTITIONS 3
#define KILLS 8 /* one at a time; then all three at once before the final drain */
#define DUPLICATE_EVERY "97"

/* The rules' points table. email, task and lead are left out on purpose
 * (unlisted types earn nothing), and deal_lost is a penalty, so deleting one
 * gives points back. */
static const struct {
    const char *type;
    long long points;
} points_table[] = {{"call", 5},
                    {"meeting", 10},
                    {"note", 3},
                    {"quote", 7},
                    {"deal_won", 50},
                    {"deal_lost", -4},
                    {"opportunity_stage", 2},
                    {"training_completed", 20},
                    {"certification_passed", 40}};
#define NPOINTS (sizeof(points_table) / sizeof(points_table[0]))

static long long points_of(const char *type) {
    for (size_t i = 0; i < NPOINTS; i++)
        if (strcmp(points_table[i].type, type) == 0) return points_table[i].points;
    return 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long json_count(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no \"%s\" in %s", key, json);
    return atoll(p + strlen(pat));
}

/* ---- child processes ----
 * Every scorer this test starts is in live[]: a failing assertion ends the
 * test process, and neither a running scorer nor a zombie may outlive it. */

static pid_t live[NSCORERS];

/* At exit: kills and reaps whatever is still running. That covers a no-fork
 * Check run (CK_FORK=no), where a failed assertion returns to the runner
 * and the process later exits normally; for a forked run see spawn(). */
static void kill_live(void) {
    for (int i = 0; i < NSCORERS; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
}

/* Like it_spawn (and honouring CARROT_IT_WRAPPER the same way), but stdout
 * goes to out_path (NULL: /dev/null), and the child is killed by the kernel
 * when this process dies: Check's forked test child ends with _exit() on a
 * failed assertion or is killed on a timeout, and runs no cleanup then. */
static pid_t spawn(char *const argv[], const char *out_path) {
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0) return pid;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_TRUNC);
    if (fd < 0) _exit(126);
    dup2(fd, 1);
    close(fd);
    const char *wrapper = getenv("CARROT_IT_WRAPPER");
    if (!wrapper || !*wrapper) {
        execv(argv[0], argv);
        _exit(127);
    }
    char *words = strdup(wrapper), *save = NULL, *args[64];
    int n = 0;
    for (char *w = strtok_r(words, " ", &save); w && n < 32; w = strtok_r(NULL, " ", &save))
        args[n++] = w;
    for (int i = 0; argv[i] && n < 63; i++) args[n++] = argv[i];
    args[n] = NULL;
    execvp(args[0], args);
    _exit(127);
}

typedef struct {
    char program[48], act[96], dlq[96], awards[96], group[96];
    char instance[NSCORERS][96];
    char *rules;
    char *out[NSCORERS]; /* stdout of the final, draining run */
} fixture_t;

static pid_t start_scorer(fixture_t *f, int i, int until_drained) {
    char *argv[] = {CARROT_SCORER, "--topic",      f->act,
                    "--dlq-topic", f->dlq,         "--awards-topic",
                    f->awards,     "--group",      f->group,
                    "--instance",  f->instance[i], "--rules",
                    f->rules,      "--batch-size", "20",
                    "--log-level", "warn",         until_drained ? "--until-drained" : NULL,
                    NULL};
    live[i] = spawn(argv, until_drained ? f->out[i] : NULL);
    return live[i];
}

static void kill_scorer(int i) {
    ck_assert_int_gt(live[i], 0);
    ck_assert_int_eq(kill(live[i], SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(live[i], &status, 0), live[i]);
    /* it must have been running: a scorer that exited on its own is a failure */
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "scorer %d was not running when killed (status %d)", i, status);
    live[i] = 0;
}

/* Ingests feed lines [from, to) through carrot-ingest; returns the count
 * delivered, which must be all of them. */
static long long ingest_lines(fixture_t *f, const char *const *starts, size_t from, size_t to) {
    char *chunk = strndup(starts[from], (size_t)(starts[to] - starts[from]));
    char *path = it_write_temp(chunk), *out;
    char *argv[] = {CARROT_INGEST, "--input", path,          "--topic", f->act,
                    "--dlq-topic", f->dlq,    "--log-level", "warn",    NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    long long delivered = json_count(out, "delivered");
    ck_assert_int_eq(delivered, (long long)(to - from));
    ck_assert_int_eq(json_count(out, "dead_lettered"), 0);
    free(out);
    unlink(path);
    free(path);
    free(chunk);
    return delivered;
}

/* ---- the recount ----
 * What the documented semantics say each participant ends with, from the
 * feed lines alone (README "Scoring", carrot/board.h): a CREATE of a listed
 * type earns its points once per event id; its record (source system +
 * source record id) remembers what it earned; a DELETE takes that back once
 * (and leaves a tombstone when the record earned nothing yet, so a CREATE
 * arriving after it earns nothing); an UNDELETE gives it back; an UPDATE or
 * an unlisted type earns nothing and never reaches the dedup.
 *
 * Boards (README "Leaderboards", carrot/board.h): a record's boards are
 * those of its first CREATE that reaches the dedup (each period of its
 * occurred_at, for all and for each scope it names), whether or not that
 * CREATE earns anything; every amount of the record (its CREATEs, its
 * DELETE's reversal, its UNDELETE's restore) moves on those boards. */

#define PERIODS 5                   /* day, week, month, quarter, ptd */
#define RECORD_BOARDS (PERIODS * 4) /* x (all, seg:, reg:, team:) */

/* Retention after a period ends, in days (the rules' defaults; the test's
 * rules set none): day, week, month, quarter; ptd boards never expire. */
static const long long retention_days[PERIODS] = {35, 91, 400, 800, 0};

typedef struct {
    char name[320];      /* "<period id>:<scope>" */
    long long expire_at; /* Unix seconds; 0: never */
    int period;          /* 0 day .. 4 ptd */
    json_t *scores;      /* participant -> expected points */
} board_t;

typedef struct {
    char participant[128];     /* who its points went to */
    long long earned;          /* the sum of its CREATEs */
    int has_earned;            /* a CREATE was applied to it */
    int state;                 /* -1 never marked, 0 deleted, 1 standing */
    int nboards;               /* 0 until its first CREATE reaches the dedup */
    int boards[RECORD_BOARDS]; /* indexes into recount_t.boards */
} record_t;

typedef struct {
    json_t *ids;      /* every event id in the feed, to count resent lines */
    json_t *seen;     /* event id -> true, for events that reached the dedup */
    json_t *recidx;   /* record key -> index into recs */
    json_t *totals;   /* participant -> expected points, for everyone ever credited */
    json_t *events;   /* event id -> expected award points (non-zero only) */
    json_t *boardidx; /* board name -> index into boards */
    record_t *recs;
    size_t nrecs, caprecs;
    board_t *boards;
    size_t nboards, capboards;
    long long lines, resent, creates, unscored, suppressed, updates, deletes, deletes_empty,
        undeletes, undeletes_empty, awards, points;
} recount_t;

static record_t *record_of(recount_t *rc, const char *key) {
    json_t *idx = json_object_get(rc->recidx, key);
    if (idx) return &rc->recs[json_integer_value(idx)];
    if (rc->nrecs == rc->caprecs) {
        rc->caprecs = rc->caprecs ? rc->caprecs * 2 : 1024;
        rc->recs = realloc(rc->recs, rc->caprecs * sizeof(*rc->recs));
        ck_assert_ptr_nonnull(rc->recs);
    }
    record_t *r = &rc->recs[rc->nrecs];
    memset(r, 0, sizeof(*r));
    r->state = -1;
    json_object_set_new(rc->recidx, key, json_integer((json_int_t)rc->nrecs++));
    return r;
}

static void add_to(json_t *map, const char *key, long long amount) {
    json_t *v = json_object_get(map, key);
    if (v) json_integer_set(v, json_integer_value(v) + amount);
    else
        json_object_set_new(map, key, json_integer(amount));
}

static const char *str_or(json_t *obj, const char *field, const char *dflt) {
    const char *v = json_string_value(json_object_get(obj, field));
    return v ? v : dflt;
}

/* The Unix seconds of an RFC 3339 UTC time as loadgen writes it
 * ("2026-11-02T08:00:00.000Z"): the rules name no time zone, so periods are
 * UTC, and this recount reads UTC times only. */
static time_t utc_seconds(const char *s) {
    int y, mo, d, h, mi, sec, n = 0;
    ck_assert_msg(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 &&
                      n == 19,
                  "occurred_at \"%s\" is not an RFC 3339 time", s);
    const char *p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++) {
        }
    ck_assert_msg(strcmp(p, "Z") == 0, "occurred_at \"%s\": this test reads UTC times only", s);
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    return timegm(&tm);
}

/* The ids of the periods that hold t (Unix seconds) in UTC, and when each
 * ends (Unix seconds; 0 for ptd), worked out here with gmtime_r and timegm:
 * [0] "d:2026-11-22", [1] ISO week "w:2026-W47", [2] "m:2026-11",
 * [3] "q:2026-Q4", [4] "ptd". */
static void utc_periods(time_t t, char ids[PERIODS][48], long long ends[PERIODS]) {
    struct tm tm;
    ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
    long long day0 = (long long)t - (long long)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
    char week[24];
    ck_assert_uint_gt(strftime(week, sizeof(week), "%G-W%V", &tm), 0);
    int q = tm.tm_mon / 3 + 1;
    snprintf(ids[0], sizeof(ids[0]), "d:%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    snprintf(ids[1], sizeof(ids[1]), "w:%s", week);
    snprintf(ids[2], sizeof(ids[2]), "m:%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    snprintf(ids[3], sizeof(ids[3]), "q:%04d-Q%d", tm.tm_year + 1900, q);
    snprintf(ids[4], sizeof(ids[4]), "ptd");
    ends[0] = day0 + 86400;
    ends[1] = day0 + (7 - (tm.tm_wday + 6) % 7) * 86400LL; /* the next Monday */
    struct tm next = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon + 1, .tm_mday = 1};
    ends[2] = (long long)timegm(&next);
    next = (struct tm){.tm_year = tm.tm_year, .tm_mon = q * 3, .tm_mday = 1};
    ends[3] = (long long)timegm(&next);
    ends[4] = 0;
    /* a cross-check with libcarrot's own naming, a pure function; the
     * recount uses the ids above */
    for (int p = 0; p < PERIODS; p++) {
        char id[64];
        int64_t end;
        ck_assert_int_eq(
            carrot_period_of((carrot_period_t)p, (int64_t)t * 1000, "UTC", id, sizeof(id), &end),
            0);
        ck_assert_msg(strcmp(id, ids[p]) == 0 &&
                          (p == CARROT_PERIOD_PTD ? end == INT64_MAX : end == ends[p] * 1000),
                      "period %d of %lld: here %s ending %lld, carrot_period_of %s ending %lld ms",
                      p, (long long)t, ids[p], ends[p], id, (long long)end);
    }
}

static int board_of(recount_t *rc, const char *name, int period, long long expire_at) {
    json_t *idx = json_object_get(rc->boardidx, name);
    if (idx) {
        board_t *b = &rc->boards[json_integer_value(idx)];
        ck_assert_int_eq(b->expire_at, expire_at);
        return (int)json_integer_value(idx);
    }
    if (rc->nboards == rc->capboards) {
        rc->capboards = rc->capboards ? rc->capboards * 2 : 256;
        rc->boards = realloc(rc->boards, rc->capboards * sizeof(*rc->boards));
        ck_assert_ptr_nonnull(rc->boards);
    }
    board_t *b = &rc->boards[rc->nboards];
    int n = snprintf(b->name, sizeof(b->name), "%s", name);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(b->name), "board name too long: %s", name);
    b->expire_at = expire_at;
    b->period = period;
    b->scores = json_object();
    json_object_set_new(rc->boardidx, name, json_integer((json_int_t)rc->nboards));
    return (int)rc->nboards++;
}

/* The boards of record r, from its first CREATE that reaches the dedup, o:
 * each period of its occurred_at x (all, and each scope o names). */
static void plan_boards(recount_t *rc, record_t *r, json_t *o) {
    const char *when = str_or(o, "occurred_at", NULL);
    ck_assert_ptr_nonnull(when);
    char ids[PERIODS][48];
    long long ends[PERIODS];
    utc_periods(utc_seconds(when), ids, ends);
    const char *scopes[4][2] = {{"all", ""},
                                {"seg:", str_or(o, "segment", "")},
                                {"reg:", str_or(o, "region", "")},
                                {"team:", str_or(o, "team_id", "")}};
    r->nboards = 0;
    /* a day board is kept while any period that holds the day keeps its board (the
     * week, month and quarter boards are summed from the day boards when read) */
    long long day_keep = 0;
    for (int p = 0; p < PERIODS - 1; p++)
        if (ends[p] + retention_days[p] * 86400 > day_keep)
            day_keep = ends[p] + retention_days[p] * 86400;
    for (int p = 0; p < PERIODS; p++) {
        long long expire_at = p == PERIODS - 1 ? 0
                              : p == 0         ? day_keep
                                               : ends[p] + retention_days[p] * 86400;
        for (int sc = 0; sc < 4; sc++) {
            if (sc > 0 && !*scopes[sc][1]) continue;
            char name[320];
            int n = snprintf(name, sizeof(name), "%s:%s%s", ids[p], scopes[sc][0], scopes[sc][1]);
            ck_assert_msg(n > 0 && (size_t)n < sizeof(name), "board name too long");
            r->boards[r->nboards++] = board_of(rc, name, p, expire_at);
        }
    }
}

/* One feed line, in feed order. Every change of one record names the same
 * participant in loadgen's feed, so ingest puts them on one partition, in
 * this order; the recount may then follow the feed line by line. */
static void recount_line(recount_t *rc, const char *program, const char *line, size_t len) {
    json_error_t jerr;
    json_t *o = json_loadb(line, len, 0, &jerr);
    ck_assert_msg(o != NULL, "feed line %lld: %s", rc->lines + 1, jerr.text);
    rc->lines++;
    const char *event_id = str_or(o, "event_id", NULL);
    ck_assert_ptr_nonnull(event_id);
    ck_assert_str_eq(str_or(o, "program_id", program), program);
    const char *change = str_or(o, "change_type", "CREATE");
    const char *type = str_or(o, "activity_type", "");
    const char *who = str_or(o, "participant_id", "");
    char key[600];
    snprintf(key, sizeof(key), "%s:%s", str_or(o, "source_system", "generic"),
             str_or(o, "source_record_id", event_id));
    long long pts = points_of(type);
    int is_create = strcmp(change, "CREATE") == 0, is_delete = strcmp(change, "DELETE") == 0,
        is_undelete = strcmp(change, "UNDELETE") == 0;
    ck_assert_msg(is_create || is_delete || is_undelete || strcmp(change, "UPDATE") == 0,
                  "feed line %lld: change type %s", rc->lines, change);
    int again = json_object_get(rc->ids, event_id) != NULL;
    if (again) rc->resent++;
    else
        json_object_set_new(rc->ids, event_id, json_true());
    /* an UPDATE, or a CREATE of an unlisted type (or one worth 0), never reaches Redis */
    if ((!is_create && !is_delete && !is_undelete) || (is_create && pts == 0)) {
        if (!again) *(is_create ? &rc->unscored : &rc->updates) += 1;
        json_decref(o);
        return;
    }
    if (json_object_get(rc->seen, event_id)) { /* the same event delivered again */
        json_decref(o);
        return;
    }
    json_object_set_new(rc->seen, event_id, json_true());
    record_t *r = record_of(rc, key);
    long long amount = 0;
    const char *to = who;
    if (is_create) {
        if (!r->nboards) plan_boards(rc, r, o);
        rc->creates++;
        r->earned += pts;
        r->has_earned = 1;
        snprintf(r->participant, sizeof(r->participant), "%s", who);
        if (r->state == 0) rc->suppressed++; /* its DELETE came first */
        else {
            amount = pts;
            r->state = 1;
        }
    } else if (is_delete) {
        to = r->participant;
        if (r->state != 0 && r->has_earned) amount = -r->earned;
        else
            rc->deletes_empty++;
        r->state = 0;
        rc->deletes++;
    } else {
        to = r->participant;
        if (r->state == 0 && r->has_earned) amount = r->earned;
        else
            rc->undeletes_empty++;
        r->state = 1;
        rc->undeletes++;
    }
    if (amount != 0) {
        add_to(rc->totals, to, amount);
        for (int b = 0; b < r->nboards; b++) add_to(rc->boards[r->boards[b]].scores, to, amount);
        json_object_set_new(rc->events, event_id, json_integer(amount));
        rc->awards++;
        rc->points += amount;
    }
    json_decref(o);
}

/* carrot-loadgen writes CREATEs, DELETEs of earlier records and resent
 * lines, but no UNDELETE, and never a DELETE before its CREATE. Lines for
 * those are woven in, each naming the participant of its record (so it
 * lands on that record's partition, after what precedes it in the feed):
 * after every third DELETE, an UNDELETE of its record; and every 1000 lines,
 * a DELETE of a record not yet created (it takes nothing and leaves a
 * tombstone), then its CREATE (which earns nothing) and, every other time,
 * its UNDELETE (which gives the CREATE's points back). Returns a new feed;
 * *loadgen_lines gets the count of loadgen's own lines. */
static char *widen_feed(const char *feed, const char *program, long *loadgen_lines) {
    char *out = NULL;
    size_t outlen = 0;
    FILE *w = open_memstream(&out, &outlen);
    ck_assert_ptr_nonnull(w);
    long n = 0, deletes = 0;
    for (const char *p = feed; *p; n++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(w, "%.*s\n", (int)len, p);
        json_error_t jerr;
        json_t *o = json_loadb(p, len, 0, &jerr);
        ck_assert_msg(o != NULL, "loadgen line %ld: %s", n + 1, jerr.text);
        const char *event_id = str_or(o, "event_id", ""), *who = str_or(o, "participant_id", "");
        const char *when = str_or(o, "occurred_at", "");
        static const char line_fmt[] =
            "{\"event_id\":\"%s%s\",\"program_id\":\"%s\",\"source_system\":\"loadgen\","
            "\"source_record_id\":\"%s\",\"change_type\":\"%s\",%s\"participant_id\":\"%s\","
            "\"occurred_at\":\"%s\"}\n";
        if (strcmp(str_or(o, "change_type", ""), "DELETE") == 0 && deletes++ % 3 == 0)
            fprintf(w, line_fmt, event_id, ".undelete", program, str_or(o, "source_record_id", ""),
                    "UNDELETE", "", who, when);
        if (n % 1000 == 500) {
            char rec[64];
            snprintf(rec, sizeof(rec), "orphan-%ld", n);
            fprintf(w, line_fmt, rec, ".delete", program, rec, "DELETE", "", who, when);
            fprintf(w, line_fmt, rec, "", program, rec, "CREATE", "\"activity_type\":\"call\",",
                    who, when);
            if (n % 2000 == 500)
                fprintf(w, line_fmt, rec, ".undelete", program, rec, "UNDELETE", "", who, when);
        }
        json_decref(o);
        p += len + (nl ? 1 : 0);
    }
    fclose(w);
    *loadgen_lines = n;
    return out;
}

/* ---- reading back ---- */

/* The program-to-date board of every participant, as Redis replies to
 * ZRANGE WITHSCORES. Its key is being renamed from carrot:{P}:lb:ptd to
 * carrot:{P}:lb:ptd:all: read the new key when it exists, else the old one,
 * so this test holds before and after the rename. */
static redisReply *read_board(redisContext *rc, const char *program, char *key, size_t keysize) {
    snprintf(key, keysize, "carrot:{%s}:lb:ptd:all", program);
    redisReply *r = redisCommand(rc, "EXISTS %s", key);
    ck_assert_ptr_nonnull(r);
    int fresh = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!fresh) snprintf(key, keysize, "carrot:{%s}:lb:ptd", program);
    r = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", key);
    ck_assert_msg(r && r->type == REDIS_REPLY_ARRAY, "ZRANGE %s: %s", key,
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    return r;
}

static long long score_value(const char *s) {
    char *end;
    double d = strtod(s, &end);
    ck_assert_msg(*end == '\0' && d == (double)(long long)d,
                  "board score \"%s\" is not a whole number", s);
    return (long long)d;
}

/* Data messages of topic as a read_uncommitted reader sees them: those of
 * aborted transactions too. Less what read_committed sees, that is what the
 * killed scorers' open transactions had produced: evidence that kills landed
 * between a batch's Redis step and its commit, where a replay must follow. */
static long long count_uncommitted(const char *topic) {
    char errstr[512], group[128];
    it_unique(group, sizeof(group), "it-uncommitted");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "isolation.level", "read_uncommitted", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(AWARD_PARTITIONS);
    for (int p = 0; p < AWARD_PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    long long n = 0;
    int eofs = 0;
    time_t deadline = time(NULL) + 60;
    while (eofs < AWARD_PARTITIONS && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eofs++;
        else if (!m->err)
            n++;
        rd_kafka_message_destroy(m);
    }
    ck_assert_msg(eofs == AWARD_PARTITIONS, "reading %s did not reach the end in 60 s", topic);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        buf = realloc(buf, len + n + 1);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    if (!buf) buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

/* Records a mismatch; keeps the first few for the failure message. */
__attribute__((format(printf, 4, 5))) static void mismatch(char *report, size_t size, int *count,
                                                           const char *fmt, ...) {
    if ((*count)++ >= 8) return;
    size_t len = strlen(report);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report + len, size - len, fmt, ap);
    va_end(ap);
}

/* Every leaderboard of the program in Redis against the recount: the set of
 * boards, every member's score (a member missing and a member at 0 are the
 * same: a board may hold members brought back to 0, and the recount plans
 * boards that never get a point), and when each board expires. Boards past
 * their retention, or within ten minutes of it, are left out on both
 * sides: the scorer skips them, and Redis may have dropped them. */
static void compare_boards(recount_t *rc, const char *program) {
    char prefix[128], pattern[136], report[2048] = "";
    int plen = snprintf(prefix, sizeof(prefix), "carrot:{%s}:lb:", program);
    ck_assert(plen > 0 && (size_t)plen < sizeof(prefix));
    snprintf(pattern, sizeof(pattern), "%s*", prefix);
    /* the scorer's clock decides what has expired; Redis keeps the real one */
    const long long now = (long long)(carrot_time_now_ms() / 1000), margin = 600;
    int bad = 0;
    char *in_redis = calloc(rc->nboards ? rc->nboards : 1, 1);
    ck_assert_ptr_nonnull(in_redis);
    long long keys_seen = 0, compared = 0, entries = 0, zeros = 0, nonzero = 0, expiries = 0,
              skipped_redis = 0, by_period[PERIODS] = {0}, all_points[PERIODS] = {0};
    /* the week, month and quarter boards are sums of day boards, made when read:
     * read each through the board library, which leaves the sum under its key */
    carrot_board_t *lib = carrot_board_new("127.0.0.1", it_redis_port(), 10000);
    ck_assert_ptr_nonnull(lib);
    for (size_t bi = 0; bi < rc->nboards; bi++) {
        const board_t *b = &rc->boards[bi];
        if (!carrot_board_rolled(b->name) || (b->expire_at && b->expire_at <= now + margin))
            continue;
        char errstr[512];
        long members;
        ck_assert_msg(carrot_board_members(lib, program, b->name, &members, errstr,
                                           sizeof(errstr)) == CARROT_BOARD_OK,
                      "%s: %s", b->name, errstr);
    }
    carrot_board_destroy(lib);
    const long long real_now = (long long)time(NULL);
    redisContext *redis = it_redis_for(program);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(redis, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        ck_assert_msg(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                          r->element[0]->type == REDIS_REPLY_STRING &&
                          r->element[1]->type == REDIS_REPLY_ARRAY,
                      "SCAN %s: %s", pattern,
                      r && r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;
            ck_assert(strncmp(key, prefix, (size_t)plen) == 0);
            const char *name = key + plen;
            json_t *idx = json_object_get(rc->boardidx, name);
            if (!idx) {
                keys_seen++;
                mismatch(report, sizeof(report), &bad, " %s: in Redis, not in the recount;", name);
                continue;
            }
            size_t bi = (size_t)json_integer_value(idx);
            if (in_redis[bi]) continue; /* SCAN may return a key twice */
            in_redis[bi] = 1;
            keys_seen++;
            const board_t *b = &rc->boards[bi];
            if (b->expire_at && b->expire_at <= now + margin) {
                skipped_redis++;
                continue;
            }
            compared++;
            by_period[b->period]++;
            /* every member's score */
            redisReply *z = redisCommand(redis, "ZRANGE %s 0 -1 WITHSCORES", key);
            ck_assert_msg(z && z->type == REDIS_REPLY_ARRAY, "ZRANGE %s: %s", key,
                          z && z->type == REDIS_REPLY_ERROR ? z->str : "no reply");
            json_t *members = json_object();
            long long board_points = 0;
            for (size_t j = 0; j + 1 < z->elements; j += 2) {
                const char *who = z->element[j]->str;
                long long got = score_value(z->element[j + 1]->str);
                json_t *want = json_object_get(b->scores, who);
                long long w = want ? (long long)json_integer_value(want) : 0;
                if (got != w)
                    mismatch(report, sizeof(report), &bad, " %s %s: %lld, recount %lld;", name, who,
                             got, w);
                json_object_set_new(members, who, json_true());
                board_points += got;
                entries++;
                *(got ? &nonzero : &zeros) += 1;
            }
            const char *who;
            json_t *want;
            json_object_foreach(b->scores, who, want) {
                if (json_object_get(members, who)) continue;
                entries++;
                if (json_integer_value(want) != 0)
                    mismatch(report, sizeof(report), &bad, " %s %s: none, recount %lld;", name, who,
                             (long long)json_integer_value(want));
                else
                    zeros++;
            }
            json_decref(members);
            freeReplyObject(z);
            size_t nlen = strlen(name);
            if (nlen >= 4 && strcmp(name + nlen - 4, ":all") == 0)
                all_points[b->period] += board_points;
            /* when it expires: a day board retention_days after the last of its
             * periods ends; ptd never */
            /* absolute (Redis 7), so it means the same under a test clock shift */
            long long want_exp = b->expire_at ? b->expire_at : -1;
            redisReply *e = redisCommand(redis, "EXPIRETIME %s", key);
            ck_assert_msg(e && e->type == REDIS_REPLY_INTEGER, "EXPIRETIME %s: %s", key,
                          e && e->type == REDIS_REPLY_ERROR ? e->str : "no reply");
            long long got_exp = e->integer;
            freeReplyObject(e);
            expiries++;
            if (carrot_board_rolled(name)) { /* a cache, kept a while after it is made */
                if (got_exp <= real_now || got_exp > real_now + CARROT_BOARD_ROLLUP_TTL + 5)
                    mismatch(report, sizeof(report), &bad,
                             " %s (rolled up) expires at %lld, %lld s from now;", name, got_exp,
                             got_exp - real_now);
            } else if (got_exp != want_exp)
                mismatch(report, sizeof(report), &bad, " %s expires at %lld, recount %lld;", name,
                         got_exp, want_exp);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(redis);
    /* boards of the recount that Redis lacks: fine only when nobody has a point there */
    long long unplaced = 0, skipped = 0;
    for (size_t bi = 0; bi < rc->nboards; bi++) {
        const board_t *b = &rc->boards[bi];
        if (b->expire_at && b->expire_at <= now + margin) {
            skipped++;
            continue;
        }
        if (in_redis[bi]) continue;
        const char *who;
        json_t *want;
        long long points = 0, members = 0;
        json_object_foreach(b->scores, who, want) {
            if (json_integer_value(want) != 0) members++;
            points += json_integer_value(want);
        }
        if (members)
            mismatch(report, sizeof(report), &bad,
                     " %s: not in Redis, recount %lld points over %lld members;", b->name, points,
                     members);
        else
            unplaced++;
    }
    free(in_redis);
    printf("chaos: leaderboards: %lld boards in Redis, %lld compared (%lld day, %lld week, %lld"
           " month, %lld quarter, %lld ptd) with %lld entries (%lld non-zero, %lld at 0 or"
           " missing on one side) and %lld expiry times; %lld recount boards never got a point"
           " and have no key; %lld boards past their retention skipped (%lld of them in Redis)\n",
           keys_seen, compared, by_period[0], by_period[1], by_period[2], by_period[3],
           by_period[4], entries, nonzero, zeros, expiries, unplaced, skipped, skipped_redis);
    printf("chaos: leaderboards: points on the all boards per period: day %lld, week %lld,"
           " month %lld, quarter %lld, ptd %lld; recount %lld\n",
           all_points[0], all_points[1], all_points[2], all_points[3], all_points[4], rc->points);
    ck_assert_msg(bad == 0, "%d leaderboard mismatches:%s", bad, report);
    ck_assert_int_gt(by_period[PERIODS - 1], 0); /* ptd:all at least */
    for (int p = 0; p < PERIODS; p++) {
        int any_skipped = 0;
        for (size_t bi = 0; bi < rc->nboards; bi++)
            if (rc->boards[bi].period == p && rc->boards[bi].expire_at &&
                rc->boards[bi].expire_at <= now + margin)
                any_skipped = 1;
        if (!any_skipped) ck_assert_int_eq(all_points[p], rc->points);
    }
}

START_TEST(killed_scorers_change_no_total) {
    fixture_t f;
    memset(&f, 0, sizeof(f));
    atexit(kill_live);
    it_unique(f.program, sizeof(f.program), "ch");
    snprintf(f.act, sizeof(f.act), "%s.activities", f.program);
    snprintf(f.dlq, sizeof(f.dlq), "%s.activities.dlq", f.program);
    snprintf(f.awards, sizeof(f.awards), "%s.awards", f.program);
    snprintf(f.group, sizeof(f.group), "%s.scorer", f.program);
    for (int i = 0; i < NSCORERS; i++) {
        snprintf(f.instance[i], sizeof(f.instance[i]), "%s.s%d", f.program, i);
        f.out[i] = it_write_temp("");
    }
    it_create_topic(f.act, PARTITIONS, NULL);
    it_create_topic(f.dlq, 1, NULL);
    it_create_topic(f.awards, AWARD_PARTITIONS, NULL);

    char rules[1024];
    int len = snprintf(rules, sizeof(rules), "{\"program\":\"%s\",\"version\":\"v1\",\"points\":{",
                       f.program);
    for (size_t i = 0; i < NPOINTS; i++)
        len += snprintf(rules + len, sizeof(rules) - (size_t)len, "%s\"%s\":%lld", i ? "," : "",
                        points_table[i].type, points_table[i].points);
    snprintf(rules + len, sizeof(rules) - (size_t)len, "}}");
    f.rules = it_write_temp(rules);

    /* the seed picks the feed and the kill moments; CARROT_CHAOS_SEED replays a run */
    unsigned seed = getenv("CARROT_CHAOS_SEED") ? (unsigned)atol(getenv("CARROT_CHAOS_SEED"))
                                                : 20261102u;
    srand(seed);
    /* fewer activities under valgrind, which is some 30 times slower */
    const char *count = getenv("CARROT_IT_WRAPPER") ? "3000" : "20000";
    char seedarg[24];
    snprintf(seedarg, sizeof(seedarg), "%u", seed);
    char *loadgen[] = {CARROT_LOADGEN,   "--seed", seedarg,     "--count", (char *)count,
                       "--participants", "300",    "--program", f.program, "--duplicate-every",
                       DUPLICATE_EVERY,  NULL};
    char *generated;
    ck_assert_int_eq(it_run(loadgen, &generated), 0);
    long loadgen_lines;
    char *feed = widen_feed(generated, f.program, &loadgen_lines);
    free(generated);
    ck_assert_int_eq(loadgen_lines, atol(count));

    /* The recount, and the line starts, so the feed can be ingested in parts. */
    recount_t rc = {.ids = json_object(),
                    .seen = json_object(),
                    .recidx = json_object(),
                    .totals = json_object(),
                    .events = json_object(),
                    .boardidx = json_object()};
    /* carrot_period_of (the recount's cross-check) sets TZ: the scorers must not inherit it */
    char *tz_before = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    size_t nlines = 0, caplines = 1024;
    const char **starts = malloc(caplines * sizeof(*starts));
    for (const char *p = feed; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (nlines + 1 == caplines) starts = realloc(starts, (caplines *= 2) * sizeof(*starts));
        starts[nlines++] = p;
        recount_line(&rc, f.program, p, n);
        p += n + (nl ? 1 : 0);
    }
    starts[nlines] = feed + strlen(feed);
    if (tz_before) setenv("TZ", tz_before, 1);
    else
        unsetenv("TZ");
    tzset();
    free(tz_before);
    /* the feed must hold what this test is about, or it proves little */
    ck_assert_int_gt(rc.resent, 0);
    ck_assert_int_gt(rc.deletes - rc.deletes_empty, 0);
    ck_assert_int_gt(rc.deletes_empty, 0);
    ck_assert_int_gt(rc.undeletes - rc.undeletes_empty, 0);
    ck_assert_int_gt(rc.suppressed, 0);
    ck_assert_int_gt(rc.unscored, 0);

    for (int i = 0; i < NSCORERS; i++) start_scorer(&f, i, 0);

    /* Chaos: half the feed arrives, then at random moments 0.3-2 s apart one
     * scorer is killed and restarted at once under its --instance (static
     * membership gives it its partitions straight back, and its
     * transactional.id fences the dead one's open transaction); halfway
     * through, the other half arrives. Small batches keep the scorers busy
     * through it all, so most kills land mid-batch. */
    long long delivered = ingest_lines(&f, starts, 0, nlines / 2);
    int kills = 0;
    while (kills < KILLS) {
        if (kills == KILLS / 2) delivered += ingest_lines(&f, starts, nlines / 2, nlines);
        int wait = 300 + rand() % 1701, victim = rand() % NSCORERS;
        sleep_ms(wait);
        long long committed = it_committed_sum(f.group, f.act);
        kill_scorer(victim);
        kills++;
        printf("chaos: kill %d: scorer %d after %d ms, %lld of %lld delivered committed\n", kills,
               victim, wait, committed, delivered);
        start_scorer(&f, victim, 0);
    }
    /* then all three at once, at a random moment too, and each restarted to
     * drain its partitions */
    sleep_ms(300 + rand() % 1701);
    long long committed_before = it_committed_sum(f.group, f.act);
    for (int i = 0; i < NSCORERS; i++) kill_scorer(i);
    printf("chaos: all %d scorers killed at once with %lld of %lld committed\n", NSCORERS,
           committed_before, delivered);
    for (int i = 0; i < NSCORERS; i++) start_scorer(&f, i, 1);
    time_t deadline = time(NULL) + 300;
    long long consumed = 0, aborted = 0;
    for (int i = 0; i < NSCORERS; i++) {
        int status = 0;
        pid_t got;
        while ((got = waitpid(live[i], &status, WNOHANG)) == 0 && time(NULL) < deadline)
            sleep_ms(100);
        ck_assert_msg(got == live[i], "scorer %d did not drain its partitions in 300 s", i);
        live[i] = 0;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "draining scorer %d failed (status %d)", i, status);
        char *out = read_text(f.out[i]);
        consumed += json_count(out, "consumed");
        aborted += json_count(out, "aborted");
        free(out);
    }
    printf("chaos: the draining run consumed %lld activities (%lld transactions aborted)\n",
           consumed, aborted);
    /* every activity is consumed and its offset committed */
    ck_assert_int_eq(delivered, (long long)nlines);
    ck_assert_int_eq(it_committed_sum(f.group, f.act), delivered);

    printf("chaos: seed %u: %lld lines (%ld from loadgen), %lld resent; %lld creates scored"
           " (%lld after their delete: nothing), %lld unscored, %lld updates, %lld deletes"
           " (%lld took nothing), %lld undeletes (%lld gave nothing); %zu participants credited\n",
           seed, rc.lines, loadgen_lines, rc.resent, rc.creates, rc.suppressed, rc.unscored,
           rc.updates, rc.deletes, rc.deletes_empty, rc.undeletes, rc.undeletes_empty,
           json_object_size(rc.totals));

    /* (a) the Redis board, participant by participant */
    char report[2048] = "", key[256];
    int bad = 0;
    redisContext *redis = it_redis_for(f.program);
    redisReply *board = read_board(redis, f.program, key, sizeof(key));
    long long board_total = 0;
    json_t *on_board = json_object();
    for (size_t i = 0; i + 1 < board->elements; i += 2) {
        const char *who = board->element[i]->str;
        long long got = score_value(board->element[i + 1]->str);
        json_t *want = json_object_get(rc.totals, who);
        board_total += got;
        json_object_set_new(on_board, who, json_true());
        if (!want)
            mismatch(report, sizeof(report), &bad, " board %s: %lld, recount none;", who, got);
        else if (got != json_integer_value(want))
            mismatch(report, sizeof(report), &bad, " board %s: %lld, recount %lld;", who, got,
                     json_integer_value(want));
    }
    const char *who;
    json_t *want;
    json_object_foreach(rc.totals, who, want) {
        if (!json_object_get(on_board, who))
            mismatch(report, sizeof(report), &bad, " board %s: none, recount %lld;", who,
                     (long long)json_integer_value(want));
    }
    printf("chaos: board %s: %lld points over %zu participants; recount: %lld points over %zu\n",
           key, board_total, board->elements / 2, rc.points, json_object_size(rc.totals));
    ck_assert_msg(bad == 0, "%d board mismatches:%s", bad, report);
    ck_assert_int_eq(board_total, rc.points);
    freeReplyObject(board);
    json_decref(on_board);
    redisFree(redis);

    /* (a') every board: each period and scope of every scored activity */
    compare_boards(&rc, f.program);

    /* (b) the committed awards, per participant and per event; (c) no award id twice */
    char errstr[512];
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    ck_assert_msg(codec != NULL, "%s", errstr);
    it_msg_t *msgs;
    size_t nmsgs = it_consume_all(f.awards, &msgs);
    json_t *ids = json_object(), *by_who = json_object(), *by_event = json_object();
    long long award_total = 0, twice = 0;
    char first_twice[400] = "";
    for (size_t i = 0; i < nmsgs; i++) {
        avro_value_t *v;
        carrot_award_t a;
        ck_assert_int_eq(carrot_codec_decode(codec, msgs[i].value, msgs[i].value_len, &v, errstr,
                                             sizeof(errstr)),
                         CARROT_CODEC_OK);
        ck_assert_msg(carrot_award_from_avro(v, &a, errstr, sizeof(errstr)) == 0, "%s", errstr);
        ck_assert_str_eq(a.program_id, f.program);
        ck_assert_str_eq(a.rules_version, "v1");
        if (json_object_get(ids, a.award_id)) {
            if (!twice++) snprintf(first_twice, sizeof(first_twice), "%s", a.award_id);
        } else
            json_object_set_new(ids, a.award_id, json_true());
        add_to(by_who, a.participant_id, a.points);
        add_to(by_event, a.event_id, a.points);
        award_total += a.points;
    }
    long long uncommitted = count_uncommitted(f.awards);
    printf("chaos: awards topic: %zu awards, %lld points, %lld award ids twice (and %lld awards of"
           " aborted transactions); recount: %lld awards, %lld points\n",
           nmsgs, award_total, twice, uncommitted - (long long)nmsgs, rc.awards, rc.points);
    ck_assert_msg(twice == 0, "%lld award ids appear twice, e.g. %s", twice, first_twice);
    /* the kills must have landed mid-transaction, or they proved no replay */
    ck_assert_msg(uncommitted > (long long)nmsgs,
                  "no kill left a transaction open: no awards of aborted transactions");
    report[0] = '\0';
    bad = 0;
    json_object_foreach(rc.totals, who, want) {
        json_t *got = json_object_get(by_who, who);
        if (!got || json_integer_value(got) != json_integer_value(want))
            mismatch(report, sizeof(report), &bad, " awards %s: %lld, recount %lld;", who,
                     got ? json_integer_value(got) : 0, json_integer_value(want));
    }
    json_t *sum;
    json_object_foreach(by_who, who, sum) {
        if (!json_object_get(rc.totals, who))
            mismatch(report, sizeof(report), &bad, " awards %s: %lld, recount none;", who,
                     (long long)json_integer_value(sum));
    }
    ck_assert_msg(bad == 0, "%d participants' awards differ from the recount:%s", bad, report);
    /* per event too: compensating errors between two events of one person show here */
    report[0] = '\0';
    bad = 0;
    json_object_foreach(rc.events, who, want) {
        sum = json_object_get(by_event, who);
        if (!sum || json_integer_value(sum) != json_integer_value(want))
            mismatch(report, sizeof(report), &bad, " event %s: %lld, recount %lld;", who,
                     sum ? json_integer_value(sum) : 0, json_integer_value(want));
    }
    json_object_foreach(by_event, who, sum) {
        if (!json_object_get(rc.events, who))
            mismatch(report, sizeof(report), &bad, " event %s: %lld, recount none;", who,
                     (long long)json_integer_value(sum));
    }
    ck_assert_msg(bad == 0, "%d events' awards differ from the recount:%s", bad, report);
    ck_assert_int_eq((long long)nmsgs, rc.awards); /* one award per scoring event here */
    ck_assert_int_eq(award_total, rc.points);
    json_decref(ids);
    json_decref(by_who);
    json_decref(by_event);
    it_msgs_free(msgs, nmsgs);
    carrot_codec_destroy(codec);

    /* every line was valid: nothing may have been dead-lettered on the way */
    size_t ndead = it_consume_all(f.dlq, &msgs);
    it_msgs_free(msgs, ndead);
    ck_assert_uint_eq(ndead, 0);

    /* no child left behind, running or zombie */
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);

    json_decref(rc.ids);
    json_decref(rc.seen);
    json_decref(rc.recidx);
    json_decref(rc.totals);
    json_decref(rc.events);
    json_decref(rc.boardidx);
    for (size_t i = 0; i < rc.nboards; i++) json_decref(rc.boards[i].scores);
    free(rc.boards);
    free(rc.recs);
    free(starts);
    free(feed);
    for (int i = 0; i < NSCORERS; i++) {
        unlink(f.out[i]);
        free(f.out[i]);
    }
    unlink(f.rules);
    free(f.rules);
}
END_TEST

int main(void) {
    /* the figures must show even when a failed assertion ends the test at once */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const TTest *tests[] = {killed_scorers_change_no_total, NULL};
    Suite *s = carrot_test_suite("chaos", tests);
    return carrot_test_run(s);
}
