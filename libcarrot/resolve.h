/* resolve.h: Avro schema resolution with defaults.
 *
 * avro-c's resolved writer refuses a reader field that the writer lacks,
 * even when the reader gives it a default ("Reader field X doesn't appear in
 * writer"), which is exactly the change schema evolution needs most. So an
 * older writer's bytes are read into a value of the writer's schema, and
 * copied here into a value of the reader's schema: fields matched by name,
 * reader-only fields set from their defaults, writer-only fields dropped,
 * numbers promoted (int to long, float or double; long to float or double;
 * float to double), string and bytes interchanged, enums matched by symbol,
 * and a value put into or taken out of a union by branch type.
 * Internal to libcarrot (used by codec.c). */
#ifndef CARROT_RESOLVE_H
#define CARROT_RESOLVE_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

/* Checks, once per writer, that every writer value can be resolved to the
 * reader: each reader field missing from the writer has a default, and each
 * shared field has a compatible type. reader_json is the reader schema's
 * parsed JSON (borrowed), where the defaults are. Returns 0 or -1 + errstr. */
int carrot_resolve_check(avro_schema_t writer, avro_schema_t reader, json_t *reader_json,
                         char *errstr, size_t errstr_size);

/* Copies src (of the writer schema) into dst (of the reader schema, reset by
 * the caller). Returns 0 or -1 with errstr (an enum symbol unknown to the
 * reader, a union branch the reader lacks). */
int carrot_resolve_copy(avro_value_t *dst, avro_value_t *src, json_t *reader_json, char *errstr,
                        size_t errstr_size);

#endif
