/* adapter_util.h: JSON helpers shared by the adapters (internal). */
#ifndef CARROT_ADAPTER_UTIL_H
#define CARROT_ADAPTER_UTIL_H

#include <jansson.h>
#include <stddef.h>

/* The field as text: a string, or a number or boolean written out; NULL when
 * missing, null or empty. buf holds the text of non-strings. */
const char *carrot_jtext(json_t *obj, const char *key, char *buf, size_t size);

/* Whether the field is true: JSON true, or the text "true" or "1". */
int carrot_jtrue(json_t *obj, const char *key);

/* Sets obj[key] to the string s when s is not NULL (copied). */
void carrot_jset(json_t *obj, const char *key, const char *s);

/* Number of UTF-8 characters in s. */
long carrot_utf8_len(const char *s);

#endif
