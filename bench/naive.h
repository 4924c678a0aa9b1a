/* naive.h: the naive design's Redis commands for a feed, the baseline
 * bench_scorer pipes raw into Redis (see naive.c). */
#ifndef CARROT_BENCH_NAIVE_H
#define CARROT_BENCH_NAIVE_H

#include <stddef.h>

/* How many commands of each kind were written. */
typedef struct {
    long long commands, activities;
    long long get, set, hmget, hset, hincrby, zincrby, expireat, sadd;
} naive_mix_t;

/* Scores every line of feed (JSON lines) with the rules file as the scorer
 * does, and writes to out, in RESP, the commands the naive design sends for
 * them in batches of batch activities, under keys of program "naive-<program>"
 * (the scorer's own keys stay as it left them). 0, or -1 with errstr. */
int naive_mix_write(const char *rules_path, const char *feed, const char *program, int batch,
                    const char *out, naive_mix_t *mix, char *errstr, size_t errstr_size);

#endif
