/* rollup.c: week, month and quarter boards, summed from their day boards
 * when read.
 *
 * Why: an award then writes two boards per scope (its day and program to
 * date) instead of five, and the scorer's Redis time was mostly those
 * ZINCRBYs. Every view still agrees to the point: a rolled board is Redis's
 * own ZUNIONSTORE of the same day boards. The sum is kept under the board's
 * own key, stamped with the program's write counter (carrot:{P}:gen, which
 * every transaction that changes a board moves), so reads between two
 * writes reuse it; CARROT_BOARD_ROLLUP_TTL bounds how long any one stays
 * (a day board that expires moves no counter). */
#include "board_int.h"
#include "carrot/period.h"

#include <stdio.h>
#include <string.h>

int carrot_board_rolled(const char *name) {
    return (name[0] == 'w' || name[0] == 'm' || name[0] == 'q') && name[1] == ':';
}

carrot_board_err_t carrot_board_rollup(carrot_board_t *b, const char *program, const char *board,
                                       char *errstr, size_t errstr_size) {
    if (!carrot_board_rolled(board)) return CARROT_BOARD_OK;
    /* "w:2026-W47:seg:dealer": the period id, then the scope */
    const char *colon = strchr(board + 2, ':');
    char id[32];
    size_t idlen = colon ? (size_t)(colon - board) : strlen(board);
    char days[CARROT_PERIOD_MAX_DAYS][16];
    int n = -1;
    if (idlen < sizeof(id)) {
        memcpy(id, board, idlen);
        id[idlen] = '\0';
        n = carrot_period_days(id, days, CARROT_PERIOD_MAX_DAYS);
    }
    if (n < 0) return CARROT_BOARD_OK; /* no such period: read as it is (nothing there) */
    const char *scope = colon ? colon + 1 : "";
    char key[512], stamp[600], gen[512], ttl[24];
    carrot_board_key(key, sizeof(key), program, board);
    snprintf(stamp, sizeof(stamp), "carrot:{%s}:ru:%s", program, board);
    snprintf(gen, sizeof(gen), "carrot:{%s}:gen", program);
    snprintf(ttl, sizeof(ttl), "%d", CARROT_BOARD_ROLLUP_TTL);
    carrot_args_t a = {0};
    const char *head[] = {"rollup", key, stamp, gen, ttl};
    for (int i = 0; i < 5; i++) carrot_args_add(&a, head[i], strlen(head[i]));
    for (int i = 0; i < n; i++) {
        char day[600];
        int len = snprintf(day, sizeof(day), "carrot:{%s}:lb:%s:%s", program, days[i], scope);
        carrot_args_add(&a, day, (size_t)len < sizeof(day) ? (size_t)len : sizeof(day) - 1);
    }
    redisReply *r = carrot_board_script(b, "query.lua", b->query_sha, key, &a, errstr, errstr_size);
    carrot_args_free(&a);
    if (!r) return b->failed;
    freeReplyObject(r);
    return CARROT_BOARD_OK;
}
