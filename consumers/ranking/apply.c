/* apply.c: the scorer's write of a batch to the boards, exactly once, as
 * Redis transactions worked out here in C: one partition's events in
 * chunks, one after another; several partitions side by side, each on a
 * connection of its own (a lane).
 *
 * Why not a script: the Lua version spent two thirds of Redis's time in the
 * interpreter and in marshalling its arguments. Here every event is read in
 * one pipelined round trip (its dedup entry, its CRM record, its cap and goal
 * counters), settled in C, and written back in a second one as MULTI/EXEC
 * with the sums per board and participant already made.
 *
 * Why it is still exactly once: the first round trip WATCHes the
 * partition's watermark and the records it read, so if anything else wrote
 * them in between (a zombie scorer of the same partition after a rebalance,
 * a back-fill, another partition's event of a reassigned record), EXEC
 * refuses the transaction, nothing is written, and the chunk is read and
 * settled again. Cap and goal counters and dedup entries are a
 * participant's, and a participant's events are one partition's (ingest
 * keys by participant), so the watermark guards them; jobs of one call that
 * share one anyway run one after another (independent()). An event at or
 * below the watermark was applied before: it is not applied again, and its
 * dedup entry returns what the first run did.
 *
 * WATCH costs Redis a scan of the keys already watched (quadratic in their
 * number), so a batch is written in chunks of CHUNK events, each its own
 * transaction: a crash between two chunks is a crash between two batches.
 *
 * Why lanes: within a partition each chunk must see the last one's writes,
 * so this process and Redis take turns; with a second partition's chunk on
 * another connection, Redis writes one while this process settles the other.
 * Within a lane, the next chunk's read goes out right behind a chunk's
 * transaction: one round trip a chunk, not two. A refused transaction
 * drains that read, and the chunk is read again.
 *
 * Values (the dedup entry as the Lua script that did this before kept it):
 *   seen:<event id>  "<stream>:<offset>\x1f<amount>\x1f<who>\x1f<type>\x1f<version>\x1f<lines>"
 *                    lines "rule\x1epoints\x1e..."; expires after the dedup window
 *   rs:<record>      one string (record.c): p (participant), n (points earned), t (type),
 *                    on ("0" deleted, "1" stands), k (boards "name\x1eexpire\x1e..."),
 *                    c (what it added to commitments, to take back on a DELETE:
 *                    "key\x1ewho\x1evalue\x1ejudged\x1eexpire\x1e...")
 *   cm:<commitment>:<period id>  hash n\x1f<who> (the figure), d\x1f<who> (judged) */
#include "board_int.h"

#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 200
#define MAX_ATTEMPTS 32 /* transactions refused in a row before giving up (RETRY) */

/* --- strings without printf (printf was half the scorer's time here) ----- */

/* A bounded string being built: what does not fit is cut, always NUL-ended. */
typedef struct {
    char *p;
    size_t len, size;
} sb_t;

static sb_t sb(char *buf, size_t size) {
    buf[0] = '\0';
    return (sb_t){buf, 0, size};
}

static void sb_put(sb_t *b, const char *s, size_t n) {
    if (n > b->size - 1 - b->len) n = b->size - 1 - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_s(sb_t *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_i(sb_t *b, int64_t v) {
    char t[24];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do t[sizeof(t) - 1 - n++] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) t[sizeof(t) - 1 - n++] = '-';
    sb_put(b, t + sizeof(t) - n, (size_t)n);
}

/* "a\x1fb" into buf: a table key made of two names. */
static void joined(char *buf, size_t size, const char *a, const char *b) {
    sb_t k = sb(buf, size);
    sb_s(&k, a);
    sb_put(&k, "\x1f", 1);
    sb_s(&k, b);
}

/* src[0..len) into dst[size], cut to fit. */
static void copy(char *dst, size_t size, const char *src, size_t len) {
    sb_t b = sb(dst, size);
    sb_put(&b, src, len);
}

/* --- scratch: strings, a table from strings to entries ------------------- */

typedef struct blk_s {
    struct blk_s *next;
    size_t len, cap;
    char data[];
} blk_t;

enum { K_SEEN, K_REC, K_CTR, K_BOARD, K_SUM, K_WHO, K_CM, K_CMKEY, NKINDS };
enum { F_P = 1, F_T = 2, F_K = 4, F_ON = 8, F_N = 16, F_VAL = 32, F_C = 64 };

/* One thing the chunk reads or writes. */
typedef struct {
    int kind;
    const char *key;  /* seen, rec, ctr, board, cmkey: the Redis key; who: the participant */
    const char *s[4]; /* seen: s[0] the value; rec: p, t, k, c (NULL: no such field);
                         cm: who, its cmkey */
    int64_t n, exp;   /* rec: n; ctr: value and expiry; board, cmkey: expiry (0: none);
                         sum: amount; cm: the figure's change */
    int64_t d;        /* cm: the change of records judged */
    int on, has_n;    /* rec: on -1 absent, 0, 1 */
    int dirty;        /* F_* written by this chunk */
    int32_t a, b;     /* sum: board, who; who: the first sum on its list of names to index */
    int32_t next;     /* sum: the next on its who's list */
    const char *name; /* sum: the board's name (for the who's standing index) */
} ent_t;

typedef struct {
    uint32_t *slot; /* entry index + 1; 0 empty */
    size_t cap;
} tbl_t;

/* The pipelined commands: their arguments, and where each command starts. */
typedef struct {
    carrot_args_t a;
    size_t *cmd, ncmd, cmdcap; /* first argument of each command */
    char *wire;                /* the commands as RESP */
    size_t wirecap;
    int oom;
} cmds_t;

/* What this process has already told Redis and need not say again: a board
 * in the program's list or a participant's, a key's expiry time. Kept as
 * 64-bit hashes of the key and member in an open-addressing set, emptied
 * when half full, whenever a connection is opened again (a Redis that
 * restarted may have lost them) and when a partition's watermark is gone
 * (its program's keys were deleted). Why: these commands repeat on every chunk
 * for the same boards, and were a tenth of Redis's time per activity. */
#define TOLD_CAP (1u << 18)
typedef struct {
    uint64_t *slot; /* 0: empty */
    size_t n;
    unsigned long connects;
    uint64_t *sent; /* this chunk's, added once its EXEC ran */
    size_t nsent, sentcap;
} told_t;

struct carrot_apply_s {
    told_t told; /* a lane's own: its sent list; the root lane's: also the set */
    told_t *set; /* the set the lanes share: the root lane's told */
    blk_t *blocks;
    ent_t *e;
    size_t ne, ecap;
    tbl_t t[NKINDS]; /* per kind */
    cmds_t c;        /* the chunk's read */
    cmds_t w;        /* its transaction (kept apart: the next read may be sent behind it) */
    char *feed;      /* the chunk's changes for the feed stream (see feed_add) */
    size_t feedlen, feedcap;
    int oom;
};

void carrot_apply_free(carrot_apply_t *ap) {
    if (!ap) return;
    free(ap->told.slot);
    free(ap->told.sent);
    for (blk_t *b = ap->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    for (int i = 0; i < NKINDS; i++) free(ap->t[i].slot);
    free(ap->e);
    cmds_t *cs[] = {&ap->c, &ap->w};
    for (int i = 0; i < 2; i++) {
        carrot_args_free(&cs[i]->a);
        free(cs[i]->cmd);
        free(cs[i]->wire);
    }
    free(ap->feed);
    free(ap);
}

/* Empties the scratch for the next chunk, keeping its memory. */
static void reset(carrot_apply_t *ap) {
    for (blk_t *b = ap->blocks; b; b = b->next) b->len = 0;
    for (int i = 0; i < NKINDS; i++)
        if (ap->t[i].slot) memset(ap->t[i].slot, 0, ap->t[i].cap * sizeof(uint32_t));
    ap->ne = 0;
    ap->feedlen = 0;
    ap->c.a.len = ap->c.a.n = ap->c.ncmd = 0;
    ap->c.a.oom = ap->oom = 0;
}

/* len bytes of s, NUL-terminated, valid until the next reset. */
static const char *save(carrot_apply_t *ap, const char *s, size_t len) {
    blk_t *b = ap->blocks;
    while (b && b->cap - b->len < len + 1) b = b->next;
    if (!b) {
        size_t cap = len + 1 > 65536 ? len + 1 : 65536;
        if (!(b = malloc(sizeof(*b) + cap))) {
            ap->oom = 1;
            return "";
        }
        *b = (blk_t){.next = ap->blocks, .cap = cap};
        ap->blocks = b;
    }
    char *p = b->data + b->len;
    memcpy(p, s, len);
    p[len] = '\0';
    b->len += len + 1;
    return p;
}

/* The hashes below are this process's own (tables, and what it told
 * Redis), never stored: eight bytes a step, where FNV-1a's byte a step was
 * a fifth of the scorer's time in ent() and told_send(). */
static uint64_t mix64(uint64_t h) { /* MurmurHash3's finalizer */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* s[0..n) hashed on from seed (its length too, so "ab"+"c" is not "a"+"bc"). */
static uint64_t hash_mem(uint64_t seed, const char *s, size_t n) {
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = seed ^ (n * k), w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    if (n) {
        w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    return mix64(h);
}

static uint64_t hash(const char *s) { return hash_mem(0, s, strlen(s)); }

/* a, b and c together: what a told_t remembers (never 0: an empty slot). */
static uint64_t told_hash(const char *a, const char *b, int64_t c) {
    uint64_t h = hash_mem(hash_mem(1, a, strlen(a)), b, strlen(b));
    h = mix64(h ^ (uint64_t)c);
    return h ? h : 1;
}

static int told_has(const told_t *t, uint64_t h) {
    if (!t->slot) return 0;
    for (size_t j = h & (TOLD_CAP - 1); t->slot[j]; j = (j + 1) & (TOLD_CAP - 1))
        if (t->slot[j] == h) return 1;
    return 0;
}

/* Notes h as sent by this chunk (remembered once it ran); 0 when told already. */
static int told_send(carrot_apply_t *ap, uint64_t h) {
    told_t *t = &ap->told;
    if (told_has(ap->set, h)) return 0;
    if (t->nsent == t->sentcap) {
        size_t cap = t->sentcap ? t->sentcap * 2 : 256;
        uint64_t *m = realloc(t->sent, cap * sizeof(*m));
        if (!m) return 1; /* said again next time: harmless */
        t->sent = m;
        t->sentcap = cap;
    }
    t->sent[t->nsent++] = h;
    return 1;
}

/* The chunk's EXEC ran: what it sent is told, for every lane (each lane
 * keeps its own list until then: another's EXEC may run first, or be
 * refused). */
static void told_keep(carrot_apply_t *ap) {
    told_t *t = ap->set, *mine = &ap->told;
    if (!t->slot && !(t->slot = calloc(TOLD_CAP, sizeof(*t->slot)))) return;
    for (size_t i = 0; i < mine->nsent; i++) {
        if (t->n >= TOLD_CAP / 2) { /* half full: start again */
            memset(t->slot, 0, TOLD_CAP * sizeof(*t->slot));
            t->n = 0;
        }
        size_t j = mine->sent[i] & (TOLD_CAP - 1);
        while (t->slot[j] && t->slot[j] != mine->sent[i]) j = (j + 1) & (TOLD_CAP - 1);
        if (!t->slot[j]) t->slot[j] = mine->sent[i], t->n++;
    }
    mine->nsent = 0;
}

/* Forgets all that was told (Redis may have lost it). */
static void told_forget(told_t *t) {
    if (t->slot) memset(t->slot, 0, TOLD_CAP * sizeof(*t->slot));
    t->n = 0;
}

/* The entry of kind for key (copied on first sight), created zeroed. -1 on OOM. */
static int32_t ent(carrot_apply_t *ap, int kind, const char *key, int *createdp) {
    tbl_t *t = &ap->t[kind];
    if (createdp) *createdp = 0;
    if ((ap->ne + 1) * 2 > t->cap) { /* at most half full, counting every kind's entries */
        size_t cap = t->cap ? t->cap : 1024;
        while ((ap->ne + 1) * 2 > cap) cap *= 2;
        uint32_t *slot = calloc(cap, sizeof(*slot));
        if (!slot) return ap->oom = 1, -1;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                size_t j = hash(ap->e[t->slot[i] - 1].key) & (cap - 1);
                while (slot[j]) j = (j + 1) & (cap - 1);
                slot[j] = t->slot[i];
            }
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    size_t j = hash(key) & (t->cap - 1);
    while (t->slot[j]) {
        if (strcmp(ap->e[t->slot[j] - 1].key, key) == 0) return (int32_t)(t->slot[j] - 1);
        j = (j + 1) & (t->cap - 1);
    }
    if (ap->ne == ap->ecap) {
        size_t cap = ap->ecap ? ap->ecap * 2 : 1024;
        ent_t *e = realloc(ap->e, cap * sizeof(*e));
        if (!e) return ap->oom = 1, -1;
        ap->e = e;
        ap->ecap = cap;
    }
    const char *k = save(ap, key, strlen(key));
    if (ap->oom) return -1;
    ap->e[ap->ne] = (ent_t){.kind = kind, .key = k, .on = -1, .a = -1, .b = -1, .next = -1};
    t->slot[j] = (uint32_t)++ap->ne;
    if (createdp) *createdp = 1;
    return (int32_t)(ap->ne - 1);
}

/* --- commands ------------------------------------------------------------ */

static void arg(cmds_t *c, const char *s, size_t len) { carrot_args_add(&c->a, s, len); }

static void arg_s(cmds_t *c, const char *s) { arg(c, s, strlen(s)); }

static void arg_i(cmds_t *c, long long v) {
    char num[24];
    sb_t b = sb(num, sizeof(num));
    sb_i(&b, v);
    arg(c, num, b.len);
}

static void cmd(cmds_t *c, const char *name) {
    if (c->a.oom) return;
    if (c->ncmd == c->cmdcap) {
        size_t nc = c->cmdcap ? c->cmdcap * 2 : 256;
        size_t *m = realloc(c->cmd, nc * sizeof(*m));
        if (!m) {
            c->a.oom = 1;
            return;
        }
        c->cmd = m;
        c->cmdcap = nc;
    }
    c->cmd[c->ncmd++] = c->a.n;
    arg_s(c, name);
}

/* Sends the commands built since the last reset, and flushes them to the
 * socket at once: Redis works on them while this process settles another
 * lane's chunk. -1 on a transport error (connection dropped, errstr set). */
static int send_cmds(carrot_board_t *b, cmds_t *c, char *errstr, size_t errstr_size) {
    /* RESP written here in one pass and handed to hiredis whole: formatting
     * each command through redisAppendCommandArgv was a fifth of the
     * scorer's time */
    const carrot_args_t *a = &c->a;
    size_t need = 0;
    for (size_t i = 0; i < a->n; i++) need += a->lens[i] + 26;
    need += c->ncmd * 24;
    if (need > c->wirecap) {
        char *w = realloc(c->wire, need);
        if (!w) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        c->wire = w;
        c->wirecap = need;
    }
    sb_t out = sb(c->wire, c->wirecap);
    for (size_t k = 0; k < c->ncmd; k++) {
        size_t first = c->cmd[k], end = k + 1 < c->ncmd ? c->cmd[k + 1] : a->n;
        sb_put(&out, "*", 1);
        sb_i(&out, (int64_t)(end - first));
        sb_put(&out, "\r\n", 2);
        for (size_t i = first; i < end; i++) {
            sb_put(&out, "$", 1);
            sb_i(&out, (int64_t)a->lens[i]);
            sb_put(&out, "\r\n", 2);
            sb_put(&out, a->buf + a->off[i], a->lens[i]);
            sb_put(&out, "\r\n", 2);
        }
    }
    if (redisAppendFormattedCommand(b->rc, out.p, out.len) != REDIS_OK) {
        snprintf(errstr, errstr_size, "out of memory");
        carrot_board_drop(b);
        return -1;
    }
    for (int done = 0; !done;)
        if (redisBufferWrite(b->rc, &done) != REDIS_OK) {
            snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
            carrot_board_drop(b);
            return -1;
        }
    return 0;
}

/* Reads the replies of the ncmd commands sent into replies[0..ncmd)
 * (caller frees each). -1 on a transport error (connection dropped). */
static int recv_replies(carrot_board_t *b, size_t ncmd, redisReply **replies, char *errstr,
                        size_t errstr_size) {
    for (size_t k = 0; k < ncmd; k++) {
        replies[k] = NULL;
        if (redisGetReply(b->rc, (void **)&replies[k]) != REDIS_OK || !replies[k]) {
            snprintf(errstr, errstr_size, "Redis command failed: %s", b->rc->errstr);
            for (size_t j = 0; j < k; j++) freeReplyObject(replies[j]);
            carrot_board_drop(b);
            return -1;
        }
    }
    return 0;
}

/* An error reply of command k into errstr (naming the command and its
 * key); RETRY or FATAL by its code. */
static carrot_board_err_t reply_error(carrot_board_t *b, const cmds_t *c, size_t k, const char *err,
                                      char *errstr, size_t errstr_size) {
    const carrot_args_t *a = &c->a;
    size_t first = c->cmd[k], end = k + 1 < c->ncmd ? c->cmd[k + 1] : a->n;
    snprintf(errstr, errstr_size, "Redis error in %s%s%s: %s", a->buf + a->off[first],
             end - first > 1 ? " " : "", end - first > 1 ? a->buf + a->off[first + 1] : "", err);
    return carrot_board_retry_reply(b, err) ? CARROT_BOARD_RETRY : CARROT_BOARD_FATAL;
}

/* --- settling, in offset order ------------------------------------------ */

static const char *field(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* Adds amt for who to each board of boards ("name\x1eexpire\x1e..."): one
 * sum per board and participant (keyed "who\x1fname"; a rolled board's
 * stays 0: indexed, never written). The names go on the who's standing
 * index (pb:) unless that who was told this very list before: most events
 * repeat their participant's boards, and checking name by name cost a set
 * lookup per board and event. A list with a board left out (past its
 * retention) is not noted as told: a clock set back would write that
 * board again, and its name must then go on the index. */
static void add_boards(carrot_apply_t *ap, const char *prefix, int64_t now, int64_t amt,
                       const char *boards, const char *who) {
    if (amt == 0 || !*who || !boards) return;
    int32_t w = ent(ap, K_WHO, who, NULL);
    if (w < 0) return;
    uint64_t th = mix64(
        hash_mem(hash_mem(told_hash(prefix, "pb", 0), who, strlen(who)), boards, strlen(boards)));
    th = th ? th : 1;
    int index = !told_has(ap->set, th), skipped = 0;
    size_t wl = strlen(who);
    char name[512], key[1200];
    for (const char *p = boards; *p;) {
        const char *sep = strchr(p, '\x1e');
        if (!sep) { /* cut short: not told whole */
            skipped = 1;
            break;
        }
        copy(name, sizeof(name), p, (size_t)(sep - p));
        char *end;
        int64_t exp = strtoll(sep + 1, &end, 10);
        p = *end == '\x1e' ? end + 1 : end;
        int rolled = carrot_board_rolled(name);  /* indexed, never written (rollup.c) */
        if (!rolled && exp != 0 && exp <= now) { /* past its retention: left alone */
            skipped = 1;
            continue;
        }
        joined(key, sizeof(key), who, name);
        int created;
        int32_t si = ent(ap, K_SUM, key, &created);
        if (si < 0) return;
        if (created) {
            sb_t k = sb(key, sizeof(key));
            sb_s(&k, prefix);
            sb_s(&k, "lb:");
            sb_s(&k, name);
            int32_t bi = ent(ap, K_BOARD, key, NULL);
            if (bi < 0) return;
            ent_t *x = &ap->e[si];
            x->a = bi;
            x->b = w;
            x->name = x->key + wl + 1;
            x->has_n = !rolled; /* written */
            if (index) {        /* pushed on the who's list of names to index */
                x->next = ap->e[w].a;
                ap->e[w].a = si;
            }
        }
        ent_t *x = &ap->e[si], *bx = &ap->e[x->a];
        if (!x->has_n) continue;
        if (exp > 0 && bx->exp == 0) bx->exp = exp; /* the batch's first */
        x->n += amt;
    }
    if (index && !skipped) told_send(ap, th); /* (kept once the chunk's EXEC ran) */
}

/* Adds (value, judged) to who's figure in the commitment hash key (the
 * full Redis key), which Redis may drop at exp. */
static void add_commit(carrot_apply_t *ap, const char *key, const char *who, int64_t value,
                       int64_t judged, int64_t exp) {
    if ((value == 0 && judged == 0) || !*who) return;
    char k[1200];
    int32_t ki = ent(ap, K_CMKEY, key, NULL);
    if (ki < 0) return;
    if (exp > ap->e[ki].exp) ap->e[ki].exp = exp;
    joined(k, sizeof(k), ap->e[ki].key, who);
    int created;
    int32_t ci = ent(ap, K_CM, k, &created);
    if (ci < 0) return;
    if (created) {
        ap->e[ci].s[0] = save(ap, who, strlen(who));
        ap->e[ci].s[1] = ap->e[ki].key;
    }
    ap->e[ci].n += value;
    ap->e[ci].d += judged;
}

/* Adds sign times what a record added to commitments (its "c" field) back,
 * skipping hashes past their keeping. */
static void replay_commits(carrot_apply_t *ap, const char *c, int64_t sign, int64_t now) {
    char key[1200], who[600];
    while (c && *c) {
        const char *f[5];
        f[0] = c;
        for (int i = 1; i < 5; i++) {
            const char *sep = strchr(f[i - 1], '\x1e');
            if (!sep) return;
            f[i] = sep + 1;
        }
        copy(key, sizeof(key), f[0], (size_t)(f[1] - 1 - f[0]));
        copy(who, sizeof(who), f[1], (size_t)(f[2] - 1 - f[1]));
        char *end;
        int64_t value = strtoll(f[2], NULL, 10), judged = strtoll(f[3], NULL, 10);
        int64_t exp = strtoll(f[4], &end, 10);
        c = *end == '\x1e' ? end + 1 : end;
        if (exp > now) add_commit(ap, key, who, sign * value, sign * judged, exp);
    }
}

typedef struct {
    char rule[CARROT_RULE_ID_MAX + 16];
    int64_t points;
} line_t;

/* The settled outcome of one fresh event into res and its dedup value. */
static void outcome(carrot_board_result_t *res, int64_t amt, const char *who, const char *typ,
                    const char *ver, const line_t *lines, int nl) {
    res->fresh = 1;
    res->amount = amt;
    copy(res->participant_id, sizeof(res->participant_id), who, strlen(who));
    copy(res->activity_type, sizeof(res->activity_type), typ, strlen(typ));
    copy(res->version, sizeof(res->version), ver, strlen(ver));
    res->nlines = 0;
    for (int i = 0; i < nl && i < CARROT_RULES_MAX_LINES; i++) {
        copy(res->lines[i].rule_id, sizeof(res->lines[i].rule_id), lines[i].rule,
             strlen(lines[i].rule));
        res->lines[i].points = lines[i].points;
        res->nlines++;
    }
}

/* A stored dedup value back into res; 0 when it is not tag's (a duplicate). */
static int stored(carrot_board_result_t *res, const char *v, const char *tag) {
    const char *f[6];
    f[0] = v;
    for (int i = 1; i < 6; i++) {
        const char *sep = strchr(f[i - 1], '\x1f');
        if (!sep) return 0;
        f[i] = sep + 1;
    }
    size_t tl = strlen(tag);
    if ((size_t)(f[1] - 1 - f[0]) != tl || memcmp(f[0], tag, tl) != 0) return 0;
    res->fresh = 1;
    res->amount = strtoll(f[1], NULL, 10);
    copy(res->participant_id, sizeof(res->participant_id), f[2], (size_t)(f[3] - 1 - f[2]));
    copy(res->activity_type, sizeof(res->activity_type), f[3], (size_t)(f[4] - 1 - f[3]));
    copy(res->version, sizeof(res->version), f[4], (size_t)(f[5] - 1 - f[4]));
    res->nlines = 0;
    for (const char *s = f[5]; *s && res->nlines < CARROT_RULES_MAX_LINES;) {
        const char *sep = strchr(s, '\x1e');
        if (!sep) break;
        carrot_score_t *l = &res->lines[res->nlines++];
        copy(l->rule_id, sizeof(l->rule_id), s, (size_t)(sep - s));
        char *end;
        l->points = strtoll(sep + 1, &end, 10);
        s = *end == '\x1e' ? end + 1 : end;
    }
    return 1;
}

static void not_fresh(carrot_board_result_t *res) {
    memset(res, 0, offsetof(carrot_board_result_t, lines));
}

/* Whether an event reads and writes its record: an AWARD that earns or
 * counts, a REVERSE, a RESTORE. */
static int keeps_record(const carrot_board_event_t *e) {
    if (e->kind != CARROT_BOARD_AWARD) return 1;
    return e->scoring &&
           (e->scoring->nlines > 0 || e->scoring->ngoals > 0 || e->scoring->ncommits > 0);
}

static void record_key(char *buf, size_t size, const char *prefix, const carrot_activity_t *a) {
    sb_t b = sb(buf, size);
    sb_s(&b, prefix);
    sb_s(&b, "rs:");
    sb_put(&b, a->source_system, strnlen(a->source_system, 256));
    sb_put(&b, ":", 1);
    sb_put(&b, a->source_record_id, strnlen(a->source_record_id, 256));
}

/* prefix + a into buf. */
static void prefixed(char *buf, size_t size, const char *prefix, const char *kind, const char *a) {
    sb_t b = sb(buf, size);
    sb_s(&b, prefix);
    sb_s(&b, kind);
    sb_s(&b, a);
}

/* Whether a screen celebrates an award line (carrot_board_change_t). */
static int celebrated(const char *rule) {
    if (strncmp(rule, "goal.", 5) == 0) return 1;
    if (strncmp(rule, "commit.", 7) != 0) return 0;
    const char *dot = strrchr(rule, '.');
    return strcmp(dot, ".met") == 0 || strcmp(dot, ".streak") == 0;
}

/* Appends what a newly applied event changed to the chunk's feed entry:
 * "<who>\x1e<amount>\x1e<type>" and, for each line celebrated, (a goal it
 * reached, a commitment met) "\x1e<rule>\x1e<points>"; entries are
 * separated by \x1f. Only events
 * applied by this transaction get here, so a replayed batch adds nothing:
 * the feed is exactly once because the transaction is. */
static void feed_add(carrot_apply_t *ap, const char *who, int64_t amt, const char *typ,
                     const line_t *lines, int nl) {
    size_t need = ap->feedlen + strlen(who) + strlen(typ) + 32;
    for (int j = 0; j < nl; j++) need += strlen(lines[j].rule) + 24;
    if (need + 1 > ap->feedcap) {
        size_t cap = ap->feedcap ? ap->feedcap : 4096;
        while (cap < need + 1) cap *= 2;
        char *f = realloc(ap->feed, cap);
        if (!f) {
            ap->oom = 1;
            return;
        }
        ap->feed = f;
        ap->feedcap = cap;
    }
    sb_t b = {ap->feed, ap->feedlen, ap->feedcap};
    if (b.len) sb_put(&b, "\x1f", 1);
    sb_s(&b, who);
    sb_put(&b, "\x1e", 1);
    sb_i(&b, amt);
    sb_put(&b, "\x1e", 1);
    sb_s(&b, typ);
    for (int j = 0; j < nl; j++)
        if (celebrated(lines[j].rule)) {
            sb_put(&b, "\x1e", 1);
            sb_s(&b, lines[j].rule);
            sb_put(&b, "\x1e", 1);
            sb_i(&b, lines[j].points);
        }
    ap->feedlen = b.len;
}

/* Settles events in order against the state read (entries of ap), filling
 * res; the writes are what the entries' dirty flags say. Returns the
 * chunk's highest offset (or wm). */
static int64_t settle(carrot_apply_t *ap, const char *prefix, const char *stream,
                      const carrot_board_event_t *ev, size_t n, int64_t wm, int64_t now,
                      carrot_board_result_t *res) {
    int64_t top = wm;
    char key[1200];
    for (size_t i = 0; i < n && !ap->oom; i++) {
        const carrot_board_event_t *e = &ev[i];
        const carrot_activity_t *act = e->activity;
        char tag[400];
        sb_t tb = sb(tag, sizeof(tag));
        sb_s(&tb, stream);
        sb_put(&tb, ":", 1);
        sb_i(&tb, e->offset);
        prefixed(key, sizeof(key), prefix, "seen:", e->event_id);
        int32_t si = ent(ap, K_SEEN, key, NULL);
        if (si < 0) break;
        const carrot_scoring_t *sc = e->kind == CARROT_BOARD_AWARD ? e->scoring : NULL;
        const carrot_plan_t *pl = sc ? e->plan : NULL;
        if (ap->e[si].s[0]) {
            if (!stored(&res[i], ap->e[si].s[0], tag)) not_fresh(&res[i]);
        } else if (e->offset <= wm) { /* applied once, and its dedup entry has expired */
            not_fresh(&res[i]);
        } else if (!keeps_record(e)) { /* earns nothing: nothing to keep */
            outcome(&res[i], 0, act->participant_id, act->activity_type, e->version, NULL, 0);
        } else {
            record_key(key, sizeof(key), prefix, act);
            int32_t ri = ent(ap, K_REC, key, NULL);
            if (ri < 0) break;
            ent_t *r = &ap->e[ri];
            line_t lines[CARROT_RULES_MAX_LINES + CARROT_RULES_MAX_GOALS + 2];
            int nl = 0;
            int64_t amt = 0;
            const char *who = act->participant_id, *typ = act->activity_type;
            if (e->kind == CARROT_BOARD_AWARD) {
                int64_t sum = 0, cap_cut = 0;
                for (int j = 0; j < sc->nlines && nl < CARROT_RULES_MAX_LINES; j++, nl++) {
                    copy(lines[nl].rule, sizeof(lines[nl].rule), sc->lines[j].rule_id,
                         strlen(sc->lines[j].rule_id));
                    lines[nl].points = sc->lines[j].points;
                    sum += sc->lines[j].points;
                }
                if (pl && pl->cap_key[0] && sum > 0) { /* the KPI's cap this period */
                    prefixed(key, sizeof(key), prefix, "", pl->cap_key);
                    int32_t ci = ent(ap, K_CTR, key, NULL);
                    if (ci < 0) break;
                    ent_t *c = &ap->e[ci];
                    int64_t used = c->exp > now || !(c->dirty & F_VAL) ? c->n : 0;
                    int64_t room = sc->cap_points - used > 0 ? sc->cap_points - used : 0;
                    int64_t allowed = sum < room ? sum : room;
                    c->n = used + allowed;
                    c->exp = pl->cap_expire_at;
                    c->dirty |= F_VAL;
                    if (allowed < sum) {
                        snprintf(lines[nl].rule, sizeof(lines[nl].rule), "cap.%s", sc->kpi);
                        lines[nl++].points = allowed - sum;
                        cap_cut = allowed - sum;
                        sum = allowed;
                    }
                }
                for (int g = 0; pl && g < sc->ngoals; g++) { /* one bonus at the target */
                    prefixed(key, sizeof(key), prefix, "", pl->goal_keys[g]);
                    int32_t gi = ent(ap, K_CTR, key, NULL);
                    if (gi < 0) break;
                    ent_t *c = &ap->e[gi];
                    int64_t count = (c->exp > now || !(c->dirty & F_VAL) ? c->n : 0) + 1;
                    c->n = count;
                    c->exp = pl->goal_expire_at[g];
                    c->dirty |= F_VAL;
                    if (count == sc->goals[g].target && sc->goals[g].bonus != 0) {
                        copy(lines[nl].rule, sizeof(lines[nl].rule), pl->goal_rules[g],
                             strlen(pl->goal_rules[g]));
                        lines[nl++].points = sc->goals[g].bonus;
                        sum += sc->goals[g].bonus;
                    }
                }
                r = &ap->e[ri]; /* (entries may have moved) */
                if (!r->s[2]) { /* a record's boards are its first CREATE's */
                    char k[CARROT_BOARD_MAX_BOARDS * (sizeof(pl->boards[0].name) + 24)];
                    int nb = pl ? pl->nboards : 0;
                    sb_t kb = sb(k, sizeof(k));
                    for (int j = 0; j < nb; j++) {
                        if (j) sb_put(&kb, "\x1e", 1);
                        sb_s(&kb, pl->boards[j].name);
                        sb_put(&kb, "\x1e", 1);
                        sb_i(&kb, pl->boards[j].rolled ? 0 : pl->boards[j].expire_at);
                    }
                    r->s[2] = save(ap, k, kb.len);
                    r->dirty |= F_K;
                }
                r->s[0] = who;
                r->s[1] = typ;
                r->dirty |= F_P | F_T;
                if (r->on != 0) {
                    amt = sum;
                    r->on = 1;
                    r->dirty |= F_ON;
                } else { /* deleted before it was scored: kept for an UNDELETE, earns nothing */
                    nl = 0;
                }
                r->n = (r->has_n ? r->n : 0) + sum;
                r->has_n = 1;
                r->dirty |= F_N;
                if (pl && sc->ncommits > 0) { /* kept with the record, for a DELETE */
                    size_t need = (r->s[3] ? strlen(r->s[3]) : 0) + 1;
                    for (int m = 0; m < sc->ncommits; m++)
                        need += strlen(prefix) + strlen(pl->commit_keys[m]) + strlen(who) + 80;
                    char small[4096];
                    char *cv = need <= sizeof(small) ? small : malloc(need);
                    if (!cv) {
                        ap->oom = 1;
                        break;
                    }
                    sb_t cb = sb(cv, need);
                    if (r->s[3]) sb_s(&cb, r->s[3]);
                    for (int m = 0; m < sc->ncommits; m++) {
                        const carrot_commit_hit_t *h = &sc->commits[m];
                        int64_t value = h->value + (h->with_cap ? cap_cut : 0);
                        if (value == 0 && h->judged == 0) continue;
                        prefixed(key, sizeof(key), prefix, "", pl->commit_keys[m]);
                        const char *parts[] = {key, who};
                        for (int j = 0; j < 2; j++) {
                            sb_s(&cb, parts[j]);
                            sb_put(&cb, "\x1e", 1);
                        }
                        int64_t nums[] = {value, h->judged, pl->commit_expire_at[m]};
                        for (int j = 0; j < 3; j++) {
                            sb_i(&cb, nums[j]);
                            sb_put(&cb, "\x1e", 1);
                        }
                        if (r->on != 0)
                            add_commit(ap, key, who, value, h->judged, pl->commit_expire_at[m]);
                        r = &ap->e[ri];
                    }
                    r->s[3] = save(ap, cv, cb.len);
                    r->dirty |= F_C;
                    if (cv != small) free(cv);
                }
                add_boards(ap, prefix, now, amt, r->s[2], who);
            } else {
                who = r->s[0] ? r->s[0] : "";
                typ = r->s[1] ? r->s[1] : "";
                if (e->kind == CARROT_BOARD_REVERSE) {
                    if (r->on != 0 && r->has_n) amt = -r->n;
                    if (r->on != 0) replay_commits(ap, r->s[3], -1, now);
                    r = &ap->e[ri];
                    r->on = 0;
                    if (amt != 0) snprintf(lines[nl].rule, sizeof(lines[nl].rule), "reversal");
                } else {
                    if (r->on == 0 && r->has_n) amt = r->n;
                    if (r->on == 0) replay_commits(ap, r->s[3], 1, now);
                    r = &ap->e[ri];
                    r->on = 1;
                    if (amt != 0) snprintf(lines[nl].rule, sizeof(lines[nl].rule), "restore");
                }
                if (amt != 0) lines[nl++].points = amt;
                r->dirty |= F_ON;
                add_boards(ap, prefix, now, amt, r->s[2], who);
            }
            /* the dedup entry: what the first delivery did, for a replay */
            size_t need = strlen(tag) + strlen(who) + strlen(typ) + strlen(e->version) + 64;
            for (int j = 0; j < nl; j++) need += strlen(lines[j].rule) + 24;
            char small[2048]; /* the usual entry; a long one gets the heap */
            char *v = need <= sizeof(small) ? small : malloc(need);
            if (!v) {
                ap->oom = 1;
                break;
            }
            sb_t vb = sb(v, need);
            const char *head[] = {tag, NULL, who, typ, e->version};
            for (int j = 0; j < 5; j++) {
                if (head[j]) sb_s(&vb, head[j]);
                else
                    sb_i(&vb, amt);
                sb_put(&vb, "\x1f", 1);
            }
            for (int j = 0; j < nl; j++) {
                if (j) sb_put(&vb, "\x1e", 1);
                sb_s(&vb, lines[j].rule);
                sb_put(&vb, "\x1e", 1);
                sb_i(&vb, lines[j].points);
            }
            size_t len = vb.len;
            ap->e[si].s[0] = save(ap, v, len);
            ap->e[si].dirty |= F_VAL;
            if (v != small) free(v);
            if (amt != 0) feed_add(ap, who, amt, typ, lines, nl);
            outcome(&res[i], amt, who, typ, e->version, lines, nl);
        }
        if (e->offset > top) top = e->offset;
    }
    return top;
}

/* --- a CRM record as one string (record.c) ------------------------------ */

/* Adds the record entry x, packed, as the next argument. */
static void pack_record(carrot_apply_t *ap, const ent_t *x) {
    char num[24];
    sb_t nb = sb(num, sizeof(num));
    if (x->has_n) sb_i(&nb, x->n);
    const char *f[CARROT_RECORD_FIELDS] = {x->s[0], x->has_n ? num : NULL,
                                           x->s[1], x->on < 0 ? NULL : x->on ? "1" : "0",
                                           x->s[2], x->s[3]};
    char small[4096]; /* the usual record; a long one gets the heap */
    size_t len = carrot_record_pack(small, sizeof(small), f);
    char *v = len < sizeof(small) ? small : malloc(len + 1);
    if (!v) {
        ap->oom = 1;
        return;
    }
    if (v != small) carrot_record_pack(v, len + 1, f);
    arg(&ap->w, v, len);
    if (v != small) free(v);
}

/* A packed record (as read) into the entry x; 0 when it is not one. */
static int unpack_record(carrot_apply_t *ap, ent_t *x, const char *v, size_t len) {
    const char *f[CARROT_RECORD_FIELDS];
    size_t fl[CARROT_RECORD_FIELDS];
    if (!carrot_record_unpack(v, len, f, fl)) return 0;
    if (f[0]) x->s[0] = save(ap, f[0], fl[0]);
    if (f[1]) x->n = strtoll(save(ap, f[1], fl[1]), NULL, 10), x->has_n = 1;
    if (f[2]) x->s[1] = save(ap, f[2], fl[2]);
    x->on = f[3] ? !(fl[3] == 1 && f[3][0] == '0') : -1;
    if (f[4]) x->s[2] = save(ap, f[4], fl[4]);
    if (f[5]) x->s[3] = save(ap, f[5], fl[5]);
    return 1;
}

/* --- one chunk: read, settle, write, on one lane ------------------------- */

/* A read sent: how many entries it reads, and the shape of its replies. */
typedef struct {
    size_t m; /* the chunk's events */
    size_t nread, nreplies;
    int nseen, nctr, nrec;
} read_t;

/* One connection's work in progress: a job's chunks, one after another.
 * The next chunk's read is sent right behind a chunk's transaction (Redis
 * runs them in that order, so the read sees what the transaction wrote):
 * one round trip a chunk instead of two, and Redis has the read at hand
 * when the EXEC is done. */
typedef struct {
    carrot_board_t *root; /* the handle the call was made on (lane 0) */
    carrot_board_t *b;    /* the lane's handle: its connection and scratch */
    const carrot_board_job_t *job;
    char prefix[512], wmk[1024];
    size_t at, m;                           /* the chunk in progress: events [at, at + m) */
    int attempt;                            /* its transactions refused so far */
    enum { L_IDLE, L_READ, L_WRITE } state; /* L_READ: its read sent; L_WRITE: its EXEC */
    size_t nreplies;                        /* L_WRITE: the transaction's */
    read_t rd;                              /* L_READ: the read's */
    int ahead;                              /* L_WRITE: the next chunk's read follows (next) */
    read_t next;
    int64_t wm;
} lane_t;

/* Sends the read of the job's events [at, at + m) into rd: WATCH of the
 * watermark and the records, and what the events read (their dedup
 * entries, records and counters). behind: sent right behind a transaction
 * whose replies are still to come, over the same connection. */
static carrot_board_err_t read_send_at(lane_t *L, size_t at, size_t m, int behind, read_t *rd,
                                       char *errstr, size_t errstr_size) {
    carrot_board_t *b = L->b;
    carrot_apply_t *ap = b->apply;
    const carrot_board_event_t *ev = L->job->events + at;
    const char *prefix = L->prefix;
    char key[1200];
    reset(ap);
    b->failed = CARROT_BOARD_RETRY;
    if (!behind && carrot_board_connect(b, L->wmk, errstr, errstr_size)) return b->failed;
    unsigned long connects = carrot_board_connects(L->root);
    if (ap->set->connects != connects) { /* Redis may have restarted */
        told_forget(ap->set);
        ap->set->connects = connects;
    }
    for (size_t i = 0; i < m; i++) {
        prefixed(key, sizeof(key), prefix, "seen:", ev[i].event_id);
        ent(ap, K_SEEN, key, NULL);
        if (!keeps_record(&ev[i])) continue;
        record_key(key, sizeof(key), prefix, ev[i].activity);
        ent(ap, K_REC, key, NULL);
        const carrot_plan_t *pl = ev[i].kind == CARROT_BOARD_AWARD ? ev[i].plan : NULL;
        if (pl && pl->cap_key[0]) {
            prefixed(key, sizeof(key), prefix, "", pl->cap_key);
            ent(ap, K_CTR, key, NULL);
        }
        for (int g = 0; pl && g < ev[i].scoring->ngoals; g++) {
            prefixed(key, sizeof(key), prefix, "", pl->goal_keys[g]);
            ent(ap, K_CTR, key, NULL);
        }
    }
    size_t nread = ap->ne;
    cmds_t *c = &ap->c;
    cmd(c, "WATCH");
    arg_s(c, L->wmk);
    for (size_t i = 0; i < nread; i++)
        if (ap->e[i].kind == K_REC) arg_s(c, ap->e[i].key);
    cmd(c, "GET");
    arg_s(c, L->wmk);
    int nseen = 0, nctr = 0;
    for (size_t i = 0; i < nread; i++) {
        nseen += ap->e[i].kind == K_SEEN;
        nctr += ap->e[i].kind == K_CTR;
    }
    if (nseen) {
        cmd(c, "MGET");
        for (size_t i = 0; i < nread; i++)
            if (ap->e[i].kind == K_SEEN) arg_s(c, ap->e[i].key);
    }
    if (nctr) {
        cmd(c, "MGET");
        for (size_t i = 0; i < nread; i++)
            if (ap->e[i].kind == K_CTR) arg_s(c, ap->e[i].key);
    }
    int nrec = 0;
    for (size_t i = 0; i < nread; i++)
        if (ap->e[i].kind == K_REC) {
            if (!nrec++) cmd(c, "MGET");
            arg_s(c, ap->e[i].key);
        }
    if (c->a.oom || ap->oom) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    if (send_cmds(b, c, errstr, errstr_size)) return CARROT_BOARD_RETRY;
    *rd = (read_t){
        .m = m, .nread = nread, .nreplies = c->ncmd, .nseen = nseen, .nctr = nctr, .nrec = nrec};
    return CARROT_BOARD_OK;
}

/* Sends the read of the chunk in progress (L->at, L->m). */
static carrot_board_err_t read_send(lane_t *L, char *errstr, size_t errstr_size) {
    if (L->attempt >= MAX_ATTEMPTS) {
        snprintf(errstr, errstr_size,
                 "the boards of %s kept changing under the transaction (%d attempts); trying again",
                 L->wmk, MAX_ATTEMPTS);
        return CARROT_BOARD_RETRY;
    }
    carrot_board_err_t rc = read_send_at(L, L->at, L->m, 0, &L->rd, errstr, errstr_size);
    if (!rc) L->state = L_READ;
    return rc;
}

/* The read's replies into the entries (strings copied: the replies go
 * now), and the watermark into L->wm. */
static carrot_board_err_t read_state(lane_t *L, redisReply **rp, char *errstr, size_t errstr_size) {
    carrot_board_t *b = L->b;
    carrot_apply_t *ap = b->apply;
    cmds_t *c = &ap->c;
    const read_t *rd = &L->rd;
    for (size_t j = 0; j < rd->nreplies; j++)
        if (rp[j]->type == REDIS_REPLY_ERROR)
            return reply_error(b, c, j, rp[j]->str, errstr, errstr_size);
    L->wm = -1;
    int shaped = rp[1]->type == REDIS_REPLY_STRING || rp[1]->type == REDIS_REPLY_NIL;
    if (rp[1]->type == REDIS_REPLY_STRING) L->wm = strtoll(rp[1]->str, NULL, 10);
    else if (ap->set->n) /* no watermark: a new program, or its keys were
                            deleted under a live connection: say it all again */
        told_forget(ap->set);
    size_t k = 2;
    redisReply *ms = rd->nseen ? rp[k++] : NULL, *mc = rd->nctr ? rp[k++] : NULL,
               *mr = rd->nrec ? rp[k++] : NULL;
    shaped = shaped &&
             (!ms || (ms->type == REDIS_REPLY_ARRAY && ms->elements == (size_t)rd->nseen)) &&
             (!mc || (mc->type == REDIS_REPLY_ARRAY && mc->elements == (size_t)rd->nctr)) &&
             (!mr || (mr->type == REDIS_REPLY_ARRAY && mr->elements == (size_t)rd->nrec));
    size_t is = 0, ic = 0, ir = 0;
    for (size_t i = 0; i < rd->nread && shaped; i++) {
        ent_t *x = &ap->e[i];
        if (x->kind == K_SEEN) {
            const redisReply *v = ms->element[is++];
            if (field(v)) x->s[0] = save(ap, v->str, v->len);
        } else if (x->kind == K_CTR) {
            const redisReply *v = mc->element[ic++];
            if (field(v)) {
                x->n = strtoll(v->str, NULL, 10);
                x->exp = INT64_MAX; /* as read: it stands */
            }
        } else if (x->kind == K_REC) {
            const redisReply *v = mr->element[ir++];
            if (field(v) && !unpack_record(ap, x, v->str, v->len)) {
                snprintf(errstr, errstr_size, "%s in Redis is not a CRM record's state (record.c)",
                         x->key);
                return CARROT_BOARD_FATAL;
            }
        }
    }
    if (!shaped) {
        snprintf(errstr, errstr_size, "unexpected reply from Redis to a read of %s", L->wmk);
        return CARROT_BOARD_FATAL;
    }
    return CARROT_BOARD_OK;
}

/* Builds the chunk's transaction from what settle() left in the entries. */
static void build_write(carrot_apply_t *ap, const char *prefix, const char *wmk, const char *stream,
                        int64_t wm, int64_t top, long long ttl, int64_t now) {
    cmds_t *c = &ap->w;
    char key[1200];
    c->a.len = c->a.n = c->ncmd = 0;
    c->a.oom = 0;
    cmd(c, "MULTI");
    for (size_t i = 0; i < ap->ne; i++) {
        ent_t *x = &ap->e[i];
        if (x->kind == K_SEEN && (x->dirty & F_VAL)) {
            cmd(c, "SET");
            arg_s(c, x->key);
            arg_s(c, x->s[0]);
            arg_s(c, "EX");
            arg_i(c, ttl);
        } else if (x->kind == K_CTR && (x->dirty & F_VAL)) {
            if (x->exp > now) {
                cmd(c, "SET");
                arg_s(c, x->key);
                arg_i(c, x->n);
                arg_s(c, "EXAT");
                arg_i(c, x->exp);
            } else { /* its period's keeping is over: as good as gone */
                cmd(c, "DEL");
                arg_s(c, x->key);
            }
        } else if (x->kind == K_SUM && x->n != 0) {
            cmd(c, "ZINCRBY");
            arg_s(c, ap->e[x->a].key);
            arg_i(c, x->n);
            arg_s(c, ap->e[x->b].key);
        } else if (x->kind == K_CM && (x->n != 0 || x->d != 0)) {
            char f[700];
            const char *names[] = {"n", "d"};
            int64_t by[] = {x->n, x->d};
            for (int j = 0; j < 2; j++) {
                if (by[j] == 0) continue;
                joined(f, sizeof(f), names[j], x->s[0]);
                cmd(c, "HINCRBY");
                arg_s(c, x->s[1]);
                arg_s(c, f);
                arg_i(c, by[j]);
            }
        }
    }
    int nrec = 0; /* the records, whole, in one command */
    for (size_t i = 0; i < ap->ne; i++)
        if (ap->e[i].kind == K_REC && ap->e[i].dirty) {
            if (!nrec++) cmd(c, "MSET");
            arg_s(c, ap->e[i].key);
            pack_record(ap, &ap->e[i]);
        }
    for (size_t i = 0; i < ap->ne; i++) {
        ent_t *x = &ap->e[i];
        if ((x->kind == K_BOARD || x->kind == K_CMKEY) && x->exp > 0) {
            /* (a board is never written again once expired; a commitment's hash
             * may be: its expiry is said every time) */
            if (x->kind == K_BOARD && !told_send(ap, told_hash("EXPIREAT", x->key, x->exp)))
                continue;
            cmd(c, "EXPIREAT");
            arg_s(c, x->key);
            arg_i(c, x->exp);
        } else if (x->kind == K_WHO && x->a >= 0) {
            prefixed(key, sizeof(key), prefix, "pb:", x->key);
            int first = 1;
            for (int32_t j = x->a; j >= 0; j = ap->e[j].next) {
                if (!told_send(ap, told_hash(key, ap->e[j].name, 0))) continue;
                if (first) {
                    cmd(c, "SADD");
                    arg_s(c, key);
                    first = 0;
                }
                arg_s(c, ap->e[j].name);
            }
        }
    }
    size_t nboards = 0, plen = strlen(prefix) + 3; /* the program's board index */
    prefixed(key, sizeof(key), prefix, "", "boards");
    for (size_t i = 0; i < ap->ne; i++)
        if (ap->e[i].kind == K_BOARD && told_send(ap, told_hash(key, ap->e[i].key + plen, 0))) {
            if (!nboards++) {
                cmd(c, "SADD");
                arg_s(c, key);
            }
            arg_s(c, ap->e[i].key + plen);
        }
    if (ap->feedlen) { /* for live displays: what changed, in the same transaction */
        prefixed(key, sizeof(key), prefix, "", "feed");
        cmd(c, "XADD");
        arg_s(c, key);
        arg_s(c, "MAXLEN");
        arg_s(c, "~");
        arg_i(c, CARROT_BOARD_FEED_MAXLEN);
        arg_s(c, "*");
        arg_s(c, "s");
        char src[600];
        sb_t sbuf = sb(src, sizeof(src));
        sb_s(&sbuf, stream);
        sb_put(&sbuf, ":", 1);
        sb_i(&sbuf, top);
        arg_s(c, src);
        arg_s(c, "e");
        arg(c, ap->feed, ap->feedlen);
    }
    for (size_t i = 0; i < ap->ne; i++) /* rolled boards built before are stale */
        if (ap->e[i].kind == K_SUM && ap->e[i].n != 0) {
            prefixed(key, sizeof(key), prefix, "", "gen");
            cmd(c, "INCR");
            arg_s(c, key);
            break;
        }
    if (top > wm) {
        cmd(c, "SET");
        arg_s(c, wmk);
        arg_i(c, top);
    }
    cmd(c, "EXEC");
}

/* Ends the WATCH of a read not followed by its transaction (a connection
 * that fails to is dropped: it would fail the next call). */
static void unwatch(carrot_board_t *b) {
    redisReply *r = redisCommand(b->rc, "UNWATCH");
    if (r) freeReplyObject(r);
    else
        carrot_board_drop(b);
}

/* Takes the read's replies, settles the chunk in C and sends its
 * transaction, and the next chunk's read behind it. */
static carrot_board_err_t read_recv(lane_t *L, long long ttl, int64_t now, char *errstr,
                                    size_t errstr_size) {
    carrot_board_t *b = L->b;
    carrot_apply_t *ap = b->apply;
    const carrot_board_job_t *job = L->job;
    size_t nreplies = L->rd.nreplies;
    redisReply **rp = calloc(nreplies, sizeof(*rp));
    if (!rp) {
        carrot_board_drop(b); /* its replies are still coming */
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    if (recv_replies(b, nreplies, rp, errstr, errstr_size)) {
        free(rp);
        return CARROT_BOARD_RETRY;
    }
    carrot_board_err_t rc = read_state(L, rp, errstr, errstr_size);
    for (size_t j = 0; j < nreplies; j++) freeReplyObject(rp[j]);
    free(rp);
    if (rc) {
        unwatch(b);
        return rc;
    }
    const char *stream = job->stream;
    /* what this chunk tells Redis, from here on (the last chunk's EXEC, sent
     * before this read, has come in and kept its own) */
    ap->told.nsent = 0;
    int64_t top = settle(ap, L->prefix, stream, job->events + L->at, L->m, L->wm, now,
                         job->res ? job->res + L->at : NULL);
    int64_t through = L->at + L->m == job->n ? job->through : -1;
    if (through > top) top = through;
    build_write(ap, L->prefix, L->wmk, stream, L->wm, top, ttl, now);
    if (ap->w.a.oom || ap->oom) {
        unwatch(b);
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    if (send_cmds(b, &ap->w, errstr, errstr_size)) return CARROT_BOARD_RETRY;
    L->nreplies = ap->w.ncmd;
    L->state = L_WRITE;
    L->ahead = 0;
    size_t at = L->at + L->m, left = job->n - at;
    if (left > 0) { /* the next chunk's read, behind the transaction */
        rc = read_send_at(L, at, left < CHUNK ? left : CHUNK, 1, &L->next, errstr, errstr_size);
        if (rc) { /* only a transport error or out of memory: the replies would be lost */
            carrot_board_drop(b);
            return rc;
        }
        L->ahead = 1;
    }
    return CARROT_BOARD_OK;
}

/* Reads and drops the replies of a read sent ahead, and ends its WATCH. */
static int drop_ahead(lane_t *L, char *errstr, size_t errstr_size) {
    size_t n = L->next.nreplies;
    redisReply **rp = calloc(n, sizeof(*rp));
    if (!rp) {
        carrot_board_drop(L->b);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int r = recv_replies(L->b, n, rp, errstr, errstr_size);
    if (!r)
        for (size_t j = 0; j < n; j++) freeReplyObject(rp[j]);
    free(rp);
    L->ahead = 0;
    if (r) return -1;
    unwatch(L->b);
    if (L->b->rc) return 0;
    snprintf(errstr, errstr_size, "Redis connection lost while ending a WATCH");
    return -1;
}

/* Takes the transaction's replies: the chunk ran (L_IDLE; L_READ with the
 * next chunk when its read was sent behind), or someone wrote what it read
 * and it is read and settled again (L_READ). */
static carrot_board_err_t write_recv(lane_t *L, char *errstr, size_t errstr_size) {
    carrot_board_t *b = L->b;
    carrot_apply_t *ap = b->apply;
    cmds_t *c = &ap->w;
    size_t nreplies = L->nreplies;
    redisReply **rp = calloc(nreplies, sizeof(*rp));
    if (!rp) {
        carrot_board_drop(b); /* its replies are still coming */
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    if (recv_replies(b, nreplies, rp, errstr, errstr_size)) {
        free(rp);
        return CARROT_BOARD_RETRY;
    }
    carrot_board_err_t rc = CARROT_BOARD_OK;
    redisReply *ex = rp[nreplies - 1];
    int refused = ex->type == REDIS_REPLY_NIL;
    for (size_t j = 0; j + 1 < nreplies && !rc; j++) /* queued: +QUEUED, or refused */
        if (rp[j]->type == REDIS_REPLY_ERROR)
            rc = reply_error(b, c, j, rp[j]->str, errstr, errstr_size);
    if (!rc && ex->type == REDIS_REPLY_ERROR)
        rc = reply_error(b, c, nreplies - 1, ex->str, errstr, errstr_size);
    if (!rc && !refused) {
        if (ex->type != REDIS_REPLY_ARRAY || ex->elements != nreplies - 2) {
            snprintf(errstr, errstr_size, "unexpected reply from Redis to EXEC of %s", L->wmk);
            rc = CARROT_BOARD_FATAL;
        }
        for (size_t j = 0; !rc && j < ex->elements; j++)
            if (ex->element[j]->type == REDIS_REPLY_ERROR) /* ran, and failed: not undone */
                rc = reply_error(b, c, j + 1, ex->element[j]->str, errstr, errstr_size);
    }
    for (size_t j = 0; j < nreplies; j++) freeReplyObject(rp[j]);
    free(rp);
    if (rc) return rc; /* (the caller drops the connection, read ahead and all) */
    if (refused) {     /* someone wrote what this chunk read: read it again */
        b->conflicts++;
        L->attempt++;
        if (L->ahead && drop_ahead(L, errstr, errstr_size)) return CARROT_BOARD_RETRY;
        return read_send(L, errstr, errstr_size);
    }
    told_keep(ap);
    if (L->ahead) { /* the chunk ran: the next one's read is on its way */
        L->at += L->m;
        L->m = L->next.m;
        L->rd = L->next;
        L->attempt = 0;
        L->ahead = 0;
        L->state = L_READ;
        return CARROT_BOARD_OK;
    }
    L->state = L_IDLE;
    return CARROT_BOARD_OK;
}

/* Starts the job's chunk at L->at (a job of no events has one, empty). */
static carrot_board_err_t chunk_send(lane_t *L, char *errstr, size_t errstr_size) {
    size_t left = L->job->n - L->at;
    L->m = left < CHUNK ? left : CHUNK;
    L->attempt = 0;
    return read_send(L, errstr, errstr_size);
}

static carrot_board_err_t job_start(lane_t *L, const carrot_board_job_t *job, const char *program,
                                    char *errstr, size_t errstr_size) {
    carrot_board_t *b = L->b;
    if (!b->apply && !(b->apply = calloc(1, sizeof(*b->apply)))) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    b->apply->set = &L->root->apply->told;
    L->job = job;
    L->at = 0;
    snprintf(L->prefix, sizeof(L->prefix), "carrot:{%s}:", program);
    snprintf(L->wmk, sizeof(L->wmk), "%swm:%s", L->prefix, job->stream);
    return chunk_send(L, errstr, errstr_size);
}

/* --- jobs over lanes ----------------------------------------------------- */

/* A tag and a string (and a second one) hashed: what apply_jobs compares. */
static uint64_t key_hash(char tag, const char *a, const char *b) {
    uint64_t h = hash_mem(hash_mem((unsigned char)tag, a, strlen(a)), b ? b : "",
                          b ? strlen(b) : 0);
    return h ? h : 1;
}

/* Whether no two jobs share a participant (its cap and goal counters), a
 * CRM record or an event id (its dedup entry): then they may run in any
 * order, side by side. Those are the only keys two partitions could both
 * read and write; a shared record would also make one transaction refuse
 * the other, and a DELETE on one partition must follow its CREATE on
 * another as the batch has them. 0 also when out of memory. */
static int independent(carrot_board_t *b, const carrot_board_job_t *jobs, size_t njobs) {
    size_t total = 0, cap = 64;
    for (size_t j = 0; j < njobs; j++) total += jobs[j].n;
    while (cap < total * 6) cap *= 2; /* three keys an event, at most half full */
    if (cap > b->keycap) {
        uint64_t *k = realloc(b->keys, cap * 2 * sizeof(*k));
        if (!k) return 0;
        b->keys = k;
        b->keycap = cap;
    }
    uint64_t *t = b->keys; /* t[2i]: the key's hash (0: empty), t[2i+1]: its job */
    memset(t, 0, cap * 2 * sizeof(*t));
    for (size_t j = 0; j < njobs; j++)
        for (size_t i = 0; i < jobs[j].n; i++) {
            const carrot_activity_t *a = jobs[j].events[i].activity;
            uint64_t h[3] = {*a->participant_id ? key_hash('p', a->participant_id, NULL) : 0,
                             key_hash('r', a->source_system, a->source_record_id),
                             key_hash('e', jobs[j].events[i].event_id, NULL)};
            for (int q = 0; q < 3; q++) {
                if (!h[q]) continue;
                size_t at = h[q] & (cap - 1);
                while (t[2 * at] && t[2 * at] != h[q]) at = (at + 1) & (cap - 1);
                if (!t[2 * at]) t[2 * at] = h[q], t[2 * at + 1] = j;
                else if (t[2 * at + 1] != j)
                    return 0;
            }
        }
    return 1;
}

/* The busy lane to serve next: one whose answer has come in (the first
 * after last, so none waits long), else the first busy one after last
 * (read blocking, within the connection's timeout); -1 when all are idle.
 * An answer may already sit in hiredis's buffer, read from the socket with
 * the one before it (a transaction's replies and the read sent behind it
 * often come in one packet): the socket then has nothing more to say. */
static int answered(const lane_t *L, int nl, int last, int timeout_ms) {
    struct pollfd pf[CARROT_BOARD_MAX_LANES];
    int of[CARROT_BOARD_MAX_LANES], m = 0;
    for (int i = 1; i <= nl; i++) {
        int k = (last + i) % nl;
        if (L[k].state == L_IDLE) continue;
        const redisReader *rd = L[k].b->rc->reader;
        if (rd->len > rd->pos) return k;
        pf[m] = (struct pollfd){.fd = L[k].b->rc->fd, .events = POLLIN};
        of[m++] = k;
    }
    if (m <= 1) return m ? of[0] : -1;
    if (poll(pf, (nfds_t)m, timeout_ms) > 0)
        for (int j = 0; j < m; j++)
            if (pf[j].revents) return of[j];
    return of[0];
}

void carrot_board_open_lanes(carrot_board_t *b, const char *program) {
    char key[600], e[512];
    snprintf(key, sizeof(key), "carrot:{%s}:layout", program); /* routes to the program's node */
    for (int k = 1; k < b->nlanes; k++)
        if (b->lane[k] || (b->lane[k] = carrot_board_new(b->host, b->port, b->timeout_ms)))
            carrot_board_connect(b->lane[k], key, e, sizeof(e));
}

carrot_board_err_t carrot_board_apply_jobs(carrot_board_t *b, const char *program,
                                           const carrot_board_job_t *jobs, size_t njobs,
                                           long long ttl, int64_t now, char *errstr,
                                           size_t errstr_size) {
    errstr[0] = '\0';
    carrot_board_err_t rc = carrot_board_records_ready(b, program, errstr, errstr_size);
    if (rc) return rc;
    int nl = b->nlanes < (int)njobs ? b->nlanes : (int)njobs;
    if (nl > 1 && !independent(b, jobs, njobs)) nl = 1;
    if (!b->apply && !(b->apply = calloc(1, sizeof(*b->apply)))) {
        snprintf(errstr, errstr_size, "out of memory");
        return CARROT_BOARD_RETRY;
    }
    lane_t L[CARROT_BOARD_MAX_LANES];
    L[0] = (lane_t){.root = b, .b = b, .state = L_IDLE};
    int usable = 1;
    char key[600], e[512];
    snprintf(key, sizeof(key), "carrot:{%s}:layout", program); /* routes to the program's node */
    for (int k = 1; k < nl; k++) {
        /* A lane joins only over a connection it already had. One opened now
         * might meet a Redis that restarted and lost writes since the caller
         * last checked it against Kafka: it is opened and left for the next
         * call (carrot_board_connects() grew, so the caller checks first). */
        carrot_board_t *lb = b->lane[k];
        if (!lb && !(lb = b->lane[k] = carrot_board_new(b->host, b->port, b->timeout_ms))) break;
        unsigned long before = carrot_redis_connects(lb->redis);
        if (carrot_board_connect(lb, key, e, sizeof(e)) == 0 &&
            carrot_redis_connects(lb->redis) == before)
            L[usable++] = (lane_t){.root = b, .b = lb, .state = L_IDLE};
    }
    nl = usable;
    /* Whichever lane Redis answered first is served first: while this
     * process settles one lane's chunk, Redis works on the others'. */
    size_t next = 0;
    for (int k = 0; k < nl && next < njobs && !rc; k++)
        rc = job_start(&L[k], &jobs[next++], program, errstr, errstr_size);
    for (int k = 0; !rc && (k = answered(L, nl, k, b->timeout_ms)) >= 0;) {
        lane_t *x = &L[k];
        if (x->state == L_READ) {
            rc = read_recv(x, ttl, now, errstr, errstr_size);
            continue;
        }
        rc = write_recv(x, errstr, errstr_size);
        if (rc || x->state != L_IDLE) continue;
        x->at += x->m; /* the chunk ran */
        if (x->at < x->job->n) rc = chunk_send(x, errstr, errstr_size);
        else if (next < njobs)
            rc = job_start(x, &jobs[next++], program, errstr, errstr_size);
    }
    if (rc) /* the other lanes' answers would be read by the next call as its own */
        for (int k = 0; k < nl; k++)
            if (L[k].state != L_IDLE) carrot_board_drop(L[k].b);
    if (rc == CARROT_BOARD_FATAL) b->failed = CARROT_BOARD_FATAL;
    return rc;
}

carrot_board_err_t carrot_board_apply_events(carrot_board_t *b, const char *program,
                                             const char *stream, const carrot_board_event_t *ev,
                                             size_t n, int64_t through, long long ttl, int64_t now,
                                             carrot_board_result_t *res, char *errstr,
                                             size_t errstr_size) {
    carrot_board_job_t job = {stream, ev, n, through, res};
    return carrot_board_apply_jobs(b, program, &job, 1, ttl, now, errstr, errstr_size);
}
