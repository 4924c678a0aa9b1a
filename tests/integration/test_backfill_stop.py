#!/usr/bin/env python3
"""test_backfill_stop.py BUILD_DIR: `carrot-rules backfill` stopped by SIGTERM.

Scores 10,000 activities under the demo rules, then back-fills them under
rules that double every KPI's points, and sends SIGTERM as soon as the first
chunk of adjustments has landed in Redis. It must stop after the chunk in
hand, print its counts, and exit 3 (README "Back-fill"); run again with the
same --id it books the rest. Nothing is lost and nothing is twice: every
participant's program-to-date points equal `carrot-rules simulate` of the
topic under the new rules, the two runs' adjustments add up to what the dry
run listed, and the ledger, which books the adjustment awards, agrees with
the boards (`carrot-ledger reconcile`).
"""
import json
import re
import signal
import subprocess
import sys
import tempfile

from carrot_it import ENV, Run, free_port, wait_for

run = Run("test_backfill_stop", sys.argv[1])
REDIS = (ENV.get("CARROT_REDIS_HOST", ""), ENV.get("CARROT_REDIS_PORT", ""))


def redis(*args):
    return subprocess.run(["redis-cli", "-h", REDIS[0], "-p", REDIS[1], *args], env=ENV,
                          check=True, capture_output=True, text=True).stdout.strip()


def rules_tool(*args, **kw):
    return subprocess.run([str(run.bin / "carrot-rules"), *args, "--brokers", ENV["CARROT_BROKERS"],
                           "--redis-host", REDIS[0], "--redis-port", REDIS[1]],
                          env=ENV, capture_output=True, text=True, **kw)


def main():
    run.topics()
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True,
                   capture_output=True)
    run.scorer(*REDIS, free_port())
    run.start("ledger", ["carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"],
                         "--topic", run.awards, "--dlq-topic", run.awards_dlq,
                         "--group", run.ledger_group, "--instance", "l1",
                         "--pg-dsn", ENV["CARROT_PG_DSN"], "--drift-interval", "0"])
    run.ingest(run.feed(10000, 31, 100))

    def drained():
        rc, board, ledger, flight, _ = run.reconcile(*REDIS)
        return rc == 0 and board and flight == 0 and board == ledger and board
    wait_for("the first scoring to be booked", drained, 180, 1)

    tmp = tempfile.mkdtemp()
    v2 = pathlib_path = f"{tmp}/v2.yaml"
    text = run.rules(tmp).read_text()
    text = re.sub(r'(?m)^version: .*$', 'version: "backfill-x2"', text, count=1)
    text = re.sub(r"(?m)^(\s*points: )(\d+)", lambda m: f"{m[1]}{int(m[2]) * 2}", text)
    with open(pathlib_path, "w") as f:
        f.write(text)
    common = ["--topic", run.topic, "--awards-topic", run.awards, "--from", "2000-01-01T00:00:00Z"]

    dry = rules_tool("backfill", v2, "--id", "x2", *common, "--dry-run")
    m = re.search(r"(\d+) with differences", dry.stdout)
    if dry.returncode != 0 or not m or int(m[1]) < 100:
        raise RuntimeError(f"dry run: exit {dry.returncode}: {dry.stdout[-400:]} {dry.stderr[-400:]}")
    differ = int(m[1])

    # SIGTERM once the first chunk is in Redis (its watermark appears)
    p = subprocess.Popen([str(run.bin / "carrot-rules"), "backfill", v2, "--id", "x2", *common,
                          "--brokers", ENV["CARROT_BROKERS"], "--redis-host", REDIS[0],
                          "--redis-port", REDIS[1]],
                         env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wm = f"carrot:{{{run.program}}}:wm:backfill:x2"
    wait_for("the back-fill's first chunk", lambda: redis("GET", wm) or p.poll() is not None,
             120, 0.02)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    first = re.search(r"backfill x2: (\d+) adjustment awards, ([-+]\d+) points booked"
                      r" before a signal stopped it", out)
    if p.returncode != 3 or not first or not 0 < int(first[1]):
        raise RuntimeError(f"the stopped back-fill exited {p.returncode}: {out} {err[-400:]}")
    run.say(f"SIGTERM after the first chunk: exit 3, {first[0]!r}")

    again = rules_tool("backfill", v2, "--id", "x2", *common)
    rest = re.search(r"backfill x2: (\d+) adjustment awards, ([-+]\d+) points booked\n",
                     again.stdout)
    if again.returncode != 0 or not rest or int(rest[1]) == 0:
        raise RuntimeError(f"the rerun exited {again.returncode}: {again.stdout} "
                           f"{again.stderr[-400:]}")
    run.say(f"run again: {rest[0].strip()!r}")
    if int(first[1]) + int(rest[1]) < differ:
        run.fail(f"{first[1]} + {rest[1]} adjustment awards, but the dry run listed {differ} "
                 "activities with differences")
    last = rules_tool("backfill", v2, "--id", "x2", *common, "--dry-run")
    if "0 with differences" not in last.stdout:
        run.fail(f"after both runs, differences remain: {last.stdout[-400:]}")

    # every participant as a simulation of the topic under v2 says
    sim = rules_tool("simulate", v2, "--topic", run.topic, "--from", "2000-01-01T00:00:00Z",
                     "--format", "json")
    want = {p["participant_id"]: p["points"] for p in json.loads(sim.stdout)["participants"]}
    got = redis("ZRANGE", f"carrot:{{{run.program}}}:lb:ptd:all", "0", "-1", "WITHSCORES").split()
    got = {got[i]: int(got[i + 1]) for i in range(0, len(got), 2)}
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k, 0) != v}
    if wrong or not want:
        run.fail(f"boards against the simulation (board, simulated): {dict(list(wrong.items())[:10])}")
    else:
        run.say(f"{len(want)} participants equal the simulation under the new rules")
    wait_for("the ledger to book the adjustments", drained, 120, 1)
    run.say("the ledger agrees with the boards")


run.finish(main)
