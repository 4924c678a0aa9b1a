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
Needs the environment of deploy/env.sh (tests/run.sh and ctest provide it).
"""
import json
import os
import pathlib
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(sys.argv[1]).resolve()
BIN = BUILD / "bin"
ENV = dict(os.environ)
TAG = f"rc-{os.getpid()}-{int(time.time()) % 100000}"
PROGRAM = TAG
TOPIC, AWARDS = f"{TAG}.activities", f"{TAG}.awards"
DLQ, AWARDS_DLQ = f"{TAG}.activities.dlq", f"{TAG}.awards.dlq"
SCORER_GROUP, LEDGER_GROUP = f"{TAG}.scorer", f"{TAG}.ledger"
WRAP = shlex.split(os.environ.get("CARROT_IT_WRAPPER", ""))
LOAD = 3000 if WRAP else 20000
procs = {}
failures = []


def say(msg):
    print(f"test_reconcile: {msg}", flush=True)


def fail(msg):
    failures.append(msg)
    say(f"FAIL: {msg}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=120, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return r.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return ""


def sample(text, name, labels=""):
    """The value of one series (labels: the exact label text), or None."""
    want = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def kafka(*args):
    subprocess.run(["bash", str(ROOT / "deploy/kafka.sh"), *args], env=ENV, check=True,
                   capture_output=True, text=True)


def redis(*args):
    return subprocess.run(["redis-cli", "-h", ENV["CARROT_REDIS_HOST"], "-p",
                           ENV["CARROT_REDIS_PORT"], *args], env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def psql(sql):
    return subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "psql", "-tAc", sql], env=ENV,
                          check=True, capture_output=True, text=True).stdout.strip()


COMMON = ["--brokers", ENV.get("CARROT_BROKERS", ""), "--topic", AWARDS, "--group", LEDGER_GROUP,
          "--activities-topic", TOPIC, "--scorer-group", SCORER_GROUP,
          "--redis-host", ENV.get("CARROT_REDIS_HOST", ""),
          "--redis-port", ENV.get("CARROT_REDIS_PORT", "")]


def start(name, args, wrap=()):
    log = open(BUILD / f"{TAG}-{name}.log", "w")
    procs[name] = (subprocess.Popen([*wrap, str(BIN / args[0])] + args[1:], stdout=log,
                                    stderr=subprocess.STDOUT, env=ENV, cwd=ROOT), log)


def stop(name):
    p, log = procs.pop(name)
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        fail(f"{name} did not stop within 60 s of SIGTERM")
    log.close()
    if rc != 0:
        fail(f"{name} exited {rc} on SIGTERM (log: {log.name})")
    elif not failures:
        os.unlink(log.name)


SUMMARY = re.compile(rf"^{re.escape(PROGRAM)}: (\d+) participants; board (-?\d+), "
                     r"ledger (-?\d+) \+ in flight (-?\d+): (.*)$", re.M)


def reconcile():
    """(exit code, board, ledger, in flight, output) of carrot-ledger reconcile."""
    r = subprocess.run([*WRAP, str(BIN / "carrot-ledger"), "reconcile", "--program", PROGRAM, *COMMON,
                        "--pg-dsn", ENV["CARROT_PG_DSN"]],
                       env=ENV, capture_output=True, text=True, cwd=ROOT)
    m = SUMMARY.search(r.stdout)
    if not m:
        return r.returncode, None, None, None, r.stdout + r.stderr
    return r.returncode, int(m[2]), int(m[3]), int(m[4]), r.stdout


def ingest(count, seed):
    feed = subprocess.run([str(BIN / "carrot-loadgen"), "--seed", str(seed), "--count",
                           str(count), "--participants", "200", "--program", PROGRAM],
                          env=ENV, check=True, capture_output=True, text=True).stdout
    return subprocess.Popen([str(BIN / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"],
                             "--topic", TOPIC, "--dlq-topic", DLQ, "--program", PROGRAM],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=ENV, text=True), feed


def main():
    for t in (TOPIC, AWARDS, DLQ, AWARDS_DLQ):
        kafka("topic", t, "3")
    rules = pathlib.Path(tempfile.mkdtemp()) / "rules.yaml"
    text = (ROOT / "deploy/demo/rules.yaml").read_text()
    rules.write_text(re.sub(r"(?m)^program:.*$", f"program: {PROGRAM}", text, count=1))
    subprocess.run([str(BIN / "carrot-ledger"), "migrate"], env=ENV, check=True, cwd=ROOT,
                   capture_output=True)
    scorer_m, ledger_m = free_port(), free_port()
    start("scorer", ["carrot-scorer", "--brokers", ENV["CARROT_BROKERS"],
                     "--redis-host", ENV["CARROT_REDIS_HOST"], "--redis-port",
                     ENV["CARROT_REDIS_PORT"], "--topic", TOPIC, "--awards-topic", AWARDS,
                     "--dlq-topic", DLQ, "--group", SCORER_GROUP, "--instance", "s1",
                     "--rules", str(rules), "--rules-topic", "", "--metrics-port", str(scorer_m)])
    start("ledger", ["carrot-ledger", "run", *COMMON, "--dlq-topic", AWARDS_DLQ, "--instance", "l1",
                     "--pg-dsn", ENV["CARROT_PG_DSN"], "--metrics-port", str(ledger_m),
                     "--drift-interval", "1"], WRAP)

    # 1. under load: every check agrees, and some see awards in flight
    ing, feed = ingest(LOAD, 11)
    ing.stdin.write(feed)
    ing.stdin.close()
    checks = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rc, board, ledger, flight, out = reconcile()
        checks.append((rc, board, ledger, flight))
        if rc != 0:
            fail(f"reconcile under load exited {rc}: {out.strip()[-800:]}")
            break
        s = metrics(scorer_m)
        lag = sum(float(x) for x in re.findall(r"^carrot_consumer_lag_messages\S* (\S+)$", s, re.M))
        if ing.poll() is not None and board and flight == 0 and lag == 0 and board == ledger:
            break  # drained
    if ing.wait(60) != 0:
        fail(f"carrot-ingest exited {ing.returncode}: {ing.stderr.read()[-500:]}")
    final = checks[-1][1] or 0
    moving = [c for c in checks if c[0] == 0 and (c[3] or (c[1] or 0) < final)]
    say(f"{len(checks)} checks under load, all agreeing: {len(moving)} of them mid-flight "
        f"(e.g. board, ledger, in flight = {moving[0][1:] if moving else None})")
    if not moving:
        fail(f"the pipeline was not caught moving: {checks}")

    # 2. drained: the totals of PostgreSQL and the gauge agree
    booked = int(psql(f"SELECT coalesce(sum(points), 0) FROM awards WHERE program_id = '{PROGRAM}'"))
    if booked != final or final <= 0:
        fail(f"board total {final}, ledger total in PostgreSQL {booked}")
    label = f'program="{PROGRAM}"'

    def gauge(want):
        m = metrics(ledger_m)
        v = sample(m, "carrot_ledger_drift_points", label)
        return v == want and (sample(m, "carrot_ledger_drift_checks_total", 'result="ok"') or 0) > 0
    wait_for("carrot_ledger_drift_points 0", lambda: gauge(0), 60)

    # 3. a board that lost 7 points is found
    who = redis("ZRANGE", f"carrot:{{{PROGRAM}}}:lb:ptd:all", "0", "0")
    redis("ZINCRBY", f"carrot:{{{PROGRAM}}}:lb:ptd:all", "-7", who)
    rc, board, ledger, flight, out = reconcile()
    row = re.search(rf"^{re.escape(PROGRAM)}\s+{re.escape(who)}\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+"
                    r"([-+]\d+)$", out, re.M)
    if rc != 3 or not row or row[4] != "-7" or board != ledger - 7:
        fail(f"7 points off {who}'s board: reconcile exited {rc}: {out.strip()}")
    else:
        say(f"7 points off {who}'s board: exit 3, row {row[0]!r}")
    try:
        wait_for("carrot_ledger_drift_points 7", lambda: gauge(7), 30)
        say("carrot_ledger_drift_points shows 7")
    except TimeoutError:
        fail(f"the gauge did not show 7: {sample(metrics(ledger_m), 'carrot_ledger_drift_points', label)}")
    redis("ZINCRBY", f"carrot:{{{PROGRAM}}}:lb:ptd:all", "7", who)
    if reconcile()[0] != 0:
        fail("the board put back, reconcile still finds drift")
    wait_for("carrot_ledger_drift_points 0 again", lambda: gauge(0), 30)

    # 4. ledger stopped: the scorer's awards are in flight, and still agree
    stop("ledger")
    ing, feed = ingest(500, 12)
    ing.communicate(feed, timeout=120)

    def scored():
        rc, board, ledger, flight, out = reconcile()
        return flight and (rc, board, ledger, flight, out)
    try:
        rc, board, ledger, flight, out = wait_for("awards in flight", scored, 120, 1)
        if rc != 0 or board != ledger + flight:
            fail(f"with the ledger stopped: {out.strip()}")
        else:
            say(f"ledger stopped: board {board} = ledger {ledger} + in flight {flight}")
    except TimeoutError:
        fail("no award came in flight with the ledger stopped")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a timeout or a failed command: the test's failure
        fail(f"{type(e).__name__}: {e}")
    finally:
        for name in list(procs):
            stop(name)
    say("passed" if not failures else f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
