/* test_draw_outcome.c: the draw's outcome function against values computed
 * outside this code (Python's hmac and hashlib), for the current formula
 * (keyed by the closed entry list's hash) and the one of draws made before
 * it; the counts over 20,000 and 10,000 entries, exactly, and a chi-squared
 * test of them against the weights; and that the seed, the sweepstakes, the
 * entry list and the entry number each change the outcome. */
#include "carrot/spending.h"
#include "testutil.h"

#include <string.h>

static const char seed[] = "3f1c0e9a5b7d4c2e8a6b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a1c3b5d7f9e0a";
/* hashlib.sha256(b"1:ann\n2:bob\n3:ann\n").hexdigest() */
static const char entries[] = "cb9b2397c054e54b0200664a5a8a2dc433f4087e94f0852c23b5c68503a3d235";

/* Computed with Python 3.11 (hmac, hashlib), not with this code:
 *
 *   import hmac, hashlib
 *   seed = "3f1c0e9a5b7d4c2e8a6b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a1c3b5d7f9e0a"
 *   entries = hashlib.sha256(b"1:ann\n2:bob\n3:ann\n").hexdigest()
 *   def r(msg):
 *       return int.from_bytes(hmac.new(seed.encode(), msg.encode(),
 *                                      hashlib.sha256).digest()[:8], "big")
 *   def pick(x, w):
 *       x %= sum(w)
 *       for i, wi in enumerate(w):
 *           if x < wi: return i
 *           x -= wi
 *   for e in range(1, 9):
 *       a = r(f"wheel:{entries}:{e}"); b = r(f"wheel:{e}")
 *       print(e, hex(a), pick(a, [1, 300, 699]), a % 1000, hex(b), pick(b, [1, 300, 699]), b % 1000)
 *
 * r is the first 8 bytes of the HMAC; "mod 1000" is the outcome on a wheel of
 * 1000 segments of weight 1, which shows ten bits of r rather than one prize. */
static const struct {
    int entry;
    int w3, mod1000;               /* current formula */
    int legacy_w3, legacy_mod1000; /* "<id>:<entry>", draws before migration 004 */
} vectors[] = {
    {1, 1, 78, 2, 879},  /* r = 0x41c0bdd103074b9e; legacy 0x8e129ac3c8599877 */
    {2, 2, 650, 1, 229}, /* 0x3058948aa7b11cba; 0x9f0ce7afa7e8affd */
    {3, 2, 565, 1, 240}, /* 0x4c4d6c6af6ceeefd; 0x64d48e09c8f49b30 */
    {4, 2, 981, 2, 866}, /* 0x3ffad366e1cb1245; 0x354fc998ae557672 */
    {5, 2, 536, 2, 391}, /* 0x17e10e9d439d3c58; 0x95d882aa378e810f */
    {6, 1, 129, 1, 62},  /* 0xba2b851ed5077ce9; 0xb6cfda020c7ffbee */
    {7, 2, 493, 2, 691}, /* 0x5cf4ace81539796d; 0x91e7b0fe68eed95b */
    {8, 2, 626, 2, 344}, /* 0x2f629516c15c00d2; 0x0a5c5134e249f000 */
};

START_TEST(matches_an_independent_computation) {
    const int64_t w3[] = {1, 300, 699};
    static int64_t w1000[1000];
    for (int i = 0; i < 1000; i++) w1000[i] = 1;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        int e = vectors[i].entry;
        ck_assert_int_eq(carrot_draw_outcome(seed, "wheel", entries, e, w3, 3), vectors[i].w3);
        ck_assert_int_eq(carrot_draw_outcome(seed, "wheel", entries, e, w1000, 1000),
                         vectors[i].mod1000);
        ck_assert_int_eq(carrot_draw_outcome(seed, "wheel", NULL, e, w3, 3), vectors[i].legacy_w3);
        ck_assert_int_eq(carrot_draw_outcome(seed, "wheel", NULL, e, w1000, 1000),
                         vectors[i].legacy_mod1000);
    }
}
END_TEST

/* Pearson's chi-squared statistic of counts[0..n) against weights over total draws. */
static double chi_squared(const int *counts, const int64_t *w, int n, int total) {
    int64_t sum = 0;
    for (int i = 0; i < n; i++) sum += w[i];
    double chi = 0;
    for (int i = 0; i < n; i++) {
        double want = (double)total * (double)w[i] / (double)sum;
        chi += ((double)counts[i] - want) * ((double)counts[i] - want) / want;
    }
    return chi;
}

/* The seed is fixed, so the counts are exact. With r and pick as above:
 *   for w, n in (([1, 300, 699], 20000), ([1, 2, 3, 4], 10000)):
 *       c = [0] * len(w)
 *       for e in range(1, n + 1): c[pick(r(f"wheel:{entries}:{e}"), w)] += 1
 *       want = [n * x / sum(w) for x in w]
 *       print(c, sum((o - x) ** 2 / x for o, x in zip(c, want)))
 * prints [22, 6020, 13958] 0.301... and [1041, 1990, 2987, 3982] 1.868...
 * and each must also pass a chi-squared goodness-of-fit test at the 0.1%
 * significance level: the critical values are 13.816 (2 degrees of freedom)
 * and 16.266 (3). A draw that ignored the weights (or a mistake in the
 * cumulative ranges) is far outside: uniform counts give thousands. */
START_TEST(distribution_follows_the_weights) {
    const int64_t w3[] = {1, 300, 699};
    int c3[3] = {0};
    for (int e = 1; e <= 20000; e++) c3[carrot_draw_outcome(seed, "wheel", entries, e, w3, 3)]++;
    ck_assert_int_eq(c3[0], 22);
    ck_assert_int_eq(c3[1], 6020);
    ck_assert_int_eq(c3[2], 13958);
    double chi = chi_squared(c3, w3, 3, 20000);
    ck_assert_msg(chi < 13.816, "chi-squared %.3f for 1:300:699", chi);
    ck_assert_double_eq_tol(chi, 0.301, 0.001);

    const int64_t w4[] = {1, 2, 3, 4};
    int c4[4] = {0};
    for (int e = 1; e <= 10000; e++) c4[carrot_draw_outcome(seed, "wheel", entries, e, w4, 4)]++;
    ck_assert_int_eq(c4[0], 1041);
    ck_assert_int_eq(c4[1], 1990);
    ck_assert_int_eq(c4[2], 2987);
    ck_assert_int_eq(c4[3], 3982);
    chi = chi_squared(c4, w4, 4, 10000);
    ck_assert_msg(chi < 16.266, "chi-squared %.3f for 1:2:3:4", chi);
    /* the test has teeth: the same counts read against equal weights fail it */
    const int64_t flat[] = {1, 1, 1, 1};
    ck_assert_double_gt(chi_squared(c4, flat, 4, 10000), 16.266);
}
END_TEST

START_TEST(every_input_matters) {
    static int64_t w[1000];
    for (int i = 0; i < 1000; i++) w[i] = 1;
    const char other_entries[] = "0b9b2397c054e54b0200664a5a8a2dc433f4087e94f0852c23b5c68503a3d235";
    int same_seed = 0, same_id = 0, same_entries = 0, same_legacy = 0, same_next = 0;
    for (int e = 1; e <= 100; e++) {
        int a = carrot_draw_outcome(seed, "wheel", entries, e, w, 1000);
        same_seed += a == carrot_draw_outcome("other-seed", "wheel", entries, e, w, 1000);
        same_id += a == carrot_draw_outcome(seed, "wheel-2", entries, e, w, 1000);
        same_entries += a == carrot_draw_outcome(seed, "wheel", other_entries, e, w, 1000);
        same_legacy += a == carrot_draw_outcome(seed, "wheel", NULL, e, w, 1000);
        same_next += a == carrot_draw_outcome(seed, "wheel", entries, e + 1, w, 1000);
    }
    /* on 1000 segments two unrelated draws agree 1 time in 1000: 100 entries
     * would show 0 or 1 such coincidences, not 5 */
    ck_assert_int_lt(same_seed, 5);
    ck_assert_int_lt(same_id, 5);
    ck_assert_int_lt(same_entries, 5);
    ck_assert_int_lt(same_legacy, 5);
    ck_assert_int_lt(same_next, 5);
    char hex[65];
    carrot_draw_sha256_hex("abc", hex); /* FIPS 180-2's example */
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int main(void) {
    const TTest *tests[] = {matches_an_independent_computation, distribution_follows_the_weights,
                            every_input_matters, NULL};
    return carrot_test_run(carrot_test_suite("draw_outcome", tests));
}
