/* avro_util.h: small helpers for reading and writing record fields by
 * index with avro-c's value API. Internal to libcarrot.
 * Strings read are borrowed from the value and live as long as it does. */
#ifndef CARROT_AVRO_UTIL_H
#define CARROT_AVRO_UTIL_H

#include "carrot/codec.h"

#include <avro.h>
#include <stdint.h>

/* Optional fields are the union ["null", T]: branch 0 is null. */
int carrot_av_set_str(avro_value_t *rec, int idx, const char *s);
int carrot_av_set_opt_str(avro_value_t *rec, int idx, const char *s /* NULL = null */);
int carrot_av_set_long(avro_value_t *rec, int idx, int64_t v);
int carrot_av_set_int(avro_value_t *rec, int idx, int32_t v);
int carrot_av_set_opt_long(avro_value_t *rec, int idx, int has, int64_t v);
int carrot_av_set_opt_int(avro_value_t *rec, int idx, int has, int32_t v);
int carrot_av_set_enum(avro_value_t *rec, int idx, int v);
int carrot_av_set_bool(avro_value_t *rec, int idx, int v);

int carrot_av_get_str(avro_value_t *rec, int idx, const char **sp);
int carrot_av_get_opt_str(avro_value_t *rec, int idx, const char **sp /* NULL if null */);
int carrot_av_get_long(avro_value_t *rec, int idx, int64_t *vp);
int carrot_av_get_int(avro_value_t *rec, int idx, int32_t *vp);
int carrot_av_get_opt_long(avro_value_t *rec, int idx, int *hasp, int64_t *vp);
int carrot_av_get_opt_int(avro_value_t *rec, int idx, int *hasp, int32_t *vp);
int carrot_av_get_enum(avro_value_t *rec, int idx, int *vp);
int carrot_av_get_bool(avro_value_t *rec, int idx, int *vp);

/* A codec of schema_json whose record fields are, in order, names[0..n): the
 * code reads fields by index, so a schema edited out of step with it is
 * refused here rather than misread. NULL with errstr on failure. */
carrot_codec_t *carrot_av_codec_new(const char *schema_json, const char *const *names, int n,
                                    char *errstr, size_t errstr_size);

#endif
