/* timeutil.h: timestamps as Carrot carries them: int64 milliseconds since
 * the Unix epoch, UTC. */
#ifndef CARROT_TIMEUTIL_H
#define CARROT_TIMEUTIL_H

#include <stdint.h>

/* Parses an RFC 3339 / ISO 8601 timestamp: "2026-11-02T14:03:00Z",
 * "2026-11-02T14:03:00.250+02:00", "2026-11-02 14:03:00Z", or a date alone
 * ("2026-11-02", taken as UTC midnight, as Salesforce's ActivityDate is).
 * A time without a zone is rejected: it would be ambiguous. Returns 0 and
 * *msp, or -1 if the text is not such a timestamp or not a valid date. */
int carrot_time_parse(const char *text, int64_t *msp);

/* Formats ms as "2026-11-02T14:03:00.250Z" into buf (at least 32 bytes). */
void carrot_time_format(int64_t ms, char *buf, unsigned long size);

/* The current time in ms since the epoch: the program's clock. It is the
 * wall clock plus the test clock shift (carrot_time_shift_ms), so every
 * "now" of Carrot (expiry, periods, awarded_at, the webhook's window, the
 * default --at) moves together when a test runs on another date. */
int64_t carrot_time_now_ms(void);

/* The wall clock in ms since the epoch, never shifted: for durations
 * measured against timestamps that Kafka stamped (produce to commit). */
int64_t carrot_time_wall_ms(void);

/* The test clock shift in ms: CARROT_TEST_CLOCK_SHIFT from the environment
 * ("+60d", "+400d", "+3600s", "+90m", "+2h"; forward only, because Redis
 * and Kafka keep the real clock: a key that expires later than the shifted
 * clock says is still judged by the scorer, one that expired early would be
 * lost). Read once; 0 when unset. An invalid value is -1 (and the shift 0):
 * carrot_conf_init_program refuses to start then. */
int64_t carrot_time_shift_ms(void);

/* Parses a duration "N" + unit (s, m, h, d, w), e.g. "14d", "90m", into
 * *msp. Returns 0, or -1 if text is not such a duration. */
int carrot_duration_parse(const char *text, int64_t *msp);

/* Parses a time given on a command line: an RFC 3339 timestamp (as
 * carrot_time_parse), "now", or a time relative to now: "-14d", "+2h",
 * "now-36h". now is the caller's clock (usually carrot_time_now_ms()).
 * Returns 0 and *msp, or -1. */
int carrot_time_parse_cli(const char *text, int64_t now, int64_t *msp);

/* A monotonic clock in ms, for deadlines and durations. */
int64_t carrot_time_mono_ms(void);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t carrot_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The civil date of the day z days after 1970-01-01 (the inverse). */
void carrot_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
