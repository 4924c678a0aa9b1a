/* smap.c: the string-keyed table of smap.h. */
#include "smap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t slot(char **keys, size_t cap, const char *key) {
    size_t j = hash(key) & (cap - 1);
    while (keys[j] && strcmp(keys[j], key) != 0) j = (j + 1) & (cap - 1);
    return j;
}

void **smap_get(smap_t *m, const char *key, int *createdp) {
    if (createdp) *createdp = 0;
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        char **keys = calloc(cap, sizeof(*keys));
        void **vals = calloc(cap, sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = slot(keys, cap, m->keys[i]);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t j = slot(m->keys, m->cap, key);
    if (!m->keys[j]) {
        if (!(m->keys[j] = strdup(key))) return NULL;
        m->vals[j] = NULL;
        m->used++;
        if (createdp) *createdp = 1;
    }
    return &m->vals[j];
}

void *smap_find(const smap_t *m, const char *key) {
    if (!m->cap) return NULL;
    size_t j = slot(m->keys, m->cap, key);
    return m->keys[j] ? m->vals[j] : NULL;
}

void smap_clear(smap_t *m, void (*free_val)(void *)) {
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        if (free_val) free_val(m->vals[i]);
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}
