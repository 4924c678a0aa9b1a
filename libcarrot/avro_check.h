/* avro_check.h: bounds check of an Avro binary body before avro-c reads it.
 *
 * avro-c trusts lengths in the bytes it reads: a garbage string length makes
 * it allocate that many bytes before noticing the input is short, and a
 * garbage block count of zero-sized items loops for a very long time. This
 * walks the bytes against the writer schema first and rejects any body whose
 * lengths, counts, union branches or enum indexes do not fit, or that has
 * bytes left over; and any string (map keys too) that is not UTF-8 or holds
 * a NUL byte. Internal to libcarrot (used by codec.c). */
#ifndef CARROT_AVRO_CHECK_H
#define CARROT_AVRO_CHECK_H

#include <avro.h>
#include <stddef.h>

/* Returns 0 if buf[0..len) is exactly one well-formed value of schema,
 * else -1 with errstr naming the problem and the byte offset. */
int carrot_avro_check(avro_schema_t schema, const void *buf, size_t len, char *errstr,
                      size_t errstr_size);

#endif
