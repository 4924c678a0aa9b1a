/* redis.c: the connection of redis.h: one server, or the nodes of a Redis
 * Cluster routed by slot. */
#include "carrot/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define NSLOTS 16384
#define MAX_NODES 64

typedef struct {
    char host[256];
    int port;
    redisContext *c;
} node_t;

enum { MODE_UNKNOWN, MODE_SINGLE, MODE_CLUSTER };

struct carrot_redis_s {
    int timeout_ms;
    carrot_redis_setup_fn setup;
    void *opaque;
    int mode;
    int stale;               /* the slot map is to be read again */
    node_t nodes[MAX_NODES]; /* [0] the seed; the rest as the map names them */
    int nnodes;
    int16_t slot_node[NSLOTS]; /* node index per slot; -1 unknown */
    unsigned long connects, map_reads;
};

/* CRC16-CCITT (XMODEM), the cluster's key hash. */
static uint16_t crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++) crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021 : crc << 1;
    }
    return crc;
}

unsigned carrot_redis_slot(const char *key, size_t len) {
    /* a hash tag: the bytes between the first '{' and the next '}', if any */
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) return crc16(open + 1, (size_t)(close - open - 1)) % NSLOTS;
    }
    return crc16(key, len) % NSLOTS;
}

carrot_redis_t *carrot_redis_new(const char *host, int port, int timeout_ms,
                                 carrot_redis_setup_fn setup, void *opaque) {
    carrot_redis_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    snprintf(r->nodes[0].host, sizeof(r->nodes[0].host), "%s", host);
    r->nodes[0].port = port;
    r->nnodes = 1;
    r->timeout_ms = timeout_ms;
    r->setup = setup;
    r->opaque = opaque;
    memset(r->slot_node, 0xff, sizeof(r->slot_node));
    return r;
}

void carrot_redis_drop_all(carrot_redis_t *r) {
    for (int i = 0; i < r->nnodes; i++) {
        if (r->nodes[i].c) redisFree(r->nodes[i].c);
        r->nodes[i].c = NULL;
    }
    if (r->mode == MODE_CLUSTER) r->stale = 1;
}

void carrot_redis_destroy(carrot_redis_t *r) {
    if (!r) return;
    carrot_redis_drop_all(r);
    free(r);
}

int carrot_redis_is_cluster(const carrot_redis_t *r) { return r->mode == MODE_CLUSTER; }
unsigned long carrot_redis_connects(const carrot_redis_t *r) { return r->connects; }
unsigned long carrot_redis_map_reads(const carrot_redis_t *r) { return r->map_reads; }

/* Node i, connected and set up; NULL with errstr. */
static redisContext *node(carrot_redis_t *r, int i, int *fatalp, char *errstr, size_t errstr_size) {
    node_t *n = &r->nodes[i];
    if (n->c) return n->c;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    n->c = redisConnectWithTimeout(n->host, n->port, tv);
    if (!n->c || n->c->err) {
        snprintf(errstr, errstr_size, "could not connect to Redis at %s:%d: %s", n->host, n->port,
                 n->c ? n->c->errstr : "out of memory");
        if (n->c) redisFree(n->c);
        n->c = NULL;
        return NULL;
    }
    redisSetTimeout(n->c, tv);
    int fatal = 0;
    if (r->setup && r->setup(n->c, r->opaque, &fatal, errstr, errstr_size) != 0) {
        if (fatalp) *fatalp = fatal;
        redisFree(n->c);
        n->c = NULL;
        return NULL;
    }
    r->connects++;
    return n->c;
}

static int node_index(carrot_redis_t *r, const char *host, size_t hlen, long long port) {
    for (int i = 0; i < r->nnodes; i++)
        if ((long long)r->nodes[i].port == port && strlen(r->nodes[i].host) == hlen &&
            memcmp(r->nodes[i].host, host, hlen) == 0)
            return i;
    if (r->nnodes == MAX_NODES || hlen >= sizeof(r->nodes[0].host) || port < 1 || port > 65535)
        return -1;
    node_t *n = &r->nodes[r->nnodes];
    memcpy(n->host, host, hlen);
    n->host[hlen] = '\0';
    n->port = (int)port;
    n->c = NULL;
    return r->nnodes++;
}

/* Reads the slot map from the first node that answers, or learns that the
 * server is not a cluster. 0, or -1 with errstr. */
static int read_map(carrot_redis_t *r, int *fatalp, char *errstr, size_t errstr_size) {
    for (int i = 0; i < r->nnodes; i++) {
        redisContext *c = node(r, i, fatalp, errstr, errstr_size);
        if (!c) continue;
        redisReply *rep = redisCommand(c, "CLUSTER SLOTS");
        if (!rep) {
            snprintf(errstr, errstr_size, "Redis at %s:%d did not answer: %s", r->nodes[i].host,
                     r->nodes[i].port, c->errstr);
            redisFree(c);
            r->nodes[i].c = NULL;
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            int single = strstr(rep->str, "cluster support disabled") != NULL;
            if (!single)
                snprintf(errstr, errstr_size, "CLUSTER SLOTS at %s:%d: %s", r->nodes[i].host,
                         r->nodes[i].port, rep->str);
            freeReplyObject(rep);
            if (single && r->mode != MODE_CLUSTER) {
                r->mode = MODE_SINGLE;
                return 0;
            }
            continue;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
            snprintf(errstr, errstr_size,
                     "CLUSTER SLOTS at %s:%d: no slot is served (the "
                     "cluster is not formed yet)",
                     r->nodes[i].host, r->nodes[i].port);
            freeReplyObject(rep);
            continue;
        }
        memset(r->slot_node, 0xff, sizeof(r->slot_node));
        for (size_t k = 0; k < rep->elements; k++) {
            const redisReply *e = rep->element[k];
            /* [start, end, [host, port, id], replicas...]: the master serves */
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
                e->element[0]->type != REDIS_REPLY_INTEGER ||
                e->element[1]->type != REDIS_REPLY_INTEGER ||
                e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
                e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
                e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
                continue;
            long long lo = e->element[0]->integer, hi = e->element[1]->integer;
            const redisReply *m = e->element[2];
            /* an empty host means "the address you asked me on" */
            const char *host = m->element[0]->len ? m->element[0]->str : r->nodes[i].host;
            size_t hlen = m->element[0]->len ? m->element[0]->len : strlen(host);
            int idx = node_index(r, host, hlen, m->element[1]->integer);
            if (idx < 0) continue;
            for (long long s = lo < 0 ? 0 : lo; s <= hi && s < NSLOTS; s++)
                r->slot_node[s] = (int16_t)idx;
        }
        freeReplyObject(rep);
        r->mode = MODE_CLUSTER;
        r->stale = 0;
        r->map_reads++;
        return 0;
    }
    return -1;
}

redisContext *carrot_redis_for(carrot_redis_t *r, const char *key, int *fatalp, char *errstr,
                               size_t errstr_size) {
    if (fatalp) *fatalp = 0;
    if ((r->mode == MODE_UNKNOWN || r->stale) && read_map(r, fatalp, errstr, errstr_size) != 0)
        return NULL;
    if (r->mode == MODE_SINGLE) return node(r, 0, fatalp, errstr, errstr_size);
    if (!key) { /* any node: the first that connects */
        for (int i = 0; i < r->nnodes; i++) {
            redisContext *c = node(r, i, fatalp, errstr, errstr_size);
            if (c) return c;
        }
        return NULL;
    }
    unsigned slot = carrot_redis_slot(key, strlen(key));
    int idx = r->slot_node[slot];
    if (idx < 0) {
        r->stale = 1;
        snprintf(errstr, errstr_size, "no node of the Redis Cluster serves slot %u (of %s)", slot,
                 key);
        return NULL;
    }
    redisContext *c = node(r, idx, fatalp, errstr, errstr_size);
    if (!c) r->stale = 1; /* a master gone: its replica is promoted, the map says so */
    return c;
}

void carrot_redis_drop(carrot_redis_t *r, redisContext *c) {
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].c == c && c) {
            redisFree(c);
            r->nodes[i].c = NULL;
        }
    if (r->mode == MODE_CLUSTER) r->stale = 1;
}

int carrot_redis_is_redirect(const char *err) {
    static const char *const codes[] = {"MOVED",      "ASK",      "CLUSTERDOWN", "TRYAGAIN",
                                        "MASTERDOWN", "READONLY", NULL};
    for (int i = 0; codes[i]; i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(err, codes[i], n) == 0 && (err[n] == ' ' || err[n] == '\0')) return 1;
    }
    return 0;
}

void carrot_redis_error(carrot_redis_t *r, const char *err) {
    if (r->mode == MODE_CLUSTER && carrot_redis_is_redirect(err)) r->stale = 1;
}

redisContext *carrot_redis_connect_for(const char *host, int port, int timeout_ms, const char *key,
                                       char *errstr, size_t errstr_size) {
    carrot_redis_t *r = carrot_redis_new(host, port, timeout_ms, NULL, NULL);
    if (!r) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    redisContext *c = carrot_redis_for(r, key, NULL, errstr, errstr_size);
    for (int i = 0; c && i < r->nnodes; i++) /* the caller's now */
        if (r->nodes[i].c == c) r->nodes[i].c = NULL;
    carrot_redis_destroy(r);
    return c;
}
