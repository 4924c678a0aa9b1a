/* display.h: carrot-board's internals, shared by its files (private).
 *
 * carrot-board serves the boards to screens: a read-only JSON API under
 * /v1, Server-Sent Events that push each board as it changes, a TV page, a
 * participant's own page and a program manager's adoption page, all from
 * one libmicrohttpd daemon.
 *
 *   http.c    the daemon, routing, limits, headers, errors as JSON
 *   params.c  query parameters: parsed and bounded before anything runs
 *   api.c     the JSON endpoints (boards, around, standing, rules, me,
 *             adoption: the report of carrot/adoption.h, as it writes it)
 *   team.c    a supervisor's team: pacing and follow-ups (/v1/me/team)
 *   push.c    the SSE clients and the thread that feeds them from the
 *             boards' feed stream (exactly once: see ranking/feed.c)
 *   tokens.c  display, participant and manager tokens: hashed in
 *             PostgreSQL, cached, compared in constant time; the `token`
 *             command
 *   pages.c   the TV, participant, supervisor and adoption pages, compiled
 *             in; Chart.js, read from the system's copy at start
 *   main.c    the settings table, start and stop
 *
 * Request threads take a Redis handle, a directory handle and a libpq
 * connection from pools (none of them is thread safe). */
#ifndef CARROT_DISPLAY_H
#define CARROT_DISPLAY_H

#include "carrot/board.h"
#include "carrot/config.h"
#include "carrot/metrics.h"
#include "carrot/pool.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *listen, *redis_host, *pg_dsn, *brokers, *rules_topic, *programs, *allow_origin;
    char *log_level, *log_format, *metrics_listen, *chartjs;
    long long port, redis_port, redis_timeout_ms, threads, connection_limit,
        per_ip_connection_limit, request_timeout, max_sse_clients, sse_queue_bytes,
        push_interval_ms, heartbeat_ms, token_refresh_ms, top, metrics_port;
    int builtin_celebrations;
} display_conf_t;

#define DISPLAY_MAX_PROGRAMS 32
#define DISPLAY_ID_MAX 256 /* program, participant and board names, as the schemas bound them */

typedef struct display_s display_t;
typedef struct program_s program_t;

/* What a token lets its bearer read: a display token its program's boards,
 * rules and streams; a participant token /v1/me; a manager token what a
 * display token reads and its program's adoption report. */
typedef enum { TOKEN_DISPLAY, TOKEN_PARTICIPANT, TOKEN_MANAGER } token_kind_t;
typedef struct {
    token_kind_t kind;
    char token_id[64];
    char program[DISPLAY_ID_MAX + 1];
    char participant[DISPLAY_ID_MAX + 1]; /* TOKEN_PARTICIPANT */
} grant_t;

/* One request's borrowed clients (from the pools); given back by session_end. */
typedef struct {
    display_t *d;
    carrot_board_t *board;
    struct carrot_directory_s *dir;
    PGconn *pg; /* NULL until session_pg() */
} session_t;

/* --- tokens.c --- */
typedef struct tokens_s tokens_t;
tokens_t *tokens_new(const char *dsn, long long refresh_ms);
void tokens_destroy(tokens_t *t);
/* Checks a presented token: 1 with *g filled, 0 unknown or revoked, -1
 * when PostgreSQL could not be asked (errstr; the caller answers 503). */
int tokens_check(tokens_t *t, const char *presented, grant_t *g, char *errstr, size_t errstr_size);
/* carrot-board token add|list|revoke ...: the command's exit code. */
int tokens_command(int argc, char **argv);

/* --- params.c: every query parameter, checked --- */
typedef struct {
    char board[DISPLAY_ID_MAX + 64]; /* resolved: "w:2026-W47:seg:dealer" */
    int current;        /* a period at now (no at=): empty is a board yet to start, not a 404 */
    int named;          /* the request named the board (board=) */
    long limit, cursor; /* positions: cursor is the first 0-based position */
    long k;             /* around: entries either side */
    char participant[DISPLAY_ID_MAX + 1];
} query_t;
/* Fills q from the request's arguments (get(opaque, name) returns a
 * parameter or NULL); tz is the program's time zone, now_ms the clock.
 * 0, or -1 with errstr naming the parameter (a 400). Thread safe. */
int params_parse(const char *(*get)(void *opaque, const char *name), void *opaque, const char *tz,
                 int64_t now_ms, long max_limit, query_t *q, char *errstr, size_t errstr_size);
/* Whether s is a usable id (program, participant): 1..256 bytes of UTF-8,
 * no control characters. */
int params_id_ok(const char *s);

/* The adoption report's parameters; "" is "not given" (all, or the default). */
typedef struct {
    char period[8]; /* day, week, month, quarter (default week) */
    int periods;    /* 1 to 104 (default 8) */
    char segment[DISPLAY_ID_MAX + 1], band[DISPLAY_ID_MAX + 1], team[DISPLAY_ID_MAX + 1];
    char at[11]; /* YYYY-MM-DD, a real day */
} adoption_query_t;
/* Fills q as params_parse does: 0, or -1 with errstr naming the parameter
 * (a 400). Thread safe. */
int params_adoption(const char *(*get)(void *opaque, const char *name), void *opaque,
                    adoption_query_t *q, char *errstr, size_t errstr_size);

/* --- api.c --- */
/* An answer: status and a JSON body (owned), or JSON text as it is. */
typedef struct {
    unsigned status;
    json_t *body;
    const char *cache; /* Cache-Control */
    char *text;        /* when set, the body instead of body (owned, malloc'ed) */
} answer_t;
answer_t api_error(unsigned status, const char *reason);
/* Routes GET path (below /v1/) with its grant; never without a body. */
answer_t api_get(session_t *s, const grant_t *g, const char *path,
                 const char *(*get)(void *opaque, const char *name), void *opaque);
/* The JSON of a board's page, as the API and the push send it: entries
 * positions [start, start + limit) with names and changes. NULL with *st
 * on error. */
json_t *api_board_json(session_t *s, program_t *p, const char *board, long start, long limit,
                       unsigned *st, char *errstr, size_t errstr_size);

/* --- push.c --- */
typedef struct hub_s hub_t;
hub_t *hub_new(display_t *d);
/* Starts the feed threads; 0 or -1 with errstr. */
int hub_start(hub_t *h, char *errstr, size_t errstr_size);
void hub_destroy(hub_t *h); /* stops the threads, ends every stream */
/* Answers an SSE request for board of program p: queues the response. */
enum MHD_Result hub_subscribe(hub_t *h, session_t *s, struct MHD_Connection *c, program_t *p,
                              const char *board, const char *last_event_id);
/* Ends every stream (before the daemon stops: suspended streams must be resumed). */
void hub_close_all(hub_t *h);

/* --- pages.c --- */
/* The compiled-in file for path ("/tv.js"), its type; NULL when none. */
const char *pages_file(const char *path, const char **typep, size_t *lenp);
/* The whole file at path (malloc'ed, NUL-terminated; the caller frees it),
 * *lenp its length; NULL with errstr when it cannot be read or is over
 * max bytes. */
char *pages_read(const char *path, size_t max, size_t *lenp, char *errstr, size_t errstr_size);

/* --- http.c --- */
struct MHD_Daemon *http_start(display_t *d, char *errstr, size_t errstr_size);
/* Queues a (consumed) answer with its headers. */
enum MHD_Result http_answer(struct MHD_Connection *c, answer_t a);

/* --- the service --- */
struct program_s {
    char id[DISPLAY_ID_MAX + 1];
    pthread_mutex_t lock; /* rules and timezone below */
    char tz[128];
    struct carrot_rules_s *rules;
};

struct display_s {
    display_conf_t *cf;
    const carrot_conf_t *conf; /* kafka.* settings for the rules feed */
    carrot_metrics_t *metrics;
    carrot_pool_t *boards, *dirs, *pgs;
    tokens_t *tokens;
    hub_t *hub;
    char *chartjs; /* Chart.js as read at start (owned), or NULL: the adoption page draws none */
    size_t chartjs_len;
    int nprograms;
    program_t programs[DISPLAY_MAX_PROGRAMS];
    carrot_metric_t *m_requests, *m_errors, *m_sse_clients, *m_sse_dropped, *m_pushes,
        *m_unauthorized, *m_latency;
    atomic_int stop;
};

program_t *display_program(display_t *d, const char *id); /* NULL when not served */
/* Borrows clients for one request; session_end gives them back. */
void session_begin(session_t *s, display_t *d);
void session_end(session_t *s);
/* The request's PostgreSQL connection (opened on first use); NULL with errstr. */
PGconn *session_pg(session_t *s, char *errstr, size_t errstr_size);
/* The period ids of carrot/period.h are computed under one lock: the C
 * library's time zone is the process's. */
int display_period_of(int period, int64_t ms, const char *tz, char *id, size_t size);
/* The same for carrot_period_span(): the period's id, start and end. */
int display_period_span(int period, int64_t ms, const char *tz, char *id, size_t size,
                        int64_t *startp, int64_t *endp);

/* --- team.c --- */
/* GET /v1/me/team: a supervisor's pacing and follow-up list (g: their token). */
answer_t team_get(session_t *s, const grant_t *g);

#endif
