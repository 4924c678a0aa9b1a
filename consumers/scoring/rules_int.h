/* rules_int.h: the parsed form of a rules file, shared by parse.c (reading
 * and checking) and score.c / settle.c (applying). Not a public header. */
#ifndef CARROT_RULES_INT_H
#define CARROT_RULES_INT_H

#include "carrot/rules.h"

#define MAX_BANDS 16
#define MAX_KPIS 256
#define MAX_QUALITY 8
#define MAX_TIMELINESS 4
#define MAX_PROMOTIONS 32
#define MAX_VALUES 64 /* values of one filter or pick-list */
#define MAX_REQUIRED 16
#define MAX_PICKLISTS 8

/* A list of allowed strings; n == 0 means "any". */
typedef struct {
    int n;
    const char *v[MAX_VALUES];
} strset_t;

typedef struct {
    uint32_t types; /* bit per carrot_activity_types[] index; 0: any */
    strset_t segment, region, team, product;
    uint32_t bands; /* bit per band index; 0: any */
} filter_t;

typedef struct {
    const char *id;
    int has_min, has_max;
    int64_t min_days, max_days;
    strset_t levels; /* custom.level values; n == 0: tenure only */
} band_t;

typedef struct {
    const char *id;
    filter_t when;
    int64_t points;
    int capped;
    carrot_period_t cap_period;
    int64_t cap_points;
} kpi_t;

typedef struct {
    const char *field;
    strset_t allowed;
} picklist_t;

typedef struct {
    const char *id;
    filter_t when;
    int nrequired, npicklists;
    const char *required[MAX_REQUIRED];
    picklist_t picklists[MAX_PICKLISTS];
    int64_t min_text_length;
    int64_t complete_bonus, incomplete_penalty, incomplete_keep_percent;
} quality_t;

typedef struct {
    const char *id;
    filter_t when;
    int64_t full_ms, zero_ms, floor_percent, late_ms, late_penalty;
    int has_late;
} timeliness_t;

typedef struct {
    const char *id;
    filter_t when;
    int64_t from_ms, to_ms; /* [from, to) of occurred_at */
    int64_t multiplier_pct; /* 100 = x1 */
    int64_t bonus;
} promo_t;

typedef struct {
    const char *id;
    filter_t when;
    carrot_period_t period;
    int64_t target, bonus;
} goal_t;

typedef struct {
    carrot_commitment_t pub;
    filter_t who;   /* whose activities count, and who is held to it by default */
    uint32_t types; /* count: the activity types */
    strset_t rules; /* points: rule ids; complete: quality ids; on_time: timeliness ids */
} commit_t;

struct carrot_rules_s {
    char *text; /* the source, NUL-terminated */
    size_t text_len;
    char **owned; /* every string the rules point to */
    size_t nowned, owned_cap;
    const char *program, *version, *timezone;
    int nbands, nkpis, nquality, ntimeliness, npromos, ngoals, ncommits;
    band_t bands[MAX_BANDS];
    kpi_t *kpis; /* MAX_KPIS */
    quality_t quality[MAX_QUALITY];
    timeliness_t timeliness[MAX_TIMELINESS];
    promo_t promos[MAX_PROMOTIONS];
    goal_t goals[CARROT_RULES_MAX_GOALS];
    commit_t commits[CARROT_RULES_MAX_COMMITS];
    int64_t retention_s[CARROT_PERIOD_COUNT];
};

/* A string-keyed open-addressing table, for the in-memory state of
 * settle.c (counters: n) and simulate.c (event ids, records, participants). */
typedef struct {
    char *key;
    char *who;  /* a record's participant */
    int64_t n;  /* a counter, a record's points, a participant's total */
    long count; /* a participant's award lines */
    int on;     /* a record: -1 never set, 0 deleted, 1 stands */
    int has_n;
} strmap_entry_t;

typedef struct {
    strmap_entry_t *e;
    size_t cap, used;
} strmap_t;

/* The entry of key, created zeroed (on = -1) when absent, with *createdp
 * (may be NULL) set; NULL when out of memory. Entries move as it grows. */
strmap_entry_t *strmap_get(strmap_t *m, const char *key, int *createdp);
strmap_entry_t *strmap_find(const strmap_t *m, const char *key); /* NULL when absent */
void strmap_free(strmap_t *m);

/* Fields a quality rule may require or pick-list: the optional fields of
 * CrmActivity, and "custom.<key>". The value of field in a, or NULL. */
const char *carrot_rules_field(const carrot_activity_t *a, const char *field, char *buf,
                               size_t size);
int carrot_rules_field_known(const char *field);

int carrot_rules_filter_match(const carrot_rules_t *r, const filter_t *f,
                              const carrot_activity_t *a);

#endif
