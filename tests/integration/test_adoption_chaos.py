#!/usr/bin/env python3
"""test_adoption_chaos.py BUILD_DIR: the facts consumer killed, PostgreSQL restarted.

The four-week feed of test_adoption.py is ingested in chunks while carrot-report
run folds it in small batches and is killed with SIGKILL at random moments,
again and again, and restarted; PostgreSQL is stopped and started under it
once. Afterwards the facts equal the independent count of the feed lines row by
row, the refusals equal the feed's bad lines, and a week report equals the
count: no kill and no restart changed a figure.
"""
import datetime
import json
import random
import signal
import subprocess
import sys
import time

import adoption_feed as af
from carrot_it import ENV, ROOT, Run, psql, shift_ms

run = Run("test_adoption_chaos", sys.argv[1])
P = run.program
PARTS, RULES_TOPIC = f"{run.tag}.participants", f"{run.tag}.rules"  # af.prepare() makes them
NOW = int(datetime.datetime.now().timestamp() * 1000) + shift_ms()
ARGS = ["carrot-report", "run", "--brokers", ENV["CARROT_BROKERS"], "--pg-dsn",
        ENV["CARROT_PG_DSN"], "--group", f"{run.tag}.report", "--instance", "r1",
        "--activities-topic", run.topic, "--awards-topic", run.awards, "--participants-topic",
        PARTS, "--dlq-topic", run.dlq, "--rules-topic", RULES_TOPIC, "--batch-size", "60",
        "--batch-ms", "20"]


def main():
    rng = random.Random(7)
    _, _, _, first, lines, directory = af.prepare(run, NOW)
    chunks = [lines[i:i + 500] for i in range(0, len(lines), 500)]
    kills, restarted = 0, False
    for i, chunk in enumerate(chunks):
        run.ingest("\n".join(chunk) + "\n")
        run.start("report", ARGS)
        if i == 3 and not restarted:  # PostgreSQL goes away under the consumer
            time.sleep(rng.uniform(0.1, 0.4))
            subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "stop"], env=ENV,
                           capture_output=True)
            time.sleep(1)
            subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "start"], env=ENV,
                           check=True, capture_output=True)
            restarted = True
            time.sleep(0.5)
        for _ in range(2):
            time.sleep(rng.uniform(0.05, 0.6))
            p, log = run.procs.pop("report")
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
            log.close()
            run.start("report", ARGS)
        p, log = run.procs.pop("report")
        p.send_signal(signal.SIGKILL)
        p.wait()
        log.close()
    run.say(f"{len(lines)} lines ingested in {len(chunks)} chunks; carrot-report run killed "
            f"with SIGKILL {kills} times mid-run, PostgreSQL restarted under it once")
    r = subprocess.run([str(run.bin / ARGS[0]), *ARGS[1:], "--until-drained"], env=ENV,
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"the last carrot-report run exited {r.returncode}: {r.stderr[-600:]}")
    facts, refused = af.count(lines)
    have = {}
    for row in psql(f"SELECT participant_id, day, activity_type, logged, q_judged, complete, "
                    f"t_judged, on_time, deleted FROM adoption_facts "
                    f"WHERE program_id = '{P}'").splitlines():
        p, d, t, *n = row.split("|")
        if any(int(x) for x in n):
            have[(p, datetime.date.fromisoformat(d), t)] = [int(x) for x in n]
    want = {k: f[:6] for k, f in facts.items()}
    if have != want:
        diff = [k for k in set(want) | set(have) if want.get(k) != have.get(k)][:5]
        run.fail(f"after the kills the facts differ from the count, e.g. "
                 f"{[(k, have.get(k), want.get(k)) for k in diff]}")
    else:
        run.say(f"the facts equal the count row by row ({len(want)} rows, "
                f"{sum(f[0] for f in want.values())} activities)")
    got = int(psql(f"SELECT coalesce(sum(refused), 0) FROM adoption_refusals "
                   f"WHERE program_id = '{P}' AND source = 'stdin'"))
    if got != refused:
        run.fail(f"{got} refusals kept, the feed has {refused} bad lines")
    today = datetime.date.fromisoformat(psql("SELECT (now() AT TIME ZONE 'UTC')::date"))
    last_day = af.day_of(first) + datetime.timedelta(days=27)
    rep = subprocess.run([str(run.bin / "carrot-report"), "adoption", "--program", P, "--pg-dsn",
                          ENV["CARROT_PG_DSN"], "--format", "json", "--period", "week",
                          "--periods", "5", "--at", last_day.isoformat()],
                         env=ENV, capture_output=True, text=True, check=True)
    n = af.compare(run, "week", json.loads(rep.stdout), facts, af.directory(directory, today),
                   "week", last_day, 5)
    run.say(f"{refused} refusals kept once; {n} figures of the weekly report equal the count")


run.finish(main)
