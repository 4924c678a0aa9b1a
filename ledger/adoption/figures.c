/* figures.c: the adoption report's figures, counted from the facts of the
 * periods shown (README "Adoption" says what each one means). */
#include "report_int.h"
#include "smap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int report_period_of(const report_t *rp, const char *day) {
    for (int i = rp->np - 1; i >= 0; i--)
        if (strcmp(day, rp->per[i].start) >= 0) return strcmp(day, rp->per[i].end) <= 0 ? i : -1;
    return -1;
}

/* One participant across the periods (index as rp->per). */
typedef struct {
    char segment[64];
    int64_t *n;       /* activities logged per period */
    int *days;        /* distinct days active per period */
    char (*last)[11]; /* last active day per period */
    char first[11];   /* first activity ever ("" unknown) */
    int eligible;     /* in the directory, active, matching the filters */
    char hired[11];   /* "" unknown */
    char dsegment[64];
} who_t;

static void who_free(void *p) {
    who_t *w = p;
    if (!w) return;
    free(w->n);
    free(w->days);
    free(w->last);
    free(w);
}

typedef struct {
    report_t *rp;
    smap_t who;
    carrot_ledger_err_t rc;
    char *errstr;
    size_t errstr_size;
} fig_t;

static who_t *who(fig_t *g, const char *id) {
    int created;
    void **v = smap_get(&g->who, id, &created);
    if (!v) return NULL;
    if (created) {
        who_t *w = calloc(1, sizeof(*w));
        int np = g->rp->np;
        if (w && (!(w->n = calloc((size_t)np, sizeof(*w->n))) ||
                  !(w->days = calloc((size_t)np, sizeof(*w->days))) ||
                  !(w->last = calloc((size_t)np, sizeof(*w->last))))) {
            who_free(w);
            w = NULL;
        }
        *v = w;
    }
    return *v;
}

/* Runs a query with params; NULL (and g->rc) on failure. */
static PGresult *qp(fig_t *g, const char *sql, int n, const char *const *p, const char *what) {
    PGresult *r = PQexecParams(g->rp->pg, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
    g->rc = carrot_pg_failure(g->rp->pg, r, what, g->errstr, g->errstr_size);
    PQclear(r);
    return NULL;
}

/* The same with the program, period kind, range and filters as $1..$7. */
static PGresult *q7(fig_t *g, const char *sql, const char *lo, const char *hi, const char *what) {
    report_t *rp = g->rp;
    const char *p[] = {rp->program, rp->kind, lo, hi, rp->segment, rp->band, rp->team};
    return qp(g, sql, 7, p, what);
}

#define FILTERS \
    " AND ($5 = '' OR segment = $5) AND ($6 = '' OR band = $6) AND ($7 = '' OR team_id = $7) "

static json_t *share(int64_t part, int64_t whole) {
    return whole > 0 ? json_real((double)part / (double)whole) : json_null();
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int period_days(const char *kind) {
    return strcmp(kind, "day") == 0     ? 1
           : strcmp(kind, "week") == 0  ? 7
           : strcmp(kind, "month") == 0 ? 31
                                        : 92;
}

/* Per period and activity type: the sums. */
static int sums(fig_t *g, json_t *periods) {
    report_t *rp = g->rp;
    PGresult *r = q7(g,
                     "SELECT adoption_period_start($2, day)::text, activity_type, sum(logged), "
                     "  sum(deleted), sum(points), sum(q_judged), sum(complete), sum(t_judged), "
                     "  sum(on_time) "
                     "FROM adoption_facts WHERE program_id = $1 AND day >= $3::date "
                     "  AND day <= $4::date" FILTERS "GROUP BY 1, 2 ORDER BY 1, 2",
                     rp->per[1].start, rp->per[rp->np - 1].end, "summing the facts");
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int k = report_period_of(rp, PQgetvalue(r, i, 0));
        if (k < 1) continue;
        json_t *p = json_array_get(periods, (size_t)k - 1);
        int64_t v[7];
        for (int j = 0; j < 7; j++) v[j] = strtoll(PQgetvalue(r, i, 2 + j), NULL, 10);
        static const char *const names[] = {"activities", "deleted", "points"};
        for (int j = 0; j < 3; j++)
            json_object_set_new(
                p, names[j], json_integer(json_integer_value(json_object_get(p, names[j])) + v[j]));
        if (v[0])
            json_object_set_new(json_object_get(p, "by_type"), PQgetvalue(r, i, 1),
                                json_integer(v[0]));
        json_t *c = json_object_get(p, "complete"), *t = json_object_get(p, "on_time");
        json_object_set_new(c, "judged",
                            json_integer(json_integer_value(json_object_get(c, "judged")) + v[3]));
        json_object_set_new(
            c, "complete", json_integer(json_integer_value(json_object_get(c, "complete")) + v[4]));
        json_object_set_new(t, "judged",
                            json_integer(json_integer_value(json_object_get(t, "judged")) + v[5]));
        json_object_set_new(t, "on_time",
                            json_integer(json_integer_value(json_object_get(t, "on_time")) + v[6]));
    }
    PQclear(r);
    return 0;
}

/* Each participant's activity per period, first day and eligibility. */
static int people(fig_t *g) {
    report_t *rp = g->rp;
    /* per participant and day first (the types summed), then per period: the
     * days active are the days with something logged (logged is never
     * negative), which spares a count(DISTINCT) and its sort */
    PGresult *r = q7(g,
                     "SELECT adoption_period_start($2, day)::text, participant_id, max(seg), "
                     "  sum(n), count(*) FILTER (WHERE n > 0), max(day) FILTER (WHERE n > 0)::text "
                     "FROM (SELECT day, participant_id, max(segment) AS seg, sum(logged) AS n "
                     "  FROM adoption_facts WHERE program_id = $1 AND day >= $3::date "
                     "  AND day <= $4::date" FILTERS "GROUP BY day, participant_id) d "
                     "GROUP BY 1, 2 HAVING sum(n) > 0",
                     rp->per[0].start, rp->per[rp->np - 1].end, "reading who was active");
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int k = report_period_of(rp, PQgetvalue(r, i, 0));
        who_t *w = k < 0 ? NULL : who(g, PQgetvalue(r, i, 1));
        if (k < 0) continue;
        if (!w) {
            PQclear(r);
            return -2;
        }
        snprintf(w->segment, sizeof(w->segment), "%s", PQgetvalue(r, i, 2));
        w->n[k] = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        w->days[k] = atoi(PQgetvalue(r, i, 4));
        snprintf(w->last[k], sizeof(w->last[k]), "%s", PQgetvalue(r, i, 5));
    }
    PQclear(r);
    /* first days, of those active in the range */
    const char *p[] = {rp->program, rp->per[0].start, rp->per[rp->np - 1].end};
    r = PQexecParams(rp->pg,
                     "SELECT participant_id, first_day::text FROM adoption_first "
                     "WHERE program_id = $1 AND first_day >= $2::date AND first_day <= $3::date",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        g->rc = carrot_pg_failure(rp->pg, r, "reading first days", g->errstr, g->errstr_size);
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        who_t *w = smap_find(&g->who, PQgetvalue(r, i, 0));
        if (w) snprintf(w->first, sizeof(w->first), "%s", PQgetvalue(r, i, 1));
    }
    PQclear(r);
    /* the eligible: the directory's active participants under the filters */
    const char *pe[] = {rp->program, rp->segment, rp->band, rp->team, rp->tz};
    r = qp(g,
           "SELECT e.participant_id, e.segment, "
           "  coalesce((p.hired_at AT TIME ZONE $5)::date::text, '') "
           "FROM adoption_eligible e JOIN participants p USING (program_id, participant_id) "
           "WHERE e.program_id = $1 AND ($2 = '' OR e.segment = $2) AND ($3 = '' OR e.band = $3) "
           "  AND ($4 = '' OR e.team_id = $4)",
           5, pe, "reading the eligible");
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        who_t *w = who(g, PQgetvalue(r, i, 0));
        if (!w) {
            PQclear(r);
            return -2;
        }
        w->eligible = 1;
        snprintf(w->dsegment, sizeof(w->dsegment), "%s", PQgetvalue(r, i, 1));
        snprintf(w->hired, sizeof(w->hired), "%s", PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return 0;
}

static json_t *seg_entry(json_t *by, const char *segment) {
    const char *s = *segment ? segment : "(none)";
    json_t *e = json_object_get(by, s);
    if (!e) {
        e = json_pack("{s:i,s:i,s:i}", "eligible", 0, "active", 0, "activities", 0);
        json_object_set_new(by, s, e);
    }
    return e;
}

static void add(json_t *o, const char *key, int64_t v) {
    json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + v));
}

/* The figures that need a participant at a time, per period shown. */
static int per_person(fig_t *g, json_t *periods) {
    report_t *rp = g->rp;
    int maxd = period_days(rp->kind);
    int64_t *ns = malloc((g->who.used + 1) * sizeof(*ns));
    if (!ns) return -2;
    for (int k = 1; k < rp->np; k++) {
        json_t *p = json_array_get(periods, (size_t)k - 1);
        json_t *by = json_object_get(p, "by_segment");
        int64_t *hist = calloc((size_t)maxd + 1, sizeof(*hist));
        if (!hist) {
            free(ns);
            return -2;
        }
        int64_t active = 0, eligible = 0, quiet = 0, fresh = 0, total = 0;
        size_t nn = 0;
        for (size_t i = 0; i < g->who.cap; i++) {
            const who_t *w = g->who.vals[i];
            if (!g->who.keys[i] || !w) continue;
            int elig = w->eligible && (!w->hired[0] || strcmp(w->hired, rp->per[k].end) <= 0);
            if (elig) {
                eligible++;
                add(seg_entry(by, w->dsegment), "eligible", 1);
            }
            if (w->n[k] > 0) {
                active++;
                total += w->n[k];
                ns[nn++] = w->n[k];
                hist[w->days[k] > maxd ? maxd : w->days[k]]++;
                json_t *e = seg_entry(by, w->segment);
                add(e, "active", 1);
                add(e, "activities", w->n[k]);
                if (w->first[0] && strcmp(w->first, rp->per[k].start) >= 0 &&
                    strcmp(w->first, rp->per[k].end) <= 0)
                    fresh++;
            } else {
                if (elig) hist[0]++;
                if (w->n[k - 1] > 0) quiet++;
            }
        }
        qsort(ns, nn, sizeof(*ns), cmp_desc);
        int64_t top = 0, k10 = (int64_t)((nn + 9) / 10);
        for (int64_t i = 0; i < k10; i++) top += ns[i];
        json_t *h = json_array();
        for (int d = 0; d <= maxd; d++) json_array_append_new(h, json_integer(hist[d]));
        free(hist);
        int64_t acts = json_integer_value(json_object_get(p, "activities"));
        json_object_set_new(p, "eligible", json_integer(eligible));
        json_object_set_new(p, "active", json_integer(active));
        json_object_set_new(
            p, "per_active",
            json_real(active ? round(100.0 * (double)acts / (double)active) / 100.0 : 0.0));
        json_t *per_type = json_object(); /* activity per active participant, by type */
        const char *type;
        json_t *count;
        json_object_foreach(json_object_get(p, "by_type"), type, count) {
            double v = (double)json_integer_value(count) / (double)(active ? active : 1);
            json_object_set_new(per_type, type, json_real(round(100.0 * v) / 100.0));
        }
        json_object_set_new(p, "per_active_by_type", per_type);
        json_object_set_new(p, "days_active", h);
        json_object_set_new(p, "top10_share", share(top, total));
        json_object_set_new(p, "quiet", json_integer(quiet));
        json_object_set_new(p, "new", json_integer(fresh));
        json_t *c = json_object_get(p, "complete"), *t = json_object_get(p, "on_time");
        json_object_set_new(c, "share",
                            share(json_integer_value(json_object_get(c, "complete")),
                                  json_integer_value(json_object_get(c, "judged"))));
        json_object_set_new(t, "share",
                            share(json_integer_value(json_object_get(t, "on_time")),
                                  json_integer_value(json_object_get(t, "judged"))));
    }
    free(ns);
    return 0;
}

/* First-activity cohorts: who first logged in each period shown, and how
 * many of them were active in it and in each period after. */
static json_t *cohorts(fig_t *g) {
    report_t *rp = g->rp;
    json_t *out = json_array();
    for (int c = 1; c < rp->np; c++) {
        json_t *act = json_array();
        int64_t members = 0;
        for (int k = c; k < rp->np; k++) json_array_append_new(act, json_integer(0));
        for (size_t i = 0; i < g->who.cap; i++) {
            const who_t *w = g->who.vals[i];
            if (!g->who.keys[i] || !w || !w->first[0] || w->n[c] == 0 ||
                strcmp(w->first, rp->per[c].start) < 0 || strcmp(w->first, rp->per[c].end) > 0)
                continue;
            members++;
            for (int k = c; k < rp->np; k++)
                if (w->n[k] > 0) {
                    json_t *e = json_array_get(act, (size_t)(k - c));
                    json_integer_set(e, json_integer_value(e) + 1);
                }
        }
        if (members)
            json_array_append_new(out,
                                  json_pack("{s:s,s:I,s:o}", "cohort", rp->per[c].label,
                                            "participants", (json_int_t)members, "active", act));
        else
            json_decref(act);
    }
    return out;
}

static int cmp_quiet(const void *a, const void *b) {
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t nx = json_integer_value(json_object_get(x, "activities_before"));
    int64_t ny = json_integer_value(json_object_get(y, "activities_before"));
    if (nx != ny) return nx < ny ? 1 : -1;
    return strcmp(json_string_value(json_object_get(x, "participant_id")),
                  json_string_value(json_object_get(y, "participant_id")));
}

/* The last period's quiet: active in the one before, not in it; with the
 * directory's name, segment and team. */
static json_t *quiet_list(fig_t *g) {
    report_t *rp = g->rp;
    int k = rp->np - 1;
    size_t n = 0;
    json_t **rows = malloc((g->who.used + 1) * sizeof(*rows));
    if (!rows) return NULL;
    for (size_t i = 0; i < g->who.cap; i++) {
        const who_t *w = g->who.vals[i];
        if (!g->who.keys[i] || !w || w->n[k] > 0 || w->n[k - 1] == 0) continue;
        rows[n++] = json_pack("{s:s,s:n,s:s,s:s,s:s,s:I}", "participant_id", g->who.keys[i], "name",
                              "segment", w->segment, "team_id", "", "last_active", w->last[k - 1],
                              "activities_before", (json_int_t)w->n[k - 1]);
    }
    qsort(rows, n, sizeof(*rows), cmp_quiet);
    /* their names, in one round trip: the ids as one JSON array */
    json_t *ids = json_array(), *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(ids, json_object_get(rows[i], "participant_id"));
    char *idtext = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    smap_t names = {0};
    const char *p[] = {rp->program, idtext ? idtext : "[]"};
    PGresult *r = n ? PQexecParams(rp->pg,
                                   "SELECT participant_id, display_name, segment, team_id "
                                   "FROM participants WHERE program_id = $1 AND participant_id IN "
                                   "(SELECT jsonb_array_elements_text($2::jsonb))",
                                   2, NULL, p, NULL, NULL, 0)
                    : NULL;
    if (r && PQresultStatus(r) != PGRES_TUPLES_OK)
        g->rc = carrot_pg_failure(rp->pg, r, "reading names", g->errstr, g->errstr_size);
    for (int i = 0; r && !g->rc && i < PQntuples(r); i++) {
        void **v = smap_get(&names, PQgetvalue(r, i, 0), NULL);
        if (v) *v = (void *)(intptr_t)(i + 1);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *row = rows[i];
        intptr_t at = (intptr_t)smap_find(
            &names, json_string_value(json_object_get(row, "participant_id")));
        if (at > 0) {
            int t = (int)at - 1;
            if (!PQgetisnull(r, t, 1))
                json_object_set_new(row, "name", json_string(PQgetvalue(r, t, 1)));
            if (*PQgetvalue(r, t, 2))
                json_object_set_new(row, "segment", json_string(PQgetvalue(r, t, 2)));
            json_object_set_new(row, "team_id", json_string(PQgetvalue(r, t, 3)));
        }
        json_array_append_new(out, row);
    }
    PQclear(r);
    smap_clear(&names, NULL);
    free(idtext);
    free(rows);
    return out;
}

static json_t *heatmap(fig_t *g) {
    report_t *rp = g->rp;
    const char *p[] = {rp->program, rp->per[1].start, rp->per[rp->np - 1].end,
                       rp->segment, rp->band,         rp->team};
    PGresult *r = qp(g,
                     "SELECT d::date::text, coalesce(x.n, 0) "
                     "FROM generate_series($2::date, $3::date, interval '1 day') d LEFT JOIN "
                     "  (SELECT day, count(DISTINCT participant_id) AS n FROM adoption_facts "
                     "   WHERE program_id = $1 AND day >= $2::date AND day <= $3::date "
                     "     AND logged > 0 AND ($4 = '' OR segment = $4) AND ($5 = '' OR band = $5) "
                     "     AND ($6 = '' OR team_id = $6) GROUP BY day) x ON x.day = d::date "
                     "ORDER BY 1",
                     6, p, "counting active days");
    if (!r) return NULL;
    json_t *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(out, json_pack("{s:s,s:I}", "day", PQgetvalue(r, i, 0), "active",
                                             (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10)));
    PQclear(r);
    return out;
}

static json_t *refusals(fig_t *g) {
    report_t *rp = g->rp;
    const char *p[] = {rp->program, rp->per[1].start, rp->per[rp->np - 1].end};
    PGresult *r = PQexecParams(rp->pg,
                               "SELECT program_id, stage, source, reason, sum(refused) "
                               "FROM adoption_refusals WHERE program_id IN ($1, '') "
                               "  AND day >= $2::date AND day <= $3::date "
                               "GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2, 3, 4",
                               3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        g->rc = carrot_pg_failure(rp->pg, r, "reading refusals", g->errstr, g->errstr_size);
        PQclear(r);
        return NULL;
    }
    json_t *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(out,
                              json_pack("{s:s,s:s,s:s,s:s,s:I}", "program", PQgetvalue(r, i, 0),
                                        "stage", PQgetvalue(r, i, 1), "source", PQgetvalue(r, i, 2),
                                        "reason", PQgetvalue(r, i, 3), "refused",
                                        (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10)));
    PQclear(r);
    return out;
}

static json_t *opt(const char *s) { return *s ? json_string(s) : json_null(); }

carrot_ledger_err_t report_figures(report_t *rp, json_t **docp, char *errstr, size_t errstr_size) {
    fig_t g = {rp, {0}, CARROT_LEDGER_OK, errstr, errstr_size};
    json_t *periods = json_array();
    for (int k = 1; k < rp->np; k++)
        json_array_append_new(
            periods,
            json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:{},s:{s:i,s:i},s:{s:i,s:i},s:{}}",
                      "period", rp->per[k].label, "start", rp->per[k].start, "end", rp->per[k].end,
                      "eligible", 0, "active", 0, "activities", 0, "deleted", 0, "points", 0,
                      "per_active", 0.0, "by_type", "complete", "judged", 0, "complete", 0,
                      "on_time", "judged", 0, "on_time", 0, "by_segment"));
    json_t *doc = NULL;
    int bad = sums(&g, periods);
    if (!bad) bad = people(&g);
    if (!bad) bad = per_person(&g, periods);
    json_t *co = bad ? NULL : cohorts(&g);
    json_t *qu = bad ? NULL : quiet_list(&g);
    json_t *hm = bad ? NULL : heatmap(&g);
    json_t *rf = bad ? NULL : refusals(&g);
    if (bad == -2 || (!bad && (!co || !qu || !hm || !rf) && !g.rc)) {
        snprintf(errstr, errstr_size, "out of memory");
        g.rc = CARROT_LEDGER_FATAL;
    }
    if (!g.rc)
        doc = json_pack("{s:s,s:s,s:s,s:{s:o,s:o,s:o},s:O,s:O,s:O,s:O,s:O}", "program", rp->program,
                        "period", rp->kind, "timezone", rp->tz, "filters", "segment",
                        opt(rp->segment), "band", opt(rp->band), "team", opt(rp->team), "periods",
                        periods, "quiet", qu, "cohorts", co, "heatmap", hm, "refusals", rf);
    if (!g.rc && !doc) {
        snprintf(errstr, errstr_size, "out of memory");
        g.rc = CARROT_LEDGER_FATAL;
    }
    json_decref(periods);
    json_decref(co);
    json_decref(qu);
    json_decref(hm);
    json_decref(rf);
    smap_clear(&g.who, who_free);
    *docp = doc;
    return g.rc;
}
