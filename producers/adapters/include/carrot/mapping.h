/* mapping.h: any JSON-lines feed into the generic activity shape, with a
 * mapping file instead of code:
 *
 *   {"fields":    {"event_id": "id", "participant_id": "owner.id",
 *                  "activity_type": "kind", "occurred_at": "when"},
 *    "values":    {"activity_type": {"Phone call": "call", "Visit": "meeting"}},
 *    "constants": {"source_system": "acme-crm"},
 *    "custom":    {"product": "product.sku"}}
 *
 * "fields" maps a Carrot field (a field of schemas/crm_activity.avsc) to a
 * dotted path in the source object; "values" translates a field's source
 * values (a value not listed is kept as it is, and validation decides);
 * "constants" sets fields to fixed values; "custom" copies source paths into
 * the activity's custom map as text. */
#ifndef CARROT_MAPPING_H
#define CARROT_MAPPING_H

#include <jansson.h>
#include <stddef.h>

typedef struct carrot_mapping_s carrot_mapping_t;

/* Loads and checks a mapping file; errors name the file, line and problem. */
carrot_mapping_t *carrot_mapping_load(const char *path, char *errstr, size_t errstr_size);
/* The same from JSON text (origin names it in errors). */
carrot_mapping_t *carrot_mapping_parse(const char *text, size_t len, const char *origin,
                                       char *errstr, size_t errstr_size);
void carrot_mapping_destroy(carrot_mapping_t *m); /* NULL is a no-op */

/* Appends the generic object for record to out. -1 with a reason when the
 * record is not an object. */
int carrot_mapping_apply(const carrot_mapping_t *m, json_t *record, json_t *out, char *errstr,
                         size_t errstr_size);

#endif
