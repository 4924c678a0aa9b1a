/* batch.c: one batch of activities, scored exactly once.
 *
 * Order matters: (1) decode and score every message with the rules, and
 * plan where it goes (boards, cap and goal counters); (2) apply it to Redis
 * in one script per partition, which skips offsets at or below the
 * partition's watermark, settles caps and goals, reports duplicates, says
 * what a DELETE takes back (what that CRM record earned) or an UNDELETE
 * gives back, and returns the settled award lines; (3) inside a Kafka
 * transaction, produce dead letters and the awards of fresh events and send
 * the consumer offsets; (4) commit. A crash anywhere replays the batch:
 * Redis ignores what it already applied and returns the same lines, and the
 * aborted transaction's awards are never seen by read_committed readers. */
#include "carrot/activity.h"
#include "carrot/award.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per batch scratch: strings and encoded awards copied out of the codecs,
 * whose values are reused per message. */
typedef struct {
    char *buf;
    size_t len, cap;
} arena_t;

static size_t arena_put(arena_t *a, const void *data, size_t len, int *oom) {
    if (a->len + len > a->cap) {
        size_t cap = a->cap ? a->cap : 65536;
        while (cap < a->len + len) cap *= 2;
        char *nb = realloc(a->buf, cap);
        if (!nb) {
            *oom = 1;
            return 0;
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, data, len);
    a->len += len;
    return a->len - len;
}

static size_t arena_str(arena_t *a, const char *s, int *oom) {
    return arena_put(a, s, strlen(s) + 1, oom);
}

#define NONE ((size_t)-1) /* an absent optional string */

typedef struct {
    int32_t partition;
    int64_t offset, occurred_at;
    carrot_board_kind_t kind;
    /* arena offsets */
    size_t program, event_id, participant, record, type, segment, team, region;
    /* AWARD: what the rules say, and where it goes */
    carrot_scoring_t *sc;
    carrot_plan_t *plan;
    carrot_board_result_t *res; /* what Redis says the event did */
} pending_t;

typedef struct {
    size_t msg; /* index into msgs */
    char reason[512];
} dead_t;

static int produce_txn(scorer_t *s, const char *topic, const void *key, size_t keylen,
                       const void *val, size_t len, rd_kafka_headers_t *hdrs) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err) return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            carrot_error("could not produce to %s: %s", topic, rd_kafka_err2str(err));
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            return -1;
        }
        rd_kafka_poll(s->producer, 50);
    }
}

static int dead_letter(scorer_t *s, const rd_kafka_message_t *m, const char *reason) {
    char where[64];
    snprintf(where, sizeof(where), "%d:%lld", (int)m->partition, (long long)m->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "carrot.error", -1, reason, -1);
    rd_kafka_header_add(h, "carrot.stage", -1, "scorer", -1);
    rd_kafka_header_add(h, "carrot.source", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(h, "carrot.offset", -1, where, -1);
    return produce_txn(s, s->cf->dlq_topic, m->key, m->key_len, m->payload, m->len, h);
}

#define OPT(ar, off) ((off) == NONE ? NULL : (ar)->buf + (off))

/* Produces the awards of one event, one per settled line, as Redis returned
 * them (a replay returns the first delivery's lines and rules version).
 * Returns the number produced, or -1. */
static int produce_awards(scorer_t *s, arena_t *ar, pending_t *p, int64_t now) {
    const carrot_board_result_t *res = p->res;
    for (int i = 0; i < res->nlines; i++) {
        char award_id[352], errstr[512];
        snprintf(award_id, sizeof(award_id), "%.256s/%.80s", ar->buf + p->event_id,
                 res->lines[i].rule_id);
        carrot_award_t aw = {.award_id = award_id,
                             .program_id = ar->buf + p->program,
                             .event_id = ar->buf + p->event_id,
                             .participant_id = res->participant_id,
                             .segment = OPT(ar, p->segment),
                             .team_id = OPT(ar, p->team),
                             .region = OPT(ar, p->region),
                             .activity_type = res->activity_type,
                             .rule_id = res->lines[i].rule_id,
                             .rules_version = res->version[0] ? res->version
                                                              : carrot_rules_version(s->rules),
                             .points = res->lines[i].points,
                             .occurred_at = p->occurred_at,
                             .awarded_at = now};
        avro_value_t *av = carrot_codec_value(s->award_codec);
        const void *buf;
        size_t len;
        if (carrot_award_to_avro(&aw, av, errstr, sizeof(errstr)) != 0 ||
            carrot_codec_encode(s->award_codec, av, &buf, &len, errstr, sizeof(errstr)) !=
                CARROT_CODEC_OK) {
            carrot_error("%s", errstr); /* our own schema: a bug, not bad input */
            return -1;
        }
        if (produce_txn(s, s->cf->awards_topic, aw.participant_id, strlen(aw.participant_id), buf,
                        len, NULL) != 0)
            return -1;
    }
    return res->nlines;
}

/* Rewinds every partition of the batch to its first offset in the batch. */
static void rewind_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        if (!rd_kafka_topic_partition_list_find(parts, t, msgs[i]->partition))
            rd_kafka_topic_partition_list_add(parts, t, msgs[i]->partition)->offset =
                msgs[i]->offset;
    }
    rd_kafka_error_t *err = rd_kafka_seek_partitions(s->consumer, parts, 10000);
    if (err) {
        carrot_warn("could not rewind after an aborted transaction: %s",
                    rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Next offsets to consume, per partition, for send_offsets_to_transaction. */
static rd_kafka_topic_partition_list_t *batch_offsets(rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(parts, t,
                                                                           msgs[i]->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(parts, t, msgs[i]->partition);
        if (msgs[i]->offset + 1 > p->offset) p->offset = msgs[i]->offset + 1;
    }
    return parts;
}

/* Aborts after an abortable error; -2 if even that fails (fatal). */
static int abort_and_rewind(scorer_t *s, rd_kafka_message_t **msgs, size_t n,
                            rd_kafka_error_t *why) {
    carrot_warn("aborting transaction: %s", why ? rd_kafka_error_string(why) : "batch failed");
    if (why) rd_kafka_error_destroy(why);
    rd_kafka_error_t *err = rd_kafka_abort_transaction(s->producer, 60000);
    if (err) {
        carrot_error("could not abort transaction: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        return -2;
    }
    s->counts.aborted++;
    carrot_metric_add(s->m_aborted, 1);
    rewind_batch(s, msgs, n);
    return -1;
}

/* Applies the events to Redis, one script call per partition. Retries
 * while Redis is unreachable: the script is idempotent. */
static int apply_board(scorer_t *s, arena_t *ar, pending_t *pend, size_t npend, int64_t now,
                       carrot_board_result_t *results) {
    size_t cnt = npend ? npend : 1;
    carrot_board_event_t *ev = calloc(cnt, sizeof(*ev));
    carrot_board_line_t *lines = malloc(cnt * CARROT_RULES_MAX_LINES * sizeof(*lines));
    carrot_board_goal_t *goals = malloc(cnt * CARROT_RULES_MAX_GOALS * sizeof(*goals));
    const char **names = malloc(cnt * CARROT_BOARD_MAX_BOARDS * sizeof(*names));
    int64_t *expires = malloc(cnt * CARROT_BOARD_MAX_BOARDS * sizeof(*expires));
    carrot_board_result_t *res = malloc(cnt * sizeof(*res));
    size_t *idx = malloc(cnt * sizeof(*idx));
    unsigned char *done = calloc(cnt, 1);
    int rc = 0;
    if (!ev || !lines || !goals || !names || !expires || !idx || !res || !done) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    const char *program = carrot_rules_program(s->rules);
    for (size_t i = 0; i < npend; i++) {
        if (done[i]) continue;
        size_t k = 0;
        for (size_t j = i; j < npend; j++) {
            if (done[j] || pend[j].partition != pend[i].partition) continue;
            pending_t *p = &pend[j];
            carrot_board_event_t *e = &ev[k];
            done[j] = 1;
            idx[k] = j;
            memset(e, 0, sizeof(*e));
            e->offset = p->offset;
            e->event_id = ar->buf + p->event_id;
            e->kind = p->kind;
            e->record = ar->buf + p->record;
            e->version = carrot_rules_version(s->rules);
            e->participant_id = ar->buf + p->participant;
            e->activity_type = ar->buf + p->type;
            if (p->kind == CARROT_BOARD_AWARD) {
                const carrot_scoring_t *sc = p->sc;
                const carrot_plan_t *pl = p->plan;
                const char **nm = names + k * CARROT_BOARD_MAX_BOARDS;
                int64_t *ex = expires + k * CARROT_BOARD_MAX_BOARDS;
                for (int b = 0; b < pl->nboards; b++) {
                    nm[b] = pl->boards[b].name;
                    ex[b] = pl->boards[b].expire_at;
                }
                e->nboards = (size_t)pl->nboards;
                e->boards = nm;
                e->board_expire_at = ex;
                carrot_board_line_t *ln = lines + k * CARROT_RULES_MAX_LINES;
                for (int l = 0; l < sc->nlines; l++) {
                    ln[l].rule_id = sc->lines[l].rule_id;
                    ln[l].points = sc->lines[l].points;
                }
                e->nlines = (size_t)sc->nlines;
                e->lines = ln;
                if (pl->cap_key[0]) {
                    e->cap_key = pl->cap_key;
                    e->cap_rule = sc->kpi;
                    e->cap_points = sc->cap_points;
                    e->cap_expire_at = pl->cap_expire_at;
                }
                carrot_board_goal_t *g = goals + k * CARROT_RULES_MAX_GOALS;
                for (int q = 0; q < sc->ngoals; q++) {
                    g[q].key = pl->goal_keys[q];
                    g[q].rule_id = pl->goal_rules[q];
                    g[q].target = sc->goals[q].target;
                    g[q].bonus = sc->goals[q].bonus;
                    g[q].expire_at = pl->goal_expire_at[q];
                }
                e->ngoals = (size_t)sc->ngoals;
                e->goals = g;
            }
            k++;
        }
        char stream[300], errstr[512];
        snprintf(stream, sizeof(stream), "%s:%d", s->cf->topic, (int)pend[i].partition);
        int backoff_ms = 100;
        carrot_board_err_t berr;
        while ((berr = carrot_board_apply(s->board, program, stream, ev, k, s->cf->seen_ttl,
                                          now / 1000, res, errstr, sizeof(errstr))) !=
               CARROT_BOARD_OK) {
            if (berr == CARROT_BOARD_FATAL) {
                /* the same batch would fail the same way; and a script that failed half way
                 * has left its writes (Redis does not undo them): stop, and let a person look */
                carrot_error("%s: stopping; nothing of this batch was committed to Kafka", errstr);
                rc = -2;
                goto out;
            }
            carrot_metric_set(s->m_redis_up, 0);
            if (*s->stop) {
                rc = -1;
                goto out;
            }
            carrot_warn("%s; retrying in %d ms", errstr, backoff_ms);
            struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (backoff_ms < 5000) backoff_ms *= 2;
        }
        carrot_metric_set(s->m_redis_up, 1);
        for (size_t m = 0; m < k; m++) {
            results[idx[m]] = res[m];
            pend[idx[m]].res = &results[idx[m]];
        }
    }
out:
    free(ev);
    free(lines);
    free(goals);
    free(names);
    free(expires);
    free(idx);
    free(res);
    free(done);
    return rc;
}
int scorer_process_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    arena_t ar = {0};
    pending_t *pend = calloc(n, sizeof(*pend));
    carrot_scoring_t *scorings = malloc(n * sizeof(*scorings));
    carrot_plan_t *plans = malloc(n * sizeof(*plans));
    carrot_board_result_t *results = malloc(n * sizeof(*results));
    dead_t *dead = calloc(n, sizeof(*dead));
    size_t npend = 0, ndead = 0;
    long long other = 0, unscored = 0; /* counted only once the batch commits */
    int oom = 0, rc = 0;
    char errstr[512];
    const char *program = carrot_rules_program(s->rules);
    int64_t now = carrot_time_now_ms();
    rd_kafka_error_t *kerr;

    if (!pend || !scorings || !plans || !results || !dead) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    /* (1) decode and score */
    for (size_t i = 0; i < n && !oom; i++) {
        rd_kafka_message_t *m = msgs[i];
        avro_value_t *value;
        carrot_activity_t act;
        carrot_codec_err_t cerr = carrot_registry_decode(s->registry, s->activity_codec, m->payload,
                                                         m->len, &value, errstr, sizeof(errstr));
        if (cerr != CARROT_CODEC_OK ||
            carrot_activity_from_avro(value, &act, errstr, sizeof(errstr)) != 0 ||
            carrot_activity_validate(&act, errstr, sizeof(errstr)) != 0) {
            dead[ndead].msg = i;
            snprintf(dead[ndead++].reason, sizeof(dead[0].reason), "%s", errstr);
            continue;
        }
        if (strcmp(act.program_id, program) != 0) {
            other++;
            continue;
        }
        /* CREATE scores by the rules; DELETE and UNDELETE act on what the record
         * earned, which only Redis knows; UPDATE earns nothing */
        carrot_scoring_t *sc = &scorings[npend];
        carrot_board_kind_t kind = CARROT_BOARD_AWARD;
        int scored = 0; /* lines plus goals */
        memset(sc, 0, sizeof(*sc));
        if (act.change_type == CARROT_CHANGE_CREATE)
            scored = carrot_rules_score(s->rules, &act, sc);
        else if (act.change_type == CARROT_CHANGE_DELETE)
            kind = CARROT_BOARD_REVERSE;
        else if (act.change_type == CARROT_CHANGE_UNDELETE)
            kind = CARROT_BOARD_RESTORE;
        /* A CREATE the rules give nothing still goes to Redis: if an earlier
         * run of this batch scored it under other rules (a switch between a
         * crash and the replay), Redis returns what that run did. */
        char record[600];
        snprintf(record, sizeof(record), "%.256s:%.256s", act.source_system, act.source_record_id);
        pending_t *p = &pend[npend++];
        p->partition = m->partition;
        p->offset = m->offset;
        p->occurred_at = act.occurred_at;
        p->kind = kind;
        p->sc = sc;
        p->plan = &plans[npend - 1];
        p->program = arena_str(&ar, act.program_id, &oom);
        p->event_id = arena_str(&ar, act.event_id, &oom);
        p->participant = arena_str(&ar, act.participant_id, &oom);
        p->record = arena_str(&ar, record, &oom);
        p->type = arena_str(&ar, act.activity_type, &oom);
        p->segment = act.segment ? arena_str(&ar, act.segment, &oom) : NONE;
        p->team = act.team_id ? arena_str(&ar, act.team_id, &oom) : NONE;
        p->region = act.region ? arena_str(&ar, act.region, &oom) : NONE;
        p->plan->nboards = 0;
        p->plan->cap_key[0] = '\0';
        if (kind == CARROT_BOARD_AWARD && scored > 0 &&
            carrot_board_plan(s->rules, &act, sc, p->plan, errstr, sizeof(errstr)) !=
                CARROT_BOARD_OK) {
            carrot_error("%s", errstr);
            rc = -2;
            goto out;
        }
    }
    if (oom) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    /* (2) Redis, before the transaction commits: a replay is absorbed there */
    rc = apply_board(s, &ar, pend, npend, now, results);
    if (rc) goto out;

    /* (3) the transaction */
    if ((kerr = rd_kafka_begin_transaction(s->producer))) {
        carrot_error("could not begin transaction: %s", rd_kafka_error_string(kerr));
        rd_kafka_error_destroy(kerr);
        rc = -2;
        goto out;
    }
    for (size_t d = 0; d < ndead; d++) {
        carrot_warn("dead letter %s [%d] @%lld: %s", rd_kafka_topic_name(msgs[dead[d].msg]->rkt),
                    (int)msgs[dead[d].msg]->partition, (long long)msgs[dead[d].msg]->offset,
                    dead[d].reason);
        if (dead_letter(s, msgs[dead[d].msg], dead[d].reason) != 0) {
            rc = abort_and_rewind(s, msgs, n, NULL);
            goto out;
        }
    }
    long long scored = 0, nproduced = 0, points = 0, dups = 0;
    for (size_t i = 0; i < npend; i++) {
        pending_t *p = &pend[i];
        if (!p->res->fresh) {
            dups++;
            continue;
        }
        if (p->res->nlines == 0) { /* earns nothing; or nothing stood to take back or give
                                      back; or its record was deleted before it was scored */
            unscored++;
            continue;
        }
        int k = produce_awards(s, &ar, p, now);
        if (k < 0) {
            rc = abort_and_rewind(s, msgs, n, NULL);
            goto out;
        }
        scored++;
        nproduced += k;
        points += p->res->amount;
    }
    rd_kafka_topic_partition_list_t *offsets = batch_offsets(msgs, n);
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(s->consumer);
    kerr = rd_kafka_send_offsets_to_transaction(s->producer, offsets, cgmd, -1);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (!kerr) {
        /* (4) commit; a retriable error is retried, an abortable one rewinds */
        while ((kerr = rd_kafka_commit_transaction(s->producer, -1)) &&
               rd_kafka_error_is_retriable(kerr)) {
            carrot_warn("commit failed, retrying: %s", rd_kafka_error_string(kerr));
            rd_kafka_error_destroy(kerr);
        }
    }
    if (kerr) {
        if (rd_kafka_error_is_fatal(kerr) || !rd_kafka_error_txn_requires_abort(kerr)) {
            carrot_error("transaction failed: %s", rd_kafka_error_string(kerr));
            rd_kafka_error_destroy(kerr);
            rc = -2;
            goto out;
        }
        rc = abort_and_rewind(s, msgs, n, kerr);
        goto out;
    }
    s->counts.consumed += (long long)n;
    s->counts.scored += scored;
    s->counts.awards += nproduced;
    s->counts.points += points;
    s->counts.duplicates += dups;
    s->counts.dead_lettered += (long long)ndead;
    s->counts.other_program += other;
    s->counts.unscored += unscored;
    s->counts.batches++;
    carrot_metric_add(s->m_consumed, (double)n);
    carrot_metric_add(s->m_scored, (double)scored);
    carrot_metric_add(s->m_awards, (double)nproduced);
    carrot_metric_add(s->m_points, (double)points);
    carrot_metric_add(s->m_duplicates, (double)dups);
    carrot_metric_add(s->m_dead, (double)ndead);
    carrot_metric_add(s->m_other, (double)other);
    carrot_metric_add(s->m_unscored, (double)unscored);
    carrot_metric_add(s->m_batches, 1);
    int64_t done = carrot_time_now_ms();
    carrot_metric_set(s->m_last_commit, (double)done / 1000.0);
    carrot_metric_observe(s->m_batch_seconds, (double)(done - now) / 1000.0);
    int64_t wall = carrot_time_wall_ms();
    for (size_t i = 0; i < n && s->m_lag; i++) { /* produced to committed, per activity */
        int64_t ts = rd_kafka_message_timestamp(msgs[i], NULL);
        /* Kafka stamps by the wall clock, which a test clock shift leaves alone */
        if (ts > 0) carrot_metric_observe(s->m_lag, (double)(wall - ts) / 1000.0);
    }
out:
    free(ar.buf);
    free(pend);
    free(scorings);
    free(plans);
    free(results);
    free(dead);
    return rc;
}
