/* board_int.h: what board.c (connection, queries) and apply.c (the guarded
 * write of a batch) share inside the ranking library. Not installed. */
#ifndef CARROT_BOARD_INT_H
#define CARROT_BOARD_INT_H

#include "carrot/board.h"
#include "carrot/redis.h"

#include <hiredis/hiredis.h>

/* Command arguments built into one growing buffer (offsets, not pointers:
 * the buffer moves as it grows); oom is set, and further adds ignored, when
 * memory runs out. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *off, *lens, n, ncap;
    int oom;
} carrot_args_t;
void carrot_args_add(carrot_args_t *a, const char *s, size_t len);
void carrot_args_free(carrot_args_t *a); /* its buffers; the struct is the caller's */

typedef struct carrot_apply_s carrot_apply_t; /* apply.c's scratch, kept across batches */

struct carrot_board_s {
    carrot_redis_t *redis; /* the server, or the nodes of a cluster (carrot/redis.h) */
    int timeout_ms;
    redisContext *rc; /* the connection of the call in progress: the node of its program */
    char query_sha[41];
    unsigned long conflicts;   /* transactions refused (EXEC after a watched key changed) */
    carrot_board_err_t failed; /* what the last failed command was: RETRY or FATAL */
    carrot_apply_t *apply;
    char *host; /* for the lanes' own handles */
    int port;
    int nlanes;                                          /* carrot_board_set_lanes() */
    struct carrot_board_s *lane[CARROT_BOARD_MAX_LANES]; /* [0] unused: lane 0 is this one */
    uint64_t *keys;                                      /* apply_jobs' scratch (apply.c) */
    size_t keycap;
    char *layout_program; /* the program whose records are known to be strings (record.c) */
    unsigned long layout_connects; /* ... as of this many connections */
};

/* Sets b->rc to the connection that serves key (any key of the program's
 * hash tag; NULL: any node), opening it when there is none; -1 with errstr
 * and b->failed. */
int carrot_board_connect(carrot_board_t *b, const char *key, char *errstr, size_t errstr_size);
/* Drops the connection after a transport error; the next call reconnects. */
void carrot_board_drop(carrot_board_t *b);
/* Runs argv (a call of script, or a plain command when script is NULL);
 * on a transport error drops the connection. The caller frees the reply.
 * NULL on failure, with errstr and b->failed saying whether to retry. */
redisReply *carrot_board_command(carrot_board_t *b, const char *script, int argc, const char **argv,
                                 const size_t *lens, char *errstr, size_t errstr_size);

/* Runs the loaded script sha (its file is script, for errors) with one key
 * and the arguments a; the caller frees the reply. NULL as for
 * carrot_board_command(). */
redisReply *carrot_board_script(carrot_board_t *b, const char *script, const char *sha,
                                const char *key, carrot_args_t *a, char *errstr,
                                size_t errstr_size);

/* rollup.c: when board is a week's, month's or quarter's, makes its key
 * hold the sum of its day boards as they are now (a no-op for others). */
carrot_board_err_t carrot_board_rollup(carrot_board_t *b, const char *program, const char *board,
                                       char *errstr, size_t errstr_size);

/* Whether a Redis error reply is worth retrying (loading, failover, OOM...). */
int carrot_board_retriable(const char *err);
/* The same for an error reply b's connection gave: a cluster's redirection
 * or failover also makes the slot map be read again before the next call. */
int carrot_board_retry_reply(carrot_board_t *b, const char *err);

/* apply.c: applies ev[0..n) of stream (n may be 0) and moves the watermark
 * to at least through (-1: no such); res may be NULL when n is 0. */
carrot_board_err_t carrot_board_apply_events(carrot_board_t *b, const char *program,
                                             const char *stream, const carrot_board_event_t *ev,
                                             size_t n, int64_t through, long long ttl, int64_t now,
                                             carrot_board_result_t *res, char *errstr,
                                             size_t errstr_size);
void carrot_apply_free(carrot_apply_t *ap); /* NULL is a no-op */

/* record.c: a CRM record's state, "carrot:{P}:rs:<source>:<record id>", is
 * one string: "R", then its fields p (participant), n (points earned), t
 * (type), on ("0" deleted, "1" stands), k (boards) and c (what it added to
 * commitments), in that order, each "-" when absent or "<length>:" and its
 * bytes. */
#define CARROT_RECORD_FIELDS 6
/* f[0..6) (NULL: absent) packed into buf, NUL-ended, when its length is
 * below size (else buf is left alone); returns that length. */
size_t carrot_record_pack(char *buf, size_t size, const char *const f[CARROT_RECORD_FIELDS]);
/* v[0..len) split into f and fl (f[j] NULL when absent; not NUL-ended);
 * 0 when it is not a packed record. */
int carrot_record_unpack(const char *v, size_t len, const char *f[CARROT_RECORD_FIELDS],
                         size_t fl[CARROT_RECORD_FIELDS]);
/* Makes sure the program's records are strings: once per program and
 * connection it reads carrot:{P}:layout, and when that is not "2" moves
 * every record hash an earlier version wrote (carrot:{P}:rec:...) to its
 * string, then sets it. */
carrot_board_err_t carrot_board_records_ready(carrot_board_t *b, const char *program, char *errstr,
                                              size_t errstr_size);

#endif
