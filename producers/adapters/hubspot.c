/* hubspot.c: HubSpot webhook events into generic activities, and the
 * X-HubSpot-Signature-v3 check. HMAC and base64 come from OpenSSL. */
#include "adapter_util.h"
#include "carrot/adapter.h"
#include "carrot/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIVE_MINUTES_MS 300000LL

int carrot_hubspot_verify(const char *secret, const char *method, const char *uri, const char *body,
                          size_t body_len, const char *timestamp, const char *signature,
                          long long now_ms, char *errstr, size_t errstr_size) {
    if (!timestamp || !signature) {
        snprintf(errstr, errstr_size,
                 "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header");
        return -1;
    }
    /* Digits only (strtoll alone would take a sign, spaces and an overflow
     * clamped to LLONG_MAX), and the window checked by comparing against its
     * bounds: now_ms - ts overflows for a timestamp far enough away. */
    size_t ndigits = strspn(timestamp, "0123456789");
    char *end;
    errno = 0;
    long long ts = ndigits ? strtoll(timestamp, &end, 10) : 0;
    if (!ndigits || timestamp[ndigits] || errno == ERANGE) {
        snprintf(errstr, errstr_size, "X-HubSpot-Request-Timestamp \"%.32s\" is not milliseconds",
                 timestamp);
        return -1;
    }
    long long lo = now_ms < LLONG_MIN + FIVE_MINUTES_MS ? LLONG_MIN : now_ms - FIVE_MINUTES_MS;
    long long hi = now_ms > LLONG_MAX - FIVE_MINUTES_MS ? LLONG_MAX : now_ms + FIVE_MINUTES_MS;
    if (ts < lo || ts > hi) {
        /* the distance, in unsigned arithmetic where it cannot overflow */
        unsigned long long away = ts < now_ms ? (unsigned long long)now_ms - (unsigned long long)ts
                                              : (unsigned long long)ts - (unsigned long long)now_ms;
        snprintf(errstr, errstr_size,
                 "request timestamp is %llu s away from now (at most 300 allowed)", away / 1000);
        return -1;
    }
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    int ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
             EVP_MAC_update(ctx, (const unsigned char *)method, strlen(method)) &&
             EVP_MAC_update(ctx, (const unsigned char *)uri, strlen(uri)) &&
             EVP_MAC_update(ctx, (const unsigned char *)body, body_len) &&
             EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) &&
             EVP_MAC_final(ctx, md, &mdlen, sizeof(md));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok) {
        snprintf(errstr, errstr_size, "could not compute the signature");
        return -1;
    }
    unsigned char expect[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    int n = EVP_EncodeBlock(expect, md, (int)mdlen);
    if (strlen(signature) != (size_t)n || CRYPTO_memcmp(expect, signature, (size_t)n) != 0) {
        snprintf(errstr, errstr_size, "X-HubSpot-Signature-v3 does not match the request");
        return -1;
    }
    return 0;
}

/* HubSpot's object type ids of the engagements that are activities. */
static const struct {
    const char *type_id, *activity;
} engagements[] = {
    {"0-48", "call"}, {"0-47", "meeting"}, {"0-46", "note"}, {"0-49", "email"}, {"0-27", "task"}};

int carrot_adapt_hubspot(json_t *e, json_t *out, char *errstr, size_t errstr_size) {
    char b1[64], b2[64], b3[64], b4[64], b5[64], id[512], rec[128], who[160];
    if (!json_is_object(e)) {
        snprintf(errstr, errstr_size, "expected a HubSpot event (a JSON object)");
        return -1;
    }
    const char *event_id = carrot_jtext(e, "eventId", b1, sizeof(b1));
    const char *portal = carrot_jtext(e, "portalId", b2, sizeof(b2));
    const char *object_id = carrot_jtext(e, "objectId", b3, sizeof(b3));
    const char *sub = json_string_value(json_object_get(e, "subscriptionType"));
    json_t *occurred = json_object_get(e, "occurredAt");
    if (!event_id || !portal || !object_id || !sub || !json_is_integer(occurred)) {
        snprintf(
            errstr, errstr_size,
            "HubSpot event needs eventId, portalId, objectId, subscriptionType and occurredAt (ms)");
        return -1;
    }
    const char *dot = strchr(sub, '.');
    if (!dot) {
        snprintf(errstr, errstr_size, "subscriptionType \"%.64s\" is not object.action", sub);
        return -1;
    }
    const char *action = dot + 1;
    int is_deal = strncmp(sub, "deal.", 5) == 0, is_object = strncmp(sub, "object.", 7) == 0;
    const char *prop = json_string_value(json_object_get(e, "propertyName"));
    const char *value = carrot_jtext(e, "propertyValue", b4, sizeof(b4));
    const char *activity = NULL, *change = "CREATE", *stage = NULL;
    if (is_object) {
        const char *type_id = carrot_jtext(e, "objectTypeId", b5, sizeof(b5));
        for (size_t i = 0; type_id && i < sizeof(engagements) / sizeof(engagements[0]); i++)
            if (strcmp(type_id, engagements[i].type_id) == 0) activity = engagements[i].activity;
        if (!activity) return 0; /* contacts, companies, tickets...: not activities */
        snprintf(rec, sizeof(rec), "%s:%s", type_id, object_id);
    } else if (is_deal) {
        snprintf(rec, sizeof(rec), "deal:%s", object_id);
        activity = "opportunity_stage";
    } else
        return 0; /* contact.*, company.*, ticket.*: not activities */
    if (strcmp(action, "creation") == 0) {
        if (is_deal) stage = "created";
    } else if (strcmp(action, "deletion") == 0 || strcmp(action, "privacyDeletion") == 0) {
        change = "DELETE";
    } else if (strcmp(action, "restore") == 0) {
        change = "UNDELETE";
    } else if (strcmp(action, "propertyChange") == 0 && is_deal && prop &&
               strcmp(prop, "dealstage") == 0 && value) {
        stage = value;
        activity = strcmp(value, "closedwon") == 0    ? "deal_won"
                   : strcmp(value, "closedlost") == 0 ? "deal_lost"
                                                      : "opportunity_stage";
    } else
        return 0; /* other property changes earn nothing: not an activity */

    /* the participant: the owner when the event names one, else the user who made the change */
    const char *source = json_string_value(json_object_get(e, "sourceId"));
    who[0] = '\0';
    if (prop && strcmp(prop, "hubspot_owner_id") == 0 && value)
        snprintf(who, sizeof(who), "%s", value);
    else if (source && strncmp(source, "userId:", 7) == 0 && source[7])
        snprintf(who, sizeof(who), "hubspot-user:%s", source + 7);
    if (!who[0] && strcmp(change, "CREATE") == 0) {
        snprintf(errstr, errstr_size,
                 "HubSpot %s names no participant (no hubspot_owner_id, no sourceId userId:N)",
                 sub);
        return -1;
    }
    if (stage && strcmp(change, "CREATE") == 0)
        snprintf(id, sizeof(id), "hs:%s:deal:%s:stage:%s", portal, object_id, stage);
    else
        snprintf(id, sizeof(id), "hs:%s:%s", portal, event_id);
    char when[40];
    carrot_time_format(json_integer_value(occurred), when, sizeof(when));
    json_t *g = json_object();
    carrot_jset(g, "event_id", id);
    carrot_jset(g, "source_system", "hubspot");
    carrot_jset(g, "source_record_id", rec);
    carrot_jset(g, "change_type", change);
    carrot_jset(g, "activity_type", strcmp(change, "CREATE") == 0 ? activity : "");
    carrot_jset(g, "participant_id", who);
    carrot_jset(g, "occurred_at", when);
    if (is_deal) {
        carrot_jset(g, "opportunity_id", object_id);
        carrot_jset(g, "stage", stage);
    }
    json_t *custom = json_object();
    carrot_jset(custom, "portalId", portal);
    carrot_jset(custom, "changeSource", json_string_value(json_object_get(e, "changeSource")));
    json_object_set_new(g, "custom", custom);
    json_array_append_new(out, g);
    return 0;
}
