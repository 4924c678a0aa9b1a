/* ittools.c: child processes, Kafka admin and read-back helpers for the
 * integration tests. Every failure fails the calling test (ck_assert). */
#include "ittools.h"

#include "carrot/board.h"
#include "carrot/redis.h"

#include "carrot/award.h"
#include "carrot/kafka.h"
#include "carrot/timeutil.h"

#include <stdarg.h>

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *it_brokers(void) {
    const char *v = getenv("CARROT_BROKERS");
    return v ? v : "127.0.0.1:19092";
}

const char *it_pg_dsn(void) {
    const char *v = getenv("CARROT_PG_DSN");
    return v ? v : "host=127.0.0.1 port=15432 dbname=carrot user=carrot";
}

int it_redis_port(void) {
    const char *v = getenv("CARROT_REDIS_PORT");
    return v ? atoi(v) : 16379;
}

int it_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

void it_unique(char *buf, size_t size, const char *prefix) {
    static int seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%s-%d-%ld%03ld-%d", prefix, (int)getpid(), (long)ts.tv_sec % 100000,
             ts.tv_nsec / 1000000, seq++);
}

void it_time_ago(char *buf, size_t size, int64_t ago_ms) {
    carrot_time_format(carrot_time_now_ms() - ago_ms, buf, size);
}

void it_topics(it_topics_t *t, const char *prefix, int act_partitions, int awards_partitions) {
    it_unique(t->program, sizeof(t->program), prefix);
    snprintf(t->act, sizeof(t->act), "%s.activities", t->program);
    snprintf(t->dlq, sizeof(t->dlq), "%s.dlq", t->program);
    snprintf(t->awards, sizeof(t->awards), "%s.awards", t->program);
    snprintf(t->rules, sizeof(t->rules), "%s.rules", t->program);
    snprintf(t->group, sizeof(t->group), "%s.scorer", t->program);
    it_create_topic(t->act, act_partitions, NULL);
    it_create_topic(t->dlq, 1, NULL);
    it_create_topic(t->awards, awards_partitions, NULL);
}

long long it_zscore(redisContext *rc, const char *program, const char *board, const char *who) {
    if (carrot_board_rolled(board)) { /* summed from its day boards: read as any reader does */
        char errstr[512];
        int64_t points = 0;
        int present = 0;
        carrot_board_t *b = carrot_board_new(rc->tcp.host, rc->tcp.port, 10000);
        ck_assert_ptr_nonnull(b);
        carrot_board_err_t err = carrot_board_scores(b, program, board, &who, 1, &points, &present,
                                                     errstr, sizeof(errstr));
        carrot_board_destroy(b);
        ck_assert_msg(err == CARROT_BOARD_OK, "%s %s: %s", board, who, errstr);
        return present ? points : 0;
    }
    redisReply *r = redisCommand(rc, "ZSCORE carrot:{%s}:lb:%s %s", program, board, who);
    ck_assert_msg(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL),
                  "ZSCORE %s %s", board, who);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

long long it_expiretime(redisContext *rc, const char *program, const char *board) {
    redisReply *r = redisCommand(rc, "EXPIRETIME carrot:{%s}:lb:%s", program, board);
    ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "EXPIRETIME %s", board);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

void it_create_topic(const char *topic, int partitions, const char *cleanup_policy) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s", errstr);
    ck_assert_msg(carrot_kafka_create_topic(rk, topic, partitions, cleanup_policy, errstr,
                                            sizeof(errstr)) == 0,
                  "%s", errstr);
    rd_kafka_destroy(rk);
}

/* CARROT_IT_WRAPPER (e.g. "valgrind --error-exitcode=99 ...") runs every
 * program under that command: tests/run.sh uses it for the leak check. */
static void exec_wrapped(char *const argv[]) {
    const char *wrapper = getenv("CARROT_IT_WRAPPER");
    if (!wrapper || !*wrapper) execv(argv[0], argv);
    char *words = strdup(wrapper), *save = NULL, *args[64];
    int n = 0;
    for (char *w = strtok_r(words, " ", &save); w && n < 32; w = strtok_r(NULL, " ", &save))
        args[n++] = w;
    for (int i = 0; argv[i] && n < 63; i++) args[n++] = argv[i];
    args[n] = NULL;
    execvp(args[0], args);
}

int it_run(char *const argv[], char **outp) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        exec_wrapped(argv);
        _exit(127);
    }
    close(fds[1]);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0) {
        if (len + (size_t)n + 1 > cap) {
            cap = (len + (size_t)n + 1) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, chunk, (size_t)n);
        len += (size_t)n;
        buf[len] = '\0';
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (outp) *outp = buf ? buf : strdup("");
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t it_spawn(char *const argv[]) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        exec_wrapped(argv);
        _exit(127);
    }
    return pid;
}

static char *dup_header(rd_kafka_message_t *m, const char *name) {
    rd_kafka_headers_t *h;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n)) return NULL;
    char *s = malloc(n + 1);
    memcpy(s, v, n);
    s[n] = '\0';
    return s;
}

size_t it_consume_all(const char *topic, it_msg_t **msgsp) {
    char errstr[512], group[128];
    it_unique(group, sizeof(group), "it-reader");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s", errstr);
    int nparts = carrot_kafka_partition_count(rk, topic, errstr, sizeof(errstr));
    ck_assert_msg(nparts > 0, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t n = 0, cap = 64;
    it_msg_t *msgs = calloc(cap, sizeof(*msgs));
    int eofs = 0;
    time_t deadline = time(NULL) + 60;
    while (eofs < nparts && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eofs++;
        else if (!m->err) {
            if (n == cap) msgs = realloc(msgs, (cap *= 2) * sizeof(*msgs));
            it_msg_t *o = &msgs[n++];
            o->partition = m->partition;
            o->offset = m->offset;
            o->key = m->key ? strndup(m->key, m->key_len) : NULL;
            o->key_len = m->key_len;
            o->value = malloc(m->len + 1);
            memcpy(o->value, m->payload, m->len);
            o->value[m->len] = '\0';
            o->value_len = m->len;
            o->error = dup_header(m, "carrot.error");
            o->stage = dup_header(m, "carrot.stage");
            o->source = dup_header(m, "carrot.source");
            o->orig_topic = dup_header(m, "carrot.topic");
            o->orig_partition = dup_header(m, "carrot.partition");
            o->orig_offset = dup_header(m, "carrot.offset");
            o->truncated = dup_header(m, "carrot.truncated");
        }
        rd_kafka_message_destroy(m);
    }
    ck_assert_msg(eofs >= nparts, "reading %s did not reach the end in 60 s", topic);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    *msgsp = msgs;
    return n;
}

void it_msgs_free(it_msg_t *msgs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(msgs[i].key);
        free(msgs[i].value);
        free(msgs[i].error);
        free(msgs[i].stage);
        free(msgs[i].source);
        free(msgs[i].orig_topic);
        free(msgs[i].orig_partition);
        free(msgs[i].orig_offset);
        free(msgs[i].truncated);
    }
    free(msgs);
}

redisContext *it_redis(void) {
    redisContext *rc = redisConnect("127.0.0.1", it_redis_port());
    ck_assert_msg(rc && !rc->err, "could not connect to Redis: %s", rc ? rc->errstr : "oom");
    return rc;
}

redisContext *it_redis_for(const char *program) {
    char tag[300], errstr[512];
    snprintf(tag, sizeof(tag), "{%s}", program);
    redisContext *rc = carrot_redis_connect_for("127.0.0.1", it_redis_port(), 10000, tag, errstr,
                                                sizeof(errstr));
    ck_assert_msg(rc != NULL, "could not connect to Redis: %s", errstr);
    return rc;
}

PGconn *it_pg(void) {
    PGconn *pg = PQconnectdb(it_pg_dsn());
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
    return pg;
}

char *it_pg_value(PGconn *pg, const char *sql, int nparams, const char *const *params) {
    PGresult *r = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pg));
    char *v = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return v;
}

char *it_write_temp(const char *text) {
    char *path = strdup("/tmp/carrot-it-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

void it_produce(const char *topic, const char *key, const void *value, size_t len) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s", errstr);
    ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                       RD_KAFKA_V_VALUE((void *)value, len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    ck_assert_int_eq(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
}

void it_produce_awards(const char *topic, const char *program, const char *tag, int n,
                       const char *const *participants, const int64_t *points,
                       const int64_t *awarded_at) {
    char errstr[512];
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    ck_assert_msg(codec != NULL, "%s", errstr);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s", errstr);
    int64_t now = carrot_time_now_ms();
    for (int i = 0; i < n; i++) {
        char id[128], event[128];
        snprintf(id, sizeof(id), "%s-%d", tag, i);
        snprintf(event, sizeof(event), "%s-e%d", tag, i);
        carrot_award_t a = {.award_id = id,
                            .program_id = program,
                            .event_id = event,
                            .participant_id = participants[i],
                            .activity_type = "call",
                            .rule_id = "test",
                            .rules_version = "test",
                            .points = points[i],
                            .occurred_at = awarded_at && awarded_at[i] ? awarded_at[i] : now,
                            .awarded_at = awarded_at && awarded_at[i] ? awarded_at[i] : now};
        ck_assert_msg(carrot_kafka_produce_award(rk, codec, topic, &a, NULL, 0, -1, errstr,
                                                 sizeof(errstr)) == 0,
                      "%s", errstr);
        rd_kafka_poll(rk, 0);
    }
    ck_assert_int_eq(rd_kafka_flush(rk, 60000), 0);
    rd_kafka_destroy(rk);
    carrot_codec_destroy(codec);
}

int it_ledger(char **outp, ...) {
    char *argv[64];
    int n = 0;
    argv[n++] = CARROT_LEDGER;
    va_list ap;
    va_start(ap, outp);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 63) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return it_run(argv, outp);
}

long long it_committed_sum(const char *group, const char *topic) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s", errstr);
    int n = carrot_kafka_partition_count(rk, topic, errstr, sizeof(errstr));
    ck_assert_msg(n > 0, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) rd_kafka_topic_partition_list_add(parts, topic, p);
    ck_assert_int_eq(rd_kafka_committed(rk, parts, 10000), 0);
    long long sum = 0;
    for (int p = 0; p < n; p++)
        if (parts->elems[p].offset >= 0) sum += parts->elems[p].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return sum;
}

size_t it_read_awards(const char *topic, it_award_t **awardsp) {
    it_msg_t *msgs;
    char errstr[512];
    size_t n = it_consume_all(topic, &msgs);
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    ck_assert_msg(codec != NULL, "%s", errstr);
    it_award_t *out = calloc(n ? n : 1, sizeof(*out));
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v;
        carrot_award_t a;
        ck_assert_int_eq(carrot_codec_decode(codec, msgs[i].value, msgs[i].value_len, &v, errstr,
                                             sizeof(errstr)),
                         CARROT_CODEC_OK);
        ck_assert_int_eq(carrot_award_from_avro(v, &a, errstr, sizeof(errstr)), 0);
        out[i].award_id = strdup(a.award_id);
        out[i].event_id = strdup(a.event_id);
        out[i].participant_id = strdup(a.participant_id);
        out[i].rule_id = strdup(a.rule_id);
        out[i].rules_version = strdup(a.rules_version);
        out[i].points = a.points;
    }
    carrot_codec_destroy(codec);
    it_msgs_free(msgs, n);
    *awardsp = out;
    return n;
}

void it_awards_free(it_award_t *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(a[i].award_id);
        free(a[i].event_id);
        free(a[i].participant_id);
        free(a[i].rule_id);
        free(a[i].rules_version);
    }
    free(a);
}
