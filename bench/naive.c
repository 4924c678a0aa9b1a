/* naive.c: the naive design's Redis commands for a feed.
 *
 * This is about the mix the scorer's Redis script issued per activity
 * before its write became one guarded MULTI/EXEC settled in C, and what a
 * plain consumer that scores record by record would send: per activity a
 * GET and a SET (with its TTL) of its dedup entry, an HMGET, an HSET and an
 * HINCRBY of its CRM record, then per batch a ZINCRBY per board and
 * participant (points summed over the batch) and an EXPIREAT per board the
 * batch touches, and an SADD into the program's board index the first time
 * a board is seen. No watermark, no WATCH, no transaction: the cheapest way
 * to send that work, which Carrot's exactly-once write should beat. Boards and points come from the same rules and plan the scorer uses
 * (carrot_rules_score, carrot_board_plan). */
#include "naive.h"

#include "carrot/activity_json.h"
#include "carrot/board.h"
#include "carrot/rules.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One command in RESP: argc arguments, each a NUL-terminated string. */
static void resp(FILE *f, long long *count, int argc, const char *const *argv) {
    fprintf(f, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) fprintf(f, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    (*count)++;
}

typedef struct {
    char *board; /* the board's key */
    const char *member;
    int64_t points, expire_at;
} add_t;

static int by_board_member(const void *a, const void *b) {
    const add_t *x = a, *y = b;
    int c = strcmp(x->board, y->board);
    return c ? c : strcmp(x->member, y->member);
}

typedef struct {
    add_t *adds;
    size_t n, cap;
    char **members; /* the participants' ids, owned (the JSON goes per line) */
    size_t nmembers, capmembers;
    char **known; /* the boards indexed so far, sorted, owned */
    size_t nknown, capknown;
} batch_t;

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether board was seen before; if not, remembers it (-1: out of memory). */
static int known(batch_t *b, const char *board) {
    if (bsearch(&board, b->known, b->nknown, sizeof(*b->known), by_name)) return 1;
    if (b->nknown == b->capknown) {
        size_t cap = b->capknown ? 2 * b->capknown : 256;
        char **nk = realloc(b->known, cap * sizeof(*nk));
        if (!nk) return -1;
        b->known = nk;
        b->capknown = cap;
    }
    size_t at = 0;
    while (at < b->nknown && strcmp(b->known[at], board) < 0) at++;
    char *copy = strdup(board);
    if (!copy) return -1;
    memmove(b->known + at + 1, b->known + at, (b->nknown - at) * sizeof(*b->known));
    b->known[at] = copy;
    b->nknown++;
    return 0;
}

/* The batch's ZINCRBYs (summed), per board touched its EXPIREAT, and per new
 * board its SADD. -1 when out of memory. */
static int flush(FILE *f, batch_t *b, const char *index, naive_mix_t *mix) {
    qsort(b->adds, b->n, sizeof(*b->adds), by_board_member);
    char pts[32], at[32];
    for (size_t i = 0; i < b->n;) {
        size_t j = i;
        int64_t sum = 0;
        for (; j < b->n && by_board_member(&b->adds[i], &b->adds[j]) == 0; j++)
            sum += b->adds[j].points;
        snprintf(pts, sizeof(pts), "%lld", (long long)sum);
        resp(f, &mix->commands, 4,
             (const char *const[]){"ZINCRBY", b->adds[i].board, pts, b->adds[i].member});
        mix->zincrby++;
        int new_board = i == 0 || strcmp(b->adds[i - 1].board, b->adds[i].board) != 0;
        if (new_board && b->adds[i].expire_at) {
            snprintf(at, sizeof(at), "%lld", (long long)b->adds[i].expire_at);
            resp(f, &mix->commands, 3, (const char *const[]){"EXPIREAT", b->adds[i].board, at});
            mix->expireat++;
        }
        int seen = new_board ? known(b, b->adds[i].board) : 1;
        if (seen < 0) return -1;
        if (!seen) {
            resp(f, &mix->commands, 3, (const char *const[]){"SADD", index, b->adds[i].board});
            mix->sadd++;
        }
        i = j;
    }
    for (size_t i = 0; i < b->n; i++) free(b->adds[i].board);
    for (size_t i = 0; i < b->nmembers; i++) free(b->members[i]);
    b->n = b->nmembers = 0;
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 4096;
    while (c < need) c *= 2;
    void *np = realloc(*p, c * size);
    if (!np) return -1;
    *p = np;
    *cap = c;
    return 0;
}

int naive_mix_write(const char *rules_path, const char *feed, const char *program, int batch,
                    const char *out, naive_mix_t *mix, char *errstr, size_t errstr_size) {
    memset(mix, 0, sizeof(*mix));
    carrot_rules_t *rules = carrot_rules_load(rules_path, errstr, errstr_size);
    if (!rules) return -1;
    FILE *in = fopen(feed, "r"), *f = fopen(out, "w");
    carrot_scoring_t *sc = malloc(sizeof(*sc));
    carrot_plan_t *plan = malloc(sizeof(*plan));
    batch_t b = {0};
    char *line = NULL, nprog[128], prefix[160], index[200], key[1200], val[64], pts[32];
    size_t linecap = 0;
    int rc = -1, inbatch = 0;
    if (!in || !f || !sc || !plan) {
        snprintf(errstr, errstr_size, "naive mix: cannot open %s or %s, or out of memory", feed,
                 out);
        goto done;
    }
    snprintf(nprog, sizeof(nprog), "naive-%s", program);
    snprintf(prefix, sizeof(prefix), "carrot:{%s}:", nprog);
    snprintf(index, sizeof(index), "%sboards", prefix);
    const carrot_activity_json_defaults_t defaults = {program, "loadgen"};
    while (getline(&line, &linecap, in) > 0) {
        json_t *obj = json_loads(line, 0, NULL);
        carrot_activity_t a;
        if (!obj || carrot_activity_from_json(obj, &defaults, &a, errstr, errstr_size) != 0) {
            json_decref(obj);
            if (!obj) snprintf(errstr, errstr_size, "naive mix: a feed line is not JSON");
            goto done;
        }
        mix->activities++;
        snprintf(key, sizeof(key), "%sseen:%s", prefix, a.event_id);
        resp(f, &mix->commands, 2, (const char *const[]){"GET", key});
        resp(f, &mix->commands, 5, (const char *const[]){"SET", key, "bench|1", "EX", "2592000"});
        mix->get++, mix->set++;
        int earns = carrot_rules_score(rules, &a, sc) > 0 && sc->nlines > 0;
        int64_t points = 0;
        for (int i = 0; earns && i < sc->nlines; i++) points += sc->lines[i].points;
        snprintf(key, sizeof(key), "%srec:%s:%s", prefix, a.source_system, a.source_record_id);
        snprintf(val, sizeof(val), "%lld", (long long)a.occurred_at);
        snprintf(pts, sizeof(pts), "%lld", (long long)points);
        resp(f, &mix->commands, 8,
             (const char *const[]){"HMGET", key, "p", "n", "t", "on", "k", "c"});
        resp(f, &mix->commands, 10,
             (const char *const[]){"HSET", key, "p", a.participant_id, "t", a.activity_type, "on",
                                   val, "k", "A"});
        resp(f, &mix->commands, 4, (const char *const[]){"HINCRBY", key, "n", pts});
        mix->hmget++, mix->hset++, mix->hincrby++;
        if (earns) {
            if (carrot_board_plan(rules, &a, sc, plan, errstr, errstr_size) != CARROT_BOARD_OK) {
                json_decref(obj);
                goto done;
            }
            if (grow((void **)&b.adds, &b.cap, b.n + (size_t)plan->nboards, sizeof(*b.adds)) ||
                grow((void **)&b.members, &b.capmembers, b.nmembers + 1, sizeof(*b.members)) ||
                !(b.members[b.nmembers] = strdup(a.participant_id))) {
                json_decref(obj);
                goto oom;
            }
            const char *member = b.members[b.nmembers++];
            for (int i = 0; i < plan->nboards; i++) {
                carrot_board_key(key, sizeof(key), nprog, plan->boards[i].name);
                char *board = strdup(key);
                if (!board) {
                    json_decref(obj);
                    goto oom;
                }
                b.adds[b.n++] = (add_t){board, member, points, plan->boards[i].expire_at};
            }
        }
        json_decref(obj);
        if (++inbatch == batch) {
            if (flush(f, &b, index, mix)) goto oom;
            inbatch = 0;
        }
    }
    if (flush(f, &b, index, mix)) goto oom;
    rc = ferror(f) ? -1 : 0;
    if (rc) snprintf(errstr, errstr_size, "naive mix: could not write %s", out);
    goto done;
oom:
    snprintf(errstr, errstr_size, "naive mix: out of memory");
done:
    for (size_t i = 0; i < b.n; i++) free(b.adds[i].board);
    for (size_t i = 0; i < b.nmembers; i++) free(b.members[i]);
    for (size_t i = 0; i < b.nknown; i++) free(b.known[i]);
    free(b.adds);
    free(b.members);
    free(b.known);
    free(line);
    free(sc);
    free(plan);
    if (in) fclose(in);
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(errstr, errstr_size, "naive mix: could not write %s", out);
        rc = -1;
    }
    carrot_rules_destroy(rules);
    return rc;
}
