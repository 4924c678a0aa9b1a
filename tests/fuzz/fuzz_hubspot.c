/* fuzz_hubspot.c: libFuzzer target for a HubSpot webhook body: the signature
 * check over it, then every event through the adapter and the mapping. */
#include "carrot/activity_json.h"
#include "carrot/adapter.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    (void)carrot_hubspot_verify("secret", "POST", "https://x/y", (const char *)data, size,
                                "1793637845000", "AAAA", 1793637845000LL, errstr, sizeof(errstr));
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    if (!body) return 0;
    carrot_activity_json_defaults_t defaults = {"fuzz", "hubspot"};
    json_t *out = json_array(), *e;
    size_t i;
    if (json_is_array(body)) {
        json_array_foreach(body, i, e)(void) carrot_adapt_hubspot(e, out, errstr, sizeof(errstr));
    } else
        (void)carrot_adapt_hubspot(body, out, errstr, sizeof(errstr));
    carrot_activity_t a;
    json_array_foreach(out, i, e)(void)
        carrot_activity_from_json(e, &defaults, &a, errstr, sizeof(errstr));
    json_decref(out);
    json_decref(body);
    return 0;
}
