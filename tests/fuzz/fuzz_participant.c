/* fuzz_participant.c: libFuzzer target for the participants decoders: the
 * bytes as a participants feed line (the JSON-lines mapping, and the same
 * object as a Salesforce User export row), and as a message carrot-directory
 * reads (the Participant codec). What a feed accepts must encode and decode
 * back to the same participant. */
#include "carrot/participant_feed.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static carrot_codec_t *codec;
static void cleanup(void) { carrot_codec_destroy(codec); }

/* Encodes p, decodes it again, and aborts unless it comes back the same. */
static void round_trip(const carrot_participant_t *p) {
    char errstr[512];
    avro_value_t *v = carrot_codec_value(codec), *out;
    const void *buf;
    size_t len;
    carrot_participant_t q;
    if (carrot_participant_to_avro(p, v, errstr, sizeof(errstr)) != 0 ||
        carrot_codec_encode(codec, v, &buf, &len, errstr, sizeof(errstr)) != CARROT_CODEC_OK ||
        carrot_codec_decode(codec, buf, len, &out, errstr, sizeof(errstr)) != CARROT_CODEC_OK ||
        carrot_participant_from_avro(out, &q, errstr, sizeof(errstr)) != 0)
        abort();
    if (strcmp(p->participant_id, q.participant_id) || strcmp(p->display_name, q.display_name) ||
        strcmp(p->supervisor_id, q.supervisor_id) || p->updated_at_ms != q.updated_at_ms ||
        p->level != q.level || p->hide_from_screen != q.hide_from_screen)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    if (!codec) {
        if (!(codec = carrot_participant_codec_new(errstr, sizeof(errstr)))) abort();
        atexit(cleanup);
    }
    carrot_participant_t p;
    avro_value_t *value;
    if (carrot_codec_decode(codec, data, size, &value, errstr, sizeof(errstr)) == CARROT_CODEC_OK)
        carrot_participant_from_avro(value, &p, errstr, sizeof(errstr));
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) return 0;
    if (carrot_participant_from_json(obj, "fuzz", 1793000000000LL, &p, errstr, sizeof(errstr)) == 0)
        round_trip(&p);
    if (carrot_participant_from_salesforce_user(obj, "fuzz", 1793000000000LL, &p, errstr,
                                                sizeof(errstr)) == 0)
        round_trip(&p);
    json_decref(obj);
    return 0;
}
