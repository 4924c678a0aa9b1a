/* reconcile.c: the boards against the ledger, in the four steps of
 * reconcile.h: a PostgreSQL snapshot, a Redis snapshot, the scorers' fence,
 * the awards in flight. Participants meet in one hash table keyed by
 * "program\x1fparticipant". */
#include "carrot/reconcile.h"

#include "carrot/award.h"
#include "carrot/kafka.h"
#include "carrot/timeutil.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct carrot_reconcile_s {
    const carrot_conf_t *conf;
    char *brokers, *awards_topic, *ledger_group, *activities_topic, *scorer_group;
    int fence_timeout_ms;
    const volatile sig_atomic_t *stop;
    carrot_codec_t *codec;
};

/* Whether the caller asked the run to give up; errstr then says so. */
static int stopped(const carrot_reconcile_t *r, char *errstr, size_t errstr_size) {
    if (!r->stop || !*r->stop) return 0;
    snprintf(errstr, errstr_size, "stopped");
    return 1;
}

/* --- participants --------------------------------------------------------- */

typedef struct {
    char *key; /* "program\x1fparticipant"; NULL: free slot */
    int program;
    int64_t board, ledger, in_flight;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t cap, n;
    char (*programs)[128];
    int nprograms;
    int64_t **wm; /* by program: watermark per activity partition */
    int npartitions;
} tally_t;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int grow(tally_t *t) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    slot_t *s = calloc(cap, sizeof(*s));
    if (!s) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].key) continue;
        size_t j = hash(t->slots[i].key) & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return 0;
}

/* The participant's slot, added when missing; NULL when out of memory. */
static slot_t *find(tally_t *t, int program, const char *participant) {
    if ((t->n + 1) * 2 > t->cap && grow(t)) return NULL;
    char key[400];
    snprintf(key, sizeof(key), "%s\x1f%s", t->programs[program], participant);
    size_t j = hash(key) & (t->cap - 1);
    while (t->slots[j].key && strcmp(t->slots[j].key, key) != 0) j = (j + 1) & (t->cap - 1);
    if (!t->slots[j].key) {
        if (!(t->slots[j].key = strdup(key))) return NULL;
        t->slots[j].program = program;
        t->n++;
    }
    return &t->slots[j];
}

static int program_index(const tally_t *t, const char *program) {
    for (int i = 0; i < t->nprograms; i++)
        if (strcmp(t->programs[i], program) == 0) return i;
    return -1;
}

static void tally_free(tally_t *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->slots[i].key);
    free(t->slots);
    for (int i = 0; i < t->nprograms && t->wm; i++) free(t->wm[i]);
    free(t->wm);
    free(t->programs);
}

/* --- set-up --------------------------------------------------------------- */

carrot_reconcile_t *carrot_reconcile_new(const carrot_conf_t *conf,
                                         const carrot_reconcile_conf_t *cf, char *errstr,
                                         size_t errstr_size) {
    carrot_reconcile_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->brokers = strdup(cf->brokers)) ||
        !(r->awards_topic = strdup(cf->awards_topic)) ||
        !(r->ledger_group = strdup(cf->ledger_group)) ||
        !(r->activities_topic = strdup(cf->activities_topic)) ||
        !(r->scorer_group = strdup(cf->scorer_group))) {
        snprintf(errstr, errstr_size, "out of memory");
        carrot_reconcile_destroy(r);
        return NULL;
    }
    r->conf = conf;
    r->fence_timeout_ms = cf->fence_timeout_ms;
    r->stop = cf->stop;
    if (!(r->codec = carrot_award_codec_new(errstr, errstr_size))) {
        carrot_reconcile_destroy(r);
        return NULL;
    }
    return r;
}

void carrot_reconcile_destroy(carrot_reconcile_t *r) {
    if (!r) return;
    free(r->brokers);
    free(r->awards_topic);
    free(r->ledger_group);
    free(r->activities_topic);
    free(r->scorer_group);
    carrot_codec_destroy(r->codec);
    free(r);
}

void carrot_drift_destroy(carrot_drift_t *d) {
    if (!d) return;
    free(d->programs);
    free(d->rows);
    free(d);
}

/* An assign-only consumer: librdkafka wants a group.id for assign(), but
 * one that never subscribes or commits never joins it. */
static rd_kafka_t *plain_consumer(carrot_reconcile_t *r, char *errstr, size_t errstr_size) {
    static const char *const defaults[] = {"client.id", "carrot-ledger-reconcile", NULL};
    rd_kafka_conf_t *k = carrot_kafka_conf_new(r->conf, r->brokers, defaults, errstr, errstr_size);
    if (!k) return NULL;
    if (carrot_kafka_set(k, "group.id", "carrot-ledger-reconcile", errstr, errstr_size) ||
        carrot_kafka_set(k, "isolation.level", "read_committed", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.partition.eof", "true", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.commit", "false", errstr, errstr_size) ||
        carrot_kafka_set(k, "enable.auto.offset.store", "false", errstr, errstr_size)) {
        rd_kafka_conf_destroy(k);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, k, errstr, errstr_size);
    if (!rk) rd_kafka_conf_destroy(k);
    return rk;
}

/* --- 1. PostgreSQL -------------------------------------------------------- */

/* The award points booked per participant: earned less prizes (points from
 * a sweepstakes never reach the boards). One row per balance, not per
 * award, so the check costs what the participants do. */
static const char booked_sql[] =
    "SELECT b.program_id, b.participant_id, b.earned - coalesce(p.points, 0)"
    " FROM balances b LEFT JOIN ("
    "   SELECT j.program_id, j.participant_id, sum(e.amount) AS points"
    "   FROM journal j JOIN entries e ON e.txn_id = j.txn_id AND e.account = 'wallet'"
    "   WHERE j.kind = 'prize' AND ($1::text[] IS NULL OR j.program_id = ANY ($1)) GROUP BY 1, 2"
    " ) p USING (program_id, participant_id)"
    " WHERE $1::text[] IS NULL OR b.program_id = ANY ($1)"
    " ORDER BY 1";

/* programs[0..n) as a PostgreSQL text[] literal (caller frees), NULL when
 * out of memory. */
static char *text_array(const char *const *programs, int n) {
    size_t size = 3;
    for (int i = 0; i < n; i++) size += 2 * strlen(programs[i]) + 3;
    char *buf = malloc(size), *w = buf;
    if (!buf) return NULL;
    *w++ = '{';
    for (int i = 0; i < n; i++) {
        if (i) *w++ = ',';
        *w++ = '"';
        for (const char *c = programs[i]; *c; c++) {
            if (*c == '"' || *c == '\\') *w++ = '\\';
            *w++ = *c;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return buf;
}

static carrot_ledger_err_t read_ledger(carrot_reconcile_t *r, PGconn *pg,
                                       const char *const *programs, int nprograms, tally_t *t,
                                       rd_kafka_topic_partition_list_t *from, char *errstr,
                                       size_t errstr_size) {
    char *array = nprograms ? text_array(programs, nprograms) : NULL;
    if (nprograms && !array) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    carrot_ledger_err_t rc = carrot_pg_command(
        pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, errstr, errstr_size);
    if (rc) {
        free(array);
        return rc;
    }
    const char *p1[] = {array};
    PGresult *res = PQexecParams(pg, booked_sql, 1, NULL, p1, NULL, NULL, 0);
    free(array);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, res, "reading the booked points", errstr, errstr_size);
        PQclear(res);
        return carrot_pg_abort(pg, rc);
    }
    int n = PQntuples(res);
    t->programs = calloc((size_t)n + (size_t)nprograms + 1, sizeof(*t->programs));
    if (!t->programs) goto oom;
    for (int i = 0; i < nprograms; i++)
        if (program_index(t, programs[i]) < 0)
            snprintf(t->programs[t->nprograms++], 128, "%s", programs[i]);
    for (int i = 0; i < n; i++) {
        const char *prog = PQgetvalue(res, i, 0);
        int pi = program_index(t, prog);
        if (pi < 0) {
            pi = t->nprograms++;
            snprintf(t->programs[pi], 128, "%s", prog);
        }
        slot_t *s = find(t, pi, PQgetvalue(res, i, 1));
        if (!s) goto oom;
        s->ledger = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    const char *p2[] = {r->ledger_group, r->awards_topic};
    res = PQexecParams(pg,
                       "SELECT partition, next_offset FROM kafka_offsets"
                       " WHERE consumer_group = $1 AND topic = $2",
                       2, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, res, "reading the ledger's offsets", errstr, errstr_size);
        PQclear(res);
        return carrot_pg_abort(pg, rc);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
            from, r->awards_topic, atoi(PQgetvalue(res, i, 0)));
        if (p) p->offset = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    return carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
oom:
    PQclear(res);
    snprintf(errstr, errstr_size, "out of memory");
    return carrot_pg_abort(pg, CARROT_LEDGER_FATAL);
}

/* --- 2. Redis ------------------------------------------------------------- */

typedef struct {
    tally_t *t;
    int program;
} board_ctx_t;

static int on_board_entry(void *opaque, const char *participant, int64_t points) {
    board_ctx_t *c = opaque;
    slot_t *s = find(c->t, c->program, participant);
    if (!s) return -1;
    s->board = points;
    return 0;
}

static carrot_ledger_err_t read_boards(carrot_reconcile_t *r, carrot_board_t *board, tally_t *t,
                                       char *errstr, size_t errstr_size) {
    char(*streams)[300] = calloc((size_t)t->npartitions + 1, sizeof(*streams));
    const char **names = calloc((size_t)t->npartitions + 1, sizeof(*names));
    t->wm = calloc((size_t)t->nprograms + 1, sizeof(*t->wm));
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (!streams || !names || !t->wm) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CARROT_LEDGER_FATAL;
        goto out;
    }
    for (int p = 0; p < t->npartitions; p++) {
        snprintf(streams[p], sizeof(streams[p]), "%s:%d", r->activities_topic, p);
        names[p] = streams[p];
    }
    for (int i = 0; i < t->nprograms && !rc; i++) {
        if (!(t->wm[i] = calloc((size_t)t->npartitions + 1, sizeof(int64_t)))) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = CARROT_LEDGER_FATAL;
            break;
        }
        board_ctx_t c = {t, i};
        carrot_board_err_t berr = carrot_board_snapshot(board, t->programs[i], names,
                                                        t->npartitions, t->wm[i], on_board_entry,
                                                        &c, errstr, errstr_size);
        if (berr != CARROT_BOARD_OK)
            rc = berr == CARROT_BOARD_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
    }
out:
    free(streams);
    free(names);
    return rc;
}

/* --- 3. the fence --------------------------------------------------------- */

/* The scorers' committed offsets of the activity topic's n partitions into
 * committed[] (-1: none). */
static carrot_ledger_err_t scorer_commits(carrot_reconcile_t *r, rd_kafka_t *rk, int n,
                                          int64_t *committed, char *errstr, size_t errstr_size) {
    for (int p = 0; p < n; p++) committed[p] = -1;
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(
        r->scorer_group, NULL); /* NULL: all partitions */
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(
        rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_AdminOptions_set_request_timeout(opt, 10000, NULL, 0);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opt, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    carrot_ledger_err_t rc = CARROT_LEDGER_RETRY;
    const rd_kafka_ListConsumerGroupOffsets_result_t *res =
        ev ? rd_kafka_event_ListConsumerGroupOffsets_result(ev) : NULL;
    size_t ng = 0;
    const rd_kafka_group_result_t **groups =
        res && !rd_kafka_event_error(ev) ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &ng)
                                         : NULL;
    const rd_kafka_error_t *gerr = ng == 1 ? rd_kafka_group_result_error(groups[0]) : NULL;
    if (ng != 1 || gerr) {
        snprintf(errstr, errstr_size, "could not read the offsets of group %s: %s", r->scorer_group,
                 gerr ? rd_kafka_error_string(gerr)
                 : ev ? (rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev) : "no result")
                      : "no answer from Kafka");
    } else {
        const rd_kafka_topic_partition_list_t *got = rd_kafka_group_result_partitions(groups[0]);
        for (int i = 0; got && i < got->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &got->elems[i];
            if (strcmp(p->topic, r->activities_topic) == 0 && !p->err && p->partition >= 0 &&
                p->partition < n)
                committed[p->partition] = p->offset;
        }
        rc = CARROT_LEDGER_OK;
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Waits until the scorers have committed past every watermark read. */
static carrot_ledger_err_t fence(carrot_reconcile_t *r, rd_kafka_t *rk, const tally_t *t,
                                 char *errstr, size_t errstr_size) {
    int64_t *committed = calloc((size_t)t->npartitions + 1, sizeof(*committed));
    if (!committed) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    int64_t until = carrot_time_mono_ms() + r->fence_timeout_ms;
    carrot_ledger_err_t rc;
    for (;;) {
        if ((rc = scorer_commits(r, rk, t->npartitions, committed, errstr, errstr_size))) break;
        int open = -1, prog = 0;
        for (int i = 0; i < t->nprograms && open < 0; i++)
            for (int p = 0; p < t->npartitions; p++)
                if (t->wm[i][p] >= 0 && committed[p] <= t->wm[i][p]) {
                    open = p;
                    prog = i;
                    break;
                }
        if (open < 0) break;
        if (stopped(r, errstr, errstr_size)) {
            rc = CARROT_LEDGER_RETRY;
            break;
        }
        if (carrot_time_mono_ms() >= until) {
            snprintf(errstr, errstr_size,
                     "the boards of %s hold %s:%d up to offset %" PRId64
                     " but group %s has committed only to %" PRId64
                     ": a scorer is down or holds a transaction open; check again later",
                     t->programs[prog], r->activities_topic, open, t->wm[prog][open],
                     r->scorer_group, committed[open]);
            rc = CARROT_LEDGER_RETRY;
            break;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(committed);
    return rc;
}

/* --- 4. in flight --------------------------------------------------------- */

/* Whether the boards had applied the award m when they were read. */
static int applied(const carrot_reconcile_t *r, const tally_t *t, int program,
                   const rd_kafka_message_t *m) {
    rd_kafka_headers_t *h = NULL;
    const void *sv, *ov;
    size_t sl, ol;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, "carrot.stream", &sv, &sl) ||
        rd_kafka_header_get_last(h, "carrot.offset", &ov, &ol))
        return 1; /* no headers: an older producer; counted */
    size_t tl = strlen(r->activities_topic);
    const char *s = sv;
    if (sl <= tl + 1 || memcmp(s, r->activities_topic, tl) != 0 || s[tl] != ':')
        return 1; /* another stream (a back-fill): counted */
    char num[32];
    snprintf(num, sizeof(num), "%.*s", (int)(sl - tl - 1), s + tl + 1);
    long part = strtol(num, NULL, 10);
    snprintf(num, sizeof(num), "%.*s", (int)(ol < 31 ? ol : 31), (const char *)ov);
    int64_t off = strtoll(num, NULL, 10);
    if (part < 0 || part >= t->npartitions) return 1;
    return off <= t->wm[program][part];
}

static carrot_ledger_err_t read_in_flight(carrot_reconcile_t *r, rd_kafka_t *rk, tally_t *t,
                                          rd_kafka_topic_partition_list_t *from, char *errstr,
                                          size_t errstr_size) {
    for (int i = 0; i < from->cnt; i++)
        if (from->elems[i].offset < 0) from->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, from);
    if (err) {
        snprintf(errstr, errstr_size, "could not read %s: %s", r->awards_topic,
                 rd_kafka_err2str(err));
        return CARROT_LEDGER_RETRY;
    }
    int at_end = 0;
    int64_t until = carrot_time_mono_ms() + r->fence_timeout_ms;
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    while (at_end < from->cnt) {
        if (stopped(r, errstr, errstr_size)) {
            rc = CARROT_LEDGER_RETRY;
            break;
        }
        if (carrot_time_mono_ms() >= until) {
            snprintf(errstr, errstr_size,
                     "could not read %s to its end within %d ms (%d of %d partitions)",
                     r->awards_topic, r->fence_timeout_ms, at_end, from->cnt);
            rc = CARROT_LEDGER_RETRY;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end++;
        } else if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                snprintf(errstr, errstr_size, "could not read %s: %s", r->awards_topic,
                         rd_kafka_message_errstr(m));
                rc = CARROT_LEDGER_RETRY;
                rd_kafka_message_destroy(m);
                break;
            }
        } else {
            avro_value_t *v;
            carrot_award_t a;
            char why[256];
            /* an award that does not decode is the ledger's dead letter, never booked */
            if (carrot_codec_decode(r->codec, m->payload, m->len, &v, why, sizeof(why)) ==
                    CARROT_CODEC_OK &&
                carrot_award_from_avro(v, &a, why, sizeof(why)) == 0) {
                int pi = program_index(t, a.program_id);
                if (pi >= 0 && applied(r, t, pi, m)) {
                    slot_t *s = find(t, pi, a.participant_id);
                    if (!s) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = CARROT_LEDGER_FATAL;
                        rd_kafka_message_destroy(m);
                        break;
                    }
                    s->in_flight += a.points;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    return rc;
}

/* --- the report ----------------------------------------------------------- */

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

static int by_drift(const void *a, const void *b) {
    const carrot_drift_row_t *x = a, *y = b;
    int64_t dx = abs64(x->board - x->ledger - x->in_flight),
            dy = abs64(y->board - y->ledger - y->in_flight);
    if (dx != dy) return dx > dy ? -1 : 1;
    int c = strcmp(x->program_id, y->program_id);
    return c ? c : strcmp(x->participant_id, y->participant_id);
}

static carrot_drift_t *report(const tally_t *t) {
    carrot_drift_t *d = calloc(1, sizeof(*d));
    if (!d || !(d->programs = calloc((size_t)t->nprograms + 1, sizeof(*d->programs)))) {
        carrot_drift_destroy(d);
        return NULL;
    }
    d->nprograms = t->nprograms;
    for (int i = 0; i < t->nprograms; i++)
        snprintf(d->programs[i].program_id, sizeof(d->programs[i].program_id), "%s",
                 t->programs[i]);
    size_t ndiff = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const slot_t *s = &t->slots[i];
        if (!s->key) continue;
        carrot_drift_program_t *p = &d->programs[s->program];
        int64_t drift = s->board - s->ledger - s->in_flight;
        p->participants++;
        p->board_total += s->board;
        p->ledger_total += s->ledger;
        p->in_flight += s->in_flight;
        if (drift) {
            p->differing++;
            p->drift += abs64(drift);
            ndiff++;
        }
    }
    if (ndiff && !(d->rows = calloc(ndiff, sizeof(*d->rows)))) {
        carrot_drift_destroy(d);
        return NULL;
    }
    for (size_t i = 0; i < t->cap; i++) {
        const slot_t *s = &t->slots[i];
        if (!s->key || s->board - s->ledger - s->in_flight == 0) continue;
        carrot_drift_row_t *row = &d->rows[d->nrows++];
        snprintf(row->program_id, sizeof(row->program_id), "%s", t->programs[s->program]);
        snprintf(row->participant_id, sizeof(row->participant_id), "%s",
                 strchr(s->key, '\x1f') + 1);
        row->board = s->board;
        row->ledger = s->ledger;
        row->in_flight = s->in_flight;
    }
    if (d->nrows) qsort(d->rows, d->nrows, sizeof(*d->rows), by_drift);
    return d;
}

carrot_ledger_err_t carrot_reconcile_run(carrot_reconcile_t *r, PGconn *pg, carrot_board_t *board,
                                         const char *const *programs, int nprograms,
                                         carrot_drift_t **outp, char *errstr, size_t errstr_size) {
    *outp = NULL;
    tally_t t = {0};
    carrot_ledger_err_t rc = CARROT_LEDGER_RETRY;
    rd_kafka_topic_partition_list_t *from = NULL;
    rd_kafka_t *rk = plain_consumer(r, errstr, errstr_size);
    if (!rk) return CARROT_LEDGER_FATAL;
    int nawards = carrot_kafka_partition_count(rk, r->awards_topic, errstr, errstr_size);
    if (nawards < 0) goto out;
    if ((t.npartitions = carrot_kafka_partition_count(rk, r->activities_topic, errstr,
                                                      errstr_size)) < 0)
        goto out;
    from = rd_kafka_topic_partition_list_new(nawards);
    for (int p = 0; p < nawards; p++)
        rd_kafka_topic_partition_list_add(from, r->awards_topic, p)->offset = -1;
    if ((rc = read_ledger(r, pg, programs, nprograms, &t, from, errstr, errstr_size)) ||
        (rc = read_boards(r, board, &t, errstr, errstr_size)) ||
        (rc = fence(r, rk, &t, errstr, errstr_size)) ||
        (rc = read_in_flight(r, rk, &t, from, errstr, errstr_size)))
        goto out;
    if (!(*outp = report(&t))) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CARROT_LEDGER_FATAL;
    }
out:
    if (from) rd_kafka_topic_partition_list_destroy(from);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    tally_free(&t);
    return rc;
}
