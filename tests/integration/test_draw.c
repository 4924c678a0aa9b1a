/* test_draw.c: spin to win on the real PostgreSQL: entries cost points; the
 * seed file is 0600 and one that others may read is refused; the draw waits
 * for the close, whose entry list hash is recomputed here; it refuses a seed
 * that does not match the commitment; every outcome is recomputed here with
 * an independent HMAC-SHA256 (OpenSSL's one-shot EVP API) keyed by the seed
 * and that hash; points prizes are booked, and a tampered result or entry
 * list fails verification. */
#include "ittools.h"
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char prizes[] =
    "[{\"prize\":\"e-bike\",\"weight\":1},{\"prize\":\"50 points\",\"weight\":300,\"points\":50},"
    "{\"prize\":null,\"weight\":699}]";

/* The documented rule, written again: r = HMAC-SHA256(seed, "id:list:n")[0..8)
 * big-endian, mod 1000, against cumulative weights 1, 300, 699. */
static int expected_prize(const char *seed, const char *id, const char *list, int entry) {
    char msg[256];
    unsigned char md[64];
    size_t mdlen = sizeof(md);
    snprintf(msg, sizeof(msg), "%s:%s:%d", id, list, entry);
    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, seed, strlen(seed),
                                    (unsigned char *)msg, strlen(msg), md, sizeof(md), &mdlen));
    unsigned long long r = 0;
    for (int i = 0; i < 8; i++) r = (r << 8) | md[i];
    r %= 1000;
    return r < 1 ? 0 : r < 301 ? 1 : 2;
}

/* The entry list's hash, as documented: SHA-256 of "<entry_no>:<participant>\n" lines. */
static void entry_list_sha256(PGconn *pg, const char *program, char out[65]) {
    const char *params[] = {program};
    char *text = it_pg_value(pg,
                             "SELECT string_agg(entry_no || ':' || participant_id || E'\\n', ''"
                             " ORDER BY entry_no) FROM sweepstakes_entries WHERE program_id = $1",
                             1, params);
    ck_assert_ptr_nonnull(text);
    unsigned char md[32];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(text);
}

START_TEST(draw_is_committed_reproducible_and_booked) {
    char program[48], topic[96], group[96], seedfile[128];
    it_unique(program, sizeof(program), "dr");
    snprintf(topic, sizeof(topic), "%s.awards", program);
    snprintf(group, sizeof(group), "%s.ledger", program);
    snprintf(seedfile, sizeof(seedfile), "/tmp/%s.seed", program);
    it_create_topic(topic, 1, NULL);
    ck_assert_int_eq(it_ledger(NULL, "migrate", NULL), 0);
    const char *who[] = {"ann", "bob"};
    const int64_t pts[] = {3000, 100};
    it_produce_awards(topic, program, "dr", 2, who, pts, NULL);
    ck_assert_int_eq(it_ledger(NULL, "run", "--topic", topic, "--group", group, "--until-drained",
                               "--log-level", "warn", NULL),
                     0);

    char *out;
    ck_assert_int_eq(it_ledger(&out, "sweepstakes-create", "--program", program, "--sweepstakes",
                               "wheel", "--name", "Spin", "--entry-cost", "30", "--prizes", prizes,
                               "--seed-file", seedfile, NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "commitment sha256 "));
    free(out);
    /* the seed file exists only once */
    ck_assert_int_eq(it_ledger(NULL, "sweepstakes-create", "--program", program, "--sweepstakes",
                               "wheel2", "--name", "Spin", "--entry-cost", "30", "--prizes", prizes,
                               "--seed-file", seedfile, "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(&out, "enter", "--program", program, "--sweepstakes", "wheel",
                               "--participant", "ann", "--entries", "90", NULL),
                     0);
    ck_assert_str_eq(out, "entries 1 to 90\n");
    free(out);
    ck_assert_int_eq(it_ledger(NULL, "enter", "--program", program, "--sweepstakes", "wheel",
                               "--participant", "bob", "--entries", "4", "--log-level", "error",
                               NULL),
                     3); /* 120 > 100 */
    ck_assert_int_eq(it_ledger(&out, "enter", "--program", program, "--sweepstakes", "wheel",
                               "--participant", "bob", "--entries", "3", NULL),
                     0);
    ck_assert_str_eq(out, "entries 91 to 93\n");
    free(out);

    /* the seed file is the owner's alone, and refused otherwise */
    struct stat st;
    ck_assert_int_eq(stat(seedfile, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* drawing needs the entries closed first */
    ck_assert_int_eq(it_ledger(NULL, "draw", "--program", program, "--sweepstakes", "wheel",
                               "--seed-file", seedfile, "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(&out, "close", "--program", program, "--sweepstakes", "wheel", NULL),
                     0);
    char list[65], printed[128];
    PGconn *pg = it_pg();
    entry_list_sha256(pg, program, list);
    snprintf(printed, sizeof(printed), "93 entries; entry list sha256 %s\n", list);
    ck_assert_msg(strstr(out, printed) != NULL, "close printed \"%s\", expected \"%s\"", out,
                  printed);
    free(out);
    ck_assert_int_eq(it_ledger(NULL, "enter", "--program", program, "--sweepstakes", "wheel",
                               "--participant", "ann", "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(NULL, "close", "--program", program, "--sweepstakes", "wheel",
                               "--log-level", "error", NULL),
                     3);

    /* a wrong seed is refused and changes nothing */
    char wrong[128];
    snprintf(wrong, sizeof(wrong), "/tmp/%s.wrong", program);
    FILE *fp = fopen(wrong, "w");
    fputs("0000000000000000000000000000000000000000000000000000000000000000\n", fp);
    fclose(fp);
    chmod(wrong, 0600);
    ck_assert_int_eq(it_ledger(NULL, "draw", "--program", program, "--sweepstakes", "wheel",
                               "--seed-file", wrong, "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(NULL, "verify", "--program", program, "--sweepstakes", "wheel",
                               "--log-level", "error", NULL),
                     3); /* not drawn yet */
    /* a seed file others may read is refused, with the reason on stderr */
    ck_assert_int_eq(chmod(seedfile, 0640), 0);
    char errfile[160], cmd[1024];
    snprintf(errfile, sizeof(errfile), "/tmp/%s.err", program);
    snprintf(cmd, sizeof(cmd), "%s draw --program %s --sweepstakes wheel --seed-file %s 2>%s",
             CARROT_LEDGER, program, seedfile, errfile);
    int status = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(status), 3);
    /* the whole of stderr: a test clock shift adds a warning line before the error */
    fp = fopen(errfile, "r");
    char errtext[2048] = "";
    size_t nerr = fread(errtext, 1, sizeof(errtext) - 1, fp);
    errtext[nerr] = '\0';
    fclose(fp);
    unlink(errfile);
    ck_assert_msg(strstr(errtext, "is accessible by group or others (mode 0640): it must be"
                                  " readable by its owner only (chmod 600)") != NULL,
                  "%s", errtext);
    ck_assert_int_eq(chmod(seedfile, 0600), 0);

    ck_assert_int_eq(it_ledger(&out, "draw", "--program", program, "--sweepstakes", "wheel",
                               "--seed-file", seedfile, NULL),
                     0);
    free(out);
    char seed[80] = "";
    fp = fopen(seedfile, "r");
    ck_assert_ptr_nonnull(fgets(seed, sizeof(seed), fp));
    fclose(fp);
    seed[strcspn(seed, "\n")] = '\0';

    const char *params[] = {program};
    PGresult *r = PQexecParams(pg,
                               "SELECT entry_no, prize_index, participant_id FROM"
                               " sweepstakes_entries WHERE program_id = $1 ORDER BY entry_no",
                               1, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(r), 93);
    long long ann_prize = 0, bob_prize = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int entry = atoi(PQgetvalue(r, i, 0)), got = atoi(PQgetvalue(r, i, 1));
        int want = expected_prize(seed, "wheel", list, entry);
        ck_assert_msg(got == want, "entry %d: stored %d, expected %d", entry, got, want);
        if (want == 1) {
            if (strcmp(PQgetvalue(r, i, 2), "ann") == 0) ann_prize += 50;
            else
                bob_prize += 50;
        }
    }
    PQclear(r);
    char *v = it_pg_value(pg,
                          "SELECT string_agg(participant_id || '=' || available, ',' ORDER BY"
                          " participant_id) FROM balances WHERE program_id = $1",
                          1, params);
    char want[128];
    snprintf(want, sizeof(want), "ann=%lld,bob=%lld", 3000 - 90 * 30 + ann_prize,
             100 - 90 + bob_prize);
    ck_assert_str_eq(v, want);
    free(v);
    ck_assert_int_eq(
        it_ledger(&out, "verify", "--program", program, "--sweepstakes", "wheel", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "verified: 93 entries"));
    free(out);
    ck_assert_int_eq(it_ledger(NULL, "verify", NULL), 0);
    /* entering or drawing again is refused */
    ck_assert_int_eq(it_ledger(NULL, "enter", "--program", program, "--sweepstakes", "wheel",
                               "--participant", "ann", "--log-level", "error", NULL),
                     3);
    ck_assert_int_eq(it_ledger(NULL, "draw", "--program", program, "--sweepstakes", "wheel",
                               "--seed-file", seedfile, "--log-level", "error", NULL),
                     3);
    /* tampering with one result is caught */
    ck_assert_int_eq(
        PQresultStatus(r = PQexecParams(pg,
                                        "UPDATE sweepstakes_entries SET prize_index"
                                        " = (prize_index + 1) % 3 WHERE program_id = $1"
                                        " AND entry_no = 7",
                                        1, NULL, params, NULL, NULL, 0)),
        PGRES_COMMAND_OK);
    PQclear(r);
    ck_assert_int_eq(it_ledger(NULL, "verify", "--program", program, "--sweepstakes", "wheel",
                               "--log-level", "error", NULL),
                     3);
    /* and so is a changed entry list, even with the outcomes put back */
    ck_assert_int_eq(PQresultStatus(r = PQexecParams(pg,
                                                     "UPDATE sweepstakes_entries SET prize_index"
                                                     " = (prize_index + 2) % 3,"
                                                     " participant_id = 'bob' WHERE program_id = $1"
                                                     " AND entry_no = 7",
                                                     1, NULL, params, NULL, NULL, 0)),
                     PGRES_COMMAND_OK);
    PQclear(r);
    ck_assert_int_eq(it_ledger(NULL, "verify", "--program", program, "--sweepstakes", "wheel",
                               "--log-level", "error", NULL),
                     3);
    PQfinish(pg);
    unlink(seedfile);
    unlink(wrong);
}
END_TEST

int main(void) {
    const TTest *tests[] = {draw_is_committed_reproducible_and_booked, NULL};
    return carrot_test_run(carrot_test_suite("draw", tests));
}
