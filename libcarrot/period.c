/* period.c: period ids and ends through the C library's time zone rules
 * (localtime_r and mktime under TZ). */
#define _GNU_SOURCE
#include "carrot/period.h"
#include "carrot/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const names[CARROT_PERIOD_COUNT] = {"day", "week", "month", "quarter", "ptd"};

const char *carrot_period_name(carrot_period_t p) {
    return p >= 0 && p < CARROT_PERIOD_COUNT ? names[p] : "?";
}

int carrot_period_parse(const char *name) {
    for (int i = 0; i < CARROT_PERIOD_COUNT; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int carrot_tz_valid(const char *tz) {
    if (!tz || !*tz || strlen(tz) > 200 || strstr(tz, "..") || tz[0] == '/') return 0;
    if (strcmp(tz, "UTC") == 0) return 1;
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int use_tz(const char *tz) {
    static char current[256];
    if (strcmp(current, tz) == 0) return 0;
    if (!carrot_tz_valid(tz)) return -1;
    if (setenv("TZ", tz, 1) != 0) return -1;
    tzset();
    snprintf(current, sizeof(current), "%s", tz);
    return 0;
}

/* Local midnight of y-m-d (m and d may overflow: mktime normalizes). */
static int64_t local_midnight_ms(int y, int m, int d) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
    return (int64_t)mktime(&tm) * 1000;
}

/* The last period found per kind: a scorer's batch mostly falls in the same
 * few days, so most calls are a range check instead of localtime and mktime. */
static struct {
    char tz[256], id[32];
    int64_t start, end; /* [start, end) in Unix ms */
} last[CARROT_PERIOD_COUNT];

int carrot_period_of(carrot_period_t p, int64_t ms, const char *tz, char *id, size_t size,
                     int64_t *endp) {
    return carrot_period_span(p, ms, tz, id, size, NULL, endp);
}

int carrot_period_span(carrot_period_t p, int64_t ms, const char *tz, char *id, size_t size,
                       int64_t *startp, int64_t *endp) {
    if (p == CARROT_PERIOD_PTD) {
        snprintf(id, size, "ptd");
        if (startp) *startp = 0;
        if (endp) *endp = INT64_MAX;
        return 0;
    }
    if (p < 0 || p >= CARROT_PERIOD_COUNT) return -1;
    if (last[p].id[0] && ms >= last[p].start && ms < last[p].end && strcmp(last[p].tz, tz) == 0) {
        size_t len = strlen(last[p].id); /* (no printf: this is every award's hot path) */
        if (len >= size) len = size ? size - 1 : 0;
        if (size) memcpy(id, last[p].id, len), id[len] = '\0';
        if (startp) *startp = last[p].start;
        if (endp) *endp = last[p].end;
        return 0;
    }
    if (use_tz(tz) != 0) return -1;
    /* floor division: times before 1970 round down, not towards zero */
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!localtime_r(&t, &tm)) return -1;
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
    int64_t start, end;
    char buf[32];
    switch (p) {
    case CARROT_PERIOD_DAY:
        snprintf(buf, sizeof(buf), "d:%04d-%02d-%02d", y, m, d);
        start = local_midnight_ms(y, m, d);
        end = local_midnight_ms(y, m, d + 1);
        break;
    case CARROT_PERIOD_WEEK: {
        char week[16];
        strftime(week, sizeof(week), "%G-W%V", &tm);
        snprintf(buf, sizeof(buf), "w:%s", week);
        int iso_wday = tm.tm_wday == 0 ? 7 : tm.tm_wday; /* Monday 1 .. Sunday 7 */
        start = local_midnight_ms(y, m, d + 1 - iso_wday);
        end = local_midnight_ms(y, m, d + 8 - iso_wday);
        break;
    }
    case CARROT_PERIOD_MONTH:
        snprintf(buf, sizeof(buf), "m:%04d-%02d", y, m);
        start = local_midnight_ms(y, m, 1);
        end = local_midnight_ms(y, m + 1, 1);
        break;
    default: {
        int q = (m - 1) / 3 + 1;
        snprintf(buf, sizeof(buf), "q:%04d-Q%d", y, q);
        start = local_midnight_ms(y, q * 3 - 2, 1);
        end = local_midnight_ms(y, q * 3 + 1, 1);
        break;
    }
    }
    snprintf(id, size, "%s", buf);
    if (startp) *startp = start;
    if (endp) *endp = end;
    /* a midnight the zone skips is normalized forward: start is never early */
    if (start <= ms && ms < end && strlen(tz) < sizeof(last[p].tz)) {
        snprintf(last[p].tz, sizeof(last[p].tz), "%s", tz);
        snprintf(last[p].id, sizeof(last[p].id), "%s", buf);
        last[p].start = start;
        last[p].end = end;
    }
    return 0;
}

/* Reads exactly n digits at s into *v. */
static int digits(const char *s, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

/* ISO weeks in year y: 53 when it starts on a Thursday, or on a Wednesday in a leap year. */
static int iso_weeks(int y) {
    int64_t days = carrot_days_from_civil(y, 1, 1); /* 1970-01-01 was a Thursday */
    int wday = (int)(((days % 7) + 7 + 3) % 7);     /* Monday 0 .. Sunday 6 */
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return wday == 3 || (leap && wday == 2) ? 53 : 52;
}

int carrot_period_previous(const char *id, char *out, size_t size) {
    int y, m, d, n = (int)strlen(id);
    if (n == 12 && id[0] == 'd' && id[1] == ':' && id[6] == '-' && id[9] == '-' &&
        digits(id + 2, 4, &y) == 0 && digits(id + 7, 2, &m) == 0 && digits(id + 10, 2, &d) == 0 &&
        m >= 1 && m <= 12 && d >= 1 && d <= 31) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (d > mdays[m - 1] + (m == 2 && leap)) return -1;
        if (--d == 0) {
            if (--m == 0) m = 12, y--;
            d = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
        }
        if (y < 1) return -1;
        snprintf(out, size, "d:%04d-%02d-%02d", y, m, d);
        return 0;
    }
    if (n == 10 && id[0] == 'w' && id[1] == ':' && id[6] == '-' && id[7] == 'W' &&
        digits(id + 2, 4, &y) == 0 && digits(id + 8, 2, &d) == 0 && d >= 1 && d <= iso_weeks(y)) {
        if (--d == 0) d = iso_weeks(--y);
        if (y < 1) return -1;
        snprintf(out, size, "w:%04d-W%02d", y, d);
        return 0;
    }
    if (n == 9 && id[0] == 'm' && id[1] == ':' && id[6] == '-' && digits(id + 2, 4, &y) == 0 &&
        digits(id + 7, 2, &m) == 0 && m >= 1 && m <= 12) {
        if (--m == 0) m = 12, y--;
        if (y < 1) return -1;
        snprintf(out, size, "m:%04d-%02d", y, m);
        return 0;
    }
    if (n == 9 && id[0] == 'q' && id[1] == ':' && id[6] == '-' && id[7] == 'Q' &&
        digits(id + 2, 4, &y) == 0 && id[8] >= '1' && id[8] <= '4') {
        int q = id[8] - '0';
        if (--q == 0) q = 4, y--;
        if (y < 1) return -1;
        snprintf(out, size, "q:%04d-Q%d", y, q);
        return 0;
    }
    return -1;
}

int carrot_period_of_id(const char *id, const char *tz, carrot_period_t *pp, int64_t *startp,
                        int64_t *endp) {
    /* a local noon inside the period, whose span is then the period's */
    char prev[32];
    int y, m = 1, d = 1;
    carrot_period_t p;
    if (carrot_period_previous(id, prev, sizeof(prev)) != 0 || use_tz(tz) != 0) return -1;
    if (id[0] == 'd') {
        p = CARROT_PERIOD_DAY;
        digits(id + 2, 4, &y), digits(id + 7, 2, &m), digits(id + 10, 2, &d);
    } else if (id[0] == 'w') {
        p = CARROT_PERIOD_WEEK;
        int w;
        digits(id + 2, 4, &y), digits(id + 8, 2, &w);
        /* ISO week 1 holds January 4th; its Monday is 4 - (weekday of Jan 4) */
        int64_t jan4 = carrot_days_from_civil(y, 1, 4);
        int wday = (int)(((jan4 % 7) + 7 + 3) % 7); /* Monday 0 .. Sunday 6 */
        m = 1;
        d = 4 - wday + (w - 1) * 7 + 3; /* that week's Thursday: mktime normalizes */
    } else if (id[0] == 'm') {
        p = CARROT_PERIOD_MONTH;
        digits(id + 2, 4, &y), digits(id + 7, 2, &m);
        d = 15;
    } else {
        p = CARROT_PERIOD_QUARTER;
        digits(id + 2, 4, &y);
        m = (id[8] - '0') * 3 - 1;
        d = 15;
    }
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12, .tm_isdst = -1};
    int64_t noon = (int64_t)mktime(&tm) * 1000;
    char got[32];
    if (carrot_period_span(p, noon, tz, got, sizeof(got), startp, endp) != 0 || strcmp(got, id))
        return -1;
    if (pp) *pp = p;
    return 0;
}

/* "d:YYYY-MM-DD" of the day z days after 1970-01-01. */
static void day_id(int64_t z, char *out, size_t size) {
    int64_t y;
    unsigned m, d;
    carrot_civil_from_days(z, &y, &m, &d);
    /* (the moduli only tell the compiler the fields fit: they are in range) */
    snprintf(out, size, "d:%04d-%02d-%02d", (int)(y % 10000), (int)(m % 100), (int)(d % 100));
}

int carrot_period_days(const char *id, char (*days)[16], int max) {
    char prev[32];
    int y, m, w;
    int64_t first, next;
    /* carrot_period_previous() checks the label's shape and range */
    if (carrot_period_previous(id, prev, sizeof(prev)) != 0) return -1;
    if (id[0] == 'w') {
        digits(id + 2, 4, &y), digits(id + 8, 2, &w);
        int64_t jan4 = carrot_days_from_civil(y, 1, 4); /* ISO week 1 holds January 4th */
        int wday = (int)(((jan4 % 7) + 7 + 3) % 7);     /* Monday 0 .. Sunday 6 */
        first = jan4 - wday + (int64_t)(w - 1) * 7;
        next = first + 7;
    } else if (id[0] == 'm') {
        digits(id + 2, 4, &y), digits(id + 7, 2, &m);
        first = carrot_days_from_civil(y, (unsigned)m, 1);
        next = m == 12 ? carrot_days_from_civil(y + 1, 1, 1)
                       : carrot_days_from_civil(y, (unsigned)m + 1, 1);
    } else if (id[0] == 'q') {
        digits(id + 2, 4, &y);
        int q = id[8] - '0';
        first = carrot_days_from_civil(y, (unsigned)(q - 1) * 3 + 1, 1);
        next = q == 4 ? carrot_days_from_civil(y + 1, 1, 1)
                      : carrot_days_from_civil(y, (unsigned)q * 3 + 1, 1);
    } else {
        return -1; /* a day is its own board */
    }
    if (next - first > max) return -1;
    for (int64_t z = first; z < next; z++) day_id(z, days[z - first], sizeof(days[0]));
    return (int)(next - first);
}
