/* write.c: a facts batch into PostgreSQL, in the caller's transaction:
 * each table's rows COPYed into a temporary table and upserted from it in
 * key order (so two consumers lock rows in the same order), the month
 * partitions made first, and each partition's place moved. */
#include "facts_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* COPYs data (whole rows) into a temporary table, then runs sql, which
 * upserts them into their table. */
static carrot_ledger_err_t upsert(batch_t *b, const char *copy_sql, const char *data, size_t len,
                                  const char *sql) {
    carrot_ledger_err_t rc = carrot_pg_copy(b->pg, copy_sql, data, len, NULL, b->errstr,
                                            b->errstr_size);
    return rc ? rc : carrot_pg_command(b->pg, sql, 0, NULL, b->errstr, b->errstr_size);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys of m, sorted (rows written in key order). NULL when empty or out
 * of memory (*np 0 then means empty). */
static char **sorted_keys(const smap_t *m, size_t *np) {
    *np = 0;
    if (!m->used) return NULL;
    char **k = malloc(m->used * sizeof(*k));
    if (!k) return NULL;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) k[(*np)++] = m->keys[i];
    qsort(k, *np, sizeof(*k), cmp_str);
    return k;
}

/* Splits a copy of key at \x1f into at most n parts. */
static int split(char *key, char **parts, int n) {
    int k = 0;
    parts[k++] = key;
    for (char *p = key; *p && k < n; p++)
        if (*p == '\x1f') *p = '\0', parts[k++] = p + 1;
    return k;
}

static carrot_ledger_err_t write_facts(batch_t *b) {
    carrot_facts_t *f = b->f;
    size_t n;
    char **keys = sorted_keys(&f->facts, &n);
    if (!keys) return f->facts.used ? facts_oom(b) : CARROT_LEDGER_OK;
    b->buf.len = 0;
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const fact_t *row = smap_find(&f->facts, keys[i]);
        char *copy = strdup(keys[i]), *part[4];
        if (!copy || !row || split(copy, part, 4) != 4) {
            free(copy);
            rc = facts_oom(b);
            break;
        }
        char month[8];
        memcpy(month, part[1], 7);
        month[7] = '\0';
        if (!smap_find(&f->months, month)) { /* this batch's first fact of the month */
            char d[16];
            snprintf(d, sizeof(d), "%s-01", month);
            const char *p[] = {d};
            rc = carrot_pg_command(b->pg, "SELECT adoption_partition($1::date)", 1, p, b->errstr,
                                   b->errstr_size);
            void **v = rc ? NULL : smap_get(&f->months, month, NULL);
            if (!rc && !v) rc = facts_oom(b);
            if (v) *v = (void *)1; /* once per batch: the transaction may roll it back */
        }
        char nums[F_N][24];
        const char *v[7 + F_N] = {part[0],      part[1],   part[2],  part[3],
                                  row->segment, row->band, row->team};
        for (int j = 0; j < F_N; j++) {
            snprintf(nums[j], sizeof(nums[j]), "%lld", (long long)row->n[j]);
            v[7 + j] = nums[j];
        }
        if (!rc && facts_fields(&b->buf, v, 7 + F_N) != 0) rc = facts_oom(b);
        free(copy);
    }
    free(keys);
    if (rc) return rc;
    return upsert(
        b, "COPY adoption_tmp_facts FROM STDIN", b->buf.p, b->buf.len,
        "INSERT INTO adoption_facts AS a SELECT program_id, day, participant_id, activity_type, "
        "  coalesce(segment, ''), coalesce(band, ''), coalesce(team_id, ''), logged, q_judged, "
        "  complete, t_judged, on_time, deleted, points FROM adoption_tmp_facts "
        "ORDER BY program_id, day, participant_id, activity_type "
        "ON CONFLICT (program_id, day, participant_id, activity_type) DO UPDATE SET "
        "  segment = CASE WHEN EXCLUDED.segment = '' THEN a.segment ELSE EXCLUDED.segment END, "
        "  band = CASE WHEN EXCLUDED.band = '' THEN a.band ELSE EXCLUDED.band END, "
        "  team_id = CASE WHEN EXCLUDED.team_id = '' THEN a.team_id ELSE EXCLUDED.team_id END, "
        "  logged = a.logged + EXCLUDED.logged, q_judged = a.q_judged + EXCLUDED.q_judged, "
        "  complete = a.complete + EXCLUDED.complete, t_judged = a.t_judged + EXCLUDED.t_judged, "
        "  on_time = a.on_time + EXCLUDED.on_time, deleted = a.deleted + EXCLUDED.deleted, "
        "  points = a.points + EXCLUDED.points; "
        "INSERT INTO adoption_first AS a SELECT program_id, participant_id, min(day) "
        "FROM adoption_tmp_facts WHERE logged > 0 GROUP BY 1, 2 ORDER BY 1, 2 "
        "ON CONFLICT (program_id, participant_id) DO UPDATE "
        "SET first_day = least(a.first_day, EXCLUDED.first_day) "
        "WHERE EXCLUDED.first_day < a.first_day");
}

/* A text[] literal of the record's events. */
static int events_literal(carrot_copy_buf_t *out, const record_t *r) {
    size_t need = 3;
    for (int i = 0; i < r->nevents; i++) need += 2 * strlen(r->events[i]) + 3;
    if (carrot_copy_reserve(out, need) != 0) return -1;
    char *p = out->p + out->len;
    *p++ = '{';
    for (int i = 0; i < r->nevents; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const char *s = r->events[i]; *s; s++) {
            if (*s == '"' || *s == '\\') *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return 0;
}

static carrot_ledger_err_t write_records(batch_t *b) {
    carrot_facts_t *f = b->f;
    size_t n;
    char **keys = sorted_keys(&f->records, &n);
    if (!keys) return f->records.used ? facts_oom(b) : CARROT_LEDGER_OK;
    b->buf.len = 0;
    carrot_copy_buf_t ev = {0};
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    size_t dirty = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const record_t *r = smap_find(&f->records, keys[i]);
        if (!r || !r->dirty) continue;
        char *copy = strdup(keys[i]), *part[3], creates[16];
        ev.len = 0;
        if (!copy || split(copy, part, 3) != 3 || events_literal(&ev, r) != 0) {
            free(copy);
            rc = facts_oom(b);
            break;
        }
        snprintf(creates, sizeof(creates), "%d", r->creates);
        const char *v[] = {part[0],
                           part[1],
                           part[2],
                           r->participant,
                           r->day[0] ? r->day : NULL,
                           r->type,
                           creates,
                           r->standing ? "t" : "f",
                           ev.p};
        if (facts_fields(&b->buf, v, 9) != 0) rc = facts_oom(b);
        dirty++;
        free(copy);
    }
    free(keys);
    free(ev.p);
    if (rc || !dirty) return rc;
    return upsert(b, "COPY adoption_tmp_records FROM STDIN", b->buf.p, b->buf.len,
                  "INSERT INTO adoption_records SELECT * FROM adoption_tmp_records "
                  "ORDER BY program_id, source_system, source_record_id "
                  "ON CONFLICT (program_id, source_system, source_record_id) DO UPDATE SET "
                  "  participant_id = EXCLUDED.participant_id, day = EXCLUDED.day, "
                  "  activity_type = EXCLUDED.activity_type, creates = EXCLUDED.creates, "
                  "  standing = EXCLUDED.standing, events = EXCLUDED.events");
}

static carrot_ledger_err_t write_rest(batch_t *b) {
    carrot_facts_t *f = b->f;
    carrot_ledger_err_t rc;
    if (f->parts.len) {
        if ((rc = upsert(
                 b, "COPY adoption_tmp_parts FROM STDIN", f->parts.p, f->parts.len,
                 "INSERT INTO participants AS p SELECT DISTINCT ON (program_id, participant_id) * "
                 "FROM adoption_tmp_parts ORDER BY program_id, participant_id, updated_at DESC "
                 "ON CONFLICT (program_id, participant_id) DO UPDATE SET "
                 "  display_name = EXCLUDED.display_name, segment = EXCLUDED.segment, "
                 "  team_id = EXCLUDED.team_id, region = EXCLUDED.region, "
                 "  hired_at = EXCLUDED.hired_at, level = EXCLUDED.level, "
                 "  supervisor_id = EXCLUDED.supervisor_id, active = EXCLUDED.active, "
                 "  hide_from_screen = EXCLUDED.hide_from_screen, updated_at = EXCLUDED.updated_at "
                 "WHERE p.updated_at <= EXCLUDED.updated_at")))
            return rc;
    }
    if (f->refused.used) {
        b->buf.len = 0;
        for (size_t i = 0; i < f->refused.cap; i++) {
            if (!f->refused.keys[i]) continue;
            char *copy = strdup(f->refused.keys[i]), *part[5], count[24];
            if (!copy || split(copy, part, 5) != 5) {
                free(copy);
                return facts_oom(b);
            }
            snprintf(count, sizeof(count), "%lld", (long long)*(int64_t *)f->refused.vals[i]);
            const char *v[] = {part[0], part[1], part[2], part[3], part[4], count};
            int bad = facts_fields(&b->buf, v, 6);
            free(copy);
            if (bad) return facts_oom(b);
        }
        if ((rc = upsert(b, "COPY adoption_tmp_refusals FROM STDIN", b->buf.p, b->buf.len,
                         "INSERT INTO adoption_refusals AS a SELECT * FROM adoption_tmp_refusals "
                         "ORDER BY day, program_id, stage, source, reason "
                         "ON CONFLICT (day, program_id, stage, source, reason) DO UPDATE SET "
                         "  refused = a.refused + EXCLUDED.refused")))
            return rc;
    }
    /* the places */
    for (size_t i = 0; i < f->places.cap; i++) {
        const int64_t *v = f->places.vals[i];
        if (!f->places.keys[i] || !v || v[1] <= v[0]) continue;
        char *copy = strdup(f->places.keys[i]), *part[2], next[24];
        if (!copy || split(copy, part, 2) != 2) {
            free(copy);
            return facts_oom(b);
        }
        snprintf(next, sizeof(next), "%lld", (long long)v[1]);
        const char *p[] = {part[0], part[1], next};
        rc = carrot_pg_command(b->pg,
                               "UPDATE adoption_offsets SET next_offset = $3, updated_at = now() "
                               "WHERE topic = $1 AND partition = $2::int",
                               3, p, b->errstr, b->errstr_size);
        free(copy);
        if (rc) return rc;
    }
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t facts_write(batch_t *b) {
    carrot_ledger_err_t rc = write_facts(b);
    if (!rc) rc = write_records(b);
    if (!rc) rc = write_rest(b);
    return rc;
}
