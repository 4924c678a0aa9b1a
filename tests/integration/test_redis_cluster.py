#!/usr/bin/env python3
"""test_redis_cluster.py BUILD_DIR: Carrot on a real Redis Cluster, a master killed.

deploy/redis-cluster.sh runs three masters with a replica each on loopback. Three
programs whose hash tags fall on three different masters are scored by three
scorers (each pointed at a node that does not serve its program: the slot map
routes it) while their feeds arrive; then the master serving the first program is
killed with SIGKILL, its replica is promoted, and the rest of the feeds arrive.
Afterwards, for every program: the boards (read through carrot-leaderboard, which
routes too) equal carrot-rules simulate's recount of the feed lines, the ledger
equals the boards participant by participant (carrot-ledger reconcile), no award
was booked twice, and carrot-directory's names are on the failed-over master.
"""
import json
import subprocess
import sys
import time

from carrot_it import ENV, ROOT, Run, free_port, metrics, sample, wait_for

run = Run("test_redis_cluster", sys.argv[1])
BASE = int(ENV.get("CARROT_REDIS_CLUSTER_PORT", "17000"))


def cluster(*args, check=True):
    return subprocess.run(["bash", str(ROOT / "deploy/redis-cluster.sh"), *args], env=ENV,
                          check=check, capture_output=True, text=True).stdout.strip()


def master_of(program):
    """The port of the master serving program's slot (None while no master does: a failover)."""
    out = cluster("master-of", f"{{{program}}}", check=False)
    return int(out) if out.isdigit() else None


def carrot(*args, timeout=300):
    r = subprocess.run([str(run.bin / args[0]), *args[1:]], env=ENV, capture_output=True,
                       text=True, cwd=ROOT, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def main():
    cluster("start")
    run.topics(partitions=6)
    # three programs on three masters
    programs, masters = [], set()
    for i in range(200):
        p = f"{run.tag}-{i}"
        m = master_of(p)
        if m not in masters:
            programs.append(p)
            masters.add(m)
        if len(programs) == 3:
            break
    assert len(programs) == 3, "could not find programs on three masters"
    ports = [BASE + k for k in range(3)]  # the masters as created; a scorer asks another one
    feeds, rules = {}, {}
    for k, p in enumerate(programs):
        run.program = p
        rules[p] = run.rules(run.build).rename(run.build / f"{p}-rules.yaml")
        feeds[p] = run.feed(3000, 100 + k, participants=100).splitlines()
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True, cwd=ROOT,
                   capture_output=True)
    run.say(f"programs {programs} on masters {[master_of(p) for p in programs]}")

    mport = free_port()

    def start_scorer(k, p):
        other = next(q for q in ports if q != master_of(p))
        more = ["--metrics-port", str(mport)] if k == 0 else []
        return run.start(f"scorer{k}", [
            "carrot-scorer", "--brokers", ENV["CARROT_BROKERS"], "--redis-port", str(other),
            "--topic", run.topic, "--awards-topic", run.awards, "--dlq-topic", run.dlq,
            "--group", f"{run.tag}.scorer{k}", "--instance", f"s{k}", "--rules", str(rules[p]),
            "--rules-topic", "", "--batch-ms", "20", *more])

    for k, p in enumerate(programs):
        start_scorer(k, p)
    run.start("ledger", ["carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"], "--topic",
                         run.awards, "--dlq-topic", run.awards_dlq, "--group", run.ledger_group,
                         "--drift-interval", "0"])
    for p in programs:
        run.program = p
        run.ingest("\n".join(feeds[p][:1500]) + "\n")
    time.sleep(1)
    # the rest arrives while the master of the first program is killed
    run.program = programs[0]
    late = run.ingest("\n".join(feeds[programs[0]][1500:]) + "\n", wait=False)
    time.sleep(0.3)
    victim = master_of(programs[0])
    replica = int(cluster("replica-of", str(victim)))
    cluster("kill", str(victim))
    t0 = time.monotonic()
    wait_for("the replica's promotion", lambda: master_of(programs[0]) == replica, timeout=60)
    cluster("wait")
    run.say(f"killed the master on {victim} (SIGKILL) while its program's feed arrived: its "
            f"replica on {replica} took over in {time.monotonic() - t0:.1f} s")
    if late.wait(120) != 0:
        run.fail(f"carrot-ingest exited {late.returncode}")
    for p in programs[1:]:
        run.program = p
        run.ingest("\n".join(feeds[p][1500:]) + "\n")
    # the scorers catch up through the failover; then each is drained once more
    time.sleep(3)
    errors = sample(metrics(mport), "carrot_scorer_redis_errors_total")
    if not errors:
        run.fail(f"the first program's scorer met no Redis error ({errors}): the kill missed it")
    else:
        run.say(f"its scorer met the failover ({errors:.0f} Redis calls failed and were retried)")
    for k in range(3):
        run.stop(f"scorer{k}")
    for k, p in enumerate(programs):
        other = next(q for q in ports if q not in (master_of(p), victim))
        rc, out, err = carrot("carrot-scorer", "--brokers", ENV["CARROT_BROKERS"], "--redis-port",
                              str(other), "--topic", run.topic, "--awards-topic", run.awards,
                              "--dlq-topic", run.dlq, "--group", f"{run.tag}.scorer{k}",
                              "--instance", f"s{k}", "--rules", str(rules[p]), "--rules-topic", "",
                              "--until-drained")
        if rc != 0:
            run.fail(f"the drained scorer of {p} exited {rc}: {err[-400:]}")
    run.stop("ledger")
    rc, out, err = carrot("carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"], "--topic",
                          run.awards, "--dlq-topic", run.awards_dlq, "--group", run.ledger_group,
                          "--drift-interval", "0", "--until-drained")
    if rc != 0 or json.loads(out.strip().splitlines()[-1])["already_booked"] != 0:
        run.fail(f"the ledger's last run: exit {rc}, {out.strip()[-200:]} (an award booked twice?)")

    for k, p in enumerate(programs):
        path = run.build / f"{p}.feed"
        path.write_text("\n".join(feeds[p]) + "\n")
        rc, out, err = carrot("carrot-rules", "simulate", str(rules[p]), "--input", str(path),
                              "--format", "json")
        want = {x["participant_id"]: x["points"] for x in json.loads(out)["participants"]} \
            if rc == 0 else None
        alive = [q for q in range(BASE, BASE + 6) if q != victim]
        rc2, board, err2 = carrot("carrot-leaderboard", "--program", p, "--redis-port",
                                  str(alive[k % len(alive)]), "--top", "1000", "--format", "json")
        have = {e["participant_id"]: e["points"] for e in json.loads(board)["entries"]} \
            if rc2 == 0 else None
        want = {w: v for w, v in (want or {}).items() if v}
        have = {w: v for w, v in (have or {}).items() if v}
        if not want or have != want:
            run.fail(f"{p}: the board ({sum(have.values())} points) is not the recount "
                     f"({sum(want.values())}): {err[-200:]}{err2[-200:]}")
        rcr, out, err = carrot("carrot-ledger", "reconcile", "--program", p, "--brokers",
                               ENV["CARROT_BROKERS"], "--topic", run.awards, "--group",
                               run.ledger_group, "--activities-topic", run.topic, "--scorer-group",
                               f"{run.tag}.scorer{k}", "--redis-port", str(replica))
        if rcr != 0:
            run.fail(f"{p}: reconcile exit {rcr}: {out[-300:]}{err[-300:]}")
        else:
            run.say(f"{p} (master {master_of(p)}): board = recount = ledger, "
                    f"{sum(want.values())} points, {len(want)} participants")

    # the directory on the promoted master
    p = programs[0]
    people = subprocess.run([str(run.bin / "carrot-loadgen"), "--participants-feed",
                             "--participants", "5", "--program", p], env=ENV, check=True,
                            capture_output=True, text=True).stdout
    parts = f"{run.tag}.participants"
    run.create_topics(f"{parts}:1:compact")
    subprocess.run([str(run.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"], "--format",
                    "participants", "--participants-topic", parts, "--participants-dlq-topic",
                    run.dlq, "--program", p], input=people, env=ENV, check=True,
                   capture_output=True, text=True)
    rc, out, err = carrot("carrot-directory", "--brokers", ENV["CARROT_BROKERS"], "--topic", parts,
                          "--dlq-topic", run.dlq, "--group", f"{run.tag}.dir", "--redis-port",
                          str(next(q for q in range(BASE, BASE + 6) if q not in (victim, replica))),
                          "--until-drained")
    name = json.loads(people.splitlines()[0])["display_name"]
    got = subprocess.run(["redis-cli", "-c", "-p", str(replica), "HGET",
                          f"carrot:{{{p}}}:who:p0000", "display_name"], capture_output=True,
                         text=True).stdout.strip()
    if rc != 0 or got != name:
        run.fail(f"carrot-directory on the cluster: exit {rc}, p0000 is {got!r}, not {name!r}")
    else:
        run.say(f"carrot-directory wrote the names of {p} through another node: p0000 is {got}")
    cluster("start")  # the killed node back, as the promoted master's replica


run.finish(main)
