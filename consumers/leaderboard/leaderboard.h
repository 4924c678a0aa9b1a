/* leaderboard.h: the real-time leaderboards in Redis.
 *
 * Keys (every key of a program shares the hash tag {program}, so one
 * program's keys live in one Redis Cluster slot and one script can touch
 * them atomically):
 *
 *   carrot:{P}:lb:ptd               sorted set, program-to-date points by participant
 *   carrot:{P}:wm:<topic>:<part>    highest Kafka offset already applied, per partition
 *   carrot:{P}:seen:<event_id>      the first delivery of an event id ("<topic>:<part>:
 *                                   <offset>") and what it did, kept for the dedup window
 *   carrot:{P}:rec:<source>:<id>    hash: what a CRM record earned (participant p, points n,
 *                                   activity type t) and whether it stands (on), so a DELETE
 *                                   takes back exactly that and an UNDELETE restores it. A
 *                                   DELETE that overtakes its CREATE (they may sit on
 *                                   different partitions) leaves on=0, and the CREATE then
 *                                   earns nothing until an UNDELETE: totals do not depend on
 *                                   the order the two arrive in
 *
 * Exactly once: carrot_board_apply() runs one Lua script per batch of one
 * partition of one program. An increment is applied only if its offset is
 * above the partition's watermark, so a batch replayed after a crash or a
 * rebalance changes nothing, and it returns what the first run did; an event
 * id seen before at another offset is a duplicate and is neither applied nor
 * reported fresh.
 *
 * Errors: functions return 0 or -1 with errstr; a -1 is retriable (the
 * connection is dropped and re-opened on the next call). */
#ifndef CARROT_LEADERBOARD_H
#define CARROT_LEADERBOARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct carrot_board_s carrot_board_t;

/* Connects lazily: creation does not fail when Redis is down. host is copied. */
carrot_board_t *carrot_board_new(const char *host, int port, int timeout_ms);
void carrot_board_destroy(carrot_board_t *board); /* NULL is a no-op */

typedef enum {
    CARROT_BOARD_AWARD = 'A',   /* a record earns points (and the record remembers them) */
    CARROT_BOARD_REVERSE = 'D', /* a record is deleted: take back what it earned */
    CARROT_BOARD_RESTORE = 'U'  /* a record is undeleted: give it back */
} carrot_board_kind_t;

typedef struct {
    int64_t offset;             /* Kafka offset of the activity */
    const char *event_id;
    const char *participant_id; /* AWARD only */
    int64_t points;             /* AWARD only: sum of the event's awards */
    carrot_board_kind_t kind;
    const char *record;         /* "<source system>:<source record id>" */
    const char *activity_type;  /* AWARD only */
} carrot_board_event_t;

/* What an event did: fresh is 0 for a duplicate delivery. amount is what was
 * applied: an AWARD's points, or 0 when its record was already deleted; for a
 * REVERSE or RESTORE, what the record earned, with its participant and
 * activity type (0 when there was nothing to take back or give back). */
typedef struct {
    int fresh;
    int64_t amount;
    char participant_id[257];
    char activity_type[64];
} carrot_board_result_t;

/* Applies n events of one partition (stream = "<topic>:<partition>") of one
 * program, in offset order, and fills out[0..n). seen_ttl_s is the dedup
 * window in seconds. */
int carrot_board_apply(carrot_board_t *board, const char *program, const char *stream,
                       const carrot_board_event_t *events, size_t n, long long seen_ttl_s,
                       carrot_board_result_t *out, char *errstr, size_t errstr_size);

typedef struct {
    char participant_id[128];
    int64_t points;
    long rank;                  /* competition ranking: 1, 2, 2, 4 */
} carrot_board_entry_t;

/* The top n (at most max) of a program's program-to-date board. Equal points
 * share a rank; among equals, participant ids in ascending byte order. */
int carrot_board_top(carrot_board_t *board, const char *program, int n,
                     carrot_board_entry_t *out, int *noutp, char *errstr, size_t errstr_size);

/* Sum of all points on the program-to-date board, and the number of members. */
int carrot_board_total(carrot_board_t *board, const char *program, int64_t *totalp,
                       long *membersp, char *errstr, size_t errstr_size);

#endif
