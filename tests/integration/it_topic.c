/* it_topic: creates topics for the Python integration tests through
 * librdkafka's admin API (carrot_kafka_create_topic), in one process: a
 * JVM of Kafka's own tool per topic took 1.5 s each, in every test.
 * Usage: it_topic NAME:PARTITIONS[:compact]...  (brokers: CARROT_BROKERS).
 * Exit 0 when every topic exists afterwards, 1 when one could not be made,
 * 2 for arguments that are not that. */
#include "carrot/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: it_topic NAME:PARTITIONS[:compact]...\n");
        return 2;
    }
    const char *brokers = getenv("CARROT_BROKERS");
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers",
                          brokers && *brokers ? brokers : "127.0.0.1:19092", errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "it_topic: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "it_topic: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        char name[512];
        snprintf(name, sizeof(name), "%s", argv[i]);
        char *colon = strchr(name, ':');
        char *end = NULL;
        long partitions = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || end == colon + 1 || partitions < 1 || partitions > 1000 ||
            (*end && strcmp(end, ":compact") != 0)) {
            fprintf(stderr, "it_topic: \"%s\" is not NAME:PARTITIONS[:compact]\n", argv[i]);
            rc = 2;
            break;
        }
        *colon = '\0';
        if (carrot_kafka_create_topic(rk, name, (int)partitions, *end ? "compact" : NULL, errstr,
                                      sizeof(errstr))) {
            fprintf(stderr, "it_topic: %s\n", errstr);
            rc = 1;
        }
    }
    rd_kafka_destroy(rk);
    return rc;
}
