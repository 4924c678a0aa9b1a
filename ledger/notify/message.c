/* message.c: what each kind of channel is sent for one message: Slack's
 * Block Kit, a Teams Adaptive Card, the generic webhook's JSON, an e-mail,
 * a screen's banner.
 * The JSON is built by jansson, so no text from a CRM can break out of its
 * string; the e-mail's header values carry no line breaks (template.c drops
 * them from values, subject_value from a template's own text) and a subject
 * outside ASCII is RFC 2047 encoded. */
#include "notify_int.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Slack reads &, < and > in mrkdwn as markup ("<!channel>" pings a whole
 * channel): escaped as its documentation says. */
static char *slack_escape(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++) n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
    char *o = malloc(n + 1), *q = o;
    if (!o) return NULL;
    for (const char *p = s; *p; p++) {
        const char *r = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
        if (r) {
            memcpy(q, r, strlen(r));
            q += strlen(r);
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    return o;
}

static char *dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static char *slack(const notify_message_t *m) {
    char *t = slack_escape(m->text);
    if (!t) return NULL;
    json_t *j = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}]}", "text", t, "blocks", "type", "section",
                          "text", "type", "mrkdwn", "text", t);
    free(t);
    return dump(j);
}

static char *teams(const notify_message_t *m) {
    json_t *card = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:b}]}", "$schema",
                             "http://adaptivecards.io/schemas/adaptive-card.json", "type",
                             "AdaptiveCard", "version", "1.4", "body", "type", "TextBlock", "text",
                             m->text, "wrap", 1);
    if (!card) return NULL;
    return dump(json_pack("{s:s, s:[{s:s, s:o}]}", "type", "message", "attachments", "contentType",
                          "application/vnd.microsoft.card.adaptive", "content", card));
}

static char *webhook(const notify_message_t *m) {
    json_t *fields = json_loads(m->fields_json ? m->fields_json : "{}", 0, NULL);
    if (!fields) fields = json_object();
    char at[40];
    time_t s = (time_t)(m->occurred_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return dump(json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:o, s:s}", "id",
                          m->idempotency_key, "event", m->event_id, "trigger", m->trigger,
                          "program", m->program, "participant", m->participant, "recipient",
                          m->recipient, "occurred_at", at, "text", m->text, "fields", fields,
                          "config_version", m->config_version));
}

/* A screen's banner: the trigger's subject template as its title, else
 * these; the page shows both as text (never as markup). */
static const char *title_of(const char *trigger) {
    static const char *const titles[][2] = {{"goal", "Goal reached!"},
                                            {"number_one", "New number one!"},
                                            {"top_n", "Into the top!"},
                                            {"overtaken", "Overtaken!"},
                                            {"commitment_met", "Commitment kept!"},
                                            {"commitment_missed", "Commitment missed"},
                                            {"streak", "On a streak!"},
                                            {"redemption_fulfilled", "Reward on its way!"},
                                            {"redemption_rejected", "Reward refused"},
                                            {"draw_won", "Sweepstakes winner!"},
                                            {"points_expiring", "Points expiring"},
                                            {"weekly_summary", "Last week"},
                                            {"team_summary", "The team's week"},
                                            {"promotion_started", "Promotion on!"},
                                            {"promotion_ended", "Promotion over"}};
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        if (strcmp(titles[i][0], trigger) == 0) return titles[i][1];
    return "Well done!";
}

static char *display(const notify_message_t *m) {
    json_t *fields = json_loads(m->fields_json ? m->fields_json : "{}", 0, NULL);
    const char *name = json_string_value(json_object_get(fields, "name"));
    /* what a screen shows, and no more: every display token's stream carries it (the
     * participant's id is not on a screen; their name, the directory's, is) */
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "from", "notify", "kind", m->trigger,
                          "title", m->subject && *m->subject ? m->subject : title_of(m->trigger),
                          "text", m->text, "name", name ? name : m->participant, "message",
                          m->idempotency_key);
    json_decref(fields);
    return dump(j);
}

#define SUBJECT_MAX 200 /* bytes of the subject kept, a whole UTF-8 character at the end */

/* The Subject's value: one line (a template's line breaks and any control
 * character become spaces, so nothing can start a header), at most
 * SUBJECT_MAX bytes, and RFC 2047 encoded words of at most 75 characters
 * (folded) when it is not plain ASCII. out needs 400 bytes. */
static void subject_value(char *out, size_t size, const char *s) {
    char line[SUBJECT_MAX + 1];
    size_t n = 0;
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p && n < SUBJECT_MAX; p++) {
        line[n++] = (char)(*p < 0x20 || *p == 0x7f ? ' ' : *p);
        if (*p >= 0x80) ascii = 0;
    }
    while (n > 0 && ((unsigned char)line[n - 1] & 0xC0) == 0x80) n--; /* a cut character */
    if (n > 0 && (unsigned char)line[n - 1] >= 0xC0) n--;
    line[n] = '\0';
    if (ascii) {
        snprintf(out, size, "%s", line);
        return;
    }
    /* 45 bytes a word (60 of base64), never splitting a character */
    size_t o = 0;
    for (size_t at = 0; at < n && o + 90 < size;) {
        size_t take = n - at < 45 ? n - at : 45;
        while (take > 0 && at + take < n && ((unsigned char)line[at + take] & 0xC0) == 0x80) take--;
        if (!take) take = 1;
        unsigned char b64[64];
        int bl = EVP_EncodeBlock(b64, (const unsigned char *)line + at, (int)take);
        o += (size_t)snprintf(out + o, size - o, "%s=?UTF-8?B?%.*s?=", at ? "\r\n " : "", bl, b64);
        at += take;
    }
}

static char *email(const notify_message_t *m) {
    char subject[400], date[64], msgid[300];
    subject_value(subject, sizeof(subject), m->subject && *m->subject ? m->subject : m->text);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    /* the idempotency key as the Message-ID: a receiver that keeps ids drops a repeat */
    size_t k = 0;
    for (const char *p = m->idempotency_key; *p && k < 200; p++)
        msgid[k++] = (*p == '<' || *p == '>' || *p == ' ' || *p == '@') ? '.' : *p;
    msgid[k] = '\0';
    size_t lines = 0;
    for (const char *p = m->text; *p; p++) lines += *p == '\n';
    size_t need = strlen(subject) + strlen(m->from) + strlen(m->address) + 600;
    char *o = malloc(need + strlen(m->text) + lines + 3); /* each LF becomes CRLF */
    if (!o) return NULL;
    int n = snprintf(o, need,
                     "From: Carrot <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
                     "Message-ID: <%s@carrot>\r\nX-Carrot-Trigger: %s\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n\r\n",
                     m->from, m->address, subject, date, msgid, m->trigger);
    if (n < 0 || (size_t)n >= need) {
        free(o);
        return NULL;
    }
    /* the text, its lines ended CRLF as SMTP wants */
    char *q = o + n;
    for (const char *p = m->text; *p; p++) {
        if (*p == '\n') *q++ = '\r';
        *q++ = *p;
    }
    memcpy(q, "\r\n", 3);
    return o;
}

char *notify_body(carrot_channel_kind_t kind, const notify_message_t *m) {
    switch (kind) {
    case CARROT_CHANNEL_SLACK: return slack(m);
    case CARROT_CHANNEL_TEAMS: return teams(m);
    case CARROT_CHANNEL_WEBHOOK: return webhook(m);
    case CARROT_CHANNEL_EMAIL: return email(m);
    case CARROT_CHANNEL_DISPLAY: return display(m);
    }
    return NULL;
}
