/* file.h: reading a whole (small) file, for rules and mapping files. */
#ifndef CARROT_FILE_H
#define CARROT_FILE_H

#include <stddef.h>

/* Returns the file's bytes, NUL-terminated, and their count in *lenp; the
 * caller frees. NULL with errstr ("could not open <what> "path": ...") on
 * failure. */
char *carrot_read_file(const char *path, const char *what, size_t *lenp, char *errstr,
                       size_t errstr_size);

#endif
