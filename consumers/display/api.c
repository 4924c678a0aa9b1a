/* api.c: carrot-board's JSON endpoints under /v1, read-only. Every board
 * read goes through carrot/board.h's queries and every name through the
 * participants directory, so a hidden participant is never named on a
 * screen. The adoption report (a manager's token only) is carrot/adoption.h's
 * JSON, passed on as the library writes it: it names participants, so it is
 * never stored on the way. */
#include "carrot/adoption.h"
#include "carrot/directory.h"
#include "carrot/ledger_db.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/rules.h"
#include "carrot/timeutil.h"
#include "display.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_STORE "no-store"
#define PRIVATE "private, no-store" /* names people: kept by no cache, shared or not */
#define REVALIDATE "no-cache"       /* with an ETag: a screen polling gets 304 until it changes */
#define MAX_LIMIT 100
#define MAX_STANDING 100

answer_t api_error(unsigned status, const char *reason) {
    return (answer_t){status, json_pack("{sssi}", "error", reason, "status", (int)status), NO_STORE,
                      NULL};
}

/* A board failure as an answer: Redis down is a 503, the rest a 500. */
static answer_t board_failed(carrot_board_err_t rc, const char *errstr) {
    carrot_warn("boards: %s", errstr);
    return rc == CARROT_BOARD_RETRY ? api_error(503, "the boards cannot be read right now")
                                    : api_error(500, "the boards answered something unexpected");
}

/* The board before name's period, same scope ("" for ptd). */
static void previous_board(const char *name, char *out, size_t size) {
    out[0] = '\0';
    const char *colon = strchr(name, ':');
    if (!colon || strncmp(name, "ptd:", 4) == 0) return;
    /* a dated id holds one more ':' ("d:2026-11-22:all"): the scope starts after it */
    const char *scope = strchr(colon + 1, ':');
    if (!scope) return;
    char id[32], prev[32];
    snprintf(id, sizeof(id), "%.*s", (int)(scope - name), name);
    if (carrot_period_previous(id, prev, sizeof(prev)) != 0) return;
    snprintf(out, size, "%s%s", prev, scope);
}

/* Looks up ids' directory entries; a failed lookup leaves them unknown
 * (names then fall back to ids, hidden ones stay hidden only if known:
 * so a directory outage is an error, not a silent leak). */
static int names(session_t *s, const char *program, const char *const *ids, size_t n,
                 carrot_participant_t *who, char *errstr, size_t errstr_size) {
    if (n == 0) return 0;
    return carrot_directory_get(s->dir, program, ids, n, who, errstr, errstr_size) ==
                   CARROT_DIRECTORY_OK
               ? 0
               : -1;
}

/* One entry as the screens see it. */
static json_t *entry_json(const carrot_board_entry_t *e, const carrot_participant_t *who,
                          int has_prev, int prev_present, int64_t prev_points) {
    int hidden = who->found && who->hide_from_screen;
    json_t *o = json_pack("{sIsssI}", "rank", (json_int_t)e->rank, "name",
                          who->found ? carrot_participant_screen_name(who) : e->participant_id,
                          "points", (json_int_t)e->points);
    json_object_set_new(o, "participant_id", hidden ? json_null() : json_string(e->participant_id));
    if (has_prev)
        json_object_set_new(
            o, "change", json_integer((json_int_t)(e->points - (prev_present ? prev_points : 0))));
    else
        json_object_set_new(o, "change", json_null());
    return o;
}

/* Entries into a JSON array with names and the change since the previous period. */
static json_t *entries_json(session_t *s, program_t *p, const char *board,
                            const carrot_board_entry_t *e, int n, unsigned *st, char *errstr,
                            size_t errstr_size) {
    enum { CAP = MAX_LIMIT + 2 * 50 + 1 };
    if (n > CAP) n = CAP;
    /* on the heap: a directory entry is 2 KB, and a page holds up to 201 */
    const char **ids = calloc((size_t)n + 1, sizeof(*ids));
    carrot_participant_t *who = calloc((size_t)n + 1, sizeof(*who));
    int64_t *prev_points = calloc((size_t)n + 1, sizeof(*prev_points));
    int *present = calloc((size_t)n + 1, sizeof(*present));
    json_t *arr = NULL;
    if (!ids || !who || !prev_points || !present) {
        snprintf(errstr, errstr_size, "out of memory");
        *st = 503;
        goto out;
    }
    for (int i = 0; i < n; i++) ids[i] = e[i].participant_id;
    if (names(s, p->id, ids, (size_t)n, who, errstr, errstr_size) != 0) {
        *st = 503;
        goto out;
    }
    char prev[DISPLAY_ID_MAX + 64];
    previous_board(board, prev, sizeof(prev));
    if (prev[0] && n > 0) {
        carrot_board_err_t rc = carrot_board_scores(s->board, p->id, prev, ids, (size_t)n,
                                                    prev_points, present, errstr, errstr_size);
        if (rc) {
            *st = rc == CARROT_BOARD_RETRY ? 503 : 500;
            goto out;
        }
    }
    arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr,
                              entry_json(&e[i], &who[i], prev[0] != 0, prev[0] ? present[i] : 0,
                                         prev[0] ? prev_points[i] : 0));
out:
    free(ids);
    free(who);
    free(prev_points);
    free(present);
    return arr;
}

static json_t *version_json(session_t *s, program_t *p) {
    char last[CARROT_BOARD_FEED_ID_MAX], errstr[256];
    if (carrot_board_feed_last(s->board, p->id, last, errstr, sizeof(errstr)) != 0)
        return json_null();
    return json_string(last);
}

json_t *api_board_json(session_t *s, program_t *p, const char *board, long start, long limit,
                       unsigned *st, char *errstr, size_t errstr_size) {
    carrot_board_entry_t e[MAX_LIMIT];
    int n = 0;
    long members = 0;
    if (limit > MAX_LIMIT) limit = MAX_LIMIT;
    carrot_board_err_t rc = carrot_board_members(s->board, p->id, board, &members, errstr,
                                                 errstr_size);
    if (!rc)
        rc = carrot_board_range(s->board, p->id, board, start, (int)limit, e, &n, errstr,
                                errstr_size);
    if (rc) {
        *st = rc == CARROT_BOARD_RETRY ? 503 : 500;
        return NULL;
    }
    json_t *arr = entries_json(s, p, board, e, n, st, errstr, errstr_size);
    if (!arr) return NULL;
    json_t *o = json_pack("{sssssIso}", "program", p->id, "board", board, "members",
                          (json_int_t)members, "entries", arr);
    json_object_set_new(o, "next_cursor",
                        start + n < members && n == limit ? json_integer(start + n) : json_null());
    json_object_set_new(o, "version", version_json(s, p));
    return o;
}

/* The program's time zone (as its scorer recorded it), for period names. */
static void program_tz(session_t *s, program_t *p, char *tz, size_t size) {
    char version[128], errstr[256];
    pthread_mutex_lock(&p->lock);
    snprintf(tz, size, "%s", p->tz);
    pthread_mutex_unlock(&p->lock);
    if (tz[0]) return;
    if (carrot_board_get_meta(s->board, p->id, tz, size, version, sizeof(version), errstr,
                              sizeof(errstr)) != 0 ||
        !tz[0])
        snprintf(tz, size, "UTC");
    pthread_mutex_lock(&p->lock);
    snprintf(p->tz, sizeof(p->tz), "%s", tz);
    pthread_mutex_unlock(&p->lock);
}

static answer_t board(session_t *s, program_t *p, const query_t *q, int around) {
    char errstr[512];
    unsigned st = 500;
    long members = 0;
    carrot_board_err_t rc = carrot_board_members(s->board, p->id, q->board, &members, errstr,
                                                 sizeof(errstr));
    if (rc) return board_failed(rc, errstr);
    /* an empty board is a 404 unless it is the current period's, still to
     * be scored into (a Monday-morning screen): never an empty 200 for a
     * period long gone or a scope that does not exist */
    if (members == 0 && (q->named || !q->current || strncmp(q->board, "ptd:", 4) == 0))
        return api_error(404, "no such board (nothing scored there, or it expired)");
    if (!around) {
        json_t *o = api_board_json(s, p, q->board, q->cursor, q->limit, &st, errstr,
                                   sizeof(errstr));
        if (!o)
            return st == 503 ? api_error(503, "the boards cannot be read right now")
                             : api_error(500, "the boards answered something unexpected");
        return (answer_t){200, o, REVALIDATE, NULL};
    }
    if (!q->participant[0]) return api_error(400, "participant: required");
    carrot_participant_t me;
    const char *ids[] = {q->participant};
    if (names(s, p->id, ids, 1, &me, errstr, sizeof(errstr)) != 0)
        return api_error(503, "the participants directory cannot be read right now");
    if (me.found && me.hide_from_screen) return api_error(404, "participant not shown");
    carrot_board_entry_t e[2 * 50 + 1];
    int n = 0;
    rc = carrot_board_around(s->board, p->id, q->board, q->participant, (int)q->k, e, &n, errstr,
                             sizeof(errstr));
    if (rc) return board_failed(rc, errstr);
    if (n == 0) return api_error(404, "participant not on this board");
    json_t *arr = entries_json(s, p, q->board, e, n, &st, errstr, sizeof(errstr));
    if (!arr) return api_error(503, "the participants directory cannot be read right now");
    json_t *o = json_pack("{sssssssIso}", "program", p->id, "board", q->board, "participant",
                          q->participant, "members", (json_int_t)members, "entries", arr);
    json_object_set_new(o, "version", version_json(s, p));
    return (answer_t){200, o, REVALIDATE, NULL};
}

/* Every board a participant is on, with their rank there and on the same
 * board of the previous period (movement). */
static json_t *standing_json(session_t *s, program_t *p, const char *who, unsigned *st,
                             char *errstr, size_t errstr_size) {
    static _Thread_local carrot_board_entry_t e[MAX_STANDING];
    int n = 0;
    carrot_board_err_t rc = carrot_board_standing(s->board, p->id, who, MAX_STANDING, e, &n, errstr,
                                                  errstr_size);
    if (rc) {
        *st = rc == CARROT_BOARD_RETRY ? 503 : 500;
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_pack("{sssIsIsI}", "board", e[i].board, "rank", (json_int_t)e[i].rank,
                              "points", (json_int_t)e[i].points, "members", (json_int_t)e[i].size);
        char prev[DISPLAY_ID_MAX + 64];
        previous_board(e[i].board, prev, sizeof(prev));
        carrot_board_entry_t pe;
        int pn = 0;
        if (prev[0] &&
            carrot_board_around(s->board, p->id, prev, who, 0, &pe, &pn, errstr, errstr_size) ==
                0 &&
            pn == 1) {
            json_object_set_new(o, "previous_rank", json_integer(pe.rank));
            json_object_set_new(o, "change", json_integer((json_int_t)(e[i].points - pe.points)));
        } else {
            json_object_set_new(o, "previous_rank", json_null());
            json_object_set_new(o, "change",
                                prev[0] ? json_integer((json_int_t)e[i].points) : json_null());
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

static answer_t standing(session_t *s, program_t *p, const char *who, int own) {
    char errstr[512];
    unsigned st = 500;
    if (!params_id_ok(who)) return api_error(400, "participant: expected 1 to 256 bytes of text");
    carrot_participant_t me;
    const char *ids[] = {who};
    if (names(s, p->id, ids, 1, &me, errstr, sizeof(errstr)) != 0)
        return api_error(503, "the participants directory cannot be read right now");
    if (!own && me.found && me.hide_from_screen) return api_error(404, "participant not shown");
    json_t *arr = standing_json(s, p, who, &st, errstr, sizeof(errstr));
    if (!arr) return board_failed(st == 503 ? CARROT_BOARD_RETRY : CARROT_BOARD_FATAL, errstr);
    if (json_array_size(arr) == 0 && !me.found) {
        json_decref(arr);
        return api_error(404, "no such participant");
    }
    json_t *o = json_pack("{ssssssso}", "program", p->id, "participant", who, "name",
                          me.found ? (own ? (me.display_name[0] ? me.display_name : who)
                                          : carrot_participant_screen_name(&me))
                                   : who,
                          "boards", arr);
    return (answer_t){200, o, own ? "private, no-store" : REVALIDATE, NULL};
}

static answer_t boards(session_t *s, program_t *p);

static json_t *rules_json(program_t *p) {
    pthread_mutex_lock(&p->lock);
    char *text = p->rules ? carrot_rules_explain(p->rules, carrot_time_now_ms()) : NULL;
    pthread_mutex_unlock(&p->lock);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return o;
}

static answer_t rules(program_t *p) {
    json_t *o = rules_json(p);
    if (!o) return api_error(503, "the program's rules have not arrived yet");
    return (answer_t){200, o, REVALIDATE, NULL};
}

/* The participant's own page: standing, balance, recent awards, what earns. */
static answer_t me(session_t *s, const grant_t *g) {
    program_t *p = display_program(s->d, g->program);
    if (!p) return api_error(404, "unknown program");
    answer_t a = standing(s, p, g->participant, 1);
    if (a.status != 200 && a.status != 404) return a;
    if (a.status == 404) { /* on no board yet: still their page */
        json_decref(a.body);
        a = (answer_t){200,
                       json_pack("{sssssss[]}", "program", p->id, "participant", g->participant,
                                 "name", g->participant, "boards"),
                       "private, no-store", NULL};
    }
    char errstr[512];
    PGconn *pg = session_pg(s, errstr, sizeof(errstr));
    if (!pg) {
        json_decref(a.body);
        carrot_warn("%s", errstr);
        return api_error(503, "the ledger cannot be read right now");
    }
    const char *params[] = {p->id, g->participant};
    PGresult *r = PQexecParams(pg,
                               "SELECT earned, available, pending, redeemed, expired FROM balances "
                               "WHERE program_id = $1 AND participant_id = $2",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_pg_error(pg, "reading the balance", errstr, sizeof(errstr));
        carrot_warn("%s", errstr);
        PQclear(r);
        json_decref(a.body);
        return api_error(503, "the ledger cannot be read right now");
    }
    static const char *const cols[] = {"earned", "available", "pending", "redeemed", "expired"};
    json_t *bal = json_object();
    for (int i = 0; i < 5; i++)
        json_object_set_new(
            bal, cols[i], json_integer(PQntuples(r) ? strtoll(PQgetvalue(r, 0, i), NULL, 10) : 0));
    PQclear(r);
    json_object_set_new(a.body, "balance", bal);
    r = PQexecParams(pg,
                     "SELECT rule_id, points, activity_type, rules_version, "
                     "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                     "FROM awards WHERE program_id = $1 AND participant_id = $2 "
                     "ORDER BY occurred_at DESC, award_id DESC LIMIT 20",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_pg_error(pg, "reading the awards", errstr, sizeof(errstr));
        carrot_warn("%s", errstr);
        PQclear(r);
        json_decref(a.body);
        return api_error(503, "the ledger cannot be read right now");
    }
    json_t *aw = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(aw,
                              json_pack("{sssIssssss}", "rule", PQgetvalue(r, i, 0), "points",
                                        (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10),
                                        "activity_type", PQgetvalue(r, i, 2), "rules_version",
                                        PQgetvalue(r, i, 3), "occurred_at", PQgetvalue(r, i, 4)));
    PQclear(r);
    json_object_set_new(a.body, "awards", aw);
    json_t *ru = rules_json(p);
    json_object_set_new(a.body, "earns", ru ? ru : json_null());
    a.cache = "private, no-store";
    return a;
}

/* GET /v1/programs/{P}/adoption: the report of period, periods, segment,
 * band, team and at (params_adoption), from the facts in PostgreSQL. */
static answer_t adoption(session_t *s, program_t *p,
                         const char *(*get)(void *opaque, const char *name), void *opaque) {
    adoption_query_t aq;
    char errstr[512];
    if (params_adoption(get, opaque, &aq, errstr, sizeof(errstr)) != 0)
        return api_error(400, errstr);
    PGconn *pg = session_pg(s, errstr, sizeof(errstr));
    if (!pg) {
        carrot_warn("%s", errstr);
        return api_error(503, "the adoption facts cannot be read right now");
    }
    carrot_report_query_t q = {.program = p->id,
                               .period = aq.period,
                               .segment = aq.segment[0] ? aq.segment : NULL,
                               .band = aq.band[0] ? aq.band : NULL,
                               .team = aq.team[0] ? aq.team : NULL,
                               .at = aq.at[0] ? aq.at : NULL,
                               .periods = aq.periods};
    char *text = NULL;
    errstr[0] = '\0';
    carrot_ledger_err_t rc = carrot_report_adoption(pg, &q, CARROT_REPORT_JSON, &text, errstr,
                                                    sizeof(errstr));
    if (rc == CARROT_LEDGER_OK && text)
        return (answer_t){.status = 200, .cache = PRIVATE, .text = text};
    free(text);
    switch (rc) {
    case CARROT_LEDGER_REFUSED: /* the request's fault: its reason names what */
        return api_error(strncmp(errstr, "unknown program", 15) == 0 ? 404 : 400, errstr);
    case CARROT_LEDGER_RETRY:
        carrot_warn("the adoption report of %s: %s", p->id, errstr);
        return api_error(503, "the adoption facts cannot be read right now");
    default:
        carrot_error("the adoption report of %s: %s", p->id, errstr);
        return api_error(500, "the adoption report failed");
    }
}

/* path below "/v1/": "programs/<P>/<what>[/...]" or "me". */
answer_t api_get(session_t *s, const grant_t *g, const char *path,
                 const char *(*get)(void *opaque, const char *name), void *opaque) {
    if (strcmp(path, "me") == 0 || strcmp(path, "me/team") == 0) {
        if (g->kind != TOKEN_PARTICIPANT) return api_error(403, "a participant's token is needed");
        return path[2] ? team_get(s, g) : me(s, g);
    }
    if (strncmp(path, "programs/", 9) != 0) return api_error(404, "no such endpoint");
    const char *pid = path + 9, *slash = strchr(pid, '/');
    if (!slash || slash == pid || slash - pid > DISPLAY_ID_MAX)
        return api_error(404, "no such endpoint");
    char id[DISPLAY_ID_MAX + 1];
    snprintf(id, sizeof(id), "%.*s", (int)(slash - pid), pid);
    program_t *p = display_program(s->d, id);
    if (!p) return api_error(404, "unknown program");
    if (strcmp(g->program, id) != 0) return api_error(403, "the token is for another program");
    const char *what = slash + 1;
    if (strcmp(what, "rules") == 0) return rules(p);
    if (strcmp(what, "adoption") == 0)
        return g->kind == TOKEN_MANAGER ? adoption(s, p, get, opaque)
                                        : api_error(403, "a manager's token is needed");
    if (g->kind != TOKEN_DISPLAY && g->kind != TOKEN_MANAGER)
        return api_error(403, "a display or manager token is needed");
    if (strcmp(what, "boards") == 0) return boards(s, p);
    if (strcmp(what, "board") == 0 || strcmp(what, "board/around") == 0) {
        char tz[128], errstr[256];
        program_tz(s, p, tz, sizeof(tz));
        query_t q;
        if (params_parse(get, opaque, tz, carrot_time_now_ms(), MAX_LIMIT, &q, errstr,
                         sizeof(errstr)) != 0)
            return api_error(400, errstr);
        return board(s, p, &q, what[5] == '/');
    }
    if (strncmp(what, "participants/", 13) == 0) {
        const char *who = what + 13, *rest = strrchr(who, '/');
        if (!rest || strcmp(rest, "/standing") != 0) return api_error(404, "no such endpoint");
        char w[DISPLAY_ID_MAX + 1];
        if (rest - who > DISPLAY_ID_MAX || rest == who)
            return api_error(400, "participant: bad id");
        snprintf(w, sizeof(w), "%.*s", (int)(rest - who), who);
        return standing(s, p, w, 0);
    }
    return api_error(404, "no such endpoint");
}

static int add_board(void *opaque, const char *name, long members) {
    json_array_append_new(opaque,
                          json_pack("{sssI}", "board", name, "members", (json_int_t)members));
    return 0;
}

static answer_t boards(session_t *s, program_t *p) {
    char errstr[512];
    json_t *arr = json_array();
    carrot_board_err_t rc = carrot_board_list(s->board, p->id, 1000, add_board, arr, errstr,
                                              sizeof(errstr));
    if (rc) {
        json_decref(arr);
        return board_failed(rc, errstr);
    }
    return (answer_t){200, json_pack("{ssso}", "program", p->id, "boards", arr), REVALIDATE, NULL};
}
