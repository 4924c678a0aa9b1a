/* pgutil_int.h: the db component's internal query helper, shared by
 * pgutil.c and journal.c. */
#ifndef CARROT_LEDGER_PGUTIL_INT_H
#define CARROT_LEDGER_PGUTIL_INT_H

#include "carrot/ledger_db.h"

/* carrot_pg_value() with the failure named what (NULL: "database error") and
 * read by classify (NULL: carrot_pg_failure()); valuep may be NULL. */
carrot_ledger_err_t carrot_pg_value_as(PGconn *pg, const char *sql, int nparams,
                                       const char *const *params, const char *what,
                                       carrot_pg_classify_fn classify, char **valuep, char *errstr,
                                       size_t errstr_size);

#endif
