/* award.c: Award <-> Avro value. */
#include "carrot/award.h"

#include "avro_util.h"
#include "carrot/schemas.h"

#include <stdio.h>
#include <string.h>

enum {
    F_AWARD_ID,
    F_PROGRAM_ID,
    F_EVENT_ID,
    F_PARTICIPANT_ID,
    F_SEGMENT,
    F_TEAM_ID,
    F_REGION,
    F_ACTIVITY_TYPE,
    F_RULE_ID,
    F_RULES_VERSION,
    F_POINTS,
    F_OCCURRED_AT,
    F_AWARDED_AT,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "award_id", "program_id",  "event_id",      "participant_id", "segment",
    "team_id",  "region",      "activity_type", "rule_id",        "rules_version",
    "points",   "occurred_at", "awarded_at"};

carrot_codec_t *carrot_award_codec_new(char *errstr, size_t errstr_size) {
    return carrot_av_codec_new(carrot_schema_award, field_names, F_COUNT, errstr, errstr_size);
}

int carrot_award_to_avro(const carrot_award_t *a, avro_value_t *v, char *errstr,
                         size_t errstr_size) {
    int rc = carrot_av_set_str(v, F_AWARD_ID, a->award_id) ||
             carrot_av_set_str(v, F_PROGRAM_ID, a->program_id) ||
             carrot_av_set_str(v, F_EVENT_ID, a->event_id) ||
             carrot_av_set_str(v, F_PARTICIPANT_ID, a->participant_id) ||
             carrot_av_set_opt_str(v, F_SEGMENT, a->segment) ||
             carrot_av_set_opt_str(v, F_TEAM_ID, a->team_id) ||
             carrot_av_set_opt_str(v, F_REGION, a->region) ||
             carrot_av_set_str(v, F_ACTIVITY_TYPE, a->activity_type) ||
             carrot_av_set_str(v, F_RULE_ID, a->rule_id) ||
             carrot_av_set_str(v, F_RULES_VERSION, a->rules_version) ||
             carrot_av_set_long(v, F_POINTS, a->points) ||
             carrot_av_set_long(v, F_OCCURRED_AT, a->occurred_at) ||
             carrot_av_set_long(v, F_AWARDED_AT, a->awarded_at);
    if (rc) snprintf(errstr, errstr_size, "could not build Award: %s", avro_strerror());
    return rc ? -1 : 0;
}

int carrot_award_from_avro(avro_value_t *v, carrot_award_t *a, char *errstr, size_t errstr_size) {
    memset(a, 0, sizeof(*a));
    int rc = carrot_av_get_str(v, F_AWARD_ID, &a->award_id) ||
             carrot_av_get_str(v, F_PROGRAM_ID, &a->program_id) ||
             carrot_av_get_str(v, F_EVENT_ID, &a->event_id) ||
             carrot_av_get_str(v, F_PARTICIPANT_ID, &a->participant_id) ||
             carrot_av_get_opt_str(v, F_SEGMENT, &a->segment) ||
             carrot_av_get_opt_str(v, F_TEAM_ID, &a->team_id) ||
             carrot_av_get_opt_str(v, F_REGION, &a->region) ||
             carrot_av_get_str(v, F_ACTIVITY_TYPE, &a->activity_type) ||
             carrot_av_get_str(v, F_RULE_ID, &a->rule_id) ||
             carrot_av_get_str(v, F_RULES_VERSION, &a->rules_version) ||
             carrot_av_get_long(v, F_POINTS, &a->points) ||
             carrot_av_get_long(v, F_OCCURRED_AT, &a->occurred_at) ||
             carrot_av_get_long(v, F_AWARDED_AT, &a->awarded_at);
    if (rc) {
        snprintf(errstr, errstr_size, "could not read Award: %s", avro_strerror());
        return -1;
    }
    if (!*a->award_id || !*a->participant_id || !*a->program_id) {
        snprintf(errstr, errstr_size, "award without award_id, participant_id or program_id");
        return -1;
    }
    return 0;
}
