/* fuzz_params.c: libFuzzer target for carrot-board's query parameters
 * (params.c): the bytes as a query string, "name=value" pairs split on '&'
 * (values taken as they arrive, as libmicrohttpd hands them over after
 * unescaping). Whatever it accepts must be within the stated bounds and name
 * a board the rest of the service can use; the adoption page's parameters
 * likewise. */
#include "display.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 16

typedef struct {
    int n;
    char *name[MAX_ARGS], *value[MAX_ARGS];
} args_t;

static const char *get(void *opaque, const char *name) {
    args_t *a = opaque;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0) return a->value[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    args_t a = {0};
    for (char *save = NULL, *pair = strtok_r(text, "&", &save); pair && a.n < MAX_ARGS;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq) continue;
        *eq = '\0';
        a.name[a.n] = pair;
        a.value[a.n++] = eq + 1;
    }
    query_t q;
    char errstr[512];
    /* 2026-11-22T12:00:00Z, in a zone with daylight saving */
    if (params_parse(get, &a, "America/Chicago", 1795867200000LL, 100, &q, errstr,
                     sizeof(errstr)) == 0) {
        if (q.limit < 1 || q.limit > 100 || q.cursor < 0 || q.k < 0 || q.k > 50) abort();
        if (!q.board[0] || strlen(q.board) >= sizeof(q.board) || !strchr(q.board, ':')) abort();
        if (q.participant[0] && !params_id_ok(q.participant)) abort();
    } else if (!errstr[0]) {
        abort(); /* a refusal always says why */
    }
    /* the adoption page's parameters, from the same bytes */
    adoption_query_t aq;
    errstr[0] = '\0';
    if (params_adoption(get, &a, &aq, errstr, sizeof(errstr)) == 0) {
        if (aq.periods < 0 || aq.periods > 104) abort();
        if (aq.at[0] && strlen(aq.at) != 10) abort();
        const char *ids[] = {aq.segment, aq.band, aq.team};
        for (int i = 0; i < 3; i++)
            if (ids[i][0] && !params_id_ok(ids[i])) abort();
    } else if (!errstr[0]) {
        abort();
    }
    free(text);
    return 0;
}
