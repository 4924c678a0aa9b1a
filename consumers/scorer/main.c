/* carrot-scorer: a stateless consumer-group member that turns CRM activities
 * into points. It decodes each activity, scores it with the rules file,
 * adds the points to the Redis leaderboards and produces Award events, all
 * exactly once (see batch.c). Any number can share one consumer group. */
#include "carrot/activity.h"
#include "carrot/award.h"
#include "carrot/config.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "scorer.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OFF(f) offsetof(scorer_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"brokers", CARROT_CONF_STR, OFF(brokers), "127.0.0.1:19092", 0, 0, "Kafka bootstrap servers"},
    {"topic", CARROT_CONF_STR, OFF(topic), "crm.activities", 0, 0, "topic of CRM activities"},
    {"awards-topic", CARROT_CONF_STR, OFF(awards_topic), "carrot.awards", 0, 0,
     "topic the Award events go to"},
    {"dlq-topic", CARROT_CONF_STR, OFF(dlq_topic), "crm.activities.dlq", 0, 0,
     "dead-letter topic for activities that cannot be decoded or are invalid"},
    {"group", CARROT_CONF_STR, OFF(group), "carrot-scorer", 0, 0, "Kafka consumer group"},
    {"instance", CARROT_CONF_STR, OFF(instance), NULL, 0, 0,
     "stable name of this scorer (group.instance.id and transactional.id suffix); default: the "
     "host name. Give each scorer of a group its own, and keep it across restarts"},
    {"rules", CARROT_CONF_STR, OFF(rules), "deploy/demo/rules.yaml", 0, 0,
     "rules file (YAML or JSON); re-read on SIGHUP, and published to the rules topic"},
    {"rules-topic", CARROT_CONF_STR, OFF(rules_topic), "carrot.rules", 0, 0,
     "compacted topic of each program's current rules, which every scorer follows (\"\": "
     "only the file)"},
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"redis-lanes", CARROT_CONF_INT, OFF(redis_lanes), "3", 1, CARROT_BOARD_MAX_LANES,
     "Redis connections a batch's partitions are written over, so one partition's chunk is "
     "settled while Redis writes another's (1: one after another)"},
    {"batch-size", CARROT_CONF_INT, OFF(batch_size), "2000", 1, 100000,
     "most activities scored in one transaction"},
    {"batch-ms", CARROT_CONF_INT, OFF(batch_ms), "50", 1, 60000,
     "longest wait for a batch's first activity, in milliseconds"},
    {"batch-linger-ms", CARROT_CONF_INT, OFF(batch_linger_ms), "0", -1, 60000,
     "once a batch has its first activity, longest wait for more (0: score what is already "
     "fetched, so batches grow with the backlog and stay fresh when quiet; -1: up to "
     "batch-ms, to fill the batch)"},
    {"seen-ttl", CARROT_CONF_INT, OFF(seen_ttl), "2592000", 60, 315360000,
     "seconds an event id is remembered to drop duplicate deliveries (dedup window)"},
    {"txn-timeout-ms", CARROT_CONF_INT, OFF(txn_timeout_ms), "60000", 1000, 900000,
     "Kafka transaction timeout"},
    {"until-drained", CARROT_CONF_BOOL, OFF(until_drained), "false", 0, 0,
     "exit once every assigned partition is read to its end (batch runs, tests)"},
    {"schema-registry", CARROT_CONF_STR, OFF(schema_registry), NULL, 0, 0,
     "base URL of a Confluent-compatible schema registry, to read activities in the Confluent "
     "wire format (single-object messages need none)"},
    CARROT_CONF_METRICS_ROWS(scorer_conf_t),
    CARROT_CONF_LOG_ROWS(scorer_conf_t),
    CARROT_CONF_END};

static const char usage[] = "usage: carrot-scorer [settings]\n"
                            "Scores CRM activities from Kafka into Redis leaderboards and Award "
                            "events, exactly once.";

static volatile sig_atomic_t stop, reload;
static void on_signal(int sig) {
    if (sig == SIGHUP) reload = 1;
    else
        stop = 1;
}

static void rules_info(scorer_t *s, const carrot_rules_t *r) {
    char labels[512];
    snprintf(labels, sizeof(labels), "program=\"%s\",version=\"%s\"", carrot_rules_program(r),
             carrot_rules_version(r)); /* ids: letters, digits, '.', '-', '_' (parse.c) */
    if (s->m_rules_info) carrot_metric_set_labels(s->m_rules_info, labels);
}

/* Puts r in force; a switch while running (count) is counted, the version
 * taken from the rules topic at start-up is not. */
static void use_rules(scorer_t *s, carrot_rules_t *r, const char *from, int count) {
    rules_info(s, r);
    if (count) {
        s->counts.rules_switches++;
        carrot_metric_add(s->m_switches, 1);
    }
    carrot_info("rules version %s of program %s in force (from %s; was %s)",
                carrot_rules_version(r), carrot_rules_program(r), from,
                s->rules ? carrot_rules_version(s->rules) : "none");
    carrot_rules_destroy(s->rules);
    s->rules = r;
    s->meta_dirty = 1;
}

static int same_text(const carrot_rules_t *a, const carrot_rules_t *b) {
    size_t la, lb;
    const char *ta = carrot_rules_text(a, &la), *tb = carrot_rules_text(b, &lb);
    return la == lb && memcmp(ta, tb, la) == 0;
}

/* SIGHUP: re-read the file. A valid file of the same program is published
 * to the rules topic (so the whole group follows) and put in force; an
 * invalid one is reported and the version in force stays. */
static void reload_file(scorer_t *s, const carrot_conf_t *conf) {
    char errstr[512];
    carrot_rules_t *r = carrot_rules_load(s->cf->rules, errstr, sizeof(errstr));
    if (!r) {
        carrot_error("rules not switched, version %s stays: %s", carrot_rules_version(s->rules),
                     errstr);
        return;
    }
    if (strcmp(carrot_rules_program(r), carrot_rules_program(s->rules)) != 0) {
        carrot_error("rules not switched: %s is for program %s, this scorer scores %s",
                     s->cf->rules, carrot_rules_program(r), carrot_rules_program(s->rules));
        carrot_rules_destroy(r);
        return;
    }
    if (s->feed && carrot_rules_publish(conf, s->cf->brokers, s->cf->rules_topic, r, errstr,
                                        sizeof(errstr)) != 0) {
        carrot_error("rules not switched: %s", errstr);
        carrot_rules_destroy(r);
        return;
    }
    use_rules(s, r, s->cf->rules, 1);
}

/* The rules topic: a newer record for the program switches the rules.
 * Returns what carrot_rules_feed_poll() did: 1 when there was a record. */
static int follow_topic(scorer_t *s, int timeout_ms, int catch_up) {
    char errstr[512];
    carrot_rules_t *r;
    int got = carrot_rules_feed_poll(s->feed, timeout_ms, catch_up, &r, errstr, sizeof(errstr));
    if (got < 0) {
        carrot_error("rules not switched, version %s stays: %s", carrot_rules_version(s->rules),
                     errstr);
    } else if (got > 0) {
        if (same_text(r, s->rules)) carrot_rules_destroy(r);
        else
            use_rules(s, r, s->cf->rules_topic, !catch_up);
    }
    return got;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    scorer_t *s = opaque;
    /* the batches in flight commit (or fail) while the partitions are still ours */
    if (s->pipe && scorer_reap(s, 2) == -2) s->fatal = 1;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        carrot_info("assigned %d partitions", parts->cnt);
        rd_kafka_assign(rk, parts);
        carrot_drain_assign(s->drain, parts);
        carrot_metrics_check(s->metrics, "kafka", 1, NULL); /* in the group (maybe with none) */
        s->redis_check = 1; /* before their first batch: is Redis behind Kafka on them? */
    } else {
        carrot_info("revoked %d partitions", parts->cnt);
        scorer_repair_clear(s); /* their next owner checks for itself */
        rd_kafka_assign(rk, NULL);
        carrot_drain_assign(s->drain, NULL);
        carrot_metrics_check(s->metrics, "kafka", 0, "rebalancing: no partitions assigned");
    }
    s->rebalanced = 1;
}

/* The scorer's metrics; see README "Metrics". */
static int make_metrics(scorer_t *s, char *errstr, size_t errstr_size) {
    static const double lag_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    static const double batch_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    carrot_metrics_t *m = s->metrics = carrot_metrics_new();
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* full names, so the dashboard's lint finds every metric in the code */
    s->m_consumed = carrot_metrics_counter(m, "carrot_scorer_activities_consumed_total",
                                           "Activities read and committed.", NULL);
    s->m_scored = carrot_metrics_counter(m, "carrot_scorer_activities_scored_total",
                                         "Activities that produced awards.", NULL);
    s->m_awards = carrot_metrics_counter(m, "carrot_scorer_awards_total", "Award events produced.",
                                         NULL);
    s->m_points = carrot_metrics_counter(m, "carrot_scorer_points_total",
                                         "Sum of the points of the awards produced.", NULL);
    s->m_duplicates = carrot_metrics_counter(m, "carrot_scorer_duplicates_total",
                                             "Duplicate deliveries of an event id, not scored.",
                                             NULL);
    s->m_unscored = carrot_metrics_counter(m, "carrot_scorer_unscored_total",
                                           "Activities that earned nothing.", NULL);
    s->m_other = carrot_metrics_counter(m, "carrot_scorer_other_program_total",
                                        "Activities of other programs, left alone.", NULL);
    s->m_dead = carrot_metrics_counter(m, "carrot_scorer_dead_lettered_total",
                                       "Activities sent to the dead-letter topic.", NULL);
    s->m_batches = carrot_metrics_counter(m, "carrot_scorer_batches_total",
                                          "Transactions committed.", NULL);
    s->m_aborted = carrot_metrics_counter(m, "carrot_scorer_transactions_aborted_total",
                                          "Transactions aborted and replayed.", NULL);
    s->m_switches = carrot_metrics_counter(m, "carrot_scorer_rules_switches_total",
                                           "Rules versions switched to while running.", NULL);
    s->m_redis_errors = carrot_metrics_counter(m, "carrot_scorer_redis_errors_total",
                                               "Calls to Redis that failed and were retried.",
                                               NULL);
    s->m_dead_letters = carrot_metrics_counter(
        m, "carrot_dead_letters_total", "Messages sent to a dead-letter topic, by stage.",
        "stage=\"scorer\",reason=\"undecodable or invalid\"");
    s->m_repaired = carrot_metrics_counter(
        m, "carrot_scorer_repaired_total",
        "Activities applied to Redis again because Redis had lost them (awards not re-sent).",
        NULL);
    s->m_conflicts = carrot_metrics_counter(
        m, "carrot_scorer_redis_conflicts_total",
        "Redis transactions refused because another writer changed what they read (each was "
        "read and settled again).",
        NULL);
    if (carrot_metrics_add_process(m, "carrot-scorer") != 0 ||
        !(s->lag = carrot_lag_new(m, s->cf->group)) ||
        /* unready until the group assigns and Redis answers */
        carrot_metrics_check(m, "kafka", 0, "not yet in the consumer group") != 0 ||
        carrot_metrics_check(m, "redis", 0, "not yet reached") != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->m_rules_info = carrot_metrics_gauge(m, "carrot_scorer_rules_info",
                                           "The rules in force (program, version).", NULL);
    carrot_metric_set(s->m_rules_info, 1);
    s->m_last_commit = carrot_metrics_gauge(
        m, "carrot_scorer_last_commit_timestamp_seconds",
        "When the last transaction committed, or the scorer started (Unix time).", NULL);
    /* from the start, so "time() - x" measures staleness on an idle scorer too */
    carrot_metric_set(s->m_last_commit, (double)carrot_time_now_ms() / 1000.0);
    s->m_redis_up = carrot_metrics_gauge(m, "carrot_scorer_redis_up",
                                         "1 when the last call to Redis succeeded, else 0.", NULL);
    s->m_lag = carrot_metrics_histogram(m, "carrot_scorer_produce_to_commit_seconds",
                                        "From an activity's Kafka timestamp to its batch's commit.",
                                        lag_bounds,
                                        (int)(sizeof(lag_bounds) / sizeof(lag_bounds[0])));
    s->m_batch_seconds = carrot_metrics_histogram(
        m, "carrot_scorer_batch_seconds", "From a batch's start to its commit.", batch_bounds,
        (int)(sizeof(batch_bounds) / sizeof(batch_bounds[0])));
    if (s->cf->metrics_port &&
        carrot_metrics_serve(m, s->cf->metrics_listen, (int)s->cf->metrics_port, errstr,
                             errstr_size) != 0)
        return -1;
    return 0;
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    scorer_t *s = opaque;
    char errstr[256];
    if (carrot_lag_stats(s->lag, json, len, carrot_time_wall_ms(), errstr, sizeof(errstr)) != 0)
        carrot_warn("%s", errstr);
    return 0; /* librdkafka frees json */
}

void scorer_redis_state(scorer_t *s, int up, const char *why) {
    carrot_metric_set(s->m_redis_up, up);
    carrot_metrics_check(s->metrics, "redis", up, why);
    if (!up) carrot_metric_add(s->m_redis_errors, 1);
}

static rd_kafka_t *make_consumer(scorer_t *s, const carrot_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
    const scorer_conf_t *cf = s->cf;
    /* Static membership (kafka.h): a scorer restarted after a crash takes its
     * partitions back at once. A new group starts at the topic's beginning. */
    static const char *const settings[] = {"auto.offset.reset", "earliest", NULL};
    /* A fetch brings at most 16 KiB of each partition (librdkafka's default
     * is 1 MiB), so a batch holds several partitions' runs, which the Redis
     * lanes write side by side; with 1 MiB a batch of 1,000 was nearly
     * always one partition's run, and the lanes idled (bench_scorer). */
    static const char *const defaults[] = {"max.partition.fetch.bytes", "16384", NULL};
    carrot_kafka_consumer_opts_t o = {.brokers = cf->brokers,
                                      .defaults = defaults,
                                      .group = cf->group,
                                      .instance = cf->instance,
                                      .topic = cf->topic,
                                      .settings = settings,
                                      .partition_eof = cf->until_drained,
                                      .rebalance_cb = rebalance_cb,
                                      .stats_cb = stats_cb,
                                      .opaque = s};
    return carrot_kafka_consumer_new(conf, &o, errstr, errstr_size);
}

static rd_kafka_t *make_producer(scorer_t *s, const carrot_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
    const scorer_conf_t *cf = s->cf;
    char txid[256], instance[128];
    carrot_instance_id(cf->instance, instance, sizeof(instance));
    snprintf(txid, sizeof(txid), "carrot-scorer.%s.%s", cf->group, instance);
    static const char *const defaults[] = {"linger.ms", "0", NULL};
    rd_kafka_t *rk = carrot_kafka_txn_producer_new(conf, cf->brokers, defaults, txid,
                                                   cf->txn_timeout_ms, errstr, errstr_size);
    if (rk) carrot_info("transactional.id %s ready", txid);
    return rk;
}

/* Sleeps the next step of an exponential back-off (100 ms to 5 s). */
static void backoff(long *ms) {
    *ms = *ms ? *ms * 2 : 100;
    if (*ms > 5000) *ms = 5000;
    struct timespec ts = {*ms / 1000, (*ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    scorer_conf_t cf;
    char errstr[512];
    int rc, exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-scorer", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 1;

    scorer_t s = {.cf = &cf, .stop = &stop};
    char instance[128];
    carrot_instance_id(cf.instance, instance, sizeof(instance));
    carrot_log_set_instance(instance); /* in logfmt and JSON lines */
    rd_kafka_message_t **msgs = calloc((size_t)cf.batch_size, sizeof(*msgs));
    s.drain = carrot_drain_new();
    s.board = carrot_board_new(cf.redis_host, (int)cf.redis_port, 5000);
    if (s.board) carrot_board_set_lanes(s.board, (int)cf.redis_lanes);
    if (!msgs || !s.drain || !s.board) {
        carrot_error("out of memory");
        goto out;
    }
    if (make_metrics(&s, errstr, sizeof(errstr)) != 0 ||
        (cf.schema_registry &&
         !(s.registry = carrot_registry_new(cf.schema_registry, errstr, sizeof(errstr)))) ||
        !(s.rules = carrot_rules_load(cf.rules, errstr, sizeof(errstr))) ||
        (*cf.rules_topic && !(s.feed = carrot_rules_feed_new(conf, cf.brokers, cf.rules_topic,
                                                             carrot_rules_program(s.rules), errstr,
                                                             sizeof(errstr)))) ||
        !(s.activity_codec = carrot_activity_codec_new(errstr, sizeof(errstr))) ||
        !(s.award_codec = carrot_award_codec_new(errstr, sizeof(errstr))) ||
        !(s.producer = make_producer(&s, conf, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (!(s.pipe = scorer_pipe_new(s.producer))) {
        carrot_error("could not start the committer thread");
        goto out;
    }
    carrot_info("program %s, rules version %s from %s", carrot_rules_program(s.rules),
                carrot_rules_version(s.rules), cf.rules);
    rules_info(&s, s.rules);
    if (cf.metrics_port)
        carrot_info("metrics on http://%s:%lld/metrics", cf.metrics_listen, cf.metrics_port);
    s.meta_dirty = 1;
    if (s.feed) {
        /* The topic holds the group's version: follow it; when it has none
         * yet for this program, this scorer's file seeds it. */
        if (follow_topic(&s, 15000, 1) == 0) {
            if (carrot_rules_publish(conf, cf.brokers, cf.rules_topic, s.rules, errstr,
                                     sizeof(errstr)) != 0) {
                carrot_error("%s", errstr);
                goto out;
            }
            follow_topic(&s, 0, 0); /* our own record: same text, no switch */
        }
    }
    /* subscribed (so joining the group) once the rules are in force, as always */
    if (!(s.consumer = make_consumer(&s, conf, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* a write to a Redis that went away fails with EPIPE, reported and
     * retried; hiredis does not ask the kernel to spare the process */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, on_signal);

    exit_code = 0;
    int64_t first_ms = 0, last_ms = 0; /* first message seen, last batch committed */
    int64_t redis_warned_ms = 0;       /* when "cannot reach Redis" was last said */
    int64_t redis_checked_ms = 0;      /* when an idle scorer last looked at Redis */
    long abort_backoff_ms = 0;
    while (!stop) {
        if (reload) {
            reload = 0;
            reload_file(&s, conf);
        }
        if (s.feed) follow_topic(&s, 0, 0);
        if (s.meta_dirty) { /* also the first call to Redis: say at once when it is out of reach */
            carrot_board_err_t berr = carrot_board_set_meta(
                s.board, carrot_rules_program(s.rules), carrot_rules_timezone(s.rules),
                carrot_rules_version(s.rules), errstr, sizeof(errstr));
            if (berr == CARROT_BOARD_FATAL) { /* fails again if retried: stop */
                carrot_error("%s: stopping", errstr);
                exit_code = 1;
                break;
            }
            if (berr == CARROT_BOARD_OK) {
                /* before the check against Kafka that the new connections call for */
                carrot_board_open_lanes(s.board, carrot_rules_program(s.rules));
                if (redis_warned_ms)
                    carrot_info("Redis at %s:%lld is reachable", cf.redis_host, cf.redis_port);
                s.meta_dirty = 0;
                redis_warned_ms = 0;
                scorer_redis_state(&s, 1, NULL);
            } else {
                int64_t now_ms = carrot_time_mono_ms();
                if (!redis_warned_ms || now_ms - redis_warned_ms >= 10000) {
                    carrot_warn("cannot reach Redis at %s:%lld (%s): no board can be written; "
                                "retrying",
                                cf.redis_host, cf.redis_port, errstr);
                    redis_warned_ms = now_ms;
                }
                scorer_redis_state(&s, 0, errstr);
            }
        }
        size_t n = carrot_kafka_collect(s.consumer, msgs, (size_t)cf.batch_size, (int)cf.batch_ms,
                                        (int)cf.batch_linger_ms, s.drain, &s.rebalanced, &stop);
        if (rd_kafka_fatal_error(s.consumer, errstr, sizeof(errstr))) {
            carrot_error("stopping: the consumer failed for good (%s); a restart resumes from "
                         "the committed offsets",
                         errstr);
            exit_code = 1;
            break;
        }
        /* the transactions that finished; at most eight batches' messages (and
         * SCORER_PIPE_MAX batches) wait for theirs: enough to ride out a broker's
         * slow commit, and to keep scoring full batches while one commits. Counting
         * batches alone would not do: at a steady rate each is an activity or two */
        size_t inflight_msgs, inflight = scorer_pipe_inflight(s.pipe, &inflight_msgs);
        int reaped = scorer_reap(
            &s, inflight >= SCORER_PIPE_MAX || inflight_msgs >= 8 * (size_t)cf.batch_size ? 1 : 0);
        if (reaped == -2 || s.fatal) {
            for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
            exit_code = 1;
            break;
        }
        if (reaped == -1) { /* rewound to an aborted batch: what is in hand comes again */
            for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
            if (!stop) backoff(&abort_backoff_ms);
            continue;
        }
        if (s.redis_check || carrot_board_connects(s.board) != s.redis_connects) {
            /* the check compares Redis with the committed offsets: none in flight */
            int prior = scorer_reap(&s, 2);
            if (prior != 0 || s.fatal) {
                for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
                if (prior == -2 || s.fatal) {
                    exit_code = 1;
                    break;
                }
                if (!stop) backoff(&abort_backoff_ms);
                continue; /* rewound: the batch comes again */
            }
            /* assigned, or Redis reconnected: it may be behind Kafka; until checked,
             * nothing is applied (it would step over what Redis lost) */
            if (carrot_board_connects(s.board) != s.redis_connects)
                s.meta_dirty = 1; /* a Redis that restarted may have lost it too */
            s.redis_check = 1;
            int checked = scorer_repair_check(&s, msgs, n);
            /* nothing in hand and Redis out of reach: idle as usual (a drained batch run
             * ends there, exit 1), checking again next time */
            if (checked != 0 && (n > 0 || checked != -1)) {
                for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
                if (checked == -2) {
                    exit_code = 1;
                    break;
                }
                if (checked == -1 && !stop) {
                    struct timespec ts = {0, 500 * 1000000L};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
        }
        if (n == 0) {
            /* idle: look at Redis now and then, so readiness says when it is gone (a
             * batch run ends on its own, and what it reports is its exit code) */
            int64_t mono = carrot_time_mono_ms();
            if (!cf.until_drained && !s.meta_dirty && mono - redis_checked_ms >= 2000) {
                redis_checked_ms = mono;
                char tz[64], version[208];
                if (carrot_board_get_meta(s.board, carrot_rules_program(s.rules), tz, sizeof(tz),
                                          version, sizeof(version), errstr,
                                          sizeof(errstr)) != CARROT_BOARD_OK) {
                    scorer_redis_state(&s, 0, errstr);
                    s.meta_dirty = 1; /* written again, and reported, once it is back */
                }
            }
            if (cf.until_drained && carrot_drain_done(s.drain) &&
                scorer_pipe_inflight(s.pipe, NULL) == 0) {
                /* (a connection opened by the last batch, a lane's, marks the meta to
                 * be written again: that is done here, not left behind) */
                if (s.meta_dirty && carrot_board_set_meta(s.board, carrot_rules_program(s.rules),
                                                          carrot_rules_timezone(s.rules),
                                                          carrot_rules_version(s.rules), errstr,
                                                          sizeof(errstr)) == CARROT_BOARD_OK)
                    s.meta_dirty = 0;
                if (s.meta_dirty) { /* drained, yet never wrote a board: not a success */
                    carrot_error("drained, but Redis at %s:%lld could not be reached",
                                 cf.redis_host, cf.redis_port);
                    exit_code = 1;
                }
                break;
            }
            continue;
        }
        if (!first_ms) first_ms = carrot_time_mono_ms();
        rc = scorer_process_batch(&s, msgs, n); /* takes the messages */
        if (rc == 0) abort_backoff_ms = 0;
        else if (rc == -1 && !stop)
            backoff(&abort_backoff_ms); /* rewound: do not spin if the cause persists */
        if (rc == -2) {
            exit_code = 1;
            break;
        }
    }
    /* the batches in flight commit before the scorer leaves its group */
    if (s.pipe && scorer_reap(&s, 2) == -2) exit_code = 1;
    last_ms = s.last_commit_ms;
    carrot_info("stopping: %lld consumed, %lld scored, %lld awards (%lld points), %lld duplicates, "
                "%lld unscored, %lld dead-lettered, %lld transactions aborted",
                s.counts.consumed, s.counts.scored, s.counts.awards, s.counts.points,
                s.counts.duplicates, s.counts.unscored, s.counts.dead_lettered, s.counts.aborted);
    printf("{\"consumed\":%lld,\"scored\":%lld,\"awards\":%lld,\"points\":%lld,"
           "\"duplicates\":%lld,\"unscored\":%lld,\"other_program\":%lld,\"dead_lettered\":%lld,"
           "\"batches\":%lld,\"aborted\":%lld,\"repaired\":%lld,\"rules_switches\":%lld,"
           "\"rules_version\":\"%s\",\"busy_ms\":%lld,\"first_ms\":%lld,\"last_ms\":%lld}\n",
           s.counts.consumed, s.counts.scored, s.counts.awards, s.counts.points,
           s.counts.duplicates, s.counts.unscored, s.counts.other_program, s.counts.dead_lettered,
           s.counts.batches, s.counts.aborted, s.counts.repaired, s.counts.rules_switches,
           carrot_rules_version(s.rules), (long long)(last_ms > first_ms ? last_ms - first_ms : 0),
           (long long)first_ms, (long long)last_ms);
    fflush(stdout);
out:
    if (s.consumer) {
        rd_kafka_consumer_close(s.consumer);
        rd_kafka_destroy(s.consumer);
    }
    scorer_pipe_destroy(s.pipe); /* before its producer */
    if (s.producer) rd_kafka_destroy(s.producer);
    carrot_codec_destroy(s.activity_codec);
    carrot_codec_destroy(s.award_codec);
    carrot_registry_destroy(s.registry);
    carrot_rules_destroy(s.rules);
    carrot_rules_feed_destroy(s.feed);
    carrot_lag_destroy(s.lag);
    carrot_metrics_destroy(s.metrics);
    carrot_board_destroy(s.board);
    carrot_drain_destroy(s.drain);
    free(s.repair_until);
    scorer_scratch_free(&s);
    free(msgs);
    carrot_conf_destroy(conf);
    return exit_code;
}
