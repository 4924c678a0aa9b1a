/* utf8.h: strict UTF-8 validation (RFC 3629), for text that arrives from
 * outside: Avro strings are UTF-8 by the specification, and PostgreSQL
 * refuses a text value that is not (SQLSTATE 22021), so a decoder must catch
 * it rather than let it reach a COPY. */
#ifndef CARROT_UTF8_H
#define CARROT_UTF8_H

#include <stddef.h>

/* Checks s[0..len) (NUL bytes are valid UTF-8 and allowed here; callers
 * that store C strings refuse them separately). Returns NULL when the bytes
 * are valid UTF-8; otherwise a static description of the first problem ("an
 * overlong encoding", "a surrogate (U+D800..U+DFFF)", "a code point above
 * U+10FFFF", "a truncated sequence", "an unexpected continuation byte", "a
 * byte that never appears in UTF-8") with *offp, when offp is not NULL, set
 * to the offset of the sequence's first byte. Rejects exactly what RFC 3629
 * section 4's grammar does not produce. */
const char *carrot_utf8_check(const void *s, size_t len, size_t *offp);

#endif
