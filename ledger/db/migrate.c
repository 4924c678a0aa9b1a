/* migrate.c: applies the embedded migrations; versions are recorded in
 * carrot_schema_migrations. */
#include "carrot/migrate.h"

#include <stdio.h>
#include <stdlib.h>

extern const char carrot_migration_001_awards[];
extern const char carrot_migration_002_double_entry[];
extern const char carrot_migration_003_rewards[];
extern const char carrot_migration_004_draw_close[];

static const struct {
    int version;
    const char *name;
    const char *sql;
} migrations[] = {
    {1, "001_awards", carrot_migration_001_awards},
    {2, "002_double_entry", carrot_migration_002_double_entry},
    {3, "003_rewards", carrot_migration_003_rewards},
    {4, "004_draw_close", carrot_migration_004_draw_close},
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* An arbitrary constant naming the lock in pg_locks. */
#define MIGRATE_LOCK_ID 0x0ca7707

int carrot_ledger_schema_version(void) { return migrations[NMIGRATIONS - 1].version; }

static int exec_ok(PGconn *pg, const char *sql, char *errstr, size_t errstr_size) {
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) snprintf(errstr, errstr_size, "%s", PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

int carrot_ledger_migrate(PGconn *pg, int *appliedp, char *errstr, size_t errstr_size) {
    char sql[256];
    *appliedp = 0;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_ID);
    if (exec_ok(pg, sql, errstr, errstr_size) ||
        exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS carrot_schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                errstr, errstr_size))
        return -1;
    int rc = 0;
    PGresult *r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM carrot_schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errstr_size, "could not read the schema version: %s", PQerrorMessage(pg));
        rc = -1;
    }
    int current = rc ? 0 : atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!rc && current > carrot_ledger_schema_version()) {
        snprintf(errstr, errstr_size,
                 "database schema version %d is newer than this carrot-ledger knows (%d)", current,
                 carrot_ledger_schema_version());
        rc = -1;
    }
    for (int i = 0; !rc && i < NMIGRATIONS; i++) {
        if (migrations[i].version <= current) continue;
        char err[1024];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO carrot_schema_migrations (version, name) VALUES (%d, '%s')",
                 migrations[i].version, migrations[i].name);
        if (exec_ok(pg, "BEGIN", err, sizeof(err)) ||
            exec_ok(pg, migrations[i].sql, err, sizeof(err)) ||
            exec_ok(pg, sql, err, sizeof(err)) || exec_ok(pg, "COMMIT", err, sizeof(err))) {
            snprintf(errstr, errstr_size, "migration %s failed: %s", migrations[i].name, err);
            exec_ok(pg, "ROLLBACK", err, sizeof(err));
            rc = -1;
        } else
            (*appliedp)++;
    }
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d)", MIGRATE_LOCK_ID);
    char ignored[256];
    exec_ok(pg, sql, ignored, sizeof(ignored));
    return rc;
}
