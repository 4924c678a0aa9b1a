/* simulate.c: the scorer's semantics in memory (dedup, records, reversals,
 * caps and goals), for simulations and back-fills that must write nothing.
 * Mirrors the Redis write of consumers/ranking/apply.c; test_rules_tools checks that
 * a simulation and a real scoring run agree. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct carrot_sim_s {
    const carrot_rules_t *rules;
    carrot_settle_t *settle;
    strmap_t seen, records, people;
};

carrot_sim_t *carrot_sim_new(const carrot_rules_t *rules, int64_t now_s) {
    carrot_sim_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->settle = carrot_settle_new(now_s))) {
        free(s);
        return NULL;
    }
    s->rules = rules;
    return s;
}

void carrot_sim_destroy(carrot_sim_t *s) {
    if (!s) return;
    carrot_settle_destroy(s->settle);
    strmap_free(&s->seen);
    strmap_free(&s->records);
    strmap_free(&s->people);
    free(s);
}

static int set_who(strmap_entry_t *e, const char *who) {
    if (e->who && strcmp(e->who, who) == 0) return 0;
    char *w = strdup(who);
    if (!w) return -1;
    free(e->who);
    e->who = w;
    return 0;
}

int carrot_sim_feed(carrot_sim_t *s, const carrot_activity_t *a, carrot_scoring_t *out,
                    int *freshp) {
    int created;
    memset(out, 0, sizeof(*out));
    *freshp = 0;
    if (!strmap_get(&s->seen, a->event_id, &created)) return -1;
    if (!created) return 0; /* a duplicate delivery */
    *freshp = 1;
    char rk[600];
    snprintf(rk, sizeof(rk), "%.256s:%.256s", a->source_system, a->source_record_id);
    int64_t amt = 0;
    const char *who = a->participant_id;
    if (a->change_type == CARROT_CHANGE_CREATE) {
        if (carrot_rules_score(s->rules, a, out) == 0) return 0;
        if (carrot_settle_apply(s->settle, s->rules, a, out)) return -1;
        int64_t sum = 0;
        for (int i = 0; i < out->nlines; i++) sum += out->lines[i].points;
        strmap_entry_t *r = strmap_get(&s->records, rk, NULL);
        if (!r || set_who(r, a->participant_id)) return -1;
        r->n += sum;
        r->has_n = 1;
        if (r->on != 0) {
            amt = sum;
            r->on = 1;
        } else {
            out->nlines = 0; /* deleted before it was scored: nothing awarded */
        }
    } else if (a->change_type == CARROT_CHANGE_DELETE || a->change_type == CARROT_CHANGE_UNDELETE) {
        strmap_entry_t *r = strmap_get(&s->records, rk, NULL);
        if (!r) return -1;
        int del = a->change_type == CARROT_CHANGE_DELETE;
        if (del && r->on != 0 && r->has_n) amt = -r->n;
        if (!del && r->on == 0 && r->has_n) amt = r->n;
        r->on = del ? 0 : 1;
        who = r->who ? r->who : "";
        if (amt != 0) {
            out->nlines = 1;
            snprintf(out->lines[0].rule_id, sizeof(out->lines[0].rule_id), "%s",
                     del ? "reversal" : "restore");
            out->lines[0].points = amt;
        }
    }
    if (out->nlines > 0 && *who) {
        strmap_entry_t *p = strmap_get(&s->people, who, NULL);
        if (!p) return -1;
        p->n += amt;
        p->count += out->nlines;
    }
    return 0;
}

int carrot_sim_record_deleted(carrot_sim_t *s, const char *record) {
    const strmap_entry_t *r = strmap_find(&s->records, record);
    return r && r->on == 0;
}

static int cmp_total(const void *x, const void *y) {
    const carrot_sim_total_t *a = x, *b = y;
    if (a->points != b->points) return a->points > b->points ? -1 : 1;
    return -strcmp(a->participant_id, b->participant_id);
}

long carrot_sim_totals(const carrot_sim_t *s, carrot_sim_total_t **totalsp) {
    carrot_sim_total_t *t = malloc((s->people.used ? s->people.used : 1) * sizeof(*t));
    if (!t) return -1;
    long n = 0;
    for (size_t i = 0; i < s->people.cap; i++)
        if (s->people.e[i].key) {
            t[n].participant_id = s->people.e[i].key;
            t[n].points = s->people.e[i].n;
            t[n++].awards = s->people.e[i].count;
        }
    qsort(t, (size_t)n, sizeof(*t), cmp_total);
    *totalsp = t;
    return n;
}
