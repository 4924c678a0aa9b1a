/* pool.c: a locked stack of objects that are not thread safe, one per request. */
#include "carrot/pool.h"

#include <pthread.h>
#include <stdlib.h>

struct carrot_pool_s {
    pthread_mutex_t lock;
    void **items;
    size_t n, cap;
    void (*destroy)(void *item);
};

carrot_pool_t *carrot_pool_new(size_t cap, void (*destroy)(void *item)) {
    carrot_pool_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->cap = cap;
    p->destroy = destroy;
    if (!(p->items = calloc(cap ? cap : 1, sizeof(*p->items))) ||
        pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->items);
        free(p);
        return NULL;
    }
    return p;
}

void *carrot_pool_take(carrot_pool_t *p) {
    pthread_mutex_lock(&p->lock);
    void *item = p->n ? p->items[--p->n] : NULL;
    pthread_mutex_unlock(&p->lock);
    return item;
}

void carrot_pool_give(carrot_pool_t *p, void *item) {
    if (!item) return;
    pthread_mutex_lock(&p->lock);
    int kept = p->n < p->cap;
    if (kept) p->items[p->n++] = item;
    pthread_mutex_unlock(&p->lock);
    if (!kept) p->destroy(item);
}

void carrot_pool_destroy(carrot_pool_t *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) p->destroy(p->items[i]);
    free(p->items);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
