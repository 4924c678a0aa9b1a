/* adapter_util.c: see adapter_util.h. */
#include "adapter_util.h"

#include <stdio.h>
#include <string.h>

const char *carrot_jtext(json_t *obj, const char *key, char *buf, size_t size) {
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) return json_string_length(v) ? json_string_value(v) : NULL;
    if (json_is_integer(v)) snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return buf;
}

int carrot_jtrue(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (json_is_true(v)) return 1;
    const char *s = json_string_value(v);
    return s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "TRUE") == 0);
}

void carrot_jset(json_t *obj, const char *key, const char *s) {
    if (s) json_object_set_new(obj, key, json_string(s));
}

long carrot_utf8_len(const char *s) {
    long n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}
