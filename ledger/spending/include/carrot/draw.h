/* draw.h: spin to win, auditable. A sweepstakes is created with the SHA-256
 * of a secret seed (the commitment), published before any entry is bought.
 * Participants buy entries with points. Closing it ends the entries and
 * stores the SHA-256 of the entry list (the lines "<entry number>:<participant
 * id>\n" in entry order), published too. The draw reveals the seed; it must
 * hash to the commitment, and each entry's outcome follows from the seed and
 * the closed list:
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
#ifndef CARROT_LEDGER_DRAW_H
#define CARROT_LEDGER_DRAW_H

#include "carrot/wallet.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The outcome of one entry: an index into weights[0..n). Pure function.
 * entries_sha256 is the closed entry list's hash (hex), or NULL for the
 * formula of draws made before it existed. */
int carrot_draw_outcome(const char *seed, const char *sweepstakes_id, const char *entries_sha256,
                        int entry_no, const int64_t *weights, int n);

/* The lowercase hex SHA-256 of the sweepstakes' entry list as stored now
 * (see above); *countp, when not NULL, gets the number of entries. 0, or -1
 * with errstr. */
int carrot_draw_entries_sha256(PGconn *pg, const char *program, const char *id, char out[65],
                               long long *countp, char *errstr, size_t errstr_size);

/* Lowercase hex SHA-256 of text (65 bytes with the NUL). */
void carrot_draw_sha256_hex(const char *text, char out[65]);

/* Creates a sweepstakes. prizes_json: [{"prize": "e-bike"|null, "weight": N,
 * "points": N?}, ...]. A new random seed is written to seed_file (mode 0600,
 * refused if it exists) and fsynced with its directory before only its hash
 * is stored. */
carrot_wallet_err_t carrot_draw_create(PGconn *pg, const char *program, const char *id,
                                       const char *name, int64_t entry_cost,
                                       const char *prizes_json, const char *seed_file, char *errstr,
                                       size_t errstr_size);

/* Buys n entries for participant: n * entry cost leaves the wallet. *firstp
 * gets the first entry number. */
carrot_wallet_err_t carrot_draw_enter(PGconn *pg, const char *program, const char *id,
                                      const char *participant, int n, int *firstp, char *errstr,
                                      size_t errstr_size);

/* Closes an open sweepstakes to entries and stores the entry list's hash,
 * printed to stdout to be published before the draw. */
carrot_wallet_err_t carrot_draw_close(PGconn *pg, const char *program, const char *id, char *errstr,
                                      size_t errstr_size);

/* Draws a closed sweepstakes with the seed read from seed_file (refused when
 * group or others may access the file): checks the seed against the
 * commitment and the entry list against its hash, stores every entry's
 * outcome and the seed, books points prizes, and prints the winners. */
carrot_wallet_err_t carrot_draw_run(PGconn *pg, const char *program, const char *id,
                                    const char *seed_file, char *errstr, size_t errstr_size);

/* Re-checks a drawn sweepstakes from its stored seed and entries. Returns OK
 * when the seed matches the commitment, the entry list its hash, and every
 * stored outcome is what they give; REFUSED with the first difference
 * otherwise. */
carrot_wallet_err_t carrot_draw_verify(PGconn *pg, const char *program, const char *id,
                                       long long *entriesp, long long *winnersp, char *errstr,
                                       size_t errstr_size);

#endif
