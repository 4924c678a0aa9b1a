/* explain.c: the rules as a participant reads them ("what earns points
 * now"): every KPI, record-quality and timeliness rule, goal and band, and
 * the promotions running or about to start, as JSON for the displays. */
#include "rules_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UPCOMING_MS (14LL * 86400 * 1000) /* promotions shown this long before they start */

static json_t *strset_json(const strset_t *s) {
    json_t *a = json_array();
    for (int i = 0; i < s->n; i++) json_array_append_new(a, json_string(s->v[i]));
    return a;
}

/* A filter as {activity: [...], segment: [...], ...}; what matches anything is left out. */
static json_t *when_json(const carrot_rules_t *r, const filter_t *f) {
    json_t *o = json_object();
    if (f->types) {
        json_t *a = json_array();
        for (int t = 0; t < 32 && carrot_activity_types[t]; t++)
            if (f->types & (1u << t))
                json_array_append_new(a, json_string(carrot_activity_types[t]));
        json_object_set_new(o, "activity", a);
    }
    const struct {
        const char *name;
        const strset_t *s;
    } sets[] = {{"segment", &f->segment},
                {"region", &f->region},
                {"team", &f->team},
                {"product", &f->product}};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (sets[i].s->n) json_object_set_new(o, sets[i].name, strset_json(sets[i].s));
    if (f->bands) {
        json_t *a = json_array();
        for (int b = 0; b < r->nbands; b++)
            if (f->bands & (1u << b)) json_array_append_new(a, json_string(r->bands[b].id));
        json_object_set_new(o, "band", a);
    }
    return o;
}

static json_t *time_json(int64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

static json_t *hours_json(int64_t ms) { return json_real((double)ms / 3600000.0); }

char *carrot_rules_explain(const carrot_rules_t *r, int64_t now_ms) {
    json_t *kpis = json_array(), *quality = json_array(), *timely = json_array(),
           *promos = json_array(), *goals = json_array(), *bands = json_array();
    for (int i = 0; i < r->nkpis; i++) {
        const kpi_t *k = &r->kpis[i];
        json_t *o = json_pack("{sssosI}", "id", k->id, "when", when_json(r, &k->when), "points",
                              (json_int_t)k->points);
        if (k->capped)
            json_object_set_new(o, "cap",
                                json_pack("{sssI}", "period", carrot_period_name(k->cap_period),
                                          "points", (json_int_t)k->cap_points));
        json_array_append_new(kpis, o);
    }
    for (int i = 0; i < r->nquality; i++) {
        const quality_t *q = &r->quality[i];
        json_t *req = json_array(), *pick = json_object();
        for (int j = 0; j < q->nrequired; j++)
            json_array_append_new(req, json_string(q->required[j]));
        for (int j = 0; j < q->npicklists; j++)
            json_object_set_new(pick, q->picklists[j].field, strset_json(&q->picklists[j].allowed));
        json_array_append_new(
            quality,
            json_pack("{sssosososIsIsIsI}", "id", q->id, "when", when_json(r, &q->when), "require",
                      req, "picklists", pick, "min_text_length", (json_int_t)q->min_text_length,
                      "complete_bonus", (json_int_t)q->complete_bonus, "incomplete_penalty",
                      (json_int_t)q->incomplete_penalty, "incomplete_keep_percent",
                      (json_int_t)q->incomplete_keep_percent));
    }
    for (int i = 0; i < r->ntimeliness; i++) {
        const timeliness_t *t = &r->timeliness[i];
        json_t *o = json_pack("{sssosososI}", "id", t->id, "when", when_json(r, &t->when),
                              "full_hours", hours_json(t->full_ms), "zero_hours",
                              hours_json(t->zero_ms), "floor_percent",
                              (json_int_t)t->floor_percent);
        if (t->has_late) {
            json_object_set_new(o, "late_hours", hours_json(t->late_ms));
            json_object_set_new(o, "late_penalty", json_integer((json_int_t)t->late_penalty));
        }
        json_array_append_new(timely, o);
    }
    for (int i = 0; i < r->npromos; i++) {
        const promo_t *p = &r->promos[i];
        if (p->to_ms <= now_ms || p->from_ms > now_ms + UPCOMING_MS)
            continue; /* over, or far off */
        json_array_append_new(
            promos, json_pack("{sssosososfsIsb}", "id", p->id, "when", when_json(r, &p->when),
                              "from", time_json(p->from_ms), "to", time_json(p->to_ms),
                              "multiplier", (double)p->multiplier_pct / 100.0, "bonus",
                              (json_int_t)p->bonus, "running", p->from_ms <= now_ms));
    }
    for (int i = 0; i < r->ngoals; i++) {
        const goal_t *g = &r->goals[i];
        json_array_append_new(goals,
                              json_pack("{sssosssIsI}", "id", g->id, "when", when_json(r, &g->when),
                                        "period", carrot_period_name(g->period), "target",
                                        (json_int_t)g->target, "bonus", (json_int_t)g->bonus));
    }
    for (int i = 0; i < r->nbands; i++) {
        const band_t *b = &r->bands[i];
        json_t *o = json_pack("{ss}", "id", b->id);
        if (b->has_min) json_object_set_new(o, "min_tenure_days", json_integer(b->min_days));
        if (b->has_max) json_object_set_new(o, "max_tenure_days", json_integer(b->max_days));
        if (b->levels.n) json_object_set_new(o, "levels", strset_json(&b->levels));
        json_array_append_new(bands, o);
    }
    json_t *root = json_pack("{sssssssososososososo}", "program", r->program, "version", r->version,
                             "timezone", r->timezone ? r->timezone : "UTC", "as_of",
                             time_json(now_ms), "bands", bands, "kpis", kpis, "quality", quality,
                             "timeliness", timely, "promotions", promos, "goals", goals);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

char *carrot_rules_promotions(const carrot_rules_t *rules) {
    json_t *a = json_array();
    for (int i = 0; a && i < rules->npromos; i++) {
        const promo_t *p = &rules->promos[i];
        json_array_append_new(a, json_pack("{sssosIsIsfsI}", "id", p->id, "when",
                                           when_json(rules, &p->when), "from_ms",
                                           (json_int_t)p->from_ms, "to_ms", (json_int_t)p->to_ms,
                                           "multiplier", (double)p->multiplier_pct / 100.0, "bonus",
                                           (json_int_t)p->bonus));
    }
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}
