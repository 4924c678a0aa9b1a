/* sums.c: the points of a batch summed per (program, participant) as the
 * awards are read, for the direct path's one balance upsert. A batch of
 * 5,000 awards touches a few thousand balances; summing them here, while the
 * next batch is booked, leaves PostgreSQL one row per balance to write and
 * nothing to stage or group. An open-addressing table keyed by FNV-1a of
 * "program\0participant", the keys kept in one buffer. */
#include "book_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_of(const char *program, const char *participant) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = program; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* a byte no UTF-8 text holds, between the two */
    for (const char *p = participant; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

void book_sums_reset(book_sums_t *s) {
    if (s->n) memset(s->slot, 0, s->cap * sizeof(*s->slot));
    s->n = 0;
    s->keys.len = 0;
    s->unsummable = 0;
}

void book_sums_free(book_sums_t *s) {
    free(s->slot);
    free(s->keys.p);
}

static sum_slot_t *find(sum_slot_t *slot, size_t cap, uint64_t h, const char *keys,
                        const char *program, const char *participant) {
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        sum_slot_t *x = &slot[i];
        if (!x->used) return x;
        if (x->hash != h || !keys) continue;
        const char *k = keys + x->key;
        if (strcmp(k, program) == 0 && strcmp(k + strlen(k) + 1, participant) == 0) return x;
    }
}

static int grow(book_sums_t *s) {
    size_t cap = s->cap ? 2 * s->cap : 1024;
    sum_slot_t *slot = calloc(cap, sizeof(*slot));
    if (!slot) return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i].used) *find(slot, cap, s->slot[i].hash, NULL, NULL, NULL) = s->slot[i];
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

int book_sums_add(book_sums_t *s, const char *program, const char *participant, int64_t points) {
    if (!program || !participant) { /* PostgreSQL refuses the row: the staging path finds it */
        s->unsummable = 1;
        return 0;
    }
    if (2 * (s->n + 1) > s->cap && grow(s)) return -1;
    uint64_t h = hash_of(program, participant);
    sum_slot_t *x = find(s->slot, s->cap, h, s->keys.p, program, participant);
    if (x->used) {
        /* PostgreSQL's sum() would refuse it: left to the staging statement */
        if (__builtin_add_overflow(x->sum, points, &x->sum)) s->unsummable = 1;
        return 0;
    }
    size_t a = strlen(program) + 1, b = strlen(participant) + 1;
    if (carrot_copy_reserve(&s->keys, a + b)) return -1;
    *x = (sum_slot_t){.hash = h, .key = s->keys.len, .sum = points, .used = 1};
    memcpy(s->keys.p + s->keys.len, program, a);
    memcpy(s->keys.p + s->keys.len + a, participant, b);
    s->keys.len += a + b;
    s->n++;
    return 0;
}

/* Appends s as a quoted element of an array literal. */
static int put_element(carrot_copy_buf_t *b, const char *s, int first) {
    if (carrot_copy_reserve(b, 2 * strlen(s) + 4)) return -1;
    if (!first) b->p[b->len++] = ',';
    b->p[b->len++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') b->p[b->len++] = '\\';
        b->p[b->len++] = *s;
    }
    b->p[b->len++] = '"';
    return 0;
}

int book_sums_arrays(const book_sums_t *s, carrot_copy_buf_t *programs,
                     carrot_copy_buf_t *participants, carrot_copy_buf_t *sums) {
    programs->len = participants->len = sums->len = 0;
    carrot_copy_buf_t *all[] = {programs, participants, sums};
    for (int i = 0; i < 3; i++) {
        if (carrot_copy_reserve(all[i], 2)) return -1;
        all[i]->p[all[i]->len++] = '{';
    }
    int first = 1;
    for (size_t i = 0; i < s->cap; i++) {
        const sum_slot_t *x = &s->slot[i];
        if (!x->used) continue;
        const char *program = s->keys.p + x->key;
        const char *participant = program + strlen(program) + 1;
        if (put_element(programs, program, first) ||
            put_element(participants, participant, first) || carrot_copy_reserve(sums, 24))
            return -1;
        sums->len += (size_t)snprintf(sums->p + sums->len, sums->cap - sums->len, "%s%lld",
                                      first ? "" : ",", (long long)x->sum);
        first = 0;
    }
    for (int i = 0; i < 3; i++) {
        if (carrot_copy_reserve(all[i], 2)) return -1;
        all[i]->p[all[i]->len++] = '}';
        all[i]->p[all[i]->len] = '\0';
    }
    return 0;
}
