/* params.c: carrot-board's query parameters, parsed and bounded before any
 * of them reaches Redis or PostgreSQL: a bad one is a 400 that names it. */
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "carrot/utf8.h"
#include "display.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* carrot_period_of() sets the process's TZ: one caller at a time. */
static pthread_mutex_t period_lock = PTHREAD_MUTEX_INITIALIZER;

int display_period_of(int period, int64_t ms, const char *tz, char *id, size_t size) {
    pthread_mutex_lock(&period_lock);
    int rc = carrot_period_of((carrot_period_t)period, ms, tz, id, size, NULL);
    pthread_mutex_unlock(&period_lock);
    return rc;
}

int display_period_span(int period, int64_t ms, const char *tz, char *id, size_t size,
                        int64_t *startp, int64_t *endp) {
    pthread_mutex_lock(&period_lock);
    int rc = carrot_period_span((carrot_period_t)period, ms, tz, id, size, startp, endp);
    pthread_mutex_unlock(&period_lock);
    return rc;
}

int params_id_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > DISPLAY_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    size_t off;
    return carrot_utf8_check(s, n, &off) == NULL;
}

/* A whole decimal number in [min, max]. */
static int number(const char *s, long min, long max, long *v) {
    if (!s || !*s || strlen(s) > 12) return -1;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || x < min || x > max || s[0] == '+' || s[0] == ' ') return -1;
    *v = x;
    return 0;
}

/* A scope: all, seg:<segment>, reg:<region> or team:<team>, the id part a usable id. */
static int scope_ok(const char *s) {
    if (strcmp(s, "all") == 0) return 1;
    static const char *const kinds[] = {"seg:", "reg:", "team:"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(kinds[i]);
        if (strncmp(s, kinds[i], k) == 0) return params_id_ok(s + k) && strlen(s + k) <= 128;
    }
    return 0;
}

/* A board name: a period id (day, week, month, quarter, ptd) then a scope. */
static int board_ok(const char *s) {
    if (strncmp(s, "ptd:", 4) == 0) return scope_ok(s + 4);
    /* every dated id is "<k>:<date>" with a fixed length per kind */
    static const struct {
        char k;
        size_t len;
    } dated[] = {{'d', 12}, {'w', 10}, {'m', 9}, {'q', 9}};
    for (int i = 0; i < 4; i++) {
        if (s[0] != dated[i].k || strlen(s) <= dated[i].len || s[dated[i].len] != ':') continue;
        char id[16], prev[16];
        memcpy(id, s, dated[i].len);
        id[dated[i].len] = '\0';
        /* a valid id is one that has a period before it */
        return carrot_period_previous(id, prev, sizeof(prev)) == 0 &&
               scope_ok(s + dated[i].len + 1);
    }
    return 0;
}

int params_parse(const char *(*get)(void *opaque, const char *name), void *opaque, const char *tz,
                 int64_t now_ms, long max_limit, query_t *q, char *errstr, size_t errstr_size) {
    memset(q, 0, sizeof(*q));
    q->limit = 10;
    q->k = 2;
    const char *v;
    if ((v = get(opaque, "limit")) && number(v, 1, max_limit, &q->limit)) {
        snprintf(errstr, errstr_size, "limit: expected a whole number from 1 to %ld", max_limit);
        return -1;
    }
    if ((v = get(opaque, "cursor")) && number(v, 0, 100000000, &q->cursor)) {
        snprintf(errstr, errstr_size, "cursor: expected the next_cursor of an earlier page");
        return -1;
    }
    if ((v = get(opaque, "k")) && number(v, 0, 50, &q->k)) {
        snprintf(errstr, errstr_size, "k: expected a whole number from 0 to 50");
        return -1;
    }
    if ((v = get(opaque, "participant"))) {
        if (!params_id_ok(v)) {
            snprintf(errstr, errstr_size, "participant: expected 1 to %d bytes of UTF-8 text",
                     DISPLAY_ID_MAX);
            return -1;
        }
        snprintf(q->participant, sizeof(q->participant), "%s", v);
    }
    const char *board = get(opaque, "board"), *period = get(opaque, "period"),
               *scope = get(opaque, "scope"), *at = get(opaque, "at");
    if (board) {
        if (period || scope || at) {
            snprintf(errstr, errstr_size, "board: give a board, or period, at and scope, not both");
            return -1;
        }
        if (strlen(board) >= sizeof(q->board) || !board_ok(board)) {
            snprintf(errstr, errstr_size,
                     "board: expected a board name such as \"w:2026-W47:seg:dealer\" or "
                     "\"ptd:all\"");
            return -1;
        }
        snprintf(q->board, sizeof(q->board), "%s", board);
        q->named = 1;
        return 0;
    }
    int p = carrot_period_parse(period ? period : "ptd");
    if (p < 0) {
        snprintf(errstr, errstr_size, "period: expected day, week, month, quarter or ptd");
        return -1;
    }
    if (!scope) scope = "all";
    if (!scope_ok(scope)) {
        snprintf(errstr, errstr_size,
                 "scope: expected all, seg:<segment>, reg:<region> or team:<team>");
        return -1;
    }
    int64_t ms = now_ms;
    if (at && (strlen(at) > 40 || carrot_time_parse_cli(at, now_ms, &ms) != 0)) {
        snprintf(errstr, errstr_size,
                 "at: expected an RFC 3339 time with a zone, or one relative to now (\"-7d\")");
        return -1;
    }
    char pid[32];
    if (display_period_of(p, ms, tz, pid, sizeof(pid)) != 0) {
        snprintf(errstr, errstr_size, "at: out of range");
        return -1;
    }
    snprintf(q->board, sizeof(q->board), "%s:%s", pid, scope);
    q->current = at == NULL || ms == now_ms;
    return 0;
}

/* A day "YYYY-MM-DD" that exists in the calendar (2026-02-29 does not). */
static int day_ok(const char *s) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap);
}

int params_adoption(const char *(*get)(void *opaque, const char *name), void *opaque,
                    adoption_query_t *q, char *errstr, size_t errstr_size) {
    memset(q, 0, sizeof(*q));
    snprintf(q->period, sizeof(q->period), "week");
    q->periods = 8;
    const char *v;
    long n;
    if ((v = get(opaque, "period"))) {
        static const char *const periods[] = {"day", "week", "month", "quarter"};
        int i = 0;
        while (i < 4 && strcmp(v, periods[i]) != 0) i++;
        if (i == 4) {
            snprintf(errstr, errstr_size, "period: expected day, week, month or quarter");
            return -1;
        }
        snprintf(q->period, sizeof(q->period), "%s", periods[i]);
    }
    if ((v = get(opaque, "periods"))) {
        if (number(v, 1, 104, &n) != 0) {
            snprintf(errstr, errstr_size, "periods: expected a whole number from 1 to 104");
            return -1;
        }
        q->periods = (int)n;
    }
    static const char *const filters[] = {"segment", "band", "team"};
    char *into[] = {q->segment, q->band, q->team};
    for (int i = 0; i < 3; i++) {
        if (!(v = get(opaque, filters[i]))) continue;
        if (!params_id_ok(v)) {
            snprintf(errstr, errstr_size, "%s: expected 1 to %d bytes of UTF-8 text", filters[i],
                     DISPLAY_ID_MAX);
            return -1;
        }
        snprintf(into[i], DISPLAY_ID_MAX + 1, "%s", v);
    }
    if ((v = get(opaque, "at"))) {
        if (!day_ok(v)) {
            snprintf(errstr, errstr_size, "at: expected a day, YYYY-MM-DD");
            return -1;
        }
        snprintf(q->at, sizeof(q->at), "%s", v);
    }
    return 0;
}
