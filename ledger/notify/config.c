/* config.c: carrot-notify's configuration file (YAML): its channels, which
 * triggers are on with their templates, quiet hours and retries. Every
 * refusal names the file and the line, so an operator can fix it before a
 * message is wrong. */
#include "carrot/file.h"
#include "carrot/period.h"
#include "notify_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const char *const TRIGGERS[] = {
    "goal",         "number_one",           "top_n",
    "overtaken",    "commitment_met",       "commitment_missed",
    "streak",       "redemption_fulfilled", "redemption_rejected",
    "draw_won",     "points_expiring",      "weekly_summary",
    "team_summary", "promotion_started",    "promotion_ended"};
_Static_assert(sizeof(TRIGGERS) / sizeof(TRIGGERS[0]) == CARROT_TRIGGER_COUNT,
               "a name for every trigger");

const char *carrot_trigger_name(carrot_trigger_t t) {
    return t >= 0 && t < CARROT_TRIGGER_COUNT ? TRIGGERS[t] : NULL;
}

int carrot_trigger_parse(const char *name) {
    for (int i = 0; i < CARROT_TRIGGER_COUNT; i++)
        if (strcmp(name, TRIGGERS[i]) == 0) return i;
    return -1;
}

typedef struct {
    yaml_document_t *doc;
    const char *name;
    char *errstr;
    size_t errstr_size;
    carrot_notify_config_t *cfg;
} ctx_t;

__attribute__((format(printf, 3, 4))) static int fail(ctx_t *c, const yaml_node_t *n,
                                                      const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        snprintf(c->errstr, c->errstr_size, "%s:%lu: %s", c->name,
                 (unsigned long)n->start_mark.line + 1, msg);
    else
        snprintf(c->errstr, c->errstr_size, "%s: %s", c->name, msg);
    return -1;
}

static yaml_node_t *node(ctx_t *c, int i) { return yaml_document_get_node(c->doc, i); }

static const char *scalar(ctx_t *c, yaml_node_t *n, const char *what) {
    if (!n || n->type != YAML_SCALAR_NODE) {
        fail(c, n, "%s: expected a value", what);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int dup_scalar(ctx_t *c, yaml_node_t *n, const char *what, char **out) {
    const char *s = scalar(c, n, what);
    if (!s) return -1;
    free(*out);
    if (!(*out = strdup(s))) return fail(c, n, "out of memory");
    return 0;
}

static int int_scalar(ctx_t *c, yaml_node_t *n, const char *what, long long lo, long long hi,
                      long long *out) {
    const char *s = scalar(c, n, what);
    if (!s) return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return fail(c, n, "%s: expected a whole number from %lld to %lld, not \"%s\"", what, lo, hi,
                    s);
    *out = v;
    return 0;
}

/* A mapping, each key once: a second "programs:" or "secret_env:" would
 * silently replace the first. */
static int mapping(ctx_t *c, yaml_node_t *n, const char *what) {
    if (!n || n->type != YAML_MAPPING_NODE) return fail(c, n, "%s: expected a mapping", what);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) return fail(c, k, "%s: a key is not a name", what);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *e = node(c, q->key);
            if (e && e->type == YAML_SCALAR_NODE &&
                strcmp((const char *)e->data.scalar.value, (const char *)k->data.scalar.value) == 0)
                return fail(c, k, "%s: \"%s\" given twice", what,
                            (const char *)k->data.scalar.value);
        }
    }
    return 0;
}

/* "HH:MM" into minutes after midnight. */
static int clock_scalar(ctx_t *c, yaml_node_t *n, const char *what, int *out) {
    const char *s = scalar(c, n, what);
    if (!s) return -1;
    int ok = strlen(s) == 5 && s[2] == ':';
    for (int i = 0; ok && i < 5; i++) ok = i == 2 || (s[i] >= '0' && s[i] <= '9');
    int h = ok ? (s[0] - '0') * 10 + s[1] - '0' : 0, m = ok ? (s[3] - '0') * 10 + s[4] - '0' : 0;
    if (!ok || h > 23 || m > 59)
        return fail(c, n, "%s: expected a time of day HH:MM, not \"%s\"", what, s);
    *out = h * 60 + m;
    return 0;
}

/* An address "local@domain.tld": no spaces, no control characters, no
 * angle brackets or commas (each would let it name other recipients or
 * headers), one @ with something either side and a dot after it. */
int carrot_notify_email_ok(const char *s) {
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.') || strlen(s) > 254) return 0;
    if (at[1] == '.' || s[strlen(s) - 1] == '.') return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("<>,;:\"()[]\\", *p)) return 0;
    return 1;
}

static int url_ok(const char *u, carrot_channel_kind_t kind) {
    const char *rest = NULL;
    if (kind == CARROT_CHANNEL_EMAIL) {
        if (strncmp(u, "smtp://", 7) == 0) rest = u + 7;
        else if (strncmp(u, "smtps://", 8) == 0)
            rest = u + 8;
    } else if (strncmp(u, "http://", 7) == 0) {
        rest = u + 7;
    } else if (strncmp(u, "https://", 8) == 0) {
        rest = u + 8;
    }
    if (!rest || !*rest || *rest == '/' || *rest == ':') return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p == 0x7f) return 0;
    return 1;
}

static int parse_channel(ctx_t *c, const char *name, yaml_node_t *n) {
    carrot_notify_config_t *cfg = c->cfg;
    if (mapping(c, n, name)) return -1;
    if (cfg->nchannels == NOTIFY_MAX_CHANNELS)
        return fail(c, n, "more than %d channels", NOTIFY_MAX_CHANNELS);
    for (int i = 0; i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0)
            return fail(c, n, "channel \"%s\" named twice", name);
    notify_channel_t *ch = &cfg->channels[cfg->nchannels++];
    if (!(ch->name = strdup(name))) return fail(c, n, "out of memory");
    int kind = -1;
    char *secret_env = NULL;
    yaml_node_t *url_node = n, *digest_node = NULL;
    const char *url_env = NULL; /* the variable the url came from: its value is not shown */
    ch->digest_at = -1;
    int rc = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; !rc && p < n->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(c, node(c, p->key), "a channel's key");
        yaml_node_t *v = node(c, p->value);
        if (!k) return -1;
        if (strcmp(k, "type") == 0) {
            const char *t = scalar(c, v, "type");
            if (!t) return -1;
            kind = strcmp(t, "slack") == 0     ? CARROT_CHANNEL_SLACK
                   : strcmp(t, "teams") == 0   ? CARROT_CHANNEL_TEAMS
                   : strcmp(t, "webhook") == 0 ? CARROT_CHANNEL_WEBHOOK
                   : strcmp(t, "email") == 0   ? CARROT_CHANNEL_EMAIL
                   : strcmp(t, "display") == 0 ? CARROT_CHANNEL_DISPLAY
                                               : -1;
            if (kind < 0)
                return fail(c, v,
                            "channel %s: type must be slack, teams, webhook, email or display, "
                            "not \"%s\"",
                            name, t);
        } else if (strcmp(k, "url") == 0) {
            if (ch->url) return fail(c, v, "channel %s: url and url_env: one of them", name);
            rc = dup_scalar(c, v, "url", &ch->url);
            url_node = v;
        } else if (strcmp(k, "url_env") == 0) {
            /* a Slack or Teams webhook URL holds its token: kept out of the file */
            const char *e = scalar(c, v, "url_env");
            if (!e) return -1;
            if (ch->url) return fail(c, v, "channel %s: url and url_env: one of them", name);
            const char *val = getenv(e);
            if (!val || !*val)
                return fail(c, v,
                            "channel %s: the environment variable %s holding its url is not "
                            "set",
                            name, e);
            if (!(ch->url = strdup(val))) return fail(c, v, "out of memory");
            url_node = v;
            url_env = e;
        } else if (strcmp(k, "from") == 0) {
            rc = dup_scalar(c, v, "from", &ch->from);
            if (!rc && !carrot_notify_email_ok(ch->from))
                return fail(c, v, "channel %s: from: \"%s\" is not an e-mail address", name,
                            ch->from);
        } else if (strcmp(k, "secret_env") == 0) {
            const char *e = scalar(c, v, "secret_env");
            if (!e) return -1;
            const char *val = getenv(e);
            if (!val || !*val)
                return fail(c, v,
                            "channel %s: the environment variable %s holding its secret is "
                            "not set",
                            name, e);
            secret_env = (char *)e;
            if (!(ch->secret = strdup(val))) return fail(c, v, "out of memory");
            ch->secret_len = strlen(val);
        } else if (strcmp(k, "digest") == 0) {
            digest_node = v;
            if (clock_scalar(c, v, "digest", &ch->digest_at)) return -1;
        } else if (strcmp(k, "per_minute") == 0) {
            long long pm;
            rc = int_scalar(c, v, "per_minute", 0, 1000000, &pm);
            ch->per_minute = (long)pm;
        } else {
            return fail(c, node(c, p->key),
                        "channel %s: unknown key \"%s\" (type, url, url_env, from, secret_env, "
                        "per_minute, digest)",
                        name, k);
        }
    }
    if (rc) return -1;
    if (kind < 0)
        return fail(c, n, "channel %s: no type (slack, teams, webhook, email or display)", name);
    ch->kind = (carrot_channel_kind_t)kind;
    if (ch->kind == CARROT_CHANNEL_DISPLAY) { /* posted through Redis, the boards' own */
        if (ch->url || ch->from || secret_env || digest_node)
            return fail(c, ch->url ? url_node : n,
                        "channel %s: a display channel takes no url, from, secret_env or "
                        "digest: it posts to the program's screens through Redis",
                        name);
        return 0;
    }
    if (!ch->url) return fail(c, n, "channel %s: no url (or url_env)", name);
    if (!url_ok(ch->url, ch->kind))
        return fail(c, url_node, "channel %s: %s%s%s is not an %s URL", name,
                    url_env ? "the url in " : "url \"", url_env ? url_env : ch->url,
                    url_env ? "" : "\"",
                    ch->kind == CARROT_CHANNEL_EMAIL ? "smtp:// or smtps://" : "http(s)://");
    if (digest_node && ch->kind != CARROT_CHANNEL_EMAIL)
        return fail(c, digest_node, "channel %s: digest: only e-mail gathers a day's messages",
                    name);
    if (ch->kind == CARROT_CHANNEL_EMAIL && !ch->from)
        return fail(c, n, "channel %s: an e-mail channel needs from:", name);
    if (ch->kind == CARROT_CHANNEL_WEBHOOK && !secret_env)
        return fail(c, n,
                    "channel %s: a webhook needs secret_env: the variable holding its "
                    "signing secret",
                    name);
    return 0;
}

static int channel_index(const carrot_notify_config_t *cfg, const char *name) {
    for (int i = 0; i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0) return i;
    return -1;
}

static int parse_trigger(ctx_t *c, carrot_trigger_t t, yaml_node_t *n) {
    carrot_notify_config_t *cfg = c->cfg;
    notify_trigger_t *tr = &cfg->triggers[t];
    const char *tn = carrot_trigger_name(t);
    if (mapping(c, n, tn)) return -1;
    yaml_node_t *text_node = n, *subject_node = n;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(c, node(c, p->key), "a trigger's key");
        yaml_node_t *v = node(c, p->value);
        if (!k) return -1;
        if (strcmp(k, "channels") == 0) {
            if (!v || v->type != YAML_SEQUENCE_NODE)
                return fail(c, v, "%s: channels: expected a list of channel names", tn);
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                yaml_node_t *cn = node(c, *it);
                const char *name = scalar(c, cn, "a channel");
                if (!name) return -1;
                int ci = channel_index(cfg, name);
                if (ci < 0) return fail(c, cn, "%s: no channel \"%s\" under channels:", tn, name);
                if (tr->nchannels == NOTIFY_MAX_CHANNELS) return fail(c, cn, "too many channels");
                tr->channels[tr->nchannels++] = ci;
            }
        } else if (strcmp(k, "text") == 0) {
            if (dup_scalar(c, v, "text", &tr->text)) return -1;
            text_node = v;
        } else if (strcmp(k, "subject") == 0) {
            if (dup_scalar(c, v, "subject", &tr->subject)) return -1;
            subject_node = v;
        } else if (strcmp(k, "board") == 0) {
            if (dup_scalar(c, v, "board", &tr->board)) return -1;
            if (t != CARROT_TRIGGER_NUMBER_ONE && t != CARROT_TRIGGER_TOP_N &&
                t != CARROT_TRIGGER_OVERTAKEN)
                return fail(c, v, "%s: board: only rank triggers watch a board", tn);
            if (strlen(tr->board) > 150 || strchr(tr->board, ' ') || !strchr(tr->board, ':'))
                return fail(c, v, "%s: board \"%s\" is no board name (\"ptd:all\")", tn, tr->board);
        } else if (strcmp(k, "n") == 0) {
            long long v2;
            if (int_scalar(c, v, "n", 1, 100, &v2)) return -1;
            if (t != CARROT_TRIGGER_TOP_N && t != CARROT_TRIGGER_OVERTAKEN)
                return fail(c, v, "%s: n: only top_n and overtaken have a top", tn);
            tr->n = (int)v2;
        } else if (strcmp(k, "days") == 0) {
            long long v2;
            if (int_scalar(c, v, "days", 1, 366, &v2)) return -1;
            if (t != CARROT_TRIGGER_POINTS_EXPIRING)
                return fail(c, v, "%s: days: only points_expiring looks ahead", tn);
            tr->n = (int)v2;
        } else if (strcmp(k, "to") == 0) {
            if (!v || v->type != YAML_SEQUENCE_NODE)
                return fail(c, v, "%s: to: expected a list (participant, supervisor)", tn);
            tr->to_participant = 0;
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                const char *who = scalar(c, node(c, *it), "to");
                if (!who) return -1;
                if (strcmp(who, "participant") == 0) tr->to_participant = 1;
                else if (strcmp(who, "supervisor") == 0)
                    tr->to_supervisor = 1;
                else
                    return fail(c, node(c, *it), "%s: to: participant or supervisor, not \"%s\"",
                                tn, who);
            }
        } else {
            return fail(c, node(c, p->key),
                        "%s: unknown key \"%s\" (channels, text, subject, to, board, n, days)", tn,
                        k);
        }
    }
    if (!tr->text) return fail(c, n, "%s: no text", tn);
    char why[400];
    if (carrot_notify_template_check(t, tr->text, why, sizeof(why)))
        return fail(c, text_node, "%s: text: %s", tn, why);
    if (tr->subject && carrot_notify_template_check(t, tr->subject, why, sizeof(why)))
        return fail(c, subject_node, "%s: subject: %s", tn, why);
    if (!tr->board && !(tr->board = strdup("ptd:all"))) return fail(c, n, "out of memory");
    if (!tr->n)
        tr->n = t == CARROT_TRIGGER_NUMBER_ONE ? 1 : t == CARROT_TRIGGER_POINTS_EXPIRING ? 14 : 3;
    tr->on = tr->nchannels > 0;
    return 0;
}

static int parse_root(ctx_t *c, yaml_node_t *root) {
    carrot_notify_config_t *cfg = c->cfg;
    if (mapping(c, root, "the configuration")) return -1;
    yaml_node_t *triggers = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(c, node(c, p->key), "a key");
        yaml_node_t *v = node(c, p->value);
        if (!k) return -1;
        if (strcmp(k, "version") == 0) {
            if (dup_scalar(c, v, "version", &cfg->version)) return -1;
        } else if (strcmp(k, "time_zone") == 0) {
            if (dup_scalar(c, v, "time_zone", &cfg->time_zone)) return -1;
            if (!carrot_tz_valid(cfg->time_zone))
                return fail(c, v, "time_zone: \"%s\" is not a time zone", cfg->time_zone);
        } else if (strcmp(k, "programs") == 0) {
            if (!v || v->type != YAML_SEQUENCE_NODE)
                return fail(c, v, "programs: expected a list of program ids");
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (!cnt)
                return fail(c, v,
                            "programs: an empty list would turn every program off (leave "
                            "it out for all)");
            if (!(cfg->programs = calloc(cnt + 1, sizeof(char *))))
                return fail(c, v, "out of memory");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++)
                if (dup_scalar(c, node(c, *it), "a program", &cfg->programs[cfg->nprograms++]))
                    return -1;
        } else if (strcmp(k, "quiet_hours") == 0) {
            if (mapping(c, v, "quiet_hours")) return -1;
            int have = 0;
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const char *qk = scalar(c, node(c, q->key), "quiet_hours key");
                if (!qk) return -1;
                if (strcmp(qk, "from") == 0) {
                    if (clock_scalar(c, node(c, q->value), "quiet_hours.from", &cfg->quiet_from))
                        return -1;
                    have |= 1;
                } else if (strcmp(qk, "to") == 0) {
                    if (clock_scalar(c, node(c, q->value), "quiet_hours.to", &cfg->quiet_to))
                        return -1;
                    have |= 2;
                } else {
                    return fail(c, node(c, q->key), "quiet_hours: unknown key \"%s\" (from, to)",
                                qk);
                }
            }
            if (have != 3) return fail(c, v, "quiet_hours: needs from and to");
        } else if (strcmp(k, "retry") == 0) {
            if (mapping(c, v, "retry")) return -1;
            int base_set = 0;
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const char *qk = scalar(c, node(c, q->key), "retry key");
                yaml_node_t *qv = node(c, q->value);
                long long x;
                if (!qk) return -1;
                if (strcmp(qk, "attempts") == 0) {
                    if (int_scalar(c, qv, "retry.attempts", 1, 1000, &x)) return -1;
                    cfg->attempts = (int)x;
                } else if (strcmp(qk, "base_ms") == 0) {
                    if (int_scalar(c, qv, "retry.base_ms", 1, 86400000, &x)) return -1;
                    cfg->base_ms = x;
                    base_set = 1;
                } else if (strcmp(qk, "max_ms") == 0) {
                    if (int_scalar(c, qv, "retry.max_ms", 1, 86400000LL * 7, &x)) return -1;
                    cfg->max_ms = x;
                } else if (strcmp(qk, "timeout_ms") == 0) {
                    if (int_scalar(c, qv, "retry.timeout_ms", 100, 600000, &x)) return -1;
                    cfg->timeout_ms = x;
                } else {
                    return fail(c, node(c, q->key),
                                "retry: unknown key \"%s\" (attempts, base_ms, max_ms, "
                                "timeout_ms)",
                                qk);
                }
            }
            if (cfg->base_ms > cfg->max_ms) {
                if (base_set) return fail(c, v, "retry: base_ms is above max_ms");
                cfg->base_ms = cfg->max_ms; /* the default first delay, capped by a small max */
            }
        } else if (strcmp(k, "channels") == 0) {
            if (mapping(c, v, "channels")) return -1;
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const char *name = scalar(c, node(c, q->key), "a channel's name");
                if (!name) return -1;
                if (parse_channel(c, name, node(c, q->value))) return -1;
            }
        } else if (strcmp(k, "triggers") == 0) {
            triggers = v; /* after the channels, wherever they are */
        } else {
            return fail(c, node(c, p->key),
                        "unknown key \"%s\" (version, time_zone, programs, quiet_hours, retry, "
                        "channels, triggers)",
                        k);
        }
    }
    if (!cfg->version) return fail(c, root, "no version: (it is kept with every message)");
    if (triggers) {
        if (mapping(c, triggers, "triggers")) return -1;
        for (yaml_node_pair_t *q = triggers->data.mapping.pairs.start;
             q < triggers->data.mapping.pairs.top; q++) {
            const char *name = scalar(c, node(c, q->key), "a trigger");
            if (!name) return -1;
            int t = carrot_trigger_parse(name);
            if (t < 0) {
                char list[400] = "";
                for (int i = 0; i < CARROT_TRIGGER_COUNT; i++)
                    snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                             i ? ", " : "", TRIGGERS[i]);
                return fail(c, node(c, q->key), "unknown trigger \"%s\" (%s)", name, list);
            }
            if (c->cfg->triggers[t].text)
                return fail(c, node(c, q->key), "trigger %s named twice", name);
            if (parse_trigger(c, (carrot_trigger_t)t, node(c, q->value))) return -1;
        }
    }
    return 0;
}

carrot_notify_config_t *carrot_notify_config_parse(const char *text, size_t len, const char *name,
                                                   char *errstr, size_t errstr_size) {
    carrot_notify_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    cfg->attempts = 10;
    cfg->base_ms = 1000;
    cfg->max_ms = 300000;
    cfg->timeout_ms = 10000;
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++) cfg->triggers[t].to_participant = 1;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(errstr, errstr_size, "out of memory");
        free(cfg);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(errstr, errstr_size, "%s:%lu: %s", name,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "not YAML");
        yaml_parser_delete(&parser);
        free(cfg);
        return NULL;
    }
    ctx_t c = {&doc, name, errstr, errstr_size, cfg};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root ? parse_root(&c, root) : fail(&c, NULL, "empty: no configuration");
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!rc && !cfg->time_zone && !(cfg->time_zone = strdup("UTC"))) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = -1;
    }
    /* its exact text, to publish: the secrets named by *_env are not in it (each
     * member reads them from its environment); a url: written in the file is (a
     * Slack or Teams URL is its token: the README says to use url_env) */
    if (!rc && !(cfg->text = malloc(len + 1))) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = -1;
    }
    if (rc) {
        carrot_notify_config_destroy(cfg);
        return NULL;
    }
    memcpy(cfg->text, text, len);
    cfg->text[len] = '\0';
    cfg->text_len = len;
    return cfg;
}

carrot_notify_config_t *carrot_notify_config_load(const char *path, char *errstr,
                                                  size_t errstr_size) {
    size_t len = 0;
    char *text = carrot_read_file(path, "notification configuration", &len, errstr, errstr_size);
    if (!text) return NULL;
    carrot_notify_config_t *cfg = carrot_notify_config_parse(text, len, path, errstr, errstr_size);
    free(text);
    return cfg;
}

void carrot_notify_config_destroy(carrot_notify_config_t *cfg) {
    if (!cfg) return;
    free(cfg->version);
    free(cfg->time_zone);
    for (int i = 0; i < cfg->nprograms; i++) free(cfg->programs[i]);
    free(cfg->programs);
    for (int i = 0; i < cfg->nchannels; i++) {
        notify_channel_t *ch = &cfg->channels[i];
        free(ch->name);
        free(ch->url);
        free(ch->from);
        if (ch->secret) memset(ch->secret, 0, ch->secret_len);
        free(ch->secret);
    }
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++) {
        free(cfg->triggers[t].text);
        free(cfg->triggers[t].subject);
        free(cfg->triggers[t].board);
    }
    free(cfg->text);
    free(cfg);
}

const char *carrot_notify_config_version(const carrot_notify_config_t *cfg) { return cfg->version; }

const char *carrot_notify_config_text(const carrot_notify_config_t *cfg, size_t *lenp) {
    *lenp = cfg->text_len;
    return cfg->text;
}

int carrot_notify_trigger_on(const carrot_notify_config_t *cfg, carrot_trigger_t t) {
    return t >= 0 && t < CARROT_TRIGGER_COUNT && cfg->triggers[t].on;
}

int carrot_notify_channel_count(const carrot_notify_config_t *cfg) { return cfg->nchannels; }

const char *carrot_notify_channel_name(const carrot_notify_config_t *cfg, int i) {
    return i >= 0 && i < cfg->nchannels ? cfg->channels[i].name : NULL;
}

int notify_program_on(const carrot_notify_config_t *cfg, const char *program) {
    if (!cfg->programs) return 1;
    for (int i = 0; i < cfg->nprograms; i++)
        if (strcmp(cfg->programs[i], program) == 0) return 1;
    return 0;
}

const char *notify_channel_form(const notify_channel_t *ch) {
    switch (ch->kind) {
    case CARROT_CHANNEL_SLACK: return "slack";
    case CARROT_CHANNEL_TEAMS: return "teams";
    case CARROT_CHANNEL_WEBHOOK: return "webhook";
    case CARROT_CHANNEL_EMAIL: return ch->digest_at >= 0 ? "email-digest" : "email";
    case CARROT_CHANNEL_DISPLAY: return "display";
    }
    return "";
}
