/* pace.c: where a participant stands on a commitment mid-period, and
 * whether a final figure meets it. Pure arithmetic, so the close, the CLI
 * and the displays agree and unit tests pin it. */
#include "carrot/commitments.h"

static int is_share(carrot_commit_metric_t m) {
    return m == CARROT_COMMIT_COMPLETE || m == CARROT_COMMIT_ON_TIME;
}

int carrot_commit_is_met(carrot_commit_metric_t metric, int64_t target, int64_t figure,
                         int64_t judged) {
    if (!is_share(metric)) return figure >= target;
    return judged > 0 && figure * 100 >= target * judged;
}

void carrot_pace(carrot_commit_metric_t metric, int64_t target, int64_t figure, int64_t judged,
                 int64_t start_ms, int64_t end_ms, int64_t now_ms, carrot_pace_t *o) {
    o->figure = figure;
    o->judged = judged;
    o->target = target;
    o->elapsed = end_ms <= start_ms || now_ms >= end_ms ? 1.0
                 : now_ms <= start_ms                   ? 0.0
                                      : (double)(now_ms - start_ms) / (double)(end_ms - start_ms);
    o->share_pct = judged > 0 ? (int)(figure * 100 / judged) : -1;
    int over = now_ms >= end_ms;
    int met = carrot_commit_is_met(metric, target, figure, judged);
    if (is_share(metric)) {
        o->expected = target;
        if (over) o->state = met ? CARROT_PACE_MET : CARROT_PACE_MISSED;
        else
            o->state = judged == 0 || met ? CARROT_PACE_ON_TRACK : CARROT_PACE_BEHIND;
        return;
    }
    /* integer arithmetic on the elapsed milliseconds: no rounding surprises */
    int64_t len = end_ms - start_ms, done = now_ms - start_ms;
    if (len <= 0 || done >= len) o->expected = target;
    else if (done <= 0)
        o->expected = 0;
    else
        o->expected = target * done / len; /* target <= 1e8, a quarter < 8e9 ms: fits */
    if (met) o->state = CARROT_PACE_MET;
    else if (over)
        o->state = CARROT_PACE_MISSED;
    else
        o->state = figure >= o->expected ? CARROT_PACE_ON_TRACK : CARROT_PACE_BEHIND;
}

const char *carrot_pace_state_name(carrot_pace_state_t s) {
    static const char *const names[] = {"on_track", "behind", "met", "missed"};
    return s >= CARROT_PACE_ON_TRACK && s <= CARROT_PACE_MISSED ? names[s] : "?";
}
