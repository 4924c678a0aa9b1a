/* bench_codec: CrmActivity encode and decode rate (records/s) through
 * Carrot's codec (struct -> Avro value -> single-object bytes, and back with
 * the bounds check before avro-c reads, into the struct), against raw avro-c
 * generic encode/decode of the same record (the same struct -> value filling,
 * value -> bytes; bytes -> value -> the same struct, with no framing and no
 * check), in the same run, in two rounds that alternate which side goes
 * first. Needs no service. */
#include "carrot/activity.h"
#include "carrot/config.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long long records;
} bench_conf_t;

static const carrot_conf_prop_t props[] = {
    {"records", CARROT_CONF_INT, offsetof(bench_conf_t, records), "500000", 1000, 1000000000,
     "records to encode and decode on each side"},
    CARROT_CONF_END};

static carrot_activity_t sample(long long i, char *id) {
    sprintf(id, "evt-%lld", i);
    carrot_activity_t a = {.event_id = id,
                           .program_id = "demo",
                           .source_system = "salesforce",
                           .source_record_id = id,
                           .activity_type = "call",
                           .occurred_at = 1793628180000LL + i,
                           .recorded_at = 1793628180000LL + i,
                           .participant_id = "0055e000001AbcDAAS",
                           .segment = "dealer",
                           .team_id = "team-04",
                           .region = "east",
                           .has_tenure_days = 1,
                           .tenure_days = 400,
                           .account_id = "0015e00000AsDfGAAX",
                           .disposition = "connected",
                           .has_duration = 1,
                           .duration_seconds = 300,
                           .text_length = 120,
                           .ncustom = 1,
                           .custom = {{"Priority", "Normal"}}};
    return a;
}

int main(int argc, char **argv) {
    bench_conf_t cf;
    char errstr[512], id[32];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("bench_codec", props, &cf, argc, argv, NULL,
                                                   "usage: bench_codec [--records N]", &exit_code);
    if (!conf) return exit_code;
    carrot_codec_t *codec = carrot_activity_codec_new(errstr, sizeof(errstr));
    if (!codec) return carrot_error("%s", errstr), 1;
    /* one encoded record to decode over and over, for both sides */
    carrot_activity_t a = sample(0, id);
    avro_value_t *v = carrot_codec_value(codec);
    const void *buf;
    size_t len;
    carrot_activity_to_avro(&a, v, errstr, sizeof(errstr));
    carrot_codec_encode(codec, v, &buf, &len, errstr, sizeof(errstr));
    size_t msglen = len;
    char *msg = malloc(msglen);
    memcpy(msg, buf, msglen);

    /* baseline: avro-c generic, the same schema and record; its decode extracts the
     * same struct, so what differs is the framing and Carrot's bounds check */
    avro_schema_t schema = carrot_codec_schema(codec);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t raw, back;
    avro_generic_value_new(iface, &raw);
    avro_generic_value_new(iface, &back);
    char *out = malloc(4096);
    avro_writer_t w = avro_writer_memory(out, 4096);
    avro_reader_t r = avro_reader_memory(msg + CARROT_SO_HEADER_SIZE,
                                         (int64_t)(msglen - CARROT_SO_HEADER_SIZE));
    int64_t raw_enc = 0, raw_dec = 0, c_enc = 0, c_dec = 0;
    /* two rounds, the baseline first in one and Carrot first in the other, so neither
     * side alone gets the warm caches */
    for (int round = 0; round < 2; round++) {
        for (int side = 0; side < 2; side++) {
            int carrot = side != round;
            int64_t t0 = carrot_time_mono_ms();
            for (long long i = 0; i < cf.records; i++) {
                carrot_activity_t s = sample(i, id);
                if (carrot) { /* struct -> single-object bytes */
                    avro_value_t *cv = carrot_codec_value(codec);
                    if (carrot_activity_to_avro(&s, cv, errstr, sizeof(errstr)) ||
                        carrot_codec_encode(codec, cv, &buf, &len, errstr, sizeof(errstr)))
                        return carrot_error("%s", errstr), 1;
                } else { /* the same value filling, then avro-c's writer */
                    avro_value_reset(&raw);
                    carrot_activity_to_avro(&s, &raw, errstr, sizeof(errstr));
                    avro_writer_reset(w);
                    if (avro_value_write(w, &raw)) return carrot_error("avro-c write failed"), 1;
                }
            }
            *(carrot ? &c_enc : &raw_enc) += carrot_time_mono_ms() - t0;
            t0 = carrot_time_mono_ms();
            for (long long i = 0; i < cf.records; i++) {
                carrot_activity_t d;
                if (carrot) { /* bytes -> checked, decoded struct */
                    avro_value_t *dv;
                    if (carrot_codec_decode(codec, msg, msglen, &dv, errstr, sizeof(errstr)) ||
                        carrot_activity_from_avro(dv, &d, errstr, sizeof(errstr)))
                        return carrot_error("%s", errstr), 1;
                } else { /* avro-c's reader, then the same struct extraction */
                    avro_reader_memory_set_source(r, msg + CARROT_SO_HEADER_SIZE,
                                                  (int64_t)(msglen - CARROT_SO_HEADER_SIZE));
                    avro_value_reset(&back);
                    if (avro_value_read(r, &back) ||
                        carrot_activity_from_avro(&back, &d, errstr, sizeof(errstr)))
                        return carrot_error("avro-c read failed"), 1;
                }
            }
            *(carrot ? &c_dec : &raw_dec) += carrot_time_mono_ms() - t0;
        }
    }
    cf.records *= 2; /* the rates are over both rounds */

#define RATE(ms) (cf.records * 1000.0 / (double)((ms) ? (ms) : 1))
    printf("encode: carrot %.0f records/s, avro-c generic %.0f records/s, ratio %.2f\n",
           RATE(c_enc), RATE(raw_enc), RATE(c_enc) / RATE(raw_enc));
    printf("decode: carrot %.0f records/s, avro-c generic %.0f records/s, ratio %.2f\n",
           RATE(c_dec), RATE(raw_dec), RATE(c_dec) / RATE(raw_dec));
    printf("{\"bench\":\"codec\",\"records\":%lld,\"encode_per_s\":%.0f,\"avro_encode_per_s\":%.0f,"
           "\"decode_per_s\":%.0f,\"avro_decode_per_s\":%.0f}\n",
           cf.records, RATE(c_enc), RATE(raw_enc), RATE(c_dec), RATE(raw_dec));
    avro_writer_free(w);
    avro_reader_free(r);
    avro_value_decref(&raw);
    avro_value_decref(&back);
    avro_value_iface_decref(iface);
    free(out);
    free(msg);
    carrot_codec_destroy(codec);
    carrot_conf_destroy(conf);
    return 0;
}
