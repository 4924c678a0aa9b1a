/* avro_check.c: walks Avro binary encoding against a schema without
 * allocating, so garbage is rejected in time linear in its size. Strings are
 * checked too: the Avro specification makes them UTF-8, and every consumer
 * hands them on as C strings to Redis keys or PostgreSQL text, which can
 * hold neither invalid UTF-8 nor a NUL byte (one would also cut the C
 * string short, silently changing an id). */
#include "avro_check.h"

#include "carrot/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Zero-sized items (null, empty records) cost no bytes, so a block count
 * cannot be bounded by the input size; this caps them instead. */
#define MAX_ITEMS (1 << 20)

typedef struct {
    const unsigned char *p, *end, *start;
    size_t items;
    const char *field; /* the innermost record field being read, for messages */
    char *errstr;
    size_t errstr_size;
} cur_t;

static int bad(cur_t *c, const char *what) {
    snprintf(c->errstr, c->errstr_size, "malformed Avro body at byte %zu: %s",
             (size_t)(c->p - c->start), what);
    return -1;
}

static int read_long(cur_t *c, int64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end) return bad(c, "truncated varint");
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return bad(c, "varint longer than 10 bytes");
}

static int skip(cur_t *c, size_t n) {
    if ((size_t)(c->end - c->p) < n) return bad(c, "length past the end of the input");
    c->p += n;
    return 0;
}

/* Skips a string of n bytes after checking it is UTF-8 without NUL bytes. */
static int skip_text(cur_t *c, size_t n) {
    if ((size_t)(c->end - c->p) < n) return bad(c, "length past the end of the input");
    size_t off = 0;
    const char *why = carrot_utf8_check(c->p, n, &off);
    const unsigned char *nul = why ? NULL : memchr(c->p, '\0', n);
    const char *field = c->field ? c->field : "?";
    size_t at = (size_t)(c->p - c->start);
    if (why) {
        snprintf(c->errstr, c->errstr_size,
                 "invalid Avro string at byte %zu (field \"%s\"): not valid UTF-8: %s at byte %zu"
                 " of the string",
                 at, field, why, off);
        return -1;
    }
    if (nul) {
        snprintf(c->errstr, c->errstr_size,
                 "invalid Avro string at byte %zu (field \"%s\"): a NUL byte at byte %zu of the"
                 " string, which text cannot hold",
                 at, field, (size_t)(nul - c->p));
        return -1;
    }
    c->p += n;
    return 0;
}

static int check(cur_t *c, avro_schema_t s, int depth) {
    int64_t n;
    if (depth > 64) return bad(c, "nested too deeply");
    switch (avro_typeof(s)) {
    case AVRO_NULL: return 0;
    case AVRO_BOOLEAN:
        if (c->p >= c->end) return bad(c, "truncated boolean");
        if (*c->p > 1) return bad(c, "boolean is neither 0 nor 1");
        c->p++;
        return 0;
    case AVRO_INT32:
        if (read_long(c, &n)) return -1;
        if (n < INT32_MIN || n > INT32_MAX) return bad(c, "int out of range");
        return 0;
    case AVRO_INT64: return read_long(c, &n);
    case AVRO_FLOAT: return skip(c, 4);
    case AVRO_DOUBLE: return skip(c, 8);
    case AVRO_STRING:
    case AVRO_BYTES:
        if (read_long(c, &n)) return -1;
        if (n < 0) return bad(c, "negative length");
        return avro_typeof(s) == AVRO_STRING ? skip_text(c, (size_t)n) : skip(c, (size_t)n);
    case AVRO_FIXED: return skip(c, (size_t)avro_schema_fixed_size(s));
    case AVRO_ENUM:
        if (read_long(c, &n)) return -1;
        if (n < 0 || n >= avro_schema_enum_number_of_symbols(s))
            return bad(c, "enum index out of range");
        return 0;
    case AVRO_UNION:
        if (read_long(c, &n)) return -1;
        if (n < 0 || (size_t)n >= avro_schema_union_size(s))
            return bad(c, "union branch out of range");
        return check(c, avro_schema_union_branch(s, (int)n), depth + 1);
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++) {
            const char *outer = c->field;
            c->field = avro_schema_record_field_name(s, (int)i);
            if (check(c, avro_schema_record_field_get_by_index(s, (int)i), depth + 1)) return -1;
            c->field = outer;
        }
        return 0;
    case AVRO_ARRAY:
    case AVRO_MAP: {
        int is_map = avro_typeof(s) == AVRO_MAP;
        avro_schema_t item = is_map ? avro_schema_map_values(s) : avro_schema_array_items(s);
        for (;;) {
            if (read_long(c, &n)) return -1;
            if (n == 0) return 0;
            if (n < 0) { /* negative count: a byte size follows */
                int64_t size;
                if (n == INT64_MIN) return bad(c, "block count out of range");
                n = -n;
                if (read_long(c, &size)) return -1;
                if (size < 0 || size > c->end - c->p) return bad(c, "block size past the end");
            }
            if ((uint64_t)n > MAX_ITEMS - c->items) return bad(c, "too many items");
            c->items += (size_t)n;
            for (int64_t i = 0; i < n; i++) {
                if (is_map) { /* the key, a string */
                    int64_t klen;
                    if (read_long(c, &klen)) return -1;
                    if (klen < 0) return bad(c, "negative length");
                    if (skip_text(c, (size_t)klen)) return -1;
                }
                if (check(c, item, depth + 1)) return -1;
            }
        }
    }
    case AVRO_LINK: return check(c, avro_schema_link_target(s), depth + 1);
    }
    return bad(c, "unsupported schema type");
}

int carrot_avro_check(avro_schema_t schema, const void *buf, size_t len, char *errstr,
                      size_t errstr_size) {
    cur_t c = {.p = buf,
               .end = (const unsigned char *)buf + len,
               .start = buf,
               .errstr = errstr,
               .errstr_size = errstr_size};
    if (check(&c, schema, 0)) return -1;
    if (c.p != c.end) return bad(&c, "trailing bytes after the value");
    return 0;
}
