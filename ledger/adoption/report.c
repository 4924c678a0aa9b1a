/* report.c: the adoption report (adoption.h). PostgreSQL sums the facts of
 * the periods shown per period and participant (one pass over the months
 * they span, partitions pruned by day); the figures that need a participant
 * at a time (active, days active, the top 10%, quiet, new, cohorts) are
 * counted here from those rows. The JSON is the report; text and CSV are
 * drawn from it (render.c). */
#include "report_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refusal naming what and the value at fault. */
static carrot_ledger_err_t refuse(char *errstr, size_t errstr_size, const char *what,
                                  const char *value, const char *hint) {
    snprintf(errstr, errstr_size, "%s \"%.200s\"%s", what, value, hint);
    return CARROT_LEDGER_REFUSED;
}

static PGresult *query(PGconn *pg, const char *sql, int n, const char *const *params,
                       const char *what, carrot_ledger_err_t *rc, char *errstr,
                       size_t errstr_size) {
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
    *rc = carrot_pg_failure(pg, r, what, errstr, errstr_size);
    PQclear(r);
    return NULL;
}

static int known_period(const char *p) {
    static const char *const kinds[] = {"day", "week", "month", "quarter", NULL};
    for (int i = 0; kinds[i]; i++)
        if (strcmp(p, kinds[i]) == 0) return 1;
    return 0;
}

static int is_date(const char *s) {
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return 0;
    return 1;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* The periods shown: their starts, labels and last days, oldest first,
 * with the one before them (for quiet) at index 0 of the arrays. */
static carrot_ledger_err_t periods(report_t *rp, char *errstr, size_t errstr_size) {
    char n[16];
    snprintf(n, sizeof(n), "%d", rp->n);
    const char *p[] = {rp->kind, rp->at, n};
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    PGresult *r = query(
        rp->pg,
        "WITH s AS (SELECT adoption_period_start($1, $2::date) AS last, "
        "  CASE $1 WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '7 days' "
        "    WHEN 'month' THEN interval '1 month' ELSE interval '3 months' END AS step) "
        "SELECT (s.last - s.step * g)::date, "
        "  CASE $1 WHEN 'day' THEN to_char(s.last - s.step * g, 'YYYY-MM-DD') "
        "    WHEN 'week' THEN to_char(s.last - s.step * g, 'IYYY-\"W\"IW') "
        "    WHEN 'month' THEN to_char(s.last - s.step * g, 'YYYY-MM') "
        "    ELSE to_char(s.last - s.step * g, 'YYYY-\"Q\"Q') END, "
        "  (s.last - s.step * (g - 1) - interval '1 day')::date "
        "FROM s, generate_series($3::int, 0, -1) g",
        3, p, "reading the periods", &rc, errstr, errstr_size);
    if (!r) return rc;
    rp->np = PQntuples(r); /* n + 1: the one before first */
    rp->per = calloc((size_t)rp->np, sizeof(period_t));
    if (!rp->per) {
        PQclear(r);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    for (int i = 0; i < rp->np; i++) {
        snprintf(rp->per[i].start, sizeof(rp->per[i].start), "%s", PQgetvalue(r, i, 0));
        snprintf(rp->per[i].label, sizeof(rp->per[i].label), "%s", PQgetvalue(r, i, 1));
        snprintf(rp->per[i].end, sizeof(rp->per[i].end), "%s", PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return CARROT_LEDGER_OK;
}

/* Checks the program and the filters, and reads the time zone and the day
 * of `at`. */
static carrot_ledger_err_t check(report_t *rp, const carrot_report_query_t *q, char *errstr,
                                 size_t errstr_size) {
    if (!q->program || !*q->program) return refuse(errstr, errstr_size, "unknown program", "", "");
    rp->kind = q->period && *q->period ? q->period : "week";
    if (!known_period(rp->kind))
        return refuse(errstr, errstr_size, "unknown period", rp->kind,
                      " (day, week, month or quarter)");
    rp->n = q->periods ? q->periods : 8;
    if (rp->n < 1 || rp->n > 104) {
        snprintf(errstr, errstr_size, "bad periods %d (1 to 104)", q->periods);
        return CARROT_LEDGER_REFUSED;
    }
    if (q->at && *q->at && !is_date(q->at))
        return refuse(errstr, errstr_size, "bad at", q->at, " (a day, YYYY-MM-DD)");
    const char *p[] = {q->program, nz(q->at)};
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    PGresult *r = query(
        rp->pg,
        "SELECT coalesce(a.timezone, 'UTC'), "
        "  CASE WHEN $2 = '' THEN (now() AT TIME ZONE coalesce(a.timezone, 'UTC'))::date::text "
        "    ELSE $2 END, "
        "  EXISTS (SELECT 1 FROM participants WHERE program_id = $1) "
        "  OR EXISTS (SELECT 1 FROM adoption_first WHERE program_id = $1) "
        "  OR a.program_id IS NOT NULL "
        "FROM (SELECT $1::text AS p) x LEFT JOIN adoption_programs a ON a.program_id = x.p",
        2, p, "reading the program", &rc, errstr, errstr_size);
    if (!r) {
        if (rc == CARROT_LEDGER_FATAL && q->at && *q->at) rc = CARROT_LEDGER_REFUSED;
        return rc;
    }
    snprintf(rp->tz, sizeof(rp->tz), "%s", PQgetvalue(r, 0, 0));
    snprintf(rp->at, sizeof(rp->at), "%s", PQgetvalue(r, 0, 1));
    int exists = PQgetvalue(r, 0, 2)[0] == 't';
    PQclear(r);
    if (!exists) return refuse(errstr, errstr_size, "unknown program", q->program, "");
    /* the at day must be a real date */
    const char *pa[] = {rp->at};
    if (!(r = query(rp->pg, "SELECT $1::date", 1, pa, "at", &rc, errstr, errstr_size)))
        return refuse(errstr, errstr_size, "bad at", rp->at, " (a day, YYYY-MM-DD)");
    PQclear(r);
    rp->segment = nz(q->segment);
    rp->band = nz(q->band);
    rp->team = nz(q->team);
    return CARROT_LEDGER_OK;
}

/* A filter value unknown to both the directory and the facts shown is an
 * error, not an empty report: a typo should not read as "nobody". */
static carrot_ledger_err_t check_filters(report_t *rp, const char *program, char *errstr,
                                         size_t errstr_size) {
    static const struct {
        const char *name, *sql;
    } f[] = {
        {"segment",
         "SELECT EXISTS (SELECT 1 FROM participants WHERE program_id = $1 AND segment = $2) OR "
         "EXISTS (SELECT 1 FROM adoption_facts WHERE program_id = $1 AND segment = $2 "
         "  AND day >= $3::date AND day <= $4::date)"},
        {"band",
         "SELECT EXISTS (SELECT 1 FROM adoption_bands WHERE program_id = $1 AND band = $2) OR "
         "EXISTS (SELECT 1 FROM adoption_facts WHERE program_id = $1 AND band = $2 "
         "  AND day >= $3::date AND day <= $4::date)"},
        {"team",
         "SELECT EXISTS (SELECT 1 FROM participants WHERE program_id = $1 AND team_id = $2) OR "
         "EXISTS (SELECT 1 FROM adoption_facts WHERE program_id = $1 AND team_id = $2 "
         "  AND day >= $3::date AND day <= $4::date)"},
    };
    const char *v[] = {rp->segment, rp->band, rp->team};
    for (int i = 0; i < 3; i++) {
        if (!*v[i]) continue;
        const char *p[] = {program, v[i], rp->per[0].start, rp->per[rp->np - 1].end};
        char *out = NULL;
        carrot_ledger_err_t rc = carrot_pg_value(rp->pg, f[i].sql, 4, p, &out, errstr, errstr_size);
        if (rc) return rc;
        int known = out && out[0] == 't';
        free(out);
        if (!known) {
            snprintf(errstr, errstr_size, "unknown %s \"%.200s\" in program %.200s", f[i].name,
                     v[i], program);
            return CARROT_LEDGER_REFUSED;
        }
    }
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_report_adoption(PGconn *pg, const carrot_report_query_t *q,
                                           carrot_report_format_t format, char **outp, char *errstr,
                                           size_t errstr_size) {
    *outp = NULL;
    report_t rp;
    memset(&rp, 0, sizeof(rp));
    rp.pg = pg;
    rp.program = q->program;
    carrot_ledger_err_t rc = check(&rp, q, errstr, errstr_size);
    if (!rc) rc = periods(&rp, errstr, errstr_size);
    if (!rc) rc = check_filters(&rp, q->program, errstr, errstr_size);
    json_t *doc = NULL;
    if (!rc) rc = report_figures(&rp, &doc, errstr, errstr_size);
    if (!rc) {
        *outp = format == CARROT_REPORT_JSON
                    ? json_dumps(doc,
                                 JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))
                : format == CARROT_REPORT_CSV ? report_csv(doc)
                                              : report_text(doc);
        if (!*outp) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = CARROT_LEDGER_FATAL;
        }
    }
    json_decref(doc);
    free(rp.per);
    return rc;
}
