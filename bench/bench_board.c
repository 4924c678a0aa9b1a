/* bench_board: what carrot-board costs on top of Redis for a board read.
 *
 * A board of --members participants (1,000,000 by default, every one named
 * in the participants directory, points spread so ranks tie in places) is
 * written straight to Redis under a program of the bench's own. Then, at a
 * steady --rate, on one keep-alive connection each:
 *   1. top:    GET /v1/programs/P/board?period=ptd&limit=10   (carrot-board)
 *      baseline: ZREVRANGE lb 0 9 WITHSCORES, issued by the bench to Redis
 *   2. around: GET /v1/programs/P/board/around?participant=U&k=2
 *      baseline: ZREVRANK lb U, then ZREVRANGE lb r-2 r+2 WITHSCORES
 * for --requests requests each (U drawn uniformly from the board). Each
 * reports p50, p99 and max latency and the ratio of the service's p50 and
 * p99 to the baseline's; the service does more (names, ranks with ties, the
 * previous period, JSON), and the ratio says how much that costs. Asserts
 * nothing about timing. Needs the services of deploy/services.sh and
 * removes its keys and tokens at the end. */
#include "carrot/config.h"
#include "carrot/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *redis_host, *pg_dsn;
    long long redis_port, members, rate, requests, port, threads;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string (carrot-board's tokens)"},
    {"members", CARROT_CONF_INT, OFF(members), "1000000", 10, 100000000,
     "participants on the board"},
    {"rate", CARROT_CONF_INT, OFF(rate), "500", 1, 100000, "requests per second, steadily"},
    {"requests", CARROT_CONF_INT, OFF(requests), "5000", 100, 10000000, "requests per measurement"},
    {"port", CARROT_CONF_INT, OFF(port), "18199", 1, 65535, "port carrot-board listens on"},
    {"threads", CARROT_CONF_INT, OFF(threads), "2", 1, 64, "carrot-board --threads"},
    CARROT_CONF_END};

static pid_t child;
static char program[64];

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until(int64_t t) {
    int64_t d = t - now_us();
    if (d > 0) {
        struct timespec ts = {d / 1000000, (d % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

static _Noreturn void die(const char *what) {
    carrot_error("%s", what);
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    exit(1);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double p50, p99, max;
} stats_t;

static stats_t stats(int64_t *us, long n) {
    qsort(us, (size_t)n, sizeof(*us), cmp_i64);
    return (stats_t){us[n / 2] / 1000.0, us[(n * 99) / 100] / 1000.0, us[n - 1] / 1000.0};
}

/* --- a minimal HTTP/1.1 keep-alive client: enough for carrot-board's JSON --- */

static int http_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Sends one GET and reads the whole answer; its status, or -1. */
static int http_get(int fd, const char *path, const char *token, char *buf, size_t size) {
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", path,
                     token);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) return -1;
    size_t have = 0;
    char *end = NULL;
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        if (have + 1 >= size) return -1;
        ssize_t r = read(fd, buf + have, size - 1 - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
    }
    const char *cl = strstr(buf, "Content-Length: ");
    if (!cl) cl = strstr(buf, "content-length: ");
    long body = cl && cl < end ? strtol(cl + 16, NULL, 10) : 0;
    size_t want = (size_t)(end + 4 - buf) + (size_t)body;
    while (have < want) {
        if (have + 1 >= size) return -1;
        ssize_t r = read(fd, buf + have, size - 1 - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
    }
    return atoi(buf + 9);
}

/* --- the data -------------------------------------------------------------- */

static void fill(redisContext *rc, long members) {
    char key[128], who[128], pid[32], pts[32];
    snprintf(key, sizeof(key), "carrot:{%s}:lb:ptd:all", program);
    const long chunk = 1000;
    for (long i = 0; i < members; i += chunk) {
        long n = i + chunk > members ? members - i : chunk;
        /* one ZADD of the chunk, and one HSET per member, pipelined */
        const char **argv = malloc(sizeof(*argv) * (size_t)(2 + 2 * n));
        char(*s)[32] = malloc(sizeof(*s) * (size_t)(2 * n));
        argv[0] = "ZADD";
        argv[1] = key;
        for (long j = 0; j < n; j++) {
            snprintf(s[2 * j], 32, "%ld", ((i + j) * 7919) % (members / 3 + 1)); /* ties */
            snprintf(s[2 * j + 1], 32, "u%07ld", i + j);
            argv[2 + 2 * j] = s[2 * j];
            argv[3 + 2 * j] = s[2 * j + 1];
        }
        redisAppendCommandArgv(rc, (int)(2 + 2 * n), argv, NULL);
        for (long j = 0; j < n; j++) {
            snprintf(pid, sizeof(pid), "u%07ld", i + j);
            snprintf(who, sizeof(who), "carrot:{%s}:who:%s", program, pid);
            snprintf(pts, sizeof(pts), "Person %ld", i + j);
            redisAppendCommand(rc,
                               "HSET %s display_name %s segment dealer active 1 hide_from_screen 0 "
                               "level 1 updated_at 1796000000000",
                               who, pts);
        }
        for (long j = 0; j < n + 1; j++) {
            redisReply *r;
            if (redisGetReply(rc, (void **)&r) != REDIS_OK) die("Redis went away while filling");
            freeReplyObject(r);
        }
        free(argv);
        free(s);
    }
    redisReply *r = redisCommand(rc, "SADD carrot:{%s}:boards ptd:all", program);
    freeReplyObject(r);
    r = redisCommand(rc, "HSET carrot:{%s}:meta tz UTC version bench", program);
    freeReplyObject(r);
}

static void clean(redisContext *rc) {
    /* SCAN the program's keys and UNLINK them in batches */
    char match[128];
    snprintf(match, sizeof(match), "carrot:{%s}:*", program);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 10000", cursor, match);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        if (keys->elements) {
            const char **argv = malloc(sizeof(*argv) * (keys->elements + 1));
            argv[0] = "UNLINK";
            for (size_t i = 0; i < keys->elements; i++) argv[i + 1] = keys->element[i]->str;
            redisReply *u = redisCommandArgv(rc, (int)keys->elements + 1, argv, NULL);
            freeReplyObject(u);
            free(argv);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

static char *run_capture(const char *cmd) {
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    char line[256] = "";
    char *ok = fgets(line, sizeof(line), f);
    int rc = pclose(f);
    if (!ok || rc != 0) return NULL;
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

/* --- the measurements ------------------------------------------------------- */

typedef enum { TOP, AROUND } what_t;

static stats_t measure_service(what_t w, int port, const char *token, long n, long rate,
                               long members) {
    int fd = http_connect(port);
    if (fd < 0) die("cannot connect to carrot-board");
    int64_t *lat = malloc(sizeof(*lat) * (size_t)n);
    static char buf[1 << 16];
    char path[512];
    int64_t start = now_us(), step = 1000000 / rate;
    unsigned seed = 42;
    for (long i = 0; i < n; i++) {
        sleep_until(start + i * step);
        if (w == TOP)
            snprintf(path, sizeof(path), "/v1/programs/%s/board?period=ptd&limit=10", program);
        else
            snprintf(path, sizeof(path), "/v1/programs/%s/board/around?participant=u%07ld&k=2",
                     program, (long)(rand_r(&seed) % members));
        buf[0] = '\0';
        int64_t t0 = now_us();
        int st = http_get(fd, path, token, buf, sizeof(buf));
        lat[i] = now_us() - t0;
        if (st != 200) {
            carrot_error("GET %s: status %d: %.300s", path, st, buf);
            die("carrot-board answered an error");
        }
    }
    close(fd);
    stats_t s = stats(lat, n);
    free(lat);
    return s;
}

static stats_t measure_redis(what_t w, redisContext *rc, long n, long rate, long members) {
    int64_t *lat = malloc(sizeof(*lat) * (size_t)n);
    char key[128];
    snprintf(key, sizeof(key), "carrot:{%s}:lb:ptd:all", program);
    int64_t start = now_us(), step = 1000000 / rate;
    unsigned seed = 42;
    for (long i = 0; i < n; i++) {
        sleep_until(start + i * step);
        int64_t t0 = now_us();
        redisReply *r;
        if (w == TOP) {
            r = redisCommand(rc, "ZREVRANGE %s 0 9 WITHSCORES", key);
        } else {
            char who[32];
            snprintf(who, sizeof(who), "u%07ld", (long)(rand_r(&seed) % members));
            r = redisCommand(rc, "ZREVRANK %s %s", key, who);
            long long rank = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
            freeReplyObject(r);
            r = redisCommand(rc, "ZREVRANGE %s %lld %lld WITHSCORES", key, rank > 2 ? rank - 2 : 0,
                             rank + 2);
        }
        lat[i] = now_us() - t0;
        if (!r || r->type != REDIS_REPLY_ARRAY) die("the baseline's Redis read failed");
        freeReplyObject(r);
    }
    stats_t s = stats(lat, n);
    free(lat);
    return s;
}

static void report(const char *name, stats_t svc, stats_t base) {
    printf("%-7s carrot-board p50 %.3f ms  p99 %.3f ms  max %.2f ms | Redis direct p50 %.3f ms  "
           "p99 %.3f ms | ratio p50 %.1fx  p99 %.1fx\n",
           name, svc.p50, svc.p99, svc.max, base.p50, base.p99, svc.p50 / base.p50,
           svc.p99 / base.p99);
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("bench_board", props, &cf, argc, argv, NULL,
                                                   "usage: bench_board [settings]", &exit_code);
    if (!conf) return exit_code;
    snprintf(program, sizeof(program), "bench-board-%d", (int)getpid());
    redisContext *rc = redisConnect(cf.redis_host, (int)cf.redis_port);
    if (!rc || rc->err) die("cannot connect to Redis");
    int64_t t0 = now_us();
    fill(rc, (long)cf.members);
    printf("board of %lld participants (named in the directory) written in %.1f s\n", cf.members,
           (now_us() - t0) / 1e6);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "'%s' token add --program '%s' --label bench --pg-dsn '%s' --log-level warn",
             CARROT_BOARD_BIN, program, cf.pg_dsn);
    char *token = run_capture(cmd);
    if (!token) die("carrot-board token add failed (are the migrations applied?)");
    char port[16], threads[16], redis_port[16];
    snprintf(port, sizeof(port), "%lld", cf.port);
    snprintf(threads, sizeof(threads), "%lld", cf.threads);
    snprintf(redis_port, sizeof(redis_port), "%lld", cf.redis_port);
    child = fork();
    if (child == 0) {
        execl(CARROT_BOARD_BIN, "carrot-board", "--programs", program, "--port", port, "--threads",
              threads, "--redis-host", cf.redis_host, "--redis-port", redis_port, "--pg-dsn",
              cf.pg_dsn, "--brokers", "", "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    for (int i = 0; i < 100 && (fd = http_connect((int)cf.port)) < 0; i++) usleep(100000);
    if (fd < 0) die("carrot-board did not start");
    close(fd);
    /* warm up: token cache, connections */
    measure_service(TOP, (int)cf.port, token, 200, 1000, (long)cf.members);
    printf("%lld requests each at %lld/s, one keep-alive connection, carrot-board --threads %lld\n",
           cf.requests, cf.rate, cf.threads);
    stats_t top_s = measure_service(TOP, (int)cf.port, token, (long)cf.requests, (long)cf.rate,
                                    (long)cf.members);
    stats_t top_b = measure_redis(TOP, rc, (long)cf.requests, (long)cf.rate, (long)cf.members);
    report("top 10", top_s, top_b);
    stats_t ar_s = measure_service(AROUND, (int)cf.port, token, (long)cf.requests, (long)cf.rate,
                                   (long)cf.members);
    stats_t ar_b = measure_redis(AROUND, rc, (long)cf.requests, (long)cf.rate, (long)cf.members);
    report("around", ar_s, ar_b);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    child = 0;
    snprintf(cmd, sizeof(cmd),
             "psql '%s' -qtAc \"DELETE FROM display_tokens WHERE program_id = '%s'\"", cf.pg_dsn,
             program);
    if (system(cmd) != 0) carrot_warn("could not remove the bench's token");
    clean(rc);
    redisFree(rc);
    free(token);
    carrot_conf_destroy(conf);
    return 0;
}
