/* pool.c: a locked stack of objects that are not thread safe, one per request. */
#include "webhook.h"

#include <stdlib.h>

int pool_init(pool_t *p, size_t cap, void (*destroy)(void *)) {
    p->n = 0;
    p->cap = cap;
    p->destroy = destroy;
    p->items = calloc(cap, sizeof(*p->items));
    return p->items && pthread_mutex_init(&p->lock, NULL) == 0 ? 0 : -1;
}

void *pool_take(pool_t *p) {
    pthread_mutex_lock(&p->lock);
    void *item = p->n ? p->items[--p->n] : NULL;
    pthread_mutex_unlock(&p->lock);
    return item;
}

void pool_give(pool_t *p, void *item) {
    if (!item) return;
    pthread_mutex_lock(&p->lock);
    int kept = p->n < p->cap;
    if (kept) p->items[p->n++] = item;
    pthread_mutex_unlock(&p->lock);
    if (!kept) p->destroy(item);
}

void pool_destroy(pool_t *p) {
    if (!p->items) return;
    for (size_t i = 0; i < p->n; i++) p->destroy(p->items[i]);
    free(p->items);
    pthread_mutex_destroy(&p->lock);
}
