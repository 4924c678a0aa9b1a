/* audit.h: proving the balances from the entries. */
#ifndef CARROT_LEDGER_AUDIT_H
#define CARROT_LEDGER_AUDIT_H

#include <libpq-fe.h>
#include <stdio.h>

/* Runs every check of the book, printing one line per check to out:
 *   every journal transaction's entries sum to zero;
 *   every award has its journal transaction, and no transaction lacks entries;
 *   each participant's earned, available, pending, expired and redeemed in
 *   balances equal the sums of their entries;
 *   pending equals the prices of their pending redemptions.
 * Returns the number of failed checks, or -1 if the database failed. */
int carrot_audit_books(PGconn *pg, FILE *out);

#endif
