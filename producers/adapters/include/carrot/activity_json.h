/* activity_json.h: maps one JSON object (the generic feed format, one
 * object per line) to a CrmActivity and checks it.
 *
 * Field names are the schema's (schemas/crm_activity.avsc). Timestamps are
 * RFC 3339 strings or integer milliseconds. Defaults: program_id from the
 * caller, source_system from the caller, source_record_id = event_id,
 * change_type CREATE, recorded_at = occurred_at. Unknown fields are an error
 * (a typo must not silently drop data), except under "custom". */
#ifndef CARROT_ACTIVITY_JSON_H
#define CARROT_ACTIVITY_JSON_H

#include "carrot/activity.h"

#include <jansson.h>

typedef struct {
    const char *program_id;    /* used when the object has none */
    const char *source_system; /* used when the object has none */
} carrot_activity_json_defaults_t;

/* Fills *a from obj. Strings in *a are borrowed from obj, so obj must
 * outlive *a. Returns 0, or -1 with a reason in errstr ("missing
 * participant_id", "occurred_at: not a timestamp"...). */
int carrot_activity_from_json(json_t *obj, const carrot_activity_json_defaults_t *defaults,
                              carrot_activity_t *a, char *errstr, size_t errstr_size);

#endif
