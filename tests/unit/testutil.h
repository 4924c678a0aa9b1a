/* testutil.h: what the Check unit tests share. */
#ifndef CARROT_TESTUTIL_H
#define CARROT_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Runs the suite, prints Check's summary, returns the exit code. */
int carrot_test_run(Suite *s);

/* Builds a suite of one test case from a NULL-terminated list of tests. */
Suite *carrot_test_suite(const char *name, const TTest *const *tests);

/* Reads a file under the source tree (path relative to the repository
 * root) into a new string the caller frees; aborts the test if missing. */
char *carrot_test_read(const char *relpath, size_t *lenp);

#endif
