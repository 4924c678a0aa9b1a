/* test_utf8.c: the strict UTF-8 check decoders apply to every Avro string:
 * the boundaries of each sequence length accepted, and overlong encodings,
 * surrogates, code points above U+10FFFF, truncated sequences and stray
 * bytes rejected with the offset of the offending sequence. The byte strings
 * are written out by hand from RFC 3629's table, not produced by an encoder. */
#include "carrot/utf8.h"
#include "testutil.h"

#include <string.h>

/* Checks s (n bytes) and returns the reason, or NULL; *off gets the offset. */
static const char *check(const char *s, size_t n, size_t *off) {
    *off = (size_t)-1;
    return carrot_utf8_check(s, n, off);
}
#define CHECK(lit, offp) check(lit, sizeof(lit) - 1, offp)

START_TEST(accepts_every_boundary) {
    size_t off;
    static const struct {
        const char *bytes;
        size_t n;
        const char *what;
    } ok[] = {
        {"", 0, "empty"},
        {"plain ascii", 11, "ASCII"},
        {"\x00", 1, "a NUL byte (valid UTF-8; refused by the decoder separately)"},
        {"\x7f", 1, "U+007F"},
        {"\xc2\x80", 2, "U+0080, the smallest two-byte"},
        {"\xdf\xbf", 2, "U+07FF"},
        {"\xe0\xa0\x80", 3, "U+0800, the smallest three-byte"},
        {"\xed\x9f\xbf", 3, "U+D7FF, just below the surrogates"},
        {"\xee\x80\x80", 3, "U+E000, just above them"},
        {"\xef\xbf\xbf", 3, "U+FFFF"},
        {"\xf0\x90\x80\x80", 4, "U+10000, the smallest four-byte"},
        {"\xf4\x8f\xbf\xbf", 4, "U+10FFFF, the largest"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\xa5\x95", 14, "mixed: e-acute, euro, carrot"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(carrot_utf8_check(ok[i].bytes, ok[i].n, &off) == NULL, "%s refused",
                      ok[i].what);
    ck_assert_ptr_null(carrot_utf8_check("x", 1, NULL));
}
END_TEST

START_TEST(rejects_overlong_encodings) {
    size_t off;
    ck_assert_str_eq(CHECK("\xc0\x80", &off), "an overlong encoding"); /* NUL in two bytes */
    ck_assert_uint_eq(off, 0);
    ck_assert_str_eq(CHECK("\xc1\xbf", &off), "an overlong encoding"); /* U+007F */
    ck_assert_str_eq(CHECK("ab\xe0\x80\x80", &off), "an overlong encoding");
    ck_assert_uint_eq(off, 2);
    ck_assert_str_eq(CHECK("\xe0\x9f\xbf", &off), "an overlong encoding"); /* U+07FF */
    ck_assert_str_eq(CHECK("\xf0\x80\x80\x80", &off), "an overlong encoding");
    ck_assert_str_eq(CHECK("\xf0\x8f\xbf\xbf", &off), "an overlong encoding"); /* U+FFFF */
    ck_assert_str_eq(CHECK("\xc0\xaf", &off),
                     "an overlong encoding"); /* '/' : the classic attack */
}
END_TEST

START_TEST(rejects_surrogates) {
    size_t off;
    ck_assert_str_eq(CHECK("\xed\xa0\x80", &off), "a surrogate (U+D800..U+DFFF)");  /* U+D800 */
    ck_assert_str_eq(CHECK("x\xed\xbf\xbf", &off), "a surrogate (U+D800..U+DFFF)"); /* U+DFFF */
    ck_assert_uint_eq(off, 1);
    /* a surrogate pair encoded separately (CESU-8) is not UTF-8 either */
    ck_assert_str_eq(CHECK("\xed\xa0\xbd\xed\xb8\x80", &off), "a surrogate (U+D800..U+DFFF)");
    ck_assert_uint_eq(off, 0);
}
END_TEST

START_TEST(rejects_above_u10ffff) {
    size_t off;
    ck_assert_str_eq(CHECK("\xf4\x90\x80\x80", &off), "a code point above U+10FFFF"); /* U+110000 */
    ck_assert_str_eq(CHECK("\xf5\x80\x80\x80", &off), "a code point above U+10FFFF");
    ck_assert_str_eq(CHECK("ok\xf7\xbf\xbf\xbf", &off), "a code point above U+10FFFF");
    ck_assert_uint_eq(off, 2);
    ck_assert_str_eq(CHECK("\xf8\x88\x80\x80\x80", &off), "a byte that never appears in UTF-8");
    ck_assert_str_eq(CHECK("\xfe", &off), "a byte that never appears in UTF-8");
    ck_assert_str_eq(CHECK("\xff", &off), "a byte that never appears in UTF-8");
}
END_TEST

START_TEST(rejects_truncated_and_stray_bytes) {
    size_t off;
    ck_assert_str_eq(CHECK("abc\xc3", &off), "a truncated sequence");
    ck_assert_uint_eq(off, 3);
    ck_assert_str_eq(CHECK("\xe2\x82", &off), "a truncated sequence");
    ck_assert_str_eq(CHECK("\xf0\x9f\xa5", &off), "a truncated sequence");
    ck_assert_str_eq(CHECK("\xc3(", &off), "a truncated sequence"); /* lead byte, then ASCII */
    ck_assert_str_eq(CHECK("\xe2\x82(", &off), "a truncated sequence");
    ck_assert_str_eq(CHECK("\x80", &off), "an unexpected continuation byte");
    ck_assert_str_eq(CHECK("\xc3\xa9\xa9", &off), "an unexpected continuation byte");
    ck_assert_uint_eq(off, 2);
    /* the length passed is the limit, not a NUL: a sequence cut by it is truncated */
    ck_assert_str_eq(carrot_utf8_check("\xc3\xa9", 1, &off), "a truncated sequence");
}
END_TEST

int main(void) {
    const TTest *tests[] = {
        accepts_every_boundary, rejects_overlong_encodings,        rejects_surrogates,
        rejects_above_u10ffff,  rejects_truncated_and_stray_bytes, NULL};
    return carrot_test_run(carrot_test_suite("utf8", tests));
}
