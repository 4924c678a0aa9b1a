/* tsan_threads.c: C11 thread creation for a ThreadSanitizer build
 * (CARROT_TSAN), linked into every program and test of that build only.
 * glibc's thrd_create reaches pthread's internals directly, past TSAN's
 * interceptors: librdkafka's threads then ran without TSAN's per-thread
 * state and crashed at their first malloc. Defined in the program, these
 * take precedence over libc's for librdkafka and forward to the pthread
 * calls TSAN intercepts (glibc's thrd_t is a pthread_t). librdkafka's mutexes
 * are left to glibc on purpose: TSAN would see them but not the library's
 * own atomics (it is not built with TSAN), and report its objects' locks as
 * races; tests/tsan.supp says what else is set aside. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is pthread_t");

static int thrd_result(int err) {
    switch (err) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    }
    return thrd_error;
}

typedef struct {
    thrd_start_t fn;
    void *arg;
} start_t;

static void *start(void *p) {
    start_t s = *(start_t *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
    start_t *s = malloc(sizeof(*s));
    if (!s) return thrd_nomem;
    *s = (start_t){fn, arg};
    int err = pthread_create((pthread_t *)thr, NULL, start, s);
    if (err) free(s);
    return thrd_result(err);
}

int thrd_join(thrd_t thr, int *res) {
    void *r = NULL;
    int err = pthread_join((pthread_t)thr, &r);
    if (!err && res) *res = (int)(intptr_t)r;
    return thrd_result(err);
}

int thrd_detach(thrd_t thr) { return thrd_result(pthread_detach((pthread_t)thr)); }
