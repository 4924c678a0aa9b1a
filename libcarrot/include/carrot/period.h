/* period.h: leaderboard periods (day, ISO week, month, quarter, program to
 * date) in a program's time zone, so every view agrees on where a period
 * starts: the scorer, the simulator and the leaderboard queries all name
 * periods through here. */
#ifndef CARROT_PERIOD_H
#define CARROT_PERIOD_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CARROT_PERIOD_DAY,
    CARROT_PERIOD_WEEK, /* ISO 8601: Monday to Sunday, numbered by ISO year */
    CARROT_PERIOD_MONTH,
    CARROT_PERIOD_QUARTER,
    CARROT_PERIOD_PTD, /* program to date: one period that never ends */
    CARROT_PERIOD_COUNT
} carrot_period_t;

/* "day", "week", "month", "quarter", "ptd"; parse returns -1 for others. */
const char *carrot_period_name(carrot_period_t p);
int carrot_period_parse(const char *name);

/* 1 if tz names a zone of the system's tz database ("UTC", "Europe/Paris",
 * "America/Chicago"), else 0. Checked because the C library quietly takes an
 * unknown zone as UTC. */
int carrot_tz_valid(const char *tz);

/* The id of the period p that contains ms (Unix ms) in time zone tz:
 * "d:2026-11-22", "w:2026-W47", "m:2026-11", "q:2026-Q4", or "ptd"; and, in
 * *endp when not NULL, the Unix ms at which it ends (INT64_MAX for ptd).
 * Returns 0, or -1 if tz is not valid or ms is out of range.
 * Not thread-safe: it sets the process's TZ (Carrot's programs are
 * single-threaded where they call it). */
int carrot_period_of(carrot_period_t p, int64_t ms, const char *tz, char *id, size_t size,
                     int64_t *endp);

/* As carrot_period_of(), also giving the Unix ms at which the period
 * starts (0 for ptd): a period's length is end - start, which is 23 or 25
 * hours for a day of a DST change. Not thread-safe either. */
int carrot_period_span(carrot_period_t p, int64_t ms, const char *tz, char *id, size_t size,
                       int64_t *startp, int64_t *endp);

/* The kind, start and end (Unix ms, in tz) of the period named id
 * ("w:2026-W53", "d:2026-11-01", "m:2026-11", "q:2026-Q4"). Returns 0, or -1
 * when id is not a period id (ptd included: it has no end) or tz is not
 * valid. Not thread-safe. */
int carrot_period_of_id(const char *id, const char *tz, carrot_period_t *pp, int64_t *startp,
                        int64_t *endp);

/* The id of the period before id ("d:2026-03-01" -> "d:2026-02-28",
 * "w:2027-W01" -> "w:2026-W53", "m:2026-01" -> "m:2025-12", "q:2026-Q1" ->
 * "q:2025-Q4"): calendar arithmetic on the label, so no time zone is
 * needed. Returns 0, or -1 for "ptd" (no period before it) and for
 * anything that is not a period id. Thread safe. */
int carrot_period_previous(const char *id, char *out, size_t size);

/* The days of the week, month or quarter named id ("w:2026-W47",
 * "m:2026-11", "q:2026-Q4") as day ids ("d:2026-11-16"), in order, into
 * days[0..max): returns how many (7, 28 to 31, 90 to 92), or -1 when id is
 * not such an id or max is too small. A day id is the day's in the
 * program's time zone, as the period's is, so this is calendar arithmetic
 * on the labels: no time zone is needed. Thread safe. */
#define CARROT_PERIOD_MAX_DAYS 92
int carrot_period_days(const char *id, char (*days)[16], int max);

#endif
