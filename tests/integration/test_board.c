/* test_board.c: the guarded write of a batch and the queries on the real Redis: a
 * DELETE that overtakes its CREATE (they can sit on different partitions
 * when the DELETE names no participant), an UNDELETE, a replay of a batch,
 * a duplicate event id at another offset, caps and goals under the
 * watermark, board expiry, a batch's partitions over several connections
 * (lanes), records moved from the hash layout, and every query: top N with competition ranks,
 * the entries around a participant, and a participant's standing on every
 * board. */
#include "carrot/board.h"
#include "carrot/timeutil.h"
#include "ittools.h"
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const boards[] = {"ptd:all", "d:2026-11-10:all", "d:2026-11-10:seg:dealer"};
static int64_t expire[3];

/* What an event points to: its activity, what the rules say and its plan. */
typedef struct {
    carrot_activity_t act;
    carrot_scoring_t sc;
    carrot_plan_t plan;
    char system[32], record[64];
} parts_t;

/* A change of CRM record rec ("<system>:<id>") in p, not yet scored. */
static carrot_board_event_t change(parts_t *p, int64_t off, const char *id,
                                   carrot_board_kind_t kind, const char *rec) {
    const char *colon = strchr(rec, ':');
    ck_assert_msg(colon != NULL, "record %s names no system", rec);
    memset(p, 0, sizeof(*p));
    snprintf(p->system, sizeof(p->system), "%.*s", (int)(colon - rec), rec);
    snprintf(p->record, sizeof(p->record), "%s", colon + 1);
    p->act = (carrot_activity_t){.event_id = id,
                                 .source_system = p->system,
                                 .source_record_id = p->record,
                                 .participant_id = "",
                                 .activity_type = ""};
    carrot_board_event_t e = {
        .offset = off, .kind = kind, .event_id = id, .activity = &p->act, .version = "v1"};
    return e;
}

/* An AWARD of points under rule "base" on the three boards above, in p. */
static carrot_board_event_t award(parts_t *p, int64_t off, const char *id, const char *who,
                                  int64_t points, const char *rec) {
    carrot_board_event_t e = change(p, off, id, CARROT_BOARD_AWARD, rec);
    p->act.participant_id = who;
    p->act.activity_type = "call";
    p->sc.nlines = 1;
    snprintf(p->sc.lines[0].rule_id, sizeof(p->sc.lines[0].rule_id), "base");
    p->sc.lines[0].points = points;
    p->plan.nboards = 3;
    for (int i = 0; i < 3; i++) {
        snprintf(p->plan.boards[i].name, sizeof(p->plan.boards[i].name), "%s", boards[i]);
        p->plan.boards[i].expire_at = expire[i];
    }
    e.scoring = &p->sc;
    e.plan = &p->plan;
    return e;
}

START_TEST(order_replay_and_duplicates) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "bd");
    int64_t now = carrot_time_now_ms() / 1000; /* the scorer's clock */
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    redisContext *rc = it_redis();
    carrot_board_result_t res[4];
    static parts_t pt[10];
    /* partition 1 carries the DELETE (keyed by record), partition 0 the CREATE */
    carrot_board_event_t del[] = {change(&pt[0], 10, "e-del", CARROT_BOARD_REVERSE, "crm:r1")};
    carrot_board_event_t cre[] = {award(&pt[1], 20, "e-cre", "ann", 5, "crm:r1"),
                                  award(&pt[2], 21, "e-cre2", "ann", 7, "crm:r2")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:1", del, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 1);
    ck_assert_int_eq(res[0].amount, 0); /* nothing to take back yet */
    ck_assert_int_eq(res[0].nlines, 0);
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", cre, 2, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 0); /* deleted before it was scored: no award lines */
    ck_assert_int_eq(res[0].nlines, 0);
    ck_assert_int_eq(res[1].amount, 7);
    ck_assert_int_eq(res[1].nlines, 1);
    ck_assert_str_eq(res[1].lines[0].rule_id, "base");
    ck_assert_str_eq(res[1].version, "v1");
    for (int i = 0; i < 3; i++) ck_assert_int_eq(it_zscore(rc, program, boards[i], "ann"), 7);
    /* the UNDELETE gives r1's points, with its participant and type, on its boards */
    carrot_board_event_t und[] = {change(&pt[3], 11, "e-und", CARROT_BOARD_RESTORE, "crm:r1")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:1", und, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 5);
    ck_assert_str_eq(res[0].participant_id, "ann");
    ck_assert_str_eq(res[0].activity_type, "call");
    ck_assert_str_eq(res[0].lines[0].rule_id, "restore");
    for (int i = 0; i < 3; i++) ck_assert_int_eq(it_zscore(rc, program, boards[i], "ann"), 12);
    /* a replay of the partition-0 batch changes nothing and says the same */
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", cre, 2, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 1);
    ck_assert_int_eq(res[0].amount, 0);
    ck_assert_int_eq(res[1].amount, 7);
    ck_assert_int_eq(res[1].nlines, 1);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "ann"), 12);
    /* the same event id again at a later offset is a duplicate */
    carrot_board_event_t dup[] = {award(&pt[4], 30, "e-cre2", "ann", 7, "crm:r2")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", dup, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 0);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "ann"), 12);
    /* in order: CREATE, DELETE, DELETE again: the reversal leaves every board */
    carrot_board_event_t seq[] = {award(&pt[5], 31, "s1", "bob", 9, "crm:r3"),
                                  change(&pt[6], 32, "s2", CARROT_BOARD_REVERSE, "crm:r3"),
                                  change(&pt[7], 33, "s3", CARROT_BOARD_REVERSE, "crm:r3")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", seq, 3, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 9);
    ck_assert_int_eq(res[1].amount, -9);
    ck_assert_str_eq(res[1].participant_id, "bob");
    ck_assert_str_eq(res[1].lines[0].rule_id, "reversal");
    ck_assert_int_eq(res[2].amount, 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(it_zscore(rc, program, boards[i], "bob"), 0);
    /* a replay after a rules switch (the new rules give the event nothing)
     * returns what the first run did, so its award is still produced */
    carrot_board_event_t first[] = {award(&pt[8], 40, "sw1", "cy", 6, "crm:r9")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", first, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    pt[8].sc.nlines = 0;
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", first, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 1);
    ck_assert_int_eq(res[0].amount, 6);
    ck_assert_int_eq(res[0].nlines, 1);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "cy"), 6);
    /* an event that earns nothing leaves nothing behind */
    carrot_board_event_t none[] = {award(&pt[9], 41, "zero", "cy", 0, "crm:r10")};
    pt[9].sc.nlines = 0;
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", none, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 1);
    ck_assert_int_eq(res[0].nlines, 0);
    redisReply *z = redisCommand(rc, "EXISTS carrot:{%s}:seen:zero carrot:{%s}:rs:crm:r10", program,
                                 program);
    ck_assert_int_eq(z->integer, 0);
    freeReplyObject(z);
    /* dated boards expire; program to date does not */
    ck_assert_int_eq(it_expiretime(rc, program, "ptd:all"), -1);
    ck_assert_int_eq(it_expiretime(rc, program, "d:2026-11-10:all"), expire[1]);
    /* an offset at or below the watermark whose dedup entry is gone is not applied again */
    redisReply *r = redisCommand(rc, "DEL carrot:{%s}:seen:s1", program);
    freeReplyObject(r);
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", seq, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 0);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "bob"), 0);
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

/* Caps and goals settle in the same transaction, under the same watermark. */
START_TEST(caps_and_goals) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "bc");
    int64_t now = carrot_time_now_ms() / 1000; /* the scorer's clock */
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    redisContext *rc = it_redis();
    static parts_t pt[5];
    carrot_board_event_t ev[4];
    char ids[4][16], recs[4][16];
    for (int i = 0; i < 4; i++) { /* 10 + 2 a call, capped at 25 a day; a goal at 3 calls */
        snprintf(ids[i], sizeof(ids[i]), "c%d", i);
        snprintf(recs[i], sizeof(recs[i]), "crm:c%d", i);
        ev[i] = award(&pt[i], 100 + i, ids[i], "cat", 10, recs[i]);
        carrot_scoring_t *sc = &pt[i].sc;
        carrot_plan_t *pl = &pt[i].plan;
        snprintf(sc->lines[1].rule_id, sizeof(sc->lines[1].rule_id), "quality.q");
        sc->lines[1].points = 2;
        sc->nlines = 2;
        sc->kpi = "call";
        sc->capped = 1;
        sc->cap_points = 25;
        snprintf(pl->cap_key, sizeof(pl->cap_key), "cap:call:d:2026-11-10:cat");
        pl->cap_expire_at = now + 3600;
        sc->ngoals = 1;
        sc->goals[0] = (carrot_goal_hit_t){.id = "g", .target = 3, .bonus = 50};
        snprintf(pl->goal_keys[0], sizeof(pl->goal_keys[0]), "goal:g:w:2026-W46:cat");
        snprintf(pl->goal_rules[0], sizeof(pl->goal_rules[0]), "goal.g");
        pl->goal_expire_at[0] = now + 3600;
    }
    carrot_board_result_t res[4];
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", ev, 4, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 12);
    ck_assert_int_eq(res[1].amount, 12);
    ck_assert_int_eq(res[2].amount, 1 + 50); /* 1 left of the cap, and the goal's bonus */
    ck_assert_int_eq(res[2].nlines, 4);
    ck_assert_str_eq(res[2].lines[2].rule_id, "cap.call");
    ck_assert_int_eq(res[2].lines[2].points, -11);
    ck_assert_str_eq(res[2].lines[3].rule_id, "goal.g");
    ck_assert_int_eq(res[3].amount, 0);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "cat"), 75);
    /* a replay after a crash settles nothing again and returns the same lines */
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", ev, 4, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[2].amount, 51);
    ck_assert_str_eq(res[2].lines[3].rule_id, "goal.g");
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "cat"), 75);
    redisReply *r = redisCommand(rc, "GET carrot:{%s}:cap:call:d:2026-11-10:cat", program);
    ck_assert_str_eq(r->str, "25");
    freeReplyObject(r);
    r = redisCommand(rc, "GET carrot:{%s}:goal:g:w:2026-W46:cat", program);
    ck_assert_str_eq(r->str, "4");
    freeReplyObject(r);
    /* deleting the record that reached the goal takes back all it earned */
    carrot_board_event_t del[] = {change(&pt[4], 104, "d2", CARROT_BOARD_REVERSE, "crm:c2")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", del, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, -51);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "cat"), 24);
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

/* A commitment figure in Redis: field "n" or "d" of who in hash cm:<key>. */
static long long cm(redisContext *rc, const char *program, const char *key, const char *f,
                    const char *who) {
    redisReply *r = redisCommand(rc, "HGET carrot:{%s}:cm:%s %s\x1f%s", program, key, f, who);
    long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

/* Commitment figures are counted with the boards, exactly once: a replay or
 * a duplicate adds nothing, a DELETE takes back what its record added, an
 * UNDELETE gives it back, and a capped KPI counts what the cap left. */
START_TEST(commitments_count_once) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "bm");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    redisContext *rc = it_redis();
    static parts_t pt[8];
    carrot_board_event_t ev[4];
    char ids[4][16], recs[4][16];
    for (int i = 0; i < 4; i++) { /* 10 + 2 a call, capped at 25 a day */
        snprintf(ids[i], sizeof(ids[i]), "m%d", i);
        snprintf(recs[i], sizeof(recs[i]), "crm:m%d", i);
        ev[i] = award(&pt[i], 200 + i, ids[i], "cat", 10, recs[i]);
        carrot_scoring_t *sc = &pt[i].sc;
        carrot_plan_t *pl = &pt[i].plan;
        snprintf(sc->lines[1].rule_id, sizeof(sc->lines[1].rule_id), "quality.q");
        sc->lines[1].points = 2;
        sc->nlines = 2;
        sc->kpi = "call";
        sc->capped = 1;
        sc->cap_points = 25;
        snprintf(pl->cap_key, sizeof(pl->cap_key), "cap:call:d:2026-11-10:cat");
        pl->cap_expire_at = now + 3600;
        sc->ncommits = 3;
        sc->commits[0] = (carrot_commit_hit_t){.id = "calls", .value = 1};
        sc->commits[1] = (carrot_commit_hit_t){.id = "pts", .value = 12, .with_cap = 1};
        sc->commits[2] = (carrot_commit_hit_t){.id = "ok", .value = i % 2, .judged = 1};
        const char *keys[] = {"calls:2026-W46", "pts:2026-11", "ok:2026-W46"};
        for (int m = 0; m < 3; m++) {
            snprintf(pl->commit_keys[m], sizeof(pl->commit_keys[m]), "cm:%s", keys[m]);
            pl->commit_expire_at[m] = now + 3600;
        }
    }
    char key[96];
    carrot_commit_key(key, sizeof(key), "calls", "2026-W46");
    ck_assert_str_eq(key, "cm:calls:2026-W46");
    carrot_board_result_t res[4];
    for (int run = 0; run < 2; run++) /* the second is a replay after a crash */
        ck_assert_int_eq(
            carrot_board_apply(b, program, "t:0", ev, 4, 3600, now, res, errstr, sizeof(errstr)),
            0);
    ck_assert_int_eq(cm(rc, program, "calls:2026-W46", "n", "cat"), 4);
    ck_assert_int_eq(cm(rc, program, "pts:2026-11", "n", "cat"), 25); /* 12 + 12 + 1 + 0 */
    ck_assert_int_eq(cm(rc, program, "ok:2026-W46", "n", "cat"), 2);
    ck_assert_int_eq(cm(rc, program, "ok:2026-W46", "d", "cat"), 4);
    ck_assert_int_eq(cm(rc, program, "calls:2026-W46", "d", "cat"), -1); /* no share: no d */
    /* it expires when the plan said (on the scorer's clock, which a test may shift) */
    redisReply *r = redisCommand(rc, "EXPIRETIME carrot:{%s}:cm:calls:2026-W46", program);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer == now + 3600,
                  "EXPIRETIME %lld, want %lld", r->integer, (long long)(now + 3600));
    freeReplyObject(r);
    /* a duplicate delivery of m1 under a new offset adds nothing */
    carrot_board_event_t dup = award(&pt[4], 204, "m1", "cat", 10, "crm:m1");
    pt[4].sc = pt[1].sc;
    pt[4].plan = pt[1].plan;
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", &dup, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(cm(rc, program, "calls:2026-W46", "n", "cat"), 4);
    /* deleting m1 takes back its call, its 12 points and its judged, complete record */
    carrot_board_event_t del = change(&pt[5], 205, "del-m1", CARROT_BOARD_REVERSE, "crm:m1");
    for (int run = 0; run < 2; run++)
        ck_assert_int_eq(
            carrot_board_apply(b, program, "t:0", &del, 1, 3600, now, res, errstr, sizeof(errstr)),
            0);
    ck_assert_int_eq(cm(rc, program, "calls:2026-W46", "n", "cat"), 3);
    ck_assert_int_eq(cm(rc, program, "pts:2026-11", "n", "cat"), 13);
    ck_assert_int_eq(cm(rc, program, "ok:2026-W46", "n", "cat"), 1);
    ck_assert_int_eq(cm(rc, program, "ok:2026-W46", "d", "cat"), 3);
    /* a second DELETE takes nothing more; the UNDELETE gives it back once */
    carrot_board_event_t del2 = change(&pt[6], 206, "del2-m1", CARROT_BOARD_REVERSE, "crm:m1");
    carrot_board_event_t und = change(&pt[7], 207, "und-m1", CARROT_BOARD_RESTORE, "crm:m1");
    carrot_board_event_t seq[] = {del2, und};
    for (int run = 0; run < 2; run++)
        ck_assert_int_eq(
            carrot_board_apply(b, program, "t:0", seq, 2, 3600, now, res, errstr, sizeof(errstr)),
            0);
    ck_assert_int_eq(cm(rc, program, "calls:2026-W46", "n", "cat"), 4);
    ck_assert_int_eq(cm(rc, program, "pts:2026-11", "n", "cat"), 25);
    ck_assert_int_eq(cm(rc, program, "ok:2026-W46", "n", "cat"), 2);
    ck_assert_int_eq(cm(rc, program, "ok:2026-W46", "d", "cat"), 4);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "cat"), 25); /* the boards agree */
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

/* What a feed read hands over, flattened for asserts. */
typedef struct {
    int entries;
    char last[CARROT_BOARD_FEED_ID_MAX];
    char text[2048]; /* "who:points:type[:rule=points];..." per change, entries "|" */
} feed_t;

static int on_feed(void *opaque, const char *id, const char *source,
                   const carrot_board_change_t *ch, size_t n, const char *post) {
    feed_t *f = opaque;
    size_t len = strlen(f->text);
    if (f->entries++) len += (size_t)snprintf(f->text + len, sizeof(f->text) - len, "|");
    if (post) { /* a post has no changes: "post:<source>:<json>" */
        ck_assert_uint_eq(n, 0);
        snprintf(f->text + len, sizeof(f->text) - len, "post:%s:%s", source, post);
        snprintf(f->last, sizeof(f->last), "%s", id);
        return 0;
    }
    ck_assert_ptr_nonnull(strstr(source, "t:0:"));
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(f->text + len, sizeof(f->text) - len, "%s%s:%lld:%s", i ? ";" : "",
                                ch[i].participant_id, (long long)ch[i].points, ch[i].activity_type);
        for (int g = 0; g < ch[i].ncelebrations; g++)
            len += (size_t)snprintf(f->text + len, sizeof(f->text) - len, ":%s=%lld",
                                    ch[i].celebration_rule[g],
                                    (long long)ch[i].celebration_points[g]);
    }
    snprintf(f->last, sizeof(f->last), "%s", id);
    return 0;
}

/* The feed: one entry per transaction that moved points, with who, how
 * much and the goals reached; nothing for a replay or a batch that moved
 * nothing; a reader resumes after an id, and learns when it fell behind
 * the stream's cap. */
START_TEST(feed_is_exactly_once) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "bf");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    static parts_t pt[6];
    carrot_board_result_t res[3];
    char last[CARROT_BOARD_FEED_ID_MAX];
    ck_assert_int_eq(carrot_board_feed_last(b, program, last, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(last, "0-0");
    carrot_board_event_t ev[] = {award(&pt[0], 5, "f1", "ann", 5, "crm:f1"),
                                 award(&pt[1], 6, "f2", "bob", 3, "crm:f2")};
    pt[1].sc.ngoals = 1; /* bob's event reaches a goal of 1 */
    pt[1].sc.goals[0] = (carrot_goal_hit_t){.id = "first", .target = 1, .bonus = 20};
    snprintf(pt[1].plan.goal_keys[0], sizeof(pt[1].plan.goal_keys[0]), "goal:first:w:x:bob");
    snprintf(pt[1].plan.goal_rules[0], sizeof(pt[1].plan.goal_rules[0]), "goal.first");
    pt[1].plan.goal_expire_at[0] = now + 3600;
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", ev, 2, 3600, now, res, errstr, sizeof(errstr)), 0);
    feed_t f = {0};
    int gap = -1;
    ck_assert_int_eq(
        carrot_board_feed_read(b, program, "0", 0, 100, on_feed, &f, &gap, errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(gap, 0);
    ck_assert_int_eq(f.entries, 1);
    ck_assert_str_eq(f.text, "ann:5:call;bob:23:call:goal.first=20");
    ck_assert_int_eq(carrot_board_feed_last(b, program, last, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(last, f.last);
    /* the same batch replayed (a scorer killed before its commit) pushes nothing */
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", ev, 2, 3600, now, res, errstr, sizeof(errstr)), 0);
    /* nor does an event that earns nothing */
    carrot_board_event_t none[] = {award(&pt[2], 7, "f3", "cy", 0, "crm:f3")};
    pt[2].sc.nlines = 0;
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", none, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    feed_t g = {0};
    ck_assert_int_eq(carrot_board_feed_read(b, program, f.last, 0, 100, on_feed, &g, &gap, errstr,
                                            sizeof(errstr)),
                     0);
    ck_assert_int_eq(g.entries, 0);
    ck_assert_int_eq(gap, 0);
    /* a reversal is a change too: negative points */
    carrot_board_event_t del[] = {change(&pt[3], 8, "f4", CARROT_BOARD_REVERSE, "crm:f1")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", del, 1, 3600, now, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_board_feed_read(b, program, f.last, 200, 100, on_feed, &g, &gap, errstr,
                                            sizeof(errstr)),
                     0);
    ck_assert_int_eq(g.entries, 1);
    ck_assert_str_eq(g.text, "ann:-5:call");
    /* a reader behind what the cap trimmed is told so */
    redisContext *rc = it_redis();
    redisReply *r = redisCommand(rc, "XTRIM carrot:{%s}:feed MAXLEN 1", program);
    freeReplyObject(r);
    ck_assert_int_eq(
        carrot_board_feed_read(b, program, "0", 0, 100, on_feed, &g, &gap, errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(gap, 1);
    ck_assert_int_eq(carrot_board_feed_read(b, program, g.last, 0, 100, on_feed, &g, &gap, errstr,
                                            sizeof(errstr)),
                     0);
    ck_assert_int_eq(gap, 0); /* the newest entry it saw is still there */
    /* a commitment's close: met and a streak are celebrated, a miss is not */
    carrot_board_event_t cm[] = {award(&pt[4], 9, "c1", "dee", 0, "carrot:c1"),
                                 award(&pt[5], 10, "c2", "eve", 0, "carrot:c2")};
    pt[4].act.activity_type = pt[5].act.activity_type = "commitment";
    pt[4].sc.nlines = 2;
    snprintf(pt[4].sc.lines[0].rule_id, sizeof(pt[4].sc.lines[0].rule_id), "commit.wc.met");
    pt[4].sc.lines[0].points = 20;
    snprintf(pt[4].sc.lines[1].rule_id, sizeof(pt[4].sc.lines[1].rule_id), "commit.wc.streak");
    pt[4].sc.lines[1].points = 30;
    snprintf(pt[5].sc.lines[0].rule_id, sizeof(pt[5].sc.lines[0].rule_id), "commit.wc.missed");
    pt[5].sc.lines[0].points = -10;
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", cm, 2, 3600, now, res, errstr, sizeof(errstr)), 0);
    feed_t h = {0};
    ck_assert_int_eq(carrot_board_feed_read(b, program, g.last, 0, 100, on_feed, &h, &gap, errstr,
                                            sizeof(errstr)),
                     0);
    ck_assert_int_eq(h.entries, 1);
    ck_assert_str_eq(h.text, "dee:50:commitment:commit.wc.met=20:commit.wc.streak=30;"
                             "eve:-10:commitment");
    /* a celebration posted (carrot-notify's display channel) is read in order with the
     * scorer's entries, once per key: a repeat of the key appends nothing */
    int posted = -1;
    ck_assert_int_eq(carrot_board_feed_post(b, program, "n1-k1", "{\"kind\":\"goal\"}", &posted,
                                            errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(posted, 1);
    ck_assert_int_eq(carrot_board_feed_post(b, program, "n1-k1", "{\"kind\":\"goal\"}", &posted,
                                            errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(posted, 0);
    ck_assert_int_eq(carrot_board_feed_post(b, program, "n1-k2", "{\"kind\":\"draw_won\"}", &posted,
                                            errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(posted, 1);
    feed_t k = {0};
    ck_assert_int_eq(carrot_board_feed_read(b, program, h.last, 0, 100, on_feed, &k, &gap, errstr,
                                            sizeof(errstr)),
                     0);
    ck_assert_int_eq(k.entries, 2);
    ck_assert_str_eq(k.text, "post:notify:{\"kind\":\"goal\"}|post:notify:{\"kind\":\"draw_won\"}");
    r = redisCommand(rc, "TTL carrot:{%s}:posted:n1-k1", program);
    ck_assert_int_gt(r->integer, CARROT_BOARD_POST_KEEP_S - 60);
    freeReplyObject(r);
    /* a key that is not one is refused before Redis sees it */
    ck_assert_int_eq(
        carrot_board_feed_post(b, program, "a key", "{}", &posted, errstr, sizeof(errstr)),
        CARROT_BOARD_FATAL);
    ck_assert_ptr_nonnull(strstr(errstr, "not a post key"));
    /* a bad id is refused, not sent to Redis */
    ck_assert_int_eq(
        carrot_board_feed_read(b, program, "1-x", 0, 1, on_feed, &g, NULL, errstr, sizeof(errstr)),
        CARROT_BOARD_FATAL);
    ck_assert_ptr_nonnull(strstr(errstr, "not a feed id"));
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

/* The queries: ties share a rank (1, 2, 2, 4), listed in descending id order. */
START_TEST(queries) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "bq");
    int64_t now = carrot_time_now_ms() / 1000; /* the scorer's clock */
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    static const struct {
        const char *who;
        int points;
    } people[] = {{"p1", 50}, {"p2", 40}, {"p3", 40}, {"p4", 30}, {"p5", 20}, {"p6", 10}};
    static parts_t pt[6];
    carrot_board_event_t ev[6];
    char ids[6][8], recs[6][16];
    for (int i = 0; i < 6; i++) {
        snprintf(ids[i], sizeof(ids[i]), "q%d", i);
        snprintf(recs[i], sizeof(recs[i]), "crm:q%d", i);
        ev[i] = award(&pt[i], i, ids[i], people[i].who, people[i].points, recs[i]);
    }
    pt[5].plan.nboards = 1; /* p6 is only on the program-to-date board */
    carrot_board_result_t res[6];
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", ev, 6, 3600, now, res, errstr, sizeof(errstr)), 0);
    carrot_board_entry_t e[8];
    int n;
    ck_assert_int_eq(carrot_board_top(b, program, "ptd:all", 4, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(e[0].participant_id, "p1");
    ck_assert_int_eq(e[0].rank, 1);
    ck_assert_str_eq(e[1].participant_id, "p3");
    ck_assert_int_eq(e[1].rank, 2);
    ck_assert_str_eq(e[2].participant_id, "p2");
    ck_assert_int_eq(e[2].rank, 2);
    ck_assert_str_eq(e[3].participant_id, "p4");
    ck_assert_int_eq(e[3].rank, 4);
    ck_assert_int_eq(e[3].points, 30);
    /* around p4, two either side */
    ck_assert_int_eq(
        carrot_board_around(b, program, "ptd:all", "p4", 2, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(e[0].participant_id, "p3");
    ck_assert_str_eq(e[2].participant_id, "p4");
    ck_assert_int_eq(e[2].rank, 4);
    ck_assert_str_eq(e[4].participant_id, "p6");
    ck_assert_int_eq(e[4].rank, 6);
    /* around the top clips at the start; an unknown participant gives nothing */
    ck_assert_int_eq(
        carrot_board_around(b, program, "ptd:all", "p1", 1, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(
        carrot_board_around(b, program, "ptd:all", "nobody", 1, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 0);
    /* a page further down */
    ck_assert_int_eq(
        carrot_board_range(b, program, "ptd:all", 4, 10, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(e[0].participant_id, "p5");
    ck_assert_int_eq(e[0].rank, 5);
    /* standing: rank and points on every board the participant is on */
    ck_assert_int_eq(carrot_board_standing(b, program, "p4", 8, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(e[0].board, "d:2026-11-10:all");
    ck_assert_int_eq(e[0].rank, 4);
    ck_assert_int_eq(e[0].size, 5);
    ck_assert_str_eq(e[2].board, "ptd:all");
    ck_assert_int_eq(e[2].rank, 4);
    ck_assert_int_eq(e[2].size, 6);
    ck_assert_int_eq(e[2].points, 30);
    ck_assert_int_eq(carrot_board_standing(b, program, "p6", 8, e, &n, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(n, 1);
    int64_t total;
    long members;
    ck_assert_int_eq(
        carrot_board_total(b, program, "ptd:all", &total, &members, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(total, 190);
    ck_assert_int_eq(members, 6);
    /* the CLI agrees, and finds the board of a period by time in the program's zone */
    ck_assert_int_eq(
        carrot_board_set_meta(b, program, "America/Chicago", "v1", errstr, sizeof(errstr)), 0);
    char port[16], *out = NULL;
    snprintf(port, sizeof(port), "%d", it_redis_port());
    char *argv[] = {CARROT_LEADERBOARD,
                    "--redis-port",
                    port,
                    "--program",
                    program,
                    "--period",
                    "day",
                    "--at",
                    "2026-11-11T03:00:00Z",
                    "--scope",
                    "seg:dealer",
                    "--top",
                    "2",
                    "--format",
                    "json",
                    NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    ck_assert_msg(strstr(out, "\"board\":\"d:2026-11-10:seg:dealer\"") &&
                      strstr(out, "{\"rank\":1,\"participant_id\":\"p1\",\"points\":50}") &&
                      strstr(out, "{\"rank\":2,\"participant_id\":\"p3\",\"points\":40}") &&
                      strstr(out, "\"participants\":5,\"total_points\":180"),
                  "%s", out);
    free(out);
    char *argv2[] = {CARROT_LEADERBOARD, "--redis-port", port,       "--program", program,
                     "--participant",    "p2",           "--format", "json",      NULL};
    ck_assert_int_eq(it_run(argv2, &out), 0);
    ck_assert_msg(
        strstr(
            out,
            "{\"board\":\"ptd:all\",\"size\":6,\"rank\":2,\"participant_id\":\"p2\",\"points\":40}"),
        "%s", out);
    free(out);
    char *argv3[] = {CARROT_LEADERBOARD, "--redis-port", port, "--program", program,
                     "--around",         "nobody",       NULL};
    ck_assert_int_eq(it_run(argv3, NULL), 3);
    carrot_board_destroy(b);
}
END_TEST

/* Line n (from 1) of text, into buf. */
static void nth_line(const char *text, long n, char *buf, size_t size) {
    const char *p = text;
    for (long i = 1; i < n && p; i++) p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    ck_assert_msg(p != NULL, "the script has no line %ld", n);
    size_t len = strcspn(p, "\n");
    snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), p);
}

/* A broken call's error names "user_script:N"; line N of the .lua file must
 * hold the code that failed. */
static void broken_call_names_line(redisContext *rc, const char *file, const char *sha,
                                   const char *want, int argc, const char **argv) {
    size_t len;
    char *src = carrot_test_read(file, &len), line[512];
    const char *args[32] = {"EVALSHA", sha, "1", "carrot:{lua}:wm:t:0"};
    ck_assert_int_le(argc, 28);
    for (int i = 0; i < argc; i++) args[4 + i] = argv[i];
    redisReply *r = redisCommandArgv(rc, 4 + argc, args, NULL);
    ck_assert_msg(r && r->type == REDIS_REPLY_ERROR, "a broken call to %s did not fail", file);
    const char *at = strstr(r->str, "user_script:");
    ck_assert_msg(at != NULL, "%s: no line in \"%s\"", file, r->str);
    long n = strtol(at + 12, NULL, 10);
    nth_line(src, n, line, sizeof(line));
    ck_assert_msg(strstr(line, want), "%s: \"%s\" names line %ld, which is \"%s\"", file, r->str, n,
                  line);
    freeReplyObject(r);
    free(src);
}

/* The library's error for a failed script starts "<file>:N: " (the .lua
 * file's base name), and line N of that file holds want. */
static void error_names_line(const char *errstr, const char *file, const char *want) {
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t blen = strlen(base), len;
    ck_assert_msg(strncmp(errstr, base, blen) == 0 && errstr[blen] == ':',
                  "\"%s\" does not start with %s:N", errstr, base);
    long n = strtol(errstr + blen + 1, NULL, 10);
    char *src = carrot_test_read(file, &len), line[512];
    nth_line(src, n, line, sizeof(line));
    ck_assert_msg(strstr(line, want), "\"%s\" names line %ld of %s, which is \"%s\"", errstr, n,
                  file, line);
    free(src);
}

/* The query script is the .lua file: loaded as it is (the library's embedded
 * copy is the same bytes), and its errors name a line a reader can find. */
START_TEST(scripts_are_the_lua_files) {
    static const char file[] = "consumers/ranking/query.lua";
    char sha[41], errstr[512];
    redisContext *rc = it_redis();
    size_t len;
    char *src = carrot_test_read(file, &len);
    redisReply *r = redisCommand(rc, "SCRIPT LOAD %b", src, len);
    ck_assert_msg(r && r->type == REDIS_REPLY_STRING && r->len == 40, "SCRIPT LOAD %s: %s", file,
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    memcpy(sha, r->str, 41);
    freeReplyObject(r);
    free(src);
    /* the library loads the same script: a query through it, then it exists by sha */
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    carrot_board_entry_t e[1];
    int n;
    ck_assert_int_eq(carrot_board_range(b, "lua", "ptd:all", 0, 1, e, &n, errstr, sizeof(errstr)),
                     0);
    r = redisCommand(rc, "SCRIPT EXISTS %s", sha);
    ck_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    ck_assert_int_eq(r->element[0]->integer, 1);
    freeReplyObject(r);
    carrot_board_destroy(b);
    /* query: a page start that is no number fails at the range read */
    const char *query_args[] = {"range", "carrot:{lua}:lb:ptd:all", "first", "10"};
    broken_call_names_line(rc, file, sha, "ZREVRANGE", 4, query_args);
    redisFree(rc);
}
END_TEST

/* The error contract: Redis out of reach is RETRY; a command that fails inside
 * the batch's transaction is FATAL, naming the command and its key (a query's
 * error, its line of query.lua); and the scorer stops on it (exit 1) instead of
 * retrying the batch for ever. */
START_TEST(script_errors_are_fatal) {
    char errstr[512], key[160];
    it_topics_t t;
    it_topics(&t, "bf", 1, 1);
    char *program = t.program, *act = t.act, *dlq = t.dlq, *awards = t.awards, *group = t.group;
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    static parts_t pt[1];
    carrot_board_event_t ev[] = {award(&pt[0], 1, "f1", "ann", 5, "crm:f1")};
    carrot_board_result_t res[1];
    carrot_board_t *gone = carrot_board_new("127.0.0.1", 1, 500); /* nothing listens on port 1 */
    ck_assert_int_eq(
        carrot_board_apply(gone, program, "t:0", ev, 1, 3600, now, res, errstr, sizeof(errstr)),
        CARROT_BOARD_RETRY);
    carrot_board_destroy(gone);
    /* a board key of the wrong type: ZINCRBY fails inside the transaction */
    redisContext *rc = it_redis();
    snprintf(key, sizeof(key), "carrot:{%s}:lb:ptd:all", program);
    freeReplyObject(redisCommand(rc, "SET %s not-a-board", key));
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", ev, 1, 3600, now, res, errstr, sizeof(errstr)),
        CARROT_BOARD_FATAL);
    char want[256];
    snprintf(want, sizeof(want), "Redis error in ZINCRBY %s: WRONGTYPE", key);
    ck_assert_msg(strstr(errstr, want), "\"%s\" does not name \"%s\"", errstr, want);
    /* a query's error names its line of query.lua */
    carrot_board_entry_t e[1];
    int got_n;
    ck_assert_int_eq(
        carrot_board_range(b, program, "ptd:all", 0, 1, e, &got_n, errstr, sizeof(errstr)),
        CARROT_BOARD_FATAL);
    error_names_line(errstr, "consumers/ranking/query.lua", "ZREVRANGE");
    /* a plain command's error is FATAL too */
    int64_t total;
    long members;
    ck_assert_int_eq(
        carrot_board_total(b, program, "ptd:all", &total, &members, errstr, sizeof(errstr)),
        CARROT_BOARD_FATAL);
    ck_assert_msg(strstr(errstr, "WRONGTYPE"), "%s", errstr);
    carrot_board_destroy(b);

    /* the scorer on such a program: it must stop, not retry for ever */
    char rules_text[256], feed_text[512], at[40];
    snprintf(rules_text, sizeof(rules_text),
             "{\"program\":\"%s\",\"version\":\"v1\","
             "\"points\":{\"call\":5}}",
             program);
    it_time_ago(at, sizeof(at), 3600000);
    /* (another event id: the failed transaction above had already marked f1 seen
     * before ZINCRBY failed, as Redis keeps a transaction's other writes) */
    snprintf(feed_text, sizeof(feed_text),
             "{\"event_id\":\"f2\",\"program_id\":\"%s\","
             "\"participant_id\":\"ann\",\"activity_type\":\"call\",\"occurred_at\":\"%s\"}\n",
             program, at);
    char *rules = it_write_temp(rules_text), *feed = it_write_temp(feed_text);
    char *ingest[] = {CARROT_INGEST, "--input", feed, "--topic", act, "--dlq-topic", dlq, NULL};
    ck_assert_int_eq(it_run(ingest, NULL), 0);
    char *scorer[] = {CARROT_SCORER,     "--topic", act,       "--dlq-topic",   dlq,
                      "--awards-topic",  awards,    "--group", group,           "--instance",
                      program,           "--rules", rules,     "--rules-topic", t.rules,
                      "--until-drained", NULL};
    pid_t pid = it_spawn(scorer);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 1200 && (got = waitpid(pid, &status, WNOHANG)) == 0; i++) usleep(100000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the scorer went on retrying a script error for two minutes");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "the scorer exited with %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    /* nothing was produced for the batch, and its offset is not committed */
    it_msg_t *msgs;
    size_t n = it_consume_all(awards, &msgs);
    ck_assert_uint_eq(n, 0);
    it_msgs_free(msgs, n);
    ck_assert_int_eq(it_committed_sum(group, act), 0);
    unlink(rules);
    unlink(feed);
    free(rules);
    free(feed);
    redisFree(rc);
}
END_TEST

/* A scorer whose Redis is out of reach says so at WARN, and a drained run
 * that never reached it exits 1 (it used to log INFO lines and exit 0). */
START_TEST(unreachable_redis_is_loud) {
    it_topics_t t;
    it_topics(&t, "bu", 1, 1);
    char *program = t.program, *act = t.act, *dlq = t.dlq, *awards = t.awards, *group = t.group,
         *rtopic = t.rules, rules_text[256];
    snprintf(rules_text, sizeof(rules_text),
             "{\"program\":\"%s\",\"version\":\"v1\","
             "\"points\":{\"call\":5}}",
             program);
    char *rules = it_write_temp(rules_text), *out;
    /* stderr into the captured output: the log lines are what this test is about */
    char *argv[] = {"/bin/sh",
                    "-c",
                    "exec \"$0\" \"$@\" 2>&1",
                    CARROT_SCORER,
                    "--topic",
                    act,
                    "--dlq-topic",
                    dlq,
                    "--awards-topic",
                    awards,
                    "--group",
                    group,
                    "--instance",
                    program,
                    "--rules",
                    rules,
                    "--rules-topic",
                    rtopic,
                    "--redis-port",
                    "1",
                    "--until-drained",
                    NULL};
    ck_assert_int_eq(it_run(argv, &out), 1);
    ck_assert_msg(strstr(out, "WARN: cannot reach Redis at 127.0.0.1:1") &&
                      strstr(out, "ERROR: drained, but Redis at 127.0.0.1:1 could not be reached"),
                  "%s", out);
    free(out);
    unlink(rules);
    free(rules);
}
END_TEST

/* Writers that race: a scorer and its fenced predecessor applying the same
 * batch of partition 0 at once, and a DELETE of the same record on partition
 * 1. Whatever the interleaving, the outcome must be one of the serial ones:
 * the CREATE applied once (both copies report the same), and the DELETE
 * taking back exactly what the record holds (CREATE first: -3; DELETE first:
 * a tombstone, and the CREATE earns 0). So every round sums to 0, and so do
 * the boards. Without the watched watermark both copies would apply; without
 * the watched record the DELETE could read it before the CREATE wrote it. */
enum { RACE_ROUNDS = 150, RACERS = 3 };

typedef struct {
    const char *program;
    int who;
    pthread_barrier_t *start;
    carrot_board_t *b;
    carrot_board_result_t res[RACE_ROUNDS];
    parts_t pt[RACE_ROUNDS];
    char ids[RACE_ROUNDS][32], recs[RACE_ROUNDS][32];
    int failed;
    char errstr[512];
} racer_t;

static void *race(void *arg) {
    racer_t *r = arg;
    int64_t now = carrot_time_now_ms() / 1000;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        snprintf(r->recs[i], sizeof(r->recs[i]), "crm:c%d", i);
        carrot_board_event_t e;
        if (r->who < 2) { /* the scorer and its predecessor: the same CREATE */
            snprintf(r->ids[i], sizeof(r->ids[i]), "c%d", i);
            e = award(&r->pt[i], i, r->ids[i], i % 2 ? "ann" : "bob", 3, r->recs[i]);
        } else {
            snprintf(r->ids[i], sizeof(r->ids[i]), "d%d", i);
            e = change(&r->pt[i], i, r->ids[i], CARROT_BOARD_REVERSE, r->recs[i]);
        }
        pthread_barrier_wait(r->start);
        if (carrot_board_apply(r->b, r->program, r->who < 2 ? "t:0" : "t:1", &e, 1, 3600, now,
                               &r->res[i], r->errstr, sizeof(r->errstr)) != CARROT_BOARD_OK) {
            r->failed = 1;
            /* keep meeting the barrier so the others finish */
        }
    }
    return NULL;
}

START_TEST(racing_writers_apply_once) {
    char program[48];
    it_unique(program, sizeof(program), "race");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, RACERS), 0);
    static racer_t r[RACERS];
    pthread_t th[RACERS];
    for (int k = 0; k < RACERS; k++) {
        memset(&r[k], 0, sizeof(r[k]));
        r[k] = (racer_t){.program = program, .who = k, .start = &start};
        r[k].b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
        ck_assert_int_eq(pthread_create(&th[k], NULL, race, &r[k]), 0);
    }
    unsigned long conflicts = 0;
    for (int k = 0; k < RACERS; k++) {
        ck_assert_int_eq(pthread_join(th[k], NULL), 0);
        ck_assert_msg(!r[k].failed, "racer %d: %s", k, r[k].errstr);
        conflicts += carrot_board_conflicts(r[k].b);
        carrot_board_destroy(r[k].b);
    }
    pthread_barrier_destroy(&start);
    int64_t sum = 0;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        const carrot_board_result_t *a = &r[0].res[i], *c = &r[1].res[i], *d = &r[2].res[i];
        ck_assert_msg(a->fresh && c->fresh && a->amount == c->amount,
                      "round %d: the two copies of the CREATE said %lld and %lld", i,
                      (long long)a->amount, (long long)c->amount);
        ck_assert_msg(a->amount == 0 || a->amount == 3, "round %d: the CREATE applied %lld", i,
                      (long long)a->amount);
        ck_assert_msg(a->amount + d->amount == 0,
                      "round %d: the CREATE applied %lld and the DELETE took back %lld", i,
                      (long long)a->amount, (long long)d->amount);
        sum += a->amount + d->amount;
    }
    ck_assert_int_eq(sum, 0);
    redisContext *rc = it_redis();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(it_zscore(rc, program, boards[i], "ann"), 0);
        ck_assert_int_eq(it_zscore(rc, program, boards[i], "bob"), 0);
    }
    redisFree(rc);
    /* how often Redis refused a transaction here varies with the scheduling */
    fprintf(stderr, "racing writers: %d rounds, %lu transactions refused and settled again\n",
            RACE_ROUNDS, conflicts);
}
END_TEST

/* A scorer and its fenced predecessor applying the same partition's
 * batches of several chunks at once. Each chunk's next read is sent behind
 * its transaction; when Redis refuses that transaction (the other wrote the
 * watermark first), the read sent ahead must be drained and the chunk read
 * again, or the replies would be taken for the wrong commands. Whatever the
 * interleaving: every event applied once, both copies report the same, and
 * the board holds each point once. */
enum { AHEAD_ROUNDS = 6, AHEAD_PER = 650 }; /* 650: four chunks of 200 or fewer */

typedef struct {
    const char *program;
    pthread_barrier_t *start;
    carrot_board_t *b;
    carrot_board_event_t *ev; /* [AHEAD_ROUNDS][AHEAD_PER], shared */
    carrot_board_result_t res[AHEAD_ROUNDS][AHEAD_PER];
    int failed;
    char errstr[512];
} ahead_t;

static void *ahead_race(void *arg) {
    ahead_t *r = arg;
    int64_t now = carrot_time_now_ms() / 1000;
    for (int k = 0; k < AHEAD_ROUNDS; k++) {
        pthread_barrier_wait(r->start);
        if (carrot_board_apply(r->b, r->program, "t:0", r->ev + (size_t)k * AHEAD_PER, AHEAD_PER,
                               3600, now, r->res[k], r->errstr,
                               sizeof(r->errstr)) != CARROT_BOARD_OK)
            r->failed = 1;
    }
    return NULL;
}

START_TEST(read_ahead_survives_refusals) {
    char program[48];
    it_unique(program, sizeof(program), "ahead");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    static parts_t pt[AHEAD_ROUNDS * AHEAD_PER];
    static carrot_board_event_t ev[AHEAD_ROUNDS * AHEAD_PER];
    static char ids[AHEAD_ROUNDS * AHEAD_PER][24], who[AHEAD_ROUNDS * AHEAD_PER][24],
        recs[AHEAD_ROUNDS * AHEAD_PER][32];
    int64_t expect = 0;
    for (int i = 0; i < AHEAD_ROUNDS * AHEAD_PER; i++) {
        snprintf(ids[i], sizeof(ids[i]), "a%d", i);
        snprintf(who[i], sizeof(who[i]), "p%d", i % 60);
        snprintf(recs[i], sizeof(recs[i]), "crm:a%d", i);
        ev[i] = award(&pt[i], 100 + i, ids[i], who[i], 1 + i % 4, recs[i]);
        expect += 1 + i % 4;
    }
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
    static ahead_t r[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        memset(&r[k], 0, sizeof(r[k]));
        r[k].program = program;
        r[k].start = &start;
        r[k].ev = ev;
        r[k].b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
        ck_assert_int_eq(pthread_create(&th[k], NULL, ahead_race, &r[k]), 0);
    }
    unsigned long conflicts = 0;
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(pthread_join(th[k], NULL), 0);
        ck_assert_msg(!r[k].failed, "writer %d: %s", k, r[k].errstr);
        conflicts += carrot_board_conflicts(r[k].b);
        carrot_board_destroy(r[k].b);
    }
    pthread_barrier_destroy(&start);
    for (int k = 0; k < AHEAD_ROUNDS; k++)
        for (int i = 0; i < AHEAD_PER; i++) {
            const carrot_board_result_t *a = &r[0].res[k][i], *c = &r[1].res[k][i];
            int n = k * AHEAD_PER + i;
            ck_assert_msg(a->fresh && c->fresh && a->amount == 1 + n % 4 && c->amount == 1 + n % 4,
                          "event %d: the two writers said %lld and %lld, not %d", n,
                          (long long)a->amount, (long long)c->amount, 1 + n % 4);
        }
    redisContext *rc = it_redis();
    int64_t sum = 0;
    for (int w = 0; w < 60; w++) {
        char name[24];
        snprintf(name, sizeof(name), "p%d", w);
        sum += it_zscore(rc, program, "ptd:all", name);
    }
    ck_assert_int_eq(sum, expect);
    redisReply *wm = redisCommand(rc, "GET carrot:{%s}:wm:t:0", program);
    ck_assert_int_eq(wm->type, REDIS_REPLY_STRING);
    ck_assert_int_eq(atoll(wm->str), 100 + AHEAD_ROUNDS * AHEAD_PER - 1);
    freeReplyObject(wm);
    redisReply *pong = redisCommand(rc, "PING"); /* Redis itself is fine */
    ck_assert_int_eq(pong->type, REDIS_REPLY_STATUS);
    freeReplyObject(pong);
    redisFree(rc);
    fprintf(stderr, "read ahead: %d batches of %d, %lu transactions refused and settled again\n",
            AHEAD_ROUNDS, AHEAD_PER, conflicts);
}
END_TEST

/* A participant's standing index (pb:) is told a board list once, and
 * only whole: a list whose day boards were past their retention when first
 * seen (so left out) still puts their names on the index when a clock set
 * back writes them after all. */
START_TEST(board_list_told_whole) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "told");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    static parts_t pt[3];
    carrot_board_result_t res;
    carrot_board_event_t late = award(&pt[0], 1, "tl1", "cl", 2, "crm:tl1");
    ck_assert_msg(carrot_board_apply(b, program, "t:0", &late, 1, 3600, now + 7200, &res, errstr,
                                     sizeof(errstr)) == CARROT_BOARD_OK,
                  "%s", errstr);
    carrot_board_event_t back = award(&pt[1], 2, "tl2", "cl", 3, "crm:tl2");
    ck_assert_msg(carrot_board_apply(b, program, "t:0", &back, 1, 3600, now, &res, errstr,
                                     sizeof(errstr)) == CARROT_BOARD_OK,
                  "%s", errstr);
    redisContext *rc = it_redis();
    ck_assert_int_eq(it_zscore(rc, program, boards[0], "cl"), 5);
    ck_assert_int_eq(it_zscore(rc, program, boards[1], "cl"), 3); /* written the second time */
    for (int i = 0; i < 3; i++) {
        redisReply *r = redisCommand(rc, "SISMEMBER carrot:{%s}:pb:cl %s", program, boards[i]);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        ck_assert_msg(r->integer == 1, "%s is not on cl's standing index", boards[i]);
        freeReplyObject(r);
    }
    /* the same list again, told: the index stays as it is, the points add up */
    carrot_board_event_t again = award(&pt[2], 3, "tl3", "cl", 4, "crm:tl3");
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", &again, 1, 3600, now, &res, errstr, sizeof(errstr)),
        CARROT_BOARD_OK);
    ck_assert_int_eq(it_zscore(rc, program, boards[2], "cl"), 7);
    redisReply *n = redisCommand(rc, "SCARD carrot:{%s}:pb:cl", program);
    ck_assert_int_eq(n->integer, 3);
    freeReplyObject(n);
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

/* A goal at 2 calls for who, on the award event of p. */
static void with_goal(parts_t *p, const char *who, int64_t now) {
    p->sc.ngoals = 1;
    p->sc.goals[0] = (carrot_goal_hit_t){.id = "g", .target = 2, .bonus = 40};
    snprintf(p->plan.goal_keys[0], sizeof(p->plan.goal_keys[0]), "goal:g:w:2026-W46:%s", who);
    snprintf(p->plan.goal_rules[0], sizeof(p->plan.goal_rules[0]), "goal.g");
    p->plan.goal_expire_at[0] = now + 3600;
}

/* The points of the lanes test's participants on ptd:all. */
static int64_t board_sum(redisContext *rc, const char *program, int jobs) {
    int64_t sum = 0;
    for (int j = 0; j < jobs; j++)
        for (int k = 0; k < 40; k++) {
            char w[24];
            snprintf(w, sizeof(w), "p%d-%d", j, k);
            sum += it_zscore(rc, program, "ptd:all", w);
        }
    return sum;
}

/* A batch's partitions over three lanes: each partition's events applied
 * once, in order, the watermarks moved (also of a partition with none of
 * the program's events); and jobs that share a participant run one after
 * another: both of its events count towards its goal, where two lanes
 * reading the counter side by side would each have seen none. */
START_TEST(lanes_apply_jobs) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "ln");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    carrot_board_set_lanes(b, 3);
    redisContext *rc = it_redis();
    enum { JOBS = 4, PER = 450 }; /* more than a chunk per partition */
    static parts_t pt[JOBS][PER];
    static carrot_board_event_t ev[JOBS][PER];
    static carrot_board_result_t res[JOBS][PER];
    static char ids[JOBS][PER][24], who[JOBS][PER][24], recs[JOBS][PER][32];
    char streams[JOBS + 1][16];
    carrot_board_job_t jobs[JOBS + 1];
    for (int j = 0; j < JOBS; j++) {
        snprintf(streams[j], sizeof(streams[j]), "t:%d", j);
        for (int i = 0; i < PER; i++) {
            snprintf(ids[j][i], sizeof(ids[j][i]), "e%d-%d", j, i);
            snprintf(who[j][i], sizeof(who[j][i]), "p%d-%d", j, i % 40);
            snprintf(recs[j][i], sizeof(recs[j][i]), "crm:r%d-%d", j, i);
            ev[j][i] = award(&pt[j][i], 10 + i, ids[j][i], who[j][i], 1 + i % 3, recs[j][i]);
        }
        jobs[j] = (carrot_board_job_t){streams[j], ev[j], PER, -1, res[j]};
    }
    snprintf(streams[JOBS], sizeof(streams[JOBS]), "t:%d", JOBS);
    jobs[JOBS] = (carrot_board_job_t){streams[JOBS], NULL, 0, 77, NULL};
    /* a lane joins over a connection it already had: the first call opens them */
    carrot_board_job_t warm[3] = {
        {"w:0", NULL, 0, 1, NULL}, {"w:1", NULL, 0, 1, NULL}, {"w:2", NULL, 0, 1, NULL}};
    ck_assert_int_eq(
        carrot_board_apply_jobs(b, program, warm, 3, 3600, now, errstr, sizeof(errstr)),
        CARROT_BOARD_OK);
    ck_assert_int_eq(carrot_board_connects(b), 3);
    ck_assert_msg(carrot_board_apply_jobs(b, program, jobs, JOBS + 1, 3600, now, errstr,
                                          sizeof(errstr)) == CARROT_BOARD_OK,
                  "%s", errstr);
    ck_assert_int_eq(carrot_board_connects(b), 3); /* the same three, none opened again */
    int64_t expect = 0;
    for (int j = 0; j < JOBS; j++)
        for (int i = 0; i < PER; i++) {
            ck_assert_int_eq(res[j][i].fresh, 1);
            ck_assert_int_eq(res[j][i].amount, 1 + i % 3);
            expect += 1 + i % 3;
        }
    ck_assert_int_eq(board_sum(rc, program, JOBS), expect);
    for (int j = 0; j <= JOBS; j++) {
        redisReply *r = redisCommand(rc, "GET carrot:{%s}:wm:t:%d", program, j);
        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert_int_eq(atoll(r->str), j < JOBS ? 10 + PER - 1 : 77);
        freeReplyObject(r);
    }
    /* the same again: a replay, nothing applied twice */
    ck_assert_int_eq(
        carrot_board_apply_jobs(b, program, jobs, JOBS, 3600, now, errstr, sizeof(errstr)),
        CARROT_BOARD_OK);
    ck_assert_int_eq(board_sum(rc, program, JOBS), expect);
    for (int i = 0; i < PER; i++) ck_assert_int_eq(res[1][i].amount, 1 + i % 3);
    /* ann on two partitions, each call one towards her goal of two */
    static parts_t two[2];
    carrot_board_event_t a[] = {award(&two[0], 500, "ga", "ann", 1, "crm:ga")};
    carrot_board_event_t c[] = {award(&two[1], 500, "gb", "ann", 1, "crm:gb")};
    with_goal(&two[0], "ann", now);
    with_goal(&two[1], "ann", now);
    carrot_board_result_t ra, rb;
    carrot_board_job_t shared[] = {{"t:0", a, 1, -1, &ra}, {"t:1", c, 1, -1, &rb}};
    ck_assert_int_eq(
        carrot_board_apply_jobs(b, program, shared, 2, 3600, now, errstr, sizeof(errstr)),
        CARROT_BOARD_OK);
    ck_assert_int_eq(ra.amount, 1);
    ck_assert_int_eq(rb.amount, 1 + 40);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "ann"), 42);
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

/* A program whose records an earlier version wrote as hashes: the first
 * write moves them to strings (once), and a DELETE then takes back what
 * the hash said the record earned; a record string cut short is refused. */
START_TEST(record_hashes_are_moved) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "mv");
    int64_t now = carrot_time_now_ms() / 1000;
    expire[0] = 0;
    expire[1] = expire[2] = now + 3600;
    redisContext *rc = it_redis();
    char boards_field[256];
    snprintf(boards_field, sizeof(boards_field),
             "ptd:all\x1e"
             "0");
    for (int i = 0; i < 3; i++) { /* as the hash layout kept them: ann earned 9 on each */
        redisReply *r = redisCommand(rc,
                                     "HSET carrot:{%s}:rec:crm:old%d p ann n 9 t call on 1 k %s",
                                     program, i, boards_field);
        freeReplyObject(r);
    }
    freeReplyObject(redisCommand(rc, "ZADD carrot:{%s}:lb:ptd:all 27 ann", program));
    freeReplyObject(redisCommand(rc, "SADD carrot:{%s}:boards ptd:all", program));
    freeReplyObject(redisCommand(rc, "SET carrot:{%s}:gen 3", program));
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    static parts_t pt[1];
    carrot_board_event_t del[] = {change(&pt[0], 5, "d-old1", CARROT_BOARD_REVERSE, "crm:old1")};
    carrot_board_result_t res[1];
    ck_assert_msg(carrot_board_apply(b, program, "t:0", del, 1, 3600, now, res, errstr,
                                     sizeof(errstr)) == CARROT_BOARD_OK,
                  "%s", errstr);
    ck_assert_int_eq(res[0].amount, -9);
    ck_assert_str_eq(res[0].participant_id, "ann");
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "ann"), 18);
    redisReply *r = redisCommand(rc, "EXISTS carrot:{%s}:rec:crm:old0 carrot:{%s}:rec:crm:old2",
                                 program, program);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    r = redisCommand(rc, "GET carrot:{%s}:rs:crm:old0", program);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "R3:ann1:94:call1:19:ptd:all\x1e"
                             "0-");
    freeReplyObject(r);
    r = redisCommand(rc, "GET carrot:{%s}:layout", program);
    ck_assert_str_eq(r->str, "2");
    freeReplyObject(r);
    /* a record string that is not one (cut short) stops the write, loudly */
    freeReplyObject(redisCommand(rc, "SET carrot:{%s}:rs:crm:bad R3:an", program));
    carrot_board_event_t bad[] = {change(&pt[0], 6, "d-bad", CARROT_BOARD_REVERSE, "crm:bad")};
    ck_assert_int_eq(
        carrot_board_apply(b, program, "t:0", bad, 1, 3600, now, res, errstr, sizeof(errstr)),
        CARROT_BOARD_FATAL);
    ck_assert_msg(strstr(errstr, "rs:crm:bad in Redis is not a CRM record's state") != NULL, "%s",
                  errstr);
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

int main(void) {
    const TTest *tests[] = {order_replay_and_duplicates,
                            racing_writers_apply_once,
                            read_ahead_survives_refusals,
                            board_list_told_whole,
                            lanes_apply_jobs,
                            record_hashes_are_moved,
                            caps_and_goals,
                            commitments_count_once,
                            feed_is_exactly_once,
                            queries,
                            scripts_are_the_lua_files,
                            script_errors_are_fatal,
                            unreachable_redis_is_loud,
                            NULL};
    return carrot_test_run(carrot_test_suite("board", tests));
}
