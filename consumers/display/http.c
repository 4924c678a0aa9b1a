/* http.c: carrot-board's HTTP side: libmicrohttpd, routing, tokens on every
 * data request, the headers every answer carries (caching, ETag, CORS
 * closed unless allow-origin names an origin), and the limits. */
#include "carrot/directory.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "display.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void common_headers(struct MHD_Response *r) {
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer"); /* tokens ride in URLs */
}

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

typedef struct {
    struct MHD_Connection *c;
    display_t *d;
} req_t;

static const char *arg(void *opaque, const char *name) {
    return MHD_lookup_connection_value(((req_t *)opaque)->c, MHD_GET_ARGUMENT_KIND, name);
}

/* CORS: only the configured origin, and only when the request names it. */
static void cors(display_t *d, struct MHD_Connection *c, struct MHD_Response *r) {
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin && d->cf->allow_origin && *d->cf->allow_origin &&
        strcmp(origin, d->cf->allow_origin) == 0) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

static enum MHD_Result answer(display_t *d, struct MHD_Connection *c, answer_t a) {
    char *text = a.text ? a.text : a.body ? json_dumps(a.body, JSON_COMPACT) : NULL;
    json_decref(a.body);
    if (!text) {
        carrot_error("an answer with status %u had no body (a JSON value could not be built)",
                     a.status);
        return MHD_NO;
    }
    size_t len = strlen(text);
    char etag[40];
    snprintf(etag, sizeof(etag), "W/\"%016llx\"", (unsigned long long)fnv(text, len));
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    int revalidated = a.status == 200 && strcmp(a.cache, "no-cache") == 0 && inm &&
                      strcmp(inm, etag) == 0;
    struct MHD_Response *r = revalidated
                                 ? MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT)
                                 : MHD_create_response_from_buffer(len, text,
                                                                   MHD_RESPMEM_MUST_FREE);
    if (revalidated) free(text);
    if (!r) {
        if (!revalidated) free(text);
        return MHD_NO;
    }
    common_headers(r);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", a.cache);
    if (a.status == 200 && strcmp(a.cache, "no-cache") == 0)
        MHD_add_response_header(r, "ETag", etag);
    if (a.status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (a.status == 405) MHD_add_response_header(r, "Allow", "GET, HEAD");
    if (d) cors(d, c, r);
    if (a.status >= 400) carrot_metric_add(d ? d->m_errors : NULL, 1);
    enum MHD_Result rc = MHD_queue_response(c, revalidated ? MHD_HTTP_NOT_MODIFIED : a.status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result http_answer(struct MHD_Connection *c, answer_t a) { return answer(NULL, c, a); }

static enum MHD_Result file(display_t *d, struct MHD_Connection *c, const char *path) {
    const char *type = "text/javascript; charset=utf-8";
    size_t len = d->chartjs_len;
    /* Chart.js, for the adoption page, as read at start (the system's copy) */
    int chartjs = strcmp(path, "/chart.min.js") == 0;
    const char *body = chartjs ? d->chartjs : pages_file(path, &type, &len);
    if (!body)
        return answer(NULL, c,
                      api_error(404, chartjs ? "Chart.js is not on this server (Debian package "
                                               "libjs-chart.js, or --chartjs)"
                                             : "no such page"));
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    common_headers(r);
    MHD_add_response_header(r, "Content-Type", type);
    /* pages carry no data (they fetch it with their token): cacheable, briefly */
    MHD_add_response_header(r, "Cache-Control", "public, max-age=300");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* The token of a request: "Authorization: Bearer T", or ?token=T (kiosk
 * URLs and EventSource, which cannot set headers). */
static const char *token_of(struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0) return h + 7;
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state) {
    (void)version;
    (void)data;
    display_t *d = cls;
    int read_only = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!*state) {
        *state = (void *)1;
        if (!read_only) { /* at once, body unread: libmicrohttpd closes the connection after */
            carrot_metric_add(d->m_requests, 1);
            return answer(d, c, api_error(405, "read only: GET"));
        }
        /* a GET is answered on the next call, once its (empty) body is read: an
         * answer queued before that makes libmicrohttpd close the connection */
        return MHD_YES;
    }
    if (*size) return MHD_NO; /* a GET with a body: close */
    carrot_metric_add(d->m_requests, 1);
    if (strlen(url) > 1024) return answer(d, c, api_error(414, "URL too long"));
    if (strncmp(url, "/static/", 8) == 0) return file(d, c, url + 7);
    if (strncmp(url, "/tv/", 4) == 0) return file(d, c, "/tv.html");
    if (strcmp(url, "/me") == 0) return file(d, c, "/me.html");
    if (strcmp(url, "/team") == 0) return file(d, c, "/team.html");
    if (strcmp(url, "/adoption") == 0) return file(d, c, "/adoption.html");
    if (strncmp(url, "/v1/", 4) != 0) return answer(d, c, api_error(404, "no such page"));
    int64_t t0 = carrot_time_mono_ms();
    const char *tok = token_of(c);
    if (!tok || !*tok) return answer(d, c, api_error(401, "a token is needed"));
    grant_t g;
    char errstr[512];
    int ok = tokens_check(d->tokens, tok, &g, errstr, sizeof(errstr));
    if (ok < 0) {
        carrot_warn("tokens: %s", errstr);
        return answer(d, c, api_error(503, "tokens cannot be checked right now"));
    }
    if (!ok) {
        carrot_metric_add(d->m_unauthorized, 1);
        return answer(d, c, api_error(401, "unknown or revoked token"));
    }
    req_t rq = {c, d};
    session_t s;
    session_begin(&s, d);
    enum MHD_Result rc;
    if (!s.board || !s.dir) rc = answer(d, c, api_error(503, "out of memory"));
    else {
        const char *path = url + 4;
        size_t n = strlen(path);
        if (strncmp(path, "programs/", 9) == 0 && n > 7 && strcmp(path + n - 7, "/events") == 0) {
            char id[DISPLAY_ID_MAX + 1];
            size_t idlen = n - 9 - 7;
            program_t *p = NULL;
            if (idlen <= DISPLAY_ID_MAX) {
                snprintf(id, sizeof(id), "%.*s", (int)idlen, path + 9);
                p = display_program(d, id);
            }
            char tz[128] = "UTC", vv[64];
            query_t q;
            if (!p) rc = answer(d, c, api_error(404, "unknown program"));
            else if ((g.kind != TOKEN_DISPLAY && g.kind != TOKEN_MANAGER) ||
                     strcmp(g.program, p->id) != 0)
                rc = answer(d, c,
                            api_error(403, "a display or manager token of this program is needed"));
            else {
                pthread_mutex_lock(&p->lock);
                if (p->tz[0]) snprintf(tz, sizeof(tz), "%s", p->tz);
                pthread_mutex_unlock(&p->lock);
                if (!p->tz[0])
                    carrot_board_get_meta(s.board, p->id, tz, sizeof(tz), vv, sizeof(vv), errstr,
                                          sizeof(errstr));
                if (!tz[0]) snprintf(tz, sizeof(tz), "UTC");
                if (params_parse(arg, &rq, tz, carrot_time_now_ms(), 100, &q, errstr,
                                 sizeof(errstr)) != 0)
                    rc = answer(d, c, api_error(400, errstr));
                else {
                    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                   "Last-Event-ID");
                    if (!last) last = arg(&rq, "last_event_id");
                    rc = hub_subscribe(d->hub, &s, c, p, q.board, last);
                }
            }
        } else {
            rc = answer(d, c, api_get(&s, &g, path, arg, &rq));
        }
    }
    session_end(&s);
    carrot_metric_observe(d->m_latency, (double)(carrot_time_mono_ms() - t0) / 1000.0);
    return rc;
}

struct MHD_Daemon *http_start(display_t *d, char *errstr, size_t errstr_size) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->cf->port)};
    if (inet_pton(AF_INET, d->cf->listen, &addr.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "listen: not an IPv4 address: %s", d->cf->listen);
        return NULL;
    }
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        (uint16_t)d->cf->port, NULL, NULL, handler, d, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)d->cf->threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)d->cf->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)d->cf->per_ip_connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)d->cf->request_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
        MHD_OPTION_END);
    if (!daemon)
        snprintf(errstr, errstr_size, "cannot listen on %s:%lld (taken, or not this host's)",
                 d->cf->listen, d->cf->port);
    return daemon;
}
