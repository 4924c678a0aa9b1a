/* carrot-leaderboard: reads a program's leaderboards: the top N of a board,
 * the entries around a participant, or a participant's rank and points on
 * every board they are on. Ranks are competition ranks (1, 2, 2, 4). */
#include "carrot/board.h"
#include "carrot/config.h"
#include "carrot/file.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/timeutil.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *redis_host, *program, *format, *board, *period, *scope, *at, *around, *participant;
    char *timezone;
    long long redis_port, top, k;
} board_conf_t;

#define OFF(f) offsetof(board_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"program", CARROT_CONF_STR, OFF(program), "default", 0, 0, "program whose boards to read"},
    {"period", CARROT_CONF_STR, OFF(period), "ptd", 0, 0,
     "day, week, month, quarter or ptd (program to date)"},
    {"at", CARROT_CONF_STR, OFF(at), NULL, 0, 0,
     "a time in the period to show: RFC 3339, or relative to now (\"-7d\"); default: now"},
    {"scope", CARROT_CONF_STR, OFF(scope), "all", 0, 0,
     "all, seg:<segment>, reg:<region> or team:<team or dealer>"},
    {"board", CARROT_CONF_STR, OFF(board), NULL, 0, 0,
     "a board by name (\"w:2026-W47:seg:dealer\"), instead of --period/--at/--scope"},
    {"top", CARROT_CONF_INT, OFF(top), "10", 1, 10000, "how many entries"},
    {"around", CARROT_CONF_STR, OFF(around), NULL, 0, 0,
     "show this participant and --k entries either side, instead of the top"},
    {"k", CARROT_CONF_INT, OFF(k), "2", 0, 1000, "entries either side, with --around"},
    {"participant", CARROT_CONF_STR, OFF(participant), NULL, 0, 0,
     "show this participant's rank and points on every board they are on"},
    {"timezone", CARROT_CONF_STR, OFF(timezone), NULL, 0, 0,
     "the program's time zone; default: what its scorer recorded in Redis, else UTC"},
    {"format", CARROT_CONF_STR, OFF(format), "text", 0, 0, "text or json"},
    CARROT_CONF_END};

static const char usage[] =
    "usage: carrot-leaderboard --program P [--period week] [--scope seg:dealer] [--top N]\n"
    "       carrot-leaderboard --program P --around PARTICIPANT [--k 2]\n"
    "       carrot-leaderboard --program P --participant PARTICIPANT\n"
    "Reads a program's leaderboards from Redis. Exits 0, 1 when Redis fails, 2 on bad settings,\n"
    "3 when the program has no boards in this Redis or the participant is not on the board.";

static void print(const board_conf_t *cf, const char *board, const carrot_board_entry_t *e, int n,
                  int standing, int64_t total, long members) {
    int json = cf->format[0] == 'j';
    if (json) {
        printf("{\"program\":");
        carrot_json_print_string(stdout, cf->program);
        if (!standing) {
            printf(",\"board\":");
            carrot_json_print_string(stdout, board);
        }
        printf(",\"entries\":[");
    } else if (standing) {
        printf("%-28s %6s %10s %8s\n", "board", "rank", "points", "of");
    } else {
        printf("board %s\n%-6s %-24s %10s\n", board, "rank", "participant", "points");
    }
    for (int i = 0; i < n; i++) {
        if (json) {
            printf("%s{", i ? "," : "");
            if (standing) {
                printf("\"board\":");
                carrot_json_print_string(stdout, e[i].board);
                printf(",\"size\":%ld,", e[i].size);
            }
            printf("\"rank\":%ld,\"participant_id\":", e[i].rank);
            carrot_json_print_string(stdout, e[i].participant_id);
            printf(",\"points\":%lld}", (long long)e[i].points);
        } else if (standing) {
            printf("%-28s %6ld %10lld %8ld\n", e[i].board, e[i].rank, (long long)e[i].points,
                   e[i].size);
        } else {
            printf("%-6ld %-24s %10lld\n", e[i].rank, e[i].participant_id, (long long)e[i].points);
        }
    }
    if (json && standing) printf("]}\n");
    else if (json)
        printf("],\"participants\":%ld,\"total_points\":%lld}\n", members, (long long)total);
    else if (!standing)
        printf("board total: %lld points, %ld participants\n", (long long)total, members);
}

int main(int argc, char **argv) {
    board_conf_t cf;
    char errstr[512], board[400], tz[128], version[128], pid[32];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-leaderboard", props, &cf, argc, argv,
                                                   NULL, usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 1;
    int max = cf.participant ? 1000 : cf.around ? (int)(2 * cf.k + 1) : (int)cf.top;
    carrot_board_t *b = carrot_board_new(cf.redis_host, (int)cf.redis_port, 5000);
    carrot_board_entry_t *e = calloc((size_t)max, sizeof(*e));
    int n = 0;
    int64_t total = 0, at;
    long members = 0;
    int period = carrot_period_parse(cf.period);
    if (!b || !e) {
        carrot_error("out of memory");
        goto out;
    }
    if (period < 0) {
        carrot_error("--period: expected day, week, month, quarter or ptd, not \"%s\"", cf.period);
        exit_code = 2;
        goto out;
    }
    if (carrot_time_parse_cli(cf.at ? cf.at : "now", carrot_time_now_ms(), &at) != 0) {
        carrot_error("--at: expected an RFC 3339 time with a zone, or one relative to now "
                     "(\"-7d\"), not \"%s\"",
                     cf.at);
        exit_code = 2;
        goto out;
    }
    if (cf.board) {
        snprintf(board, sizeof(board), "%s", cf.board);
    } else {
        /* every view names periods the scorer's way: in the program's time zone */
        if (cf.timezone) snprintf(tz, sizeof(tz), "%s", cf.timezone);
        else if (carrot_board_get_meta(b, cf.program, tz, sizeof(tz), version, sizeof(version),
                                       errstr, sizeof(errstr)) != 0) {
            carrot_error("%s", errstr);
            goto out;
        }
        if (!*tz) snprintf(tz, sizeof(tz), "UTC");
        if (carrot_period_of((carrot_period_t)period, at, tz, pid, sizeof(pid), NULL) != 0) {
            carrot_error("unknown time zone \"%s\"", tz);
            exit_code = 2;
            goto out;
        }
        snprintf(board, sizeof(board), "%s:%s", pid, cf.scope);
    }
    int known = 0;
    if (carrot_board_program_known(b, cf.program, &known, errstr, sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (!known) { /* not an empty board: a wrong --program or --redis-port */
        carrot_error("unknown program \"%s\": this Redis holds no boards of it", cf.program);
        exit_code = 3;
        goto out;
    }
    int rc;
    if (cf.participant)
        rc = carrot_board_standing(b, cf.program, cf.participant, max, e, &n, errstr,
                                   sizeof(errstr));
    else if (cf.around)
        rc = carrot_board_around(b, cf.program, board, cf.around, (int)cf.k, e, &n, errstr,
                                 sizeof(errstr));
    else
        rc = carrot_board_top(b, cf.program, board, max, e, &n, errstr, sizeof(errstr));
    if (rc == 0 && !cf.participant)
        rc = carrot_board_total(b, cf.program, board, &total, &members, errstr, sizeof(errstr));
    if (rc != 0) {
        carrot_error("%s", errstr);
        goto out;
    }
    if (cf.around && n == 0) {
        carrot_error("%s is not on board %s", cf.around, board);
        exit_code = 3;
        goto out;
    }
    print(&cf, board, e, n, cf.participant != NULL, total, members);
    exit_code = 0;
out:
    free(e);
    carrot_board_destroy(b);
    carrot_conf_destroy(conf);
    return exit_code;
}
