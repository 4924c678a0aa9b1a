/* report.h: what the ledger tells people: a participant's balances and
 * statement, and the points outstanding per program (the liability). Each
 * prints to out and returns 0, 1 when the participant is unknown, or -1 on a
 * database error (message on stderr through carrot_log). */
#ifndef CARROT_LEDGER_REPORT_H
#define CARROT_LEDGER_REPORT_H

#include <libpq-fe.h>
#include <stdio.h>

int carrot_report_balance(PGconn *pg, const char *program, const char *participant, FILE *out);
int carrot_report_statement(PGconn *pg, const char *program, const char *participant, FILE *out);
int carrot_report_liability(PGconn *pg, const char *program, FILE *out);

#endif
