/* bench_notify: how fast carrot-notify turns a burst of awards into delivered messages, against
 * a plain consume of the same topic in the same run; and whether its memory stays flat while
 * the receiver is down for minutes (the outbox should grow on disk, not in memory).
 *
 * 1. The burst. carrot-notify runs (its own group, one webhook channel, the goal trigger on
 *    it only, --redis-host "": no rank triggers) against a fresh topic, and a receiver in this
 *    process that answers every POST at once (HTTP/1.1 keep-alive, 200, no body) records when
 *    each message arrived, by the award id in its body. After a warm-up award has gone all
 *    the way through, --awards awards (--goals of them goal awards, "goal.<x>" with points,
 *    each for a participant of its own; the rest plain calls of 5 points) are committed in
 *    one Kafka transaction. Figures, from that commit: when carrot-notify has read them all
 *    and queued their triggers (its carrot_notify_awards_total reaches the count: it counts a
 *    batch once its transaction committed), when the receiver has every message, and each
 *    message's commit-to-receipt latency. Baseline, in the same run and from the same commit:
 *    a plain read_committed consumer of the same topic (a thread of this process, waiting on
 *    it beside carrot-notify), reading every message and doing nothing with it but note when
 *    it came.
 * 2. The outage (--down-seconds; 0: skipped). The receiver closes its listening socket and
 *    its connections, so every delivery is refused; --down-goals more goal awards are
 *    committed at once; carrot-notify's VmRSS and the outbox's pending rows are sampled every
 *    --sample-seconds until the outage ends. Then the receiver listens again and the drain is
 *    timed (the first delivery waits for the message's next retry: the backoff is the
 *    configuration's, --retry-base-ms and --retry-max-ms).
 *
 * carrot-notify's tables are in a database of the bench's own, made for the run (so the outbox's
 * size on disk is the bench's alone, and the schema is the one this carrot-notify migrates to)
 * and dropped at the end with the bench's topics. Needs the services of deploy/services.sh and a
 * role that may CREATE DATABASE. Reports figures and ratios; asserts nothing about timing. */
#include "carrot/award.h"
#include "carrot/config.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *brokers, *pg_dsn;
    long long awards, goals, partitions, down_seconds, down_goals, sample_seconds, batch_size,
        deliver_batch, retry_base_ms, retry_max_ms, metrics_port, timeout;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string (carrot-notify's outbox)"},
    {"awards", CARROT_CONF_INT, OFF(awards), "100000", 10, 100000000,
     "awards in the burst, one Kafka transaction"},
    {"goals", CARROT_CONF_INT, OFF(goals), "10000", 1, 100000000,
     "of them goal awards (each a message), spread evenly, each for a participant of its own"},
    {"partitions", CARROT_CONF_INT, OFF(partitions), "6", 1, 1000, "partitions of the topic"},
    {"down-seconds", CARROT_CONF_INT, OFF(down_seconds), "120", 0, 86400,
     "how long the receiver is down (connections refused) in the second phase; 0: no outage"},
    {"down-goals", CARROT_CONF_INT, OFF(down_goals), "10000", 1, 100000000,
     "goal awards committed at once when the receiver has gone down"},
    {"sample-seconds", CARROT_CONF_INT, OFF(sample_seconds), "5", 1, 3600,
     "how often carrot-notify's RSS and the outbox are sampled during the outage"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "2000", 1, 100000,
     "carrot-notify --batch-size (its default)"},
    {"deliver-batch", CARROT_CONF_INT, OFF(deliver_batch), "20", 1, 64,
     "carrot-notify --deliver-batch (its default)"},
    {"retry-base-ms", CARROT_CONF_INT, OFF(retry_base_ms), "1000", 1, 86400000,
     "the configuration's retry.base_ms (its default)"},
    {"retry-max-ms", CARROT_CONF_INT, OFF(retry_max_ms), "30000", 1, 86400000,
     "the configuration's retry.max_ms: after the outage a message waits up to this long for "
     "its next attempt"},
    {"metrics-port", CARROT_CONF_INT, OFF(metrics_port), "0", 0, 65535,
     "carrot-notify's --metrics-port (0: a free one)"},
    {"timeout", CARROT_CONF_INT, OFF(timeout), "900", 10, 86400,
     "seconds to wait for any one step (the warm-up, the burst, the drain) before giving up"},
    CARROT_CONF_END};

#define SECRET_ENV "CARROT_BENCH_NOTIFY_SECRET"

static pid_t child;           /* carrot-notify while it runs */
static char log_path[256];    /* its stdout and stderr */
static char config_path[256]; /* its configuration while it exists */
static PGconn *admin;         /* to the --pg-dsn database, while the bench's own exists */
static PGconn *pg;            /* to the bench's own */
static char dbname[64];

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Stops pid (SIGTERM, SIGKILL after 30 s) and reaps it: its exit status, or -1. */
static int stop_child(pid_t pid) {
    int status;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void drop_database(void) {
    char sql[128];
    if (pg) PQfinish(pg);
    pg = NULL;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", dbname);
    PGresult *r = PQexec(admin, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        carrot_warn("could not drop the bench's database: %s", PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    admin = NULL;
}

static _Noreturn void die(const char *what) {
    carrot_error("%s", what);
    if (child > 0) stop_child(child);
    if (admin) drop_database();
    if (config_path[0]) unlink(config_path);
    if (log_path[0]) carrot_error("carrot-notify's log is kept in %s", log_path);
    exit(1);
}

static double mib(long kib) { return (double)kib / 1024.0; }

/* ---- the receiver: an HTTP server thread that answers at once ---------------------------- */

#define MAX_CONNS 32

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
} conn_t;

typedef struct {
    int port, lfd;
    atomic_int want_up, is_up, stop, warm;
    char prefix[160]; /* "\"event\":\"goal:<P>:": what precedes the award id in a body */
    size_t prefix_len;
    int64_t *recv; /* per award index: µs of its message's arrival, 0 until then */
    long long nidx;
    atomic_llong got, repeats, unknown, requests;
    conn_t conns[MAX_CONNS];
} receiver_t;

/* Listens on 127.0.0.1:port (0: any free port, then kept, so the channel's URL stays right
 * across an outage). Close-on-exec: carrot-notify, forked from this process, must not hold
 * the socket open while it is meant to be closed. 0, or -1. */
static int listen_up(receiver_t *r) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof(a);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    r->port = ntohs(a.sin_port);
    r->lfd = fd;
    return 0;
}

static void conn_close(conn_t *c) {
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* The first place of needle in hay[0..n). */
static const char *find(const char *hay, size_t n, const char *needle, size_t nl) {
    for (size_t i = 0; i + nl <= n; i++)
        if (memcmp(hay + i, needle, nl) == 0) return hay + i;
    return NULL;
}

/* One request's body: whose award it was, noted with the time t it was read in full. */
static void note(receiver_t *r, const char *body, size_t n, int64_t t) {
    const char *p = find(body, n, r->prefix, r->prefix_len);
    if (!p) {
        atomic_fetch_add(&r->unknown, 1);
        return;
    }
    p += r->prefix_len;
    if (p < body + n && *p == 'w') {
        atomic_store(&r->warm, 1);
        return;
    }
    long long i = p < body + n && *p == 'a' ? strtoll(p + 1, NULL, 10) : -1;
    if (i < 0 || i >= r->nidx) atomic_fetch_add(&r->unknown, 1);
    else if (r->recv[i])
        atomic_fetch_add(&r->repeats, 1);
    else {
        r->recv[i] = t;
        atomic_fetch_add(&r->got, 1); /* after the store: the main thread reads recv[] by it */
    }
}

/* Answers every complete request in the connection's buffer; -1 when it should close. */
static int serve(receiver_t *r, conn_t *c) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (;;) {
        const char *end = find(c->buf, c->len, "\r\n\r\n", 4);
        if (!end) return c->len > 65536 ? -1 : 0;
        size_t head = (size_t)(end - c->buf) + 4, cl = 0;
        for (const char *l = c->buf; l && l < end; l = find(l, (size_t)(end - l), "\r\n", 2)) {
            if (*l == '\r') l += 2;
            if (strncasecmp(l, "Content-Length:", 15) == 0) cl = (size_t)strtoul(l + 15, NULL, 10);
        }
        if (c->len < head + cl) return 0;
        int64_t t = now_us();
        atomic_fetch_add(&r->requests, 1);
        note(r, c->buf + head, cl, t);
        if (write(c->fd, ok, sizeof(ok) - 1) != (ssize_t)(sizeof(ok) - 1)) return -1;
        memmove(c->buf, c->buf + head + cl, c->len - head - cl);
        c->len -= head + cl;
    }
}

static void *receiver_main(void *arg) {
    receiver_t *r = arg;
    struct pollfd fds[MAX_CONNS + 1];
    int who[MAX_CONNS + 1];
    while (!atomic_load(&r->stop)) {
        int want = atomic_load(&r->want_up);
        if (want && r->lfd < 0) {
            if (listen_up(r) == 0) atomic_store(&r->is_up, 1);
            else
                sleep_ms(10);
        } else if (!want && r->lfd >= 0) { /* down: new connections refused, open ones closed */
            close(r->lfd);
            r->lfd = -1;
            for (int i = 0; i < MAX_CONNS; i++)
                if (r->conns[i].fd >= 0) conn_close(&r->conns[i]);
            atomic_store(&r->is_up, 0);
        }
        int n = 0;
        if (r->lfd >= 0) {
            fds[n] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
            who[n++] = -1;
        }
        for (int i = 0; i < MAX_CONNS; i++)
            if (r->conns[i].fd >= 0) {
                fds[n] = (struct pollfd){.fd = r->conns[i].fd, .events = POLLIN};
                who[n++] = i;
            }
        if (poll(fds, (nfds_t)n, 20) <= 0) continue;
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents) continue;
            if (who[k] < 0) {
                int fd;
                while ((fd = accept(r->lfd, NULL, NULL)) >= 0) {
                    fcntl(fd, F_SETFD, FD_CLOEXEC);
                    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                    int one = 1; /* each answer goes out at once, not held for more to send */
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    int slot = -1;
                    for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                        if (r->conns[i].fd < 0) slot = i;
                    if (slot < 0) {
                        close(fd);
                        continue;
                    }
                    r->conns[slot].fd = fd;
                }
                continue;
            }
            conn_t *c = &r->conns[who[k]];
            for (;;) {
                if (c->cap - c->len < 16384) {
                    size_t cap = c->cap ? c->cap * 2 : 65536;
                    char *b = realloc(c->buf, cap);
                    if (!b) die("out of memory");
                    c->buf = b;
                    c->cap = cap;
                }
                ssize_t got = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (got > 0) {
                    c->len += (size_t)got;
                    continue;
                }
                if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || serve(r, c) != 0)
                    conn_close(c);
                break;
            }
        }
    }
    if (r->lfd >= 0) close(r->lfd);
    for (int i = 0; i < MAX_CONNS; i++)
        if (r->conns[i].fd >= 0) conn_close(&r->conns[i]);
    return NULL;
}

/* Asks the receiver thread to go up or down and waits until it has. */
static void receiver_set(receiver_t *r, int up) {
    atomic_store(&r->want_up, up);
    for (int i = 0; atomic_load(&r->is_up) != up; i++) {
        if (i > 3000) die(up ? "the receiver could not listen again" : "the receiver did not stop");
        sleep_ms(1);
    }
}

/* ---- the baseline: a plain read_committed consumer of the same topic --------------------- */

typedef struct {
    const bench_conf_t *cf;
    const char *topic, *group;
    int64_t *seen; /* per award index: µs it was consumed, 0 until then */
    long long nidx, want;
    atomic_llong count;
    atomic_int warm, stop, failed;
    int64_t last; /* µs of the last award consumed */
} plain_t;

/* Reads the topic from its start, noting when each message came by the award index in its
 * carrot.offset header (the bench puts it there), until it has read want of them. */
static void *plain_main(void *arg) {
    plain_t *p = arg;
    char errstr[512];
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, p->cf->brokers, NULL, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "group.id", p->group, errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "isolation.level", "read_committed", errstr, sizeof(errstr))) {
        carrot_error("%s", errstr);
        atomic_store(&p->failed, 1);
        return NULL;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, sizeof(errstr));
    if (!c) {
        carrot_error("%s", errstr);
        atomic_store(&p->failed, 1);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(
        (int)p->cf->partitions);
    for (int i = 0; i < p->cf->partitions; i++)
        rd_kafka_topic_partition_list_add(parts, p->topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    long long count = 0;
    while (!atomic_load(&p->stop) && count < p->want) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) continue;
        int64_t t = now_us();
        rd_kafka_headers_t *h;
        const void *v;
        size_t vl;
        if (!m->err && rd_kafka_message_headers(m, &h) == 0 &&
            rd_kafka_header_get_last(h, "carrot.offset", &v, &vl) == 0 && v && vl < 24) {
            char num[24];
            memcpy(num, v, vl);
            num[vl] = '\0';
            long long i = strtoll(num, NULL, 10);
            if (i < 0) atomic_store(&p->warm, 1);
            else if (i < p->nidx && !p->seen[i]) {
                p->seen[i] = p->last = t;
                atomic_store(&p->count, ++count);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return NULL;
}

/* ---- awards ---------------------------------------------------------------------------------- */

typedef struct {
    rd_kafka_t *rk; /* transactional */
    carrot_codec_t *codec;
    const char *topic, *program;
} producer_t;

/* Award index i of the bench (-1: the warm-up): a goal's bonus or a plain call. Goals are spread
 * evenly over the first --awards; every award from there on (the outage's) is a goal. The index
 * travels in the award id (the receiver reads it back from the message's event id) and in the
 * carrot.offset header (for the plain consumer, which decodes nothing). */
static void produce_award(const bench_conf_t *cf, producer_t *p, long long i) {
    char id[32], event[40], who[48], errstr[512];
    long long n = cf->awards, g = cf->goals;
    int goal = i < 0 || i >= n || ((i + 1) * g) / n != (i * g) / n;
    long long j = i < 0 ? 0 : i < n ? (i * g) / n : (i - n) % g; /* whose goal it leads to */
    if (i < 0) snprintf(id, sizeof(id), "w0");
    else
        snprintf(id, sizeof(id), "a%lld", i);
    snprintf(event, sizeof(event), "e-%s", id);
    snprintf(who, sizeof(who), "%sp%07lld", i < 0 ? "warm-" : "", j);
    int64_t now = carrot_time_now_ms();
    carrot_award_t a = {.award_id = id,
                        .program_id = p->program,
                        .event_id = event,
                        .participant_id = who,
                        .segment = "direct",
                        .activity_type = "call",
                        .rule_id = goal ? (i < n ? "goal.ten-calls" : "goal.more-calls")
                                        : "base.call",
                        .rules_version = "bench",
                        .points = goal ? 50 : 5,
                        .occurred_at = now,
                        .awarded_at = now};
    if (carrot_kafka_produce_award(p->rk, p->codec, p->topic, &a, "bench", i, -1, errstr,
                                   sizeof(errstr)) != 0)
        die(errstr);
}

/* Awards [from, from + count) (or the warm-up, from -1 and count 1) in one transaction: the
 * µs its commit returned. */
static int64_t commit_awards(const bench_conf_t *cf, producer_t *p, long long from,
                             long long count) {
    char msg[600];
    rd_kafka_error_t *err = rd_kafka_begin_transaction(p->rk);
    for (long long i = from; !err && i < from + count; i++) {
        produce_award(cf, p, i);
        if (i % 1000 == 0) rd_kafka_poll(p->rk, 0);
    }
    if (!err) err = rd_kafka_commit_transaction(p->rk, 300000);
    if (err) {
        snprintf(msg, sizeof(msg), "the awards' transaction failed: %s",
                 rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        die(msg);
    }
    return now_us();
}

/* ---- carrot-notify and what it says ------------------------------------------------------ */

/* Starts carrot-notify with its output into log_path. */
static pid_t spawn(char *const argv[]) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* A GET of path from 127.0.0.1:port (HTTP/1.0: the answer ends with the connection); the
 * answer, malloc'd, or NULL. */
static char *http_get(int port, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {5, 0};
    if (fd < 0) return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t len = 0, cap = 65536;
    char *out = malloc(cap);
    ssize_t got;
    while (out && (got = read(fd, out + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 4096) {
            char *o = realloc(out, cap *= 2);
            if (!o) free(out);
            out = o;
        }
    }
    close(fd);
    if (out) out[len] = '\0';
    return out;
}

/* A counter of carrot-notify's /metrics ("name" or "name{labels}"); -1 when it cannot be read. */
static double metric(int port, const char *name) {
    char *text = http_get(port, "/metrics"), key[200];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = text ? strstr(text, key) : NULL;
    double v = p ? atof(p + strlen(key)) : -1;
    free(text);
    return v;
}

static long rss_kib(pid_t pid) {
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = atol(line + 6);
            break;
        }
    fclose(fp);
    return kib;
}

/* pid's user + system CPU seconds so far (/proc/<pid>/stat), or -1. */
static double cpu_s(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces; the fields follow it */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Dies when carrot-notify has exited. */
static void check_alive(void) {
    int status;
    if (waitpid(child, &status, WNOHANG) == child) {
        child = 0;
        die("carrot-notify exited");
    }
}

/* ---- PostgreSQL -------------------------------------------------------------------------- */

/* A one-row query's integer columns into out[0..n); dies on failure. */
static void pg_row(const char *sql, const char *param, long long *out, int n) {
    const char *p[] = {param};
    PGresult *r = PQexecParams(pg, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < n) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "PostgreSQL: %s", PQerrorMessage(pg));
        PQclear(r);
        die(msg);
    }
    for (int i = 0; i < n; i++) out[i] = atoll(PQgetvalue(r, 0, i));
    PQclear(r);
}

/* The outbox's rows of the program: pending or being sent, sent, and every one. */
static void outbox_counts(const char *program, long long out[3]) {
    pg_row("SELECT count(*) FILTER (WHERE state IN ('pending', 'sending')), count(*) FILTER "
           "(WHERE state = 'sent'), count(*) FROM notify_outbox WHERE program_id = $1",
           program, out, 3);
}

/* Bytes on disk of the tables carrot-notify writes to (in the bench's database: its rows alone). */
static long long outbox_bytes(void) {
    long long b;
    pg_row("SELECT pg_total_relation_size('notify_outbox') + pg_total_relation_size("
           "'notify_attempts') + pg_total_relation_size('notify_events')",
           NULL, &b, 1);
    return b;
}

/* ---- figures --------------------------------------------------------------------------------- */

typedef struct {
    long long count, early; /* early: before the commit returned (seen while it was returning) */
    double p50, p99, max;   /* ms */
} lat_t;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Latency from t0 to at[i] over the goal awards among [from, to) (nearest-rank percentiles). */
static lat_t latency(const bench_conf_t *cf, const int64_t *at, long long from, long long to,
                     int64_t t0) {
    lat_t l = {0};
    int64_t *d = malloc((size_t)(to - from) * sizeof(*d));
    if (!d) die("out of memory");
    for (long long i = from; i < to; i++) {
        if (i < cf->awards && ((i + 1) * cf->goals) / cf->awards == (i * cf->goals) / cf->awards)
            continue;
        d[l.count] = at[i] - t0;
        if (d[l.count] < 0) l.early++;
        l.count++;
    }
    if (l.count) {
        qsort(d, (size_t)l.count, sizeof(*d), cmp_i64);
        l.p50 = (double)d[(l.count * 50 + 99) / 100 - 1] / 1000.0;
        l.p99 = (double)d[(l.count * 99 + 99) / 100 - 1] / 1000.0;
        l.max = (double)d[l.count - 1] / 1000.0;
    }
    free(d);
    return l;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof(a);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void delete_topics(rd_kafka_t *rk, const char **topics, int n) {
    rd_kafka_DeleteTopic_t *del[4];
    for (int i = 0; i < n; i++) del[i] = rd_kafka_DeleteTopic_new(topics[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, (size_t)n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev || rd_kafka_event_error(ev)) carrot_warn("could not delete the bench topics");
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(del, (size_t)n);
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    char errstr[512], msg[1024], program[64], topic[96], dlq[96], group[96], pgroup[96], txid[96];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("bench_notify", props, &cf, argc, argv, NULL,
                                                   "usage: bench_notify [settings]", &exit_code);
    if (!conf) return exit_code;
    if (cf.goals > cf.awards) die("--goals is more than --awards");
    signal(SIGPIPE, SIG_IGN); /* a receiver's write to a connection carrot-notify closed */
    snprintf(program, sizeof(program), "bno-%d-%lld", (int)getpid(),
             (long long)(carrot_time_now_ms() % 100000));
    snprintf(topic, sizeof(topic), "%s.awards", program);
    snprintf(dlq, sizeof(dlq), "%s.notify.dlq", program);
    snprintf(group, sizeof(group), "%s.notify", program);
    snprintf(pgroup, sizeof(pgroup), "%s.plain", program);
    snprintf(txid, sizeof(txid), "%s.producer", program);
    snprintf(config_path, sizeof(config_path), "/tmp/%s.notify.yaml", program);
    snprintf(log_path, sizeof(log_path), "/tmp/%s.notify.log", program);
    long long down = cf.down_seconds > 0 ? cf.down_goals : 0, nidx = cf.awards + down;

    /* a database of the bench's own; carrot-notify migrates it when it starts */
    char dsn[1024];
    admin = PQconnectdb(cf.pg_dsn);
    if (PQstatus(admin) != CONNECTION_OK) {
        snprintf(msg, sizeof(msg), "could not connect to PostgreSQL: %s", PQerrorMessage(admin));
        PQfinish(admin);
        admin = NULL;
        die(msg);
    }
    snprintf(dbname, sizeof(dbname), "%s", program);
    for (char *c = dbname; *c; c++)
        if (*c == '-') *c = '_';
    snprintf(dsn, sizeof(dsn), "%s dbname=%s", cf.pg_dsn, dbname); /* the last dbname wins */
    snprintf(msg, sizeof(msg), "CREATE DATABASE %s", dbname);
    PGresult *cr = PQexec(admin, msg);
    if (PQresultStatus(cr) != PGRES_COMMAND_OK) {
        snprintf(msg, sizeof(msg), "could not create the bench's database: %s",
                 PQerrorMessage(admin));
        PQclear(cr);
        PQfinish(admin);
        admin = NULL;
        die(msg);
    }
    PQclear(cr);
    pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(msg, sizeof(msg), "could not connect to the bench's database: %s",
                 PQerrorMessage(pg));
        die(msg);
    }
    producer_t p = {.topic = topic, .program = program};
    if (!(p.codec = carrot_award_codec_new(errstr, sizeof(errstr)))) die(errstr);
    if (!(p.rk = carrot_kafka_txn_producer_new(NULL, cf.brokers, NULL, txid, 300000, errstr,
                                               sizeof(errstr))))
        die(errstr);
    if (carrot_kafka_create_topic(p.rk, topic, (int)cf.partitions, NULL, errstr, sizeof(errstr)))
        die(errstr);

    /* the receiver, then the configuration that points at it */
    static receiver_t rcv;
    rcv.lfd = -1;
    for (int i = 0; i < MAX_CONNS; i++) rcv.conns[i].fd = -1;
    rcv.prefix_len = (size_t)snprintf(rcv.prefix, sizeof(rcv.prefix),
                                      "\"event\":\"goal:%s:", program);
    rcv.nidx = nidx;
    if (!(rcv.recv = calloc((size_t)nidx, sizeof(*rcv.recv)))) die("out of memory");
    pthread_t rth, pth;
    if (pthread_create(&rth, NULL, receiver_main, &rcv)) die("pthread_create");
    receiver_set(&rcv, 1);
    FILE *fp = fopen(config_path, "w");
    if (!fp) die("could not write the configuration");
    fprintf(fp,
            "version: \"bench-1\"\n"
            "time_zone: UTC\n"
            "programs: [%s]\n"
            "retry: {attempts: 1000, base_ms: %lld, max_ms: %lld, timeout_ms: 2000}\n"
            "channels:\n"
            "  hook: {type: webhook, url: \"http://127.0.0.1:%d/carrot\", secret_env: %s}\n"
            "triggers:\n"
            "  goal:\n"
            "    channels: [hook]\n"
            "    text: \"{{name}} reached {{goal}}: +{{points}} points\"\n",
            program, cf.retry_base_ms, cf.retry_max_ms, rcv.port, SECRET_ENV);
    fclose(fp);
    setenv(SECRET_ENV, "bench-secret", 1);

    /* carrot-notify, its group's own */
    int mport = cf.metrics_port ? (int)cf.metrics_port : free_port();
    if (mport <= 0) die("no free port for carrot-notify's metrics");
    char mp[16], bs[24], db[24];
    snprintf(mp, sizeof(mp), "%d", mport);
    snprintf(bs, sizeof(bs), "%lld", cf.batch_size);
    snprintf(db, sizeof(db), "%lld", cf.deliver_batch);
    char *notify_argv[] = {CARROT_NOTIFY_BIN,
                           "run",
                           "--notifications",
                           config_path,
                           "--brokers",
                           cf.brokers,
                           "--awards-topic",
                           topic,
                           "--group",
                           group,
                           "--instance",
                           program,
                           "--dlq-topic",
                           dlq,
                           "--pg-dsn",
                           dsn,
                           "--redis-host",
                           "",
                           "--metrics-port",
                           mp,
                           "--batch-size",
                           bs,
                           "--deliver-batch",
                           db,
                           "--log-level",
                           "warn",
                           NULL};
    child = spawn(notify_argv);

    /* the plain consumer, waiting on the same topic from its start */
    static plain_t pl;
    pl.cf = &cf;
    pl.topic = topic;
    pl.group = pgroup;
    pl.nidx = nidx;
    pl.want = cf.awards;
    if (!(pl.seen = calloc((size_t)nidx, sizeof(*pl.seen)))) die("out of memory");
    if (pthread_create(&pth, NULL, plain_main, &pl)) die("pthread_create");

    /* warm-up: one goal award all the way to the receiver, and to the plain consumer */
    int64_t deadline = now_us() + cf.timeout * 1000000;
    commit_awards(&cf, &p, -1, 1);
    while (!atomic_load(&rcv.warm) || !atomic_load(&pl.warm)) {
        check_alive();
        if (atomic_load(&pl.failed)) die("the plain consumer failed");
        if (now_us() > deadline) die("the warm-up award did not reach the receiver in time");
        sleep_ms(10);
    }
    sleep_ms(500); /* its batch's deliveries done: the burst starts from a quiet loop */
    long rss_warm = rss_kib(child), rss_peak = rss_warm;
    double cpu0 = cpu_s(child);

    /* 1. the burst: every award in one transaction */
    int64_t t_begin = now_us();
    int64_t t_commit = commit_awards(&cf, &p, 0, cf.awards);
    int64_t t_intake = 0, next_rss = t_commit, next_metric = t_commit;
    deadline = t_commit + cf.timeout * 1000000;
    while (atomic_load(&rcv.got) < cf.goals || !t_intake || atomic_load(&pl.count) < cf.awards) {
        check_alive();
        int64_t t = now_us();
        if (t > deadline) {
            snprintf(msg, sizeof(msg),
                     "in %lld s: intake %s, %lld of %lld messages received, %lld of %lld "
                     "awards plainly consumed",
                     cf.timeout, t_intake ? "done" : "not done", (long long)atomic_load(&rcv.got),
                     cf.goals, (long long)atomic_load(&pl.count), cf.awards);
            die(msg);
        }
        if (!t_intake && t >= next_metric) { /* a scrape every 50 ms: little work for it */
            next_metric = t + 50000;
            if (metric(mport, "carrot_notify_awards_total") >= (double)(cf.awards + 1))
                t_intake = now_us();
        }
        if (t >= next_rss) {
            long k = rss_kib(child);
            if (k > rss_peak) rss_peak = k;
            next_rss += 1000000;
        }
        sleep_ms(20);
    }
    double cpu1 = cpu_s(child);
    pthread_join(pth, NULL);
    int64_t t_last = 0;
    long long during = 0; /* messages received before the intake was seen done */
    for (long long i = 0; i < cf.awards; i++) {
        if (rcv.recv[i] > t_last) t_last = rcv.recv[i];
        if (rcv.recv[i] && rcv.recv[i] <= t_intake) during++;
    }
    lat_t nl = latency(&cf, rcv.recv, 0, cf.awards, t_commit);
    lat_t bl = latency(&cf, pl.seen, 0, cf.awards, t_commit);
    double intake_ms = (double)(t_intake - t_commit) / 1000.0;
    double deliver_ms = (double)(t_last - t_commit) / 1000.0;
    double plain_ms = (double)(pl.last - t_commit) / 1000.0;
    printf("notify:   %lld awards (%lld goals, each for a participant of its own) committed in "
           "one Kafka transaction to %lld partitions (produced and committed in %.0f ms); "
           "carrot-notify --batch-size %lld --deliver-batch %lld, one webhook channel to a "
           "receiver answering at once, the goal trigger only (--redis-host \"\": no rank "
           "triggers)\n",
           cf.awards, cf.goals, cf.partitions, (double)(t_commit - t_begin) / 1000.0, cf.batch_size,
           cf.deliver_batch);
    printf("intake:   %lld awards read and their %lld triggers queued in the outbox in %.0f ms "
           "from the commit = %.0f awards/s (its deliveries running in the same loop)\n",
           cf.awards, cf.goals, intake_ms, (double)cf.awards * 1000.0 / intake_ms);
    double after_ms = (double)(t_last - t_intake) / 1000.0;
    printf("delivery: %lld messages received in %.0f ms from the commit = %.0f messages/s "
           "(%lld repeats); commit to receipt p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
           cf.goals, deliver_ms, (double)cf.goals * 1000.0 / deliver_ms,
           (long long)atomic_load(&rcv.repeats), nl.p50, nl.p99, nl.max);
    printf("          %lld of them while the intake ran (%.0f messages/s), the other %lld in %.0f "
           "ms after it (%.0f messages/s)\n",
           during, (double)during * 1000.0 / intake_ms, cf.goals - during, after_ms,
           after_ms > 0 ? (double)(cf.goals - during) * 1000.0 / after_ms : 0.0);
    printf("baseline: %lld messages plainly consumed (read_committed, beside carrot-notify, from "
           "the same commit) in %.0f ms = %.0f messages/s; commit to consume of the goal "
           "awards p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
           cf.awards, plain_ms, (double)cf.awards * 1000.0 / plain_ms, bl.p50, bl.p99, bl.max);
    printf("ratio:    intake %.3f of a plain consume (%.1fx its time); latency p50 %.1fx, p99 "
           "%.1fx of a plain consume's\n",
           plain_ms / intake_ms, intake_ms / plain_ms, nl.p50 / bl.p50, nl.p99 / bl.p99);
    printf("process:  carrot-notify RSS %.1f MiB after the warm-up, peak %.1f MiB in the burst; "
           "%.1f CPU-s for the burst (%.0f messages per CPU-second)\n",
           mib(rss_warm), mib(rss_peak), cpu1 - cpu0, (double)cf.goals / (cpu1 - cpu0));
    if (nl.early || bl.early)
        carrot_warn("%lld messages and %lld plain reads came before the commit returned", nl.early,
                    bl.early);
    fflush(stdout);

    /* 2. the outage: connections refused for --down-seconds; the outbox grows */
    long rss_first = -1, rss_last = -1, rss_max = 0;
    long long ob0[3] = {0}, ob1[3] = {0}, pend_max = 0, bytes0 = 0, bytes1 = 0, samples = 0;
    double retries0 = 0, retries1 = 0, drain_first_ms = 0, drain_ms = 0, down_intake_ms = -1;
    lat_t dl = {0};
    char series[8192] = "";
    if (down) {
        receiver_set(&rcv, 0);
        int64_t t_down = now_us(), t_end = t_down + cf.down_seconds * 1000000;
        outbox_counts(program, ob0);
        bytes0 = outbox_bytes();
        retries0 = metric(mport, "carrot_notify_deliveries_total{outcome=\"retry\"}");
        rss_first = rss_kib(child);
        int64_t t_commit2 = commit_awards(&cf, &p, cf.awards, down);
        for (int64_t next = t_down;; next += cf.sample_seconds * 1000000) {
            while (now_us() < next) {
                check_alive();
                if (down_intake_ms < 0 &&
                    metric(mport, "carrot_notify_awards_total") >= (double)(cf.awards + 1 + down))
                    down_intake_ms = (double)(now_us() - t_commit2) / 1000.0;
                sleep_ms(50);
            }
            long k = rss_kib(child);
            long long ob[3];
            outbox_counts(program, ob);
            if (k > rss_max) rss_max = k;
            if (ob[0] > pend_max) pend_max = ob[0];
            rss_last = k;
            size_t l = strlen(series);
            snprintf(series + l, sizeof(series) - l, "%s%.1f/%lld", samples ? " " : "", mib(k),
                     ob[0]);
            samples++;
            if (next >= t_end) break;
        }
        outbox_counts(program, ob1);
        bytes1 = outbox_bytes();
        retries1 = metric(mport, "carrot_notify_deliveries_total{outcome=\"retry\"}");
        /* back: the drain */
        long long before = atomic_load(&rcv.got);
        int64_t t_up = now_us(); /* (a message may come before receiver_set() returns) */
        receiver_set(&rcv, 1);
        deadline = t_up + cf.timeout * 1000000;
        while (atomic_load(&rcv.got) < cf.goals + down) {
            check_alive();
            if (now_us() > deadline) {
                snprintf(msg, sizeof(msg), "after the outage, %lld of %lld messages in %lld s",
                         (long long)atomic_load(&rcv.got) - before, down, cf.timeout);
                die(msg);
            }
            sleep_ms(20);
        }
        int64_t first = INT64_MAX, last = 0;
        for (long long i = cf.awards; i < nidx; i++) {
            if (rcv.recv[i] < first) first = rcv.recv[i];
            if (rcv.recv[i] > last) last = rcv.recv[i];
        }
        drain_first_ms = (double)(first - t_up) / 1000.0;
        drain_ms = (double)(last - t_up) / 1000.0;
        dl = latency(&cf, rcv.recv, cf.awards, nidx, t_commit2);
        printf("outage:   receiver down %lld s (connections refused); %lld more goal awards "
               "committed at once, read and queued in %.0f ms; carrot-notify RSS first %.1f "
               "MiB, last %.1f MiB, max %.1f MiB (%lld samples, every %lld s); outbox pending "
               "%lld -> %lld rows (max %lld), %.0f failed attempts logged; notify tables on "
               "disk %+.1f MiB\n",
               cf.down_seconds, down, down_intake_ms, mib(rss_first), mib(rss_last), mib(rss_max),
               samples, cf.sample_seconds, ob0[0], ob1[0], pend_max, retries1 - retries0,
               (double)(bytes1 - bytes0) / 1048576.0);
        printf("samples:  RSS MiB/pending rows: %s\n", series);
        printf("drain:    receiver back: first message after %.0f ms, all %lld in %.0f ms = %.0f "
               "messages/s (retry base %lld ms, max %lld ms); commit to receipt p50 %.0f ms, "
               "p99 %.0f ms\n",
               drain_first_ms, down, drain_ms, (double)down * 1000.0 / drain_ms, cf.retry_base_ms,
               cf.retry_max_ms, dl.p50, dl.p99);
        fflush(stdout);
    }
    long rss_end = rss_kib(child);
    int notify_rc = stop_child(child);
    child = 0;
    if (notify_rc != 0) carrot_warn("carrot-notify exited with %d", notify_rc);
    printf("{\"bench\":\"notify\",\"awards\":%lld,\"goals\":%lld,\"partitions\":%lld,"
           "\"intake_ms\":%.1f,\"intake_per_s\":%.0f,\"deliver_ms\":%.1f,\"messages_per_s\":%.0f,"
           "\"latency_p50_ms\":%.1f,\"latency_p99_ms\":%.1f,\"latency_max_ms\":%.1f,"
           "\"consume_ms\":%.1f,\"consume_per_s\":%.0f,\"consume_p50_ms\":%.1f,"
           "\"consume_p99_ms\":%.1f,\"intake_ratio\":%.4f,\"p50_ratio\":%.1f,\"p99_ratio\":%.1f,"
           "\"repeats\":%lld,\"rss_warm_kib\":%ld,\"rss_peak_kib\":%ld,\"cpu_s\":%.2f,"
           "\"down_seconds\":%lld,\"down_goals\":%lld,\"down_rss_first_kib\":%ld,"
           "\"down_rss_last_kib\":%ld,\"down_rss_max_kib\":%ld,\"down_pending_max\":%lld,"
           "\"down_retries\":%.0f,\"down_disk_bytes\":%lld,\"drain_first_ms\":%.1f,"
           "\"drain_ms\":%.1f,\"rss_end_kib\":%ld,\"notify_exit\":%d}\n",
           cf.awards, cf.goals, cf.partitions, intake_ms, (double)cf.awards * 1000.0 / intake_ms,
           deliver_ms, (double)cf.goals * 1000.0 / deliver_ms, nl.p50, nl.p99, nl.max, plain_ms,
           (double)cf.awards * 1000.0 / plain_ms, bl.p50, bl.p99, plain_ms / intake_ms,
           nl.p50 / bl.p50, nl.p99 / bl.p99, (long long)atomic_load(&rcv.repeats), rss_warm,
           rss_peak, cpu1 - cpu0, down ? cf.down_seconds : 0, down, rss_first, rss_last, rss_max,
           pend_max, retries1 - retries0, bytes1 - bytes0, drain_first_ms, drain_ms, rss_end,
           notify_rc);
    fflush(stdout);

    /* clean up: the receiver, the bench's database and topics */
    atomic_store(&rcv.stop, 1);
    pthread_join(rth, NULL);
    drop_database();
    const char *topics[] = {topic, dlq};
    delete_topics(p.rk, topics, 2);
    rd_kafka_destroy(p.rk);
    carrot_codec_destroy(p.codec);
    free(rcv.recv);
    free(pl.seen);
    unlink(config_path);
    if (notify_rc == 0) unlink(log_path);
    else
        carrot_warn("carrot-notify's log is kept in %s", log_path);
    carrot_conf_destroy(conf);
    return 0;
}
