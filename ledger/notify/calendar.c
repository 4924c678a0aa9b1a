/* calendar.c: the triggers that come from the calendar, not from an event:
 * points that will expire within n days (once a day per person, by the
 * ledger's own expiry rule), and last week's summaries: each person's points
 * and rank on the program's week board (its weeks in the program's time
 * zone), each supervisor's people (from the directory). Looked for every digest_ms; the day or the week is in each
 * trigger's id, so it is told once however often it is looked for. */
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static carrot_ledger_err_t oom(char *errstr, size_t errstr_size) {
    snprintf(errstr, errstr_size, "out of memory");
    return CARROT_LEDGER_FATAL;
}

/* Points each wallet would lose if `carrot-ledger expire` ran n days from
 * now: what is available beyond the points earned since the policy's
 * cutoff then (wallet.c's rule, with a later as_of). */
static carrot_ledger_err_t expiring(carrot_notifier_t *n, PGconn *pg, int64_t now,
                                    carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    const notify_trigger_t *tr = &n->cfg->triggers[CARROT_TRIGGER_POINTS_EXPIRING];
    if (!tr->on) return CARROT_LEDGER_OK;
    char nowms[24], days[16];
    snprintf(nowms, sizeof(nowms), "%lld", (long long)now);
    snprintf(days, sizeof(days), "%d", tr->n);
    const char *p[] = {nowms, days};
    PGresult *r = PQexecParams(
        pg,
        "WITH t AS (SELECT to_timestamp($1::bigint / 1000.0) AS now), "
        "cut AS (SELECT p.program_id, t.now + make_interval(days => $2::int) - "
        "  make_interval(months => p.expiry_months) AS cutoff, t.now + make_interval(days => "
        "  $2::int) AS by FROM programs p, t WHERE p.expiry_months IS NOT NULL), "
        "due AS (SELECT b.program_id, b.participant_id, cut.by, b.available - "
        "  coalesce((SELECT sum(a.points) FROM awards a WHERE a.program_id = b.program_id AND "
        "  a.participant_id = b.participant_id AND a.points > 0 AND a.awarded_at >= "
        "  cut.cutoff), 0) AS x FROM balances b JOIN cut USING (program_id)) "
        "SELECT program_id, participant_id, x, to_char(by AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
        "  to_char(t.now AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM due, t WHERE x > 0 "
        "ORDER BY 1, 2",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "points expiring", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        char id[700];
        snprintf(id, sizeof(id), "expiring:%s:%s:%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                 PQgetvalue(r, i, 4));
        json_t *f = json_pack("{s:I, s:s, s:i}", "points",
                              (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10), "date",
                              PQgetvalue(r, i, 3), "days", tr->n);
        notify_event_t ev = {id,
                             CARROT_TRIGGER_POINTS_EXPIRING,
                             PQgetvalue(r, i, 0),
                             PQgetvalue(r, i, 1),
                             NULL,
                             f,
                             now,
                             NULL};
        rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
        json_decref(f);
    }
    PQclear(r);
    return rc;
}

typedef struct {
    char id[257];
    long long points;
    int people;
    char top[257];
    long long top_points;
} team_t;

#define PAGE 500
#define MAX_TEAMS 4096

/* Last week's summaries of one program, from its week board. */
static carrot_ledger_err_t summaries(carrot_notifier_t *n, PGconn *pg, const char *program,
                                     int64_t now, carrot_notify_stats_t *st, char *errstr,
                                     size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    int mine = cfg->triggers[CARROT_TRIGGER_WEEKLY_SUMMARY].on,
        teams_on = cfg->triggers[CARROT_TRIGGER_TEAM_SUMMARY].on;
    char week[32], board[48], tz[256], version[256];
    int64_t start, end;
    /* the weeks of the program's boards are in the program's time zone */
    carrot_board_err_t mrc = carrot_board_get_meta(n->board, program, tz, sizeof(tz), version,
                                                   sizeof(version), errstr, errstr_size);
    if (mrc) return mrc == CARROT_BOARD_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
    if (!tz[0]) return CARROT_LEDGER_OK; /* no boards in this Redis */
    if (carrot_period_span(CARROT_PERIOD_WEEK, now - 7 * 86400000LL, tz, week, sizeof(week), &start,
                           &end) != 0) {
        snprintf(errstr, errstr_size, "program %s: time zone %s cannot be used", program, tz);
        return CARROT_LEDGER_FATAL;
    }
    snprintf(board, sizeof(board), "%s:all", week);
    carrot_board_entry_t *e = calloc(PAGE, sizeof(*e));
    carrot_participant_t *who = teams_on ? calloc(PAGE, sizeof(*who)) : NULL;
    team_t *teams = teams_on ? calloc(MAX_TEAMS, sizeof(*teams)) : NULL;
    int nteams = 0;
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (!e || (teams_on && (!who || !teams))) {
        rc = oom(errstr, errstr_size);
        goto out;
    }
    long size = 0;
    for (long at = 0; !rc; at += PAGE) {
        int got = 0;
        carrot_board_err_t brc = carrot_board_range(n->board, program, board, at, PAGE, e, &got,
                                                    errstr, errstr_size);
        if (brc) {
            rc = brc == CARROT_BOARD_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
            break;
        }
        if (at == 0) size = got ? e[0].size : 0;
        if (got == 0) break;
        if (teams_on) {
            const char *ids[PAGE];
            for (int i = 0; i < got; i++) ids[i] = e[i].participant_id;
            carrot_directory_err_t drc = carrot_directory_get(
                n->directory, program, ids, (size_t)got, who, errstr, errstr_size);
            if (drc) {
                rc = drc == CARROT_DIRECTORY_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
                break;
            }
        }
        for (int i = 0; !rc && i < got; i++) {
            if (mine) {
                char id[800];
                snprintf(id, sizeof(id), "summary:%s:%s:%s", program, e[i].participant_id, week);
                json_t *f = json_pack("{s:s, s:I, s:I, s:I}", "week", week + 2, "points",
                                      (json_int_t)e[i].points, "rank", (json_int_t)e[i].rank, "of",
                                      (json_int_t)(size ? size : got));
                notify_event_t ev = {
                    id,  CARROT_TRIGGER_WEEKLY_SUMMARY, program, e[i].participant_id, NULL, f, now,
                    NULL};
                rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
                json_decref(f);
            }
            if (teams_on && who[i].found && who[i].supervisor_id[0]) {
                int t = 0;
                while (t < nteams && strcmp(teams[t].id, who[i].supervisor_id) != 0) t++;
                if (t == nteams && nteams < MAX_TEAMS)
                    snprintf(teams[nteams++].id, sizeof(teams[0].id), "%s", who[i].supervisor_id);
                if (t < nteams) { /* entries come best first: the first seen is the top */
                    if (!teams[t].people++) {
                        snprintf(teams[t].top, sizeof(teams[t].top), "%s",
                                 carrot_participant_screen_name(&who[i]));
                        teams[t].top_points = (long long)e[i].points;
                    }
                    teams[t].points += (long long)e[i].points;
                }
            }
        }
        if (got < PAGE) break;
    }
    for (int t = 0; !rc && t < nteams; t++) {
        char id[800];
        snprintf(id, sizeof(id), "team:%s:%s:%s", program, teams[t].id, week);
        json_t *f = json_pack("{s:s, s:I, s:i, s:s, s:I}", "week", week + 2, "points",
                              (json_int_t)teams[t].points, "people", teams[t].people, "top",
                              teams[t].top, "top_points", (json_int_t)teams[t].top_points);
        notify_event_t ev = {id,  CARROT_TRIGGER_TEAM_SUMMARY, program, teams[t].id, NULL, f, now,
                             NULL};
        rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
        json_decref(f);
    }
out:
    free(e);
    free(who);
    free(teams);
    return rc;
}

carrot_ledger_err_t notify_calendar(carrot_notifier_t *n, PGconn *pg, carrot_notify_stats_t *st,
                                    char *errstr, size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    if (!cfg->triggers[CARROT_TRIGGER_POINTS_EXPIRING].on &&
        !cfg->triggers[CARROT_TRIGGER_WEEKLY_SUMMARY].on &&
        !cfg->triggers[CARROT_TRIGGER_TEAM_SUMMARY].on)
        return CARROT_LEDGER_OK;
    carrot_ledger_err_t rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size);
    if (rc) return rc;
    /* due when the last look is digest_ms old; the row lock makes members take turns */
    char every[24];
    snprintf(every, sizeof(every), "%lld", (long long)n->digest_ms);
    const char *p[] = {every, n->name};
    char *due = NULL;
    rc = carrot_pg_value(pg,
                         "INSERT INTO notify_cursors (notifier, source, since) VALUES ($2, "
                         "'digests', now()) ON CONFLICT (notifier, source) DO UPDATE SET since = "
                         "now() WHERE notify_cursors.since <= now() - $1::bigint * interval '1 "
                         "millisecond' RETURNING 1",
                         2, p, &due, errstr, errstr_size);
    int64_t now = carrot_time_now_ms();
    if (!rc && due) rc = expiring(n, pg, now, st, errstr, errstr_size);
    if (!rc && due && n->board &&
        (cfg->triggers[CARROT_TRIGGER_WEEKLY_SUMMARY].on ||
         cfg->triggers[CARROT_TRIGGER_TEAM_SUMMARY].on)) {
        /* the programs: the configuration's, or every program with a wallet */
        PGresult *r = NULL;
        if (!cfg->programs) {
            r = PQexec(pg, "SELECT DISTINCT program_id FROM balances ORDER BY 1");
            if (PQresultStatus(r) != PGRES_TUPLES_OK)
                rc = carrot_pg_failure(pg, r, "listing programs", errstr, errstr_size);
        }
        int np = r ? PQntuples(r) : cfg->nprograms;
        for (int i = 0; !rc && i < np; i++)
            rc = summaries(n, pg, r ? PQgetvalue(r, i, 0) : cfg->programs[i], now, st, errstr,
                           errstr_size);
        PQclear(r);
    }
    free(due);
    if (!rc) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    if (rc) carrot_pg_rollback(pg);
    return rc;
}
