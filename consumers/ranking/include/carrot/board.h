/* board.h: the real-time leaderboards in Redis, and the guarded
 * transaction that keeps them exactly once.
 *
 * Boards. A board is named "<period>:<scope>":
 *   period  ptd | d:2026-11-22 | w:2026-W47 | m:2026-11 | q:2026-Q4   (period.h; the
 *           period that holds the activity's occurred_at, in the program's time zone)
 *   scope   all | seg:<segment> | reg:<region> | team:<team or dealer id>
 * An award is on each board of its activity: 5 periods x (all + the
 * scopes the activity names); carrot_board_plan() names them. Only the day
 * and ptd boards are written; a week, month or quarter board is the sum of
 * its day boards, rolled up when read (rollup.c: ZUNIONSTORE into its key,
 * kept until the next write to the program's day boards, at most
 * CARROT_BOARD_ROLLUP_TTL seconds), so a read of any board goes through
 * this library. A day board is kept as long as the longest keeping
 * (retention_days) of the periods that hold the day.
 *
 * Keys. Every key of a program carries the hash tag {P}, so a program's keys
 * share one Redis Cluster slot and one transaction can update them:
 *   carrot:{P}:lb:<board>           sorted set: points by participant; a day board
 *                                   expires with the longest retention_days of its
 *                                   day, week, month, quarter (ptd never); a rolled one
 *                                   is a cache (below)
 *   carrot:{P}:gen                  counter: moved by every write to the boards
 *   carrot:{P}:ru:<board>           the gen a rolled board was built at
 *   carrot:{P}:pb:<participant>     set: the boards a participant is on (for standing)
 *   carrot:{P}:boards               set: every board name written (expired ones too,
 *                                   until carrot_board_list() meets them)
 *   carrot:{P}:wm:<topic>:<part>    highest Kafka offset applied, per partition
 *   carrot:{P}:seen:<event_id>      an event's first delivery ("<topic>:<part>:<offset>") and
 *                                   what it did (points, lines), kept for the dedup window
 *   carrot:{P}:rs:<source>:<id>     string: what a CRM record earned (participant, points,
 *                                   activity type, boards) and whether it stands
 *   carrot:{P}:layout               "2" once the record hashes of earlier versions are moved
 *   carrot:{P}:cap:<kpi>:<period>:<participant>   points used of a KPI's cap
 *   carrot:{P}:goal:<goal>:<period>:<participant> count towards a goal
 *   carrot:{P}:meta                 hash: the program's time zone and rules version
 *   carrot:{P}:feed                 stream: what each transaction changed, for live
 *                                   displays (carrot_board_feed_read), about the last
 *                                   CARROT_BOARD_FEED_MAXLEN transactions
 *
 * Exactly once: carrot_board_apply() reads, settles and writes a batch of
 * one partition of one program as one Redis transaction (WATCH, MULTI, EXEC;
 * apply.c says how and why), in chunks of 200 events. An event is applied only if its offset is
 * above the partition's watermark, so a batch replayed after a crash or a
 * rebalance changes nothing and returns what the first run did; an event
 * id seen before at another offset is a duplicate and is neither applied
 * nor reported fresh. Caps and goal counters move under the same guard.
 *
 * Ranking: points descending; equal points share a rank (competition
 * ranking: 1, 2, 2, 4); among equal points, entries are listed in
 * descending participant id byte order (Redis's own order, so every query
 * and every page agree).
 *
 * Errors: functions return a carrot_board_err_t with errstr: RETRY when
 * Redis could not be reached or asked to come back (the connection is
 * dropped and re-opened on the next call), FATAL when the same call would
 * fail again: a command that failed inside the transaction or a wrong key
 * type met by it (errstr "Redis error in <command> <key>: " and Redis's own
 * message), a query script's runtime error (errstr starts "query.lua:N: ",
 * the line Redis calls "user_script:N"), a reply of the wrong shape. A
 * caller retries RETRY and stops on FATAL; a transaction that failed half
 * way has left its other writes (EXEC does not roll back), so retrying it
 * blindly is wrong.
 * Nothing here prints or exits. */
#ifndef CARROT_BOARD_H
#define CARROT_BOARD_H

#include "carrot/activity.h"
#include "carrot/error.h"
#include "carrot/rules.h"

#include <stddef.h>
#include <stdint.h>

/* The error contract of carrot/error.h, with its values. */
typedef enum {
    CARROT_BOARD_OK = CARROT_OK,
    CARROT_BOARD_RETRY = CARROT_RETRY, /* unreachable, loading, failing over, memory full */
    CARROT_BOARD_FATAL = CARROT_FATAL  /* the same call fails again: stop */
} carrot_board_err_t;

typedef struct carrot_board_s carrot_board_t;

/* Connects lazily: creation does not fail when Redis is down. host is copied. */
carrot_board_t *carrot_board_new(const char *host, int port, int timeout_ms);
void carrot_board_destroy(carrot_board_t *board); /* NULL is a no-op */

/* Whether a board name is a week's, month's or quarter's (rolled up from
 * the day boards when read; "w:...", "m:...", "q:..."). */
int carrot_board_rolled(const char *board_name);

/* Seconds a rolled-up board is kept as a cache after it is built. */
#define CARROT_BOARD_ROLLUP_TTL 600

/* The Redis key of a board: "carrot:{<program>}:lb:<board>". */
void carrot_board_key(char *buf, size_t size, const char *program, const char *board);

typedef enum {
    CARROT_BOARD_AWARD = 'A',   /* a record earns points (and the record remembers them) */
    CARROT_BOARD_REVERSE = 'D', /* a record is deleted: take back what it earned */
    CARROT_BOARD_RESTORE = 'U'  /* a record is undeleted: give it back */
} carrot_board_kind_t;

/* --- where an award goes ------------------------------------------------ */

#define CARROT_BOARD_MAX_BOARDS (CARROT_PERIOD_COUNT * 4)

typedef struct {
    char name[300];    /* "w:2026-W47:seg:dealer" */
    int64_t expire_at; /* Unix seconds; 0: never (or rolled) */
    int rolled;        /* a week, month or quarter board: rolled up from day boards on read */
} carrot_board_ref_t;

/* The boards of an award, and the keys of its cap and goal counters. */
typedef struct {
    int nboards;
    carrot_board_ref_t boards[CARROT_BOARD_MAX_BOARDS];
    char cap_key[400]; /* "" when the KPI has no cap; "cap:<kpi>:<period id>:<participant>" */
    int64_t cap_expire_at;
    char goal_keys[CARROT_RULES_MAX_GOALS][400]; /* per sc->goals[]: "goal:<goal>:<period>:<who>" */
    char goal_rules[CARROT_RULES_MAX_GOALS][CARROT_RULE_ID_MAX + 8]; /* "goal.<goal>" */
    int64_t goal_expire_at[CARROT_RULES_MAX_GOALS];
    /* per sc->commits[]: the hash of the commitment's period, whose fields
     * are "n\x1f<participant>" (the figure) and "d\x1f<participant>" (records
     * judged, for the shares): carrot_commit_key() */
    char commit_keys[CARROT_RULES_MAX_COMMITS][96];
    int64_t commit_expire_at[CARROT_RULES_MAX_COMMITS];
} carrot_plan_t;

/* "cm:<commitment>:<period id>" into buf: the key (after the program's
 * prefix) of a commitment's figures for one period ("2026-W47"). */
void carrot_commit_key(char *buf, size_t size, const char *commitment, const char *period_id);

/* Fills plan with the boards an award of activity a adds to (each period of
 * occurred_at in the rules' time zone, for all and for each scope a names,
 * expiring retention_days after the period ends) and, for sc (may be NULL:
 * boards only), the keys of its cap and goal counters. FATAL if the time
 * zone cannot be used. */
carrot_board_err_t carrot_board_plan(const carrot_rules_t *rules, const carrot_activity_t *a,
                                     const carrot_scoring_t *sc, carrot_plan_t *plan, char *errstr,
                                     size_t errstr_size);

/* --- applying events ------------------------------------------------------ */

/* One event to apply, by pointer: nothing is copied, everything pointed to
 * is the caller's and must outlive the call. */
typedef struct {
    int64_t offset; /* Kafka offset of the activity (or a back-fill sequence) */
    carrot_board_kind_t kind;
    const char *event_id; /* the activity's, or a back-fill's own */
    /* never NULL: its participant and type (either may be "" for a REVERSE or
     * RESTORE) and its CRM record "<source system>:<source record id>" */
    const carrot_activity_t *activity;
    const char *version; /* rules version, kept with the outcome */
    /* AWARD only; scoring NULL when the event earns and counts for nothing: */
    const carrot_scoring_t *scoring; /* lines before caps and goals; the cap; the goals */
    const carrot_plan_t *plan;       /* with scoring: its boards and counter keys */
} carrot_board_event_t;

/* What an event did, filled in place by carrot_board_apply() (about 7 KB:
 * point to it where it was filled rather than copy it). fresh is 0 for a
 * duplicate delivery. amount is what was applied to the boards: the sum of
 * lines for an AWARD (0 when its record was already deleted), or what the
 * record earned for a REVERSE (negative) or RESTORE. lines are the settled
 * award lines (caps and goals included; "reversal" or "restore" for those
 * kinds), participant, type and version those of the first delivery. */
typedef struct {
    int fresh;
    int64_t amount;
    char participant_id[257];
    char activity_type[64];
    char version[208];
    int nlines;
    carrot_score_t lines[CARROT_RULES_MAX_LINES];
} carrot_board_result_t;

/* Applies n events of one partition (stream = "<topic>:<partition>") of one
 * program, in offset order, and fills out[0..n). seen_ttl_s is the dedup
 * window in seconds; now_s the current Unix time (boards whose retention
 * has passed are not touched by reversals). */
carrot_board_err_t carrot_board_apply(carrot_board_t *board, const char *program,
                                      const char *stream, const carrot_board_event_t *events,
                                      size_t n, long long seen_ttl_s, int64_t now_s,
                                      carrot_board_result_t *out, char *errstr, size_t errstr_size);

/* One partition's share of a batch for carrot_board_apply_jobs(): its
 * events (n may be 0) as for carrot_board_apply(), filling res[0..n), and
 * through, the offset its watermark moves to at least (-1: none; see
 * carrot_board_advance()). Nothing here is copied: all of it must outlive
 * the call. */
typedef struct {
    const char *stream;
    const carrot_board_event_t *events;
    size_t n;
    int64_t through;
    carrot_board_result_t *res;
} carrot_board_job_t;

/* Applies jobs[0..njobs) of one program, each exactly as carrot_board_apply()
 * then carrot_board_advance() would, over the handle's lanes (below): while
 * Redis writes one partition's chunk, the next is settled here. Jobs that
 * share a participant, a CRM record or an event id run one after another in
 * their order, as one lane would. On failure some jobs may be applied and
 * others not, as with a crash: applying the batch again is safe. */
carrot_board_err_t carrot_board_apply_jobs(carrot_board_t *board, const char *program,
                                           const carrot_board_job_t *jobs, size_t njobs,
                                           long long seen_ttl_s, int64_t now_s, char *errstr,
                                           size_t errstr_size);

/* How many Redis connections carrot_board_apply_jobs() spreads its jobs
 * over (1 to CARROT_BOARD_MAX_LANES; 1 when not set): more than one lets
 * this process settle a chunk while Redis writes another. Each lane opens
 * its own connection, lazily. */
#define CARROT_BOARD_MAX_LANES 8
void carrot_board_set_lanes(carrot_board_t *board, int lanes);

/* Opens the lanes' connections for program now (errors are met again when
 * used). A lane joins carrot_board_apply_jobs() only over a connection it
 * already had: one it opens itself waits for the next call, as Redis may
 * have lost writes since the caller last checked it against Kafka (call
 * this before that check, so the first batches already use every lane). */
void carrot_board_open_lanes(carrot_board_t *board, const char *program);

/* Moves the watermark of stream to through (never back): for a batch whose
 * last messages on the partition were not the program's (another program's,
 * dead letters), so the watermark keeps pace with the committed offset and
 * a repair (below) replays only what was really lost. */
carrot_board_err_t carrot_board_advance(carrot_board_t *board, const char *program,
                                        const char *stream, int64_t through, char *errstr,
                                        size_t errstr_size);

/* The watermark of stream: the highest offset applied, -1 when none. A
 * watermark below the scorers' committed offset means Redis lost writes
 * Kafka kept (a host crash under appendfsync everysec, an older copy
 * restored, an empty Redis): the range between is replayed into Redis. */
carrot_board_err_t carrot_board_watermark(carrot_board_t *board, const char *program,
                                          const char *stream, int64_t *wmp, char *errstr,
                                          size_t errstr_size);

/* How many of the handle's transactions Redis refused because another
 * writer changed what they had read (each was read and settled again). */
unsigned long carrot_board_conflicts(const carrot_board_t *board);

/* How many connections the handle has opened so far, all its lanes': when
 * it grows, Redis may have restarted, and may have come back behind Kafka. */
unsigned long carrot_board_connects(const carrot_board_t *board);

/* Records the program's time zone and rules version for readers. */
carrot_board_err_t carrot_board_set_meta(carrot_board_t *board, const char *program,
                                         const char *timezone, const char *version, char *errstr,
                                         size_t errstr_size);
/* Reads them; tz and version get "" when unset. */
carrot_board_err_t carrot_board_get_meta(carrot_board_t *board, const char *program, char *tz,
                                         size_t tz_size, char *version, size_t version_size,
                                         char *errstr, size_t errstr_size);

typedef struct {
    char board[160]; /* set by carrot_board_standing() */
    char participant_id[257];
    int64_t points;
    long rank; /* competition ranking: 1, 2, 2, 4 */
    long size; /* carrot_board_standing(): members on the board */
} carrot_board_entry_t;

/* Entries start..start+max-1 (0-based positions) of a board. */
carrot_board_err_t carrot_board_range(carrot_board_t *board, const char *program,
                                      const char *board_name, long start, int max,
                                      carrot_board_entry_t *out, int *noutp, char *errstr,
                                      size_t errstr_size);
/* The top n. */
carrot_board_err_t carrot_board_top(carrot_board_t *board, const char *program,
                                    const char *board_name, int n, carrot_board_entry_t *out,
                                    int *noutp, char *errstr, size_t errstr_size);
/* The participant and up to k entries either side (out holds 2k+1); *noutp
 * is 0 when the participant is not on the board. */
carrot_board_err_t carrot_board_around(carrot_board_t *board, const char *program,
                                       const char *board_name, const char *participant, int k,
                                       carrot_board_entry_t *out, int *noutp, char *errstr,
                                       size_t errstr_size);
/* A participant's points and rank on every board they are on (at most max). */
carrot_board_err_t carrot_board_standing(carrot_board_t *board, const char *program,
                                         const char *participant, int max,
                                         carrot_board_entry_t *out, int *noutp, char *errstr,
                                         size_t errstr_size);

/* Points of ids[0..n) on a board, in one round trip: points[i], and
 * present[i] 0 when ids[i] is not on it (points[i] then 0). */
carrot_board_err_t carrot_board_scores(carrot_board_t *board, const char *program,
                                       const char *board_name, const char *const *ids, size_t n,
                                       int64_t *points, int *present, char *errstr,
                                       size_t errstr_size);

/* Called per board of a program by carrot_board_list(), name and member
 * count; name is valid during the call. Non-zero stops the listing. */
typedef int (*carrot_board_name_cb)(void *opaque, const char *name, long members);

/* The program's boards that exist now (from its board index; names of
 * boards that have expired are dropped from the index on the way), in name
 * order, at most max. */
carrot_board_err_t carrot_board_list(carrot_board_t *board, const char *program, int max,
                                     carrot_board_name_cb on_board, void *opaque, char *errstr,
                                     size_t errstr_size);

/* How many participants are on a board (0 when it does not exist). */
carrot_board_err_t carrot_board_members(carrot_board_t *board, const char *program,
                                        const char *board_name, long *membersp, char *errstr,
                                        size_t errstr_size);

/* Whether the program has boards in this Redis: a scorer recorded its meta
 * hash, or a transaction (a scorer's, a back-fill's) named a board. */
carrot_board_err_t carrot_board_program_known(carrot_board_t *board, const char *program,
                                              int *knownp, char *errstr, size_t errstr_size);

/* Called per participant by carrot_board_commit_figures(): the figure and,
 * for the shares, the records judged; who is valid during the call.
 * Non-zero stops the reading. */
typedef int (*carrot_commit_figure_cb)(void *opaque, const char *who, int64_t figure,
                                       int64_t judged);

/* Every participant's figure of a commitment in one period (its hash
 * "cm:<commitment>:<period id>", read in pages with HSCAN so a program of
 * 100,000 people does not hold Redis up). A participant may be reported
 * twice (once per field): the callback adds, it does not assign; figure
 * and judged are 0 for the field not reported. */
carrot_board_err_t carrot_board_commit_figures(carrot_board_t *board, const char *program,
                                               const char *commitment, const char *period_id,
                                               carrot_commit_figure_cb cb, void *opaque,
                                               char *errstr, size_t errstr_size);

/* Sum of all points on a board, and the number of members. */
carrot_board_err_t carrot_board_total(carrot_board_t *board, const char *program,
                                      const char *board_name, int64_t *totalp, long *membersp,
                                      char *errstr, size_t errstr_size);

/* --- the feed: what the boards' transactions changed ------------------- */

/* Every transaction of carrot_board_apply() that moved points appends one
 * entry to the program's feed stream, in the same MULTI/EXEC: so an entry
 * exists exactly when its points are on the boards, and a batch replayed
 * after a crash (which applies nothing) appends nothing. Its id is Redis's
 * stream id ("<ms>-<seq>"), increasing. The stream is capped near this
 * many entries; a reader that falls further behind starts again from a
 * snapshot of the boards. */
#define CARROT_BOARD_FEED_MAXLEN 10000
#define CARROT_BOARD_FEED_ID_MAX 48

/* The award lines a feed entry carries for screens to celebrate: the goals
 * an event reached, and a commitment's close adds met and streak. */
#define CARROT_BOARD_MAX_CELEBRATIONS (CARROT_RULES_MAX_GOALS + 2)

/* One participant's change in a feed entry: points moved (an award, or a
 * reversal when negative) and the lines worth celebrating: "goal.<id>",
 * "commit.<id>.met", "commit.<id>.streak" (never a miss: a penalty is the
 * supervisor's business, not the office TV's), each with its points.
 * Strings are valid during the callback only. */
typedef struct {
    const char *participant_id;
    int64_t points;
    const char *activity_type;
    int ncelebrations;
    const char *celebration_rule[CARROT_BOARD_MAX_CELEBRATIONS];
    int64_t celebration_points[CARROT_BOARD_MAX_CELEBRATIONS];
} carrot_board_change_t;

/* Called per feed entry, in id order. A scorer's entry has its changes
 * (post NULL), source "<topic>:<partition>:<offset>", the highest offset
 * of the transaction. A celebration posted with carrot_board_feed_post has
 * no changes (n 0), source "notify" and post its JSON text. Non-zero stops
 * the read (FATAL, errstr "stopped"). */
typedef int (*carrot_board_feed_cb)(void *opaque, const char *id, const char *source,
                                    const carrot_board_change_t *changes, size_t n,
                                    const char *post);

/* Reads up to max entries after id after_id ("0" or "" from the oldest;
 * "$" is not accepted: use carrot_board_feed_last), waiting up to
 * block_ms (0: no wait) for one to arrive, and calls on_entry for each.
 * *gapp (may be NULL) is set to 1 when entries after after_id have been
 * trimmed away, so the caller missed some and should take a snapshot. */
carrot_board_err_t carrot_board_feed_read(carrot_board_t *board, const char *program,
                                          const char *after_id, int block_ms, int max,
                                          carrot_board_feed_cb on_entry, void *opaque, int *gapp,
                                          char *errstr, size_t errstr_size);

/* Posts a celebration to the program's screens: appends json (carrot-notify's
 * display channel: an object with kind, title, text) to the feed, once per
 * key. A post repeated with the same key (a delivery retried after a crash)
 * appends nothing: *postedp (may be NULL) is 1 when this call appended it,
 * 0 when the key was posted before. Keys are kept CARROT_BOARD_POST_KEEP_S;
 * a key is at most CARROT_BOARD_POST_KEY_MAX bytes of printable ASCII. */
#define CARROT_BOARD_POST_KEEP_S (14 * 86400)
#define CARROT_BOARD_POST_KEY_MAX 200
carrot_board_err_t carrot_board_feed_post(carrot_board_t *board, const char *program,
                                          const char *key, const char *json, int *postedp,
                                          char *errstr, size_t errstr_size);

/* The id of the newest feed entry into id (CARROT_BOARD_FEED_ID_MAX bytes);
 * "0-0" when the feed is empty. */
carrot_board_err_t carrot_board_feed_last(carrot_board_t *board, const char *program, char *id,
                                          char *errstr, size_t errstr_size);

/* --- reconciling ------------------------------------------------------- */

/* Called per participant of a snapshot; participant is valid during the
 * call. Non-zero stops the snapshot (FATAL with errstr "stopped"). */
typedef int (*carrot_board_entry_cb)(void *opaque, const char *participant, int64_t points);

/* Reads every participant's program-to-date points (board "ptd:all") and
 * the watermarks of streams[0..n) (wm[i]: the highest offset applied from
 * streams[i], -1 when none) in one MULTI/EXEC, so the points are exactly
 * the effect of what the watermarks say was applied. For carrot-ledger
 * reconcile, which holds the ledger against them. */
carrot_board_err_t carrot_board_snapshot(carrot_board_t *board, const char *program,
                                         const char *const *streams, int n, int64_t *wm,
                                         carrot_board_entry_cb on_entry, void *opaque, char *errstr,
                                         size_t errstr_size);

#endif
