/* outbox.c: a trigger into the outbox. The trigger is stored once by its
 * id; only when it is new are its messages rendered and queued, so a
 * replayed batch or a second look at the ledger queues nothing again. Each
 * message is rendered here, once: a retry sends the same bytes. */
#include "carrot/period.h"
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The idempotency key: a digest of the trigger, channel and recipient, so
 * an id from a CRM (any UTF-8) never reaches a header as it is. */
static int key_of(const char *notifier, const char *event_id, const char *channel,
                  const char *recipient, char out[44]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    /* each with its NUL, so ("ab", "c") and ("a", "bc") differ */
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(c, notifier, strlen(notifier) + 1) &&
             EVP_DigestUpdate(c, event_id, strlen(event_id) + 1) &&
             EVP_DigestUpdate(c, channel, strlen(channel) + 1) &&
             EVP_DigestUpdate(c, recipient, strlen(recipient) + 1) &&
             EVP_DigestFinal_ex(c, d, &dl) && dl >= 20;
    EVP_MD_CTX_free(c);
    if (!ok) return -1;
    memcpy(out, "n1-", 3);
    for (int i = 0; i < 20; i++) snprintf(out + 3 + 2 * i, 3, "%02x", d[i]);
    return 0;
}

int64_t notify_next_time_of_day(const char *tz, int64_t now, int minutes) {
    char id[32];
    int64_t start, end;
    if (carrot_period_span(CARROT_PERIOD_DAY, now, tz, id, sizeof(id), &start, &end) != 0)
        return now;
    int64_t at = start + (int64_t)minutes * 60000;
    return at > now ? at : end + (int64_t)minutes * 60000;
}

/* The end of quiet hours when now falls in them (in tz), else now. */
static int64_t after_quiet(const carrot_notify_config_t *cfg, const char *tz, int64_t now) {
    int f = cfg->quiet_from, t = cfg->quiet_to;
    if (f == t) return now;
    char id[32];
    int64_t start, end;
    if (carrot_period_span(CARROT_PERIOD_DAY, now, tz, id, sizeof(id), &start, &end) != 0)
        return now;
    int m = (int)((now - start) / 60000);
    if (f < t) return m >= f && m < t ? start + (int64_t)t * 60000 : now;
    if (m >= f) return end + (int64_t)t * 60000; /* quiet over midnight: until tomorrow's end */
    if (m < t) return start + (int64_t)t * 60000;
    return now;
}

static carrot_ledger_err_t one_row(PGconn *pg, const char *sql, int np, const char *const *p,
                                   PGresult **rp, const char *what, char *errstr,
                                   size_t errstr_size) {
    PGresult *r = PQexecParams(pg, sql, np, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, what, errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    *rp = r;
    return CARROT_LEDGER_OK;
}

/* Name and hidden flag of a participant from the directory; the id when
 * the directory does not know them. */
static carrot_ledger_err_t who(carrot_notifier_t *n, const char *program, const char *id,
                               char *name, size_t size, int *hidden, char *errstr,
                               size_t errstr_size) {
    snprintf(name, size, "%s", id);
    *hidden = 0;
    if (!n->directory || !*id) return CARROT_LEDGER_OK;
    carrot_participant_t p;
    const char *ids[] = {id};
    carrot_directory_err_t rc = carrot_directory_get(n->directory, program, ids, 1, &p, errstr,
                                                     errstr_size);
    if (rc == CARROT_DIRECTORY_RETRY) return CARROT_LEDGER_RETRY;
    if (rc != CARROT_DIRECTORY_OK) return CARROT_LEDGER_FATAL;
    if (p.found) {
        snprintf(name, size, "%s", carrot_participant_screen_name(&p));
        *hidden = p.hide_from_screen;
    }
    return CARROT_LEDGER_OK;
}

typedef struct {
    const notify_event_t *ev;
    const char *fields_json;
    int ci;
    const char *recipient;
} target_t;

static carrot_ledger_err_t queue_one(carrot_notifier_t *n, PGconn *pg, const target_t *t,
                                     int hidden, carrot_notify_stats_t *st, char *errstr,
                                     size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    const notify_trigger_t *tr = &cfg->triggers[t->ev->trigger];
    const notify_channel_t *ch = &cfg->channels[t->ci];
    const char *trig = carrot_trigger_name(t->ev->trigger);
    char key[44];
    if (key_of(n->name, t->ev->event_id, ch->name, t->recipient, key) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    const char *skip = NULL;
    char why[300];
    PGresult *r = NULL;
    const char *op[] = {t->ev->program, t->recipient, trig, ch->name};
    carrot_ledger_err_t rc = one_row(
        pg,
        "SELECT (SELECT count(*) FROM notify_optouts WHERE program_id = $1 AND participant_id = $2 "
        "  AND trigger IN ($3, '*') AND channel IN ($4, '*')), c.email, c.time_zone "
        "FROM (SELECT 1) one LEFT JOIN notify_contacts c ON c.program_id = $1 AND "
        "c.participant_id = $2",
        4, op, &r, "reading opt-outs and contacts", errstr, errstr_size);
    if (rc) return rc;
    int opted = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    char email[300] = "", tz[200];
    snprintf(email, sizeof(email), "%s", PQgetvalue(r, 0, 1));
    snprintf(tz, sizeof(tz), "%s",
             PQgetisnull(r, 0, 2) || !carrot_tz_valid(PQgetvalue(r, 0, 2)) ? cfg->time_zone
                                                                           : PQgetvalue(r, 0, 2));
    PQclear(r);
    if (opted) skip = "opted out";
    else if (ch->kind == CARROT_CHANNEL_EMAIL && email[0] && !carrot_notify_email_ok(email))
        skip = "the contact's e-mail address is not one";
    else if (ch->kind == CARROT_CHANNEL_EMAIL && !email[0]) {
        snprintf(why, sizeof(why), "no e-mail address for %s (carrot-notify contact)",
                 t->recipient);
        skip = why;
    } else if (hidden && ch->kind == CARROT_CHANNEL_DISPLAY)
        skip = "hidden from screens";
    else if (hidden && (ch->kind == CARROT_CHANNEL_SLACK || ch->kind == CARROT_CHANNEL_TEAMS))
        skip = "hidden from screens: not announced in a team channel";
    char *text = NULL, *subject = NULL, *body = NULL;
    if (carrot_notify_render(tr->text, t->fields_json, &text) ||
        carrot_notify_render(tr->subject ? tr->subject : tr->text, t->fields_json, &subject)) {
        free(text);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    notify_message_t m = {.idempotency_key = key,
                          .event_id = t->ev->event_id,
                          .trigger = trig,
                          .program = t->ev->program,
                          .participant = t->ev->participant,
                          .recipient = t->recipient,
                          .address = email,
                          /* none without a template of its own: e-mail takes the text, a
                           * screen its trigger's title */
                          .subject = tr->subject ? subject : NULL,
                          .text = text,
                          .fields_json = t->fields_json,
                          .config_version = cfg->version,
                          .from = ch->from ? ch->from : "",
                          .occurred_ms = t->ev->occurred_ms};
    /* a digest's message keeps its text: the day's are put in one e-mail when sent */
    int digest = ch->kind == CARROT_CHANNEL_EMAIL && ch->digest_at >= 0;
    if (!skip && !digest && !(body = notify_body(ch->kind, &m))) {
        free(text);
        free(subject);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    char next[24];
    /* judged on Carrot's clock, due on PostgreSQL's: the wait is what carries over */
    /* a screen in the office is not a message to the person: no quiet hours */
    int64_t now = carrot_time_now_ms(),
            due = digest ? notify_next_time_of_day(tz, now, ch->digest_at)
                  : ch->kind == CARROT_CHANNEL_DISPLAY ? now
                                                       : after_quiet(cfg, tz, now);
    /* due on PostgreSQL's clock: Carrot's minus its shift, exactly, so the messages of one
     * digest time are due at the same instant and go in one e-mail */
    snprintf(next, sizeof(next), "%lld",
             (long long)(due == now ? carrot_time_wall_ms() : due - carrot_time_shift_ms()));
    const char *p[] = {key,
                       t->ev->event_id,
                       t->ev->program,
                       trig,
                       ch->name,
                       t->recipient,
                       email,
                       subject,
                       body ? body : text,
                       cfg->version,
                       skip ? "skipped" : "pending",
                       next,
                       skip,
                       n->name,
                       notify_channel_form(ch)};
    r = PQexecParams(pg,
                     "INSERT INTO notify_outbox (notifier, idempotency_key, event_id, "
                     "program_id, kind, channel, recipient, address, subject, body, "
                     "config_version, state, next_at, last_answer, made_for) VALUES ($14, $1, $2, "
                     "$3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12::bigint / 1000.0), "
                     "$13, $15) ON CONFLICT (notifier, idempotency_key) DO NOTHING",
                     15, NULL, p, NULL, NULL, 0);
    free(text);
    free(subject);
    free(body);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = carrot_pg_failure(pg, r, "queueing a message", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    if (skip) st->skipped++;
    else
        st->messages++;
    return CARROT_LEDGER_OK;
}

static int in_segments(const json_t *segments, const char *segment) {
    if (json_array_size(segments) == 0) return 1; /* no filter: everyone */
    size_t i;
    json_t *v;
    json_array_foreach(segments, i, v) if (strcmp(json_string_value(v), segment) == 0) return 1;
    return 0;
}

#define AUDIENCE_PAGE 256

/* An e-mail to every active participant of the event's segments. */
static carrot_ledger_err_t queue_audience(carrot_notifier_t *n, PGconn *pg, target_t *t,
                                          carrot_notify_stats_t *st, char *errstr,
                                          size_t errstr_size) {
    if (!n->directory) return CARROT_LEDGER_OK; /* no directory: nobody to write to */
    size_t np = 0;
    carrot_directory_err_t drc = carrot_directory_people(n->directory, t->ev->program, NULL, 0, &np,
                                                         errstr, errstr_size);
    char(*ids)[257] = drc || !np ? NULL : calloc(np, sizeof(*ids));
    carrot_participant_t *who = ids ? calloc(AUDIENCE_PAGE, sizeof(*who)) : NULL;
    if (!drc && np && (!ids || !who)) {
        free(ids);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    if (!drc && np)
        drc = carrot_directory_people(n->directory, t->ev->program, ids, np, &np, errstr,
                                      errstr_size);
    carrot_ledger_err_t rc = drc == CARROT_DIRECTORY_RETRY ? CARROT_LEDGER_RETRY
                             : drc                         ? CARROT_LEDGER_FATAL
                                                           : CARROT_LEDGER_OK;
    for (size_t at = 0; !rc && ids && at < np; at += AUDIENCE_PAGE) {
        size_t k = np - at < AUDIENCE_PAGE ? np - at : AUDIENCE_PAGE;
        const char *page[AUDIENCE_PAGE];
        for (size_t i = 0; i < k; i++) page[i] = ids[at + i];
        drc = carrot_directory_get(n->directory, t->ev->program, page, k, who, errstr, errstr_size);
        if (drc) {
            rc = drc == CARROT_DIRECTORY_RETRY ? CARROT_LEDGER_RETRY : CARROT_LEDGER_FATAL;
            break;
        }
        for (size_t i = 0; !rc && i < k; i++)
            if (who[i].found && who[i].active && in_segments(t->ev->segments, who[i].segment)) {
                t->recipient = who[i].participant_id;
                rc = queue_one(n, pg, t, 0, st, errstr, errstr_size);
            }
    }
    free(ids);
    free(who);
    return rc;
}

carrot_ledger_err_t notify_queue(carrot_notifier_t *n, PGconn *pg, const notify_event_t *ev,
                                 carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    const notify_trigger_t *tr = &n->cfg->triggers[ev->trigger];
    if (!ev->fields) { /* the caller's json_pack() failed: every trigger's one check */
        snprintf(errstr, errstr_size, "out of memory (or a value that is not UTF-8)");
        return CARROT_LEDGER_FATAL;
    }
    if (!tr->on || !notify_program_on(n->cfg, ev->program)) return CARROT_LEDGER_OK;
    char name[300], sname[300];
    int hidden = 0, shidden = 0;
    carrot_ledger_err_t rc = who(n, ev->program, ev->participant, name, sizeof(name), &hidden,
                                 errstr, errstr_size);
    if (!rc && ev->supervisor && *ev->supervisor)
        rc = who(n, ev->program, ev->supervisor, sname, sizeof(sname), &shidden, errstr,
                 errstr_size);
    if (rc) return rc;
    json_t *f = json_deep_copy(ev->fields);
    if (!f || json_object_set_new(f, "program", json_string(ev->program)) ||
        json_object_set_new(f, "participant", json_string(ev->participant)) ||
        json_object_set_new(f, "name", json_string(name)) ||
        (ev->supervisor && *ev->supervisor &&
         json_object_set_new(f, "supervisor", json_string(sname)))) {
        json_decref(f);
        snprintf(errstr, errstr_size, "out of memory (or a field that is not UTF-8)");
        return CARROT_LEDGER_FATAL;
    }
    char *fields = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(f);
    if (!fields) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)ev->occurred_ms);
    const char *p[] = {ev->event_id,    ev->program, carrot_trigger_name(ev->trigger),
                       ev->participant, fields,      at,
                       n->name};
    PGresult *r = PQexecParams(
        pg,
        "INSERT INTO notify_events (notifier, event_id, program_id, kind, participant_id, "
        "fields, occurred_at) VALUES ($7, $1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0)) "
        "ON CONFLICT (notifier, event_id) DO NOTHING RETURNING 1",
        7, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, r, "storing a trigger", errstr, errstr_size);
        PQclear(r);
        free(fields);
        return rc;
    }
    int fresh = PQntuples(r) == 1;
    PQclear(r);
    if (fresh) {
        st->triggers++;
        for (int i = 0; !rc && i < tr->nchannels; i++) {
            int email = n->cfg->channels[tr->channels[i]].kind == CARROT_CHANNEL_EMAIL;
            target_t t = {ev, fields, tr->channels[i], ev->participant};
            /* a team channel gets one post; an e-mail goes to each person it is for */
            if (email && ev->segments) {
                rc = queue_audience(n, pg, &t, st, errstr, errstr_size);
                continue;
            }
            if (!email || tr->to_participant)
                rc = queue_one(n, pg, &t, hidden, st, errstr, errstr_size);
            if (!rc && email && tr->to_supervisor && ev->supervisor && *ev->supervisor) {
                t.recipient = ev->supervisor;
                rc = queue_one(n, pg, &t, shidden, st, errstr, errstr_size);
            }
        }
    }
    free(fields);
    return rc;
}

carrot_ledger_err_t carrot_notify_replay(PGconn *pg, long long message_id, char *errstr,
                                         size_t errstr_size) {
    char id[24];
    snprintf(id, sizeof(id), "%lld", message_id);
    const char *p[] = {id};
    PGresult *r = PQexecParams(pg,
                               "UPDATE notify_outbox SET state = 'pending', next_at = now(), "
                               "attempts = 0 WHERE message_id = $1 AND state = 'dead'",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "replaying", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (n != 1) {
        snprintf(errstr, errstr_size, "no dead message %lld", message_id);
        return CARROT_LEDGER_REFUSED;
    }
    return CARROT_LEDGER_OK;
}
