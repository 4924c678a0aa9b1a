#!/usr/bin/env python3
"""test_redis_repair.py BUILD_DIR: Redis as a projection of Kafka.

Runs carrot-scorer and carrot-ledger run against a Redis of this test's own
(append-only, appendfsync everysec, on a free port) and the shared Kafka and
PostgreSQL, then takes Redis back in time three ways under the running
scorer:
  1. restored from an older copy of its append-only file: `carrot-ledger
     reconcile` first finds the boards short (exit 3), then the scorer, on
     reconnecting, sees its watermarks below the committed offsets, replays
     the gap into Redis and the boards agree with the ledger again;
  2. killed with SIGKILL and restarted while activities flow (whatever its
     last second held is lost): the boards agree once drained;
  3. emptied: the scorer rebuilds the boards from the topic.
After each, the boards equal the ledger to the point (reconcile exit 0 with
nothing in flight, and the board total is the sum of awards in PostgreSQL),
and no award was produced twice (the ledger found none already booked).
CARROT_IT_WRAPPER (tests/run.sh's valgrind phase) runs the scorer and the
ledger under it.
"""

import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from carrot_it import (ENV, WRAP, Run, booked_points, free_port, metrics, sample, wait_for)

run = Run("test_redis_repair", sys.argv[1])
REDIS_DIR = pathlib.Path(tempfile.mkdtemp(prefix="carrot-repair-"))
REDIS = ("127.0.0.1", str(free_port()))
redis_proc = None


def redis_cli(*args):
    return subprocess.run(["redis-cli", "-h", REDIS[0], "-p", REDIS[1], *args],
                          capture_output=True, text=True).stdout.strip()


def redis_start():
    global redis_proc
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", REDIS[1], "--bind", REDIS[0], "--dir", str(REDIS_DIR),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
         "--logfile", str(REDIS_DIR / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("redis to answer", lambda: redis_cli("PING") == "PONG", 30, 0.2)


def redis_kill():
    redis_proc.send_signal(signal.SIGKILL)
    redis_proc.wait()


def agreed(what, timeout=180):
    """Waits until the boards and the ledger agree with nothing in flight,
    twice in a row; returns the board total."""
    seen = []

    def check():
        rc, board, ledger, flight, _ = run.reconcile(*REDIS, fence_ms=5000)
        ok = rc == 0 and board and flight == 0 and board == ledger
        seen.append(board if ok else None)
        return len(seen) >= 2 and seen[-1] is not None and seen[-1] == seen[-2] and board
    try:
        total = wait_for(what, check, timeout, 1)
    except TimeoutError:
        out = run.reconcile(*REDIS, fence_ms=5000)[4]
        run.fail(f"{what}: the boards and the ledger never agreed: {out.strip()[-600:]}")
        return None
    booked = booked_points(run.program)
    if booked != total:
        run.fail(f"{what}: board total {total}, ledger total in PostgreSQL {booked}")
    run.say(f"{what}: boards agree with the ledger, {total} points")
    return total


def main():
    run.topics()
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True,
                   capture_output=True)
    redis_start()
    scorer_m, ledger_m = free_port(), free_port()
    scorer = run.scorer(*REDIS, scorer_m, WRAP)
    run.start("ledger", ["carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"],
                         "--topic", run.awards, "--dlq-topic", run.awards_dlq,
                         "--group", run.ledger_group, "--instance", "l1",
                         "--pg-dsn", ENV["CARROT_PG_DSN"], "--metrics-port", str(ledger_m),
                         "--drift-interval", "0"], WRAP)

    run.ingest(run.feed(3000, 21, 100))
    first = agreed("first feed")
    redis_cli("BGREWRITEAOF")
    wait_for("the AOF rewrite", lambda: "aof_rewrite_in_progress:0" in redis_cli("INFO", "persistence")
             and "aof_rewrite_scheduled:0" in redis_cli("INFO", "persistence"), 60)
    time.sleep(1.5)  # everysec: the last writes are on disk
    old = REDIS_DIR.parent / (REDIS_DIR.name + "-old")
    shutil.copytree(REDIS_DIR / "appendonlydir", old)
    run.ingest(run.feed(2000, 22, 100))
    second = agreed("second feed")

    # 1. an older copy of the AOF under a running scorer
    scorer.send_signal(signal.SIGSTOP)
    redis_kill()
    shutil.rmtree(REDIS_DIR / "appendonlydir")
    shutil.copytree(old, REDIS_DIR / "appendonlydir")
    redis_start()
    rc, board, ledger, flight, out = run.reconcile(*REDIS, fence_ms=5000)
    if rc != 3 or board != first or ledger != second:
        run.fail(f"Redis restored from the older copy: reconcile exited {rc} "
                 f"(board {board}, ledger {ledger}; expected 3, {first}, {second}): {out.strip()}")
    else:
        run.say(f"older AOF restored: reconcile exit 3, board {board} short of ledger {ledger}")
    scorer.send_signal(signal.SIGCONT)
    if agreed("after the older AOF") != second:
        run.fail("the repaired boards do not hold the second feed")
    repaired = sample(metrics(scorer_m), "carrot_scorer_repaired_total") or 0
    if repaired <= 0:
        run.fail("carrot_scorer_repaired_total is 0 after a repair")
    run.say(f"carrot_scorer_repaired_total {repaired:.0f}")

    # 2. SIGKILL and restart while activities flow
    flow = run.ingest(run.feed(4000, 23, 100), wait=False)
    time.sleep(0.7)
    redis_kill()
    redis_start()
    if flow.wait(120) != 0:
        run.fail(f"carrot-ingest exited {flow.returncode}")
    agreed("after SIGKILL under load")

    # 3. an empty Redis: rebuilt from the topic
    scorer.send_signal(signal.SIGSTOP)
    redis_kill()
    shutil.rmtree(REDIS_DIR / "appendonlydir")
    redis_start()
    rc, board, ledger, flight, out = run.reconcile(*REDIS, fence_ms=5000)
    if rc != 3:
        run.fail(f"an empty Redis: reconcile exited {rc}: {out.strip()}")
    total = booked_points(run.program)
    scorer.send_signal(signal.SIGCONT)
    if agreed("after an empty Redis") != total:
        run.fail("the rebuilt boards do not hold every award")

    already = sample(metrics(ledger_m), "carrot_ledger_already_booked_total")
    if already != 0:
        run.fail(f"the ledger found {already} awards already booked: an award was produced twice")
    else:
        run.say("no award produced twice (carrot_ledger_already_booked_total 0)")


def cleanup():
    try:
        main()
    finally:
        if redis_proc and redis_proc.poll() is None:
            redis_kill()
        if not run.failures:
            shutil.rmtree(REDIS_DIR, ignore_errors=True)
            shutil.rmtree(REDIS_DIR.parent / (REDIS_DIR.name + "-old"), ignore_errors=True)


run.finish(cleanup)
