/* testutil.c: Check suite helpers for the unit tests. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

int carrot_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

Suite *carrot_test_suite(const char *name, const TTest *const *tests) {
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 900); /* ctest has its own, tighter TIMEOUT per test */
    for (; *tests; tests++) tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    return s;
}

char *carrot_test_read(const char *relpath, size_t *lenp) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", CARROT_SOURCE_DIR, relpath);
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
    buf[len] = '\0';
    fclose(fp);
    if (lenp) *lenp = (size_t)len;
    return buf;
}
