/* triggers.c: where triggers are found. In a batch of awards: a goal's
 * bonus, and, for each program the batch moved, who entered the top of a
 * watched board, took number one or was passed (the board as Redis has it
 * now, against the top kept in notify_ranks, under a row lock so two
 * members of the group take turns). In the ledger's tables: commitments
 * settled, redemptions decided, sweepstakes drawn, read since a cursor. */
#include "carrot/award.h"
#include "carrot/kafka.h"
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_notifier_t *carrot_notifier_new(const carrot_notifier_opts_t *o, char *errstr,
                                       size_t errstr_size) {
    carrot_notifier_t *n = calloc(1, sizeof(*n));
    if (!n || !(n->awards_topic = strdup(o->awards_topic ? o->awards_topic : "carrot.awards"))) {
        free(n);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!(n->name = strdup(o->name ? o->name : "carrot-notify")) ||
        !(n->instance = strdup(o->instance ? o->instance : ""))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    n->digest_ms = o->digest_ms > 0 ? o->digest_ms : 3600000;
    if (!(n->award_codec = carrot_award_codec_new(errstr, errstr_size))) goto fail;
    if (o->redis_host) {
        n->board = carrot_board_new(o->redis_host, o->redis_port, 2000);
        n->directory = carrot_directory_new(o->redis_host, o->redis_port, 2000);
        if (!n->board || !n->directory) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    if (carrot_notifier_set_config(n, o->cfg, errstr, errstr_size)) goto fail;
    return n;
fail:
    carrot_notifier_destroy(n);
    return NULL;
}

int carrot_notifier_set_config(carrot_notifier_t *n, const carrot_notify_config_t *cfg,
                               char *errstr, size_t errstr_size) {
    for (int i = 0; i < cfg->nchannels; i++)
        if (cfg->channels[i].kind == CARROT_CHANNEL_DISPLAY && !n->board) {
            snprintf(errstr, errstr_size,
                     "channel %s posts to the screens through Redis: carrot-notify needs "
                     "--redis-host",
                     cfg->channels[i].name);
            return -1;
        }
    if (n->cfg) notify_promotions_free(n); /* sized by the configuration it follows */
    /* channels are by index: a channel of the new configuration starts afresh */
    for (int i = 0; i < NOTIFY_MAX_CHANNELS; i++) {
        notify_send_close(&n->curl[i]);
        n->fails[i] = 0;
        n->held_until_ms[i] = 0;
        n->tokens[i] = i < cfg->nchannels ? (double)cfg->channels[i].per_minute : 0;
        n->refilled_ms[i] = carrot_time_mono_ms();
    }
    n->cfg = cfg;
    n->cfg_since_ms = carrot_time_wall_ms();
    return 0;
}

void carrot_notifier_destroy(carrot_notifier_t *n) {
    if (!n) return;
    for (int i = 0; i < NOTIFY_MAX_CHANNELS; i++) notify_send_close(&n->curl[i]);
    notify_promotions_free(n);
    carrot_board_destroy(n->board);
    carrot_directory_destroy(n->directory);
    carrot_codec_destroy(n->award_codec);
    free(n->awards_topic);
    free(n->name);
    free(n->instance);
    free(n);
}

carrot_ledger_err_t carrot_notifier_positions(carrot_notifier_t *n, PGconn *pg,
                                              rd_kafka_topic_partition_list_t *parts, char *errstr,
                                              size_t errstr_size) {
    for (int i = 0; i < parts->cnt; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%d", (int)parts->elems[i].partition);
        const char *params[] = {parts->elems[i].topic, p, n->name};
        char *v = NULL;
        carrot_ledger_err_t rc = carrot_pg_value(pg,
                                                 "SELECT next_offset FROM notify_offsets WHERE "
                                                 "topic = $1 AND partition = $2 AND notifier = $3",
                                                 3, params, &v, errstr, errstr_size);
        if (rc) return rc;
        parts->elems[i].offset = v ? strtoll(v, NULL, 10) : RD_KAFKA_OFFSET_BEGINNING;
        free(v);
    }
    return CARROT_LEDGER_OK;
}

/* ---- rank changes -------------------------------------------------------- */

typedef struct {
    char p[257];
    long r;
    long long n;
} rank_t;

static int prev_rank(const rank_t *v, int nv, const char *p) {
    for (int i = 0; i < nv; i++)
        if (strcmp(v[i].p, p) == 0) return (int)v[i].r;
    return 0;
}

static carrot_ledger_err_t rank_event(carrot_notifier_t *n, PGconn *pg, carrot_trigger_t t,
                                      const char *program, const char *board, const char *tag,
                                      const rank_t *e, long prev, const char *by, int top,
                                      carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    char id[1200];
    snprintf(id, sizeof(id), "rank:%s:%s:%s:%s:%s", program, board, carrot_trigger_name(t), e->p,
             tag);
    json_t *f = json_pack("{s:s, s:I, s:I, s:I}", "board", board, "points", (json_int_t)e->n,
                          "rank", (json_int_t)e->r, "n", (json_int_t)top);
    if (f && prev) json_object_set_new(f, "previous_rank", json_integer(prev));
    if (f && by) json_object_set_new(f, "by", json_string(by));
    notify_event_t ev = {id, t, program, e->p, NULL, f, carrot_time_now_ms(), NULL};
    carrot_ledger_err_t rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
    json_decref(f);
    return rc;
}

/* One watched board of one program: compares and keeps its top. tag makes
 * the triggers' ids unique (the batch's last place in the topic). */
static carrot_ledger_err_t ranks_of(carrot_notifier_t *n, PGconn *pg, const char *program,
                                    const char *board, const char *tag, carrot_notify_stats_t *st,
                                    char *errstr, size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    int top = 1;
    for (int t = CARROT_TRIGGER_NUMBER_ONE; t <= CARROT_TRIGGER_OVERTAKEN; t++)
        if (cfg->triggers[t].on && strcmp(cfg->triggers[t].board, board) == 0 &&
            cfg->triggers[t].n > top)
            top = cfg->triggers[t].n;
    const char *p[] = {program, board, n->name};
    PGresult *r = PQexecParams(pg,
                               "SELECT ranks::text FROM notify_ranks WHERE program_id = $1 AND "
                               "board = $2 AND notifier = $3 FOR UPDATE",
                               3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "reading the last top", errstr,
                                                   errstr_size);
        PQclear(r);
        return rc;
    }
    int first = PQntuples(r) == 0;
    json_t *prevj = first ? NULL : json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    /* ties can make the top longer than n: read until past it */
    int want = top + 16, ncur = 0, nprev = 0, ncv = 0,
        nkept = json_is_array(prevj) ? (int)json_array_size(prevj) : 0;
    carrot_board_entry_t *cur = NULL;
    rank_t *pv = calloc((size_t)nkept + 1, sizeof(*pv)), *cv = NULL;
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (;;) {
        free(cur);
        if (!(cur = calloc((size_t)want, sizeof(*cur)))) break;
        carrot_board_err_t brc = carrot_board_top(n->board, program, board, want, cur, &ncur,
                                                  errstr, errstr_size);
        if (brc) {
            rc = brc == CARROT_BOARD_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
            goto out;
        }
        if (ncur < want || cur[want - 1].rank > top || want >= 100000) break;
        want *= 4;
    }
    if (!cur || !pv || !(cv = calloc((size_t)want, sizeof(*cv)))) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CARROT_LEDGER_FATAL;
        goto out;
    }
    for (int i = 0; i < ncur && cur[i].rank <= top; i++) {
        snprintf(cv[ncv].p, sizeof(cv[ncv].p), "%s", cur[i].participant_id);
        cv[ncv].r = cur[i].rank;
        cv[ncv].n = (long long)cur[i].points;
        ncv++;
    }
    size_t k;
    json_t *it;
    if (prevj) json_array_foreach(prevj, k, it) {
            if (nprev >= nkept) break;
            const char *pid = json_string_value(json_object_get(it, "p"));
            if (!pid) continue;
            snprintf(pv[nprev].p, sizeof(pv[nprev].p), "%s", pid);
            pv[nprev].r = (long)json_integer_value(json_object_get(it, "r"));
            pv[nprev].n = (long long)json_integer_value(json_object_get(it, "n"));
            nprev++;
        }
    if (!first) { /* a board's first sight is its baseline: nothing is announced */
        for (int i = 0; !rc && i < ncv; i++) {
            const rank_t *e = &cv[i];
            long was = prev_rank(pv, nprev, e->p);
            const notify_trigger_t *one = &cfg->triggers[CARROT_TRIGGER_NUMBER_ONE],
                                   *tn = &cfg->triggers[CARROT_TRIGGER_TOP_N];
            int took_one = one->on && strcmp(one->board, board) == 0 && e->r == 1 && was != 1;
            if (took_one)
                rc = rank_event(n, pg, CARROT_TRIGGER_NUMBER_ONE, program, board, tag, e, was, NULL,
                                one->n, st, errstr, errstr_size);
            else if (tn->on && strcmp(tn->board, board) == 0 && e->r <= tn->n &&
                     (was == 0 || was > tn->n))
                rc = rank_event(n, pg, CARROT_TRIGGER_TOP_N, program, board, tag, e, was, NULL,
                                tn->n, st, errstr, errstr_size);
        }
        const notify_trigger_t *ov = &cfg->triggers[CARROT_TRIGGER_OVERTAKEN];
        if (ov->on && strcmp(ov->board, board) == 0)
            for (int i = 0; !rc && i < nprev; i++) {
                if (pv[i].r > ov->n) continue;
                long now_rank = prev_rank(cv, ncv, pv[i].p);
                if (now_rank && now_rank <= pv[i].r) continue;
                /* who passed: someone now at or above their old rank who was below it */
                const char *by = NULL;
                for (int j = 0; j < ncv && !by; j++) {
                    long was = prev_rank(pv, nprev, cv[j].p);
                    if (cv[j].r <= pv[i].r && (was == 0 || was > pv[i].r)) by = cv[j].p;
                }
                if (!by) continue; /* fell by a reversal of their own, not passed */
                char byname[300];
                snprintf(byname, sizeof(byname), "%s", by);
                if (n->directory) {
                    carrot_participant_t bp;
                    const char *ids[] = {by};
                    char e2[256];
                    if (carrot_directory_get(n->directory, program, ids, 1, &bp, e2, sizeof(e2)) ==
                            CARROT_DIRECTORY_OK &&
                        bp.found)
                        snprintf(byname, sizeof(byname), "%s", carrot_participant_screen_name(&bp));
                }
                rank_t e = pv[i];
                e.r = now_rank ? now_rank : pv[i].r + 1;
                for (int j = 0; j < ncur; j++)
                    if (strcmp(cur[j].participant_id, e.p) == 0) {
                        e.r = cur[j].rank;
                        e.n = (long long)cur[j].points;
                    }
                rc = rank_event(n, pg, CARROT_TRIGGER_OVERTAKEN, program, board, tag, &e, pv[i].r,
                                byname, ov->n, st, errstr, errstr_size);
            }
    }
    if (!rc) {
        json_t *arr = json_array();
        for (int i = 0; arr && i < ncv; i++)
            json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "p", cv[i].p, "r",
                                                 (json_int_t)cv[i].r, "n", (json_int_t)cv[i].n));
        char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
        json_decref(arr);
        if (!s) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = CARROT_LEDGER_FATAL;
            goto out;
        }
        const char *q[] = {program, board, s, n->name};
        rc = carrot_pg_command(pg,
                               "INSERT INTO notify_ranks (notifier, program_id, board, ranks) "
                               "VALUES ($4, $1, $2, $3) ON CONFLICT (notifier, program_id, board) "
                               "DO UPDATE SET ranks = excluded.ranks, updated_at = now()",
                               4, q, errstr, errstr_size);
        free(s);
    }
out:
    json_decref(prevj);
    free(cur);
    free(pv);
    free(cv);
    return rc;
}

/* ---- awards ---------------------------------------------------------------- */

#define MAX_PROGRAMS 64

carrot_ledger_err_t carrot_notifier_awards(carrot_notifier_t *n, PGconn *pg,
                                           rd_kafka_message_t *const *msgs, size_t count,
                                           carrot_notify_stats_t *st, char *errstr,
                                           size_t errstr_size) {
    memset(st, 0, sizeof(*st));
    carrot_ledger_err_t rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size);
    if (rc) return rc;
    char programs[MAX_PROGRAMS][257];
    int nprog = 0, overflow = 0;
    char tag[64] = "";
    for (size_t i = 0; !rc && i < count; i++) {
        const rd_kafka_message_t *m = msgs[i];
        snprintf(tag, sizeof(tag), "%d:%lld", (int)m->partition, (long long)m->offset);
        avro_value_t *v;
        carrot_award_t a;
        char why[256];
        if (!m->payload ||
            carrot_codec_decode(n->award_codec, m->payload, m->len, &v, why, sizeof(why)) !=
                CARROT_CODEC_OK ||
            carrot_award_from_avro(v, &a, why, sizeof(why)) != 0)
            continue; /* the ledger dead-letters it; nothing to tell anyone */
        st->awards++;
        if (!notify_program_on(n->cfg, a.program_id) || a.points == 0) continue;
        if (strncmp(a.rule_id, "goal.", 5) == 0 && a.points > 0) {
            char id[1200];
            snprintf(id, sizeof(id), "goal:%s:%s", a.program_id, a.award_id);
            json_t *f = json_pack("{s:s, s:I, s:s, s:s}", "goal", a.rule_id + 5, "points",
                                  (json_int_t)a.points, "rule", a.rule_id, "rules_version",
                                  a.rules_version);
            notify_event_t ev = {id, CARROT_TRIGGER_GOAL, a.program_id, a.participant_id, NULL,
                                 f,  a.awarded_at,        NULL};
            rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
            json_decref(f);
        }
        int seen = 0;
        for (int j = 0; j < nprog && !seen; j++) seen = strcmp(programs[j], a.program_id) == 0;
        if (!seen && nprog < MAX_PROGRAMS) snprintf(programs[nprog++], 257, "%s", a.program_id);
        else if (!seen)
            overflow = 1;
    }
    /* the boards as they are after this batch (and perhaps later ones: a rank
     * change is told once either way) */
    const carrot_notify_config_t *cfg = n->cfg;
    for (int j = 0; !rc && n->board && j < nprog; j++)
        for (int t = CARROT_TRIGGER_NUMBER_ONE; !rc && t <= CARROT_TRIGGER_OVERTAKEN; t++) {
            if (!cfg->triggers[t].on) continue;
            int dup = 0; /* each watched board once */
            for (int u = CARROT_TRIGGER_NUMBER_ONE; u < t; u++)
                dup |= cfg->triggers[u].on &&
                       strcmp(cfg->triggers[u].board, cfg->triggers[t].board) == 0;
            if (!dup)
                rc = ranks_of(n, pg, programs[j], cfg->triggers[t].board, tag, st, errstr,
                              errstr_size);
        }
    (void)overflow; /* more programs than that in one batch: the next batch looks again */
    /* each partition's place once: the highest offset of it in the batch */
    const rd_kafka_message_t **last = rc ? NULL : calloc(count + 1, sizeof(*last));
    size_t nlast = 0;
    if (!rc && !last) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CARROT_LEDGER_FATAL;
    }
    for (size_t i = 0; last && i < count; i++) {
        size_t k = 0;
        while (k < nlast &&
               (last[k]->partition != msgs[i]->partition || last[k]->rkt != msgs[i]->rkt))
            k++;
        if (k == nlast) last[nlast++] = msgs[i];
        else if (msgs[i]->offset > last[k]->offset)
            last[k] = msgs[i];
    }
    for (size_t i = 0; !rc && i < nlast; i++) {
        const rd_kafka_message_t *m = last[i];
        char part[16], next[24];
        snprintf(part, sizeof(part), "%d", (int)m->partition);
        snprintf(next, sizeof(next), "%lld", (long long)m->offset + 1);
        const char *p[] = {rd_kafka_topic_name(m->rkt), part, next, n->name};
        rc = carrot_pg_command(pg,
                               "INSERT INTO notify_offsets (notifier, topic, partition, "
                               "next_offset) VALUES ($4, $1, $2, $3) ON CONFLICT (notifier, topic, "
                               "partition) DO UPDATE SET next_offset = "
                               "greatest(notify_offsets.next_offset, excluded.next_offset)",
                               4, p, errstr, errstr_size);
    }
    free(last);
    if (!rc) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    if (rc) carrot_pg_rollback(pg);
    return rc;
}

/* ---- the ledger's tables ---------------------------------------------------- */

/* How far back each look reaches before its cursor: a row written by a
 * transaction that began before the last look but committed after it
 * carries an earlier time; the triggers' ids make the second look harmless. */
#define OVERLAP "interval '2 minutes'"

typedef carrot_ledger_err_t (*row_fn)(carrot_notifier_t *n, PGconn *pg, PGresult *r, int i,
                                      carrot_notify_stats_t *st, char *errstr, size_t errstr_size);

static int64_t ms_of(PGresult *r, int i, int c) { return strtoll(PQgetvalue(r, i, c), NULL, 10); }

static carrot_ledger_err_t settlement(carrot_notifier_t *n, PGconn *pg, PGresult *r, int i,
                                      carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    /* program, commitment, period, participant, supervisor, figure, target, met,
     * streak, misses, bonus, penalty, streak_bonus, rules_version, ms, kind */
    const char *kind = PQgetvalue(r, i, 15);
    carrot_trigger_t t = strcmp(kind, "met") == 0      ? CARROT_TRIGGER_COMMITMENT_MET
                         : strcmp(kind, "missed") == 0 ? CARROT_TRIGGER_COMMITMENT_MISSED
                                                       : CARROT_TRIGGER_STREAK;
    char id[1200];
    snprintf(id, sizeof(id), "commit:%s:%s:%s:%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
             PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), kind);
    long long pts = t == CARROT_TRIGGER_COMMITMENT_MET      ? strtoll(PQgetvalue(r, i, 10), 0, 10)
                    : t == CARROT_TRIGGER_COMMITMENT_MISSED ? -strtoll(PQgetvalue(r, i, 11), 0, 10)
                                                            : strtoll(PQgetvalue(r, i, 12), 0, 10);
    const char *period = PQgetvalue(r, i, 2);
    json_t *f = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "commitment", PQgetvalue(r, i, 1), "period",
        strchr(period, ':') ? strchr(period, ':') + 1 : period, "figure",
        (json_int_t)strtoll(PQgetvalue(r, i, 5), 0, 10), "target",
        (json_int_t)strtoll(PQgetvalue(r, i, 6), 0, 10), "streak",
        (json_int_t)atoi(PQgetvalue(r, i, 8)), "misses", (json_int_t)atoi(PQgetvalue(r, i, 9)),
        "points", (json_int_t)pts, "rules_version", PQgetvalue(r, i, 13));
    notify_event_t ev = {id,
                         t,
                         PQgetvalue(r, i, 0),
                         PQgetvalue(r, i, 3),
                         t == CARROT_TRIGGER_COMMITMENT_MISSED ? PQgetvalue(r, i, 4) : NULL,
                         f,
                         ms_of(r, i, 14),
                         NULL};
    carrot_ledger_err_t rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
    json_decref(f);
    return rc;
}

static carrot_ledger_err_t redemption(carrot_notifier_t *n, PGconn *pg, PGresult *r, int i,
                                      carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    /* program, id, participant, item name, price, status, reason, ms */
    int ok = strcmp(PQgetvalue(r, i, 5), "fulfilled") == 0;
    char id[300];
    snprintf(id, sizeof(id), "redemption:%s:%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 5));
    json_t *f = json_pack("{s:s, s:I, s:s}", "item", PQgetvalue(r, i, 3), "price",
                          (json_int_t)strtoll(PQgetvalue(r, i, 4), 0, 10), "reason",
                          PQgetvalue(r, i, 6));
    notify_event_t ev = {id,
                         ok ? CARROT_TRIGGER_REDEMPTION_FULFILLED
                            : CARROT_TRIGGER_REDEMPTION_REJECTED,
                         PQgetvalue(r, i, 0),
                         PQgetvalue(r, i, 2),
                         NULL,
                         f,
                         ms_of(r, i, 7),
                         NULL};
    carrot_ledger_err_t rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
    json_decref(f);
    return rc;
}

static carrot_ledger_err_t draw(carrot_notifier_t *n, PGconn *pg, PGresult *r, int i,
                                carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    /* program, sweepstakes, name, entry, participant, prize, points, ms */
    char id[800];
    snprintf(id, sizeof(id), "draw:%s:%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
             PQgetvalue(r, i, 3));
    json_t *f = json_pack("{s:s, s:s, s:I, s:I}", "sweepstakes", PQgetvalue(r, i, 2), "prize",
                          PQgetvalue(r, i, 5), "entry",
                          (json_int_t)strtoll(PQgetvalue(r, i, 3), 0, 10), "points",
                          (json_int_t)strtoll(PQgetvalue(r, i, 6), 0, 10));
    notify_event_t ev = {id,
                         CARROT_TRIGGER_DRAW_WON,
                         PQgetvalue(r, i, 0),
                         PQgetvalue(r, i, 4),
                         NULL,
                         f,
                         ms_of(r, i, 7),
                         NULL};
    carrot_ledger_err_t rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
    json_decref(f);
    return rc;
}

/* The ids the queries build match the C ones above: only rows whose trigger
 * is not stored yet come back. Column last-but-one: the row's time in ms;
 * last: the cursor candidate. */
static const struct {
    const char *source;
    const char *sql;
    row_fn fn;
} SOURCES[] = {
    {"settlements",
     "SELECT s.program_id, s.commitment_id, s.period_id, s.participant_id, s.supervisor_id, "
     "  s.figure, s.target, s.met, s.streak, s.misses, s.bonus, s.penalty, s.streak_bonus, "
     "  s.rules_version, (extract(epoch FROM s.settled_at) * 1000)::bigint, k.kind, s.settled_at "
     "FROM commitment_settlements s CROSS JOIN LATERAL (VALUES (CASE WHEN s.met THEN 'met' ELSE "
     "  'missed' END), (CASE WHEN s.streak_bonus > 0 THEN 'streak' END)) k(kind) "
     "WHERE s.settled_at > $1::timestamptz - " OVERLAP " AND k.kind IS NOT NULL AND NOT EXISTS "
     "  (SELECT 1 FROM notify_events e WHERE e.notifier = $2 AND e.event_id = 'commit:' || s.program_id || ':' || "
     "   s.commitment_id || ':' || s.period_id || ':' || s.participant_id || ':' || k.kind) "
     "ORDER BY s.settled_at LIMIT 2000",
     settlement},
    {"redemptions",
     "SELECT r.program_id, r.redemption_id, r.participant_id, coalesce(c.name, r.item_id), "
     "  r.price, r.status, coalesce(r.reason, ''), (extract(epoch FROM r.decided_at) * "
     "  1000)::bigint, r.decided_at "
     "FROM redemptions r LEFT JOIN catalog c USING (program_id, item_id) "
     "WHERE r.decided_at > $1::timestamptz - " OVERLAP " AND r.status IN ('fulfilled', "
     "  'rejected') AND NOT EXISTS (SELECT 1 FROM notify_events e WHERE e.notifier = $2 AND "
     "  e.event_id = 'redemption:' || r.redemption_id || ':' || r.status) "
     "ORDER BY r.decided_at LIMIT 2000",
     redemption},
    {"draws",
     "SELECT e.program_id, e.sweepstakes_id, s.name, e.entry_no, e.participant_id, "
     "  coalesce(s.prizes -> e.prize_index ->> 'prize', ''), "
     "  coalesce((s.prizes -> e.prize_index ->> 'points')::bigint, 0), "
     "  (extract(epoch FROM s.drawn_at) * 1000)::bigint, s.drawn_at "
     "FROM sweepstakes s JOIN sweepstakes_entries e USING (program_id, sweepstakes_id) "
     "WHERE s.drawn_at > $1::timestamptz - " OVERLAP " AND s.status = 'drawn' AND e.prize_index "
     "  IS NOT NULL AND (s.prizes -> e.prize_index ->> 'prize' IS NOT NULL OR coalesce((s.prizes "
     "  -> e.prize_index ->> 'points')::bigint, 0) > 0) AND NOT EXISTS (SELECT 1 FROM "
     "  notify_events n WHERE n.notifier = $2 AND n.event_id = 'draw:' || e.program_id || ':' || e.sweepstakes_id || "
     "  ':' || e.entry_no) "
     "ORDER BY s.drawn_at, e.entry_no LIMIT 2000",
     draw},
};

carrot_ledger_err_t carrot_notifier_ledger(carrot_notifier_t *n, PGconn *pg,
                                           carrot_notify_stats_t *st, char *errstr,
                                           size_t errstr_size) {
    memset(st, 0, sizeof(*st));
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (size_t s = 0; !rc && s < sizeof(SOURCES) / sizeof(SOURCES[0]); s++) {
        if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
        /* the first look starts now: what happened before carrot-notify ran is not news */
        const char *src[] = {SOURCES[s].source, n->name};
        char *since = NULL;
        rc = carrot_pg_value(pg,
                             "INSERT INTO notify_cursors (notifier, source, since) VALUES ($2, $1, "
                             "now()) ON CONFLICT (notifier, source) DO UPDATE SET since = "
                             "notify_cursors.since RETURNING since::text",
                             2, src, &since, errstr, errstr_size);
        PGresult *r = NULL;
        if (!rc) {
            const char *p[] = {since, n->name};
            r = PQexecParams(pg, SOURCES[s].sql, 2, NULL, p, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK)
                rc = carrot_pg_failure(pg, r, SOURCES[s].source, errstr, errstr_size);
        }
        free(since);
        int rows = r ? PQntuples(r) : 0;
        for (int i = 0; !rc && i < rows; i++)
            rc = SOURCES[s].fn(n, pg, r, i, st, errstr, errstr_size);
        if (!rc && rows) {
            const char *p[] = {SOURCES[s].source, PQgetvalue(r, rows - 1, PQnfields(r) - 1),
                               n->name};
            rc = carrot_pg_command(pg,
                                   "UPDATE notify_cursors SET since = greatest(since, "
                                   "$2::timestamptz) WHERE source = $1 AND notifier = $3",
                                   3, p, errstr, errstr_size);
        }
        PQclear(r);
        if (!rc) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
        if (rc) carrot_pg_rollback(pg);
    }
    if (!rc && n->feeds) {
        if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
        rc = notify_promotions(n, pg, carrot_time_now_ms(), st, errstr, errstr_size);
        if (!rc) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
        if (rc) carrot_pg_rollback(pg);
    }
    return rc ? rc : notify_calendar(n, pg, st, errstr, errstr_size);
}
