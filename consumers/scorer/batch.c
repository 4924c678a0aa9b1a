/* batch.c: one batch of activities, scored exactly once.
 *
 * Order matters: (1) decode and score every message, encoding awards into a
 * scratch buffer; (2) apply the increments to Redis, which skips offsets at
 * or below each partition's watermark, reports duplicates, and says what a
 * DELETE takes back (what that CRM record earned) or an UNDELETE gives back;
 * (3) inside a Kafka transaction, produce dead letters and the awards of
 * fresh events and send the consumer offsets; (4) commit. A crash anywhere replays the batch:
 * Redis ignores what it already applied, and the aborted transaction's
 * awards are never seen by read_committed readers. */
#include "log.h"
#include "scorer.h"
#include "activity.h"
#include "award.h"
#include "timeutil.h"

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

static size_t arena_str(arena_t *a, const char *s, int *oom) { return arena_put(a, s, strlen(s) + 1, oom); }

#define NONE ((size_t)-1) /* an absent optional string */

typedef struct {
    int32_t partition;
    int64_t offset, occurred_at;
    carrot_board_kind_t kind;
    /* arena offsets */
    size_t program, event_id, participant, record, type, segment, team, region;
    int64_t points;              /* AWARD: the sum of its awards */
    size_t first_award, nawards; /* AWARD: encoded before Redis */
    carrot_board_result_t res;   /* what Redis says the event did */
} pending_t;

typedef struct {
    size_t bytes, len, key; /* arena offsets: encoded award, its length, participant */
} award_ref_t;

typedef struct {
    size_t msg;          /* index into msgs */
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

/* The award of a DELETE (reversal) or UNDELETE (restore): the amount, the
 * participant and the activity type are the record's, as Redis returned
 * them. Produced in the open transaction. */
static int produce_reversal(scorer_t *s, arena_t *ar, pending_t *p, int64_t now) {
    char award_id[336], errstr[512];
    const char *rule = p->kind == CARROT_BOARD_REVERSE ? "reversal" : "restore";
    snprintf(award_id, sizeof(award_id), "%.256s/%s", ar->buf + p->event_id, rule);
    carrot_award_t aw = {
        .award_id = award_id, .program_id = ar->buf + p->program, .event_id = ar->buf + p->event_id,
        .participant_id = p->res.participant_id, .segment = OPT(ar, p->segment),
        .team_id = OPT(ar, p->team), .region = OPT(ar, p->region),
        .activity_type = p->res.activity_type, .rule_id = rule,
        .rules_version = carrot_rules_version(s->rules), .points = p->res.amount,
        .occurred_at = p->occurred_at, .awarded_at = now};
    avro_value_t *av = carrot_codec_value(s->award_codec);
    const void *buf;
    size_t len;
    if (carrot_award_to_avro(&aw, av, errstr, sizeof(errstr)) != 0 ||
        carrot_codec_encode(s->award_codec, av, &buf, &len, errstr, sizeof(errstr)) != CARROT_CODEC_OK) {
        carrot_error("%s", errstr);
        return -1;
    }
    return produce_txn(s, s->cf->awards_topic, aw.participant_id, strlen(aw.participant_id), buf,
                       len, NULL);
}

/* Rewinds every partition of the batch to its first offset in the batch. */
static void rewind_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        if (!rd_kafka_topic_partition_list_find(parts, t, msgs[i]->partition))
            rd_kafka_topic_partition_list_add(parts, t, msgs[i]->partition)->offset = msgs[i]->offset;
    }
    rd_kafka_error_t *err = rd_kafka_seek_partitions(s->consumer, parts, 10000);
    if (err) {
        carrot_warn("could not rewind after an aborted transaction: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Next offsets to consume, per partition, for send_offsets_to_transaction. */
static rd_kafka_topic_partition_list_t *batch_offsets(rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(parts, t, msgs[i]->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(parts, t, msgs[i]->partition);
        if (msgs[i]->offset + 1 > p->offset) p->offset = msgs[i]->offset + 1;
    }
    return parts;
}

/* Aborts after an abortable error; -2 if even that fails (fatal). */
static int abort_and_rewind(scorer_t *s, rd_kafka_message_t **msgs, size_t n, rd_kafka_error_t *why) {
    carrot_warn("aborting transaction: %s", why ? rd_kafka_error_string(why) : "batch failed");
    if (why) rd_kafka_error_destroy(why);
    rd_kafka_error_t *err = rd_kafka_abort_transaction(s->producer, 60000);
    if (err) {
        carrot_error("could not abort transaction: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        return -2;
    }
    s->counts.aborted++;
    rewind_batch(s, msgs, n);
    return -1;
}

/* Applies the Redis increments, one script call per (partition, program).
 * Retries while Redis is unreachable: the increments are idempotent. */
static int apply_board(scorer_t *s, arena_t *ar, pending_t *pend, size_t npend) {
    carrot_board_event_t *ev = malloc((npend ? npend : 1) * sizeof(*ev));
    carrot_board_result_t *res = malloc((npend ? npend : 1) * sizeof(*res));
    size_t *idx = malloc((npend ? npend : 1) * sizeof(*idx));
    unsigned char *done = calloc(npend ? npend : 1, 1);
    int rc = 0;
    if (!ev || !idx || !res || !done) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    for (size_t i = 0; i < npend; i++) {
        if (done[i]) continue;
        const char *program = ar->buf + pend[i].program;
        size_t k = 0;
        for (size_t j = i; j < npend; j++) {
            if (done[j] || pend[j].partition != pend[i].partition ||
                strcmp(ar->buf + pend[j].program, program) != 0)
                continue;
            done[j] = 1;
            idx[k] = j;
            ev[k].offset = pend[j].offset;
            ev[k].event_id = ar->buf + pend[j].event_id;
            ev[k].participant_id = ar->buf + pend[j].participant;
            ev[k].points = pend[j].points;
            ev[k].kind = pend[j].kind;
            ev[k].record = ar->buf + pend[j].record;
            ev[k].activity_type = ar->buf + pend[j].type;
            k++;
        }
        char stream[300], errstr[512];
        snprintf(stream, sizeof(stream), "%s:%d", s->cf->topic, (int)pend[i].partition);
        int backoff_ms = 100;
        while (carrot_board_apply(s->board, program, stream, ev, k, s->cf->seen_ttl, res, errstr,
                                  sizeof(errstr)) != 0) {
            if (*s->stop) {
                rc = -1;
                goto out;
            }
            carrot_warn("%s; retrying in %d ms", errstr, backoff_ms);
            struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (backoff_ms < 5000) backoff_ms *= 2;
        }
        for (size_t m = 0; m < k; m++) pend[idx[m]].res = res[m];
    }
out:
    free(ev);
    free(idx);
    free(res);
    free(done);
    return rc;
}

int scorer_process_batch(scorer_t *s, rd_kafka_message_t **msgs, size_t n) {
    arena_t ar = {0};
    pending_t *pend = calloc(n, sizeof(*pend));
    award_ref_t *awards = calloc(n * CARROT_RULES_MAX_SCORES, sizeof(*awards));
    dead_t *dead = calloc(n, sizeof(*dead));
    size_t npend = 0, nawards = 0, ndead = 0;
    long long other = 0, unscored = 0; /* counted only once the batch commits */
    int oom = 0, rc = 0;
    char errstr[512];
    const char *program = carrot_rules_program(s->rules);
    int64_t now = carrot_time_now_ms();
    rd_kafka_error_t *kerr;

    if (!pend || !awards || !dead) {
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
        carrot_score_t scores[CARROT_RULES_MAX_SCORES];
        int ns = 0;
        carrot_board_kind_t kind = CARROT_BOARD_AWARD;
        if (act.change_type == CARROT_CHANGE_CREATE) ns = carrot_rules_score(s->rules, &act, scores);
        else if (act.change_type == CARROT_CHANGE_DELETE) kind = CARROT_BOARD_REVERSE;
        else if (act.change_type == CARROT_CHANGE_UNDELETE) kind = CARROT_BOARD_RESTORE;
        if (kind == CARROT_BOARD_AWARD && ns == 0) {
            unscored++;
            continue;
        }
        char record[600];
        snprintf(record, sizeof(record), "%.256s:%.256s", act.source_system, act.source_record_id);
        pending_t *p = &pend[npend++];
        p->partition = m->partition;
        p->offset = m->offset;
        p->occurred_at = act.occurred_at;
        p->kind = kind;
        p->program = arena_str(&ar, act.program_id, &oom);
        p->event_id = arena_str(&ar, act.event_id, &oom);
        p->participant = arena_str(&ar, act.participant_id, &oom);
        p->record = arena_str(&ar, record, &oom);
        p->type = arena_str(&ar, act.activity_type, &oom);
        p->segment = act.segment ? arena_str(&ar, act.segment, &oom) : NONE;
        p->team = act.team_id ? arena_str(&ar, act.team_id, &oom) : NONE;
        p->region = act.region ? arena_str(&ar, act.region, &oom) : NONE;
        p->first_award = nawards;
        for (int k = 0; k < ns && !oom; k++) {
            char award_id[336]; /* event ids are at most 256 bytes (validated) */
            snprintf(award_id, sizeof(award_id), "%.256s/%.63s", act.event_id, scores[k].rule_id);
            carrot_award_t aw = {
                .award_id = award_id, .program_id = act.program_id, .event_id = act.event_id,
                .participant_id = act.participant_id, .segment = act.segment,
                .team_id = act.team_id, .region = act.region, .activity_type = act.activity_type,
                .rule_id = scores[k].rule_id, .rules_version = carrot_rules_version(s->rules),
                .points = scores[k].points, .occurred_at = act.occurred_at, .awarded_at = now};
            avro_value_t *av = carrot_codec_value(s->award_codec);
            const void *buf;
            size_t len;
            if (carrot_award_to_avro(&aw, av, errstr, sizeof(errstr)) != 0 ||
                carrot_codec_encode(s->award_codec, av, &buf, &len, errstr, sizeof(errstr)) !=
                    CARROT_CODEC_OK) {
                carrot_error("%s", errstr); /* our own schema: a bug, not bad input */
                rc = -2;
                goto out;
            }
            awards[nawards].bytes = arena_put(&ar, buf, len, &oom);
            awards[nawards].len = len;
            awards[nawards].key = p->participant;
            nawards++;
            p->points += scores[k].points;
        }
        p->nawards = (size_t)ns;
    }
    if (oom) {
        carrot_error("out of memory");
        rc = -2;
        goto out;
    }
    /* (2) Redis, before the transaction commits: a replay is absorbed there */
    rc = apply_board(s, &ar, pend, npend);
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
        if (!p->res.fresh) {
            dups++;
            continue;
        }
        if (p->kind != CARROT_BOARD_AWARD) { /* a reversal or a restore, as Redis applied it */
            if (p->res.amount == 0) {
                unscored++; /* nothing stood to take back, or to give back */
                continue;
            }
            if (produce_reversal(s, &ar, p, now) != 0) {
                rc = abort_and_rewind(s, msgs, n, NULL);
                goto out;
            }
            scored++;
            nproduced++;
            points += p->res.amount;
            continue;
        }
        if (p->res.amount == 0) { /* its record was deleted before it was scored */
            unscored++;
            continue;
        }
        scored++;
        points += pend[i].points;
        for (size_t k = pend[i].first_award; k < pend[i].first_award + pend[i].nawards; k++) {
            const char *key = ar.buf + awards[k].key;
            if (produce_txn(s, s->cf->awards_topic, key, strlen(key), ar.buf + awards[k].bytes,
                            awards[k].len, NULL) != 0) {
                rc = abort_and_rewind(s, msgs, n, NULL);
                goto out;
            }
            nproduced++;
        }
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
out:
    free(ar.buf);
    free(pend);
    free(awards);
    free(dead);
    return rc;
}
