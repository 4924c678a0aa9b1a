/* participant_feed.h: the two participants feeds carrot-ingest takes
 * (--format participants, --format participants-csv) mapped to a checked
 * carrot_participant_t (carrot/participant.h).
 *
 * JSON lines: one object per line, field names as the schema's
 * (schemas/participant.avsc); participant_id is required, program_id
 * defaults to the caller's program, timestamps are RFC 3339 strings or
 * integer milliseconds, updated_at defaults to now. Unknown fields are an
 * error (a typo must not silently drop data).
 *
 * Salesforce User export: one row, already turned into an object of column
 * name -> string (empty columns left out), as carrot-ingest reads a CSV:
 *   Id -> participant_id, Name (or FirstName LastName) -> display_name,
 *   ManagerId -> supervisor_id, IsActive -> active, LastModifiedDate ->
 *   updated_at (else now), Team__c or else UserRoleId -> team_id (a role of
 *   the role hierarchy is a team), Region__c or else Division -> region,
 *   Segment__c -> segment or else from UserType (Standard: direct,
 *   PowerPartner: dealer), Level__c -> level, Hire_Date__c -> hired_at,
 *   Hide_From_Screen__c -> hide_from_screen. Other columns are ignored (an
 *   export carries dozens). The program is the caller's.
 *
 * Both return 0, or -1 with a reason naming the field in errstr. Nothing is
 * borrowed: *p holds copies. */
#ifndef CARROT_PARTICIPANT_FEED_H
#define CARROT_PARTICIPANT_FEED_H

#include "carrot/participant.h"

#include <jansson.h>
#include <stdint.h>

int carrot_participant_from_json(json_t *obj, const char *program, int64_t now_ms,
                                 carrot_participant_t *p, char *errstr, size_t errstr_size);

int carrot_participant_from_salesforce_user(json_t *row, const char *program, int64_t now_ms,
                                            carrot_participant_t *p, char *errstr,
                                            size_t errstr_size);

#endif
