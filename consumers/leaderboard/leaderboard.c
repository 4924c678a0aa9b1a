/* leaderboard.c: Redis side of scoring: the guarded increment script, and
 * the read queries. One hiredis connection, reconnected on failure. */
#include "leaderboard.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] watermark, KEYS[2] board. ARGV[1] stream, ARGV[2] key prefix
 * "carrot:{P}:", ARGV[3] seen ttl; then per event: offset, event id,
 * participant, points, kind (A, D, U), record, activity type. Returns per
 * event: fresh, amount, participant, activity type. The outcome of a fresh
 * event is kept in its seen key, so a replay returns the same answer. */
static const char apply_lua[] =
    "local wm = tonumber(redis.call('GET', KEYS[1]) or '-1')\n"
    "local top = wm\n"
    "local out = {}\n"
    "for i = 4, #ARGV, 7 do\n"
    "  local off = tonumber(ARGV[i])\n"
    "  local tag = ARGV[1] .. ':' .. ARGV[i]\n"
    "  local sk = ARGV[2] .. 'seen:' .. ARGV[i + 1]\n"
    "  local prev = redis.call('GET', sk)\n"
    "  if prev then\n"
    "    local t, amt, who, typ = string.match(prev, '^(.-)\\31(.-)\\31(.-)\\31(.*)$')\n"
    "    if t == tag then\n"
    "      out[#out + 1] = 1; out[#out + 1] = amt; out[#out + 1] = who; out[#out + 1] = typ\n"
    "    else\n"
    "      out[#out + 1] = 0; out[#out + 1] = '0'; out[#out + 1] = ''; out[#out + 1] = ''\n"
    "    end\n"
    "  else\n"
    "    local kind, rk = ARGV[i + 4], ARGV[2] .. 'rec:' .. ARGV[i + 5]\n"
    "    local amt, who, typ = 0, ARGV[i + 2], ARGV[i + 6]\n"
    "    local r = redis.call('HMGET', rk, 'p', 'n', 't', 'on')\n"
    "    if kind == 'A' then\n"
    "      redis.call('HINCRBY', rk, 'n', ARGV[i + 3])\n"
    "      redis.call('HSET', rk, 'p', who, 't', typ)\n"
    "      if r[4] == '0' then\n"
    "        amt = 0\n" /* deleted before it was scored: kept for an UNDELETE */
    "      else\n"
    "        amt = tonumber(ARGV[i + 3])\n"
    "        redis.call('HSET', rk, 'on', '1')\n"
    "      end\n"
    "    elseif kind == 'D' then\n"
    "      who, typ = r[1] or '', r[3] or ''\n"
    "      if r[4] ~= '0' and r[2] then amt = -tonumber(r[2]) end\n"
    "      redis.call('HSET', rk, 'on', '0')\n" /* a DELETE first leaves a tombstone */
    "    else\n"
    "      who, typ = r[1] or '', r[3] or ''\n"
    "      if r[4] == '0' and r[2] then amt = tonumber(r[2]) end\n"
    "      redis.call('HSET', rk, 'on', '1')\n"
    "    end\n"
    "    redis.call('SET', sk, tag .. '\\31' .. amt .. '\\31' .. who .. '\\31' .. typ, 'EX', ARGV[3])\n"
    "    if amt ~= 0 and off > wm then\n"
    "      redis.call('ZINCRBY', KEYS[2], amt, who)\n"
    "    end\n"
    "    out[#out + 1] = 1; out[#out + 1] = tostring(amt); out[#out + 1] = who; out[#out + 1] = typ\n"
    "  end\n"
    "  if off > top then top = off end\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%d', top))\n"
    "return out\n";

struct carrot_board_s {
    char *host;
    int port, timeout_ms;
    redisContext *rc;
    char sha[41];
};

carrot_board_t *carrot_board_new(const char *host, int port, int timeout_ms) {
    carrot_board_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->host = strdup(host))) {
        free(b);
        return NULL;
    }
    b->port = port;
    b->timeout_ms = timeout_ms;
    return b;
}

void carrot_board_destroy(carrot_board_t *b) {
    if (!b) return;
    if (b->rc) redisFree(b->rc);
    free(b->host);
    free(b);
}

static void drop(carrot_board_t *b) {
    if (b->rc) redisFree(b->rc);
    b->rc = NULL;
}

static int connect_(carrot_board_t *b, char *errstr, size_t errstr_size) {
    if (b->rc) return 0;
    struct timeval tv = {b->timeout_ms / 1000, (b->timeout_ms % 1000) * 1000};
    b->rc = redisConnectWithTimeout(b->host, b->port, tv);
    if (!b->rc || b->rc->err) {
        snprintf(errstr, errstr_size, "could not connect to Redis at %s:%d: %s", b->host, b->port,
                 b->rc ? b->rc->errstr : "out of memory");
        drop(b);
        return -1;
    }
    redisSetTimeout(b->rc, tv);
    redisReply *r = redisCommand(b->rc, "SCRIPT LOAD %s", apply_lua);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        snprintf(errstr, errstr_size, "could not load the leaderboard script into Redis: %s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : b->rc->errstr);
        if (r) freeReplyObject(r);
        drop(b);
        return -1;
    }
    memcpy(b->sha, r->str, 41);
    freeReplyObject(r);
    return 0;
}

/* Runs argv; on a transport error drops the connection. Caller frees reply. */
static redisReply *command(carrot_board_t *b, int argc, const char **argv, const size_t *lens,
                           char *errstr, size_t errstr_size) {
    if (connect_(b, errstr, errstr_size)) return NULL;
    redisReply *r = redisCommandArgv(b->rc, argc, argv, lens);
    if (!r) {
        snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
        drop(b);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "Redis error: %s", r->str);
        if (strncmp(r->str, "NOSCRIPT", 8) == 0) drop(b); /* reloads on reconnect */
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int carrot_board_apply(carrot_board_t *b, const char *program, const char *stream,
                       const carrot_board_event_t *ev, size_t n, long long seen_ttl_s,
                       carrot_board_result_t *res, char *errstr, size_t errstr_size) {
    if (n == 0) return 0;
    if (connect_(b, errstr, errstr_size)) return -1;
    size_t argc = 8 + 7 * n;
    const char **argv = malloc(argc * sizeof(*argv));
    size_t *lens = malloc(argc * sizeof(*lens));
    char *nums = malloc(n * 2 * 24 + n * 2);
    char wm[512], board[512], prefix[512], ttl[24];
    int rc = -1;
    if (!argv || !lens || !nums) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    snprintf(wm, sizeof(wm), "carrot:{%s}:wm:%s", program, stream);
    snprintf(board, sizeof(board), "carrot:{%s}:lb:ptd", program);
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:", program);
    snprintf(ttl, sizeof(ttl), "%lld", seen_ttl_s);
    argv[0] = "EVALSHA";
    argv[1] = b->sha;
    argv[2] = "2";
    argv[3] = wm;
    argv[4] = board;
    argv[5] = stream;
    argv[6] = prefix;
    argv[7] = ttl;
    argc = 8;
    char *kinds = nums + n * 48;
    for (size_t i = 0; i < n; i++) {
        char *off = nums + i * 48, *pts = off + 24;
        snprintf(off, 24, "%lld", (long long)ev[i].offset);
        snprintf(pts, 24, "%lld", (long long)ev[i].points);
        kinds[2 * i] = (char)ev[i].kind;
        kinds[2 * i + 1] = '\0';
        argv[argc++] = off;
        argv[argc++] = ev[i].event_id;
        argv[argc++] = ev[i].participant_id ? ev[i].participant_id : "";
        argv[argc++] = pts;
        argv[argc++] = kinds + 2 * i;
        argv[argc++] = ev[i].record;
        argv[argc++] = ev[i].activity_type ? ev[i].activity_type : "";
    }
    for (size_t i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redisReply *r = command(b, (int)argc, argv, lens, errstr, errstr_size);
    if (!r) goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 * n) {
        snprintf(errstr, errstr_size, "unexpected reply from the leaderboard script");
    } else {
        for (size_t i = 0; i < n; i++) {
            redisReply **e = r->element + 4 * i;
            res[i].fresh = e[0]->type == REDIS_REPLY_INTEGER && e[0]->integer == 1;
            res[i].amount = e[1]->str ? strtoll(e[1]->str, NULL, 10) : 0;
            snprintf(res[i].participant_id, sizeof(res[i].participant_id), "%s", e[2]->str ? e[2]->str : "");
            snprintf(res[i].activity_type, sizeof(res[i].activity_type), "%s", e[3]->str ? e[3]->str : "");
        }
        rc = 0;
    }
    freeReplyObject(r);
out:
    free(argv);
    free(lens);
    free(nums);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    const carrot_board_entry_t *x = a, *y = b;
    if (x->points != y->points) return x->points > y->points ? -1 : 1;
    return strcmp(x->participant_id, y->participant_id);
}

int carrot_board_top(carrot_board_t *b, const char *program, int n, carrot_board_entry_t *out,
                     int *noutp, char *errstr, size_t errstr_size) {
    char key[512], stop[24], minscore[32];
    *noutp = 0;
    if (n <= 0) return 0;
    snprintf(key, sizeof(key), "carrot:{%s}:lb:ptd", program);
    snprintf(stop, sizeof(stop), "%d", n - 1);
    const char *argv[] = {"ZREVRANGE", key, "0", stop, "WITHSCORES"};
    size_t lens[5];
    for (int i = 0; i < 5; i++) lens[i] = strlen(argv[i]);
    redisReply *r = command(b, 5, argv, lens, errstr, errstr_size);
    if (!r) return -1;
    int got = (int)(r->elements / 2);
    for (int i = 0; i < got; i++) {
        snprintf(out[i].participant_id, sizeof(out[i].participant_id), "%s",
                 r->element[2 * i]->str);
        out[i].points = strtoll(r->element[2 * i + 1]->str, NULL, 10);
    }
    freeReplyObject(r);
    if (got == n) {
        /* Members tied with the last one may fall just past n: fetch them so the
         * tie order (ascending id) decides who is shown, not Redis's order. */
        snprintf(minscore, sizeof(minscore), "%lld", (long long)out[n - 1].points);
        const char *a2[] = {"ZRANGEBYSCORE", key, minscore, minscore, "LIMIT", "0", stop};
        snprintf(stop, sizeof(stop), "%d", n);
        size_t l2[7];
        for (int i = 0; i < 7; i++) l2[i] = strlen(a2[i]);
        r = command(b, 7, a2, l2, errstr, errstr_size);
        if (!r) return -1;
        /* Replace the tied tail with the lowest ids among all tied members. */
        int first_tied = n - 1;
        while (first_tied > 0 && out[first_tied - 1].points == out[n - 1].points) first_tied--;
        int64_t pts = out[n - 1].points;
        for (size_t i = 0; i < r->elements && first_tied + (int)i < n; i++) {
            snprintf(out[first_tied + i].participant_id, sizeof(out[0].participant_id), "%s",
                     r->element[i]->str); /* ZRANGEBYSCORE orders equal scores by id */
            out[first_tied + i].points = pts;
        }
        freeReplyObject(r);
    }
    qsort(out, (size_t)got, sizeof(*out), cmp_entry);
    for (int i = 0; i < got; i++)
        out[i].rank = i > 0 && out[i].points == out[i - 1].points ? out[i - 1].rank : i + 1;
    *noutp = got;
    return 0;
}

int carrot_board_total(carrot_board_t *b, const char *program, int64_t *totalp, long *membersp,
                       char *errstr, size_t errstr_size) {
    char key[512];
    snprintf(key, sizeof(key), "carrot:{%s}:lb:ptd", program);
    const char *argv[] = {"ZRANGE", key, "0", "-1", "WITHSCORES"};
    size_t lens[5];
    for (int i = 0; i < 5; i++) lens[i] = strlen(argv[i]);
    redisReply *r = command(b, 5, argv, lens, errstr, errstr_size);
    if (!r) return -1;
    int64_t total = 0;
    for (size_t i = 1; i < r->elements; i += 2) total += strtoll(r->element[i]->str, NULL, 10);
    *totalp = total;
    *membersp = (long)(r->elements / 2);
    freeReplyObject(r);
    return 0;
}
