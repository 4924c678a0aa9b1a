/* fuzz_rules.c: libFuzzer target for the rules file parser. */
#include "rules.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    carrot_rules_t *r = carrot_rules_parse((const char *)data, size, "fuzz", errstr, sizeof(errstr));
    if (r) {
        carrot_activity_t a = {.activity_type = "call", .change_type = CARROT_CHANGE_DELETE};
        carrot_score_t s[CARROT_RULES_MAX_SCORES];
        (void)carrot_rules_score(r, &a, s);
    }
    carrot_rules_destroy(r);
    return 0;
}
