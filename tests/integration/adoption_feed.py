"""adoption_feed.py: what the adoption tests share: a four-week feed (loadgen
with deletes, duplicates, late, incomplete and bad lines, three segments, new
and seasoned, plus hand-made edge cases), its participants, and an
independent count of every adoption figure made from the feed lines alone,
compared with carrot-report's JSON.

The count follows README "Adoption": a CREATE counts once per event id; a
DELETE takes back its record's CREATEs (an UNDELETE gives them back), a
DELETE before its CREATE leaves the record deleted; an UPDATE counts nowhere;
days are the program's (America/Chicago); complete and on time are the demo
rules' quality and timeliness rules.
"""
import collections
import datetime
import json
import math
import subprocess
import zoneinfo

from carrot_it import ENV, ROOT

TZ = zoneinfo.ZoneInfo("America/Chicago")
UTC = datetime.timezone.utc
PICK = {"connected", "left_voicemail", "no_answer", "wrong_number"}


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def ms_of(text):
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def day_of(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, TZ).date()


def week_start(ms):
    local = datetime.datetime.fromtimestamp(ms / 1000, TZ)
    monday = (local - datetime.timedelta(days=local.weekday())).date()
    return int(datetime.datetime.combine(monday, datetime.time(), TZ).timestamp() * 1000)


def check_rules(text):
    """The count below hard-codes the demo rules' quality, timeliness and bands."""
    for need in ("require: [account_id, disposition]", "min_text_length: 20",
                 "require: [account_id, outcome]", "when: {activity: [call, meeting, note]}",
                 "full_hours: 24", "{id: new, max_tenure_days: 180}",
                 "{id: seasoned, min_tenure_days: 181}",
                 "picklists: {disposition: [connected, left_voicemail, no_answer, wrong_number]}"):
        if need not in text:
            raise RuntimeError(f"the demo rules changed ({need!r} is gone): update adoption_feed.py")


def loadgen(run, args, seed, raw=False):
    """carrot-loadgen for the run's program; event and record ids made the seed's own."""
    text = subprocess.run([str(run.bin / "carrot-loadgen"), "--seed", str(seed), "--program",
                           run.program, *args], env=ENV, check=True, capture_output=True,
                          text=True).stdout
    if raw:
        return text
    return text.replace('"evt-', f'"evt-{seed}-').replace('"rec-', f'"rec-{seed}-')


def feed(run, now_ms, participants=60, count=4000, seed=12):
    """(start of the first week, the feed lines): loadgen over the four weeks before
    the current one, and edge cases: a DELETE before its CREATE, an UNDELETE, a
    DELETE naming no participant, records logged days late, a CREATE with no
    participant (refused by ingest), and an UPDATE."""
    first = week_start(now_ms) - 28 * 86400000
    text = loadgen(run, ["--count", str(count), "--participants", str(participants),
                          "--start", iso(first + 8 * 3600000), "--span-days", "27",
                          "--delete-every", "13", "--duplicate-every", "17", "--bad-every", "97",
                          "--bad-picklist-every", "7"], seed)
    lines = text.splitlines()
    P = run.program
    own = next(json.loads(x) for x in lines if '"participant_id":"p0001"' in x
               and '"segment"' in x)
    base = {"program_id": P, "source_system": "edge", "segment": own["segment"],
            "team_id": own.get("team_id"), "tenure_days": own.get("tenure_days"),
            "account_id": "acct-1"}

    def line(ev, rec, change, typ, occurred, recorded, who="p0001", **more):
        d = dict(base, event_id=f"edge-{ev}", source_record_id=f"edge-rec-{rec}",
                 change_type=change, activity_type=typ, occurred_at=iso(occurred),
                 recorded_at=iso(recorded), **more)
        if who:
            d["participant_id"] = who
        return json.dumps(d)

    t = first + 3 * 86400000 + 15 * 3600000  # a Thursday afternoon of week 1
    lines += [
        line(1, 1, "DELETE", "call", t + 3600000, t + 3600000),            # before its CREATE
        line(2, 1, "CREATE", "call", t, t + 60000, disposition="connected", text_length=40),
        line(3, 2, "CREATE", "meeting", t, t + 60000, outcome="won"),
        line(4, 2, "DELETE", "meeting", t + 7200000, t + 7200000),
        line(5, 2, "UNDELETE", "meeting", t + 9000000, t + 9000000),       # stands again
        line(6, 3, "CREATE", "note", t, t + 3 * 86400000),                  # logged 3 days late
        line(7, 4, "CREATE", "call", t + 86400000, t + 5 * 86400000),       # 4 days late
        line(8, 3, "DELETE", "note", t + 4 * 86400000, t + 4 * 86400000, who=None),  # no one named
        line(9, 5, "CREATE", "call", t, t + 1000, who=None),                # refused: no participant
        line(10, 4, "UPDATE", "call", t + 86400000, t + 6 * 86400000),      # counts nowhere
        line(2, 1, "CREATE", "call", t, t + 60000, disposition="connected", text_length=40),  # resent
    ]
    return first, lines


def participants(run, n=60):
    """The directory's lines (loadgen's, for the same participants)."""
    return loadgen(run, ["--participants-feed", "--participants", str(n)], 0, raw=True)


def judge(a):
    typ = a["activity_type"]
    qj = comp = tj = ont = 0
    if typ == "call":
        qj = 1
        disp = a.get("disposition") or ""
        comp = int(bool(a.get("account_id")) and bool(disp) and disp in PICK
                   and a.get("text_length", 0) >= 20)
    elif typ == "meeting":
        qj = 1
        comp = int(bool(a.get("account_id")) and bool(a.get("outcome")))
    if typ in ("call", "meeting", "note"):
        tj = 1
        lag = max(0, ms_of(a["recorded_at"]) - ms_of(a["occurred_at"]))
        ont = int(lag <= 24 * 3600000)
    td = a.get("tenure_days")
    band = "" if td is None else "new" if td <= 180 else "seasoned"
    return qj, comp, tj, ont, band


def count(lines):
    """(facts, refused): facts[(participant, day, type)] = [logged, q_judged, complete,
    t_judged, on_time, deleted, segment, band, team]; refused = lines ingest refuses."""
    facts = collections.defaultdict(lambda: [0, 0, 0, 0, 0, 0, "", "", ""])
    recs = {}  # record -> dict(events, standing, creates, key)
    refused = 0
    for text in lines:
        try:
            a = json.loads(text)
        except ValueError:
            refused += 1
            continue
        if "source_record_id" not in a or (a["change_type"] == "CREATE"
                                           and not a.get("participant_id")):
            refused += 1
            continue
        ch = a["change_type"]
        if ch == "UPDATE":
            continue
        r = recs.setdefault((a["source_system"], a["source_record_id"]),
                            {"events": set(), "standing": None, "creates": 0, "key": None})
        if a["event_id"] in r["events"]:
            continue
        r["events"].add(a["event_id"])
        if ch == "CREATE":
            k = (a["participant_id"], day_of(ms_of(a["occurred_at"])), a["activity_type"])
            qj, comp, tj, ont, band = judge(a)
            f = facts[k]
            f[0] += 1
            f[1] += qj
            f[2] += comp
            f[3] += tj
            f[4] += ont
            f[6], f[7], f[8] = a.get("segment") or "", band, a.get("team_id") or ""
            if r["standing"] is None:
                r["standing"] = True
            if not r["standing"]:
                f[5] += 1
            if r["creates"] == 0:
                r["key"] = k
            r["creates"] += 1
        else:
            deleting = ch == "DELETE"
            if r["standing"] is None:
                r["standing"] = not deleting
                continue
            if r["standing"] == (not deleting):
                continue
            r["standing"] = not deleting
            if r["creates"] and r["key"]:
                facts[r["key"]][5] += r["creates"] if deleting else -r["creates"]
    return facts, refused


def starts(kind, last_day, n):
    """The n period starts (oldest first) whose last holds last_day, and the one before."""
    def start(d):
        if kind == "day":
            return d
        if kind == "week":
            return d - datetime.timedelta(days=d.weekday())
        if kind == "month":
            return d.replace(day=1)
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)

    def back(d):
        if kind == "day":
            return d - datetime.timedelta(days=1)
        if kind == "week":
            return d - datetime.timedelta(days=7)
        m = d.month - (1 if kind == "month" else 3)
        y = d.year
        if m < 1:
            m += 12
            y -= 1
        return d.replace(year=y, month=m)

    out = [start(last_day)]
    for _ in range(n):
        out.insert(0, back(out[0]))
    return out


def next_start(kind, s):
    if kind == "day":
        return s + datetime.timedelta(days=1)
    if kind == "week":
        return s + datetime.timedelta(days=7)
    m = s.month + (1 if kind == "month" else 3)
    y = s.year + (m - 1) // 12
    return s.replace(year=y, month=(m - 1) % 12 + 1)


def expect(facts, people, kind, last_day, n, segment=None, band=None):
    """The report's figures by the count: per period (oldest first) a dict of the
    JSON's period fields, the quiet ids of the last period, and cohorts."""
    ps = starts(kind, last_day, n)
    ends = [next_start(kind, s) - datetime.timedelta(days=1) for s in ps]

    def kidx(d):
        for i in range(n + 1):
            if ps[i] <= d <= ends[i]:
                return i
        return -1

    per = [collections.Counter() for _ in range(n + 1)]
    types = [collections.Counter() for _ in range(n + 1)]
    who = collections.defaultdict(lambda: [[0, set(), None, ""] for _ in range(n + 1)])
    first = {}
    for (p, d, typ), f in facts.items():
        if f[0] > 0:
            first[p] = min(first.get(p, d), d)
        if segment and f[6] != segment or band and f[7] != band:
            continue
        k = kidx(d)
        if k < 0:
            continue
        c = per[k]
        for name, v in zip(("activities", "q_judged", "complete", "t_judged", "on_time",
                            "deleted"), f[:6]):
            c[name] += v
        if f[0]:
            types[k][typ] += f[0]
            w = who[p][k]
            w[0] += f[0]
            w[1].add(d)
            w[2] = max(w[2], d) if w[2] else d
            w[3] = max(w[3], f[6])  # several segments in a period: the greatest, as the SQL
    out = []
    for k in range(1, n + 1):
        c = per[k]
        active = [p for p in who if who[p][k][0] > 0]
        ns = sorted((who[p][k][0] for p in active), reverse=True)
        top = sum(ns[:math.ceil(len(ns) / 10)]) if ns else 0
        elig = [p for p, d in people.items() if d["active"] and (not segment or d["segment"] == segment)
                and (d["hired"] is None or d["hired"] <= ends[k])
                and (not band or d["band"] == band)]
        maxd = {"day": 1, "week": 7, "month": 31, "quarter": 92}[kind]
        hist = [0] * (maxd + 1)
        hist[0] = len([p for p in elig if who.get(p) is None or who[p][k][0] == 0])
        for p in active:
            hist[min(len(who[p][k][1]), maxd)] += 1
        by_seg = collections.defaultdict(lambda: {"eligible": 0, "active": 0, "activities": 0})
        for p in elig:
            by_seg[people[p]["segment"] or "(none)"]["eligible"] += 1
        for p in active:
            e = by_seg[who[p][k][3] or "(none)"]
            e["active"] += 1
            e["activities"] += who[p][k][0]
        out.append({
            "start": ps[k].isoformat(), "end": ends[k].isoformat(),
            "eligible": len(elig), "active": len(active), "activities": c["activities"],
            "deleted": c["deleted"], "by_type": dict(types[k]),
            "per_active": math.floor(100 * c["activities"] / len(active) + 0.5) / 100
            if active else 0.0,
            "per_active_by_type": {t: math.floor(100 * v / len(active) + 0.5) / 100
                                   for t, v in types[k].items()} if active else {},
            "complete": {"judged": c["q_judged"], "complete": c["complete"]},
            "on_time": {"judged": c["t_judged"], "on_time": c["on_time"]},
            "days_active": hist,
            "top10_share": top / sum(ns) if ns else None,
            "quiet": len([p for p in who if who[p][k][0] == 0 and who[p][k - 1][0] > 0]),
            "new": len([p for p in active if ps[k] <= first[p] <= ends[k]]),
            "by_segment": dict(by_seg),
        })
    quiet = sorted(((p, who[p][n - 1][0], who[p][n - 1][2].isoformat()) for p in who
                    if who[p][n][0] == 0 and who[p][n - 1][0] > 0), key=lambda x: (-x[1], x[0]))
    cohorts = []
    for c in range(1, n + 1):
        members = [p for p in who if who[p][c][0] > 0 and ps[c] <= first[p] <= ends[c]]
        if members:
            cohorts.append({"participants": len(members),
                            "active": [len([p for p in members if who[p][k][0] > 0])
                                       for k in range(c, n + 1)]})
    heat = {}
    d = ps[1]
    while d <= ends[n]:
        heat[d.isoformat()] = 0
        d += datetime.timedelta(days=1)
    per_day = collections.defaultdict(set)
    for (p, dd, typ), f in facts.items():
        if f[0] and (not segment or f[6] == segment) and (not band or f[7] == band):
            per_day[dd.isoformat()].add(p)
    for k in heat:
        heat[k] = len(per_day.get(k, ()))
    return out, quiet, cohorts, heat


def compare(run, what, report, facts, people, kind, last_day, n, segment=None, band=None):
    """Every figure of report (carrot-report's JSON) against the count; failures
    go to run.fail. Returns the number of figures compared."""
    periods, quiet, cohorts, heat = expect(facts, people, kind, last_day, n, segment, band)
    got = report["periods"]
    checked = 0
    if len(got) != n:
        run.fail(f"{what}: {len(got)} periods, not {n}")
        return checked
    for want, have in zip(periods, got):
        for key, v in want.items():
            h = have.get(key)
            if key == "top10_share":
                ok = (v is None and h is None) or (v is not None and h is not None
                                                  and abs(v - h) < 1e-9)
            elif key in ("complete", "on_time"):
                ok = all(h.get(x) == y for x, y in v.items())
            elif key == "by_segment":
                ok = {s: e for s, e in (h or {}).items()} == v
            else:
                ok = h == v
            checked += 1
            if not ok:
                run.fail(f"{what}, {have.get('period')}: {key} is {h}, the count says {v}")
    q = [(x["participant_id"], x["activities_before"], x["last_active"]) for x in report["quiet"]]
    checked += 1
    if q != quiet:
        run.fail(f"{what}: the quiet list is {q[:5]}..., the count says {quiet[:5]}...")
    co = [{"participants": c["participants"], "active": c["active"]} for c in report["cohorts"]]
    checked += 1
    if co != cohorts:
        run.fail(f"{what}: cohorts {co}, the count says {cohorts}")
    hm = {h["day"]: h["active"] for h in report["heatmap"]}
    checked += 1
    if hm != heat:
        bad = [d for d in heat if hm.get(d) != heat[d]][:3]
        run.fail(f"{what}: the heat map differs on {bad}")
    return checked


def directory(lines, today):
    """The participants: id -> segment, active, hired (a date, UTC), band by tenure today."""
    people = {}
    for text in lines.splitlines():
        d = json.loads(text)
        hired = day_utc = None
        if d.get("hired_at"):
            day_utc = datetime.datetime.fromisoformat(d["hired_at"].replace("Z", "+00:00"))
            hired = day_utc.astimezone(TZ).date()
        tenure = (today - day_utc.date()).days if day_utc else None
        people[d["participant_id"]] = {
            "segment": d.get("segment") or "", "active": d.get("active", True), "hired": hired,
            "band": "" if tenure is None else "new" if tenure <= 180 else "seasoned"}
    return people




def prepare(run, now_ms):
    """The run's topics (and its participants and rules topics), the demo rules
    published, the migrations applied and the directory ingested. Returns
    (rules file, participants and rules topics, first day of the feed, the feed
    lines, the directory's lines); the feed is not ingested yet."""
    parts, rules_topic = f"{run.tag}.participants", f"{run.tag}.rules"
    run.topics()
    run.create_topics(f"{parts}:3", f"{parts}.dlq:3", f"{rules_topic}:1:compact")
    rules = run.rules(run.build)
    check_rules(rules.read_text())
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True, cwd=ROOT,
                   capture_output=True)
    subprocess.run([str(run.bin / "carrot-rules"), "publish", str(rules), "--brokers",
                    ENV["CARROT_BROKERS"], "--rules-topic", rules_topic], env=ENV, check=True,
                   cwd=ROOT, capture_output=True)
    first, lines = feed(run, now_ms)
    directory = participants(run)
    subprocess.run([str(run.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"], "--format",
                    "participants", "--participants-topic", parts, "--participants-dlq-topic",
                    parts + ".dlq", "--program", run.program], input=directory, env=ENV,
                   check=True, capture_output=True, text=True)
    return rules, parts, rules_topic, first, lines, directory
