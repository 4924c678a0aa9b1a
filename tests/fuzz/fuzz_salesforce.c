/* fuzz_salesforce.c: libFuzzer target for the Salesforce adapters (REST
 * records and Change Data Capture events) and the generic mapping after them. */
#include "carrot/activity_json.h"
#include "carrot/adapter.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *obj = json_loadb((const char *)data, size, 0, NULL);
    if (!obj) return 0;
    char errstr[512];
    carrot_activity_json_defaults_t defaults = {"fuzz", "fuzz"};
    json_t *out = json_array();
    if (carrot_adapt_salesforce(obj, NULL, out, errstr, sizeof(errstr)) == 0 &&
        carrot_adapt_salesforce_cdc(obj, out, errstr, sizeof(errstr)) >= -1) {
        size_t i;
        json_t *g;
        carrot_activity_t a;
        json_array_foreach(out, i, g)(void)
            carrot_activity_from_json(g, &defaults, &a, errstr, sizeof(errstr));
    }
    json_decref(out);
    json_decref(obj);
    return 0;
}
