/* fold.c: the in-memory side of a facts batch: each message decoded and
 * folded into the fact rows it changes, the CRM records' changes settled in
 * their order (README "Adoption analytics": how duplicates, DELETEs and
 * UNDELETEs count), and the day of an instant in a program's time zone. */
#include "carrot/award.h"
#include "carrot/participant.h"
#include "carrot/period.h"
#include "facts_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *facts_tz(carrot_facts_t *f, const char *program) {
    const carrot_rules_t *r = smap_find(&f->rules, program);
    return r ? carrot_rules_timezone(r) : "UTC";
}

void facts_day(const char *tz, int64_t ms, char day[11]) {
    char id[32];
    int64_t end;
    if (carrot_period_of(CARROT_PERIOD_DAY, ms, tz, id, sizeof(id), &end) != 0 || strlen(id) != 12)
        snprintf(id, sizeof(id), "d:1970-01-01"); /* a zone the C library lost: cannot happen
                                                     for a zone the rules accepted */
    memcpy(day, id + 2, 11);
}

fact_t *facts_row(carrot_facts_t *f, const char *program, const char *day, const char *participant,
                  const char *type) {
    size_t n = strlen(program) + strlen(day) + strlen(participant) + strlen(type) + 4;
    char small[1024], *key = n <= sizeof(small) ? small : malloc(n);
    if (!key) return NULL;
    snprintf(key, n, "%s\x1f%s\x1f%s\x1f%s", program, day, participant, type);
    int created;
    void **v = smap_get(&f->facts, key, &created);
    if (key != small) free(key);
    if (!v) return NULL;
    if (created) {
        fact_t *row = calloc(1, sizeof(*row));
        if (!row) return NULL; /* the key stays, with a NULL row: skipped when written */
        *v = row;
    }
    return *v;
}

record_t *facts_record(carrot_facts_t *f, const char *key, int *createdp) {
    void **v = smap_get(&f->records, key, createdp);
    if (!v) return NULL;
    if (!*v) *v = calloc(1, sizeof(record_t));
    return *v;
}

void facts_free_fact(void *p) {
    fact_t *row = p;
    if (!row) return;
    free(row->segment);
    free(row->band);
    free(row->team);
    free(row);
}

void facts_free_record(void *p) {
    record_t *r = p;
    if (!r) return;
    free(r->participant);
    free(r->type);
    for (int i = 0; i < r->nevents; i++) free(r->events[i]);
    free(r->events);
    free(r);
}

int record_has_event(const record_t *r, const char *event) {
    for (int i = 0; i < r->nevents; i++)
        if (strcmp(r->events[i], event) == 0) return 1;
    return 0;
}

int record_add_event(record_t *r, const char *event) {
    if (r->nevents == r->cap) {
        int cap = r->cap ? r->cap * 2 : 4;
        char **e = realloc(r->events, (size_t)cap * sizeof(*e));
        if (!e) return -1;
        r->events = e;
        r->cap = cap;
    }
    if (!(r->events[r->nevents] = strdup(event))) return -1;
    r->nevents++;
    return 0;
}

void facts_change_free(change_t *c) {
    free(c->record);
    free(c->event);
    free(c->program);
    free(c->participant);
    free(c->type);
    free(c->segment);
    free(c->team);
    free(c->band);
}

static int set_scopes(fact_t *row, const char *segment, const char *band, const char *team) {
    const char *v[] = {segment, band, team};
    char **dst[] = {&row->segment, &row->band, &row->team};
    for (int i = 0; i < 3; i++) {
        if (!v[i]) continue;
        free(*dst[i]);
        if (!(*dst[i] = strdup(v[i]))) return -1;
    }
    return 0;
}

/* A record's key: program \x1f source \x1f record id. */
static char *record_key(const carrot_activity_t *a) {
    size_t n = strlen(a->program_id) + strlen(a->source_system) + strlen(a->source_record_id) + 3;
    char *k = malloc(n);
    if (k) snprintf(k, n, "%s\x1f%s\x1f%s", a->program_id, a->source_system, a->source_record_id);
    return k;
}

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return NULL;
    if (len >= size) len = size - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) /* one line of a report: no control characters */
        if ((unsigned char)buf[i] < 0x20) buf[i] = ' ';
    return buf;
}

static int ctl_free(const char *s) {
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20) return 0;
    return 1;
}

/* The program of a dead letter: the one its original bytes name (an
 * activity's program_id, Avro or a JSON feed line), else the one the feed
 * was ingested for (carrot.program); "" when neither says. */
static void refused_program(carrot_facts_t *f, const rd_kafka_message_t *m, char *out,
                            size_t size) {
    out[0] = '\0';
    if (!m->payload || !m->len) return;
    avro_value_t *value;
    char errstr[256];
    carrot_activity_t a;
    if (carrot_codec_decode(f->activity, m->payload, m->len, &value, errstr, sizeof(errstr)) ==
            CARROT_CODEC_OK &&
        carrot_activity_from_avro(value, &a, errstr, sizeof(errstr)) == 0) {
        snprintf(out, size, "%s", a.program_id);
        return;
    }
    json_t *doc = json_loadb(m->payload, m->len, 0, NULL);
    const char *p = json_string_value(json_object_get(doc, "program_id"));
    if (p && strlen(p) < size && ctl_free(p)) snprintf(out, size, "%s", p);
    json_decref(doc);
    if (!out[0]) header(m, "carrot.program", out, size); /* the feed's program */
}

static int fold_refusal(carrot_facts_t *f, const rd_kafka_message_t *m) {
    char stage[64], source[512], reason[512], program[257], day[11];
    if (!header(m, "carrot.stage", stage, sizeof(stage))) snprintf(stage, sizeof(stage), "?");
    if (!header(m, "carrot.source", source, sizeof(source))) source[0] = '\0';
    if (!header(m, "carrot.error", reason, sizeof(reason))) snprintf(reason, sizeof(reason), "?");
    size_t n = strlen(source); /* file:line -> file: a source, not a line */
    size_t k = n;
    while (k > 0 && source[k - 1] >= '0' && source[k - 1] <= '9') k--;
    if (k > 0 && k < n && source[k - 1] == ':') source[k - 1] = '\0';
    refused_program(f, m, program, sizeof(program));
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    facts_day(program[0] ? facts_tz(f, program) : "UTC", ts > 0 ? ts : (int64_t)time(NULL) * 1000,
              day);
    const char *fields[] = {day, program, stage, source, reason};
    size_t need = 8;
    for (int i = 0; i < 5; i++) need += strlen(fields[i]) + 1;
    char key[1600];
    if (need > sizeof(key)) return 0;
    snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%s\x1f%s", day, program, stage, source, reason);
    int created;
    void **v = smap_get(&f->refused, key, &created);
    if (!v) return -1;
    if (created && !(*v = calloc(1, sizeof(int64_t)))) return -1;
    ++*(int64_t *)*v;
    return 0;
}
static void ms_text(int64_t ms, char *buf, size_t size) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[40];
    strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03d+00", b, (int)(ms % 1000 + 1000) % 1000);
}

static carrot_ledger_err_t fold_activity(batch_t *b, const rd_kafka_message_t *m) {
    carrot_facts_t *f = b->f;
    avro_value_t *value;
    carrot_activity_t a;
    char why[256];
    if (carrot_codec_decode(f->activity, m->payload, m->len, &value, why, sizeof(why)) !=
            CARROT_CODEC_OK ||
        carrot_activity_from_avro(value, &a, why, sizeof(why)) != 0 || !ctl_free(a.program_id) ||
        !ctl_free(a.source_system) || !ctl_free(a.source_record_id) ||
        !ctl_free(a.participant_id) || !ctl_free(a.activity_type) || !*a.program_id) {
        b->st->unusable++;
        return CARROT_LEDGER_OK;
    }
    if (a.change_type == CARROT_CHANGE_UPDATE)
        return CARROT_LEDGER_OK; /* earns and counts
                                                                            nothing */
    if (a.change_type == CARROT_CHANGE_CREATE && !*a.participant_id) {
        b->st->unusable++; /* the scorer dead-letters it */
        return CARROT_LEDGER_OK;
    }
    change_t *c = &b->chg[b->nchg];
    memset(c, 0, sizeof(*c));
    c->change = a.change_type;
    const carrot_rules_t *rules = smap_find(&f->rules, a.program_id);
    if (rules) carrot_rules_judge(rules, &a, &c->j);
    facts_day(facts_tz(f, a.program_id), a.occurred_at, c->day);
    if (!(c->record = record_key(&a)) || !(c->event = strdup(a.event_id)) ||
        !(c->program = strdup(a.program_id)) || !(c->participant = strdup(a.participant_id)) ||
        !(c->type = strdup(a.activity_type)) || (a.segment && !(c->segment = strdup(a.segment))) ||
        (a.team_id && !(c->team = strdup(a.team_id))) ||
        (c->j.band && !(c->band = strdup(c->j.band)))) {
        facts_change_free(c);
        return facts_oom(b);
    }
    c->j.band = NULL; /* borrowed from rules a switch may free: c->band is the copy */
    b->nchg++;
    int created;
    record_t *r = facts_record(f, c->record, &created);
    if (!r) return facts_oom(b);
    if (created) { /* to be looked up */
        const char *k[] = {a.program_id, a.source_system, a.source_record_id};
        if (facts_fields(&f->keys, k, 3) != 0) return facts_oom(b);
    }
    return CARROT_LEDGER_OK;
}

static carrot_ledger_err_t fold_award(batch_t *b, const rd_kafka_message_t *m) {
    carrot_facts_t *f = b->f;
    avro_value_t *value;
    carrot_award_t a;
    char why[256], day[11];
    if (carrot_codec_decode(f->award, m->payload, m->len, &value, why, sizeof(why)) !=
            CARROT_CODEC_OK ||
        carrot_award_from_avro(value, &a, why, sizeof(why)) != 0 || !ctl_free(a.program_id) ||
        !ctl_free(a.participant_id) || !ctl_free(a.activity_type)) {
        b->st->unusable++; /* the ledger dead-letters it */
        return CARROT_LEDGER_OK;
    }
    facts_day(facts_tz(f, a.program_id), a.occurred_at, day);
    fact_t *row = facts_row(f, a.program_id, day, a.participant_id, a.activity_type);
    if (!row) return facts_oom(b);
    row->n[F_POINTS] += a.points;
    b->st->awards++;
    return CARROT_LEDGER_OK;
}

static carrot_ledger_err_t fold_participant(batch_t *b, const rd_kafka_message_t *m) {
    carrot_facts_t *f = b->f;
    avro_value_t *value;
    carrot_participant_t p;
    char why[256];
    carrot_participant_init(&p);
    if (carrot_codec_decode(f->participant, m->payload, m->len, &value, why, sizeof(why)) !=
            CARROT_CODEC_OK ||
        carrot_participant_from_avro(value, &p, why, sizeof(why)) != 0 ||
        carrot_participant_validate(&p, why, sizeof(why)) != 0) {
        b->st->unusable++; /* the directory dead-letters it */
        return CARROT_LEDGER_OK;
    }
    char hired[48], updated[48], level[16];
    ms_text(p.hired_at_ms, hired, sizeof(hired));
    ms_text(p.updated_at_ms, updated, sizeof(updated));
    snprintf(level, sizeof(level), "%d", p.level);
    const char *v[] = {p.program_id,
                       p.participant_id,
                       p.display_name[0] ? p.display_name : NULL,
                       p.segment,
                       p.team_id,
                       p.region,
                       p.hired_at_ms ? hired : NULL,
                       p.level >= 0 ? level : NULL,
                       p.supervisor_id[0] ? p.supervisor_id : NULL,
                       p.active ? "t" : "f",
                       p.hide_from_screen ? "t" : "f",
                       updated};
    if (facts_fields(&f->parts, v, 12) != 0) return facts_oom(b);
    b->st->participants++;
    return CARROT_LEDGER_OK;
}

/* The changes in their order, against the records. */
carrot_ledger_err_t facts_settle(batch_t *b) {
    carrot_facts_t *f = b->f;
    for (size_t i = 0; i < b->nchg; i++) {
        change_t *c = &b->chg[i];
        record_t *r = smap_find(&f->records, c->record);
        if (!r) return facts_oom(b);
        if (record_has_event(r, c->event)) {
            b->st->duplicates++;
            continue;
        }
        if (record_add_event(r, c->event) != 0) return facts_oom(b);
        r->dirty = 1;
        if (c->change == CARROT_CHANGE_CREATE) {
            fact_t *row = facts_row(f, c->program, c->day, c->participant, c->type);
            if (!row || set_scopes(row, c->segment ? c->segment : "", c->band ? c->band : "",
                                   c->team ? c->team : "") != 0)
                return facts_oom(b);
            row->n[F_LOGGED]++;
            row->n[F_QJ] += c->j.q_judged;
            row->n[F_COMPLETE] += c->j.complete;
            row->n[F_TJ] += c->j.t_judged;
            row->n[F_ONTIME] += c->j.on_time;
            if (!r->exists) r->standing = 1, r->exists = 1;
            if (!r->standing)
                row->n[F_DELETED]++;             /* deleted before it came: as the scorer,
                                                       it stands once undeleted */
            if (r->creates == 0 || !r->day[0]) { /* the record is its first CREATE's */
                free(r->participant);
                free(r->type);
                r->participant = strdup(c->participant);
                r->type = strdup(c->type);
                memcpy(r->day, c->day, sizeof(r->day));
                if (!r->participant || !r->type) return facts_oom(b);
            }
            r->creates++;
            b->st->activities++;
            continue;
        }
        int deleting = c->change == CARROT_CHANGE_DELETE;
        if (!r->exists) { /* a change before its CREATE: a tombstone, or an undelete */
            r->exists = 1;
            r->standing = !deleting;
            if (!r->participant) r->participant = strdup("");
            if (!r->type) r->type = strdup("");
            if (!r->participant || !r->type) return facts_oom(b);
            continue;
        }
        if (r->standing == !deleting) continue; /* nothing to take back or give back */
        r->standing = !deleting;
        if (r->creates > 0 && r->day[0]) {
            fact_t *row = facts_row(f, c->program, r->day, r->participant, r->type);
            if (!row) return facts_oom(b);
            row->n[F_DELETED] += deleting ? r->creates : -r->creates;
        }
        b->st->deletes++;
    }
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t facts_fold(batch_t *b, const rd_kafka_message_t *m) {
    carrot_facts_t *f = b->f;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (strcmp(topic, f->t_act) == 0) return fold_activity(b, m);
    if (strcmp(topic, f->t_award) == 0) return fold_award(b, m);
    if (strcmp(topic, f->t_part) == 0) return fold_participant(b, m);
    if (strcmp(topic, f->t_dlq) == 0) {
        if (fold_refusal(f, m) != 0) return facts_oom(b);
        b->st->refusals++;
    }
    return CARROT_LEDGER_OK;
}
