/* send.c: one delivery over libcurl: an HTTP POST of JSON (Slack, Teams,
 * the generic webhook, signed) or an e-mail over SMTP; and what the answer
 * means: sent, try again later (a timeout, a refused connection, 408, 425,
 * 429, 5xx, SMTP 4xx), or never (any other 4xx, SMTP 5xx). */
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *buf;
    size_t len;
} answer_t;

/* Keeps the first NOTIFY_ANSWER_MAX bytes of the answer; reads the rest. */
static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    answer_t *a = arg;
    size_t got = size * n, room = NOTIFY_ANSWER_MAX - a->len;
    if (got < room) room = got;
    memcpy(a->buf + a->len, p, room);
    a->len += room;
    a->buf[a->len] = '\0';
    return got;
}

typedef struct {
    const char *p;
    size_t left;
} upload_t;

static size_t on_read(char *out, size_t size, size_t n, void *arg) {
    upload_t *u = arg;
    size_t room = size * n, take = u->left < room ? u->left : room;
    memcpy(out, u->p, take);
    u->p += take;
    u->left -= take;
    return take;
}

/* A 429's or 503's Retry-After (seconds), into the result's retry_after_ms. */
static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    send_result_t *res = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        long s = strtol(p + 12, NULL, 10);
        if (s > 0 && s < 86400) res->retry_after_ms = (int64_t)s * 1000;
    }
    return len;
}

/* Only printable text of an answer goes into the log. */
static void printable(char *s) {
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\n') *p = ' ';
}

void notify_send(void **handlep, const notify_channel_t *ch, const char *idempotency_key,
                 const char *address, const char *body, int64_t timeout_ms, send_result_t *res) {
    memset(res, 0, sizeof(*res));
    answer_t ans = {res->answer, 0};
    /* one handle per channel, kept: its connection is reused (keep-alive) */
    CURL *c = *handlep ? *handlep : (*handlep = curl_easy_init());
    if (!c) {
        res->outcome = SEND_RETRY;
        snprintf(res->answer, sizeof(res->answer), "libcurl: out of memory");
        return;
    }
    curl_easy_reset(c); /* the options of the last send are not this one's */
    struct curl_slist *hdrs = NULL, *rcpt = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, ch->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 5000 ? timeout_ms : 5000));
    /* only what the configuration names: no redirects to elsewhere, no file:// */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    upload_t up = {body, strlen(body)};
    char line[400];
    if (ch->kind == CARROT_CHANNEL_EMAIL) {
        rcpt = curl_slist_append(NULL, address);
        /* smtp:// upgrades with STARTTLS when the server offers it; smtps:// is TLS throughout */
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, ch->from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.left);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
        snprintf(line, sizeof(line), "Idempotency-Key: %s", idempotency_key);
        hdrs = curl_slist_append(hdrs, line);
        if (ch->kind == CARROT_CHANNEL_WEBHOOK) {
            int64_t ts = carrot_time_wall_ms() / 1000;
            char sig[80];
            if (carrot_notify_sign(ch->secret, ch->secret_len, ts, body, strlen(body), sig,
                                   sizeof(sig)) == 0) {
                snprintf(line, sizeof(line), "X-Carrot-Timestamp: %" PRId64, ts);
                hdrs = curl_slist_append(hdrs, line);
                snprintf(line, sizeof(line), "X-Carrot-Signature: %s", sig);
                hdrs = curl_slist_append(hdrs, line);
            }
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.left);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    res->status = (int)code;
    if (ch->kind == CARROT_CHANNEL_EMAIL) {
        if (rc == CURLE_OK) res->outcome = SEND_OK;
        else if (code >= 500 && code < 600 && rc != CURLE_OPERATION_TIMEDOUT)
            res->outcome = SEND_DEAD; /* the server refuses it for good */
        else
            res->outcome = SEND_RETRY;
        snprintf(res->answer, sizeof(res->answer), "%s%s%s",
                 rc == CURLE_OK ? "accepted" : curl_easy_strerror(rc), errbuf[0] ? ": " : "",
                 errbuf);
    } else if (rc != CURLE_OK) {
        res->outcome = SEND_RETRY; /* no answer: refused, reset, timed out */
        snprintf(res->answer, sizeof(res->answer), "%s%s%s", curl_easy_strerror(rc),
                 errbuf[0] ? ": " : "", errbuf);
    } else if (code >= 200 && code < 300) {
        res->outcome = SEND_OK;
    } else if (code == 408 || code == 425 || code == 429 || code >= 500) {
        res->outcome = SEND_RETRY;
    } else {
        res->outcome = SEND_DEAD;
    }
    if (!res->answer[0]) snprintf(res->answer, sizeof(res->answer), "HTTP %ld", code);
    printable(res->answer);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(rcpt);
}

void notify_send_close(void **handlep) {
    if (*handlep) curl_easy_cleanup(*handlep);
    *handlep = NULL;
}
