/* timeutil.c: strict timestamp parsing without the C library's time zone
 * state (timegm and TZ are not thread-safe or portable enough to trust). */
#include "carrot/timeutil.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Howard Hinnant's days_from_civil. */
int64_t carrot_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **pp, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*pp)[i])) return -1;
        v = v * 10 + ((*pp)[i] - '0');
    }
    *pp += n;
    *out = v;
    return 0;
}

static int days_in_month(int y, int m) {
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

int carrot_time_parse(const char *s, int64_t *msp) {
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    const char *p = s;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ') return -1;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi)) return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec)) return -1;
            if (*p == '.' || *p == ',') {
                p++;
                int nd = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 3) ms = ms * 10 + (*p - '0');
                    nd++, p++;
                }
                if (nd == 0) return -1;
                for (; nd < 3; nd++) ms *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return -1; /* 60: a leap second, folded below */
        if (*p == 'Z' || *p == 'z') p++;
        else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh)) return -1;
            if (*p == ':') p++;
            if (digits(&p, 2, &om) || oh > 23 || om > 59) return -1;
            off = sign * (oh * 60 + om);
        } else
            return -1; /* no zone: ambiguous */
        if (*p) return -1;
    }
    if (sec == 60) sec = 59;
    int64_t days = carrot_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *msp = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off * 60) * 1000 + ms;
    return 0;
}

/* Howard Hinnant's civil_from_days. */
void carrot_civil_from_days(int64_t z, int64_t *yp, unsigned *mp_, unsigned *dp) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *dp = doy - (153 * mp + 2) / 5 + 1;
    *mp_ = mp < 10 ? mp + 3 : mp - 9;
    *yp = (int64_t)yoe + era * 400 + (*mp_ <= 2);
}

void carrot_time_format(int64_t ms, char *buf, unsigned long size) {
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    int64_t z = (secs >= 0 ? secs : secs - 86399) / 86400;
    int sod = (int)(secs - z * 86400);
    int64_t y;
    unsigned m, d;
    carrot_civil_from_days(z, &y, &m, &d);
    snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, sod / 3600,
             sod / 60 % 60, sod % 60, msec);
}

int64_t carrot_time_wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int carrot_duration_parse(const char *s, int64_t *msp) {
    if (!s || !isdigit((unsigned char)*s)) return -1;
    int64_t n = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (n > 100000000000LL) return -1; /* beyond any sane duration; no overflow below */
        n = n * 10 + (*s - '0');
    }
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (s[0] == units[i].unit && s[1] == '\0') {
            if (n > INT64_MAX / units[i].ms / 4) return -1;
            *msp = n * units[i].ms;
            return 0;
        }
    return -1;
}

static pthread_once_t shift_once = PTHREAD_ONCE_INIT;
static int64_t shift_ms; /* -1: invalid */

static void shift_read(void) {
    const char *v = getenv("CARROT_TEST_CLOCK_SHIFT");
    int64_t ms;
    if (!v || !*v) shift_ms = 0;
    else
        shift_ms = v[0] == '+' && carrot_duration_parse(v + 1, &ms) == 0 ? ms : -1;
}

int64_t carrot_time_shift_ms(void) {
    pthread_once(&shift_once, shift_read);
    return shift_ms;
}

int64_t carrot_time_now_ms(void) {
    int64_t shift = carrot_time_shift_ms();
    return carrot_time_wall_ms() + (shift > 0 ? shift : 0);
}

int carrot_time_parse_cli(const char *s, int64_t now, int64_t *msp) {
    if (!s) return -1;
    if (strncmp(s, "now", 3) == 0) {
        s += 3;
        if (!*s) {
            *msp = now;
            return 0;
        }
        if (*s != '+' && *s != '-') return -1;
    }
    if (*s == '+' || *s == '-') {
        int64_t d;
        if (carrot_duration_parse(s + 1, &d) != 0) return -1;
        *msp = *s == '+' ? now + d : now - d;
        return 0;
    }
    return carrot_time_parse(s, msp);
}

int64_t carrot_time_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
