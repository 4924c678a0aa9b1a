/* board.c: Redis side of the boards: the connection (one hiredis
 * connection, reconnected on failure), the watermark and meta, and the read
 * queries. The guarded write of a batch is apply.c's. */
#include "board_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The query script, query.lua beside this file, embedded at build time
 * (libcarrot/embed.cmake). */
extern const char carrot_lua_query[];

void carrot_board_key(char *buf, size_t size, const char *program, const char *board) {
    snprintf(buf, size, "carrot:{%s}:lb:%s", program, board);
}

static int load_script(redisContext *c, const char *name, const char *src, char sha[41],
                       int *fatalp, char *errstr, size_t errstr_size);

/* carrot/redis.h's setup of each new connection: the query script loaded
 * (on every node of a cluster: the same text, the same SHA-1). */
static int setup(redisContext *c, void *opaque, int *fatalp, char *errstr, size_t errstr_size) {
    carrot_board_t *b = opaque;
    return load_script(c, "query.lua", carrot_lua_query, b->query_sha, fatalp, errstr, errstr_size);
}

carrot_board_t *carrot_board_new(const char *host, int port, int timeout_ms) {
    carrot_board_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->redis = carrot_redis_new(host, port, timeout_ms, setup, b))) {
        free(b);
        return NULL;
    }
    b->timeout_ms = timeout_ms;
    b->port = port;
    b->nlanes = 1;
    if (!(b->host = strdup(host))) {
        carrot_board_destroy(b);
        return NULL;
    }
    return b;
}

void carrot_board_destroy(carrot_board_t *b) {
    if (!b) return;
    for (int i = 1; i < CARROT_BOARD_MAX_LANES; i++) carrot_board_destroy(b->lane[i]);
    carrot_redis_destroy(b->redis);
    carrot_apply_free(b->apply);
    free(b->host);
    free(b->keys);
    free(b->layout_program);
    free(b);
}

void carrot_board_set_lanes(carrot_board_t *b, int lanes) {
    b->nlanes = lanes < 1 ? 1 : lanes > CARROT_BOARD_MAX_LANES ? CARROT_BOARD_MAX_LANES : lanes;
}

void carrot_board_drop(carrot_board_t *b) {
    if (b->rc) carrot_redis_drop(b->redis, b->rc);
    b->rc = NULL;
}

/* Redis errors that pass: a server loading or busy, a cluster moving or
 * failing over, a replica promoted, memory full (keys may expire). Anything
 * else (a script's runtime error, a wrong type) fails the same way again. */
int carrot_board_retriable(const char *err) {
    static const char *const codes[] = {"NOSCRIPT", "LOADING", "BUSY",        "TRYAGAIN",
                                        "MOVED",    "ASK",     "CLUSTERDOWN", "MASTERDOWN",
                                        "READONLY", "OOM",     NULL};
    for (int i = 0; codes[i]; i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(err, codes[i], n) == 0 && (err[n] == ' ' || err[n] == '\0')) return 1;
    }
    return 0;
}

int carrot_board_retry_reply(carrot_board_t *b, const char *err) {
    carrot_redis_error(b->redis, err);
    return carrot_board_retriable(err);
}

static int load_script(redisContext *c, const char *name, const char *src, char sha[41],
                       int *fatalp, char *errstr, size_t errstr_size) {
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", src);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        snprintf(errstr, errstr_size, "could not load %s into Redis: %s", name,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
        /* a script Redis refuses (it does not compile) is refused again */
        if (r && (r->type != REDIS_REPLY_ERROR || !carrot_board_retriable(r->str))) *fatalp = 1;
        if (r) freeReplyObject(r);
        return -1;
    }
    memcpy(sha, r->str, 41);
    freeReplyObject(r);
    return 0;
}

int carrot_board_connect(carrot_board_t *b, const char *key, char *errstr, size_t errstr_size) {
    int fatal = 0;
    b->rc = carrot_redis_for(b->redis, key, &fatal, errstr, errstr_size);
    if (b->rc) return 0;
    if (fatal) b->failed = CARROT_BOARD_FATAL;
    return -1;
}

unsigned long carrot_board_connects(const carrot_board_t *b) {
    unsigned long n = carrot_redis_connects(b->redis);
    for (int i = 1; i < CARROT_BOARD_MAX_LANES; i++)
        if (b->lane[i]) n += carrot_redis_connects(b->lane[i]->redis);
    return n;
}

unsigned long carrot_board_conflicts(const carrot_board_t *b) {
    unsigned long n = b->conflicts;
    for (int i = 1; i < CARROT_BOARD_MAX_LANES; i++)
        if (b->lane[i]) n += b->lane[i]->conflicts;
    return n;
}

/* A Redis error into errstr. A script's names the .lua file and line first:
 * Redis numbers the lines of the text it loaded ("user_script:N"), which
 * is the file as it is (embedded byte for byte). */
static void redis_error(const char *script, const char *err, char *errstr, size_t errstr_size) {
    const char *at = script ? strstr(err, "user_script:") : NULL;
    if (at)
        snprintf(errstr, errstr_size, "%s:%ld: Redis error: %s", script, strtol(at + 12, NULL, 10),
                 err);
    else
        snprintf(errstr, errstr_size, "Redis error%s%s: %s", script ? " in " : "",
                 script ? script : "", err);
}

redisReply *carrot_board_command(carrot_board_t *b, const char *script, int argc, const char **argv,
                                 const size_t *lens, char *errstr, size_t errstr_size) {
    b->failed = CARROT_BOARD_RETRY;
    const char *key = NULL; /* routed by its first key: the first argument with a hash tag */
    for (int i = 1; i < argc && !key; i++)
        if (memchr(argv[i], '{', lens ? lens[i] : strlen(argv[i]))) key = argv[i];
    if (carrot_board_connect(b, key, errstr, errstr_size)) return NULL;
    redisReply *r = redisCommandArgv(b->rc, argc, argv, lens);
    if (!r) {
        snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
        carrot_board_drop(b);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        redis_error(script, r->str, errstr, errstr_size);
        if (!carrot_board_retry_reply(b, r->str)) b->failed = CARROT_BOARD_FATAL;
        if (strncmp(r->str, "NOSCRIPT", 8) == 0) carrot_board_drop(b); /* reloads on reconnect */
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

typedef carrot_args_t args_t;

void carrot_args_add(carrot_args_t *a, const char *s, size_t len) {
    if (a->oom) return;
    if (a->n == a->ncap) {
        size_t nc = a->ncap ? a->ncap * 2 : 256;
        size_t *o = realloc(a->off, nc * sizeof(*o));
        if (o) a->off = o;
        size_t *l = o ? realloc(a->lens, nc * sizeof(*l)) : NULL;
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

static void arg(args_t *a, const char *s, size_t len) { carrot_args_add(a, s, len); }

static void arg_s(args_t *a, const char *s) { arg(a, s ? s : "", s ? strlen(s) : 0); }

static void arg_i(args_t *a, long long v) {
    char num[24];
    arg(a, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

void carrot_args_free(carrot_args_t *a) {
    free(a->buf);
    free(a->off);
    free(a->lens);
}

redisReply *carrot_board_script(carrot_board_t *b, const char *script, const char *sha,
                                const char *key, carrot_args_t *a, char *errstr,
                                size_t errstr_size) {
    b->failed = CARROT_BOARD_RETRY;
    if (a->oom) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (carrot_board_connect(b, key, errstr, errstr_size)) return NULL;
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
        r = carrot_board_command(b, script, (int)a->n + 4, argv, lens, errstr, errstr_size);
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

carrot_board_err_t carrot_board_apply(carrot_board_t *b, const char *program, const char *stream,
                                      const carrot_board_event_t *ev, size_t n,
                                      long long seen_ttl_s, int64_t now_s,
                                      carrot_board_result_t *res, char *errstr,
                                      size_t errstr_size) {
    if (n == 0) return CARROT_BOARD_OK;
    return carrot_board_apply_events(b, program, stream, ev, n, -1, seen_ttl_s, now_s, res, errstr,
                                     errstr_size);
}

carrot_board_err_t carrot_board_advance(carrot_board_t *b, const char *program, const char *stream,
                                        int64_t through, char *errstr, size_t errstr_size) {
    return carrot_board_apply_events(b, program, stream, NULL, 0, through, 0, 0, NULL, errstr,
                                     errstr_size);
}

carrot_board_err_t carrot_board_watermark(carrot_board_t *b, const char *program,
                                          const char *stream, int64_t *wmp, char *errstr,
                                          size_t errstr_size) {
    char key[1024];
    snprintf(key, sizeof(key), "carrot:{%s}:wm:%s", program, stream);
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, strlen(key)};
    redisReply *r = carrot_board_command(b, NULL, 2, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    if (r->type == REDIS_REPLY_NIL) *wmp = -1;
    else if (r->type == REDIS_REPLY_STRING)
        *wmp = strtoll(r->str, NULL, 10);
    else {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to GET %s", key);
        rc = CARROT_BOARD_FATAL;
    }
    freeReplyObject(r);
    return rc;
}

carrot_board_err_t carrot_board_set_meta(carrot_board_t *b, const char *program, const char *tz,
                                         const char *version, char *errstr, size_t errstr_size) {
    char key[512];
    snprintf(key, sizeof(key), "carrot:{%s}:meta", program);
    const char *argv[] = {"HSET", key, "timezone", tz, "version", version};
    size_t lens[6];
    for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
    redisReply *r = carrot_board_command(b, NULL, 6, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    carrot_board_err_t rc = r->type == REDIS_REPLY_INTEGER ? CARROT_BOARD_OK : CARROT_BOARD_FATAL;
    if (rc) snprintf(errstr, errstr_size, "unexpected reply from Redis to HSET %s", key);
    freeReplyObject(r);
    return rc;
}

carrot_board_err_t carrot_board_get_meta(carrot_board_t *b, const char *program, char *tz,
                                         size_t tz_size, char *version, size_t version_size,
                                         char *errstr, size_t errstr_size) {
    char key[512];
    snprintf(key, sizeof(key), "carrot:{%s}:meta", program);
    const char *argv[] = {"HMGET", key, "timezone", "version"};
    size_t lens[4];
    for (int i = 0; i < 4; i++) lens[i] = strlen(argv[i]);
    redisReply *r = carrot_board_command(b, NULL, 4, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to HMGET %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    snprintf(tz, tz_size, "%s", rstr(r->element[0]));
    snprintf(version, version_size, "%s", rstr(r->element[1]));
    freeReplyObject(r);
    return CARROT_BOARD_OK;
}

/* Runs the query script and fills out from its (board, member, score, rank, size) rows. */
static carrot_board_err_t query(carrot_board_t *b, const char *key, args_t *a, int max,
                                carrot_board_entry_t *out, int *noutp, char *errstr,
                                size_t errstr_size) {
    *noutp = 0;
    redisReply *r = carrot_board_script(b, "query.lua", b->query_sha, key, a, errstr, errstr_size);
    carrot_args_free(a);
    if (!r) return b->failed;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 5) {
        snprintf(errstr, errstr_size, "unexpected reply from the leaderboard query (query.lua)");
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    int n = 0;
    for (size_t i = 0; i + 4 < r->elements && n < max; i += 5, n++) {
        snprintf(out[n].board, sizeof(out[n].board), "%s", rstr(r->element[i]));
        snprintf(out[n].participant_id, sizeof(out[n].participant_id), "%s",
                 rstr(r->element[i + 1]));
        out[n].points = rnum(r->element[i + 2]);
        out[n].rank = (long)rnum(r->element[i + 3]);
        out[n].size = (long)rnum(r->element[i + 4]);
    }
    *noutp = n;
    freeReplyObject(r);
    return CARROT_BOARD_OK;
}

carrot_board_err_t carrot_board_range(carrot_board_t *b, const char *program, const char *board,
                                      long start, int max, carrot_board_entry_t *out, int *noutp,
                                      char *errstr, size_t errstr_size) {
    char key[512];
    *noutp = 0;
    if (max <= 0 || start < 0) return CARROT_BOARD_OK;
    carrot_board_err_t rc = carrot_board_rollup(b, program, board, errstr, errstr_size);
    if (rc) return rc;
    carrot_board_key(key, sizeof(key), program, board);
    args_t a = {0};
    arg_s(&a, "range");
    arg_s(&a, key);
    arg_i(&a, start);
    arg_i(&a, start + max - 1);
    return query(b, key, &a, max, out, noutp, errstr, errstr_size);
}

carrot_board_err_t carrot_board_top(carrot_board_t *b, const char *program, const char *board,
                                    int n, carrot_board_entry_t *out, int *noutp, char *errstr,
                                    size_t errstr_size) {
    return carrot_board_range(b, program, board, 0, n, out, noutp, errstr, errstr_size);
}

carrot_board_err_t carrot_board_around(carrot_board_t *b, const char *program, const char *board,
                                       const char *participant, int k, carrot_board_entry_t *out,
                                       int *noutp, char *errstr, size_t errstr_size) {
    char key[512];
    *noutp = 0;
    if (k < 0) return CARROT_BOARD_OK;
    carrot_board_err_t rc = carrot_board_rollup(b, program, board, errstr, errstr_size);
    if (rc) return rc;
    carrot_board_key(key, sizeof(key), program, board);
    args_t a = {0};
    arg_s(&a, "around");
    arg_s(&a, key);
    arg_s(&a, participant);
    arg_i(&a, k);
    return query(b, key, &a, 2 * k + 1, out, noutp, errstr, errstr_size);
}

carrot_board_err_t carrot_board_standing(carrot_board_t *b, const char *program,
                                         const char *participant, int max,
                                         carrot_board_entry_t *out, int *noutp, char *errstr,
                                         size_t errstr_size) {
    char prefix[512], key[1024];
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:", program);
    snprintf(key, sizeof(key), "%spb:%s", prefix, participant);
    /* the rolled boards the participant is on are summed first */
    const char *argv[] = {"SMEMBERS", key};
    size_t lens[] = {8, strlen(key)};
    redisReply *names = carrot_board_command(b, NULL, 2, argv, lens, errstr, errstr_size);
    if (!names) return b->failed;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    for (size_t i = 0; !rc && names->type == REDIS_REPLY_ARRAY && i < names->elements; i++)
        if (names->element[i]->type == REDIS_REPLY_STRING)
            rc = carrot_board_rollup(b, program, names->element[i]->str, errstr, errstr_size);
    freeReplyObject(names);
    if (rc) return rc;
    args_t a = {0};
    arg_s(&a, "standing");
    arg_s(&a, prefix);
    arg_s(&a, participant);
    return query(b, key, &a, max, out, noutp, errstr, errstr_size);
}

carrot_board_err_t carrot_board_total(carrot_board_t *b, const char *program, const char *board,
                                      int64_t *totalp, long *membersp, char *errstr,
                                      size_t errstr_size) {
    char key[512];
    carrot_board_err_t rc = carrot_board_rollup(b, program, board, errstr, errstr_size);
    if (rc) return rc;
    carrot_board_key(key, sizeof(key), program, board);
    const char *argv[] = {"ZRANGE", key, "0", "-1", "WITHSCORES"};
    size_t lens[5];
    for (int i = 0; i < 5; i++) lens[i] = strlen(argv[i]);
    redisReply *r = carrot_board_command(b, NULL, 5, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    int shaped = r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0;
    for (size_t i = 0; shaped && i < r->elements; i++)
        shaped = r->element[i]->type == REDIS_REPLY_STRING;
    if (!shaped) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to ZRANGE %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    int64_t total = 0;
    for (size_t i = 1; i < r->elements; i += 2) total += strtoll(r->element[i]->str, NULL, 10);
    *totalp = total;
    *membersp = (long)(r->elements / 2);
    freeReplyObject(r);
    return CARROT_BOARD_OK;
}

/* MULTI, ZRANGE of the ptd board, MGET of the watermarks, EXEC: pipelined,
 * one round trip. */
carrot_board_err_t carrot_board_snapshot(carrot_board_t *b, const char *program,
                                         const char *const *streams, int n, int64_t *wm,
                                         carrot_board_entry_cb on_entry, void *opaque, char *errstr,
                                         size_t errstr_size) {
    char key[512], prefix[512];
    carrot_board_key(key, sizeof(key), program, "ptd:all");
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:wm:", program);
    args_t a = {0};
    arg_s(&a, "MGET");
    for (int i = 0; i < n; i++) {
        char k[1024];
        snprintf(k, sizeof(k), "%s%s", prefix, streams[i]);
        arg_s(&a, k);
    }
    const char **argv = a.oom ? NULL : malloc(a.n * sizeof(*argv));
    if (!argv) {
        carrot_args_free(&a);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_FATAL;
    }
    for (size_t i = 0; i < a.n; i++) argv[i] = a.buf + a.off[i];
    b->failed = CARROT_BOARD_RETRY;
    if (carrot_board_connect(b, key, errstr, errstr_size)) {
        free(argv);
        carrot_args_free(&a);
        return b->failed;
    }
    const char *zr[] = {"ZRANGE", key, "0", "-1", "WITHSCORES"};
    size_t zl[5];
    for (int i = 0; i < 5; i++) zl[i] = strlen(zr[i]);
    redisAppendCommand(b->rc, "MULTI");
    redisAppendCommandArgv(b->rc, 5, zr, zl);
    if (n > 0) redisAppendCommandArgv(b->rc, (int)a.n, argv, a.lens);
    redisAppendCommand(b->rc, "EXEC");
    free(argv);
    carrot_args_free(&a);
    redisReply *r = NULL;
    int replies = n > 0 ? 4 : 3, bad = 0;
    for (int i = 0; i < replies; i++) {
        if (r) freeReplyObject(r);
        r = NULL;
        if (redisGetReply(b->rc, (void **)&r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
            carrot_board_drop(b);
            return CARROT_BOARD_RETRY;
        }
        if (r->type == REDIS_REPLY_ERROR && !bad) {
            redis_error(NULL, r->str, errstr, errstr_size);
            bad = carrot_board_retry_reply(b, r->str) ? CARROT_BOARD_RETRY : CARROT_BOARD_FATAL;
        }
    }
    if (bad) {
        freeReplyObject(r);
        return (carrot_board_err_t)bad;
    }
    /* r is EXEC's: [ZRANGE's, MGET's] */
    redisReply *z = r->type == REDIS_REPLY_ARRAY && (int)r->elements == replies - 2 ? r->element[0]
                                                                                    : NULL,
               *m = z && n > 0 ? r->element[1] : NULL;
    int shaped = z && z->type == REDIS_REPLY_ARRAY && z->elements % 2 == 0 &&
                 (n == 0 || (m->type == REDIS_REPLY_ARRAY && (int)m->elements == n));
    for (size_t i = 0; shaped && i < z->elements; i++)
        shaped = z->element[i]->type == REDIS_REPLY_STRING;
    if (!shaped) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to a snapshot of %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    for (int i = 0; i < n; i++)
        wm[i] = m->element[i]->type == REDIS_REPLY_STRING ? strtoll(m->element[i]->str, NULL, 10)
                                                          : -1;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    for (size_t i = 0; i < z->elements; i += 2)
        if (on_entry(opaque, z->element[i]->str, strtoll(z->element[i + 1]->str, NULL, 10))) {
            snprintf(errstr, errstr_size, "stopped");
            rc = CARROT_BOARD_FATAL;
            break;
        }
    freeReplyObject(r);
    return rc;
}
