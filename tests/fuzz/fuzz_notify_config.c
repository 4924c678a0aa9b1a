/* fuzz_notify_config.c: libFuzzer target for carrot-notify's configuration
 * (config.c) and templates (template.c), and the bodies message.c makes of them. */
#include "notify_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A value with line breaks: none may reach the text through a placeholder. */
static const char FIELDS[] =
    "{\"name\": \"Zoë\\r\\nBcc: evil@q.r\", \"program\": \"dealers\", \"participant\": \"p-7\","
    " \"rules_version\": \"v3\", \"goal\": \"10 calls\\n\", \"points\": 150, \"rank\": 2,"
    " \"previous_rank\": 1, \"n\": 3, \"by\": \"<!channel> & co\", \"board\": \"ptd:all\","
    " \"price\": 2.5, \"item\": null, \"prize\": {\"x\": 1}, \"supervisor\": \"\\u0001boss\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* the seeds' webhooks name it: without it no webhook config parses */
    setenv("CARROT_FUZZ_SECRET", "fuzz-secret", 1);
    return 0;
}

static int has_break(const char *s) { return strchr(s, '\n') || strchr(s, '\r'); }

/* Renders tmpl; a template without line breaks renders none. */
static char *render(const char *tmpl) {
    char *out = NULL;
    if (carrot_notify_render(tmpl, FIELDS, &out)) return NULL;
    if (!out || (!has_break(tmpl) && has_break(out))) abort();
    return out;
}

/* What outbox.c does with each trigger that is on: its text and subject
 * rendered, and the body of each of its channels made. */
static void bodies(const carrot_notify_config_t *cfg) {
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++) {
        const notify_trigger_t *tr = &cfg->triggers[t];
        if (!tr->text) continue;
        char why[400];
        /* parse already checked them: the check must agree */
        if (carrot_notify_template_check((carrot_trigger_t)t, tr->text, why, sizeof(why)) ||
            (tr->subject &&
             carrot_notify_template_check((carrot_trigger_t)t, tr->subject, why, sizeof(why))))
            abort();
        char *text = render(tr->text), *subject = render(tr->subject ? tr->subject : tr->text);
        for (int i = 0; text && subject && i < tr->nchannels; i++) {
            const notify_channel_t *ch = &cfg->channels[tr->channels[i]];
            notify_message_t m = {.idempotency_key = "n1-0123456789abcdef0123456789abcdef01234567",
                                  .event_id = "goal:dealers:42",
                                  .trigger = carrot_trigger_name((carrot_trigger_t)t),
                                  .program = "dealers",
                                  .participant = "p-7",
                                  .recipient = "p-7",
                                  .address = "ann@example.com",
                                  .subject = subject,
                                  .text = text,
                                  .fields_json = FIELDS,
                                  .config_version = cfg->version,
                                  .from = ch->from ? ch->from : "",
                                  .occurred_ms = 1793000000123LL};
            free(notify_body(ch->kind, &m));
        }
        free(text);
        free(subject);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512] = "";
    carrot_notify_config_t *cfg = carrot_notify_config_parse((const char *)data, size, "fuzz",
                                                             errstr, sizeof(errstr));
    if (cfg) bodies(cfg);
    else if (strncmp(errstr, "fuzz:", 5) != 0)
        abort(); /* a refusal names the file */
    carrot_notify_config_destroy(cfg);

    /* the bytes themselves as a template, checked against each trigger */
    char *tmpl = malloc(size + 1);
    if (!tmpl) return 0;
    memcpy(tmpl, data, size);
    tmpl[size] = '\0';
    free(render(tmpl));
    for (int t = 0; t < CARROT_TRIGGER_COUNT; t++) {
        char why[400];
        (void)carrot_notify_template_check((carrot_trigger_t)t, tmpl, why, sizeof(why));
    }
    free(tmpl);
    return 0;
}
