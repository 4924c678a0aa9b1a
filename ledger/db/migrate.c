/* migrate.c: applies the embedded migrations; versions are recorded in
 * carrot_schema_migrations. */
#include "carrot/ledger_db.h"

#include <stdio.h>
#include <stdlib.h>

extern const char carrot_migration_001_awards[];
extern const char carrot_migration_002_double_entry[];
extern const char carrot_migration_003_rewards[];
extern const char carrot_migration_004_draw_close[];
extern const char carrot_migration_005_entries_unlinked[];
extern const char carrot_migration_006_display_tokens[];
extern const char carrot_migration_007_commitments[];
extern const char carrot_migration_008_adoption[];
extern const char carrot_migration_009_notify[];
extern const char carrot_migration_010_notify_made_for[];

static const struct {
    int version;
    const char *name;
    const char *sql;
} migrations[] = {
    {1, "001_awards", carrot_migration_001_awards},
    {2, "002_double_entry", carrot_migration_002_double_entry},
    {3, "003_rewards", carrot_migration_003_rewards},
    {4, "004_draw_close", carrot_migration_004_draw_close},
    {5, "005_entries_unlinked", carrot_migration_005_entries_unlinked},
    {6, "006_display_tokens", carrot_migration_006_display_tokens},
    {7, "007_commitments", carrot_migration_007_commitments},
    {8, "008_adoption", carrot_migration_008_adoption},
    {9, "009_notify", carrot_migration_009_notify},
    {10, "010_notify_made_for", carrot_migration_010_notify_made_for},
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* An arbitrary constant naming the lock in pg_locks. */
#define MIGRATE_LOCK_ID 0x0ca7707

int carrot_ledger_schema_version(void) { return migrations[NMIGRATIONS - 1].version; }

/* Runs sql; on failure errstr gets PostgreSQL's message as it is. */
static carrot_ledger_err_t exec_ok(PGconn *pg, const char *sql, char *errstr, size_t errstr_size) {
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, r, NULL, NULL, 0);
        snprintf(errstr, errstr_size, "%s", PQerrorMessage(pg));
    }
    PQclear(r);
    return rc;
}

carrot_ledger_err_t carrot_ledger_migrate(PGconn *pg, int *appliedp, char *errstr,
                                          size_t errstr_size) {
    char sql[256];
    carrot_ledger_err_t rc;
    *appliedp = 0;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_ID);
    if ((rc = exec_ok(pg, sql, errstr, errstr_size)) ||
        (rc = exec_ok(pg,
                      "CREATE TABLE IF NOT EXISTS carrot_schema_migrations ("
                      " version integer PRIMARY KEY, name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                      errstr, errstr_size)))
        return rc;
    PGresult *r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM carrot_schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, r, NULL, NULL, 0);
        snprintf(errstr, errstr_size, "could not read the schema version: %s", PQerrorMessage(pg));
    }
    int current = rc ? 0 : atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!rc && current > carrot_ledger_schema_version()) {
        snprintf(errstr, errstr_size,
                 "database schema version %d is newer than this carrot-ledger knows (%d)", current,
                 carrot_ledger_schema_version());
        rc = CARROT_LEDGER_FATAL;
    }
    for (int i = 0; !rc && i < NMIGRATIONS; i++) {
        if (migrations[i].version <= current) continue;
        char err[1024];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO carrot_schema_migrations (version, name) VALUES (%d, '%s')",
                 migrations[i].version, migrations[i].name);
        if ((rc = exec_ok(pg, "BEGIN", err, sizeof(err))) ||
            (rc = exec_ok(pg, migrations[i].sql, err, sizeof(err))) ||
            (rc = exec_ok(pg, sql, err, sizeof(err))) ||
            (rc = exec_ok(pg, "COMMIT", err, sizeof(err)))) {
            snprintf(errstr, errstr_size, "migration %s failed: %s", migrations[i].name, err);
            carrot_pg_rollback(pg);
        } else
            (*appliedp)++;
    }
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d)", MIGRATE_LOCK_ID);
    char ignored[256];
    exec_ok(pg, sql, ignored, sizeof(ignored));
    return rc;
}
