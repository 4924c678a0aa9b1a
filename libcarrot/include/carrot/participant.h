/* participant.h: the Participant record (schemas/participant.avsc) as a C
 * struct, the checks every producer applies before a participant enters
 * Kafka, its Kafka key, and its Avro codec.
 *
 * Unlike activity.h, a carrot_participant_t holds its strings (fixed
 * buffers, no pointers): it outlives the JSON or Avro value it came from,
 * and the sizes are the limits. The directory (carrot/directory.h) stores
 * and returns the same struct. An optional string is "" when absent, which
 * Avro writes as null. */
#ifndef CARROT_PARTICIPANT_H
#define CARROT_PARTICIPANT_H

#include "carrot/codec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char program_id[257];
    char participant_id[257];
    char display_name[257]; /* "" when none */
    char segment[64];
    char team_id[257];
    char region[128];
    int64_t hired_at_ms;     /* 0: unknown */
    int level;               /* -1: unknown */
    char supervisor_id[257]; /* "" when none */
    int active;
    int hide_from_screen;
    int64_t updated_at_ms;
    int found; /* carrot_directory_get: 0 when the directory has no such participant */
} carrot_participant_t;

/* The separator of the Kafka key "<program>\x1e<participant>" (ASCII record
 * separator): no id may hold a control character, so the key splits back. */
#define CARROT_PARTICIPANT_KEY_SEP '\x1e'

/* Resets *p to an empty participant: every string "", level -1 (unknown),
 * active, not hidden, times 0. */
void carrot_participant_init(carrot_participant_t *p);

/* Copies src into one of p's fixed fields of size dst_size. Returns 0, or -1
 * with errstr ("<name> is longer than N bytes") when it does not fit. */
int carrot_participant_set(char *dst, size_t dst_size, const char *name, const char *src,
                           char *errstr, size_t errstr_size);

/* Checks what the schema cannot: program and participant ids non-empty;
 * ids, scopes and the supervisor free of control characters (they become
 * Redis key names, and the key separator is one); every string strict UTF-8
 * (utf8.h); level from 0 to 1000 or unknown; times between 2000 and 2200
 * (hired_at from 1900, or unknown); a participant is not their own
 * supervisor. Returns 0, or -1 with a reason naming the field. */
int carrot_participant_validate(const carrot_participant_t *p, char *errstr, size_t errstr_size);

/* Writes the Kafka key "<program>\x1e<participant>" (not NUL-terminated
 * when it fills buf) into buf and returns its length; the compacted topic
 * keeps the latest record per key. buf needs 514 bytes. */
size_t carrot_participant_key(const carrot_participant_t *p, char *buf, size_t size);

/* A codec for Participant that knows every released version of the schema
 * (version 1 had no hide_from_screen: it decodes as false). */
carrot_codec_t *carrot_participant_codec_new(char *errstr, size_t errstr_size);

/* Fills value (a Participant record, e.g. from carrot_codec_value()). */
int carrot_participant_to_avro(const carrot_participant_t *p, avro_value_t *value, char *errstr,
                               size_t errstr_size);

/* Reads a decoded Participant value into *p (copied) and validates it as
 * carrot_participant_validate() does. Returns 0, or -1 with errstr. */
int carrot_participant_from_avro(avro_value_t *value, carrot_participant_t *p, char *errstr,
                                 size_t errstr_size);

#endif
