/* facts.c: a batch of messages folded into the adoption facts in one
 * PostgreSQL transaction (adoption.h). The place of every topic partition
 * is locked and moved in the same transaction, so a batch is applied once
 * whichever consumer, group or crash: a message below its partition's place
 * is skipped. CRM records are locked in key order, fact rows written in key
 * order, so two consumers never deadlock on the same rows (and a deadlock
 * PostgreSQL reports anyway is a RETRY). */
#include "carrot/award.h"
#include "carrot/participant.h"
#include "facts_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_facts_t *carrot_facts_new(const carrot_facts_topics_t *t, char *errstr, size_t errstr_size) {
    carrot_facts_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    f->t_act = strdup(t->activities);
    f->t_award = strdup(t->awards);
    f->t_part = strdup(t->participants);
    f->t_dlq = strdup(t->refusals);
    if (!f->t_act || !f->t_award || !f->t_part || !f->t_dlq) {
        snprintf(errstr, errstr_size, "out of memory");
        carrot_facts_destroy(f);
        return NULL;
    }
    if (!(f->activity = carrot_activity_codec_new(errstr, errstr_size)) ||
        !(f->award = carrot_award_codec_new(errstr, errstr_size)) ||
        !(f->participant = carrot_participant_codec_new(errstr, errstr_size))) {
        carrot_facts_destroy(f);
        return NULL;
    }
    return f;
}

static void free_rules(void *p) { carrot_rules_destroy(p); }

static void batch_reset(carrot_facts_t *f) {
    smap_clear(&f->facts, facts_free_fact);
    smap_clear(&f->records, facts_free_record);
    f->parts.len = f->refusals.len = f->keys.len = 0;
}

void carrot_facts_destroy(carrot_facts_t *f) {
    if (!f) return;
    batch_reset(f);
    smap_clear(&f->rules, free_rules);
    smap_clear(&f->months, NULL);
    free(f->parts.p);
    free(f->refusals.p);
    free(f->keys.p);
    carrot_codec_destroy(f->activity);
    carrot_codec_destroy(f->award);
    carrot_codec_destroy(f->participant);
    free(f->t_act);
    free(f->t_award);
    free(f->t_part);
    free(f->t_dlq);
    free(f);
}

carrot_ledger_err_t carrot_facts_rules(carrot_facts_t *f, PGconn *pg, carrot_rules_t *rules,
                                       char *errstr, size_t errstr_size) {
    const char *program = carrot_rules_program(rules);
    void **v = smap_get(&f->rules, program, NULL);
    if (!v) {
        carrot_rules_destroy(rules);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    carrot_rules_destroy(*v);
    *v = rules;
    /* the bands as one JSON array, unpacked by the statement */
    json_t *bands = json_array();
    int has_min, has_max, levels;
    int64_t min, max;
    const char *id;
    for (int i = 0; (id = carrot_rules_band(rules, i, &has_min, &min, &has_max, &max, &levels));
         i++) {
        if (levels) continue; /* a band by level: the directory's level is no custom.level */
        json_array_append_new(bands, json_pack("{s:s,s:i,s:o,s:o}", "band", id, "ord", i, "min",
                                               has_min ? json_integer(min) : json_null(), "max",
                                               has_max ? json_integer(max) : json_null()));
    }
    char *bj = json_dumps(bands, JSON_COMPACT);
    json_decref(bands);
    if (!bj) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_LEDGER_FATAL;
    }
    const char *params[] = {program, carrot_rules_timezone(rules), carrot_rules_version(rules), bj};
    carrot_ledger_err_t rc = carrot_pg_command(
        pg,
        "WITH p AS (INSERT INTO adoption_programs (program_id, timezone, rules_version) "
        "  VALUES ($1, $2, $3) ON CONFLICT (program_id) DO UPDATE "
        "  SET timezone = EXCLUDED.timezone, rules_version = EXCLUDED.rules_version), "
        "d AS (DELETE FROM adoption_bands WHERE program_id = $1) "
        "INSERT INTO adoption_bands (program_id, band, ord, min_tenure_days, max_tenure_days) "
        "SELECT $1, b->>'band', (b->>'ord')::int, (b->>'min')::int, (b->>'max')::int "
        "FROM jsonb_array_elements($4::jsonb) b "
        "ON CONFLICT (program_id, band) DO UPDATE SET ord = EXCLUDED.ord, "
        "min_tenure_days = EXCLUDED.min_tenure_days, max_tenure_days = EXCLUDED.max_tenure_days",
        4, params, errstr, errstr_size);
    free(bj);
    return rc;
}

carrot_ledger_err_t carrot_facts_positions(PGconn *pg, rd_kafka_topic_partition_list_t *parts,
                                           char *errstr, size_t errstr_size) {
    for (int i = 0; i < parts->cnt; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%d", (int)parts->elems[i].partition);
        const char *params[] = {parts->elems[i].topic, p};
        char *v = NULL;
        carrot_ledger_err_t rc = carrot_pg_value(
            pg, "SELECT next_offset FROM adoption_offsets WHERE topic = $1 AND partition = $2", 2,
            params, &v, errstr, errstr_size);
        if (rc) return rc;
        parts->elems[i].offset = v ? strtoll(v, NULL, 10) : RD_KAFKA_OFFSET_BEGINNING;
        free(v);
    }
    return CARROT_LEDGER_OK;
}

/* ---- the transaction ---------------------------------------------------- */

static const char TEMP_TABLES[] =
    "CREATE TEMP TABLE IF NOT EXISTS adoption_tmp_keys (program_id text, source_system text, "
    "  source_record_id text) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS adoption_tmp_facts (program_id text, day date, "
    "  participant_id text, activity_type text, segment text, band text, team_id text, "
    "  logged bigint, q_judged bigint, complete bigint, t_judged bigint, on_time bigint, "
    "  deleted bigint, points bigint) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS adoption_tmp_records (LIKE adoption_records) "
    "  ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS adoption_tmp_parts (LIKE participants) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS adoption_tmp_refusals (LIKE adoption_refusals) "
    "  ON COMMIT DELETE ROWS";

carrot_ledger_err_t facts_oom(batch_t *b) {
    snprintf(b->errstr, b->errstr_size, "out of memory");
    return CARROT_LEDGER_FATAL;
}

int facts_fields(carrot_copy_buf_t *buf, const char *const *v, int n) {
    for (int i = 0; i < n; i++)
        if (carrot_copy_field(buf, v[i], i == n - 1 ? '\n' : '\t') != 0) return -1;
    return 0;
}

/* Locks the place of every partition the batch comes from (made at 0 when
 * new), in key order, and reads it into f->places. */
static carrot_ledger_err_t lock_places(batch_t *b, rd_kafka_message_t *const *msgs, size_t n) {
    carrot_facts_t *f = b->f;
    /* the pairs as two array literals (topic names hold no quote or backslash) */
    carrot_copy_buf_t tb = {0}, pb = {0};
    if (carrot_copy_reserve(&tb, 4) != 0 || carrot_copy_reserve(&pb, 4) != 0) goto oom;
    tb.p[tb.len++] = '{';
    pb.p[pb.len++] = '{';
    for (size_t i = 0; i < n; i++) {
        char key[300];
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        snprintf(key, sizeof(key), "%s\x1f%d", topic, (int)msgs[i]->partition);
        int created;
        void **v = smap_get(&f->places, key, &created);
        if (!v) goto oom;
        if (!created) continue;
        if (!(*v = calloc(2, sizeof(int64_t)))) goto oom;
        size_t tn = strlen(topic) + 4;
        if (carrot_copy_reserve(&tb, tn + 2) != 0 || carrot_copy_reserve(&pb, 16) != 0) goto oom;
        tb.len += (size_t)snprintf(tb.p + tb.len, tn, "%s\"%s\"", tb.len > 1 ? "," : "", topic);
        pb.len += (size_t)snprintf(pb.p + pb.len, 14, "%s%d", pb.len > 1 ? "," : "",
                                   (int)msgs[i]->partition);
    }
    memcpy(tb.p + tb.len, "}", 2);
    memcpy(pb.p + pb.len, "}", 2);
    const char *topics = tb.p, *parts = pb.p;
    const char *params[] = {topics, parts};
    carrot_ledger_err_t rc = carrot_pg_command(
        b->pg,
        "INSERT INTO adoption_offsets (topic, partition, next_offset) "
        "SELECT t, p, 0 FROM unnest($1::text[], $2::int[]) AS u(t, p) ON CONFLICT DO NOTHING",
        2, params, b->errstr, b->errstr_size);
    PGresult *r = rc ? NULL
                     : PQexecParams(b->pg,
                                    "SELECT topic, partition, next_offset FROM adoption_offsets "
                                    "WHERE (topic, partition) IN "
                                    "  (SELECT * FROM unnest($1::text[], $2::int[])) "
                                    "ORDER BY topic, partition FOR UPDATE",
                                    2, NULL, params, NULL, NULL, 0);
    if (rc || PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (!rc)
            rc = carrot_pg_failure(b->pg, r, "reading the facts' offsets", b->errstr,
                                   b->errstr_size);
        PQclear(r);
        free(tb.p);
        free(pb.p);
        return rc;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        char key[300];
        snprintf(key, sizeof(key), "%s\x1f%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        int64_t *v = smap_find(&f->places, key);
        if (v) v[0] = v[1] = strtoll(PQgetvalue(r, i, 2), NULL, 10); /* stored, next */
    }
    PQclear(r);
    free(tb.p);
    free(pb.p);
    return CARROT_LEDGER_OK;
oom:
    free(tb.p);
    free(pb.p);
    return facts_oom(b);
}

/* 1 when msg is to be applied (at or above its partition's place). */
static int fresh(carrot_facts_t *f, const rd_kafka_message_t *m) {
    char key[300];
    snprintf(key, sizeof(key), "%s\x1f%d", rd_kafka_topic_name(m->rkt), (int)m->partition);
    int64_t *v = smap_find(&f->places, key);
    if (!v || m->offset < v[0]) return 0;
    if (m->offset + 1 > v[1]) v[1] = m->offset + 1;
    return 1;
}

/* Reads the stored state of the batch's records, locked in key order. */
static carrot_ledger_err_t load_records(batch_t *b) {
    carrot_facts_t *f = b->f;
    if (!f->keys.len) return CARROT_LEDGER_OK;
    carrot_ledger_err_t rc = carrot_pg_copy(b->pg, "COPY adoption_tmp_keys FROM STDIN", f->keys.p,
                                            f->keys.len, NULL, b->errstr, b->errstr_size);
    if (rc) return rc;
    PGresult *r = PQexec(b->pg,
                         "SELECT r.program_id || chr(31) || r.source_system || chr(31) || "
                         "  r.source_record_id, r.participant_id, coalesce(r.day::text, ''), "
                         "  r.activity_type, r.creates, r.standing, array_to_json(r.events) "
                         "FROM adoption_records r JOIN adoption_tmp_keys k "
                         "  USING (program_id, source_system, source_record_id) "
                         "ORDER BY r.program_id, r.source_system, r.source_record_id "
                         "FOR UPDATE OF r");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(b->pg, r, "reading CRM records", b->errstr, b->errstr_size);
        PQclear(r);
        return rc;
    }
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        record_t *rec = smap_find(&f->records, PQgetvalue(r, i, 0));
        if (!rec) continue;
        rec->exists = 1;
        rec->participant = strdup(PQgetvalue(r, i, 1));
        snprintf(rec->day, sizeof(rec->day), "%s", PQgetvalue(r, i, 2));
        rec->type = strdup(PQgetvalue(r, i, 3));
        rec->creates = atoi(PQgetvalue(r, i, 4));
        rec->standing = PQgetvalue(r, i, 5)[0] == 't';
        json_t *ev = json_loads(PQgetvalue(r, i, 6), 0, NULL);
        size_t k;
        json_t *e;
        json_array_foreach(ev, k, e) {
            if (json_is_string(e) && record_add_event(rec, json_string_value(e)) != 0)
                rc = facts_oom(b);
        }
        json_decref(ev);
        if (!rec->participant || !rec->type) rc = facts_oom(b);
    }
    PQclear(r);
    return rc;
}

static void free_ptr(void *p) { free(p); }

carrot_ledger_err_t carrot_facts_apply(carrot_facts_t *f, PGconn *pg,
                                       rd_kafka_message_t *const *msgs, size_t n,
                                       carrot_facts_stats_t *stats, char *errstr,
                                       size_t errstr_size) {
    memset(stats, 0, sizeof(*stats));
    if (!n) return CARROT_LEDGER_OK;
    batch_t b = {f, pg, errstr, errstr_size, stats, calloc(n, sizeof(change_t)), 0, {0}};
    if (!b.chg) return facts_oom(&b);
    batch_reset(f);
    carrot_ledger_err_t rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size);
    if (!rc) rc = carrot_pg_command(pg, TEMP_TABLES, 0, NULL, errstr, errstr_size);
    if (!rc) rc = lock_places(&b, msgs, n);
    for (size_t i = 0; i < n && !rc; i++) {
        const rd_kafka_message_t *m = msgs[i];
        if (!fresh(f, m)) {
            stats->skipped++;
            continue;
        }
        rc = facts_fold(&b, m);
    }
    if (!rc) rc = load_records(&b);
    if (!rc) rc = facts_settle(&b);
    if (!rc) rc = facts_write(&b);
    if (!rc) rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    if (rc) {
        carrot_pg_rollback(pg);
        memset(stats, 0, sizeof(*stats));
    }
    for (size_t i = 0; i < b.nchg; i++) facts_change_free(&b.chg[i]);
    free(b.chg);
    free(b.buf.p);
    batch_reset(f);
    smap_clear(&f->refused, free_ptr);
    smap_clear(&f->places, free_ptr);
    smap_clear(&f->months, NULL);
    return rc;
}

carrot_ledger_err_t carrot_facts_drop_before(PGconn *pg, const char *before_day, int detach,
                                             int *droppedp, char *errstr, size_t errstr_size) {
    *droppedp = 0;
    const char *p[] = {before_day};
    PGresult *r = PQexecParams(
        pg,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'adoption_facts'::regclass AND c.relname ~ '^adoption_facts_[0-9]{4}_[0-9]{2}$' "
        "  AND (to_date(substr(c.relname, 16), 'YYYY_MM') + interval '1 month')::date <= $1::date "
        "ORDER BY 1",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "listing partitions", errstr,
                                                   errstr_size);
        if (rc == CARROT_LEDGER_FATAL && PQresultErrorField(r, PG_DIAG_SQLSTATE) &&
            strncmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22", 2) == 0)
            rc = CARROT_LEDGER_REFUSED; /* a bad date */
        PQclear(r);
        return rc;
    }
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        char sql[256];
        const char *name = PQgetvalue(r, i, 0);
        if (detach)
            snprintf(sql, sizeof(sql), "ALTER TABLE adoption_facts DETACH PARTITION %s", name);
        else
            snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
        if (!(rc = carrot_pg_command(pg, sql, 0, NULL, errstr, errstr_size))) ++*droppedp;
    }
    PQclear(r);
    if (!rc)
        rc = carrot_pg_command(pg, "DELETE FROM adoption_records WHERE day < $1::date", 1, p,
                               errstr, errstr_size);
    return rc;
}
