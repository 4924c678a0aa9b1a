/* fuzz_rules.c: libFuzzer target for the rules file parser (YAML and JSON),
 * and for scoring and settling with whatever rules it accepts. */
#include "carrot/rules.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    carrot_rules_t *r = carrot_rules_parse((const char *)data, size, "fuzz", errstr,
                                           sizeof(errstr));
    if (r) {
        static const char *const types[] = {"call", "meeting", "quote", "training_completed"};
        carrot_settle_t *st = carrot_settle_new(1793000000);
        for (int i = 0; i < 8 && st; i++) {
            carrot_activity_t a = {.activity_type = types[i % 4],
                                   .change_type = CARROT_CHANGE_CREATE,
                                   .participant_id = "p",
                                   .segment = i & 1 ? "dealer" : NULL,
                                   .has_tenure_days = i & 2,
                                   .tenure_days = 30 * i,
                                   .occurred_at = 1793000000000LL + i * 86400000LL,
                                   .recorded_at = 1793000000000LL + i * 90000000LL};
            carrot_scoring_t sc;
            (void)carrot_rules_score(r, &a, &sc);
            (void)carrot_settle_apply(st, r, &a, &sc);
        }
        carrot_settle_destroy(st);
    }
    carrot_rules_destroy(r);
    return 0;
}
