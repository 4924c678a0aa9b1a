/* batch.c: one batch of activities, scored exactly once.
 *
 * Order matters: (1) decode and score every message with the rules, and
 * plan where it goes (boards, cap and goal counters); (2) apply it to Redis
 * in one transaction per partition, which skips offsets at or below the
 * partition's watermark, settles caps and goals, reports duplicates, says
 * what a DELETE takes back (what that CRM record earned) or an UNDELETE
 * gives back, and returns the settled award lines; (3) encode its dead
 * letters and the awards of fresh events, and hand them with the consumer
 * offsets to the committer (commit.c), whose Kafka transaction commits them
 * all or none while the next batch is scored; (4) reap: count what
 * committed, rewind what did not. A crash anywhere replays from the
 * committed offsets: Redis ignores what it already applied and returns the
 * same lines, and an aborted transaction's awards are never seen by
 * read_committed readers. */
#include "carrot/activity.h"
#include "carrot/award.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per batch scratch for the strings an event keeps after the codec's next
 * decode. Blocks never move, so pointers into them stay valid all batch. */
typedef struct block_s {
    struct block_s *next;
    size_t len, cap;
    char data[];
} block_t;

typedef struct {
    block_t *head;
    int oom;
} arena_t;

/* A copy of s for carrot_activity_keep(); "" (and oom set) when out of memory. */
static const char *arena_str(void *ctx, const char *s) {
    arena_t *a = ctx;
    size_t len = strlen(s) + 1;
    block_t *b = a->head;
    if (!b || b->cap - b->len < len) {
        size_t cap = len > 65536 ? len : 65536;
        if (!(b = malloc(sizeof(*b) + cap))) {
            a->oom = 1;
            return "";
        }
        *b = (block_t){.next = a->head, .cap = cap};
        a->head = b;
    }
    char *p = memcpy(b->data + b->len, s, len);
    b->len += len;
    return p;
}

static void arena_free(arena_t *a) {
    for (block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
}

typedef struct {
    int32_t partition;
    int64_t offset;
    carrot_board_kind_t kind;
    carrot_activity_t act;      /* kept in the arena (carrot_activity_keep) */
    carrot_scoring_t *sc;       /* AWARD that earns or counts: what the rules say; else NULL */
    carrot_plan_t *plan;        /* with sc: where it goes */
    carrot_board_result_t *res; /* what Redis says the event did */
} pending_t;

typedef struct {
    size_t msg; /* index into msgs */
    char reason[512];
} dead_t;

/* Encodes the awards of one event into t, one per settled line, as Redis
 * returned them (a replay returns the first delivery's lines and rules
 * version). Returns the number encoded, or -1. */
static int encode_awards(scorer_t *s, scorer_txn_t *t, pending_t *p, int64_t now) {
    const carrot_board_result_t *res = p->res;
    char stream[300]; /* the board watermark's, as apply_board() names it */
    snprintf(stream, sizeof(stream), "%s:%d", s->cf->topic, (int)p->partition);
    size_t stream_at = scorer_txn_put(t, stream, strlen(stream));
    for (int i = 0; i < res->nlines; i++) {
        char award_id[352], errstr[512];
        snprintf(award_id, sizeof(award_id), "%.256s/%.80s", p->act.event_id,
                 res->lines[i].rule_id);
        carrot_award_t aw = {.award_id = award_id,
                             .program_id = p->act.program_id,
                             .event_id = p->act.event_id,
                             .participant_id = res->participant_id,
                             .segment = p->act.segment,
                             .team_id = p->act.team_id,
                             .region = p->act.region,
                             .activity_type = res->activity_type,
                             .rule_id = res->lines[i].rule_id,
                             .rules_version = res->version[0] ? res->version
                                                              : carrot_rules_version(s->rules),
                             .points = res->lines[i].points,
                             .occurred_at = p->act.occurred_at,
                             .awarded_at = now};
        const void *buf;
        size_t len;
        if (carrot_award_encode(s->award_codec, &aw, &buf, &len, errstr, sizeof(errstr)) != 0) {
            carrot_error("%s", errstr);
            return -1;
        }
        scorer_rec_t *r = scorer_txn_rec(t);
        if (!r) return -1;
        r->value = scorer_txn_put(t, buf, len);
        r->value_len = len;
        r->key_len = strlen(res->participant_id);
        r->key = scorer_txn_put(t, res->participant_id, r->key_len);
        r->stream = stream_at;
        r->offset = p->offset;
        if (t->oom) return -1;
    }
    return res->nlines;
}

/* Rewinds every partition of the batch to its first offset in the batch. */
/* Adds to parts the first offset of each partition of msgs[0..n) that parts
 * does not name yet (called oldest batch first: the earliest wins). */
static void add_firsts(rd_kafka_topic_partition_list_t *parts, rd_kafka_message_t *const *msgs,
                       size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        if (!rd_kafka_topic_partition_list_find(parts, t, msgs[i]->partition))
            rd_kafka_topic_partition_list_add(parts, t, msgs[i]->partition)->offset =
                msgs[i]->offset;
    }
}

/* Seeks the consumer to parts, and destroys the list. */
static void seek_back(scorer_t *s, rd_kafka_topic_partition_list_t *parts) {
    rd_kafka_error_t *err = parts->cnt ? rd_kafka_seek_partitions(s->consumer, parts, 10000) : NULL;
    if (err) {
        carrot_warn("could not rewind to the batch to read again: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void rewind_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    add_firsts(parts, msgs, n);
    seek_back(s, parts);
}

/* Next offsets to consume, per partition, for send_offsets_to_transaction. */
/* The next offset of each partition of the batch. With s, those a replay
 * into Redis has not yet carried past its committed offset are left out:
 * committing them would move the group's offsets back. */
static rd_kafka_topic_partition_list_t *batch_offsets(const scorer_t *s, rd_kafka_message_t **msgs,
                                                      size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(parts, t,
                                                                           msgs[i]->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(parts, t, msgs[i]->partition);
        if (msgs[i]->offset + 1 > p->offset) p->offset = msgs[i]->offset + 1;
    }
    for (int i = parts->cnt - 1; s && i >= 0; i--)
        if (parts->elems[i].offset <= scorer_repair_until(s, parts->elems[i].partition))
            rd_kafka_topic_partition_list_del_by_idx(parts, i);
    return parts;
}

/* Applies the jobs (one per partition) to Redis. 0; -3 when Redis could not
 * be reached: the batch is dropped and read again once Redis is checked
 * against Kafka (it may come back having lost writes, and applying this
 * batch first would step over the gap); -2 on a fatal error. */
static int apply_jobs(scorer_t *s, const carrot_board_job_t *jobs, size_t njobs, int64_t now) {
    char errstr[512];
    const char *program = carrot_rules_program(s->rules);
    carrot_board_err_t berr = carrot_board_apply_jobs(
        s->board, program, jobs, njobs, s->cf->seen_ttl, now / 1000, errstr, sizeof(errstr));
    if (berr == CARROT_BOARD_FATAL) {
        /* the same batch would fail the same way; and a transaction that failed half way
         * has left its writes (Redis does not undo them): stop, and let a person look */
        carrot_error("%s: stopping; nothing of this batch was committed to Kafka", errstr);
        return -2;
    }
    if (berr != CARROT_BOARD_OK) {
        carrot_warn("%s; the batch is read again once Redis answers", errstr);
        scorer_redis_state(s, 0, errstr);
        s->redis_check = 1;
        return -3;
    }
    scorer_redis_state(s, 1, NULL);
    unsigned long conflicts = carrot_board_conflicts(s->board);
    carrot_metric_add(s->m_conflicts, (double)(conflicts - s->conflicts_seen));
    s->conflicts_seen = conflicts;
    return 0;
}

/* Applies the events to Redis, one job per partition, jobs in the order the
 * batch first names their partitions (a DELETE and its CREATE may sit on
 * two: carrot_board_apply_jobs() keeps that order for jobs that share a
 * record), each partition's events in offset order; partitions with none of
 * the program's events only move their watermark along. Grouped by a
 * counting sort: results[] ends up in that grouped order, and each pending
 * points to its own. */
static int apply_board(scorer_t *s, rd_kafka_message_t **msgs, size_t n, pending_t *pend,
                       size_t npend, int64_t now, carrot_board_result_t *results) {
    int32_t maxp = 0;
    for (size_t i = 0; i < n; i++)
        if (msgs[i]->partition > maxp) maxp = msgs[i]->partition;
    size_t cnt = npend ? npend : 1, none = (size_t)-1, ngroups = 0, np = (size_t)maxp + 1;
    size_t *group_of = malloc(np * sizeof(*group_of));     /* by partition */
    int64_t *through = malloc(np * sizeof(*through));      /* by partition */
    size_t *group = malloc(cnt * sizeof(*group));          /* by pending: its group */
    size_t *start = calloc(cnt + 1, sizeof(*start));       /* by group: its first event */
    int32_t *partition = malloc(cnt * sizeof(*partition)); /* by group */
    carrot_board_event_t *ev = malloc(cnt * sizeof(*ev));
    carrot_board_job_t *jobs = malloc((cnt + np) * sizeof(*jobs)); /* groups, then the rest */
    char(*streams)[300] = malloc(np * sizeof(*streams));           /* by partition */
    int rc = 0;
    if (!group_of || !through || !group || !start || !partition || !ev || !jobs || !streams) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    for (int32_t p = 0; p <= maxp; p++) {
        group_of[p] = none;
        through[p] = -1;
        snprintf(streams[p], sizeof(streams[p]), "%s:%d", s->cf->topic, (int)p);
    }
    for (size_t i = 0; i < n; i++)
        if (msgs[i]->offset > through[msgs[i]->partition])
            through[msgs[i]->partition] = msgs[i]->offset;
    for (size_t i = 0; i < npend; i++) {
        size_t *g = &group_of[pend[i].partition];
        if (*g == none) {
            partition[ngroups] = pend[i].partition;
            *g = ngroups++;
        }
        group[i] = *g;
        start[*g + 1]++;
    }
    for (size_t g = 0; g < ngroups; g++) start[g + 1] += start[g];
    const char *version = carrot_rules_version(s->rules);
    for (size_t i = 0; i < npend; i++) { /* afterwards start[g] is where group g ends */
        pending_t *p = &pend[i];
        size_t at = start[group[i]]++;
        ev[at] = (carrot_board_event_t){.offset = p->offset,
                                        .kind = p->kind,
                                        .event_id = p->act.event_id,
                                        .activity = &p->act,
                                        .version = version,
                                        .scoring = p->sc,
                                        .plan = p->plan};
        p->res = &results[at];
    }
    size_t njobs = 0;
    for (size_t g = 0, first = 0; g < ngroups; first = start[g++]) {
        int32_t p = partition[g];
        size_t m = start[g] - first;
        /* the watermark moves past the batch's last messages there even when
         * they were not the program's (another program's, dead letters) */
        jobs[njobs++] = (carrot_board_job_t){
            streams[p], ev + first, m, through[p] > ev[first + m - 1].offset ? through[p] : -1,
            results + first};
    }
    for (int32_t p = 0; p <= maxp; p++) /* partitions with none of the program's events */
        if (through[p] >= 0 && group_of[p] == none)
            jobs[njobs++] = (carrot_board_job_t){streams[p], NULL, 0, through[p], NULL};
    rc = apply_jobs(s, jobs, njobs, now);
out:
    free(group_of);
    free(through);
    free(group);
    free(start);
    free(partition);
    free(ev);
    free(jobs);
    free(streams);
    return rc;
}

/* A batch's working arrays, kept from one batch to the next: a plan and a
 * result are some 7 KB each, so a batch's are megabytes, which malloc maps
 * and unmaps, and the kernel faults in again, every batch if freed. */
struct scorer_scratch_s {
    size_t cap;
    pending_t *pend;
    carrot_scoring_t *scorings;
    carrot_plan_t *plans;
    carrot_board_result_t *results;
    dead_t *dead;
};

static void arrays_free(scorer_t *s) {
    scorer_scratch_t *x = s->scratch;
    if (!x) return;
    free(x->pend);
    free(x->scorings);
    free(x->plans);
    free(x->results);
    free(x->dead);
    free(x);
    s->scratch = NULL;
}

void scorer_scratch_free(scorer_t *s) {
    for (scorer_txn_t *t = s->spare, *next; t; t = next) {
        next = t->next;
        scorer_txn_free(t);
    }
    s->spare = NULL;
    arrays_free(s);
}

/* The arrays for n messages (grown, never shrunk); NULL when out of memory. */
static scorer_scratch_t *scratch(scorer_t *s, size_t n) {
    scorer_scratch_t *x = s->scratch;
    if (x && x->cap >= n) return x;
    arrays_free(s);
    if (!(x = s->scratch = calloc(1, sizeof(*x)))) return NULL;
    x->cap = n;
    x->pend = malloc(n * sizeof(*x->pend));
    x->scorings = malloc(n * sizeof(*x->scorings));
    x->plans = malloc(n * sizeof(*x->plans));
    x->results = malloc(n * sizeof(*x->results));
    x->dead = malloc(n * sizeof(*x->dead));
    if (!x->pend || !x->scorings || !x->plans || !x->results || !x->dead) {
        arrays_free(s);
        return NULL;
    }
    return x;
}

/* A transaction to fill, holding msgs[0..n) (taken from the caller);
 * NULL when out of memory (the messages are then destroyed). */
static scorer_txn_t *take_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    scorer_txn_t *t = s->spare;
    if (t) s->spare = t->next;
    else
        t = scorer_txn_new();
    if (t && t->msgcap < n) {
        rd_kafka_message_t **m = realloc(t->msgs, n * sizeof(*m));
        if (m) t->msgs = m, t->msgcap = n;
    }
    if (!t || t->msgcap < n) {
        for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
        if (t) {
            t->next = s->spare;
            s->spare = t;
        }
        return NULL;
    }
    memcpy(t->msgs, msgs, n * sizeof(*msgs));
    t->n = n;
    t->oom = 0;
    t->awards_topic = s->cf->awards_topic;
    t->dlq_topic = s->cf->dlq_topic;
    return t;
}

/* Gives t back for reuse, destroying its messages. */
static void give_back(scorer_t *s, scorer_txn_t *t) {
    scorer_txn_reset(t);
    t->next = s->spare;
    s->spare = t;
}

int scorer_process_batch(scorer_t *s, rd_kafka_message_t **in, size_t n) {
    arena_t ar = {0};
    scorer_txn_t *t = take_batch(s, in, n);
    if (!t) {
        carrot_error("out of memory");
        return -2;
    }
    rd_kafka_message_t **msgs = t->msgs;
    t->started_ms = carrot_time_mono_ms(); /* carrot_scorer_batch_seconds: start to commit */
    scorer_scratch_t *x = scratch(s, n ? n : 1);
    pending_t *pend = x ? x->pend : NULL;
    carrot_scoring_t *scorings = x ? x->scorings : NULL;
    carrot_plan_t *plans = x ? x->plans : NULL;
    carrot_board_result_t *results = x ? x->results : NULL;
    dead_t *dead = x ? x->dead : NULL;
    if (x) memset(pend, 0, n * sizeof(*pend)); /* the rest is written before it is read */
    size_t npend = 0, ndead = 0;
    long long other = 0; /* counted only once the batch commits */
    int rc = 0;
    char errstr[512];
    const char *program = carrot_rules_program(s->rules);
    int64_t now = carrot_time_now_ms();

    if (!pend || !scorings || !plans || !results || !dead) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    /* (1) decode and score */
    for (size_t i = 0; i < n && !ar.oom; i++) {
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
        if (act.change_type == CARROT_CHANGE_CREATE)
            scored = carrot_rules_score(s->rules, &act, sc);
        else if (act.change_type == CARROT_CHANGE_DELETE)
            kind = CARROT_BOARD_REVERSE;
        else if (act.change_type == CARROT_CHANGE_UNDELETE)
            kind = CARROT_BOARD_RESTORE;
        /* A CREATE the rules give nothing still goes to Redis: if an earlier
         * run of this batch scored it under other rules (a switch between a
         * crash and the replay), Redis returns what that run did. */
        pending_t *p = &pend[npend];
        p->partition = m->partition;
        p->offset = m->offset;
        p->kind = kind;
        carrot_activity_keep(&act, &p->act, arena_str, &ar);
        if (kind == CARROT_BOARD_AWARD && scored > 0) {
            p->sc = sc;
            p->plan = &plans[npend];
            if (carrot_board_plan(s->rules, &act, sc, p->plan, errstr, sizeof(errstr)) !=
                CARROT_BOARD_OK) {
                carrot_error("%s", errstr);
                rc = -2;
                goto out;
            }
        }
        npend++;
    }
    if (ar.oom) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    /* (2) Redis, before the transaction commits: a replay is absorbed there */
    rc = apply_board(s, msgs, n, pend, npend, now, results);
    if (rc == -3) { /* Redis out of reach: read the batch again once it is checked */
        rewind_batch(s, msgs, n);
        rc = -1;
    }
    if (rc) goto out;

    /* (3) what the transaction produces, encoded here; the committer runs it */
    for (size_t d = 0; d < ndead; d++) {
        const rd_kafka_message_t *dm = msgs[dead[d].msg];
        if (dm->offset < scorer_repair_until(s, dm->partition))
            continue; /* dead-lettered when first read */
        carrot_log_kafka_t at = {rd_kafka_topic_name(dm->rkt), dm->partition, dm->offset};
        carrot_logk(CARROT_LOG_WARN, &at, "dead letter: %s", dead[d].reason);
        scorer_rec_t *r = scorer_txn_rec(t);
        if (r) {
            r->msg = (long)dead[d].msg;
            r->value = scorer_txn_put(t, dead[d].reason, strlen(dead[d].reason));
        }
        t->counts.dead_lettered++;
    }
    scorer_counts_t *c = &t->counts;
    for (size_t i = 0; i < npend && !t->oom; i++) {
        pending_t *p = &pend[i];
        if (p->offset < scorer_repair_until(s, p->partition)) {
            c->repaired++; /* replayed into Redis only: their awards are in Kafka already */
            continue;
        }
        if (!p->res->fresh) {
            c->duplicates++;
            continue;
        }
        if (p->res->nlines == 0) { /* earns nothing; or nothing stood to take back or give
                                      back; or its record was deleted before it was scored */
            c->unscored++;
            continue;
        }
        int k = encode_awards(s, t, p, now);
        if (k < 0) break;
        c->scored++;
        c->awards += k;
        c->points += p->res->amount;
    }
    if (t->oom) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    c->consumed = (long long)n;
    c->other_program = other;
    t->offsets = batch_offsets(s, msgs, n);
    t->cgmd = rd_kafka_consumer_group_metadata(s->consumer);
    scorer_pipe_push(s->pipe, t);
    t = NULL;
out:
    if (t) give_back(s, t);
    arena_free(&ar);
    return rc;
}

/* Counts a committed batch. */
static void committed(scorer_t *s, const scorer_txn_t *t) {
    rd_kafka_message_t *const *msgs = t->msgs;
    size_t n = t->n;
    rd_kafka_topic_partition_list_t *reached = batch_offsets(NULL, (rd_kafka_message_t **)msgs, n);
    for (int i = 0; i < reached->cnt; i++)
        scorer_repair_progress(s, reached->elems[i].partition, reached->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(reached);
    const scorer_counts_t *c = &t->counts;
    if (c->repaired) {
        carrot_metric_add(s->m_repaired, (double)c->repaired);
        s->counts.repaired += c->repaired;
    }
    s->counts.consumed += c->consumed;
    s->counts.scored += c->scored;
    s->counts.awards += c->awards;
    s->counts.points += c->points;
    s->counts.duplicates += c->duplicates;
    s->counts.dead_lettered += c->dead_lettered;
    s->counts.other_program += c->other_program;
    s->counts.unscored += c->unscored;
    s->counts.batches++;
    carrot_metric_add(s->m_consumed, (double)c->consumed);
    carrot_metric_add(s->m_scored, (double)c->scored);
    carrot_metric_add(s->m_awards, (double)c->awards);
    carrot_metric_add(s->m_points, (double)c->points);
    carrot_metric_add(s->m_duplicates, (double)c->duplicates);
    carrot_metric_add(s->m_dead, (double)c->dead_lettered);
    carrot_metric_add(s->m_dead_letters, (double)c->dead_lettered);
    carrot_metric_add(s->m_other, (double)c->other_program);
    carrot_metric_add(s->m_unscored, (double)c->unscored);
    carrot_metric_add(s->m_batches, 1);
    s->last_commit_ms = t->done_ms;
    carrot_metric_set(s->m_last_commit, (double)carrot_time_now_ms() / 1000.0);
    carrot_metric_observe(s->m_batch_seconds, (double)(t->done_ms - t->started_ms) / 1000.0);
    int64_t wall = carrot_time_wall_ms();
    for (size_t i = 0; i < n && s->m_lag; i++) { /* produced to committed, per activity */
        int64_t ts = rd_kafka_message_timestamp(msgs[i], NULL);
        /* Kafka stamps by the wall clock, which a test clock shift leaves alone */
        if (ts > 0) carrot_metric_observe(s->m_lag, (double)(wall - ts) / 1000.0);
    }
    if (s->lag && n > 0) /* the newest message per partition is the last of its run */
        for (size_t i = 0; i < n; i++)
            if (i + 1 == n || msgs[i + 1]->partition != msgs[i]->partition)
                carrot_lag_seen(s->lag, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition,
                                rd_kafka_message_timestamp(msgs[i], NULL));
}

int scorer_reap(scorer_t *s, int how) {
    int rc = 0, failed = 0;
    rd_kafka_topic_partition_list_t *back = NULL; /* where a failure rewinds to */
    for (int first = 1;; first = 0) {
        /* after a failure every batch in flight is waited for: they are all skipped */
        int wait = how == 2 || failed || (how == 1 && first);
        scorer_txn_t *t = scorer_pipe_done(s->pipe, wait);
        if (!t) break;
        if (t->rc == 0) {
            committed(s, t);
        } else if (t->rc == -2) {
            rc = -2;
        } else { /* aborted, or skipped after one that was: read again from its start */
            if (t->rc == -1) {
                s->counts.aborted++;
                carrot_metric_add(s->m_aborted, 1);
            }
            failed = 1;
            if (!back) back = rd_kafka_topic_partition_list_new(8);
            add_firsts(back, t->msgs, t->n);
        }
        give_back(s, t);
    }
    if (back) seek_back(s, back);
    if (failed) scorer_pipe_resume(s->pipe);
    return rc ? rc : failed ? -1 : 0;
}
