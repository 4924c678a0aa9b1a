/* test_draw_outcome.c: the draw's outcome function: deterministic, follows
 * the weights, and changes with the seed, the sweepstakes and the entry. */
#include "draw.h"
#include "testutil.h"

#include <string.h>

static const char seed[] = "3f1c0e9a5b7d4c2e8a6b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a1c3b5d7f9e0a";

START_TEST(deterministic_and_weighted) {
    const int64_t w[] = {1, 300, 699};
    int counts[3] = {0};
    for (int e = 1; e <= 20000; e++) {
        int k = carrot_draw_outcome(seed, "wheel", e, w, 3);
        ck_assert_int_eq(k, carrot_draw_outcome(seed, "wheel", e, w, 3));
        counts[k]++;
    }
    /* 20000 draws: expected 20, 6000, 13980; the seed is fixed, so this is exact */
    ck_assert_int_gt(counts[0], 5);
    ck_assert_int_lt(counts[0], 45);
    ck_assert_int_gt(counts[1], 5700);
    ck_assert_int_lt(counts[1], 6300);
    const int64_t one[] = {5};
    ck_assert_int_eq(carrot_draw_outcome(seed, "wheel", 1, one, 1), 0);
}
END_TEST

START_TEST(inputs_matter) {
    const int64_t w[] = {1, 1};
    int differ_seed = 0, differ_id = 0;
    for (int e = 1; e <= 64; e++) {
        int a = carrot_draw_outcome(seed, "wheel", e, w, 2);
        differ_seed += a != carrot_draw_outcome("other-seed", "wheel", e, w, 2);
        differ_id += a != carrot_draw_outcome(seed, "wheel-2", e, w, 2);
    }
    ck_assert_int_gt(differ_seed, 10);
    ck_assert_int_gt(differ_id, 10);
    char hex[65];
    carrot_draw_sha256_hex("abc", hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int main(void) {
    const TTest *tests[] = {deterministic_and_weighted, inputs_matter, NULL};
    return carrot_test_run(carrot_test_suite("draw_outcome", tests));
}
