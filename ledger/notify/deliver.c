/* deliver.c: the outbox's due messages, sent. Each is claimed first
 * (state sending, attempts + 1, due again after a lease, committed), then
 * sent, then marked with the answer: a crash between the send and the mark
 * sends it again after the lease with the same idempotency key; a member of
 * the group that finds another's claim expired does the same. */
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Channels that take an idempotency key; for the others a second send
 * after a crash may show twice. */
static int keyed(carrot_channel_kind_t k) {
    return k == CARROT_CHANNEL_WEBHOOK || k == CARROT_CHANNEL_DISPLAY;
}

static int channel_of(const carrot_notify_config_t *cfg, const char *name) {
    for (int i = 0; i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0) return i;
    return -1;
}

/* Refills channel ci's bucket (per_minute, continuously); 1 when it holds a token. */
static int has_token(carrot_notifier_t *n, int ci) {
    long pm = n->cfg->channels[ci].per_minute;
    if (pm <= 0) return 1;
    int64_t now = carrot_time_mono_ms();
    n->tokens[ci] += (double)(now - n->refilled_ms[ci]) * (double)pm / 60000.0;
    if (n->tokens[ci] > (double)pm) n->tokens[ci] = (double)pm;
    n->refilled_ms[ci] = now;
    return n->tokens[ci] >= 1.0;
}

/* Takes a token of channel ci's bucket; 0 when it is empty. */
static int take_token(carrot_notifier_t *n, int ci) {
    if (!has_token(n, ci)) return 0;
    if (n->cfg->channels[ci].per_minute > 0) n->tokens[ci] -= 1.0;
    return 1;
}

/* The channels that cannot send now (held, or out of tokens) as a text[]
 * literal, so the claim passes over their messages instead of taking the
 * same due ones round after round while other channels' wait behind them. */
static void blocked_channels(carrot_notifier_t *n, char *out, size_t size) {
    size_t l = (size_t)snprintf(out, size, "{");
    int any = 0;
    for (int ci = 0; ci < n->cfg->nchannels; ci++) {
        if (carrot_time_mono_ms() >= n->held_until_ms[ci] && has_token(n, ci)) continue;
        if (l + 2 * strlen(n->cfg->channels[ci].name) + 4 >= size) break;
        if (any++) out[l++] = ',';
        out[l++] = '"';
        for (const char *p = n->cfg->channels[ci].name; *p; p++) {
            if (*p == '"' || *p == '\\') out[l++] = '\\';
            out[l++] = *p;
        }
        out[l++] = '"';
    }
    out[l++] = '}';
    out[l] = '\0';
}

typedef struct {
    long long id;
    int ci;
    char *key, *address, *body, *channel, *program;
    char made_for[16]; /* the channel's form its body was made for; "": not known */
    int older;         /* queued before this member took its configuration */
    int attempts;
    int again; /* it was being sent when its sender stopped */
} claim_t;

static void claims_free(claim_t *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].key);
        free(c[i].address);
        free(c[i].body);
        free(c[i].channel);
        free(c[i].program);
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
    char lim[16], blocked[NOTIFY_MAX_CHANNELS * 260 + 4];
    snprintf(lim, sizeof(lim), "%d", max < 64 ? max : 64); /* (the lease's id list holds 64) */
    blocked_channels(n, blocked, sizeof(blocked));
    char since[24];
    snprintf(since, sizeof(since), "%lld", (long long)n->cfg_since_ms);
    const char *p[] = {lim, n->name, blocked, since};
    PGresult *r = PQexecParams(
        pg,
        "SELECT message_id, idempotency_key, channel, address, body, state, attempts, "
        "program_id, made_for, created_at < to_timestamp($4::bigint / 1000.0) FROM "
        "notify_outbox WHERE notifier = $2 AND state IN ('pending', 'sending') AND next_at <= "
        "now() AND channel <> ALL($3::text[]) ORDER BY next_at, message_id LIMIT $1 FOR UPDATE "
        "SKIP LOCKED",
        4, NULL, p, NULL, NULL, 0);
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
        /* a channel the configuration lost: claimed, to be given up on (deliver) */
        if (ci >= 0 && carrot_time_mono_ms() < n->held_until_ms[ci]) {
            st->held++;
            continue; /* its channel is failing: tried again when the hold ends */
        }
        if (ci >= 0 && !take_token(n, ci)) {
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
        c[nc].program = strdup(PQgetvalue(r, i, 7));
        snprintf(c[nc].made_for, sizeof(c[nc].made_for), "%s", PQgetvalue(r, i, 8));
        c[nc].older = strcmp(PQgetvalue(r, i, 9), "t") == 0;
        nc++;
        if (!c[nc - 1].key || !c[nc - 1].address || !c[nc - 1].body || !c[nc - 1].channel ||
            !c[nc - 1].program) {
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

/* The day's messages of a digest channel for one address, as one e-mail: its
 * key a digest of theirs, so a retry of the same group is the same e-mail. */
static char *digest_body(const notify_channel_t *ch, claim_t *c, const int *g, int ng,
                         char key[48]) {
    size_t len = 64;
    for (int k = 0; k < ng; k++) len += strlen(c[g[k]].body) + 4;
    char *text = malloc(len), subject[64];
    if (!text) return NULL;
    size_t at = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (int k = 0; k < ng; k++) {
        at += (size_t)snprintf(text + at, len - at, "%s- %s", k ? "\n" : "", c[g[k]].body);
        ok = ok && EVP_DigestUpdate(md, c[g[k]].key, strlen(c[g[k]].key) + 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, d, &dl) && dl >= 20;
    EVP_MD_CTX_free(md);
    if (!ok) {
        free(text);
        return NULL;
    }
    memcpy(key, "d1-", 3);
    for (int i = 0; i < 20; i++) snprintf(key + 3 + 2 * i, 3, "%02x", d[i]);
    snprintf(subject, sizeof(subject), "Carrot: %d update%s", ng, ng == 1 ? "" : "s");
    notify_message_t m = {.idempotency_key = key,
                          .trigger = "digest",
                          .address = c[g[0]].address,
                          .subject = subject,
                          .text = text,
                          .from = ch->from};
    char *body = notify_body(CARROT_CHANNEL_EMAIL, &m);
    free(text);
    return body;
}

/* Marks one message with the outcome of its send, and logs the attempt. */
static carrot_ledger_err_t mark(PGconn *pg, long long id, const send_result_t *res,
                                const char *outcome, int64_t delay, int bump, char *errstr,
                                size_t errstr_size) {
    char mid[24], status[16], dl[24];
    snprintf(mid, sizeof(mid), "%lld", id);
    snprintf(status, sizeof(status), "%d", res->status);
    snprintf(dl, sizeof(dl), "%lld", (long long)delay);
    const char *p[] = {
        mid, res->status ? status : NULL, res->answer, outcome, dl, bump ? "1" : "0"};
    /* the mark and its line in the log, in one statement */
    return carrot_pg_command(
        pg,
        "WITH m AS (UPDATE notify_outbox SET state = CASE $4 WHEN 'sent' THEN 'sent' WHEN "
        "'dead' THEN 'dead' ELSE 'pending' END, last_status = $2::integer, last_answer = $3, "
        "sent_at = CASE $4 WHEN 'sent' THEN now() END, next_at = CASE $4 WHEN 'retry' THEN "
        "now() + $5::bigint * interval '1 millisecond' ELSE next_at END, attempts = attempts + "
        "$6::int WHERE message_id = $1::bigint AND state IN ('pending', 'sending') RETURNING "
        "message_id) "
        "INSERT INTO notify_attempts (message_id, attempt, status, answer, outcome) SELECT "
        "message_id, (SELECT coalesce(max(attempt), 0) + 1 FROM notify_attempts WHERE "
        "message_id = $1::bigint), $2::integer, $3, $4 FROM m",
        6, p, errstr, errstr_size);
}

/* The outcome of a send, kept to be marked with the claim's others. */
typedef struct {
    long long id;
    int ci;
    send_result_t res;
    int64_t delay;
} deferred_t;

static void account(const send_result_t *res, carrot_deliver_stats_t *st) {
    if (res->outcome == SEND_OK) st->sent++;
    else if (res->outcome == SEND_RETRY)
        st->retried++;
    else
        st->dead++;
}

static const char *outcome_name(const send_result_t *res) {
    return res->outcome == SEND_OK ? "sent" : res->outcome == SEND_RETRY ? "retry" : "dead";
}

/* A channel's hold after its send: none after an answer; after no answer,
 * 429 or 5xx, base_ms doubling with each such failure in a row. */
static void hold_channel(carrot_notifier_t *n, int ci, const send_result_t *res) {
    const carrot_notify_config_t *cfg = n->cfg;
    int down = res->outcome == SEND_RETRY &&
               (res->status == 0 || res->status == 429 || res->status >= 500);
    if (!down) {
        n->fails[ci] = 0;
        n->held_until_ms[ci] = 0;
        return;
    }
    int64_t hold = cfg->base_ms;
    for (int k = 0; k < n->fails[ci] && hold < cfg->max_ms; k++) hold *= 2;
    if (hold > cfg->max_ms) hold = cfg->max_ms;
    if (res->retry_after_ms > hold) hold = res->retry_after_ms;
    n->fails[ci]++;
    n->held_until_ms[ci] = carrot_time_mono_ms() + hold;
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
    int *g = calloc((size_t)nc + 1, sizeof(*g)), *done = calloc((size_t)nc + 1, sizeof(*done));
    if (!g || !done) {
        free(g);
        free(done);
        claims_free(c, nc);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    deferred_t *later = calloc((size_t)nc + 1, sizeof(*later));
    int nlater = 0;
    if (!later) {
        free(g);
        free(done);
        claims_free(c, nc);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    for (int i = 0; !rc && i < nc; i++) {
        if (done[i]) continue;
        /* nothing can send it (a configuration without its channel, or one whose channel of
         * that name is now of another form than its body): dead, and dead-lettered like any
         * other */
        const char *form = c[i].ci >= 0 ? notify_channel_form(&cfg->channels[c[i].ci]) : "";
        int unfit = c[i].ci < 0 || (c[i].made_for[0] && strcmp(c[i].made_for, form) != 0);
        if (unfit && !c[i].older) {
            /* made under a version this member has not taken yet (another member took it
             * first): not this member's to give up on; due again in a moment */
            char mid[24];
            snprintf(mid, sizeof(mid), "%lld", c[i].id);
            const char *q[] = {mid};
            rc = carrot_pg_command(pg,
                                   "UPDATE notify_outbox SET next_at = now() + interval '2 "
                                   "seconds' WHERE message_id = $1::bigint",
                                   1, q, errstr, errstr_size);
            done[i] = 1;
            continue;
        }
        if (unfit) {
            send_result_t res = {.outcome = SEND_DEAD};
            if (c[i].ci < 0)
                snprintf(res.answer, sizeof(res.answer), "no channel %s in the configuration",
                         c[i].channel);
            else
                snprintf(res.answer, sizeof(res.answer),
                         "channel %s is %s now; the message was made for %s", c[i].channel, form,
                         c[i].made_for);
            done[i] = 1;
            rc = mark(pg, c[i].id, &res, "dead", 0, 1, errstr, errstr_size);
            if (rc) break;
            account(&res, st);
            if (dead_cb) {
                carrot_notify_dead_t d = {c[i].id,   c[i].key,   c[i].channel,
                                          c[i].body, res.answer, 0};
                dead_cb(&d, opaque);
            }
            continue;
        }
        const notify_channel_t *ch = &cfg->channels[c[i].ci];
        if (carrot_time_mono_ms() < n->held_until_ms[c[i].ci]) {
            /* its channel failed on an earlier message of this claim: due when the hold ends */
            char mid[24], ms[24];
            snprintf(mid, sizeof(mid), "%lld", c[i].id);
            snprintf(ms, sizeof(ms), "%lld",
                     (long long)(n->held_until_ms[c[i].ci] - carrot_time_mono_ms()));
            const char *q[] = {mid, ms};
            rc = carrot_pg_command(pg,
                                   "UPDATE notify_outbox SET next_at = now() + $2::bigint * "
                                   "interval '1 millisecond' WHERE message_id = $1::bigint",
                                   2, q, errstr, errstr_size);
            done[i] = 1;
            st->held++;
            continue;
        }
        /* one send: the message, or a digest channel's claimed messages for one address */
        int ng = 0, attempts = 0, doubt = 0;
        for (int j = i; j < nc; j++)
            if (j == i || (ch->digest_at >= 0 && !done[j] && c[j].ci == c[i].ci &&
                           strcmp(c[j].address, c[i].address) == 0 &&
                           (!c[j].made_for[0] || strcmp(c[j].made_for, form) == 0))) {
                g[ng++] = j;
                done[j] = 1;
                if (c[j].attempts > attempts) attempts = c[j].attempts;
                doubt |= c[j].again && !keyed(ch->kind);
            }
        /* A channel that takes a key is sent to straight away, its outcome marked with
         * the claim's others in one transaction: a crash resends the claim's messages with
         * their keys, which the receiver drops. Any other is marked sending, committed,
         * before the send: a crash leaves only that one in doubt. */
        int defer = keyed(ch->kind) && ch->digest_at < 0;
        if (!defer) {
            char ids[24 * 64 + 4] = "{", lease[24];
            for (int k = 0; k < ng; k++) {
                size_t l = strlen(ids);
                snprintf(ids + l, sizeof(ids) - l, "%s%lld", k ? "," : "", c[g[k]].id);
            }
            strcat(ids, "}");
            snprintf(lease, sizeof(lease), "%lld", (long long)(cfg->timeout_ms + 5000));
            const char *q[] = {ids, lease, doubt ? "t" : "f"};
            rc = carrot_pg_command(pg,
                                   "UPDATE notify_outbox SET state = 'sending', attempts = "
                                   "attempts + 1, next_at = now() + $2::bigint * interval '1 "
                                   "millisecond', possibly_repeated = possibly_repeated OR "
                                   "$3::boolean WHERE message_id = ANY($1::bigint[])",
                                   3, q, errstr, errstr_size);
            if (rc) break;
            if (doubt) st->possibly_repeated += ng;
        }
        char dkey[48];
        char *dbody = ch->digest_at >= 0 ? digest_body(ch, c, g, ng, dkey) : NULL;
        send_result_t res;
        if (ch->digest_at >= 0 && !dbody) {
            memset(&res, 0, sizeof(res));
            res.outcome = SEND_RETRY;
            snprintf(res.answer, sizeof(res.answer), "out of memory making the digest");
        } else if (ch->kind == CARROT_CHANNEL_DISPLAY) {
            notify_post(n, c[i].program, c[i].key, c[i].body, &res);
        } else {
            notify_send(&n->curl[c[i].ci], ch, dbody ? dkey : c[i].key, c[i].address,
                        dbody ? dbody : c[i].body, cfg->timeout_ms, &res);
        }
        free(dbody);
        (*didp) += ng;
        hold_channel(n, c[i].ci, &res);
        if (res.outcome == SEND_RETRY && attempts >= cfg->attempts) {
            res.outcome = SEND_DEAD;
            size_t l = strlen(res.answer);
            snprintf(res.answer + l, sizeof(res.answer) - l, " (attempt %d of %d)", attempts,
                     cfg->attempts);
        }
        int64_t delay = cfg->base_ms;
        for (int a = 1; a < attempts && delay < cfg->max_ms; a++) delay *= 2;
        if (delay > cfg->max_ms) delay = cfg->max_ms;
        if (res.retry_after_ms > delay) delay = res.retry_after_ms;
        if (defer) {
            later[nlater].id = c[i].id;
            later[nlater].ci = i;
            later[nlater].res = res;
            later[nlater].delay = delay;
            nlater++;
            continue;
        }
        for (int k = 0; !rc && k < ng; k++) {
            /* sent but not marked: sent again after the lease, same key */
            rc = mark(pg, c[g[k]].id, &res, outcome_name(&res), delay, 0, errstr, errstr_size);
            if (rc) break;
            account(&res, st);
            if (res.outcome == SEND_DEAD && dead_cb) {
                carrot_notify_dead_t d = {c[g[k]].id,   c[g[k]].key, c[g[k]].channel,
                                          c[g[k]].body, res.answer,  res.status};
                dead_cb(&d, opaque);
            }
        }
    }
    /* the keyed sends' outcomes, together */
    if (!rc && nlater) rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size);
    for (int k = 0; !rc && k < nlater; k++)
        rc = mark(pg, later[k].id, &later[k].res, outcome_name(&later[k].res), later[k].delay, 1,
                  errstr, errstr_size);
    if (!rc && nlater) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    if (rc && nlater) carrot_pg_rollback(pg);
    for (int k = 0; !rc && k < nlater; k++) {
        account(&later[k].res, st);
        const claim_t *m = &c[later[k].ci];
        if (later[k].res.outcome == SEND_DEAD && dead_cb) {
            carrot_notify_dead_t d = {
                m->id, m->key, m->channel, m->body, later[k].res.answer, later[k].res.status};
            dead_cb(&d, opaque);
        }
    }
    free(later);
    free(g);
    free(done);
    claims_free(c, nc);
    return rc;
}
