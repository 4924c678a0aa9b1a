/* store.c: the terms of commitments in PostgreSQL: targets set by
 * supervisors and acknowledgments by participants, each an added row of
 * commitment_changes (the audit trail), and the terms in force read back
 * from the latest rows. */
#include "carrot/commitments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static carrot_ledger_err_t add_change(PGconn *pg, const char *program, const char *commitment,
                                      const char *participant, const char *kind, int64_t target,
                                      const char *by, const char *note, char *errstr,
                                      size_t errstr_size) {
    char t[24];
    snprintf(t, sizeof(t), "%lld", (long long)target);
    const char *p[] = {program, commitment, participant, kind, t, by, note ? note : ""};
    return carrot_pg_command(pg,
                             "INSERT INTO commitment_changes (program_id, commitment_id, "
                             "participant_id, kind, target, by_id, note) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             7, p, errstr, errstr_size);
}

carrot_ledger_err_t carrot_commit_set(PGconn *pg, const char *program, const char *commitment,
                                      const char *participant, int64_t target, const char *by,
                                      const char *note, char *errstr, size_t errstr_size) {
    if (target <= 0) {
        snprintf(errstr, errstr_size, "a target is a number above 0");
        return CARROT_LEDGER_REFUSED;
    }
    return add_change(pg, program, commitment, participant, "set", target, by, note, errstr,
                      errstr_size);
}

carrot_ledger_err_t carrot_commit_acknowledge(PGconn *pg, const char *program,
                                              const char *commitment, const char *participant,
                                              int64_t target, char *errstr, size_t errstr_size) {
    return add_change(pg, program, commitment, participant, "acknowledge", target, participant,
                      NULL, errstr, errstr_size);
}

static int64_t ms_of(const char *epoch) { /* extract(epoch ...) * 1000, as text */
    return epoch && *epoch ? (int64_t)strtod(epoch, NULL) : 0;
}

carrot_ledger_err_t carrot_commit_terms(PGconn *pg, const char *program, const char *commitment,
                                        const char *participant, int64_t default_target,
                                        carrot_commit_terms_cb cb, void *opaque, char *errstr,
                                        size_t errstr_size) {
    /* per participant: the latest set and the latest acknowledgment; the
     * acknowledgment counts when it came after that set and agreed to its
     * target (an acknowledgment of the default, when nothing was set) */
    static const char sql[] =
        "WITH c AS (SELECT * FROM commitment_changes WHERE program_id = $1 AND commitment_id = $2 "
        "  AND ($3::text IS NULL OR participant_id = $3)), "
        "s AS (SELECT DISTINCT ON (participant_id) participant_id, change_id, target, by_id, at "
        "  FROM c WHERE kind = 'set' ORDER BY participant_id, change_id DESC), "
        "a AS (SELECT DISTINCT ON (participant_id) participant_id, change_id, target, at "
        "  FROM c WHERE kind = 'acknowledge' ORDER BY participant_id, change_id DESC) "
        "SELECT coalesce(s.participant_id, a.participant_id), coalesce(s.target, $4::bigint), "
        "  coalesce(s.by_id, ''), extract(epoch FROM s.at) * 1000, "
        "  CASE WHEN a.change_id > coalesce(s.change_id, 0) "
        "        AND a.target = coalesce(s.target, $4::bigint) "
        "       THEN extract(epoch FROM a.at) * 1000 END "
        "FROM s FULL JOIN a ON a.participant_id = s.participant_id ORDER BY 1";
    char dflt[24];
    snprintf(dflt, sizeof(dflt), "%lld", (long long)default_target);
    const char *p[] = {program, commitment, participant, dflt};
    PGresult *r = PQexecParams(pg, sql, 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "reading commitment terms", errstr,
                                                   errstr_size);
        PQclear(r);
        return rc;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        carrot_commit_terms_t t = {.target = strtoll(PQgetvalue(r, i, 1), NULL, 10),
                                   .set_at_ms = ms_of(PQgetvalue(r, i, 3)),
                                   .acknowledged_at_ms = ms_of(PQgetvalue(r, i, 4))};
        snprintf(t.set_by, sizeof(t.set_by), "%s", PQgetvalue(r, i, 2));
        if (cb(opaque, PQgetvalue(r, i, 0), &t)) break;
    }
    PQclear(r);
    return CARROT_LEDGER_OK;
}
