#!/usr/bin/env python3
"""test_adoption.py BUILD_DIR: adoption analytics on real Kafka, Redis and PostgreSQL.

A directory of 60 participants (three segments, new and seasoned) and a feed
of the four weeks before the current one (loadgen with deletes, duplicates,
late, incomplete and bad lines, and hand-made edge cases: a DELETE before its
CREATE, an UNDELETE, a DELETE naming no participant, a CREATE with none, an
UPDATE) go through carrot-ingest, carrot-scorer and carrot-ledger; then
carrot-report run folds the topics into the adoption facts. Then:
  - the facts equal an independent count made here from the feed lines alone,
    row by row (participant, day, type: logged, complete, on time, deleted),
    and their points equal the ledger's awards of each day;
  - every figure of the adoption report (per week, month, day and quarter; for
    all, each segment, and a band) equals what the count says;
  - the dead letters of the feed are in the report's refusals, with reasons;
  - a replay by a second consumer group moves no figure;
  - bad requests (an unknown segment, band, team, period or program, a bad
    day) exit 3 with a clear message, and a period with no data is a report of
    zeros; --format csv and text carry the same figures.
"""
import datetime
import json
import re
import subprocess
import sys

import adoption_feed as af
from carrot_it import ENV, ROOT, Run, WRAP, psql, shift_ms

run = Run("test_adoption", sys.argv[1])
P = run.program
PARTS, RULES_TOPIC = f"{run.tag}.participants", f"{run.tag}.rules"  # af.prepare() makes them
REDIS = (ENV["CARROT_REDIS_HOST"], ENV["CARROT_REDIS_PORT"])


NOW = int(datetime.datetime.now().timestamp() * 1000) + shift_ms()


def report_run(group, *more):
    r = subprocess.run([*WRAP, str(run.bin / "carrot-report"), "run", "--brokers",
                        ENV["CARROT_BROKERS"], "--pg-dsn", ENV["CARROT_PG_DSN"], "--group", group,
                        "--activities-topic", run.topic, "--awards-topic", run.awards,
                        "--participants-topic", PARTS, "--dlq-topic", run.dlq, "--rules-topic",
                        RULES_TOPIC, "--until-drained", "--batch-size", "700", *more],
                       env=ENV, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"carrot-report run exited {r.returncode}: {r.stderr[-800:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def report(*args, fmt="json", code=0):
    r = subprocess.run([*WRAP, str(run.bin / "carrot-report"), "adoption", "--program", P,
                        "--pg-dsn", ENV["CARROT_PG_DSN"], "--format", fmt, *args],
                       env=ENV, capture_output=True, text=True, cwd=ROOT, timeout=300)
    if r.returncode != code:
        raise RuntimeError(f"carrot-report adoption {' '.join(args)}: exit {r.returncode}, "
                           f"not {code}: {r.stderr[-600:]}")
    if code != 0:
        return r.stderr
    return json.loads(r.stdout) if fmt == "json" else r.stdout


def facts_table():
    out = {}
    for row in psql(f"SELECT participant_id, day, activity_type, logged, q_judged, complete, "
                    f"t_judged, on_time, deleted, points FROM adoption_facts "
                    f"WHERE program_id = '{P}'").splitlines():
        p, d, t, *n = row.split("|")
        out[(p, datetime.date.fromisoformat(d), t)] = [int(x) for x in n]
    return out


def all_reports(last_day):
    """Every report the test compares: (what, args, kind, n, segment, band)."""
    day = last_day.isoformat()
    cases = []
    for seg in (None, "direct", "dealer", "distributor"):
        cases.append(("week" + (f" {seg}" if seg else ""), ["--period", "week", "--periods", "5",
                      "--at", day] + (["--segment", seg] if seg else []), "week", 5, seg, None))
    cases += [("month", ["--period", "month", "--periods", "3", "--at", day], "month", 3, None,
               None),
              ("day", ["--period", "day", "--periods", "28", "--at", day], "day", 28, None, None),
              ("quarter", ["--period", "quarter", "--periods", "2", "--at", day], "quarter", 2,
               None, None),
              ("week, band new", ["--period", "week", "--periods", "5", "--at", day, "--band",
                                  "new"], "week", 5, None, "new"),
              ("month dealer", ["--period", "month", "--periods", "2", "--at", day, "--segment",
                                "dealer"], "month", 2, "dealer", None)]
    return cases


def main():
    rules, _, _, first, lines, directory = af.prepare(run, NOW)
    run.ingest("\n".join(lines) + "\n")
    subprocess.run([*WRAP, str(run.bin / "carrot-scorer"), "--brokers", ENV["CARROT_BROKERS"],
                    "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--topic", run.topic,
                    "--awards-topic", run.awards, "--dlq-topic", run.dlq, "--group",
                    run.scorer_group, "--instance", "s1", "--rules", str(rules), "--rules-topic",
                    "", "--until-drained"], env=ENV, check=True, capture_output=True, timeout=600)
    subprocess.run([*WRAP, str(run.bin / "carrot-ledger"), "run", "--brokers",
                    ENV["CARROT_BROKERS"], "--topic", run.awards, "--dlq-topic", run.awards_dlq,
                    "--group", run.ledger_group, "--drift-interval", "0", "--until-drained"],
                   env=ENV, check=True, capture_output=True, timeout=600)
    stats = report_run(f"{run.tag}.report")
    facts, refused = af.count(lines)
    run.say(f"{len(lines)} feed lines ({refused} refused by ingest), {len(facts)} fact rows by "
            f"the count; carrot-report run: {stats}")

    # 1. the facts, row by row, against the count; points against the ledger
    table = facts_table()
    want = {k: f[:6] for k, f in facts.items()}
    have = {k: v[:6] for k, v in table.items() if any(v[:6])}
    if have != want:
        diff = [k for k in set(want) | set(have) if want.get(k) != have.get(k)][:5]
        run.fail(f"the facts differ from the count on {len(diff)}+ rows, e.g. "
                 f"{[(k, have.get(k), want.get(k)) for k in diff]}")
    else:
        run.say(f"the facts equal the count, row by row ({len(want)} rows, "
                f"{sum(f[0] for f in want.values())} activities, "
                f"{sum(f[5] for f in want.values())} deleted)")
    ledger = {}
    for row in psql(f"SELECT participant_id, (occurred_at AT TIME ZONE 'America/Chicago')::date, "
                    f"activity_type, sum(points) FROM awards WHERE program_id = '{P}' "
                    f"GROUP BY 1, 2, 3").splitlines():
        p, d, t, n = row.split("|")
        if int(n):
            ledger[(p, datetime.date.fromisoformat(d), t)] = int(n)
    points = {k: v[6] for k, v in table.items() if v[6]}
    if points != ledger or not points:
        run.fail(f"the facts' points ({sum(points.values())}) differ from the ledger's awards "
                 f"({sum(ledger.values())}) on {len(set(points.items()) ^ set(ledger.items()))} "
                 "rows")
    else:
        run.say(f"the facts' points equal the ledger's, day by day ({sum(points.values())} "
                "points)")

    # 2. every figure of the report against the count
    today = datetime.date.fromisoformat(psql("SELECT (now() AT TIME ZONE 'UTC')::date"))
    people = af.directory(directory, today)
    last_day = af.day_of(first) + datetime.timedelta(days=27)
    checked, before = 0, {}
    for what, args, kind, n, seg, band in all_reports(last_day):
        doc = report(*args)
        before[what] = doc
        checked += af.compare(run, what, doc, facts, people, kind, last_day, n, seg, band)
    run.say(f"{checked} figures of {len(before)} reports (week, month, day, quarter; every "
            "segment; a band) equal the count")

    # 3. the refusals: the feed's dead letters, with their reasons
    # dated when refused (Kafka's clock; the day in UTC when the bytes name no program)
    this_week = report("--period", "week", "--periods", "2",
                       "--at", psql("SELECT (now() AT TIME ZONE 'UTC')::date"))
    mine = [r for r in this_week["refusals"] if r["program"] == P]
    got = sum(r["refused"] for r in mine if r["stage"] == "ingest" and r["source"] == "stdin")
    reasons = sorted({r["reason"] for r in mine})
    if got != refused:
        run.fail(f"the report counts {got} refused lines, the feed has {refused}")
    elif not any("participant" in r for r in reasons):
        run.fail(f"no refusal names the missing participant: {reasons}")
    else:
        run.say(f"the report's refusals hold the feed's {refused} dead letters: {reasons}")

    # 4. a replay by a second group moves nothing
    again = report_run(f"{run.tag}.replay", "--reread")
    if again["activities"] or again["awards"] or not again["skipped"]:
        run.fail(f"the replay folded something: {again}")
    after = {what: report(*args) for what, args, *_ in all_reports(last_day)}
    if after != before or facts_table() != table:
        run.fail("the reports or the facts moved after a replay by a second group")
    else:
        run.say(f"a second group read every topic again ({again['skipped']} messages skipped): "
                "no figure moved")

    # 5. bad requests, an empty period, the other formats
    for args, needle in ((["--segment", "nope"], 'unknown segment "nope"'),
                         (["--band", "veteran"], 'unknown band "veteran"'),
                         (["--team", "team-99"], 'unknown team "team-99"'),
                         (["--period", "year"], 'unknown period "year"'),
                         (["--at", "2026-02-30"], 'bad at "2026-02-30"'),
                         (["--at", "soon"], 'bad at "soon"')):
        err = report(*args, code=3)
        if needle not in err:
            run.fail(f"{args}: the message {err.strip()!r} does not say {needle!r}")
    err = subprocess.run([str(run.bin / "carrot-report"), "adoption", "--program", "no-such",
                          "--pg-dsn", ENV["CARROT_PG_DSN"]], env=ENV, capture_output=True,
                         text=True)
    if err.returncode != 3 or 'unknown program "no-such"' not in err.stderr:
        run.fail(f"an unknown program: exit {err.returncode}, {err.stderr.strip()!r}")
    empty = report("--period", "week", "--periods", "2", "--at", "2019-06-12")
    if any(p["activities"] or p["active"] for p in empty["periods"]) or empty["quiet"]:
        run.fail(f"a period with no data is not a report of zeros: {empty['periods']}")
    csv = report("--period", "week", "--periods", "5", "--at", last_day.isoformat(), fmt="csv")
    rows = [r.split(",") for r in csv.strip().splitlines()]
    head = rows[0]
    week = before["week"]
    for row, p in zip(rows[1:], week["periods"]):
        got = dict(zip(head, row))
        if (got["period"], int(got["active"]), int(got["activities"]), int(got["eligible"])) != \
                (p["period"], p["active"], p["activities"], p["eligible"]):
            run.fail(f"csv row {row} differs from the JSON's {p['period']}")
    text = report("--period", "week", "--periods", "5", "--at", last_day.isoformat(), fmt="text")
    lastp = week["periods"][-1]
    if not re.search(rf"^{lastp['period']}\s+{lastp['eligible']}\s+{lastp['active']}\s+"
                     rf"{lastp['activities']}\s", text, re.M):
        run.fail(f"the text report's line for {lastp['period']} does not match the JSON")
    run.say("bad requests exit 3 with the value named; an empty period is zeros; csv and text "
            "agree with the JSON")


run.finish(main)
