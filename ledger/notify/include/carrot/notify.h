/* notify.h: carrot-notify, telling people what the pipeline did: the
 * configuration (channels, triggers and their templates, quiet hours,
 * retries), the triggers found in awards, boards and the ledger, the
 * outbox in PostgreSQL they become messages in, and their delivery.
 *
 * Exactly once, step by step:
 *   - a trigger has a stable id ("goal:<P>:<award id>", "commit:<P>:<c>:<period>:
 *     <participant>:missed", ...) and is stored once (notify_events); the
 *     messages it makes (one per channel and recipient) go into the outbox
 *     in the same transaction, with the Kafka places of the awards read or
 *     the ledger cursor moved, so a crash repeats or loses nothing of it;
 *   - a delivery is marked "sending" and committed before it is sent, and
 *     "sent" after: a crash in between sends it again, with the same
 *     idempotency key (Idempotency-Key, the e-mail's Message-ID); where the
 *     channel takes no key (Slack, Teams) the repeat is marked "possibly
 *     repeated" in the log.
 *
 * Errors: the ledger's contract (carrot/ledger_db.h), with errstr. Config
 * errors name the file and line. Nothing here prints or exits. */
#ifndef CARROT_NOTIFY_H
#define CARROT_NOTIFY_H

#include "carrot/config.h"
#include "carrot/ledger_db.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* --- the configuration (config.c) ---------------------------------------- */

typedef enum {
    CARROT_TRIGGER_GOAL,                 /* a goal reached (its bonus award) */
    CARROT_TRIGGER_NUMBER_ONE,           /* took rank 1 of a watched board */
    CARROT_TRIGGER_TOP_N,                /* entered its top n */
    CARROT_TRIGGER_OVERTAKEN,            /* fell in its top n: someone passed */
    CARROT_TRIGGER_COMMITMENT_MET,       /* a period's close */
    CARROT_TRIGGER_COMMITMENT_MISSED,    /* to the participant and/or the supervisor */
    CARROT_TRIGGER_STREAK,               /* met so many periods in a row */
    CARROT_TRIGGER_REDEMPTION_FULFILLED, /* a reward sent */
    CARROT_TRIGGER_REDEMPTION_REJECTED,  /* a reward refused, points back */
    CARROT_TRIGGER_DRAW_WON,             /* a sweepstakes entry drew a prize */
    CARROT_TRIGGER_POINTS_EXPIRING,      /* points expire within n days: daily, per person */
    CARROT_TRIGGER_WEEKLY_SUMMARY,       /* last week's points and rank, per person */
    CARROT_TRIGGER_TEAM_SUMMARY,         /* last week of a supervisor's people */
    CARROT_TRIGGER_PROMOTION_STARTED,    /* to its segments (the rules topic) */
    CARROT_TRIGGER_PROMOTION_ENDED,
    CARROT_TRIGGER_COUNT
} carrot_trigger_t;

/* "goal", "number_one", ...; NULL out of range. */
const char *carrot_trigger_name(carrot_trigger_t t);
/* -1 when name is no trigger. */
int carrot_trigger_parse(const char *name);

typedef enum {
    CARROT_CHANNEL_SLACK,   /* incoming webhook, Block Kit JSON */
    CARROT_CHANNEL_TEAMS,   /* incoming webhook, an Adaptive Card */
    CARROT_CHANNEL_WEBHOOK, /* anyone's: signed JSON */
    CARROT_CHANNEL_EMAIL,   /* SMTP, to the participant's (or supervisor's) address */
    CARROT_CHANNEL_DISPLAY  /* the program's screens: the banner of carrot-board's TV page */
} carrot_channel_kind_t;

typedef struct carrot_notify_config_s carrot_notify_config_t;

/* Reads a configuration (YAML; README "Notifications" shows one). A webhook
 * secret is named by the environment variable that holds it (secret_env):
 * a config file is often world-readable. Refused, with the line: an unknown
 * key, trigger or channel, a template naming a field its trigger does not
 * have, a URL that is not http(s) (smtp(s) for e-mail), an address that is
 * not one, a time zone that is not one. NULL with errstr on failure; the
 * caller destroys what it gets. */
carrot_notify_config_t *carrot_notify_config_parse(const char *text, size_t len, const char *name,
                                                   char *errstr, size_t errstr_size);
carrot_notify_config_t *carrot_notify_config_load(const char *path, char *errstr,
                                                  size_t errstr_size);
void carrot_notify_config_destroy(carrot_notify_config_t *cfg); /* NULL is a no-op */

/* 1 when s is an address "local@domain.tld" that names nobody else: no
 * spaces, control characters, angle brackets, commas or quotes. */
int carrot_notify_email_ok(const char *s);

/* The text it was parsed from (len bytes, NUL-terminated): what is
 * published to the configuration topic. */
const char *carrot_notify_config_text(const carrot_notify_config_t *cfg, size_t *lenp);

/* Its "version:", recorded with every message queued under it. */
const char *carrot_notify_config_version(const carrot_notify_config_t *cfg);
/* Whether a trigger is on (has a channel). */
int carrot_notify_trigger_on(const carrot_notify_config_t *cfg, carrot_trigger_t t);
/* Its channels' count and the i-th's name; NULL out of range. */
int carrot_notify_channel_count(const carrot_notify_config_t *cfg);
const char *carrot_notify_channel_name(const carrot_notify_config_t *cfg, int i);

/* --- templates (template.c) ---------------------------------------------- */

/* Renders "{{field}}" placeholders of tmpl from fields (a JSON object of
 * strings and numbers; a missing field renders empty, control characters
 * are dropped). *outp is malloc'd. 0, or -1 when out of memory. */
int carrot_notify_render(const char *tmpl, const char *fields_json, char **outp);

/* 0 when every placeholder of tmpl is a field trigger t has; else -1 with
 * errstr naming the field and the fields there are. */
int carrot_notify_template_check(carrot_trigger_t t, const char *tmpl, char *errstr,
                                 size_t errstr_size);

/* --- the generic webhook's signature (sign.c) ---------------------------- */

/* "v1=" and the lowercase hex HMAC-SHA256 under secret of
 * "<timestamp>.<body>" (timestamp: Unix seconds, in X-Carrot-Timestamp).
 * out needs 68 bytes. 0, or -1. */
int carrot_notify_sign(const char *secret, size_t secret_len, int64_t timestamp, const char *body,
                       size_t body_len, char *out, size_t out_size);
/* The receiver's check, as documented: the signature matches (compared in
 * constant time) and the timestamp is within tolerance_s of now_s. 1 or 0. */
int carrot_notify_verify(const char *secret, size_t secret_len, const char *timestamp,
                         const char *signature, const char *body, size_t body_len, int64_t now_s,
                         int64_t tolerance_s);

/* --- triggers into the outbox (triggers.c, outbox.c) --------------------- */

typedef struct carrot_notifier_s carrot_notifier_t;

/* What the triggers read besides PostgreSQL: the boards (Redis) for rank
 * changes and the participants' names. All borrowed; redis_host NULL:
 * no rank triggers and ids for names. */
typedef struct {
    const carrot_notify_config_t *cfg;
    const char *redis_host;
    int redis_port;
    const char *awards_topic;
    /* the deployment: its consumer group; its triggers, outbox and places
     * are its own (NULL: "carrot-notify") */
    const char *name;
    /* this member of it (its group.instance.id): what it claims to send is
     * marked so, and released when it starts again (NULL: "") */
    const char *instance;
    /* how often the digests (points expiring, the weekly summaries) are
     * looked for, in ms; each is sent once per day or week either way */
    int64_t digest_ms;
} carrot_notifier_opts_t;

carrot_notifier_t *carrot_notifier_new(const carrot_notifier_opts_t *o, char *errstr,
                                       size_t errstr_size);
void carrot_notifier_destroy(carrot_notifier_t *n); /* NULL is a no-op */

/* Switches n to cfg (borrowed, as in carrot_notifier_opts_t; the caller may
 * destroy the one it replaces once this returns 0) between two batches:
 * each channel starts afresh (its connection, rate limit and hold), and
 * the rules followed for the promotion triggers are let go (call
 * carrot_notifier_follow_rules again). Messages already queued keep the
 * text and version they were queued with. -1 with errstr, n unchanged,
 * when n cannot serve cfg (a display channel without Redis). */
int carrot_notifier_set_config(carrot_notifier_t *n, const carrot_notify_config_t *cfg,
                               char *errstr, size_t errstr_size);

/* Follows each configured program's rules on the rules topic, for the
 * promotion triggers (which need the configuration's programs: list). conf
 * carries the kafka.* settings; borrowed for the call. -1 with errstr. */
int carrot_notifier_follow_rules(carrot_notifier_t *n, const carrot_conf_t *conf,
                                 const char *brokers, const char *topic, char *errstr,
                                 size_t errstr_size);

/* Where each partition of the awards topic resumes (notify_offsets;
 * RD_KAFKA_OFFSET_BEGINNING when never read). */
carrot_ledger_err_t carrot_notifier_positions(carrot_notifier_t *n, PGconn *pg,
                                              rd_kafka_topic_partition_list_t *parts, char *errstr,
                                              size_t errstr_size);

typedef struct {
    long awards, triggers, messages, skipped; /* skipped: opted out, no address */
} carrot_notify_stats_t;

/* Finds the triggers of n award messages (goals; rank changes on the
 * watched boards of the programs they touch) and queues their messages,
 * with the messages' places, in one transaction. An undecodable message is
 * counted and passed over (the ledger dead-letters it). RETRY: nothing was
 * kept. */
carrot_ledger_err_t carrot_notifier_awards(carrot_notifier_t *n, PGconn *pg,
                                           rd_kafka_message_t *const *msgs, size_t count,
                                           carrot_notify_stats_t *st, char *errstr,
                                           size_t errstr_size);

/* Finds the triggers the ledger's tables hold since the last look
 * (commitments settled, redemptions decided, sweepstakes drawn) and queues
 * their messages, with the cursors, in one transaction; and, every
 * digest_ms (calendar.c), points about to expire and last week's summaries. */
carrot_ledger_err_t carrot_notifier_ledger(carrot_notifier_t *n, PGconn *pg,
                                           carrot_notify_stats_t *st, char *errstr,
                                           size_t errstr_size);

/* --- delivery (deliver.c, send.c) ---------------------------------------- */

typedef struct {
    long sent, retried, dead, possibly_repeated, rate_limited, held;
} carrot_deliver_stats_t;

/* A message given up on, for the caller's dead-letter topic: borrowed for
 * the callback. */
typedef struct {
    long long message_id;
    const char *idempotency_key, *channel, *body, *reason;
    int status; /* the channel's last status, 0: none */
} carrot_notify_dead_t;

typedef void (*carrot_notify_dead_cb)(const carrot_notify_dead_t *d, void *opaque);

/* Sends up to max messages that are due, each marked sending (and
 * committed) first and its outcome after: sent; retried later, the delay
 * doubling from the configuration's base to its max; or dead (a permanent
 * refusal such as HTTP 400, or out of attempts), then handed to dead_cb.
 * A channel past its rate limit waits. *didp: how many were tried. */
carrot_ledger_err_t carrot_notifier_deliver(carrot_notifier_t *n, PGconn *pg, int max,
                                            carrot_notify_dead_cb dead_cb, void *opaque,
                                            carrot_deliver_stats_t *st, int *didp, char *errstr,
                                            size_t errstr_size);

/* Releases what this member had claimed to send when it stopped (a crash):
 * due now rather than when its lease ends. A message it was sending is sent
 * again, with its key. Call once at start, before delivering. */
carrot_ledger_err_t carrot_notifier_release(carrot_notifier_t *n, PGconn *pg, long *releasedp,
                                            char *errstr, size_t errstr_size);

/* Puts a dead message back in the outbox, due now. REFUSED: no such dead
 * message. */
carrot_ledger_err_t carrot_notify_replay(PGconn *pg, long long message_id, char *errstr,
                                         size_t errstr_size);

#endif
