/* main.c: carrot-board's settings table and main(): the service (start,
 * serve, stop) and its `token` command. */
#include "carrot/config.h"
#include "carrot/directory.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/rules.h"
#include "carrot/timeutil.h"
#include "display.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHARTJS_MAX (16 << 20) /* bytes: chart.min.js 3.9 is 200 KB */

#define OFF(f) offsetof(display_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"listen", CARROT_CONF_STR, OFF(listen), "127.0.0.1", 0, 0,
     "address to listen on (0.0.0.0: every interface)"},
    {"port", CARROT_CONF_INT, OFF(port), "18090", 1, 65535, "TCP port of the API and the pages"},
    {"programs", CARROT_CONF_STR, OFF(programs), "default", 0, 0,
     "the programs served, comma-separated; any other is a 404"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0,
     "Redis host (the boards and the participants directory)"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"redis-timeout-ms", CARROT_CONF_INT, OFF(redis_timeout_ms), "2000", 10, 60000,
     "longest wait for a Redis reply; past it the request gets 503"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0,
     "PostgreSQL connection string (libpq): tokens, balances, awards and the adoption facts, read "
     "only"},
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0,
     "Kafka bootstrap servers, for the rules topic (\"\": no rules shown)"},
    {"rules-topic", CARROT_CONF_STR, OFF(rules_topic), "carrot.rules", 0, 0,
     "compacted topic the programs' rules are published to"},
    {"top", CARROT_CONF_INT, OFF(top), "10", 1, 100, "entries a pushed board carries"},
    {"builtin-celebrations", CARROT_CONF_BOOL, OFF(builtin_celebrations), "true", 0, 1,
     "the banner's own celebrations (goals, kept commitments and streaks from the feed, a new "
     "number one, a promotion starting); false when carrot-notify posts to the screens (a "
     "display channel), so each is told once, as its configuration words it"},
    {"push-interval-ms", CARROT_CONF_INT, OFF(push_interval_ms), "250", 50, 60000,
     "a board is pushed at most this often (changes in between are coalesced)"},
    {"heartbeat-ms", CARROT_CONF_INT, OFF(heartbeat_ms), "15000", 100, 300000,
     "a live stream with nothing to send gets a comment line this often (proxies' idle "
     "timeouts; a client that went away is found)"},
    {"max-sse-clients", CARROT_CONF_INT, OFF(max_sse_clients), "2000", 1, 100000,
     "most live streams open at once; more get 503"},
    {"sse-queue-bytes", CARROT_CONF_INT, OFF(sse_queue_bytes), "262144", 4096, 67108864,
     "a stream whose unsent data grows past this cannot keep up: it is ended and counted"},
    {"token-refresh-ms", CARROT_CONF_INT, OFF(token_refresh_ms), "5000", 0, 3600000,
     "a token is checked against PostgreSQL again after this long: how soon a revocation bites"},
    {"allow-origin", CARROT_CONF_STR, OFF(allow_origin), "", 0, 0,
     "the one origin (\"https://intranet.example.com\") allowed to read the API from a browser "
     "page of its own; empty: none (CORS closed)"},
    {"chartjs", CARROT_CONF_STR, OFF(chartjs), "/usr/share/javascript/chart.js/chart.min.js", 0, 0,
     "Chart.js 3, read at start and served to the adoption page (Debian's libjs-chart.js); "
     "missing or \"\": the page shows its tables without charts"},
    {"threads", CARROT_CONF_INT, OFF(threads), "4", 1, 256,
     "threads serving requests (libmicrohttpd's thread pool)"},
    {"connection-limit", CARROT_CONF_INT, OFF(connection_limit), "4096", 1, 65536,
     "most connections open at once, live streams included; more are closed as they come"},
    {"per-ip-connection-limit", CARROT_CONF_INT, OFF(per_ip_connection_limit), "0", 0, 65536,
     "most connections from one address (0: no limit: TVs behind one NAT look like one address)"},
    {"request-timeout", CARROT_CONF_INT, OFF(request_timeout), "60", 1, 3600,
     "seconds a connection may sit idle before it is closed (streams get a heartbeat every heartbeat-ms)"},
    CARROT_CONF_METRICS_ROWS(display_conf_t),
    CARROT_CONF_LOG_ROWS(display_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-board [settings], or carrot-board token add|list|revoke ...\n"
    "Serves the leaderboards to screens: a JSON API, live push, a TV page, participant pages and "
    "the managers' adoption page.";

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

program_t *display_program(display_t *d, const char *id) {
    for (int i = 0; i < d->nprograms; i++)
        if (strcmp(d->programs[i].id, id) == 0) return &d->programs[i];
    return NULL;
}

static void board_free(void *b) { carrot_board_destroy(b); }
static void dir_free(void *x) { carrot_directory_destroy(x); }
static void pg_free(void *pg) { PQfinish(pg); }

void session_begin(session_t *s, display_t *d) {
    const display_conf_t *cf = d->cf;
    *s = (session_t){.d = d};
    if (!(s->board = carrot_pool_take(d->boards)))
        s->board = carrot_board_new(cf->redis_host, (int)cf->redis_port, (int)cf->redis_timeout_ms);
    if (!(s->dir = carrot_pool_take(d->dirs)))
        s->dir = carrot_directory_new(cf->redis_host, (int)cf->redis_port,
                                      (int)cf->redis_timeout_ms);
}

PGconn *session_pg(session_t *s, char *errstr, size_t errstr_size) {
    if (s->pg) return s->pg;
    s->pg = carrot_pool_take(s->d->pgs);
    if (s->pg && PQstatus(s->pg) != CONNECTION_OK) PQreset(s->pg);
    if (!s->pg) s->pg = PQconnectdb(s->d->cf->pg_dsn);
    if (PQstatus(s->pg) != CONNECTION_OK) {
        snprintf(errstr, errstr_size, "PostgreSQL: %s", PQerrorMessage(s->pg));
        errstr[strcspn(errstr, "\n")] = '\0';
        PQfinish(s->pg);
        s->pg = NULL;
    }
    return s->pg;
}

void session_end(session_t *s) {
    carrot_pool_give(s->d->boards, s->board);
    carrot_pool_give(s->d->dirs, s->dir);
    carrot_pool_give(s->d->pgs, s->pg);
}

/* "a,b,c" into d->programs; 0, or -1 with errstr. */
static int programs(display_t *d, const char *list, char *errstr, size_t errstr_size) {
    char *copy = strdup(list), *save = NULL;
    if (!copy) return snprintf(errstr, errstr_size, "out of memory"), -1;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ') p++;
        if (!params_id_ok(p) || d->nprograms == DISPLAY_MAX_PROGRAMS || display_program(d, p)) {
            snprintf(errstr, errstr_size,
                     "programs: \"%s\" is not a program id, a repeat, or past "
                     "the %d a server serves",
                     p, DISPLAY_MAX_PROGRAMS);
            free(copy);
            return -1;
        }
        program_t *pr = &d->programs[d->nprograms++];
        snprintf(pr->id, sizeof(pr->id), "%s", p);
        pthread_mutex_init(&pr->lock, NULL);
    }
    free(copy);
    if (!d->nprograms) return snprintf(errstr, errstr_size, "programs: none given"), -1;
    return 0;
}

static int metrics_start(display_t *d, char *errstr, size_t errstr_size) {
    static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};
    carrot_metrics_t *m = d->metrics = carrot_metrics_new();
    if (!m || carrot_metrics_add_process(m, "carrot-board") != 0) goto oom;
    d->m_requests = carrot_metrics_counter(m, "carrot_board_requests_total",
                                           "HTTP requests received", NULL);
    d->m_errors = carrot_metrics_counter(m, "carrot_board_errors_total",
                                         "requests answered with a 4xx or 5xx status", NULL);
    d->m_unauthorized = carrot_metrics_counter(m, "carrot_board_unauthorized_total",
                                               "requests with an unknown or revoked token", NULL);
    d->m_sse_clients = carrot_metrics_gauge(m, "carrot_board_sse_clients",
                                            "live streams (SSE) open now", NULL);
    d->m_sse_dropped = carrot_metrics_counter(
        m, "carrot_board_sse_dropped_total",
        "live streams ended because the client could not keep up (sse-queue-bytes)", NULL);
    d->m_pushes = carrot_metrics_counter(m, "carrot_board_pushes_total",
                                         "streams woken to send a change", NULL);
    d->m_latency = carrot_metrics_histogram(m, "carrot_board_request_seconds",
                                            "time to answer a data request (not streams)", bounds,
                                            (int)(sizeof(bounds) / sizeof(bounds[0])));
    if (!d->m_requests || !d->m_errors || !d->m_unauthorized || !d->m_sse_clients ||
        !d->m_sse_dropped || !d->m_pushes || !d->m_latency)
        goto oom;
    if (d->cf->metrics_port &&
        carrot_metrics_serve(m, d->cf->metrics_listen, (int)d->cf->metrics_port, errstr,
                             errstr_size) != 0)
        return -1;
    return 0;
oom:
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "token") == 0) return tokens_command(argc - 1, argv + 1);
    display_conf_t cf;
    char errstr[512];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-board", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    static display_t d; /* programs[] is large */
    d.cf = &cf;
    d.conf = conf;
    struct MHD_Daemon *daemon = NULL;
    carrot_directory_t *probe = NULL;
    exit_code = 2;
    if (programs(&d, cf.programs, errstr, sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    exit_code = 1;
    if (cf.chartjs && cf.chartjs[0] &&
        !(d.chartjs = pages_read(cf.chartjs, CHARTJS_MAX, &d.chartjs_len, errstr, sizeof(errstr))))
        carrot_warn("chartjs: %s: the adoption page will show its tables without charts "
                    "(Debian package libjs-chart.js)",
                    errstr);
    size_t cap = (size_t)cf.threads + 1;
    if (!(d.boards = carrot_pool_new(cap, board_free)) ||
        !(d.dirs = carrot_pool_new(cap, dir_free)) || !(d.pgs = carrot_pool_new(cap, pg_free)) ||
        !(d.tokens = tokens_new(cf.pg_dsn, cf.token_refresh_ms)) || !(d.hub = hub_new(&d))) {
        carrot_error("out of memory");
        goto out;
    }
    if (metrics_start(&d, errstr, sizeof(errstr)) != 0 ||
        hub_start(d.hub, errstr, sizeof(errstr)) != 0 ||
        !(daemon = http_start(&d, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    carrot_metrics_check(d.metrics, "redis", 0, "not yet checked");
    carrot_metrics_check(d.metrics, "postgres", 0, "not yet checked");
    carrot_metrics_check(d.metrics, "http", 1, NULL);
    carrot_info("serving %d program%s on http://%s:%lld (TV: /tv/<program>?token=..., "
                "participant: /me?token=..., manager: /adoption?program=<program>&token=...)",
                d.nprograms, d.nprograms == 1 ? "" : "s", cf.listen, cf.port);
    /* readiness: Redis (boards, directory) and PostgreSQL (tokens, the ledger), every 2 s */
    probe = carrot_directory_new(cf.redis_host, (int)cf.redis_port, (int)cf.redis_timeout_ms);
    for (int64_t next = 0; !stop; usleep(100 * 1000)) {
        int64_t now = carrot_time_mono_ms();
        if (now < next || !probe) continue;
        next = now + 2000;
        int up = carrot_directory_ping(probe, errstr, sizeof(errstr)) == CARROT_DIRECTORY_OK;
        carrot_metrics_check(d.metrics, "redis", up, up ? NULL : errstr);
        up = PQping(cf.pg_dsn) == PQPING_OK;
        carrot_metrics_check(d.metrics, "postgres", up, up ? NULL : "PostgreSQL does not answer");
    }
    exit_code = 0;
out:
    carrot_directory_destroy(probe);
    atomic_store(&d.stop, 1);
    if (d.hub) hub_close_all(d.hub);
    if (daemon) {
        usleep(100 * 1000);   /* the streams just resumed send their end */
        hub_close_all(d.hub); /* and any that came in between */
        MHD_stop_daemon(daemon);
    }
    hub_destroy(d.hub);
    carrot_metrics_destroy(d.metrics);
    tokens_destroy(d.tokens);
    free(d.chartjs);
    carrot_pool_destroy(d.pgs);
    carrot_pool_destroy(d.dirs);
    carrot_pool_destroy(d.boards);
    for (int i = 0; i < d.nprograms; i++) {
        carrot_rules_destroy(d.programs[i].rules);
        pthread_mutex_destroy(&d.programs[i].lock);
    }
    carrot_info("stopped");
    carrot_conf_destroy(conf);
    return exit_code;
}
