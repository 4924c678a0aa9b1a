/* lookup.c: what displays ask of the boards beyond ranks: several
 * participants' points on one board, the program's boards, and whether a
 * program exists at all (so an unknown one is a 404, not an empty board). */
#include "board_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_board_err_t carrot_board_scores(carrot_board_t *b, const char *program,
                                       const char *board_name, const char *const *ids, size_t n,
                                       int64_t *points, int *present, char *errstr,
                                       size_t errstr_size) {
    if (n == 0) return CARROT_BOARD_OK;
    char key[512];
    carrot_board_err_t rc = carrot_board_rollup(b, program, board_name, errstr, errstr_size);
    if (rc) return rc;
    carrot_board_key(key, sizeof(key), program, board_name);
    const char **argv = calloc(n + 2, sizeof(*argv));
    size_t *lens = calloc(n + 2, sizeof(*lens));
    if (!argv || !lens) {
        free(argv);
        free(lens);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    argv[0] = "ZMSCORE";
    argv[1] = key;
    for (size_t i = 0; i < n; i++) argv[i + 2] = ids[i];
    for (size_t i = 0; i < n + 2; i++) lens[i] = strlen(argv[i]);
    redisReply *r = carrot_board_command(b, NULL, (int)n + 2, argv, lens, errstr, errstr_size);
    free(argv);
    free(lens);
    if (!r) return b->failed;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to ZMSCORE %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        present[i] = e->type == REDIS_REPLY_STRING;
        points[i] = present[i] ? strtoll(e->str, NULL, 10) : 0;
    }
    freeReplyObject(r);
    return CARROT_BOARD_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

carrot_board_err_t carrot_board_list(carrot_board_t *b, const char *program, int max,
                                     carrot_board_name_cb on_board, void *opaque, char *errstr,
                                     size_t errstr_size) {
    char key[512];
    snprintf(key, sizeof(key), "carrot:{%s}:boards", program);
    const char *argv[] = {"SMEMBERS", key};
    size_t lens[] = {8, strlen(key)};
    redisReply *r = carrot_board_command(b, NULL, 2, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to SMEMBERS %s", key);
        freeReplyObject(r);
        return CARROT_BOARD_FATAL;
    }
    size_t n = r->elements;
    const char **names = calloc(n ? n : 1, sizeof(*names));
    if (!names) {
        freeReplyObject(r);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING) names[m++] = r->element[i]->str;
    qsort(names, m, sizeof(*names), by_name);
    /* the members of each, pipelined; a board gone (expired) leaves the index */
    carrot_board_err_t rc = CARROT_BOARD_OK;
    char bk[512];
    for (size_t i = 0; i < m && !rc; i++) /* rolled boards exist once summed */
        rc = carrot_board_rollup(b, program, names[i], errstr, errstr_size);
    if (rc) {
        free(names);
        freeReplyObject(r);
        return rc;
    }
    for (size_t i = 0; i < m; i++) {
        carrot_board_key(bk, sizeof(bk), program, names[i]);
        redisAppendCommand(b->rc, "ZCARD %s", bk);
    }
    int shown = 0;
    for (size_t i = 0; i < m && !rc; i++) {
        redisReply *c = NULL;
        if (redisGetReply(b->rc, (void **)&c) != REDIS_OK || !c) {
            snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
            carrot_board_drop(b);
            rc = CARROT_BOARD_RETRY;
            break;
        }
        if (c->type != REDIS_REPLY_INTEGER) {
            snprintf(errstr, errstr_size, "unexpected reply from Redis to ZCARD of %s", names[i]);
            rc = CARROT_BOARD_FATAL;
        } else if (c->integer == 0) {
            freeReplyObject(redisCommand(b->rc, "SREM %s %s", key, names[i]));
        } else if (shown < max) {
            shown++;
            if (on_board(opaque, names[i], (long)c->integer)) {
                freeReplyObject(c);
                /* the rest of the pipeline still has to be read */
                for (size_t j = i + 1; j < m; j++) {
                    redisReply *rest = NULL;
                    if (redisGetReply(b->rc, (void **)&rest) != REDIS_OK) break;
                    freeReplyObject(rest);
                }
                break;
            }
        }
        freeReplyObject(c);
    }
    free(names);
    freeReplyObject(r);
    return rc;
}

carrot_board_err_t carrot_board_program_known(carrot_board_t *b, const char *program, int *knownp,
                                              char *errstr, size_t errstr_size) {
    char meta[512], boards[512];
    snprintf(meta, sizeof(meta), "carrot:{%s}:meta", program);
    snprintf(boards, sizeof(boards), "carrot:{%s}:boards", program);
    const char *argv[] = {"EXISTS", meta, boards};
    size_t lens[] = {6, strlen(meta), strlen(boards)};
    redisReply *r = carrot_board_command(b, NULL, 3, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    carrot_board_err_t rc = CARROT_BOARD_OK;
    if (r->type == REDIS_REPLY_INTEGER) *knownp = r->integer > 0;
    else {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to EXISTS %s", meta);
        rc = CARROT_BOARD_FATAL;
    }
    freeReplyObject(r);
    return rc;
}

carrot_board_err_t carrot_board_members(carrot_board_t *b, const char *program,
                                        const char *board_name, long *membersp, char *errstr,
                                        size_t errstr_size) {
    char key[512];
    carrot_board_err_t rc = carrot_board_rollup(b, program, board_name, errstr, errstr_size);
    if (rc) return rc;
    carrot_board_key(key, sizeof(key), program, board_name);
    const char *argv[] = {"ZCARD", key};
    size_t lens[] = {5, strlen(key)};
    redisReply *r = carrot_board_command(b, NULL, 2, argv, lens, errstr, errstr_size);
    if (!r) return b->failed;
    if (r->type == REDIS_REPLY_INTEGER) *membersp = (long)r->integer;
    else {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to ZCARD %s", key);
        rc = CARROT_BOARD_FATAL;
    }
    freeReplyObject(r);
    return rc;
}

carrot_board_err_t carrot_board_commit_figures(carrot_board_t *b, const char *program,
                                               const char *commitment, const char *period_id,
                                               carrot_commit_figure_cb cb, void *opaque,
                                               char *errstr, size_t errstr_size) {
    char key[600], rel[96], cursor[32] = "0";
    carrot_commit_key(rel, sizeof(rel), commitment, period_id);
    snprintf(key, sizeof(key), "carrot:{%s}:%s", program, rel);
    do {
        const char *argv[] = {"HSCAN", key, cursor, "COUNT", "1000"};
        size_t lens[5];
        for (int i = 0; i < 5; i++) lens[i] = strlen(argv[i]);
        redisReply *r = carrot_board_command(b, NULL, 5, argv, lens, errstr, errstr_size);
        if (!r) return b->failed;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[1]->elements % 2) {
            snprintf(errstr, errstr_size, "unexpected reply from Redis to HSCAN %s", key);
            freeReplyObject(r);
            return CARROT_BOARD_FATAL;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const redisReply *kv = r->element[1];
        int stop = 0;
        for (size_t i = 0; i + 1 < kv->elements && !stop; i += 2) {
            const char *f = kv->element[i]->str, *v = kv->element[i + 1]->str;
            if (kv->element[i]->type != REDIS_REPLY_STRING || !v || strlen(f) < 3 || f[1] != '\x1f')
                continue; /* not a field this layout writes */
            int64_t n = strtoll(v, NULL, 10);
            if (f[0] == 'n') stop = cb(opaque, f + 2, n, 0);
            else if (f[0] == 'd')
                stop = cb(opaque, f + 2, 0, n);
        }
        freeReplyObject(r);
        if (stop) break;
    } while (strcmp(cursor, "0") != 0);
    return CARROT_BOARD_OK;
}
