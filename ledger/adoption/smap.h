/* smap.h: a string-keyed table of pointers (linear probing, at most half
 * full), for the facts' batch and the report's participants (fold.c). */
#ifndef CARROT_ADOPTION_SMAP_H
#define CARROT_ADOPTION_SMAP_H

#include <stddef.h>

typedef struct {
    char **keys;
    void **vals;
    size_t cap, used;
} smap_t;

/* The slot of key, made (NULL) when new; NULL when out of memory. */
void **smap_get(smap_t *m, const char *key, int *createdp);
void *smap_find(const smap_t *m, const char *key);
void smap_clear(smap_t *m, void (*free_val)(void *)); /* empties m and frees its memory */

#endif
