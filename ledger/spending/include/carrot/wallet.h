/* wallet.h: spending points. Redemptions reserve points (available ->
 * pending) and take one item from stock in one transaction; a fulfilment
 * books them as redeemed, a rejection returns them and the item. Expiry
 * books the points that outlived the program's policy.
 *
 * Concurrency: each call is one PostgreSQL transaction whose conditional
 * UPDATEs (stock > 0, available >= price) lock the item, then the wallet,
 * always in that order; so under any number of concurrent requests the
 * available balance never goes negative and stock never below zero, and
 * none of them deadlock.
 *
 * Every function returns a carrot_wallet_err_t and fills errstr with a
 * message for the user on anything but CARROT_WALLET_OK. */
#ifndef CARROT_LEDGER_WALLET_H
#define CARROT_LEDGER_WALLET_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CARROT_WALLET_OK = 0,
    CARROT_WALLET_REFUSED = 1, /* the request is wrong: unknown, insufficient, out of stock */
    CARROT_WALLET_ERROR = 2    /* the database failed; retrying may help */
} carrot_wallet_err_t;

/* After a spend was refused for want of points: says why in errstr,
 * "insufficient points: participant "U" has N available, needs <cost> for <what>"
 * or "unknown participant ...". Used inside the refused transaction. */
void carrot_wallet_explain_shortfall(PGconn *pg, const char *program, const char *participant,
                                     const char *what, const char *cost, char *errstr,
                                     size_t errstr_size);

/* Rolls back the open transaction and returns rc (for the refusal and error
 * paths of wallet.c and draw.c). */
carrot_wallet_err_t carrot_wallet_abort(PGconn *pg, carrot_wallet_err_t rc);

/* Adds an item or sets its name, price and stock. */
carrot_wallet_err_t carrot_wallet_catalog_set(PGconn *pg, const char *program, const char *item,
                                              const char *name, int64_t price, int64_t stock,
                                              char *errstr, size_t errstr_size);

/* Reserves item's price from participant's available points and one unit of
 * stock; *idp gets the redemption id. */
carrot_wallet_err_t carrot_wallet_redeem(PGconn *pg, const char *program, const char *participant,
                                         const char *item, int64_t *idp, char *errstr,
                                         size_t errstr_size);

/* Settles a pending redemption: fulfil (the points are spent) or reject
 * (points and stock come back; reason is recorded). */
carrot_wallet_err_t carrot_wallet_settle(PGconn *pg, int64_t redemption_id, int fulfil,
                                         const char *reason, char *errstr, size_t errstr_size);

/* Sets a program's expiry policy: points expire months after they were
 * earned (0: never). */
carrot_wallet_err_t carrot_wallet_set_expiry(PGconn *pg, const char *program, int months,
                                             char *errstr, size_t errstr_size);

/* Expires, for every participant of every program with a policy (or only
 * program, if not NULL), the available points earned before as_of minus the
 * policy, first in first out: what is available beyond what was earned since
 * that cutoff. Idempotent for a given as_of. *pointsp and *participantsp get
 * what was expired. as_of is RFC 3339 or NULL for now. */
carrot_wallet_err_t carrot_wallet_expire(PGconn *pg, const char *program, const char *as_of,
                                         long long *pointsp, long long *participantsp, char *errstr,
                                         size_t errstr_size);

#endif
