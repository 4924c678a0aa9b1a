/* feed.c: the program's feed stream for live displays (carrot-board's
 * push): reading the changes apply.c appends in each transaction, and the
 * celebrations carrot-notify posts to the screens, each once. */
#include "board_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void feed_key(char *buf, size_t size, const char *program) {
    snprintf(buf, size, "carrot:{%s}:feed", program);
}

/* Stream ids "<ms>-<seq>" compared as numbers; "" and "0" are 0-0. */
static int id_cmp(const char *a, const char *b) {
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
    unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    if (am != bm) return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

/* Whether id is a stream id the reader may pass: digits, optionally "-" digits. */
static int id_ok(const char *id) {
    size_t i = 0, n = strlen(id);
    if (n == 0 || n >= CARROT_BOARD_FEED_ID_MAX) return 0;
    while (i < n && id[i] >= '0' && id[i] <= '9') i++;
    if (i == 0) return 0;
    if (i == n) return 1;
    if (id[i++] != '-' || i == n) return 0;
    while (i < n && id[i] >= '0' && id[i] <= '9') i++;
    return i == n;
}

/* Splits an entry's "e" field (apply.c's feed_add) into changes and calls cb. */
static int deliver(const char *id, const char *source, char *e, carrot_board_feed_cb cb,
                   void *opaque) {
    size_t n = 1, k = 0;
    for (const char *s = e; *s; s++) n += *s == '\x1f';
    carrot_board_change_t *ch = calloc(n, sizeof(*ch));
    if (!ch) return -1;
    for (char *s = e, *next; s && k < n; s = next) {
        next = strchr(s, '\x1f');
        if (next) *next++ = '\0';
        char *f[3 + 2 * CARROT_BOARD_MAX_CELEBRATIONS];
        int nf = 0;
        for (char *t = s, *sep; t && nf < (int)(sizeof(f) / sizeof(f[0])); t = sep) {
            sep = strchr(t, '\x1e');
            if (sep) *sep++ = '\0';
            f[nf++] = t;
        }
        if (nf < 3) continue; /* not apply.c's: skipped rather than guessed at */
        carrot_board_change_t *c = &ch[k++];
        c->participant_id = f[0];
        c->points = strtoll(f[1], NULL, 10);
        c->activity_type = f[2];
        for (int j = 3; j + 1 < nf && c->ncelebrations < CARROT_BOARD_MAX_CELEBRATIONS; j += 2) {
            c->celebration_rule[c->ncelebrations] = f[j];
            c->celebration_points[c->ncelebrations++] = strtoll(f[j + 1], NULL, 10);
        }
    }
    int rc = cb(opaque, id, source, ch, k, NULL);
    free(ch);
    return rc;
}

/* Whether entries after after_id may have been trimmed away: the stream
 * has dropped entries (Redis 7's entries-added above its length) and its
 * oldest entry is after after_id. (When exactly the entry after_id went and
 * nothing after it, this says so too: a needless snapshot, never a miss.) */
static carrot_board_err_t trimmed(carrot_board_t *b, const char *key, const char *after_id,
                                  int *gapp, char *errstr, size_t errstr_size) {
    const char *argv[] = {"XINFO", "STREAM", key};
    size_t lens[] = {5, 6, strlen(key)};
    redisReply *r = carrot_board_command(b, NULL, 3, argv, lens, errstr, errstr_size);
    *gapp = 0;
    if (!r) {
        if (b->failed == CARROT_BOARD_FATAL && strstr(errstr, "no such key")) {
            errstr[0] = '\0';
            return CARROT_BOARD_OK; /* no feed yet: nothing missed */
        }
        return b->failed;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to XINFO STREAM %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    long long length = -1, added = -1;
    const char *first = NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING) continue;
        if (strcmp(f->str, "length") == 0 && v->type == REDIS_REPLY_INTEGER) length = v->integer;
        else if (strcmp(f->str, "entries-added") == 0 && v->type == REDIS_REPLY_INTEGER)
            added = v->integer;
        else if (strcmp(f->str, "first-entry") == 0 && v->type == REDIS_REPLY_ARRAY &&
                 v->elements == 2 && v->element[0]->type == REDIS_REPLY_STRING)
            first = v->element[0]->str;
    }
    *gapp = added > length && first && id_cmp(first, after_id) > 0;
    freeReplyObject(r);
    return CARROT_BOARD_OK;
}

carrot_board_err_t carrot_board_feed_read(carrot_board_t *b, const char *program,
                                          const char *after_id, int block_ms, int max,
                                          carrot_board_feed_cb on_entry, void *opaque, int *gapp,
                                          char *errstr, size_t errstr_size) {
    char key[512], count[24], block[24];
    feed_key(key, sizeof(key), program);
    if (!after_id || !after_id[0]) after_id = "0";
    if (!id_ok(after_id)) {
        snprintf(errstr, errstr_size, "not a feed id: \"%.60s\"", after_id);
        return CARROT_BOARD_FATAL;
    }
    if (max < 1) max = 1;
    if (block_ms < 0) block_ms = 0;
    if (gapp) {
        carrot_board_err_t rc = trimmed(b, key, after_id, gapp, errstr, errstr_size);
        if (rc) return rc;
    }
    snprintf(count, sizeof(count), "%d", max);
    snprintf(block, sizeof(block), "%d", block_ms);
    const char *argv[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", key, after_id};
    const char *nb[] = {"XREAD", "COUNT", count, "STREAMS", key, after_id};
    const char **av = block_ms ? argv : nb;
    int ac = block_ms ? 8 : 6;
    size_t lens[8];
    for (int i = 0; i < ac; i++) lens[i] = strlen(av[i]);
    if (block_ms && carrot_board_connect(b, key, errstr, errstr_size)) return b->failed;
    if (block_ms) { /* the reply may take block_ms longer than a command */
        int t = b->timeout_ms + block_ms;
        redisSetTimeout(b->rc, (struct timeval){t / 1000, (t % 1000) * 1000});
    }
    redisReply *r = carrot_board_command(b, NULL, ac, av, lens, errstr, errstr_size);
    if (block_ms && b->rc)
        redisSetTimeout(b->rc,
                        (struct timeval){b->timeout_ms / 1000, (b->timeout_ms % 1000) * 1000});
    if (!r) return b->failed;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    if (r->type == REDIS_REPLY_NIL) { /* nothing within block_ms */
        freeReplyObject(r);
        return CARROT_BOARD_OK;
    }
    const redisReply *entries = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
        const redisReply *s = r->element[0];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2) entries = s->element[1];
    }
    if (!entries || entries->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to XREAD %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    for (size_t i = 0; i < entries->elements && !rc; i++) {
        const redisReply *en = entries->element[i];
        if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
            en->element[0]->type != REDIS_REPLY_STRING ||
            en->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(errstr, errstr_size, "unexpected entry in %s", key);
            rc = CARROT_BOARD_FATAL;
            break;
        }
        const redisReply *fv = en->element[1];
        const char *source = "", *post = NULL;
        char *e = NULL;
        for (size_t j = 0; j + 1 < fv->elements; j += 2) {
            const redisReply *f = fv->element[j], *v = fv->element[j + 1];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
            if (strcmp(f->str, "s") == 0) source = v->str;
            else if (strcmp(f->str, "e") == 0)
                e = v->str;
            else if (strcmp(f->str, "c") == 0)
                post = v->str;
        }
        if (!e && post) { /* carrot_board_feed_post's */
            if (on_entry(opaque, en->element[0]->str, source, NULL, 0, post)) {
                snprintf(errstr, errstr_size, "stopped");
                rc = CARROT_BOARD_FATAL;
            }
            continue;
        }
        if (!e) continue; /* an entry written by neither */
        char *copy = strdup(e);
        int stop = copy ? deliver(en->element[0]->str, source, copy, on_entry, opaque) : -1;
        free(copy);
        if (stop < 0 && !copy) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = CARROT_BOARD_RETRY;
        } else if (stop) {
            snprintf(errstr, errstr_size, "stopped");
            rc = CARROT_BOARD_FATAL;
        }
    }
    freeReplyObject(r);
    return rc;
}

carrot_board_err_t carrot_board_feed_last(carrot_board_t *b, const char *program, char *id,
                                          char *errstr, size_t errstr_size) {
    char key[512];
    feed_key(key, sizeof(key), program);
    const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
    size_t lens[6];
    for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
    redisReply *r = carrot_board_command(b, NULL, 6, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    snprintf(id, CARROT_BOARD_FEED_ID_MAX, "0-0");
    if (r->type != REDIS_REPLY_ARRAY) rc = CARROT_BOARD_FATAL;
    else if (r->elements == 1) {
        const redisReply *en = r->element[0];
        if (en->type == REDIS_REPLY_ARRAY && en->elements == 2 &&
            en->element[0]->type == REDIS_REPLY_STRING)
            snprintf(id, CARROT_BOARD_FEED_ID_MAX, "%s", en->element[0]->str);
        else
            rc = CARROT_BOARD_FATAL;
    }
    if (rc) snprintf(errstr, errstr_size, "unexpected reply from Redis to XREVRANGE %s", key);
    freeReplyObject(r);
    return rc;
}

/* Appends the post and remembers its key in one script, so a repeat (the
 * key remembered) appends nothing: both keys are in the program's slot. */
static const char post_lua[] =
    "if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then\n"
    "  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 's', 'notify', 'c', ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

carrot_board_err_t carrot_board_feed_post(carrot_board_t *b, const char *program, const char *key,
                                          const char *json, int *postedp, char *errstr,
                                          size_t errstr_size) {
    size_t kl = strlen(key);
    if (postedp) *postedp = 0;
    int ok = kl > 0 && kl <= CARROT_BOARD_POST_KEY_MAX;
    for (size_t i = 0; ok && i < kl; i++) ok = key[i] > ' ' && key[i] < 0x7f;
    if (!ok) {
        snprintf(errstr, errstr_size, "not a post key: \"%.60s\"", key);
        return CARROT_BOARD_FATAL;
    }
    char fkey[512], mkey[512 + CARROT_BOARD_POST_KEY_MAX], keep[24], maxlen[24];
    feed_key(fkey, sizeof(fkey), program);
    snprintf(mkey, sizeof(mkey), "carrot:{%s}:posted:%s", program, key);
    snprintf(keep, sizeof(keep), "%d", CARROT_BOARD_POST_KEEP_S);
    snprintf(maxlen, sizeof(maxlen), "%d", CARROT_BOARD_FEED_MAXLEN);
    const char *argv[] = {"EVAL", post_lua, "2", fkey, mkey, json, keep, maxlen};
    size_t lens[8];
    for (int i = 0; i < 8; i++) lens[i] = strlen(argv[i]);
    redisReply *r = carrot_board_command(b, NULL, 8, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to the post to %s", fkey);
        rc = CARROT_BOARD_FATAL;
    } else if (postedp) {
        *postedp = r->integer == 1;
    }
    freeReplyObject(r);
    return rc;
}
