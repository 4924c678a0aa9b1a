/* redis.h: a connection to Redis that also speaks Redis Cluster, for
 * callers whose every call touches keys of one hash tag ("carrot:{P}:..."),
 * as all of Carrot's do: a call names a key, and gets the connection to the
 * node that serves that key's slot.
 *
 * Whether the server is a cluster is found out at the first connection
 * (CLUSTER SLOTS; "cluster support disabled" means a single server). In a
 * cluster the slot map is read from any node that answers and read again
 * after a MOVED, an ASK, CLUSTERDOWN or a lost connection (a failover): the
 * caller retries its call (it is a RETRY in every component's error
 * contract), and the next carrot_redis_for() routes it to the new owner. No
 * Debian package offers a cluster-aware C client for hiredis 0.14, so this is
 * the smallest routing that works: the slot map from CLUSTER SLOTS, MOVED and
 * ASK followed by re-reading it (README "Redis Cluster").
 *
 * Ownership: the handle owns its connections; a context returned by
 * carrot_redis_for() is borrowed until the next call on the handle. Not
 * thread safe: one handle per thread. */
#ifndef CARROT_REDIS_H
#define CARROT_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

typedef struct carrot_redis_s carrot_redis_t;

/* Called on each new connection (a script to load, say); 0, or -1 with
 * errstr, which drops the connection: setting *fatalp says that trying
 * again will not help (a script Redis does not compile). */
typedef int (*carrot_redis_setup_fn)(redisContext *c, void *opaque, int *fatalp, char *errstr,
                                     size_t errstr_size);

/* A handle for the server (or any node of the cluster) at host:port;
 * timeout_ms bounds connecting and each reply. setup may be NULL. NULL when
 * out of memory. */
carrot_redis_t *carrot_redis_new(const char *host, int port, int timeout_ms,
                                 carrot_redis_setup_fn setup, void *opaque);
void carrot_redis_destroy(carrot_redis_t *r); /* NULL is a no-op */

/* The connection serving key's slot (key NULL: any node), connected and set
 * up. NULL with errstr when none can be had; *fatalp (may be NULL) is set
 * when setup says retrying will not help. */
redisContext *carrot_redis_for(carrot_redis_t *r, const char *key, int *fatalp, char *errstr,
                               size_t errstr_size);

/* The connection c failed (no reply, a transport error): it is closed, and
 * in a cluster the slot map is read again before the next call. */
void carrot_redis_drop(carrot_redis_t *r, redisContext *c);

/* An error reply err came back: MOVED, ASK, CLUSTERDOWN, TRYAGAIN,
 * MASTERDOWN or READONLY make the slot map be read again. */
void carrot_redis_error(carrot_redis_t *r, const char *err);

/* Closes every connection (a reconnect then reads the map again). */
void carrot_redis_drop_all(carrot_redis_t *r);

/* A new connection of the caller's own (redisFree it) to the node that
 * serves key, for a pool of connections shared by threads: a cluster's map
 * is read for it (from host:port, any node). NULL with errstr. */
redisContext *carrot_redis_connect_for(const char *host, int port, int timeout_ms, const char *key,
                                       char *errstr, size_t errstr_size);

/* 1 when err (an error reply) says the cluster moved or is failing over
 * (MOVED, ASK, CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY): a pooled
 * connection that got it is to be closed, not reused. */
int carrot_redis_is_redirect(const char *err);

/* 1 once the server is known to be a cluster. */
int carrot_redis_is_cluster(const carrot_redis_t *r);
/* Connections made so far (a reconnect counts). */
unsigned long carrot_redis_connects(const carrot_redis_t *r);
/* Slot-map reads so far (a cluster's; 0 for a single server). */
unsigned long carrot_redis_map_reads(const carrot_redis_t *r);

/* The cluster slot of key (CRC16 of its hash tag, or of the whole key). */
unsigned carrot_redis_slot(const char *key, size_t len);

#endif
