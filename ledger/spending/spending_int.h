/* spending_int.h: what wallet.c shares with draw.c inside spending. */
#ifndef CARROT_SPENDING_INT_H
#define CARROT_SPENDING_INT_H

#include "carrot/spending.h"

/* After a spend was refused for want of points: says why in errstr,
 * "insufficient points: participant "U" has N available, needs <cost> for <what>"
 * or "unknown participant ...". Used inside the refused transaction. */
void carrot_wallet_explain_shortfall(PGconn *pg, const char *program, const char *participant,
                                     const char *what, const char *cost, char *errstr,
                                     size_t errstr_size);

#endif
