/* report_int.h: what report.c (the query's checks and periods), figures.c
 * (the figures, as JSON) and render.c (text and CSV) share. */
#ifndef CARROT_REPORT_INT_H
#define CARROT_REPORT_INT_H

#include "carrot/adoption.h"

#include <jansson.h>

typedef struct {
    char start[11], end[11]; /* first and last day */
    char label[16];          /* 2026-11-02, 2026-W45, 2026-11, 2026-Q4 */
} period_t;

typedef struct {
    PGconn *pg;
    const char *program, *kind;
    const char *segment, *band, *team; /* "" : all */
    char tz[128], at[16];
    int n;         /* periods shown */
    period_t *per; /* np = n + 1: per[0] is the one before the first shown */
    int np;
} report_t;

/* figures.c: the report as JSON (*docp, the caller's), and the index in
 * rp->per of the period holding day (-1: none). */
carrot_ledger_err_t report_figures(report_t *rp, json_t **docp, char *errstr, size_t errstr_size);
int report_period_of(const report_t *rp, const char *day);

/* render.c: the report for people and for spreadsheets; NULL when out of
 * memory. */
char *report_text(const json_t *doc);
char *report_csv(const json_t *doc);

#endif
