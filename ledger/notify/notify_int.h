/* notify_int.h: what the parts of carrot-notify share: the configuration's
 * structure (config.c fills it), the message bodies (message.c) and one
 * delivery (send.c). */
#ifndef CARROT_NOTIFY_INT_H
#define CARROT_NOTIFY_INT_H

#include "carrot/notify.h"

#include "carrot/board.h"
#include "carrot/codec.h"
#include "carrot/directory.h"
#include "carrot/rules.h"
#include "carrot/rules_topic.h"

#include <jansson.h>
#include <stdint.h>

#define NOTIFY_MAX_CHANNELS 32
#define NOTIFY_ANSWER_MAX 1000 /* bytes of a channel's answer kept in the log */

typedef struct {
    char *name;
    carrot_channel_kind_t kind;
    char *url;
    char *from;   /* e-mail: the sender's address */
    char *secret; /* webhook: the HMAC key, from the environment */
    size_t secret_len;
    long per_minute; /* rate limit; 0: none */
    int digest_at;   /* e-mail: minutes after local midnight of the daily digest; -1: none */
} notify_channel_t;

typedef struct {
    int on;
    int channels[NOTIFY_MAX_CHANNELS]; /* indexes into cfg->channels */
    int nchannels;
    int to_participant, to_supervisor; /* e-mail recipients */
    char *text, *subject;
    char *board; /* rank triggers: the board watched ("ptd:all") */
    int n;       /* top_n, overtaken: the top's size */
} notify_trigger_t;

struct carrot_notify_config_s {
    char *text; /* as given, NUL-terminated */
    size_t text_len;
    char *version;
    char *time_zone;
    int quiet_from, quiet_to; /* minutes after local midnight; equal: no quiet hours */
    int attempts;
    int64_t base_ms, max_ms, timeout_ms;
    char **programs; /* NULL: every program */
    int nprograms;
    notify_channel_t channels[NOTIFY_MAX_CHANNELS];
    int nchannels;
    notify_trigger_t triggers[CARROT_TRIGGER_COUNT];
};

struct carrot_notifier_s {
    const carrot_notify_config_t *cfg;
    carrot_board_t *board;         /* NULL: no Redis, no rank triggers */
    carrot_directory_t *directory; /* names and supervisors */
    carrot_codec_t *award_codec;
    char *awards_topic;
    char *name;     /* the notifier: every row it keeps carries it */
    char *instance; /* this member: its claims carry it */
    int64_t digest_ms;
    /* when this member took cfg (Unix ms, the real clock): a message whose channel cfg
     * lacks (or has as another form) was made under an older version when queued before
     * this, else under a newer one this member has not taken yet (deliver.c) */
    int64_t cfg_since_ms;
    /* each channel's rate limit bucket (deliver.c) */
    double tokens[NOTIFY_MAX_CHANNELS];
    int64_t refilled_ms[NOTIFY_MAX_CHANNELS];
    /* a channel that does not answer (or answers 429/5xx) is held, its delay
     * doubling with each failure in a row, instead of being tried message by
     * message (deliver.c) */
    int fails[NOTIFY_MAX_CHANNELS];
    int64_t held_until_ms[NOTIFY_MAX_CHANNELS];
    void *curl[NOTIFY_MAX_CHANNELS]; /* each channel's libcurl handle (send.c) */
    /* each configured program's rules feed and latest rules (promo.c) */
    carrot_rules_feed_t **feeds;
    carrot_rules_t **rules;
};

/* One trigger, found (triggers.c) and queued (outbox.c). */
typedef struct {
    const char *event_id; /* stable: the same fact always gets the same id */
    carrot_trigger_t trigger;
    const char *program, *participant;
    const char *supervisor; /* commitment_missed: "" when none */
    json_t *fields;         /* borrowed; "name" and the common fields are added; NULL (a json_pack()
                     * that failed) is refused as out of memory */
    int64_t occurred_ms;
    /* a promotion's: its e-mails go to every participant of these segments
     * (the directory's; an empty array: everyone) rather than to participant */
    const json_t *segments;
} notify_event_t;

/* Stores ev once and, when it is new, queues its messages (one per channel
 * of its trigger and recipient; opted out or without an address: kept as
 * skipped, with why). In the caller's transaction. */
carrot_ledger_err_t notify_queue(carrot_notifier_t *n, PGconn *pg, const notify_event_t *ev,
                                 carrot_notify_stats_t *st, char *errstr, size_t errstr_size);

/* The calendar's triggers (calendar.c), when digest_ms has passed since the
 * last look of any member: in a transaction of their own. */
carrot_ledger_err_t notify_calendar(carrot_notifier_t *n, PGconn *pg, carrot_notify_stats_t *st,
                                    char *errstr, size_t errstr_size);

/* The promotions that started or ended within the last day (promo.c), of
 * the rules the feeds hold now; in the caller's transaction. */
carrot_ledger_err_t notify_promotions(carrot_notifier_t *n, PGconn *pg, int64_t now,
                                      carrot_notify_stats_t *st, char *errstr, size_t errstr_size);
/* Frees the feeds and rules. */
void notify_promotions_free(carrot_notifier_t *n);

/* The form of channel a body is made for: "slack", "teams", "webhook",
 * "email", "email-digest" (a digest's line) or "display" (outbox's made_for). */
const char *notify_channel_form(const notify_channel_t *ch);

/* Whether cfg covers program. */
int notify_program_on(const carrot_notify_config_t *cfg, const char *program);

/* The body a channel sends for one message (message.c): Slack Block Kit,
 * a Teams Adaptive Card, the generic webhook's JSON (text, the trigger, its
 * fields) or an e-mail (headers and text). malloc'd; NULL when out of memory. */
typedef struct {
    const char *idempotency_key, *event_id, *trigger, *program, *participant;
    const char *recipient, *address, *subject, *text, *fields_json, *config_version;
    const char *from;
    int64_t occurred_ms;
} notify_message_t;
char *notify_body(carrot_channel_kind_t kind, const notify_message_t *m);

/* The next time of day `minutes` in tz after now (Unix ms; now itself when
 * tz cannot be used). */
int64_t notify_next_time_of_day(const char *tz, int64_t now, int minutes);

/* One delivery (send.c), through the channel's handle *handlep (made on
 * first use, kept for the next). status: HTTP status or the SMTP server's last
 * reply code, 0 when none came; answer: what the channel said, or the
 * transport's error. */
typedef enum { SEND_OK, SEND_RETRY, SEND_DEAD } send_outcome_t;
typedef struct {
    send_outcome_t outcome;
    int status;
    char answer[NOTIFY_ANSWER_MAX + 1];
    int64_t retry_after_ms; /* a 429's Retry-After; 0: none */
} send_result_t;
void notify_send(void **handlep, const notify_channel_t *ch, const char *idempotency_key,
                 const char *address, const char *body, int64_t timeout_ms, send_result_t *res);
/* Frees a channel's handle (*handlep NULL is a no-op). */
void notify_send_close(void **handlep);
/* The display channel's delivery (post.c): body posted to program's screens
 * through the boards' feed, once per key. */
void notify_post(carrot_notifier_t *n, const char *program, const char *key, const char *body,
                 send_result_t *res);

#endif
