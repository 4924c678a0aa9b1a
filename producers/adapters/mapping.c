/* mapping.c: a mapping file is kept as its parsed JSON; applying it walks
 * dotted paths in the source record. */
#include "carrot/mapping.h"

#include "adapter_util.h"
#include "carrot/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct carrot_mapping_s {
    json_t *root, *fields, *values, *constants, *custom;
};

static const char *const carrot_fields[] = {"event_id",         "program_id",  "source_system",
                                            "source_record_id", "change_type", "activity_type",
                                            "occurred_at",      "recorded_at", "participant_id",
                                            "segment",          "team_id",     "region",
                                            "tenure_days",      "account_id",  "opportunity_id",
                                            "outcome",          "disposition", "stage",
                                            "amount_minor",     "currency",    "duration_seconds",
                                            "text_length",      NULL};

static int known(const char *f) {
    for (int i = 0; carrot_fields[i]; i++)
        if (strcmp(f, carrot_fields[i]) == 0) return 1;
    return 0;
}

void carrot_mapping_destroy(carrot_mapping_t *m) {
    if (!m) return;
    json_decref(m->root);
    free(m);
}

/* Checks that section is an object whose keys are Carrot fields and whose
 * values pass check (a JSON type test). */
static int check_section(json_t *section, const char *name, const char *origin,
                         int (*check)(const json_t *), const char *want, int carrot_keys,
                         char *errstr, size_t errstr_size) {
    if (!section) return 0;
    if (!json_is_object(section)) {
        snprintf(errstr, errstr_size, "%s: \"%s\" must be an object", origin, name);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(section, k, v) {
        if (carrot_keys && !known(k)) {
            snprintf(errstr, errstr_size, "%s: %s: \"%s\" is not a Carrot activity field", origin,
                     name, k);
            return -1;
        }
        if (!check(v)) {
            snprintf(errstr, errstr_size, "%s: %s.%s: expected %s", origin, name, k, want);
            return -1;
        }
    }
    return 0;
}

static int is_string(const json_t *v) { return json_is_string(v); }
static int is_object_of_strings(const json_t *v) {
    if (!json_is_object(v)) return 0;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) if (!json_is_string(x)) return 0;
    return 1;
}
static int is_scalar(const json_t *v) { return json_is_string(v) || json_is_integer(v); }

carrot_mapping_t *carrot_mapping_parse(const char *text, size_t len, const char *origin,
                                       char *errstr, size_t errstr_size) {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "%s:%d: %s", origin, jerr.line, jerr.text);
        return NULL;
    }
    carrot_mapping_t *m = calloc(1, sizeof(*m));
    if (!m) {
        json_decref(root);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    m->root = root;
    const char *k;
    json_t *v;
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "%s: a mapping is a JSON object", origin);
        goto fail;
    }
    json_object_foreach(root, k, v) {
        if (strcmp(k, "fields") && strcmp(k, "values") && strcmp(k, "constants") &&
            strcmp(k, "custom")) {
            snprintf(errstr, errstr_size,
                     "%s: unknown section \"%s\" (fields, values, constants, custom)", origin, k);
            goto fail;
        }
    }
    m->fields = json_object_get(root, "fields");
    m->values = json_object_get(root, "values");
    m->constants = json_object_get(root, "constants");
    m->custom = json_object_get(root, "custom");
    if (check_section(m->fields, "fields", origin, is_string, "a source path", 1, errstr,
                      errstr_size) ||
        check_section(m->values, "values", origin, is_object_of_strings,
                      "an object of source value to Carrot value", 1, errstr, errstr_size) ||
        check_section(m->constants, "constants", origin, is_scalar, "a string or integer", 1,
                      errstr, errstr_size) ||
        check_section(m->custom, "custom", origin, is_string, "a source path", 0, errstr,
                      errstr_size))
        goto fail;
    return m;
fail:
    carrot_mapping_destroy(m);
    return NULL;
}

carrot_mapping_t *carrot_mapping_load(const char *path, char *errstr, size_t errstr_size) {
    size_t len;
    char *text = carrot_read_file(path, "mapping file", &len, errstr, errstr_size);
    if (!text) return NULL;
    carrot_mapping_t *m = carrot_mapping_parse(text, len, path, errstr, errstr_size);
    free(text);
    return m;
}

/* record["a"]["b"]... for path "a.b"; NULL when absent. */
static json_t *lookup(json_t *record, const char *path) {
    char key[256];
    json_t *cur = record;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(key)) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

int carrot_mapping_apply(const carrot_mapping_t *m, json_t *record, json_t *out, char *errstr,
                         size_t errstr_size) {
    if (!json_is_object(record)) {
        snprintf(errstr, errstr_size, "expected a JSON object");
        return -1;
    }
    json_t *g = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(m->constants, k, v) json_object_set(g, k, v);
    json_object_foreach(m->fields, k, v) {
        json_t *src = lookup(record, json_string_value(v));
        if (!src || json_is_null(src)) continue;
        json_t *table = m->values ? json_object_get(m->values, k) : NULL;
        json_t *translated = json_is_string(src) && table
                                 ? json_object_get(table, json_string_value(src))
                                 : NULL;
        json_object_set(g, k, translated ? translated : src);
    }
    if (m->custom && json_object_size(m->custom)) {
        json_t *custom = json_object();
        json_object_foreach(m->custom, k, v) {
            char buf[64];
            json_t *src = lookup(record, json_string_value(v));
            const char *text = json_is_string(src) ? json_string_value(src) : NULL;
            if (!text && src && (json_is_number(src) || json_is_boolean(src))) {
                json_t *wrap = json_pack("{sO}", "v", src);
                text = carrot_jtext(wrap, "v", buf, sizeof(buf));
                if (text) carrot_jset(custom, k, text);
                json_decref(wrap);
                continue;
            }
            carrot_jset(custom, k, text);
        }
        json_object_set_new(g, "custom", custom);
    }
    json_array_append_new(out, g);
    return 0;
}
