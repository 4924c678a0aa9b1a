/* deliver.c: a signed webhook body's events claimed, mapped, produced and answered for. */
#include "carrot/activity.h"
#include "carrot/activity_json.h"
#include "carrot/adapter.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void webhook_codec_free(void *codec) { carrot_codec_destroy(codec); }

/* A signed body: claim, map, produce, wait for Kafka, confirm or release. */
enum MHD_Result webhook_process(webhook_t *w, struct MHD_Connection *c, const char *body,
                                size_t len) {
    long long deadline = carrot_time_mono_ms() + w->cf->flush_timeout_ms;
    json_error_t jerr;
    json_t *batch = json_loadb(body, len, 0, &jerr);
    char reason[512], out[256], errstr[256];
    if (!json_is_array(batch)) {
        snprintf(reason, sizeof(reason),
                 batch ? "webhook body is not an array of events" : "webhook body is not JSON: %s",
                 jerr.text);
        json_decref(batch);
        batch_t *b = batch_new(1);
        if (!b) return MHD_NO;
        int ok = webhook_dead_letter(w, &b->slots[0], deadline, body, len, reason) == 0 &&
                 webhook_await(w, b, deadline) == 0;
        pthread_mutex_lock(&w->lock);
        ok = ok && !b->slots[0].failed;
        pthread_mutex_unlock(&w->lock);
        batch_release(w, b);
        if (!ok) {
            atomic_fetch_add(&w->unavailable, 1);
            return webhook_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "{\"error\":\"could not deliver to Kafka; retry\"}");
        }
        atomic_fetch_add(&w->dead, 1);
        return webhook_reply(c, MHD_HTTP_OK,
                             "{\"accepted\":0,\"dead_lettered\":1,\"error\":\"not a batch\"}");
    }
    size_t n = json_array_size(batch);
    event_t *ev = calloc(n ? n : 1, sizeof(*ev));
    char **keys = calloc(n ? n : 1, sizeof(*keys));
    batch_t *b = batch_new(n);
    if (!ev || !keys || !b) {
        free(ev), free(keys), free(b);
        json_decref(batch);
        return MHD_NO;
    }
    const char *why = NULL;
    unsigned int status = webhook_dedup_claim(w, batch, ev, n, keys, &why);
    if (!status) {
        free(ev), free(keys);
        batch_release(w, b);
        json_decref(batch);
        return MHD_NO;
    }
    if (status != MHD_HTTP_OK) goto answer;

    long long accepted = 0, dups = 0, dead = 0, skipped = 0;
    carrot_activity_json_defaults_t defaults = {w->cf->program, "hubspot"};
    carrot_codec_t *codec = carrot_pool_take(w->codecs);
    if (!codec && !(codec = carrot_activity_codec_new(errstr, sizeof(errstr))))
        carrot_error("%s", errstr);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].state == EV_REPEAT || ev[i].state == EV_DELIVERED_BEFORE) {
            dups++;
            continue;
        }
        json_t *e = json_array_get(batch, i), *acts = json_array();
        carrot_activity_t a;
        slot_t *s = &b->slots[i];
        int bad = carrot_adapt_hubspot(e, acts, reason, sizeof(reason));
        for (size_t j = 0; !bad && j < json_array_size(acts); j++)
            bad = carrot_activity_from_json(json_array_get(acts, j), &defaults, &a, reason,
                                            sizeof(reason));
        if (bad) {
            char *text = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
            webhook_dead_letter(w, s, deadline, text ? text : "", text ? strlen(text) : 0, reason);
            free(text);
            dead++;
        } else if (json_array_size(acts) == 0) {
            skipped++;
        }
        for (size_t j = 0; !bad && j < json_array_size(acts); j++) {
            const void *buf;
            size_t blen;
            char keybuf[600];
            carrot_activity_from_json(json_array_get(acts, j), &defaults, &a, reason,
                                      sizeof(reason));
            avro_value_t *v = codec ? carrot_codec_value(codec) : NULL;
            if (v && carrot_activity_to_avro(&a, v, reason, sizeof(reason)) == 0 &&
                carrot_codec_encode(codec, v, &buf, &blen, reason, sizeof(reason)) == 0) {
                if (webhook_produce(w, s, deadline, carrot_activity_key(&a, keybuf, sizeof(keybuf)),
                                    buf, blen) == 0)
                    accepted++;
            } else {
                carrot_error("could not encode an activity: %s", v ? reason : "no codec");
                pthread_mutex_lock(&w->lock);
                s->failed = 1;
                pthread_mutex_unlock(&w->lock);
            }
        }
        json_decref(acts);
    }
    carrot_pool_give(w->codecs, codec);

    /* answer only once Kafka has everything: then the ids count as delivered */
    int all = webhook_await(w, b, deadline) == 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        int delivered = b->slots[i].pending == 0 && !b->slots[i].failed;
        all = all && delivered;
        if (ev[i].state == EV_CLAIMED && !delivered) ev[i].state = EV_IN_FLIGHT;
    }
    pthread_mutex_unlock(&w->lock);
    webhook_dedup_settle(w, ev, n, keys);
    if (!all) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        why = "could not deliver to Kafka; retry";
    } else {
        snprintf(out, sizeof(out),
                 "{\"accepted\":%lld,\"duplicates\":%lld,\"dead_lettered\":%lld,\"skipped\":%lld}",
                 accepted, dups, dead, skipped);
        atomic_fetch_add(&w->accepted, accepted);
        atomic_fetch_add(&w->duplicates, dups);
        atomic_fetch_add(&w->dead, dead);
        atomic_fetch_add(&w->skipped, skipped);
    }
answer:
    json_decref(batch);
    batch_release(w, b);
    free(ev);
    free(keys);
    if (status != MHD_HTTP_OK) {
        atomic_fetch_add(&w->unavailable, 1);
        snprintf(out, sizeof(out), "{\"error\":\"%s\"}", why);
    }
    return webhook_reply(c, status, out);
}
