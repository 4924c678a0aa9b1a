/* log.c: level-gated logging to stderr, one line per call, with a UTC
 * timestamp so interleaved logs of several processes can be merged; as
 * text, logfmt or JSON lines. */
#include "carrot/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static carrot_log_level_t log_level = CARROT_LOG_INFO;
static const char *log_ident = "carrot";

void carrot_log_set_level(carrot_log_level_t level) { log_level = level; }
carrot_log_level_t carrot_log_get_level(void) { return log_level; }
void carrot_log_set_ident(const char *ident) { log_ident = ident ? ident : "carrot"; }
const char *carrot_log_get_ident(void) { return log_ident; }

int carrot_log_level_parse(const char *name) {
    static const struct {
        const char *name;
        carrot_log_level_t level;
    } names[] = {{"error", CARROT_LOG_ERROR},
                 {"warn", CARROT_LOG_WARN},
                 {"info", CARROT_LOG_INFO},
                 {"debug", CARROT_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0) return (int)names[i].level;
    return -1;
}

static carrot_log_format_t log_format = CARROT_LOG_TEXT;
static char log_instance[128];

void carrot_log_set_format(carrot_log_format_t format) { log_format = format; }

int carrot_log_format_parse(const char *name) {
    if (strcmp(name, "text") == 0) return CARROT_LOG_TEXT;
    if (strcmp(name, "logfmt") == 0) return CARROT_LOG_LOGFMT;
    if (strcmp(name, "json") == 0) return CARROT_LOG_JSON;
    return -1;
}

void carrot_log_set_instance(const char *instance) {
    snprintf(log_instance, sizeof(log_instance), "%s", instance ? instance : "");
}

/* A bounded line buffer: what does not fit is cut, never overrun. */
typedef struct {
    char buf[4096];
    size_t len;
} line_t;

static void put(line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line_t *l, const char *fmt, ...) {
    size_t room = sizeof(l->buf) - 2 - l->len; /* keeps room for "\n" and NUL */
    if (room == 0) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
    va_end(ap);
    if (n > 0) l->len += (size_t)n < room ? (size_t)n : room;
}

/* Appends s quoted for logfmt or JSON (both: backslash escapes for '"',
 * '\\' and control characters). */
static void put_quoted(line_t *l, const char *s) {
    put(l, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') put(l, "\\%c", *p);
        else if (*p == '\t')
            put(l, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            put(l, "\\u%04x", *p);
        else
            put(l, "%c", *p);
    }
    put(l, "\"");
}

/* Folds a message's line breaks (and the indentation after them) into one
 * space and drops trailing ones, in place. */
static void fold_lines(char *msg) {
    char *w = msg;
    for (const char *r = msg; *r;) {
        if (*r == '\n' || *r == '\r') {
            while (*r == '\n' || *r == '\r' || *r == ' ' || *r == '\t') r++;
            if (*r && w > msg) *w++ = ' ';
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

__attribute__((format(printf, 3, 0))) static void
vlog(carrot_log_level_t level, const carrot_log_kafka_t *k, const char *fmt, va_list ap) {
    static const char *tags[] = {[CARROT_LOG_ERROR] = "ERROR",
                                 [CARROT_LOG_WARN] = "WARN",
                                 [CARROT_LOG_INFO] = "INFO",
                                 [CARROT_LOG_DEBUG] = "DEBUG"};
    static const char *names[] = {[CARROT_LOG_ERROR] = "error",
                                  [CARROT_LOG_WARN] = "warn",
                                  [CARROT_LOG_INFO] = "info",
                                  [CARROT_LOG_DEBUG] = "debug"};
    char msg[2048], ts[64];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fold_lines(msg);
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    line_t l = {.len = 0};
    switch (log_format) {
    case CARROT_LOG_TEXT:
        put(&l, "%s %s %s: %s", ts, log_ident, tags[level], msg);
        if (k)
            put(&l, " (topic %s, partition %d, offset %lld)", k->topic, (int)k->partition,
                (long long)k->offset);
        break;
    case CARROT_LOG_LOGFMT:
        put(&l, "ts=%s level=%s program=%s", ts, names[level], log_ident);
        if (log_instance[0]) {
            put(&l, " instance=");
            put_quoted(&l, log_instance);
        }
        put(&l, " msg=");
        put_quoted(&l, msg);
        if (k) {
            put(&l, " topic=");
            put_quoted(&l, k->topic);
            put(&l, " partition=%d offset=%lld", (int)k->partition, (long long)k->offset);
        }
        break;
    case CARROT_LOG_JSON:
        put(&l, "{\"ts\":\"%s\",\"level\":\"%s\",\"program\":", ts, names[level]);
        put_quoted(&l, log_ident);
        if (log_instance[0]) {
            put(&l, ",\"instance\":");
            put_quoted(&l, log_instance);
        }
        put(&l, ",\"msg\":");
        put_quoted(&l, msg);
        if (k) {
            put(&l, ",\"topic\":");
            put_quoted(&l, k->topic);
            put(&l, ",\"partition\":%d,\"offset\":%lld", (int)k->partition, (long long)k->offset);
        }
        put(&l, "}");
        break;
    }
    l.buf[l.len++] = '\n';
    l.buf[l.len] = '\0';
    /* One fputs per line so concurrent writers do not interleave mid-line. */
    fputs(l.buf, stderr);
}

void carrot_log(carrot_log_level_t level, const char *fmt, ...) {
    if (level > log_level) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, fmt, ap);
    va_end(ap);
}

void carrot_logk(carrot_log_level_t level, const carrot_log_kafka_t *k, const char *fmt, ...) {
    if (level > log_level) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, k, fmt, ap);
    va_end(ap);
}
