/* team.c: a supervisor's page, GET /v1/me/team with their own participant
 * token: where everyone under them (every level down) stands on each
 * commitment this period, and the follow-up list of the latest closed
 * period's misses with each supervisor's follow-up rate (carrot/commitments.h,
 * the same code as carrot-commit show and followups). */
#include "carrot/commitments.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "display.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEAM 20000 /* people one page lists; a bigger team is a 413 */

static int on_pacing(void *opaque, const carrot_pacing_row_t *r) {
    char ack[40] = "";
    if (r->terms->acknowledged_at_ms) carrot_time_format(r->terms->acknowledged_at_ms, ack, 40);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s?}", "participant",
        r->who->participant_id, "name", carrot_participant_screen_name(r->who), "commitment",
        r->commitment->id, "text", r->commitment->text, "period", r->period, "figure",
        (json_int_t)r->pace.figure, "judged", (json_int_t)r->pace.judged, "target",
        (json_int_t)r->pace.target, "expected", (json_int_t)r->pace.expected, "state",
        carrot_pace_state_name(r->pace.state), "set_by", r->terms->set_by, "acknowledged_at",
        ack[0] ? ack : NULL);
    if (o) {
        json_object_set_new(o, "metric",
                            json_string(carrot_commit_metric_name(r->commitment->metric)));
        json_object_set_new(o, "streak", json_integer(r->streak));
        json_object_set_new(o, "misses", json_integer(r->misses));
    }
    if (o && r->pace.share_pct >= 0)
        json_object_set_new(o, "share", json_integer(r->pace.share_pct));
    json_array_append_new(opaque, o);
    return 0;
}

typedef struct {
    json_t *rows;
    const carrot_rules_t *rules;
} misses_t;

static int on_miss(void *opaque, const carrot_followup_row_t *r) {
    misses_t *m = opaque;
    const carrot_commitment_t *c = carrot_rules_commitment(
        m->rules, carrot_rules_commitment_find(m->rules, r->commitment));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:b, s:i, s:s, s:s}", "participant",
        r->participant, "supervisor", r->supervisor, "commitment", r->commitment, "period",
        r->period, "figure", (json_int_t)r->figure, "judged", (json_int_t)r->judged, "target",
        (json_int_t)r->target, "misses", r->misses, "acknowledged", r->acknowledged_at_ms > 0,
        "followups", (int)r->followups, "last_kind", r->last_kind, "last_on", r->last_on);
    if (o && c) {
        json_object_set_new(o, "metric", json_string(carrot_commit_metric_name(c->metric)));
        json_object_set_new(o, "text", json_string(c->text));
    }
    json_array_append_new(m->rows, o);
    return 0;
}

static int on_rate(void *opaque, const carrot_followup_rate_t *r) {
    json_array_append_new(opaque,
                          json_pack("{s:s, s:i, s:i}", "supervisor", r->supervisor, "misses",
                                    (int)r->misses, "followed_up", (int)r->followed_up));
    return 0;
}

/* A private copy of the program's rules: none of p's lock is held while
 * PostgreSQL and Redis are asked. */
static carrot_rules_t *rules_copy(program_t *p) {
    pthread_mutex_lock(&p->lock);
    size_t len = 0;
    const char *text = p->rules ? carrot_rules_text(p->rules, &len) : NULL;
    char *copy = text ? malloc(len + 1) : NULL;
    if (copy) memcpy(copy, text, len + 1);
    pthread_mutex_unlock(&p->lock);
    char errstr[256];
    carrot_rules_t *r = copy ? carrot_rules_parse(copy, len, "rules", errstr, sizeof(errstr))
                             : NULL;
    free(copy);
    return r;
}

answer_t team_get(session_t *s, const grant_t *g) {
    program_t *p = display_program(s->d, g->program);
    if (!p) return api_error(404, "unknown program");
    carrot_rules_t *rules = rules_copy(p);
    if (!rules) return api_error(503, "the program's rules have not arrived yet");
    char errstr[512];
    answer_t a;
    char **ids = NULL;
    size_t n = 0;
    json_t *pacing = json_array(), *misses = json_array(), *rates = json_array();
    PGconn *pg = session_pg(s, errstr, sizeof(errstr));
    carrot_ledger_err_t rc = pg ? carrot_commit_team(s->dir, p->id, g->participant, MAX_TEAM, &ids,
                                                     &n, errstr, sizeof(errstr))
                                : CARROT_LEDGER_RETRY;
    int64_t now = carrot_time_now_ms();
    for (int i = 0; !rc && i < carrot_rules_ncommitments(rules); i++) {
        const carrot_commitment_t *c = carrot_rules_commitment(rules, i);
        char pid[32];
        int64_t start, end;
        if (display_period_span(c->period, now, carrot_rules_timezone(rules), pid, sizeof(pid),
                                &start, &end) != 0) {
            snprintf(errstr, sizeof(errstr), "the rules' time zone cannot be used");
            rc = CARROT_LEDGER_FATAL;
            break;
        }
        rc = carrot_commit_pacing(pg, s->board, s->dir, rules, i, pid, start, end, now,
                                  (const char *const *)ids, n, on_pacing, pacing, errstr,
                                  sizeof(errstr));
    }
    if (!rc)
        rc = carrot_commit_followups(pg, rules, NULL, (const char *const *)ids, n, on_miss,
                                     &(misses_t){.rows = misses, .rules = rules}, errstr,
                                     sizeof(errstr));
    if (!rc)
        rc = carrot_commit_followup_rates(pg, rules, NULL, (const char *const *)ids, n, on_rate,
                                          rates, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_REFUSED) {
        a = api_error(413, errstr);
    } else if (rc) {
        carrot_warn("the team of %s: %s", g->participant, errstr);
        a = api_error(503, "the team cannot be read right now");
    } else {
        a = (answer_t){200,
                       json_pack("{s:s, s:s, s:i, s:O, s:O, s:O}", "program", p->id, "supervisor",
                                 g->participant, "people", (int)n, "pacing", pacing, "misses",
                                 misses, "rates", rates),
                       "private, no-store", NULL};
    }
    json_decref(pacing);
    json_decref(misses);
    json_decref(rates);
    carrot_commit_team_free(ids, n);
    carrot_rules_destroy(rules);
    return a;
}
