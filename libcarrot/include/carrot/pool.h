/* pool.h: a locked stack of objects that are not thread safe (hiredis
 * contexts, Avro codecs, libpq connections), so each request of a threaded
 * server takes one for itself and gives it back instead of opening its own.
 *
 * Ownership: the pool owns what it holds and destroys it with the function
 * given to carrot_pool_new(); an item taken out is the caller's until given
 * back. Thread safe. */
#ifndef CARROT_POOL_H
#define CARROT_POOL_H

#include <stddef.h>

typedef struct carrot_pool_s carrot_pool_t;

/* Holds at most cap items (the most requests that run at once). NULL when
 * out of memory. */
carrot_pool_t *carrot_pool_new(size_t cap, void (*destroy)(void *item));
/* Destroys every item held; NULL is a no-op. */
void carrot_pool_destroy(carrot_pool_t *p);

/* An item, or NULL when the pool is empty (the caller makes one). */
void *carrot_pool_take(carrot_pool_t *p);
/* Takes item back (NULL is a no-op); destroys it when the pool is full. */
void carrot_pool_give(carrot_pool_t *p, void *item);

#endif
