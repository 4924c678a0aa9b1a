/* draw.c: commit-reveal sweepstakes (see spending.h for the formula). SHA-256
 * and HMAC come from OpenSSL's libcrypto rather than our own code. The seed
 * file is the one secret: it is made durable before its commitment is, and
 * refused when anyone but its owner may read it. */
#include "spending_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PRIZES 64

static void hex(const unsigned char *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", in[i]);
}

void carrot_draw_sha256_hex(const char *text, char out[65]) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), md);
    hex(md, sizeof(md), out);
}

int carrot_draw_outcome(const char *seed, const char *sweepstakes_id, const char *entries_sha256,
                        int entry_no, const int64_t *weights, int n) {
    char msg[512];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int len = entries_sha256
                  ? snprintf(msg, sizeof(msg), "%s:%s:%d", sweepstakes_id, entries_sha256, entry_no)
                  : snprintf(msg, sizeof(msg), "%s:%d", sweepstakes_id, entry_no);
    if (len < 0 || (size_t)len >= sizeof(msg)) len = (int)strlen(msg); /* ids are short: never */
    HMAC(EVP_sha256(), seed, (int)strlen(seed), (const unsigned char *)msg, (size_t)len, md,
         &mdlen);
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) r = (r << 8) | md[i];
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += (uint64_t)weights[i];
    r %= total; /* weights are small next to 2^64: the bias is negligible */
    for (int i = 0; i < n; i++) {
        if (r < (uint64_t)weights[i]) return i;
        r -= (uint64_t)weights[i];
    }
    return n - 1; /* unreachable */
}

/* The entry list, (entry_no, participant_id) in entry order: *rp gets the
 * rows (caller clears). */
static carrot_ledger_err_t entry_list(PGconn *pg, const char *program, const char *id,
                                      PGresult **rp, char *errstr, size_t errstr_size) {
    const char *params[] = {program, id};
    PGresult *r = PQexecParams(pg,
                               "SELECT entry_no, participant_id FROM sweepstakes_entries"
                               " WHERE program_id = $1 AND sweepstakes_id = $2 ORDER BY entry_no",
                               2, NULL, params, NULL, NULL, 0);
    *rp = NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "database error", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    *rp = r;
    return CARROT_LEDGER_OK;
}

carrot_ledger_err_t carrot_draw_entries_sha256(PGconn *pg, const char *program, const char *id,
                                               char out[65], long long *countp, char *errstr,
                                               size_t errstr_size) {
    PGresult *r;
    carrot_ledger_err_t rc = entry_list(pg, program, id, &r, errstr, errstr_size);
    if (rc) return rc;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        const char *no = PQgetvalue(r, i, 0), *who = PQgetvalue(r, i, 1);
        ok = EVP_DigestUpdate(ctx, no, strlen(no)) == 1 && EVP_DigestUpdate(ctx, ":", 1) == 1 &&
             EVP_DigestUpdate(ctx, who, strlen(who)) == 1 && EVP_DigestUpdate(ctx, "\n", 1) == 1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (countp) *countp = PQntuples(r);
    PQclear(r);
    if (!ok) {
        snprintf(errstr, errstr_size, "could not hash the entry list");
        return CARROT_LEDGER_FATAL;
    }
    hex(md, 32, out);
    return CARROT_LEDGER_OK;
}

typedef struct {
    int n;
    int64_t weights[MAX_PRIZES], points[MAX_PRIZES];
    const char *names[MAX_PRIZES]; /* NULL: no prize */
    json_t *root;
} prizes_t;

static int parse_prizes(const char *text, prizes_t *p, char *errstr, size_t errstr_size) {
    json_error_t jerr;
    memset(p, 0, sizeof(*p));
    p->root = json_loads(text, 0, &jerr);
    if (!p->root) {
        snprintf(errstr, errstr_size, "prizes: invalid JSON at column %d: %s", jerr.column,
                 jerr.text);
        return -1;
    }
    if (!json_is_array(p->root) || json_array_size(p->root) == 0 ||
        json_array_size(p->root) > MAX_PRIZES) {
        snprintf(errstr, errstr_size, "prizes: expected an array of 1 to %d prizes", MAX_PRIZES);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(p->root, i, e) {
        json_t *name = json_object_get(e, "prize"), *w = json_object_get(e, "weight"),
               *pts = json_object_get(e, "points");
        if (!json_is_object(e) || !(json_is_string(name) || json_is_null(name)) ||
            !json_is_integer(w) || json_integer_value(w) <= 0 ||
            json_integer_value(w) > 1000000000 ||
            (pts && (!json_is_integer(pts) || json_integer_value(pts) < 0))) {
            snprintf(errstr, errstr_size,
                     "prizes[%zu]: expected {\"prize\": name or null, \"weight\": 1..1000000000,"
                     " \"points\": 0 or more (optional)}",
                     i);
            return -1;
        }
        p->names[i] = json_string_value(name);
        p->weights[i] = json_integer_value(w);
        p->points[i] = pts ? json_integer_value(pts) : 0;
    }
    p->n = (int)json_array_size(p->root);
    return 0;
}

/* fsync()s the directory holding path, so the file's name is durable too. */
static int sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Creates the seed file, mode 0600 whatever the umask, and makes it durable
 * (data, then its directory entry) before the caller commits its hash: a
 * commitment whose seed a crash lost could never be drawn. */
static int write_seed(const char *path, const char *seed, char *errstr, size_t errstr_size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "could not create seed file \"%s\": %s", path,
                 strerror(errno));
        return -1;
    }
    const char *what = NULL;
    if (fchmod(fd, 0600) != 0) what = "chmod";
    else if (write(fd, seed, 64) != 64 || write(fd, "\n", 1) != 1)
        what = "write";
    else if (fsync(fd) != 0)
        what = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !what) {
        what = "close";
        saved = errno;
    }
    if (!what && sync_dir(path) != 0) {
        what = "fsync the directory of";
        saved = errno;
    }
    int ok = what == NULL;
    if (!ok) {
        snprintf(errstr, errstr_size, "could not %s seed file \"%s\": %s", what, path,
                 strerror(saved));
        unlink(path);
        return -1;
    }
    return 0;
}

carrot_ledger_err_t carrot_draw_create(PGconn *pg, const char *program, const char *id,
                                       const char *name, int64_t entry_cost,
                                       const char *prizes_json, const char *seed_file,
                                       char commitment[65], char *errstr, size_t errstr_size) {
    prizes_t p;
    int bad = parse_prizes(prizes_json, &p, errstr, errstr_size);
    json_decref(p.root);
    if (bad) return CARROT_LEDGER_REFUSED;
    if (entry_cost <= 0) {
        snprintf(errstr, errstr_size, "entry cost must be positive");
        return CARROT_LEDGER_REFUSED;
    }
    unsigned char raw[32];
    char seed[65], cost[24];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(errstr, errstr_size, "could not generate a random seed");
        return CARROT_LEDGER_FATAL;
    }
    hex(raw, sizeof(raw), seed);
    carrot_draw_sha256_hex(seed, commitment);
    if (write_seed(seed_file, seed, errstr, errstr_size)) return CARROT_LEDGER_REFUSED;
    snprintf(cost, sizeof(cost), "%lld", (long long)entry_cost);
    const char *params[] = {program, id, name, cost, prizes_json, commitment};
    carrot_ledger_err_t rc = carrot_pg_command(
        pg,
        "INSERT INTO sweepstakes (program_id, sweepstakes_id, name, entry_cost,"
        " prizes, seed_sha256) VALUES ($1, $2, $3, $4, $5, $6)",
        6, params, errstr, errstr_size);
    if (rc) {
        unlink(seed_file); /* no sweepstakes: the seed commits to nothing */
        return strstr(errstr, "duplicate key") ? CARROT_LEDGER_REFUSED : rc;
    }
    return CARROT_LEDGER_OK;
}

/* n entries numbered after the last and their one journal transaction. */
static const carrot_posting_t entry_posting = {
    .with = "base AS (SELECT coalesce(max(entry_no), 0) AS m FROM sweepstakes_entries"
            "  WHERE program_id = $1 AND sweepstakes_id = $2),"
            " ins AS (INSERT INTO sweepstakes_entries (program_id, sweepstakes_id, entry_no,"
            "  participant_id) SELECT $1, $2, base.m + g, $3 FROM base,"
            "  generate_series(1, $4::int) g RETURNING entry_no)",
    .rows = "SELECT $1, 'entry', $2 || '/' || (base.m + 1) || '-' || (base.m + $4::int), $3,"
            " 'wallet', 'sweepstakes', $5::bigint FROM base",
    .result = "SELECT base.m + 1 FROM base"};

carrot_ledger_err_t carrot_draw_enter(PGconn *pg, const char *program, const char *id,
                                      const char *participant, int n, int *firstp, char *errstr,
                                      size_t errstr_size) {
    if (n <= 0 || n > 100000) {
        snprintf(errstr, errstr_size, "entries must be from 1 to 100000");
        return CARROT_LEDGER_REFUSED;
    }
    /* the entry list is hashed as lines "<entry_no>:<participant>\n" (draw.h) */
    for (const unsigned char *c = (const unsigned char *)participant; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            snprintf(errstr, errstr_size, "participant id holds a control character (0x%02x)", *c);
            return CARROT_LEDGER_REFUSED;
        }
    char *row = NULL, *left = NULL, *first = NULL, num[16];
    carrot_ledger_err_t rc;
    snprintf(num, sizeof(num), "%d", n);
    if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
    /* the sweepstakes row first: it serializes entry numbers */
    const char *p1[] = {program, id};
    if ((rc = carrot_pg_value(pg,
                              "SELECT status || ' ' || entry_cost FROM sweepstakes"
                              " WHERE program_id = $1 AND sweepstakes_id = $2 FOR UPDATE",
                              2, p1, &row, errstr, errstr_size)))
        return carrot_pg_abort(pg, rc);
    if (!row || strncmp(row, "open ", 5) != 0) {
        snprintf(errstr, errstr_size,
                 row ? "sweepstakes \"%s\" is closed to entries"
                     : "no sweepstakes \"%s\" in program \"%s\"",
                 id, program);
        free(row);
        return carrot_pg_abort(pg, CARROT_LEDGER_REFUSED);
    }
    long long cost = atoll(row + 5) * n;
    free(row);
    char costs[24];
    snprintf(costs, sizeof(costs), "%lld", cost);
    const char *p2[] = {program, participant, costs};
    if ((rc = carrot_pg_value(pg,
                              "UPDATE balances SET available = available - $3::bigint,"
                              " redeemed = redeemed + $3::bigint WHERE program_id = $1"
                              " AND participant_id = $2 AND available >= $3::bigint"
                              " RETURNING available",
                              3, p2, &left, errstr, errstr_size)))
        return carrot_pg_abort(pg, rc);
    if (!left) {
        char what[64];
        snprintf(what, sizeof(what), "%d entries", n);
        carrot_wallet_explain_shortfall(pg, program, participant, what, costs, errstr, errstr_size);
        return carrot_pg_abort(pg, CARROT_LEDGER_REFUSED);
    }
    free(left);
    const char *p3[] = {program, id, participant, num, costs};
    if ((rc = carrot_journal_post(pg, &entry_posting, 5, p3, &first, errstr, errstr_size)) ||
        (rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size))) {
        free(first);
        return carrot_pg_abort(pg, rc);
    }
    *firstp = atoi(first);
    free(first);
    return CARROT_LEDGER_OK;
}

/* Reads the seed; refuses a file that group or others may access (as ssh
 * refuses such a private key): whoever can read it can know every outcome
 * once entries close, before the draw. */
static int read_seed(const char *path, char seed[65], char *errstr, size_t errstr_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errstr, errstr_size, "could not open seed file \"%s\": %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(errstr, errstr_size,
                 S_ISREG(st.st_mode)
                     ? "seed file \"%s\" is accessible by group or others (mode %04o): it must be"
                       " readable by its owner only (chmod 600)"
                     : "seed file \"%s\" is not a regular file (mode %04o)",
                 path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp) {
        snprintf(errstr, errstr_size, "could not read seed file \"%s\": %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char line[256] = "";
    int ok = fgets(line, sizeof(line), fp) != NULL;
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || strlen(line) != 64) {
        snprintf(errstr, errstr_size, "seed file \"%s\" does not hold a 64-character seed", path);
        return -1;
    }
    memcpy(seed, line, 65);
    return 0;
}

/* Loads the sweepstakes (locking it if lock) and its prizes; entries gets
 * the entry list's hash stored at close ("" before close, and for a draw
 * made before migration 004). */
static carrot_ledger_err_t load(PGconn *pg, const char *program, const char *id, int lock,
                                prizes_t *p, char *status, char *seed, char *hash, char *entries,
                                char *errstr, size_t errstr_size) {
    const char *params[] = {program, id};
    PGresult *r = PQexecParams(
        pg,
        lock ? "SELECT status, prizes::text, seed_sha256, coalesce(seed, ''),"
               " coalesce(entries_sha256, '')"
               " FROM sweepstakes WHERE program_id = $1 AND sweepstakes_id = $2"
               " FOR UPDATE"
             : "SELECT status, prizes::text, seed_sha256, coalesce(seed, ''),"
               " coalesce(entries_sha256, '')"
               " FROM sweepstakes WHERE program_id = $1 AND sweepstakes_id = $2",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_ledger_err_t rc = carrot_pg_failure(pg, r, "database error", errstr, errstr_size);
        PQclear(r);
        return rc;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(errstr, errstr_size, "no sweepstakes \"%s\" in program \"%s\"", id, program);
        return CARROT_LEDGER_REFUSED;
    }
    snprintf(status, 16, "%s", PQgetvalue(r, 0, 0));
    snprintf(hash, 65, "%s", PQgetvalue(r, 0, 2));
    snprintf(seed, 65, "%s", PQgetvalue(r, 0, 3));
    snprintf(entries, 65, "%s", PQgetvalue(r, 0, 4));
    int bad = parse_prizes(PQgetvalue(r, 0, 1), p, errstr, errstr_size);
    PQclear(r);
    return bad ? CARROT_LEDGER_FATAL : CARROT_LEDGER_OK; /* stored prizes were checked once */
}

/* Ends a close or draw: the sweepstakes row's new state (sql, with
 * program, id and one value), the commit; frees p and aborts on failure. */
static carrot_ledger_err_t finish(PGconn *pg, const char *sql, const char *const params[3],
                                  prizes_t *p, char *errstr, size_t errstr_size) {
    carrot_ledger_err_t rc;
    if ((rc = carrot_pg_command(pg, sql, 3, params, errstr, errstr_size)) == CARROT_LEDGER_OK)
        rc = carrot_pg_command(pg, "COMMIT", 0, NULL, errstr, errstr_size);
    json_decref(p->root);
    return rc == CARROT_LEDGER_OK ? rc : carrot_pg_abort(pg, rc);
}

carrot_ledger_err_t carrot_draw_close(PGconn *pg, const char *program, const char *id,
                                      long long *entriesp, char entries_sha256[65], char *errstr,
                                      size_t errstr_size) {
    char seed[65], hash[65], status[16], entries[65];
    prizes_t p = {0};
    carrot_ledger_err_t rc;
    *entriesp = 0;
    if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
    /* the lock on the sweepstakes row waits for any entry being bought */
    if ((rc = load(pg, program, id, 1, &p, status, seed, hash, entries, errstr, errstr_size)))
        goto fail;
    if (strcmp(status, "open") != 0) {
        snprintf(errstr, errstr_size, "sweepstakes \"%s\" is already %s", id, status);
        rc = CARROT_LEDGER_REFUSED;
        goto fail;
    }
    const char *params[] = {program, id, entries_sha256};
    if ((rc = carrot_draw_entries_sha256(pg, program, id, entries_sha256, entriesp, errstr,
                                         errstr_size)))
        goto fail;
    return finish(pg,
                  "UPDATE sweepstakes SET status = 'closed', entries_sha256 = $3,"
                  " closed_at = now() WHERE program_id = $1 AND sweepstakes_id = $2",
                  params, &p, errstr, errstr_size);
fail:
    json_decref(p.root);
    return carrot_pg_abort(pg, rc);
}

/* A points prize: its journal transaction and the winner's balances. */
static const carrot_posting_t prize_posting = {
    .rows = "SELECT $1::text, 'prize', $2 || '/' || $3, $4::text, 'budget', 'wallet', $5::bigint",
    .after = "b AS (UPDATE balances SET available = available + $5::bigint,"
             " earned = earned + $5::bigint"
             " WHERE program_id = $1 AND participant_id = $4)"};

/* Stores every entry's outcome (and books points prizes) in the open
 * transaction, reporting each winner; *entriesp and *winnersp get counts. */
static carrot_ledger_err_t draw_entries(PGconn *pg, const char *program, const char *id,
                                        const char *seed, const char *entries, const prizes_t *p,
                                        carrot_draw_winner_cb on_winner, void *opaque,
                                        int *entriesp, int *winnersp, char *errstr,
                                        size_t errstr_size) {
    PGresult *r;
    carrot_ledger_err_t rc = entry_list(pg, program, id, &r, errstr, errstr_size);
    if (rc) return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        int entry = atoi(PQgetvalue(r, i, 0));
        const char *who = PQgetvalue(r, i, 1);
        int k = carrot_draw_outcome(seed, id, entries, entry, p->weights, p->n);
        char ks[16], es[16], pts[24];
        snprintf(ks, sizeof(ks), "%d", k);
        snprintf(es, sizeof(es), "%d", entry);
        snprintf(pts, sizeof(pts), "%lld", (long long)p->points[k]);
        const char *up[] = {program, id, es, ks};
        const char *pz[] = {program, id, es, who, pts};
        if ((rc = carrot_pg_command(pg,
                                    "UPDATE sweepstakes_entries SET prize_index = $4"
                                    " WHERE program_id = $1 AND sweepstakes_id = $2"
                                    " AND entry_no = $3",
                                    4, up, errstr, errstr_size)) ||
            (p->points[k] > 0 &&
             (rc = carrot_journal_post(pg, &prize_posting, 5, pz, NULL, errstr, errstr_size))))
            break;
        if (p->names[k]) {
            (*winnersp)++;
            if (on_winner) on_winner(opaque, entry, who, p->names[k], p->points[k]);
        }
    }
    *entriesp = PQntuples(r);
    PQclear(r);
    return rc;
}

carrot_ledger_err_t carrot_draw_run(PGconn *pg, const char *program, const char *id,
                                    const char *seed_file, carrot_draw_winner_cb on_winner,
                                    void *opaque, int *entriesp, int *winnersp, char seed[65],
                                    char *errstr, size_t errstr_size) {
    char stored_seed[65], hash[65], status[16], check[65], entries[65];
    prizes_t p = {0};
    carrot_ledger_err_t rc;
    *entriesp = *winnersp = 0;
    if (read_seed(seed_file, seed, errstr, errstr_size)) return CARROT_LEDGER_REFUSED;
    if ((rc = carrot_pg_command(pg, "BEGIN", 0, NULL, errstr, errstr_size))) return rc;
    if ((rc = load(pg, program, id, 1, &p, status, stored_seed, hash, entries, errstr,
                   errstr_size)))
        goto fail;
    rc = CARROT_LEDGER_REFUSED;
    if (strcmp(status, "closed") != 0) {
        snprintf(errstr, errstr_size,
                 strcmp(status, "open") == 0
                     ? "sweepstakes \"%s\" is still open: close it first (carrot-ledger close)"
                     : "sweepstakes \"%s\" has already been drawn",
                 id);
        goto fail;
    }
    carrot_draw_sha256_hex(seed, check);
    if (strcmp(check, hash) != 0) {
        snprintf(errstr, errstr_size, "the seed does not match the commitment %s", hash);
        goto fail;
    }
    /* entries cannot change once closed; a changed list means tampering */
    if ((rc = carrot_draw_entries_sha256(pg, program, id, check, NULL, errstr, errstr_size)))
        goto fail;
    if (strcmp(check, entries) != 0) {
        snprintf(errstr, errstr_size, "the entry list hashes to %s, not %s as when it closed",
                 check, entries);
        rc = CARROT_LEDGER_REFUSED;
        goto fail;
    }
    const char *fin[] = {program, id, seed};
    if ((rc = draw_entries(pg, program, id, seed, entries, &p, on_winner, opaque, entriesp,
                           winnersp, errstr, errstr_size)))
        goto fail;
    return finish(pg,
                  "UPDATE sweepstakes SET seed = $3, status = 'drawn',"
                  " drawn_at = now() WHERE program_id = $1 AND sweepstakes_id = $2",
                  fin, &p, errstr, errstr_size);
fail:
    json_decref(p.root);
    return carrot_pg_abort(pg, rc);
}

carrot_ledger_err_t carrot_draw_verify(PGconn *pg, const char *program, const char *id,
                                       long long *entriesp, long long *winnersp, char *errstr,
                                       size_t errstr_size) {
    char seed[65], hash[65], status[16], check[65], entries[65];
    prizes_t p = {0};
    carrot_ledger_err_t rc = load(pg, program, id, 0, &p, status, seed, hash, entries, errstr,
                                  errstr_size);
    *entriesp = *winnersp = 0;
    if (rc) goto out;
    rc = CARROT_LEDGER_REFUSED;
    if (strcmp(status, "drawn") != 0) {
        snprintf(errstr, errstr_size, "sweepstakes \"%s\" has not been drawn yet", id);
        goto out;
    }
    carrot_draw_sha256_hex(seed, check);
    if (strcmp(check, hash) != 0) {
        snprintf(errstr, errstr_size, "revealed seed hashes to %s, not the commitment %s", check,
                 hash);
        goto out;
    }
    /* drawn since migration 004: the outcomes depend on the entry list closed */
    if (*entries) {
        if ((rc = carrot_draw_entries_sha256(pg, program, id, check, NULL, errstr, errstr_size)))
            goto out;
        rc = CARROT_LEDGER_REFUSED;
        if (strcmp(check, entries) != 0) {
            snprintf(errstr, errstr_size,
                     "the entry list hashes to %s, not %s as published at close", check, entries);
            goto out;
        }
    }
    const char *params[] = {program, id};
    PGresult *r = PQexecParams(pg,
                               "SELECT entry_no, coalesce(prize_index, -1) FROM sweepstakes_entries"
                               " WHERE program_id = $1 AND sweepstakes_id = $2 ORDER BY entry_no",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = carrot_pg_failure(pg, r, "database error", errstr, errstr_size);
        PQclear(r);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int entry = atoi(PQgetvalue(r, i, 0)), stored = atoi(PQgetvalue(r, i, 1));
        int k = carrot_draw_outcome(seed, id, *entries ? entries : NULL, entry, p.weights, p.n);
        if (k != stored) {
            snprintf(errstr, errstr_size, "entry %d: stored outcome %d, the seed gives %d", entry,
                     stored, k);
            PQclear(r);
            goto out;
        }
        if (p.names[k]) (*winnersp)++;
        (*entriesp)++;
    }
    PQclear(r);
    rc = CARROT_LEDGER_OK;
out:
    json_decref(p.root);
    return rc;
}
