/* participant.c: Participant <-> Avro value, its Kafka key, and the checks
 * every producer and the directory apply to a participant. */
#include "carrot/participant.h"

#include "avro_util.h"
#include "carrot/schemas.h"
#include "carrot/utf8.h"

#include <stdio.h>
#include <string.h>

/* Field positions in schemas/participant.avsc (version 2); checked against
 * the schema when a codec is created. */
enum {
    F_PARTICIPANT_ID,
    F_PROGRAM_ID,
    F_DISPLAY_NAME,
    F_SEGMENT,
    F_TEAM_ID,
    F_REGION,
    F_HIRED_AT,
    F_LEVEL,
    F_SUPERVISOR_ID,
    F_ACTIVE,
    F_UPDATED_AT,
    F_HIDE_FROM_SCREEN,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "participant_id", "program_id", "display_name",  "segment", "team_id",    "region",
    "hired_at",       "level",      "supervisor_id", "active",  "updated_at", "hide_from_screen"};

#define MS_1900 (-2208988800000LL) /* a start of tenure before this is a data error */
#define MS_2000 946684800000LL
#define MS_2200 7258118400000LL
#define MAX_LEVEL 1000

void carrot_participant_init(carrot_participant_t *p) {
    memset(p, 0, sizeof(*p));
    p->level = -1;
    p->active = 1;
}

int carrot_participant_set(char *dst, size_t dst_size, const char *name, const char *src,
                           char *errstr, size_t errstr_size) {
    size_t n = src ? strlen(src) : 0;
    if (n >= dst_size) {
        snprintf(errstr, errstr_size, "%s is longer than %zu bytes", name, dst_size - 1);
        return -1;
    }
    memcpy(dst, src ? src : "", n + 1);
    return 0;
}

int carrot_participant_validate(const carrot_participant_t *p, char *errstr, size_t errstr_size) {
    if (!p->program_id[0] || !p->participant_id[0]) {
        snprintf(errstr, errstr_size, "missing %s",
                 p->program_id[0] ? "participant_id" : "program_id");
        return -1;
    }
    const struct {
        const char *name, *value;
        int key; /* part of a Redis key name or of the Kafka key: no control characters */
    } texts[] = {{"program_id", p->program_id, 1},
                 {"participant_id", p->participant_id, 1},
                 {"display_name", p->display_name, 0},
                 {"segment", p->segment, 1},
                 {"team_id", p->team_id, 1},
                 {"region", p->region, 1},
                 {"supervisor_id", p->supervisor_id, 1}};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t off;
        const char *why = carrot_utf8_check(texts[i].value, strlen(texts[i].value), &off);
        if (why) {
            snprintf(errstr, errstr_size, "%s is not valid UTF-8: %s at byte %zu", texts[i].name,
                     why, off);
            return -1;
        }
        /* A display name may hold no control character either: it is shown on
         * screens and a line break or escape in it would break the layout. */
        for (const unsigned char *c = (const unsigned char *)texts[i].value; *c; c++)
            if (*c < 0x20 || *c == 0x7f) {
                snprintf(errstr, errstr_size, "%s holds a control character (0x%02x)",
                         texts[i].name, *c);
                return -1;
            }
    }
    if (p->level < -1 || p->level > MAX_LEVEL) {
        snprintf(errstr, errstr_size, "level %d is not from 0 to %d", p->level, MAX_LEVEL);
        return -1;
    }
    if (p->hired_at_ms != 0 && (p->hired_at_ms < MS_1900 || p->hired_at_ms > MS_2200)) {
        snprintf(errstr, errstr_size, "hired_at %lld is not a time between 1900 and 2200",
                 (long long)p->hired_at_ms);
        return -1;
    }
    if (p->updated_at_ms < MS_2000 || p->updated_at_ms > MS_2200) {
        snprintf(errstr, errstr_size, "updated_at %lld is not a time between 2000 and 2200",
                 (long long)p->updated_at_ms);
        return -1;
    }
    if (strcmp(p->supervisor_id, p->participant_id) == 0) {
        snprintf(errstr, errstr_size, "supervisor_id: a participant cannot supervise themselves");
        return -1;
    }
    return 0;
}

size_t carrot_participant_key(const carrot_participant_t *p, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s%c%s", p->program_id, CARROT_PARTICIPANT_KEY_SEP,
                     p->participant_id);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size;
}

carrot_codec_t *carrot_participant_codec_new(char *errstr, size_t errstr_size) {
    carrot_codec_t *codec = carrot_av_codec_new(carrot_schema_participant, field_names, F_COUNT,
                                                errstr, errstr_size);
    if (codec &&
        carrot_codec_add_writer(codec, carrot_schema_participant_v1, errstr, errstr_size) != 0) {
        carrot_codec_destroy(codec);
        return NULL;
    }
    return codec;
}

static const char *opt(const char *s) { return *s ? s : NULL; }

int carrot_participant_to_avro(const carrot_participant_t *p, avro_value_t *v, char *errstr,
                               size_t errstr_size) {
    int rc = carrot_av_set_str(v, F_PARTICIPANT_ID, p->participant_id) ||
             carrot_av_set_str(v, F_PROGRAM_ID, p->program_id) ||
             carrot_av_set_opt_str(v, F_DISPLAY_NAME, opt(p->display_name)) ||
             carrot_av_set_opt_str(v, F_SEGMENT, opt(p->segment)) ||
             carrot_av_set_opt_str(v, F_TEAM_ID, opt(p->team_id)) ||
             carrot_av_set_opt_str(v, F_REGION, opt(p->region)) ||
             carrot_av_set_opt_long(v, F_HIRED_AT, p->hired_at_ms != 0, p->hired_at_ms) ||
             carrot_av_set_opt_int(v, F_LEVEL, p->level >= 0, p->level) ||
             carrot_av_set_opt_str(v, F_SUPERVISOR_ID, opt(p->supervisor_id)) ||
             carrot_av_set_bool(v, F_ACTIVE, p->active) ||
             carrot_av_set_long(v, F_UPDATED_AT, p->updated_at_ms) ||
             carrot_av_set_bool(v, F_HIDE_FROM_SCREEN, p->hide_from_screen);
    if (rc) snprintf(errstr, errstr_size, "could not build Participant: %s", avro_strerror());
    return rc ? -1 : 0;
}

int carrot_participant_from_avro(avro_value_t *v, carrot_participant_t *p, char *errstr,
                                 size_t errstr_size) {
    const char *id = NULL, *program = NULL, *name = NULL, *segment = NULL, *team = NULL,
               *region = NULL, *supervisor = NULL;
    int has_hired = 0, has_level = 0;
    int32_t level = 0;
    carrot_participant_init(p);
    if (carrot_av_get_str(v, F_PARTICIPANT_ID, &id) ||
        carrot_av_get_str(v, F_PROGRAM_ID, &program) ||
        carrot_av_get_opt_str(v, F_DISPLAY_NAME, &name) ||
        carrot_av_get_opt_str(v, F_SEGMENT, &segment) ||
        carrot_av_get_opt_str(v, F_TEAM_ID, &team) || carrot_av_get_opt_str(v, F_REGION, &region) ||
        carrot_av_get_opt_long(v, F_HIRED_AT, &has_hired, &p->hired_at_ms) ||
        carrot_av_get_opt_int(v, F_LEVEL, &has_level, &level) ||
        carrot_av_get_opt_str(v, F_SUPERVISOR_ID, &supervisor) ||
        carrot_av_get_bool(v, F_ACTIVE, &p->active) ||
        carrot_av_get_long(v, F_UPDATED_AT, &p->updated_at_ms) ||
        carrot_av_get_bool(v, F_HIDE_FROM_SCREEN, &p->hide_from_screen)) {
        snprintf(errstr, errstr_size, "could not read Participant: %s", avro_strerror());
        return -1;
    }
    if (!has_hired) p->hired_at_ms = 0;
    p->level = has_level ? level : -1;
    if (has_level && (level < 0 || level > MAX_LEVEL)) p->level = -2; /* validate says why */
#define COPY(field, src) \
    carrot_participant_set(p->field, sizeof(p->field), #field, src, errstr, errstr_size)
    if (COPY(participant_id, id) || COPY(program_id, program) || COPY(display_name, name) ||
        COPY(segment, segment) || COPY(team_id, team) || COPY(region, region) ||
        COPY(supervisor_id, supervisor))
        return -1;
#undef COPY
    if (p->level == -2) {
        snprintf(errstr, errstr_size, "level %d is not from 0 to %d", (int)level, MAX_LEVEL);
        return -1;
    }
    return carrot_participant_validate(p, errstr, errstr_size);
}
