/* rules.c: the points table. */
#include "rules.h"

#include "file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct carrot_rules_s {
    char *program, *version;
    int64_t points[32]; /* indexed like carrot_activity_types[] */
    int listed[32];
};

static int type_index(const char *type) {
    for (int i = 0; carrot_activity_types[i]; i++)
        if (strcmp(type, carrot_activity_types[i]) == 0) return i;
    return -1;
}

carrot_rules_t *carrot_rules_parse(const char *text, size_t len, const char *origin,
                                   char *errstr, size_t errstr_size) {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "%s:%d: %s", origin, jerr.line, jerr.text);
        return NULL;
    }
    carrot_rules_t *r = calloc(1, sizeof(*r));
    const char *program = json_string_value(json_object_get(root, "program"));
    const char *version = json_string_value(json_object_get(root, "version"));
    json_t *points = json_object_get(root, "points");
    if (!r) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (!program || !*program || !version || !*version) {
        snprintf(errstr, errstr_size, "%s: \"program\" and \"version\" must be non-empty strings",
                 origin);
        goto fail;
    }
    if (!json_is_object(points)) {
        snprintf(errstr, errstr_size, "%s: \"points\" must be an object of activity type to points",
                 origin);
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(points, key, val) {
        int idx = type_index(key);
        if (idx < 0) {
            snprintf(errstr, errstr_size, "%s: points: unknown activity type \"%s\"", origin, key);
            goto fail;
        }
        if (!json_is_integer(val) || json_integer_value(val) < -1000000 ||
            json_integer_value(val) > 1000000) {
            snprintf(errstr, errstr_size,
                     "%s: points.%s: expected an integer from -1000000 to 1000000", origin, key);
            goto fail;
        }
        r->points[idx] = json_integer_value(val);
        r->listed[idx] = 1;
    }
    r->program = strdup(program);
    r->version = strdup(version);
    if (!r->program || !r->version) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    json_decref(root);
    return r;
fail:
    json_decref(root);
    carrot_rules_destroy(r);
    return NULL;
}

carrot_rules_t *carrot_rules_load(const char *path, char *errstr, size_t errstr_size) {
    size_t len;
    char *text = carrot_read_file(path, "rules file", &len, errstr, errstr_size);
    if (!text) return NULL;
    carrot_rules_t *r = carrot_rules_parse(text, len, path, errstr, errstr_size);
    free(text);
    return r;
}

void carrot_rules_destroy(carrot_rules_t *r) {
    if (!r) return;
    free(r->program);
    free(r->version);
    free(r);
}

const char *carrot_rules_program(const carrot_rules_t *r) { return r->program; }
const char *carrot_rules_version(const carrot_rules_t *r) { return r->version; }

int carrot_rules_score(const carrot_rules_t *r, const carrot_activity_t *a,
                       carrot_score_t out[CARROT_RULES_MAX_SCORES]) {
    int idx = type_index(a->activity_type);
    if (a->change_type != CARROT_CHANGE_CREATE || idx < 0 || !r->listed[idx] || r->points[idx] == 0)
        return 0;
    snprintf(out[0].rule_id, sizeof(out[0].rule_id), "base.%s", a->activity_type);
    out[0].points = r->points[idx];
    return 1;
}
