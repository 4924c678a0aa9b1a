#!/usr/bin/env python3
"""test_commitments_chaos.py BUILD_DIR: a period's close killed and restarted.

1,200 participants, two weekly commitments with a consequence for everyone
(a bonus when met, a penalty when missed): 2,400 settlements and 2,400
awards in twelve chunks. carrot-commit close is killed with SIGKILL at
random moments, again and again, and PostgreSQL is restarted under one run;
then it runs to the end. Each settlement exists exactly once, every one is
booked, the awards topic gives the ledger each consequence once (their count
and sum as the settlements say), `carrot-ledger verify` passes, and the
boards agree with the ledger (`carrot-ledger reconcile`).
"""
import datetime
import json
import random
import re
import signal
import subprocess
import sys
import time

from carrot_it import ENV, ROOT, Run, psql

run = Run("test_commitments_chaos", sys.argv[1])
P = run.program
PARTS, PARTS_DLQ = f"{run.tag}.participants", f"{run.tag}.participants.dlq"
REDIS = (ENV["CARROT_REDIS_HOST"], ENV["CARROT_REDIS_PORT"])
PEOPLE = 1200
COMMITMENTS = """
commitments:
  - {id: weekly-calls, period: week, metric: {count: call}, target: 1, bonus: 10, penalty: -3}
  - {id: weekly-notes, period: week, metric: {count: note}, target: 1, bonus: 4, penalty: -1}
"""


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def main():
    run.topics()
    run.create_topics(f"{PARTS}:3", f"{PARTS_DLQ}:3")
    rules = run.rules(run.build)
    # the demo's commitments give way to this test's
    demo = re.sub(r"(?ms)^commitments:.*?(?=^\S)", "", rules.read_text())
    rules.write_text(demo + COMMITMENTS)
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True, cwd=ROOT,
                   capture_output=True)
    now = int(time.time() * 1000)
    shift = ENV.get("CARROT_TEST_CLOCK_SHIFT", "")
    if shift:  # "+60d": the programs' clock is ahead, and so must the feed be
        now += int(shift[1:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[shift[-1]] * 1000
    people = [f"u{i:05d}" for i in range(PEOPLE)]
    directory = "".join(json.dumps({
        "participant_id": p, "program_id": P, "segment": "dealer", "team_id": "t1",
        "supervisor_id": "boss", "updated_at": iso(now - 86400000)}) + "\n" for p in people)
    directory += json.dumps({"participant_id": "boss", "program_id": P, "segment": "dealer",
                             "updated_at": iso(now - 86400000)}) + "\n"
    subprocess.run([str(run.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"], "--format",
                    "participants", "--participants-topic", PARTS, "--participants-dlq-topic",
                    PARTS_DLQ, "--program", P], input=directory, env=ENV, check=True,
                   capture_output=True, text=True)
    subprocess.run([str(run.bin / "carrot-directory"), "--brokers", ENV["CARROT_BROKERS"],
                    "--topic", PARTS, "--dlq-topic", PARTS_DLQ, "--group", f"{run.tag}.dir",
                    "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--until-drained"],
                   env=ENV, check=True, capture_output=True, timeout=300)
    # last week: two in five log a call, one in three a note
    at = now - 7 * 86400000
    rng = random.Random(5)
    feed = []
    for i, p in enumerate(people):
        for typ, share in (("call", 0.4), ("note", 0.33)):
            if rng.random() < share:
                feed.append(json.dumps({
                    "event_id": f"{typ}-{i}", "program_id": P, "source_system": "crm",
                    "source_record_id": f"{typ}-{i}", "change_type": "CREATE",
                    "activity_type": typ, "occurred_at": iso(at), "recorded_at": iso(at + 60000),
                    "participant_id": p, "segment": "dealer", "team_id": "t1"}))
    run.ingest("\n".join(feed) + "\n")
    subprocess.run([str(run.bin / "carrot-scorer"), "--brokers", ENV["CARROT_BROKERS"],
                    "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--topic", run.topic,
                    "--awards-topic", run.awards, "--dlq-topic", run.dlq, "--group",
                    run.scorer_group, "--rules", str(rules), "--rules-topic", "",
                    "--until-drained"], env=ENV, check=True, capture_output=True, timeout=300)
    close = [str(run.bin / "carrot-commit"), "close", "--program", P, "--rules", str(rules),
             "--period", "last", "--redis-host", REDIS[0], "--redis-port", REDIS[1],
             "--brokers", ENV["CARROT_BROKERS"], "--awards-topic", run.awards,
             "--grace-hours", "0"]
    kills, restarted, pg_failures = 0, False, 0
    for attempt in range(30):
        p = subprocess.Popen(close, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT)
        if attempt == 3 and not restarted:  # PostgreSQL goes away under a run
            time.sleep(0.3)
            subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "stop"], env=ENV,
                           capture_output=True)
            time.sleep(1)
            subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "start"], env=ENV,
                           check=True, capture_output=True)
            restarted = True
        elif attempt < 10:
            time.sleep(rng.uniform(0.05, 1.2))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
        out, err = p.communicate(timeout=300)
        if p.returncode == 0 and attempt >= 10:
            run.say(f"the close ran to its end after {kills} SIGKILLs and a PostgreSQL "
                    f"restart: {out.strip()}")
            break
        if p.returncode not in (0, -9):
            pg_failures += 1  # PostgreSQL away: a clear error and exit 1, never a crash
            if p.returncode != 1:
                run.fail(f"close exited {p.returncode}: {err[-400:]}")
    else:
        run.fail("the close never ran to its end")
    if kills < 5 or not restarted:
        run.fail(f"only {kills} SIGKILLs landed (restarted: {restarted}): the test proves little")

    rows = psql(f"SELECT commitment_id, count(*), count(DISTINCT participant_id), "
                f"count(booked_at), sum(bonus + penalty) FROM commitment_settlements WHERE "
                f"program_id = '{P}' GROUP BY 1 ORDER BY 1").splitlines()
    want_points = 0
    for r in rows:
        c, n, distinct, booked, pts = r.split("|")
        want_points += int(pts)
        if int(n) != PEOPLE + 1 or int(distinct) != int(n) or int(booked) != int(n):
            run.fail(f"{c}: {n} settlements of {distinct} people, {booked} booked; want "
                     f"{PEOPLE + 1} once each, all booked")
    if len(rows) != 2:
        run.fail(f"settlements of {len(rows)} commitments, want 2: {rows}")
    subprocess.run([str(run.bin / "carrot-ledger"), "run", "--brokers", ENV["CARROT_BROKERS"],
                    "--topic", run.awards, "--dlq-topic", run.awards_dlq, "--group",
                    run.ledger_group, "--until-drained"], env=ENV, check=True,
                   capture_output=True, timeout=300)
    n, pts, distinct = psql(f"SELECT count(*), coalesce(sum(points), 0), count(DISTINCT "
                            f"award_id) FROM awards WHERE program_id = '{P}' AND rule_id LIKE "
                            f"'commit.%'").split("|")
    if int(n) != 2 * (PEOPLE + 1) or int(distinct) != int(n) or int(pts) != want_points:
        run.fail(f"ledger: {n} consequence awards ({distinct} ids), {pts} points; want "
                 f"{2 * (PEOPLE + 1)} and {want_points}")
    else:
        run.say(f"the ledger booked {n} consequence awards once each, {pts} points")
    v = subprocess.run([str(run.bin / "carrot-ledger"), "verify", "--program", P], env=ENV,
                       capture_output=True, text=True)
    if v.returncode != 0:
        run.fail(f"carrot-ledger verify: {v.stdout[-300:]}{v.stderr[-300:]}")
    rc, board, ledger, flight, out = run.reconcile(*REDIS)
    if rc != 0:
        run.fail(f"boards and ledger differ after the chaos: {out[-400:]}")
    else:
        run.say(f"boards and ledger agree ({board} points); verify passes")
    if pg_failures:
        run.say(f"{pg_failures} runs met PostgreSQL away and exited 1")


run.finish(main)
