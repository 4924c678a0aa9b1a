/* strmap.c: the string-keyed table behind simulations and in-memory caps
 * and goals (rules_int.h). Linear probing, kept at most half full. */
#include "rules_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t slot(const strmap_t *m, const char *key) {
    size_t j = hash(key) & (m->cap - 1);
    while (m->e[j].key && strcmp(m->e[j].key, key) != 0) j = (j + 1) & (m->cap - 1);
    return j;
}

strmap_entry_t *strmap_get(strmap_t *m, const char *key, int *createdp) {
    if (createdp) *createdp = 0;
    if ((m->used + 1) * 2 > m->cap) {
        strmap_t n = {calloc(m->cap ? m->cap * 2 : 1024, sizeof(strmap_entry_t)),
                      m->cap ? m->cap * 2 : 1024, m->used};
        if (!n.e) return NULL;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key) n.e[slot(&n, m->e[i].key)] = m->e[i];
        free(m->e);
        *m = n;
    }
    size_t j = slot(m, key);
    if (!m->e[j].key) {
        if (!(m->e[j].key = strdup(key))) return NULL;
        m->e[j].on = -1;
        m->used++;
        if (createdp) *createdp = 1;
    }
    return &m->e[j];
}

strmap_entry_t *strmap_find(const strmap_t *m, const char *key) {
    if (!m->cap) return NULL;
    size_t j = slot(m, key);
    return m->e[j].key ? &m->e[j] : NULL;
}

void strmap_free(strmap_t *m) {
    for (size_t i = 0; i < m->cap; i++) {
        free(m->e[i].key);
        free(m->e[i].who);
    }
    free(m->e);
    m->e = NULL;
    m->cap = m->used = 0;
}
