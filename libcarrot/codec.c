/* codec.c: single-object framing, a table of known writer schemas by
 * fingerprint, and resolution of older writers to the current schema. */
#include "carrot/codec.h"

#include "avro_check.h"
#include "fingerprint.h"
#include "resolve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t fp;
    int32_t id; /* schema registry id, or -1 */
    avro_schema_t schema;
    avro_value_iface_t *iface; /* NULL for the current schema: read directly */
    avro_value_t value;        /* an older writer's bytes are read here, then resolved */
} writer_t;

struct carrot_codec_s {
    avro_schema_t schema;
    json_t *schema_json; /* the defaults used by resolution */
    uint64_t fp;
    avro_value_iface_t *iface;
    avro_value_t build;   /* handed out by carrot_codec_value() */
    avro_value_t decoded; /* handed out by carrot_codec_decode() */
    writer_t *writers;
    size_t nwriters;
    avro_reader_t reader;
    avro_writer_t writer;
    char *buf;
    size_t cap;
    int32_t registry_id; /* >= 0: encode in the Confluent wire format */
};

const char *carrot_codec_err_name(carrot_codec_err_t err) {
    switch (err) {
    case CARROT_CODEC_OK: return "ok";
    case CARROT_CODEC_ERR_FRAMING: return "framing";
    case CARROT_CODEC_ERR_UNKNOWN: return "unknown_schema";
    case CARROT_CODEC_ERR_BODY: return "body";
    case CARROT_CODEC_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

static int parse_schema(const char *json, avro_schema_t *schemap, uint64_t *fpp, char *errstr,
                        size_t errstr_size) {
    if (carrot_schema_fingerprint(json, fpp, errstr, errstr_size) != 0) return -1;
    if (avro_schema_from_json_length(json, strlen(json), schemap) != 0) {
        snprintf(errstr, errstr_size, "invalid Avro schema: %s", avro_strerror());
        return -1;
    }
    return 0;
}

carrot_codec_t *carrot_codec_new(const char *schema_json, char *errstr, size_t errstr_size) {
    carrot_codec_t *codec = calloc(1, sizeof(*codec));
    if (!codec) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (parse_schema(schema_json, &codec->schema, &codec->fp, errstr, errstr_size) != 0) {
        free(codec);
        return NULL;
    }
    codec->schema_json = json_loads(schema_json, 0, NULL);
    codec->iface = avro_generic_class_from_schema(codec->schema);
    codec->writers = calloc(1, sizeof(writer_t));
    codec->reader = avro_reader_memory(NULL, 0);
    codec->writer = avro_writer_memory(NULL, 0);
    if (!codec->schema_json || !codec->iface || !codec->writers || !codec->reader ||
        !codec->writer || avro_generic_value_new(codec->iface, &codec->build) != 0) {
        snprintf(errstr, errstr_size, "could not create Avro value: %s", avro_strerror());
        carrot_codec_destroy(codec);
        return NULL;
    }
    if (avro_generic_value_new(codec->iface, &codec->decoded) != 0) {
        avro_value_decref(&codec->build);
        codec->build.self = NULL;
        snprintf(errstr, errstr_size, "could not create Avro value: %s", avro_strerror());
        carrot_codec_destroy(codec);
        return NULL;
    }
    codec->writers[0].fp = codec->fp;
    codec->writers[0].id = -1;
    codec->writers[0].schema = avro_schema_incref(codec->schema);
    codec->nwriters = 1;
    codec->registry_id = -1;
    return codec;
}

void carrot_codec_destroy(carrot_codec_t *codec) {
    if (!codec) return;
    for (size_t i = 0; i < codec->nwriters; i++) {
        writer_t *w = &codec->writers[i];
        if (w->iface) {
            avro_value_decref(&w->value);
            avro_value_iface_decref(w->iface);
        }
        avro_schema_decref(w->schema);
    }
    free(codec->writers);
    if (codec->build.self) avro_value_decref(&codec->build);
    if (codec->decoded.self) avro_value_decref(&codec->decoded);
    if (codec->iface) avro_value_iface_decref(codec->iface);
    if (codec->reader) avro_reader_free(codec->reader);
    if (codec->writer) avro_writer_free(codec->writer);
    avro_schema_decref(codec->schema);
    json_decref(codec->schema_json);
    free(codec->buf);
    free(codec);
}

static int add_writer(carrot_codec_t *codec, int32_t id, const char *schema_json, char *errstr,
                      size_t errstr_size) {
    avro_schema_t schema;
    uint64_t fp;
    if (parse_schema(schema_json, &schema, &fp, errstr, errstr_size) != 0) return -1;
    for (size_t i = 0; i < codec->nwriters; i++) {
        if (codec->writers[i].fp == fp && (id < 0 || codec->writers[i].id == id)) {
            avro_schema_decref(schema);
            return 0;
        }
        if (codec->writers[i].fp == fp && codec->writers[i].id < 0) { /* known: add the id */
            codec->writers[i].id = id;
            avro_schema_decref(schema);
            return 0;
        }
    }
    writer_t w = {.fp = fp, .id = id, .schema = schema};
    if (fp == codec->fp) { /* the current schema under another id: read directly */
        writer_t *nw = realloc(codec->writers, (codec->nwriters + 1) * sizeof(*nw));
        if (!nw) {
            avro_schema_decref(schema);
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        codec->writers = nw;
        codec->writers[codec->nwriters++] = w;
        return 0;
    }
    if (carrot_resolve_check(schema, codec->schema, codec->schema_json, errstr, errstr_size) != 0) {
        avro_schema_decref(schema);
        return -1;
    }
    w.iface = avro_generic_class_from_schema(schema);
    writer_t *nw = w.iface ? realloc(codec->writers, (codec->nwriters + 1) * sizeof(*nw)) : NULL;
    if (!nw || avro_generic_value_new(w.iface, &w.value) != 0) {
        if (nw) codec->writers = nw;
        snprintf(errstr, errstr_size, "could not create Avro value: %s", avro_strerror());
        if (w.iface) avro_value_iface_decref(w.iface);
        avro_schema_decref(schema);
        return -1;
    }
    codec->writers = nw;
    codec->writers[codec->nwriters++] = w;
    return 0;
}

int carrot_codec_add_writer(carrot_codec_t *codec, const char *schema_json, char *errstr,
                            size_t errstr_size) {
    return add_writer(codec, -1, schema_json, errstr, errstr_size);
}

int carrot_codec_add_writer_id(carrot_codec_t *codec, int32_t id, const char *schema_json,
                               char *errstr, size_t errstr_size) {
    if (id < 0) {
        snprintf(errstr, errstr_size, "invalid schema id %d", (int)id);
        return -1;
    }
    return add_writer(codec, id, schema_json, errstr, errstr_size);
}

void carrot_codec_set_registry_id(carrot_codec_t *codec, int32_t id) { codec->registry_id = id; }

static writer_t *find_id(const carrot_codec_t *codec, int32_t id) {
    for (size_t i = 0; i < codec->nwriters; i++)
        if (codec->writers[i].id == id) return &codec->writers[i];
    return NULL;
}

static int32_t read_id(const unsigned char *p) {
    return (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                     p[4]);
}

int carrot_codec_unknown_id(const carrot_codec_t *codec, const void *buf, size_t len,
                            int32_t *idp) {
    const unsigned char *p = buf;
    if (len < CARROT_CF_HEADER_SIZE || p[0] != CARROT_CF_MAGIC) return 0;
    *idp = read_id(p);
    return *idp >= 0 && !find_id(codec, *idp);
}

uint64_t carrot_codec_fingerprint(const carrot_codec_t *codec) { return codec->fp; }
avro_schema_t carrot_codec_schema(const carrot_codec_t *codec) { return codec->schema; }

avro_value_t *carrot_codec_value(carrot_codec_t *codec) {
    avro_value_reset(&codec->build);
    return &codec->build;
}

carrot_codec_err_t carrot_codec_encode(carrot_codec_t *codec, avro_value_t *value,
                                       const void **bufp, size_t *lenp, char *errstr,
                                       size_t errstr_size) {
    size_t body;
    if (avro_value_sizeof(value, &body) != 0) {
        snprintf(errstr, errstr_size, "could not size Avro value: %s", avro_strerror());
        return CARROT_CODEC_ERR_INTERNAL;
    }
    size_t header = codec->registry_id >= 0 ? CARROT_CF_HEADER_SIZE : CARROT_SO_HEADER_SIZE;
    size_t need = header + body;
    if (need > codec->cap) {
        char *nb = realloc(codec->buf, need);
        if (!nb) {
            snprintf(errstr, errstr_size, "out of memory");
            return CARROT_CODEC_ERR_INTERNAL;
        }
        codec->buf = nb;
        codec->cap = need;
    }
    unsigned char *h = (unsigned char *)codec->buf;
    if (codec->registry_id >= 0) {
        uint32_t id = (uint32_t)codec->registry_id;
        h[0] = CARROT_CF_MAGIC;
        for (int i = 0; i < 4; i++) h[1 + i] = (unsigned char)(id >> (24 - 8 * i));
    } else {
        h[0] = CARROT_SO_MAGIC0;
        h[1] = CARROT_SO_MAGIC1;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(codec->fp >> (8 * i));
    }
    avro_writer_memory_set_dest(codec->writer, codec->buf + header, (int64_t)body);
    if (avro_value_write(codec->writer, value) != 0) {
        snprintf(errstr, errstr_size, "could not encode Avro value: %s", avro_strerror());
        return CARROT_CODEC_ERR_INTERNAL;
    }
    *bufp = codec->buf;
    *lenp = need;
    return CARROT_CODEC_OK;
}

carrot_codec_err_t carrot_codec_decode(carrot_codec_t *codec, const void *buf, size_t len,
                                       avro_value_t **valuep, char *errstr, size_t errstr_size) {
    const unsigned char *p = buf;
    writer_t *w = NULL;
    size_t header = CARROT_SO_HEADER_SIZE;
    if (len >= CARROT_CF_HEADER_SIZE && p[0] == CARROT_CF_MAGIC) {
        header = CARROT_CF_HEADER_SIZE;
        int32_t id = read_id(p);
        if (!(w = id >= 0 ? find_id(codec, id) : NULL)) {
            snprintf(errstr, errstr_size, "unknown schema registry id %d", (int)id);
            return CARROT_CODEC_ERR_UNKNOWN;
        }
    } else if (len < CARROT_SO_HEADER_SIZE || p[0] != CARROT_SO_MAGIC0 ||
               p[1] != CARROT_SO_MAGIC1) {
        snprintf(errstr, errstr_size,
                 "not an Avro single-object message (%zu bytes, expected 0xC3 0x01 header)", len);
        return CARROT_CODEC_ERR_FRAMING;
    } else {
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++) fp |= (uint64_t)p[2 + i] << (8 * i);
        for (size_t i = 0; i < codec->nwriters && !w; i++)
            if (codec->writers[i].fp == fp) w = &codec->writers[i];
        if (!w) {
            snprintf(errstr, errstr_size, "unknown writer schema fingerprint %016llx",
                     (unsigned long long)fp);
            return CARROT_CODEC_ERR_UNKNOWN;
        }
    }
    const char *body = (const char *)buf + header;
    size_t blen = len - header;
    if (carrot_avro_check(w->schema, body, blen, errstr, errstr_size) != 0)
        return CARROT_CODEC_ERR_BODY;
    avro_value_reset(&codec->decoded);
    avro_reader_memory_set_source(codec->reader, body, (int64_t)blen);
    int rc;
    if (w->iface) {
        avro_value_reset(&w->value);
        rc = avro_value_read(codec->reader, &w->value);
        if (rc == 0 && carrot_resolve_copy(&codec->decoded, &w->value, codec->schema_json, errstr,
                                           errstr_size) != 0)
            return CARROT_CODEC_ERR_BODY;
    } else
        rc = avro_value_read(codec->reader, &codec->decoded);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "could not decode Avro body: %s", avro_strerror());
        return CARROT_CODEC_ERR_BODY;
    }
    *valuep = &codec->decoded;
    return CARROT_CODEC_OK;
}
