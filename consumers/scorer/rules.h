/* rules.h: a program's scoring rules, read from a JSON file.
 *
 *   {"program": "demo", "version": "2026.11-1",
 *    "points": {"call": 5, "meeting": 10, "deal_won": 50}}
 *
 * A CREATE of a listed activity type earns its points under rule
 * "base.<type>"; types not listed earn nothing. Other changes are not the
 * rules' business: a DELETE takes back exactly what its record earned and an
 * UNDELETE gives it back (the scorer keeps that per record in Redis, see
 * leaderboard.h); an UPDATE earns nothing. */
#ifndef CARROT_RULES_H
#define CARROT_RULES_H

#include "activity.h"

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_rules_s carrot_rules_t;

/* Reads and checks a rules file. On error returns NULL and errstr names the
 * file, the line when known, and the problem. */
carrot_rules_t *carrot_rules_load(const char *path, char *errstr, size_t errstr_size);
/* The same from text; origin names it in errors. */
carrot_rules_t *carrot_rules_parse(const char *text, size_t len, const char *origin,
                                   char *errstr, size_t errstr_size);
void carrot_rules_destroy(carrot_rules_t *rules); /* NULL is a no-op */

const char *carrot_rules_program(const carrot_rules_t *rules);
const char *carrot_rules_version(const carrot_rules_t *rules);

#define CARROT_RULES_MAX_SCORES 8

typedef struct {
    char rule_id[64];
    int64_t points;
} carrot_score_t;

/* Scores one activity: fills out[0..n) and returns n (0 when it earns
 * nothing). The activity must be of the rules' program. */
int carrot_rules_score(const carrot_rules_t *rules, const carrot_activity_t *a,
                       carrot_score_t out[CARROT_RULES_MAX_SCORES]);

#endif
