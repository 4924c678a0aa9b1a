/* fuzz_codec.c: libFuzzer target for the Avro single-object decoder, with
 * both event schemas, and the mapping of a decoded value to C structs. Half
 * the inputs get a valid header so the fuzzer spends its time in the body. */
#include "carrot/activity.h"
#include "carrot/award.h"
#include "carrot/codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static carrot_codec_t *activity, *award;

static void cleanup(void) { /* so LeakSanitizer sees only real leaks */
    carrot_codec_destroy(activity);
    carrot_codec_destroy(award);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    if (!activity) {
        activity = carrot_activity_codec_new(errstr, sizeof(errstr));
        award = carrot_award_codec_new(errstr, sizeof(errstr));
        if (!activity || !award) abort();
        atexit(cleanup);
    }
    if (size == 0) return 0;
    carrot_codec_t *codec = data[0] & 2 ? award : activity;
    uint8_t *buf = malloc(size + CARROT_SO_HEADER_SIZE);
    size_t len = size;
    if (data[0] & 1) { /* a valid header, then the fuzzer's bytes as the body */
        uint64_t fp = carrot_codec_fingerprint(codec);
        buf[0] = CARROT_SO_MAGIC0;
        buf[1] = CARROT_SO_MAGIC1;
        for (int i = 0; i < 8; i++) buf[2 + i] = (uint8_t)(fp >> (8 * i));
        memcpy(buf + CARROT_SO_HEADER_SIZE, data + 1, size - 1);
        len = size - 1 + CARROT_SO_HEADER_SIZE;
    } else
        memcpy(buf, data, size);
    avro_value_t *value;
    if (carrot_codec_decode(codec, buf, len, &value, errstr, sizeof(errstr)) == CARROT_CODEC_OK) {
        if (codec == activity) {
            carrot_activity_t a;
            if (carrot_activity_from_avro(value, &a, errstr, sizeof(errstr)) == 0)
                (void)carrot_activity_validate(&a, errstr, sizeof(errstr));
        } else {
            carrot_award_t w;
            (void)carrot_award_from_avro(value, &w, errstr, sizeof(errstr));
        }
    }
    free(buf);
    return 0;
}
