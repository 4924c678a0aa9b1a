/* test_rules_tools.c: the rules engine on the real services.
 * - Every rule kind (maturity bands, segments, caps, data quality,
 *   timeliness, promotions, goals, reversals) scores a generated feed; the
 *   boards, the awards topic and `carrot-rules simulate` of the same feed
 *   agree participant by participant and rule by rule, and the period and
 *   scope boards add up to the program-to-date board.
 * - The hot switch: an invalid file on SIGHUP changes nothing, a valid one
 *   switches, and a version published to the rules topic switches every
 *   scorer of the group.
 * - Back-fill: only the differences are booked, on the boards and in the
 *   awards topic, once, even when run again; the CRM record carries them. */
#include "carrot/board.h"
#include "ittools.h"
#include "testutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* carrot_board_list's callback: counts the boards listed. */
static int count_board(void *opaque, const char *name, long members) {
    (void)name;
    ck_assert_int_gt(members, 0);
    (*(int *)opaque)++;
    return 0;
}

/* Sum of who's scores over the boards matching pattern (a SCAN glob). */
static long long sum_boards(redisContext *rc, const char *program, const char *pattern,
                            const char *who, int *nboards) {
    char match[256];
    snprintf(match, sizeof(match), "carrot:{%s}:lb:%s", program, pattern);
    long long sum = 0;
    char cursor[32] = "0";
    *nboards = 0;
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, match);
        ck_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *s = redisCommand(rc, "ZSCORE %s %s", r->element[1]->element[i]->str, who);
            if (s && s->type == REDIS_REPLY_STRING) sum += atoll(s->str);
            freeReplyObject(s);
            (*nboards)++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return sum;
}

static char *meta_version(redisContext *rc, const char *program) {
    redisReply *r = redisCommand(rc, "HGET carrot:{%s}:meta version", program);
    char *v = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : strdup("");
    freeReplyObject(r);
    return v;
}

static void wait_version(redisContext *rc, const char *program, const char *version) {
    for (int i = 0; i < 600; i++) {
        char *v = meta_version(rc, program);
        int ok = strcmp(v, version) == 0;
        free(v);
        if (ok) return;
        usleep(100000);
    }
    ck_abort_msg("the scorers of %s never switched to rules version %s", program, version);
}

static size_t collect(char *p, size_t size, size_t n, void *userdata) {
    char **buf = userdata;
    size_t len = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, len + size * n + 1);
    ck_assert_ptr_nonnull(nb);
    memcpy(nb + len, p, size * n);
    nb[len + size * n] = '\0';
    *buf = nb;
    return size * n;
}

/* GET url: the status, and the body in *bodyp (caller frees). */
static long http_get(const char *url, char **bodyp) {
    CURL *c = curl_easy_init();
    long code = 0;
    *bodyp = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, bodyp);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (!*bodyp) *bodyp = strdup("");
    return code;
}

static void ingest(const char *topic, const char *dlq, const char *feed_path) {
    char *argv[] = {CARROT_INGEST, "--input",     (char *)feed_path, "--topic",
                    (char *)topic, "--dlq-topic", (char *)dlq,       NULL};
    ck_assert_int_eq(it_run(argv, NULL), 0);
}

static const char kinds_fmt[] =
    "program: %s\n"
    "version: v1\n"
    "timezone: America/Chicago\n"
    "bands: [{id: new, max_tenure_days: 180}, {id: seasoned, min_tenure_days: 181}]\n"
    "kpis:\n"
    "  - {id: training.new, when: {activity: [training_completed, certification_passed], band: new}, points: 40}\n"
    "  - {id: training, when: {activity: [training_completed, certification_passed]}, points: 15}\n"
    "  - {id: deal_won.seasoned, when: {activity: deal_won, band: seasoned}, points: 80}\n"
    "  - {id: quote.dealer, when: {activity: quote, segment: dealer}, points: 20}\n"
    "  - {id: call, when: {activity: call}, points: 5, cap: {period: day, points: 15}}\n"
    "  - id: other\n"
    "    when: {activity: [meeting, note, email, task, lead, opportunity_stage, quote, deal_won]}\n"
    "    points: 3\n"
    "quality:\n"
    "  - id: calls\n"
    "    when: {activity: call}\n"
    "    require: [account_id]\n"
    "    picklists: {disposition: [connected, left_voicemail, no_answer, wrong_number]}\n"
    "    min_text_length: 20\n"
    "    complete_bonus: 2\n"
    "    incomplete_keep_percent: 50\n"
    "timeliness:\n"
    "  - {id: prompt, when: {activity: [call, meeting]}, full_hours: 12, zero_hours: 72,\n"
    "     floor_percent: 20, late_hours: 96, late_penalty: -2}\n"
    "promotions:\n"
    "  - {id: quotes, from: \"%sT00:00:00Z\", to: \"%sT00:00:00Z\",\n"
    "     when: {activity: quote}, multiplier: 1.5, bonus: 1}\n"
    "goals:\n"
    "  - {id: weekly-calls, when: {activity: call}, period: week, target: 10, bonus: 30}\n";

/* An independent recount of kinds_fmt's rules over loadgen's feed lines, with
 * its own arithmetic (none of the rules library's): per participant and per
 * rule id, what the awards topic must hold. Each participant's lines are one
 * partition's, in feed order (ingest keys by participant), so counting them in
 * feed order is the scorer's order. The promotion runs [from, to) (UTC dates);
 * periods are America/Chicago's, from the C library's time zone data. */
typedef struct {
    json_t *who, *rules, *earned, *reversed, *counters;
} recount_t;

static void add_points(json_t *map, const char *key, long long v) {
    json_t *o = json_object_get(map, key);
    json_object_set_new(map, key, json_integer((o ? json_integer_value(o) : 0) + v));
}

static long long ms_of(const char *t) { /* "YYYY-MM-DDTHH:MM:SS.mmmZ", as loadgen writes */
    struct tm tm = {0};
    int ms = 0, n = 0;
    ck_assert_msg(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) == 7 &&
                      t[n] == '\0',
                  "time \"%s\"", t);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

/* The local day and ISO week of ms; TZ=America/Chicago is set by the caller. */
static void chicago(long long ms, char day[16], char week[16]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    ck_assert_ptr_nonnull(localtime_r(&s, &tm));
    ck_assert_uint_gt(strftime(day, 16, "%Y-%m-%d", &tm), 0);
    ck_assert_uint_gt(strftime(week, 16, "%G-W%V", &tm), 0);
}

/* kinds_fmt, written out: */
static void recount_line(recount_t *rc, json_t *o, long long promo_from, long long promo_to) {
    const char *change = json_string_value(json_object_get(o, "change_type"));
    const char *who = json_string_value(json_object_get(o, "participant_id"));
    const char *type = json_string_value(json_object_get(o, "activity_type"));
    const char *rec = json_string_value(json_object_get(o, "source_record_id"));
    ck_assert(change && who && type && rec);
    if (!strcmp(change, "DELETE")) { /* takes back what the record earned, once */
        json_t *e = json_object_get(rc->earned, rec);
        long long n = e ? json_integer_value(e) : 0;
        if (n != 0 && !json_object_get(rc->reversed, rec)) {
            add_points(rc->who, who, -n);
            add_points(rc->rules, "reversal", -n);
        }
        json_object_set_new(rc->reversed, rec, json_true());
        return;
    }
    ck_assert_str_eq(change, "CREATE");
    long long occurred = ms_of(json_string_value(json_object_get(o, "occurred_at")));
    long long lag = ms_of(json_string_value(json_object_get(o, "recorded_at"))) - occurred;
    long long tenure = json_integer_value(json_object_get(o, "tenure_days"));
    const char *segment = json_string_value(json_object_get(o, "segment"));
    int is_new = tenure <= 180, call = !strcmp(type, "call"), meeting = !strcmp(type, "meeting");
    int training = !strcmp(type, "training_completed") || !strcmp(type, "certification_passed");
    struct {
        const char *rule;
        long long points;
    } lines[8];
    int nl = 0;
    const char *kpi = training && is_new                                     ? "training.new"
                      : training                                             ? "training"
                      : !strcmp(type, "deal_won") && !is_new                 ? "deal_won.seasoned"
                      : !strcmp(type, "quote") && !strcmp(segment, "dealer") ? "quote.dealer"
                      : call                                                 ? "call"
                                                                             : "other";
    long long base = !strcmp(kpi, "training.new")        ? 40
                     : !strcmp(kpi, "training")          ? 15
                     : !strcmp(kpi, "deal_won.seasoned") ? 80
                     : !strcmp(kpi, "quote.dealer")      ? 20
                     : call                              ? 5
                                                         : 3;
    if (!strcmp(kpi, "other") && !strcmp(type, "deal_lost")) return; /* no rule earns it */
    lines[nl].rule = kpi, lines[nl++].points = base;
    long long earned = base;
    if (call || meeting) { /* prompt: 100% to 12 h, down to 20% at 72 h, -2 past 96 h */
        const long long h = 3600000;
        long long keep = lag <= 12 * h  ? 100
                         : lag > 72 * h ? 20
                                        : 100 - 80 * (lag - 12 * h) / (60 * h);
        long long v = base * keep / 100 - base + (lag > 96 * h ? -2 : 0);
        if (v) lines[nl].rule = "timeliness.prompt", lines[nl++].points = v;
        earned += v;
    }
    if (call) { /* an account, a disposition on the list, 20 characters of notes */
        const char *disp = json_string_value(json_object_get(o, "disposition"));
        const char *acct = json_string_value(json_object_get(o, "account_id"));
        static const char *const ok[] = {"connected", "left_voicemail", "no_answer",
                                         "wrong_number"};
        int listed = !disp || !*disp;
        for (int i = 0; i < 4 && !listed; i++) listed = !strcmp(disp, ok[i]);
        int complete = acct && *acct && listed &&
                       json_integer_value(json_object_get(o, "text_length")) >= 20;
        long long v = complete ? 2 : base * 50 / 100 - base;
        lines[nl].rule = "quality.calls", lines[nl++].points = v;
        if (v < 0) earned += v;
    }
    if (!strcmp(type, "quote") && occurred >= promo_from && occurred < promo_to)
        lines[nl].rule = "promo.quotes",
        lines[nl++].points = (earned > 0 ? earned * 50 / 100 : 0) + 1;
    char day[16], week[16], key[128];
    chicago(occurred, day, week);
    long long sum = 0;
    for (int i = 0; i < nl; i++) sum += lines[i].points;
    if (call && sum > 0) { /* at most 15 points of calls a day, all lines included */
        snprintf(key, sizeof(key), "cap %s %s", who, day);
        json_t *u = json_object_get(rc->counters, key);
        long long used = u ? json_integer_value(u) : 0, left = 15 - used > 0 ? 15 - used : 0;
        long long allowed = sum < left ? sum : left;
        json_object_set_new(rc->counters, key, json_integer(used + allowed));
        if (allowed < sum) lines[nl].rule = "cap.call", lines[nl++].points = allowed - sum;
    }
    if (call) { /* 30 points at the tenth call of a week */
        snprintf(key, sizeof(key), "goal %s %s", who, week);
        json_t *c = json_object_get(rc->counters, key);
        long long n = (c ? json_integer_value(c) : 0) + 1;
        json_object_set_new(rc->counters, key, json_integer(n));
        if (n == 10) lines[nl].rule = "goal.weekly-calls", lines[nl++].points = 30;
    }
    long long total = 0;
    for (int i = 0; i < nl; i++) {
        if (lines[i].points == 0) continue;
        add_points(rc->rules, lines[i].rule, lines[i].points);
        total += lines[i].points;
    }
    add_points(rc->who, who, total);
    json_object_set_new(rc->earned, rec, json_integer(total));
}

static recount_t recount_kinds(const char *feed, const char *from_date, const char *to_date) {
    char t[64];
    snprintf(t, sizeof(t), "%.10sT00:00:00.000Z", from_date);
    long long from = ms_of(t);
    snprintf(t, sizeof(t), "%.10sT00:00:00.000Z", to_date);
    long long to = ms_of(t);
    recount_t rc = {json_object(), json_object(), json_object(), json_object(), json_object()};
    ck_assert_int_eq(setenv("TZ", "America/Chicago", 1), 0);
    tzset();
    for (const char *p = feed; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_error_t jerr;
        json_t *o = json_loadb(p, len, 0, &jerr);
        ck_assert_msg(o != NULL, "feed line: %s", jerr.text);
        recount_line(&rc, o, from, to);
        json_decref(o);
        p += len + (nl != NULL);
    }
    return rc;
}

static void recount_free(recount_t *rc) {
    json_decref(rc->who);
    json_decref(rc->rules);
    json_decref(rc->earned);
    json_decref(rc->reversed);
    json_decref(rc->counters);
}

START_TEST(every_rule_kind_agrees_with_simulation) {
    char program[48], act[96], dlq[96], awards[96], rtopic[96], group[96], buf[4096];
    it_unique(program, sizeof(program), "rk");
    snprintf(act, sizeof(act), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    snprintf(awards, sizeof(awards), "%s.awards", program);
    snprintf(rtopic, sizeof(rtopic), "%s.rules", program);
    snprintf(group, sizeof(group), "%s.scorer", program);
    it_create_topic(act, 4, NULL);
    it_create_topic(dlq, 1, NULL);
    it_create_topic(awards, 2, NULL);
    /* the feed covers 14 days from 20 days ago, so no board of it has expired (days are
     * kept 35 days); the promotion runs from its fourth day to its eleventh */
    char start[40], promo_from[40], promo_to[40];
    it_time_ago(start, sizeof(start), 20 * 86400000LL);
    it_time_ago(promo_from, sizeof(promo_from), 17 * 86400000LL);
    it_time_ago(promo_to, sizeof(promo_to), 10 * 86400000LL);
    promo_from[10] = promo_to[10] = '\0'; /* their dates: the window runs midnight to midnight */
    snprintf(buf, sizeof(buf), kinds_fmt, program, promo_from, promo_to);
    char *rules = it_write_temp(buf);
    char *feed_text;
    char *gen[] = {CARROT_LOADGEN,
                   "--program",
                   program,
                   "--count",
                   "1200",
                   "--participants",
                   "8",
                   "--seed",
                   "7",
                   "--bad-picklist-every",
                   "7",
                   "--start",
                   start,
                   NULL};
    ck_assert_int_eq(it_run(gen, &feed_text), 0);
    char *feed = it_write_temp(feed_text);
    recount_t recount = recount_kinds(feed_text, promo_from, promo_to);
    free(feed_text);
    ingest(act, dlq, feed);
    char *out;
    char *score[] = {CARROT_SCORER,     "--topic", act,       "--dlq-topic",   dlq,
                     "--awards-topic",  awards,    "--group", group,           "--instance",
                     program,           "--rules", rules,     "--rules-topic", rtopic,
                     "--until-drained", NULL};
    ck_assert_int_eq(it_run(score, &out), 0);
    free(out);
    char *sim[] = {CARROT_RULES, "simulate", rules, "--input", feed, "--format", "json", NULL};
    ck_assert_int_eq(it_run(sim, &out), 0);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s: %s", jerr.text, out);
    free(out);

    /* the boards agree with the simulation, participant by participant */
    redisContext *rc = it_redis();
    json_t *people = json_object_get(doc, "participants"), *p;
    size_t i;
    ck_assert_int_eq(json_array_size(people), 8);
    /* the week, month and quarter boards are sums of the day boards, made when read:
     * list the program's boards through the board library, which makes each */
    carrot_board_t *lib = carrot_board_new("127.0.0.1", it_redis_port(), 10000);
    ck_assert_ptr_nonnull(lib);
    char lerr[512];
    int listed = 0;
    ck_assert_msg(carrot_board_list(lib, program, 100000, count_board, &listed, lerr,
                                    sizeof(lerr)) == CARROT_BOARD_OK,
                  "%s", lerr);
    carrot_board_destroy(lib);
    ck_assert_int_gt(listed, 5);
    long long total = 0;
    json_array_foreach(people, i, p) {
        const char *who = json_string_value(json_object_get(p, "participant_id"));
        long long pts = json_integer_value(json_object_get(p, "points"));
        ck_assert_int_eq(it_zscore(rc, program, "ptd:all", who), pts);
        total += pts;
        /* every period's boards add up to program to date; so do the segments */
        static const char *const patterns[] = {"d:\?\?\?\?-\?\?-\?\?:all", "w:\?\?\?\?-W\?\?:all",
                                               "m:\?\?\?\?-\?\?:all", "q:\?\?\?\?-Q?:all",
                                               "ptd:seg:*"};
        for (size_t k = 0; k < 5; k++) {
            int nb;
            ck_assert_int_eq(sum_boards(rc, program, patterns[k], who, &nb), pts);
            ck_assert_int_gt(nb, 0);
        }
    }
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "total_points")), total);

    /* the awards topic agrees, rule by rule, and holds each award once */
    it_award_t *aw;
    size_t naw = it_read_awards(awards, &aw);
    ck_assert_int_gt(naw, 1000);
    json_t *byrule = json_object_get(doc, "rules");
    const char *rule;
    json_t *v;
    json_object_foreach(byrule, rule, v) {
        long long sum = 0;
        for (size_t k = 0; k < naw; k++)
            if (strcmp(aw[k].rule_id, rule) == 0) sum += aw[k].points;
        ck_assert_msg(sum == json_integer_value(v), "rule %s: awards %lld, simulation %lld", rule,
                      sum, (long long)json_integer_value(v));
    }
    static const char *const kinds[] = {"training.new",
                                        "training",
                                        "deal_won.seasoned",
                                        "quote.dealer",
                                        "call",
                                        "other",
                                        "cap.call",
                                        "quality.calls",
                                        "timeliness.prompt",
                                        "promo.quotes",
                                        "goal.weekly-calls",
                                        "reversal",
                                        NULL};
    for (int k = 0; kinds[k]; k++) {
        long long n = 0, neg = 0;
        for (size_t j = 0; j < naw; j++)
            if (strcmp(aw[j].rule_id, kinds[k]) == 0) {
                n++;
                neg += aw[j].points < 0;
            }
        ck_assert_msg(n > 0, "no award under rule %s", kinds[k]);
        if (!strcmp(kinds[k], "cap.call")) ck_assert_int_eq(neg, n); /* a cap only takes */
    }
    /* data quality both ways: complete calls earn the bonus, poor ones lose half */
    long long bonus = 0, cut = 0;
    for (size_t k = 0; k < naw; k++) {
        if (strcmp(aw[k].rule_id, "quality.calls") != 0) continue;
        ck_assert_str_eq(aw[k].rules_version, "v1");
        if (aw[k].points == 2) bonus++;
        else if (aw[k].points < 0)
            cut++;
    }
    ck_assert_int_gt(bonus, 0);
    ck_assert_int_gt(cut, 0);
    /* and so does the independent recount, participant by participant and rule by rule */
    json_t *want;
    const char *key;
    long long recounted_rules = 0;
    json_object_foreach(recount.rules, key, want) {
        long long sum = 0;
        for (size_t k = 0; k < naw; k++)
            if (!strcmp(aw[k].rule_id, key)) sum += aw[k].points;
        ck_assert_msg(sum == json_integer_value(want), "rule %s: awards %lld, recount %lld", key,
                      sum, (long long)json_integer_value(want));
        recounted_rules++;
    }
    json_object_foreach(recount.who, key, want) {
        long long sum = 0;
        for (size_t k = 0; k < naw; k++)
            if (!strcmp(aw[k].participant_id, key)) sum += aw[k].points;
        ck_assert_msg(sum == json_integer_value(want), "%s: awards %lld, recount %lld", key, sum,
                      (long long)json_integer_value(want));
        ck_assert_int_eq(it_zscore(rc, program, "ptd:all", key), json_integer_value(want));
    }
    ck_assert_int_eq(json_object_size(recount.who), 8);
    for (size_t k = 0; k < naw; k++) /* no award under a rule the recount never gave */
        ck_assert_msg(json_object_get(recount.rules, aw[k].rule_id), "unexpected rule %s",
                      aw[k].rule_id);
    ck_assert_int_ge(recounted_rules, 12);
    recount_free(&recount);
    for (size_t a = 1; a < naw; a++) /* award ids unique (quadratic, fine at this size) */
        for (size_t b = 0; b < a; b++) ck_assert_str_ne(aw[a].award_id, aw[b].award_id);
    it_awards_free(aw, naw);
    json_decref(doc);
    redisFree(rc);
    unlink(rules);
    unlink(feed);
    free(rules);
    free(feed);
}
END_TEST

/* Feeds below: %1$s is the program, %2$s the day of every activity (UTC, as
 * the rules name no time zone): yesterday, so the test runs on any date. */
#define CALL(id, who, rec)                                                                    \
    "{\"event_id\":\"" id "\",\"program_id\":\"%1$s\",\"source_record_id\":\"" rec "\","      \
    "\"activity_type\":\"call\",\"occurred_at\":\"%2$sT15:00:00Z\",\"participant_id\":\"" who \
    "\"}\n"

/* Yesterday's date, "YYYY-MM-DD" (UTC), by Carrot's clock. */
static void yesterday(char day[40]) {
    it_time_ago(day, 40, 86400000);
    day[10] = '\0';
}

__attribute__((format(printf, 2, 3))) static void write_file(const char *path, const char *fmt,
                                                             ...) {
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
}

static void feed_round(const char *program, const char *act, const char *dlq, const char *round) {
    char buf[4096], day[40];
    size_t len = 0;
    yesterday(day);
    for (int i = 0; i < 8; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                "{\"event_id\":\"%s-%d\",\"program_id\":\"%s\",\"activity_type\":"
                                "\"call\",\"occurred_at\":\"%sT15:00:00Z\","
                                "\"participant_id\":\"p%d\"}\n",
                                round, i, program, day, i);
    char *path = it_write_temp(buf);
    ingest(act, dlq, path);
    unlink(path);
    free(path);
}

/* The versions and points of the awards of one round (event ids "<round>-i"). */
static void expect_round(const char *awards, const char *round, const char *version, int points) {
    it_award_t *aw;
    int found = 0;
    for (int tries = 0; tries < 600 && found < 8; tries++) {
        size_t n = it_read_awards(awards, &aw);
        found = 0;
        for (size_t k = 0; k < n; k++)
            if (strncmp(aw[k].event_id, round, strlen(round)) == 0 &&
                aw[k].event_id[strlen(round)] == '-') {
                ck_assert_msg(!strcmp(aw[k].rules_version, version) && aw[k].points == points,
                              "%s: version %s, %lld points; want %s, %d", aw[k].event_id,
                              aw[k].rules_version, (long long)aw[k].points, version, points);
                found++;
            }
        it_awards_free(aw, n);
        if (found < 8) usleep(100000);
    }
    ck_assert_int_eq(found, 8);
}

START_TEST(hot_switch) {
    char program[48], act[96], dlq[96], awards[96], rtopic[96], group[96];
    it_unique(program, sizeof(program), "hs");
    snprintf(act, sizeof(act), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    snprintf(awards, sizeof(awards), "%s.awards", program);
    snprintf(rtopic, sizeof(rtopic), "%s.rules", program);
    snprintf(group, sizeof(group), "%s.scorer", program);
    it_create_topic(act, 2, NULL);
    it_create_topic(dlq, 1, NULL);
    it_create_topic(awards, 1, NULL);
    char *rules = it_write_temp("");
    write_file(rules, "program: %s\nversion: v1\npoints: {call: 5}\n", program);
    pid_t pids[2];
    char inst[2][64], mport[2][16];
    int port0 = it_free_port();
    for (int i = 0; i < 2; i++) {
        snprintf(inst[i], sizeof(inst[i]), "%s-%d", program, i);
        snprintf(mport[i], sizeof(mport[i]), "%d", i == 0 ? port0 : 0);
        char *argv[] = {CARROT_SCORER, "--topic",        act,      "--dlq-topic",
                        dlq,           "--awards-topic", awards,   "--group",
                        group,         "--instance",     inst[i],  "--rules",
                        rules,         "--rules-topic",  rtopic,   "--batch-ms",
                        "20",          "--metrics-port", mport[i], NULL};
        pids[i] = it_spawn(argv);
    }
    redisContext *rc = it_redis();
    wait_version(rc, program, "v1");
    feed_round(program, act, dlq, "r1");
    expect_round(awards, "r1", "v1", 5);
    /* an invalid file: reported, and the version in force stays */
    write_file(rules, "program: %s\nversion: v2\npoints: {call: seven}\n", program);
    kill(pids[0], SIGHUP);
    sleep(2);
    feed_round(program, act, dlq, "r2");
    expect_round(awards, "r2", "v1", 5);
    char *v = meta_version(rc, program);
    ck_assert_str_eq(v, "v1");
    free(v);
    /* a valid file on SIGHUP: published to the rules topic, so both switch */
    write_file(rules, "program: %s\nversion: v2\npoints: {call: 7}\n", program);
    kill(pids[0], SIGHUP);
    wait_version(rc, program, "v2");
    sleep(2); /* the other scorer reads the topic between its batches */
    feed_round(program, act, dlq, "r3");
    expect_round(awards, "r3", "v2", 7);
    /* carrot-rules publish: every scorer of the group follows */
    char *v3 = it_write_temp("");
    write_file(v3, "program: %s\nversion: v3\npoints: {call: 9}\n", program);
    char *pub[] = {CARROT_RULES, "publish", v3, "--rules-topic", rtopic, NULL};
    ck_assert_int_eq(it_run(pub, NULL), 0);
    wait_version(rc, program, "v3");
    sleep(2);
    feed_round(program, act, dlq, "r4");
    expect_round(awards, "r4", "v3", 9);
    /* the first scorer's Prometheus metrics name the version and count the switches */
    char url[64], *metrics = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port0);
    ck_assert_int_eq(http_get(url, &metrics), 200);
    char want[256];
    snprintf(want, sizeof(want), "carrot_scorer_rules_info{program=\"%s\",version=\"v3\"} 1\n",
             program);
    ck_assert_msg(strstr(metrics, want) &&
                      strstr(metrics, "carrot_scorer_rules_switches_total 2\n") &&
                      strstr(metrics, "# TYPE carrot_scorer_produce_to_commit_seconds histogram") &&
                      strstr(metrics, "carrot_scorer_batches_total "),
                  "%s", metrics);
    /* Redis is up, and the last commit time is a real time (it starts at the start, not 0) */
    ck_assert_msg(strstr(metrics, "\ncarrot_scorer_redis_up 1\n"), "%s", metrics);
    const char *lc = strstr(metrics, "\ncarrot_scorer_last_commit_timestamp_seconds ");
    ck_assert_ptr_nonnull(lc);
    ck_assert_double_gt(strtod(lc + 45, NULL), 1.7e9);
    free(metrics);
    /* a scorer started now with the old file follows the topic, not its file */
    for (int i = 0; i < 2; i++) {
        kill(pids[i], SIGTERM);
        int status;
        waitpid(pids[i], &status, 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    char *out;
    char *argv[] = {CARROT_SCORER,     "--topic", act,       "--dlq-topic",   dlq,
                    "--awards-topic",  awards,    "--group", group,           "--instance",
                    inst[0],           "--rules", rules,     "--rules-topic", rtopic,
                    "--until-drained", NULL};
    ck_assert_int_eq(it_run(argv, &out), 0);
    ck_assert_msg(strstr(out, "\"rules_version\":\"v3\""), "%s", out);
    free(out);
    redisFree(rc);
    unlink(rules);
    unlink(v3);
    free(rules);
    free(v3);
}
END_TEST

static const char bf_feed[] = CALL("e1", "p1", "r1") CALL(
    "e2", "p1",
    "r2") "{\"event_id\":\"e3\",\"program_id\":\"%1$s\",\"source_record_id\":\"r3\",\"activity_type\":"
          "\"meeting\",\"occurred_at\":\"%2$sT16:00:00Z\",\"participant_id\":\"p1\"}\n" CALL(
              "e4", "p2",
              "r4") "{\"event_id\":\"e5\",\"program_id\":\"%1$s\",\"source_record_id\":\"r5\",\"activity_type\":"
                    "\"email\",\"occurred_at\":\"%2$sT16:00:00Z\",\"participant_id\":\"p2\"}\n"
                    "{\"event_id\":\"e6\",\"program_id\":\"%1$s\",\"source_record_id\":\"r4\",\"change_type\":"
                    "\"DELETE\",\"activity_type\":\"call\",\"occurred_at\":\"%2$sT17:00:00Z\","
                    "\"participant_id\":\"p2\"}\n";

static long long award_sum(const char *awards, const char *who, size_t *np) {
    it_award_t *aw;
    size_t n = it_read_awards(awards, &aw);
    long long sum = 0;
    for (size_t k = 0; k < n; k++)
        if (!strcmp(aw[k].participant_id, who)) sum += aw[k].points;
    it_awards_free(aw, n);
    if (np) *np = n;
    return sum;
}

START_TEST(backfill_books_only_differences) {
    char program[48], act[96], dlq[96], awards[96], rtopic[96], group[96], port[16];
    it_unique(program, sizeof(program), "bf");
    snprintf(act, sizeof(act), "%s.activities", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    snprintf(awards, sizeof(awards), "%s.awards", program);
    snprintf(rtopic, sizeof(rtopic), "%s.rules", program);
    snprintf(group, sizeof(group), "%s.scorer", program);
    snprintf(port, sizeof(port), "%d", it_redis_port());
    it_create_topic(act, 2, NULL);
    it_create_topic(dlq, 1, NULL);
    it_create_topic(awards, 1, NULL);
    char *v1 = it_write_temp(""), *v2 = it_write_temp(""), *feed = it_write_temp("");
    write_file(v1, "program: %s\nversion: v1\npoints: {call: 5, meeting: 10}\n", program);
    write_file(v2, "program: %s\nversion: v2\npoints: {call: 8, meeting: 10, email: 2}\n", program);
    char day[40], dayboard[64];
    yesterday(day);
    snprintf(dayboard, sizeof(dayboard), "d:%s:all", day);
    write_file(feed, bf_feed, program, day);
    ingest(act, dlq, feed);
    char *score[] = {CARROT_SCORER,     "--topic", act,       "--dlq-topic",   dlq,
                     "--awards-topic",  awards,    "--group", group,           "--instance",
                     program,           "--rules", v1,        "--rules-topic", rtopic,
                     "--until-drained", NULL};
    ck_assert_int_eq(it_run(score, NULL), 0);
    redisContext *rc = it_redis();
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p1"), 20);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p2"), 0);
    size_t before;
    award_sum(awards, "p1", &before);
    /* a back-fill id names its awards and its Redis stream: one outside the id alphabet,
     * or too long to keep whole, is refused before anything is read or written */
    static const char long_id[] = "a-back-fill-id-of-forty-nine-characters-xxxxxxxxx";
    ck_assert_uint_eq(strlen(long_id), 49);
    const char *bad_ids[] = {"bf 1", "bf/1", "", long_id, NULL};
    for (int k = 0; bad_ids[k]; k++) {
        char *bad[] = {CARROT_RULES,
                       "backfill",
                       v2,
                       "--id",
                       (char *)bad_ids[k],
                       "--topic",
                       act,
                       "--awards-topic",
                       awards,
                       "--from",
                       "2000-01-01T00:00:00Z",
                       "--redis-port",
                       port,
                       NULL};
        ck_assert_msg(it_run(bad, NULL) == 2, "backfill --id \"%s\" was not refused", bad_ids[k]);
    }
    /* a dry run reports and writes nothing */
    char *out;
    char *bf[] = {CARROT_RULES,
                  "backfill",
                  v2,
                  "--id",
                  "bf1",
                  "--topic",
                  act,
                  "--awards-topic",
                  awards,
                  "--from",
                  "2000-01-01T00:00:00Z",
                  "--redis-port",
                  port,
                  NULL,
                  NULL};
    char *dry[sizeof(bf) / sizeof(bf[0])]; /* the same back-fill, --dry-run */
    memcpy(dry, bf, sizeof(bf));
    dry[sizeof(bf) / sizeof(bf[0]) - 2] = "--dry-run";
    ck_assert_int_eq(it_run(dry, &out), 0);
    ck_assert_msg(strstr(out, "e1 p1 base.call +3") && strstr(out, "e5 p2 base.email +2") &&
                      strstr(out, "3 with differences") && !strstr(out, "base.meeting") &&
                      !strstr(out, "e4 "),
                  "%s", out);
    free(out);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p1"), 20);
    /* the back-fill: +3 per call, +2 for the email; the deleted call nets to zero under
     * any rules and is left as it is */
    ck_assert_int_eq(it_run(bf, &out), 0);
    ck_assert_msg(strstr(out, "3 adjustment awards, +8 points"), "%s", out);
    free(out);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p1"), 26);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p2"), 2);
    ck_assert_int_eq(it_zscore(rc, program, dayboard, "p1"), 26);
    size_t after;
    ck_assert_int_eq(award_sum(awards, "p1", &after), 26);
    ck_assert_int_eq(award_sum(awards, "p2", NULL), 2);
    ck_assert_int_eq(after, before + 3);
    /* it agrees with a simulation of the feed under the new rules */
    char *sim[] = {CARROT_RULES, "simulate", v2, "--input", feed, "--format", "json", NULL};
    ck_assert_int_eq(it_run(sim, &out), 0);
    ck_assert_msg(strstr(out, "{\"participant_id\":\"p1\",\"points\":26,") &&
                      strstr(out, "{\"participant_id\":\"p2\",\"points\":2,"),
                  "%s", out);
    free(out);
    /* a simulation of the topic itself (every partition, from the start) agrees */
    char *simt[] = {CARROT_RULES,           "simulate", v2,     "--topic", act, "--from",
                    "2000-01-01T00:00:00Z", "--format", "json", NULL};
    ck_assert_int_eq(it_run(simt, &out), 0);
    ck_assert_msg(strstr(out, "\"events\":6,") &&
                      strstr(out, "{\"participant_id\":\"p1\",\"points\":26,") &&
                      strstr(out, "{\"participant_id\":\"p2\",\"points\":2,"),
                  "%s", out);
    free(out);
    /* run again: nothing left to adjust, nothing booked twice */
    ck_assert_int_eq(it_run(bf, &out), 0);
    ck_assert_msg(strstr(out, "0 with differences"), "%s", out);
    free(out);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p1"), 26);
    ck_assert_int_eq(award_sum(awards, "p1", &after), 26);
    ck_assert_int_eq(after, before + 3);
    /* an adjusted record carries its adjustment: a DELETE of r1 takes back 5 + 3; an
     * UNDELETE of r4 restores what it earned (5) */
    char *und = it_write_temp("");
    write_file(und,
               "{\"event_id\":\"e7\",\"program_id\":\"%1$s\",\"source_record_id\":\"r4\","
               "\"change_type\":\"UNDELETE\",\"activity_type\":\"call\",\"occurred_at\":"
               "\"%2$sT18:00:00Z\",\"participant_id\":\"p2\"}\n"
               "{\"event_id\":\"e8\",\"program_id\":\"%1$s\",\"source_record_id\":\"r1\","
               "\"change_type\":\"DELETE\",\"activity_type\":\"call\",\"occurred_at\":"
               "\"%2$sT18:00:00Z\",\"participant_id\":\"p1\"}\n",
               program, day);
    ingest(act, dlq, und);
    ck_assert_int_eq(it_run(score, NULL), 0);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p2"), 7);
    ck_assert_int_eq(award_sum(awards, "p2", NULL), 7);
    ck_assert_int_eq(it_zscore(rc, program, "ptd:all", "p1"), 18);
    ck_assert_int_eq(award_sum(awards, "p1", NULL), 18);
    redisFree(rc);
    char *files[] = {v1, v2, feed, und};
    for (int i = 0; i < 4; i++) {
        unlink(files[i]);
        free(files[i]);
    }
}
END_TEST

int main(void) {
    const TTest *tests[] = {every_rule_kind_agrees_with_simulation, hot_switch,
                            backfill_books_only_differences, NULL};
    return carrot_test_run(carrot_test_suite("rules_tools", tests));
}
