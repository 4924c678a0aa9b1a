/* adapter.h: real CRM feeds into Carrot's generic activity shape.
 *
 * Each adapter maps one source record to zero or more JSON objects in the
 * generic shape that carrot_activity_from_json() reads (activity_json.h),
 * appended to out (a JSON array, borrowed). A record that cannot become
 * activities returns -1 with a reason, and goes whole to the dead-letter
 * topic; nothing of it is produced. Records an adapter deliberately skips
 * (a HubSpot contact creation, say) add nothing and return 0.
 *
 * Event ids are derived so that the same change seen twice (a re-export, a
 * CDC event after a REST pull, a webhook retry) has the same id, and the
 * scorer counts it once:
 *   sf:<Entity>:<Id>                         a record's creation
 *   sf:<Entity>:<Id>:<CHANGE>:<time>         a later DELETE, UNDELETE or UPDATE
 *   sf:Opportunity:<Id>:stage:<StageName>    an opportunity reaching a stage
 *   hs:<portalId>:<eventId>                  a HubSpot webhook event
 * A DELETE carries the record id and, when the source says, the owner and the
 * activity type: the record id is what lets scoring find what that record
 * earned. */
#ifndef CARROT_ADAPTER_H
#define CARROT_ADAPTER_H

#include <jansson.h>
#include <stddef.h>

/* A Salesforce Task or Event record, from the REST API (JSON, with or without
 * "attributes") or a row of a data-export CSV (an object of column -> text).
 * entity is "Task" or "Event"; NULL reads it from attributes.type, else
 * guesses from the fields. */
int carrot_adapt_salesforce(json_t *record, const char *entity, json_t *out, char *errstr,
                            size_t errstr_size);

/* A Salesforce Change Data Capture event (TaskChangeEvent, EventChangeEvent,
 * OpportunityChangeEvent), the whole message or just its payload: one
 * activity per record id. GAP_* events (changes Salesforce could not send)
 * return -1 with a reason naming the records to re-sync: they are reported
 * in the dead-letter topic, never dropped. */
int carrot_adapt_salesforce_cdc(json_t *event, json_t *out, char *errstr, size_t errstr_size);

/* One HubSpot webhook event (an element of the POSTed array). */
int carrot_adapt_hubspot(json_t *event, json_t *out, char *errstr, size_t errstr_size);

/* Verifies X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret, method + uri +
 * body + timestamp)), and that the timestamp (ms: decimal digits only, no
 * sign, no spaces, within long long) is within 5 minutes of now_ms; any
 * now_ms is safe (nothing is subtracted that could overflow). Returns 0, or
 * -1 with the reason. */
int carrot_hubspot_verify(const char *secret, const char *method, const char *uri, const char *body,
                          size_t body_len, const char *timestamp, const char *signature,
                          long long now_ms, char *errstr, size_t errstr_size);

#endif
