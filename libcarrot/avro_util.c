/* avro_util.c: field accessors by index; every function returns 0 or the
 * avro-c error code. */
#include "avro_util.h"

#include <stdio.h>
#include <string.h>

#define FIELD(rec, idx, f)                                                 \
    avro_value_t f;                                                        \
    do {                                                                   \
        int rc_ = avro_value_get_by_index((rec), (size_t)(idx), &f, NULL); \
        if (rc_) return rc_;                                               \
    } while (0)

int carrot_av_set_str(avro_value_t *rec, int idx, const char *s) {
    FIELD(rec, idx, f);
    return avro_value_set_string_len(&f, s, strlen(s) + 1);
}

int carrot_av_set_opt_str(avro_value_t *rec, int idx, const char *s) {
    FIELD(rec, idx, f);
    avro_value_t branch;
    int rc = avro_value_set_branch(&f, s ? 1 : 0, &branch);
    if (rc) return rc;
    return s ? avro_value_set_string_len(&branch, s, strlen(s) + 1) : avro_value_set_null(&branch);
}

int carrot_av_set_long(avro_value_t *rec, int idx, int64_t v) {
    FIELD(rec, idx, f);
    return avro_value_set_long(&f, v);
}

int carrot_av_set_int(avro_value_t *rec, int idx, int32_t v) {
    FIELD(rec, idx, f);
    return avro_value_set_int(&f, v);
}

int carrot_av_set_opt_long(avro_value_t *rec, int idx, int has, int64_t v) {
    FIELD(rec, idx, f);
    avro_value_t branch;
    int rc = avro_value_set_branch(&f, has ? 1 : 0, &branch);
    if (rc) return rc;
    return has ? avro_value_set_long(&branch, v) : avro_value_set_null(&branch);
}

int carrot_av_set_opt_int(avro_value_t *rec, int idx, int has, int32_t v) {
    FIELD(rec, idx, f);
    avro_value_t branch;
    int rc = avro_value_set_branch(&f, has ? 1 : 0, &branch);
    if (rc) return rc;
    return has ? avro_value_set_int(&branch, v) : avro_value_set_null(&branch);
}

int carrot_av_set_enum(avro_value_t *rec, int idx, int v) {
    FIELD(rec, idx, f);
    return avro_value_set_enum(&f, v);
}

int carrot_av_get_str(avro_value_t *rec, int idx, const char **sp) {
    FIELD(rec, idx, f);
    size_t size;
    return avro_value_get_string(&f, sp, &size);
}

/* Reads the branch of an optional field; *isnull says whether it is null. */
static int opt_branch(avro_value_t *rec, int idx, avro_value_t *branch, int *isnull) {
    FIELD(rec, idx, f);
    int disc;
    int rc = avro_value_get_discriminant(&f, &disc);
    if (rc) return rc;
    *isnull = disc == 0;
    return *isnull ? 0 : avro_value_get_current_branch(&f, branch);
}

int carrot_av_get_opt_str(avro_value_t *rec, int idx, const char **sp) {
    avro_value_t b;
    int isnull, rc = opt_branch(rec, idx, &b, &isnull);
    size_t size;
    *sp = NULL;
    if (rc || isnull) return rc;
    return avro_value_get_string(&b, sp, &size);
}

int carrot_av_get_long(avro_value_t *rec, int idx, int64_t *vp) {
    FIELD(rec, idx, f);
    return avro_value_get_long(&f, vp);
}

int carrot_av_get_int(avro_value_t *rec, int idx, int32_t *vp) {
    FIELD(rec, idx, f);
    return avro_value_get_int(&f, vp);
}

int carrot_av_get_opt_long(avro_value_t *rec, int idx, int *hasp, int64_t *vp) {
    avro_value_t b;
    int isnull, rc = opt_branch(rec, idx, &b, &isnull);
    *hasp = 0;
    if (rc || isnull) return rc;
    *hasp = 1;
    return avro_value_get_long(&b, vp);
}

int carrot_av_get_opt_int(avro_value_t *rec, int idx, int *hasp, int32_t *vp) {
    avro_value_t b;
    int isnull, rc = opt_branch(rec, idx, &b, &isnull);
    *hasp = 0;
    if (rc || isnull) return rc;
    *hasp = 1;
    return avro_value_get_int(&b, vp);
}

int carrot_av_get_enum(avro_value_t *rec, int idx, int *vp) {
    FIELD(rec, idx, f);
    return avro_value_get_enum(&f, vp);
}

int carrot_av_set_bool(avro_value_t *rec, int idx, int v) {
    FIELD(rec, idx, f);
    return avro_value_set_boolean(&f, v != 0);
}

int carrot_av_get_bool(avro_value_t *rec, int idx, int *vp) {
    FIELD(rec, idx, f);
    return avro_value_get_boolean(&f, vp);
}

static int check_fields(avro_schema_t schema, const char *const *names, int n, char *errstr,
                        size_t errstr_size) {
    if ((int)avro_schema_record_size(schema) != n) {
        snprintf(errstr, errstr_size, "schema has %zu fields, code expects %d",
                 avro_schema_record_size(schema), n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(schema, i);
        if (!name || strcmp(name, names[i]) != 0) {
            snprintf(errstr, errstr_size, "schema field %d is \"%s\", code expects \"%s\"", i,
                     name ? name : "?", names[i]);
            return -1;
        }
    }
    return 0;
}

carrot_codec_t *carrot_av_codec_new(const char *schema_json, const char *const *names, int n,
                                    char *errstr, size_t errstr_size) {
    carrot_codec_t *codec = carrot_codec_new(schema_json, errstr, errstr_size);
    if (codec && check_fields(carrot_codec_schema(codec), names, n, errstr, errstr_size) != 0) {
        carrot_codec_destroy(codec);
        return NULL;
    }
    return codec;
}
