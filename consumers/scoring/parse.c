/* parse.c: reads a rules file (YAML, or JSON, which libyaml reads as YAML)
 * into carrot_rules_t, checking every value and naming the line of the
 * first problem. libyaml keeps each node's position, which is why the
 * rules are read with it rather than with a JSON-only parser. */
#include "rules_int.h"

#include "carrot/file.h"
#include "carrot/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_RULES_BYTES (1 << 20)
#define POINTS_MAX 1000000

typedef struct {
    yaml_document_t *doc;
    const char *origin;
    char *errstr;
    size_t errstr_size;
    carrot_rules_t *r;
    int failed;
} ctx_t;

typedef yaml_node_t node_t;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
fail(ctx_t *c, const node_t *n, const char *path, const char *fmt, ...) {
    if (c->failed) return -1;
    c->failed = 1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        snprintf(c->errstr, c->errstr_size, "%s:%lu: %s%s%s", c->origin,
                 (unsigned long)n->start_mark.line + 1, path, *path ? ": " : "", msg);
    else
        snprintf(c->errstr, c->errstr_size, "%s: %s%s%s", c->origin, path, *path ? ": " : "", msg);
    return -1;
}

static const char *own(ctx_t *c, const char *s, size_t len) {
    carrot_rules_t *r = c->r;
    if (r->nowned == r->owned_cap) {
        size_t cap = r->owned_cap ? r->owned_cap * 2 : 64;
        char **o = realloc(r->owned, cap * sizeof(*o));
        if (!o) return NULL;
        r->owned = o;
        r->owned_cap = cap;
    }
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    r->owned[r->nowned++] = d;
    return d;
}

static node_t *node(ctx_t *c, int idx) { return yaml_document_get_node(c->doc, idx); }

static int is_scalar(const node_t *n) { return n && n->type == YAML_SCALAR_NODE; }
static const char *sval(const node_t *n) { return (const char *)n->data.scalar.value; }

/* Checks that n is a mapping with only allowed keys, each once. */
static int check_map(ctx_t *c, node_t *n, const char *path, const char *const *allowed) {
    if (!n || n->type != YAML_MAPPING_NODE) return fail(c, n, path, "expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        node_t *k = node(c, p->key);
        if (!is_scalar(k)) return fail(c, k, path, "keys must be plain names");
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            if (strcmp(sval(k), allowed[i]) == 0) ok = 1;
        if (!ok) return fail(c, k, path, "unknown key \"%.80s\"", sval(k));
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
            if (is_scalar(node(c, q->key)) && strcmp(sval(node(c, q->key)), sval(k)) == 0)
                return fail(c, k, path, "key \"%.80s\" appears twice", sval(k));
    }
    return 0;
}

static node_t *get(ctx_t *c, node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        node_t *k = node(c, p->key);
        if (is_scalar(k) && strcmp(sval(k), key) == 0) return node(c, p->value);
    }
    return NULL;
}

/* path.key, cut to size: it only names a place in an error message */
static void subpath(char *buf, size_t size, const char *path, const char *key) {
    if (snprintf(buf, size, "%s%s%s", path, *path ? "." : "", key) >= (int)size)
        buf[size - 1] = '\0';
}

static int str_at(ctx_t *c, node_t *n, const char *path, const char **out) {
    if (!is_scalar(n) || n->data.scalar.length == 0)
        return fail(c, n, path, "expected a non-empty string");
    if (n->data.scalar.length > 200) return fail(c, n, path, "longer than 200 bytes");
    if (memchr(sval(n), '\0', n->data.scalar.length) || strpbrk(sval(n), "\x1e\x1f"))
        return fail(c, n, path, "contains a control character Carrot reserves");
    if (!(*out = own(c, sval(n), n->data.scalar.length)))
        return fail(c, NULL, path, "out of memory");
    return 0;
}

int carrot_rules_id_check(const char *id, char *errstr, size_t errstr_size) {
    size_t len = strlen(id);
    if (len == 0 || len > 48) {
        snprintf(errstr, errstr_size, "ids are 1 to 48 characters, not %zu", len);
        return -1;
    }
    for (const char *p = id; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            *p != '_' && *p != '-' && *p != '.') {
            snprintf(errstr, errstr_size, "ids may hold only letters, digits, '_', '-' and '.'");
            return -1;
        }
    return 0;
}

/* An id: it becomes part of award and Redis key names. */
static int id_at(ctx_t *c, node_t *n, const char *path, const char **out) {
    char why[96];
    if (str_at(c, n, path, out)) return -1;
    if (carrot_rules_id_check(*out, why, sizeof(why)) != 0)
        return fail(c, n, path, "\"%s\": %s", *out, why);
    return 0;
}

static int int_at(ctx_t *c, node_t *n, const char *path, int64_t min, int64_t max, int64_t *out) {
    if (!is_scalar(n)) return fail(c, n, path, "expected an integer");
    const char *s = sval(n);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return fail(c, n, path, "expected an integer, not \"%.40s\"", s);
    if (v < min || v > max)
        return fail(c, n, path, "%lld is out of range (%lld to %lld)", v, (long long)min,
                    (long long)max);
    *out = v;
    return 0;
}

/* An optional integer: absent leaves *out. */
static int opt_int(ctx_t *c, node_t *map, const char *path, const char *key, int64_t min,
                   int64_t max, int64_t *out) {
    node_t *n = get(c, map, key);
    char p[256];
    subpath(p, sizeof(p), path, key);
    return n ? int_at(c, n, p, min, max, out) : 0;
}

static int req_int(ctx_t *c, node_t *map, const char *path, const char *key, int64_t min,
                   int64_t max, int64_t *out) {
    char p[256];
    subpath(p, sizeof(p), path, key);
    node_t *n = get(c, map, key);
    if (!n) return fail(c, map, p, "is required");
    return int_at(c, n, p, min, max, out);
}

static int period_at(ctx_t *c, node_t *n, const char *path, carrot_period_t *out) {
    int p = is_scalar(n) ? carrot_period_parse(sval(n)) : -1;
    if (p < 0) return fail(c, n, path, "expected day, week, month, quarter or ptd");
    *out = (carrot_period_t)p;
    return 0;
}

static int type_index(const char *type) {
    for (int i = 0; carrot_activity_types[i]; i++)
        if (strcmp(type, carrot_activity_types[i]) == 0) return i;
    return -1;
}

/* A string or a list of strings. */
static int strset_at(ctx_t *c, node_t *n, const char *path, strset_t *out) {
    if (is_scalar(n)) {
        out->n = 1;
        return str_at(c, n, path, &out->v[0]);
    }
    if (!n || n->type != YAML_SEQUENCE_NODE) return fail(c, n, path, "expected a string or a list");
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0)
        return fail(c, n, path, "an empty list matches nothing; leave it out to match any");
    if (count > MAX_VALUES) return fail(c, n, path, "at most %d values", MAX_VALUES);
    out->n = 0;
    for (int i = 0; i < count; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s[%d]", path, i);
        if (str_at(c, node(c, n->data.sequence.items.start[i]), p, &out->v[out->n++])) return -1;
    }
    return 0;
}

/* The filter under key ("when", or a commitment's "who", which names
 * people, not activities: no "activity" or "product" there). */
static int filter_key(ctx_t *c, node_t *owner, const char *path, const char *key, filter_t *f) {
    static const char *const keys[] = {"activity", "segment", "region", "team",
                                       "product",  "band",    NULL};
    static const char *const who_keys[] = {"segment", "region", "team", "band", NULL};
    memset(f, 0, sizeof(*f));
    node_t *n = get(c, owner, key);
    if (!n) return 0;
    char p[256], q[256];
    subpath(p, sizeof(p), path, key);
    if (check_map(c, n, p, strcmp(key, "when") ? who_keys : keys)) return -1;
    strset_t set;
    node_t *v;
    if ((v = get(c, n, "activity"))) {
        subpath(q, sizeof(q), p, "activity");
        if (strset_at(c, v, q, &set)) return -1;
        for (int i = 0; i < set.n; i++) {
            int t = type_index(set.v[i]);
            if (t < 0 || t >= 32) return fail(c, v, q, "unknown activity type \"%s\"", set.v[i]);
            f->types |= 1u << t;
        }
    }
    if ((v = get(c, n, "band"))) {
        subpath(q, sizeof(q), p, "band");
        if (strset_at(c, v, q, &set)) return -1;
        for (int i = 0; i < set.n; i++) {
            int b = 0;
            while (b < c->r->nbands && strcmp(c->r->bands[b].id, set.v[i]) != 0) b++;
            if (b == c->r->nbands)
                return fail(c, v, q, "no band \"%s\" (bands are defined under \"bands\")",
                            set.v[i]);
            f->bands |= 1u << b;
        }
    }
    struct {
        const char *key;
        strset_t *set;
    } sets[] = {{"segment", &f->segment},
                {"region", &f->region},
                {"team", &f->team},
                {"product", &f->product}};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if ((v = get(c, n, sets[i].key))) {
            subpath(q, sizeof(q), p, sets[i].key);
            if (strset_at(c, v, q, sets[i].set)) return -1;
        }
    return 0;
}

static int filter_at(ctx_t *c, node_t *owner, const char *path, filter_t *f) {
    return filter_key(c, owner, path, "when", f);
}

/* Iterates a sequence under key: calls fn(c, item, "key[i]", i). */
typedef int (*item_fn)(ctx_t *c, node_t *item, const char *path, int i);
static int each(ctx_t *c, node_t *root, const char *key, int max, item_fn fn) {
    node_t *n = get(c, root, key);
    if (!n) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return fail(c, n, key, "expected a list");
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > max) return fail(c, n, key, "at most %d entries", max);
    for (int i = 0; i < count; i++) {
        char p[64];
        snprintf(p, sizeof(p), "%s[%d]", key, i);
        if (fn(c, node(c, n->data.sequence.items.start[i]), p, i)) return -1;
    }
    return 0;
}

/* Every rule id of every kind is unique within its kind's award prefix. */
static int unique_id(ctx_t *c, node_t *n, const char *path, const char *id, const char *const *ids,
                     int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(ids[i], id) == 0)
            return fail(c, get(c, n, "id"), path, "id \"%s\" is used twice", id);
    return 0;
}

static int band_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id", "min_tenure_days", "max_tenure_days", "levels", NULL};
    band_t *b = &c->r->bands[i];
    char p[128];
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &b->id)) return -1;
    for (int j = 0; j < i; j++)
        if (strcmp(c->r->bands[j].id, b->id) == 0)
            return fail(c, n, path, "band \"%s\" twice", b->id);
    b->has_min = get(c, n, "min_tenure_days") != NULL;
    b->has_max = get(c, n, "max_tenure_days") != NULL;
    if (opt_int(c, n, path, "min_tenure_days", 0, 100000, &b->min_days) ||
        opt_int(c, n, path, "max_tenure_days", 0, 100000, &b->max_days))
        return -1;
    if (b->has_min && b->has_max && b->min_days > b->max_days)
        return fail(c, n, path, "min_tenure_days is above max_tenure_days");
    node_t *lv = get(c, n, "levels");
    if (lv) {
        subpath(p, sizeof(p), path, "levels");
        if (strset_at(c, lv, p, &b->levels)) return -1;
    }
    if (!b->has_min && !b->has_max && !lv)
        return fail(c, n, path, "a band needs min_tenure_days, max_tenure_days or levels");
    c->r->nbands = i + 1;
    return 0;
}

static int kpi_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id", "when", "points", "cap", "description", NULL};
    static const char *const cap_keys[] = {"period", "points", NULL};
    carrot_rules_t *r = c->r;
    if (r->nkpis >= MAX_KPIS) return fail(c, n, path, "at most %d KPI rules", MAX_KPIS);
    kpi_t *k = &r->kpis[r->nkpis];
    char p[128];
    (void)i;
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &k->id)) return -1;
    for (int j = 0; j < r->nkpis; j++)
        if (strcmp(r->kpis[j].id, k->id) == 0)
            return fail(c, n, p, "id \"%s\" is used twice", k->id);
    if (filter_at(c, n, path, &k->when) ||
        req_int(c, n, path, "points", -POINTS_MAX, POINTS_MAX, &k->points))
        return -1;
    node_t *cap = get(c, n, "cap");
    if (cap) {
        subpath(p, sizeof(p), path, "cap");
        char q[160];
        subpath(q, sizeof(q), p, "period");
        if (check_map(c, cap, p, cap_keys)) return -1;
        if (!get(c, cap, "period")) return fail(c, cap, q, "is required");
        if (period_at(c, get(c, cap, "period"), q, &k->cap_period) ||
            req_int(c, cap, p, "points", 0, INT64_C(1000000000), &k->cap_points))
            return -1;
        k->capped = 1;
    }
    r->nkpis++;
    return 0;
}

static int quality_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id",
                                       "when",
                                       "require",
                                       "picklists",
                                       "min_text_length",
                                       "complete_bonus",
                                       "incomplete_penalty",
                                       "incomplete_keep_percent",
                                       "description",
                                       NULL};
    quality_t *q = &c->r->quality[i];
    char p[128];
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &q->id)) return -1;
    const char *ids[MAX_QUALITY];
    for (int j = 0; j < i; j++) ids[j] = c->r->quality[j].id;
    if (unique_id(c, n, path, q->id, ids, i) || filter_at(c, n, path, &q->when)) return -1;
    q->incomplete_keep_percent = 100;
    if (opt_int(c, n, path, "min_text_length", 0, 100000, &q->min_text_length) ||
        opt_int(c, n, path, "complete_bonus", 0, POINTS_MAX, &q->complete_bonus) ||
        opt_int(c, n, path, "incomplete_penalty", -POINTS_MAX, 0, &q->incomplete_penalty) ||
        opt_int(c, n, path, "incomplete_keep_percent", 0, 100, &q->incomplete_keep_percent))
        return -1;
    node_t *v = get(c, n, "require");
    if (v) {
        strset_t set;
        subpath(p, sizeof(p), path, "require");
        if (strset_at(c, v, p, &set)) return -1;
        if (set.n > MAX_REQUIRED) return fail(c, v, p, "at most %d fields", MAX_REQUIRED);
        for (int j = 0; j < set.n; j++) {
            if (!carrot_rules_field_known(set.v[j]))
                return fail(c, v, p, "unknown field \"%s\" (see README: quality fields)", set.v[j]);
            q->required[q->nrequired++] = set.v[j];
        }
    }
    if ((v = get(c, n, "picklists"))) {
        subpath(p, sizeof(p), path, "picklists");
        if (v->type != YAML_MAPPING_NODE) return fail(c, v, p, "expected field: [allowed values]");
        for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top;
             pr++) {
            node_t *k = node(c, pr->key);
            if (q->npicklists == MAX_PICKLISTS)
                return fail(c, k, p, "at most %d pick-lists", MAX_PICKLISTS);
            picklist_t *pl = &q->picklists[q->npicklists];
            char f[300];
            if (!is_scalar(k) || !carrot_rules_field_known(sval(k)))
                return fail(c, k, p, "unknown field \"%.80s\"", is_scalar(k) ? sval(k) : "?");
            snprintf(f, sizeof(f), "%s.%.80s", p, sval(k));
            if (str_at(c, k, p, &pl->field) || strset_at(c, node(c, pr->value), f, &pl->allowed))
                return -1;
            q->npicklists++;
        }
    }
    c->r->nquality = i + 1;
    return 0;
}

static int timeliness_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id",           "when",          "full_hours",
                                       "zero_hours",   "floor_percent", "late_hours",
                                       "late_penalty", "description",   NULL};
    timeliness_t *t = &c->r->timeliness[i];
    char p[128];
    int64_t full, zero = -1, late = -1;
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &t->id)) return -1;
    const char *ids[MAX_TIMELINESS];
    for (int j = 0; j < i; j++) ids[j] = c->r->timeliness[j].id;
    if (unique_id(c, n, path, t->id, ids, i) || filter_at(c, n, path, &t->when) ||
        req_int(c, n, path, "full_hours", 0, 100000, &full) ||
        opt_int(c, n, path, "zero_hours", 0, 100000, &zero) ||
        opt_int(c, n, path, "floor_percent", 0, 100, &t->floor_percent) ||
        opt_int(c, n, path, "late_hours", 0, 100000, &late) ||
        opt_int(c, n, path, "late_penalty", -POINTS_MAX, 0, &t->late_penalty))
        return -1;
    if (zero < 0) zero = full; /* no decay: full points, then floor_percent */
    if (zero < full)
        return fail(c, get(c, n, "zero_hours"), path, "zero_hours is below full_hours");
    t->full_ms = full * 3600000;
    t->zero_ms = zero * 3600000;
    t->has_late = late >= 0;
    t->late_ms = late * 3600000;
    c->r->ntimeliness = i + 1;
    return 0;
}

static int time_at(ctx_t *c, node_t *n, const char *path, int64_t *out) {
    if (!is_scalar(n) || carrot_time_parse(sval(n), out) != 0)
        return fail(c, n, path,
                    "expected an RFC 3339 time with a zone (2026-11-01T00:00:00-06:00)");
    return 0;
}

static int promo_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id",         "when",  "from",        "to",
                                       "multiplier", "bonus", "description", NULL};
    promo_t *pr = &c->r->promos[i];
    char p[128];
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &pr->id)) return -1;
    const char *ids[MAX_PROMOTIONS];
    for (int j = 0; j < i; j++) ids[j] = c->r->promos[j].id;
    if (unique_id(c, n, path, pr->id, ids, i) || filter_at(c, n, path, &pr->when)) return -1;
    node_t *from = get(c, n, "from"), *to = get(c, n, "to"), *mult = get(c, n, "multiplier");
    subpath(p, sizeof(p), path, "from");
    if (!from) return fail(c, n, p, "is required");
    if (time_at(c, from, p, &pr->from_ms)) return -1;
    pr->to_ms = INT64_MAX;
    subpath(p, sizeof(p), path, "to");
    if (to && time_at(c, to, p, &pr->to_ms)) return -1;
    if (pr->to_ms <= pr->from_ms) return fail(c, to, p, "the window ends before it starts");
    pr->multiplier_pct = 100;
    if (mult) {
        subpath(p, sizeof(p), path, "multiplier");
        char *end;
        double m = is_scalar(mult) ? strtod(sval(mult), &end) : -1;
        if (!is_scalar(mult) || !*sval(mult) || *end || !(m >= 0 && m <= 100))
            return fail(c, mult, p, "expected a number from 0 to 100 (2 doubles, 1.5 adds half)");
        pr->multiplier_pct = (int64_t)llround(m * 100);
    }
    if (opt_int(c, n, path, "bonus", -POINTS_MAX, POINTS_MAX, &pr->bonus)) return -1;
    if (!mult && !get(c, n, "bonus"))
        return fail(c, n, path, "a promotion needs a multiplier or a bonus");
    c->r->npromos = i + 1;
    return 0;
}

static int goal_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id",    "when",        "period", "target",
                                       "bonus", "description", NULL};
    goal_t *g = &c->r->goals[i];
    char p[128];
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &g->id)) return -1;
    const char *ids[CARROT_RULES_MAX_GOALS];
    for (int j = 0; j < i; j++) ids[j] = c->r->goals[j].id;
    if (unique_id(c, n, path, g->id, ids, i) || filter_at(c, n, path, &g->when)) return -1;
    subpath(p, sizeof(p), path, "period");
    if (!get(c, n, "period")) return fail(c, n, p, "is required");
    if (period_at(c, get(c, n, "period"), p, &g->period) ||
        req_int(c, n, path, "target", 1, 1000000, &g->target) ||
        req_int(c, n, path, "bonus", -POINTS_MAX, POINTS_MAX, &g->bonus))
        return -1;
    c->r->ngoals = i + 1;
    return 0;
}

/* Whether id names an award line of these rules: a KPI, "timeliness.<id>",
 * "quality.<id>" or "promo.<id>" (goals are bonuses of their own). */
static int line_known(const carrot_rules_t *r, const char *id) {
    for (int i = 0; i < r->nkpis; i++)
        if (!strcmp(r->kpis[i].id, id)) return 1;
    struct {
        const char *prefix;
        int n;
    } kinds[] = {
        {"timeliness.", r->ntimeliness}, {"quality.", r->nquality}, {"promo.", r->npromos}};
    for (int k = 0; k < 3; k++) {
        size_t pl = strlen(kinds[k].prefix);
        if (strncmp(id, kinds[k].prefix, pl)) continue;
        for (int i = 0; i < kinds[k].n; i++) {
            const char *rid = k == 0   ? r->timeliness[i].id
                              : k == 1 ? r->quality[i].id
                                       : r->promos[i].id;
            if (!strcmp(rid, id + pl)) return 1;
        }
    }
    return 0;
}

/* metric: {count: types} | {points: rule ids} | {complete: quality ids} |
 * {on_time: timeliness ids}, exactly one. */
static int metric_at(ctx_t *c, node_t *n, const char *path, commit_t *m) {
    static const char *const keys[] = {"count", "points", "complete", "on_time", NULL};
    if (!n) return fail(c, NULL, path, "is required");
    if (check_map(c, n, path, keys)) return -1;
    if (n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
        return fail(c, n, path, "name one of count, points, complete or on_time");
    node_t *k = node(c, n->data.mapping.pairs.start->key);
    node_t *v = node(c, n->data.mapping.pairs.start->value);
    char p[256];
    subpath(p, sizeof(p), path, sval(k));
    if (strset_at(c, v, p, &m->rules)) return -1;
    const carrot_rules_t *r = c->r;
    for (int i = 0; i < m->rules.n; i++) {
        const char *id = m->rules.v[i];
        int ok = 0;
        if (!strcmp(sval(k), "count")) {
            m->pub.metric = CARROT_COMMIT_COUNT;
            int t = type_index(id);
            if (t < 0 || t >= 32) return fail(c, v, p, "unknown activity type \"%s\"", id);
            m->types |= 1u << t;
            ok = 1;
        } else if (!strcmp(sval(k), "points")) {
            m->pub.metric = CARROT_COMMIT_POINTS;
            if (!(ok = line_known(r, id)))
                return fail(c, v, p,
                            "no rule \"%s\" (a KPI id, or timeliness.<id>, quality.<id>, "
                            "promo.<id>)",
                            id);
        } else if (!strcmp(sval(k), "complete")) {
            m->pub.metric = CARROT_COMMIT_COMPLETE;
            for (int j = 0; j < r->nquality; j++) ok |= !strcmp(r->quality[j].id, id);
            if (!ok) return fail(c, v, p, "no quality rule \"%s\"", id);
        } else {
            m->pub.metric = CARROT_COMMIT_ON_TIME;
            for (int j = 0; j < r->ntimeliness; j++) ok |= !strcmp(r->timeliness[j].id, id);
            if (!ok) return fail(c, v, p, "no timeliness rule \"%s\"", id);
        }
    }
    return 0;
}

static int commit_item(ctx_t *c, node_t *n, const char *path, int i) {
    static const char *const keys[] = {"id",    "text",    "period", "metric",      "target", "who",
                                       "bonus", "penalty", "streak", "description", NULL};
    static const char *const streak_keys[] = {"periods", "bonus", NULL};
    commit_t *m = &c->r->commits[i];
    char p[128];
    memset(m, 0, sizeof(*m));
    subpath(p, sizeof(p), path, "id");
    if (check_map(c, n, path, keys) || id_at(c, get(c, n, "id"), p, &m->pub.id)) return -1;
    const char *ids[CARROT_RULES_MAX_COMMITS];
    for (int j = 0; j < i; j++) ids[j] = c->r->commits[j].pub.id;
    if (unique_id(c, n, path, m->pub.id, ids, i)) return -1;
    m->pub.text = "";
    subpath(p, sizeof(p), path, "text");
    if (get(c, n, "text") && str_at(c, get(c, n, "text"), p, &m->pub.text)) return -1;
    subpath(p, sizeof(p), path, "period");
    if (!get(c, n, "period")) return fail(c, n, p, "is required");
    if (period_at(c, get(c, n, "period"), p, &m->pub.period)) return -1;
    if (m->pub.period == CARROT_PERIOD_PTD)
        return fail(c, get(c, n, "period"), p, "a commitment is per day, week, month or quarter");
    subpath(p, sizeof(p), path, "metric");
    if (metric_at(c, get(c, n, "metric"), p, m) || filter_key(c, n, path, "who", &m->who))
        return -1;
    int share = m->pub.metric == CARROT_COMMIT_COMPLETE || m->pub.metric == CARROT_COMMIT_ON_TIME;
    if (req_int(c, n, path, "target", 1, share ? 100 : 100000000, &m->pub.target) ||
        opt_int(c, n, path, "bonus", 0, POINTS_MAX, &m->pub.bonus) ||
        opt_int(c, n, path, "penalty", -POINTS_MAX, 0, &m->pub.penalty))
        return -1;
    node_t *s = get(c, n, "streak");
    if (s) {
        subpath(p, sizeof(p), path, "streak");
        if (check_map(c, s, p, streak_keys) ||
            req_int(c, s, p, "periods", 2, 520, &m->pub.streak_periods) ||
            req_int(c, s, p, "bonus", 1, POINTS_MAX, &m->pub.streak_bonus))
            return -1;
    }
    c->r->ncommits = i + 1;
    return 0;
}

/* The shorthand "points: {call: 5}": a KPI rule "base.call" per type. */
static int points_shorthand(ctx_t *c, node_t *n) {
    if (n->type != YAML_MAPPING_NODE) return fail(c, n, "points", "expected activity type: points");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        node_t *k = node(c, p->key);
        char path[128], id[80];
        int t = is_scalar(k) ? type_index(sval(k)) : -1;
        if (t < 0)
            return fail(c, k, "points", "unknown activity type \"%.60s\"",
                        is_scalar(k) ? sval(k) : "?");
        snprintf(path, sizeof(path), "points.%s", sval(k));
        if (c->r->nkpis >= MAX_KPIS) return fail(c, k, "points", "at most %d KPI rules", MAX_KPIS);
        kpi_t *kp = &c->r->kpis[c->r->nkpis];
        memset(kp, 0, sizeof(*kp));
        snprintf(id, sizeof(id), "base.%s", sval(k));
        for (int j = 0; j < c->r->nkpis; j++)
            if (strcmp(c->r->kpis[j].id, id) == 0) return fail(c, k, path, "listed twice");
        if (!(kp->id = own(c, id, strlen(id)))) return fail(c, NULL, path, "out of memory");
        kp->when.types = 1u << t;
        if (int_at(c, node(c, p->value), path, -POINTS_MAX, POINTS_MAX, &kp->points)) return -1;
        c->r->nkpis++;
    }
    return 0;
}

static int retention(ctx_t *c, node_t *n) {
    static const char *const keys[] = {"day", "week", "month", "quarter", NULL};
    /* defaults: a period's board stays readable for a while after it ends */
    static const int64_t dflt[CARROT_PERIOD_COUNT] = {35, 91, 400, 800, 0};
    for (int p = 0; p < CARROT_PERIOD_COUNT; p++) c->r->retention_s[p] = dflt[p] * 86400;
    if (!n) return 0;
    if (check_map(c, n, "retention_days", keys)) return -1;
    for (int p = 0; p < CARROT_PERIOD_PTD; p++) {
        int64_t d = dflt[p];
        if (opt_int(c, n, "retention_days", carrot_period_name((carrot_period_t)p), 1, 36500, &d))
            return -1;
        c->r->retention_s[p] = d * 86400;
    }
    return 0;
}

static int parse_root(ctx_t *c, node_t *root) {
    static const char *const keys[] = {"program",     "version",    "timezone", "description",
                                       "bands",       "kpis",       "points",   "quality",
                                       "timeliness",  "promotions", "goals",    "retention_days",
                                       "commitments", NULL};
    carrot_rules_t *r = c->r;
    if (!root) return fail(c, NULL, "", "the file is empty");
    if (check_map(c, root, "", keys)) return -1;
    node_t *n;
    if (!(n = get(c, root, "program"))) return fail(c, root, "program", "is required");
    if (id_at(c, n, "program", &r->program)) return -1;
    if (!(n = get(c, root, "version"))) return fail(c, root, "version", "is required");
    if (id_at(c, n, "version", &r->version)) return -1;
    r->timezone = "UTC";
    if ((n = get(c, root, "timezone"))) {
        if (str_at(c, n, "timezone", &r->timezone)) return -1;
        if (!carrot_tz_valid(r->timezone))
            return fail(c, n, "timezone",
                        "unknown time zone \"%s\" (use a tz database name such as "
                        "America/Chicago, or UTC)",
                        r->timezone);
    }
    if (each(c, root, "bands", MAX_BANDS, band_item) || each(c, root, "kpis", MAX_KPIS, kpi_item))
        return -1;
    if ((n = get(c, root, "points")) && points_shorthand(c, n)) return -1;
    if (each(c, root, "quality", MAX_QUALITY, quality_item) ||
        each(c, root, "timeliness", MAX_TIMELINESS, timeliness_item) ||
        each(c, root, "promotions", MAX_PROMOTIONS, promo_item) ||
        each(c, root, "goals", CARROT_RULES_MAX_GOALS, goal_item) ||
        each(c, root, "commitments", CARROT_RULES_MAX_COMMITS, commit_item) ||
        retention(c, get(c, root, "retention_days")))
        return -1;
    if (r->nkpis == 0 && r->ngoals == 0)
        return fail(c, root, "", "no \"kpis\", \"points\" or \"goals\": these rules award nothing");
    return 0;
}

carrot_rules_t *carrot_rules_parse(const char *text, size_t len, const char *origin, char *errstr,
                                   size_t errstr_size) {
    if (len > MAX_RULES_BYTES) {
        snprintf(errstr, errstr_size, "%s: larger than %d bytes", origin, MAX_RULES_BYTES);
        return NULL;
    }
    carrot_rules_t *r = calloc(1, sizeof(*r));
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0, have_doc = 0;
    if (!r || !(r->kpis = calloc(MAX_KPIS, sizeof(*r->kpis))) || !(r->text = malloc(len + 1))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    r->text_len = len;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)r->text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(errstr, errstr_size, "%s:%lu: %s%s%s", origin,
                 (unsigned long)(parser.problem_mark.line + 1),
                 parser.problem ? parser.problem : "cannot be read", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        goto fail;
    }
    have_doc = 1;
    ctx_t c = {&doc, origin, errstr, errstr_size, r, 0};
    if (parse_root(&c, yaml_document_get_root_node(&doc)) != 0) goto fail;
    /* a second document in the file is a mistake, not something to ignore */
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        int more = yaml_document_get_root_node(&extra) != NULL;
        yaml_document_delete(&extra);
        if (more) {
            snprintf(errstr, errstr_size, "%s: holds more than one YAML document", origin);
            goto fail;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return r;
fail:
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    carrot_rules_destroy(r);
    return NULL;
}

carrot_rules_t *carrot_rules_load(const char *path, char *errstr, size_t errstr_size) {
    size_t len;
    char *text = carrot_read_file(path, "rules file", &len, errstr, errstr_size);
    if (!text) return NULL;
    carrot_rules_t *r = carrot_rules_parse(text, len, path, errstr, errstr_size);
    free(text);
    return r;
}

void carrot_rules_destroy(carrot_rules_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nowned; i++) free(r->owned[i]);
    free(r->owned);
    free(r->kpis);
    free(r->text);
    free(r);
}

const char *carrot_rules_program(const carrot_rules_t *r) { return r->program; }
const char *carrot_rules_version(const carrot_rules_t *r) { return r->version; }
const char *carrot_rules_timezone(const carrot_rules_t *r) { return r->timezone; }
const char *carrot_rules_text(const carrot_rules_t *r, size_t *lenp) {
    if (lenp) *lenp = r->text_len;
    return r->text;
}
int64_t carrot_rules_retention_s(const carrot_rules_t *r, carrot_period_t p) {
    return p >= 0 && p < CARROT_PERIOD_COUNT ? r->retention_s[p] : 0;
}

int carrot_rules_ncommitments(const carrot_rules_t *r) { return r->ncommits; }

const carrot_commitment_t *carrot_rules_commitment(const carrot_rules_t *r, int i) {
    return i >= 0 && i < r->ncommits ? &r->commits[i].pub : NULL;
}

int carrot_rules_commitment_find(const carrot_rules_t *r, const char *id) {
    for (int i = 0; i < r->ncommits; i++)
        if (!strcmp(r->commits[i].pub.id, id)) return i;
    return -1;
}

const char *carrot_commit_metric_name(carrot_commit_metric_t m) {
    static const char *const names[] = {"count", "points", "complete", "on_time"};
    return m >= CARROT_COMMIT_COUNT && m <= CARROT_COMMIT_ON_TIME ? names[m] : "?";
}
