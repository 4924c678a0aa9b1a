/* registry.h: a client for a Confluent-compatible schema registry (REST),
 * for shops that frame their Avro in the Confluent wire format. Carrot
 * registers the schemas it writes under "<topic>-value" and fetches, by id,
 * the schemas of messages it reads. HTTP is libcurl.
 *
 * Functions return 0, or -1 with errstr (the registry's own message when it
 * sent one). Not thread safe: one client per thread. */
#ifndef CARROT_REGISTRY_H
#define CARROT_REGISTRY_H

#include "carrot/codec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_registry_s carrot_registry_t;

/* url: the registry's base URL, e.g. http://127.0.0.1:8081 (copied). */
carrot_registry_t *carrot_registry_new(const char *url, char *errstr, size_t errstr_size);
void carrot_registry_destroy(carrot_registry_t *reg); /* NULL is a no-op */

/* POST /subjects/{subject}/versions: registers (or finds) schema_json; *idp
 * gets its id. */
int carrot_registry_register(carrot_registry_t *reg, const char *subject, const char *schema_json,
                             int32_t *idp, char *errstr, size_t errstr_size);

/* GET /schemas/ids/{id}: *schemap gets the schema text (caller frees). */
int carrot_registry_fetch(carrot_registry_t *reg, int32_t id, char **schemap, char *errstr,
                          size_t errstr_size);

/* Decodes like carrot_codec_decode(); a Confluent-framed message whose schema
 * id the codec does not know is first resolved through reg (may be NULL:
 * then it stays unknown), and the writer is remembered. */
carrot_codec_err_t carrot_registry_decode(carrot_registry_t *reg, carrot_codec_t *codec,
                                          const void *buf, size_t len, avro_value_t **valuep,
                                          char *errstr, size_t errstr_size);

#endif
