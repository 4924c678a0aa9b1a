/* config.c: table-driven settings (see config.h for precedence and ownership). */
#include "carrot/config.h"

#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "carrot/version.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct passthru_s {
    char *key, *value;
    struct passthru_s *next;
} passthru_t;

struct carrot_conf_s {
    const carrot_conf_prop_t *props;
    char *dst;
    passthru_t *passthru; /* kafka.* and other prefixed keys, in order given */
};

static const carrot_conf_prop_t *find_prop(const carrot_conf_t *conf, const char *name) {
    for (const carrot_conf_prop_t *p = conf->props; p->name; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}

static int set_prop(carrot_conf_t *conf, const carrot_conf_prop_t *p, const char *value,
                    char *errstr, size_t errstr_size) {
    void *field = conf->dst + p->offset;
    switch (p->type) {
    case CARROT_CONF_STR:
    case CARROT_CONF_SECRET: {
        char **s = field;
        char *copy = value ? strdup(value) : NULL;
        if (value && !copy) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        free(*s);
        *s = copy;
        return 0;
    }
    case CARROT_CONF_INT: {
        if (!value || !*value) goto bad_int;
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || *end) goto bad_int;
        if (v < p->min || v > p->max) {
            snprintf(errstr, errstr_size, "value %lld for \"%s\" is out of range (%lld..%lld)", v,
                     p->name, p->min, p->max);
            return -1;
        }
        *(long long *)field = v;
        return 0;
    bad_int:
        snprintf(errstr, errstr_size, "invalid integer \"%s\" for \"%s\"", value ? value : "",
                 p->name);
        return -1;
    }
    case CARROT_CONF_BOOL: {
        static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
        for (size_t i = 0; value && i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0) return *(int *)field = 1, 0;
            if (strcasecmp(value, no[i]) == 0) return *(int *)field = 0, 0;
        }
        snprintf(errstr, errstr_size, "invalid boolean \"%s\" for \"%s\" (use true or false)",
                 value ? value : "", p->name);
        return -1;
    }
    }
    return -1;
}

carrot_conf_t *carrot_conf_new(const carrot_conf_prop_t *props, void *dst, char *errstr,
                               size_t errstr_size) {
    carrot_conf_t *conf = calloc(1, sizeof(*conf));
    if (!conf) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    conf->props = props;
    conf->dst = dst;
    for (const carrot_conf_prop_t *p = props; p->name; p++) {
        if (p->type == CARROT_CONF_STR || p->type == CARROT_CONF_SECRET)
            *(char **)(conf->dst + p->offset) = NULL;
        if (!p->defval) continue;
        if (set_prop(conf, p, p->defval, errstr, errstr_size) != 0) {
            carrot_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

void carrot_conf_destroy(carrot_conf_t *conf) {
    if (!conf) return;
    for (const carrot_conf_prop_t *p = conf->props; p->name; p++) {
        if (p->type != CARROT_CONF_STR && p->type != CARROT_CONF_SECRET) continue;
        char **s = (char **)(conf->dst + p->offset);
        free(*s);
        *s = NULL;
    }
    for (passthru_t *pt = conf->passthru, *next; pt; pt = next) {
        next = pt->next;
        free(pt->key);
        free(pt->value);
        free(pt);
    }
    free(conf);
}

/* CARROT_<NAME> for a setting: '.' and '-' become '_', upper case. */
static void env_name(const char *name, char *var, size_t size) {
    size_t n = (size_t)snprintf(var, size, "CARROT_%s", name);
    for (size_t i = 7; i < n && i < size; i++)
        var[i] = (var[i] == '.' || var[i] == '-') ? '_' : (char)toupper((unsigned char)var[i]);
}

int carrot_conf_set(carrot_conf_t *conf, const char *name, const char *value, char *errstr,
                    size_t errstr_size) {
    if (strncmp(name, "kafka.", 6) == 0) {
        if (!name[6] || !value) {
            snprintf(errstr, errstr_size, "\"%s\" needs a key and a value", name);
            return -1;
        }
        passthru_t *pt = calloc(1, sizeof(*pt)), **tail = &conf->passthru;
        if (!pt || !(pt->key = strdup(name)) || !(pt->value = strdup(value))) {
            if (pt) free(pt->key);
            free(pt);
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        while (*tail) tail = &(*tail)->next;
        *tail = pt;
        return 0;
    }
    const carrot_conf_prop_t *p = find_prop(conf, name);
    if (!p) {
        snprintf(errstr, errstr_size, "unknown setting \"%s\" (see --help)", name);
        return -1;
    }
    if (p->type == CARROT_CONF_SECRET) {
        char var[128];
        env_name(p->name, var, sizeof(var));
        snprintf(errstr, errstr_size,
                 "\"%s\" is not accepted as a flag or in a config file, where other users "
                 "could read it: set %s in the environment (see --help for other ways)",
                 name, var);
        return -1;
    }
    return set_prop(conf, p, value, errstr, errstr_size);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* A config file's value, in place: "quoted" (\\" and \\\\ escaped, a
 * "# comment" may follow), or bare. A '#' in a bare value is refused, not
 * taken for a comment: "secret = ab#cd" cut to "ab" would fail far from
 * here, or not at all. NULL with *why when the value is malformed. */
static char *unquote(char *v, const char **why) {
    if (*v != '"') {
        if (strchr(v, '#')) {
            *why = "a '#' in a value: quote the value (\"...\") to keep it, or put the comment "
                   "on a line of its own";
            return NULL;
        }
        if (strchr(v, '"')) {
            *why = "a '\"' inside a bare value: quote the whole value and escape it as \\\"";
            return NULL;
        }
        return v;
    }
    char *out = v, *p = v + 1;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            if (*p != '"' && *p != '\\') {
                *why = "in a quoted value only \\\" and \\\\ are escapes";
                return NULL;
            }
        }
        *out++ = *p;
    }
    if (*p != '"') {
        *why = "the quoted value has no closing '\"'";
        return NULL;
    }
    p++;
    while (isspace((unsigned char)*p)) p++;
    if (*p && *p != '#') {
        *why = "text after the closing '\"' (only a \"# comment\" may follow)";
        return NULL;
    }
    *out = '\0';
    return v;
}

int carrot_conf_load_file(carrot_conf_t *conf, const char *path, char *errstr, size_t errstr_size) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(errstr, errstr_size, "could not open config file \"%s\": %s", path,
                 strerror(errno));
        return -1;
    }
    char line[4096], err[256];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(fp)) {
            snprintf(errstr, errstr_size, "%s:%d: line longer than %zu bytes", path, lineno,
                     sizeof(line) - 2);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue; /* blank, or a comment line */
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(errstr, errstr_size, "%s:%d: expected \"key = value\"", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        const char *why = NULL;
        char *value = unquote(trim(eq + 1), &why);
        if (!value) {
            snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, why);
            rc = -1;
        } else if (carrot_conf_set(conf, trim(s), value, err, sizeof(err)) != 0) {
            snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, err);
            rc = -1;
        }
    }
    fclose(fp);
    return rc;
}

int carrot_conf_load_env(carrot_conf_t *conf, char *errstr, size_t errstr_size) {
    char var[128], err[256];
    for (const carrot_conf_prop_t *p = conf->props; p->name; p++) {
        env_name(p->name, var, sizeof(var));
        const char *v = getenv(var);
        if (!v) continue;
        if (set_prop(conf, p, v, err, sizeof(err)) != 0) {
            snprintf(errstr, errstr_size, "environment %s: %s", var, err);
            return -1;
        }
    }
    return 0;
}

int carrot_conf_parse_args(carrot_conf_t *conf, int argc, char **argv, int *nposp,
                           const char *usage, char *errstr, size_t errstr_size) {
    /* Pass 1: --help and --config, which must act before other flags. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
            strcmp(argv[i], "--help-markdown") == 0 || strcmp(argv[i], "--help-man") == 0) {
            carrot_conf_print_help(conf, stdout, usage,
                                   !strcmp(argv[i], "--help-markdown") ? CARROT_HELP_MARKDOWN
                                   : !strcmp(argv[i], "--help-man")    ? CARROT_HELP_MAN
                                                                       : CARROT_HELP_TEXT);
            return 1;
        }
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        if (path && carrot_conf_load_file(conf, path, errstr, errstr_size) != 0) return -1;
    }
    if (carrot_conf_load_env(conf, errstr, errstr_size) != 0) return -1;

    int npos = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            argv[1 + npos++] = a; /* compacts positionals; i >= 1 + npos always */
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        char name[128];
        const char *value = NULL;
        if (strcmp(a, "-X") == 0) {
            if (i + 1 >= argc || !strchr(argv[i + 1], '=')) {
                snprintf(errstr, errstr_size, "-X needs key=value");
                return -1;
            }
            a = argv[++i];
            const char *eq = strchr(a, '=');
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            value = eq + 1;
        } else if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            snprintf(name, sizeof(name), "%.*s", (int)n, a + 2);
            if (eq) value = eq + 1;
        } else {
            snprintf(errstr, errstr_size, "unknown option \"%s\" (see --help)", a);
            return -1;
        }
        if (strcmp(name, "config") == 0) {
            if (!value) i++; /* already loaded in pass 1 */
            continue;
        }
        const carrot_conf_prop_t *p = find_prop(conf, name);
        if (!p && strncmp(name, "kafka.", 6) != 0 &&
            !(strncmp(name, "no-", 3) == 0 && find_prop(conf, name + 3))) {
            snprintf(errstr, errstr_size, "unknown option \"--%s\" (see --help)", name);
            return -1;
        }
        if (!value) {
            if (p && p->type == CARROT_CONF_BOOL) value = "true";
            else if (strncmp(name, "no-", 3) == 0 && (p = find_prop(conf, name + 3)) &&
                     p->type == CARROT_CONF_BOOL) {
                memmove(name, name + 3, strlen(name + 3) + 1);
                value = "false";
            } else if (i + 1 < argc)
                value = argv[++i];
            else {
                snprintf(errstr, errstr_size, "option \"--%s\" needs a value", name);
                return -1;
            }
        }
        if (carrot_conf_set(conf, name, value, errstr, errstr_size) != 0) return -1;
    }
    *nposp = npos;
    return 0;
}

/* Writes text for roff: backslashes escaped, and a line that would start
 * with a control character ('.' or '\'') guarded. */
static void roff(FILE *fp, const char *text, size_t len) {
    int bol = 1;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (bol && (ch == '.' || ch == '\'')) fputs("\\&", fp);
        if (ch == '\\') fputs("\\e", fp);
        else if (ch == '-')
            fputs("\\-", fp);
        else
            fputc(ch, fp);
        bol = ch == '\n';
    }
}

static void print_man(const carrot_conf_t *conf, FILE *fp, const char *usage) {
    static const char *types[] = {"string", "integer", "boolean", "string, environment only"};
    const char *synopsis = strncmp(usage, "usage: ", 7) == 0 ? usage + 7 : usage;
    size_t synlen = strcspn(synopsis, "\n");
    const char *name = synopsis; /* the first word that is no VAR=value */
    size_t namelen = strcspn(name, " \n");
    while (memchr(name, '=', namelen) && name[namelen] == ' ') {
        name += namelen + 1;
        namelen = strcspn(name, " \n");
    }
    const char *rest = synopsis[synlen] ? synopsis + synlen + 1 : "";
    size_t desclen = strcspn(rest, "\n");
    fputs(".TH \"", fp);
    for (size_t i = 0; i < namelen; i++) fputc(toupper((unsigned char)name[i]), fp);
    fprintf(fp, "\" 1 \"\" \"carrot %s\" \"Carrot manual\"\n.SH NAME\n", carrot_version());
    roff(fp, name, namelen);
    fputs(" \\- ", fp);
    roff(fp, rest, desclen);
    fputs("\n.SH SYNOPSIS\n", fp);
    roff(fp, synopsis, synlen);
    fputs("\n.SH DESCRIPTION\n", fp);
    roff(fp, rest, strlen(rest));
    fputs("\n.PP\nSettings come from their defaults, then \\fB\\-\\-config\\fR \\fIFILE\\fR "
          "(\"name = value\" lines), then the environment (\\fBCARROT_\\fR\\fINAME\\fR), then "
          "flags (\\fB\\-\\-name=value\\fR), each overriding the one before.\n.SH SETTINGS\n",
          fp);
    for (const carrot_conf_prop_t *p = conf->props; p->name; p++) {
        if (p->type == CARROT_CONF_SECRET) { /* no flag: the environment variable */
            char var[128];
            env_name(p->name, var, sizeof(var));
            fputs(".TP\n\\fB", fp);
            roff(fp, var, strlen(var));
        } else {
            fputs(".TP\n\\fB\\-\\-", fp);
            roff(fp, p->name, strlen(p->name));
        }
        fprintf(fp, "\\fR \\fI%s\\fR", types[p->type]);
        if (p->type == CARROT_CONF_INT) fprintf(fp, " (%lld..%lld)", p->min, p->max);
        fputs("\ndefault: ", fp);
        roff(fp, p->defval ? p->defval : "none", strlen(p->defval ? p->defval : "none"));
        fputs("\n.br\n", fp);
        roff(fp, p->desc, strlen(p->desc));
        fputc('\n', fp);
    }
    fputs(".TP\n.B \\-X kafka.\\fIkey\\fR=\\fIvalue\\fR\nany librdkafka setting, passed unchanged\n"
          ".TP\n.B \\-\\-version\nprint the version and exit\n"
          ".SH SEE ALSO\nREADME.md in Carrot's source: the quickstart, the flow, operations.\n",
          fp);
}

void carrot_conf_print_help(const carrot_conf_t *conf, FILE *fp, const char *usage,
                            carrot_help_format_t format) {
    static const char *types[] = {"string", "integer", "boolean", "string, environment only"};
    if (format == CARROT_HELP_MAN) {
        print_man(conf, fp, usage);
        return;
    }
    int markdown = format == CARROT_HELP_MARKDOWN;
    if (markdown) {
        fprintf(fp, "| setting | type | default | description |\n| --- | --- | --- | --- |\n");
    } else {
        fprintf(fp,
                "%s\n\nSettings (--name=value, CARROT_NAME in the environment, or "
                "\"name = value\" in --config FILE):\n",
                usage);
    }
    for (const carrot_conf_prop_t *p = conf->props; p->name; p++) {
        char range[64] = "";
        if (p->type == CARROT_CONF_INT)
            snprintf(range, sizeof(range), " (%lld..%lld)", p->min, p->max);
        if (markdown)
            fprintf(fp, "| `%s` | %s%s | %s | %s |\n", p->name, types[p->type], range,
                    p->defval ? p->defval : "(none)", p->desc);
        else if (p->type == CARROT_CONF_SECRET) { /* no flag to show */
            char var[128];
            env_name(p->name, var, sizeof(var));
            fprintf(fp, "  %-26s %s [default: %s]\n      %s\n", var, types[p->type],
                    p->defval ? p->defval : "none", p->desc);
        } else
            fprintf(fp, "  --%-24s %s%s [default: %s]\n      %s\n", p->name, types[p->type], range,
                    p->defval ? p->defval : "none", p->desc);
    }
    if (markdown)
        fprintf(fp, "| `kafka.*` | string | | passed to librdkafka unchanged, e.g. "
                    "`kafka.statistics.interval.ms` |\n");
    else
        fprintf(fp, "  -X kafka.<key>=<value>       any librdkafka setting, passed unchanged\n"
                    "  --config FILE                read settings from FILE first\n"
                    "  --version                    print the version and exit\n");
}

int carrot_conf_foreach_prefixed(const carrot_conf_t *conf, const char *prefix,
                                 int (*cb)(const char *key, const char *value, void *opaque),
                                 void *opaque) {
    size_t plen = strlen(prefix);
    for (const passthru_t *pt = conf->passthru; pt; pt = pt->next) {
        if (strncmp(pt->key, prefix, plen) != 0) continue;
        int rc = cb(pt->key + plen, pt->value, opaque);
        if (rc) return rc;
    }
    return 0;
}

carrot_conf_t *carrot_conf_init_program(const char *ident, const carrot_conf_prop_t *props,
                                        void *dst, int argc, char **argv, int *nposp,
                                        const char *usage, int *exit_codep) {
    char errstr[512];
    int npos = 0;
    carrot_log_set_ident(ident);
    *exit_codep = 2;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", ident, carrot_version());
            *exit_codep = 0;
            return NULL;
        }
    carrot_conf_t *conf = carrot_conf_new(props, dst, errstr, sizeof(errstr));
    if (!conf) {
        carrot_error("%s", errstr);
        return NULL;
    }
    int rc = carrot_conf_parse_args(conf, argc, argv, &npos, usage, errstr, sizeof(errstr));
    if (rc > 0) *exit_codep = 0; /* --help */
    else if (rc < 0)
        carrot_error("%s", errstr);
    else if (npos > 0 && !nposp)
        carrot_error("unexpected argument \"%s\" (see --help)", argv[1]);
    if (rc != 0 || (npos > 0 && !nposp)) {
        carrot_conf_destroy(conf);
        return NULL;
    }
    const carrot_conf_prop_t *p = find_prop(conf, "log-level");
    if (p && p->type == CARROT_CONF_STR) {
        const char *name = *(char **)(conf->dst + p->offset);
        int level = name ? carrot_log_level_parse(name) : -1;
        if (level < 0) {
            carrot_error("invalid log-level \"%s\" (error, warn, info or debug)", name ? name : "");
            carrot_conf_destroy(conf);
            return NULL;
        }
        carrot_log_set_level((carrot_log_level_t)level);
    }
    p = find_prop(conf, "log-format");
    if (p && p->type == CARROT_CONF_STR) {
        const char *name = *(char **)(conf->dst + p->offset);
        int format = name ? carrot_log_format_parse(name) : -1;
        if (format < 0) {
            carrot_error("invalid log-format \"%s\" (text, logfmt or json)", name ? name : "");
            carrot_conf_destroy(conf);
            return NULL;
        }
        carrot_log_set_format((carrot_log_format_t)format);
    }
    /* a shifted clock dates every award: refuse a bad one, and never run it unnoticed */
    int64_t shift = carrot_time_shift_ms();
    if (shift < 0) {
        carrot_error("CARROT_TEST_CLOCK_SHIFT: expected \"+N\" and a unit (s, m, h, d, w), "
                     "such as \"+60d\", not \"%s\"",
                     getenv("CARROT_TEST_CLOCK_SHIFT"));
        carrot_conf_destroy(conf);
        return NULL;
    }
    if (shift > 0)
        carrot_warn("the clock is shifted %lld s ahead (CARROT_TEST_CLOCK_SHIFT): for tests only",
                    (long long)(shift / 1000));
    if (nposp) *nposp = npos;
    return conf;
}
