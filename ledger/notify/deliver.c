/* deliver.c: the outbox's due messages, sent. Each is claimed first
 * (state sending, attempts + 1, due again after a lease, committed), then
 * sent, then marked with the answer: a crash between the send and the mark
 * sends it again after the lease with the same idempotency key; a member of
 * the group that finds another's claim expired does the same. */
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Channels that take an idempotency key; for the others a second send
 * after a crash may show twice. */
static int keyed(carrot_channel_kind_t k) { return k == CARROT_CHANNEL_WEBHOOK; }

static int channel_of(const carrot_notify_config_t *cfg, const char *name) {
    for (int i = 0; i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0) return i;
    return -1;
}

/* A token of channel ci's bucket (per_minute, refilled continuously). */
static int take_token(carrot_notifier_t *n, int ci) {
    long pm = n->cfg->channels[ci].per_minute;
    if (pm <= 0) return 1;
    int64_t now = carrot_time_mono_ms();
    n->tokens[ci] += (double)(now - n->refilled_ms[ci]) * (double)pm / 60000.0;
    if (n->tokens[ci] > (double)pm) n->tokens[ci] = (double)pm;
    n->refilled_ms[ci] = now;
    if (n->tokens[ci] < 1.0) return 0;
    n->tokens[ci] -= 1.0;
    return 1;
}

typedef struct {
    long long id;
    int ci;
    char *key, *address, *body, *channel;
    int attempts;
    int again; /* it was being sent when its sender stopped */
} claim_t;

static void claims_free(claim_t *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].key);
        free(c[i].address);
        free(c[i].body);
        free(c[i].channel);
    }
    free(c);
}

static carrot_ledger_err_t claim(carrot_notifier_t *n, PGconn *pg, int max, claim_t **outp,
                                 int *noutp, carrot_deliver_stats_t *st, char *errstr,
                                 size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    *outp = NULL;
    *noutp = 0;
    carrot_ledger_err_t rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size);
    if (rc) return rc;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", max < 64 ? max : 64); /* (the lease's id list holds 64) */
    const char *p[] = {lim, n->name};
    PGresult *r = PQexecParams(pg,
                               "SELECT message_id, idempotency_key, channel, address, body, "
                               "state, attempts FROM notify_outbox WHERE notifier = $2 AND state "
                               "IN ('pending', 'sending') AND next_at <= now() ORDER BY next_at, "
                               "message_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, r, "reading the outbox", errstr, errstr_size);
        PQclear(r);
        carrot_pg_rollback(pg);
        return rc;
    }
    int rows = PQntuples(r), nc = 0;
    claim_t *c = calloc((size_t)rows + 1, sizeof(*c));
    if (!c) {
        PQclear(r);
        carrot_pg_rollback(pg);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    for (int i = 0; !rc && i < rows; i++) {
        const char *id = PQgetvalue(r, i, 0);
        int ci = channel_of(cfg, PQgetvalue(r, i, 2));
        if (ci < 0) { /* the configuration lost the channel: nothing can send it */
            const char *q[] = {id};
            rc = carrot_pg_command(
                pg,
                "WITH m AS (UPDATE notify_outbox SET state = 'dead', last_answer = 'no such "
                "channel in the configuration' WHERE message_id = $1 RETURNING message_id) "
                "INSERT INTO notify_attempts (message_id, attempt, answer, outcome) SELECT "
                "message_id, (SELECT coalesce(max(attempt), 0) + 1 FROM notify_attempts WHERE "
                "message_id = $1), 'no such channel in the configuration', 'dead' FROM m",
                1, q, errstr, errstr_size);
            st->dead++;
            continue;
        }
        if (!take_token(n, ci)) {
            st->rate_limited++;
            continue; /* stays due: the next round */
        }
        c[nc].again = strcmp(PQgetvalue(r, i, 5), "sending") == 0;
        c[nc].id = strtoll(id, NULL, 10);
        c[nc].ci = ci;
        c[nc].attempts = atoi(PQgetvalue(r, i, 6)) + 1;
        c[nc].key = strdup(PQgetvalue(r, i, 1));
        c[nc].address = strdup(PQgetvalue(r, i, 3));
        c[nc].body = strdup(PQgetvalue(r, i, 4));
        c[nc].channel = strdup(PQgetvalue(r, i, 2));
        nc++;
        if (!c[nc - 1].key || !c[nc - 1].address || !c[nc - 1].body || !c[nc - 1].channel) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = CARROT_LEDGER_FATAL;
        }
    }
    PQclear(r);
    if (!rc && nc) {
        /* held for as long as sending them all may take, so no other member takes them */
        char ids[24 * 64 + 4] = "{", lease[24];
        snprintf(lease, sizeof(lease), "%lld", (long long)(cfg->timeout_ms * nc + 5000));
        for (int i = 0; !rc && i < nc; i++) {
            size_t l = strlen(ids);
            snprintf(ids + l, sizeof(ids) - l, "%s%lld", i ? "," : "", c[i].id);
        }
        strcat(ids, "}");
        const char *q[] = {ids, lease, n->instance};
        rc = carrot_pg_command(pg,
                               "UPDATE notify_outbox SET next_at = now() + $2::bigint * interval "
                               "'1 millisecond', claimed_by = $3 WHERE message_id = "
                               "ANY($1::bigint[])",
                               3, q, errstr, errstr_size);
    }
    if (!rc) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    if (rc) {
        carrot_pg_rollback(pg);
        claims_free(c, nc);
        return rc;
    }
    *outp = c;
    *noutp = nc;
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_notifier_release(carrot_notifier_t *n, PGconn *pg, long *releasedp,
                                            char *errstr, size_t errstr_size) {
    /* the member that claimed them is this one, restarted: no one else sends them now */
    const char *p[] = {n->name, n->instance};
    PGresult *r = PQexecParams(pg,
                               "UPDATE notify_outbox SET next_at = now() WHERE notifier = $1 AND "
                               "claimed_by = $2 AND state IN ('pending', 'sending') AND next_at > "
                               "now()",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "releasing claims", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    *releasedp = atol(PQcmdTuples(r));
    PQclear(r);
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_notifier_deliver(carrot_notifier_t *n, PGconn *pg, int max,
                                            carrot_notify_dead_cb dead_cb, void *opaque,
                                            carrot_deliver_stats_t *st, int *didp, char *errstr,
                                            size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    claim_t *c;
    int nc;
    *didp = 0;
    carrot_ledger_err_t rc = claim(n, pg, max, &c, &nc, st, errstr, errstr_size);
    if (rc) return rc;
    for (int i = 0; i < nc; i++) {
        const notify_channel_t *ch = &cfg->channels[c[i].ci];
        /* sending, committed before the send: a crash leaves only this one in doubt */
        char mid[24], lease[24];
        snprintf(mid, sizeof(mid), "%lld", c[i].id);
        snprintf(lease, sizeof(lease), "%lld", (long long)(cfg->timeout_ms + 5000));
        int doubt = c[i].again && !keyed(ch->kind);
        const char *q[] = {mid, lease, doubt ? "t" : "f"};
        rc = carrot_pg_command(pg,
                               "UPDATE notify_outbox SET state = 'sending', attempts = attempts + "
                               "1, next_at = now() + $2::bigint * interval '1 millisecond', "
                               "possibly_repeated = possibly_repeated OR $3::boolean WHERE "
                               "message_id = $1::bigint",
                               3, q, errstr, errstr_size);
        if (rc) break;
        if (doubt) st->possibly_repeated++;
        send_result_t res;
        notify_send(&n->curl[c[i].ci], ch, c[i].key, c[i].address, c[i].body, cfg->timeout_ms,
                    &res);
        (*didp)++;
        if (res.outcome == SEND_RETRY && c[i].attempts >= cfg->attempts) {
            res.outcome = SEND_DEAD;
            size_t l = strlen(res.answer);
            snprintf(res.answer + l, sizeof(res.answer) - l, " (attempt %d of %d)", c[i].attempts,
                     cfg->attempts);
        }
        int64_t delay = cfg->base_ms;
        for (int a = 1; a < c[i].attempts && delay < cfg->max_ms; a++) delay *= 2;
        if (delay > cfg->max_ms) delay = cfg->max_ms;
        if (res.retry_after_ms > delay) delay = res.retry_after_ms;
        const char *outcome = res.outcome == SEND_OK      ? "sent"
                              : res.outcome == SEND_RETRY ? "retry"
                                                          : "dead";
        char id[24], status[16], dl[24];
        snprintf(id, sizeof(id), "%lld", c[i].id);
        snprintf(status, sizeof(status), "%d", res.status);
        snprintf(dl, sizeof(dl), "%lld", (long long)delay);
        const char *p[] = {id, res.status ? status : NULL, res.answer, outcome, dl};
        /* the mark and its line in the log, in one statement */
        carrot_ledger_err_t mrc = carrot_pg_command(
            pg,
            "WITH m AS (UPDATE notify_outbox SET state = CASE $4 WHEN 'sent' THEN 'sent' WHEN "
            "'dead' THEN 'dead' ELSE 'pending' END, last_status = $2::integer, last_answer = $3, "
            "sent_at = CASE $4 WHEN 'sent' THEN now() END, next_at = CASE $4 WHEN 'retry' THEN "
            "now() + $5::bigint * interval '1 millisecond' ELSE next_at END WHERE message_id = "
            "$1::bigint AND state = 'sending' RETURNING message_id) "
            "INSERT INTO notify_attempts (message_id, attempt, status, answer, outcome) SELECT "
            "message_id, (SELECT coalesce(max(attempt), 0) + 1 FROM notify_attempts WHERE "
            "message_id = $1::bigint), $2::integer, $3, $4 FROM m",
            5, p, errstr, errstr_size);
        if (mrc) { /* sent but not marked: sent again after the lease, same key */
            rc = mrc;
            break;
        }
        if (res.outcome == SEND_OK) st->sent++;
        else if (res.outcome == SEND_RETRY)
            st->retried++;
        else {
            st->dead++;
            if (dead_cb) {
                carrot_notify_dead_t d = {c[i].id,   c[i].key,   c[i].channel,
                                          c[i].body, res.answer, res.status};
                dead_cb(&d, opaque);
            }
        }
    }
    claims_free(c, nc);
    return rc;
}
