/* activity.c: CrmActivity <-> Avro value, and the checks every producer
 * applies before an activity enters Kafka. */
#include "carrot/activity.h"

#include "avro_util.h"
#include "carrot/schemas.h"
#include "carrot/utf8.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Field positions in schemas/crm_activity.avsc; checked against the schema
 * when a codec is created. */
enum {
    F_EVENT_ID,
    F_PROGRAM_ID,
    F_SOURCE_SYSTEM,
    F_SOURCE_RECORD_ID,
    F_CHANGE_TYPE,
    F_ACTIVITY_TYPE,
    F_OCCURRED_AT,
    F_RECORDED_AT,
    F_PARTICIPANT_ID,
    F_SEGMENT,
    F_TEAM_ID,
    F_REGION,
    F_TENURE_DAYS,
    F_ACCOUNT_ID,
    F_OPPORTUNITY_ID,
    F_OUTCOME,
    F_DISPOSITION,
    F_STAGE,
    F_AMOUNT_MINOR,
    F_CURRENCY,
    F_DURATION_SECONDS,
    F_TEXT_LENGTH,
    F_CUSTOM,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "event_id",         "program_id",  "source_system", "source_record_id", "change_type",
    "activity_type",    "occurred_at", "recorded_at",   "participant_id",   "segment",
    "team_id",          "region",      "tenure_days",   "account_id",       "opportunity_id",
    "outcome",          "disposition", "stage",         "amount_minor",     "currency",
    "duration_seconds", "text_length", "custom"};

const char *const carrot_activity_types[] = {"call",
                                             "meeting",
                                             "email",
                                             "note",
                                             "task",
                                             "lead",
                                             "opportunity_stage",
                                             "quote",
                                             "deal_won",
                                             "deal_lost",
                                             "training_completed",
                                             "certification_passed",
                                             NULL};

int carrot_activity_type_known(const char *type) {
    for (int i = 0; carrot_activity_types[i]; i++)
        if (strcmp(type, carrot_activity_types[i]) == 0) return 1;
    return 0;
}

static const char *const change_names[] = {"CREATE", "UPDATE", "DELETE", "UNDELETE"};

const char *carrot_change_name(carrot_change_t change) {
    return (unsigned)change < 4 ? change_names[change] : "?";
}

int carrot_change_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, change_names[i]) == 0) return i;
    return -1;
}

#define MS_2000 946684800000LL /* earlier timestamps are data errors */
#define MS_2200 7258118400000LL

static int not_utf8(const char *name, const char *value, char *errstr, size_t errstr_size) {
    size_t off;
    const char *why = value ? carrot_utf8_check(value, strlen(value), &off) : NULL;
    if (why) snprintf(errstr, errstr_size, "%s is not valid UTF-8: %s at byte %zu", name, why, off);
    return why != NULL;
}

int carrot_activity_validate(const carrot_activity_t *a, char *errstr, size_t errstr_size) {
    /* A change to an existing record (UPDATE, DELETE, UNDELETE) may not know
     * its owner or type (a CDC DELETE carries neither): the record id names it. */
    int creates = a->change_type == CARROT_CHANGE_CREATE;
    const struct {
        const char *name, *value;
        int need;
    } required[] = {{"event_id", a->event_id, 1},
                    {"program_id", a->program_id, 1},
                    {"source_system", a->source_system, 1},
                    {"source_record_id", a->source_record_id, 1},
                    {"participant_id", a->participant_id, creates},
                    {"activity_type", a->activity_type, creates}};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if ((!required[i].value || !*required[i].value) && !required[i].need) continue;
        if (!required[i].value || !*required[i].value) {
            snprintf(errstr, errstr_size, "missing %s", required[i].name);
            return -1;
        }
        if (strlen(required[i].value) > 256) {
            snprintf(errstr, errstr_size, "%s is longer than 256 bytes", required[i].name);
            return -1;
        }
    }
    /* Ids and scopes become Redis key names and leaderboard entries: no
     * control characters (the scorer's Redis values use two as separators). */
    const struct {
        const char *name, *value;
    } named[] = {{"event_id", a->event_id},
                 {"program_id", a->program_id},
                 {"source_system", a->source_system},
                 {"source_record_id", a->source_record_id},
                 {"participant_id", a->participant_id},
                 {"segment", a->segment},
                 {"team_id", a->team_id},
                 {"region", a->region}};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if (named[i].value && strlen(named[i].value) > 256) {
            snprintf(errstr, errstr_size, "%s is longer than 256 bytes", named[i].name);
            return -1;
        }
        for (const unsigned char *c = (const unsigned char *)named[i].value; c && *c; c++)
            if (*c < 0x20 || *c == 0x7f) {
                snprintf(errstr, errstr_size, "%s holds a control character (0x%02x)",
                         named[i].name, *c);
                return -1;
            }
    }
    /* Every string ends up in Avro, whose strings are UTF-8: a producer
     * refuses what every consumer's decoder would (codec.h). */
    const struct {
        const char *name, *value;
    } texts[] = {{"event_id", a->event_id},
                 {"program_id", a->program_id},
                 {"source_system", a->source_system},
                 {"source_record_id", a->source_record_id},
                 {"activity_type", a->activity_type},
                 {"participant_id", a->participant_id},
                 {"segment", a->segment},
                 {"team_id", a->team_id},
                 {"region", a->region},
                 {"account_id", a->account_id},
                 {"opportunity_id", a->opportunity_id},
                 {"outcome", a->outcome},
                 {"disposition", a->disposition},
                 {"stage", a->stage},
                 {"currency", a->currency}};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (not_utf8(texts[i].name, texts[i].value, errstr, errstr_size)) return -1;
    for (size_t i = 0; i < a->ncustom; i++)
        if (not_utf8("a custom field's name", a->custom[i].key, errstr, errstr_size) ||
            not_utf8("a custom field's value", a->custom[i].value, errstr, errstr_size))
            return -1;
    if (a->activity_type && *a->activity_type && !carrot_activity_type_known(a->activity_type)) {
        snprintf(errstr, errstr_size, "unknown activity type \"%.64s\"", a->activity_type);
        return -1;
    }
    if ((unsigned)a->change_type > CARROT_CHANGE_UNDELETE) {
        snprintf(errstr, errstr_size, "invalid change type %d", (int)a->change_type);
        return -1;
    }
    if (a->occurred_at < MS_2000 || a->occurred_at > MS_2200) {
        snprintf(errstr, errstr_size, "occurred_at %lld is not a time between 2000 and 2200",
                 (long long)a->occurred_at);
        return -1;
    }
    if (a->recorded_at < MS_2000 || a->recorded_at > MS_2200) {
        snprintf(errstr, errstr_size, "recorded_at %lld is not a time between 2000 and 2200",
                 (long long)a->recorded_at);
        return -1;
    }
    if (a->has_duration && a->duration_seconds < 0) {
        snprintf(errstr, errstr_size, "negative duration_seconds %d", (int)a->duration_seconds);
        return -1;
    }
    if (a->text_length < 0) {
        snprintf(errstr, errstr_size, "negative text_length %d", (int)a->text_length);
        return -1;
    }
    if (a->currency && strlen(a->currency) != 3) {
        snprintf(errstr, errstr_size, "currency \"%.16s\" is not a 3-letter ISO 4217 code",
                 a->currency);
        return -1;
    }
    return 0;
}

typedef const char *(*copy_fn)(void *ctx, const char *s);

static const char *keep_str(copy_fn copy, void *ctx, const char *s) {
    return s ? copy(ctx, s) : NULL;
}

void carrot_activity_keep(const carrot_activity_t *a, carrot_activity_t *k, copy_fn copy,
                          void *ctx) {
    memset(k, 0, sizeof(*k));
    k->event_id = keep_str(copy, ctx, a->event_id);
    k->program_id = keep_str(copy, ctx, a->program_id);
    k->source_system = keep_str(copy, ctx, a->source_system);
    k->source_record_id = keep_str(copy, ctx, a->source_record_id);
    k->change_type = a->change_type;
    k->activity_type = keep_str(copy, ctx, a->activity_type);
    k->occurred_at = a->occurred_at;
    k->recorded_at = a->recorded_at;
    k->participant_id = keep_str(copy, ctx, a->participant_id);
    k->segment = keep_str(copy, ctx, a->segment);
    k->team_id = keep_str(copy, ctx, a->team_id);
    k->region = keep_str(copy, ctx, a->region);
}

const char *carrot_activity_key(const carrot_activity_t *a, char *buf, size_t size) {
    if (a->participant_id && *a->participant_id) return a->participant_id;
    snprintf(buf, size, "%s:%s", a->source_system, a->source_record_id);
    return buf;
}

carrot_codec_t *carrot_activity_codec_new(char *errstr, size_t errstr_size) {
    /* Older released versions are registered here with carrot_codec_add_writer(). */
    return carrot_av_codec_new(carrot_schema_crm_activity, field_names, F_COUNT, errstr,
                               errstr_size);
}

int carrot_activity_to_avro(const carrot_activity_t *a, avro_value_t *v, char *errstr,
                            size_t errstr_size) {
    int rc = carrot_av_set_str(v, F_EVENT_ID, a->event_id) ||
             carrot_av_set_str(v, F_PROGRAM_ID, a->program_id) ||
             carrot_av_set_str(v, F_SOURCE_SYSTEM, a->source_system) ||
             carrot_av_set_str(v, F_SOURCE_RECORD_ID, a->source_record_id) ||
             carrot_av_set_enum(v, F_CHANGE_TYPE, (int)a->change_type) ||
             carrot_av_set_str(v, F_ACTIVITY_TYPE, a->activity_type ? a->activity_type : "") ||
             carrot_av_set_long(v, F_OCCURRED_AT, a->occurred_at) ||
             carrot_av_set_long(v, F_RECORDED_AT, a->recorded_at) ||
             carrot_av_set_str(v, F_PARTICIPANT_ID, a->participant_id ? a->participant_id : "") ||
             carrot_av_set_opt_str(v, F_SEGMENT, a->segment) ||
             carrot_av_set_opt_str(v, F_TEAM_ID, a->team_id) ||
             carrot_av_set_opt_str(v, F_REGION, a->region) ||
             carrot_av_set_opt_int(v, F_TENURE_DAYS, a->has_tenure_days, a->tenure_days) ||
             carrot_av_set_opt_str(v, F_ACCOUNT_ID, a->account_id) ||
             carrot_av_set_opt_str(v, F_OPPORTUNITY_ID, a->opportunity_id) ||
             carrot_av_set_opt_str(v, F_OUTCOME, a->outcome) ||
             carrot_av_set_opt_str(v, F_DISPOSITION, a->disposition) ||
             carrot_av_set_opt_str(v, F_STAGE, a->stage) ||
             carrot_av_set_opt_long(v, F_AMOUNT_MINOR, a->has_amount, a->amount_minor) ||
             carrot_av_set_opt_str(v, F_CURRENCY, a->currency) ||
             carrot_av_set_opt_int(v, F_DURATION_SECONDS, a->has_duration, a->duration_seconds) ||
             carrot_av_set_int(v, F_TEXT_LENGTH, a->text_length);
    if (!rc) {
        avro_value_t map, elem;
        rc = avro_value_get_by_index(v, F_CUSTOM, &map, NULL);
        for (size_t i = 0; !rc && i < a->ncustom; i++) {
            rc = avro_value_add(&map, a->custom[i].key, &elem, NULL, NULL);
            if (!rc) rc = avro_value_set_string(&elem, a->custom[i].value);
        }
    }
    if (rc) snprintf(errstr, errstr_size, "could not build CrmActivity: %s", avro_strerror());
    return rc ? -1 : 0;
}

int carrot_activity_from_avro(avro_value_t *v, carrot_activity_t *a, char *errstr,
                              size_t errstr_size) {
    int change = 0;
    memset(a, 0, sizeof(*a));
    int rc = carrot_av_get_str(v, F_EVENT_ID, &a->event_id) ||
             carrot_av_get_str(v, F_PROGRAM_ID, &a->program_id) ||
             carrot_av_get_str(v, F_SOURCE_SYSTEM, &a->source_system) ||
             carrot_av_get_str(v, F_SOURCE_RECORD_ID, &a->source_record_id) ||
             carrot_av_get_enum(v, F_CHANGE_TYPE, &change) ||
             carrot_av_get_str(v, F_ACTIVITY_TYPE, &a->activity_type) ||
             carrot_av_get_long(v, F_OCCURRED_AT, &a->occurred_at) ||
             carrot_av_get_long(v, F_RECORDED_AT, &a->recorded_at) ||
             carrot_av_get_str(v, F_PARTICIPANT_ID, &a->participant_id) ||
             carrot_av_get_opt_str(v, F_SEGMENT, &a->segment) ||
             carrot_av_get_opt_str(v, F_TEAM_ID, &a->team_id) ||
             carrot_av_get_opt_str(v, F_REGION, &a->region) ||
             carrot_av_get_opt_int(v, F_TENURE_DAYS, &a->has_tenure_days, &a->tenure_days) ||
             carrot_av_get_opt_str(v, F_ACCOUNT_ID, &a->account_id) ||
             carrot_av_get_opt_str(v, F_OPPORTUNITY_ID, &a->opportunity_id) ||
             carrot_av_get_opt_str(v, F_OUTCOME, &a->outcome) ||
             carrot_av_get_opt_str(v, F_DISPOSITION, &a->disposition) ||
             carrot_av_get_opt_str(v, F_STAGE, &a->stage) ||
             carrot_av_get_opt_long(v, F_AMOUNT_MINOR, &a->has_amount, &a->amount_minor) ||
             carrot_av_get_opt_str(v, F_CURRENCY, &a->currency) ||
             carrot_av_get_opt_int(v, F_DURATION_SECONDS, &a->has_duration, &a->duration_seconds) ||
             carrot_av_get_int(v, F_TEXT_LENGTH, &a->text_length);
    a->change_type = (carrot_change_t)change;
    if (rc) {
        snprintf(errstr, errstr_size, "could not read CrmActivity: %s", avro_strerror());
        return -1;
    }
    avro_value_t map, elem;
    size_t n = 0;
    if (avro_value_get_by_index(v, F_CUSTOM, &map, NULL) || avro_value_get_size(&map, &n)) {
        snprintf(errstr, errstr_size, "could not read CrmActivity custom fields: %s",
                 avro_strerror());
        return -1;
    }
    if (n > CARROT_ACTIVITY_MAX_CUSTOM) {
        snprintf(errstr, errstr_size, "%zu custom fields, at most %d are allowed", n,
                 CARROT_ACTIVITY_MAX_CUSTOM);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t size;
        if (avro_value_get_by_index(&map, i, &elem, &a->custom[i].key) ||
            avro_value_get_string(&elem, &a->custom[i].value, &size)) {
            snprintf(errstr, errstr_size, "could not read custom field: %s", avro_strerror());
            return -1;
        }
    }
    a->ncustom = n;
    return 0;
}
