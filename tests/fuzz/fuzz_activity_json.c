/* fuzz_activity_json.c: libFuzzer target for a JSON feed line: parse, map to
 * an activity (with its timestamp parser), and encode what is accepted. */
#include "carrot/activity_json.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static carrot_codec_t *codec;
static void cleanup(void) { carrot_codec_destroy(codec); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    if (!codec) {
        if (!(codec = carrot_activity_codec_new(errstr, sizeof(errstr)))) abort();
        atexit(cleanup);
    }
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) return 0;
    carrot_activity_json_defaults_t defaults = {"fuzz", "fuzz"};
    carrot_activity_t a;
    if (carrot_activity_from_json(obj, &defaults, &a, errstr, sizeof(errstr)) == 0) {
        avro_value_t *v = carrot_codec_value(codec);
        const void *buf;
        size_t len;
        /* what validation accepts must encode */
        if (carrot_activity_to_avro(&a, v, errstr, sizeof(errstr)) != 0 ||
            carrot_codec_encode(codec, v, &buf, &len, errstr, sizeof(errstr)) != CARROT_CODEC_OK)
            abort();
    }
    json_decref(obj);
    return 0;
}
