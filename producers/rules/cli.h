/* cli.h: carrot-rules internals shared by main.c (settings, check, publish,
 * simulate), range.c (reading a time range of a topic) and backfill.c. */
#ifndef CARROT_RULES_CLI_H
#define CARROT_RULES_CLI_H

#include "carrot/config.h"
#include "carrot/rules.h"
#include "carrot/rules_topic.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *brokers, *rules_topic, *input, *topic, *from, *to, *format, *id, *awards_topic;
    char *redis_host, *log_level, *log_format;
    long long redis_port, top, seen_ttl;
    int dry_run;
} rules_conf_t;

/* One message of a topic range, copied out of librdkafka. */
typedef struct {
    int64_t ts;
    int32_t partition;
    int64_t offset;
    char *value;
    size_t len;
} range_msg_t;

/* Reads every committed message of topic with a timestamp in [from_ms,
 * to_ms) (to_ms INT64_MAX: up to the current end), ordered by timestamp,
 * then partition and offset. Returns the count (*msgsp freed with
 * range_free), or -1 with errstr. */
long range_read(const carrot_conf_t *conf, const char *brokers, const char *topic, int64_t from_ms,
                int64_t to_ms, range_msg_t **msgsp, char *errstr, size_t errstr_size);
void range_free(range_msg_t *msgs, long n);

/* carrot-rules backfill: see backfill.c. Returns the exit code. */
int backfill_run(const carrot_conf_t *conf, const rules_conf_t *cf, const carrot_rules_t *rules,
                 int64_t from_ms, int64_t to_ms);

#endif
