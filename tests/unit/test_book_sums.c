/* test_book_sums.c: the direct path's sums per (program, participant)
 * (ledger/booking/sums.c): repeated keys add up, the two parts of a key stay
 * apart, the array literals escape quotes and backslashes, the table grows
 * past its first size, and a sum that would leave int64 or a missing key
 * hands the batch to the staging path; and the COPY text the direct path
 * writes (ledger/db: fields escaped, postings kept and dropped). */
#include "book_int.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(keys_add_up_and_stay_apart) {
    book_sums_t s = {0};
    ck_assert_int_eq(book_sums_add(&s, "p", "ann", 10), 0);
    ck_assert_int_eq(book_sums_add(&s, "p", "bob", 7), 0);
    ck_assert_int_eq(book_sums_add(&s, "p", "ann", -3), 0);
    ck_assert_int_eq(book_sums_add(&s, "pa", "nn", 1), 0); /* not "p" + "ann" */
    ck_assert_int_eq(book_sums_add(&s, "q", "ann", 5), 0);
    ck_assert_uint_eq(s.n, 4);
    carrot_copy_buf_t a = {0}, b = {0}, c = {0};
    ck_assert_int_eq(book_sums_arrays(&s, &a, &b, &c), 0);
    /* slots are in hash order: look each pair up by position */
    const char *want[][3] = {{"\"p\"", "\"ann\"", "7"},
                             {"\"p\"", "\"bob\"", "7"},
                             {"\"pa\"", "\"nn\"", "1"},
                             {"\"q\"", "\"ann\"", "5"}};
    char *pa = strdup(a.p + 1), *pb = strdup(b.p + 1), *pc = strdup(c.p + 1);
    pa[strlen(pa) - 1] = pb[strlen(pb) - 1] = pc[strlen(pc) - 1] = '\0';
    int found = 0;
    char *sa, *sb, *sc;
    for (char *x = strtok_r(pa, ",", &sa), *y = strtok_r(pb, ",", &sb), *z = strtok_r(pc, ",", &sc);
         x && y && z;
         x = strtok_r(NULL, ",", &sa), y = strtok_r(NULL, ",", &sb), z = strtok_r(NULL, ",", &sc))
        for (int i = 0; i < 4; i++)
            if (!strcmp(x, want[i][0]) && !strcmp(y, want[i][1]) && !strcmp(z, want[i][2])) found++;
    ck_assert_int_eq(found, 4);
    free(pa);
    free(pb);
    free(pc);
    ck_assert_int_eq(s.unsummable, 0);
    book_sums_reset(&s);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_int_eq(book_sums_arrays(&s, &a, &b, &c), 0);
    ck_assert_str_eq(a.p, "{}");
    ck_assert_str_eq(c.p, "{}");
    free(a.p);
    free(b.p);
    free(c.p);
    book_sums_free(&s);
}
END_TEST

START_TEST(array_literals_escape) {
    book_sums_t s = {0};
    ck_assert_int_eq(book_sums_add(&s, "a\"b", "c\\d,e{f}", -42), 0);
    carrot_copy_buf_t a = {0}, b = {0}, c = {0};
    ck_assert_int_eq(book_sums_arrays(&s, &a, &b, &c), 0);
    ck_assert_str_eq(a.p, "{\"a\\\"b\"}");
    ck_assert_str_eq(b.p, "{\"c\\\\d,e{f}\"}");
    ck_assert_str_eq(c.p, "{-42}");
    free(a.p);
    free(b.p);
    free(c.p);
    book_sums_free(&s);
}
END_TEST

START_TEST(grows_past_its_first_size) {
    book_sums_t s = {0};
    char who[32];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 5000; i++) {
            snprintf(who, sizeof(who), "p%06d", i);
            ck_assert_int_eq(book_sums_add(&s, "prog", who, i), 0);
        }
    ck_assert_uint_eq(s.n, 5000);
    long long total = 0;
    for (size_t i = 0; i < s.cap; i++)
        if (s.slot[i].used) {
            const char *k = s.keys.p + s.slot[i].key;
            ck_assert_str_eq(k, "prog");
            int n = atoi(k + strlen(k) + 2);
            ck_assert_int_eq(s.slot[i].sum, 3 * n);
            total += s.slot[i].sum;
        }
    ck_assert_int_eq(total, 3LL * 4999 * 5000 / 2);
    book_sums_free(&s);
}
END_TEST

START_TEST(what_postgres_would_refuse_goes_to_staging) {
    book_sums_t s = {0};
    ck_assert_int_eq(book_sums_add(&s, "p", "x", INT64_MAX), 0);
    ck_assert_int_eq(s.unsummable, 0);
    ck_assert_int_eq(book_sums_add(&s, "p", "x", 1), 0);
    ck_assert_int_eq(s.unsummable, 1);
    book_sums_reset(&s);
    ck_assert_int_eq(s.unsummable, 0);
    ck_assert_int_eq(book_sums_add(&s, "p", NULL, 1), 0);
    ck_assert_int_eq(s.unsummable, 1);
    book_sums_free(&s);
}
END_TEST

START_TEST(copy_fields_escape) {
    carrot_copy_buf_t b = {0};
    ck_assert_int_eq(carrot_copy_field(&b, "a\tb\\c", '\t'), 0);
    ck_assert_int_eq(carrot_copy_field(&b, NULL, '\t'), 0);
    ck_assert_int_eq(carrot_copy_field(&b, "l1\nl2\r", '\n'), 0);
    ck_assert_uint_eq(b.len, strlen("a\\tb\\\\c\t\\N\tl1\\nl2\\r\n"));
    ck_assert_int_eq(memcmp(b.p, "a\\tb\\\\c\t\\N\tl1\\nl2\\r\n", b.len), 0);
    free(b.p);
}
END_TEST

START_TEST(journal_batch_keeps_and_drops) {
    carrot_journal_batch_t *jb = carrot_journal_batch_new();
    ck_assert_ptr_nonnull(jb);
    char ref[32];
    for (int i = 0; i < 3000; i++) { /* past its first sizes */
        snprintf(ref, sizeof(ref), "a%d", i);
        ck_assert_int_eq(
            carrot_journal_batch_add(jb, "p", "award", ref, "ann", "budget", "wallet", i), 0);
    }
    ck_assert_uint_eq(carrot_journal_batch_count(jb), 3000);
    carrot_journal_batch_truncate(jb, 1);
    ck_assert_uint_eq(carrot_journal_batch_count(jb), 1);
    carrot_journal_batch_truncate(jb, 5); /* more than it holds: nothing to drop */
    ck_assert_uint_eq(carrot_journal_batch_count(jb), 1);
    carrot_journal_batch_reset(jb);
    ck_assert_uint_eq(carrot_journal_batch_count(jb), 0);
    carrot_journal_batch_destroy(jb);
    carrot_journal_batch_destroy(NULL);
}
END_TEST

int main(void) {
    const TTest *tests[] = {keys_add_up_and_stay_apart,
                            array_literals_escape,
                            grows_past_its_first_size,
                            what_postgres_would_refuse_goes_to_staging,
                            copy_fields_escape,
                            journal_batch_keeps_and_drops,
                            NULL};
    return carrot_test_run(carrot_test_suite("book_sums", tests));
}
