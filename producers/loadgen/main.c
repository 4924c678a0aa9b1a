/* carrot-loadgen: a deterministic synthetic CRM feed as JSON lines, for
 * demos, tests and benchmarks. The same seed gives the same feed.
 *
 * Participants have a segment (direct rep, dealer, distributor), a team, a
 * region and a tenure. Activity is skewed: participant i is picked with
 * weight 1/(i+1), so a few people are very active and most are not. Some
 * records are logged late, some are deleted afterwards, and --bad-every N
 * makes every Nth line invalid in one of several ways, for the dead-letter
 * path; --duplicate-every and --bad-picklist-every add resent lines and
 * off-list pick-list values; --rate paces the output for latency runs.
 * --participants-feed writes the same participants instead, as the
 * participants feed (carrot-ingest --format participants): names, the
 * segment, team and region their activities carry, supervisors in two
 * levels and a few hidden from screens. */
#include "carrot/activity.h"
#include "carrot/config.h"
#include "carrot/file.h"
#include "carrot/log.h"
#include "carrot/timeutil.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *program, *start;
    long long seed, count, participants, bad_every, delete_every, span_days, rate, duplicate_every,
        bad_picklist_every;
    int participants_feed;
} loadgen_conf_t;

#define OFF(f) offsetof(loadgen_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"seed", CARROT_CONF_INT, OFF(seed), "42", 0, 0x7fffffffffffffffLL, "random seed"},
    {"count", CARROT_CONF_INT, OFF(count), "3000", 0, 1000000000LL, "activities to write"},
    {"participants", CARROT_CONF_INT, OFF(participants), "40", 1, 10000000,
     "distinct participants"},
    {"program", CARROT_CONF_STR, OFF(program), "demo", 0, 0, "program id"},
    {"start", CARROT_CONF_STR, OFF(start), "-14d", 0, 0,
     "time of the first activity: RFC 3339, or relative to now (\"-14d\", \"now-36h\")"},
    {"span-days", CARROT_CONF_INT, OFF(span_days), "14", 1, 3650, "days the feed covers"},
    {"bad-every", CARROT_CONF_INT, OFF(bad_every), "0", 0, 1000000000LL,
     "make every Nth line invalid (0: none)"},
    {"delete-every", CARROT_CONF_INT, OFF(delete_every), "50", 0, 1000000000LL,
     "every Nth activity deletes an earlier one (0: none)"},
    {"duplicate-every", CARROT_CONF_INT, OFF(duplicate_every), "0", 0, 1000000000LL,
     "every Nth line repeats an earlier line exactly, as a CRM resending it would (0: none)"},
    {"bad-picklist-every", CARROT_CONF_INT, OFF(bad_picklist_every), "0", 0, 1000000000LL,
     "every Nth call or meeting has a disposition or outcome outside the pick list (0: none)"},
    {"rate", CARROT_CONF_INT, OFF(rate), "0", 0, 10000000,
     "lines per second to write at (0: as fast as possible)"},
    {"participants-feed", CARROT_CONF_BOOL, OFF(participants_feed), "false", 0, 0,
     "write the participants (one JSON line each, for carrot-ingest --format participants) "
     "instead of activities"},
    CARROT_CONF_END};

static const char usage[] = "usage: carrot-loadgen [settings] > feed.jsonl\n"
                            "Writes a deterministic synthetic CRM feed as JSON lines.";

static uint64_t rng_state;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }
static long pick(long n) { return (long)(uniform() * (double)n); }

/* Activity mix: common habits first, outcomes rarer. */
static const struct {
    const char *type;
    double weight;
} mix[] = {{"call", 30},
           {"email", 20},
           {"meeting", 12},
           {"note", 12},
           {"task", 8},
           {"lead", 5},
           {"quote", 4},
           {"opportunity_stage", 4},
           {"deal_won", 1.5},
           {"deal_lost", 1},
           {"training_completed", 2},
           {"certification_passed", 0.5}};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

static const char *segments[] = {"direct", "dealer", "distributor"};
static const char *regions[] = {"north", "south", "east", "west"};
static const char *dispositions[] = {"connected", "left_voicemail", "no_answer", "wrong_number"};
static const char *outcomes[] = {"completed", "rescheduled", "no_show"};
static const char *stages[] = {"qualification", "proposal", "negotiation", "closed_won"};

typedef struct {
    int segment, region, team, tenure_days;
} person_t;

/* Display names: participant i is first[i % 40] last[(i + i / 40) % 40], so
 * the demo's 40 are 40 different people (and any count has names). */
static const char *const first_names[40] = {
    "Ava",    "Liam",  "Sofia", "Noah",   "Mia",    "Ethan",  "Zoë",   "Mateo", "Chloe", "Omar",
    "Priya",  "Lucas", "Hana",  "Diego",  "Grace",  "Kofi",   "Elena", "Ravi",  "Nora",  "Jonas",
    "Amara",  "Felix", "Leila", "Tomás",  "Ingrid", "Malik",  "Yuki",  "Aaron", "Lucía", "Sven",
    "Fatima", "Owen",  "Mei",   "Carlos", "Anika",  "Dmitri", "Isla",  "Kwame", "Rosa",  "Henrik"};
static const char *const last_names[40] = {
    "Stone",   "Okafor", "Ramírez",  "Chen",    "Novak",     "Patel",  "Brooks", "Haddad",
    "Kim",     "Schulz", "Moreau",   "Silva",   "Nakamura",  "Oduya",  "Larsen", "Rossi",
    "Ahmed",   "Walsh",  "Kowalski", "Diaz",    "Lindqvist", "Mensah", "Costa",  "Ito",
    "Fischer", "Byrne",  "Singh",    "Alvarez", "Petrov",    "Osei",   "Dubois", "Park",
    "Nilsen",  "Reyes",  "Horvat",   "Quinn",   "Baker",     "Yilmaz", "Santos", "Weber"};

/* The participants feed: team leads are each team's first member (level 2),
 * reporting to p0000, the sales director (level 3, who leads a team too);
 * everyone else (level 1) reports to their team's lead. Every 17th from the
 * 17th on has opted out of screens. Times are the feed's start, so a given
 * --start writes the same bytes. */
static int write_participants(const loadgen_conf_t *cf, const person_t *people, long np,
                              int64_t start) {
    long nteams = np / 8 + 1;
    long *lead = malloc((size_t)nteams * sizeof(*lead));
    if (!lead) return -1;
    for (long t = 0; t < nteams; t++) lead[t] = -1;
    for (long i = 0; i < np; i++)
        if (lead[people[i].team] < 0) lead[people[i].team] = i;
    char updated[40], hired[40];
    carrot_time_format(start, updated, sizeof(updated));
    for (long i = 0; i < np; i++) {
        const person_t *p = &people[i];
        int is_lead = lead[p->team] == i;
        long boss = i == 0 ? -1 : is_lead ? 0 : lead[p->team];
        carrot_time_format(start - p->tenure_days * 86400000LL, hired, sizeof(hired));
        printf("{\"participant_id\":\"p%04ld\",\"program_id\":", i);
        carrot_json_print_string(stdout, cf->program);
        printf(",\"display_name\":\"%s %s\",\"segment\":\"%s\",\"team_id\":\"team-%02d\","
               "\"region\":\"%s\",\"hired_at\":\"%s\",\"level\":%d",
               first_names[i % 40], last_names[(i + i / 40) % 40], segments[p->segment], p->team,
               regions[p->region], hired,
               i == 0    ? 3
               : is_lead ? 2
                         : 1);
        if (boss >= 0) printf(",\"supervisor_id\":\"p%04ld\"", boss);
        printf(",\"hide_from_screen\":%s,\"updated_at\":\"%s\"}\n", i % 17 == 16 ? "true" : "false",
               updated);
    }
    free(lead);
    return 0;
}

/* Recent creates, so a DELETE names a real earlier record with its own
 * participant and type. */
#define RING 65536
typedef struct {
    long long n;
    long person;
    size_t type;
} created_t;

int main(int argc, char **argv) {
    loadgen_conf_t cf;
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-loadgen", props, &cf, argc, argv, NULL,
                                                   usage, &exit_code);
    if (!conf) return exit_code;
    int64_t start;
    if (carrot_time_parse_cli(cf.start, carrot_time_now_ms(), &start) != 0) {
        carrot_error("start: \"%s\" is neither an RFC 3339 time nor relative to now (\"-14d\")",
                     cf.start);
        carrot_conf_destroy(conf);
        return 2;
    }
    rng_state = (uint64_t)cf.seed;
    long np = (long)cf.participants;
    person_t *people = calloc((size_t)np, sizeof(*people));
    double *cum = calloc((size_t)np, sizeof(*cum));
    created_t *ring = calloc(RING, sizeof(*ring));
    long long nring = 0;
    if (!people || !cum || !ring) {
        carrot_error("out of memory");
        return 1;
    }
    double total = 0, mixtotal = 0;
    for (long i = 0; i < np; i++) {
        people[i].segment = (int)pick(3);
        people[i].region = (int)pick(4);
        people[i].team = (int)pick(np / 8 + 1);
        people[i].tenure_days = (int)(uniform() < 0.3 ? pick(90) : 90 + pick(3000));
        total += 1.0 / (double)(i + 1);
        cum[i] = total;
    }
    if (cf.participants_feed) { /* the same people, drawn from the same seed */
        int rc = write_participants(&cf, people, np, start);
        free(people);
        free(cum);
        free(ring);
        carrot_conf_destroy(conf);
        return rc ? 1 : 0;
    }
    for (size_t i = 0; i < NMIX; i++) mixtotal += mix[i].weight;
    int64_t span_ms = cf.span_days * 86400000LL, t0 = carrot_time_mono_ms();
    char *last = NULL; /* a recent line, for duplicates */
    size_t lastcap = 0;
    for (long long n = 1; n <= cf.count; n++) {
        if (cf.rate > 0) { /* pace: line n is due at n / rate seconds */
            int64_t due = t0 + n * 1000 / cf.rate, now = carrot_time_mono_ms();
            if (due > now) {
                fflush(stdout);
                struct timespec ts = {(due - now) / 1000, ((due - now) % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        if (cf.duplicate_every && n % cf.duplicate_every == 0 && last) {
            fputs(last, stdout);
            continue;
        }
        double u = uniform() * total;
        long lo = 0, hi = np - 1; /* first cum >= u */
        while (lo < hi) {
            long mid = (lo + hi) / 2;
            if (cum[mid] < u) lo = mid + 1;
            else
                hi = mid;
        }
        double m = uniform() * mixtotal;
        size_t t = 0;
        while (t + 1 < NMIX && (m -= mix[t].weight) > 0) t++;
        const char *change = "CREATE";
        long long record = n;
        if (cf.delete_every && n % cf.delete_every == 0 && nring > 0) {
            /* takes back an earlier record of the same feed */
            const created_t *c =
                &ring[(nring - 1 - pick(nring < RING ? (long)nring : RING)) % RING];
            change = "DELETE";
            record = c->n;
            lo = c->person;
            t = c->type;
        }
        const person_t *p = &people[lo];
        int64_t occurred = start + (int64_t)((double)span_ms * (double)(n - 1) / (double)cf.count);
        /* most are logged within the hour, some days late */
        int64_t lag = uniform() < 0.85 ? pick(3600) * 1000LL : pick(5 * 86400) * 1000LL;
        char occ[40], rec[40];
        carrot_time_format(occurred, occ, sizeof(occ));
        carrot_time_format(occurred + lag, rec, sizeof(rec));
        const char *type = mix[t].type;
        if (cf.bad_every && n % cf.bad_every == 0) {
            switch ((n / cf.bad_every) % 4) {
            case 0: printf("{\"event_id\": \"evt-%lld\", \"activity_type\": \"call\"\n", n); break;
            case 1:
                printf("{\"event_id\":\"evt-%lld\",\"participant_id\":\"p%04ld\",\"activity_type\":"
                       "\"coffee_break\",\"occurred_at\":\"%s\"}\n",
                       n, lo, occ);
                break;
            case 2:
                printf(
                    "{\"event_id\":\"evt-%lld\",\"activity_type\":\"call\",\"occurred_at\":\"%s\"}\n",
                    n, occ);
                break;
            default:
                printf("{\"event_id\":\"evt-%lld\",\"participant_id\":\"p%04ld\",\"activity_type\":"
                       "\"call\",\"occurred_at\":\"yesterday\"}\n",
                       n, lo);
            }
            continue;
        }
        if (record == n) ring[nring++ % RING] = (created_t){n, lo, t};
        /* a good line is built in memory, so it can be repeated as a duplicate */
        char *line = NULL;
        size_t linelen = 0;
        FILE *out = open_memstream(&line, &linelen);
        if (!out) {
            carrot_error("out of memory");
            return 1;
        }
        fprintf(out, "{\"event_id\":\"evt-%lld\",\"program_id\":", n);
        carrot_json_print_string(out, cf.program); /* any text, escaped */
        fprintf(out,
                ",\"source_system\":\"loadgen\","
                "\"source_record_id\":\"rec-%lld\",\"change_type\":\"%s\",\"activity_type\":\"%s\","
                "\"occurred_at\":\"%s\",\"recorded_at\":\"%s\",\"participant_id\":\"p%04ld\","
                "\"segment\":\"%s\",\"team_id\":\"team-%02d\",\"region\":\"%s\",\"tenure_days\":%d",
                record, change, type, occ, rec, lo, segments[p->segment], p->team,
                regions[p->region], p->tenure_days);
        int off_list = cf.bad_picklist_every && n % cf.bad_picklist_every == 0;
        if (strcmp(type, "call") == 0)
            fprintf(out, ",\"disposition\":\"%s\",\"duration_seconds\":%ld",
                    off_list ? "Left VM!!" : dispositions[pick(4)], 30 + pick(1200));
        if (strcmp(type, "meeting") == 0)
            fprintf(out, ",\"outcome\":\"%s\",\"duration_seconds\":%ld",
                    off_list ? "sort of happened" : outcomes[pick(3)], 900 + pick(3600));
        if (strcmp(type, "opportunity_stage") == 0 || strcmp(type, "deal_won") == 0 ||
            strcmp(type, "quote") == 0)
            fprintf(out,
                    ",\"opportunity_id\":\"opp-%ld\",\"stage\":\"%s\",\"amount_minor\":%ld,"
                    "\"currency\":\"USD\"",
                    pick(500), stages[pick(4)], 50000 + pick(5000000));
        fprintf(out, ",\"account_id\":\"acct-%ld\",\"text_length\":%ld}\n", pick(200),
                uniform() < 0.2 ? 0 : pick(400));
        fclose(out);
        fputs(line, stdout);
        if (cf.duplicate_every) {
            if (linelen + 1 > lastcap) {
                lastcap = linelen + 1;
                last = realloc(last, lastcap);
            }
            memcpy(last, line, linelen + 1);
        }
        free(line);
    }
    free(people);
    free(cum);
    free(ring);
    free(last);
    carrot_conf_destroy(conf);
    return 0;
}
