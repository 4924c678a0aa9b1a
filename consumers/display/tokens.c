/* tokens.c: carrot-board's read-only tokens: a display's (the kiosk URL of
 * a program), a participant's (the link to their own page) and a program
 * manager's (the boards, and the adoption page).
 *
 * A token is "cbt_<id>_<secret>": the id finds its row in display_tokens
 * (migration 006), which keeps only SHA-256(secret); the presented
 * secret's hash is compared with it in constant time (CRYPTO_memcmp). Rows
 * are cached for token-refresh-ms, so a revocation takes effect within it
 * and a page load does not cost a PostgreSQL round trip. Unknown ids are
 * cached too (briefly), so a flood of made-up tokens does not reach
 * PostgreSQL each time. */
#include "carrot/config.h"
#include "carrot/ledger_db.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "display.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define CACHE_SLOTS 1024
#define ID_HEX 16
#define SECRET_HEX 64

typedef struct {
    char token_id[ID_HEX + 1];
    int known; /* a row exists and is not revoked */
    grant_t g; /* when known */
    unsigned char sha[32];
    int64_t at_ms; /* when read (monotonic); 0 empty */
} slot_t;

struct tokens_s {
    char *dsn;
    long long refresh_ms;
    pthread_mutex_t lock;
    PGconn *pg; /* under lock: token checks are rare next to reads (cached) */
    slot_t slots[CACHE_SLOTS];
};

tokens_t *tokens_new(const char *dsn, long long refresh_ms) {
    tokens_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    if (!(t->dsn = strdup(dsn)) || pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->dsn);
        free(t);
        return NULL;
    }
    t->refresh_ms = refresh_ms;
    return t;
}

void tokens_destroy(tokens_t *t) {
    if (!t) return;
    if (t->pg) PQfinish(t->pg);
    pthread_mutex_destroy(&t->lock);
    free(t->dsn);
    free(t);
}

static void sha256(const char *s, size_t len, unsigned char out[32]) {
    unsigned int n = 32;
    EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

static int hexonly(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Splits "cbt_<16 hex>_<64 hex>"; 0, or -1 when it is not a token's shape. */
static int split(const char *tok, char id[ID_HEX + 1], const char **secretp) {
    if (!tok || strlen(tok) != 4 + ID_HEX + 1 + SECRET_HEX || strncmp(tok, "cbt_", 4) != 0 ||
        tok[4 + ID_HEX] != '_' || !hexonly(tok + 4, ID_HEX) ||
        !hexonly(tok + 5 + ID_HEX, SECRET_HEX))
        return -1;
    memcpy(id, tok + 4, ID_HEX);
    id[ID_HEX] = '\0';
    *secretp = tok + 5 + ID_HEX;
    return 0;
}

static unsigned slot_of(const char *id) {
    unsigned h = 2166136261u;
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 16777619u;
    return h % CACHE_SLOTS;
}

static PGconn *connected(tokens_t *t, char *errstr, size_t errstr_size) {
    if (t->pg && PQstatus(t->pg) == CONNECTION_OK) return t->pg;
    if (t->pg) PQfinish(t->pg);
    t->pg = PQconnectdb(t->dsn);
    if (PQstatus(t->pg) != CONNECTION_OK) {
        carrot_pg_error(t->pg, "PostgreSQL", errstr, errstr_size);
        PQfinish(t->pg);
        t->pg = NULL;
    }
    return t->pg;
}

/* The kind named s ("display", "participant", "manager"); 0, or -1 when none. */
static int kind_of(const char *s, token_kind_t *kindp) {
    static const char *const names[] = {[TOKEN_DISPLAY] = "display",
                                        [TOKEN_PARTICIPANT] = "participant",
                                        [TOKEN_MANAGER] = "manager"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0) {
            *kindp = (token_kind_t)i;
            return 0;
        }
    return -1;
}

/* Reads token id's row into s; 0, or -1 with errstr. */
static int fetch(tokens_t *t, const char *id, slot_t *s, char *errstr, size_t errstr_size) {
    PGconn *pg = connected(t, errstr, errstr_size);
    if (!pg) return -1;
    const char *params[] = {id};
    PGresult *r = PQexecParams(pg,
                               "SELECT program_id, kind, coalesce(participant_id, ''), "
                               "encode(secret_sha256, 'hex') FROM display_tokens "
                               "WHERE token_id = $1 AND revoked_at IS NULL",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_pg_failure(pg, r, "reading display_tokens", errstr, errstr_size);
        PQclear(r);
        return -1;
    }
    memset(s, 0, sizeof(*s));
    snprintf(s->token_id, sizeof(s->token_id), "%s", id);
    token_kind_t kind;
    /* a kind this server does not know (a later migration's) grants nothing */
    if (PQntuples(r) == 1 && strlen(PQgetvalue(r, 0, 3)) == 64 &&
        kind_of(PQgetvalue(r, 0, 1), &kind) == 0) {
        s->known = 1;
        s->g.kind = kind;
        snprintf(s->g.token_id, sizeof(s->g.token_id), "%s", id);
        snprintf(s->g.program, sizeof(s->g.program), "%s", PQgetvalue(r, 0, 0));
        snprintf(s->g.participant, sizeof(s->g.participant), "%s", PQgetvalue(r, 0, 2));
        const char *hex = PQgetvalue(r, 0, 3);
        for (int i = 0; i < 32; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            s->sha[i] = (unsigned char)v;
        }
    }
    PQclear(r);
    s->at_ms = carrot_time_mono_ms();
    return 0;
}

int tokens_check(tokens_t *t, const char *presented, grant_t *g, char *errstr, size_t errstr_size) {
    char id[ID_HEX + 1];
    const char *secret;
    if (split(presented, id, &secret) != 0) return 0;
    unsigned char got[32];
    sha256(secret, SECRET_HEX, got);
    pthread_mutex_lock(&t->lock);
    slot_t *s = &t->slots[slot_of(id)];
    int64_t now = carrot_time_mono_ms();
    /* an unknown id is asked again sooner than a known one, but not every time */
    int64_t keep = s->known ? t->refresh_ms : (t->refresh_ms < 1000 ? t->refresh_ms : 1000);
    if (!s->at_ms || strcmp(s->token_id, id) != 0 || now - s->at_ms >= keep) {
        if (fetch(t, id, s, errstr, errstr_size) != 0) {
            s->at_ms = 0;
            pthread_mutex_unlock(&t->lock);
            return -1;
        }
    }
    int ok = s->known && CRYPTO_memcmp(s->sha, got, sizeof(got)) == 0;
    if (ok) *g = s->g;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

/* --- the token command ----------------------------------------------------- */

typedef struct {
    char *pg_dsn, *program, *kind, *participant, *label, *log_level, *log_format;
} token_conf_t;

#define OFF(f) offsetof(token_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"pg-dsn", CARROT_CONF_STR, OFF(pg_dsn), "host=127.0.0.1 port=15432 dbname=carrot user=carrot",
     0, 0, "PostgreSQL connection string (libpq) of the ledger's database"},
    {"program", CARROT_CONF_STR, OFF(program), NULL, 0, 0, "the program (add, list)"},
    {"kind", CARROT_CONF_STR, OFF(kind), "display", 0, 0,
     "add: display (a kiosk: the program's boards), participant (one person's page) or "
     "manager (the boards and the adoption page)"},
    {"participant", CARROT_CONF_STR, OFF(participant), NULL, 0, 0,
     "add --kind participant: whose page the token opens"},
    {"label", CARROT_CONF_STR, OFF(label), "", 0, 0,
     "add: a note for people (\"lobby TV\"), shown by list"},
    CARROT_CONF_LOG_ROWS(token_conf_t),
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-board token add --program P [--kind display|participant|manager] "
    "[--participant U] [--label L]\n"
    "       carrot-board token list --program P\n"
    "       carrot-board token revoke TOKEN_ID\n"
    "Manages carrot-board's read-only tokens (stored hashed in PostgreSQL). add prints the token "
    "once: keep it, it cannot be shown again.";

static int add(PGconn *pg, const token_conf_t *cf) {
    token_kind_t kind;
    if (kind_of(cf->kind, &kind) != 0) {
        carrot_error("--kind: expected display, participant or manager, not \"%s\"", cf->kind);
        return 2;
    }
    int participant = kind == TOKEN_PARTICIPANT;
    if (!cf->program || !params_id_ok(cf->program)) {
        carrot_error("--program is required (1 to %d bytes of text)", DISPLAY_ID_MAX);
        return 2;
    }
    if (participant != (cf->participant != NULL) ||
        (cf->participant && !params_id_ok(cf->participant))) {
        carrot_error(participant ? "--participant is required with --kind participant"
                                 : "--participant goes with --kind participant only");
        return 2;
    }
    unsigned char raw[8 + 32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        carrot_error("no randomness from the kernel");
        return 1;
    }
    char id[ID_HEX + 1], secret[SECRET_HEX + 1], shahex[65];
    for (int i = 0; i < 8; i++) snprintf(id + 2 * i, 3, "%02x", raw[i]);
    for (int i = 0; i < 32; i++) snprintf(secret + 2 * i, 3, "%02x", raw[8 + i]);
    unsigned char sha[32];
    sha256(secret, SECRET_HEX, sha);
    for (int i = 0; i < 32; i++) snprintf(shahex + 2 * i, 3, "%02x", sha[i]);
    const char *params[] = {id, cf->program, cf->kind, cf->participant, cf->label, shahex};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO display_tokens (token_id, program_id, kind, "
                               "participant_id, label, secret_sha256) "
                               "VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'))",
                               6, NULL, params, NULL, NULL, 0);
    char errstr[512];
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        carrot_pg_failure(pg, r, "adding the token", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        PQclear(r);
        return 1;
    }
    PQclear(r);
    printf("cbt_%s_%s\n", id, secret);
    explicit_bzero(secret, sizeof(secret));
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

static int list(PGconn *pg, const token_conf_t *cf) {
    if (!cf->program) {
        carrot_error("--program is required");
        return 2;
    }
    const char *params[] = {cf->program};
    PGresult *r = PQexecParams(
        pg,
        "SELECT token_id, kind, coalesce(participant_id, ''), label, "
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') "
        "FROM display_tokens WHERE program_id = $1 ORDER BY created_at, token_id",
        1, NULL, params, NULL, NULL, 0);
    char errstr[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        carrot_pg_failure(pg, r, "listing tokens", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        PQclear(r);
        return 1;
    }
    printf("token_id\tkind\tparticipant\tlabel\tcreated\trevoked\n");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
    PQclear(r);
    return 0;
}

static int revoke_token(PGconn *pg, const char *id) {
    char errstr[512];
    if (!id || strlen(id) != ID_HEX || !hexonly(id, ID_HEX)) {
        carrot_error("revoke: expected a token id (16 hex digits, as list shows)");
        return 2;
    }
    const char *params[] = {id};
    PGresult *r = PQexecParams(pg,
                               "UPDATE display_tokens SET revoked_at = now() "
                               "WHERE token_id = $1 AND revoked_at IS NULL",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        carrot_pg_failure(pg, r, "revoking the token", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        PQclear(r);
        return 1;
    }
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (n == 0) {
        carrot_error("no such token, or revoked already: %s", id);
        return 3;
    }
    printf("revoked %s (screens using it stop within the server's token-refresh-ms)\n", id);
    return 0;
}

int tokens_command(int argc, char **argv) {
    /* argv[0] is "token"; the action (and revoke's id) are positional */
    token_conf_t cf;
    int exit_code, npos = 0;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-board", props, &cf, argc, argv, &npos,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    const char *action = npos >= 1 ? argv[1] : "";
    const char *id = npos >= 2 ? argv[2] : NULL;
    int arity = strcmp(action, "revoke") == 0 ? 2 : 1;
    if ((strcmp(action, "add") != 0 && strcmp(action, "list") != 0 && arity == 1) ||
        npos != arity) {
        carrot_error("usage: carrot-board token add|list [settings], or token revoke TOKEN_ID");
        carrot_conf_destroy(conf);
        return 2;
    }
    PGconn *pg = PQconnectdb(cf.pg_dsn);
    char errstr[512];
    if (PQstatus(pg) != CONNECTION_OK) {
        carrot_pg_error(pg, "PostgreSQL", errstr, sizeof(errstr));
        carrot_error("%s", errstr);
        PQfinish(pg);
        carrot_conf_destroy(conf);
        return 1;
    }
    int rc = action[0] == 'a'   ? add(pg, &cf)
             : action[0] == 'l' ? list(pg, &cf)
                                : revoke_token(pg, id);
    PQfinish(pg);
    carrot_conf_destroy(conf);
    return rc;
}
