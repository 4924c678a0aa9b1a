/* adoption.h: adoption analytics. The facts (facts.c): every CRM activity,
 * award, participant and dead letter of the activity feed folded exactly
 * once into PostgreSQL tables per program, participant, day and activity
 * type (migration 008), with each topic partition's place in the same
 * transaction. The reports (report.c): who is doing what, how much and how
 * often, per program x segment x band x team x period, as text, JSON or CSV.
 *
 * Errors are the ledger's (carrot/ledger_db.h): OK, RETRY (PostgreSQL away:
 * the same call may succeed later), FATAL, REFUSED (the request is at fault:
 * an unknown program, period, segment, band or team), each with errstr.
 * Nothing here prints or exits. PGconns passed in are borrowed for the call. */
#ifndef CARROT_ADOPTION_H
#define CARROT_ADOPTION_H

#include "carrot/ledger_db.h"
#include "carrot/rules.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* --- facts (facts.c) ----------------------------------------------------- */

/* What the facts consumer reads, by topic name. */
typedef struct {
    const char *activities;   /* crm.activities */
    const char *awards;       /* carrot.awards */
    const char *participants; /* carrot.participants */
    const char *refusals;     /* crm.activities.dlq */
} carrot_facts_topics_t;

typedef struct carrot_facts_s carrot_facts_t;

/* A fact writer for topics (copied). The rules of each program come through
 * carrot_facts_rules(); an activity of a program with no rules yet is judged
 * by no quality or timeliness rule and dated in UTC. NULL with errstr on
 * failure (out of memory, the codecs). */
carrot_facts_t *carrot_facts_new(const carrot_facts_topics_t *topics, char *errstr,
                                 size_t errstr_size);
void carrot_facts_destroy(carrot_facts_t *facts); /* NULL is a no-op */

/* Takes rules (ownership passes; the previous version of its program is
 * destroyed) and records its time zone and bands in PostgreSQL. */
carrot_ledger_err_t carrot_facts_rules(carrot_facts_t *facts, PGconn *pg, carrot_rules_t *rules,
                                       char *errstr, size_t errstr_size);

/* The next offsets kept in PostgreSQL for parts (whose offsets are set to
 * them; a partition with none stored keeps RD_KAFKA_OFFSET_BEGINNING). */
carrot_ledger_err_t carrot_facts_positions(PGconn *pg, rd_kafka_topic_partition_list_t *parts,
                                           char *errstr, size_t errstr_size);

/* What one batch did. */
typedef struct {
    long activities; /* CREATEs counted */
    long duplicates; /* an event id already applied to its record */
    long deletes;    /* DELETEs and UNDELETEs that changed a record */
    long awards, participants, refusals;
    long skipped;  /* below the stored offset: applied before (a replay, another group) */
    long unusable; /* undecodable, or no participant: counted, not applied (the scorer
                       dead-letters the same bytes) */
} carrot_facts_stats_t;

/* Folds msgs (each of one of the topics) into the facts in one transaction,
 * with the next offset of every partition they come from; a message at or
 * below its partition's stored offset is skipped. On RETRY nothing of the
 * batch was kept: seek back and read it again. */
carrot_ledger_err_t carrot_facts_apply(carrot_facts_t *facts, PGconn *pg,
                                       rd_kafka_message_t *const *msgs, size_t n,
                                       carrot_facts_stats_t *stats, char *errstr,
                                       size_t errstr_size);

/* Drops (or, with detach, detaches and keeps as a plain table) every month
 * partition of adoption_facts wholly before before_day ("2025-01-01"), and
 * the records of those days; *droppedp the partitions. */
carrot_ledger_err_t carrot_facts_drop_before(PGconn *pg, const char *before_day, int detach,
                                             int *droppedp, char *errstr, size_t errstr_size);

/* --- reports (report.c) -------------------------------------------------- */

typedef enum { CARROT_REPORT_TEXT, CARROT_REPORT_JSON, CARROT_REPORT_CSV } carrot_report_format_t;

/* One adoption report. NULL or "" filters are "all". */
typedef struct {
    const char *program;
    const char *period;  /* day, week, month, quarter */
    const char *segment; /* the activity's segment; the directory's for eligibility */
    const char *band;
    const char *team;
    const char *at; /* a day (YYYY-MM-DD) in the last period shown; NULL: today in the program's
                       time zone */
    int periods;    /* how many periods, the last holding at (1 to 104; 0: 8) */
} carrot_report_query_t;

/* Writes the adoption report of q into *outp (malloc'ed, NUL-terminated;
 * the caller frees it). Its figures, per period, oldest first: eligible,
 * active, activities (by type, per active participant), deleted, points,
 * the complete and on-time shares, the days-active distribution, the top
 * 10%'s share, quiet and new participants, each segment's figures; then the
 * last period's quiet list, the first-activity cohorts, active participants
 * per day, and the refusals per source and reason (README "Adoption"
 * documents the JSON). A period with no data is a report of zeros. */
carrot_ledger_err_t carrot_report_adoption(PGconn *pg, const carrot_report_query_t *q,
                                           carrot_report_format_t format, char **outp, char *errstr,
                                           size_t errstr_size);

#endif
