/* rules_topic.h: the compacted carrot.rules topic, holding each program's
 * current rules text keyed by program id. carrot-rules publishes to it and
 * every scorer follows it, so a whole consumer group switches to the version
 * last published there. Library carrot_rules_topic (topic.c): the rules on
 * carrot/keyed_topic.h's text per key. */
#ifndef CARROT_RULES_TOPIC_H
#define CARROT_RULES_TOPIC_H

#include "carrot/config.h"
#include "carrot/rules.h"

#include <stddef.h>

/* Publishes rules (their exact text) keyed by their program; returns once
 * the broker has acknowledged it. conf passes "kafka.*" settings through.
 * 0, or -1 with errstr. */
int carrot_rules_publish(const carrot_conf_t *conf, const char *brokers, const char *topic,
                         const carrot_rules_t *rules, char *errstr, size_t errstr_size);

typedef struct carrot_rules_feed_s carrot_rules_feed_t;

/* Follows topic (every partition, from the start) for program's records. */
carrot_rules_feed_t *carrot_rules_feed_new(const carrot_conf_t *conf, const char *brokers,
                                           const char *topic, const char *program, char *errstr,
                                           size_t errstr_size);
void carrot_rules_feed_destroy(carrot_rules_feed_t *feed); /* NULL is a no-op */

/* Reads what has arrived within timeout_ms (with catch_up, until the end of
 * every partition or the timeout). When the newest record for the program
 * is new, returns 1 with its rules in *rulesp (the caller owns them); 0 when
 * nothing new; -1 when the newest record is not valid rules (errstr names
 * the problem; the caller keeps its rules). */
int carrot_rules_feed_poll(carrot_rules_feed_t *feed, int timeout_ms, int catch_up,
                           carrot_rules_t **rulesp, char *errstr, size_t errstr_size);

#endif
