/* error.h: the one error contract of Carrot's components. Every call that
 * can fail for more than one reason answers with these values (each
 * component names them in its own enum: CARROT_BOARD_RETRY ==
 * CARROT_RETRY) and fills a caller-owned errstr; only main() decides to
 * retry, stop or exit. Simple helpers that can only fail one way return 0
 * or -1, as hiredis's do. */
#ifndef CARROT_ERROR_H
#define CARROT_ERROR_H

typedef enum {
    CARROT_OK = 0,
    /* a dependency is out of reach, loading, failing over, busy or out of
     * memory, or a transaction lost a race: the same call may succeed later */
    CARROT_RETRY = 1,
    /* anything else (a bug, a script error, a reply of the wrong shape, a
     * schema mismatch): repeating the call repeats the failure, so stop */
    CARROT_FATAL = 2,
    /* fatal too, but the request or its data is at fault (unknown, refused by
     * a check or by the database): the user is told so, nothing is retried */
    CARROT_REFUSED = 3
} carrot_err_t;

#endif
