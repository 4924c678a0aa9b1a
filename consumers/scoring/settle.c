/* settle.c: caps and goals, settled against counters. The scorer does this
 * in Redis (the leaderboard script, under the partition watermark); this is
 * the same arithmetic over an in-memory table, for simulations and
 * back-fills, which must write nothing. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>

struct carrot_settle_s {
    strmap_t counters;
    int64_t now_s;
    int64_t scratch; /* the counter of a period whose counters Redis has dropped */
};

#define FAR_FUTURE_S 4102444800LL /* 2100-01-01: counters of "ptd" caps and goals */

int64_t carrot_rules_counter_expiry(const carrot_rules_t *r, carrot_period_t p, int64_t end_ms) {
    if (end_ms == INT64_MAX) return FAR_FUTURE_S;
    int64_t keep = r->retention_s[p] > 86400 ? r->retention_s[p] : 86400;
    return end_ms / 1000 + keep;
}

void carrot_settle_key(char *buf, size_t size, const char *kind, const char *id,
                       const char *period_id, const char *participant) {
    snprintf(buf, size, "%s:%s:%s:%s", kind, id, period_id, participant);
}

carrot_settle_t *carrot_settle_new(int64_t now_s) {
    carrot_settle_t *st = calloc(1, sizeof(*st));
    if (st) st->now_s = now_s;
    return st;
}

void carrot_settle_destroy(carrot_settle_t *st) {
    if (!st) return;
    strmap_free(&st->counters);
    free(st);
}

/* The counter of key for period p ending at end_ms, or a scratch zero when
 * Redis would no longer hold it. */
static int64_t *period_counter(carrot_settle_t *st, const carrot_rules_t *r, carrot_period_t p,
                               int64_t end_ms, const char *key) {
    if (carrot_rules_counter_expiry(r, p, end_ms) <= st->now_s) {
        st->scratch = 0;
        return &st->scratch;
    }
    strmap_entry_t *e = strmap_get(&st->counters, key, NULL);
    return e ? &e->n : NULL;
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
