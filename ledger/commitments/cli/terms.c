/* terms.c: carrot-commit set, acknowledge and show: a supervisor sets a
 * target, the participant acknowledges it, and anyone reads where people
 * stand in the current period. */
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int share(const carrot_commitment_t *c) {
    return c->metric == CARROT_COMMIT_COMPLETE || c->metric == CARROT_COMMIT_ON_TIME;
}

static int needs(const char *cmd, const char *const *names, const char *const *values) {
    for (int i = 0; names[i]; i++)
        if (!values[i] || !*values[i]) {
            carrot_error("%s needs --%s", cmd, names[i]);
            return -1;
        }
    return 0;
}

static void iso(int64_t ms, char *buf, size_t size) {
    if (ms > 0) carrot_time_format(ms, buf, size);
    else
        snprintf(buf, size, "-");
}

int commit_cmd_set(commit_ctx_t *x) {
    const commit_conf_t *cf = x->cf;
    static const char *const names[] = {"participant", "commitment", "target", "by", NULL};
    const char *values[] = {cf->participant, cf->commitment, cf->target, cf->by};
    if (needs("set", names, values)) return EXIT_USAGE;
    int ci = commit_find(x);
    if (ci < 0) return EXIT_REFUSED;
    const carrot_commitment_t *c = carrot_rules_commitment(x->rules, ci);
    long long max = share(c) ? 100 : 100000000, target;
    char *end;
    errno = 0;
    target = strtoll(cf->target, &end, 10);
    if (*end || errno || target < 1 || target > max) {
        carrot_error("--target: expected a whole number from 1 to %lld%s, not \"%s\"", max,
                     share(c) ? " (a percent)" : "", cf->target);
        return EXIT_REFUSED;
    }
    carrot_participant_t u, s;
    int rc;
    if ((rc = commit_person(x, "participant", cf->participant, &u)) ||
        (rc = commit_person(x, "supervisor", cf->by, &s)))
        return rc;
    int above = commit_is_above(x, &u, cf->by);
    if (above < 0) return EXIT_FAILED;
    if (!above) {
        carrot_error("%s is not above %s in the directory (their supervisor is %s): a commitment "
                     "is set by the participant's supervisor or someone above them",
                     cf->by, cf->participant, u.supervisor_id[0] ? u.supervisor_id : "nobody");
        return EXIT_REFUSED;
    }
    char errstr[512];
    carrot_ledger_err_t err = carrot_commit_set(x->pg, cf->program, c->id, cf->participant, target,
                                                cf->by, cf->note, errstr, sizeof(errstr));
    if (err) {
        carrot_error("%s", errstr);
        return commit_exit(err);
    }
    if (x->json)
        commit_print_json(json_pack("{s:s, s:s, s:I, s:s, s:b}", "participant", cf->participant,
                                    "commitment", c->id, "target", (json_int_t)target, "set_by",
                                    cf->by, "acknowledged", 0));
    else
        printf("%s: %s set to %lld by %s; not acknowledged yet\n", cf->participant, c->id, target,
               cf->by);
    return EXIT_OK;
}

static int first_terms(void *opaque, const char *who, const carrot_commit_terms_t *t) {
    (void)who;
    *(carrot_commit_terms_t *)opaque = *t;
    return 1;
}

int commit_cmd_acknowledge(commit_ctx_t *x) {
    const commit_conf_t *cf = x->cf;
    static const char *const names[] = {"participant", "commitment", "by", NULL};
    const char *values[] = {cf->participant, cf->commitment, cf->by};
    if (needs("acknowledge", names, values)) return EXIT_USAGE;
    int ci = commit_find(x);
    if (ci < 0) return EXIT_REFUSED;
    const carrot_commitment_t *c = carrot_rules_commitment(x->rules, ci);
    carrot_participant_t u;
    int rc = commit_person(x, "participant", cf->participant, &u);
    if (rc) return rc;
    if (strcmp(cf->by, cf->participant) != 0) {
        carrot_error("only %s acknowledges their own commitments, not %s", cf->participant, cf->by);
        return EXIT_REFUSED;
    }
    char errstr[512];
    carrot_commit_terms_t t = {.target = 0};
    carrot_ledger_err_t err = carrot_commit_terms(x->pg, cf->program, c->id, cf->participant,
                                                  c->target, first_terms, &t, errstr,
                                                  sizeof(errstr));
    if (err) {
        carrot_error("%s", errstr);
        return commit_exit(err);
    }
    if (t.target == 0) { /* nothing set: the rules' default, if it holds them */
        t.target = c->target;
        int tenure = u.hired_at_ms > 0 ? (int)((x->now_ms - u.hired_at_ms) / 86400000) : -1;
        if (!u.active ||
            !carrot_rules_commitment_holds(x->rules, ci, u.segment, u.team_id, u.region, tenure)) {
            carrot_error("%s is not held to %s (the rules hold others, and no supervisor set it "
                         "for them): nothing to acknowledge",
                         cf->participant, c->id);
            return EXIT_REFUSED;
        }
    }
    if (t.acknowledged_at_ms == 0 &&
        (err = carrot_commit_acknowledge(x->pg, cf->program, c->id, cf->participant, t.target,
                                         errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        return commit_exit(err);
    }
    if (x->json)
        commit_print_json(json_pack("{s:s, s:s, s:I, s:b}", "participant", cf->participant,
                                    "commitment", c->id, "target", (json_int_t)t.target,
                                    "acknowledged", 1));
    else
        printf("%s: %s acknowledged%s: %lld a %s\n", cf->participant, c->id,
               t.acknowledged_at_ms ? " already" : "", (long long)t.target,
               carrot_period_name(c->period));
    return EXIT_OK;
}

typedef struct {
    commit_ctx_t *x;
    json_t *rows;
    long count;
} show_t;

static int on_pacing(void *opaque, const carrot_pacing_row_t *r) {
    show_t *s = opaque;
    const carrot_pace_t *p = &r->pace;
    char ack[40];
    iso(r->terms->acknowledged_at_ms, ack, sizeof(ack));
    s->count++;
    if (s->x->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:s, s:s, s:s?}",
                              "participant", r->who->participant_id, "name", r->who->display_name,
                              "supervisor", r->who->supervisor_id, "commitment", r->commitment->id,
                              "period", r->period, "figure", (json_int_t)p->figure, "judged",
                              (json_int_t)p->judged, "target", (json_int_t)p->target, "expected",
                              (json_int_t)p->expected, "elapsed", p->elapsed, "state",
                              carrot_pace_state_name(p->state), "set_by", r->terms->set_by,
                              "acknowledged_at", r->terms->acknowledged_at_ms ? ack : NULL);
        if (o) {
            json_object_set_new(o, "streak", json_integer(r->streak));
            json_object_set_new(o, "misses", json_integer(r->misses));
        }
        if (o && r->pace.share_pct >= 0)
            json_object_set_new(o, "share", json_integer(p->share_pct));
        json_array_append_new(s->rows, o);
    } else {
        char fig[48];
        if (r->commitment->metric >= CARROT_COMMIT_COMPLETE) /* a share */
            snprintf(fig, sizeof(fig), "%d%% of %lld", p->share_pct < 0 ? 0 : p->share_pct,
                     (long long)p->judged);
        else
            snprintf(fig, sizeof(fig), "%lld", (long long)p->figure);
        printf("%-16s %-18s %-12s %14s %8lld %8lld  %-9s %6d  %s\n", r->who->participant_id,
               r->commitment->id, r->period, fig, (long long)p->expected, (long long)p->target,
               carrot_pace_state_name(p->state), r->streak,
               r->terms->acknowledged_at_ms ? ack : "not acknowledged");
    }
    return 0;
}

int commit_cmd_show(commit_ctx_t *x) {
    const commit_conf_t *cf = x->cf;
    char **under = NULL;
    long nunder = 0;
    const char *one[1];
    const char *const *people = NULL;
    size_t n = 0;
    carrot_participant_t p;
    int rc;
    if (cf->participant && *cf->participant) {
        if ((rc = commit_person(x, "participant", cf->participant, &p))) return rc;
        one[0] = cf->participant;
        people = one;
        n = 1;
    } else if (cf->supervisor && *cf->supervisor) {
        if ((rc = commit_person(x, "supervisor", cf->supervisor, &p))) return rc;
        if ((nunder = commit_under(x, cf->supervisor, &under)) < 0) return EXIT_FAILED;
        people = (const char *const *)under;
        n = (size_t)nunder;
    }
    int first = 0, last = carrot_rules_ncommitments(x->rules) - 1;
    if (cf->commitment && *cf->commitment) {
        if ((first = last = commit_find(x)) < 0) return EXIT_REFUSED;
    }
    show_t s = {.x = x, .rows = json_array()};
    if (!x->json)
        printf("%-16s %-18s %-12s %14s %8s %8s  %-9s %6s  %s\n", "participant", "commitment",
               "period", "figure", "due now", "target", "state", "streak", "acknowledged");
    rc = EXIT_OK;
    char errstr[512];
    for (int i = first; i <= last && rc == EXIT_OK; i++) {
        const carrot_commitment_t *c = carrot_rules_commitment(x->rules, i);
        /* a period id names one kind: other commitments are not in it */
        if (cf->period && first != last && cf->period[0] != carrot_period_name(c->period)[0])
            continue;
        char pid[32];
        int64_t start, end;
        carrot_period_t kind;
        const char *tz = carrot_rules_timezone(x->rules);
        if (cf->period) {
            if (carrot_period_of_id(cf->period, tz, &kind, &start, &end) != 0 ||
                kind != c->period) {
                carrot_error("\"%s\" is not a %s period id (commitment %s)", cf->period,
                             carrot_period_name(c->period), c->id);
                rc = EXIT_REFUSED;
                break;
            }
            snprintf(pid, sizeof(pid), "%s", cf->period);
        } else if (carrot_period_span(c->period, x->now_ms, tz, pid, sizeof(pid), &start, &end)) {
            carrot_error("the time zone %s of the rules cannot be used", tz);
            rc = EXIT_FAILED;
            break;
        }
        carrot_ledger_err_t err = carrot_commit_pacing(x->pg, x->board, x->dir, x->rules, i, pid,
                                                       start, end, x->now_ms, people, n, on_pacing,
                                                       &s, errstr, sizeof(errstr));
        if (err) {
            carrot_error("%s", errstr);
            rc = commit_exit(err);
        }
    }
    if (x->json && rc == EXIT_OK)
        commit_print_json(json_pack("{s:s, s:o}", "program", cf->program, "pacing", s.rows));
    else
        json_decref(s.rows);
    for (long i = 0; i < nunder; i++) free(under[i]);
    free(under);
    return rc;
}
