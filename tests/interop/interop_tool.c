/* interop_tool: the Carrot side of the interoperability test.
 *   interop_tool write FILE   writes a known CrmActivity, single-object encoded
 *   interop_tool read FILE    decodes FILE and prints its fields, one per line */
#include "carrot/activity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char errstr[512];
    if (argc != 3) return 2;
    carrot_codec_t *codec = carrot_activity_codec_new(errstr, sizeof(errstr));
    if (!codec) return fprintf(stderr, "%s\n", errstr), 1;
    if (strcmp(argv[1], "write") == 0) {
        carrot_activity_t a = {.event_id = "carrot-evt-1",
                               .program_id = "interop",
                               .source_system = "carrot",
                               .source_record_id = "rec-1",
                               .change_type = CARROT_CHANGE_DELETE,
                               .activity_type = "meeting",
                               .occurred_at = 1793628180250LL,
                               .recorded_at = 1793628181000LL,
                               .participant_id = "p-carrot",
                               .segment = "dealer",
                               .has_tenure_days = 1,
                               .tenure_days = 365,
                               .has_amount = 1,
                               .amount_minor = -1234,
                               .currency = "USD",
                               .has_duration = 1,
                               .duration_seconds = 1800,
                               .text_length = 99,
                               .ncustom = 1,
                               .custom = {{"Kanal", "Außendienst"}}};
        avro_value_t *v = carrot_codec_value(codec);
        const void *buf;
        size_t len;
        if (carrot_activity_to_avro(&a, v, errstr, sizeof(errstr)) ||
            carrot_codec_encode(codec, v, &buf, &len, errstr, sizeof(errstr)))
            return fprintf(stderr, "%s\n", errstr), 1;
        FILE *fp = fopen(argv[2], "wb");
        if (!fp || fwrite(buf, 1, len, fp) != len) return 1;
        fclose(fp);
    } else {
        FILE *fp = fopen(argv[2], "rb");
        if (!fp) return 1;
        char buf[65536];
        size_t len = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        avro_value_t *v;
        carrot_activity_t a;
        if (carrot_codec_decode(codec, buf, len, &v, errstr, sizeof(errstr)) ||
            carrot_activity_from_avro(v, &a, errstr, sizeof(errstr)))
            return fprintf(stderr, "%s\n", errstr), 1;
        printf("event_id=%s\nchange_type=%s\nactivity_type=%s\noccurred_at=%lld\nrecorded_at=%lld\n"
               "participant_id=%s\nsegment=%s\nteam_id=%s\ntenure_days=%d\namount_minor=%lld\n"
               "currency=%s\nstage=%s\ntext_length=%d\ncustom.%s=%s\n",
               a.event_id, carrot_change_name(a.change_type), a.activity_type,
               (long long)a.occurred_at, (long long)a.recorded_at, a.participant_id, a.segment,
               a.team_id ? a.team_id : "(null)", (int)a.tenure_days, (long long)a.amount_minor,
               a.currency, a.stage, (int)a.text_length, a.ncustom ? a.custom[0].key : "",
               a.ncustom ? a.custom[0].value : "");
    }
    carrot_codec_destroy(codec);
    return 0;
}
