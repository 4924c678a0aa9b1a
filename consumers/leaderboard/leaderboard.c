/* leaderboard.c: Redis side of scoring: the guarded apply script, and the
 * read queries. One hiredis connection, reconnected on failure. */
#include "leaderboard.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1]: the partition's watermark key, which routes the call to the
 * program's slot on Redis Cluster (every other key shares its {P} tag).
 * ARGV: key prefix "carrot:{P}:", stream, seen ttl, now; then per event:
 * offset, event id, kind, record, participant, type, version,
 * nboards, (board, expire_at)*, nlines, (rule, points)*,
 * cap key ('' none), cap rule, cap points, cap expire_at,
 * ngoals, (key, rule, target, bonus, expire_at)*.
 * Returns per event: fresh, amount, participant, type, version, lines
 * ("rule\30points\30..."). \31 and \30 separate fields in stored values;
 * the scorer rejects ids that hold them. */
static const char apply_lua[] =
    "local P, stream, ttl, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "local wmk = KEYS[1]\n"
    "local wm = tonumber(redis.call('GET', wmk) or '-1')\n"
    "local top, out, i = wm, {}, 5\n"
    /* A batch's events mostly share boards: each board's expiry is set, and
     * each (participant, board) added to the standing index, once per batch.
     * String building is the costly part of Lua here, so board keys are made
     * once per batch and the index is a table of tables. */
    "local expiring, indexed, sums, keys = {}, {}, {}, {}\n"
    /* adds amt for who to boards: a flat list of name, expire_at, ... */
    "local function apply(amt, boards, who)\n"
    "  if amt == 0 or who == '' then return end\n"
    "  local names = {}\n"
    "  for j = 1, #boards, 2 do\n"
    "    local name, exp = boards[j], tonumber(boards[j + 1])\n"
    "    if exp == 0 or exp > now then\n"
    "      local key = keys[name]\n"
    "      if not key then key = P .. 'lb:' .. name; keys[name] = key end\n"
    /* summed per (board, participant) and added once at the end: a batch
     * holds many events of the same people on the same boards */
    "      local b = sums[key]\n"
    "      if not b then b = {}; sums[key] = b end\n"
    "      b[who] = (b[who] or 0) + amt\n"
    "      if exp > 0 and not expiring[key] then expiring[key] = exp end\n"
    "      local w = indexed[who]\n"
    "      if not w then w = {}; indexed[who] = w end\n"
    "      if not w[name] then names[#names + 1] = name; w[name] = true end\n"
    "    end\n"
    "  end\n"
    "  if #names > 0 then redis.call('SADD', P .. 'pb:' .. who, unpack(names)) end\n"
    "end\n"
    /* a record's boards as stored ("name\30exp\30..."), for a DELETE or UNDELETE */
    "local function split(kstr)\n"
    "  local t = {}\n"
    "  if kstr then for f in string.gmatch(kstr, '[^\\30]+') do t[#t + 1] = f end end\n"
    "  return t\n"
    "end\n"
    "while i <= #ARGV do\n"
    "  local offs, eid, kind, rec = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
    "  local who, typ, ver = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]\n"
    "  local off = tonumber(offs)\n"
    "  local nb = tonumber(ARGV[i + 7]); local b0 = i + 8; i = b0 + 2 * nb\n"
    "  local nl = tonumber(ARGV[i]); local l0 = i + 1; i = l0 + 2 * nl\n"
    "  local ck, cr, cmax, cexp = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]; i = i + 4\n"
    "  local ng = tonumber(ARGV[i]); local g0 = i + 1; i = g0 + 5 * ng\n"
    "  local tag = stream .. ':' .. offs\n"
    "  local sk = P .. 'seen:' .. eid\n"
    "  local prev = redis.call('GET', sk)\n"
    "  if prev then\n"
    "    local t, amt, pw, pt, pv, pl = string.match(prev, '^(.-)\\31(.-)\\31(.-)\\31(.-)\\31(.-)\\31(.*)$')\n"
    "    if t == tag then\n"
    "      out[#out + 1] = 1; out[#out + 1] = amt; out[#out + 1] = pw; out[#out + 1] = pt\n"
    "      out[#out + 1] = pv; out[#out + 1] = pl\n"
    "    else\n"
    "      out[#out + 1] = 0; out[#out + 1] = '0'; out[#out + 1] = ''; out[#out + 1] = ''\n"
    "      out[#out + 1] = ''; out[#out + 1] = ''\n"
    "    end\n"
    "  elseif off <= wm then\n" /* applied once, and its dedup entry has expired */
    "    out[#out + 1] = 0; out[#out + 1] = '0'; out[#out + 1] = ''; out[#out + 1] = ''\n"
    "    out[#out + 1] = ''; out[#out + 1] = ''\n"
    "  elseif kind == 'A' and nl == 0 and ng == 0 then\n" /* earns nothing: nothing to keep */
    "    out[#out + 1] = 1; out[#out + 1] = '0'; out[#out + 1] = who; out[#out + 1] = typ\n"
    "    out[#out + 1] = ver; out[#out + 1] = ''\n"
    "  else\n"
    "    local rk = P .. 'rec:' .. rec\n"
    "    local amt, lines = 0, {}\n"
    "    if kind == 'A' then\n"
    "      local sum = 0\n"
    "      for j = 0, nl - 1 do\n"
    "        lines[#lines + 1] = ARGV[l0 + 2 * j]; lines[#lines + 1] = ARGV[l0 + 2 * j + 1]\n"
    "        sum = sum + tonumber(ARGV[l0 + 2 * j + 1])\n"
    "      end\n"
    "      if ck ~= '' and sum > 0 then\n" /* the KPI's cap this period */
    "        local used = tonumber(redis.call('GET', P .. ck) or '0')\n"
    "        local allowed = math.min(sum, math.max(cmax - used, 0))\n"
    "        redis.call('SET', P .. ck, used + allowed)\n"
    "        redis.call('EXPIREAT', P .. ck, cexp)\n"
    "        if allowed < sum then\n"
    "          lines[#lines + 1] = 'cap.' .. cr; lines[#lines + 1] = tostring(allowed - sum)\n"
    "          sum = allowed\n"
    "        end\n"
    "      end\n"
    "      for j = 0, ng - 1 do\n" /* goals: one bonus when the count reaches the target */
    "        local g = g0 + 5 * j\n"
    "        local c = redis.call('INCR', P .. ARGV[g])\n"
    "        redis.call('EXPIREAT', P .. ARGV[g], ARGV[g + 4])\n"
    "        if c == tonumber(ARGV[g + 2]) and tonumber(ARGV[g + 3]) ~= 0 then\n"
    "          lines[#lines + 1] = ARGV[g + 1]; lines[#lines + 1] = ARGV[g + 3]\n"
    "          sum = sum + tonumber(ARGV[g + 3])\n"
    "        end\n"
    "      end\n"
    "      local r = redis.call('HMGET', rk, 'on', 'k')\n"
    "      local boards\n"
    "      local set = {'p', who, 't', typ}\n"
    "      if r[2] then\n" /* a record's boards are its first CREATE's */
    "        boards = split(r[2])\n"
    "      else\n"
    "        boards = {unpack(ARGV, b0, b0 + 2 * nb - 1)}\n"
    "        set[#set + 1] = 'k'; set[#set + 1] = table.concat(boards, '\\30')\n"
    "      end\n"
    "      if r[1] ~= '0' then\n"
    "        amt = sum\n"
    "        set[#set + 1] = 'on'; set[#set + 1] = '1'\n"
    "      else\n" /* deleted before it was scored: kept for an UNDELETE, awards nothing */
    "        lines = {}\n"
    "      end\n"
    "      redis.call('HINCRBY', rk, 'n', sum)\n"
    "      redis.call('HSET', rk, unpack(set))\n"
    "      apply(amt, boards, who)\n"
    "    else\n"
    "      local r = redis.call('HMGET', rk, 'p', 'n', 't', 'on', 'k')\n"
    "      who, typ = r[1] or '', r[3] or ''\n"
    "      if kind == 'D' then\n"
    "        if r[4] ~= '0' and r[2] then amt = -tonumber(r[2]) end\n"
    "        redis.call('HSET', rk, 'on', '0')\n" /* a DELETE first leaves a tombstone */
    "        if amt ~= 0 then lines = {'reversal', tostring(amt)} end\n"
    "      else\n"
    "        if r[4] == '0' and r[2] then amt = tonumber(r[2]) end\n"
    "        redis.call('HSET', rk, 'on', '1')\n"
    "        if amt ~= 0 then lines = {'restore', tostring(amt)} end\n"
    "      end\n"
    "      apply(amt, split(r[5]), who)\n"
    "    end\n"
    "    local l = table.concat(lines, '\\30')\n"
    "    redis.call('SET', sk, table.concat({tag, tostring(amt), who, typ, ver, l}, '\\31'), 'EX', ttl)\n"
    "    out[#out + 1] = 1; out[#out + 1] = tostring(amt); out[#out + 1] = who; out[#out + 1] = typ\n"
    "    out[#out + 1] = ver; out[#out + 1] = l\n"
    "  end\n"
    "  if off > top then top = off end\n"
    "end\n"
    "for key, b in pairs(sums) do\n"
    "  for who, amt in pairs(b) do\n"
    "    if amt ~= 0 then redis.call('ZINCRBY', key, amt, who) end\n"
    "  end\n"
    "  if expiring[key] then redis.call('EXPIREAT', key, expiring[key]) end\n"
    "end\n"
    "redis.call('SET', wmk, string.format('%d', top))\n"
    "return out\n";

/* Reads. KEYS[1]: a key of the program (routing on Redis Cluster). ARGV[1]
 * mode: 'range' key start stop | 'around' key member k | 'standing' prefix
 * member. Returns flat (board, member, score, rank, size)*. */
static const char query_lua[] =
    "local mode = ARGV[1]\n"
    "local out = {}\n"
    "local function ranked(key, name, start, stop)\n"
    "  local r = redis.call('ZREVRANGE', key, start, stop, 'WITHSCORES')\n"
    "  local ranks = {}\n"
    "  for j = 1, #r, 2 do\n"
    "    local s = r[j + 1]\n"
    "    if not ranks[s] then ranks[s] = redis.call('ZCOUNT', key, '(' .. s, '+inf') + 1 end\n"
    "    out[#out + 1] = name; out[#out + 1] = r[j]; out[#out + 1] = s; out[#out + 1] = ranks[s]\n"
    "    out[#out + 1] = 0\n"
    "  end\n"
    "end\n"
    "if mode == 'range' then\n"
    "  ranked(ARGV[2], '', tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
    "elseif mode == 'around' then\n"
    "  local r = redis.call('ZREVRANK', ARGV[2], ARGV[3])\n"
    "  if r then\n"
    "    local k = tonumber(ARGV[4])\n"
    "    ranked(ARGV[2], '', math.max(r - k, 0), r + k)\n"
    "  end\n"
    "else\n"
    "  local P, who = ARGV[2], ARGV[3]\n"
    "  local names = redis.call('SMEMBERS', P .. 'pb:' .. who)\n"
    "  table.sort(names)\n"
    "  for _, name in ipairs(names) do\n"
    "    local key = P .. 'lb:' .. name\n"
    "    local s = redis.call('ZSCORE', key, who)\n"
    "    if s then\n"
    "      out[#out + 1] = name; out[#out + 1] = who; out[#out + 1] = s\n"
    "      out[#out + 1] = redis.call('ZCOUNT', key, '(' .. s, '+inf') + 1\n"
    "      out[#out + 1] = redis.call('ZCARD', key)\n"
    "    else\n"
    "      redis.call('SREM', P .. 'pb:' .. who, name)\n" /* the board expired */
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

struct carrot_board_s {
    char *host;
    int port, timeout_ms;
    redisContext *rc;
    char apply_sha[41], query_sha[41];
};

void carrot_board_key(char *buf, size_t size, const char *program, const char *board) {
    snprintf(buf, size, "carrot:{%s}:lb:%s", program, board);
}

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

static int load_script(carrot_board_t *b, const char *src, char sha[41], char *errstr,
                       size_t errstr_size) {
    redisReply *r = redisCommand(b->rc, "SCRIPT LOAD %s", src);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        snprintf(errstr, errstr_size, "could not load the leaderboard scripts into Redis: %s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : b->rc->errstr);
        if (r) freeReplyObject(r);
        return -1;
    }
    memcpy(sha, r->str, 41);
    freeReplyObject(r);
    return 0;
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
    if (load_script(b, apply_lua, b->apply_sha, errstr, errstr_size) ||
        load_script(b, query_lua, b->query_sha, errstr, errstr_size)) {
        drop(b);
        return -1;
    }
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

/* Arguments built into one growing buffer; pointers are fixed at the end
 * because the buffer may move while it grows. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *off, *lens, n, ncap;
    int oom;
} args_t;

static void arg(args_t *a, const char *s, size_t len) {
    if (a->oom) return;
    if (a->n == a->ncap) {
        size_t nc = a->ncap ? a->ncap * 2 : 256;
        size_t *o = realloc(a->off, nc * sizeof(*o)), *l = o ? realloc(a->lens, nc * sizeof(*l)) : NULL;
        if (o) a->off = o;
        if (!o || !l) {
            a->oom = 1;
            return;
        }
        a->lens = l;
        a->ncap = nc;
    }
    if (a->len + len + 1 > a->cap) {
        size_t nc = a->cap ? a->cap : 65536;
        while (nc < a->len + len + 1) nc *= 2;
        char *nb = realloc(a->buf, nc);
        if (!nb) {
            a->oom = 1;
            return;
        }
        a->buf = nb;
        a->cap = nc;
    }
    memcpy(a->buf + a->len, s, len);
    a->buf[a->len + len] = '\0';
    a->off[a->n] = a->len;
    a->lens[a->n++] = len;
    a->len += len + 1;
}

static void arg_s(args_t *a, const char *s) { arg(a, s ? s : "", s ? strlen(s) : 0); }

static void arg_i(args_t *a, long long v) {
    char num[24];
    arg(a, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

static void args_free(args_t *a) {
    free(a->buf);
    free(a->off);
    free(a->lens);
}

/* Runs the script sha with one key and the built arguments. */
static redisReply *run(carrot_board_t *b, const char *sha, const char *key, args_t *a,
                       char *errstr, size_t errstr_size) {
    if (a->oom) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (connect_(b, errstr, errstr_size)) return NULL;
    const char **argv = malloc((a->n + 4) * sizeof(*argv));
    size_t *lens = malloc((a->n + 4) * sizeof(*lens));
    redisReply *r = NULL;
    if (!argv || !lens) {
        snprintf(errstr, errstr_size, "out of memory");
    } else {
        argv[0] = "EVALSHA";
        argv[1] = sha;
        argv[2] = "1";
        argv[3] = key;
        lens[0] = 7;
        lens[1] = 40;
        lens[2] = 1;
        lens[3] = strlen(key);
        for (size_t i = 0; i < a->n; i++) {
            argv[i + 4] = a->buf + a->off[i];
            lens[i + 4] = a->lens[i];
        }
        r = command(b, (int)a->n + 4, argv, lens, errstr, errstr_size);
    }
    free(argv);
    free(lens);
    return r;
}

static const char *rstr(const redisReply *e) { return e->type == REDIS_REPLY_STRING ? e->str : ""; }

static long long rnum(const redisReply *e) {
    if (e->type == REDIS_REPLY_INTEGER) return e->integer;
    return e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
}

/* "rule\x1epoints\x1e..." (Lua's decimal \30) into res->lines. */
static void parse_lines(const char *s, carrot_board_result_t *res) {
    res->nlines = 0;
    while (*s && res->nlines < CARROT_BOARD_MAX_LINES) {
        const char *sep = strchr(s, '\x1e');
        if (!sep) break;
        carrot_board_out_line_t *l = &res->lines[res->nlines++];
        snprintf(l->rule_id, sizeof(l->rule_id), "%.*s", (int)(sep - s), s);
        char *end;
        l->points = strtoll(sep + 1, &end, 10);
        s = *end == '\x1e' ? end + 1 : end;
    }
}

int carrot_board_apply(carrot_board_t *b, const char *program, const char *stream,
                       const carrot_board_event_t *ev, size_t n, long long seen_ttl_s,
                       int64_t now_s, carrot_board_result_t *res, char *errstr,
                       size_t errstr_size) {
    if (n == 0) return 0;
    args_t a = {0};
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:", program);
    arg_s(&a, prefix);
    arg_s(&a, stream);
    arg_i(&a, seen_ttl_s);
    arg_i(&a, (long long)now_s);
    for (size_t i = 0; i < n; i++) {
        const carrot_board_event_t *e = &ev[i];
        char kind[2] = {(char)e->kind, '\0'};
        int award = e->kind == CARROT_BOARD_AWARD;
        arg_i(&a, (long long)e->offset);
        arg_s(&a, e->event_id);
        arg_s(&a, kind);
        arg_s(&a, e->record);
        arg_s(&a, e->participant_id);
        arg_s(&a, e->activity_type);
        arg_s(&a, e->version);
        arg_i(&a, award ? (long long)e->nboards : 0);
        for (size_t j = 0; award && j < e->nboards; j++) {
            arg_s(&a, e->boards[j]);
            arg_i(&a, (long long)e->board_expire_at[j]);
        }
        arg_i(&a, award ? (long long)e->nlines : 0);
        for (size_t j = 0; award && j < e->nlines; j++) {
            arg_s(&a, e->lines[j].rule_id);
            arg_i(&a, (long long)e->lines[j].points);
        }
        int capped = award && e->cap_key;
        arg_s(&a, capped ? e->cap_key : "");
        arg_s(&a, capped ? e->cap_rule : "");
        arg_i(&a, capped ? (long long)e->cap_points : 0);
        arg_i(&a, capped ? (long long)e->cap_expire_at : 0);
        arg_i(&a, award ? (long long)e->ngoals : 0);
        for (size_t j = 0; award && j < e->ngoals; j++) {
            arg_s(&a, e->goals[j].key);
            arg_s(&a, e->goals[j].rule_id);
            arg_i(&a, (long long)e->goals[j].target);
            arg_i(&a, (long long)e->goals[j].bonus);
            arg_i(&a, (long long)e->goals[j].expire_at);
        }
    }
    int rc = -1;
    char wm[1024];
    snprintf(wm, sizeof(wm), "%swm:%s", prefix, stream);
    redisReply *r = run(b, b->apply_sha, wm, &a, errstr, errstr_size);
    args_free(&a);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 * n) {
        snprintf(errstr, errstr_size, "unexpected reply from the leaderboard script");
    } else {
        for (size_t i = 0; i < n; i++) {
            redisReply **e = r->element + 6 * i;
            res[i].fresh = rnum(e[0]) == 1;
            res[i].amount = rnum(e[1]);
            snprintf(res[i].participant_id, sizeof(res[i].participant_id), "%s", rstr(e[2]));
            snprintf(res[i].activity_type, sizeof(res[i].activity_type), "%s", rstr(e[3]));
            snprintf(res[i].version, sizeof(res[i].version), "%s", rstr(e[4]));
            parse_lines(rstr(e[5]), &res[i]);
        }
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int carrot_board_set_meta(carrot_board_t *b, const char *program, const char *tz,
                          const char *version, char *errstr, size_t errstr_size) {
    char key[512];
    snprintf(key, sizeof(key), "carrot:{%s}:meta", program);
    const char *argv[] = {"HSET", key, "timezone", tz, "version", version};
    size_t lens[6];
    for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
    redisReply *r = command(b, 6, argv, lens, errstr, errstr_size);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int carrot_board_get_meta(carrot_board_t *b, const char *program, char *tz, size_t tz_size,
                          char *version, size_t version_size, char *errstr, size_t errstr_size) {
    char key[512];
    snprintf(key, sizeof(key), "carrot:{%s}:meta", program);
    const char *argv[] = {"HMGET", key, "timezone", "version"};
    size_t lens[4];
    for (int i = 0; i < 4; i++) lens[i] = strlen(argv[i]);
    redisReply *r = command(b, 4, argv, lens, errstr, errstr_size);
    if (!r) return -1;
    snprintf(tz, tz_size, "%s", r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? rstr(r->element[0]) : "");
    snprintf(version, version_size, "%s",
             r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? rstr(r->element[1]) : "");
    freeReplyObject(r);
    return 0;
}

/* Runs the query script and fills out from its (board, member, score, rank, size) rows. */
static int query(carrot_board_t *b, const char *key, args_t *a, int max,
                 carrot_board_entry_t *out, int *noutp, char *errstr, size_t errstr_size) {
    *noutp = 0;
    redisReply *r = run(b, b->query_sha, key, a, errstr, errstr_size);
    args_free(a);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 5) {
        snprintf(errstr, errstr_size, "unexpected reply from the leaderboard query");
        freeReplyObject(r);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i + 4 < r->elements && n < max; i += 5, n++) {
        snprintf(out[n].board, sizeof(out[n].board), "%s", rstr(r->element[i]));
        snprintf(out[n].participant_id, sizeof(out[n].participant_id), "%s", rstr(r->element[i + 1]));
        out[n].points = rnum(r->element[i + 2]);
        out[n].rank = (long)rnum(r->element[i + 3]);
        out[n].size = (long)rnum(r->element[i + 4]);
    }
    *noutp = n;
    freeReplyObject(r);
    return 0;
}

int carrot_board_range(carrot_board_t *b, const char *program, const char *board, long start,
                       int max, carrot_board_entry_t *out, int *noutp, char *errstr,
                       size_t errstr_size) {
    char key[512];
    *noutp = 0;
    if (max <= 0 || start < 0) return 0;
    carrot_board_key(key, sizeof(key), program, board);
    args_t a = {0};
    arg_s(&a, "range");
    arg_s(&a, key);
    arg_i(&a, start);
    arg_i(&a, start + max - 1);
    return query(b, key, &a, max, out, noutp, errstr, errstr_size);
}

int carrot_board_top(carrot_board_t *b, const char *program, const char *board, int n,
                     carrot_board_entry_t *out, int *noutp, char *errstr, size_t errstr_size) {
    return carrot_board_range(b, program, board, 0, n, out, noutp, errstr, errstr_size);
}

int carrot_board_around(carrot_board_t *b, const char *program, const char *board,
                        const char *participant, int k, carrot_board_entry_t *out, int *noutp,
                        char *errstr, size_t errstr_size) {
    char key[512];
    *noutp = 0;
    if (k < 0) return 0;
    carrot_board_key(key, sizeof(key), program, board);
    args_t a = {0};
    arg_s(&a, "around");
    arg_s(&a, key);
    arg_s(&a, participant);
    arg_i(&a, k);
    return query(b, key, &a, 2 * k + 1, out, noutp, errstr, errstr_size);
}

int carrot_board_standing(carrot_board_t *b, const char *program, const char *participant,
                          int max, carrot_board_entry_t *out, int *noutp, char *errstr,
                          size_t errstr_size) {
    char prefix[512], key[1024];
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:", program);
    snprintf(key, sizeof(key), "%spb:%s", prefix, participant);
    args_t a = {0};
    arg_s(&a, "standing");
    arg_s(&a, prefix);
    arg_s(&a, participant);
    return query(b, key, &a, max, out, noutp, errstr, errstr_size);
}

int carrot_board_total(carrot_board_t *b, const char *program, const char *board, int64_t *totalp,
                       long *membersp, char *errstr, size_t errstr_size) {
    char key[512];
    carrot_board_key(key, sizeof(key), program, board);
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
