/* commitments.h: accountability. What each participant committed to for a
 * period (the rules' commitments, carrot/rules.h, with the targets their
 * supervisors set and their acknowledgments, kept as an audit trail in
 * PostgreSQL), live pacing against the figures the scorer counts in Redis
 * (carrot/board.h), the close of a period (each commitment of each
 * participant settled met or missed exactly once, its consequences booked as
 * awards through the boards and the awards topic), and the supervisors'
 * follow-up list of the misses.
 *
 * Errors are the ledger's (carrot/ledger_db.h): OK, RETRY (PostgreSQL,
 * Redis or Kafka away: the same call may succeed later), FATAL, REFUSED (the
 * request is at fault: unknown participant, not their supervisor, nothing to
 * follow up), each with errstr. Nothing here prints or exits. The PGconn,
 * board, directory and producer passed in are borrowed for the call. */
#ifndef CARROT_COMMITMENTS_H
#define CARROT_COMMITMENTS_H

#include "carrot/board.h"
#include "carrot/codec.h"
#include "carrot/directory.h"
#include "carrot/ledger_db.h"
#include "carrot/rules.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* --- pacing (pace.c): pure arithmetic ----------------------------------- */

typedef enum {
    CARROT_PACE_ON_TRACK, /* at or above what is due by now */
    CARROT_PACE_BEHIND,   /* below it */
    CARROT_PACE_MET,      /* a count or points reached; a share, once the period is over */
    CARROT_PACE_MISSED    /* the period is over and it was not met */
} carrot_pace_state_t;

typedef struct {
    int64_t figure, judged, target;
    /* counts and points: what is due by now, target times the elapsed share
     * of the period (rounded down); shares: the target percent */
    int64_t expected;
    int share_pct;  /* shares: 100 * figure / judged, rounded down; -1 when nothing judged */
    double elapsed; /* 0 to 1: (now - start) / (end - start), in real time */
    carrot_pace_state_t state;
} carrot_pace_t;

/* Paces figure (and judged, for the shares) against target in the period
 * [start_ms, end_ms) at now_ms. The period's bounds are local midnights in
 * the program's time zone (carrot_period_span()), so a week with a DST
 * change is 167 or 169 hours long and due grows with real time. A share with
 * nothing judged is on track during the period and missed after it. */
void carrot_pace(carrot_commit_metric_t metric, int64_t target, int64_t figure, int64_t judged,
                 int64_t start_ms, int64_t end_ms, int64_t now_ms, carrot_pace_t *out);
const char *carrot_pace_state_name(carrot_pace_state_t state); /* "on_track", ... */
/* Whether a final figure meets target (counts and points: at least target;
 * shares: something judged and at least target percent of it good). */
int carrot_commit_is_met(carrot_commit_metric_t metric, int64_t target, int64_t figure,
                         int64_t judged);

/* --- terms: targets set and acknowledged (store.c) ---------------------- */

typedef struct {
    int64_t target;             /* in force: the latest set, else the rules' */
    char set_by[257];           /* who set it; "" for the rules' default */
    int64_t set_at_ms;          /* 0: never set */
    int64_t acknowledged_at_ms; /* when the target in force was acknowledged; 0: it is not */
} carrot_commit_terms_t;

/* Records that supervisor by sets participant's target of commitment (an
 * added row: nothing is edited in place). The caller checks who by is. */
carrot_ledger_err_t carrot_commit_set(PGconn *pg, const char *program, const char *commitment,
                                      const char *participant, int64_t target, const char *by,
                                      const char *note, char *errstr, size_t errstr_size);

/* Records participant's acknowledgment ("I understand and I will do that")
 * of target, the one in force. */
carrot_ledger_err_t carrot_commit_acknowledge(PGconn *pg, const char *program,
                                              const char *commitment, const char *participant,
                                              int64_t target, char *errstr, size_t errstr_size);

/* Called per participant with recorded terms; participant and t are valid
 * during the call. Non-zero stops. */
typedef int (*carrot_commit_terms_cb)(void *opaque, const char *participant,
                                      const carrot_commit_terms_t *t);

/* The terms recorded for commitment (of participant, or of everyone when
 * NULL), with default_target where no target was set. */
carrot_ledger_err_t carrot_commit_terms(PGconn *pg, const char *program, const char *commitment,
                                        const char *participant, int64_t default_target,
                                        carrot_commit_terms_cb cb, void *opaque, char *errstr,
                                        size_t errstr_size);

/* --- pacing of people (pacing.c) --------------------------------------- */

typedef struct {
    const carrot_participant_t *who; /* from the directory */
    const carrot_commitment_t *commitment;
    const char *period; /* "w:2026-W49" */
    int64_t period_start_ms, period_end_ms;
    const carrot_commit_terms_t *terms; /* the target in force, who set it, acknowledged */
    carrot_pace_t pace;
    /* as the period before ended (0 and 0 when it was not closed): periods
     * met in a row (the streak), periods missed in a row */
    int streak, misses;
} carrot_pacing_row_t; /* everything valid during the call only */

typedef int (*carrot_pacing_cb)(void *opaque, const carrot_pacing_row_t *row);

/* Where people[0..n) (NULL: every participant of the directory) stand on
 * commitment i in period, which runs [start_ms, end_ms) (as
 * carrot_period_span() or carrot_period_of_id() give them: the caller
 * computes them, because carrot/period.h is not thread-safe), at now_ms;
 * for those it holds, in the order given (the directory's for NULL). */
carrot_ledger_err_t carrot_commit_pacing(PGconn *pg, carrot_board_t *board, carrot_directory_t *dir,
                                         const carrot_rules_t *rules, int i, const char *period,
                                         int64_t start_ms, int64_t end_ms, int64_t now_ms,
                                         const char *const *people, size_t n, carrot_pacing_cb cb,
                                         void *opaque, char *errstr, size_t errstr_size);

/* --- the close (close.c) ------------------------------------------------- */

typedef struct {
    PGconn *pg;
    carrot_board_t *board;       /* the figures, and the consequences' boards */
    carrot_directory_t *dir;     /* who is held, and their supervisors */
    rd_kafka_t *producer;        /* transactional (carrot_kafka_txn_producer_new) */
    carrot_codec_t *award_codec; /* carrot_award_codec_new() */
    const char *awards_topic;
    const carrot_rules_t *rules;
    int commitment;     /* index in the rules */
    const char *period; /* "w:2026-W47" */
    int64_t now_ms;     /* the wall clock */
    int64_t grace_ms;   /* late records a period waits for after its end */
    long long seen_ttl; /* seconds Redis remembers the consequences (a rerun applies none twice) */
    volatile sig_atomic_t *stop;
} carrot_close_opts_t;

typedef struct {
    long held;        /* participants held to the commitment */
    long settled;     /* settled by this run */
    long already;     /* settled before (a rerun) */
    long met, missed; /* as settled (by this run or before) */
    long booked;      /* consequence awards produced by this run (replays included) */
    int64_t points;   /* their sum */
    long late;        /* already settled, whose figure in Redis changed since */
} carrot_close_report_t;

/* Closes one commitment for one period: REFUSED while the period and its
 * grace are not over. Who is held: every active participant of the
 * directory the commitment holds by default (segment, team, region, tenure
 * at the period's end), and everyone a supervisor set a target for. Each is
 * settled from the scorer's figure in one INSERT ... ON CONFLICT DO NOTHING
 * (a rerun, or a second closer, settles nobody twice; a figure that changed
 * after the close is counted in report->late, and the settlement stands).
 * Then the consequences of every settlement not yet booked (bonus when met,
 * penalty when missed, the streak bonus every streak_periods met in a row)
 * are applied to the boards and produced as awards in one Kafka transaction
 * per chunk (award ids "commit:<commitment>:<period>:<who>/<rule>", so the
 * ledger books each once), and marked booked. Killed at any instant, a
 * rerun ends in the same state. */
carrot_ledger_err_t carrot_commit_close(const carrot_close_opts_t *opts,
                                        carrot_close_report_t *report, char *errstr,
                                        size_t errstr_size);

/* --- a supervisor's team (team.c) --------------------------------------- */

/* Everyone under supervisor in the directory, every level down (a regional
 * manager's supervisors and their people), in breadth-first order, into
 * *idsp (*np of them; free with carrot_commit_team_free). REFUSED when there
 * are more than max. */
carrot_ledger_err_t carrot_commit_team(carrot_directory_t *dir, const char *program,
                                       const char *supervisor, size_t max, char ***idsp, size_t *np,
                                       char *errstr, size_t errstr_size);
void carrot_commit_team_free(char **ids, size_t n);

/* --- follow-ups (followup.c) ------------------------------------------- */

typedef struct {
    const char *participant, *supervisor, *commitment, *period; /* valid during the call */
    int64_t figure, judged, target;
    int misses; /* periods missed in a row */
    const char *set_by;
    int64_t acknowledged_at_ms;                  /* 0: never acknowledged */
    long followups;                              /* follow-ups recorded */
    const char *last_kind, *last_note, *last_on; /* the latest one ("" when none) */
} carrot_followup_row_t;

typedef int (*carrot_followup_cb)(void *opaque, const carrot_followup_row_t *row);

/* The misses of people[0..n) of the rules' commitments in period (those of
 * its kind; NULL: each commitment's latest closed period), most consecutive
 * misses first, then by participant and commitment. */
carrot_ledger_err_t carrot_commit_followups(PGconn *pg, const carrot_rules_t *rules,
                                            const char *period, const char *const *people, size_t n,
                                            carrot_followup_cb cb, void *opaque, char *errstr,
                                            size_t errstr_size);

typedef struct {
    const char *supervisor; /* valid during the call */
    long misses, followed_up;
} carrot_followup_rate_t;

typedef int (*carrot_followup_rate_cb)(void *opaque, const carrot_followup_rate_t *rate);

/* Per direct supervisor of people[0..n): their reports' misses in period
 * (NULL: as above) and how many of them were followed up. */
carrot_ledger_err_t carrot_commit_followup_rates(PGconn *pg, const carrot_rules_t *rules,
                                                 const char *period, const char *const *people,
                                                 size_t n, carrot_followup_rate_cb cb, void *opaque,
                                                 char *errstr, size_t errstr_size);

/* Records that by followed up participant's miss of commitment in period:
 * kind "reminder", "discussion" or "note", a note, held_on ("YYYY-MM-DD";
 * NULL: today). REFUSED when there is no such settlement or it was met. */
carrot_ledger_err_t carrot_commit_followup_add(PGconn *pg, const char *program,
                                               const char *commitment, const char *period,
                                               const char *participant, const char *by,
                                               const char *kind, const char *note,
                                               const char *held_on, char *errstr,
                                               size_t errstr_size);

#endif
