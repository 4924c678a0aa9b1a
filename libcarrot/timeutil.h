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

/* The current time in ms since the epoch (wall clock). */
int64_t carrot_time_now_ms(void);

/* A monotonic clock in ms, for deadlines and durations. */
int64_t carrot_time_mono_ms(void);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t carrot_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
