/* team.c: everyone under a supervisor, every level down, from the
 * directory's reports sets: whose pacing and misses a supervisor sees. */
#include "commit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

carrot_ledger_err_t carrot_commit_team(carrot_directory_t *dir, const char *program,
                                       const char *supervisor, size_t max, char ***idsp, size_t *np,
                                       char *errstr, size_t errstr_size) {
    size_t n = 0, cap = 64, done = 0;
    char **ids = malloc(cap * sizeof(*ids));
    char(*page)[257] = NULL;
    carrot_ledger_err_t rc = ids ? CARROT_LEDGER_OK : CARROT_LEDGER_FATAL;
    /* breadth first; each person has one supervisor, so only a cycle through
     * the start brings someone back, and the start is where it stops */
    for (const char *at = supervisor; !rc;) {
        size_t k = 0, got = 0;
        rc = commit_dir_err(
            carrot_directory_reports(dir, program, at, NULL, 0, &k, errstr, errstr_size));
        if (!rc && k) {
            char(*p)[257] = realloc(page, k * sizeof(*page));
            if (!p) rc = CARROT_LEDGER_FATAL;
            else
                page = p;
        }
        if (!rc && k)
            rc = commit_dir_err(
                carrot_directory_reports(dir, program, at, page, k, &got, errstr, errstr_size));
        for (size_t i = 0; !rc && i < got && i < k; i++) {
            if (strcmp(page[i], supervisor) == 0) continue;
            if (n == max) {
                snprintf(errstr, errstr_size, "more than %zu people under %s", max, supervisor);
                rc = CARROT_LEDGER_REFUSED;
                break;
            }
            if (n == cap) {
                char **m = realloc(ids, (cap *= 2) * sizeof(*ids));
                if (!m) {
                    rc = CARROT_LEDGER_FATAL;
                    break;
                }
                ids = m;
            }
            if (!(ids[n] = strdup(page[i]))) rc = CARROT_LEDGER_FATAL;
            else
                n++;
        }
        if (rc || done == n) break;
        at = ids[done++];
    }
    free(page);
    if (rc) {
        if (rc == CARROT_LEDGER_FATAL && errstr_size && !*errstr)
            snprintf(errstr, errstr_size, "out of memory");
        for (size_t i = 0; ids && i < n; i++) free(ids[i]);
        free(ids);
        return rc;
    }
    *idsp = ids;
    *np = n;
    return CARROT_LEDGER_OK;
}

void carrot_commit_team_free(char **ids, size_t n) {
    for (size_t i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
}
