/* score.c: what the rules give one activity: the first matching KPI, then
 * timeliness, data quality and promotions on its points, and the goals it
 * counts towards. Pure: the same rules and activity always give the same
 * lines, which is what lets a simulation or a back-fill predict the scorer. */
#include "rules_int.h"

#include <stdio.h>
#include <string.h>

static const char *const fields[] = {"segment",    "team_id",        "region",   "tenure_days",
                                     "account_id", "opportunity_id", "outcome",  "disposition",
                                     "stage",      "amount_minor",   "currency", "duration_seconds",
                                     NULL};

int carrot_rules_field_known(const char *field) {
    if (strncmp(field, "custom.", 7) == 0) return field[7] != '\0';
    for (int i = 0; fields[i]; i++)
        if (strcmp(field, fields[i]) == 0) return 1;
    return 0;
}

static const char *custom(const carrot_activity_t *a, const char *key) {
    for (size_t i = 0; i < a->ncustom; i++)
        if (strcmp(a->custom[i].key, key) == 0) return a->custom[i].value;
    return NULL;
}

const char *carrot_rules_field(const carrot_activity_t *a, const char *f, char *buf, size_t size) {
    if (strncmp(f, "custom.", 7) == 0) return custom(a, f + 7);
    if (!strcmp(f, "segment")) return a->segment;
    if (!strcmp(f, "team_id")) return a->team_id;
    if (!strcmp(f, "region")) return a->region;
    if (!strcmp(f, "account_id")) return a->account_id;
    if (!strcmp(f, "opportunity_id")) return a->opportunity_id;
    if (!strcmp(f, "outcome")) return a->outcome;
    if (!strcmp(f, "disposition")) return a->disposition;
    if (!strcmp(f, "stage")) return a->stage;
    if (!strcmp(f, "currency")) return a->currency;
    if (!strcmp(f, "tenure_days") && a->has_tenure_days) {
        snprintf(buf, size, "%d", (int)a->tenure_days);
        return buf;
    }
    if (!strcmp(f, "amount_minor") && a->has_amount) {
        snprintf(buf, size, "%lld", (long long)a->amount_minor);
        return buf;
    }
    if (!strcmp(f, "duration_seconds") && a->has_duration) {
        snprintf(buf, size, "%d", (int)a->duration_seconds);
        return buf;
    }
    return NULL;
}

static int in_set(const strset_t *s, const char *v) {
    if (s->n == 0) return 1;
    if (!v) return 0;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], v) == 0) return 1;
    return 0;
}

/* The activity's band: the first whose levels hold its custom "level", or
 * (for a band by tenure) whose tenure range holds its tenure_days; -1 when
 * none does. */
static int band_of(const carrot_rules_t *r, const carrot_activity_t *a) {
    const char *level = custom(a, "level");
    for (int i = 0; i < r->nbands; i++) {
        const band_t *b = &r->bands[i];
        if (b->levels.n > 0) {
            if (level && in_set(&b->levels, level)) return i;
            continue;
        }
        if (a->has_tenure_days && (!b->has_min || a->tenure_days >= b->min_days) &&
            (!b->has_max || a->tenure_days <= b->max_days))
            return i;
    }
    return -1;
}

int carrot_rules_filter_match(const carrot_rules_t *r, const filter_t *f,
                              const carrot_activity_t *a) {
    if (f->types) {
        int t = -1;
        for (int i = 0; carrot_activity_types[i]; i++)
            if (strcmp(a->activity_type, carrot_activity_types[i]) == 0) t = i;
        if (t < 0 || t >= 32 || !(f->types & (1u << t))) return 0;
    }
    if (f->bands) {
        int b = band_of(r, a);
        if (b < 0 || !(f->bands & (1u << b))) return 0;
    }
    return in_set(&f->segment, a->segment) && in_set(&f->region, a->region) &&
           in_set(&f->team, a->team_id) && in_set(&f->product, custom(a, "product"));
}

static void line(carrot_scoring_t *o, const char *prefix, const char *id, int64_t points) {
    if (points == 0 || o->nlines >= CARROT_RULES_MAX_LINES) return;
    carrot_score_t *l = &o->lines[o->nlines++];
    snprintf(l->rule_id, sizeof(l->rule_id), "%s%s", prefix, id);
    l->points = points;
}

static int64_t pct(int64_t v, int64_t percent) { return v * percent / 100; }

/* The share of base kept for a record logged lag ms after it happened. */
static int64_t timeliness_line(const timeliness_t *t, int64_t base, int64_t lag) {
    int64_t keep = 100;
    if (lag > t->zero_ms) keep = t->floor_percent;
    else if (lag > t->full_ms) /* linear from 100% at full to floor% at zero */
        keep = 100 - (100 - t->floor_percent) * (lag - t->full_ms) / (t->zero_ms - t->full_ms);
    int64_t v = base > 0 ? pct(base, keep) - base : 0;
    if (t->has_late && lag > t->late_ms) v += t->late_penalty;
    return v;
}

static int complete(const quality_t *q, const carrot_activity_t *a) {
    char buf[32];
    for (int i = 0; i < q->nrequired; i++) {
        const char *v = carrot_rules_field(a, q->required[i], buf, sizeof(buf));
        if (!v || !*v) return 0;
    }
    for (int i = 0; i < q->npicklists; i++) {
        const char *v = carrot_rules_field(a, q->picklists[i].field, buf, sizeof(buf));
        if (v && *v && !in_set(&q->picklists[i].allowed, v)) return 0; /* empty: see require */
    }
    return a->text_length >= q->min_text_length;
}

static int type_bit(const carrot_activity_t *a, uint32_t types) {
    for (int i = 0; carrot_activity_types[i] && i < 32; i++)
        if (strcmp(a->activity_type, carrot_activity_types[i]) == 0) return (types >> i) & 1u;
    return 0;
}

/* What activity a adds to commitment m (after its lines are known); 0 when
 * nothing. */
static int commit_hit(const carrot_rules_t *r, const commit_t *m, const carrot_activity_t *a,
                      const carrot_scoring_t *o, carrot_commit_hit_t *h) {
    *h = (carrot_commit_hit_t){m->pub.id, m->pub.period, 0, 0, 0};
    if (!carrot_rules_filter_match(r, &m->who, a)) return 0;
    int64_t lag = a->recorded_at > a->occurred_at ? a->recorded_at - a->occurred_at : 0;
    switch (m->pub.metric) {
    case CARROT_COMMIT_COUNT: h->value = type_bit(a, m->types); return (int)h->value;
    case CARROT_COMMIT_POINTS:
        for (int j = 0; j < o->nlines; j++)
            if (in_set(&m->rules, o->lines[j].rule_id)) h->value += o->lines[j].points;
        h->with_cap = o->kpi && o->capped && in_set(&m->rules, o->kpi);
        return h->value != 0 || h->with_cap;
    case CARROT_COMMIT_COMPLETE:
        h->value = 1;
        for (int i = 0; i < r->nquality; i++) {
            const quality_t *q = &r->quality[i];
            if (!in_set(&m->rules, q->id) || !carrot_rules_filter_match(r, &q->when, a)) continue;
            h->judged = 1;
            if (!complete(q, a)) h->value = 0;
        }
        break;
    case CARROT_COMMIT_ON_TIME:
        h->value = 1;
        for (int i = 0; i < r->ntimeliness; i++) {
            const timeliness_t *t = &r->timeliness[i];
            if (!in_set(&m->rules, t->id) || !carrot_rules_filter_match(r, &t->when, a)) continue;
            h->judged = 1;
            if (lag > t->full_ms) h->value = 0;
        }
        break;
    }
    if (!h->judged) h->value = 0;
    return (int)h->judged;
}

int carrot_rules_commitment_holds(const carrot_rules_t *r, int i, const char *segment,
                                  const char *team, const char *region, int tenure_days) {
    if (i < 0 || i >= r->ncommits) return 0;
    carrot_activity_t a;
    memset(&a, 0, sizeof(a));
    a.activity_type = "";
    a.segment = segment;
    a.team_id = team;
    a.region = region;
    a.has_tenure_days = tenure_days >= 0;
    a.tenure_days = tenure_days;
    return carrot_rules_filter_match(r, &r->commits[i].who, &a);
}

int carrot_rules_score(const carrot_rules_t *r, const carrot_activity_t *a, carrot_scoring_t *o) {
    memset(o, 0, sizeof(*o));
    if (a->change_type != CARROT_CHANGE_CREATE) return 0;
    const kpi_t *k = NULL;
    for (int i = 0; i < r->nkpis && !k; i++)
        if (carrot_rules_filter_match(r, &r->kpis[i].when, a)) k = &r->kpis[i];
    if (k) {
        o->kpi = k->id;
        o->capped = k->capped;
        o->cap_period = k->cap_period;
        o->cap_points = k->cap_points;
        int64_t base = k->points;
        line(o, "", k->id, base);
        int64_t earned = base; /* what a promotion multiplies */
        int64_t lag = a->recorded_at > a->occurred_at ? a->recorded_at - a->occurred_at : 0;
        for (int i = 0; i < r->ntimeliness; i++) {
            const timeliness_t *t = &r->timeliness[i];
            if (!carrot_rules_filter_match(r, &t->when, a)) continue;
            int64_t v = timeliness_line(t, base, lag);
            line(o, "timeliness.", t->id, v);
            earned += v;
        }
        for (int i = 0; i < r->nquality; i++) {
            const quality_t *q = &r->quality[i];
            if (!carrot_rules_filter_match(r, &q->when, a)) continue;
            int64_t v = complete(q, a)
                            ? q->complete_bonus
                            : (base > 0 ? pct(base, q->incomplete_keep_percent) - base : 0) +
                                  q->incomplete_penalty;
            line(o, "quality.", q->id, v);
            if (v < 0) earned += v; /* a bonus is not multiplied; a reduction is */
        }
        for (int i = 0; i < r->npromos; i++) {
            const promo_t *p = &r->promos[i];
            if (a->occurred_at < p->from_ms || a->occurred_at >= p->to_ms ||
                !carrot_rules_filter_match(r, &p->when, a))
                continue;
            line(o, "promo.", p->id,
                 (earned > 0 ? pct(earned, p->multiplier_pct - 100) : 0) + p->bonus);
        }
    }
    for (int i = 0; i < r->ngoals; i++) {
        const goal_t *g = &r->goals[i];
        if (!carrot_rules_filter_match(r, &g->when, a)) continue;
        carrot_goal_hit_t *h = &o->goals[o->ngoals++];
        h->id = g->id;
        h->period = g->period;
        h->target = g->target;
        h->bonus = g->bonus;
    }
    for (int i = 0; i < r->ncommits; i++)
        if (commit_hit(r, &r->commits[i], a, o, &o->commits[o->ncommits])) o->ncommits++;
    return o->nlines + o->ngoals + o->ncommits;
}

void carrot_rules_judge(const carrot_rules_t *r, const carrot_activity_t *a,
                        carrot_judgement_t *o) {
    memset(o, 0, sizeof(*o));
    o->complete = o->on_time = 1;
    for (int i = 0; i < r->nquality; i++) {
        const quality_t *q = &r->quality[i];
        if (!carrot_rules_filter_match(r, &q->when, a)) continue;
        o->q_judged = 1;
        if (!complete(q, a)) o->complete = 0;
    }
    int64_t lag = a->recorded_at > a->occurred_at ? a->recorded_at - a->occurred_at : 0;
    for (int i = 0; i < r->ntimeliness; i++) {
        const timeliness_t *t = &r->timeliness[i];
        if (!carrot_rules_filter_match(r, &t->when, a)) continue;
        o->t_judged = 1;
        if (lag > t->full_ms) o->on_time = 0;
    }
    o->complete &= o->q_judged;
    o->on_time &= o->t_judged;
    int b = band_of(r, a);
    o->band = b >= 0 ? r->bands[b].id : NULL;
}

const char *carrot_rules_band(const carrot_rules_t *r, int i, int *has_min, int64_t *min_days,
                              int *has_max, int64_t *max_days, int *by_levels) {
    if (i < 0 || i >= r->nbands) return NULL;
    const band_t *b = &r->bands[i];
    *has_min = b->has_min;
    *min_days = b->min_days;
    *has_max = b->has_max;
    *max_days = b->max_days;
    *by_levels = b->levels.n > 0;
    return b->id;
}
