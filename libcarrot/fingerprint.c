/* fingerprint.c: Parsing Canonical Form and CRC-64-AVRO, per the Avro spec:
 * primitives to their simple form, names to full names, only the attributes
 * that matter to parsing (name, type, fields, symbols, items, values, size)
 * in that order, no white space. */
#include "fingerprint.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRC64_EMPTY 0xc15d213aa4d7a795ULL

uint64_t carrot_crc64_avro(const void *data, size_t len) {
    static uint64_t table[256];
    static int ready;
    if (!ready) { /* idempotent; a race writes the same values */
        for (int i = 0; i < 256; i++) {
            uint64_t fp = (uint64_t)i;
            for (int j = 0; j < 8; j++) fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1));
            table[i] = fp;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    uint64_t fp = CRC64_EMPTY;
    for (size_t i = 0; i < len; i++) fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
    char *errstr;
    size_t errstr_size;
} pcf_t;

static void put(pcf_t *o, const char *s, size_t n) {
    if (o->failed) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n + 1) cap *= 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->failed = 1;
            snprintf(o->errstr, o->errstr_size, "out of memory");
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}
static void puts_(pcf_t *o, const char *s) { put(o, s, strlen(s)); }

static void put_json_string(pcf_t *o, const char *s) {
    json_t *j = json_string(s);
    char *txt = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    if (!txt) {
        o->failed = 1;
        snprintf(o->errstr, o->errstr_size, "invalid string in schema");
    } else
        puts_(o, txt);
    free(txt);
    json_decref(j);
}

static void fail(pcf_t *o, const char *msg) {
    if (!o->failed) snprintf(o->errstr, o->errstr_size, "invalid schema: %s", msg);
    o->failed = 1;
}

static int is_primitive(const char *t) {
    static const char *prims[] = {"null",  "boolean", "int",   "long",
                                  "float", "double",  "bytes", "string"};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(t, prims[i]) == 0) return 1;
    return 0;
}

/* fullname of name in namespace ns (ns may be NULL or empty). */
static void put_fullname(pcf_t *o, const char *name, const char *ns) {
    if (strchr(name, '.') || !ns || !*ns) {
        put_json_string(o, name);
        return;
    }
    size_t n = strlen(ns) + strlen(name) + 2;
    char *full = malloc(n);
    if (!full) {
        fail(o, "out of memory");
        return;
    }
    snprintf(full, n, "%s.%s", ns, name);
    put_json_string(o, full);
    free(full);
}

static void canon(pcf_t *o, json_t *s, const char *ns, int depth);

static void canon_named(pcf_t *o, json_t *s, const char *type, const char *ns, int depth) {
    const char *name = json_string_value(json_object_get(s, "name"));
    if (!name) {
        fail(o, "named type without a name");
        return;
    }
    const char *own_ns = json_string_value(json_object_get(s, "namespace"));
    char nsbuf[512];
    const char *dot = strrchr(name, '.');
    if (dot) { /* a dotted name carries its own namespace */
        snprintf(nsbuf, sizeof(nsbuf), "%.*s", (int)(dot - name), name);
        ns = nsbuf;
    } else if (own_ns)
        ns = own_ns;
    puts_(o, "{\"name\":");
    put_fullname(o, name, ns);
    puts_(o, ",\"type\":");
    put_json_string(o, type);
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        json_t *fields = json_object_get(s, "fields");
        if (!json_is_array(fields)) return fail(o, "record without fields");
        puts_(o, ",\"fields\":[");
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f) {
            const char *fname = json_string_value(json_object_get(f, "name"));
            json_t *ftype = json_object_get(f, "type");
            if (!fname || !ftype) return fail(o, "field without name or type");
            if (i) puts_(o, ",");
            puts_(o, "{\"name\":");
            put_json_string(o, fname);
            puts_(o, ",\"type\":");
            canon(o, ftype, ns, depth + 1);
            puts_(o, "}");
        }
        puts_(o, "]");
    } else if (strcmp(type, "enum") == 0) {
        json_t *symbols = json_object_get(s, "symbols");
        if (!json_is_array(symbols)) return fail(o, "enum without symbols");
        puts_(o, ",\"symbols\":[");
        size_t i;
        json_t *sym;
        json_array_foreach(symbols, i, sym) {
            if (!json_is_string(sym)) return fail(o, "enum symbol is not a string");
            if (i) puts_(o, ",");
            put_json_string(o, json_string_value(sym));
        }
        puts_(o, "]");
    } else { /* fixed */
        json_t *size = json_object_get(s, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return fail(o, "fixed without a valid size");
        char num[32];
        snprintf(num, sizeof(num), ",\"size\":%lld", (long long)json_integer_value(size));
        puts_(o, num);
    }
    puts_(o, "}");
}

static void canon(pcf_t *o, json_t *s, const char *ns, int depth) {
    if (o->failed) return;
    if (depth > 64) return fail(o, "nested too deeply");
    if (json_is_string(s)) {
        const char *t = json_string_value(s);
        if (is_primitive(t)) put_json_string(o, t);
        else
            put_fullname(o, t, ns);
        return;
    }
    if (json_is_array(s)) {
        puts_(o, "[");
        size_t i;
        json_t *branch;
        json_array_foreach(s, i, branch) {
            if (i) puts_(o, ",");
            canon(o, branch, ns, depth + 1);
        }
        puts_(o, "]");
        return;
    }
    if (!json_is_object(s)) return fail(o, "expected a string, array or object");
    json_t *type = json_object_get(s, "type");
    if (!json_is_string(type)) {
        /* {"type": {...}} or {"type": [...]} wraps another schema */
        if (type) return canon(o, type, ns, depth + 1);
        return fail(o, "object without \"type\"");
    }
    const char *t = json_string_value(type);
    if (is_primitive(t)) return put_json_string(o, t); /* drops logicalType etc. */
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0 ||
        strcmp(t, "fixed") == 0)
        return canon_named(o, s, t, ns, depth);
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int is_array = t[0] == 'a';
        json_t *inner = json_object_get(s, is_array ? "items" : "values");
        if (!inner) return fail(o, is_array ? "array without items" : "map without values");
        puts_(o, is_array ? "{\"type\":\"array\",\"items\":" : "{\"type\":\"map\",\"values\":");
        canon(o, inner, ns, depth + 1);
        puts_(o, "}");
        return;
    }
    put_fullname(o, t, ns); /* {"type": "SomeNamedType"} */
}

char *carrot_schema_canonical(const char *schema_json, char *errstr, size_t errstr_size) {
    json_error_t jerr;
    json_t *root = json_loads(schema_json, JSON_DECODE_ANY, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "invalid schema JSON at line %d: %s", jerr.line, jerr.text);
        return NULL;
    }
    pcf_t o = {.errstr = errstr, .errstr_size = errstr_size};
    canon(&o, root, NULL, 0);
    json_decref(root);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

int carrot_schema_fingerprint(const char *schema_json, uint64_t *fpp, char *errstr,
                              size_t errstr_size) {
    char *pcf = carrot_schema_canonical(schema_json, errstr, errstr_size);
    if (!pcf) return -1;
    *fpp = carrot_crc64_avro(pcf, strlen(pcf));
    free(pcf);
    return 0;
}
