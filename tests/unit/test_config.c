/* test_config.c: the config table: defaults, file, environment, flags, their
 * precedence, range checks, kafka.* pass-through and the generated help. */
#include "carrot/config.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *name;
    long long port;
    int flag;
    char *token;
} tconf_t;

static const carrot_conf_prop_t props[] = {
    {"name", CARROT_CONF_STR, offsetof(tconf_t, name), "alpha", 0, 0, "a name"},
    {"test-port", CARROT_CONF_INT, offsetof(tconf_t, port), "100", 1, 1000, "a port"},
    {"flag", CARROT_CONF_BOOL, offsetof(tconf_t, flag), "false", 0, 0, "a flag"},
    {"test-token", CARROT_CONF_SECRET, offsetof(tconf_t, token), NULL, 0, 0, "a secret"},
    CARROT_CONF_END};

static char errstr[512];

START_TEST(defaults_apply) {
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(conf);
    ck_assert_str_eq(c.name, "alpha");
    ck_assert_int_eq(c.port, 100);
    ck_assert_int_eq(c.flag, 0);
    carrot_conf_destroy(conf);
    carrot_conf_destroy(NULL); /* a no-op */
}
END_TEST

START_TEST(set_checks_types_and_ranges) {
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    ck_assert_int_eq(carrot_conf_set(conf, "test-port", "1001", errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "out of range (1..1000)"));
    ck_assert_int_eq(carrot_conf_set(conf, "test-port", "12x", errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "invalid integer"));
    ck_assert_int_eq(carrot_conf_set(conf, "nope", "1", errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "unknown setting \"nope\""));
    ck_assert_int_eq(carrot_conf_set(conf, "flag", "maybe", errstr, sizeof(errstr)), -1);
    ck_assert_int_eq(carrot_conf_set(conf, "flag", "yes", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(c.flag, 1);
    ck_assert_int_eq(c.port, 100); /* failed sets changed nothing */
    carrot_conf_destroy(conf);
}
END_TEST

static int collect(const char *k, const char *v, void *opaque) {
    char *out = opaque;
    strcat(out, k);
    strcat(out, "=");
    strcat(out, v);
    strcat(out, ";");
    return 0;
}

START_TEST(precedence_file_env_flags) {
    char path[] = "/tmp/carrot-test-conf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *fp = fdopen(fd, "w");
    fprintf(fp, "# comment\nname = from-file\ntest-port = 200\nkafka.linger.ms = 7\n");
    fclose(fp);
    setenv("CARROT_TEST_PORT", "300", 1);
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    char *argv[] = {"prog", "pos1",           "--flag", "--config", path,
                    "-X",   "kafka.acks=all", "pos2",   NULL};
    int npos = -1;
    ck_assert_int_eq(carrot_conf_parse_args(conf, 8, argv, &npos, "usage", errstr, sizeof(errstr)),
                     0);
    ck_assert_str_eq(c.name, "from-file");
    ck_assert_int_eq(c.port, 300); /* environment beats the file */
    ck_assert_int_eq(c.flag, 1);
    ck_assert_int_eq(npos, 2);
    ck_assert_str_eq(argv[1], "pos1");
    ck_assert_str_eq(argv[2], "pos2");
    char seen[256] = "";
    carrot_conf_foreach_prefixed(conf, "kafka.", collect, seen);
    ck_assert_str_eq(seen, "linger.ms=7;acks=all;");
    carrot_conf_destroy(conf);

    conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    char *argv2[] = {"prog", "--test-port=400", "--config", path, NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 4, argv2, &npos, "usage", errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(c.port, 400); /* flags beat the environment */
    carrot_conf_destroy(conf);
    unsetenv("CARROT_TEST_PORT");
    unlink(path);
}
END_TEST

START_TEST(file_errors_name_the_line) {
    char path[] = "/tmp/carrot-test-conf-XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");
    fprintf(fp, "name = x\n\nthis line has no equals sign\n");
    fclose(fp);
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    ck_assert_int_eq(carrot_conf_load_file(conf, path, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, ":3: expected"));
    ck_assert_int_eq(carrot_conf_load_file(conf, "/nonexistent/x", errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "could not open config file"));
    carrot_conf_destroy(conf);
    unlink(path);
}
END_TEST

/* Writes text to a new temporary file; the path is in path (26 bytes). */
static void conf_file(char *path, const char *text) {
    strcpy(path, "/tmp/carrot-test-conf-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *fp = fdopen(fd, "w");
    fputs(text, fp);
    fclose(fp);
}

/* A value with '#' or quotes in it is kept whole when quoted, refused when bare. */
START_TEST(file_values_quoting) {
    char path[32];
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    conf_file(path, "  # a comment line\nname = \"de#mo \\\"x\\\" \\\\\"   # trailing comment\n"
                    "test-port = 300\n");
    ck_assert_int_eq(carrot_conf_load_file(conf, path, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(c.name, "de#mo \"x\" \\");
    ck_assert_int_eq(c.port, 300);
    unlink(path);
    static const struct {
        const char *text, *error;
    } bad[] = {{"name = de#mo\n", ":1: a '#' in a value"},
               {"name = x # comment\n", ":1: a '#' in a value"},
               {"\nname = \"open\n", ":2: the quoted value has no closing"},
               {"name = \"a\" b\n", ":1: text after the closing"},
               {"name = \"a\\nb\"\n", ":1: in a quoted value only"},
               {"name = a\"b\n", ":1: a '\"' inside a bare value"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        conf_file(path, bad[i].text);
        ck_assert_int_eq(carrot_conf_load_file(conf, path, errstr, sizeof(errstr)), -1);
        ck_assert_msg(strstr(errstr, bad[i].error), "\"%s\": %s", bad[i].text, errstr);
        unlink(path);
    }
    carrot_conf_destroy(conf);
}
END_TEST

START_TEST(bad_flags_are_errors) {
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    int npos;
    char *a1[] = {"prog", "--test-port", NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 2, a1, &npos, "u", errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "needs a value"));
    char *a4[] = {"prog", "--bogus", "x", NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 3, a4, &npos, "u", errstr, sizeof(errstr)), -1);
    ck_assert_str_eq(errstr, "unknown option \"--bogus\" (see --help)");
    char *a2[] = {"prog", "-q", NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 2, a2, &npos, "u", errstr, sizeof(errstr)), -1);
    char *a3[] = {"prog", "--no-flag", NULL};
    c.flag = 1;
    ck_assert_int_eq(carrot_conf_parse_args(conf, 2, a3, &npos, "u", errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(c.flag, 0);
    carrot_conf_destroy(conf);
}
END_TEST

START_TEST(help_lists_every_setting) {
    tconf_t c;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    carrot_conf_print_help(conf, fp, "usage: prog", CARROT_HELP_TEXT);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "--test-port"));
    ck_assert_ptr_nonnull(strstr(buf, "(1..1000) [default: 100]"));
    ck_assert_ptr_nonnull(strstr(buf, "--flag"));
    ck_assert_ptr_nonnull(strstr(buf, "CARROT_TEST_TOKEN"));
    ck_assert_ptr_null(strstr(buf, "--test-token")); /* no flag to offer */
    free(buf);
    fp = open_memstream(&buf, &len);
    carrot_conf_print_help(conf, fp, "usage: prog", CARROT_HELP_MARKDOWN);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "| `test-port` | integer (1..1000) | 100 | a port |"));
    free(buf);
    fp = open_memstream(&buf, &len);
    carrot_conf_print_help(conf, fp, "usage: prog [settings]\n.Does things\\now.", CARROT_HELP_MAN);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, ".TH \"PROG\" 1 "));
    ck_assert_ptr_nonnull(strstr(buf, ".SH NAME\nprog \\- \\&.Does things\\enow.\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "\\fB\\-\\-test\\-port\\fR \\fIinteger\\fR (1..1000)\ndefault: 100\n"));
    free(buf);
    carrot_conf_destroy(conf);
}
END_TEST

START_TEST(secrets_only_from_the_environment) {
    tconf_t c;
    int npos;
    carrot_conf_t *conf = carrot_conf_new(props, &c, errstr, sizeof(errstr));
    char *argv[] = {"prog", "--test-token", "hunter2", NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 3, argv, &npos, "usage", errstr, sizeof(errstr)),
                     -1);
    ck_assert_ptr_nonnull(strstr(errstr, "not accepted as a flag"));
    ck_assert_ptr_nonnull(strstr(errstr, "set CARROT_TEST_TOKEN in the environment"));
    char *argv2[] = {"prog", "--test-token=hunter2", NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 2, argv2, &npos, "usage", errstr, sizeof(errstr)),
                     -1);
    ck_assert_ptr_null(c.token);
    char path[] = "/tmp/carrot-conf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "test-token = hunter2\n", 21), 21);
    close(fd);
    ck_assert_int_eq(carrot_conf_load_file(conf, path, errstr, sizeof(errstr)), -1);
    ck_assert_ptr_nonnull(strstr(errstr, ":1: \"test-token\" is not accepted"));
    unlink(path);
    setenv("CARROT_TEST_TOKEN", "hunter2", 1);
    char *argv3[] = {"prog", NULL};
    ck_assert_int_eq(carrot_conf_parse_args(conf, 1, argv3, &npos, "usage", errstr, sizeof(errstr)),
                     0);
    unsetenv("CARROT_TEST_TOKEN");
    ck_assert_str_eq(c.token, "hunter2");
    carrot_conf_destroy(conf); /* frees the secret like any string */
}
END_TEST

int main(void) {
    const TTest *tests[] = {defaults_apply,
                            set_checks_types_and_ranges,
                            precedence_file_env_flags,
                            file_errors_name_the_line,
                            bad_flags_are_errors,
                            help_lists_every_setting,
                            file_values_quoting,
                            secrets_only_from_the_environment,
                            NULL};
    return carrot_test_run(carrot_test_suite("config", tests));
}
