/* log.h: Carrot's one logging function, level-gated, printf-checked, one
 * event per line on stderr.
 *
 * Every program and library file logs through carrot_log(); librdkafka's own
 * logs are routed here too (see kafka.h). Messages follow PostgreSQL's style:
 * lowercase, no trailing period, e.g. "could not open file \"%s\": %s".
 * A message's own line breaks (libpq's are multi-line) are folded into
 * spaces, so a line is always one event. Three formats (--log-format):
 *   text    2026-12-02T10:00:00.123Z carrot-scorer WARN: message
 *   logfmt  ts=2026-12-02T10:00:00.123Z level=warn program=carrot-scorer
 *           instance=h1 msg="message" topic=t partition=0 offset=7
 *   json    {"ts":"...","level":"warn","program":"...","instance":"...",
 *           "msg":"...","topic":"t","partition":0,"offset":7}
 * The Kafka fields appear where a line is about one message (carrot_logk). */
#ifndef CARROT_LOG_H
#define CARROT_LOG_H

#include <stdarg.h>
#include <stdint.h>

typedef enum {
    CARROT_LOG_ERROR = 3,
    CARROT_LOG_WARN = 4,
    CARROT_LOG_INFO = 6,
    CARROT_LOG_DEBUG = 7
} carrot_log_level_t;

/* Messages above this level are dropped. Default: CARROT_LOG_INFO. */
void carrot_log_set_level(carrot_log_level_t level);
carrot_log_level_t carrot_log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns -1 on anything else. */
int carrot_log_level_parse(const char *name);

typedef enum { CARROT_LOG_TEXT, CARROT_LOG_LOGFMT, CARROT_LOG_JSON } carrot_log_format_t;

/* Default CARROT_LOG_TEXT. */
void carrot_log_set_format(carrot_log_format_t format);
/* Parses "text", "logfmt" or "json"; returns -1 on anything else. */
int carrot_log_format_parse(const char *name);

/* Sets the instance name written by logfmt and json (copied; NULL or ""
 * leaves it out), e.g. the group member's instance id. */
void carrot_log_set_instance(const char *instance);

/* Sets the program name printed before each line (not copied: pass a
 * string that outlives the program, such as a literal or argv[0]). */
void carrot_log_set_ident(const char *ident);
/* The program name set above ("carrot" until then). */
const char *carrot_log_get_ident(void);

void carrot_log(carrot_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The Kafka message a line is about. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
} carrot_log_kafka_t;

/* As carrot_log(), naming the message k (may be NULL) in its own fields;
 * the text format appends " (topic t, partition 0, offset 7)". */
void carrot_logk(carrot_log_level_t level, const carrot_log_kafka_t *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define carrot_error(...) carrot_log(CARROT_LOG_ERROR, __VA_ARGS__)
#define carrot_warn(...) carrot_log(CARROT_LOG_WARN, __VA_ARGS__)
#define carrot_info(...) carrot_log(CARROT_LOG_INFO, __VA_ARGS__)
#define carrot_debug(...) carrot_log(CARROT_LOG_DEBUG, __VA_ARGS__)

#endif
