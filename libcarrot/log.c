/* log.c: level-gated logging to stderr, one line per call, with a UTC
 * timestamp so interleaved logs of several processes can be merged. */
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

void carrot_log(carrot_log_level_t level, const char *fmt, ...) {
    if (level > log_level) return;
    static const char *tags[] = {[CARROT_LOG_ERROR] = "ERROR",
                                 [CARROT_LOG_WARN] = "WARN",
                                 [CARROT_LOG_INFO] = "INFO",
                                 [CARROT_LOG_DEBUG] = "DEBUG"};
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), log_ident, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line)) vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent writers do not interleave mid-line. */
    size_t len = strlen(line);
    if (len + 1 < sizeof(line)) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
}
