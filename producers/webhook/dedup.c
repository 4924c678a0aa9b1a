/* dedup.c: carrot-webhook's event ids in Redis: claimed, marked delivered, or released. */
#include "carrot/log.h"
#include "carrot/redis.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis: a context for this request, from the pool or new, with the command
 * timeout set. NULL with errstr when Redis cannot be reached. *pooled tells
 * whether it came from the pool (and so may have been closed by the server
 * since). */
static redisContext *redis_take(webhook_t *w, int *pooled, char *errstr, size_t errstr_size) {
    redisContext *rc = carrot_pool_take(w->redis);
    *pooled = rc != NULL;
    if (rc) return rc;
    /* every key is under the {hubspot} hash tag: in a Redis Cluster, its node */
    return carrot_redis_connect_for(w->cf->redis_host, (int)w->cf->redis_port,
                                    (int)w->cf->redis_timeout_ms, "{hubspot}", errstr, errstr_size);
}

/* Sends the commands fmt (one %s: each of keys[0..n-1], then the optional
 * number arg) in one pipeline and returns their n replies (free them with
 * free_replies()), or NULL with errstr when Redis could not be asked or did
 * not answer all. A pooled context that fails before its first reply was
 * closed while idle: the commands are sent once more on a new one. */
static redisReply **redis_run(webhook_t *w, const char *fmt, char *const *keys, size_t n,
                              long long arg, char *errstr, size_t errstr_size) {
    redisReply **r = calloc(n ? n : 1, sizeof(*r));
    if (!r) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int pooled;
        redisContext *rc = redis_take(w, &pooled, errstr, errstr_size);
        if (!rc) break;
        size_t got = 0;
        for (size_t i = 0; i < n; i++) redisAppendCommand(rc, fmt, keys[i], arg);
        while (got < n && redisGetReply(rc, (void **)&r[got]) == REDIS_OK) got++;
        if (got == n) {
            int moved = 0; /* a cluster moved the slot or fails over: a new connection, routed
                              anew, for the next request */
            for (size_t i = 0; i < n; i++)
                if (r[i]->type == REDIS_REPLY_ERROR && carrot_redis_is_redirect(r[i]->str))
                    moved = 1;
            if (moved) redisFree(rc);
            else
                carrot_pool_give(w->redis, rc);
            return r;
        }
        snprintf(errstr, errstr_size, "Redis did not answer: %s", rc->errstr);
        redisFree(rc);
        for (size_t i = 0; i < got; i++) freeReplyObject(r[i]);
        memset(r, 0, n * sizeof(*r));
        if (got || !pooled) break;
    }
    free(r);
    return NULL;
}

static void free_replies(redisReply **r, size_t n) {
    for (size_t i = 0; r && i < n; i++)
        if (r[i]) freeReplyObject(r[i]);
    free(r);
}

int webhook_redis_ping(webhook_t *w, char *errstr, size_t errstr_size) {
    char *none[] = {""}; /* PING takes no key: the one "%s" is not in the format */
    redisReply **r = redis_run(w, "PING", none, 1, 0, errstr, errstr_size);
    if (!r) return -1;
    int ok = r[0]->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(errstr, errstr_size, "Redis answered PING with %s",
                 r[0]->type == REDIS_REPLY_ERROR ? r[0]->str : "an unexpected reply");
    free_replies(r, 1);
    return ok ? 0 : -1;
}

/* Orders pointers into one array of events by key, then by position. */
static int by_key(const void *a, const void *b) {
    const event_t *ea = *(const event_t *const *)a, *eb = *(const event_t *const *)b;
    int c = strcmp(ea->key, eb->key);
    return c ? c : (ea > eb) - (ea < eb);
}

/* Collects into keys the keys of the events (n of them) in that state;
 * returns how many. */
static size_t keys_in(event_t *ev, size_t n, int state, char **keys) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].state == state) keys[k++] = ev[i].key;
    return k;
}

/* Releases the claims of the events in state state (DEL), after a 503. */
static void release(webhook_t *w, event_t *ev, size_t n, int state, char **keys) {
    char errstr[256];
    size_t k = keys_in(ev, n, state, keys);
    redisReply **r = k ? redis_run(w, "DEL %s", keys, k, 0, errstr, sizeof(errstr)) : NULL;
    if (k && !r)
        carrot_warn("could not release %zu claimed event ids (they expire in %lld s): %s", k,
                    w->claim_ttl, errstr);
    free_replies(r, k);
}

void webhook_redis_free(void *rc) { redisFree(rc); }

unsigned int webhook_dedup_claim(webhook_t *w, json_t *batch, event_t *ev, size_t n, char **keys,
                                 const char **why) {
    char errstr[256];
    event_t **order = calloc(n ? n : 1, sizeof(*order));
    if (!order) return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(batch, i);
        json_t *pid = json_object_get(e, "portalId"), *eid = json_object_get(e, "eventId");
        order[i] = &ev[i];
        if (!json_is_integer(pid) || !json_is_integer(eid)) continue; /* EV_UNKEYED */
        snprintf(ev[i].key, sizeof(ev[i].key), "carrot:{hubspot}:webhook:%lld:%lld",
                 (long long)json_integer_value(pid), (long long)json_integer_value(eid));
        ev[i].state = EV_CLAIMED;
    }
    /* an event repeated inside the batch is produced once: its first occurrence
     * (sorted, not compared pairwise: a signed 1 MiB body can hold 10,000 events) */
    qsort(order, n, sizeof(*order), by_key);
    for (size_t i = 1; i < n; i++)
        if (order[i]->state == EV_CLAIMED && strcmp(order[i]->key, order[i - 1]->key) == 0)
            order[i]->state = EV_REPEAT;
    free(order);

    /* claim every event id before producing any: SET NX, short-lived until confirmed */
    unsigned int status = MHD_HTTP_OK;
    size_t k = keys_in(ev, n, EV_CLAIMED, keys);
    redisReply **r = k ? redis_run(w, "SET %s p NX EX %lld", keys, k, w->claim_ttl, errstr,
                                   sizeof(errstr))
                       : NULL;
    if (k && !r) {
        /* some of the claims may have been made: they expire in claim_ttl */
        carrot_warn("could not claim event ids: %s", errstr);
        for (size_t i = 0; i < n; i++)
            if (ev[i].state == EV_CLAIMED) ev[i].state = EV_UNKEYED;
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        *why = "could not reach Redis; retry";
    }
    for (size_t i = 0, j = 0; r && i < n; i++) {
        if (ev[i].state != EV_CLAIMED) continue;
        redisReply *x = r[j++];
        if (x->type == REDIS_REPLY_NIL) ev[i].state = EV_TAKEN;
        else if (x->type != REDIS_REPLY_STATUS) { /* an error reply: not claimed */
            carrot_warn("could not claim %s: %s", ev[i].key,
                        x->type == REDIS_REPLY_ERROR ? x->str : "unexpected reply");
            ev[i].state = EV_IN_FLIGHT;
        }
    }
    free_replies(r, k);
    /* taken: delivered before ("1"), or claimed by a request still running */
    k = status == MHD_HTTP_OK ? keys_in(ev, n, EV_TAKEN, keys) : 0;
    r = k ? redis_run(w, "GET %s", keys, k, 0, errstr, sizeof(errstr)) : NULL;
    if (k && !r) {
        carrot_warn("could not look up event ids: %s", errstr);
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        *why = "could not reach Redis; retry";
    }
    for (size_t i = 0, j = 0; r && i < n; i++) {
        if (ev[i].state != EV_TAKEN) continue;
        redisReply *x = r[j++];
        ev[i].state = x->type == REDIS_REPLY_STRING && strcmp(x->str, "1") == 0
                          ? EV_DELIVERED_BEFORE
                          : EV_IN_FLIGHT;
    }
    free_replies(r, k);
    for (size_t i = 0; status == MHD_HTTP_OK && i < n; i++)
        if (ev[i].state == EV_IN_FLIGHT) {
            /* answering 200 now could lose it: the other request may yet fail */
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
            *why = "an event of this batch is being delivered by another request; retry";
        }
    if (status != MHD_HTTP_OK) release(w, ev, n, EV_CLAIMED, keys);
    return status;
}

void webhook_dedup_settle(webhook_t *w, event_t *ev, size_t n, char **keys) {
    char errstr[256];
    /* delivered: remembered for dedup-ttl; the rest released for the retry */
    size_t k = keys_in(ev, n, EV_CLAIMED, keys);
    redisReply **r = k ? redis_run(w, "SET %s 1 EX %lld", keys, k, w->cf->dedup_ttl, errstr,
                                   sizeof(errstr))
                       : NULL;
    if (k && !r)
        carrot_warn("could not mark %zu event ids delivered (a retry before their claims expire "
                    "is dropped, one after is produced again): %s",
                    k, errstr);
    free_replies(r, k);
    release(w, ev, n, EV_IN_FLIGHT, keys);
}
