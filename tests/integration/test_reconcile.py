#!/usr/bin/env python3
"""test_reconcile.py BUILD_DIR: the drift check, against the real services.

Runs carrot-scorer and carrot-ledger run (drift check every second) and
checks that:
  - `carrot-ledger reconcile`, run again and again while 20,000 activities go
    through the pipeline, says every time that the boards and the ledger agree
    (exit 0), and some of those checks saw awards in flight: the check is
    exact under load, not "about 0";
  - once drained, the board total equals the ledger's total in PostgreSQL, and
    the ledger's carrot_ledger_drift_points gauge is 0;
  - points taken off a board in Redis (as a Redis that lost writes would) are
    found: reconcile exits 3 naming the participant and the difference, and
    the gauge shows it within seconds; put back, both say 0 again;
  - with the ledger stopped, awards the scorer committed count as in flight
    and the two still agree.
CARROT_IT_WRAPPER (tests/run.sh's valgrind phase) runs the ledger and every
reconcile under it, with a smaller load.
"""
import re
import subprocess
import sys
import time

from carrot_it import ENV, WRAP, Run, booked_points, free_port, metrics, sample, wait_for

run = Run("test_reconcile", sys.argv[1])
LOAD = 3000 if WRAP else 20000
REDIS = (ENV.get("CARROT_REDIS_HOST", ""), ENV.get("CARROT_REDIS_PORT", ""))


def redis(*args):
    return subprocess.run(["redis-cli", "-h", REDIS[0], "-p", REDIS[1], *args], env=ENV,
                          check=True, capture_output=True, text=True).stdout.strip()


def reconcile():
    return run.reconcile(*REDIS, WRAP)


def main():
    run.topics()
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True,
                   capture_output=True)
    scorer_m, ledger_m = free_port(), free_port()
    run.scorer(*REDIS, scorer_m)
    run.start("ledger", ["carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"],
                         "--topic", run.awards, "--group", run.ledger_group,
                         "--dlq-topic", run.awards_dlq, "--instance", "l1",
                         "--pg-dsn", ENV["CARROT_PG_DSN"], "--metrics-port", str(ledger_m),
                         "--drift-interval", "1", "--activities-topic", run.topic,
                         "--scorer-group", run.scorer_group, "--redis-host", REDIS[0],
                         "--redis-port", REDIS[1]], WRAP)

    # 1. under load: every check agrees, and some see awards in flight
    ing = run.ingest(run.feed(LOAD, 11), wait=False)
    checks = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rc, board, ledger, flight, out = reconcile()
        checks.append((rc, board, ledger, flight))
        if rc != 0:
            run.fail(f"reconcile under load exited {rc}: {out.strip()[-800:]}")
            break
        s = metrics(scorer_m)
        lag = sum(float(x) for x in re.findall(r"^carrot_consumer_lag_messages\S* (\S+)$", s, re.M))
        if ing.poll() is not None and board and flight == 0 and lag == 0 and board == ledger:
            break  # drained
    if ing.wait(60) != 0:
        run.fail(f"carrot-ingest exited {ing.returncode}: {ing.stderr.read()[-500:]}")
    final = checks[-1][1] or 0
    moving = [c for c in checks if c[0] == 0 and (c[3] or (c[1] or 0) < final)]
    run.say(f"{len(checks)} checks under load, all agreeing: {len(moving)} of them mid-flight "
            f"(e.g. board, ledger, in flight = {moving[0][1:] if moving else None})")
    if not moving:
        run.fail(f"the pipeline was not caught moving: {checks}")

    # 2. drained: the totals of PostgreSQL and the gauge agree
    booked = booked_points(run.program)
    if booked != final or final <= 0:
        run.fail(f"board total {final}, ledger total in PostgreSQL {booked}")
    label = f'program="{run.program}"'

    def gauge(want):
        m = metrics(ledger_m)
        v = sample(m, "carrot_ledger_drift_points", label)
        return v == want and (sample(m, "carrot_ledger_drift_checks_total", 'result="ok"') or 0) > 0
    wait_for("carrot_ledger_drift_points 0", lambda: gauge(0), 60)

    # 3. a board that lost 7 points is found
    board_key = f"carrot:{{{run.program}}}:lb:ptd:all"
    who = redis("ZRANGE", board_key, "0", "0")
    redis("ZINCRBY", board_key, "-7", who)
    rc, board, ledger, flight, out = reconcile()
    row = re.search(rf"^{re.escape(run.program)}\s+{re.escape(who)}\s+(-?\d+)\s+(-?\d+)\s+"
                    r"(-?\d+)\s+([-+]\d+)$", out, re.M)
    if rc != 3 or not row or row[4] != "-7" or board != ledger - 7:
        run.fail(f"7 points off {who}'s board: reconcile exited {rc}: {out.strip()}")
    else:
        run.say(f"7 points off {who}'s board: exit 3, row {row[0]!r}")
    try:
        wait_for("carrot_ledger_drift_points 7", lambda: gauge(7), 30)
        run.say("carrot_ledger_drift_points shows 7")
    except TimeoutError:
        run.fail("the gauge did not show 7: "
                 f"{sample(metrics(ledger_m), 'carrot_ledger_drift_points', label)}")
    redis("ZINCRBY", board_key, "7", who)
    if reconcile()[0] != 0:
        run.fail("the board put back, reconcile still finds drift")
    wait_for("carrot_ledger_drift_points 0 again", lambda: gauge(0), 30)

    # 4. ledger stopped: the scorer's awards are in flight, and still agree
    run.stop("ledger")
    run.ingest(run.feed(500, 12))

    def scored():
        rc, board, ledger, flight, out = reconcile()
        return flight and (rc, board, ledger, flight, out)
    try:
        rc, board, ledger, flight, out = wait_for("awards in flight", scored, 120, 1)
        if rc != 0 or board != ledger + flight:
            run.fail(f"with the ledger stopped: {out.strip()}")
        else:
            run.say(f"ledger stopped: board {board} = ledger {ledger} + in flight {flight}")
    except TimeoutError:
        run.fail("no award came in flight with the ledger stopped")


run.finish(main)
