/* followup.c: the supervisors' follow-up list: the misses of the people
 * under a supervisor, most consecutive misses first, with what was agreed
 * and what was done about each, and the follow-ups recorded against them. */
#include "carrot/commitments.h"
#include "carrot/period.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* people[0..n) as a text[] literal (malloc'd), each element quoted. */
static char *text_array(const char *const *people, size_t n) {
    size_t size = 3;
    for (size_t i = 0; i < n; i++) size += strlen(people[i]) * 2 + 3;
    char *a = malloc(size), *p = a;
    if (!a) return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const char *s = people[i]; *s; s++) {
            if (*s == '"' || *s == '\\') *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return a;
}

/* The (commitment, period) pairs meant, as two text[] literals: period for
 * every commitment of its kind, or each commitment's latest closed period
 * (by the index on period_end: one probe each, however long the history). */
static carrot_ledger_err_t periods(PGconn *pg, const carrot_rules_t *rules, const char *period,
                                   char **cs, char **ps, char *errstr, size_t errstr_size) {
    const char *program = carrot_rules_program(rules);
    int n = carrot_rules_ncommitments(rules);
    const char **cids = calloc((size_t)n + 1, sizeof(*cids));
    char **pids = calloc((size_t)n + 1, sizeof(*pids));
    carrot_ledger_err_t rc = cids && pids ? CARROT_LEDGER_OK : CARROT_LEDGER_FATAL;
    size_t k = 0;
    for (int i = 0; !rc && i < n; i++) {
        const carrot_commitment_t *c = carrot_rules_commitment(rules, i);
        char *pid = NULL;
        if (period) {
            if (period[0] != carrot_period_name(c->period)[0]) continue; /* another kind */
            pid = strdup(period);
        } else {
            const char *p[] = {program, c->id};
            rc = carrot_pg_value(pg,
                                 "SELECT period_id FROM commitment_settlements WHERE program_id = "
                                 "$1 AND commitment_id = $2 ORDER BY period_end DESC LIMIT 1",
                                 2, p, &pid, errstr, errstr_size);
            if (rc || !pid) continue; /* never closed */
        }
        cids[k] = c->id;
        pids[k++] = pid;
    }
    if (!rc) {
        *cs = text_array(cids, k);
        *ps = text_array((const char *const *)pids, k);
        if (!*cs || !*ps) rc = CARROT_LEDGER_FATAL;
    }
    if (rc == CARROT_LEDGER_FATAL && !*errstr) snprintf(errstr, errstr_size, "out of memory");
    for (size_t i = 0; pids && i < k; i++) free(pids[i]);
    free(cids);
    free(pids);
    return rc;
}

/* The misses meant: of these people, in these (commitment, period) pairs.
 * The people and pairs are joined as arrays, so each is a probe of the
 * primary key whatever the planner knows of the table. */
#define MISSES                                                                                   \
    "WITH ids(participant_id) AS (SELECT unnest($4::text[])), "                                  \
    "want(commitment_id, period_id) AS (SELECT * FROM unnest($2::text[], $3::text[])), "         \
    "s AS (SELECT s.* FROM want JOIN ids ON true JOIN commitment_settlements s ON "              \
    "(s.program_id, s.commitment_id, s.period_id, s.participant_id) = ($1, want.commitment_id, " \
    "want.period_id, ids.participant_id) WHERE NOT s.met) "

/* Runs sql (MISSES ...) for people in the pairs meant; *rp the result. */
static carrot_ledger_err_t misses(PGconn *pg, const carrot_rules_t *rules, const char *period,
                                  const char *const *people, size_t n, const char *sql,
                                  const char *what, PGresult **rp, char *errstr,
                                  size_t errstr_size) {
    char *cs = NULL, *ps = NULL, *arr = NULL;
    if (errstr_size) errstr[0] = '\0';
    carrot_ledger_err_t rc = periods(pg, rules, period, &cs, &ps, errstr, errstr_size);
    if (!rc && !(arr = text_array(people, n))) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = CARROT_LEDGER_FATAL;
    }
    if (!rc) {
        const char *p[] = {carrot_rules_program(rules), cs, ps, arr};
        *rp = PQexecParams(pg, sql, 4, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(*rp) != PGRES_TUPLES_OK) {
            rc = carrot_pg_failure(pg, *rp, what, errstr, errstr_size);
            PQclear(*rp);
            *rp = NULL;
        }
    }
    free(cs);
    free(ps);
    free(arr);
    return rc;
}

carrot_ledger_err_t carrot_commit_followups(PGconn *pg, const carrot_rules_t *rules,
                                            const char *period, const char *const *people, size_t n,
                                            carrot_followup_cb cb, void *opaque, char *errstr,
                                            size_t errstr_size) {
    PGresult *r = NULL;
    carrot_ledger_err_t rc = misses(
        pg, rules, period, people, n,
        MISSES
        "SELECT s.participant_id, s.supervisor_id, s.commitment_id, s.period_id, s.figure, "
        "s.judged, s.target, s.misses, s.set_by, "
        "coalesce(extract(epoch FROM s.acknowledged_at) * 1000, 0), count(f.followup_id), "
        "coalesce((array_agg(f.kind ORDER BY f.followup_id DESC))[1], ''), "
        "coalesce((array_agg(f.note ORDER BY f.followup_id DESC))[1], ''), "
        "coalesce((array_agg(f.held_on::text ORDER BY f.followup_id DESC))[1], '') "
        "FROM s LEFT JOIN commitment_followups f ON (f.program_id, f.commitment_id, f.period_id, "
        "f.participant_id) = (s.program_id, s.commitment_id, s.period_id, s.participant_id) "
        "GROUP BY s.participant_id, s.supervisor_id, s.commitment_id, s.period_id, s.figure, "
        "s.judged, s.target, s.misses, s.set_by, s.acknowledged_at "
        "ORDER BY s.misses DESC, s.participant_id COLLATE \"C\", s.commitment_id COLLATE \"C\"",
        "reading the follow-up list", &r, errstr, errstr_size);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        carrot_followup_row_t row = {
            .participant = PQgetvalue(r, i, 0),
            .supervisor = PQgetvalue(r, i, 1),
            .commitment = PQgetvalue(r, i, 2),
            .period = PQgetvalue(r, i, 3),
            .figure = strtoll(PQgetvalue(r, i, 4), NULL, 10),
            .judged = strtoll(PQgetvalue(r, i, 5), NULL, 10),
            .target = strtoll(PQgetvalue(r, i, 6), NULL, 10),
            .misses = atoi(PQgetvalue(r, i, 7)),
            .set_by = PQgetvalue(r, i, 8),
            .acknowledged_at_ms = (int64_t)strtod(PQgetvalue(r, i, 9), NULL),
            .followups = atol(PQgetvalue(r, i, 10)),
            .last_kind = PQgetvalue(r, i, 11),
            .last_note = PQgetvalue(r, i, 12),
            .last_on = PQgetvalue(r, i, 13)};
        if (cb(opaque, &row)) break;
    }
    PQclear(r);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_commit_followup_rates(PGconn *pg, const carrot_rules_t *rules,
                                                 const char *period, const char *const *people,
                                                 size_t n, carrot_followup_rate_cb cb, void *opaque,
                                                 char *errstr, size_t errstr_size) {
    PGresult *r = NULL;
    carrot_ledger_err_t rc = misses(
        pg, rules, period, people, n,
        MISSES
        "SELECT s.supervisor_id, count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "
        "commitment_followups f WHERE (f.program_id, f.commitment_id, f.period_id, "
        "f.participant_id) = (s.program_id, s.commitment_id, s.period_id, s.participant_id))) "
        "FROM s GROUP BY s.supervisor_id ORDER BY s.supervisor_id COLLATE \"C\"",
        "reading follow-up rates", &r, errstr, errstr_size);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        carrot_followup_rate_t rate = {.supervisor = PQgetvalue(r, i, 0),
                                       .misses = atol(PQgetvalue(r, i, 1)),
                                       .followed_up = atol(PQgetvalue(r, i, 2))};
        if (cb(opaque, &rate)) break;
    }
    PQclear(r);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_commit_followup_add(PGconn *pg, const char *program,
                                               const char *commitment, const char *period,
                                               const char *participant, const char *by,
                                               const char *kind, const char *note,
                                               const char *held_on, char *errstr,
                                               size_t errstr_size) {
    if (strcmp(kind, "reminder") && strcmp(kind, "discussion") && strcmp(kind, "note")) {
        snprintf(errstr, errstr_size,
                 "a follow-up is a reminder, a discussion or a note, not \"%s\"", kind);
        return CARROT_LEDGER_REFUSED;
    }
    const char *k[] = {program, commitment, period, participant};
    char *met = NULL;
    carrot_ledger_err_t rc = carrot_pg_value(pg,
                                             "SELECT met::text FROM commitment_settlements WHERE "
                                             "program_id = $1 AND commitment_id = $2 AND "
                                             "period_id = $3 AND participant_id = $4",
                                             4, k, &met, errstr, errstr_size);
    if (rc) return rc;
    if (!met) {
        snprintf(errstr, errstr_size,
                 "%s has no settlement of %s for %s: nothing to follow up (is the period closed?)",
                 participant, commitment, period);
        return CARROT_LEDGER_REFUSED;
    }
    int was_met = strcmp(met, "true") == 0;
    free(met);
    if (was_met) {
        snprintf(errstr, errstr_size, "%s met %s in %s: there is no miss to follow up", participant,
                 commitment, period);
        return CARROT_LEDGER_REFUSED;
    }
    const char *p[] = {program, commitment, period,           participant,
                       by,      kind,       note ? note : "", held_on};
    rc = carrot_pg_command(pg,
                           "INSERT INTO commitment_followups (program_id, commitment_id, "
                           "period_id, participant_id, by_id, kind, note, held_on) VALUES ($1, "
                           "$2, $3, $4, $5, $6, $7, coalesce($8::date, current_date))",
                           8, p, errstr, errstr_size);
    if (rc == CARROT_LEDGER_FATAL && strstr(errstr, "date")) rc = CARROT_LEDGER_REFUSED;
    return rc;
}
