/* resolve.c: writer value -> reader value, per the Avro specification's
 * schema resolution rules (see resolve.h for what is covered). The reader
 * schema's JSON is walked alongside its avro-c schema to find defaults. */
#include "resolve.h"

#include <stdio.h>
#include <string.h>

static avro_schema_t deref(avro_schema_t s) {
    while (avro_typeof(s) == AVRO_LINK) s = avro_schema_link_target(s);
    return s;
}

/* The JSON of a field's type: {"type": X} wrappers are not used in field
 * positions by our schemas, but a named type given by name has no JSON of
 * its own here (NULL), which is fine unless it holds defaults we need. */
static json_t *field_type_json(json_t *record_json, const char *field) {
    json_t *fields = json_object_get(record_json, "fields"), *f;
    size_t i;
    json_array_foreach(fields, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (name && strcmp(name, field) == 0) return f;
    }
    return NULL;
}

static int is_numeric(avro_type_t t) {
    return t == AVRO_INT32 || t == AVRO_INT64 || t == AVRO_FLOAT || t == AVRO_DOUBLE;
}

/* Can a writer value of type w be read as reader type r? */
static int promotable(avro_type_t w, avro_type_t r) {
    if (w == r) return 1;
    if (w == AVRO_INT32) return r == AVRO_INT64 || r == AVRO_FLOAT || r == AVRO_DOUBLE;
    if (w == AVRO_INT64) return r == AVRO_FLOAT || r == AVRO_DOUBLE;
    if (w == AVRO_FLOAT) return r == AVRO_DOUBLE;
    return (w == AVRO_STRING && r == AVRO_BYTES) || (w == AVRO_BYTES && r == AVRO_STRING);
}

static int check(avro_schema_t w, avro_schema_t r, json_t *rj, char *errstr, size_t errstr_size,
                 int depth);

/* Index of the first reader union branch that a writer type can go to, or -1. */
static int union_branch_for(avro_schema_t ru, avro_schema_t w, char *errstr, size_t errstr_size,
                            int depth) {
    w = deref(w);
    for (size_t i = 0; i < avro_schema_union_size(ru); i++) {
        avro_schema_t b = deref(avro_schema_union_branch(ru, (int)i));
        if (avro_typeof(b) != avro_typeof(w)) continue;
        if (avro_typeof(w) == AVRO_RECORD || avro_typeof(w) == AVRO_ENUM ||
            avro_typeof(w) == AVRO_FIXED) {
            if (strcmp(avro_schema_name(w), avro_schema_name(b)) != 0) continue;
            if (check(w, b, NULL, errstr, errstr_size, depth + 1) != 0) continue;
        }
        return (int)i;
    }
    for (size_t i = 0; i < avro_schema_union_size(ru); i++)
        if (promotable(avro_typeof(w), avro_typeof(deref(avro_schema_union_branch(ru, (int)i)))))
            return (int)i;
    return -1;
}

static int check(avro_schema_t w, avro_schema_t r, json_t *rj, char *errstr, size_t errstr_size,
                 int depth) {
    w = deref(w);
    r = deref(r);
    if (depth > 32) {
        snprintf(errstr, errstr_size, "schema nested too deeply");
        return -1;
    }
    avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
    if (wt == AVRO_UNION) {
        /* every writer branch must resolve */
        for (size_t i = 0; i < avro_schema_union_size(w); i++)
            if (check(avro_schema_union_branch(w, (int)i), r, rj, errstr, errstr_size, depth + 1))
                return -1;
        return 0;
    }
    if (rt == AVRO_UNION) {
        if (union_branch_for(r, w, errstr, errstr_size, depth) < 0) {
            snprintf(errstr, errstr_size, "writer type %s matches no branch of the reader's union",
                     avro_schema_type_name(w));
            return -1;
        }
        return 0;
    }
    if (wt != rt && !promotable(wt, rt)) {
        snprintf(errstr, errstr_size, "writer type %s cannot be read as %s",
                 avro_schema_type_name(w), avro_schema_type_name(r));
        return -1;
    }
    if (rt == AVRO_RECORD) {
        json_t *type_json = rj && json_is_object(json_object_get(rj, "type"))
                                ? json_object_get(rj, "type")
                                : rj;
        for (size_t i = 0; i < avro_schema_record_size(r); i++) {
            const char *name = avro_schema_record_field_name(r, (int)i);
            avro_schema_t rf = avro_schema_record_field_get_by_index(r, (int)i);
            /* not avro_schema_record_field_get(): it reads garbage for a missing name */
            int widx = avro_schema_record_field_get_index(w, name);
            avro_schema_t wf = widx < 0 ? NULL : avro_schema_record_field_get_by_index(w, widx);
            json_t *fj = type_json ? field_type_json(type_json, name) : NULL;
            if (!wf) {
                if (!fj || !json_object_get(fj, "default")) {
                    snprintf(errstr, errstr_size,
                             "reader field \"%s\" is not in the writer schema and has no default",
                             name);
                    return -1;
                }
                continue;
            }
            if (check(wf, rf, fj, errstr, errstr_size, depth + 1)) return -1;
        }
    }
    if (rt == AVRO_ARRAY)
        return check(avro_schema_array_items(w), avro_schema_array_items(r), NULL, errstr,
                     errstr_size, depth + 1);
    if (rt == AVRO_MAP)
        return check(avro_schema_map_values(w), avro_schema_map_values(r), NULL, errstr,
                     errstr_size, depth + 1);
    if (rt == AVRO_FIXED && avro_schema_fixed_size(w) != avro_schema_fixed_size(r)) {
        snprintf(errstr, errstr_size, "fixed sizes differ");
        return -1;
    }
    return 0;
}

int carrot_resolve_check(avro_schema_t writer, avro_schema_t reader, json_t *reader_json,
                         char *errstr, size_t errstr_size) {
    return check(writer, reader, reader_json, errstr, errstr_size, 0);
}

/* Sets dst (of schema rs) from a JSON default. */
static int set_default(avro_value_t *dst, avro_schema_t rs, json_t *def, char *errstr,
                       size_t errstr_size) {
    rs = deref(rs);
    int rc = 0;
    switch (avro_typeof(rs)) {
    case AVRO_NULL: rc = avro_value_set_null(dst); break;
    case AVRO_BOOLEAN: rc = avro_value_set_boolean(dst, json_is_true(def)); break;
    case AVRO_INT32: rc = avro_value_set_int(dst, (int32_t)json_integer_value(def)); break;
    case AVRO_INT64: rc = avro_value_set_long(dst, json_integer_value(def)); break;
    case AVRO_FLOAT: rc = avro_value_set_float(dst, (float)json_number_value(def)); break;
    case AVRO_DOUBLE: rc = avro_value_set_double(dst, json_number_value(def)); break;
    case AVRO_STRING:
        rc = json_is_string(def) ? avro_value_set_string(dst, json_string_value(def)) : EINVAL;
        break;
    case AVRO_BYTES:
        rc = json_is_string(def) ? avro_value_set_bytes(dst, (void *)json_string_value(def),
                                                        json_string_length(def))
                                 : EINVAL;
        break;
    case AVRO_ENUM: {
        int idx = json_is_string(def) ? avro_schema_enum_get_by_name(rs, json_string_value(def))
                                      : -1;
        rc = idx < 0 ? EINVAL : avro_value_set_enum(dst, idx);
        break;
    }
    case AVRO_UNION: { /* a union's default is of its first branch */
        avro_value_t branch;
        rc = avro_value_set_branch(dst, 0, &branch);
        if (!rc)
            return set_default(&branch, avro_schema_union_branch(rs, 0), def, errstr, errstr_size);
        break;
    }
    case AVRO_MAP:
    case AVRO_ARRAY:
        /* only empty defaults ({} or []) are supported: a reset value is empty */
        rc = json_is_object(def) ? (json_object_size(def) ? EINVAL : 0)
                                 : (json_is_array(def) && json_array_size(def) == 0 ? 0 : EINVAL);
        break;
    default: rc = EINVAL;
    }
    if (rc)
        snprintf(errstr, errstr_size, "unsupported default for a %s field",
                 avro_schema_type_name(rs));
    return rc ? -1 : 0;
}

static int copy(avro_value_t *dst, avro_value_t *src, json_t *rj, char *errstr, size_t errstr_size,
                int depth);

static int copy_record(avro_value_t *dst, avro_value_t *src, json_t *rj, char *errstr,
                       size_t errstr_size, int depth) {
    avro_schema_t rs = avro_value_get_schema(dst);
    json_t *type_json = rj && json_is_object(json_object_get(rj, "type"))
                            ? json_object_get(rj, "type")
                            : rj;
    for (size_t i = 0; i < avro_schema_record_size(rs); i++) {
        const char *name = avro_schema_record_field_name(rs, (int)i);
        avro_value_t df, sf;
        json_t *fj = type_json ? field_type_json(type_json, name) : NULL;
        if (avro_value_get_by_index(dst, i, &df, NULL)) goto fail;
        if (avro_value_get_by_name(src, name, &sf, NULL) == 0) {
            if (copy(&df, &sf, fj, errstr, errstr_size, depth + 1)) return -1;
        } else if (set_default(&df, avro_schema_record_field_get_by_index(rs, (int)i),
                               fj ? json_object_get(fj, "default") : NULL, errstr, errstr_size))
            return -1;
    }
    return 0;
fail:
    snprintf(errstr, errstr_size, "could not resolve record: %s", avro_strerror());
    return -1;
}

static int copy(avro_value_t *dst, avro_value_t *src, json_t *rj, char *errstr, size_t errstr_size,
                int depth) {
    avro_type_t wt = avro_value_get_type(src), rt = avro_value_get_type(dst);
    int rc = 0;
    if (depth > 64) {
        snprintf(errstr, errstr_size, "value nested too deeply");
        return -1;
    }
    if (wt == AVRO_UNION) {
        avro_value_t b;
        if (avro_value_get_current_branch(src, &b)) goto fail;
        return copy(dst, &b, rj, errstr, errstr_size, depth + 1);
    }
    if (rt == AVRO_UNION) {
        int idx = union_branch_for(avro_value_get_schema(dst), avro_value_get_schema(src), errstr,
                                   errstr_size, depth);
        avro_value_t b;
        if (idx < 0) {
            snprintf(errstr, errstr_size, "writer %s value matches no branch of the reader's union",
                     avro_schema_type_name(avro_value_get_schema(src)));
            return -1;
        }
        if (avro_value_set_branch(dst, idx, &b)) goto fail;
        return copy(&b, src, NULL, errstr, errstr_size, depth + 1);
    }
    if (is_numeric(wt) && is_numeric(rt) && wt != rt) {
        int32_t i32 = 0;
        int64_t i64 = 0;
        float f = 0;
        double d = 0;
        switch (wt) {
        case AVRO_INT32:
            rc = avro_value_get_int(src, &i32);
            i64 = i32;
            d = i32;
            break;
        case AVRO_INT64:
            rc = avro_value_get_long(src, &i64);
            d = (double)i64;
            break;
        case AVRO_FLOAT:
            rc = avro_value_get_float(src, &f);
            i64 = 0;
            d = f;
            break;
        default:
            rc = avro_value_get_double(src, &d);
            i64 = 0;
            break;
        }
        if (!rc) {
            if (rt == AVRO_INT64) rc = avro_value_set_long(dst, i64);
            else if (rt == AVRO_FLOAT)
                rc = avro_value_set_float(dst, (float)d);
            else
                rc = avro_value_set_double(dst, d);
        }
        if (rc) goto fail;
        return 0;
    }
    switch (rt) {
    case AVRO_RECORD: return copy_record(dst, src, rj, errstr, errstr_size, depth);
    case AVRO_ENUM: {
        int idx;
        if (avro_value_get_enum(src, &idx)) goto fail;
        const char *sym = avro_schema_enum_get(avro_value_get_schema(src), idx);
        int ridx = sym ? avro_schema_enum_get_by_name(avro_value_get_schema(dst), sym) : -1;
        json_t *def = rj ? json_object_get(json_object_get(rj, "type"), "default") : NULL;
        if (ridx < 0 && json_is_string(def)) /* the enum's own default symbol */
            ridx = avro_schema_enum_get_by_name(avro_value_get_schema(dst), json_string_value(def));
        if (ridx < 0) {
            snprintf(errstr, errstr_size, "enum symbol \"%s\" is unknown to the reader",
                     sym ? sym : "?");
            return -1;
        }
        return avro_value_set_enum(dst, ridx) ? -1 : 0;
    }
    case AVRO_STRING:
    case AVRO_BYTES: {
        const void *p = NULL;
        size_t n = 0;
        if (wt == AVRO_STRING) {
            const char *s = NULL;
            rc = avro_value_get_string(src, &s, &n);
            p = s;
            if (!rc && rt == AVRO_BYTES && n > 0) n--; /* drop the NUL */
        } else {
            rc = avro_value_get_bytes(src, &p, &n);
        }
        if (rc) goto fail;
        if (rt == AVRO_STRING) {
            if (wt == AVRO_STRING) rc = avro_value_set_string_len(dst, p, n);
            else {
                char *tmp = malloc(n + 1);
                if (!tmp) goto fail;
                memcpy(tmp, p, n);
                tmp[n] = '\0';
                rc = avro_value_set_string_len(dst, tmp, n + 1);
                free(tmp);
            }
        } else
            rc = avro_value_set_bytes(dst, (void *)p, n);
        if (rc) goto fail;
        return 0;
    }
    case AVRO_ARRAY: {
        size_t n;
        if (avro_value_get_size(src, &n)) goto fail;
        for (size_t i = 0; i < n; i++) {
            avro_value_t se, de;
            if (avro_value_get_by_index(src, i, &se, NULL) || avro_value_append(dst, &de, NULL))
                goto fail;
            if (copy(&de, &se, NULL, errstr, errstr_size, depth + 1)) return -1;
        }
        return 0;
    }
    case AVRO_MAP: {
        size_t n;
        if (avro_value_get_size(src, &n)) goto fail;
        for (size_t i = 0; i < n; i++) {
            avro_value_t se, de;
            const char *key;
            if (avro_value_get_by_index(src, i, &se, &key) ||
                avro_value_add(dst, key, &de, NULL, NULL))
                goto fail;
            if (copy(&de, &se, NULL, errstr, errstr_size, depth + 1)) return -1;
        }
        return 0;
    }
    default:
        /* same primitive or fixed type */
        if (avro_value_copy_fast(dst, src)) goto fail;
        return 0;
    }
fail:
    snprintf(errstr, errstr_size, "could not resolve value: %s", avro_strerror());
    return -1;
}

int carrot_resolve_copy(avro_value_t *dst, avro_value_t *src, json_t *reader_json, char *errstr,
                        size_t errstr_size) {
    return copy(dst, src, reader_json, errstr, errstr_size, 0);
}
