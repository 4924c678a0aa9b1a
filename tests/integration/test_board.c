/* test_board.c: the leaderboard script on the real Redis: a DELETE that
 * overtakes its CREATE (they can sit on different partitions when the
 * DELETE names no participant), an UNDELETE, a replay of a batch, and a
 * duplicate event id at another offset. */
#include "ittools.h"
#include "leaderboard.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

static long long score(redisContext *rc, const char *program, const char *who) {
    redisReply *r = redisCommand(rc, "ZSCORE carrot:{%s}:lb:ptd %s", program, who);
    long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

START_TEST(order_replay_and_duplicates) {
    char program[48], errstr[512];
    it_unique(program, sizeof(program), "bd");
    carrot_board_t *b = carrot_board_new("127.0.0.1", it_redis_port(), 5000);
    redisContext *rc = it_redis();
    carrot_board_result_t res[4];
    /* partition 1 carries the DELETE (keyed by record), partition 0 the CREATE */
    carrot_board_event_t del[] = {{10, "e-del", "", 0, CARROT_BOARD_REVERSE, "crm:r1", ""}};
    carrot_board_event_t cre[] = {{20, "e-cre", "ann", 5, CARROT_BOARD_AWARD, "crm:r1", "call"},
                                  {21, "e-cre2", "ann", 7, CARROT_BOARD_AWARD, "crm:r2", "meeting"}};
    ck_assert_int_eq(carrot_board_apply(b, program, "t:1", del, 1, 3600, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 1);
    ck_assert_int_eq(res[0].amount, 0); /* nothing to take back yet */
    ck_assert_int_eq(carrot_board_apply(b, program, "t:0", cre, 2, 3600, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 0); /* deleted before it was scored */
    ck_assert_int_eq(res[1].amount, 7);
    ck_assert_int_eq(score(rc, program, "ann"), 7);
    /* the UNDELETE gives r1's points, with its participant and type */
    carrot_board_event_t und[] = {{11, "e-und", "", 0, CARROT_BOARD_RESTORE, "crm:r1", ""}};
    ck_assert_int_eq(carrot_board_apply(b, program, "t:1", und, 1, 3600, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 5);
    ck_assert_str_eq(res[0].participant_id, "ann");
    ck_assert_str_eq(res[0].activity_type, "call");
    ck_assert_int_eq(score(rc, program, "ann"), 12);
    /* a replay of the partition-0 batch changes nothing and says the same */
    ck_assert_int_eq(carrot_board_apply(b, program, "t:0", cre, 2, 3600, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 1);
    ck_assert_int_eq(res[0].amount, 0);
    ck_assert_int_eq(res[1].amount, 7);
    ck_assert_int_eq(score(rc, program, "ann"), 12);
    /* the same event id again at a later offset is a duplicate */
    carrot_board_event_t dup[] = {{30, "e-cre2", "ann", 7, CARROT_BOARD_AWARD, "crm:r2", "meeting"}};
    ck_assert_int_eq(carrot_board_apply(b, program, "t:0", dup, 1, 3600, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].fresh, 0);
    ck_assert_int_eq(score(rc, program, "ann"), 12);
    /* in order: CREATE, DELETE, DELETE again */
    carrot_board_event_t seq[] = {{31, "s1", "bob", 9, CARROT_BOARD_AWARD, "crm:r3", "quote"},
                                  {32, "s2", "", 0, CARROT_BOARD_REVERSE, "crm:r3", ""},
                                  {33, "s3", "", 0, CARROT_BOARD_REVERSE, "crm:r3", ""}};
    ck_assert_int_eq(carrot_board_apply(b, program, "t:0", seq, 3, 3600, res, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(res[0].amount, 9);
    ck_assert_int_eq(res[1].amount, -9);
    ck_assert_str_eq(res[1].participant_id, "bob");
    ck_assert_int_eq(res[2].amount, 0);
    ck_assert_int_eq(score(rc, program, "bob"), 0);
    redisFree(rc);
    carrot_board_destroy(b);
}
END_TEST

int main(void) {
    const TTest *tests[] = {order_replay_and_duplicates, NULL};
    return carrot_test_run(carrot_test_suite("board", tests));
}
