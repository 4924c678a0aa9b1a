/* close.c: the close of one commitment for one period, exactly once.
 *
 * 1. who is held: the directory's active participants the commitment holds
 *    by default, and everyone a supervisor set a target for;
 * 2. their figures, as the scorer counted them in Redis, their terms and
 *    the previous period's settlement (for streaks and consecutive misses);
 * 3. one transaction: COPY into a temporary table, then INSERT ... ON
 *    CONFLICT DO NOTHING into commitment_settlements, so whatever a rerun or
 *    a second closer computes, each (program, commitment, period,
 *    participant) is settled once, by the first;
 * 4. the consequences of the settlements not booked yet, in chunks: applied
 *    to the boards through the scorer's guarded transaction (stream
 *    "commit:<commitment>:<period>", offset = the settlement's place among
 *    those with consequences, so a rerun names them the same and Redis
 *    applies none twice), produced as awards in one Kafka transaction, then
 *    marked booked. A kill between any two steps leaves a state from which
 *    the rerun ends the same: Redis returns what it applied, the ledger books
 *    an award id once. */
#include "carrot/award.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "commit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 500  /* directory lookups per round trip */
#define CHUNK 200 /* consequences per Redis and Kafka transaction */

typedef struct {
    char *who, *supervisor;
    int64_t figure, judged, target, bonus, penalty, streak_bonus, ack_ms;
    int met, streak, misses;
    const char *set_by;
} row_t;

/* Settles one participant into rows. */
static int add_row(commit_vec_t *rows, const carrot_commitment_t *c, const carrot_participant_t *p,
                   const commit_vec_t *figs, const commit_vec_t *terms, const commit_vec_t *prevs) {
    row_t *w = commit_vec_push(rows);
    if (!w || !(w->who = strdup(p->participant_id)) || !(w->supervisor = strdup(p->supervisor_id)))
        return -1;
    const commit_fig_t *f = commit_vec_find(figs, p->participant_id);
    const commit_terms_t *t = commit_vec_find(terms, p->participant_id);
    const commit_prev_t *pv = commit_vec_find(prevs, p->participant_id);
    w->figure = f ? f->n : 0;
    w->judged = f ? f->d : 0;
    w->target = t ? t->t.target : c->target;
    w->set_by = t ? t->t.set_by : "";
    w->ack_ms = t ? t->t.acknowledged_at_ms : 0;
    w->met = carrot_commit_is_met(c->metric, w->target, w->figure, w->judged);
    w->streak = w->met ? (pv && pv->met ? pv->streak + 1 : 1) : 0;
    w->misses = w->met ? 0 : (pv && !pv->met ? pv->misses + 1 : 1);
    w->bonus = w->met ? c->bonus : 0;
    w->penalty = w->met ? 0 : c->penalty;
    w->streak_bonus = w->met && c->streak_periods > 0 && w->streak % c->streak_periods == 0
                          ? c->streak_bonus
                          : 0;
    return 0;
}

/* Who is held, settled into rows (sorted by participant). */
static carrot_ledger_err_t held_rows(const carrot_close_opts_t *o, int64_t end_ms,
                                     commit_vec_t *rows, const commit_vec_t *figs,
                                     const commit_vec_t *terms, const commit_vec_t *prevs,
                                     char *errstr, size_t errstr_size) {
    const carrot_commitment_t *c = carrot_rules_commitment(o->rules, o->commitment);
    const char *program = carrot_rules_program(o->rules);
    size_t n = 0;
    carrot_directory_err_t derr = carrot_directory_people(o->dir, program, NULL, 0, &n, errstr,
                                                          errstr_size);
    char(*ids)[257] = derr == CARROT_DIRECTORY_OK && n ? malloc(n * sizeof(*ids)) : NULL;
    carrot_participant_t *page = malloc(PAGE * sizeof(*page));
    const char **ptrs = malloc(PAGE * sizeof(*ptrs));
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (derr != CARROT_DIRECTORY_OK) {
        rc = commit_dir_err(derr);
        goto out;
    }
    if ((n && !ids) || !page || !ptrs) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CARROT_LEDGER_FATAL;
        goto out;
    }
    size_t got = 0;
    if (n && (derr = carrot_directory_people(o->dir, program, ids, n, &got, errstr, errstr_size)) !=
                 CARROT_DIRECTORY_OK) {
        rc = commit_dir_err(derr);
        goto out;
    }
    if (got < n) n = got; /* someone left the set in between */
    for (size_t i = 0; i < n; i += PAGE) {
        size_t k = n - i < PAGE ? n - i : PAGE;
        for (size_t j = 0; j < k; j++) ptrs[j] = ids[i + j];
        if ((derr = carrot_directory_get(o->dir, program, ptrs, k, page, errstr, errstr_size)) !=
            CARROT_DIRECTORY_OK) {
            rc = commit_dir_err(derr);
            goto out;
        }
        for (size_t j = 0; j < k; j++) {
            const carrot_participant_t *p = &page[j];
            int holds = commit_holds(o->rules, o->commitment, p, end_ms, terms);
            if (holds && add_row(rows, c, p, figs, terms, prevs) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = CARROT_LEDGER_FATAL;
                goto out;
            }
        }
    }
out:
    free(ids);
    free(page);
    free(ptrs);
    return rc;
}

/* COPY's text format: backslash, tab and line breaks escaped. */
static void copy_field(char *buf, size_t size, size_t *len, const char *s) {
    for (; *s && *len + 3 < size; s++) {
        if (*s == '\\' || *s == '\t' || *s == '\n' || *s == '\r') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : '\\';
        } else
            buf[(*len)++] = *s;
    }
}

/* Step 3: the settlements, in one transaction; *insertedp how many were new. */
static carrot_ledger_err_t settle(const carrot_close_opts_t *o, const commit_vec_t *rows,
                                  int64_t end_ms, long *insertedp, char *errstr,
                                  size_t errstr_size) {
    PGconn *pg = o->pg;
    const carrot_commitment_t *c = carrot_rules_commitment(o->rules, o->commitment);
    carrot_ledger_err_t rc;
    if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size)) ||
        (rc = carrot_pg_command(pg,
                                "CREATE TEMP TABLE settle_in (participant_id text, supervisor_id "
                                "text, figure bigint, judged bigint, target bigint, met boolean, "
                                "streak int, misses int, set_by text, ack_ms bigint, bonus "
                                "bigint, penalty bigint, streak_bonus bigint) ON COMMIT DROP",
                                0, NULL, errstr, errstr_size)))
        return carrot_pg_abort(pg, rc);
    PGresult *r = PQexec(pg, "COPY settle_in FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        rc = carrot_pg_failure(pg, r, "COPY settle_in", errstr, errstr_size);
        PQclear(r);
        return carrot_pg_abort(pg, rc);
    }
    PQclear(r);
    const row_t *w = rows->v;
    int ok = 1;
    for (size_t i = 0; i < rows->n && ok; i++) {
        char line[2048];
        size_t len = 0;
        copy_field(line, sizeof(line), &len, w[i].who);
        line[len++] = '\t';
        copy_field(line, sizeof(line), &len, w[i].supervisor);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\t%lld\t%lld\t%lld\t%s\t%d\t%d\t",
                                (long long)w[i].figure, (long long)w[i].judged,
                                (long long)w[i].target, w[i].met ? "t" : "f", w[i].streak,
                                w[i].misses);
        copy_field(line, sizeof(line), &len, w[i].set_by);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\t%lld\t%lld\t%lld\t%lld\n",
                                (long long)w[i].ack_ms, (long long)w[i].bonus,
                                (long long)w[i].penalty, (long long)w[i].streak_bonus);
        ok = PQputCopyData(pg, line, (int)len) == 1;
    }
    if (PQputCopyEnd(pg, ok ? NULL : "client error") != 1 || !ok) {
        carrot_pg_error(pg, "COPY settle_in", errstr, errstr_size);
        return carrot_pg_abort(pg, CARROT_LEDGER_RETRY);
    }
    r = PQgetResult(pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = carrot_pg_failure(pg, r, "COPY settle_in", errstr, errstr_size);
        PQclear(r);
        while ((r = PQgetResult(pg))) PQclear(r);
        return carrot_pg_abort(pg, rc);
    }
    PQclear(r);
    while ((r = PQgetResult(pg))) PQclear(r);
    char end[24];
    snprintf(end, sizeof(end), "%lld", (long long)end_ms);
    const char *p[] = {
        carrot_rules_program(o->rules), c->id, o->period, carrot_commit_metric_name(c->metric),
        carrot_rules_version(o->rules), end};
    r = PQexecParams(
        pg,
        "INSERT INTO commitment_settlements (program_id, commitment_id, period_id, "
        "participant_id, supervisor_id, metric, figure, judged, target, met, streak, misses, "
        "set_by, acknowledged_at, bonus, penalty, streak_bonus, rules_version, period_end, "
        "booked_at) "
        "SELECT $1, $2, $3, participant_id, supervisor_id, $4, figure, judged, target, met, "
        "streak, misses, set_by, CASE WHEN ack_ms > 0 THEN to_timestamp(ack_ms / 1000.0) END, "
        "bonus, penalty, streak_bonus, $5, to_timestamp($6::bigint / 1000.0), "
        "CASE WHEN bonus = 0 AND penalty = 0 AND streak_bonus = 0 THEN now() END "
        "FROM settle_in ON CONFLICT DO NOTHING",
        6, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = carrot_pg_failure(pg, r, "settling", errstr, errstr_size);
        PQclear(r);
        return carrot_pg_abort(pg, rc);
    }
    *insertedp = atol(PQcmdTuples(r));
    PQclear(r);
    return carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
}

/* What the settlements say (met, missed), and how many settled figures
 * Redis no longer agrees with: records that came after the close. */
static carrot_ledger_err_t count_settled(const carrot_close_opts_t *o, const commit_vec_t *figs,
                                         carrot_close_report_t *rep, char *errstr,
                                         size_t errstr_size) {
    const carrot_commitment_t *c = carrot_rules_commitment(o->rules, o->commitment);
    const char *p[] = {carrot_rules_program(o->rules), c->id, o->period};
    PGresult *r = PQexecParams(o->pg,
                               "SELECT participant_id, figure, judged, met FROM "
                               "commitment_settlements "
                               "WHERE program_id = $1 AND commitment_id = $2 AND period_id = $3",
                               3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(o->pg, r, "reading settlements", errstr,
                                                   errstr_size);
        PQclear(r);
        return rc;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const commit_fig_t *f = commit_vec_find(figs, PQgetvalue(r, i, 0));
        int64_t n = f ? f->n : 0, d = f ? f->d : 0;
        if (n != strtoll(PQgetvalue(r, i, 1), NULL, 10) ||
            d != strtoll(PQgetvalue(r, i, 2), NULL, 10))
            rep->late++;
        if (PQgetvalue(r, i, 3)[0] == 't') rep->met++;
        else
            rep->missed++;
    }
    PQclear(r);
    return CARROT_LEDGER_OK;
}

/* One chunk of consequences: rows [0, n) of the unbooked result r. */
static carrot_ledger_err_t book_chunk(const carrot_close_opts_t *o, PGresult *q, int first, int n,
                                      int64_t end_ms, carrot_close_report_t *rep, char *errstr,
                                      size_t errstr_size) {
    const carrot_commitment_t *c = carrot_rules_commitment(o->rules, o->commitment);
    const char *program = carrot_rules_program(o->rules);
    char stream[160];
    snprintf(stream, sizeof(stream), "commit:%s:%s", c->id, o->period);
    typedef struct {
        carrot_activity_t act;
        carrot_scoring_t sc;
        carrot_plan_t plan;
        carrot_participant_t who;
        char event_id[400], record[400];
    } item_t;
    item_t *it = calloc((size_t)n, sizeof(*it));
    carrot_board_event_t *ev = calloc((size_t)n, sizeof(*ev));
    carrot_board_result_t *res = calloc((size_t)n, sizeof(*res));
    const char **ids = calloc((size_t)n, sizeof(*ids));
    carrot_ledger_err_t rc = CARROT_LEDGER_FATAL;
    if (!it || !ev || !res || !ids) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) ids[i] = PQgetvalue(q, first + i, 0);
    /* the scopes of their boards, as the directory has them now */
    carrot_participant_t *people = calloc((size_t)n, sizeof(*people));
    if (!people) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    carrot_directory_err_t derr = carrot_directory_get(o->dir, program, ids, (size_t)n, people,
                                                       errstr, errstr_size);
    for (int i = 0; i < n && derr == CARROT_DIRECTORY_OK; i++) it[i].who = people[i];
    free(people);
    if (derr != CARROT_DIRECTORY_OK) {
        rc = commit_dir_err(derr);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        item_t *x = &it[i];
        const char *who = ids[i];
        snprintf(x->event_id, sizeof(x->event_id), "commit:%s:%s:%s", c->id, o->period, who);
        snprintf(x->record, sizeof(x->record), "commit/%s/%s/%s", c->id, o->period, who);
        /* the last instant of the period: a week's bonus is on that week's boards */
        x->act = (carrot_activity_t){.event_id = x->event_id,
                                     .source_system = "carrot",
                                     .source_record_id = x->record,
                                     .participant_id = who,
                                     .activity_type = "commitment",
                                     .segment = x->who.segment,
                                     .team_id = x->who.team_id,
                                     .region = x->who.region,
                                     .occurred_at = end_ms - 1,
                                     .recorded_at = end_ms - 1};
        static const char *const kinds[] = {"met", "missed", "streak"};
        for (int k = 0; k < 3; k++) {
            int64_t v = strtoll(PQgetvalue(q, first + i, 1 + k), NULL, 10);
            if (v == 0) continue;
            carrot_score_t *l = &x->sc.lines[x->sc.nlines++];
            snprintf(l->rule_id, sizeof(l->rule_id), "commit.%s.%s", c->id, kinds[k]);
            l->points = v;
        }
        if (carrot_board_plan(o->rules, &x->act, NULL, &x->plan, errstr, errstr_size) !=
            CARROT_BOARD_OK)
            goto out;
        ev[i] = (carrot_board_event_t){.offset = strtoll(PQgetvalue(q, first + i, 4), NULL, 10),
                                       .kind = CARROT_BOARD_AWARD,
                                       .event_id = x->event_id,
                                       .activity = &x->act,
                                       .version = carrot_rules_version(o->rules),
                                       .scoring = &x->sc,
                                       .plan = &x->plan};
    }
    carrot_board_err_t berr = carrot_board_apply(o->board, program, stream, ev, (size_t)n,
                                                 o->seen_ttl, carrot_time_now_ms() / 1000, res,
                                                 errstr, errstr_size);
    if (berr != CARROT_BOARD_OK) {
        rc = berr == CARROT_BOARD_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
        goto out;
    }
    rd_kafka_error_t *e = rd_kafka_begin_transaction(o->producer);
    long booked = 0;
    int64_t points = 0;
    for (int i = 0; !e && i < n; i++) {
        if (!res[i].fresh) continue;
        for (int l = 0; l < res[i].nlines; l++) {
            char award_id[520];
            snprintf(award_id, sizeof(award_id), "%s/%s", it[i].event_id, res[i].lines[l].rule_id);
            carrot_award_t aw = {.award_id = award_id,
                                 .program_id = program,
                                 .event_id = it[i].event_id,
                                 .participant_id = ids[i],
                                 .segment = it[i].act.segment,
                                 .team_id = it[i].act.team_id,
                                 .region = it[i].act.region,
                                 .activity_type = "commitment",
                                 .rule_id = res[i].lines[l].rule_id,
                                 .rules_version = res[i].version,
                                 .points = res[i].lines[l].points,
                                 .occurred_at = end_ms - 1,
                                 .awarded_at = carrot_time_now_ms()};
            if (carrot_kafka_produce_award(o->producer, o->award_codec, o->awards_topic, &aw,
                                           stream, ev[i].offset, -1, errstr, errstr_size) != 0) {
                rd_kafka_error_destroy(rd_kafka_abort_transaction(o->producer, 30000));
                rc = CARROT_LEDGER_RETRY;
                goto out;
            }
            booked++;
            points += aw.points;
        }
    }
    if (!e) e = rd_kafka_commit_transaction(o->producer, -1);
    if (e) {
        snprintf(errstr, errstr_size, "the awards' transaction failed: %s",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = CARROT_LEDGER_RETRY;
        goto out;
    }
    /* in Kafka now: mark them, so a rerun does not produce them again */
    char *arr = NULL;
    size_t alen = 2;
    for (int i = 0; i < n; i++) alen += strlen(ids[i]) * 2 + 4;
    if (!(arr = malloc(alen))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    size_t len = 0;
    arr[len++] = '{';
    for (int i = 0; i < n; i++) { /* a text[] literal, each element quoted */
        if (i) arr[len++] = ',';
        arr[len++] = '"';
        for (const char *s = ids[i]; *s; s++) {
            if (*s == '"' || *s == '\\') arr[len++] = '\\';
            arr[len++] = *s;
        }
        arr[len++] = '"';
    }
    arr[len++] = '}';
    arr[len] = '\0';
    const char *p[] = {program, c->id, o->period, arr};
    rc = carrot_pg_command(o->pg,
                           "UPDATE commitment_settlements SET booked_at = now() WHERE program_id "
                           "= $1 AND commitment_id = $2 AND period_id = $3 AND participant_id = "
                           "ANY($4::text[]) AND booked_at IS NULL",
                           4, p, errstr, errstr_size);
    free(arr);
    if (rc == CARROT_LEDGER_OK) {
        rep->booked += booked;
        rep->points += points;
    }
out:
    free(it);
    free(ev);
    free(res);
    free(ids);
    return rc;
}

/* Step 4: every unbooked consequence, chunk by chunk. */
static carrot_ledger_err_t book(const carrot_close_opts_t *o, int64_t end_ms,
                                carrot_close_report_t *rep, char *errstr, size_t errstr_size) {
    const carrot_commitment_t *c = carrot_rules_commitment(o->rules, o->commitment);
    const char *p[] = {carrot_rules_program(o->rules), c->id, o->period};
    /* the offset: the place among all settlements with consequences, in a
     * fixed order, so every run names a consequence the same */
    PGresult *q = PQexecParams(
        o->pg,
        "SELECT participant_id, bonus, penalty, streak_bonus, pos, booked_at IS NULL FROM "
        "(SELECT participant_id, bonus, penalty, streak_bonus, booked_at, row_number() OVER "
        "(ORDER BY participant_id COLLATE \"C\") AS pos FROM commitment_settlements WHERE "
        "program_id = $1 AND commitment_id = $2 AND period_id = $3 AND (bonus <> 0 OR penalty "
        "<> 0 OR streak_bonus <> 0)) s WHERE booked_at IS NULL ORDER BY pos",
        3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(q) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(o->pg, q, "reading the consequences to book",
                                                   errstr, errstr_size);
        PQclear(q);
        return rc;
    }
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (int i = 0; i < PQntuples(q) && rc == CARROT_LEDGER_OK; i += CHUNK) {
        if (o->stop && *o->stop) {
            snprintf(errstr, errstr_size, "stopped: run the close again to book the rest");
            rc = CARROT_LEDGER_RETRY;
            break;
        }
        int n = PQntuples(q) - i < CHUNK ? PQntuples(q) - i : CHUNK;
        rc = book_chunk(o, q, i, n, end_ms, rep, errstr, errstr_size);
    }
    PQclear(q);
    return rc;
}

carrot_ledger_err_t carrot_commit_close(const carrot_close_opts_t *o, carrot_close_report_t *rep,
                                        char *errstr, size_t errstr_size) {
    memset(rep, 0, sizeof(*rep));
    const carrot_commitment_t *c = carrot_rules_commitment(o->rules, o->commitment);
    if (!c) {
        snprintf(errstr, errstr_size, "no such commitment");
        return CARROT_LEDGER_REFUSED;
    }
    carrot_period_t per;
    int64_t start, end;
    if (carrot_period_of_id(o->period, carrot_rules_timezone(o->rules), &per, &start, &end) != 0 ||
        per != c->period) {
        snprintf(errstr, errstr_size,
                 "\"%s\" is not a %s period id (commitment %s is per %s: e.g. %s)", o->period,
                 carrot_period_name(c->period), c->id, carrot_period_name(c->period),
                 c->period == CARROT_PERIOD_DAY     ? "d:2026-11-23"
                 : c->period == CARROT_PERIOD_WEEK  ? "w:2026-W47"
                 : c->period == CARROT_PERIOD_MONTH ? "m:2026-11"
                                                    : "q:2026-Q4");
        return CARROT_LEDGER_REFUSED;
    }
    if (o->now_ms < end + o->grace_ms) {
        char ends[40], closes[40];
        carrot_time_format(end, ends, sizeof(ends));
        carrot_time_format(end + o->grace_ms, closes, sizeof(closes));
        snprintf(errstr, errstr_size,
                 "%s is not over: it ends at %s and late records are waited for until %s",
                 o->period, ends, closes);
        return CARROT_LEDGER_REFUSED;
    }
    commit_vec_t figs = {.size = sizeof(commit_fig_t)}, terms = {.size = sizeof(commit_terms_t)},
                 prevs = {.size = sizeof(commit_prev_t)}, rows = {.size = sizeof(row_t)};
    int64_t t0 = carrot_time_mono_ms();
    carrot_ledger_err_t rc = commit_read_figures(o->board, carrot_rules_program(o->rules), c->id,
                                                 o->period, &figs, errstr, errstr_size);
    if (!rc)
        rc = commit_read_terms(o->pg, carrot_rules_program(o->rules), c, &terms, errstr,
                               errstr_size);
    if (!rc)
        rc = commit_read_prev(o->pg, carrot_rules_program(o->rules), c->id, o->period, &prevs,
                              errstr, errstr_size);
    int64_t t1 = carrot_time_mono_ms();
    if (!rc) rc = held_rows(o, end, &rows, &figs, &terms, &prevs, errstr, errstr_size);
    int64_t t2 = carrot_time_mono_ms();
    long inserted = 0;
    if (!rc) rc = settle(o, &rows, end, &inserted, errstr, errstr_size);
    carrot_debug("close %s %s: figures, terms and the previous period read in %lld ms, who is "
                 "held in %lld ms, settled in %lld ms",
                 c->id, o->period, (long long)(t1 - t0), (long long)(t2 - t1),
                 (long long)(carrot_time_mono_ms() - t2));
    if (!rc) {
        rep->held = (long)rows.n;
        rep->settled = inserted;
        rep->already = (long)rows.n - inserted;
        rc = count_settled(o, &figs, rep, errstr, errstr_size);
    }
    if (!rc) rc = book(o, end, rep, errstr, errstr_size);
    row_t *w = rows.v;
    for (size_t i = 0; i < rows.n; i++) free(w[i].supervisor);
    commit_vec_free(&rows);
    commit_vec_free(&figs);
    commit_vec_free(&terms);
    commit_vec_free(&prevs);
    return rc;
}
