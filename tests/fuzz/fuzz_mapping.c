/* fuzz_mapping.c: libFuzzer target for a mapping file, applied to a fixed
 * record, and for records applied to a fixed mapping. */
#include "carrot/activity_json.h"
#include "carrot/mapping.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_map[] = "{\"fields\":{\"event_id\":\"id\",\"participant_id\":\"a.b\","
                                "\"activity_type\":\"t\",\"occurred_at\":\"w\"},"
                                "\"values\":{\"activity_type\":{\"Phone\":\"call\"}},"
                                "\"custom\":{\"k\":\"a.c\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    carrot_activity_json_defaults_t defaults = {"fuzz", "fuzz"};
    carrot_mapping_t *m = carrot_mapping_parse((const char *)data, size, "fuzz", errstr,
                                               sizeof(errstr));
    json_t *rec = json_loads("{\"id\":\"1\",\"a\":{\"b\":\"p\",\"c\":3},\"t\":\"Phone\","
                             "\"w\":\"2026-11-02T00:00:00Z\"}",
                             0, NULL);
    json_t *out = json_array();
    if (m) carrot_mapping_apply(m, rec, out, errstr, sizeof(errstr));
    carrot_mapping_destroy(m);
    m = carrot_mapping_parse(fixed_map, strlen(fixed_map), "fixed", errstr, sizeof(errstr));
    json_t *r2 = json_loadb((const char *)data, size, 0, NULL);
    if (m && r2) carrot_mapping_apply(m, r2, out, errstr, sizeof(errstr));
    size_t i;
    json_t *g;
    carrot_activity_t a;
    json_array_foreach(out, i, g)(void)
        carrot_activity_from_json(g, &defaults, &a, errstr, sizeof(errstr));
    carrot_mapping_destroy(m);
    json_decref(r2);
    json_decref(rec);
    json_decref(out);
    return 0;
}
