/* carrot-rules: a program's rules before and after launch.
 *   check FILE      reads and checks a rules file, and says what it holds
 *   publish FILE    puts it in force: writes it to the carrot.rules topic,
 *                   which every scorer of the program follows
 *   simulate FILE   scores a feed (--input FILE, or --topic with --from/--to)
 *                   under FILE in memory and reports what each participant
 *                   would earn, writing nothing
 *   backfill FILE   re-scores a past range of the topic under FILE and books
 *                   only the differences as adjustment awards (backfill.c) */
#include "carrot/activity.h"
#include "carrot/activity_json.h"
#include "carrot/file.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "cli.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(rules_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"rules-topic", CARROT_CONF_STR, OFF(rules_topic), "carrot.rules", 0, 0,
     "compacted topic the scorers follow (publish)"},
    {"input", CARROT_CONF_STR, OFF(input), NULL, 0, 0,
     "simulate: a feed file in the generic JSON-lines format (as carrot-ingest reads it)"},
    {"topic", CARROT_CONF_STR, OFF(topic), "crm.activities", 0, 0,
     "simulate (without --input) and backfill: the activities topic"},
    {"from", CARROT_CONF_STR, OFF(from), NULL, 0, 0,
     "start of the topic range by Kafka timestamp: RFC 3339, or relative (\"-7d\"); "
     "default: the beginning"},
    {"to", CARROT_CONF_STR, OFF(to), NULL, 0, 0,
     "end of the topic range, exclusive; default: the current end"},
    {"format", CARROT_CONF_STR, OFF(format), "text", 0, 0, "simulate: text or json"},
    {"top", CARROT_CONF_INT, OFF(top), "1000000", 1, 100000000, "simulate: participants listed"},
    {"id", CARROT_CONF_STR, OFF(id), NULL, 0, 0,
     "backfill: a name for this back-fill; running it again with the same id changes nothing"},
    {"awards-topic", CARROT_CONF_STR, OFF(awards_topic), "carrot.awards", 0, 0,
     "backfill: the awards topic (read for what was awarded, written with the adjustments)"},
    {"dry-run", CARROT_CONF_BOOL, OFF(dry_run), "false", 0, 0,
     "backfill: report the differences, write nothing"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "backfill: Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "backfill: Redis port"},
    {"seen-ttl", CARROT_CONF_INT, OFF(seen_ttl), "2592000", 60, 315360000,
     "backfill: seconds its adjustments are remembered, so a rerun applies none twice"},
    CARROT_CONF_LOG_ROWS(rules_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-rules check FILE\n"
    "       carrot-rules publish FILE [--rules-topic T]\n"
    "       carrot-rules simulate FILE (--input FEED | [--topic T] [--from TIME] [--to TIME])\n"
    "       carrot-rules backfill FILE --id NAME [--topic T] --from TIME [--to TIME] [--dry-run]\n"
    "Checks, publishes, simulates and back-fills a program's scoring rules.";

static int check(const carrot_rules_t *r, const char *path) {
    size_t len;
    carrot_rules_text(r, &len);
    printf("%s: program %s, version %s, time zone %s: valid (%zu bytes)\n", path,
           carrot_rules_program(r), carrot_rules_version(r), carrot_rules_timezone(r), len);
    return 0;
}

/* --- simulate ------------------------------------------------------------ */

typedef struct {
    char rule[CARROT_RULE_ID_MAX + 8];
    int64_t points;
    long count;
} rule_total_t;

typedef struct {
    carrot_sim_t *sim;
    rule_total_t *rules;
    size_t nrules, cap;
    long events, duplicates, invalid, other;
} sim_state_t;

static int sim_feed(sim_state_t *st, const carrot_activity_t *a) {
    carrot_scoring_t sc;
    int fresh;
    st->events++;
    if (carrot_sim_feed(st->sim, a, &sc, &fresh)) return -1;
    if (!fresh) st->duplicates++;
    for (int i = 0; i < sc.nlines; i++) {
        size_t j = 0;
        while (j < st->nrules && strcmp(st->rules[j].rule, sc.lines[i].rule_id) != 0) j++;
        if (j == st->nrules) {
            if (st->nrules == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 64;
                rule_total_t *nr = realloc(st->rules, cap * sizeof(*nr));
                if (!nr) return -1;
                st->rules = nr;
                st->cap = cap;
            }
            memset(&st->rules[j], 0, sizeof(st->rules[j]));
            snprintf(st->rules[j].rule, sizeof(st->rules[j].rule), "%s", sc.lines[i].rule_id);
            st->nrules++;
        }
        st->rules[j].points += sc.lines[i].points;
        st->rules[j].count++;
    }
    return 0;
}

static void sim_report(const rules_conf_t *cf, const carrot_rules_t *r, sim_state_t *st,
                       const carrot_sim_total_t *t, long n) {
    int64_t total = 0;
    for (long i = 0; i < n; i++) total += t[i].points;
    long shown = n < cf->top ? n : (long)cf->top;
    if (cf->format[0] == 'j') {
        printf("{\"program\":");
        carrot_json_print_string(stdout, carrot_rules_program(r));
        printf(",\"version\":");
        carrot_json_print_string(stdout, carrot_rules_version(r));
        printf(",\"events\":%ld,\"duplicates\":%ld,\"invalid\":%ld,\"other_program\":%ld,"
               "\"total_points\":%lld,\"participants\":[",
               st->events, st->duplicates, st->invalid, st->other, (long long)total);
        for (long i = 0; i < shown; i++) {
            printf("%s{\"participant_id\":", i ? "," : "");
            carrot_json_print_string(stdout, t[i].participant_id);
            printf(",\"points\":%lld,\"awards\":%ld}", (long long)t[i].points, t[i].awards);
        }
        printf("],\"rules\":{");
        for (size_t i = 0; i < st->nrules; i++) {
            printf("%s", i ? "," : "");
            carrot_json_print_string(stdout, st->rules[i].rule);
            printf(":%lld", (long long)st->rules[i].points);
        }
        printf("}}\n");
        return;
    }
    printf("simulation of program %s under rules version %s: %ld events (%ld duplicates, %ld "
           "invalid, %ld of other programs), writing nothing\n",
           carrot_rules_program(r), carrot_rules_version(r), st->events, st->duplicates,
           st->invalid, st->other);
    printf("%-6s %-24s %10s %7s\n", "rank", "participant", "points", "awards");
    long rank = 1;
    for (long i = 0; i < shown; i++) {
        if (i > 0 && t[i].points != t[i - 1].points) rank = i + 1;
        printf("%-6ld %-24s %10lld %7ld\n", rank, t[i].participant_id, (long long)t[i].points,
               t[i].awards);
    }
    printf("\nby rule:\n");
    for (size_t i = 0; i < st->nrules; i++)
        printf("  %-32s %10lld points in %ld awards\n", st->rules[i].rule,
               (long long)st->rules[i].points, st->rules[i].count);
    printf("total: %lld points, %ld participants\n", (long long)total, n);
}

static int simulate_file(const rules_conf_t *cf, const carrot_rules_t *r, sim_state_t *st) {
    FILE *fp = fopen(cf->input, "r");
    if (!fp) {
        carrot_error("could not open %s", cf->input);
        return -1;
    }
    carrot_activity_json_defaults_t d = {carrot_rules_program(r), "generic"};
    char *line = NULL, why[512];
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, fp) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        json_error_t jerr;
        json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        carrot_activity_t a;
        if (!obj || carrot_activity_from_json(obj, &d, &a, why, sizeof(why)) != 0 ||
            carrot_activity_validate(&a, why, sizeof(why)) != 0) {
            if (st->invalid++ < 5)
                carrot_warn("%s:%ld: %s (the pipeline dead-letters it)", cf->input, lineno,
                            obj ? why : jerr.text);
        } else if (strcmp(a.program_id, carrot_rules_program(r)) != 0) {
            st->other++;
        } else if (sim_feed(st, &a) != 0) {
            rc = -1;
        }
        json_decref(obj);
        if (rc) break;
    }
    free(line);
    fclose(fp);
    return rc;
}

static int simulate_topic(const carrot_conf_t *conf, const rules_conf_t *cf,
                          const carrot_rules_t *r, sim_state_t *st, int64_t from, int64_t to) {
    char errstr[512];
    range_msg_t *msgs;
    long n = range_read(conf, cf->brokers, cf->topic, from, to, &msgs, errstr, sizeof(errstr));
    if (n < 0) {
        carrot_error("%s", errstr);
        return -1;
    }
    carrot_codec_t *codec = carrot_activity_codec_new(errstr, sizeof(errstr));
    int rc = codec ? 0 : -1;
    for (long i = 0; codec && i < n && !rc; i++) {
        avro_value_t *v;
        carrot_activity_t a;
        if (carrot_codec_decode(codec, msgs[i].value, msgs[i].len, &v, errstr, sizeof(errstr)) !=
                CARROT_CODEC_OK ||
            carrot_activity_from_avro(v, &a, errstr, sizeof(errstr)) != 0 ||
            carrot_activity_validate(&a, errstr, sizeof(errstr)) != 0)
            st->invalid++;
        else if (strcmp(a.program_id, carrot_rules_program(r)) != 0)
            st->other++;
        else
            rc = sim_feed(st, &a);
    }
    if (!codec) carrot_error("%s", errstr);
    carrot_codec_destroy(codec);
    range_free(msgs, n);
    return rc;
}

static int simulate(const carrot_conf_t *conf, const rules_conf_t *cf, const carrot_rules_t *r,
                    int64_t from, int64_t to) {
    sim_state_t st = {.sim = carrot_sim_new(r, carrot_time_now_ms() / 1000)};
    carrot_sim_total_t *t = NULL;
    int exit_code = 1;
    if (!st.sim) goto oom;
    if (cf->input ? simulate_file(cf, r, &st) : simulate_topic(conf, cf, r, &st, from, to))
        goto out;
    long n = carrot_sim_totals(st.sim, &t);
    if (n < 0) goto oom;
    sim_report(cf, r, &st, t, n);
    exit_code = 0;
    goto out;
oom:
    carrot_error("out of memory");
out:
    free(t);
    free(st.rules);
    carrot_sim_destroy(st.sim);
    return exit_code;
}

static int parse_time(const char *name, const char *text, int64_t dflt, int64_t *out) {
    if (!text) {
        *out = dflt;
        return 0;
    }
    /* relative to the wall clock: ranges are of Kafka timestamps, which it stamps */
    if (carrot_time_parse_cli(text, carrot_time_wall_ms(), out) == 0) return 0;
    carrot_error("--%s: expected an RFC 3339 time with a zone, or one relative to now (\"-7d\"), "
                 "not \"%s\"",
                 name, text);
    return -1;
}

int main(int argc, char **argv) {
    rules_conf_t cf;
    int npos = 0, exit_code;
    char errstr[512];
    carrot_conf_t *conf = carrot_conf_init_program("carrot-rules", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 2;
    carrot_rules_t *r = NULL;
    int64_t from, to;
    if (npos != 2) {
        carrot_error("expected a command and a rules file (see --help)");
        goto out;
    }
    const char *cmd = argv[1], *path = argv[2];
    if (strcmp(cmd, "check") && strcmp(cmd, "publish") && strcmp(cmd, "simulate") &&
        strcmp(cmd, "backfill")) {
        carrot_error("unknown command \"%s\" (see --help)", cmd);
        goto out;
    }
    if (parse_time("from", cf.from, -2, &from) || parse_time("to", cf.to, INT64_MAX, &to)) goto out;
    if (!(r = carrot_rules_load(path, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        exit_code = 1;
        goto out;
    }
    if (!strcmp(cmd, "check")) {
        exit_code = check(r, path);
    } else if (!strcmp(cmd, "publish")) {
        exit_code = 1;
        if (carrot_rules_publish(conf, cf.brokers, cf.rules_topic, r, errstr, sizeof(errstr)) != 0)
            carrot_error("%s", errstr);
        else {
            printf("published rules version %s of program %s to %s\n", carrot_rules_version(r),
                   carrot_rules_program(r), cf.rules_topic);
            exit_code = 0;
        }
    } else if (!strcmp(cmd, "simulate")) {
        exit_code = simulate(conf, &cf, r, from, to);
    } else {
        if (!cf.id || !cf.from) {
            carrot_error("backfill needs --id and --from");
            goto out;
        }
        /* the id names its awards and its Redis stream: two must never share a prefix */
        if (carrot_rules_id_check(cf.id, errstr, sizeof(errstr)) != 0) {
            carrot_error("--id \"%s\": %s", cf.id, errstr);
            goto out;
        }
        exit_code = backfill_run(conf, &cf, r, from, to);
    }
out:
    carrot_rules_destroy(r);
    carrot_conf_destroy(conf);
    return exit_code;
}
