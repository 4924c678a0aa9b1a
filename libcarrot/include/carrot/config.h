/* config.h: one configuration table per program.
 *
 * A program describes every setting once, in a static table of
 * carrot_conf_prop_t (name, type, where it is stored, default, range,
 * description). From that table come the defaults, `--help`, the README's
 * reference (`--help-markdown`), and parsing from a config file, the
 * environment and command-line flags, in that order of precedence:
 *
 *     defaults < --config FILE < CARROT_<NAME> environment < --name=value flags
 *
 * Keys with the "kafka." prefix are not in the table: they are collected as
 * they come and handed to librdkafka untouched (see carrot_kafka_conf_new()).
 *
 * Ownership: string settings are stored as `char *` in the program's own
 * struct; the carrot_conf_t owns those strings and frees them in
 * carrot_conf_destroy(), so the struct must not outlive the conf. */
#ifndef CARROT_CONFIG_H
#define CARROT_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    CARROT_CONF_STR,   /* char * */
    CARROT_CONF_INT,   /* long long, checked against min..max */
    CARROT_CONF_BOOL,  /* int, 0 or 1; accepts true/false/yes/no/1/0 */
    CARROT_CONF_SECRET /* char *, like STR but from the environment only: a flag
                        * shows in every user's `ps` (/proc/PID/cmdline) and a
                        * config file is often world-readable, so both are refused */
} carrot_conf_type_t;

typedef struct carrot_conf_prop_s {
    const char *name; /* e.g. "brokers"; flags are --brokers */
    carrot_conf_type_t type;
    size_t offset;      /* offsetof(struct program_conf, field) */
    const char *defval; /* default as text; NULL means unset (NULL string) */
    long long min, max; /* CARROT_CONF_INT only */
    const char *desc;   /* one sentence, shown by --help */
} carrot_conf_prop_t;

/* The rows every program shares, for a struct type with the fields
 * log_level and log_format (char *), and metrics_port (int) and
 * metrics_listen (char *): one wording of them everywhere. */
/* clang-format off */
#define CARROT_CONF_LOG_ROWS(type)                                                       \
    {"log-level", CARROT_CONF_STR, offsetof(type, log_level), "info", 0, 0,              \
     "error, warn, info or debug"},                                                      \
    {"log-format", CARROT_CONF_STR, offsetof(type, log_format), "text", 0, 0,            \
     "text, logfmt or json: one event per line either way"}
#define CARROT_CONF_METRICS_ROWS(type)                                                   \
    {"metrics-port", CARROT_CONF_INT, offsetof(type, metrics_port), "0", 0, 65535,       \
     "serve /metrics, /healthz and /readyz on this port (0: off)"},                      \
    {"metrics-listen", CARROT_CONF_STR, offsetof(type, metrics_listen), "127.0.0.1", 0, 0, \
     "address the metrics endpoint listens on (0.0.0.0: every interface)"}
/* clang-format on */

/* The table ends with an entry whose name is NULL. */
#define CARROT_CONF_END \
    { NULL, CARROT_CONF_STR, 0, NULL, 0, 0, NULL }

typedef struct carrot_conf_s carrot_conf_t;

/* Creates a conf writing into dst (the program's struct) and applies every
 * default. props and dst are borrowed and must outlive the conf.
 * Returns NULL with errstr filled if a default does not parse. */
carrot_conf_t *carrot_conf_new(const carrot_conf_prop_t *props, void *dst, char *errstr,
                               size_t errstr_size);

/* NULL is a no-op. Frees every string setting written into dst. */
void carrot_conf_destroy(carrot_conf_t *conf);

/* Sets one key. "kafka.*" keys are kept for librdkafka. Returns 0, or -1 with
 * errstr naming the key and the problem (unknown key, bad number, out of
 * range, a CARROT_CONF_SECRET key: those come only from the environment). */
int carrot_conf_set(carrot_conf_t *conf, const char *name, const char *value, char *errstr,
                    size_t errstr_size);

/* Reads "key = value" lines. A line whose first non-blank is '#' is a
 * comment. A value is bare (to the end of the line, trimmed; it may hold no
 * '#' or '"') or "quoted" (\" and \\ escaped; a "# comment" may follow
 * it). Errors name the file and line. */
int carrot_conf_load_file(carrot_conf_t *conf, const char *path, char *errstr, size_t errstr_size);

/* Applies CARROT_<NAME> variables for every key in the table ('.' and '-'
 * become '_', upper case), e.g. CARROT_REDIS_PORT for redis-port. */
int carrot_conf_load_env(carrot_conf_t *conf, char *errstr, size_t errstr_size);

/* Parses argv: --config FILE first, then the environment, then every
 * --name=value / --name value / --flag (bool) / -X kafka.key=value.
 * Non-option arguments are moved to the front of argv (after argv[0]) and
 * their count is stored in *nposp. Returns 0, 1 if --help or --help-markdown
 * was printed (the caller exits 0), or -1 with errstr. */
int carrot_conf_parse_args(carrot_conf_t *conf, int argc, char **argv, int *nposp,
                           const char *usage, char *errstr, size_t errstr_size);

/* What every program's main() does first: names the program in logs, applies
 * the table's defaults into dst, reads --config, the environment and argv
 * (as carrot_conf_parse_args()), and applies the "log-level" and
 * "log-format" settings when the table has them. Positional arguments end up in argv[1..*nposp]; pass
 * nposp NULL to refuse any. Returns the conf (the caller destroys it), or
 * NULL with *exit_codep set: 0 after --help, 2 on bad usage (logged). */
carrot_conf_t *carrot_conf_init_program(const char *ident, const carrot_conf_prop_t *props,
                                        void *dst, int argc, char **argv, int *nposp,
                                        const char *usage, int *exit_codep);

/* How carrot_conf_print_help writes: --help, --help-markdown (the README's
 * reference) and --help-man (the man page, roff, installed by cmake --install). */
typedef enum { CARROT_HELP_TEXT, CARROT_HELP_MARKDOWN, CARROT_HELP_MAN } carrot_help_format_t;

/* Prints the generated help: usage, then one entry per key with its default
 * and range. For a man page, usage's first line ("usage: NAME ...") gives
 * the name and synopsis, its second line the one-line description. */
void carrot_conf_print_help(const carrot_conf_t *conf, FILE *fp, const char *usage,
                            carrot_help_format_t format);

/* Calls cb for every collected key starting with prefix (prefix stripped).
 * Stops at and returns the first non-zero cb result. */
int carrot_conf_foreach_prefixed(const carrot_conf_t *conf, const char *prefix,
                                 int (*cb)(const char *key, const char *value, void *opaque),
                                 void *opaque);

#endif
