/* topic.c: the compacted carrot.rules topic: publishing a program's rules,
 * and following them so every scorer of a group switches to the same
 * version without a restart. A library of its own (carrot_rules_topic), so
 * the rules library itself has no Kafka in it. */
#include "carrot/rules_topic.h"

#include "carrot/keyed_topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int carrot_rules_publish(const carrot_conf_t *conf, const char *brokers, const char *topic,
                         const carrot_rules_t *rules, char *errstr, size_t errstr_size) {
    size_t len;
    const char *text = carrot_rules_text(rules, &len);
    return carrot_keyed_publish(conf, brokers, topic, carrot_rules_program(rules), text, len,
                                "rules", errstr, errstr_size);
}

struct carrot_rules_feed_s {
    carrot_keyed_feed_t *keyed;
    char *program;
};

carrot_rules_feed_t *carrot_rules_feed_new(const carrot_conf_t *conf, const char *brokers,
                                           const char *topic, const char *program, char *errstr,
                                           size_t errstr_size) {
    carrot_rules_feed_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->program = strdup(program))) {
        snprintf(errstr, errstr_size, "out of memory");
        carrot_rules_feed_destroy(f);
        return NULL;
    }
    if (!(f->keyed = carrot_keyed_feed_new(conf, brokers, topic, program, errstr, errstr_size))) {
        carrot_rules_feed_destroy(f);
        return NULL;
    }
    return f;
}

void carrot_rules_feed_destroy(carrot_rules_feed_t *f) {
    if (!f) return;
    carrot_keyed_feed_destroy(f->keyed);
    free(f->program);
    free(f);
}

int carrot_rules_feed_poll(carrot_rules_feed_t *f, int timeout_ms, int catch_up,
                           carrot_rules_t **rulesp, char *errstr, size_t errstr_size) {
    *rulesp = NULL;
    const char *text;
    size_t len;
    if (carrot_keyed_feed_poll(f->keyed, timeout_ms, catch_up, &text, &len) != 1) return 0;
    char origin[300];
    snprintf(origin, sizeof(origin), "rules of %s from the rules topic", f->program);
    carrot_rules_t *r = carrot_rules_parse(text, len, origin, errstr, errstr_size);
    if (!r) return -1;
    if (strcmp(carrot_rules_program(r), f->program) != 0) {
        snprintf(errstr, errstr_size, "%s: names program \"%s\"", origin, carrot_rules_program(r));
        carrot_rules_destroy(r);
        return -1;
    }
    *rulesp = r;
    return 1;
}
