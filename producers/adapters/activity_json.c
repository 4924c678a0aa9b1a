/* activity_json.c: the generic JSON-lines feed to CrmActivity. */
#include "carrot/activity_json.h"

#include "carrot/timeutil.h"

#include <stdio.h>
#include <string.h>

static int get_str(json_t *obj, const char *name, const char **out, char *errstr,
                   size_t errstr_size) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        snprintf(errstr, errstr_size, "%s: expected a string", name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_time(json_t *obj, const char *name, int64_t *out, int *has, char *errstr,
                    size_t errstr_size) {
    json_t *v = json_object_get(obj, name);
    *has = 0;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) *out = json_integer_value(v);
    else if (!json_is_string(v) || carrot_time_parse(json_string_value(v), out) != 0) {
        snprintf(errstr, errstr_size,
                 "%s: not a timestamp (use RFC 3339 with a zone, or epoch milliseconds)", name);
        return -1;
    }
    *has = 1;
    return 0;
}

static int get_int(json_t *obj, const char *name, int64_t lo, int64_t hi, int64_t *out, int *has,
                   char *errstr, size_t errstr_size) {
    json_t *v = json_object_get(obj, name);
    *has = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(errstr, errstr_size, "%s: expected an integer from %lld to %lld", name,
                 (long long)lo, (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    *has = 1;
    return 0;
}

static const char *const known_fields[] = {
    "event_id",         "program_id",    "source_system",  "source_record_id",
    "change_type",      "activity_type", "occurred_at",    "recorded_at",
    "participant_id",   "segment",       "team_id",        "region",
    "tenure_days",      "account_id",    "opportunity_id", "outcome",
    "disposition",      "stage",         "amount_minor",   "currency",
    "duration_seconds", "text_length",   "custom",         NULL};

int carrot_activity_from_json(json_t *obj, const carrot_activity_json_defaults_t *defaults,
                              carrot_activity_t *a, char *errstr, size_t errstr_size) {
    memset(a, 0, sizeof(*a));
    if (!json_is_object(obj)) {
        snprintf(errstr, errstr_size, "expected a JSON object");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        int known = 0;
        for (int i = 0; known_fields[i] && !known; i++) known = strcmp(key, known_fields[i]) == 0;
        if (!known) {
            snprintf(errstr, errstr_size,
                     "unknown field \"%.64s\" (put extra data under \"custom\")", key);
            return -1;
        }
    }
    const char *change = NULL;
    int64_t n = 0;
    int has = 0, has_recorded = 0, has_occurred = 0;
    if (get_str(obj, "event_id", &a->event_id, errstr, errstr_size) ||
        get_str(obj, "program_id", &a->program_id, errstr, errstr_size) ||
        get_str(obj, "source_system", &a->source_system, errstr, errstr_size) ||
        get_str(obj, "source_record_id", &a->source_record_id, errstr, errstr_size) ||
        get_str(obj, "change_type", &change, errstr, errstr_size) ||
        get_str(obj, "activity_type", &a->activity_type, errstr, errstr_size) ||
        get_str(obj, "participant_id", &a->participant_id, errstr, errstr_size) ||
        get_str(obj, "segment", &a->segment, errstr, errstr_size) ||
        get_str(obj, "team_id", &a->team_id, errstr, errstr_size) ||
        get_str(obj, "region", &a->region, errstr, errstr_size) ||
        get_str(obj, "account_id", &a->account_id, errstr, errstr_size) ||
        get_str(obj, "opportunity_id", &a->opportunity_id, errstr, errstr_size) ||
        get_str(obj, "outcome", &a->outcome, errstr, errstr_size) ||
        get_str(obj, "disposition", &a->disposition, errstr, errstr_size) ||
        get_str(obj, "stage", &a->stage, errstr, errstr_size) ||
        get_str(obj, "currency", &a->currency, errstr, errstr_size) ||
        get_time(obj, "occurred_at", &a->occurred_at, &has_occurred, errstr, errstr_size) ||
        get_time(obj, "recorded_at", &a->recorded_at, &has_recorded, errstr, errstr_size))
        return -1;
    if (get_int(obj, "tenure_days", 0, INT32_MAX, &n, &has, errstr, errstr_size)) return -1;
    a->has_tenure_days = has;
    a->tenure_days = (int32_t)n;
    if (get_int(obj, "amount_minor", INT64_MIN, INT64_MAX, &a->amount_minor, &a->has_amount, errstr,
                errstr_size))
        return -1;
    if (get_int(obj, "duration_seconds", 0, INT32_MAX, &n, &has, errstr, errstr_size)) return -1;
    a->has_duration = has;
    a->duration_seconds = (int32_t)n;
    if (get_int(obj, "text_length", 0, INT32_MAX, &n, &has, errstr, errstr_size)) return -1;
    a->text_length = (int32_t)n;

    json_t *custom = json_object_get(obj, "custom");
    if (custom && !json_is_null(custom)) {
        if (!json_is_object(custom)) {
            snprintf(errstr, errstr_size, "custom: expected an object of strings");
            return -1;
        }
        json_object_foreach(custom, key, val) {
            if (!json_is_string(val)) {
                snprintf(errstr, errstr_size, "custom.%.64s: expected a string", key);
                return -1;
            }
            if (a->ncustom == CARROT_ACTIVITY_MAX_CUSTOM) {
                snprintf(errstr, errstr_size, "custom: more than %d fields",
                         CARROT_ACTIVITY_MAX_CUSTOM);
                return -1;
            }
            a->custom[a->ncustom].key = key;
            a->custom[a->ncustom++].value = json_string_value(val);
        }
    }
    if (!has_occurred) {
        snprintf(errstr, errstr_size, "missing occurred_at");
        return -1;
    }
    if (!has_recorded) a->recorded_at = a->occurred_at;
    if (!a->program_id) a->program_id = defaults->program_id;
    if (!a->source_system) a->source_system = defaults->source_system;
    if (!a->source_record_id) a->source_record_id = a->event_id;
    if (!a->participant_id) a->participant_id = ""; /* validation says whether that will do */
    if (!a->activity_type) a->activity_type = "";
    if (change) {
        int c = carrot_change_parse(change);
        if (c < 0) {
            snprintf(errstr, errstr_size,
                     "change_type: \"%.32s\" is not CREATE, UPDATE, DELETE or UNDELETE", change);
            return -1;
        }
        a->change_type = (carrot_change_t)c;
    }
    return carrot_activity_validate(a, errstr, errstr_size);
}
