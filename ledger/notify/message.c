/* message.c: what each kind of channel is sent for one message: Slack's
 * Block Kit, a Teams Adaptive Card, the generic webhook's JSON, an e-mail.
 * The JSON is built by jansson, so no text from a CRM can break out of its
 * string; the e-mail's header values carry no line breaks (template.c drops
 * them) and a subject outside ASCII is RFC 2047 encoded. */
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

/* "=?UTF-8?B?...?=" when s is not plain ASCII. */
static int header_value(char *out, size_t size, const char *s) {
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80) ascii = 0;
    if (ascii) return snprintf(out, size, "%s", s) < (int)size ? 0 : -1;
    size_t n = strlen(s);
    if (n > 600) n = 600;
    unsigned char b64[820];
    int bl = EVP_EncodeBlock(b64, (const unsigned char *)s, (int)n);
    return snprintf(out, size, "=?UTF-8?B?%.*s?=", bl, b64) < (int)size ? 0 : -1;
}

static char *email(const notify_message_t *m) {
    char subject[900], date[64], msgid[300];
    if (header_value(subject, sizeof(subject), m->subject && *m->subject ? m->subject : m->text))
        return NULL;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    /* the idempotency key as the Message-ID: a receiver that keeps ids drops a repeat */
    size_t k = 0;
    for (const char *p = m->idempotency_key; *p && k < 200; p++)
        msgid[k++] = (*p == '<' || *p == '>' || *p == ' ' || *p == '@') ? '.' : *p;
    msgid[k] = '\0';
    size_t need = strlen(m->text) + strlen(subject) + strlen(m->from) + strlen(m->address) + 600;
    char *o = malloc(need + strlen(m->text) / 2 + 8);
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
    }
    return NULL;
}
