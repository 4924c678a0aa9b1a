/* plan.c: where an award goes: the boards of its periods and scopes, and
 * its cap and goal counters, each with the time Redis may drop it. One
 * place, so the scorer and a back-fill name boards the same way. */
#include "rules_int.h"

#include <stdio.h>
#include <string.h>

#define FAR_FUTURE_S 4102444800LL /* 2100-01-01: counters of "ptd" caps and goals */

int64_t carrot_rules_counter_expiry(const carrot_rules_t *r, carrot_period_t p, int64_t end_ms) {
    if (end_ms == INT64_MAX) return FAR_FUTURE_S;
    int64_t keep = r->retention_s[p] > 86400 ? r->retention_s[p] : 86400;
    return end_ms / 1000 + keep;
}

int carrot_rules_plan(const carrot_rules_t *r, const carrot_activity_t *a,
                      const carrot_scoring_t *sc, carrot_plan_t *p) {
    const char *scopes[4][2] = {
        {"all", ""}, {"seg:", a->segment}, {"reg:", a->region}, {"team:", a->team_id}};
    char pid[32];
    int64_t end;
    p->nboards = 0;
    for (int per = 0; per < CARROT_PERIOD_COUNT; per++) {
        if (carrot_period_of((carrot_period_t)per, a->occurred_at, r->timezone, pid, sizeof(pid),
                             &end))
            return -1;
        int64_t exp = per == CARROT_PERIOD_PTD ? 0 : end / 1000 + r->retention_s[per];
        for (int s = 0; s < 4; s++) {
            if (s > 0 && (!scopes[s][1] || !*scopes[s][1])) continue;
            carrot_board_ref_t *b = &p->boards[p->nboards++];
            snprintf(b->name, sizeof(b->name), "%s:%s%.256s", pid, scopes[s][0], scopes[s][1]);
            b->expire_at = exp;
        }
    }
    p->cap_key[0] = '\0';
    if (!sc) return 0;
    if (sc->kpi && sc->capped) {
        if (carrot_period_of(sc->cap_period, a->occurred_at, r->timezone, pid, sizeof(pid), &end))
            return -1;
        carrot_settle_key(p->cap_key, sizeof(p->cap_key), "cap", sc->kpi, pid, a->participant_id);
        p->cap_expire_at = carrot_rules_counter_expiry(r, sc->cap_period, end);
    }
    for (int g = 0; g < sc->ngoals; g++) {
        if (carrot_period_of(sc->goals[g].period, a->occurred_at, r->timezone, pid, sizeof(pid),
                             &end))
            return -1;
        carrot_settle_key(p->goal_keys[g], sizeof(p->goal_keys[g]), "goal", sc->goals[g].id, pid,
                          a->participant_id);
        snprintf(p->goal_rules[g], sizeof(p->goal_rules[g]), "goal.%s", sc->goals[g].id);
        p->goal_expire_at[g] = carrot_rules_counter_expiry(r, sc->goals[g].period, end);
    }
    return 0;
}
