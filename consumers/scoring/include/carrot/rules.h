/* rules.h: a program's scoring rules: read from a YAML or JSON file,
 * checked, and applied to one activity at a time.
 *
 * The format is documented in README.md ("Rules"); in short:
 *
 *   program: acme            version: "2026.11-2"      timezone: America/Chicago
 *   bands:      maturity bands by tenure_days (first match wins)
 *   kpis:       base points; the FIRST rule whose `when` matches applies,
 *               with an optional cap per participant per period
 *   quality:    required fields, pick-lists, note length: bonus or penalty
 *   timeliness: full points within N hours of occurring, decaying, a penalty when very late
 *   promotions: a window, a filter, a multiplier and/or a bonus
 *   goals:      a count of matching activities per period; a one-time bonus at the target
 *   commitments: what a participant agrees to log per period (a count, points, the share
 *               of complete or timely records), settled met or missed at the period's close
 *   points:     shorthand: {call: 5, ...} adds KPI rules "base.<type>"
 *
 * Scoring is pure: carrot_rules_score() reads only the rules and the
 * activity. What depends on earlier activities (caps used, goal counts)
 * is settled where the state lives: atomically in Redis by the scorer
 * (carrot/board.h), in memory by a simulation (carrot_settle_t below); both
 * follow carrot_settle_apply()'s arithmetic. Which boards an award goes to
 * is the ranking's business (carrot_board_plan() in carrot/board.h). */
#ifndef CARROT_RULES_H
#define CARROT_RULES_H

#include "carrot/activity.h"
#include "carrot/config.h"
#include "carrot/period.h"

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_rules_s carrot_rules_t;

/* Reads and checks a rules file. On error returns NULL and errstr names the
 * file, the line and the problem ("rules.yaml:12: kpis[1].when.activity:
 * unknown activity type \"cal\""). */
carrot_rules_t *carrot_rules_load(const char *path, char *errstr, size_t errstr_size);
/* The same from text; origin names it in errors. */
carrot_rules_t *carrot_rules_parse(const char *text, size_t len, const char *origin, char *errstr,
                                   size_t errstr_size);
void carrot_rules_destroy(carrot_rules_t *rules); /* NULL is a no-op */

/* Checks an id as rules and back-fills name things: 1 to 48 letters, digits,
 * '_', '-' or '.' (it becomes part of award ids and Redis keys). Returns 0,
 * or -1 with the reason in errstr. */
int carrot_rules_id_check(const char *id, char *errstr, size_t errstr_size);

const char *carrot_rules_program(const carrot_rules_t *rules);
const char *carrot_rules_version(const carrot_rules_t *rules);
const char *carrot_rules_timezone(const carrot_rules_t *rules); /* default "UTC" */
/* The exact text the rules were parsed from (to publish it to carrot.rules). */
const char *carrot_rules_text(const carrot_rules_t *rules, size_t *lenp);
/* The rules as a participant reads them, for "what earns points now": a
 * JSON object {program, version, timezone, as_of, bands, kpis, quality,
 * timeliness, promotions, goals}, the promotions those running at now_ms
 * (Unix ms) or starting within 14 days, each with from, to and "running".
 * Returns malloc'd text the caller frees, or NULL when out of memory. */
char *carrot_rules_explain(const carrot_rules_t *rules, int64_t now_ms);
/* Every promotion of the rules, over or not, as a JSON array of {id, when,
 * from_ms, to_ms, multiplier, bonus} (when as in explain), for what
 * announces a promotion's start and end (carrot-notify). malloc'd; NULL
 * when out of memory. */
char *carrot_rules_promotions(const carrot_rules_t *rules);
/* Seconds a board of period p is kept after the period ends (0 for ptd: kept). */
int64_t carrot_rules_retention_s(const carrot_rules_t *rules, carrot_period_t p);
/* When Redis may drop a cap or goal counter of period p, whose end is end_ms
 * (ms since the epoch; INT64_MAX for ptd): Unix seconds, as long as the
 * period's boards are kept and at least a day, so a late record of the
 * period still sees the period's count. */
int64_t carrot_rules_counter_expiry(const carrot_rules_t *rules, carrot_period_t p, int64_t end_ms);

/* Lines of one event: the parser's limits keep a scored and settled event
 * below this, and a back-fill's differences (old and new rules) fit too. */
#define CARROT_RULES_MAX_LINES 80
#define CARROT_RULES_MAX_GOALS 16
#define CARROT_RULES_MAX_COMMITS 16
#define CARROT_RULE_ID_MAX 64 /* rule ids are shorter; prefixed ids ("promo.x") fit */

/* A rule and its points: one line of a scoring, of what Redis settled
 * (carrot/board.h) and of an award. The one such type, so a line moves from
 * the rules to the board to the award without changing form. */
typedef struct {
    char rule_id[CARROT_RULE_ID_MAX + 8];
    int64_t points;
} carrot_score_t;

typedef struct {
    const char *id; /* "goal.<id>" is the rule id of its bonus; borrowed from the rules */
    carrot_period_t period;
    int64_t target, bonus;
} carrot_goal_hit_t;

/* --- commitments ----------------------------------------------------------
 * A commitment's figure for a participant and period is counted by the
 * scorer, in the same transaction as the boards (carrot/board.h): per
 * activity a value and, for the shares, whether the record was judged. */
typedef enum {
    CARROT_COMMIT_COUNT,    /* activities of the given types */
    CARROT_COMMIT_POINTS,   /* points from the given rules (a KPI with its cap) */
    CARROT_COMMIT_COMPLETE, /* percent of records the given quality rules judged complete */
    CARROT_COMMIT_ON_TIME   /* percent of records logged within the timeliness rules' full_hours */
} carrot_commit_metric_t;

typedef struct {
    const char *id;   /* "commit.<id>" names its consequences' awards */
    const char *text; /* what was agreed, as people read it ("" when not given) */
    carrot_period_t period;
    carrot_commit_metric_t metric;
    int64_t target;                       /* a count, points, or a percent for the shares */
    int64_t bonus, penalty;               /* awarded at the close when met / missed (0: none) */
    int64_t streak_periods, streak_bonus; /* met that many periods in a row: streak_bonus */
} carrot_commitment_t;

int carrot_rules_ncommitments(const carrot_rules_t *rules);
/* The i-th commitment (0 <= i < carrot_rules_ncommitments()), borrowed from
 * the rules; NULL out of range. */
const carrot_commitment_t *carrot_rules_commitment(const carrot_rules_t *rules, int i);
/* The index of commitment id, or -1. */
int carrot_rules_commitment_find(const carrot_rules_t *rules, const char *id);
/* Whether commitment i holds a participant by default, by the participant's
 * segment, team and region (NULL: not known) and tenure in days (-1: not
 * known; a commitment for a band then does not hold). */
int carrot_rules_commitment_holds(const carrot_rules_t *rules, int i, const char *segment,
                                  const char *team, const char *region, int tenure_days);
const char *carrot_commit_metric_name(carrot_commit_metric_t m); /* "count", ... */

typedef struct {
    const char *id; /* borrowed from the rules */
    carrot_period_t period;
    int64_t value;  /* count: 1; points: the points of the named lines; shares: 1 when good */
    int64_t judged; /* shares: 1 (the record was judged); count and points: 0 */
    int with_cap;   /* points: the activity's KPI is named, so its cap line counts too */
} carrot_commit_hit_t;

/* What the rules say of one activity, before caps and goals are settled. */
typedef struct {
    int nlines;
    carrot_score_t lines[CARROT_RULES_MAX_LINES];
    const char *kpi; /* the KPI rule that matched, or NULL (then nlines is 0) */
    int capped;      /* the KPI has a cap: cap_points per cap_period */
    carrot_period_t cap_period;
    int64_t cap_points;
    int ngoals; /* goals this activity counts towards */
    carrot_goal_hit_t goals[CARROT_RULES_MAX_GOALS];
    int ncommits; /* commitments this activity counts towards */
    carrot_commit_hit_t commits[CARROT_RULES_MAX_COMMITS];
} carrot_scoring_t;

/* How the rules judge one activity's record, whatever it earns (adoption
 * analytics, ledger/adoption/): judged by a quality rule whose `when`
 * matches, and complete by every such rule; judged by a timeliness rule, and
 * logged within every such rule's full_hours; and its maturity band (the id,
 * borrowed from the rules, or NULL). The same definitions as the
 * commitments' complete and on-time shares. */
typedef struct {
    int q_judged, complete;
    int t_judged, on_time;
    const char *band;
} carrot_judgement_t;
void carrot_rules_judge(const carrot_rules_t *rules, const carrot_activity_t *a,
                        carrot_judgement_t *out);

/* The rules' bands, in order: id and tenure range (has_min/has_max 0: open);
 * a band by levels has neither. NULL out of range. */
const char *carrot_rules_band(const carrot_rules_t *rules, int i, int *has_min, int64_t *min_days,
                              int *has_max, int64_t *max_days, int *by_levels);

/* Scores one activity of the rules' program. Only a CREATE earns; for other
 * changes out is empty. Returns the number of lines plus goals (0 when the
 * activity earns and counts for nothing). */
int carrot_rules_score(const carrot_rules_t *rules, const carrot_activity_t *a,
                       carrot_scoring_t *out);

/* --- settling caps and goals ------------------------------------------- */

/* The state key of a cap or goal counter, shared by Redis and simulations:
 * "cap:<kpi>:<period id>:<participant>", "goal:<goal>:<period id>:<participant>". */
void carrot_settle_key(char *buf, size_t size, const char *kind, const char *id,
                       const char *period_id, const char *participant);

/* In-memory cap and goal counters, for simulations and back-fills. now_s
 * (Unix seconds) plays Redis's clock: a counter whose period ended longer
 * ago than its retention is gone in Redis, so every activity of that
 * period starts from an empty counter, here too. */
typedef struct carrot_settle_s carrot_settle_t;
carrot_settle_t *carrot_settle_new(int64_t now_s);
void carrot_settle_destroy(carrot_settle_t *st); /* NULL is a no-op */

/* Settles sc for activity a in place, as the Redis script does: clips the
 * KPI's lines to what is left of its cap this period (adding a
 * "cap.<kpi>" line), then counts each goal and adds "goal.<id>" when the
 * count reaches the target exactly. Returns 0, or -1 when out of memory or
 * the time zone is invalid. */
int carrot_settle_apply(carrot_settle_t *st, const carrot_rules_t *rules,
                        const carrot_activity_t *a, carrot_scoring_t *sc);

/* --- simulation -----------------------------------------------------------
 * Scores a feed in memory exactly as the scorer would, writing nothing:
 * duplicates of an event id count once, a DELETE takes back what its
 * record earned and an UNDELETE gives it back, caps and goals settle as in
 * Redis. Used by `carrot-rules simulate` and `carrot-rules backfill`. */
typedef struct carrot_sim_s carrot_sim_t;

/* rules must outlive it; now_s as for carrot_settle_new(). */
carrot_sim_t *carrot_sim_new(const carrot_rules_t *rules, int64_t now_s);
void carrot_sim_destroy(carrot_sim_t *sim); /* NULL is a no-op */

/* Feeds one activity of the rules' program, in feed order. Fills out with
 * the settled lines ("reversal" / "restore" for a DELETE / UNDELETE that
 * moved points) and *freshp (0 for a duplicate, which earns nothing).
 * Returns 0, or -1 when out of memory. */
int carrot_sim_feed(carrot_sim_t *sim, const carrot_activity_t *a, carrot_scoring_t *out,
                    int *freshp);

/* 1 when the CRM record "<source system>:<source record id>" is deleted
 * after what was fed so far, else 0. */
int carrot_sim_record_deleted(carrot_sim_t *sim, const char *record);

typedef struct {
    const char *participant_id; /* owned by the simulation */
    int64_t points;
    long awards; /* award lines */
} carrot_sim_total_t;

/* Every participant's total in leaderboard order (points descending, then
 * participant id descending). *totalsp is the caller's to free(). Returns
 * the count, or -1 when out of memory. */
long carrot_sim_totals(const carrot_sim_t *sim, carrot_sim_total_t **totalsp);

#endif
