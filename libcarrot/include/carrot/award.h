/* award.h: the Award event (schemas/award.avsc) as a C struct.
 * Strings are borrowed, as in activity.h. */
#ifndef CARROT_AWARD_H
#define CARROT_AWARD_H

#include "carrot/codec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_award_s {
    const char *award_id; /* event_id + "/" + rule_id: the ledger's idempotency key */
    const char *program_id;
    const char *event_id;
    const char *participant_id;
    const char *segment, *team_id, *region; /* NULL when unknown */
    const char *activity_type;
    const char *rule_id;
    const char *rules_version;
    int64_t points;      /* signed: penalties and reversals are negative */
    int64_t occurred_at; /* ms since the epoch, UTC */
    int64_t awarded_at;
} carrot_award_t;

/* A codec for Award that knows every released version of the schema. */
carrot_codec_t *carrot_award_codec_new(char *errstr, size_t errstr_size);

int carrot_award_to_avro(const carrot_award_t *a, avro_value_t *value, char *errstr,
                         size_t errstr_size);

/* Reads a decoded Award; strings are borrowed from value. Checks that the
 * ids are non-empty. */
int carrot_award_from_avro(avro_value_t *value, carrot_award_t *a, char *errstr,
                           size_t errstr_size);

#endif
