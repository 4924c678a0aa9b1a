/* salesforce.c: Salesforce Task and Event records (REST JSON or data-export
 * CSV) and Change Data Capture events into generic activities. Field names
 * are Salesforce's API names (see the README's adapter table). */
#include "adapter_util.h"
#include "carrot/adapter.h"
#include "carrot/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXT(obj, key) carrot_jtext((obj), (key), tmp[t++ % 8], sizeof(tmp[0]))

/* Salesforce key prefixes: 006 is an Opportunity. */
static int is_opportunity_id(const char *id) { return id && strncmp(id, "006", 3) == 0; }

static const char *task_type(json_t *r) {
    char buf[64];
    const char *sub = carrot_jtext(r, "TaskSubtype", buf, sizeof(buf));
    if (sub && strcmp(sub, "Call") == 0) return "call";
    if (sub && (strcmp(sub, "Email") == 0 || strcmp(sub, "ListEmail") == 0 ||
                strcmp(sub, "LinkedIn") == 0))
        return "email";
    if (carrot_jtext(r, "CallType", buf, sizeof(buf)) ||
        carrot_jtext(r, "CallDurationInSeconds", buf, sizeof(buf)))
        return "call";
    return "task";
}

static const char *guess_entity(json_t *r) {
    const char *type = json_string_value(json_object_get(json_object_get(r, "attributes"), "type"));
    if (type) return type;
    if (json_object_get(r, "StartDateTime") || json_object_get(r, "DurationInMinutes") ||
        json_object_get(r, "EventSubtype"))
        return "Event";
    return "Task";
}

/* Maps the fields of a Task or Event into a (fields of) g. */
static int map_activity(json_t *r, const char *entity, json_t *g, char *errstr,
                        size_t errstr_size) {
    char tmp[8][64];
    unsigned t = 0;
    int is_event = strcmp(entity, "Event") == 0;
    carrot_jset(g, "activity_type", is_event ? "meeting" : task_type(r));
    carrot_jset(g, "participant_id", TXT(r, "OwnerId"));
    carrot_jset(g, "account_id", TXT(r, "AccountId"));
    const char *what = TXT(r, "WhatId");
    if (is_opportunity_id(what)) carrot_jset(g, "opportunity_id", what);
    const char *occurred = is_event ? TXT(r, "StartDateTime") : TXT(r, "CompletedDateTime");
    if (!occurred) occurred = TXT(r, "ActivityDateTime");
    if (!occurred) occurred = TXT(r, "ActivityDate"); /* a date: UTC midnight, not shifted */
    if (!occurred) occurred = TXT(r, "CreatedDate");
    carrot_jset(g, "occurred_at", occurred);
    carrot_jset(g, "recorded_at", TXT(r, "CreatedDate"));
    json_t *custom = json_object();
    if (is_event) {
        const char *minutes = TXT(r, "DurationInMinutes");
        if (minutes) {
            char *end;
            long m = strtol(minutes, &end, 10);
            if (*end || m < 0 || m > 10000000) {
                json_decref(custom);
                snprintf(errstr, errstr_size,
                         "DurationInMinutes \"%.32s\" is not a number of minutes", minutes);
                return -1;
            }
            json_object_set_new(g, "duration_seconds", json_integer(m * 60));
        }
        carrot_jset(custom, "Location", TXT(r, "Location"));
        if (carrot_jtrue(r, "IsAllDayEvent")) carrot_jset(custom, "IsAllDayEvent", "true");
    } else {
        carrot_jset(g, "outcome", TXT(r, "Status"));
        carrot_jset(g, "disposition", TXT(r, "CallDisposition"));
        const char *secs = TXT(r, "CallDurationInSeconds");
        if (secs) {
            char *end;
            long s = strtol(secs, &end, 10);
            if (*end || s < 0 || s > 100000000) {
                json_decref(custom);
                snprintf(errstr, errstr_size,
                         "CallDurationInSeconds \"%.32s\" is not a number of seconds", secs);
                return -1;
            }
            json_object_set_new(g, "duration_seconds", json_integer(s));
        }
        carrot_jset(custom, "Priority", TXT(r, "Priority"));
        carrot_jset(custom, "CallType", TXT(r, "CallType"));
    }
    carrot_jset(custom, "WhoId", TXT(r, "WhoId"));
    const char *desc = json_string_value(json_object_get(r, "Description"));
    if (desc) json_object_set_new(g, "text_length", json_integer(carrot_utf8_len(desc)));
    if (json_object_size(custom)) json_object_set(g, "custom", custom);
    json_decref(custom);
    return 0;
}

int carrot_adapt_salesforce(json_t *r, const char *entity, json_t *out, char *errstr,
                            size_t errstr_size) {
    char tmp[8][64], id[256];
    unsigned t = 0;
    if (!json_is_object(r)) {
        snprintf(errstr, errstr_size, "expected a Salesforce record (a JSON object)");
        return -1;
    }
    json_t *records = json_object_get(r, "records");
    if (json_is_array(records)) { /* a whole query response: every record in it */
        size_t i;
        json_t *rec;
        json_array_foreach(records, i, rec) {
            if (carrot_adapt_salesforce(rec, entity, out, errstr, errstr_size) != 0) return -1;
        }
        return 0;
    }
    if (!entity) entity = guess_entity(r);
    if (strcmp(entity, "Task") != 0 && strcmp(entity, "Event") != 0) {
        snprintf(errstr, errstr_size, "a %.32s record is not a Task or an Event", entity);
        return -1;
    }
    const char *rid = TXT(r, "Id");
    if (!rid) {
        snprintf(errstr, errstr_size, "%s record without Id", entity);
        return -1;
    }
    json_t *g = json_object();
    carrot_jset(g, "source_system", "salesforce");
    carrot_jset(g, "source_record_id", rid);
    if (carrot_jtrue(r, "IsDeleted")) {
        const char *when = TXT(r, "LastModifiedDate");
        snprintf(id, sizeof(id), "sf:%s:%s:DELETE:%s", entity, rid, when ? when : "");
        carrot_jset(g, "change_type", "DELETE");
    } else
        snprintf(id, sizeof(id), "sf:%s:%s", entity, rid);
    carrot_jset(g, "event_id", id);
    if (map_activity(r, entity, g, errstr, errstr_size) != 0) {
        json_decref(g);
        return -1;
    }
    json_array_append_new(out, g);
    return 0;
}

static const char *stage_type(const char *stage, json_t *payload) {
    if (carrot_jtrue(payload, "IsWon") || (stage && strcmp(stage, "Closed Won") == 0))
        return "deal_won";
    if (stage && strcmp(stage, "Closed Lost") == 0) return "deal_lost";
    return "opportunity_stage";
}

int carrot_adapt_salesforce_cdc(json_t *event, json_t *out, char *errstr, size_t errstr_size) {
    char tmp[8][64], id[512], when[40];
    unsigned t = 0;
    json_t *payload = json_object_get(event, "payload");
    if (!json_is_object(payload)) payload = event;
    json_t *h = json_object_get(payload, "ChangeEventHeader");
    if (!json_is_object(h)) {
        snprintf(errstr, errstr_size, "not a Change Data Capture event: no ChangeEventHeader");
        return -1;
    }
    const char *entity = TXT(h, "entityName"), *change = TXT(h, "changeType");
    json_t *ids = json_object_get(h, "recordIds");
    if (!entity || !change || !json_is_array(ids) || json_array_size(ids) == 0) {
        snprintf(errstr, errstr_size,
                 "ChangeEventHeader needs entityName, changeType and recordIds");
        return -1;
    }
    if (strncmp(change, "GAP_", 4) == 0) {
        char list[256] = "";
        size_t i, n = 0;
        json_t *v;
        json_array_foreach(ids, i, v) {
            const char *s = json_string_value(v);
            if (s)
                n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
                                      i ? "," : "", s);
        }
        snprintf(errstr, errstr_size,
                 "%s event for %s: Salesforce could not send these changes; re-sync records [%s]",
                 change, entity, list);
        return -1;
    }
    json_t *ts = json_object_get(h, "commitTimestamp");
    if (!json_is_integer(ts)) {
        snprintf(errstr, errstr_size, "ChangeEventHeader without a numeric commitTimestamp");
        return -1;
    }
    carrot_time_format(json_integer_value(ts), when, sizeof(when));
    const char *seq = TXT(h, "sequenceNumber"), *user = TXT(h, "commitUser");
    int is_opp = strcmp(entity, "Opportunity") == 0;
    if (!is_opp && strcmp(entity, "Task") != 0 && strcmp(entity, "Event") != 0) {
        snprintf(errstr, errstr_size,
                 "CDC for %.32s is not an activity (Task, Event or Opportunity)", entity);
        return -1;
    }
    int create = strcmp(change, "CREATE") == 0;
    if (!create && strcmp(change, "UPDATE") != 0 && strcmp(change, "DELETE") != 0 &&
        strcmp(change, "UNDELETE") != 0) {
        snprintf(errstr, errstr_size, "unknown changeType \"%.32s\"", change);
        return -1;
    }
    const char *stage = is_opp ? TXT(payload, "StageName") : NULL;
    if (is_opp && !stage && strcmp(change, "DELETE") != 0 && strcmp(change, "UNDELETE") != 0)
        return 0; /* an opportunity update that moves no stage is not an activity */
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        const char *rid = json_string_value(v);
        if (!rid || !*rid) {
            snprintf(errstr, errstr_size, "recordIds[%zu] is not a record id", i);
            return -1;
        }
        json_t *g = json_object();
        carrot_jset(g, "source_system", "salesforce");
        carrot_jset(g, "source_record_id", rid);
        if (is_opp && stage && (create || strcmp(change, "UPDATE") == 0)) {
            /* reaching a stage is the activity: once per opportunity and stage */
            snprintf(id, sizeof(id), "sf:Opportunity:%s:stage:%s", rid, stage);
            carrot_jset(g, "activity_type", stage_type(stage, payload));
            carrot_jset(g, "stage", stage);
            const char *owner = TXT(payload, "OwnerId");
            carrot_jset(g, "participant_id", owner ? owner : user);
            carrot_jset(g, "opportunity_id", rid);
            carrot_jset(g, "account_id", TXT(payload, "AccountId"));
            json_t *amount = json_object_get(payload, "Amount");
            if (json_is_number(amount)) {
                double minor = json_number_value(amount) * 100.0;
                json_object_set_new(g, "amount_minor",
                                    json_integer((json_int_t)(minor + (minor < 0 ? -0.5 : 0.5))));
                carrot_jset(g, "currency", TXT(payload, "CurrencyIsoCode"));
            }
            carrot_jset(g, "occurred_at", when);
        } else {
            if (create) snprintf(id, sizeof(id), "sf:%s:%s", entity, rid);
            else
                snprintf(id, sizeof(id), "sf:%s:%s:%s:%s%s%s", entity, rid, change, when,
                         seq ? ":" : "", seq ? seq : "");
            carrot_jset(g, "change_type", change);
            if (is_opp) carrot_jset(g, "opportunity_id", rid);
            else if (map_activity(payload, entity, g, errstr, errstr_size) != 0) {
                json_decref(g);
                return -1;
            } else if (!create && strcmp(entity, "Task") == 0 &&
                       !json_object_get(payload, "TaskSubtype") &&
                       !json_object_get(payload, "CallType"))
                carrot_jset(g, "activity_type", ""); /* not in the event: unknown, not "task" */
            /* a DELETE carries no fields: the record id is what scoring needs */
            if (!json_object_get(g, "participant_id") && create)
                carrot_jset(g, "participant_id", user);
            if (!json_object_get(g, "occurred_at") || !create) carrot_jset(g, "occurred_at", when);
            if (!create) json_object_del(g, "recorded_at");
        }
        carrot_jset(g, "event_id", id);
        if (!json_object_get(g, "recorded_at")) carrot_jset(g, "recorded_at", when);
        if (!create && !json_object_get(g, "activity_type")) carrot_jset(g, "activity_type", "");
        json_array_append_new(out, g);
    }
    return 0;
}
