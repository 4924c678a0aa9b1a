/* period.c: period ids and ends through the C library's time zone rules
 * (localtime_r and mktime under TZ). */
#define _GNU_SOURCE
#include "period.h"

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

int carrot_period_of(carrot_period_t p, int64_t ms, const char *tz, char *id, size_t size,
                     int64_t *endp) {
    if (p == CARROT_PERIOD_PTD) {
        snprintf(id, size, "ptd");
        if (endp) *endp = INT64_MAX;
        return 0;
    }
    if (p < 0 || p >= CARROT_PERIOD_COUNT || use_tz(tz) != 0) return -1;
    /* floor division: times before 1970 round down, not towards zero */
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!localtime_r(&t, &tm)) return -1;
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
    int64_t end;
    switch (p) {
    case CARROT_PERIOD_DAY:
        snprintf(id, size, "d:%04d-%02d-%02d", y, m, d);
        end = local_midnight_ms(y, m, d + 1);
        break;
    case CARROT_PERIOD_WEEK: {
        char buf[32];
        strftime(buf, sizeof(buf), "%G-W%V", &tm);
        snprintf(id, size, "w:%s", buf);
        int iso_wday = tm.tm_wday == 0 ? 7 : tm.tm_wday; /* Monday 1 .. Sunday 7 */
        end = local_midnight_ms(y, m, d + 8 - iso_wday);
        break;
    }
    case CARROT_PERIOD_MONTH:
        snprintf(id, size, "m:%04d-%02d", y, m);
        end = local_midnight_ms(y, m + 1, 1);
        break;
    default: {
        int q = (m - 1) / 3 + 1;
        snprintf(id, size, "q:%04d-Q%d", y, q);
        end = local_midnight_ms(y, q * 3 + 1, 1);
        break;
    }
    }
    if (endp) *endp = end;
    return 0;
}
