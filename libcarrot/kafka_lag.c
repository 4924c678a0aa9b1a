/* kafka_lag.c: see kafka_lag.h. The statistics are JSON, read with jansson. */
#include "carrot/kafka_lag.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *topic;
    int32_t partition;
    int64_t last_ts_ms; /* timestamp of the last message processed; 0: none */
    carrot_metric_t *lag, *lag_s, *committed, *end;
} part_t;

struct carrot_lag_s {
    carrot_metrics_t *metrics;
    char *group;
    part_t *parts;
    size_t n;
};

carrot_lag_t *carrot_lag_new(carrot_metrics_t *metrics, const char *group) {
    carrot_lag_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->group = strdup(group))) {
        free(l);
        return NULL;
    }
    l->metrics = metrics;
    return l;
}

void carrot_lag_destroy(carrot_lag_t *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->parts[i].topic);
    free(l->parts);
    free(l->group);
    free(l);
}

/* The partition's entry, registering its gauges on first sight. */
static part_t *part(carrot_lag_t *l, const char *topic, int32_t partition) {
    for (size_t i = 0; i < l->n; i++)
        if (l->parts[i].partition == partition && strcmp(l->parts[i].topic, topic) == 0)
            return &l->parts[i];
    part_t *np = realloc(l->parts, (l->n + 1) * sizeof(*np));
    if (!np) return NULL;
    l->parts = np;
    part_t *p = &l->parts[l->n];
    *p = (part_t){.topic = strdup(topic), .partition = partition};
    char labels[512];
    snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%d\"", l->group, topic,
             (int)partition);
    p->lag = carrot_metrics_gauge(l->metrics, "carrot_consumer_lag_messages",
                                  "Messages between the committed offset and the partition's end "
                                  "(last stable offset for read_committed).",
                                  labels);
    p->lag_s = carrot_metrics_gauge(l->metrics, "carrot_consumer_lag_seconds",
                                    "0 when caught up, else the age of the last message processed.",
                                    labels);
    p->committed = carrot_metrics_gauge(l->metrics, "carrot_consumer_committed_offset",
                                        "The group's committed offset.", labels);
    p->end = carrot_metrics_gauge(l->metrics, "carrot_consumer_end_offset",
                                  "The partition's end as this consumer reads it.", labels);
    if (!p->topic) return NULL;
    l->n++;
    return p;
}

void carrot_lag_seen(carrot_lag_t *l, const char *topic, int32_t partition, int64_t ts_ms) {
    if (!l || ts_ms <= 0) return;
    part_t *p = part(l, topic, partition);
    if (p) p->last_ts_ms = ts_ms;
}

static long long num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

int carrot_lag_stats(carrot_lag_t *l, const char *json, size_t len, int64_t now_ms, char *errstr,
                     size_t errstr_size) {
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    json_t *topics = root ? json_object_get(root, "topics") : NULL;
    if (!json_is_object(topics)) {
        snprintf(errstr, errstr_size, "statistics: %s", root ? "no \"topics\" object" : jerr.text);
        json_decref(root);
        return -1;
    }
    const char *tname;
    json_t *t;
    json_object_foreach(topics, tname, t) {
        const char *pname;
        json_t *pv;
        json_object_foreach(json_object_get(t, "partitions"), pname, pv) {
            int32_t partition = (int32_t)strtol(pname, NULL, 10);
            if (partition < 0) continue; /* librdkafka's internal "unassigned" partition */
            long long lag = num(pv, "consumer_lag"), committed = num(pv, "committed_offset");
            const char *state = json_string_value(json_object_get(pv, "fetch_state"));
            int owned = lag >= 0 && state && strcmp(state, "none") != 0;
            part_t *p = part(l, tname, partition);
            if (!p) continue; /* out of memory: the next document tries again */
            carrot_metric_set(p->lag, owned ? (double)lag : 0);
            double age = owned && lag > 0 && p->last_ts_ms > 0 && now_ms > p->last_ts_ms
                             ? (double)(now_ms - p->last_ts_ms) / 1000.0
                             : 0;
            carrot_metric_set(p->lag_s, age);
            if (committed >= 0) carrot_metric_set(p->committed, (double)committed);
            long long end = num(pv, "ls_offset");
            if (end < 0) end = num(pv, "hi_offset");
            if (end >= 0) carrot_metric_set(p->end, (double)end);
        }
    }
    json_decref(root);
    return 0;
}
