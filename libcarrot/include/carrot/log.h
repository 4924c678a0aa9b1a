/* log.h: Carrot's one logging function, level-gated, printf-checked.
 *
 * Every program and library file logs through carrot_log(); librdkafka's own
 * logs are routed here too (see kafka.h). Messages follow PostgreSQL's style:
 * lowercase, no trailing period, e.g. "could not open file \"%s\": %s". */
#ifndef CARROT_LOG_H
#define CARROT_LOG_H

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

/* Sets the program name printed before each line (not copied: pass a
 * string that outlives the program, such as a literal or argv[0]). */
void carrot_log_set_ident(const char *ident);

void carrot_log(carrot_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define carrot_error(...) carrot_log(CARROT_LOG_ERROR, __VA_ARGS__)
#define carrot_warn(...) carrot_log(CARROT_LOG_WARN, __VA_ARGS__)
#define carrot_info(...) carrot_log(CARROT_LOG_INFO, __VA_ARGS__)
#define carrot_debug(...) carrot_log(CARROT_LOG_DEBUG, __VA_ARGS__)

#endif
