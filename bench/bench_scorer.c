/* bench_scorer: activities scored per second by carrot-scorer (from a
 * pre-filled topic to Redis and carrot.awards, exactly once), against a
 * plain consume of the same topic (every message fetched, nothing done with
 * it) in the same run, once before and once after the scorer (so the broker's
 * cache is as warm for one as for the other); and the scorer's peak memory.
 * With --scorers N, N scorers share one group (scale-out): the figure is from
 * the first activity any of them read to the last commit of any, and the CPU
 * the scorers and Redis spent gives activities per CPU-second, for sizing a
 * bigger machine. A second baseline is the naive design's command mix for
 * the same feed (naive.c: about what the scorer's Redis script issued per
 * activity before its write became one guarded transaction settled in C),
 * piped raw into Redis
 * by redis-cli --pipe with no guard and no script: the scorer should do less
 * than that. Needs the services of deploy/services.sh. */
#include "carrot/config.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/redis.h"
#include "carrot/timeutil.h"
#include "naive.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char *brokers, *redis_host, *scorer_args;
    long long records, partitions, batch, scorers, redis_port;
} bench_conf_t;

#define OFF(f) offsetof(bench_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"records", CARROT_CONF_INT, OFF(records), "200000", 1000, 100000000, "activities to score"},
    {"partitions", CARROT_CONF_INT, OFF(partitions), "6", 1, 1000, "partitions of the bench topic"},
    {"batch", CARROT_CONF_INT, OFF(batch), "2000", 1, 100000, "scorer batch size"},
    {"scorers", CARROT_CONF_INT, OFF(scorers), "1", 1, 16, "scorers in the one group"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0,
     "Redis host of the scorers"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535,
     "Redis port (also read for Redis's CPU time)"},
    {"scorer-args", CARROT_CONF_STR, OFF(scorer_args), "", 0, 0,
     "more settings for each carrot-scorer, as on its command line (compare settings)"},
    CARROT_CONF_END};

static void die(const char *what) {
    carrot_error("%s", what);
    exit(1);
}

static void create_topic(rd_kafka_t *rk, const char *topic, int partitions) {
    char errstr[512];
    if (carrot_kafka_create_topic(rk, topic, partitions, NULL, errstr, sizeof(errstr))) die(errstr);
}

/* A child running a shell command line, its stdout on a pipe. */
typedef struct {
    pid_t pid;
    int fd;
    char out[1024];
    double cpu_s; /* user + system */
    long rss_kib;
    int status;
} child_t;

static void spawn(child_t *c, const char *cmd) {
    int fds[2];
    if (pipe(fds)) die("pipe");
    memset(c, 0, sizeof(*c));
    if ((c->pid = fork()) == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    c->fd = fds[0];
}

/* Reads the child's output to its end (the first 1 KiB kept) and waits for it. */
static void reap(child_t *c) {
    size_t len = 0;
    ssize_t got;
    char sink[4096];
    while ((got = read(c->fd, sink, sizeof(sink))) > 0) {
        size_t take = (size_t)got < sizeof(c->out) - 1 - len ? (size_t)got
                                                             : sizeof(c->out) - 1 - len;
        memcpy(c->out + len, sink, take);
        len += take;
    }
    c->out[len] = '\0';
    close(c->fd);
    struct rusage ru;
    wait4(c->pid, &c->status, 0, &ru);
    c->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    c->rss_kib = ru.ru_maxrss;
}

/* Runs cmd (a shell command line) to its end: its exit status. */
static int run(const char *cmd) {
    child_t c;
    spawn(&c, cmd);
    reap(&c);
    return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1;
}

/* Redis's own CPU seconds so far (INFO cpu), or -1 when it cannot be asked. */
/* The Redis server that serves the program: on a Redis Cluster the master of
 * its slot (where its scoring runs, so where its CPU is read and the naive
 * mix is piped), else the one server. */
static char node_host[256];
static int node_port;

static void find_node(const bench_conf_t *cf, const char *program, char *host, size_t size,
                      int *port) {
    char tag[96], errstr[512];
    snprintf(tag, sizeof(tag), "{%s}", program);
    redisContext *rc = carrot_redis_connect_for(cf->redis_host, (int)cf->redis_port, 5000, tag,
                                                errstr, sizeof(errstr));
    if (!rc) die(errstr);
    snprintf(host, size, "%s", rc->tcp.host);
    *port = rc->tcp.port;
    redisFree(rc);
}

static double redis_cpu(void) {
    struct timeval tv = {5, 0};
    redisContext *rc = redisConnectWithTimeout(node_host, node_port, tv);
    double cpu = -1;
    redisReply *r = rc && !rc->err ? redisCommand(rc, "INFO cpu") : NULL;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *u = strstr(r->str, "used_cpu_user:"), *s = strstr(r->str, "used_cpu_sys:");
        if (u && s) cpu = atof(u + 14) + atof(s + 13);
    }
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    return cpu;
}

static long long field(const char *json, const char *name) {
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *p = strstr(json, key);
    return p ? atoll(p + strlen(key)) : -1;
}

/* Reads every message of topic from the beginning (group program.tag), doing
 * nothing with it: the ms from the first message to the last; *gotp the count. */
static long long plain_consume(const bench_conf_t *cf, const char *topic, const char *program,
                               const char *tag, long long *gotp) {
    char errstr[512], group[128];
    snprintf(group, sizeof(group), "%s.%s", program, tag);
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf->brokers, NULL, errstr, sizeof(errstr));
    carrot_kafka_set(k, "group.id", group, errstr, sizeof(errstr));
    carrot_kafka_set(k, "auto.offset.reset", "earliest", errstr, sizeof(errstr));
    carrot_kafka_set(k, "enable.partition.eof", "true", errstr, sizeof(errstr));
    carrot_kafka_set(k, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, sizeof(errstr));
    if (!c) die(errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)cf->partitions);
    for (int p = 0; p < cf->partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    long long got = 0, eofs = 0;
    int64_t first = 0, last = 0;
    while (eofs < cf->partitions) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eofs++;
        else if (!m->err) {
            if (!first) first = carrot_time_mono_ms();
            got++;
            last = carrot_time_mono_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    *gotp = got;
    return last - first;
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    char errstr[512], program[64], topic[96], awards[96], dlq[96], cmd[4096];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("bench_scorer", props, &cf, argc, argv, NULL,
                                                   "usage: bench_scorer [settings]", &exit_code);
    if (!conf) return exit_code;
    snprintf(program, sizeof(program), "bsc-%d-%lld", (int)getpid(),
             (long long)carrot_time_now_ms() % 100000);
    snprintf(topic, sizeof(topic), "%s.activities", program);
    snprintf(awards, sizeof(awards), "%s.awards", program);
    snprintf(dlq, sizeof(dlq), "%s.dlq", program);
    find_node(&cf, program, node_host, sizeof(node_host), &node_port);
    rd_kafka_conf_t *k = carrot_kafka_conf_new(NULL, cf.brokers, NULL, errstr, sizeof(errstr));
    rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, k, errstr, sizeof(errstr));
    if (!admin) die(errstr);
    create_topic(admin, topic, (int)cf.partitions);
    create_topic(admin, awards, (int)cf.partitions);
    create_topic(admin, dlq, 1);
    rd_kafka_destroy(admin);

    /* 1. the topic, filled by carrot-loadgen | carrot-ingest (not timed) */
    char rules[256], feed[256];
    snprintf(rules, sizeof(rules), "/tmp/%s.rules.json", program);
    snprintf(feed, sizeof(feed), "/tmp/%s.jsonl", program);
    FILE *fp = fopen(rules, "w");
    fprintf(fp,
            "{\"program\":\"%s\",\"version\":\"bench\",\"points\":{\"call\":5,\"email\":2,"
            "\"meeting\":10,\"note\":3,\"task\":2,\"lead\":8,\"quote\":15,\"opportunity_stage\":12,"
            "\"deal_won\":50,\"training_completed\":20,\"certification_passed\":40}}",
            program);
    fclose(fp);
    snprintf(cmd, sizeof(cmd),
             "%s --count %lld --participants 2000 --program %s > %s && %s --input %s "
             "--brokers %s --topic %s --dlq-topic %s --log-level warn",
             CARROT_LOADGEN_BIN, cf.records, program, feed, CARROT_INGEST_BIN, feed, cf.brokers,
             topic, dlq);
    if (run(cmd) != 0) die("could not fill the bench topic");

    /* 2. the baseline, a plain consume of every message, before and after the scorer:
     * the fill warmed the broker's cache for the first, the scorer for the second */
    long long got = 0, plain_ms = plain_consume(&cf, topic, program, "before", &got);

    /* 3. carrot-scorer scores them: --scorers of them in one group */
    int n = (int)cf.scorers;
    child_t *kids = calloc((size_t)n, sizeof(*kids));
    if (!kids) die("out of memory");
    double redis_before = redis_cpu();
    for (int i = 0; i < n; i++) {
        snprintf(cmd, sizeof(cmd),
                 "%s --brokers %s --topic %s --awards-topic %s --dlq-topic %s "
                 "--group %s.scorer --instance %s.%d --rules %s --batch-size %lld "
                 "--redis-host %s --redis-port %lld --until-drained --log-level warn %s",
                 CARROT_SCORER_BIN, cf.brokers, topic, awards, dlq, program, program, i, rules,
                 cf.batch, cf.redis_host, cf.redis_port, cf.scorer_args);
        spawn(&kids[i], cmd);
    }
    long long consumed = 0, first = -1, last = -1;
    long rss = 0;
    double scorer_cpu = 0;
    for (int i = 0; i < n; i++) {
        reap(&kids[i]);
        if (!WIFEXITED(kids[i].status) || WEXITSTATUS(kids[i].status) != 0)
            die("carrot-scorer failed");
        long long c = field(kids[i].out, "consumed"), f = field(kids[i].out, "first_ms"),
                  l = field(kids[i].out, "last_ms");
        if (c < 0 || f < 0 || l < 0) die("carrot-scorer printed no counts");
        consumed += c;
        if (c > 0 && (first < 0 || f < first)) first = f; /* one monotonic clock: one host */
        if (c > 0 && l > last) last = l;
        if (kids[i].rss_kib > rss) rss = kids[i].rss_kib;
        scorer_cpu += kids[i].cpu_s;
    }
    double redis_after = redis_cpu();
    free(kids);
    if (consumed != got) die("the scorers did not read every activity exactly once");
    long long scorer_ms = last - first;
    long long got2 = 0;
    plain_ms += plain_consume(&cf, topic, program, "after", &got2);
    if (got2 != got) die("the second plain consume read another count");

    /* 4. the naive design's commands for the same feed, piped raw (only with one scorer:
     * the baseline of the single-scorer figure) */
    naive_mix_t mix = {0};
    long long pipe_ms = -1;
    if (n == 1) {
        char pipefile[256];
        snprintf(pipefile, sizeof(pipefile), "/tmp/%s.resp", program);
        if (naive_mix_write(rules, feed, program, (int)cf.batch, pipefile, &mix, errstr,
                            sizeof(errstr)) != 0)
            die(errstr);
        char nprog[128], nhost[256]; /* naive.c writes under program naive-<program> */
        int nport;
        snprintf(nprog, sizeof(nprog), "naive-%s", program);
        find_node(&cf, nprog, nhost, sizeof(nhost), &nport);
        snprintf(cmd, sizeof(cmd), "redis-cli -h %s -p %d --pipe < %s", nhost, nport, pipefile);
        child_t pc;
        int64_t t0 = carrot_time_mono_ms();
        spawn(&pc, cmd);
        reap(&pc);
        pipe_ms = carrot_time_mono_ms() - t0;
        unlink(pipefile);
        const char *e = strstr(pc.out, "errors: ");
        if (!WIFEXITED(pc.status) || WEXITSTATUS(pc.status) != 0 || !e || atoll(e + 8) != 0)
            die("redis-cli --pipe failed (is redis-cli installed?)");
    }
    unlink(rules);
    unlink(feed);

    double plain = 2 * got * 1000.0 / (double)(plain_ms ? plain_ms : 1);
    double scored = got * 1000.0 / (double)(scorer_ms ? scorer_ms : 1);
    printf("scorer:   %lld activities in %lld ms = %.0f activities/s (%d scorer%s, %lld partitions;"
           " peak RSS %ld MiB)\n",
           got, scorer_ms, scored, n, n > 1 ? "s in one group" : "", cf.partitions, rss / 1024);
    double rcpu = redis_before >= 0 && redis_after >= 0 ? redis_after - redis_before : -1;
    if (rcpu >= 0)
        printf(
            "cpu:      scorers %.1f s, Redis %.1f s (its one thread %.0f%% busy): %.0f activities"
            " per CPU-second\n",
            scorer_cpu, rcpu, 100.0 * rcpu * 1000.0 / (double)(scorer_ms ? scorer_ms : 1),
            (double)got / (scorer_cpu + rcpu));
    printf("baseline: %lld messages plainly consumed, once before and once after the scorer, in"
           " %lld ms = %.0f messages/s\n",
           got, plain_ms / 2, plain);
    printf("ratio:    %.2f of a plain consume (batches of %lld, each one Kafka transaction)\n",
           scored / plain, cf.batch);
    double piped = pipe_ms > 0 ? got * 1000.0 / (double)pipe_ms : 0;
    if (pipe_ms >= 0) {
        printf("naive:    the same %lld activities as the naive design's %lld commands (per"
               " activity %.2f GET, %.2f SET, %.2f HMGET, %.2f HSET, %.2f HINCRBY, %.2f ZINCRBY"
               " summed per batch, %.2f EXPIREAT, %.2f SADD), piped raw with redis-cli --pipe in"
               " %lld ms = %.0f activities/s\n",
               got, mix.commands, (double)mix.get / got, (double)mix.set / got,
               (double)mix.hmget / got, (double)mix.hset / got, (double)mix.hincrby / got,
               (double)mix.zincrby / got, (double)mix.expireat / got, (double)mix.sadd / got,
               pipe_ms, piped);
        printf("ratio:    %.2f of the naive mix piped raw (above 1: the scorer, exactly once,"
               " costs Redis less than the naive design would send it unguarded)\n",
               scored / piped);
    }
    printf(
        "{\"bench\":\"scorer\",\"scorers\":%d,\"partitions\":%lld,\"activities\":%lld,"
        "\"scorer_per_s\":%.0f,\"consume_per_s\":%.0f,\"ratio\":%.3f,\"scorer_peak_rss_kib\":%ld,"
        "\"scorer_cpu_s\":%.2f,\"redis_cpu_s\":%.2f,\"naive_pipe_per_s\":%.0f,"
        "\"naive_ratio\":%.3f}\n",
        n, cf.partitions, got, scored, plain, scored / plain, rss, scorer_cpu, rcpu, piped,
        piped > 0 ? scored / piped : 0);
    carrot_conf_destroy(conf);
    return 0;
}
