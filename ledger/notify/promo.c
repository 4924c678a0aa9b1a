/* promo.c: a promotion's start and end, told to its segments. The rules
 * come from the rules topic (one feed per configured program); a promotion
 * is told once per window (its id holds from or to), and only within a day
 * of it, so carrot-notify started late does not announce an old one. */
#include "carrot/timeutil.h"
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANNOUNCE_MS (86400LL * 1000) /* how late a start or an end is still news */

int carrot_notifier_follow_rules(carrot_notifier_t *n, const carrot_conf_t *conf,
                                 const char *brokers, const char *topic, char *errstr,
                                 size_t errstr_size) {
    const carrot_notify_config_t *cfg = n->cfg;
    if (!cfg->triggers[CARROT_TRIGGER_PROMOTION_STARTED].on &&
        !cfg->triggers[CARROT_TRIGGER_PROMOTION_ENDED].on)
        return 0;
    if (!cfg->programs) {
        snprintf(errstr, errstr_size,
                 "the promotion triggers need the configuration's programs: (whose rules to "
                 "follow)");
        return -1;
    }
    if (!(n->feeds = calloc((size_t)cfg->nprograms, sizeof(*n->feeds))) ||
        !(n->rules = calloc((size_t)cfg->nprograms, sizeof(*n->rules)))) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < cfg->nprograms; i++)
        if (!(n->feeds[i] = carrot_rules_feed_new(conf, brokers, topic, cfg->programs[i], errstr,
                                                  errstr_size)))
            return -1;
    return 0;
}

void notify_promotions_free(carrot_notifier_t *n) {
    for (int i = 0; (n->feeds || n->rules) && i < n->cfg->nprograms; i++) {
        if (n->feeds) carrot_rules_feed_destroy(n->feeds[i]);
        if (n->rules) carrot_rules_destroy(n->rules[i]);
    }
    free(n->feeds);
    free(n->rules);
    n->feeds = NULL;
    n->rules = NULL;
}

static char *iso(int64_t ms, char *buf, size_t size) {
    carrot_time_format(ms, buf, size);
    return buf;
}

/* One promotion's start or end, when it is news. */
static carrot_ledger_err_t one(carrot_notifier_t *n, PGconn *pg, const char *program,
                               const json_t *pr, int64_t now, carrot_notify_stats_t *st,
                               char *errstr, size_t errstr_size) {
    const char *id = json_string_value(json_object_get(pr, "id"));
    int64_t from = (int64_t)json_integer_value(json_object_get(pr, "from_ms")),
            to = (int64_t)json_integer_value(json_object_get(pr, "to_ms"));
    json_t *segs = json_object_get(json_object_get(pr, "when"), "segment");
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (int end = 0; !rc && end < 2; end++) {
        int64_t at = end ? to : from;
        carrot_trigger_t t = end ? CARROT_TRIGGER_PROMOTION_ENDED
                                 : CARROT_TRIGGER_PROMOTION_STARTED;
        if (!id || !n->cfg->triggers[t].on || now < at || now - at > ANNOUNCE_MS) continue;
        if (!end && now >= to) continue; /* over before it was seen to start */
        char eid[600], f1[40], f2[40], who[400] = "";
        snprintf(eid, sizeof(eid), "promotion:%s:%s:%lld:%s", program, id, (long long)at,
                 end ? "end" : "start");
        size_t k;
        json_t *v;
        json_array_foreach(segs, k, v) {
            size_t l = strlen(who);
            snprintf(who + l, sizeof(who) - l, "%s%s", l ? ", " : "", json_string_value(v));
        }
        json_t *f = json_pack("{s:s, s:s, s:s, s:O, s:O, s:s}", "promotion", id, "from",
                              iso(from, f1, sizeof(f1)), "to", iso(to, f2, sizeof(f2)),
                              "multiplier", json_object_get(pr, "multiplier"), "bonus",
                              json_object_get(pr, "bonus"), "segments", who[0] ? who : "everyone");
        json_t *none = segs ? NULL : json_array();
        notify_event_t ev = {eid, t, program, "", NULL, f, at, segs ? segs : none};
        rc = notify_queue(n, pg, &ev, st, errstr, errstr_size);
        json_decref(none);
        json_decref(f);
    }
    return rc;
}

carrot_ledger_err_t notify_promotions(carrot_notifier_t *n, PGconn *pg, int64_t now,
                                      carrot_notify_stats_t *st, char *errstr, size_t errstr_size) {
    carrot_ledger_err_t rc = CARROT_LEDGER_OK;
    for (int i = 0; !rc && n->feeds && i < n->cfg->nprograms; i++) {
        carrot_rules_t *fresh = NULL;
        char why[512];
        int got = carrot_rules_feed_poll(n->feeds[i], 0, n->rules[i] == NULL, &fresh, why,
                                         sizeof(why));
        if (got == 1) { /* (a bad record keeps the rules as they were) */
            carrot_rules_destroy(n->rules[i]);
            n->rules[i] = fresh;
        }
        if (!n->rules[i]) continue;
        char *text = carrot_rules_promotions(n->rules[i]);
        json_t *a = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (!a) {
            snprintf(errstr, errstr_size, "out of memory");
            return CARROT_LEDGER_FATAL;
        }
        size_t k;
        json_t *pr;
        json_array_foreach(a, k, pr) {
            if (rc) break;
            rc = one(n, pg, n->cfg->programs[i], pr, now, st, errstr, errstr_size);
        }
        json_decref(a);
    }
    return rc;
}
