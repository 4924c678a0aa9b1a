/* directory.c: the participants directory in Redis (directory.h): one
 * hiredis connection opened on first use and re-opened after a failure,
 * the put through put.lua (compare updated_at, move the reports set, write
 * the hash, all in one atomic script), lookups pipelined so a page of names
 * costs one round trip, and the reports of a supervisor. */
#include "carrot/directory.h"
#include "carrot/redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* put.lua beside this file, embedded at build time (libcarrot/embed.cmake). */
extern const char carrot_directory_lua_put[];

struct carrot_directory_s {
    carrot_redis_t *redis; /* the server, or the nodes of a cluster (carrot/redis.h) */
    redisContext *rc;      /* the connection of the call in progress: its program's node */
    char put_sha[41];
};

/* The hash fields, in the order every lookup asks for them (HMGET). */
enum {
    H_DISPLAY_NAME,
    H_SEGMENT,
    H_TEAM_ID,
    H_REGION,
    H_HIRED_AT,
    H_LEVEL,
    H_SUPERVISOR_ID,
    H_ACTIVE,
    H_HIDE,
    H_UPDATED_AT,
    H_COUNT
};
static const char *const hash_fields[H_COUNT] = {
    "display_name", "segment",       "team_id", "region",           "hired_at",
    "level",        "supervisor_id", "active",  "hide_from_screen", "updated_at"};

static int load_put(redisContext *c, void *opaque, int *fatalp, char *errstr, size_t errstr_size);

carrot_directory_t *carrot_directory_new(const char *host, int port, int timeout_ms) {
    carrot_directory_t *dir = calloc(1, sizeof(*dir));
    if (!dir || !(dir->redis = carrot_redis_new(host, port, timeout_ms, load_put, dir))) {
        free(dir);
        return NULL;
    }
    return dir;
}

static void drop(carrot_directory_t *dir) {
    if (dir->rc) carrot_redis_drop(dir->redis, dir->rc);
    dir->rc = NULL;
}

void carrot_directory_destroy(carrot_directory_t *dir) {
    if (!dir) return;
    carrot_redis_destroy(dir->redis);
    free(dir);
}

unsigned long carrot_directory_connects(const carrot_directory_t *dir) {
    return carrot_redis_connects(dir->redis);
}

/* Whether a Redis error reply passes if asked again: a server loading or
 * busy, a cluster moving or failing over, memory full, a script Redis lost
 * (it is loaded again on the next connection). Anything else repeats. */
static carrot_directory_err_t classify(const char *err) {
    static const char passing[] =
        " LOADING BUSY TRYAGAIN MOVED ASK CLUSTERDOWN MASTERDOWN READONLY OOM NOSCRIPT ";
    char code[24];
    size_t n = strcspn(err, " ");
    if (n == 0 || n + 3 > sizeof(code)) return CARROT_DIRECTORY_FATAL;
    snprintf(code, sizeof(code), " %.*s ", (int)n, err);
    return strstr(passing, code) ? CARROT_DIRECTORY_RETRY : CARROT_DIRECTORY_FATAL;
}

/* carrot/redis.h's setup of each new connection: put.lua loaded (on every
 * node of a cluster: the same text, the same SHA-1). A script Redis does not
 * compile is refused again: fatal. */
static int load_put(redisContext *c, void *opaque, int *fatalp, char *errstr, size_t errstr_size) {
    carrot_directory_t *dir = opaque;
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", carrot_directory_lua_put);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        snprintf(errstr, errstr_size, "could not load put.lua into Redis: %s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
        *fatalp = r && (r->type != REDIS_REPLY_ERROR || classify(r->str) != CARROT_DIRECTORY_RETRY);
        if (r) freeReplyObject(r);
        return -1;
    }
    memcpy(dir->put_sha, r->str, 41);
    freeReplyObject(r);
    return 0;
}

/* dir->rc: the connection that serves key (NULL: any node). */
static carrot_directory_err_t connect_redis(carrot_directory_t *dir, const char *key, char *errstr,
                                            size_t errstr_size) {
    int fatal = 0;
    dir->rc = carrot_redis_for(dir->redis, key, &fatal, errstr, errstr_size);
    if (dir->rc) return CARROT_DIRECTORY_OK;
    return fatal ? CARROT_DIRECTORY_FATAL : CARROT_DIRECTORY_RETRY;
}

/* An error reply: a cluster's redirection or failover has the slot map read
 * again before the next call. */
static carrot_directory_err_t reply_failed(carrot_directory_t *dir, const char *err) {
    carrot_redis_error(dir->redis, err);
    return classify(err);
}

/* Runs one command; on failure sets *errp and errstr and returns NULL (a
 * transport error drops the connection). The caller frees the reply. */
static redisReply *command(carrot_directory_t *dir, int argc, const char **argv, const size_t *lens,
                           carrot_directory_err_t *errp, char *errstr, size_t errstr_size) {
    const char *key = NULL; /* routed by its first key: the first argument with a hash tag */
    for (int i = 1; i < argc && !key; i++)
        if (strchr(argv[i], '{')) key = argv[i];
    if ((*errp = connect_redis(dir, key, errstr, errstr_size)) != CARROT_DIRECTORY_OK) return NULL;
    redisReply *r = redisCommandArgv(dir->rc, argc, argv, lens);
    if (!r) {
        snprintf(errstr, errstr_size, "Redis command %s failed: %s", argv[0], dir->rc->errstr);
        drop(dir);
        *errp = CARROT_DIRECTORY_RETRY;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "Redis error in %s: %s", argv[0], r->str);
        *errp = reply_failed(dir, r->str);
        if (strncmp(r->str, "NOSCRIPT", 8) == 0) drop(dir); /* loaded again on reconnect */
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int who_key(char *buf, size_t size, const char *program, const char *participant) {
    return snprintf(buf, size, "carrot:{%s}:who:%s", program, participant);
}

carrot_directory_err_t carrot_directory_put(carrot_directory_t *dir, const carrot_participant_t *p,
                                            int *appliedp, char *errstr, size_t errstr_size) {
    *appliedp = 0;
    if (carrot_participant_validate(p, errstr, errstr_size) != 0) return CARROT_DIRECTORY_FATAL;
    char key[600], people[320], prefix[320], hired[24], level[16], updated[24];
    who_key(key, sizeof(key), p->program_id, p->participant_id);
    snprintf(people, sizeof(people), "carrot:{%s}:people", p->program_id);
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:reports:", p->program_id);
    snprintf(hired, sizeof(hired), "%lld", (long long)p->hired_at_ms);
    snprintf(level, sizeof(level), "%d", p->level);
    snprintf(updated, sizeof(updated), "%lld", (long long)p->updated_at_ms);
    const char *values[H_COUNT] = {p->display_name,
                                   p->segment,
                                   p->team_id,
                                   p->region,
                                   hired,
                                   level,
                                   p->supervisor_id,
                                   p->active ? "1" : "0",
                                   p->hide_from_screen ? "1" : "0",
                                   updated};
    const char *argv[9 + 2 * H_COUNT] = {
        "EVALSHA", dir->put_sha,    "2", key, people, prefix, p->participant_id,
        updated,   p->supervisor_id};
    int argc = 9;
    for (int i = 0; i < H_COUNT; i++) {
        argv[argc++] = hash_fields[i];
        argv[argc++] = values[i];
    }
    carrot_directory_err_t err;
    /* the script's sha is known once connected: connect first */
    if ((err = connect_redis(dir, key, errstr, errstr_size)) != CARROT_DIRECTORY_OK) return err;
    argv[1] = dir->put_sha;
    redisReply *r = command(dir, argc, argv, NULL, &err, errstr, errstr_size);
    if (!r) return err;
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(errstr, errstr_size, "put.lua: unexpected reply type %d", r->type);
        freeReplyObject(r);
        return CARROT_DIRECTORY_FATAL;
    }
    *appliedp = r->integer == 1;
    freeReplyObject(r);
    return CARROT_DIRECTORY_OK;
}

static void copy_str(char *dst, size_t size, const redisReply *e) {
    if (e->type == REDIS_REPLY_STRING)
        snprintf(dst, size, "%.*s", (int)(e->len < size ? e->len : size - 1), e->str);
    else
        dst[0] = '\0';
}

static long long to_ll(const redisReply *e, long long none) {
    return e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : none;
}

/* One HMGET reply into *p (its ids already set). 0, or -1: not the shape. */
static int from_reply(const redisReply *r, carrot_participant_t *p) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != H_COUNT) return -1;
    redisReply *const *e = r->element;
    p->found = e[H_UPDATED_AT]->type == REDIS_REPLY_STRING;
    if (!p->found) return 0;
    copy_str(p->display_name, sizeof(p->display_name), e[H_DISPLAY_NAME]);
    copy_str(p->segment, sizeof(p->segment), e[H_SEGMENT]);
    copy_str(p->team_id, sizeof(p->team_id), e[H_TEAM_ID]);
    copy_str(p->region, sizeof(p->region), e[H_REGION]);
    copy_str(p->supervisor_id, sizeof(p->supervisor_id), e[H_SUPERVISOR_ID]);
    p->hired_at_ms = to_ll(e[H_HIRED_AT], 0);
    p->level = (int)to_ll(e[H_LEVEL], -1);
    p->active = to_ll(e[H_ACTIVE], 1) != 0;
    p->hide_from_screen = to_ll(e[H_HIDE], 0) != 0;
    p->updated_at_ms = to_ll(e[H_UPDATED_AT], 0);
    return 0;
}

carrot_directory_err_t carrot_directory_get(carrot_directory_t *dir, const char *program,
                                            const char *const *ids, size_t n,
                                            carrot_participant_t *out, char *errstr,
                                            size_t errstr_size) {
    for (size_t i = 0; i < n; i++) {
        carrot_participant_init(&out[i]);
        snprintf(out[i].program_id, sizeof(out[i].program_id), "%s", program);
        snprintf(out[i].participant_id, sizeof(out[i].participant_id), "%s", ids[i]);
    }
    if (n == 0) return CARROT_DIRECTORY_OK;
    char tag[320];
    snprintf(tag, sizeof(tag), "{%s}", program);
    carrot_directory_err_t err = connect_redis(dir, tag, errstr, errstr_size);
    if (err != CARROT_DIRECTORY_OK) return err;
    /* pipelined: every HMGET is written before the first reply is read */
    const char *argv[2 + H_COUNT] = {"HMGET", NULL};
    for (int f = 0; f < H_COUNT; f++) argv[2 + f] = hash_fields[f];
    for (size_t i = 0; i < n; i++) {
        char key[600];
        who_key(key, sizeof(key), program, ids[i]);
        argv[1] = key; /* hiredis copies the arguments into its output buffer */
        if (redisAppendCommandArgv(dir->rc, 2 + H_COUNT, argv, NULL) != REDIS_OK) {
            snprintf(errstr, errstr_size, "out of memory");
            drop(dir);
            return CARROT_DIRECTORY_RETRY;
        }
    }
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(dir->rc, &reply) != REDIS_OK || !reply) {
            snprintf(errstr, errstr_size, "Redis command HMGET failed: %s", dir->rc->errstr);
            drop(dir);
            return CARROT_DIRECTORY_RETRY;
        }
        redisReply *r = reply;
        int bad = r->type == REDIS_REPLY_ERROR ? 1 : from_reply(r, &out[i]) ? 2 : 0;
        if (bad) {
            snprintf(errstr, errstr_size, "Redis error in HMGET: %s",
                     bad == 1 ? r->str : "a reply of the wrong shape");
            err = bad == 1 ? reply_failed(dir, r->str) : CARROT_DIRECTORY_FATAL;
            freeReplyObject(r);
            drop(dir); /* the replies still due would be read as the next call's */
            return err;
        }
        freeReplyObject(r);
    }
    return CARROT_DIRECTORY_OK;
}

const char *carrot_participant_screen_name(const carrot_participant_t *p) {
    if (p->hide_from_screen) return "hidden";
    return p->display_name[0] ? p->display_name : p->participant_id;
}

static int by_bytes(const void *a, const void *b) {
    const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;
    int c = memcmp(x->str, y->str, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The members of set key, as carrot_directory_reports() says. */
static carrot_directory_err_t members(carrot_directory_t *dir, const char *key, char (*ids)[257],
                                      size_t max, size_t *np, char *errstr, size_t errstr_size) {
    *np = 0;
    const char *argv[] = {"SMEMBERS", key};
    carrot_directory_err_t err;
    redisReply *r = command(dir, 2, argv, NULL, &err, errstr, errstr_size);
    if (!r) return err;
    int shape = r->type == REDIS_REPLY_ARRAY;
    for (size_t i = 0; shape && i < r->elements; i++)
        shape = r->element[i]->type == REDIS_REPLY_STRING;
    if (!shape) {
        snprintf(errstr, errstr_size, "SMEMBERS %s: a reply of the wrong shape", key);
        freeReplyObject(r);
        return CARROT_DIRECTORY_FATAL;
    }
    /* a set has no order: byte order, so every call and every page agree */
    if (r->elements > 1) qsort(r->element, r->elements, sizeof(r->element[0]), by_bytes);
    for (size_t i = 0; i < r->elements && i < max; i++) copy_str(ids[i], 257, r->element[i]);
    *np = r->elements;
    freeReplyObject(r);
    return CARROT_DIRECTORY_OK;
}

carrot_directory_err_t carrot_directory_reports(carrot_directory_t *dir, const char *program,
                                                const char *supervisor, char (*ids)[257],
                                                size_t max, size_t *np, char *errstr,
                                                size_t errstr_size) {
    char key[600];
    snprintf(key, sizeof(key), "carrot:{%s}:reports:%s", program, supervisor);
    return members(dir, key, ids, max, np, errstr, errstr_size);
}

carrot_directory_err_t carrot_directory_people(carrot_directory_t *dir, const char *program,
                                               char (*ids)[257], size_t max, size_t *np,
                                               char *errstr, size_t errstr_size) {
    char key[320];
    snprintf(key, sizeof(key), "carrot:{%s}:people", program);
    return members(dir, key, ids, max, np, errstr, errstr_size);
}

carrot_directory_err_t carrot_directory_ping(carrot_directory_t *dir, char *errstr,
                                             size_t errstr_size) {
    const char *argv[] = {"PING"};
    carrot_directory_err_t err;
    redisReply *r = command(dir, 1, argv, NULL, &err, errstr, errstr_size);
    if (r) freeReplyObject(r);
    return r ? CARROT_DIRECTORY_OK : err;
}
