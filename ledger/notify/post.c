/* post.c: the display channel's delivery: a message posted to the program's
 * screens through the boards' feed in Redis (carrot-board's TV banner reads
 * it), once per idempotency key, so a retry after a crash shows nothing twice. */
#include "notify_int.h"

#include <stdio.h>
#include <string.h>

void notify_post(carrot_notifier_t *n, const char *program, const char *key, const char *body,
                 send_result_t *res) {
    memset(res, 0, sizeof(*res));
    if (!n->board) { /* carrot_notifier_new refuses a display channel without Redis */
        res->outcome = SEND_DEAD;
        snprintf(res->answer, sizeof(res->answer), "no Redis to post to");
        return;
    }
    char errstr[NOTIFY_ANSWER_MAX + 1] = "";
    int posted = 0;
    carrot_board_err_t rc = carrot_board_feed_post(n->board, program, key, body, &posted, errstr,
                                                   sizeof(errstr));
    if (rc == CARROT_BOARD_OK) {
        res->outcome = SEND_OK;
        snprintf(res->answer, sizeof(res->answer), "%s",
                 posted ? "posted to the screens" : "posted before (the same key): not again");
    } else {
        res->outcome = rc == CARROT_BOARD_RETRY ? SEND_RETRY : SEND_DEAD;
        snprintf(res->answer, sizeof(res->answer), "Redis: %s", errstr);
    }
}
