/* closing.c: carrot-commit close, followups and followup: a period's close
 * (met or missed, once, with its consequences booked), the supervisors'
 * list of misses, and what they did about each. */
#include "carrot/award.h"
#include "carrot/kafka.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "prog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The period a close of commitment c means: --period, or for "last" the
 * period before the one holding now. */
static int close_period(commit_ctx_t *x, const carrot_commitment_t *c, char *buf, size_t size) {
    if (strcmp(x->cf->period, "last") != 0) {
        snprintf(buf, size, "%s", x->cf->period);
        return 0;
    }
    char now[32];
    if (carrot_period_of(c->period, x->now_ms, carrot_rules_timezone(x->rules), now, sizeof(now),
                         NULL) != 0 ||
        carrot_period_previous(now, buf, size) != 0) {
        carrot_error("no period before %s", now);
        return -1;
    }
    return 0;
}

int commit_cmd_close(commit_ctx_t *x) {
    const commit_conf_t *cf = x->cf;
    if (!cf->period || !*cf->period) {
        carrot_error("close needs --period (an id such as w:2026-W47, or last)");
        return EXIT_USAGE;
    }
    int first = 0, last = carrot_rules_ncommitments(x->rules) - 1;
    if (cf->commitment && *cf->commitment && (first = last = commit_find(x)) < 0)
        return EXIT_REFUSED;
    if (last < 0) {
        carrot_error("the rules of %s (version %s) have no commitments", cf->program,
                     carrot_rules_version(x->rules));
        return EXIT_REFUSED;
    }
    char errstr[512], txid[300];
    /* one transactional id per program: a second closer fences the first */
    snprintf(txid, sizeof(txid), "carrot-commit.%s", cf->program);
    carrot_codec_t *codec = carrot_award_codec_new(errstr, sizeof(errstr));
    rd_kafka_t *rk = codec ? carrot_kafka_txn_producer_new(x->conf, cf->brokers, NULL, txid, 60000,
                                                           errstr, sizeof(errstr))
                           : NULL;
    if (!rk) {
        carrot_error("%s", errstr);
        carrot_codec_destroy(codec);
        return EXIT_FAILED;
    }
    int rc = EXIT_OK;
    json_t *out = json_array();
    for (int i = first; i <= last && rc == EXIT_OK; i++) {
        const carrot_commitment_t *c = carrot_rules_commitment(x->rules, i);
        char period[32];
        if (strcmp(cf->period, "last") != 0 && first != last &&
            cf->period[0] != carrot_period_name(c->period)[0])
            continue; /* a week id closes the weekly commitments */
        if (close_period(x, c, period, sizeof(period)) != 0) {
            rc = EXIT_REFUSED;
            break;
        }
        carrot_close_opts_t o = {.pg = x->pg,
                                 .board = x->board,
                                 .dir = x->dir,
                                 .producer = rk,
                                 .award_codec = codec,
                                 .awards_topic = cf->awards_topic,
                                 .rules = x->rules,
                                 .commitment = i,
                                 .period = period,
                                 .now_ms = x->now_ms,
                                 .grace_ms = cf->grace_hours * 3600000LL,
                                 .seen_ttl = cf->seen_ttl,
                                 .stop = x->stop};
        carrot_close_report_t r;
        carrot_ledger_err_t err = carrot_commit_close(&o, &r, errstr, sizeof(errstr));
        if (err) {
            carrot_error("closing %s for %s: %s", c->id, period, errstr);
            rc = commit_exit(err);
            break;
        }
        if (r.late)
            carrot_warn("%s %s: %ld participants' figures changed after the close (records that "
                        "came late); the settlements stand",
                        c->id, period, r.late);
        if (x->json)
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:i}", "commitment",
                               c->id, "period", period, "held", (int)r.held, "settled",
                               (int)r.settled, "already", (int)r.already, "met", (int)r.met,
                               "missed", (int)r.missed, "awards", (int)r.booked, "points",
                               (json_int_t)r.points, "late", (int)r.late));
        else
            printf("%s %s: %ld held, %ld settled now (%ld before): %ld met, %ld missed; %ld "
                   "awards, %lld points; %ld late\n",
                   c->id, period, r.held, r.settled, r.already, r.met, r.missed, r.booked,
                   (long long)r.points, r.late);
    }
    if (x->json && rc == EXIT_OK)
        commit_print_json(json_pack("{s:s, s:o}", "program", cf->program, "closed", out));
    else
        json_decref(out);
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    carrot_codec_destroy(codec);
    return rc;
}

typedef struct {
    commit_ctx_t *x;
    json_t *rows, *rates;
} list_t;

static int on_row(void *opaque, const carrot_followup_row_t *r) {
    list_t *l = opaque;
    const carrot_commitment_t *c = carrot_rules_commitment(
        l->x->rules, carrot_rules_commitment_find(l->x->rules, r->commitment));
    char ack[40] = "";
    if (r->acknowledged_at_ms > 0) carrot_time_format(r->acknowledged_at_ms, ack, sizeof(ack));
    if (l->x->json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:s?, s:i, s:b, s:s, s:s, s:s}",
            "participant", r->participant, "supervisor", r->supervisor, "commitment", r->commitment,
            "text", c ? c->text : "", "period", r->period, "figure", (json_int_t)r->figure,
            "judged", (json_int_t)r->judged, "target", (json_int_t)r->target, "misses", r->misses,
            "set_by", r->set_by, "acknowledged_at", r->acknowledged_at_ms > 0 ? ack : NULL,
            "followups", (int)r->followups, "open", r->followups == 0, "last_kind", r->last_kind,
            "last_note", r->last_note, "last_on", r->last_on);
        json_array_append_new(l->rows, o);
    } else {
        char fig[48];
        if (c && c->metric >= CARROT_COMMIT_COMPLETE) /* a share: of what was judged */
            snprintf(fig, sizeof(fig), "%lld%% of %lld",
                     r->judged ? (long long)(r->figure * 100 / r->judged) : 0LL,
                     (long long)r->judged);
        else
            snprintf(fig, sizeof(fig), "%lld", (long long)r->figure);
        printf("%-16s %-14s %-18s %-12s %12s %8lld %6d  %-24s %s\n", r->participant, r->supervisor,
               r->commitment, r->period, fig, (long long)r->target, r->misses,
               ack[0] ? ack : "not acknowledged", r->followups ? r->last_kind : "open");
    }
    return 0;
}

static int on_rate(void *opaque, const carrot_followup_rate_t *r) {
    list_t *l = opaque;
    double pct = r->misses ? 100.0 * (double)r->followed_up / (double)r->misses : 100.0;
    if (l->x->json)
        json_array_append_new(l->rates,
                              json_pack("{s:s, s:i, s:i, s:f}", "supervisor", r->supervisor,
                                        "misses", (int)r->misses, "followed_up",
                                        (int)r->followed_up, "rate", pct / 100.0));
    else
        printf("  %-16s %ld of %ld misses followed up (%.0f%%)\n", r->supervisor, r->followed_up,
               r->misses, pct);
    return 0;
}

int commit_cmd_followups(commit_ctx_t *x) {
    const commit_conf_t *cf = x->cf;
    if (!cf->supervisor || !*cf->supervisor) {
        carrot_error("followups needs --supervisor");
        return EXIT_USAGE;
    }
    carrot_participant_t s;
    int rc = commit_person(x, "supervisor", cf->supervisor, &s);
    if (rc) return rc;
    char **under = NULL, errstr[512];
    long n = commit_under(x, cf->supervisor, &under);
    if (n < 0) return EXIT_FAILED;
    list_t l = {.x = x, .rows = json_array(), .rates = json_array()};
    if (!x->json)
        printf("%-16s %-14s %-18s %-12s %12s %8s %6s  %-24s %s\n", "participant", "supervisor",
               "commitment", "period", "figure", "target", "misses", "acknowledged", "follow-up");
    carrot_ledger_err_t err = carrot_commit_followups(x->pg, x->rules, cf->period,
                                                      (const char *const *)under, (size_t)n, on_row,
                                                      &l, errstr, sizeof(errstr));
    if (!err && !x->json) printf("follow-ups done, per supervisor:\n");
    if (!err)
        err = carrot_commit_followup_rates(x->pg, x->rules, cf->period, (const char *const *)under,
                                           (size_t)n, on_rate, &l, errstr, sizeof(errstr));
    if (err) {
        carrot_error("%s", errstr);
        rc = commit_exit(err);
    } else if (x->json)
        commit_print_json(json_pack("{s:s, s:s, s:O, s:O}", "program", cf->program, "supervisor",
                                    cf->supervisor, "misses", l.rows, "rates", l.rates));
    json_decref(l.rows);
    json_decref(l.rates);
    for (long i = 0; i < n; i++) free(under[i]);
    free(under);
    return rc;
}

static int valid_date(const char *d) {
    int y, m, day;
    char tail;
    if (strlen(d) != 10 || sscanf(d, "%4d-%2d-%2d%c", &y, &m, &day, &tail) != 3) return 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return y >= 1970 && m >= 1 && m <= 12 && day >= 1 && day <= mdays[m - 1];
}

int commit_cmd_followup(commit_ctx_t *x) {
    const commit_conf_t *cf = x->cf;
    const char *names[] = {"participant", "commitment", "period", "by"};
    const char *values[] = {cf->participant, cf->commitment, cf->period, cf->by};
    for (int i = 0; i < 4; i++)
        if (!values[i] || !*values[i]) {
            carrot_error("followup needs --%s", names[i]);
            return EXIT_USAGE;
        }
    if (commit_find(x) < 0) return EXIT_REFUSED;
    if (cf->date && !valid_date(cf->date)) {
        carrot_error("--date: expected a day as YYYY-MM-DD, not \"%s\"", cf->date);
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
        carrot_error("%s is not above %s in the directory: a supervisor follows up their own "
                     "people",
                     cf->by, cf->participant);
        return EXIT_REFUSED;
    }
    char errstr[512];
    carrot_ledger_err_t err = carrot_commit_followup_add(
        x->pg, cf->program, cf->commitment, cf->period, cf->participant, cf->by, cf->kind, cf->note,
        cf->date, errstr, sizeof(errstr));
    if (err) {
        carrot_error("%s", errstr);
        return commit_exit(err);
    }
    if (x->json)
        commit_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "participant", cf->participant,
                                    "commitment", cf->commitment, "period", cf->period, "by",
                                    cf->by, "kind", cf->kind));
    else
        printf("%s: %s of %s %s recorded by %s\n", cf->participant, cf->kind, cf->commitment,
               cf->period, cf->by);
    return EXIT_OK;
}
