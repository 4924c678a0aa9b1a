/* migrate.h: the ledger's schema, as versioned migrations compiled into
 * carrot-ledger from ledger/db/migrations/NNN_name.sql. */
#ifndef CARROT_LEDGER_MIGRATE_H
#define CARROT_LEDGER_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* Applies, in order, every migration newer than the database's version, each
 * in its own transaction, under an advisory lock so concurrent runs are safe.
 * Running it twice is a no-op. *appliedp gets how many were applied.
 * Returns 0 or -1 with errstr. */
int carrot_ledger_migrate(PGconn *pg, int *appliedp, char *errstr, size_t errstr_size);

/* The newest migration version this build knows. */
int carrot_ledger_schema_version(void);

#endif
