/* template.c: a message's text from its trigger's fields: "{{field}}"
 * placeholders, nothing else (no logic in a template, so no template can
 * fail at send time). Which fields each trigger has is fixed here, and a
 * template naming another is refused when the configuration is read. */
#include "notify_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every trigger has these. */
static const char COMMON[] = "program participant name rules_version";

static const char *const FIELDS[CARROT_TRIGGER_COUNT] = {
    [CARROT_TRIGGER_GOAL] = "goal points rule",
    [CARROT_TRIGGER_NUMBER_ONE] = "board points rank",
    [CARROT_TRIGGER_TOP_N] = "board points rank n",
    [CARROT_TRIGGER_OVERTAKEN] = "board points rank previous_rank n by",
    [CARROT_TRIGGER_COMMITMENT_MET] = "commitment period figure target streak points",
    [CARROT_TRIGGER_COMMITMENT_MISSED] = "commitment period figure target misses points supervisor",
    [CARROT_TRIGGER_STREAK] = "commitment period streak points",
    [CARROT_TRIGGER_REDEMPTION_FULFILLED] = "item price",
    [CARROT_TRIGGER_REDEMPTION_REJECTED] = "item price reason",
    [CARROT_TRIGGER_DRAW_WON] = "sweepstakes prize entry points",
    [CARROT_TRIGGER_POINTS_EXPIRING] = "points date days",
    [CARROT_TRIGGER_WEEKLY_SUMMARY] = "week points rank of",
    [CARROT_TRIGGER_TEAM_SUMMARY] = "week points people top top_points",
    [CARROT_TRIGGER_PROMOTION_STARTED] = "promotion from to multiplier bonus segments",
    [CARROT_TRIGGER_PROMOTION_ENDED] = "promotion from to multiplier bonus segments",
};

static int word_in(const char *list, const char *w, size_t wl) {
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && memcmp(p, w, wl) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int carrot_notify_template_check(carrot_trigger_t t, const char *tmpl, char *errstr,
                                 size_t errstr_size) {
    for (const char *p = strstr(tmpl, "{{"); p; p = strstr(p, "{{")) {
        const char *e = strstr(p + 2, "}}");
        if (!e) {
            snprintf(errstr, errstr_size, "a \"{{\" without its \"}}\"");
            return -1;
        }
        const char *f = p + 2;
        while (f < e && *f == ' ') f++;
        const char *fe = e;
        while (fe > f && fe[-1] == ' ') fe--;
        size_t fl = (size_t)(fe - f);
        if (!word_in(COMMON, f, fl) && !word_in(FIELDS[t], f, fl)) {
            snprintf(errstr, errstr_size, "unknown field \"%.*s\": %s has %s %s",
                     (int)(fl > 60 ? 60 : fl), f, carrot_trigger_name(t), COMMON, FIELDS[t]);
            return -1;
        }
        p = e + 2;
    }
    return 0;
}

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static int put(buf_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* A value as text, without control characters: a name from a CRM must not
 * start a new header line in an e-mail or break a chat message. */
static int put_value(buf_t *b, const json_t *v) {
    char num[32];
    const char *s = "";
    if (json_is_string(v)) s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%g", json_real_value(v));
        s = num;
    }
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        if (*q >= 0x20 && *q != 0x7f && put(b, (const char *)q, 1)) return -1;
    return 0;
}

int carrot_notify_render(const char *tmpl, const char *fields_json, char **outp) {
    *outp = NULL;
    json_t *fields = json_loads(fields_json ? fields_json : "{}", 0, NULL);
    buf_t b = {0};
    int rc = put(&b, "", 0);
    const char *p = tmpl;
    while (!rc && *p) {
        const char *o = strstr(p, "{{");
        const char *e = o ? strstr(o + 2, "}}") : NULL;
        if (!o || !e) {
            rc = put(&b, p, strlen(p));
            break;
        }
        rc = put(&b, p, (size_t)(o - p));
        const char *f = o + 2;
        while (f < e && *f == ' ') f++;
        const char *fe = e;
        while (fe > f && fe[-1] == ' ') fe--;
        char name[64];
        size_t fl = (size_t)(fe - f);
        if (!rc && fl < sizeof(name)) {
            memcpy(name, f, fl);
            name[fl] = '\0';
            json_t *v = fields ? json_object_get(fields, name) : NULL;
            if (v) rc = put_value(&b, v);
        }
        p = e + 2;
    }
    json_decref(fields);
    if (rc) {
        free(b.p);
        return -1;
    }
    *outp = b.p;
    return 0;
}
