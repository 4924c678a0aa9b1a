/* carrot-leaderboard: prints the top N of a program's leaderboard with
 * competition ranks (1, 2, 2, 4), and the board's total. */
#include "config.h"
#include "leaderboard.h"
#include "log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char *redis_host, *program, *format;
    long long redis_port, top;
} board_conf_t;

#define OFF(f) offsetof(board_conf_t, f)
static const carrot_conf_prop_t props[] = {
    {"redis-host", CARROT_CONF_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis-port", CARROT_CONF_INT, OFF(redis_port), "16379", 1, 65535, "Redis port"},
    {"program", CARROT_CONF_STR, OFF(program), "default", 0, 0, "program whose board to show"},
    {"top", CARROT_CONF_INT, OFF(top), "10", 1, 10000, "how many entries"},
    {"format", CARROT_CONF_STR, OFF(format), "text", 0, 0, "text or json"},
    CARROT_CONF_END};

static const char usage[] = "usage: carrot-leaderboard [--program P] [--top N] [--format json]\n"
                            "Prints a program's program-to-date leaderboard from Redis.";

int main(int argc, char **argv) {
    board_conf_t cf;
    char errstr[512];
    int exit_code;
    carrot_conf_t *conf = carrot_conf_init_program("carrot-leaderboard", props, &cf, argc, argv,
                                                   NULL, usage, &exit_code);
    if (!conf) return exit_code;
    exit_code = 1;
    int json = cf.format[0] == 'j';
    carrot_board_t *board = carrot_board_new(cf.redis_host, (int)cf.redis_port, 5000);
    carrot_board_entry_t *entries = calloc((size_t)cf.top, sizeof(*entries));
    int n = 0;
    int64_t total = 0;
    long members = 0;
    if (!board || !entries) {
        carrot_error("out of memory");
    } else if (carrot_board_top(board, cf.program, (int)cf.top, entries, &n, errstr,
                                sizeof(errstr)) != 0 ||
               carrot_board_total(board, cf.program, &total, &members, errstr,
                                  sizeof(errstr)) != 0) {
        carrot_error("%s", errstr);
    } else {
        if (json) printf("{\"program\":\"%s\",\"entries\":[", cf.program);
        else printf("%-6s %-24s %10s\n", "rank", "participant", "points");
        for (int i = 0; i < n; i++) {
            if (json)
                printf("%s{\"rank\":%ld,\"participant_id\":\"%s\",\"points\":%lld}", i ? "," : "",
                       entries[i].rank, entries[i].participant_id, (long long)entries[i].points);
            else
                printf("%-6ld %-24s %10lld\n", entries[i].rank, entries[i].participant_id,
                       (long long)entries[i].points);
        }
        if (json)
            printf("],\"participants\":%ld,\"total_points\":%lld}\n", members, (long long)total);
        else
            printf("leaderboard total: %lld points, %ld participants\n", (long long)total,
                   members);
        exit_code = 0;
    }
    free(entries);
    carrot_board_destroy(board);
    carrot_conf_destroy(conf);
    return exit_code;
}
