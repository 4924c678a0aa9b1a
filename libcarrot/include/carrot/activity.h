/* activity.h: the CrmActivity event (schemas/crm_activity.avsc) as a C struct.
 *
 * Every string in a carrot_activity_t is borrowed: from the JSON document it
 * was mapped from, or from the codec value it was decoded from (valid until
 * that codec's next decode). Optional strings are NULL when absent. */
#ifndef CARROT_ACTIVITY_H
#define CARROT_ACTIVITY_H

#include "carrot/codec.h"

#include <stddef.h>
#include <stdint.h>

#define CARROT_ACTIVITY_MAX_CUSTOM 32

typedef enum {
    CARROT_CHANGE_CREATE = 0, /* order matches the ChangeType enum symbols */
    CARROT_CHANGE_UPDATE = 1,
    CARROT_CHANGE_DELETE = 2,
    CARROT_CHANGE_UNDELETE = 3
} carrot_change_t;

typedef struct {
    const char *key, *value;
} carrot_kv_t;

typedef struct carrot_activity_s {
    const char *event_id;
    const char *program_id;
    const char *source_system;
    const char *source_record_id;
    carrot_change_t change_type;
    const char *activity_type;
    int64_t occurred_at; /* ms since the epoch, UTC */
    int64_t recorded_at;
    const char *participant_id;
    const char *segment, *team_id, *region;
    int has_tenure_days;
    int32_t tenure_days;
    const char *account_id, *opportunity_id;
    const char *outcome, *disposition, *stage;
    int has_amount;
    int64_t amount_minor;
    const char *currency;
    int has_duration;
    int32_t duration_seconds;
    int32_t text_length;
    size_t ncustom;
    carrot_kv_t custom[CARROT_ACTIVITY_MAX_CUSTOM];
} carrot_activity_t;

/* "CREATE"... for a change type; carrot_change_parse() accepts any case and
 * returns -1 for an unknown name. */
const char *carrot_change_name(carrot_change_t change);
int carrot_change_parse(const char *name);

/* The activity types Carrot knows (NULL-terminated), and a lookup. */
extern const char *const carrot_activity_types[];
int carrot_activity_type_known(const char *type);

/* Checks what the schema cannot: required strings non-empty, a known activity
 * type, plausible timestamps and amounts, every string UTF-8 (utf8.h). A
 * CREATE needs a participant and an activity type; a change to an existing
 * record (UPDATE, DELETE, UNDELETE) may leave them empty (a CDC DELETE carries neither): its source record id
 * names what it changes. Returns 0 or -1 with a reason. */
int carrot_activity_validate(const carrot_activity_t *a, char *errstr, size_t errstr_size);

/* The Kafka key of an activity: its participant, so one participant's
 * activities stay in order on one partition; for a change that names no
 * participant (a CDC DELETE), "<source system>:<source record id>", so the
 * changes of one record stay in order. Returns buf or a string of a. */
const char *carrot_activity_key(const carrot_activity_t *a, char *buf, size_t size);

/* Keeps what outlives a's codec value for scoring and awards (ids, record,
 * type, participant, scopes, times; not the custom fields or amounts) in
 * kept, each string through copy(ctx, s), which owns the copy (NULL stays
 * NULL). For a batch that holds activities past the codec's next decode. */
void carrot_activity_keep(const carrot_activity_t *a, carrot_activity_t *kept,
                          const char *(*copy)(void *ctx, const char *s), void *ctx);

/* A codec for CrmActivity that knows every released version of the schema. */
carrot_codec_t *carrot_activity_codec_new(char *errstr, size_t errstr_size);

/* Fills value (a CrmActivity record, e.g. from carrot_codec_value()). */
int carrot_activity_to_avro(const carrot_activity_t *a, avro_value_t *value, char *errstr,
                            size_t errstr_size);

/* Reads a decoded CrmActivity value; strings are borrowed from value. */
int carrot_activity_from_avro(avro_value_t *value, carrot_activity_t *a, char *errstr,
                              size_t errstr_size);

#endif
