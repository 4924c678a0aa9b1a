/* render.c: the adoption report's JSON as text for people and as CSV (one
 * row per period) for spreadsheets and BI tools. */
#include "report_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || o->oom) return;
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

static char *done(out_t *o) {
    if (o->oom || !o->p) {
        free(o->p);
        return o->oom ? NULL : strdup("");
    }
    return o->p;
}

static long long I(const json_t *o, const char *k) {
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *S(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A share as a percent, or "-" when nothing was judged. */
static const char *pct(const json_t *v, char *buf, size_t size) {
    if (!json_is_number(v)) return "-";
    snprintf(buf, size, "%.1f%%", 100.0 * json_number_value(v));
    return buf;
}

char *report_text(const json_t *doc) {
    out_t o = {0};
    const json_t *f = json_object_get(doc, "filters");
    const char *seg = json_string_value(json_object_get(f, "segment"));
    const char *band = json_string_value(json_object_get(f, "band"));
    const char *team = json_string_value(json_object_get(f, "team"));
    put(&o, "Adoption of program %s by %s (%s); segment %s, band %s, team %s\n\n",
        S(doc, "program"), S(doc, "period"), S(doc, "timezone"), seg ? seg : "all",
        band ? band : "all", team ? team : "all");
    put(&o, "%-10s %8s %6s %10s %9s %8s %8s %6s %5s %4s %7s %8s\n", "period", "eligible", "active",
        "activities", "perActive", "complete", "onTime", "top10", "quiet", "new", "deleted",
        "points");
    const json_t *periods = json_object_get(doc, "periods"), *p;
    size_t i;
    json_array_foreach(periods, i, p) {
        char a[16], b[16], c[16];
        put(&o, "%-10s %8lld %6lld %10lld %9.2f %8s %8s %6s %5lld %4lld %7lld %8lld\n",
            S(p, "period"), I(p, "eligible"), I(p, "active"), I(p, "activities"),
            json_number_value(json_object_get(p, "per_active")),
            pct(json_object_get(json_object_get(p, "complete"), "share"), a, sizeof(a)),
            pct(json_object_get(json_object_get(p, "on_time"), "share"), b, sizeof(b)),
            pct(json_object_get(p, "top10_share"), c, sizeof(c)), I(p, "quiet"), I(p, "new"),
            I(p, "deleted"), I(p, "points"));
    }
    const json_t *last = json_array_get(periods, json_array_size(periods) - 1);
    if (last) {
        put(&o, "\n%s (%s to %s)\n  by type:", S(last, "period"), S(last, "start"), S(last, "end"));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)json_object_get(last, "by_type"), k, v)
            put(&o, " %s %lld", k, (long long)json_integer_value(v));
        put(&o, "\n  by segment:");
        json_object_foreach((json_t *)json_object_get(last, "by_segment"), k, v)
            put(&o, " %s %lld of %lld active (%lld activities);", k, I(v, "active"),
                I(v, "eligible"), I(v, "activities"));
        put(&o, "\n  days active (participants by number of days):");
        const json_t *d;
        size_t j;
        json_array_foreach(json_object_get(last, "days_active"), j, d)
            put(&o, " %zu:%lld", j, (long long)json_integer_value(d));
        put(&o, "\n");
    }
    const json_t *quiet = json_object_get(doc, "quiet"), *q;
    put(&o, "\nQuiet (active the period before, not in the last): %zu\n", json_array_size(quiet));
    json_array_foreach(quiet, i, q) {
        const char *name = json_string_value(json_object_get(q, "name"));
        put(&o, "  %-20s %-24s %-12s %-14s last active %s, %lld activities before\n",
            S(q, "participant_id"), name ? name : "-", S(q, "segment"), S(q, "team_id"),
            S(q, "last_active"), I(q, "activities_before"));
    }
    const json_t *co = json_object_get(doc, "cohorts"), *c;
    put(&o, "\nFirst-activity cohorts (participants, then active per period since):\n");
    json_array_foreach(co, i, c) {
        put(&o, "  %-10s %5lld:", S(c, "cohort"), I(c, "participants"));
        const json_t *a;
        size_t j;
        json_array_foreach(json_object_get(c, "active"), j, a)
            put(&o, " %lld", (long long)json_integer_value(a));
        put(&o, "\n");
    }
    const json_t *rf = json_object_get(doc, "refusals"), *r;
    put(&o, "\nRefused (dead letters of the activity feed): %zu kinds\n", json_array_size(rf));
    json_array_foreach(rf, i, r) {
        put(&o, "  %6lld  %-8s %-30s %s%s\n", I(r, "refused"), S(r, "stage"), S(r, "source"),
            S(r, "reason"), *S(r, "program") ? "" : " (program not named)");
    }
    return done(&o);
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void field(out_t *o, const char *s, int last) {
    if (strpbrk(s, ",\"\r\n")) {
        put(o, "\"");
        for (; *s; s++) {
            if (*s == '"') put(o, "\"\"");
            else
                put(o, "%c", *s);
        }
        put(o, "\"");
    } else {
        put(o, "%s", s);
    }
    put(o, last ? "\r\n" : ",");
}

char *report_csv(const json_t *doc) {
    out_t o = {0};
    static const char *const head[] = {"program",
                                       "period",
                                       "start",
                                       "end",
                                       "segment",
                                       "band",
                                       "team",
                                       "eligible",
                                       "active",
                                       "activities",
                                       "per_active",
                                       "deleted",
                                       "points",
                                       "complete_judged",
                                       "complete",
                                       "complete_share",
                                       "on_time_judged",
                                       "on_time",
                                       "on_time_share",
                                       "top10_share",
                                       "quiet",
                                       "new",
                                       NULL};
    for (int i = 0; head[i]; i++) field(&o, head[i], !head[i + 1]);
    const json_t *f = json_object_get(doc, "filters"), *p;
    const char *seg = json_string_value(json_object_get(f, "segment"));
    const char *band = json_string_value(json_object_get(f, "band"));
    const char *team = json_string_value(json_object_get(f, "team"));
    size_t i;
    json_array_foreach(json_object_get(doc, "periods"), i, p) {
        const json_t *c = json_object_get(p, "complete"), *t = json_object_get(p, "on_time");
        char v[16][32];
        const json_t *shares[] = {json_object_get(c, "share"), json_object_get(t, "share"),
                                  json_object_get(p, "top10_share")};
        char sh[3][32];
        for (int k = 0; k < 3; k++) {
            if (json_is_number(shares[k]))
                snprintf(sh[k], sizeof(sh[k]), "%.4f", json_number_value(shares[k]));
            else
                sh[k][0] = '\0';
        }
        snprintf(v[0], sizeof(v[0]), "%lld", I(p, "eligible"));
        snprintf(v[1], sizeof(v[1]), "%lld", I(p, "active"));
        snprintf(v[2], sizeof(v[2]), "%lld", I(p, "activities"));
        snprintf(v[3], sizeof(v[3]), "%.2f", json_number_value(json_object_get(p, "per_active")));
        snprintf(v[4], sizeof(v[4]), "%lld", I(p, "deleted"));
        snprintf(v[5], sizeof(v[5]), "%lld", I(p, "points"));
        snprintf(v[6], sizeof(v[6]), "%lld", I(c, "judged"));
        snprintf(v[7], sizeof(v[7]), "%lld", I(c, "complete"));
        snprintf(v[8], sizeof(v[8]), "%lld", I(t, "judged"));
        snprintf(v[9], sizeof(v[9]), "%lld", I(t, "on_time"));
        snprintf(v[10], sizeof(v[10]), "%lld", I(p, "quiet"));
        snprintf(v[11], sizeof(v[11]), "%lld", I(p, "new"));
        const char *row[] = {S(doc, "program"),
                             S(p, "period"),
                             S(p, "start"),
                             S(p, "end"),
                             seg ? seg : "",
                             band ? band : "",
                             team ? team : "",
                             v[0],
                             v[1],
                             v[2],
                             v[3],
                             v[4],
                             v[5],
                             v[6],
                             v[7],
                             sh[0],
                             v[8],
                             v[9],
                             sh[1],
                             sh[2],
                             v[10],
                             v[11]};
        int n = (int)(sizeof(row) / sizeof(row[0]));
        for (int k = 0; k < n; k++) field(&o, row[k], k == n - 1);
    }
    return done(&o);
}
