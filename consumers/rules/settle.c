/* settle.c: caps and goals, settled against counters. The scorer does this
 * in Redis (the leaderboard script, under the partition watermark); this is
 * the same arithmetic over an in-memory table, for simulations and
 * back-fills, which must write nothing. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    int64_t value;
} slot_t;

struct carrot_settle_s {
    slot_t *slots;
    size_t cap, used;
    int64_t now_s;
    int64_t scratch; /* the counter of a period whose counters Redis has dropped */
};

void carrot_settle_key(char *buf, size_t size, const char *kind, const char *id,
                       const char *period_id, const char *participant) {
    snprintf(buf, size, "%s:%s:%s:%s", kind, id, period_id, participant);
}

carrot_settle_t *carrot_settle_new(int64_t now_s) {
    carrot_settle_t *st = calloc(1, sizeof(*st));
    if (st) st->now_s = now_s;
    if (st && !(st->slots = calloc(st->cap = 1024, sizeof(*st->slots)))) {
        free(st);
        return NULL;
    }
    return st;
}

void carrot_settle_destroy(carrot_settle_t *st) {
    if (!st) return;
    for (size_t i = 0; i < st->cap; i++) free(st->slots[i].key);
    free(st->slots);
    free(st);
}

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The counter of key, created at 0; NULL when out of memory. */
static int64_t *counter(carrot_settle_t *st, const char *key) {
    if (st->used * 2 >= st->cap) { /* grow: keep the table at most half full */
        size_t ncap = st->cap * 2;
        slot_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns) return NULL;
        for (size_t i = 0; i < st->cap; i++) {
            if (!st->slots[i].key) continue;
            size_t j = hash(st->slots[i].key) & (ncap - 1);
            while (ns[j].key) j = (j + 1) & (ncap - 1);
            ns[j] = st->slots[i];
        }
        free(st->slots);
        st->slots = ns;
        st->cap = ncap;
    }
    size_t j = hash(key) & (st->cap - 1);
    while (st->slots[j].key && strcmp(st->slots[j].key, key) != 0) j = (j + 1) & (st->cap - 1);
    if (!st->slots[j].key) {
        if (!(st->slots[j].key = strdup(key))) return NULL;
        st->used++;
    }
    return &st->slots[j].value;
}

/* The counter of key for period p ending at end_ms, or a scratch zero when
 * Redis would no longer hold it. */
static int64_t *period_counter(carrot_settle_t *st, const carrot_rules_t *r, carrot_period_t p,
                               int64_t end_ms, const char *key) {
    if (carrot_rules_counter_expiry(r, p, end_ms) <= st->now_s) {
        st->scratch = 0;
        return &st->scratch;
    }
    return counter(st, key);
}

int carrot_settle_apply(carrot_settle_t *st, const carrot_rules_t *r, const carrot_activity_t *a,
                        carrot_scoring_t *sc) {
    char pid[32], key[512];
    int64_t sum = 0, end;
    for (int i = 0; i < sc->nlines; i++) sum += sc->lines[i].points;
    if (sc->kpi && sc->capped && sum > 0) {
        if (carrot_period_of(sc->cap_period, a->occurred_at, r->timezone, pid, sizeof(pid), &end))
            return -1;
        carrot_settle_key(key, sizeof(key), "cap", sc->kpi, pid, a->participant_id);
        int64_t *used = period_counter(st, r, sc->cap_period, end, key);
        if (!used) return -1;
        int64_t left = sc->cap_points - *used > 0 ? sc->cap_points - *used : 0;
        int64_t allowed = sum < left ? sum : left;
        *used += allowed;
        if (allowed < sum && sc->nlines < CARROT_RULES_MAX_LINES) {
            carrot_score_t *l = &sc->lines[sc->nlines++];
            snprintf(l->rule_id, sizeof(l->rule_id), "cap.%s", sc->kpi);
            l->points = allowed - sum;
        }
    }
    for (int i = 0; i < sc->ngoals; i++) {
        const carrot_goal_hit_t *g = &sc->goals[i];
        if (carrot_period_of(g->period, a->occurred_at, r->timezone, pid, sizeof(pid), &end))
            return -1;
        carrot_settle_key(key, sizeof(key), "goal", g->id, pid, a->participant_id);
        int64_t *count = period_counter(st, r, g->period, end, key);
        if (!count) return -1;
        if (++*count == g->target && g->bonus != 0 && sc->nlines < CARROT_RULES_MAX_LINES) {
            carrot_score_t *l = &sc->lines[sc->nlines++];
            snprintf(l->rule_id, sizeof(l->rule_id), "goal.%s", g->id);
            l->points = g->bonus;
        }
    }
    return 0;
}
