/* utf8.c: a table-free UTF-8 validator following RFC 3629 section 4, where
 * the second byte's range depends on the first: that is what rules out
 * overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code
 * points above U+10FFFF (F4 90..BF), without decoding the code point. */
#include "carrot/utf8.h"

const char *carrot_utf8_check(const void *s, size_t len, size_t *offp) {
    const unsigned char *p = s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;                        /* continuation bytes after b */
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        const char *why = NULL;             /* what a second byte outside [lo, hi] means */
        if (b < 0xC0) {
            if (offp) *offp = i;
            return "an unexpected continuation byte";
        } else if (b < 0xC2) { /* C0, C1: a code point below U+0080 in two bytes */
            if (offp) *offp = i;
            return "an overlong encoding";
        } else if (b < 0xE0) {
            need = 1;
        } else if (b < 0xF0) {
            need = 2;
            if (b == 0xE0) lo = 0xA0, why = "an overlong encoding";
            if (b == 0xED) hi = 0x9F, why = "a surrogate (U+D800..U+DFFF)";
        } else if (b < 0xF5) {
            need = 3;
            if (b == 0xF0) lo = 0x90, why = "an overlong encoding";
            if (b == 0xF4) hi = 0x8F, why = "a code point above U+10FFFF";
        } else if (b < 0xF8) { /* F5..F7 would start U+140000 and above */
            if (offp) *offp = i;
            return "a code point above U+10FFFF";
        } else {
            if (offp) *offp = i;
            return "a byte that never appears in UTF-8";
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80) {
                if (offp) *offp = i;
                return "a truncated sequence";
            }
        }
        if (p[i + 1] < lo || p[i + 1] > hi) {
            if (offp) *offp = i;
            return why;
        }
        i += need + 1;
    }
    return NULL;
}
