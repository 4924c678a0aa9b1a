/* follow.c: the configuration `carrot-notify run` works under, versioned
 * like the rules. The configuration topic (compacted, keyed by --group)
 * holds the deployment's current text: the first member's file seeds it
 * when it holds nothing, and every member switches to the newest published
 * there between two batches (`carrot-notify publish`, or SIGHUP: the file
 * read again and published). A text that is not valid is logged with its
 * line, and the version in force stays. */
#include "carrot/keyed_topic.h"
#include "carrot/log.h"
#include "prog.h"

#include <stdio.h>
#include <string.h>

volatile sig_atomic_t notify_reread;

static const char *topic_of(const notify_conf_t *cf) {
    return cf->config_topic && *cf->config_topic ? cf->config_topic : NULL;
}

int notify_publish(const carrot_conf_t *conf, const notify_conf_t *cf,
                   const carrot_notify_config_t *cfg, char *errstr, size_t errstr_size) {
    size_t len;
    const char *text = carrot_notify_config_text(cfg, &len);
    return carrot_keyed_publish(conf, cf->brokers, topic_of(cf), cf->group, text, len,
                                "the notification configuration", errstr, errstr_size);
}

/* The topic's text parsed, named after where it came from; NULL with errstr. */
static carrot_notify_config_t *parse_published(const notify_conf_t *cf, const char *text,
                                               size_t len, char *errstr, size_t errstr_size) {
    char origin[600];
    snprintf(origin, sizeof(origin), "%s[%s]", topic_of(cf), cf->group);
    return carrot_notify_config_parse(text, len, origin, errstr, errstr_size);
}

int notify_follow_start(notify_follow_t *f, const carrot_conf_t *conf, const notify_conf_t *cf) {
    char errstr[1024];
    *f = (notify_follow_t){.conf = conf, .cf = cf};
    if (!(f->cfg = carrot_notify_config_load(cf->config, errstr, sizeof(errstr)))) {
        carrot_error("%s", errstr);
        return 3;
    }
    if (!topic_of(cf)) return 0; /* the file alone: SIGHUP switches to it again */
    if (!(f->feed = carrot_keyed_feed_new(conf, cf->brokers, topic_of(cf), cf->group, errstr,
                                          sizeof(errstr)))) {
        carrot_error("%s", errstr);
        return 1;
    }
    const char *text;
    size_t len;
    if (carrot_keyed_feed_poll(f->feed, 15000, 1, &text, &len) != 1) {
        /* seeded only when the topic surely has nothing: a member that could not read it to
         * its end would put its (maybe older) file over the group's version */
        if (!carrot_keyed_feed_caught_up(f->feed)) {
            carrot_error("%s could not be read to its end within 15 s: not starting (the "
                         "group's configuration is there, or the file's will be once it is)",
                         topic_of(cf));
            return 1;
        }
        if (notify_publish(conf, cf, f->cfg, errstr, sizeof(errstr))) {
            carrot_error("%s", errstr);
            return 1;
        }
        carrot_info("%s had no configuration for %s: seeded with version %s of %s", topic_of(cf),
                    cf->group, carrot_notify_config_version(f->cfg), cf->config);
        return 0;
    }
    carrot_notify_config_t *pub = parse_published(cf, text, len, errstr, sizeof(errstr));
    if (!pub) {
        carrot_warn("%s (starting with %s, version %s)", errstr, cf->config,
                    carrot_notify_config_version(f->cfg));
        return 0;
    }
    carrot_info("following %s: version %s (%s has %s)", topic_of(cf),
                carrot_notify_config_version(pub), cf->config,
                carrot_notify_config_version(f->cfg));
    carrot_notify_config_destroy(f->cfg);
    f->cfg = pub;
    return 0;
}

/* n to next, and the rules it follows; the old configuration back when next
 * cannot be served. Takes next. */
static int switch_to(notify_follow_t *f, carrot_notifier_t *n, carrot_notify_config_t *next) {
    char errstr[1024];
    const notify_conf_t *cf = f->cf;
    int taken = carrot_notifier_set_config(n, next, errstr, sizeof(errstr)) == 0;
    if (!taken || carrot_notifier_follow_rules(n, f->conf, cf->brokers, cf->rules_topic, errstr,
                                               sizeof(errstr))) {
        carrot_warn("version %s cannot be used: %s (keeping version %s)",
                    carrot_notify_config_version(next), errstr,
                    carrot_notify_config_version(f->cfg));
        /* (refused by set_config: n is as it was; else back to the version in force) */
        if (taken && (carrot_notifier_set_config(n, f->cfg, errstr, sizeof(errstr)) ||
                      carrot_notifier_follow_rules(n, f->conf, cf->brokers, cf->rules_topic, errstr,
                                                   sizeof(errstr))))
            carrot_warn("%s", errstr);
        carrot_notify_config_destroy(next);
        return 0;
    }
    carrot_info("notifying with version %s (was %s)", carrot_notify_config_version(next),
                carrot_notify_config_version(f->cfg));
    carrot_notify_config_destroy(f->cfg);
    f->cfg = next;
    return 1;
}

int notify_follow_poll(notify_follow_t *f, carrot_notifier_t *n) {
    char errstr[1024];
    const notify_conf_t *cf = f->cf;
    int switched = 0;
    if (notify_reread) {
        notify_reread = 0;
        carrot_notify_config_t *file = carrot_notify_config_load(cf->config, errstr,
                                                                 sizeof(errstr));
        if (!file) {
            carrot_warn("%s (keeping version %s)", errstr, carrot_notify_config_version(f->cfg));
        } else if (!f->feed) {
            switched = switch_to(f, n, file);
        } else {
            /* through the topic, so every member of the group takes it */
            if (notify_publish(f->conf, cf, file, errstr, sizeof(errstr)))
                carrot_warn("%s (keeping version %s)", errstr,
                            carrot_notify_config_version(f->cfg));
            else
                carrot_info("published version %s of %s to %s", carrot_notify_config_version(file),
                            cf->config, topic_of(cf));
            carrot_notify_config_destroy(file);
        }
    }
    const char *text;
    size_t len, now_len;
    if (!f->feed || carrot_keyed_feed_poll(f->feed, 0, 0, &text, &len) != 1) return switched;
    const char *now = carrot_notify_config_text(f->cfg, &now_len);
    if (len == now_len && memcmp(text, now, len) == 0) return switched; /* in force already */
    carrot_notify_config_t *pub = parse_published(cf, text, len, errstr, sizeof(errstr));
    if (!pub) {
        carrot_warn("%s (keeping version %s)", errstr, carrot_notify_config_version(f->cfg));
        return switched;
    }
    return switch_to(f, n, pub) || switched;
}

void notify_follow_end(notify_follow_t *f) {
    carrot_keyed_feed_destroy(f->feed);
    carrot_notify_config_destroy(f->cfg);
    f->feed = NULL;
    f->cfg = NULL;
}
