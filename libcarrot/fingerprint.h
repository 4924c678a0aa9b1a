/* fingerprint.h: Avro schema identity for single-object encoding.
 *
 * An Avro single-object message names its writer schema by the CRC-64-AVRO
 * fingerprint of the schema's Parsing Canonical Form (Avro specification,
 * "Schema Fingerprints"). avro-c does not compute either, so it is done here
 * from the schema's JSON text. */
#ifndef CARROT_FINGERPRINT_H
#define CARROT_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

/* CRC-64-AVRO (the Rabin fingerprint of the Avro specification) of len bytes. */
uint64_t carrot_crc64_avro(const void *data, size_t len);

/* Returns the Parsing Canonical Form of the schema JSON text as a new string
 * (the caller frees it with free()), or NULL with errstr filled when the text
 * is not JSON or not a schema. */
char *carrot_schema_canonical(const char *schema_json, char *errstr, size_t errstr_size);

/* Fingerprint of the schema's canonical form; 0 with errstr on error. */
int carrot_schema_fingerprint(const char *schema_json, uint64_t *fpp, char *errstr,
                              size_t errstr_size);

#endif
