/* directory.h: the participants directory in Redis: who a participant is
 * (display name, segment, team, region, tenure, level, supervisor, active,
 * hidden from screens), for the displays and the scorer to read a page of
 * 10 to 100 names in one round trip, and for supervisors' follow-up lists.
 *
 * Redis is a projection: the compacted topic carrot.participants holds the
 * latest record of every participant, and carrot-directory rebuilds the
 * directory from it. A put is idempotent and keeps the newest updated_at,
 * so replays and reordering are harmless.
 *
 * Keys. Under the program's hash tag {P}, as the boards' (board.h), so a
 * program's keys share one Redis Cluster slot and one script can move them:
 *   carrot:{P}:who:<participant>       hash: the participant's fields (the
 *                                      names of carrot_participant_t; hired_at,
 *                                      updated_at in ms; level -1 unknown)
 *   carrot:{P}:reports:<supervisor>    set: the participants whose
 *                                      supervisor_id is supervisor
 *   carrot:{P}:people                  set: every participant of the program
 *                                      (leavers too: they are active=false)
 *
 * Errors: RETRY when Redis could not be reached or asked to come back
 * (loading, busy, failing over, memory full; the connection is dropped and
 * re-opened on the next call), FATAL when the same call would fail again (an
 * invalid participant, a wrong key type, a reply of the wrong shape), with
 * errstr. Nothing here prints or exits. A directory is one connection: not
 * thread safe, one per thread. */
#ifndef CARROT_DIRECTORY_H
#define CARROT_DIRECTORY_H

#include "carrot/error.h"
#include "carrot/participant.h" /* carrot_participant_t, shared with the codec */

#include <stddef.h>
#include <stdint.h>

/* The error contract of carrot/error.h, with its values. */
typedef enum {
    CARROT_DIRECTORY_OK = CARROT_OK,
    CARROT_DIRECTORY_RETRY = CARROT_RETRY,
    CARROT_DIRECTORY_FATAL = CARROT_FATAL
} carrot_directory_err_t;

typedef struct carrot_directory_s carrot_directory_t;

/* Connects lazily (creation does not fail when Redis is down); host copied.
 * timeout_ms bounds the connect and every command. NULL when out of memory. */
carrot_directory_t *carrot_directory_new(const char *host, int port, int timeout_ms);
void carrot_directory_destroy(carrot_directory_t *dir); /* NULL is a no-op */

/* Stores p unless the directory holds a newer updated_at_ms for it (atomic;
 * *appliedp 1 when stored, 0 when older). An equal updated_at_ms stores
 * again (a replay writes the same). When the supervisor changes, the
 * participant moves from the old supervisor's reports set to the new one's.
 * p is validated (carrot_participant_validate()): an invalid one is FATAL.
 * p is borrowed for the call. */
carrot_directory_err_t carrot_directory_put(carrot_directory_t *dir, const carrot_participant_t *p,
                                            int *appliedp, char *errstr, size_t errstr_size);

/* Looks up ids[0..n) of program in one round trip; out[i].found says
 * whether each is known (an unknown one is left as carrot_participant_init()
 * makes it, with its program and participant id filled in). ids and out are
 * the caller's; out has n entries. */
carrot_directory_err_t carrot_directory_get(carrot_directory_t *dir, const char *program,
                                            const char *const *ids, size_t n,
                                            carrot_participant_t *out, char *errstr,
                                            size_t errstr_size);

/* The name a public screen shows: "hidden" when hide_from_screen, else
 * display_name, else participant_id. Points into p (or a static string). */
const char *carrot_participant_screen_name(const carrot_participant_t *p);

/* The participants whose supervisor_id is supervisor (direct reports only),
 * for the accountability component; ids written into a caller array of max
 * entries, in byte order of the ids, *np set to how many reports there are:
 * more than max means only the first max were written. */
carrot_directory_err_t carrot_directory_reports(carrot_directory_t *dir, const char *program,
                                                const char *supervisor, char (*ids)[257],
                                                size_t max, size_t *np, char *errstr,
                                                size_t errstr_size);

/* Every participant of program the directory holds, as reports() lists
 * them (byte order; *np the count, of which at most max are written). */
carrot_directory_err_t carrot_directory_people(carrot_directory_t *dir, const char *program,
                                               char (*ids)[257], size_t max, size_t *np,
                                               char *errstr, size_t errstr_size);

/* How many connections the directory has opened so far (a health check's
 * "has it ever reached Redis", and tests). */
unsigned long carrot_directory_connects(const carrot_directory_t *dir);

/* Asks Redis whether it answers (PING), connecting if need be. */
carrot_directory_err_t carrot_directory_ping(carrot_directory_t *dir, char *errstr,
                                             size_t errstr_size);

#endif
