/* backfill.c: carrot-rules backfill: re-scores a past range of the
 * activities topic under new rules and books only the differences.
 *
 * 1. Read what was awarded: every award of the program in the awards topic,
 *    summed per (event, rule); earlier back-fills' adjustments included.
 * 2. Simulate the range under the new rules (simulate.c: dedup, records,
 *    caps and goals as the scorer settles them within the range).
 * 3. For each CREATE in the range, the difference per rule is one
 *    adjustment line; an event's lines form one adjustment event, applied
 *    to Redis through the same guarded transaction as the scorer (stream
 *    "backfill:<id>", offset = the activity's place in the range, so a
 *    rerun of the same back-fill names it the same), on the boards of the original
 *    activity and to its CRM record, so a later DELETE takes it back too.
 * 4. The awards Redis settles are produced in one Kafka transaction per
 *    chunk, award_id "<event>/<rule>@<id>". A rerun with the same id
 *    applies nothing twice in Redis, and the ledger books an award_id once. */
#include "carrot/activity.h"
#include "carrot/award.h"
#include "carrot/board.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 200

/* SIGTERM or SIGINT: finish the chunk in flight, report, exit 3; the same
 * --id again books the rest and nothing twice. */
static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* (event id, rule) -> points awarded, as a sorted array for bsearch. */
typedef struct {
    char *key; /* "<event id>\x1f<rule id>" */
    int64_t points;
} given_t;

static int cmp_given(const void *x, const void *y) {
    return strcmp(((const given_t *)x)->key, ((const given_t *)y)->key);
}

static long read_given(const carrot_conf_t *conf, const rules_conf_t *cf, const char *program,
                       given_t **outp) {
    char errstr[512];
    range_msg_t *msgs;
    long n = range_read(conf, cf->brokers, cf->awards_topic, -2, INT64_MAX, &msgs, errstr,
                        sizeof(errstr));
    if (n < 0) {
        carrot_error("%s", errstr);
        return -1;
    }
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    given_t *g = malloc((size_t)(n ? n : 1) * sizeof(*g));
    long ng = 0;
    for (long i = 0; codec && g && i < n; i++) {
        avro_value_t *v;
        carrot_award_t aw;
        if (carrot_codec_decode(codec, msgs[i].value, msgs[i].len, &v, errstr, sizeof(errstr)) !=
                CARROT_CODEC_OK ||
            carrot_award_from_avro(v, &aw, errstr, sizeof(errstr)) != 0 ||
            strcmp(aw.program_id, program) != 0)
            continue;
        size_t len = strlen(aw.event_id) + strlen(aw.rule_id) + 2;
        if (!(g[ng].key = malloc(len))) break;
        snprintf(g[ng].key, len, "%s\x1f%s", aw.event_id, aw.rule_id);
        g[ng++].points = aw.points;
    }
    carrot_codec_destroy(codec);
    range_free(msgs, n);
    if (!g) return -1;
    qsort(g, (size_t)ng, sizeof(*g), cmp_given);
    /* sum duplicates of a key (an original and its adjustments) */
    long w = 0;
    for (long i = 0; i < ng; i++) {
        if (w > 0 && strcmp(g[w - 1].key, g[i].key) == 0) {
            g[w - 1].points += g[i].points;
            free(g[i].key);
        } else {
            g[w++] = g[i];
        }
    }
    *outp = g;
    return w;
}

static int64_t given_points(const given_t *g, long n, const char *event_id, const char *rule) {
    char key[400];
    snprintf(key, sizeof(key), "%s\x1f%s", event_id, rule);
    given_t k = {key, 0};
    given_t *hit = bsearch(&k, g, (size_t)n, sizeof(*g), cmp_given);
    return hit ? hit->points : 0;
}

/* One adjustment event: the activity kept past the codec's next decode,
 * its lines and its boards. */
typedef struct {
    carrot_activity_t act; /* strings strdup'd (carrot_activity_keep) */
    char *record;          /* "<source system>:<source record id>" */
    long pos;              /* its place in the range: the Redis offset, the same on a rerun */
    carrot_scoring_t sc;   /* the adjustment lines; no cap, no goals */
    carrot_plan_t plan;
} adj_t;

static void adj_free(adj_t *a) {
    const char *const s[] = {a->act.event_id,         a->act.program_id,    a->act.source_system,
                             a->act.source_record_id, a->act.activity_type, a->act.participant_id,
                             a->act.segment,          a->act.team_id,       a->act.region};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) free((void *)s[i]);
    free(a->record);
}

/* A copy of s for carrot_activity_keep(); NULL when out of memory. */
static const char *dup_str(void *ctx, const char *s) {
    (void)ctx;
    return strdup(s);
}

/* The adjustment lines of one CREATE: new minus given, per rule. */
static int diff(const carrot_scoring_t *sc, const given_t *g, long ng, const carrot_activity_t *a,
                carrot_scoring_t *out) {
    out->nlines = 0;
    /* rules the new scoring names */
    for (int i = 0; i < sc->nlines; i++) {
        int64_t d = sc->lines[i].points - given_points(g, ng, a->event_id, sc->lines[i].rule_id);
        if (d == 0) continue;
        out->lines[out->nlines] = sc->lines[i];
        out->lines[out->nlines].points = d;
        out->nlines++;
    }
    /* rules that gave points before and give none now */
    char prefix[300];
    int plen = snprintf(prefix, sizeof(prefix), "%s\x1f", a->event_id);
    given_t k = {prefix, 0};
    long lo = 0, hi = ng;
    while (lo < hi) { /* first key >= prefix */
        long mid = (lo + hi) / 2;
        if (cmp_given(&g[mid], &k) < 0) lo = mid + 1;
        else
            hi = mid;
    }
    for (long i = lo; i < ng && strncmp(g[i].key, prefix, (size_t)plen) == 0; i++) {
        const char *rule = g[i].key + plen;
        if (!strcmp(rule, "reversal") || !strcmp(rule, "restore")) continue;
        int named = 0;
        for (int j = 0; j < sc->nlines; j++)
            if (!strcmp(sc->lines[j].rule_id, rule)) named = 1;
        if (named || g[i].points == 0 || out->nlines >= CARROT_RULES_MAX_LINES) continue;
        snprintf(out->lines[out->nlines].rule_id, sizeof(out->lines[0].rule_id), "%s", rule);
        out->lines[out->nlines].points = -g[i].points;
        out->nlines++;
    }
    return out->nlines;
}

/* Applies adj[0..n) to Redis and produces their awards in one transaction. */
static int book_chunk(const rules_conf_t *cf, const carrot_rules_t *r, carrot_board_t *board,
                      rd_kafka_t *rk, carrot_codec_t *codec, adj_t *adj, long first, long n,
                      long long *awardsp, int64_t *pointsp) {
    char stream[300], errstr[512];
    snprintf(stream, sizeof(stream), "backfill:%s", cf->id);
    carrot_board_event_t *ev = malloc((size_t)n * sizeof(*ev));
    carrot_board_result_t *res = malloc((size_t)n * sizeof(*res));
    char(*ids)[320] = malloc((size_t)n * sizeof(*ids));
    int rc = -1;
    if (!ev || !res || !ids) {
        carrot_error("out of memory");
        goto out;
    }
    for (long i = 0; i < n; i++) {
        adj_t *a = &adj[first + i];
        snprintf(ids[i], sizeof(ids[i]), "%.256s@%.48s", a->act.event_id, cf->id);
        ev[i] = (carrot_board_event_t){.offset = a->pos,
                                       .kind = CARROT_BOARD_AWARD,
                                       .event_id = ids[i],
                                       .activity = &a->act,
                                       .version = carrot_rules_version(r),
                                       .scoring = &a->sc,
                                       .plan = &a->plan};
    }
    if (carrot_board_apply(board, carrot_rules_program(r), stream, ev, (size_t)n, cf->seen_ttl,
                           carrot_time_now_ms() / 1000, res, errstr, sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    rd_kafka_error_t *e = rd_kafka_begin_transaction(rk);
    int64_t now = carrot_time_now_ms();
    for (long i = 0; !e && i < n; i++) {
        adj_t *a = &adj[first + i];
        if (!res[i].fresh) continue;
        for (int l = 0; l < res[i].nlines; l++) {
            char award_id[420];
            snprintf(award_id, sizeof(award_id), "%.256s/%.80s@%.48s", a->act.event_id,
                     res[i].lines[l].rule_id, cf->id);
            carrot_award_t aw = {.award_id = award_id,
                                 .program_id = carrot_rules_program(r),
                                 .event_id = a->act.event_id,
                                 .participant_id = res[i].participant_id,
                                 .segment = a->act.segment,
                                 .team_id = a->act.team_id,
                                 .region = a->act.region,
                                 .activity_type = res[i].activity_type,
                                 .rule_id = res[i].lines[l].rule_id,
                                 .rules_version = res[i].version,
                                 .points = res[i].lines[l].points,
                                 .occurred_at = a->act.occurred_at,
                                 .awarded_at = now};
            if (carrot_kafka_produce_award(rk, codec, cf->awards_topic, &aw, stream,
                                           (int64_t)a->pos, -1, errstr, sizeof(errstr)) != 0) {
                carrot_error("%s", errstr);
                rd_kafka_error_destroy(rd_kafka_abort_transaction(rk, 30000));
                goto out;
            }
            (*awardsp)++;
            *pointsp += aw.points;
        }
    }
    if (!e) e = rd_kafka_commit_transaction(rk, -1);
    if (e) {
        carrot_error("transaction failed: %s (run the back-fill again with the same --id)",
                     rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        goto out;
    }
    rc = 0;
out:
    free(ev);
    free(res);
    free(ids);
    return rc;
}

int backfill_run(const carrot_conf_t *conf, const rules_conf_t *cf, const carrot_rules_t *r,
                 int64_t from_ms, int64_t to_ms) {
    char errstr[512];
    const char *program = carrot_rules_program(r);
    given_t *given = NULL;
    range_msg_t *msgs = NULL;
    adj_t *adj = NULL;
    long ngiven = -1, nmsgs = -1, nadj = 0;
    int exit_code = 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    carrot_sim_t *sim = carrot_sim_new(r, carrot_time_now_ms() / 1000);
    carrot_codec_t *acodec = carrot_activity_codec_new(errstr, sizeof(errstr));
    carrot_codec_t *wcodec = carrot_award_codec_new(errstr, sizeof(errstr));
    carrot_board_t *board = carrot_board_new(cf->redis_host, (int)cf->redis_port, 10000);
    rd_kafka_t *rk = NULL;
    if (!sim || !acodec || !wcodec || !board) {
        carrot_error("%s", sim && board ? errstr : "out of memory");
        goto out;
    }
    if ((ngiven = read_given(conf, cf, program, &given)) < 0) goto out;
    nmsgs = range_read(conf, cf->brokers, cf->topic, from_ms, to_ms, &msgs, errstr, sizeof(errstr));
    if (nmsgs < 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    long adj_cap = 0;
    int64_t delta = 0;
    for (long i = 0; i < nmsgs; i++) {
        avro_value_t *v;
        carrot_activity_t a;
        carrot_scoring_t sc;
        int fresh;
        if (carrot_codec_decode(acodec, msgs[i].value, msgs[i].len, &v, errstr, sizeof(errstr)) !=
                CARROT_CODEC_OK ||
            carrot_activity_from_avro(v, &a, errstr, sizeof(errstr)) != 0 ||
            carrot_activity_validate(&a, errstr, sizeof(errstr)) != 0 ||
            strcmp(a.program_id, program) != 0)
            continue; /* dead-lettered or another program's: the scorer gave nothing */
        if (carrot_sim_feed(sim, &a, &sc, &fresh) != 0) {
            carrot_error("out of memory");
            goto out;
        }
        if (!fresh || a.change_type != CARROT_CHANGE_CREATE) continue;
        if (nadj == adj_cap) {
            adj_cap = adj_cap ? adj_cap * 2 : 256;
            adj_t *na = realloc(adj, (size_t)adj_cap * sizeof(*adj));
            if (!na) {
                carrot_error("out of memory");
                goto out;
            }
            adj = na;
        }
        adj_t *d = &adj[nadj];
        memset(d, 0, sizeof(*d));
        if (diff(&sc, given, ngiven, &a, &d->sc) == 0) continue;
        char record[600];
        snprintf(record, sizeof(record), "%.256s:%.256s", a.source_system, a.source_record_id);
        carrot_activity_keep(&a, &d->act, dup_str, NULL);
        d->record = strdup(record);
        d->pos = i;
        nadj++;
        if (!d->act.event_id || !d->record || !d->act.participant_id || !d->act.activity_type ||
            !d->act.source_system || !d->act.source_record_id) {
            carrot_error("out of memory");
            goto out;
        }
        if (carrot_board_plan(r, &a, NULL, &d->plan, errstr, sizeof(errstr)) != CARROT_BOARD_OK) {
            carrot_error("%s", errstr);
            goto out;
        }
    }
    /* A record deleted at the end of the range nets to zero under any rules:
     * leave it as it is (its DELETE took back what it earned then). */
    long kept = 0;
    for (long i = 0; i < nadj; i++) {
        if (carrot_sim_record_deleted(sim, adj[i].record)) {
            adj_free(&adj[i]);
            continue;
        }
        adj[kept++] = adj[i];
    }
    nadj = kept;
    for (long i = 0; i < nadj; i++)
        for (int l = 0; l < adj[i].sc.nlines; l++) {
            const carrot_score_t *line = &adj[i].sc.lines[l];
            delta += line->points;
            if (cf->dry_run)
                printf("%s %s %s %+lld\n", adj[i].act.event_id, adj[i].act.participant_id,
                       line->rule_id, (long long)line->points);
        }
    printf("backfill %s: %ld activities in the range, %ld with differences under rules version "
           "%s, %+lld points in all%s\n",
           cf->id, nmsgs, nadj, carrot_rules_version(r), (long long)delta,
           cf->dry_run ? " (dry run: nothing written)" : "");
    if (cf->dry_run) {
        exit_code = 0;
        goto out;
    }
    char txid[300];
    snprintf(txid, sizeof(txid), "carrot-backfill.%s", cf->id);
    if (!(rk = carrot_kafka_txn_producer_new(conf, cf->brokers, NULL, txid, 60000, errstr,
                                             sizeof(errstr)))) {
        carrot_error("%s", errstr);
        goto out;
    }
    long long awards = 0;
    int64_t points = 0;
    for (long i = 0; i < nadj && !stop; i += CHUNK)
        if (book_chunk(cf, r, board, rk, wcodec, adj, i, nadj - i < CHUNK ? nadj - i : CHUNK,
                       &awards, &points) != 0)
            goto out;
    printf("backfill %s: %lld adjustment awards, %+lld points booked%s\n", cf->id, awards,
           (long long)points, stop ? " before a signal stopped it" : "");
    if (stop) {
        carrot_warn("stopped by a signal: run it again with --id %s to book the rest", cf->id);
        exit_code = 3;
        goto out;
    }
    exit_code = 0;
out:
    for (long i = 0; adj && i < nadj; i++) adj_free(&adj[i]);
    free(adj);
    for (long i = 0; i < ngiven; i++) free(given[i].key);
    free(given);
    if (nmsgs > 0) range_free(msgs, nmsgs);
    else
        free(msgs);
    if (rk) rd_kafka_destroy(rk);
    carrot_board_destroy(board);
    carrot_codec_destroy(acodec);
    carrot_codec_destroy(wcodec);
    carrot_sim_destroy(sim);
    return exit_code;
}
