/* record.c: a CRM record's state in Redis as one string, and the one-time
 * move of a program's records from the hashes earlier versions wrote.
 *
 * Why one string: the scorer reads a chunk's records with one MGET and
 * writes them with one MSET, where hashes took an HMGET and an HSET per
 * record: two Redis commands fewer per activity. */
#include "board_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t carrot_record_pack(char *buf, size_t size, const char *const f[CARROT_RECORD_FIELDS]) {
    size_t need = 1;
    for (int j = 0; j < CARROT_RECORD_FIELDS; j++)
        need += f[j] ? (size_t)snprintf(NULL, 0, "%zu:", strlen(f[j])) + strlen(f[j]) : 1;
    if (need >= size) return need;
    char *p = buf;
    *p++ = 'R';
    for (int j = 0; j < CARROT_RECORD_FIELDS; j++) {
        if (!f[j]) {
            *p++ = '-';
            continue;
        }
        size_t n = strlen(f[j]);
        p += snprintf(p, 24, "%zu:", n);
        memcpy(p, f[j], n);
        p += n;
    }
    *p = '\0';
    return need;
}

int carrot_record_unpack(const char *v, size_t len, const char *f[CARROT_RECORD_FIELDS],
                         size_t fl[CARROT_RECORD_FIELDS]) {
    const char *p = v, *end = v + len;
    if (p == end || *p++ != 'R') return 0;
    for (int j = 0; j < CARROT_RECORD_FIELDS; j++) {
        f[j] = NULL;
        fl[j] = 0;
        if (p < end && *p == '-') {
            p++;
            continue;
        }
        size_t n = 0;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9' && p - d < 12) n = n * 10 + (size_t)(*p++ - '0');
        if (p == d || p == end || *p++ != ':' || n > (size_t)(end - p)) return 0;
        f[j] = p;
        fl[j] = n;
        p += n;
    }
    return p == end;
}

/* "carrot:{P}:rec:..." written as a string under "carrot:{P}:rs:...". */
static void string_key(char *buf, size_t size, const char *hash_key, size_t plen) {
    snprintf(buf, size, "%.*srs:%s", (int)plen, hash_key, hash_key + plen + 4);
}

/* The next reply on b's connection into *r; -1 (connection dropped) on a
 * transport error. */
static int next_reply(carrot_board_t *b, redisReply **r, char *errstr, size_t errstr_size) {
    *r = NULL;
    if (redisGetReply(b->rc, (void **)r) == REDIS_OK && *r) return 0;
    snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
    carrot_board_drop(b);
    return -1;
}

/* Moves one SCAN page of record hashes: each one's string made and the
 * hash deleted in one transaction, which a write in between refuses (then
 * the page is read and moved again). */
static carrot_board_err_t move_page(carrot_board_t *b, const redisReply *keys, size_t plen,
                                    char *errstr, size_t errstr_size) {
    size_t n = keys->elements;
    const char **argv = malloc((n + 1) * sizeof(*argv));
    size_t *lens = malloc((n + 1) * sizeof(*lens));
    redisReply **got = calloc(n + 1, sizeof(*got));
    carrot_board_err_t rc = CARROT_BOARD_RETRY;
    if (!argv || !lens || !got) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    argv[0] = "WATCH";
    lens[0] = 5;
    for (size_t i = 0; i < n; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
            snprintf(errstr, errstr_size, "unexpected reply from Redis to SCAN");
            rc = CARROT_BOARD_FATAL;
            goto out;
        }
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        redisContext *c = b->rc;
        redisAppendCommandArgv(c, (int)n + 1, argv, lens);
        for (size_t i = 0; i < n; i++)
            redisAppendCommand(c, "HMGET %b p n t on k c", argv[i + 1], lens[i + 1]);
        for (size_t i = 0; i <= n; i++)
            if (next_reply(b, &got[i], errstr, errstr_size)) goto out;
        for (size_t i = 0; i <= n; i++)
            if (got[i]->type == REDIS_REPLY_ERROR ||
                (i > 0 &&
                 (got[i]->type != REDIS_REPLY_ARRAY || got[i]->elements != CARROT_RECORD_FIELDS))) {
                snprintf(errstr, errstr_size, "Redis error moving %s: %s", argv[i],
                         got[i]->type == REDIS_REPLY_ERROR ? got[i]->str : "not a record hash");
                rc = got[i]->type == REDIS_REPLY_ERROR && carrot_board_retry_reply(b, got[i]->str)
                         ? CARROT_BOARD_RETRY
                         : CARROT_BOARD_FATAL;
                redisReply *u = redisCommand(c, "UNWATCH");
                if (u) freeReplyObject(u);
                else
                    carrot_board_drop(b);
                goto out;
            }
        size_t queued = 1;
        redisAppendCommand(c, "MULTI");
        for (size_t i = 1; i <= n; i++) {
            const char *f[CARROT_RECORD_FIELDS];
            int any = 0;
            for (int j = 0; j < CARROT_RECORD_FIELDS; j++) {
                const redisReply *e = got[i]->element[j];
                f[j] = e->type == REDIS_REPLY_STRING ? e->str : NULL;
                any |= f[j] != NULL;
            }
            if (!any) continue; /* gone meanwhile */
            char key[1200], small[4096];
            size_t len = carrot_record_pack(small, sizeof(small), f);
            char *v = len < sizeof(small) ? small : malloc(len + 1);
            if (!v) {
                snprintf(errstr, errstr_size, "out of memory");
                carrot_board_drop(b); /* MULTI is pending */
                goto out;
            }
            if (v != small) carrot_record_pack(v, len + 1, f);
            string_key(key, sizeof(key), argv[i], plen);
            redisAppendCommand(c, "SET %s %b", key, v, len);
            redisAppendCommand(c, "DEL %b", argv[i], lens[i]);
            if (v != small) free(v);
            queued += 2;
        }
        redisAppendCommand(c, "EXEC");
        for (size_t i = 0; i <= n; i++) freeReplyObject(got[i]), got[i] = NULL;
        redisReply *r = NULL;
        int refused = 0;
        for (size_t i = 0; i <= queued; i++) {
            if (next_reply(b, &r, errstr, errstr_size)) goto out;
            if (r->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size, "Redis error moving the records: %s", r->str);
                rc = carrot_board_retry_reply(b, r->str) ? CARROT_BOARD_RETRY : CARROT_BOARD_FATAL;
                freeReplyObject(r);
                carrot_board_drop(b); /* the rest of the replies are still coming */
                goto out;
            }
            refused = i == queued && r->type == REDIS_REPLY_NIL;
            freeReplyObject(r);
        }
        if (!refused) {
            rc = CARROT_BOARD_OK;
            goto out;
        }
    }
    snprintf(errstr, errstr_size, "the records kept changing while they were moved");
out:
    if (got)
        for (size_t i = 0; i <= n; i++) freeReplyObject(got[i]);
    free(got);
    free(argv);
    free(lens);
    return rc;
}

carrot_board_err_t carrot_board_records_ready(carrot_board_t *b, const char *program, char *errstr,
                                              size_t errstr_size) {
    unsigned long connects = carrot_board_connects(b);
    if (b->layout_program && b->layout_connects == connects &&
        strcmp(b->layout_program, program) == 0)
        return CARROT_BOARD_OK;
    char marker[600], prefix[560], match[1200];
    snprintf(marker, sizeof(marker), "carrot:{%s}:layout", program);
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:", program);
    const char *get[] = {"GET", marker};
    size_t getlen[] = {3, strlen(marker)};
    redisReply *r = carrot_board_command(b, NULL, 2, get, getlen, errstr, errstr_size);
    if (!r) return b->failed;
    int ready = r->type == REDIS_REPLY_STRING && strcmp(r->str, "2") == 0;
    freeReplyObject(r);
    if (!ready) {
        /* A program that never moved a board (no write counter, no board
         * index) has no record of an earlier version worth moving: marked at
         * once, without a SCAN of the whole server (which a scorer killed
         * early would start again every time). */
        char gen[600], boards[600];
        snprintf(gen, sizeof(gen), "%sgen", prefix);
        snprintf(boards, sizeof(boards), "%sboards", prefix);
        const char *ex[] = {"EXISTS", gen, boards};
        size_t exlen[] = {6, strlen(gen), strlen(boards)};
        if (!(r = carrot_board_command(b, NULL, 3, ex, exlen, errstr, errstr_size)))
            return b->failed;
        int fresh = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
        freeReplyObject(r);
        if (fresh) ready = 2;
    }
    if (ready == 2) {
        const char *set[] = {"SET", marker, "2"};
        size_t setlen[] = {3, strlen(marker), 1};
        if (!(r = carrot_board_command(b, NULL, 3, set, setlen, errstr, errstr_size)))
            return b->failed;
        freeReplyObject(r);
    } else if (!ready) {
        /* a SCAN pattern: the program's name with glob characters escaped */
        size_t m = 0;
        for (const char *p = prefix; *p && m + 8 < sizeof(match); p++) {
            if (strchr("*?[]\\", *p)) match[m++] = '\\';
            match[m++] = *p;
        }
        memcpy(match + m, "rec:*", 6);
        char cursor[32] = "0";
        do {
            if (carrot_board_connect(b, marker, errstr, errstr_size)) return b->failed;
            r = redisCommand(b->rc, "SCAN %s MATCH %s COUNT 10000", cursor, match);
            if (!r) {
                snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
                carrot_board_drop(b);
                return CARROT_BOARD_RETRY;
            }
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[1]->type != REDIS_REPLY_ARRAY) {
                snprintf(errstr, errstr_size, "unexpected reply from Redis to SCAN: %s",
                         r->type == REDIS_REPLY_ERROR ? r->str : "not a page");
                carrot_board_err_t rc = r->type == REDIS_REPLY_ERROR &&
                                                carrot_board_retry_reply(b, r->str)
                                            ? CARROT_BOARD_RETRY
                                            : CARROT_BOARD_FATAL;
                freeReplyObject(r);
                return rc;
            }
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            carrot_board_err_t rc = r->element[1]->elements
                                        ? move_page(b, r->element[1], strlen(prefix), errstr,
                                                    errstr_size)
                                        : CARROT_BOARD_OK;
            freeReplyObject(r);
            if (rc) return rc;
        } while (strcmp(cursor, "0") != 0);
        const char *set[] = {"SET", marker, "2"};
        size_t setlen[] = {3, strlen(marker), 1};
        if (!(r = carrot_board_command(b, NULL, 3, set, setlen, errstr, errstr_size)))
            return b->failed;
        freeReplyObject(r);
    }
    char *copy = strdup(program);
    if (copy) {
        free(b->layout_program);
        b->layout_program = copy;
        b->layout_connects = carrot_board_connects(b);
    }
    return CARROT_BOARD_OK;
}
