/* spending.h: what happens to booked points: wallets (redemptions and
 * expiry), spin to win, the reports and the audit. Every function that can
 * fail returns a carrot_ledger_err_t (ledger_db.h) and fills errstr with a
 * message for the user on anything but CARROT_LEDGER_OK; REFUSED means the
 * request is wrong (unknown, insufficient points, out of stock, a check
 * failed). Nothing here prints to stdout: the reports write to the stream
 * they are given, the rest hand their results back. */
#ifndef CARROT_SPENDING_H
#define CARROT_SPENDING_H

#include "carrot/ledger_db.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- wallets (wallet.c) ---
 * Redemptions reserve points (available -> pending) and take one item from
 * stock in one transaction; a fulfilment books them as redeemed, a rejection
 * returns them and the item. Expiry books the points that outlived the
 * program's policy.
 *
 * Concurrency: each call is one PostgreSQL transaction whose conditional
 * UPDATEs (stock > 0, available >= price) lock the item, then the wallet,
 * always in that order; so under any number of concurrent requests the
 * available balance never goes negative and stock never below zero, and
 * none of them deadlock. */

/* Adds an item or sets its name, price and stock. */
carrot_ledger_err_t carrot_wallet_catalog_set(PGconn *pg, const char *program, const char *item,
                                              const char *name, int64_t price, int64_t stock,
                                              char *errstr, size_t errstr_size);

/* Reserves item's price from participant's available points and one unit of
 * stock; *idp gets the redemption id. */
carrot_ledger_err_t carrot_wallet_redeem(PGconn *pg, const char *program, const char *participant,
                                         const char *item, int64_t *idp, char *errstr,
                                         size_t errstr_size);

/* Settles a pending redemption: fulfil (the points are spent) or reject
 * (points and stock come back; reason is recorded). */
carrot_ledger_err_t carrot_wallet_settle(PGconn *pg, int64_t redemption_id, int fulfil,
                                         const char *reason, char *errstr, size_t errstr_size);

/* Sets a program's expiry policy: points expire months after they were
 * earned (0: never). */
carrot_ledger_err_t carrot_wallet_set_expiry(PGconn *pg, const char *program, int months,
                                             char *errstr, size_t errstr_size);

/* Expires, for every participant of every program with a policy (or only
 * program, if not NULL), the available points earned before as_of minus the
 * policy, first in first out: what is available beyond what was earned since
 * that cutoff. Idempotent for a given as_of. *pointsp and *participantsp get
 * what was expired. as_of is RFC 3339 or NULL for now. */
carrot_ledger_err_t carrot_wallet_expire(PGconn *pg, const char *program, const char *as_of,
                                         long long *pointsp, long long *participantsp, char *errstr,
                                         size_t errstr_size);

/* --- spin to win (draw.c) ---
 * A sweepstakes is created with the SHA-256 of a secret seed (the
 * commitment), published before any entry is bought. Participants buy
 * entries with points. Closing it ends the entries and stores the SHA-256 of
 * the entry list (the lines "<entry number>:<participant id>\n" in entry
 * order), published too. The draw reveals the seed; it must hash to the
 * commitment, and each entry's outcome follows from the seed and the closed
 * list:
 *
 *   r = first 8 bytes, big-endian, of HMAC-SHA256(key = seed,
 *         message = "<sweepstakes id>:<entry list sha256 hex>:<entry number>")
 *   outcome = the prize whose cumulative weight range holds r mod (sum of weights)
 *
 * so anyone with the seed and the entry list can re-check every result
 * (`carrot-ledger verify --sweepstakes ID`), and the holder of the seed alone
 * cannot know which entry numbers win before the list is closed. A draw made
 * before the close step existed (no entry list hash) used the message
 * "<sweepstakes id>:<entry number>". A prize with "prize": null is a losing
 * segment of the wheel; a prize with "points" credits them. */

/* The outcome of one entry: an index into weights[0..n). Pure function.
 * entries_sha256 is the closed entry list's hash (hex), or NULL for the
 * formula of draws made before it existed. */
int carrot_draw_outcome(const char *seed, const char *sweepstakes_id, const char *entries_sha256,
                        int entry_no, const int64_t *weights, int n);

/* The lowercase hex SHA-256 of the sweepstakes' entry list as stored now
 * (see above); *countp, when not NULL, gets the number of entries. */
carrot_ledger_err_t carrot_draw_entries_sha256(PGconn *pg, const char *program, const char *id,
                                               char out[65], long long *countp, char *errstr,
                                               size_t errstr_size);

/* Lowercase hex SHA-256 of text (65 bytes with the NUL). */
void carrot_draw_sha256_hex(const char *text, char out[65]);

/* Creates a sweepstakes. prizes_json: [{"prize": "e-bike"|null, "weight": N,
 * "points": N?}, ...]. A new random seed is written to seed_file (mode 0600,
 * refused if it exists) and fsynced with its directory before only its hash
 * is stored; commitment gets that hash, to be published. */
carrot_ledger_err_t carrot_draw_create(PGconn *pg, const char *program, const char *id,
                                       const char *name, int64_t entry_cost,
                                       const char *prizes_json, const char *seed_file,
                                       char commitment[65], char *errstr, size_t errstr_size);

/* Buys n entries for participant: n * entry cost leaves the wallet. *firstp
 * gets the first entry number. */
carrot_ledger_err_t carrot_draw_enter(PGconn *pg, const char *program, const char *id,
                                      const char *participant, int n, int *firstp, char *errstr,
                                      size_t errstr_size);

/* Closes an open sweepstakes to entries and stores the entry list's hash;
 * *entriesp gets the number of entries and entries_sha256 the hash, to be
 * published before the draw. */
carrot_ledger_err_t carrot_draw_close(PGconn *pg, const char *program, const char *id,
                                      long long *entriesp, char entries_sha256[65], char *errstr,
                                      size_t errstr_size);

/* Called by carrot_draw_run() for each winning entry, in entry order, before
 * the draw commits; participant and prize are valid during the call. points
 * is what the prize credits (0 for none). */
typedef void (*carrot_draw_winner_cb)(void *opaque, int entry, const char *participant,
                                      const char *prize, int64_t points);

/* Draws a closed sweepstakes with the seed read from seed_file (refused when
 * group or others may access the file): checks the seed against the
 * commitment and the entry list against its hash, stores every entry's
 * outcome and the seed, books points prizes and reports each winner to
 * on_winner (may be NULL). *entriesp and *winnersp get the counts; seed the
 * seed, revealed once this returns OK. */
carrot_ledger_err_t carrot_draw_run(PGconn *pg, const char *program, const char *id,
                                    const char *seed_file, carrot_draw_winner_cb on_winner,
                                    void *opaque, int *entriesp, int *winnersp, char seed[65],
                                    char *errstr, size_t errstr_size);

/* Re-checks a drawn sweepstakes from its stored seed and entries. Returns OK
 * when the seed matches the commitment, the entry list its hash, and every
 * stored outcome is what they give; REFUSED with the first difference
 * otherwise. */
carrot_ledger_err_t carrot_draw_verify(PGconn *pg, const char *program, const char *id,
                                       long long *entriesp, long long *winnersp, char *errstr,
                                       size_t errstr_size);

/* --- reports (report.c): a participant's balances and statement, and the
 * points outstanding per program (the liability), written to out. REFUSED
 * when the participant is unknown. --- */

carrot_ledger_err_t carrot_report_balance(PGconn *pg, const char *program, const char *participant,
                                          FILE *out, char *errstr, size_t errstr_size);
carrot_ledger_err_t carrot_report_statement(PGconn *pg, const char *program,
                                            const char *participant, FILE *out, char *errstr,
                                            size_t errstr_size);
carrot_ledger_err_t carrot_report_liability(PGconn *pg, const char *program, FILE *out,
                                            char *errstr, size_t errstr_size);

/* --- the audit (audit.c): proving the balances from the entries --- */

/* Runs every check of the book, writing one line per check to out:
 *   every journal transaction's entries sum to zero;
 *   every award has its journal transaction, and no transaction lacks entries;
 *   each participant's earned, available, pending, expired and redeemed in
 *   balances equal the sums of their entries;
 *   pending equals the prices of their pending redemptions.
 * *failedp gets the number of failed checks (OK is returned all the same);
 * RETRY or FATAL when the database failed (the check's line says so too). */
carrot_ledger_err_t carrot_audit_books(PGconn *pg, FILE *out, int *failedp, char *errstr,
                                       size_t errstr_size);

#endif
