/* bench_latency: how long a CRM activity takes to reach the leaderboard, and
 * whether carrot-scorer's memory stays flat, at a steady rate (throughput is
 * bench_scorer's job; here the rate is fixed and the question is how fresh
 * the board is, and whether a long-running scorer leaks).
 *
 * 1. Latency. One carrot-scorer reads a fresh 1-partition topic. Activities
 *    (calls, each by a participant of its own) are produced at --rate for
 *    --memory-seconds with the idempotent producer, as carrot-ingest and
 *    carrot-webhook do; the send time of each is kept. A watcher polls
 *    ZCARD of the program-to-date board every ~1 ms: with one partition
 *    (scored in order) and one new member per activity, activity i is on the
 *    board once ZCARD >= members after the warm-up + i + 1, and its latency
 *    is that first observation minus its send time (so it includes up to one
 *    poll interval and one Redis round trip). The first --seconds of the run
 *    are the latency window; the whole run is reported too.
 *    With --participants N the activities cycle through N participants (a
 *    long run then keeps Redis to the size of a real program's): the board's
 *    size stops growing, so the watcher polls the partition's watermark
 *    instead, which the scorer moves in the same MULTI/EXEC as the boards:
 *    activity i is on the board once the watermark reaches its offset.
 *    Baseline, in the same run: the same produce at the same rate to the same
 *    topic, read by a plain read_committed consumer process (no decoding, no
 *    scoring, no Redis, no transaction); its latency is produce to consume.
 * 2. Memory. The scorer's VmRSS (/proc/<pid>/status) is sampled every second
 *    of its run, from just after the warm-up to just after the last activity
 *    reached the board: start, end, max and growth per 100k activities, also
 *    over the second half alone (a leak keeps growing there; start-up
 *    allocations do not). Baseline: the plain consumer process above,
 *    sampled the same way over its run of the same length.
 *
 * The board watched is the program-to-date board, carrot:{P}:lb:ptd:all. The
 * scorer gets a rules topic of the bench's own, not the shared carrot.rules.
 * Every topic and Redis key of the bench's
 * program is removed at the end. Needs the services of deploy/services.sh.
 * Reports figures and ratios; asserts nothing about timing. */
#include "carrot/activity.h"
#include "carrot/config.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *brokers, *redis_host, *topic, *pg_dsn;
    long long redis_port, rate, seconds, memory_seconds, linger_ms, batch_size, batch_ms,
        ready_timeout, push_clients, board_port, participants;
    int plain_consumer;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"rate", CARROT_CONF_INT, OFF(rate), "500", 1, 100000,
     "activities produced per second, steadily"},
    {"seconds", CARROT_CONF_INT, OFF(seconds), "20", 1, 86400,
     "latency window: the activities of the first N seconds of each run are the ones reported"},
    {"memory-seconds", CARROT_CONF_INT, OFF(memory_seconds), "60", 1, 86400,
     "length of each steady run (scorer, then baseline), RSS sampled every second; at least "
     "--seconds"},
    {"participants", CARROT_CONF_INT, OFF(participants), "0", 0, 100000000,
     "participants the activities cycle through (0: each activity a participant of its own); "
     "the board's watermark then tells when an activity landed"},
    {"linger-ms", CARROT_CONF_INT, OFF(linger_ms), "5", 0, 10000,
     "producer linger.ms (carrot-webhook's default)"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "2000", 1, 100000, "scorer --batch-size"},
    {"batch-ms", CARROT_CONF_INT, OFF(batch_ms), "50", 1, 60000,
     "scorer --batch-ms (its longest wait to fill a batch)"},
    {"ready-timeout", CARROT_CONF_INT, OFF(ready_timeout), "120", 5, 3600,
     "seconds to wait for a warm-up activity, or for the last activity of a run, to arrive"},
    {"push-clients", CARROT_CONF_INT, OFF(push_clients), "0", 0, 5000,
     "also run carrot-board during the scorer's run with this many live streams (server-sent "
     "events) on the program board, and time produce to every stream seeing the change"},
    {"board-port", CARROT_CONF_INT, OFF(board_port), "18198", 1, 65535,
     "port of that carrot-board"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string (carrot-board's token)"},
    {"plain-consumer", CARROT_CONF_BOOL, OFF(plain_consumer), "false", 0, 0,
     "internal: run as the baseline's plain read_committed consumer of --topic"},
    {"topic", CARROT_CONF_STR, OFF(topic), NULL, 0, 0, "internal: the topic of --plain-consumer"},
    CARROT_CONF_END};

static pid_t child;            /* the scorer or the plain consumer while it runs */
static const char *rules_path; /* the rules file while it exists */

/* Stops pid (SIGTERM, SIGKILL after 30 s) and reaps it: its exit status, or -1. */
static int stop_child(pid_t pid) {
    int status;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static _Noreturn void die(const char *what) {
    carrot_error("%s", what);
    if (child > 0) stop_child(child);
    if (rules_path) unlink(rules_path);
    exit(1);
}

static int64_t now_us(void) { /* CLOCK_MONOTONIC is one clock for all processes */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until_us(int64_t t) {
    struct timespec ts = {(time_t)(t / 1000000), (long)(t % 1000000) * 1000L};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* ---- the baseline's consumer: this program started with --plain-consumer ---- */

static volatile sig_atomic_t stop_consumer;
static void on_term(int sig) {
    (void)sig;
    stop_consumer = 1;
}

/* Reads --topic partition 0 from its current end, read_committed, and prints
 * "<key> <monotonic µs>" for each message as it arrives; "ready" first. */
static int plain_consumer(const bench_conf_t *cf) {
    char errstr[512], group[300];
    if (!cf->topic) {
        carrot_error("--plain-consumer needs --topic");
        return 2;
    }
    signal(SIGTERM, on_term);
    snprintf(group, sizeof(group), "%s.plain", cf->topic);
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf->brokers, NULL, errstr, sizeof(errstr));
    if (!k || carrot_kafka_set(k, "group.id", group, errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "isolation.level", "read_committed", errstr, sizeof(errstr))) {
        if (k) rd_kafka_conf_destroy(k);
        carrot_error("%s", errstr);
        return 1;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, sizeof(errstr));
    if (!c) {
        rd_kafka_conf_destroy(k);
        carrot_error("%s", errstr);
        return 1;
    }
    int64_t lo, hi;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(c, cf->topic, 0, &lo, &hi, 30000);
    if (err) {
        carrot_error("could not read the end of %s: %s", cf->topic, rd_kafka_err2str(err));
        rd_kafka_destroy(c);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, cf->topic, 0)->offset = hi;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    printf("ready\n");
    fflush(stdout);
    while (!stop_consumer) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) continue;
        if (!m->err && m->key) {
            int64_t t = now_us();
            printf("%.*s %lld\n", (int)m->key_len, (const char *)m->key, (long long)t);
            fflush(stdout);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return 0;
}

/* ---- producing activities ---- */

typedef struct {
    rd_kafka_t *rk;
    carrot_codec_t *codec;
    const char *topic, *program;
    long long failed; /* delivery reports with an error */
} producer_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    producer_t *p = opaque;
    if (m->err) {
        p->failed++;
        carrot_error("could not deliver to %s: %s", p->topic, rd_kafka_err2str(m->err));
    }
}

/* Encodes a call by participant and produces it keyed by key (the
 * participant, as carrot-ingest keys it, unless --participants repeats them:
 * the plain consumer names each message by its key); returns the send time
 * (µs, just before the produce). */
static int64_t produce_call(producer_t *p, const char *participant, const char *key,
                            const char *event_id) {
    char errstr[512];
    const void *buf;
    size_t len;
    carrot_activity_t a;
    memset(&a, 0, sizeof(a));
    a.event_id = event_id;
    a.program_id = p->program;
    a.source_system = "bench";
    a.source_record_id = event_id;
    a.change_type = CARROT_CHANGE_CREATE;
    a.activity_type = "call";
    a.occurred_at = a.recorded_at = carrot_time_now_ms();
    a.participant_id = participant;
    a.segment = "direct";
    a.team_id = "team-01";
    a.region = "north";
    a.has_tenure_days = 1;
    a.tenure_days = 400;
    a.account_id = "acct-1";
    a.disposition = "connected";
    a.has_duration = 1;
    a.duration_seconds = 300;
    avro_value_t *v = carrot_codec_value(p->codec);
    if (carrot_activity_validate(&a, errstr, sizeof(errstr)) ||
        carrot_activity_to_avro(&a, v, errstr, sizeof(errstr)) ||
        carrot_codec_encode(p->codec, v, &buf, &len, errstr, sizeof(errstr)) != CARROT_CODEC_OK)
        die(errstr);
    int64_t sent = now_us();
    carrot_kafka_msg_t m = {.topic = p->topic,
                            .partition = RD_KAFKA_PARTITION_UA,
                            .key = key,
                            .key_len = strlen(key),
                            .value = buf,
                            .value_len = len};
    if (carrot_kafka_produce(p->rk, &m, -1, errstr, sizeof(errstr)) != 0) die(errstr);
    rd_kafka_poll(p->rk, 0);
    return sent;
}

/* ---- one steady run (scorer or baseline) ---- */

typedef struct {
    long start, mid, end, max; /* VmRSS in KiB; mid: when half the run's activities are sent */
    int samples;
} rss_t;

typedef struct {
    const char *side;     /* "s" (scorer) or "b" (baseline): participant ids are <side>-<i> */
    long long n;          /* activities in the run */
    int64_t *sent, *seen; /* µs; seen[i] is 0 until activity i is observed */
    atomic_llong nseen;   /* activities observed so far */
    atomic_int stop;
    int64_t first_sent, last_sent;
    rss_t rss;
} run_t;

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

static void rss_sample(rss_t *m, pid_t pid) {
    long kib = rss_kib(pid);
    if (kib < 0) return;
    if (!m->samples++) m->start = kib;
    m->end = kib;
    if (kib > m->max) m->max = kib;
}

static void run_init(run_t *r, const char *side, long long n) {
    memset(r, 0, sizeof(*r));
    r->side = side;
    r->n = n;
    r->sent = calloc((size_t)n, sizeof(*r->sent));
    r->seen = calloc((size_t)n, sizeof(*r->seen));
    if (!r->sent || !r->seen) die("out of memory");
}

static void run_free(run_t *r) {
    free(r->sent);
    free(r->seen);
}

/* Produces the run's activities at rate, sampling pid's RSS every second,
 * then waits until the watcher has seen them all and takes the last sample. */
static void steady_run(const bench_conf_t *cf, producer_t *p, run_t *r, pid_t pid) {
    char participant[64], key[64], event_id[200], msg[256];
    rss_sample(&r->rss, pid); /* start: after the warm-up */
    int64_t t0 = now_us() + 10000, next_sample = t0 + 1000000;
    for (long long i = 0; i < r->n; i++) {
        sleep_until_us(t0 + i * 1000000 / cf->rate);
        if (i == r->n / 2) r->rss.mid = rss_kib(pid);
        snprintf(key, sizeof(key), "%s-%07lld", r->side, i);
        snprintf(participant, sizeof(participant), "%s-%07lld", r->side,
                 cf->participants ? i % cf->participants : i);
        snprintf(event_id, sizeof(event_id), "%s-%s-%lld", p->program, r->side, i);
        r->sent[i] = produce_call(p, participant, key, event_id);
        int64_t t = now_us();
        if (t >= next_sample) {
            rss_sample(&r->rss, pid);
            while (next_sample <= t) next_sample += 1000000;
        }
    }
    r->first_sent = r->sent[0];
    r->last_sent = r->sent[r->n - 1];
    if (rd_kafka_flush(p->rk, 60000) || p->failed) die("could not deliver every activity");
    int64_t deadline = now_us() + cf->ready_timeout * 1000000;
    while (atomic_load(&r->nseen) < r->n) {
        if (now_us() > deadline) {
            snprintf(msg, sizeof(msg), "only %lld of %lld activities arrived within %lld s",
                     (long long)atomic_load(&r->nseen), r->n, cf->ready_timeout);
            die(msg);
        }
        if (now_us() >= next_sample) {
            rss_sample(&r->rss, pid);
            next_sample += 1000000;
        }
        sleep_until_us(now_us() + 1000);
    }
    rss_sample(&r->rss, pid); /* end: everything is on the board (consumed) */
}

typedef struct {
    long long count, early; /* early: seen before sent (should never happen) */
    double p50, p99, max;   /* ms */
} lat_t;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Latency of the first count activities of the run (nearest-rank percentiles). */
static lat_t latency(const run_t *r, long long count) {
    lat_t l = {count, 0, 0, 0, 0};
    int64_t *d = malloc((size_t)count * sizeof(*d));
    if (!d) die("out of memory");
    for (long long i = 0; i < count; i++) {
        d[i] = r->seen[i] - r->sent[i];
        if (d[i] < 0) l.early++;
    }
    qsort(d, (size_t)count, sizeof(*d), cmp_i64);
    l.p50 = (double)d[(count * 50 + 99) / 100 - 1] / 1000.0;
    l.p99 = (double)d[(count * 99 + 99) / 100 - 1] / 1000.0;
    l.max = (double)d[count - 1] / 1000.0;
    free(d);
    return l;
}

/* ---- watchers ---- */

typedef struct {
    run_t *run;
    redisContext *rc;
    const char *key;
    int by_watermark; /* key is the partition's watermark, not the board (--participants) */
    long long base;   /* members (or the watermark) after the warm-up */
    long long polls;
    int64_t first_poll, last_poll, max_gap; /* µs */
    int failed;
} board_watch_t;

/* Polls ZCARD of the board every millisecond (or as soon as the previous
 * answer came, when it took longer). */
static void *watch_board(void *arg) {
    board_watch_t *w = arg;
    run_t *r = w->run;
    long long done = 0;
    int64_t next = now_us();
    while (!atomic_load(&r->stop) && done < r->n) {
        redisReply *rep = redisCommand(w->rc, w->by_watermark ? "GET %s" : "ZCARD %s", w->key);
        int64_t t = now_us();
        if (!rep || rep->type != (w->by_watermark ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER)) {
            if (rep) freeReplyObject(rep);
            w->failed = 1;
            break;
        }
        long long on = (w->by_watermark ? atoll(rep->str) : rep->integer) - w->base;
        freeReplyObject(rep);
        if (!w->polls++) w->first_poll = t;
        else if (t - w->last_poll > w->max_gap)
            w->max_gap = t - w->last_poll;
        w->last_poll = t;
        for (; done < on && done < r->n; done++) r->seen[done] = t;
        atomic_store(&r->nseen, done);
        next += 1000;
        if (next < t) next = t;
        sleep_until_us(next);
    }
    return NULL;
}

typedef struct {
    run_t *run;
    FILE *in;
    atomic_int ready, warm;
} plain_watch_t;

/* Reads the plain consumer's "<key> <µs>" lines until it exits. */
static void *watch_plain(void *arg) {
    plain_watch_t *w = arg;
    run_t *r = w->run;
    char *line = NULL;
    size_t cap = 0, side = strlen(r->side);
    long long count = 0;
    while (getline(&line, &cap, w->in) >= 0) {
        char *sp = strchr(line, ' ');
        if (strncmp(line, "ready", 5) == 0) atomic_store(&w->ready, 1);
        else if (!sp)
            continue;
        else if (strncmp(line, "warm", 4) == 0)
            atomic_store(&w->warm, 1);
        else if (strncmp(line, r->side, side) == 0 && line[side] == '-') {
            long long i = atoll(line + side + 1);
            if (i >= 0 && i < r->n && !r->seen[i]) {
                r->seen[i] = atoll(sp + 1);
                atomic_store(&r->nseen, ++count);
            }
        }
    }
    free(line);
    return NULL;
}

/* ---- live streams (--push-clients) ---- */

typedef struct {
    run_t *run;
    int n, *fd, efd;
    long long base; /* members after the warm-up */
    long long *at;  /* per stream: activities it has seen */
    int *cnt;       /* per activity: streams that have seen it */
    char **buf;     /* per stream: unparsed bytes */
    size_t *len;
    atomic_int stop;
    atomic_llong events;
} push_watch_t;

/* One GET of the stream over HTTP/1.0 (no chunked framing: the events come raw). */
static int sse_open(int port, const char *path, const char *token) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    char req[1024];
    int n = snprintf(
        req, sizeof(req),
        "GET %s HTTP/1.0\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", path,
        token);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Reads every stream; a board event's "members" says how many of the run's
 * activities (one new participant each) the stream has seen. */
static void *watch_push(void *arg) {
    push_watch_t *w = arg;
    run_t *r = w->run;
    struct epoll_event evs[256];
    long long all = 0;
    while (!atomic_load(&w->stop) && all < r->n) {
        int k = epoll_wait(w->efd, evs, 256, 100);
        int64_t t = now_us();
        for (int e = 0; e < k; e++) {
            int c = evs[e].data.u32;
            for (;;) {
                if (w->len[c] > 60000) w->len[c] = 0; /* never: events are ~1 KB */
                ssize_t got = read(w->fd[c], w->buf[c] + w->len[c], 65535 - w->len[c]);
                if (got <= 0) break;
                w->len[c] += (size_t)got;
                w->buf[c][w->len[c]] = '\0';
                char *p = w->buf[c], *end;
                while ((end = strstr(p, "\n\n"))) {
                    *end = '\0';
                    const char *m = strstr(p, "event: board") ? strstr(p, "\"members\":") : NULL;
                    if (m) {
                        atomic_fetch_add(&w->events, 1);
                        long long seen = atoll(m + 10) - w->base;
                        if (seen > r->n) seen = r->n;
                        for (long long i = w->at[c] > 0 ? w->at[c] : 0; i < seen; i++)
                            if (++w->cnt[i] == w->n) {
                                r->seen[i] = t;
                                all++;
                            }
                        if (seen > w->at[c]) w->at[c] = seen;
                    }
                    p = end + 2;
                }
                w->len[c] -= (size_t)(p - w->buf[c]);
                memmove(w->buf[c], p, w->len[c] + 1);
            }
        }
        atomic_store(&r->nseen, all);
    }
    return NULL;
}

/* ---- plumbing ---- */

/* Starts argv[0] with its stdout on a pipe (*outfd, the read end). */
static pid_t spawn(char *const argv[], int *outfd) {
    int fds[2];
    if (pipe(fds)) die("pipe");
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    *outfd = fds[0];
    return pid;
}

static redisContext *redis_connect(const bench_conf_t *cf) {
    struct timeval tv = {5, 0};
    redisContext *rc = redisConnectWithTimeout(cf->redis_host, (int)cf->redis_port, tv);
    if (!rc || rc->err) die("could not connect to Redis");
    return rc;
}

/* ZCARD of key: 0 when it is missing or not a sorted set, -1 when Redis fails. */
static long long zcard(redisContext *rc, const char *key) {
    redisReply *r = redisCommand(rc, "ZCARD %s", key);
    if (!r) return -1;
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return n;
}

/* Removes every Redis key of the program (the boards, watermark, seen and
 * record keys the scorer wrote). */
static void drop_keys(redisContext *rc, const char *program) {
    char pattern[128], cursor[32] = "0";
    snprintf(pattern, sizeof(pattern), "carrot:{%s}:*", program);
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r) freeReplyObject(r);
            carrot_warn("could not remove the bench's Redis keys (%s)", pattern);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        if (keys->elements) {
            const char **argv = malloc((keys->elements + 1) * sizeof(*argv));
            size_t *lens = malloc((keys->elements + 1) * sizeof(*lens));
            if (!argv || !lens) die("out of memory");
            argv[0] = "UNLINK";
            lens[0] = 6;
            for (size_t i = 0; i < keys->elements; i++) {
                argv[i + 1] = keys->element[i]->str;
                lens[i + 1] = keys->element[i]->len;
            }
            redisReply *u = redisCommandArgv(rc, (int)keys->elements + 1, argv, lens);
            if (u) freeReplyObject(u);
            free(argv);
            free(lens);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

static void create_topic(rd_kafka_t *rk, const char *topic, const char *cleanup_policy) {
    char errstr[512];
    if (carrot_kafka_create_topic(rk, topic, 1, cleanup_policy, errstr, sizeof(errstr)))
        die(errstr);
}

static void delete_topics(rd_kafka_t *rk, const char **topics, int n) {
    rd_kafka_DeleteTopic_t *del[8];
    for (int i = 0; i < n; i++) del[i] = rd_kafka_DeleteTopic_new(topics[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, (size_t)n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev || rd_kafka_event_error(ev)) carrot_warn("could not delete the bench topics");
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(del, (size_t)n);
}

static double mib(long kib) { return (double)kib / 1024.0; }

/* RSS growth from the first to the last sample, in MiB per 100k activities;
 * and over the second half of the run only (start-up allocations excluded). */
static double growth(const run_t *r) {
    return mib(r->rss.end - r->rss.start) * 100000.0 / (double)r->n;
}
static double growth2(const run_t *r) {
    return mib(r->rss.end - r->rss.mid) * 100000.0 / (double)(r->n - r->n / 2);
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    char errstr[512], program[64], topic[96], awards[96], dlq[96], rtopic[96], rules[256], msg[512];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("bench_latency", props, &cf, argc, argv, NULL,
                                                   "usage: bench_latency [settings]", &exit_code);
    if (!conf) return exit_code;
    if (cf.plain_consumer) {
        exit_code = plain_consumer(&cf);
        carrot_conf_destroy(conf);
        return exit_code;
    }
    if (cf.participants && cf.push_clients)
        die("--participants and --push-clients exclude each other (the streams count new "
            "participants)");
    long long seconds = cf.memory_seconds > cf.seconds ? cf.memory_seconds : cf.seconds;
    long long n = cf.rate * seconds, nwin = cf.rate * cf.seconds;
    snprintf(program, sizeof(program), "blat-%d-%lld", (int)getpid(),
             (long long)carrot_time_now_ms() % 100000);
    snprintf(topic, sizeof(topic), "%s.activities", program);
    snprintf(awards, sizeof(awards), "%s.awards", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    snprintf(rtopic, sizeof(rtopic), "%s.rules", program);
    snprintf(rules, sizeof(rules), "/tmp/%s.rules.json", program);
    FILE *fp = fopen(rules, "w");
    if (!fp) die("could not write the rules file");
    fprintf(fp, "{\"program\":\"%s\",\"version\":\"v1\",\"points\":{\"call\":5}}\n", program);
    fclose(fp);
    rules_path = rules;

    producer_t p = {.topic = topic, .program = program};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf.brokers, NULL, errstr, sizeof(errstr));
    char linger[24];
    snprintf(linger, sizeof(linger), "%lld", cf.linger_ms);
    if (!k || carrot_kafka_set(k, "enable.idempotence", "true", errstr, sizeof(errstr)) ||
        carrot_kafka_set(k, "linger.ms", linger, errstr, sizeof(errstr)))
        die(errstr);
    rd_kafka_conf_set_dr_msg_cb(k, dr_cb);
    rd_kafka_conf_set_opaque(k, &p);
    if (!(p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr)))) die(errstr);
    if (!(p.codec = carrot_activity_codec_new(errstr, sizeof(errstr)))) die(errstr);
    create_topic(p.rk, topic, NULL);
    create_topic(p.rk, awards, NULL);
    create_topic(p.rk, dlq, NULL);
    /* the scorer publishes its rules to a compacted topic and follows it: one of
     * the bench's own, not the shared carrot.rules */
    create_topic(p.rk, rtopic, "compact");
    redisContext *rc = redis_connect(&cf);

    /* 1. carrot-scorer: warm up, then the steady run watched on the board */
    char port[16], bsize[24], bms[24];
    snprintf(port, sizeof(port), "%lld", cf.redis_port);
    snprintf(bsize, sizeof(bsize), "%lld", cf.batch_size);
    snprintf(bms, sizeof(bms), "%lld", cf.batch_ms);
    char *scorer_argv[] = {CARROT_SCORER_BIN,
                           "--brokers",
                           cf.brokers,
                           "--topic",
                           topic,
                           "--awards-topic",
                           awards,
                           "--dlq-topic",
                           dlq,
                           "--group",
                           program,
                           "--instance",
                           program,
                           "--rules",
                           rules,
                           "--redis-host",
                           cf.redis_host,
                           "--redis-port",
                           port,
                           "--batch-size",
                           bsize,
                           "--batch-ms",
                           bms,
                           "--log-level",
                           "warn",
                           "--rules-topic",
                           rtopic,
                           NULL};
    int scorer_out;
    pid_t scorer = child = spawn(scorer_argv, &scorer_out);
    char key[160];
    snprintf(key, sizeof(key), "carrot:{%s}:lb:ptd:all", program);
    board_watch_t bw = {0};
    snprintf(msg, sizeof(msg), "%s-warmup-s", program);
    produce_call(&p, "warm-s", "warm-s", msg);
    int64_t deadline = now_us() + cf.ready_timeout * 1000000;
    while (!bw.key) {
        long long on = zcard(rc, key);
        if (on < 0) die("Redis failed");
        if (on > 0) {
            bw.key = key;
            bw.base = on;
        } else if (waitpid(scorer, NULL, WNOHANG) == scorer) {
            child = 0;
            die("carrot-scorer exited before its warm-up activity reached the board");
        } else if (now_us() > deadline)
            die("the warm-up activity did not reach the board in time");
        else
            sleep_until_us(now_us() + 10000);
    }
    char wmkey[300];
    if (cf.participants) { /* the board stops growing: watch the watermark, moved with it */
        snprintf(wmkey, sizeof(wmkey), "carrot:{%s}:wm:%s:0", program, topic);
        redisReply *r = redisCommand(rc, "GET %s", wmkey);
        if (!r || r->type != REDIS_REPLY_STRING) die("no watermark after the warm-up");
        bw.key = wmkey;
        bw.by_watermark = 1;
        bw.base = atoll(r->str);
        freeReplyObject(r);
    }
    /* 1b. with --push-clients: carrot-board and its streams, set up before the run */
    run_t pr = {0};
    push_watch_t pw8 = {0};
    pid_t board = 0;
    pthread_t pth;
    long board_rss0 = 0, board_rss1 = 0;
    if (cf.push_clients > 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl); /* the streams' sockets, here and in carrot-board */
        char cmd[1024], token[256] = "", bport[24], bmax[24];
        snprintf(cmd, sizeof(cmd),
                 "'%s' token add --program '%s' --label bench --pg-dsn '%s' --log-level warn",
                 CARROT_BOARD_BIN, program, cf.pg_dsn);
        FILE *tf = popen(cmd, "r");
        if (!tf || !fgets(token, sizeof(token), tf) || pclose(tf) != 0)
            die("carrot-board token add failed (are the ledger migrations applied?)");
        token[strcspn(token, "\n")] = '\0';
        snprintf(bport, sizeof(bport), "%lld", cf.board_port);
        snprintf(bmax, sizeof(bmax), "%lld", cf.push_clients + 10);
        char *board_argv[] = {CARROT_BOARD_BIN,
                              "--programs",
                              program,
                              "--port",
                              bport,
                              "--redis-host",
                              cf.redis_host,
                              "--redis-port",
                              port,
                              "--pg-dsn",
                              cf.pg_dsn,
                              "--brokers",
                              "",
                              "--max-sse-clients",
                              bmax,
                              "--log-level",
                              "warn",
                              NULL};
        int board_out;
        board = spawn(board_argv, &board_out);
        close(board_out);
        char path[256];
        snprintf(path, sizeof(path), "/v1/programs/%s/events?period=ptd", program);
        int probe = -1;
        for (int i = 0; i < 100 && (probe = sse_open((int)cf.board_port, path, token)) < 0; i++)
            sleep_until_us(now_us() + 100000);
        if (probe < 0) die("carrot-board did not start");
        close(probe);
        sleep_until_us(now_us() + 200000);
        board_rss0 = rss_kib(board);
        run_init(&pr, "s", n);
        pw8.run = &pr;
        pw8.n = (int)cf.push_clients;
        pw8.base = bw.base;
        pw8.fd = calloc((size_t)pw8.n, sizeof(int));
        pw8.at = calloc((size_t)pw8.n, sizeof(long long));
        pw8.len = calloc((size_t)pw8.n, sizeof(size_t));
        pw8.buf = calloc((size_t)pw8.n, sizeof(char *));
        pw8.cnt = calloc((size_t)n, sizeof(int));
        pw8.efd = epoll_create1(0);
        if (!pw8.fd || !pw8.at || !pw8.len || !pw8.buf || !pw8.cnt || pw8.efd < 0)
            die("out of memory");
        for (int c = 0; c < pw8.n; c++) {
            if (!(pw8.buf[c] = malloc(65536)) ||
                (pw8.fd[c] = sse_open((int)cf.board_port, path, token)) < 0)
                die("could not open a stream");
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)c};
            epoll_ctl(pw8.efd, EPOLL_CTL_ADD, pw8.fd[c], &ev);
        }
        if (pthread_create(&pth, NULL, watch_push, &pw8)) die("pthread_create");
        deadline = now_us() + cf.ready_timeout * 1000000;
        while (atomic_load(&pw8.events) < pw8.n) { /* every stream has its snapshot */
            if (now_us() > deadline) die("the streams did not all get their snapshot");
            sleep_until_us(now_us() + 10000);
        }
        board_rss1 = rss_kib(board);
    }
    run_t sr;
    run_init(&sr, "s", n);
    bw.run = &sr;
    bw.rc = redis_connect(&cf);
    pthread_t th;
    if (pthread_create(&th, NULL, watch_board, &bw)) die("pthread_create");
    steady_run(&cf, &p, &sr, scorer);
    atomic_store(&sr.stop, 1);
    pthread_join(th, NULL);
    if (bw.failed) die("ZCARD failed while watching the board");
    if (board) {
        deadline = now_us() + cf.ready_timeout * 1000000;
        while (atomic_load(&pr.nseen) < n && now_us() < deadline) sleep_until_us(now_us() + 10000);
        atomic_store(&pw8.stop, 1);
        pthread_join(pth, NULL);
        long long got = atomic_load(&pr.nseen);
        memcpy(pr.sent, sr.sent, (size_t)n * sizeof(*pr.sent));
        if (got < n) {
            carrot_warn("only %lld of %lld activities reached every stream in time", got, n);
        } else {
            lat_t pl = latency(&pr, nwin), bl = latency(&sr, nwin);
            printf(
                "push:     %lld streams on the program board, %lld activities at %lld/s: produce "
                "to every stream seeing it p50 %.2f ms, p99 %.2f ms, max %.2f ms; produce to "
                "the board (Redis) p50 %.2f ms, p99 %.2f ms; ratio p50 %.1fx, p99 %.1fx; "
                "%lld board events read\n",
                cf.push_clients, nwin, cf.rate, pl.p50, pl.p99, pl.max, bl.p50, bl.p99,
                pl.p50 / bl.p50, pl.p99 / bl.p99, pw8.events);
            printf("push RSS: carrot-board %.1f MiB before the streams, %.1f MiB with %lld: "
                   "%.1f KiB per stream\n",
                   mib(board_rss0), mib(board_rss1), cf.push_clients,
                   (double)(board_rss1 - board_rss0) / (double)cf.push_clients);
        }
        for (int c = 0; c < pw8.n; c++) {
            close(pw8.fd[c]);
            free(pw8.buf[c]);
        }
        close(pw8.efd);
        free(pw8.fd), free(pw8.at), free(pw8.len), free(pw8.buf), free(pw8.cnt);
        stop_child(board);
        run_free(&pr);
    }
    int scorer_rc = stop_child(scorer);
    child = 0;
    char out[1024];
    ssize_t got = read(scorer_out, out, sizeof(out) - 1);
    out[got > 0 ? got : 0] = '\0';
    close(scorer_out);
    const char *scored = strstr(out, "\"scored\":");
    long long nscored = scored ? atoll(scored + 9) : -1;
    if (scorer_rc != 0 || nscored != n + 1)
        carrot_warn("carrot-scorer exited with %d having scored %lld activities (expected %lld)",
                    scorer_rc, nscored, n + 1);
    double poll_ms = bw.polls > 1
                         ? (double)(bw.last_poll - bw.first_poll) / 1000.0 / (double)(bw.polls - 1)
                         : 0;
    redisFree(bw.rc);

    /* 2. the baseline: a plain read_committed consumer process of the same topic */
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) die("cannot find my own executable");
    self[sl] = '\0';
    char *plain_argv[] = {self, "--plain-consumer", "--brokers", cf.brokers, "--topic", topic,
                          NULL};
    int plain_out;
    pid_t plain = child = spawn(plain_argv, &plain_out);
    run_t br;
    run_init(&br, "b", n);
    plain_watch_t pw = {.run = &br, .in = fdopen(plain_out, "r")};
    if (!pw.in) die("fdopen");
    if (pthread_create(&th, NULL, watch_plain, &pw)) die("pthread_create");
    deadline = now_us() + cf.ready_timeout * 1000000;
    while (!atomic_load(&pw.ready)) {
        if (now_us() > deadline) die("the plain consumer did not start in time");
        sleep_until_us(now_us() + 10000);
    }
    snprintf(msg, sizeof(msg), "%s-warmup-b", program);
    produce_call(&p, "warm-b", "warm-b", msg);
    while (!atomic_load(&pw.warm)) {
        if (now_us() > deadline) die("the plain consumer did not see its warm-up activity in time");
        sleep_until_us(now_us() + 10000);
    }
    steady_run(&cf, &p, &br, plain);
    stop_child(plain);
    child = 0;
    pthread_join(th, NULL);
    fclose(pw.in);

    /* 3. figures */
    lat_t s_win = latency(&sr, nwin), b_win = latency(&br, nwin);
    lat_t s_all = latency(&sr, n), b_all = latency(&br, n);
    if (s_all.early || b_all.early)
        carrot_warn("%lld scorer and %lld baseline activities were seen before they were sent",
                    s_all.early, b_all.early);
    double s_secs = (double)(sr.last_sent - sr.first_sent) / 1e6;
    double b_secs = (double)(br.last_sent - br.first_sent) / 1e6;
    printf("scorer:   %lld activities at %lld/s, first %lld s: produce to leaderboard p50 %.2f ms, "
           "p99 %.2f ms, max %.2f ms\n",
           nwin, cf.rate, cf.seconds, s_win.p50, s_win.p99, s_win.max);
    printf("          whole run, %lld activities in %.1f s: p50 %.2f ms, p99 %.2f ms, max %.2f ms "
           "(board %s polled every %.2f ms, longest gap %.1f ms; scorer --batch-ms %lld)\n",
           n, s_secs, s_all.p50, s_all.p99, s_all.max, bw.key, poll_ms, (double)bw.max_gap / 1000.0,
           cf.batch_ms);
    printf("baseline: %lld messages at %lld/s, first %lld s: produce to plain read_committed "
           "consume p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           nwin, cf.rate, cf.seconds, b_win.p50, b_win.p99, b_win.max);
    printf("          whole run, %lld messages in %.1f s: p50 %.2f ms, p99 %.2f ms, max %.2f ms "
           "(producer linger.ms %lld)\n",
           n, b_secs, b_all.p50, b_all.p99, b_all.max, cf.linger_ms);
    printf("scorer RSS:   start %.1f MiB, end %.1f MiB, max %.1f MiB over %lld activities "
           "(%d samples): %+.2f MiB per 100k activities (second half %+.2f)\n",
           mib(sr.rss.start), mib(sr.rss.end), mib(sr.rss.max), n, sr.rss.samples, growth(&sr),
           growth2(&sr));
    printf("baseline RSS: start %.1f MiB, end %.1f MiB, max %.1f MiB over %lld messages "
           "(%d samples): %+.2f MiB per 100k messages (second half %+.2f; the plain consumer "
           "process)\n",
           mib(br.rss.start), mib(br.rss.end), mib(br.rss.max), n, br.rss.samples, growth(&br),
           growth2(&br));
    printf("{\"bench\":\"latency\",\"rate\":%lld,\"window_activities\":%lld,"
           "\"run_activities\":%lld,\"scorer_p50_ms\":%.3f,\"scorer_p99_ms\":%.3f,"
           "\"scorer_max_ms\":%.3f,"
           "\"consume_p50_ms\":%.3f,\"consume_p99_ms\":%.3f,\"consume_max_ms\":%.3f,"
           "\"p50_ratio\":%.3f,\"p99_ratio\":%.3f,\"scorer_rss_start_kib\":%ld,"
           "\"scorer_rss_end_kib\":%ld,\"scorer_rss_max_kib\":%ld,"
           "\"scorer_rss_growth_kib_per_100k\":%.0f,"
           "\"scorer_rss_growth_second_half_kib_per_100k\":%.0f,\"consumer_rss_start_kib\":%ld,"
           "\"consumer_rss_end_kib\":%ld,\"consumer_rss_max_kib\":%ld,"
           "\"consumer_rss_growth_kib_per_100k\":%.0f,"
           "\"consumer_rss_growth_second_half_kib_per_100k\":%.0f}\n",
           cf.rate, nwin, n, s_win.p50, s_win.p99, s_win.max, b_win.p50, b_win.p99, b_win.max,
           s_win.p50 / b_win.p50, s_win.p99 / b_win.p99, sr.rss.start, sr.rss.end, sr.rss.max,
           growth(&sr) * 1024.0, growth2(&sr) * 1024.0, br.rss.start, br.rss.end, br.rss.max,
           growth(&br) * 1024.0, growth2(&br) * 1024.0);
    printf("ratio:    leaderboard latency p50 %.1fx, p99 %.1fx of a plain consume; scorer RSS max "
           "%.1fx of a plain consumer's\n",
           s_win.p50 / b_win.p50, s_win.p99 / b_win.p99,
           (double)sr.rss.max / (double)(br.rss.max ? br.rss.max : 1));
    fflush(stdout);

    /* 4. clean up */
    drop_keys(rc, program);
    redisFree(rc);
    const char *topics[] = {topic, awards, dlq, rtopic};
    delete_topics(p.rk, topics, 4);
    rd_kafka_destroy(p.rk);
    carrot_codec_destroy(p.codec);
    run_free(&sr);
    run_free(&br);
    unlink(rules);
    rules_path = NULL;
    carrot_conf_destroy(conf);
    return 0;
}
