#!/usr/bin/env python3
"""test_commitments.py BUILD_DIR: accountability on real Kafka, Redis and PostgreSQL.

A directory of 31 people (a director, two regional managers, four supervisors
and 24 reps in three segments, new and seasoned) and a feed of the three
weeks before the current one (with duplicates, DELETEs, UNDELETEs and a
DELETE that overtakes its CREATE) go through carrot-ingest, carrot-directory,
carrot-scorer and carrot-ledger. Then:
  - supervisors set targets and participants acknowledge them;
  - carrot-commit show paces the current week exactly as the feed says;
  - the three weeks are closed in order, and an independent count made here
    from the feed lines alone says who met and who missed each commitment
    each week, with streaks and consecutive misses: the settlements agree
    participant by participant, and the bonus, penalty and streak awards are
    in the ledger exactly once, and on the boards (carrot-ledger reconcile);
  - a second close settles and books nothing; a record that comes after the
    close is reported late, and the settlement stands;
  - the follow-up lists of a supervisor and of a regional manager hold
    exactly the misses under them, most consecutive misses first; a recorded
    follow-up closes its line and counts in the supervisor's rate;
  - bad input (an unknown participant or supervisor, a target that is not a
    number, a set by someone not above, an acknowledgment by someone else, a
    follow-up of a met commitment, a close of a period not over): exit 3, a
    clear message, nothing written;
  - carrot-board's /v1/me/team, with a supervisor's own token, says what
    carrot-commit says (pacing and follow-ups), refuses other tokens, and
    the supervisor page shows it in headless Chromium (team.png).
"""
import collections
import datetime
import json
import pathlib
import random
import re
import subprocess
import sys
import zoneinfo
from http.client import HTTPConnection

from carrot_it import ENV, ROOT, WRAP, Run, free_port, http, psql, wait_for

TZ = zoneinfo.ZoneInfo("America/Chicago")
run = Run("test_commitments", sys.argv[1])
P = run.program
PARTS, PARTS_DLQ = f"{run.tag}.participants", f"{run.tag}.participants.dlq"
RULES_TOPIC = f"{run.tag}.rules"
SHOTS = pathlib.Path(ENV.get("CARROT_SCREENSHOTS") or run.build)
REDIS = (ENV["CARROT_REDIS_HOST"], ENV["CARROT_REDIS_PORT"])
COMMITMENTS = """
commitments:
  - id: weekly-calls
    text: "I will log at least 4 calls a week"
    period: week
    metric: {count: call}
    target: 4
    who: {segment: [direct, dealer]}
    bonus: 20
    penalty: -5
    streak: {periods: 2, bonus: 30}
  - id: weekly-meetings
    text: "Two customer meetings a week"
    period: week
    metric: {count: meeting}
    target: 2
    who: {segment: distributor}
    bonus: 15
  - id: complete-calls
    text: "Six in ten call records complete"
    period: week
    metric: {complete: call_record}
    target: 60
    bonus: 5
    penalty: -2
"""
RULES = {"weekly-calls": ("count", "call", 4, {"direct", "dealer"}, 20, -5, (2, 30)),
         "weekly-meetings": ("count", "meeting", 2, {"distributor"}, 15, 0, None),
         "complete-calls": ("complete", "call", 60, None, 5, -2, None)}


def shift_ms():
    m = re.fullmatch(r"\+(\d+)([smhdw])", ENV.get("CARROT_TEST_CLOCK_SHIFT", "") or "+0s")
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m[2]] * 1000


NOW = int(datetime.datetime.now().timestamp() * 1000) + shift_ms()


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def week_of(ms):
    y, w, _ = datetime.datetime.fromtimestamp(ms / 1000, TZ).isocalendar()
    return f"w:{y}-W{w:02d}"


def week_start(ms):
    local = datetime.datetime.fromtimestamp(ms / 1000, TZ)
    monday = (local - datetime.timedelta(days=local.weekday())).date()
    return int(datetime.datetime.combine(monday, datetime.time(), TZ).timestamp() * 1000)


def commit(*args, check=None):
    r = subprocess.run([*WRAP, str(run.bin / "carrot-commit"), args[0], "--program", P,
                        "--rules", str(RULES_FILE), "--redis-host", REDIS[0], "--redis-port",
                        REDIS[1], "--brokers", ENV["CARROT_BROKERS"], "--awards-topic",
                        run.awards, *args[1:]], env=ENV, capture_output=True, text=True, cwd=ROOT)
    if check is not None and r.returncode != check:
        raise RuntimeError(f"carrot-commit {' '.join(args)}: exit {r.returncode}, "
                           f"not {check}: {r.stderr[-600:]}")
    return r


# --- the people ---------------------------------------------------------------
people = {}  # id -> dict(segment, supervisor, hired)


def person(pid, segment, supervisor, days):
    people[pid] = {"segment": segment, "supervisor": supervisor, "hired": NOW - days * 86400000}


person("dir", "direct", "", 3000)
for r in (1, 2):
    person(f"rm{r}", "direct", "dir", 2000)
    for s in (1, 2):
        sup = f"sup{r}{s}"
        person(sup, "direct", f"rm{r}", 1500)
        for k in range(6):
            person(f"rep{r}{s}{k}", ("direct", "dealer", "distributor")[k % 3], sup,
                   100 if k < 2 else 900)
REPS = sorted(p for p in people if p.startswith("rep"))


def under(boss):
    out, todo = [], [boss]
    while todo:
        b = todo.pop()
        for p, d in people.items():
            if d["supervisor"] == b:
                out.append(p)
                todo.append(p)
    return set(out)


# --- the feed -----------------------------------------------------------------
rng = random.Random(11)
this_week = week_start(NOW)
WEEKS = [this_week - k * 7 * 86400000 for k in (3, 2, 1)]  # starts, oldest first
lines, n = [], 0


def line(pid, change, typ, rec, at, complete=True, event=None):
    global n
    n += 1
    d = {"event_id": event or f"e{n}", "program_id": P, "source_system": "crm",
         "source_record_id": rec, "change_type": change, "activity_type": typ,
         "occurred_at": iso(at), "recorded_at": iso(at + 3600000), "participant_id": pid,
         "segment": people[pid]["segment"], "team_id": people[pid]["supervisor"],
         "tenure_days": (NOW - people[pid]["hired"]) // 86400000}
    if typ == "call" and change == "CREATE":
        d.update(account_id="acct-1", text_length=30)
        if complete:
            d["disposition"] = "connected"
    lines.append(json.dumps(d))
    return d["event_id"]


for start in WEEKS + [this_week]:
    span = min(7 * 86400000, NOW - start - 3600000) if start == this_week else 7 * 86400000
    for pid in REPS:
        for typ, most in (("call", 7), ("meeting", 3)):
            for _ in range(rng.randint(0, most if start != this_week else 2)):
                at = start + 3600000 + rng.randrange(max(span - 2 * 3600000, 1))
                rec = f"r{n + 1}"
                line(pid, "CREATE", typ, rec, at, complete=rng.random() < 0.6)
                x = rng.random()
                if x < 0.1:  # delivered twice: counts once
                    lines.append(lines[-1])
                elif x < 0.18:  # deleted: counts nothing
                    line(pid, "DELETE", typ, rec, at + 60000)
                elif x < 0.22:  # deleted, then restored: counts
                    line(pid, "DELETE", typ, rec, at + 60000)
                    line(pid, "UNDELETE", typ, rec, at + 120000)
# a DELETE that overtakes its CREATE: the record counts nothing
line("rep110", "DELETE", "call", "r-tomb", WEEKS[2] + 7200000)
line("rep110", "CREATE", "call", "r-tomb", WEEKS[2] + 3600000)


def count(feed_lines):
    """(who, week) -> {call, meeting, judged, good} from the feed lines alone."""
    seen, recs = set(), {}
    for text in feed_lines:
        d = json.loads(text)
        if d["event_id"] in seen:
            continue
        seen.add(d["event_id"])
        r = recs.setdefault(d["source_record_id"], {"created": False, "on": None})
        if d["change_type"] == "CREATE" and not r["created"]:
            r.update(created=True, who=d["participant_id"], type=d["activity_type"],
                     week=week_of(int(datetime.datetime.fromisoformat(
                         d["occurred_at"].replace("Z", "+00:00")).timestamp() * 1000)),
                     good="disposition" in d)
            if r["on"] is None:
                r["on"] = True
        elif d["change_type"] == "DELETE":
            r["on"] = False
        elif d["change_type"] == "UNDELETE" and r["on"] is False:
            r["on"] = True
    out = {}
    for r in recs.values():
        if not r["created"] or not r["on"]:
            continue
        c = out.setdefault((r["who"], r["week"]), {"call": 0, "meeting": 0, "judged": 0, "good": 0})
        c[r["type"]] += 1
        if r["type"] == "call":
            c["judged"] += 1
            c["good"] += r["good"]
    return out


RULES_FILE = run.build / f"{run.tag}-rules.yaml"


def main():
    global RULES_FILE
    run.topics()
    run.create_topics(f"{PARTS}:3", f"{PARTS_DLQ}:3")
    RULES_FILE = run.rules(run.build)
    # the demo's commitments give way to this test's
    demo = re.sub(r"(?ms)^commitments:.*?(?=^\S)", "", RULES_FILE.read_text())
    RULES_FILE.write_text(demo + COMMITMENTS)
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True, cwd=ROOT,
                   capture_output=True)
    directory = "\n".join(json.dumps({
        "participant_id": p, "program_id": P, "display_name": p.upper(), "segment": d["segment"],
        "team_id": d["supervisor"], "region": "north", "hired_at": iso(d["hired"]),
        "supervisor_id": d["supervisor"] or None, "updated_at": iso(NOW - 86400000)})
        for p, d in people.items()) + "\n"
    subprocess.run([str(run.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"], "--format",
                    "participants", "--participants-topic", PARTS, "--participants-dlq-topic",
                    PARTS_DLQ, "--program", P], input=directory, env=ENV, check=True,
                   capture_output=True, text=True)
    subprocess.run([*WRAP, str(run.bin / "carrot-directory"), "--brokers", ENV["CARROT_BROKERS"],
                    "--topic", PARTS, "--dlq-topic", PARTS_DLQ, "--group", f"{run.tag}.dir",
                    "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--until-drained"],
                   env=ENV, check=True, capture_output=True, timeout=300)
    run.ingest("\n".join(lines) + "\n")
    scorer = ["carrot-scorer", "--brokers", ENV["CARROT_BROKERS"], "--redis-host", REDIS[0],
              "--redis-port", REDIS[1], "--topic", run.topic, "--awards-topic", run.awards,
              "--dlq-topic", run.dlq, "--group", run.scorer_group, "--instance", "s1",
              "--rules", str(RULES_FILE), "--rules-topic", "", "--until-drained"]
    subprocess.run([*WRAP, str(run.bin / scorer[0]), *scorer[1:]], env=ENV, check=True,
                   capture_output=True, timeout=300)
    expect = count(lines)
    run.say(f"{len(lines)} feed lines, {len(people)} people, weeks "
            f"{[week_of(w) for w in WEEKS]} and {week_of(this_week)} (current)")

    # terms: a supervisor sets, the participant acknowledges; another is left unacknowledged
    commit("set", "--participant", "rep110", "--commitment", "weekly-calls", "--target", "6",
           "--by", "sup11", "--note", "agreed in our one-to-one", check=0)
    commit("acknowledge", "--participant", "rep110", "--commitment", "weekly-calls", "--by",
           "rep110", check=0)
    commit("set", "--participant", "rep111", "--commitment", "weekly-calls", "--target", "3",
           "--by", "rm1", check=0)  # two levels up may set too
    targets = {("weekly-calls", "rep110"): 6, ("weekly-calls", "rep111"): 3}

    # pacing of the current week, pinned with --at
    at = NOW - 60000
    doc = json.loads(commit("show", "--supervisor", "sup11", "--at", iso(at), "--format", "json",
                            check=0).stdout)
    cw = week_of(this_week)
    end = week_start(this_week + 8 * 86400000)  # next Monday, local
    checked = 0
    for row in doc["pacing"]:
        c, who = row["commitment"], row["participant"]
        kind, typ, target, segs, *_ = RULES[c]
        target = targets.get((c, who), target)
        got = expect.get((who, cw), {"call": 0, "meeting": 0, "judged": 0, "good": 0})
        fig = got["good"] if kind == "complete" else got[typ]
        due = target * (at - this_week) // (end - this_week)
        if row["period"] != cw or row["figure"] != fig or row["target"] != target:
            run.fail(f"show: {who} {c}: {row}, want figure {fig} target {target} in {cw}")
        if kind == "count":
            state = "met" if fig >= target else "on_track" if fig >= due else "behind"
            if row["expected"] != due or row["state"] != state:
                run.fail(f"show: {who} {c}: due {row['expected']} {row['state']}, want {due} "
                         f"{state}")
        checked += 1
    held_here = sum(1 for p in under("sup11") for c, r in RULES.items()
                    if r[3] is None or people[p]["segment"] in r[3] or (c, p) in targets)
    if checked != held_here:
        run.fail(f"show --supervisor sup11 paced {checked} commitments, want {held_here}")
    ack = [r for r in doc["pacing"] if r["participant"] == "rep110" and
           r["commitment"] == "weekly-calls"]
    if not ack or not ack[0].get("acknowledged_at") or ack[0]["set_by"] != "sup11":
        run.fail(f"rep110's acknowledged target set by sup11 is not shown: {ack}")
    run.say(f"pacing of {checked} commitments in {cw} as the feed says")

    # a close of the current week is refused: it is not over
    r = commit("close", "--period", cw)
    if r.returncode != 3 or "not over" not in r.stderr:
        run.fail(f"closing the current week: exit {r.returncode}: {r.stderr[-300:]}")

    # the three weeks, in order (no grace: the feed is complete, and a Monday's close of
    # last week would wait a day for late records); then the independent count's verdicts
    streak, misses, want_awards = {}, {}, {}
    screens = Board()  # before the closes: its screens celebrate them as they happen
    for w in WEEKS:
        wid = week_of(w + 86400000)
        if w == WEEKS[-1]:
            screens.tv_open()  # the last close's celebrations interrupt a TV in Chromium
        doc = json.loads(commit("close", "--period", wid, "--grace-hours", "0", "--format", "json",
                                check=0).stdout)
        for c, (kind, typ, target0, segs, bonus, penalty, st) in RULES.items():
            rows = psql(f"SELECT participant_id, figure, judged, target, met, streak, misses "
                        f"FROM commitment_settlements WHERE program_id = '{P}' AND "
                        f"commitment_id = '{c}' AND period_id = '{wid}'").splitlines()
            got = {x.split("|")[0]: x.split("|")[1:] for x in rows}
            for p in people:
                held = segs is None or people[p]["segment"] in segs or (c, p) in targets
                if not held:
                    if p in got:
                        run.fail(f"{wid} {c}: {p} settled but not held")
                    continue
                e = expect.get((p, wid), {"call": 0, "meeting": 0, "judged": 0, "good": 0})
                target = targets.get((c, p), target0)
                if kind == "complete":
                    fig, judged = e["good"], e["judged"]
                    met = judged > 0 and fig * 100 >= target * judged
                else:
                    fig, judged = e[typ], 0
                    met = fig >= target
                k = (c, p)
                streak[k] = streak.get(k, 0) + 1 if met else 0
                misses[k] = 0 if met else misses.get(k, 0) + 1
                want = [str(fig), str(judged), str(target), "t" if met else "f", str(streak[k]),
                        str(misses[k])]
                if got.get(p) != want:
                    run.fail(f"{wid} {c} {p}: settled {got.get(p)}, the feed says {want}")
                event = f"commit:{c}:{wid}:{p}"
                if met and bonus:
                    want_awards[(event, f"commit.{c}.met")] = bonus
                if not met and penalty:
                    want_awards[(event, f"commit.{c}.missed")] = penalty
                if met and st and streak[k] % st[0] == 0:
                    want_awards[(event, f"commit.{c}.streak")] = st[1]
        run.say(f"closed {wid}: " + ", ".join(f"{x['commitment']} {x['met']} met "
                                              f"{x['missed']} missed" for x in doc["closed"]))
    streaks = sum(1 for (_, rule) in want_awards if rule.endswith(".streak"))
    if streaks == 0:
        run.fail("the feed gave nobody a streak: the test proves nothing of streaks")
    screens.tv_check()
    screens.celebrations(want_awards)

    # this week's pacing carries the streak (and misses in a row) the closes left
    doc = json.loads(commit("show", "--supervisor", "rm1", "--format", "json", check=0).stdout)
    key = lambda r: (r["commitment"], r["participant"])  # noqa: E731
    bad = [r for r in doc["pacing"] if (r["streak"], r["misses"]) !=
           (streak.get(key(r), 0), misses.get(key(r), 0))]
    long = sum(1 for r in doc["pacing"] if r["streak"] >= 2)
    if bad or not long:
        run.fail(f"show: streaks {[(key(r), r['streak'], r['misses']) for r in bad[:4]]}, "
                 f"{long} of 2 or more")
    else:
        run.say(f"this week's pacing shows the streaks so far: {long} of 2 weeks or more, as the "
                "independent count says")

    # the consequences: booked once, and on the boards
    subprocess.run([*WRAP, str(run.bin / "carrot-ledger"), "run", "--brokers",
                    ENV["CARROT_BROKERS"], "--topic", run.awards, "--dlq-topic", run.awards_dlq,
                    "--group", run.ledger_group, "--until-drained"], env=ENV, check=True,
                   capture_output=True, timeout=300)

    def booked():
        rows = psql(f"SELECT event_id, rule_id, points FROM awards WHERE program_id = '{P}' AND "
                    f"rule_id LIKE 'commit.%'").splitlines()
        return {(x.split("|")[0], x.split("|")[1]): int(x.split("|")[2]) for x in rows}, len(rows)
    got, nrows = booked()
    if got != want_awards or nrows != len(want_awards):
        missing = set(want_awards) - set(got)
        extra = set(got) - set(want_awards)
        run.fail(f"consequence awards: {nrows} booked, {len(want_awards)} expected; missing "
                 f"{sorted(missing)[:5]}, extra {sorted(extra)[:5]}")
    else:
        run.say(f"{nrows} consequence awards booked once ({streaks} streak bonuses), "
                f"{sum(got.values())} points")
    rc, board, ledger, flight, out = run.reconcile(*REDIS)
    if rc != 0:
        run.fail(f"the boards and the ledger differ after the close: {out[-500:]}")
    else:
        run.say(f"boards and ledger agree: {board} points")

    # a second close: nothing settled, nothing produced
    doc = json.loads(commit("close", "--period", week_of(WEEKS[2] + 86400000), "--grace-hours", "0",
                            "--format",
                            "json", check=0).stdout)
    if any(x["settled"] or x["awards"] for x in doc["closed"]):
        run.fail(f"a second close settled or produced something: {doc}")
    # a record after the close: reported late, the settlement stands
    last = week_of(WEEKS[2] + 86400000)
    before_fig = psql(f"SELECT figure FROM commitment_settlements WHERE program_id = '{P}' AND "
                      f"commitment_id = 'weekly-calls' AND period_id = '{last}' AND "
                      f"participant_id = 'rep120'")
    late = [json.dumps({"event_id": "late-1", "program_id": P, "source_system": "crm",
                        "source_record_id": "r-late", "change_type": "CREATE",
                        "activity_type": "call", "occurred_at": iso(WEEKS[2] + 86400000),
                        "recorded_at": iso(NOW - 1000), "participant_id": "rep120",
                        "segment": "direct", "team_id": "sup12"})]
    run.ingest("\n".join(late) + "\n")
    subprocess.run([*WRAP, str(run.bin / scorer[0]), *scorer[1:]], env=ENV, check=True,
                   capture_output=True, timeout=300)
    doc = json.loads(commit("close", "--period", last, "--commitment", "weekly-calls", "--grace-hours", "0",
                            "--format",
                            "json", check=0).stdout)
    after_fig = psql(f"SELECT figure FROM commitment_settlements WHERE program_id = '{P}' AND "
                     f"commitment_id = 'weekly-calls' AND period_id = '{last}' AND "
                     f"participant_id = 'rep120'")
    if doc["closed"][0]["late"] != 1 or after_fig != before_fig:
        run.fail(f"a late record: close says {doc['closed'][0]}, figure {before_fig} -> "
                 f"{after_fig}")
    else:
        run.say(f"a record after the close is reported late; rep120's figure stays {after_fig}")

    # follow-up lists: exactly the misses of the last week under each boss, in order
    for boss in ("sup11", "rm1"):
        doc = json.loads(commit("followups", "--supervisor", boss, "--format", "json",
                                check=0).stdout)
        got = [(r["participant"], r["commitment"]) for r in doc["misses"]]
        want = sorted(((p, c) for (c, p), m in misses.items() if m and p in under(boss)),
                      key=lambda x: (-misses[(x[1], x[0])], x[0], x[1]))
        if got != want:
            run.fail(f"followups of {boss}: {got[:8]}..., want {want[:8]}...")
        else:
            run.say(f"follow-up list of {boss}: {len(got)} misses, most in a row first "
                    f"({want[0][0]} {want[0][1]}: {misses[(want[0][1], want[0][0])]})")
        bad = [r for r in doc["misses"] if not r["open"] or r["text"] == ""]
        if bad:
            run.fail(f"followups of {boss}: lines closed or without the commitment's text: {bad[:2]}")
    first = next((p, c) for (c, p), m in sorted(misses.items(), key=lambda x: x[0][1])
                 if m and people[p]["supervisor"] == "sup11")
    commit("followup", "--participant", first[0], "--commitment", first[1], "--period", last,
           "--by", "sup11", "--kind", "discussion", "--note", "went through the call plan",
           "--date", iso(NOW)[:10], check=0)
    doc = json.loads(commit("followups", "--supervisor", "sup11", "--format", "json",
                            check=0).stdout)
    line_ = [r for r in doc["misses"] if (r["participant"], r["commitment"]) == first]
    rate = [r for r in doc["rates"] if r["supervisor"] == "sup11"]
    direct = sum(1 for (c, p), m in misses.items() if m and people[p]["supervisor"] == "sup11")
    if (not line_ or line_[0]["open"] or line_[0]["last_kind"] != "discussion" or not rate
            or rate[0]["followed_up"] != 1 or rate[0]["misses"] != direct):
        run.fail(f"after a follow-up: line {line_}, rate {rate}, want 1 of {direct}")
    else:
        run.say(f"a follow-up closes {first[0]}'s line; sup11 has followed up 1 of {direct}")

    # bad input: exit 3, a clear message, nothing written
    met_one = next((p, c) for (c, p), m in misses.items() if not m and p in under("sup11"))
    cases = [
        (("set", "--participant", "nobody", "--commitment", "weekly-calls", "--target", "5",
          "--by", "sup11"), "unknown participant \"nobody\""),
        (("set", "--participant", "rep110", "--commitment", "weekly-calls", "--target", "5",
          "--by", "ghost"), "unknown supervisor \"ghost\""),
        (("set", "--participant", "rep110", "--commitment", "weekly-calls", "--target", "ten",
          "--by", "sup11"), "--target: expected a whole number"),
        (("set", "--participant", "rep110", "--commitment", "weekly-calls", "--target", "5",
          "--by", "sup12"), "sup12 is not above rep110"),
        (("set", "--participant", "rep110", "--commitment", "weekly-coffee", "--target", "5",
          "--by", "sup11"), "no commitment \"weekly-coffee\""),
        (("acknowledge", "--participant", "rep111", "--commitment", "weekly-calls", "--by",
          "sup11"), "only rep111 acknowledges"),
        (("followup", "--participant", met_one[0], "--commitment", met_one[1], "--period", last,
          "--by", people[met_one[0]]["supervisor"]), "there is no miss to follow up"),
        (("followup", "--participant", first[0], "--commitment", first[1], "--period", last,
          "--by", "sup11", "--kind", "shouting"), "a reminder, a discussion or a note"),
        (("close", "--period", "m:2026-11", "--commitment", "weekly-calls"),
         "is not a week period id"),
    ]
    tables = ("commitment_changes", "commitment_followups", "commitment_settlements")
    counts = [psql(f"SELECT count(*) FROM {t} WHERE program_id = '{P}'") for t in tables]
    for args, message in cases:
        r = commit(*args)
        if r.returncode != 3 or message not in r.stderr:
            run.fail(f"carrot-commit {' '.join(args)}: exit {r.returncode}, {r.stderr[-300:]!r}; "
                     f"want 3 and \"{message}\"")
    if [psql(f"SELECT count(*) FROM {t} WHERE program_id = '{P}'") for t in tables] != counts:
        run.fail("a refused command wrote something")
    run.say(f"{len(cases)} bad inputs refused with exit 3, nothing written")
    screens.team_page()
    screens.close()
    del last


def board_token(kind, participant=None):
    args = [str(run.bin / "carrot-board"), "token", "add", "--program", P, "--kind", kind,
            "--label", f"test {kind}"]
    if participant:
        args += ["--participant", participant]
    return subprocess.run(args, env=ENV, check=True, capture_output=True, text=True).stdout.strip()


class Board:
    """carrot-board on this program, its tokens, and a TV in headless Chromium."""

    def __init__(self):
        run.create_topics(f"{RULES_TOPIC}:1")
        subprocess.run([str(run.bin / "carrot-rules"), "publish", str(RULES_FILE), "--brokers",
                        ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC], env=ENV, check=True,
                       capture_output=True)
        self.port, metrics = free_port(), free_port()
        run.start("board", ["carrot-board", "--programs", P, "--port", str(self.port),
                            "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--brokers",
                            ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC, "--metrics-port",
                            str(metrics)], WRAP)
        wait_for("carrot-board to be ready",
                 lambda: http(f"http://127.0.0.1:{metrics}/readyz")[0] == 200, 120, 0.3)
        self.base = f"http://127.0.0.1:{self.port}"
        self.sup, self.tv = board_token("participant", "sup11"), board_token("display")
        self.browser = self.page = None
        self.rules_in_force()

    def rules_in_force(self):
        """Waits for the rules (with their commitments) to reach the service from their topic."""
        version = re.search(r'(?m)^version: "([^"]+)"', RULES_FILE.read_text())[1]
        def ok():
            st, body = http(f"{self.base}/v1/programs/{P}/rules", None,
                            {"Authorization": f"Bearer {self.tv}"})
            return st == 200 and json.loads(body).get("version") == version
        wait_for("the rules in carrot-board", ok, 60, 0.5)

    def tv_open(self):
        from cdp import Browser
        self.browser = Browser().__enter__()
        self.page = self.browser.open(f"{self.base}/tv/{P}?token={self.tv}&scenes=ptd", 1280, 720)
        self.page.wait("document.getElementById('status').textContent === 'live'", 30)

    def tv_check(self):
        """The TV showed a commitment's banner: the close's celebrations reached a screen."""
        try:
            self.page.wait("['Commitment kept!', 'On a streak!'].includes("
                           "document.getElementById('banner-title').textContent) && "
                           "!document.getElementById('banner').hidden", 30)
            text = self.page.eval("document.getElementById('banner-text').textContent")
            self.page.screenshot(str(SHOTS / "tv-commitment.png"))
            run.say(f"the TV in Chromium celebrated the close: {text!r}; screenshot "
                    f"{SHOTS / 'tv-commitment.png'}")
        except Exception as e:  # noqa: BLE001 (the wait's timeout, said as the failure)
            run.fail(f"the TV showed no commitment banner after the close: {e}")
        self.browser.__exit__(None, None, None)

    def celebrations(self, want_awards):
        """The feed's celebrations, replayed from its start: exactly the bonuses for met
        and the streaks, once each, with names from the directory; never a miss."""
        want = collections.Counter(
            (ev.rsplit(":", 1)[1].upper(), "streak" if rule.endswith(".streak") else "commitment",
             ev.split(":")[1]) for ev, rule in want_awards if not rule.endswith(".missed"))
        conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", f"/v1/programs/{P}/events?period=ptd",
                     headers={"Authorization": f"Bearer {self.tv}", "Last-Event-ID": "0-0"})
        resp, got, ev = conn.getresponse(), collections.Counter(), {}
        for raw in resp:  # the replay ends with the board as it is now
            line = raw.decode().rstrip("\n")
            if line.startswith(("event:", "data:")):
                ev[line.split(":", 1)[0]] = line.split(":", 1)[1].strip()
            elif not line and ev.get("event") == "board":
                break
            elif not line and ev.get("event") == "celebrate":
                d = json.loads(ev["data"])
                if d["kind"] in ("commitment", "streak"):
                    got[(d["name"], d["kind"], d["commitment"])] += 1
                ev = {}
        conn.close()
        if got != want:
            run.fail(f"celebrations: {sum(got.values())}, want {sum(want.values())}: extra "
                     f"{list((got - want).items())[:3]}, missing {list((want - got).items())[:3]}")
        else:
            run.say(f"the feed celebrates {sum(got.values())} commitments kept and streaks, once "
                    "each, and no miss")

    def team_page(self):
        """The supervisor endpoint and page against carrot-commit's own answers."""
        base, sup, tv = self.base, self.sup, self.tv

        def team(tok):
            st, body = http(base + "/v1/me/team", None, {"Authorization": f"Bearer {tok}"})
            return st, json.loads(body) if body.startswith("{") else body
        st, doc = team(sup)
        if st != 200:
            run.fail(f"/v1/me/team of sup11: {st} {doc}")
            return
        cli = json.loads(commit("show", "--supervisor", "sup11", "--format", "json",
                                check=0).stdout)
        key = lambda r: (r["participant"], r["commitment"], r["figure"], r["target"],  # noqa
                         r["streak"], r["misses"])
        if sorted(map(key, doc["pacing"])) != sorted(map(key, cli["pacing"])):
            run.fail(f"/v1/me/team pacing {sorted(map(key, doc['pacing']))[:4]} is not "
                     f"carrot-commit show's {sorted(map(key, cli['pacing']))[:4]}")
        fl = json.loads(commit("followups", "--supervisor", "sup11", "--format", "json",
                               check=0).stdout)
        mk = lambda r: (r["participant"], r["commitment"], r["misses"], r["followups"])  # noqa
        if list(map(mk, doc["misses"])) != list(map(mk, fl["misses"])) or doc["people"] != len(
                under("sup11")):
            run.fail(f"/v1/me/team misses {doc['misses'][:2]} are not carrot-commit followups' "
                     f"{fl['misses'][:2]}")
        else:
            run.say(f"/v1/me/team of sup11: {doc['people']} people, {len(doc['pacing'])} paced, "
                    f"{len(doc['misses'])} misses, as carrot-commit says")
        if team(tv)[0] != 403 or http(base + "/v1/me/team")[0] != 401:
            run.fail("/v1/me/team is readable with a display token or without one")
        from cdp import Browser
        with Browser() as b:
            page = b.open(f"{base}/team?token={sup}", 1280, 1000)
            page.wait(f"document.querySelectorAll('#misses tbody tr').length === "
                      f"{len(doc['misses'])} && document.querySelectorAll('#pacing tbody tr')"
                      f".length === {len(doc['pacing'])}", 30)
            opened = page.eval("document.getElementById('open').textContent")
            want = str(sum(1 for m in doc["misses"] if m["followups"] == 0))
            if opened != want:
                run.fail(f"the supervisor page counts {opened} open misses, the API {want}")
            streaks = page.eval("[...document.querySelectorAll('#pacing tbody tr')]"
                                ".map(r => r.cells[6].textContent)")
            shown = [(x["streak"] and f"met {x['streak']}") or (
                x["misses"] and f"missed {x['misses']}") or "" for x in doc["pacing"]]
            if streaks != shown:
                run.fail(f"the supervisor page's streaks {streaks[:6]}, the API's {shown[:6]}")
            page.screenshot(str(SHOTS / "team.png"))
        run.say(f"the supervisor page in Chromium shows the same rows and streaks; screenshot "
                f"{SHOTS / 'team.png'}")

    def close(self):
        run.stop("board")


run.finish(main)
