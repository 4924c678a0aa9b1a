/* http.c: carrot-webhook's HTTP side: libmicrohttpd, the request limits, the connections. */
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum MHD_Result webhook_reply(struct MHD_Connection *c, unsigned int status, const char *json) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), (void *)json,
                                                                MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static conn_t *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state) {
    (void)version;
    webhook_t *w = cls;
    request_t *req = *state;
    if (!req) { /* the headers are in: refuse what cannot be a delivery before reading its body */
        atomic_fetch_add(&w->requests, 1);
        if (strcmp(url, w->cf->path) != 0) {
            atomic_fetch_add(&w->refused, 1);
            return webhook_reply(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
        }
        if (strcmp(method, "POST") != 0) {
            atomic_fetch_add(&w->refused, 1);
            return webhook_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"POST only\"}");
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = 0;
        if (cl) {
            char *end;
            errno = 0;
            declared = strtoull(cl, &end, 10);
            if (errno || *end || end == cl || declared > (unsigned long long)w->cf->max_body) {
                atomic_fetch_add(&w->refused, 1);
                return webhook_reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                     "{\"error\":\"body too large\"}");
            }
        }
        if (!(req = calloc(1, sizeof(*req)))) return MHD_NO;
        if (declared && !(req->body = malloc(declared))) {
            free(req);
            return MHD_NO;
        }
        req->cap = declared;
        *state = req;
        return MHD_YES;
    }
    if (*size) { /* a piece of the body: one without Content-Length is cut when it grows too big */
        if (req->len + *size > (size_t)w->cf->max_body) {
            atomic_fetch_add(&w->refused, 1);
            carrot_debug("closed a connection whose body grew past max-body (%lld bytes)",
                         w->cf->max_body);
            return MHD_NO;
        }
        if (req->len + *size > req->cap) {
            size_t cap = (req->len + *size) * 2;
            if (cap > (size_t)w->cf->max_body) cap = (size_t)w->cf->max_body;
            char *nb = realloc(req->body, cap);
            if (!nb) return MHD_NO;
            req->body = nb;
            req->cap = cap;
        }
        memcpy(req->body + req->len, data, *size);
        req->len += *size;
        *size = 0;
        return MHD_YES;
    }
    conn_t *conn = conn_of(c);
    if (conn) { /* from here on the time is ours (bounded by flush-timeout-ms), not the client's */
        pthread_mutex_lock(&w->lock);
        conn->busy = 1;
        pthread_mutex_unlock(&w->lock);
    }
    const char *target = conn && conn->uri ? conn->uri : url;
    char errstr[256];
    int bad = webhook_verify(w, c, method, target, req->body ? req->body : "", req->len, errstr,
                             sizeof(errstr));
    if (bad < 0) return MHD_NO; /* out of memory */
    if (bad) {
        atomic_fetch_add(&w->rejected, 1);
        carrot_warn("rejected a webhook: %s", errstr);
        char out[400];
        json_t *msg = json_pack("{ss}", "error", errstr);
        char *text = json_dumps(msg, JSON_COMPACT);
        snprintf(out, sizeof(out), "%s", text ? text : "{}");
        free(text);
        json_decref(msg);
        return webhook_reply(c, MHD_HTTP_UNAUTHORIZED, out);
    }
    return webhook_process(w, c, req->body ? req->body : "", req->len);
}

/* The request line is in: keep its URI as sent (libmicrohttpd hands the
 * handler the path alone, percent-decoded, but HubSpot signs what it sent). */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    conn_t *conn = conn_of(c);
    if (conn) {
        free(conn->uri);
        conn->uri = strdup(uri);
    }
    return NULL; /* the handler's first call still sees *state == NULL */
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe) {
    (void)toe;
    webhook_t *w = cls;
    request_t *req = *state;
    if (req) {
        free(req->body);
        free(req);
    }
    *state = NULL;
    conn_t *conn = conn_of(c);
    if (conn) { /* a kept-alive connection's next request starts its clock now */
        pthread_mutex_lock(&w->lock);
        conn->busy = 0;
        conn->start_ms = carrot_time_mono_ms();
        pthread_mutex_unlock(&w->lock);
    }
}

/* Tracks every connection for the request time limit. libmicrohttpd reports
 * CLOSED before it closes the socket, so a socket on the list is still open. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe) {
    webhook_t *w = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *conn = ci ? calloc(1, sizeof(*conn)) : NULL;
        *socket_context = conn;
        if (!conn) return; /* untracked: only libmicrohttpd's idle timeout applies */
        conn->fd = ci->connect_fd;
        conn->start_ms = carrot_time_mono_ms();
        pthread_mutex_lock(&w->lock);
        conn->next = w->conns;
        if (w->conns) w->conns->prev = conn;
        w->conns = conn;
        pthread_mutex_unlock(&w->lock);
        return;
    }
    conn_t *conn = *socket_context;
    if (!conn) return;
    pthread_mutex_lock(&w->lock);
    if (conn->prev) conn->prev->next = conn->next;
    else
        w->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    pthread_mutex_unlock(&w->lock);
    free(conn->uri);
    free(conn);
    *socket_context = NULL;
}

/* Shuts down the sockets of requests older than request-timeout: their
 * thread sees the end of the stream and closes the connection. */
void webhook_cut_slow_requests(webhook_t *w) {
    long long too_old = carrot_time_mono_ms() - w->cf->request_timeout * 1000;
    long long n = 0;
    pthread_mutex_lock(&w->lock);
    for (conn_t *conn = w->conns; conn; conn = conn->next)
        if (!conn->busy && !conn->cut && conn->start_ms < too_old) {
            shutdown(conn->fd, SHUT_RDWR);
            conn->cut = 1;
            n++;
        }
    pthread_mutex_unlock(&w->lock);
    if (n) {
        atomic_fetch_add(&w->cut, n);
        carrot_debug("closed %lld connections whose request took over %lld s", n,
                     w->cf->request_timeout);
    }
}

/* libmicrohttpd's messages, through Carrot's log. A flood (every connection
 * over a limit is one message) is cut to one line a second. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static long long last_s = -1, suppressed;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '.')) msg[--len] = '\0';
    long long now_s = carrot_time_mono_ms() / 1000, skipped = -1;
    pthread_mutex_lock(&lock);
    if (now_s != last_s) {
        skipped = suppressed;
        suppressed = 0;
        last_s = now_s;
    } else
        suppressed++;
    pthread_mutex_unlock(&lock);
    if (skipped > 0)
        carrot_warn("libmicrohttpd: %s (and %lld more messages in the last second)", msg, skipped);
    else if (skipped == 0)
        carrot_warn("libmicrohttpd: %s", msg);
}

struct MHD_Daemon *webhook_http_start(webhook_t *w, char *errstr, size_t errstr_size) {
    const webhook_conf_t *cf = w->cf;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cf->port)};
    if (inet_pton(AF_INET, cf->listen, &addr.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "listen: \"%s\" is not an IPv4 address", cf->listen);
        return NULL;
    }
    /* epoll (MHD_USE_AUTO on Linux): select() could not watch more than 1024 sockets */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cf->port,
        NULL, NULL, handler, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, /* first, or some escape it */
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cf->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cf->connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cf->per_ip_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cf->request_timeout,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, w, MHD_OPTION_URI_LOG_CALLBACK, uri_log, w,
        MHD_OPTION_NOTIFY_COMPLETED, completed, w, MHD_OPTION_END);
    if (!d) snprintf(errstr, errstr_size, "could not listen on %s:%lld", cf->listen, cf->port);
    return d;
}
