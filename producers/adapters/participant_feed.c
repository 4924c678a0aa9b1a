/* participant_feed.c: the participants feeds (JSON lines in the schema's
 * field names, and a Salesforce User export) to a checked participant. */
#include "carrot/participant_feed.h"

#include "carrot/timeutil.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD(name) offsetof(carrot_participant_t, name), sizeof(((carrot_participant_t *)0)->name)

/* The string fields of the JSON feed, by the schema's names. */
static const struct {
    const char *name;
    size_t off, size;
} strings[] = {{"participant_id", FIELD(participant_id)},
               {"program_id", FIELD(program_id)},
               {"display_name", FIELD(display_name)},
               {"segment", FIELD(segment)},
               {"team_id", FIELD(team_id)},
               {"region", FIELD(region)},
               {"supervisor_id", FIELD(supervisor_id)}};
#define NSTRINGS (sizeof(strings) / sizeof(strings[0]))

static const char *const other_fields[] = {"hired_at",         "level",      "active",
                                           "hide_from_screen", "updated_at", NULL};

static int known(const char *key) {
    for (size_t i = 0; i < NSTRINGS; i++)
        if (strcmp(key, strings[i].name) == 0) return 1;
    for (int i = 0; other_fields[i]; i++)
        if (strcmp(key, other_fields[i]) == 0) return 1;
    return 0;
}

static int set_field(carrot_participant_t *p, size_t off, size_t size, const char *name,
                     const char *s, char *errstr, size_t errstr_size) {
    return carrot_participant_set((char *)p + off, size, name, s, errstr, errstr_size);
}

/* A time from a JSON value (RFC 3339 or integer ms) or from text; 1 when
 * there is none, 0 when *msp is set, -1 with errstr. */
static int get_time(const char *name, json_t *v, const char *text, int64_t *msp, char *errstr,
                    size_t errstr_size) {
    if (v && json_is_integer(v)) {
        *msp = json_integer_value(v);
        return 0;
    }
    if (v && !json_is_null(v)) text = json_is_string(v) ? json_string_value(v) : "";
    if (!text) return 1;
    if (carrot_time_parse(text, msp) != 0) {
        snprintf(errstr, errstr_size,
                 "%s: not a timestamp (use RFC 3339 with a zone, or epoch milliseconds)", name);
        return -1;
    }
    return 0;
}

static int get_bool(const char *name, json_t *v, int *out, char *errstr, size_t errstr_size) {
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        snprintf(errstr, errstr_size, "%s: expected true or false", name);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* After the fields: the defaults, then the checks every producer applies. */
static int finish(carrot_participant_t *p, const char *program, int has_updated, int64_t now_ms,
                  char *errstr, size_t errstr_size) {
    if (!p->program_id[0] &&
        set_field(p, FIELD(program_id), "program_id", program, errstr, errstr_size))
        return -1;
    if (!has_updated) p->updated_at_ms = now_ms;
    return carrot_participant_validate(p, errstr, errstr_size);
}

int carrot_participant_from_json(json_t *obj, const char *program, int64_t now_ms,
                                 carrot_participant_t *p, char *errstr, size_t errstr_size) {
    carrot_participant_init(p);
    if (!json_is_object(obj)) {
        snprintf(errstr, errstr_size, "expected a JSON object");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (!known(key)) {
            snprintf(errstr, errstr_size, "unknown field \"%.64s\"", key);
            return -1;
        }
    }
    for (size_t i = 0; i < NSTRINGS; i++) {
        json_t *v = json_object_get(obj, strings[i].name);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v)) {
            snprintf(errstr, errstr_size, "%s: expected a string", strings[i].name);
            return -1;
        }
        if (set_field(p, strings[i].off, strings[i].size, strings[i].name, json_string_value(v),
                      errstr, errstr_size))
            return -1;
    }
    json_t *level = json_object_get(obj, "level");
    if (level && !json_is_null(level)) {
        if (!json_is_integer(level) || json_integer_value(level) < 0 ||
            json_integer_value(level) > 1000) {
            snprintf(errstr, errstr_size, "level: expected an integer from 0 to 1000");
            return -1;
        }
        p->level = (int)json_integer_value(level);
    }
    int64_t hired = 0;
    int rc = get_time("hired_at", json_object_get(obj, "hired_at"), NULL, &hired, errstr,
                      errstr_size);
    if (rc < 0) return -1;
    p->hired_at_ms = rc == 0 ? hired : 0;
    if (rc == 0 && hired == 0) {
        snprintf(errstr, errstr_size, "hired_at: 0 is not a start of tenure (leave it out)");
        return -1;
    }
    int updated = get_time("updated_at", json_object_get(obj, "updated_at"), NULL,
                           &p->updated_at_ms, errstr, errstr_size);
    if (updated < 0 ||
        get_bool("active", json_object_get(obj, "active"), &p->active, errstr, errstr_size) ||
        get_bool("hide_from_screen", json_object_get(obj, "hide_from_screen"), &p->hide_from_screen,
                 errstr, errstr_size))
        return -1;
    if (!p->participant_id[0]) {
        snprintf(errstr, errstr_size, "missing participant_id");
        return -1;
    }
    return finish(p, program, updated == 0, now_ms, errstr, errstr_size);
}

/* --- Salesforce User export ---------------------------------------------- */

static const char *col(json_t *row, const char *name) {
    const char *s = json_string_value(json_object_get(row, name));
    return s && *s ? s : NULL;
}

/* Salesforce writes a checkbox as true/false (API) or 1/0 (Data Loader). */
static int col_bool(json_t *row, const char *name, int *out, char *errstr, size_t errstr_size) {
    const char *s = col(row, name);
    if (!s) return 0;
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) *out = 1;
    else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else {
        snprintf(errstr, errstr_size, "%s: \"%.32s\" is not true or false", name, s);
        return -1;
    }
    return 0;
}

/* The segment of a user without a Segment__c column: a partner community
 * user works for a channel partner, a standard user for the company. */
static const char *segment_of(const char *user_type) {
    if (!user_type) return NULL;
    if (strcmp(user_type, "Standard") == 0) return "direct";
    if (strcmp(user_type, "PowerPartner") == 0 || strcmp(user_type, "Partner") == 0)
        return "dealer";
    return NULL;
}

int carrot_participant_from_salesforce_user(json_t *row, const char *program, int64_t now_ms,
                                            carrot_participant_t *p, char *errstr,
                                            size_t errstr_size) {
    carrot_participant_init(p);
    char name[520] = "";
    const char *full = col(row, "Name");
    if (!full && (col(row, "FirstName") || col(row, "LastName")))
        snprintf(name, sizeof(name), "%s%s%s", col(row, "FirstName") ? col(row, "FirstName") : "",
                 col(row, "FirstName") && col(row, "LastName") ? " " : "",
                 col(row, "LastName") ? col(row, "LastName") : "");
    const char *team = col(row, "Team__c") ? col(row, "Team__c") : col(row, "UserRoleId");
    const char *region = col(row, "Region__c") ? col(row, "Region__c") : col(row, "Division");
    const char *segment = col(row, "Segment__c") ? col(row, "Segment__c")
                                                 : segment_of(col(row, "UserType"));
    if (!col(row, "Id")) {
        snprintf(errstr, errstr_size, "Id: missing (the user's id is the participant id)");
        return -1;
    }
    if (set_field(p, FIELD(participant_id), "Id", col(row, "Id"), errstr, errstr_size) ||
        set_field(p, FIELD(display_name), full ? "Name" : "FirstName LastName", full ? full : name,
                  errstr, errstr_size) ||
        set_field(p, FIELD(supervisor_id), "ManagerId", col(row, "ManagerId"), errstr,
                  errstr_size) ||
        set_field(p, FIELD(team_id), col(row, "Team__c") ? "Team__c" : "UserRoleId", team, errstr,
                  errstr_size) ||
        set_field(p, FIELD(region), col(row, "Region__c") ? "Region__c" : "Division", region,
                  errstr, errstr_size) ||
        set_field(p, FIELD(segment), "Segment__c", segment, errstr, errstr_size) ||
        col_bool(row, "IsActive", &p->active, errstr, errstr_size) ||
        col_bool(row, "Hide_From_Screen__c", &p->hide_from_screen, errstr, errstr_size))
        return -1;
    const char *level = col(row, "Level__c");
    if (level) {
        char *end;
        errno = 0;
        long n = strtol(level, &end, 10);
        if (errno || *end || n < 0 || n > 1000) {
            snprintf(errstr, errstr_size, "Level__c: \"%.32s\" is not an integer from 0 to 1000",
                     level);
            return -1;
        }
        p->level = (int)n;
    }
    int rc = get_time("Hire_Date__c", NULL, col(row, "Hire_Date__c"), &p->hired_at_ms, errstr,
                      errstr_size);
    if (rc < 0) return -1;
    int updated = get_time("LastModifiedDate", NULL, col(row, "LastModifiedDate"),
                           &p->updated_at_ms, errstr, errstr_size);
    if (updated < 0) return -1;
    return finish(p, program, updated == 0, now_ms, errstr, errstr_size);
}
