/* csv.c: a small state machine over one record at a time. Quoted fields may
 * span lines, so a record is read line by line until its quotes close. */
#include "carrot/csv.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 512
#define MAX_RECORD (4 << 20) /* 4 MiB: a bigger record is not a CRM activity */

struct carrot_csv_s {
    FILE *fp;
    char *raw; /* the record's bytes */
    size_t rawlen, rawcap;
    char *buf; /* unescaped fields, NUL-separated */
    size_t bufcap;
    char *fields[MAX_FIELDS];
    long line; /* lines read so far */
    int first; /* strip a BOM from the first record */
};

carrot_csv_t *carrot_csv_new(FILE *fp) {
    carrot_csv_t *c = calloc(1, sizeof(*c));
    if (c) {
        c->fp = fp;
        c->first = 1;
    }
    return c;
}

void carrot_csv_destroy(carrot_csv_t *c) {
    if (!c) return;
    free(c->raw);
    free(c->buf);
    free(c);
}

static int reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    char *np = realloc(*p, n);
    if (!np) return -1;
    *p = np;
    *cap = n;
    return 0;
}

/* Splits raw[0..len) into fields. */
static int split(carrot_csv_t *c, const char *raw, size_t len, char ***fieldsp, char *errstr,
                 size_t errstr_size) {
    if (reserve(&c->buf, &c->bufcap, len + 1)) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    size_t i = 0, o = 0;
    int n = 0;
    if (c->first && len >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) i = 3;
    c->first = 0;
    while (len > i && (raw[len - 1] == '\n' || raw[len - 1] == '\r')) len--;
    for (;;) {
        if (n == MAX_FIELDS) {
            snprintf(errstr, errstr_size, "more than %d fields", MAX_FIELDS);
            return -1;
        }
        c->fields[n++] = c->buf + o;
        if (i < len && raw[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    snprintf(errstr, errstr_size, "unterminated quoted field %d", n);
                    return -1;
                }
                if (raw[i] == '"') {
                    if (i + 1 < len && raw[i + 1] == '"') {
                        c->buf[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                c->buf[o++] = raw[i++];
            }
            if (i < len && raw[i] != ',') {
                snprintf(errstr, errstr_size, "text after the closing quote of field %d", n);
                return -1;
            }
        } else {
            while (i < len && raw[i] != ',') {
                if (raw[i] == '"') {
                    snprintf(errstr, errstr_size, "quote inside unquoted field %d", n);
                    return -1;
                }
                c->buf[o++] = raw[i++];
            }
        }
        c->buf[o++] = '\0';
        if (i >= len) break;
        i++; /* the comma */
    }
    *fieldsp = c->fields;
    return n;
}

int carrot_csv_parse_buffer(carrot_csv_t *c, const char *buf, size_t len, char ***fieldsp,
                            char *errstr, size_t errstr_size) {
    if (len == 0) return 0;
    return split(c, buf, len, fieldsp, errstr, errstr_size);
}

/* Whether raw[0..len) ends inside a quoted field. A quote opens one only at
 * the start of a field; a stray quote elsewhere is left for split() to
 * report, so it cannot swallow the lines after it. */
static int open_quote(const char *raw, size_t len) {
    int in_quotes = 0, field_start = 1;
    size_t i0 = len >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* a byte-order mark */
    for (size_t i = i0; i < len; i++) {
        char ch = raw[i];
        if (in_quotes) {
            if (ch == '"') {
                if (i + 1 < len && raw[i + 1] == '"') i++;
                else
                    in_quotes = 0;
            }
            continue;
        }
        if (ch == '"' && field_start) in_quotes = 1;
        field_start = ch == ',' || ch == '\n';
    }
    return in_quotes;
}

int carrot_csv_next(carrot_csv_t *c, char ***fieldsp, long *linep, const char **rawp,
                    size_t *rawlenp, char *errstr, size_t errstr_size) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    c->rawlen = 0;
    long start = c->line + 1;
    while ((n = getline(&line, &cap, c->fp)) > 0) {
        c->line++;
        if (c->rawlen + (size_t)n > MAX_RECORD) {
            free(line);
            snprintf(errstr, errstr_size, "record longer than %d bytes", MAX_RECORD);
            *linep = start;
            *rawp = c->raw;
            *rawlenp = c->rawlen;
            return -1;
        }
        if (reserve(&c->raw, &c->rawcap, c->rawlen + (size_t)n + 1)) break;
        memcpy(c->raw + c->rawlen, line, (size_t)n);
        c->rawlen += (size_t)n;
        if (!open_quote(c->raw, c->rawlen)) break;
    }
    free(line);
    *linep = start;
    *rawp = c->raw;
    *rawlenp = c->rawlen;
    while (*rawlenp > 0 && (c->raw[*rawlenp - 1] == '\n' || c->raw[*rawlenp - 1] == '\r'))
        (*rawlenp)--;
    if (c->rawlen == 0) return 0;
    return split(c, c->raw, c->rawlen, fieldsp, errstr, errstr_size);
}
