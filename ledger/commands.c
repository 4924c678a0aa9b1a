/* commands.c: carrot-ledger's commands other than run: each calls booking
 * or spending and prints the outcome; the library code prints nothing. */
#include "carrot/log.h"
#include "carrot/spending.h"
#include "ledger.h"

#include <stdio.h>

/* The exit code for a result, logging its message: 0 done, 1 failed,
 * 3 refused. */
static int exit_code(carrot_ledger_err_t rc, const char *errstr) {
    if (rc != CARROT_LEDGER_OK) carrot_error("%s", errstr);
    return rc == CARROT_LEDGER_OK ? 0 : rc == CARROT_LEDGER_REFUSED ? 3 : 1;
}

int ledger_cmd_run(const ledger_ctx_t *ctx) { return carrot_ledger_run(ctx->conf, ctx->cf); }

int ledger_cmd_migrate(const ledger_ctx_t *ctx) {
    char errstr[1024];
    int applied = 0;
    carrot_ledger_err_t rc = carrot_ledger_migrate(ctx->pg, &applied, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        carrot_info("schema at version %d (%d migrations applied)", carrot_ledger_schema_version(),
                    applied);
    return exit_code(rc, errstr);
}

int ledger_cmd_balance(const ledger_ctx_t *ctx) {
    char errstr[1024];
    return exit_code(carrot_report_balance(ctx->pg, ctx->cf->program, ctx->cf->participant, stdout,
                                           errstr, sizeof(errstr)),
                     errstr);
}

int ledger_cmd_statement(const ledger_ctx_t *ctx) {
    char errstr[1024];
    return exit_code(carrot_report_statement(ctx->pg, ctx->cf->program, ctx->cf->participant,
                                             stdout, errstr, sizeof(errstr)),
                     errstr);
}

int ledger_cmd_liability(const ledger_ctx_t *ctx) {
    char errstr[1024];
    return exit_code(
        carrot_report_liability(ctx->pg, ctx->cf->program, stdout, errstr, sizeof(errstr)), errstr);
}

int ledger_cmd_catalog_set(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024];
    carrot_ledger_err_t rc = carrot_wallet_catalog_set(
        ctx->pg, cf->program, cf->item, cf->name, cf->price, cf->stock, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("item %s: %s, %lld points, %lld in stock\n", cf->item, cf->name, cf->price,
               cf->stock);
    return exit_code(rc, errstr);
}

int ledger_cmd_redeem(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024];
    int64_t id = 0;
    carrot_ledger_err_t rc = carrot_wallet_redeem(ctx->pg, cf->program, cf->participant, cf->item,
                                                  &id, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK) printf("redemption %lld pending\n", (long long)id);
    return exit_code(rc, errstr);
}

/* fulfil and reject: one settlement, two outcomes. */
static int settle(const ledger_ctx_t *ctx, int fulfil) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024];
    carrot_ledger_err_t rc = carrot_wallet_settle(ctx->pg, cf->redemption, fulfil, cf->reason,
                                                  errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("redemption %lld %s\n", cf->redemption, fulfil ? "fulfilled" : "rejected");
    return exit_code(rc, errstr);
}

int ledger_cmd_fulfil(const ledger_ctx_t *ctx) { return settle(ctx, 1); }

int ledger_cmd_reject(const ledger_ctx_t *ctx) { return settle(ctx, 0); }

int ledger_cmd_expiry_set(const ledger_ctx_t *ctx) {
    char errstr[1024];
    return exit_code(carrot_wallet_set_expiry(ctx->pg, ctx->cf->program, (int)ctx->cf->months,
                                              errstr, sizeof(errstr)),
                     errstr);
}

int ledger_cmd_expire(const ledger_ctx_t *ctx) {
    char errstr[1024];
    long long points = 0, people = 0;
    carrot_ledger_err_t rc = carrot_wallet_expire(ctx->pg, ctx->cf->program, ctx->cf->as_of,
                                                  &points, &people, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("expired %lld points of %lld participants\n", points, people);
    return exit_code(rc, errstr);
}

int ledger_cmd_sweepstakes_create(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024], commitment[65];
    carrot_ledger_err_t rc = carrot_draw_create(ctx->pg, cf->program, cf->sweepstakes, cf->name,
                                                cf->entry_cost, cf->prizes, cf->seed_file,
                                                commitment, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("sweepstakes %s created; commitment sha256 %s; seed kept in %s\n", cf->sweepstakes,
               commitment, cf->seed_file);
    return exit_code(rc, errstr);
}

int ledger_cmd_enter(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024];
    int first = 0;
    carrot_ledger_err_t rc = carrot_draw_enter(ctx->pg, cf->program, cf->sweepstakes,
                                               cf->participant, (int)cf->entries, &first, errstr,
                                               sizeof(errstr));
    if (rc == CARROT_LEDGER_OK) printf("entries %d to %d\n", first, first + (int)cf->entries - 1);
    return exit_code(rc, errstr);
}

int ledger_cmd_close(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024], hash[65];
    long long n = 0;
    carrot_ledger_err_t rc = carrot_draw_close(ctx->pg, cf->program, cf->sweepstakes, &n, hash,
                                               errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("sweepstakes %s closed: %lld entries; entry list sha256 %s\n", cf->sweepstakes, n,
               hash);
    return exit_code(rc, errstr);
}

/* carrot_draw_winner_cb: one line per winner, as the draw goes. */
static void print_winner(void *opaque, int entry, const char *participant, const char *prize,
                         int64_t points) {
    (void)opaque;
    printf("entry %d (%s) wins %s%s\n", entry, participant, prize,
           points > 0 ? " (points credited)" : "");
}

int ledger_cmd_draw(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024], seed[65];
    int entries = 0, winners = 0;
    carrot_ledger_err_t rc = carrot_draw_run(ctx->pg, cf->program, cf->sweepstakes, cf->seed_file,
                                             print_winner, NULL, &entries, &winners, seed, errstr,
                                             sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("sweepstakes %s drawn: %d entries, %d winners; seed %s revealed\n", cf->sweepstakes,
               entries, winners, seed);
    return exit_code(rc, errstr);
}

int ledger_cmd_verify(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024];
    carrot_ledger_err_t rc;
    if (!cf->sweepstakes) { /* the books */
        int failed = 0;
        rc = carrot_audit_books(ctx->pg, stdout, &failed, errstr, sizeof(errstr));
        return rc != CARROT_LEDGER_OK ? exit_code(rc, errstr) : failed ? 3 : 0;
    }
    if (!cf->program) {
        carrot_error("verify --sweepstakes needs --program");
        return 2;
    }
    long long n = 0, w = 0;
    rc = carrot_draw_verify(ctx->pg, cf->program, cf->sweepstakes, &n, &w, errstr, sizeof(errstr));
    if (rc == CARROT_LEDGER_OK)
        printf("draw of %s verified: %lld entries, %lld winners\n", cf->sweepstakes, n, w);
    return exit_code(rc, errstr);
}

int ledger_cmd_reconcile(const ledger_ctx_t *ctx) {
    const ledger_conf_t *cf = ctx->cf;
    char errstr[1024];
    carrot_reconcile_conf_t rcf = ledger_reconcile_conf(cf);
    carrot_reconcile_t *r = carrot_reconcile_new(ctx->conf, &rcf, errstr, sizeof(errstr));
    carrot_board_t *board = carrot_board_new(cf->redis_host, (int)cf->redis_port,
                                             (int)cf->redis_timeout_ms);
    if (!r || !board) {
        carrot_error("%s", r ? "out of memory" : errstr);
        carrot_reconcile_destroy(r);
        carrot_board_destroy(board);
        return 1;
    }
    carrot_drift_t *d = NULL;
    const char *programs[] = {cf->program};
    carrot_ledger_err_t rc = carrot_reconcile_run(r, ctx->pg, board, programs, cf->program ? 1 : 0,
                                                  &d, errstr, sizeof(errstr));
    carrot_board_destroy(board);
    carrot_reconcile_destroy(r);
    if (rc != CARROT_LEDGER_OK) return exit_code(rc, errstr);
    int differ = 0;
    for (int i = 0; i < d->nprograms; i++) {
        const carrot_drift_program_t *p = &d->programs[i];
        printf("%s: %ld participants; board %lld, ledger %lld + in flight %lld: ", p->program_id,
               p->participants, (long long)p->board_total, (long long)p->ledger_total,
               (long long)p->in_flight);
        if (!p->differing) {
            printf("they agree\n");
            continue;
        }
        differ = 1;
        printf("%ld participants differ by %lld points in all\n", p->differing,
               (long long)p->drift);
    }
    if (d->nrows) {
        printf("%-16s %-24s %12s %12s %12s %12s\n", "program", "participant", "board", "ledger",
               "in flight", "drift");
        for (size_t i = 0; i < d->nrows && i < 50; i++) {
            const carrot_drift_row_t *w = &d->rows[i];
            printf("%-16s %-24s %12lld %12lld %12lld %+12lld\n", w->program_id, w->participant_id,
                   (long long)w->board, (long long)w->ledger, (long long)w->in_flight,
                   (long long)(w->board - w->ledger - w->in_flight));
        }
        if (d->nrows > 50) printf("(%zu more)\n", d->nrows - 50);
    }
    if (d->nprograms == 0)
        printf("nothing booked%s%s yet\n", cf->program ? " for " : "",
               cf->program ? cf->program : "");
    carrot_drift_destroy(d);
    return differ ? 3 : 0;
}
