/* file.c: see file.h. */
#include "carrot/file.h"

#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *carrot_read_file(const char *path, const char *what, size_t *lenp, char *errstr,
                       size_t errstr_size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(errstr, errstr_size, "could not open %s \"%s\": %s", what, path, strerror(errno));
        return NULL;
    }
    char *text = NULL, chunk[8192];
    size_t len = 0, cap = 0, n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nt = realloc(text, cap);
            if (!nt) {
                free(text);
                fclose(fp);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
            }
            text = nt;
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    int failed = ferror(fp);
    fclose(fp);
    if (failed || (!text && !(text = calloc(1, 1)))) {
        free(text);
        snprintf(errstr, errstr_size, "could not read %s \"%s\"", what, path);
        return NULL;
    }
    text[len] = '\0';
    *lenp = len;
    return text;
}

void carrot_json_print_string(FILE *fp, const char *s) {
    json_t *j = json_string(s);
    if (!j || json_dumpf(j, fp, JSON_ENCODE_ANY) != 0) fputs("\"\"", fp); /* not UTF-8 */
    json_decref(j);
}
