/* facts_int.h: what the three sides of a facts batch share: facts.c (the
 * transaction and the records' state), fold.c (the messages, decoded and
 * folded in memory) and write.c (the rows, out to PostgreSQL). */
#ifndef CARROT_FACTS_INT_H
#define CARROT_FACTS_INT_H

#include "carrot/activity.h"
#include "carrot/adoption.h"
#include "carrot/ledger_db.h"
#include "smap.h"

#include <stdint.h>

/* Counters of one fact row, in adoption_facts' column order. */
enum { F_LOGGED, F_QJ, F_COMPLETE, F_TJ, F_ONTIME, F_DELETED, F_POINTS, F_N };

/* One fact row's change (keyed program \x1f day \x1f participant \x1f type
 * in the batch's table). */
typedef struct {
    char *segment, *band, *team; /* the latest activity's; NULL: leave as stored */
    int64_t n[F_N];
} fact_t;

/* One CRM record as stored (loaded) and as the batch leaves it (keyed
 * program \x1f source \x1f record id). */
typedef struct {
    char *participant, *type;
    char day[11]; /* "" : a tombstone */
    int exists;   /* stored, or made by this batch */
    int creates, standing;
    char **events;
    int nevents, cap;
    int dirty;
} record_t;

struct carrot_facts_s {
    char *t_act, *t_award, *t_part, *t_dlq;
    carrot_codec_t *activity, *award, *participant;
    /* rules per program: program id -> carrot_rules_t* */
    smap_t rules;
    /* months whose partition this batch made sure of: "YYYY-MM" -> (void *)1 */
    smap_t months;
    /* the batch */
    smap_t facts, records;
    smap_t refused; /* day \x1f program \x1f stage \x1f source \x1f reason -> int64_t count */
    smap_t places;  /* topic \x1f partition -> the next offset (int64_t) */
    carrot_copy_buf_t parts, refusals, keys;
};

/* fold.c: the rules' time zone for program ("UTC" without rules), and the
 * day (YYYY-MM-DD) of ms in it. */
const char *facts_tz(carrot_facts_t *f, const char *program);
void facts_day(const char *tz, int64_t ms, char day[11]);

/* fold.c: the row of key (created zeroed); NULL when out of memory. */
fact_t *facts_row(carrot_facts_t *f, const char *program, const char *day, const char *participant,
                  const char *type);
record_t *facts_record(carrot_facts_t *f, const char *key, int *createdp);
void facts_free_fact(void *p);
void facts_free_record(void *p);
int record_has_event(const record_t *r, const char *event);
int record_add_event(record_t *r, const char *event); /* -1: out of memory */

/* One change of a CRM record, decoded (strings owned). */
typedef struct {
    char *record, *event, *program, *participant, *type, *segment, *team, *band;
    carrot_change_t change;
    char day[11];
    carrot_judgement_t j;
} change_t;

/* One batch on its way into PostgreSQL. */
typedef struct {
    carrot_facts_t *f;
    PGconn *pg;
    char *errstr;
    size_t errstr_size;
    carrot_facts_stats_t *st;
    change_t *chg;
    size_t nchg;
    carrot_copy_buf_t buf;
} batch_t;

/* fold.c: folds one fresh message of one of the topics into the batch, in
 * memory; then the batch's changes against its records (loaded by facts.c). */
carrot_ledger_err_t facts_fold(batch_t *b, const rd_kafka_message_t *m);
carrot_ledger_err_t facts_settle(batch_t *b);
void facts_change_free(change_t *c);

/* write.c: the batch's rows into PostgreSQL (in the caller's transaction). */
carrot_ledger_err_t facts_write(batch_t *b);

/* "out of memory" in b's errstr: FATAL. */
carrot_ledger_err_t facts_oom(batch_t *b);
/* Appends n fields as one COPY row; -1 when out of memory. */
int facts_fields(carrot_copy_buf_t *buf, const char *const *v, int n);

#endif
