/* codec.h: Avro single-object encoding of one record type.
 *
 * A message is 0xC3 0x01, the 8-byte little-endian CRC-64-AVRO fingerprint of
 * the writer schema's Parsing Canonical Form, then the Avro binary body; or,
 * for shops that run a schema registry, the Confluent wire format: 0x00, the
 * registry's 4-byte big-endian schema id, then the body. Decoding tells the
 * two apart by the first byte.
 * A codec encodes with its reader (current) schema and decodes any writer
 * schema it knows, resolving older versions to the current one with their
 * defaults (resolve.h; avro-c's own resolver cannot fill defaults).
 *
 * Ownership: avro-c values are reference counted; the codec owns every value
 * it hands out. The value from carrot_codec_value() and from
 * carrot_codec_decode() stay valid until the next call on the same codec of
 * the same function, or carrot_codec_destroy(). A codec is not thread safe:
 * use one per thread. */
#ifndef CARROT_CODEC_H
#define CARROT_CODEC_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#define CARROT_SO_MAGIC0 0xC3
#define CARROT_SO_MAGIC1 0x01
#define CARROT_SO_HEADER_SIZE 10
/* Confluent wire format: 0x00, then the schema registry's 4-byte big-endian id. */
#define CARROT_CF_MAGIC 0x00
#define CARROT_CF_HEADER_SIZE 5

typedef enum {
    CARROT_CODEC_OK = 0,
    CARROT_CODEC_ERR_FRAMING = -1, /* not single-object encoded (bad magic, too short) */
    CARROT_CODEC_ERR_UNKNOWN = -2, /* writer fingerprint not known to this codec */
    CARROT_CODEC_ERR_BODY = -3,    /* body does not match the writer schema */
    CARROT_CODEC_ERR_INTERNAL = -4 /* out of memory, avro-c failure */
} carrot_codec_err_t;

/* Short name of an error ("framing"...), for log lines and dead-letter reasons. */
const char *carrot_codec_err_name(carrot_codec_err_t err);

typedef struct carrot_codec_s carrot_codec_t;

/* Creates a codec whose current schema is the given JSON (copied).
 * Returns NULL with errstr on an invalid schema. */
carrot_codec_t *carrot_codec_new(const char *schema_json, char *errstr, size_t errstr_size);

/* NULL is a no-op. */
void carrot_codec_destroy(carrot_codec_t *codec);

/* Registers an older (or newer) writer schema version that can be decoded
 * and resolved to the current schema. Registering the same fingerprint twice
 * is a no-op. Returns 0, or -1 with errstr if the schema is invalid or cannot
 * be resolved to the current one. */
int carrot_codec_add_writer(carrot_codec_t *codec, const char *schema_json, char *errstr,
                            size_t errstr_size);

/* Registers a writer schema under a schema registry id (Confluent wire
 * format). The same schema may also be known by fingerprint. */
int carrot_codec_add_writer_id(carrot_codec_t *codec, int32_t id, const char *schema_json,
                               char *errstr, size_t errstr_size);

/* Makes carrot_codec_encode() write the Confluent wire format with this id
 * (the current schema's id in the registry); a negative id restores
 * single-object encoding, the default. */
void carrot_codec_set_registry_id(carrot_codec_t *codec, int32_t id);

/* 1 when buf is Confluent-framed with a schema id this codec does not know
 * yet, and *idp gets it (the caller fetches the schema and adds it). */
int carrot_codec_unknown_id(const carrot_codec_t *codec, const void *buf, size_t len, int32_t *idp);

/* Fingerprint of the current schema. */
uint64_t carrot_codec_fingerprint(const carrot_codec_t *codec);
avro_schema_t carrot_codec_schema(const carrot_codec_t *codec);

/* Returns the codec's reusable value of the current schema, reset to empty,
 * for the caller to fill and pass to carrot_codec_encode(). */
avro_value_t *carrot_codec_value(carrot_codec_t *codec);

/* Encodes value (of the current schema) as a single-object message (or in
 * the Confluent wire format, see carrot_codec_set_registry_id()) into the
 * codec's buffer; *bufp is valid until the next encode. */
carrot_codec_err_t carrot_codec_encode(carrot_codec_t *codec, avro_value_t *value,
                                       const void **bufp, size_t *lenp, char *errstr,
                                       size_t errstr_size);

/* Decodes a single-object message into a value of the current schema, owned
 * by the codec. The input is validated before avro-c reads it: no input
 * crashes or makes it allocate more than the input's size, and every string
 * is valid UTF-8 without NUL bytes (else CARROT_CODEC_ERR_BODY, the field
 * named in errstr), so what it hands out can go into PostgreSQL text. */
carrot_codec_err_t carrot_codec_decode(carrot_codec_t *codec, const void *buf, size_t len,
                                       avro_value_t **valuep, char *errstr, size_t errstr_size);

#endif
