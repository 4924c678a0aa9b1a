/* plan.c: where an award goes: the boards of its periods and scopes, and
 * its cap and goal counters, each with the time Redis may drop it. One
 * place, so the scorer and a back-fill name boards the same way; the rules
 * library only says what an activity earns. */
#include "carrot/board.h"

#include <stdio.h>
#include <string.h>

/* "<period>:<scope><value>" into buf, as snprintf "%s:%s%.256s" would, without
 * printf (twenty of these per award). */
static void name(char *buf, size_t size, const char *pid, const char *scope, const char *value) {
    const char *parts[] = {pid, ":", scope, value};
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        size_t n = i == 3 ? strnlen(parts[i], 256) : strlen(parts[i]);
        if (n > size - 1 - len) n = size - 1 - len;
        memcpy(buf + len, parts[i], n);
        len += n;
    }
    buf[len] = '\0';
}

void carrot_commit_key(char *buf, size_t size, const char *commitment, const char *period_id) {
    snprintf(buf, size, "cm:%s:%s", commitment, period_id);
}

carrot_board_err_t carrot_board_plan(const carrot_rules_t *r, const carrot_activity_t *a,
                                     const carrot_scoring_t *sc, carrot_plan_t *p, char *errstr,
                                     size_t errstr_size) {
    const char *scopes[4][2] = {
        {"all", ""}, {"seg:", a->segment}, {"reg:", a->region}, {"team:", a->team_id}};
    const char *tz = carrot_rules_timezone(r);
    char pid[CARROT_PERIOD_COUNT][32];
    int64_t end;
    p->nboards = 0;
    p->cap_key[0] = '\0';
    /* A day board is kept as long as the longest keeping of a period that
     * holds the day: the week, month and quarter boards are rolled up from
     * the day boards when read (rollup.c), never written. */
    int64_t day_exp = 0;
    for (int per = 0; per < CARROT_PERIOD_COUNT; per++) {
        if (carrot_period_of((carrot_period_t)per, a->occurred_at, tz, pid[per], sizeof(pid[0]),
                             &end))
            goto bad_tz;
        int64_t exp = per == CARROT_PERIOD_PTD
                          ? 0
                          : end / 1000 + carrot_rules_retention_s(r, (carrot_period_t)per);
        if (exp > day_exp) day_exp = exp;
    }
    for (int per = 0; per < CARROT_PERIOD_COUNT; per++) {
        int rolled = per != CARROT_PERIOD_DAY && per != CARROT_PERIOD_PTD;
        for (int s = 0; s < 4; s++) {
            if (s > 0 && (!scopes[s][1] || !*scopes[s][1])) continue;
            carrot_board_ref_t *b = &p->boards[p->nboards++];
            name(b->name, sizeof(b->name), pid[per], scopes[s][0], scopes[s][1]);
            b->expire_at = per == CARROT_PERIOD_DAY ? day_exp : 0;
            b->rolled = rolled;
        }
    }
    char cpid[32];
    if (!sc) return CARROT_BOARD_OK;
    if (sc->kpi && sc->capped) {
        if (carrot_period_of(sc->cap_period, a->occurred_at, tz, cpid, sizeof(cpid), &end))
            goto bad_tz;
        carrot_settle_key(p->cap_key, sizeof(p->cap_key), "cap", sc->kpi, cpid, a->participant_id);
        p->cap_expire_at = carrot_rules_counter_expiry(r, sc->cap_period, end);
    }
    for (int g = 0; g < sc->ngoals; g++) {
        if (carrot_period_of(sc->goals[g].period, a->occurred_at, tz, cpid, sizeof(cpid), &end))
            goto bad_tz;
        carrot_settle_key(p->goal_keys[g], sizeof(p->goal_keys[g]), "goal", sc->goals[g].id, cpid,
                          a->participant_id);
        snprintf(p->goal_rules[g], sizeof(p->goal_rules[g]), "goal.%s", sc->goals[g].id);
        p->goal_expire_at[g] = carrot_rules_counter_expiry(r, sc->goals[g].period, end);
    }
    for (int m = 0; m < sc->ncommits; m++) {
        if (carrot_period_of(sc->commits[m].period, a->occurred_at, tz, cpid, sizeof(cpid), &end))
            goto bad_tz;
        carrot_commit_key(p->commit_keys[m], sizeof(p->commit_keys[m]), sc->commits[m].id, cpid);
        p->commit_expire_at[m] = carrot_rules_counter_expiry(r, sc->commits[m].period, end);
    }
    return CARROT_BOARD_OK;
bad_tz: /* the rules checked it: only a broken time zone database gets here, for good */
    snprintf(errstr, errstr_size, "the time zone %s of the rules cannot be used", tz);
    return CARROT_BOARD_FATAL;
}
