/* csv.h: RFC 4180 CSV records, as Salesforce's data export writes them:
 * comma-separated, fields optionally in double quotes, "" for a quote inside
 * quotes, line breaks allowed inside quoted fields, CRLF or LF between
 * records, an optional UTF-8 byte-order mark before the header. */
#ifndef CARROT_CSV_H
#define CARROT_CSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct carrot_csv_s carrot_csv_t;

/* Reads records from fp (borrowed; not closed). NULL on out of memory. */
carrot_csv_t *carrot_csv_new(FILE *fp);
void carrot_csv_destroy(carrot_csv_t *csv); /* NULL is a no-op */

/* Reads the next record. Returns its field count, 0 at the end of input, or
 * -1 with errstr on malformed input (a quote inside an unquoted field,
 * garbage after a closing quote, an unterminated quoted field); after -1 the
 * reader has skipped to the next line. Fields are valid until the next call:
 * *fieldsp[i], NUL-terminated. *linep gets the line the record starts on,
 * and *rawp and *rawlenp the record's original bytes (for dead letters). */
int carrot_csv_next(carrot_csv_t *csv, char ***fieldsp, long *linep, const char **rawp,
                    size_t *rawlenp, char *errstr, size_t errstr_size);

/* Parses one record from a buffer (the fuzz target's entry point). Same
 * results as carrot_csv_next; buf need not be NUL-terminated. */
int carrot_csv_parse_buffer(carrot_csv_t *csv, const char *buf, size_t len, char ***fieldsp,
                            char *errstr, size_t errstr_size);

#endif
