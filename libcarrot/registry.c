/* registry.c: two REST calls of the Confluent schema registry API, with
 * jansson for the JSON bodies. */
#include "carrot/registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct carrot_registry_s {
    char *url;
    CURL *curl;
};

typedef struct {
    char *buf;
    size_t len;
} body_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    body_t *b = ud;
    size_t len = size * n;
    if (b->len + len > (8u << 20)) return 0; /* no schema is 8 MiB */
    char *nb = realloc(b->buf, b->len + len + 1);
    if (!nb) return 0;
    memcpy(nb + b->len, p, len);
    b->buf = nb;
    b->len += len;
    b->buf[b->len] = '\0';
    return len;
}

carrot_registry_t *carrot_registry_new(const char *url, char *errstr, size_t errstr_size) {
    carrot_registry_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->url = strdup(url)) || !(r->curl = curl_easy_init())) {
        snprintf(errstr, errstr_size, "could not create the schema registry client");
        carrot_registry_destroy(r);
        return NULL;
    }
    size_t n = strlen(r->url);
    while (n > 0 && r->url[n - 1] == '/') r->url[--n] = '\0';
    return r;
}

void carrot_registry_destroy(carrot_registry_t *r) {
    if (!r) return;
    if (r->curl) curl_easy_cleanup(r->curl);
    free(r->url);
    free(r);
}

/* One request; *outp gets the parsed JSON reply of a 2xx. */
static int call(carrot_registry_t *r, const char *path, const char *post, json_t **outp,
                char *errstr, size_t errstr_size) {
    char url[2048];
    body_t b = {0};
    snprintf(url, sizeof(url), "%s%s", r->url, path);
    struct curl_slist *h = curl_slist_append(
        NULL, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_reset(r->curl);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 10L);
    if (post) curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, post);
    CURLcode cc = curl_easy_perform(r->curl);
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    json_t *reply = b.buf ? json_loads(b.buf, 0, NULL) : NULL;
    int rc = -1;
    if (cc != CURLE_OK)
        snprintf(errstr, errstr_size, "schema registry %s: %s", url, curl_easy_strerror(cc));
    else if (status < 200 || status > 299)
        snprintf(errstr, errstr_size, "schema registry %s: HTTP %ld: %s", url, status,
                 json_string_value(json_object_get(reply, "message"))
                     ? json_string_value(json_object_get(reply, "message"))
                     : "no message");
    else if (!json_is_object(reply))
        snprintf(errstr, errstr_size, "schema registry %s: the reply is not a JSON object", url);
    else {
        *outp = reply;
        reply = NULL;
        rc = 0;
    }
    json_decref(reply);
    free(b.buf);
    return rc;
}

int carrot_registry_register(carrot_registry_t *r, const char *subject, const char *schema_json,
                             int32_t *idp, char *errstr, size_t errstr_size) {
    char path[512];
    char *esc = curl_easy_escape(r->curl, subject, 0);
    snprintf(path, sizeof(path), "/subjects/%s/versions", esc ? esc : subject);
    curl_free(esc);
    json_t *req = json_pack("{ss}", "schema", schema_json), *reply = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    int rc = body ? call(r, path, body, &reply, errstr, errstr_size) : -1;
    free(body);
    if (rc) return -1;
    json_t *id = json_object_get(reply, "id");
    if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX) {
        snprintf(errstr, errstr_size, "schema registry: no id in the reply to registering %s",
                 subject);
        rc = -1;
    } else
        *idp = (int32_t)json_integer_value(id);
    json_decref(reply);
    return rc;
}

int carrot_registry_fetch(carrot_registry_t *r, int32_t id, char **schemap, char *errstr,
                          size_t errstr_size) {
    char path[64];
    json_t *reply = NULL;
    snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
    if (call(r, path, NULL, &reply, errstr, errstr_size)) return -1;
    const char *schema = json_string_value(json_object_get(reply, "schema"));
    int rc = schema && (*schemap = strdup(schema)) ? 0 : -1;
    if (rc)
        snprintf(errstr, errstr_size, "schema registry: no schema in the reply for id %d", (int)id);
    json_decref(reply);
    return rc;
}

carrot_codec_err_t carrot_registry_decode(carrot_registry_t *r, carrot_codec_t *codec,
                                          const void *buf, size_t len, avro_value_t **valuep,
                                          char *errstr, size_t errstr_size) {
    int32_t id;
    if (r && carrot_codec_unknown_id(codec, buf, len, &id)) {
        char *schema = NULL;
        if (carrot_registry_fetch(r, id, &schema, errstr, errstr_size) != 0)
            return CARROT_CODEC_ERR_UNKNOWN; /* the message goes to the dead-letter topic */
        int rc = carrot_codec_add_writer_id(codec, id, schema, errstr, errstr_size);
        free(schema);
        if (rc) return CARROT_CODEC_ERR_UNKNOWN;
    }
    return carrot_codec_decode(codec, buf, len, valuep, errstr, errstr_size);
}
