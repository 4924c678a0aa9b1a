/* file.h: reading a whole (small) file, for rules and mapping files, and
 * writing a JSON string to a stream, for the programs' --format json. */
#ifndef CARROT_FILE_H
#define CARROT_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Returns the file's bytes, NUL-terminated, and their count in *lenp; the
 * caller frees. NULL with errstr ("could not open <what> "path": ...") on
 * failure. */
char *carrot_read_file(const char *path, const char *what, size_t *lenp, char *errstr,
                       size_t errstr_size);

/* Writes s to fp as a JSON string, quoted and escaped (jansson's rules). */
void carrot_json_print_string(FILE *fp, const char *s);

#endif
