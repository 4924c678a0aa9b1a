/* keyed_topic.h: a compacted topic holding one current text per key (a
 * program's rules, a notification deployment's configuration). Publishing
 * a key's text, and following the newest text of one key, so every member
 * of a group switches to what was published last. */
#ifndef CARROT_KEYED_TOPIC_H
#define CARROT_KEYED_TOPIC_H

#include "carrot/config.h"

#include <stddef.h>

/* Publishes text (len bytes) under key, creating the topic (compacted, one
 * partition) when missing; returns once the broker has acknowledged it.
 * what names the text in errors ("rules"). conf passes "kafka.*" settings
 * through. 0, or -1 with errstr. */
int carrot_keyed_publish(const carrot_conf_t *conf, const char *brokers, const char *topic,
                         const char *key, const char *text, size_t len, const char *what,
                         char *errstr, size_t errstr_size);

typedef struct carrot_keyed_feed_s carrot_keyed_feed_t;

/* Follows topic (every partition, from the start, no consumer group) for
 * key's records. NULL with errstr on failure. */
carrot_keyed_feed_t *carrot_keyed_feed_new(const carrot_conf_t *conf, const char *brokers,
                                           const char *topic, const char *key, char *errstr,
                                           size_t errstr_size);
void carrot_keyed_feed_destroy(carrot_keyed_feed_t *feed); /* NULL is a no-op */

/* Reads what has arrived within timeout_ms (with catch_up, until the end of
 * every partition or the timeout). 1 when a record for key arrived since the
 * last 1: *textp (NUL-terminated, owned by the feed, valid until the next
 * poll) and *lenp hold the newest; 0 when nothing new. */
int carrot_keyed_feed_poll(carrot_keyed_feed_t *feed, int timeout_ms, int catch_up,
                           const char **textp, size_t *lenp);

/* 1 once every partition has been read to the end it had when assigned:
 * a key with no record by then has none. */
int carrot_keyed_feed_caught_up(const carrot_keyed_feed_t *feed);

#endif
