/* test_notify.c: carrot-notify without services: the configuration and its
 * refusals (file:line), addresses, templates, the webhook signature and the
 * bodies each kind of channel is sent (message.c, through notify_int.h). */
#include "notify_int.h"
#include "testutil.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_ENV "CARROT_TEST_NOTIFY_SECRET"
#define SECRET "whsec_5f3a"

/* Check forks each test (CK_FORK=no does not): each sets what it needs. */
static void env(void) {
    ck_assert_int_eq(setenv(SECRET_ENV, SECRET, 1), 0);
    ck_assert_int_eq(unsetenv("CARROT_TEST_NOTIFY_UNSET"), 0);
}

/* Every channel type, every trigger, quiet hours, retry and programs. */
static const char FULL[] =
    "version: \"2026-11-rc1\"\n"
    "time_zone: Europe/Berlin\n"
    "programs: [dealers, \"field-sales\"]\n"
    "quiet_hours: {from: \"21:30\", to: \"07:15\"}\n"
    "retry: {attempts: 7, base_ms: 250, max_ms: 60000, timeout_ms: 5000}\n"
    "channels:\n"
    "  team_slack: {type: slack, url: \"https://hooks.slack.example/T0/B0\",\n"
    "               per_minute: 60}\n"
    "  team_teams: {type: teams, url: \"https://teams.example/webhookb2/abc\"}\n"
    "  crm_hook: {type: webhook, url: \"http://127.0.0.1:8080/carrot\",\n"
    "             secret_env: " SECRET_ENV "}\n"
    "  mail: {type: email, url: \"smtps://smtp.example.com:465\",\n"
    "         from: \"carrot@example.com\"}\n"
    "triggers:\n"
    "  goal:\n"
    "    channels: [team_slack, crm_hook, mail]\n"
    "    text: \"{{name}} reached {{goal}}: +{{points}} ({{rule}}, {{rules_version}})\"\n"
    "    subject: \"Goal reached: {{ goal }}\"\n"
    "  number_one: {channels: [team_teams], text: \"{{name}} leads {{board}}\"}\n"
    "  top_n: {board: \"pts:month\", n: 5, channels: [crm_hook],\n"
    "          text: \"{{name}} entered the top {{n}}: rank {{rank}}\"}\n"
    "  overtaken: {n: 10, channels: [crm_hook, mail],\n"
    "              text: \"{{by}} passed {{name}}: {{rank}}, was {{previous_rank}}\"}\n"
    "  commitment_met: {channels: [crm_hook],\n"
    "                   text: \"{{name}} kept {{commitment}} in {{period}}\"}\n"
    "  commitment_missed:\n"
    "    channels: [mail]\n"
    "    to: [participant, supervisor]\n"
    "    text: \"{{name}} missed {{commitment}} ({{figure}}/{{target}}); {{supervisor}}\"\n"
    "  streak: {channels: [team_slack], text: \"{{name}}: {{streak}} in a row\"}\n"
    "  redemption_fulfilled: {channels: [mail], text: \"{{item}} is on its way\"}\n"
    "  redemption_rejected: {channels: [mail], text: \"{{item}} refused: {{reason}}\"}\n"
    "  draw_won: {channels: [crm_hook, team_teams], text: \"{{name}} won {{prize}}\"}\n"
    "  points_expiring: {days: 7, channels: [mail],\n"
    "                    text: \"{{points}} points expire on {{date}}\"}\n"
    "  weekly_summary: {channels: [mail], text: \"{{week}}: rank {{rank}} of {{of}}\"}\n"
    "  team_summary: {channels: [mail], to: [supervisor],\n"
    "                 text: \"{{week}}: {{people}} people, {{top}} led\"}\n"
    "  promotion_started: {channels: [team_slack, mail],\n"
    "                      text: \"{{promotion}} until {{to}} for {{segments}}: x{{multiplier}}\"}\n"
    "  promotion_ended: {channels: [team_slack], text: \"{{promotion}} is over ({{bonus}})\"}\n";

/* text parsed as file name, which must succeed. */
static carrot_notify_config_t *parsed(const char *text, const char *name) {
    char errstr[512] = "";
    carrot_notify_config_t *cfg = carrot_notify_config_parse(text, strlen(text), name, errstr,
                                                             sizeof(errstr));
    ck_assert_msg(cfg != NULL, "%s", errstr);
    return cfg;
}

START_TEST(full_config_parses) {
    env();
    char errstr[512] = "";
    carrot_notify_config_t *cfg = carrot_notify_config_parse(FULL, strlen(FULL), "full.yaml",
                                                             errstr, sizeof(errstr));
    ck_assert_msg(cfg != NULL, "%s", errstr);
    ck_assert_str_eq(carrot_notify_config_version(cfg), "2026-11-rc1");
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++)
        ck_assert_msg(carrot_notify_trigger_on(cfg, (carrot_trigger_t)t), "%s is off",
                      carrot_trigger_name((carrot_trigger_t)t));
    ck_assert_int_eq(carrot_notify_trigger_on(cfg, CARROT_TRIGGER_COUNT), 0);
    ck_assert_int_eq(carrot_notify_channel_count(cfg), 4);
    const char *names[] = {"team_slack", "team_teams", "crm_hook", "mail"};
    for (int i = 0; i < 4; i++) ck_assert_str_eq(carrot_notify_channel_name(cfg, i), names[i]);
    ck_assert_ptr_null(carrot_notify_channel_name(cfg, 4));
    ck_assert_ptr_null(carrot_notify_channel_name(cfg, -1));

    /* what the rest of carrot-notify reads */
    ck_assert_str_eq(cfg->time_zone, "Europe/Berlin");
    ck_assert_int_eq(cfg->nprograms, 2);
    ck_assert_str_eq(cfg->programs[1], "field-sales");
    ck_assert(notify_program_on(cfg, "dealers"));
    ck_assert(!notify_program_on(cfg, "dealer"));
    ck_assert_int_eq(cfg->quiet_from, 21 * 60 + 30);
    ck_assert_int_eq(cfg->quiet_to, 7 * 60 + 15);
    ck_assert_int_eq(cfg->attempts, 7);
    ck_assert_int_eq(cfg->base_ms, 250);
    ck_assert_int_eq(cfg->max_ms, 60000);
    ck_assert_int_eq(cfg->timeout_ms, 5000);
    const carrot_channel_kind_t kinds[] = {CARROT_CHANNEL_SLACK, CARROT_CHANNEL_TEAMS,
                                           CARROT_CHANNEL_WEBHOOK, CARROT_CHANNEL_EMAIL};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(cfg->channels[i].kind, kinds[i]);
    ck_assert_int_eq(cfg->channels[0].per_minute, 60);
    ck_assert_int_eq(cfg->channels[1].per_minute, 0);
    ck_assert_str_eq(cfg->channels[2].url, "http://127.0.0.1:8080/carrot");
    /* the secret is the variable's value, not its name */
    ck_assert_uint_eq(cfg->channels[2].secret_len, strlen(SECRET));
    ck_assert_str_eq(cfg->channels[2].secret, SECRET);
    ck_assert_str_eq(cfg->channels[3].from, "carrot@example.com");

    const notify_trigger_t *goal = &cfg->triggers[CARROT_TRIGGER_GOAL];
    ck_assert_int_eq(goal->nchannels, 3);
    ck_assert_int_eq(goal->channels[0], 0);
    ck_assert_int_eq(goal->channels[1], 2);
    ck_assert_int_eq(goal->channels[2], 3);
    ck_assert_str_eq(goal->subject, "Goal reached: {{ goal }}");
    ck_assert(goal->to_participant && !goal->to_supervisor);
    const notify_trigger_t *missed = &cfg->triggers[CARROT_TRIGGER_COMMITMENT_MISSED];
    ck_assert(missed->to_participant && missed->to_supervisor);
    ck_assert_ptr_null(missed->subject);
    /* boards and sizes: given, or the defaults */
    ck_assert_str_eq(cfg->triggers[CARROT_TRIGGER_NUMBER_ONE].board, "ptd:all");
    ck_assert_int_eq(cfg->triggers[CARROT_TRIGGER_NUMBER_ONE].n, 1);
    ck_assert_str_eq(cfg->triggers[CARROT_TRIGGER_TOP_N].board, "pts:month");
    ck_assert_int_eq(cfg->triggers[CARROT_TRIGGER_TOP_N].n, 5);
    ck_assert_str_eq(cfg->triggers[CARROT_TRIGGER_OVERTAKEN].board, "ptd:all");
    ck_assert_int_eq(cfg->triggers[CARROT_TRIGGER_OVERTAKEN].n, 10);
    ck_assert_int_eq(cfg->triggers[CARROT_TRIGGER_DRAW_WON].nchannels, 2);
    ck_assert_int_eq(cfg->triggers[CARROT_TRIGGER_POINTS_EXPIRING].n, 7); /* its days */
    carrot_notify_config_destroy(cfg);
    carrot_notify_config_destroy(NULL);
}
END_TEST

/* What a short configuration leaves to the defaults. */
START_TEST(defaults_and_triggers_off) {
    env();
    const char *text = "version: v2\n"
                       "channels:\n"
                       "  s: {type: slack, url: \"http://chat.example/in\"}\n"
                       "triggers:\n"
                       "  goal: {channels: [], text: \"{{name}}\"}\n"
                       "  streak: {channels: [s], to: [supervisor], text: \"{{streak}}\"}\n";
    char errstr[512] = "";
    carrot_notify_config_t *cfg = carrot_notify_config_parse(text, strlen(text), "short.yaml",
                                                             errstr, sizeof(errstr));
    ck_assert_msg(cfg != NULL, "%s", errstr);
    ck_assert_str_eq(carrot_notify_config_version(cfg), "v2");
    ck_assert_int_eq(carrot_notify_trigger_on(cfg, CARROT_TRIGGER_GOAL), 0); /* no channel */
    ck_assert_int_eq(carrot_notify_trigger_on(cfg, CARROT_TRIGGER_STREAK), 1);
    ck_assert_int_eq(carrot_notify_trigger_on(cfg, CARROT_TRIGGER_DRAW_WON), 0); /* not named */
    ck_assert_int_eq(carrot_notify_channel_count(cfg), 1);
    ck_assert_str_eq(cfg->time_zone, "UTC");
    ck_assert_int_eq(cfg->quiet_from, cfg->quiet_to); /* no quiet hours */
    ck_assert_int_eq(cfg->attempts, 10);
    ck_assert_int_eq(cfg->base_ms, 1000);
    ck_assert_int_eq(cfg->max_ms, 300000);
    ck_assert_int_eq(cfg->timeout_ms, 10000);
    ck_assert_ptr_null(cfg->programs);
    ck_assert(notify_program_on(cfg, "any"));
    const notify_trigger_t *streak = &cfg->triggers[CARROT_TRIGGER_STREAK];
    ck_assert(!streak->to_participant && streak->to_supervisor);
    carrot_notify_config_destroy(cfg);

    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++)
        ck_assert_int_eq(carrot_trigger_parse(carrot_trigger_name((carrot_trigger_t)t)), t);
    ck_assert_str_eq(carrot_trigger_name(CARROT_TRIGGER_COMMITMENT_MISSED), "commitment_missed");
    ck_assert_ptr_null(carrot_trigger_name(CARROT_TRIGGER_COUNT));
    ck_assert_int_eq(carrot_trigger_parse("Goal"), -1);
}
END_TEST

/* A channel line of the refusals' configurations (line 3). */
#define HEAD        \
    "version: v1\n" \
    "channels:\n"   \
    "  hook: {type: webhook, url: \"https://h.example/in\", secret_env: " SECRET_ENV "}\n"

typedef struct {
    const char *text;
    const char *where; /* errstr starts with it: "t.yaml:<line>: " */
    const char *why;   /* and contains it */
} refusal_t;

static void refused(const refusal_t *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char errstr[512] = "";
        carrot_notify_config_t *cfg = carrot_notify_config_parse(r[i].text, strlen(r[i].text),
                                                                 "t.yaml", errstr, sizeof(errstr));
        ck_assert_msg(cfg == NULL, "accepted:\n%s", r[i].text);
        ck_assert_msg(strncmp(errstr, r[i].where, strlen(r[i].where)) == 0,
                      "\"%s\" does not start with \"%s\" for:\n%s", errstr, r[i].where, r[i].text);
        ck_assert_msg(strstr(errstr, r[i].why) != NULL, "\"%s\" lacks \"%s\" for:\n%s", errstr,
                      r[i].why, r[i].text);
    }
}

/* The refusals' base is itself fine: each refusal is its one change. */
START_TEST(refusal_base_parses) {
    env();
    const char *text = HEAD "triggers:\n"
                            "  goal:\n"
                            "    channels: [hook]\n"
                            "    text: \"{{name}} got {{points}}\"\n";
    carrot_notify_config_destroy(parsed(text, "t.yaml"));
}
END_TEST

START_TEST(refusals_name_the_line) {
    env();
    const refusal_t r[] = {
        {HEAD "colour: red\n", "t.yaml:4: ", "unknown key \"colour\""},
        {HEAD "triggers:\n"
              "  golf: {channels: [hook], text: hi}\n",
         "t.yaml:5: ", "unknown trigger \"golf\""},
        /* a field no trigger has, and one another trigger has */
        {HEAD "triggers:\n"
              "  goal:\n"
              "    channels: [hook]\n"
              "    text: \"{{name}} got {{bonus}}\"\n",
         "t.yaml:7: ", "goal: text: unknown field \"bonus\""},
        {HEAD "triggers:\n"
              "  goal:\n"
              "    channels: [hook]\n"
              "    text: \"{{name}} got {{item}}\"\n",
         "t.yaml:7: ", "unknown field \"item\""},
        {HEAD "triggers:\n"
              "  goal:\n"
              "    channels: [hook]\n"
              "    text: \"{{name}}\"\n"
              "    subject: \"{{prize}}\"\n",
         "t.yaml:8: ", "goal: subject: unknown field \"prize\""},
        {HEAD "triggers:\n"
              "  goal:\n"
              "    channels: [hook]\n"
              "    text: \"Well done {{name\"\n",
         "t.yaml:7: ", "a \"{{\" without its \"}}\""},
        /* a trigger's channel that is not defined */
        {HEAD "triggers:\n"
              "  goal:\n"
              "    channels:\n"
              "      - hook\n"
              "      - pager\n"
              "    text: hi\n",
         "t.yaml:8: ", "goal: no channel \"pager\""},
        {HEAD "triggers:\n"
              "  goal: {channels: [hook]}\n",
         "t.yaml:5: ", "goal: no text"},
        {HEAD "triggers:\n"
              "  goal: {channels: [hook], text: a, board: \"ptd:all\"}\n",
         "t.yaml:5: ", "only rank triggers"},
        {HEAD "triggers:\n"
              "  number_one: {channels: [hook], text: a, n: 3}\n",
         "t.yaml:5: ", "only top_n and overtaken have a top"},
        {"version: v1\n"
         "time_zone: Mars/Olympus\n",
         "t.yaml:2: ", "is not a time zone"},
        {"time_zone: UTC\n", "t.yaml:1: ", "no version"},
        {"just words\n", "t.yaml:1: ", "expected a mapping"},
    };
    refused(r, sizeof(r) / sizeof(r[0]));
}
END_TEST

#define CHANNEL(type, url) \
    "version: v1\n"        \
    "channels:\n"          \
    "  c:\n"               \
    "    type: " type "\n" \
    "    url: \"" url "\"\n"

/* A webhook URL that holds its token comes from the environment; a bad one
 * is named by its variable, never shown. */
START_TEST(url_from_environment) {
    env();
    ck_assert_int_eq(setenv("CARROT_TEST_SLACK_URL", "https://hooks.slack.example/T1/B2/tok", 1),
                     0);
    ck_assert_int_eq(setenv("CARROT_TEST_BAD_URL", "ftp://secret-token.example/x", 1), 0);
    char errstr[512] = "";
    const char *ok = "version: v\nchannels:\n  s: {type: slack, url_env: CARROT_TEST_SLACK_URL}\n";
    carrot_notify_config_t *cfg = carrot_notify_config_parse(ok, strlen(ok), "t.yaml", errstr,
                                                             sizeof(errstr));
    ck_assert_msg(cfg != NULL, "%s", errstr);
    ck_assert_str_eq(cfg->channels[0].url, "https://hooks.slack.example/T1/B2/tok");
    carrot_notify_config_destroy(cfg);
    const refusal_t r[] = {
        {"version: v\nchannels:\n  s: {type: slack, url_env: CARROT_TEST_BAD_URL}\n",
         "t.yaml:3: ", "the url in CARROT_TEST_BAD_URL is not an http(s):// URL"},
        {"version: v\nchannels:\n  s: {type: slack, url_env: CARROT_TEST_NOTIFY_UNSET}\n",
         "t.yaml:3: ", "CARROT_TEST_NOTIFY_UNSET holding its url is not set"},
        {"version: v\nchannels:\n  s: {type: slack, url: \"http://a.example\", url_env: "
         "CARROT_TEST_SLACK_URL}\n",
         "t.yaml:3: ", "url and url_env: one of them"},
    };
    refused(r, sizeof(r) / sizeof(r[0]));
    char bad[512] = "";
    const char *t = r[0].text;
    ck_assert_ptr_null(carrot_notify_config_parse(t, strlen(t), "t.yaml", bad, sizeof(bad)));
    ck_assert_ptr_null(strstr(bad, "secret-token")); /* the value is not in the message */
}
END_TEST

START_TEST(channel_refusals) {
    env();
    const refusal_t r[] = {
        {CHANNEL("slack", "ftp://x"), "t.yaml:5: ", "url \"ftp://x\" is not an http(s):// URL"},
        {CHANNEL("teams", "file:///etc/passwd"), "t.yaml:5: ", "\"file:///etc/passwd\" is not"},
        {CHANNEL("slack", "http://"), "t.yaml:5: ", "url \"http://\" is not"},
        {CHANNEL("slack", "https:///path"), "t.yaml:5: ", "is not an http(s):// URL"},
        {CHANNEL("slack", "http://a b.example/"), "t.yaml:5: ", "is not an http(s):// URL"},
        {CHANNEL("email", "http://mail.example") "    from: carrot@example.com\n",
         "t.yaml:5: ", "is not an smtp:// or smtps:// URL"},
        /* the line of the channel's first key: where its mapping starts */
        {CHANNEL("email", "smtp://mail.example"), "t.yaml:4: ", "an e-mail channel needs from:"},
        {CHANNEL("pager", "http://p.example"), "t.yaml:4: ", "type must be slack, teams"},
        {CHANNEL("slack", "http://s.example") "    colour: red\n",
         "t.yaml:6: ", "channel c: unknown key \"colour\""},
        {CHANNEL("slack", "http://s.example") "    per_minute: lots\n",
         "t.yaml:6: ", "per_minute: expected a whole number"},
        /* a webhook without its secret, or naming a variable that is not set */
        {"version: v1\n"
         "channels:\n"
         "  w: {type: webhook, url: \"https://h.example/in\"}\n",
         "t.yaml:3: ", "a webhook needs secret_env"},
        {CHANNEL("webhook", "https://h.example/in") "    secret_env: CARROT_TEST_NOTIFY_UNSET\n",
         "t.yaml:6: ", "CARROT_TEST_NOTIFY_UNSET holding its secret is not set"},
        {"version: v1\n"
         "channels:\n"
         "  a: {type: slack, url: \"http://a.example\"}\n"
         "  a: {type: slack, url: \"http://b.example\"}\n",
         "t.yaml:4: ", "\"a\" given twice"},
        /* the screens are posted to through Redis: nothing else to say */
        {CHANNEL("display", "http://tv.example"),
         "t.yaml:5: ", "a display channel takes no url, from, secret_env or digest"},
        {"version: v1\n"
         "channels:\n"
         "  tv: {type: display, digest: \"08:00\"}\n",
         "t.yaml:3: ", "a display channel takes no url"},
    };
    refused(r, sizeof(r) / sizeof(r[0]));

    /* a display channel on its own, with a rate limit */
    const char *tv = "version: v1\n"
                     "channels:\n"
                     "  tv: {type: display, per_minute: 30}\n"
                     "triggers:\n"
                     "  draw_won: {channels: [tv], text: \"{{name}} won {{prize}}\"}\n";
    carrot_notify_config_t *cfg = parsed(tv, "t.yaml");
    ck_assert_int_eq(cfg->channels[0].kind, CARROT_CHANNEL_DISPLAY);
    ck_assert_int_eq(cfg->channels[0].per_minute, 30);
    ck_assert(carrot_notify_trigger_on(cfg, CARROT_TRIGGER_DRAW_WON));
    carrot_notify_config_destroy(cfg);

    /* a from: that is not one address */
    const char *bad_from[] = {"a b@c.d", "a@b", "<x@y.z>", "x@y.z,evil@q.r", "Carrot <c@x.org>"};
    for (size_t i = 0; i < sizeof(bad_from) / sizeof(bad_from[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "%s    from: \"%s\"\n", CHANNEL("email", "smtp://m.example"),
                 bad_from[i]);
        const refusal_t one = {text, "t.yaml:6: ", "is not an e-mail address"};
        refused(&one, 1);
    }

    /* an empty secret is no secret */
    ck_assert_int_eq(setenv("CARROT_TEST_NOTIFY_EMPTY", "", 1), 0);
    const refusal_t empty = {
        CHANNEL("webhook", "https://h.example/in") "    secret_env: "
                                                   "CARROT_TEST_NOTIFY_EMPTY\n",
        "t.yaml:6: ", "is not set"};
    refused(&empty, 1);
}
END_TEST

START_TEST(quiet_retry_and_syntax_refusals) {
    env();
    const refusal_t r[] = {
        {"version: v1\n"
         "quiet_hours:\n"
         "  from: \"25:00\"\n"
         "  to: \"07:00\"\n",
         "t.yaml:3: ", "quiet_hours.from: expected a time of day HH:MM, not \"25:00\""},
        {"version: v1\n"
         "quiet_hours: {from: \"22:00\", to: \"07:60\"}\n",
         "t.yaml:2: ", "quiet_hours.to"},
        {"version: v1\n"
         "quiet_hours: {from: \"7:00\", to: \"08:00\"}\n",
         "t.yaml:2: ", "quiet_hours.from"},
        {"version: v1\n"
         "quiet_hours: {from: \"22:00\"}\n",
         "t.yaml:2: ", "quiet_hours: needs from and to"},
        {"version: v1\n"
         "retry:\n"
         "  attempts: 0\n",
         "t.yaml:3: ", "retry.attempts: expected a whole number from 1 to 1000"},
        /* not YAML: a tab cannot indent */
        {"version: v1\n"
         "channels:\n"
         "\thook: {}\n",
         "t.yaml:3: ", "cannot start any token"},
        {"version: v1\n"
         "programs: [a, b\n",
         "t.yaml:3: ", "did not find expected"},
    };
    refused(r, sizeof(r) / sizeof(r[0]));

    /* base_ms above max_ms (both given): refused at retry's line; keys given twice, an
     * empty program list, a time with a sign or a space */
    const refusal_t more[] = {
        {"version: v1\nretry:\n  base_ms: 5000\n  max_ms: 1000\n",
         "t.yaml:3: ", "retry: base_ms is above max_ms"},
        {"version: v1\nprograms: [a, b, c]\nprograms: [d]\n",
         "t.yaml:3: ", "\"programs\" given twice"},
        {"version: v1\nchannels:\n  h: {type: webhook, url: \"http://h.example\", secret_env: " SECRET_ENV
         ", secret_env: " SECRET_ENV "}\n",
         "t.yaml:3: ", "\"secret_env\" given twice"},
        {"version: v1\ntriggers: {}\ntriggers: {}\n", "t.yaml:3: ", "\"triggers\" given twice"},
        {"version: v1\nprograms: []\n", "t.yaml:2: ", "an empty list"},
        {"version: v1\nquiet_hours: {from: \" 1:00\", to: \"07:00\"}\n",
         "t.yaml:2: ", "quiet_hours.from"},
        {"version: v1\nquiet_hours: {from: \"+2:00\", to: \"07:00\"}\n",
         "t.yaml:2: ", "quiet_hours.from"},
    };
    refused(more, sizeof(more) / sizeof(more[0]));
    /* a small max_ms alone caps the default first delay instead of refusing the file */
    char errstr[512];
    const char *small = "version: v1\nretry: {max_ms: 500}\n";
    carrot_notify_config_t *cfg = carrot_notify_config_parse(small, strlen(small), "t.yaml", errstr,
                                                             sizeof(errstr));
    ck_assert_msg(cfg != NULL, "%s", errstr);
    ck_assert_int_eq(cfg->base_ms, 500);
    ck_assert_int_eq(cfg->max_ms, 500);
    carrot_notify_config_destroy(cfg);
    /* an empty document, and one of only a comment */
    const refusal_t empty[] = {{"", "t.yaml: ", "empty"}, {"# nothing\n", "t.yaml: ", "empty"}};
    refused(empty, 2);
}
END_TEST

START_TEST(email_addresses) {
    const char *good[] = {"a@b.co", "first.last+tag@sub.example.com", "x_y-z@a-b.example",
                          "carrot@example.com"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(carrot_notify_email_ok(good[i]), "refused %s", good[i]);
    char longest[300];
    memset(longest, 'a', 255);
    memcpy(longest + 255 - 6, "@b.com", 7); /* 255 characters: one too many */
    const char *bad[] = {"",
                         "@b.co",
                         "a@",
                         "a@b",
                         "a@@b.co",
                         "a@b@c.d",
                         "a b@c.d",
                         "<x@y.z>",
                         "x@y.z,evil@q.r",
                         "x@y.z;q@r.s",
                         "a@.b.co",
                         "a@b.co.",
                         "\"a\"@b.co",
                         "a@b.co\r\nBcc: e@v.il",
                         "a@b.co\n",
                         "a\t@b.co",
                         "a\x7f@b.co",
                         "a:b@c.d",
                         "a(b)@c.d",
                         "a\\b@c.d",
                         "a@[1.2.3.4]",
                         longest};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!carrot_notify_email_ok(bad[i]), "accepted \"%s\"", bad[i]);
    ck_assert(carrot_notify_email_ok(longest + 1)); /* 254: allowed */
}
END_TEST

static void renders(const char *tmpl, const char *fields, const char *want) {
    char *out = (char *)1;
    ck_assert_int_eq(carrot_notify_render(tmpl, fields, &out), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strcmp(out, want) == 0, "\"%s\" with %s: \"%s\", not \"%s\"", tmpl,
                  fields ? fields : "NULL", out, want);
    free(out);
}

START_TEST(render_placeholders) {
    const char *f = "{\"name\": \"Zoë\", \"points\": 150, \"ratio\": 2.5, \"neg\": -3,"
                    " \"big\": 9007199254740993, \"ok\": true, \"none\": null, \"o\": {\"a\": 1}}";
    renders("{{name}}", f, "Zoë");
    renders("Hi {{ name }}!", f, "Hi Zoë!");
    renders("{{  name}}/{{name  }}", f, "Zoë/Zoë");
    renders("{{name}} got {{points}} ({{ratio}}x, {{neg}}) {{big}}", f,
            "Zoë got 150 (2.5x, -3) 9007199254740993");
    /* missing, and not text or a number: empty */
    renders("[{{nobody}}]", f, "[]");
    renders("[{{ok}}{{none}}{{o}}]", f, "[]");
    renders("[{{}}]", f, "[]");
    /* no placeholder: as it is; a "{{" without "}}" stays literally */
    renders("Plain text, { } and }} {x}", f, "Plain text, { } and }} {x}");
    renders("Hi {{name", f, "Hi {{name");
    renders("{{name}} and {{rest", f, "Zoë and {{rest");
    renders("", f, "");
    /* no fields, or fields that are not JSON: every placeholder empty */
    renders("a{{name}}b", NULL, "ab");
    renders("a{{name}}b", "not json", "ab");
    renders("a{{name}}b", "[\"name\"]", "ab");
    /* a placeholder too long to be a field: empty, the rest still rendered */
    char tmpl[200];
    snprintf(tmpl, sizeof(tmpl), "{{%0100d}}{{name}}", 0);
    renders(tmpl, f, "Zoë");
}
END_TEST

/* A value's control characters are dropped (a name from a CRM cannot start
 * a header line); the template's own line breaks stay. */
START_TEST(render_drops_control_characters) {
    renders("Hi {{name}}.", "{\"name\": \"Ann\\nBcc: e@v.il\\r\\u0001\\t\\u007f!\"}",
            "Hi AnnBcc: e@v.il!.");
    renders("line 1\n{{name}}\r\n", "{\"name\": \"\\r\\n\"}", "line 1\n\r\n");
}
END_TEST

/* The fields each trigger has, as the templates may name them. */
START_TEST(template_fields_per_trigger) {
    static const char *const all[] = {
        "program", "participant", "name",    "rules_version", "goal",       "points",     "rule",
        "board",   "rank",        "n",       "previous_rank", "by",         "commitment", "period",
        "figure",  "target",      "streak",  "misses",        "supervisor", "item",       "price",
        "reason",  "sweepstakes", "prize",   "entry",         "date",       "days",       "week",
        "of",      "people",      "top",     "top_points",    "bonus",      "promotion",  "from",
        "to",      "multiplier",  "segments"};
    static const char *const has[CARROT_TRIGGER_COUNT] = {
        [CARROT_TRIGGER_GOAL] = " goal points rule ",
        [CARROT_TRIGGER_NUMBER_ONE] = " board points rank ",
        [CARROT_TRIGGER_TOP_N] = " board points rank n ",
        [CARROT_TRIGGER_OVERTAKEN] = " board points rank previous_rank n by ",
        [CARROT_TRIGGER_COMMITMENT_MET] = " commitment period figure target streak points ",
        [CARROT_TRIGGER_COMMITMENT_MISSED] =
            " commitment period figure target misses points supervisor ",
        [CARROT_TRIGGER_STREAK] = " commitment period streak points ",
        [CARROT_TRIGGER_REDEMPTION_FULFILLED] = " item price ",
        [CARROT_TRIGGER_REDEMPTION_REJECTED] = " item price reason ",
        [CARROT_TRIGGER_DRAW_WON] = " sweepstakes prize entry points ",
        [CARROT_TRIGGER_POINTS_EXPIRING] = " points date days ",
        [CARROT_TRIGGER_WEEKLY_SUMMARY] = " week points rank of ",
        [CARROT_TRIGGER_TEAM_SUMMARY] = " week points people top top_points ",
        [CARROT_TRIGGER_PROMOTION_STARTED] = " promotion from to multiplier bonus segments ",
        [CARROT_TRIGGER_PROMOTION_ENDED] = " promotion from to multiplier bonus segments ",
    };
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++) {
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            char tmpl[80], word[40], errstr[400] = "";
            snprintf(tmpl, sizeof(tmpl), "x {{ %s }} y", all[i]);
            snprintf(word, sizeof(word), " %s ", all[i]);
            int want = i < 4 || strstr(has[t], word) ? 0 : -1; /* the first four: every trigger */
            int got = carrot_notify_template_check((carrot_trigger_t)t, tmpl, errstr,
                                                   sizeof(errstr));
            ck_assert_msg(got == want, "%s: {{%s}}: %d, not %d (%s)",
                          carrot_trigger_name((carrot_trigger_t)t), all[i], got, want, errstr);
            if (got) {
                char quoted[48];
                snprintf(quoted, sizeof(quoted), "unknown field \"%s\"", all[i]);
                ck_assert_msg(strstr(errstr, quoted) && strstr(errstr, "rules_version"), "%s",
                              errstr);
            }
        }
    }
    char errstr[400];
    ck_assert_int_eq(
        carrot_notify_template_check(CARROT_TRIGGER_OVERTAKEN,
                                     "{{by}} passed you: {{previous_rank}} to {{rank}}", errstr,
                                     sizeof(errstr)),
        0);
    ck_assert_int_eq(
        carrot_notify_template_check(CARROT_TRIGGER_GOAL, "{{item}}", errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "goal has"));
    ck_assert_int_eq(
        carrot_notify_template_check(CARROT_TRIGGER_GOAL, "no fields", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(carrot_notify_template_check(CARROT_TRIGGER_GOAL, "{{goal}} {{points", errstr,
                                                  sizeof(errstr)),
                     -1);
    ck_assert_str_eq(errstr, "a \"{{\" without its \"}}\"");
    ck_assert_int_eq(
        carrot_notify_template_check(CARROT_TRIGGER_GOAL, "{{}}", errstr, sizeof(errstr)), -1);
    ck_assert_int_eq(
        carrot_notify_template_check(CARROT_TRIGGER_GOAL, "{{na me}}", errstr, sizeof(errstr)), -1);
}
END_TEST

/* The signature, against OpenSSL's HMAC computed here and `openssl dgst`. */
START_TEST(webhook_signature) {
    const char body[] = "{\"event\":\"goal\",\"points\":150}";
    const int64_t ts = 1700000000;
    char sig[68];
    ck_assert_int_eq(
        carrot_notify_sign(SECRET, strlen(SECRET), ts, body, strlen(body), sig, sizeof(sig)), 0);
    /* printf '%s' '1700000000.{"event":"goal","points":150}' | openssl dgst -sha256 -hmac whsec_5f3a */
    ck_assert_str_eq(sig, "v1=f9b6c7b1430ee939b04dec544427aa18355911b43e90f1b7244c0694821a8e5e");

    /* and with a body holding a NUL, a long key and another time */
    const char bin[] = "a\0b\xff";
    const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-longer";
    char msg[64];
    int ml = snprintf(msg, sizeof(msg), "%lld.", 1793000000123LL);
    memcpy(msg + ml, bin, 4);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg,
                               (size_t)ml + 4, mac, &maclen));
    ck_assert_uint_eq(maclen, 32);
    char want[68] = "v1=";
    for (unsigned i = 0; i < maclen; i++) snprintf(want + 3 + 2 * i, 3, "%02x", mac[i]);
    ck_assert_int_eq(
        carrot_notify_sign(key, strlen(key), 1793000000123LL, bin, 4, sig, sizeof(sig)), 0);
    ck_assert_str_eq(sig, want);
    ck_assert_uint_eq(strlen(sig), 67);
    ck_assert_int_eq(carrot_notify_sign(key, strlen(key), 1, bin, 4, sig, 67), -1);
}
END_TEST

START_TEST(webhook_verify) {
    const char body[] = "{\"event\":\"goal\",\"points\":150}";
    const size_t bl = strlen(body);
    const int64_t ts = 1700000000;
    const char *sts = "1700000000";
    char sig[68];
    ck_assert_int_eq(carrot_notify_sign(SECRET, strlen(SECRET), ts, body, bl, sig, sizeof(sig)), 0);
    const size_t sl = strlen(SECRET);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, body, bl, ts, 300), 1);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, body, bl, ts + 300, 300), 1);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, body, bl, ts - 300, 300), 1);
    /* 301 s either way: a replay, or a clock too far off */
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, body, bl, ts + 301, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, body, bl, ts - 301, 300), 0);
    /* a tampered body, a wrong secret, another timestamp */
    char tampered[sizeof(body)];
    memcpy(tampered, body, sizeof(body));
    tampered[strlen(tampered) - 2] = '9';
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, tampered, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig, body, bl - 1, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify("whsec_5f3b", sl, sts, sig, body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl - 1, sts, sig, body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, "1700000001", sig, body, bl, ts, 300), 0);
    /* timestamps that are not numbers */
    const char *bad_ts[] = {"",           "abc",         "1700000000x",
                            "17000000.5", "-1700000000", "17000000000000000000"};
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++)
        ck_assert_msg(!carrot_notify_verify(SECRET, sl, bad_ts[i], sig, body, bl, ts, 300), "%s",
                      bad_ts[i]);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, NULL, sig, body, bl, ts, 300), 0);
    /* signatures of another length, or another spelling */
    char shorter[68], longer[70], upper[68];
    snprintf(shorter, sizeof(shorter), "%.66s", sig);
    snprintf(longer, sizeof(longer), "%s0", sig);
    snprintf(upper, sizeof(upper), "%s", sig);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, shorter, body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, longer, body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, upper, body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, sig + 3, body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, "", body, bl, ts, 300), 0);
    ck_assert_int_eq(carrot_notify_verify(SECRET, sl, sts, NULL, body, bl, ts, 300), 0);
}
END_TEST

static const notify_message_t MSG = {
    .idempotency_key = "n1-0123456789abcdef0123456789abcdef01234567",
    .event_id = "goal:dealers:42",
    .trigger = "goal",
    .program = "dealers",
    .participant = "p-7",
    .recipient = "p-7",
    .address = "ann@example.com",
    .subject = "Goal reached",
    .text = "Ann & Bob <!channel> > you",
    .fields_json = "{\"name\":\"Ann\",\"points\":150}",
    .config_version = "2026-11-rc1",
    .from = "carrot@example.com",
    .occurred_ms = 1793000000123LL};

static json_t *body_json(carrot_channel_kind_t kind, const notify_message_t *m) {
    char *b = notify_body(kind, m);
    ck_assert_ptr_nonnull(b);
    json_error_t err;
    json_t *j = json_loads(b, 0, &err);
    ck_assert_msg(j != NULL, "%s: %s", b, err.text);
    free(b);
    return j;
}

static const char *str_at(json_t *j, const char *key) {
    const char *s = json_string_value(json_object_get(j, key));
    ck_assert_msg(s != NULL, "no string \"%s\"", key);
    return s;
}

START_TEST(slack_escapes_mrkdwn) {
    json_t *j = body_json(CARROT_CHANNEL_SLACK, &MSG);
    json_t *block = json_array_get(json_object_get(j, "blocks"), 0);
    ck_assert_str_eq(str_at(block, "type"), "section");
    json_t *text = json_object_get(block, "text");
    ck_assert_str_eq(str_at(text, "type"), "mrkdwn");
    ck_assert_str_eq(str_at(text, "text"), "Ann &amp; Bob &lt;!channel&gt; &gt; you");
    ck_assert_str_eq(str_at(j, "text"), "Ann &amp; Bob &lt;!channel&gt; &gt; you");
    json_decref(j);
}
END_TEST

START_TEST(teams_adaptive_card) {
    notify_message_t m = MSG;
    m.text = "He said \"hi\" & <b>left</b>\\";
    json_t *j = body_json(CARROT_CHANNEL_TEAMS, &m);
    ck_assert_str_eq(str_at(j, "type"), "message");
    json_t *att = json_object_get(j, "attachments");
    ck_assert_uint_eq(json_array_size(att), 1);
    json_t *a = json_array_get(att, 0);
    ck_assert_str_eq(str_at(a, "contentType"), "application/vnd.microsoft.card.adaptive");
    json_t *card = json_object_get(a, "content");
    ck_assert_str_eq(str_at(card, "type"), "AdaptiveCard");
    json_t *tb = json_array_get(json_object_get(card, "body"), 0);
    ck_assert_str_eq(str_at(tb, "type"), "TextBlock");
    ck_assert_str_eq(str_at(tb, "text"), m.text); /* as it is: no Slack escaping */
    ck_assert(json_is_true(json_object_get(tb, "wrap")));
    json_decref(j);
}
END_TEST

START_TEST(webhook_json) {
    json_t *j = body_json(CARROT_CHANNEL_WEBHOOK, &MSG);
    ck_assert_str_eq(str_at(j, "id"), MSG.idempotency_key);
    ck_assert_str_eq(str_at(j, "event"), "goal:dealers:42");
    ck_assert_str_eq(str_at(j, "trigger"), "goal");
    ck_assert_str_eq(str_at(j, "program"), "dealers");
    ck_assert_str_eq(str_at(j, "participant"), "p-7");
    ck_assert_str_eq(str_at(j, "recipient"), "p-7");
    ck_assert_str_eq(str_at(j, "text"), MSG.text);
    ck_assert_str_eq(str_at(j, "config_version"), "2026-11-rc1");
    ck_assert_str_eq(str_at(j, "occurred_at"), "2026-10-26T07:33:20Z");
    json_t *want = json_loads(MSG.fields_json, 0, NULL);
    ck_assert(json_equal(json_object_get(j, "fields"), want));
    json_decref(want);
    json_decref(j);
    /* no participant: null; fields that are not JSON: an empty object */
    notify_message_t m = MSG;
    m.participant = NULL;
    m.fields_json = "{not json";
    j = body_json(CARROT_CHANNEL_WEBHOOK, &m);
    ck_assert(json_is_null(json_object_get(j, "participant")));
    ck_assert(json_is_object(json_object_get(j, "fields")));
    ck_assert_uint_eq(json_object_size(json_object_get(j, "fields")), 0);
    json_decref(j);
}
END_TEST

/* A screen's banner: the subject template as its title, else the trigger's;
 * the text and the name as they are (the page shows them as text). */
START_TEST(display_banner) {
    json_t *j = body_json(CARROT_CHANNEL_DISPLAY, &MSG);
    const char *const want[][2] = {{"from", "notify"},        {"kind", "goal"},
                                   {"title", "Goal reached"}, {"text", MSG.text},
                                   {"name", "Ann"},           {"message", MSG.idempotency_key}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_str_eq(str_at(j, want[i][0]), want[i][1]);
    /* a screen's stream carries what it shows: no participant id, no configuration */
    ck_assert_ptr_null(json_object_get(j, "participant"));
    ck_assert_ptr_null(json_object_get(j, "config_version"));
    ck_assert_uint_eq(json_object_size(j), 6);
    json_decref(j);
    notify_message_t m = MSG;
    m.subject = NULL;
    m.trigger = "draw_won";
    m.participant = NULL; /* a promotion's: no one */
    m.fields_json = "{}";
    j = body_json(CARROT_CHANNEL_DISPLAY, &m);
    ck_assert_str_eq(str_at(j, "title"), "Sweepstakes winner!");
    ck_assert(json_is_null(json_object_get(j, "name")));
    json_decref(j);
}
END_TEST

/* The header lines of an e-mail (each checked to end CRLF), and its text. */
static int email_parts(const char *mail, char lines[][1024], int max, const char **textp) {
    const char *end = strstr(mail, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    for (const char *p = mail; *p; p++)
        if (*p == '\n') ck_assert_msg(p > mail && p[-1] == '\r', "a bare LF at %td", p - mail);
    int n = 0;
    for (const char *p = mail; p < end + 2; n++) {
        const char *e = strstr(p, "\r\n");
        ck_assert_int_lt(n, max);
        ck_assert_int_lt(e - p, 1024);
        memcpy(lines[n], p, (size_t)(e - p));
        lines[n][e - p] = '\0';
        p = e + 2;
    }
    *textp = end + 4;
    return n;
}

static const char *header(char lines[][1024], int n, const char *name) {
    size_t l = strlen(name);
    const char *found = NULL;
    for (int i = 0; i < n; i++)
        if (strncmp(lines[i], name, l) == 0 && lines[i][l] == ':') {
            ck_assert_msg(!found, "%s twice", name);
            found = lines[i] + l + 2;
        }
    return found;
}

START_TEST(email_headers_and_text) {
    notify_message_t m = MSG;
    m.text = "Well done, Ann.\nYou reached 150 points.";
    m.idempotency_key = "key <with> @ odd bits";
    char *mail = notify_body(CARROT_CHANNEL_EMAIL, &m);
    ck_assert_ptr_nonnull(mail);
    char lines[16][1024];
    const char *text;
    int n = email_parts(mail, lines, 16, &text);
    ck_assert_str_eq(header(lines, n, "From"), "Carrot <carrot@example.com>");
    ck_assert_str_eq(header(lines, n, "To"), "<ann@example.com>");
    ck_assert_str_eq(header(lines, n, "Subject"), "Goal reached");
    /* the idempotency key, made safe for a Message-ID */
    ck_assert_str_eq(header(lines, n, "Message-ID"), "<key..with....odd.bits@carrot>");
    ck_assert_str_eq(header(lines, n, "X-Carrot-Trigger"), "goal");
    ck_assert_str_eq(header(lines, n, "Content-Type"), "text/plain; charset=UTF-8");
    const char *date = header(lines, n, "Date");
    ck_assert_ptr_nonnull(date);
    ck_assert_ptr_nonnull(strstr(date, " +0000"));
    ck_assert_str_eq(text, "Well done, Ann.\r\nYou reached 150 points.\r\n");
    free(mail);
}
END_TEST

/* A template's own line breaks: CRLF in the body however many (the buffer is
 * sized for them), a space in the Subject, so no header can be started. */
START_TEST(email_line_breaks) {
    char text[2100];
    memset(text, '\n', 2000);
    strcpy(text + 2000, "end");
    notify_message_t m = MSG;
    m.text = text;
    m.subject = "Well done\nBcc: boss@corp.example\r\nX-Evil: 1";
    char *mail = notify_body(CARROT_CHANNEL_EMAIL, &m);
    ck_assert_ptr_nonnull(mail);
    ck_assert_ptr_null(strstr(mail, "\r\nBcc:"));
    ck_assert_ptr_null(strstr(mail, "\nX-Evil:"));
    ck_assert_ptr_nonnull(
        strstr(mail, "\r\nSubject: Well done Bcc: boss@corp.example  X-Evil: 1\r\n"));
    const char *body = strstr(mail, "\r\n\r\n") + 4;
    int crlf = 0;
    for (const char *p = body; (p = strstr(p, "\r\n")) != NULL; p += 2) crlf++;
    ck_assert_int_eq(crlf, 2001); /* 2000 line breaks, and the last line's end */
    ck_assert_ptr_nonnull(strstr(body, "\r\nend\r\n"));
    free(mail);
    /* a long subject is cut at 200 bytes, never inside a character */
    char longs[600] = "";
    for (int i = 0; i < 150; i++) strcat(longs, "é");
    m.subject = longs;
    m.text = "t";
    mail = notify_body(CARROT_CHANNEL_EMAIL, &m);
    ck_assert_ptr_nonnull(mail);
    ck_assert_ptr_nonnull(strstr(mail, "Subject: =?UTF-8?B?"));
    free(mail);
}
END_TEST

START_TEST(email_subject_encoded) {
    const char *subject = "Zoë hat ihr Ziel erreicht — 150 Punkte ✓ — und die Woche gewonnen";
    notify_message_t m = MSG;
    m.subject = subject;
    char *mail = notify_body(CARROT_CHANNEL_EMAIL, &m);
    ck_assert_ptr_nonnull(mail);
    /* the Subject, folded into encoded words of at most 75 characters ("\r\n " between) */
    const char *at = strstr(mail, "\r\nSubject: ");
    ck_assert_ptr_nonnull(at);
    at += 11;
    char decoded[1024];
    size_t dlen = 0;
    int words = 0;
    for (;;) {
        const char *end = strstr(at, "?=");
        ck_assert_ptr_nonnull(end);
        ck_assert_msg(strncmp(at, "=?UTF-8?B?", 10) == 0, "%.80s", at);
        ck_assert_int_le((int)(end + 2 - at), 75);
        size_t bl = (size_t)(end - at - 10);
        unsigned char out[128];
        int dl = EVP_DecodeBlock(out, (const unsigned char *)at + 10, (int)bl);
        ck_assert_int_gt(dl, 0);
        for (size_t i = bl; i > 0 && at[10 + i - 1] == '='; i--)
            dl--; /* DecodeBlock keeps padding */
        memcpy(decoded + dlen, out, (size_t)dl);
        dlen += (size_t)dl;
        words++;
        if (strncmp(end + 2, "\r\n ", 3) != 0) break;
        at = end + 5;
    }
    ck_assert_int_gt(words, 1); /* more than one word's 45 bytes */
    ck_assert_int_eq((int)dlen, (int)strlen(subject));
    ck_assert(memcmp(decoded, subject, strlen(subject)) == 0);
    char lines[16][1024];
    const char *text;
    int n;
    free(mail);
    /* no subject: the text stands for it */
    m.subject = "";
    m.text = "Plain text";
    mail = notify_body(CARROT_CHANNEL_EMAIL, &m);
    ck_assert_ptr_nonnull(mail);
    n = email_parts(mail, lines, 16, &text);
    ck_assert_str_eq(header(lines, n, "Subject"), "Plain text");
    free(mail);
}
END_TEST

/* A value with a line break cannot add a header: render drops it first. */
START_TEST(email_subject_cannot_inject) {
    char *subject, *body;
    const char *fields = "{\"goal\": \"10 calls\\r\\nBcc: evil@q.r\\nX-Evil: 1\", \"name\": \"A\"}";
    ck_assert_int_eq(carrot_notify_render("Goal reached: {{goal}}", fields, &subject), 0);
    ck_assert_int_eq(carrot_notify_render("{{name}} reached {{goal}}", fields, &body), 0);
    notify_message_t m = MSG;
    m.subject = subject;
    m.text = body;
    char *mail = notify_body(CARROT_CHANNEL_EMAIL, &m);
    ck_assert_ptr_nonnull(mail);
    char lines[16][1024];
    const char *text;
    int n = email_parts(mail, lines, 16, &text);
    ck_assert_str_eq(header(lines, n, "Subject"), "Goal reached: 10 callsBcc: evil@q.rX-Evil: 1");
    ck_assert_ptr_null(header(lines, n, "Bcc"));
    ck_assert_ptr_null(header(lines, n, "X-Evil"));
    ck_assert_int_eq(n, 9); /* From To Subject Date Message-ID X-Carrot-Trigger MIME CT CTE */
    ck_assert_str_eq(text, "A reached 10 callsBcc: evil@q.rX-Evil: 1\r\n");
    free(mail);
    free(subject);
    free(body);
}
END_TEST

int main(void) {
    const TTest *tests[] = {full_config_parses,
                            defaults_and_triggers_off,
                            refusal_base_parses,
                            refusals_name_the_line,
                            channel_refusals,
                            quiet_retry_and_syntax_refusals,
                            email_addresses,
                            render_placeholders,
                            render_drops_control_characters,
                            template_fields_per_trigger,
                            webhook_signature,
                            webhook_verify,
                            slack_escapes_mrkdwn,
                            teams_adaptive_card,
                            webhook_json,
                            display_banner,
                            email_headers_and_text,
                            email_subject_encoded,
                            email_line_breaks,
                            url_from_environment,
                            email_subject_cannot_inject,
                            NULL};
    return carrot_test_run(carrot_test_suite("notify", tests));
}
