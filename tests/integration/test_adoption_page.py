#!/usr/bin/env python3
"""test_adoption_page.py BUILD_DIR: carrot-board's adoption page, a program
manager's charts, against real PostgreSQL and a real headless Chromium.

The facts of nine weeks are written straight into migration 008's tables
(adoption_programs, participants, adoption_facts, adoption_first,
adoption_refusals) for a program of this run: 30 people in three segments,
of whom three go quiet in the last week, two start in it, two never start
and two have left. Then:
  1. tokens: a manager token reads the adoption report and what a display
     token reads (the boards); a display or participant token gets 403 on
     the report, none 401, a manager token of another program 403;
  2. the endpoint: 200 with no-store; each bad parameter a 400 naming it
     (period, periods, at, segment, band, team, and a segment the facts do
     not know); a program the board does not serve 404, and one it serves
     with no facts 404;
  3. the page in headless Chromium: once body[data-ready=1], every headline
     figure, the figures per period, the quiet list and the refusals equal
     the API's JSON fetched with the same token and parameters; each
     chart's canvas is painted (differs from a blank canvas of its size)
     and carries the series the API gives; the heat map has one cell per
     day of the API's heat map, with its number; the period and segment
     selectors fetch again and show the new report; a screenshot
     (adoption.png, in CARROT_SCREENSHOTS or beside the build);
  4. without Chart.js (--chartjs at a missing file) the page still loads,
     says what is missing, and shows its tables.
"""
import datetime
import http.client
import json
import math
import pathlib
import random
import subprocess
import sys
import time
import urllib.parse
import zoneinfo

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from carrot_it import ENV, ROOT, WRAP, Run, free_port, shift_ms, wait_for  # noqa: E402
from carrot_it import http as fetch  # noqa: E402

run = Run("test_adoption_page", sys.argv[1])
P = run.program
EMPTY = f"{P}-empty"  # served by the board, with no facts at all
TZ = "America/Chicago"
BOARD_PORT, BOARD_METRICS = free_port(), free_port()
BASE = f"http://127.0.0.1:{BOARD_PORT}"
REDIS = (ENV.get("CARROT_REDIS_HOST", "127.0.0.1"), ENV["CARROT_REDIS_PORT"])
SHOTS = pathlib.Path(ENV.get("CARROT_SCREENSHOTS") or run.build)
CHARTS = ("chart-active", "chart-activities", "chart-shares", "chart-days")


def shifted_now():
    """Now as Carrot's processes see it (tests/run.sh shifts their clock, CARROT_TEST_CLOCK_SHIFT)."""
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        milliseconds=shift_ms())


# the report's last day, given explicitly: PostgreSQL's clock is not shifted with Carrot's
AT = shifted_now().astimezone(zoneinfo.ZoneInfo(TZ)).date()
LAST_MONDAY = AT - datetime.timedelta(days=AT.weekday())
FIRST_MONDAY = LAST_MONDAY - datetime.timedelta(weeks=8)  # the week before the eight shown


def check(cond, msg):
    if not cond:
        run.fail(msg)
    return cond


def sql(text):
    """Runs SQL (any length: on stdin) in the ledger's database; its output."""
    r = subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "psql", "-X", "-q", "-t", "-A",
                        "-v", "ON_ERROR_STOP=1"], input=text, env=ENV, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr[-800:]}")
    return r.stdout.strip()


def lit(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def facts():
    """The program's people and nine weeks of their facts (deterministic): (rows of
    participants, rows of facts, the quiet, the new, the eligible)."""
    rnd = random.Random(20261102)
    people, rows = [], []
    segs = ["dealer"] * 10 + ["direct"] * 12 + ["partner"] * 8
    quiet, new, never = {"p0004", "p0015", "p0027"}, {"p0009", "p0020"}, {"p0012", "p0025"}
    late = {"p0002": 2, "p0011": 3, "p0018": 4, "p0023": 5, "p0029": 6}  # their first week
    for i, seg in enumerate(segs, 1):
        pid = f"p{i:04d}"
        people.append((pid, f"Person {i:02d}", seg, f"team-0{1 + i % 3}", True))
    people += [("p0031", "Gone Before", "dealer", "team-01", False),
               ("p0032", "Gone Too", "direct", "team-02", False)]
    for pid, _, seg, team, active in people:
        if not active or pid in never:
            continue
        keen = rnd.uniform(0.25, 0.9)
        for d in range((AT - FIRST_MONDAY).days + 1):
            day = FIRST_MONDAY + datetime.timedelta(days=d)
            week = d // 7  # 0: the week before those shown; 8: the last
            if pid in new and day != LAST_MONDAY:
                continue  # their first activity ever is the last week's Monday
            if pid in quiet and week == 8:
                continue  # active the week before (below), not in the last
            if week < late.get(pid, 0):
                continue
            # everyone else starts on the Monday of their first week (the week before
            # those shown, or a later one) and is active in the last week; the quiet are
            # active on the Wednesday before it; more of them, more often, week by week
            start = FIRST_MONDAY + datetime.timedelta(weeks=late.get(pid, 0))
            must = day in (start, LAST_MONDAY) or (week == 7 and day.weekday() == 2)
            ramp = (0.45 + 0.55 * week / 8) * (0.25 if day.weekday() >= 5 else 1)
            if not must and rnd.random() > keen * ramp:
                continue
            for kind in rnd.sample(["call", "meeting", "note"], rnd.randint(1, 2)):
                n = rnd.randint(1, 6)
                judged = n if kind != "note" else 0
                rows.append((day.isoformat(), pid, kind, seg, team, n, judged,
                             rnd.randint(0, judged), n, rnd.randint(n // 2, n),
                             rnd.randint(0, 1) if n > 3 else 0, 5 * n))
    eligible = sum(1 for p in people if p[4])
    return people, rows, quiet, new, eligible


REFUSALS = [("ingest", "feed.jsonl", "missing participant_id", 3),
            ("ingest", "feed.jsonl", "occurred_at: not an RFC 3339 time", 2),
            ("scorer", f"{P}.activities", "unknown activity type \"fax\"", 1)]


def load(people, rows):
    months = sorted({d[:7] for d, *_ in rows})
    parts = ", ".join(f"({lit(P)}, {lit(p)}, {lit(n)}, {lit(s)}, {lit(t)}, {'true' if a else 'false'}, "
                      "now())" for p, n, s, t, a in people)
    values = ",\n".join("(" + ", ".join([lit(P), lit(r[0]) + "::date"] + [lit(x) for x in r[1:5]] +
                                        [str(x) for x in r[5:]]) + ")" for r in rows)
    refused = ", ".join(f"({lit(LAST_MONDAY.isoformat())}, {lit(P)}, {lit(a)}, {lit(b)}, {lit(c)}, {n})"
                        for a, b, c, n in REFUSALS)
    sql("BEGIN;\n" +
        "".join(f"SELECT adoption_partition('{m}-01');\n" for m in months) +
        f"INSERT INTO adoption_programs (program_id, timezone, rules_version) "
        f"VALUES ({lit(P)}, {lit(TZ)}, 'test');\n"
        f"INSERT INTO participants (program_id, participant_id, display_name, segment, team_id, "
        f"active, updated_at) VALUES {parts};\n"
        "INSERT INTO adoption_facts (program_id, day, participant_id, activity_type, segment, "
        "team_id, logged, q_judged, complete, t_judged, on_time, deleted, points) VALUES\n"
        f"{values};\n"
        "INSERT INTO adoption_first (program_id, participant_id, first_day) "
        f"SELECT program_id, participant_id, min(day) FROM adoption_facts WHERE program_id = {lit(P)} "
        "AND logged > 0 GROUP BY 1, 2;\n"
        "INSERT INTO adoption_refusals (day, program_id, stage, source, reason, refused) "
        f"VALUES {refused};\nCOMMIT;\n")


def token(kind, program=P, participant=None):
    args = [str(run.bin / "carrot-board"), "token", "add", "--program", program, "--kind", kind,
            "--pg-dsn", ENV["CARROT_PG_DSN"], "--label", f"test {kind}"]
    if participant:
        args += ["--participant", participant]
    r = subprocess.run(args, env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"token add --kind {kind}: {r.stderr}")
    return r.stdout.strip()


def board_start(*extra):
    run.start("board", ["carrot-board", "--programs", f"{P},{EMPTY}", "--port", str(BOARD_PORT),
                        "--redis-host", REDIS[0], "--redis-port", REDIS[1],
                        "--pg-dsn", ENV["CARROT_PG_DSN"], "--brokers", "",
                        "--token-refresh-ms", "500", "--metrics-port", str(BOARD_METRICS),
                        *extra], WRAP)
    wait_for("carrot-board to be ready",
             lambda: fetch(f"http://127.0.0.1:{BOARD_METRICS}/readyz")[0] == 200, 120, 0.3)
    # and its own port answering (a refused connection right after readyz was seen once,
    # under valgrind)
    wait_for("carrot-board's port to answer", lambda: fetch(f"{BASE}/healthz")[0] != 0, 60, 0.3)


def get(path, tok=None):
    """(status, JSON or None, headers) of a GET."""
    c = http.client.HTTPConnection("127.0.0.1", BOARD_PORT, timeout=60)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {tok}"} if tok else {})
        r = c.getresponse()
        body = r.read().decode()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        return r.status, doc, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def adoption(tok, **q):
    return get(f"/v1/programs/{urllib.parse.quote(P)}/adoption?" + urllib.parse.urlencode(q), tok)


def api_checks(manager, display, participant, other):
    path = f"/v1/programs/{P}/adoption"
    st, doc, _ = get(path)
    check(st == 401 and doc and doc["status"] == 401, f"no token: {st} {doc}")
    st, doc, _ = get(path, display)
    check(st == 403 and doc and "manager" in doc["error"], f"a display token: {st} {doc}")
    st, doc, _ = get(path, participant)
    check(st == 403, f"a participant's token: {st} {doc}")
    st, doc, _ = get(path, other)
    check(st == 403 and doc and "another program" in doc["error"],
          f"a manager token of another program: {st} {doc}")
    st, doc, _ = get(f"/v1/programs/{P}/boards", manager)
    check(st == 200 and doc["program"] == P, f"a manager token reads the boards: {st} {doc}")
    st, doc, _ = get("/v1/me", manager)
    check(st == 403, f"a manager token on /v1/me: {st} {doc}")
    st, doc, hd = adoption(manager, at=AT.isoformat())
    check(st == 200 and doc and doc["program"] == P and doc["period"] == "week" and
          len(doc["periods"]) == 8 and "no-store" in hd.get("cache-control", "") and
          hd.get("content-type") == "application/json",
          f"the report: {st} {hd} {json.dumps(doc)[:300]}")
    bad = [({"period": "fortnight"}, 400, "period"), ({"period": ""}, 400, "period"),
           ({"periods": "0"}, 400, "periods"), ({"periods": "105"}, 400, "periods"),
           ({"periods": "eight"}, 400, "periods"), ({"at": "2026-02-30"}, 400, "at"),
           ({"at": "yesterday"}, 400, "at"), ({"segment": "a\x01b"}, 400, "segment"),
           ({"band": "x" * 257}, 400, "band"), ({"team": ""}, 400, "team"),
           ({"segment": "no-such-segment"}, 400, "segment")]
    for q, want, name in bad:
        st, doc, _ = adoption(manager, **q)
        check(st == want and doc and name in doc["error"] and doc["status"] == want,
              f"{q}: {st} {doc}, expected {want} naming {name}")
    st, doc, _ = get("/v1/programs/no-such-program/adoption", manager)
    check(st == 404 and doc and doc["error"] == "unknown program",
          f"a program the board does not serve: {st} {doc}")
    st, doc, _ = get(f"/v1/programs/{EMPTY}/adoption", other)
    check(st == 404 and doc and "unknown program" in doc["error"],
          f"a program with no facts: {st} {doc}")


def same(shown, value, what):
    """A data-value attribute ("" for null) against the API's value."""
    ok = (value is None and shown == "") or (value is not None and shown != "" and
                                            float(shown) == float(value))
    return check(ok, f"{what}: the page shows {shown!r}, the API {value!r}")


PAGE_STATE = r"""(() => {
  const val = (id) => document.getElementById(id).dataset.value;
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')]
    .filter((tr) => !tr.querySelector('[data-field=none]'))
    .map((tr) => Object.fromEntries([...tr.cells].map((td) => [td.dataset.field, td.dataset.value])));
  // a chart is drawn when its canvas differs from a blank one of its size and
  // holds pixels of its datasets' colours (lines and bars, not just the axes)
  const painted = (c) => {
    const blank = document.createElement('canvas');
    blank.width = c.width; blank.height = c.height;
    const rgb = JSON.parse(c.dataset.colors || '[]').map((h) =>
      [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
    const px = c.width ? c.getContext('2d').getImageData(0, 0, c.width, c.height).data : [];
    let data = 0;
    for (let i = 0; i < px.length; i += 4)
      if (px[i + 3] > 200 && rgb.some((k) => Math.abs(k[0] - px[i]) < 12 &&
          Math.abs(k[1] - px[i + 1]) < 12 && Math.abs(k[2] - px[i + 2]) < 12)) data++;
    return {differs: c.width > 0 && c.toDataURL() !== blank.toDataURL(), data,
            labels: JSON.parse(c.dataset.labels || 'null'), series: JSON.parse(c.dataset.series || 'null')};
  };
  return {
    kpi: Object.fromEntries(['eligible', 'active', 'activities', 'per-active', 'complete', 'on-time',
      'top10', 'quiet', 'new'].map((k) => [k, val('kpi-' + k)])),
    period: document.getElementById('last-title').dataset.period,
    periods: rows('periods'), quiet: rows('quiet'), refusals: rows('refusals'),
    cells: [...document.querySelectorAll('#heatmap .cell')].map((c) =>
      [c.dataset.day, c.dataset.active, c.title, c.textContent]),
    charts: Object.fromEntries(%s.map((id) => [id, painted(document.getElementById(id))])),
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    note: !document.getElementById('chart-note').hidden,
  };
})()""" % json.dumps(list(CHARTS))


def compare(page, doc, what, charts=True):
    """Every figure the page shows against the API's document."""
    last = doc["periods"][-1]
    check(page["error"] is None, f"{what}: the page shows an error: {page['error']}")
    check(page["period"] == last["period"], f"{what}: last period {page['period']} != {last['period']}")
    for k, v in [("eligible", last["eligible"]), ("active", last["active"]),
                 ("activities", last["activities"]), ("per-active", last["per_active"]),
                 ("complete", last["complete"]["share"]), ("on-time", last["on_time"]["share"]),
                 ("top10", last["top10_share"]), ("quiet", last["quiet"]), ("new", last["new"])]:
        same(page["kpi"][k], v, f"{what}: kpi-{k}")
    rows = page["periods"]
    check(len(rows) == len(doc["periods"]), f"{what}: {len(rows)} rows of periods, the API "
          f"{len(doc['periods'])}")
    for row, p in zip(rows, doc["periods"]):
        check(row["period"] == p["period"] and row["start"] == p["start"] and row["end"] == p["end"],
              f"{what}: period row {row} != {p['period']} {p['start']} {p['end']}")
        for f, v in [("eligible", p["eligible"]), ("active", p["active"]),
                     ("activities", p["activities"]), ("per_active", p["per_active"]),
                     ("complete", p["complete"]["share"]), ("on_time", p["on_time"]["share"]),
                     ("top10_share", p["top10_share"]), ("quiet", p["quiet"]), ("new", p["new"])]:
            same(row[f], v, f"{what}: {p['period']} {f}")
    want = [{"participant_id": q["participant_id"], "name": q["name"] or "",
             "segment": q["segment"] or "", "team_id": q["team_id"] or "",
             "last_active": q["last_active"] or "", "activities_before": str(q["activities_before"])}
            for q in doc["quiet"]]
    check(page["quiet"] == want, f"{what}: the quiet list {page['quiet']} != the API's {want}")
    want = [{"stage": r["stage"], "source": r["source"], "reason": r["reason"],
             "refused": str(r["refused"])} for r in doc["refusals"]]
    check(page["refusals"] == want, f"{what}: the refusals {page['refusals']} != the API's {want}")
    cells = page["cells"]
    check(len(cells) == len(doc["heatmap"]),
          f"{what}: {len(cells)} heat-map cells, {len(doc['heatmap'])} days in the API's heat map")
    for (day, active, title, _), h in zip(cells, doc["heatmap"]):
        if not check(day == h["day"] and active == str(h["active"]) and str(h["active"]) in title,
                     f"{what}: heat-map cell {day} {active} {title!r} != {h}"):
            break
    labels = [p["period"] for p in doc["periods"]]
    check(all("by_segment" in p for p in doc["periods"]), f"{what}: a period with no by_segment")
    segs = sorted({s for p in doc["periods"] for s in p.get("by_segment", {})})
    by = lambda f: [[p.get("by_segment", {}).get(s, {}).get(f, 0) for p in doc["periods"]]
                    for s in segs]
    pct = lambda x: None if x is None else math.floor(1000 * x + 0.5) / 10  # as Math.round
    one = doc["filters"]["segment"]
    want = {"chart-active": [[p["active"] for p in doc["periods"]]] + ([] if one else by("active")),
            "chart-activities": by("activities") if segs else [[p["activities"] for p in doc["periods"]]],
            "chart-shares": [[pct(p["complete"]["share"]) for p in doc["periods"]],
                             [pct(p["on_time"]["share"]) for p in doc["periods"]]],
            "chart-days": [last["days_active"]]}
    for cid in CHARTS:
        c = page["charts"][cid]
        check(c["series"] == want[cid], f"{what}: {cid} shows {c['series']}, the API {want[cid]}")
        if cid != "chart-days":
            check(c["labels"] == labels, f"{what}: {cid} labels {c['labels']} != {labels}")
        if charts:
            check(c["differs"] and c["data"] >= 100,
                  f"{what}: {cid} is blank ({c['data']} pixels of its datasets' colours)")


def say_drawn(state, what):
    run.say(f"{what}: pixels of the datasets' colours: " +
            ", ".join(f"{k} {v['data']}" for k, v in state["charts"].items()))


def wait_ready(page, what):
    page.wait("document.body.dataset.ready === '1' || document.body.dataset.ready === 'error'", 60,
              0.1)
    state = page.eval(PAGE_STATE)
    check(page.eval("document.body.dataset.ready") == "1",
          f"{what}: the page failed: {state['error']}")
    return state


def page_checks(manager, quiet, new, eligible):
    from cdp import Browser
    with Browser() as b:
        url = (f"{BASE}/adoption?program={urllib.parse.quote(P)}&token={manager}"
               f"&at={AT.isoformat()}")
        t0 = time.monotonic()
        page = b.open(url, 1366, 900)
        state = wait_ready(page, "week")
        run.say(f"the page was drawn {time.monotonic() - t0:.2f} s after it was opened")
        st, doc, _ = adoption(manager, period="week", at=AT.isoformat())
        if not check(st == 200, f"the report: {st} {doc}"):
            return
        compare(state, doc, "week")
        say_drawn(state, "week")
        # what the test made, independently of the report
        last = doc["periods"][-1]
        check(last["eligible"] == eligible, f"eligible {last['eligible']}, the test made {eligible}")
        check({q["participant_id"] for q in doc["quiet"]} == quiet and last["quiet"] == len(quiet),
              f"the quiet {doc['quiet']}, the test made {sorted(quiet)}")
        check(last["new"] == len(new), f"new {last['new']}, the test made {sorted(new)}")
        check(sum(r["refused"] for r in doc["refusals"]) == sum(r[3] for r in REFUSALS),
              f"the refusals {doc['refusals']}, the test made {REFUSALS}")
        first = datetime.date.fromisoformat(doc["periods"][0]["start"])
        check(len(doc["heatmap"]) == 56 and doc["heatmap"][0]["day"] == first.isoformat(),
              f"the heat map covers the eight weeks: {doc['heatmap'][:2]}...")
        # the full page, for the README
        height = min(4000, page.eval("document.documentElement.scrollHeight"))
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1366, "height": height, "deviceScaleFactor": 1, "mobile": False})
        page.wait("document.body.dataset.ready === '1'", 10)
        time.sleep(0.3)  # the charts resize to the new viewport
        page.screenshot(str(SHOTS / "adoption.png"))
        # the selectors: a segment, then another period, each fetched and drawn again
        page.eval("(() => { const s = document.getElementById('segment');"
                  " s.value = 'dealer'; s.dispatchEvent(new Event('change')); })()")
        state = wait_ready(page, "segment dealer")
        st, doc, _ = adoption(manager, period="week", segment="dealer", at=AT.isoformat())
        check(st == 200 and doc["filters"]["segment"] == "dealer" and
              list(doc["periods"][-1].get("by_segment", {})) == ["dealer"],
              f"dealer: {st} {json.dumps(doc)[:300]}")
        compare(state, doc, "segment dealer")
        check("segment=dealer" in page.eval("location.search"), "the URL keeps the segment")
        page.eval("(() => { const s = document.getElementById('period');"
                  " s.value = 'month'; s.dispatchEvent(new Event('change')); })()")
        state = wait_ready(page, "month, dealer")
        st, doc, _ = adoption(manager, period="month", segment="dealer", at=AT.isoformat())
        check(st == 200 and doc["period"] == "month", f"month: {st}")
        compare(state, doc, "month, dealer")
        # a display token on the page: the API's refusal, shown
        bad = b.open(f"{BASE}/adoption?program={urllib.parse.quote(P)}&token={token('display')}",
                     1366, 900)
        bad.wait("document.body.dataset.ready === 'error'", 30)
        text = bad.eval("document.getElementById('error').textContent")
        check("403" in text and "manager" in text, f"a display token's page says: {text}")


def no_chartjs(manager):
    """Without Chart.js the page says so and shows its tables."""
    st, _, _ = get("/static/chart.min.js")
    check(st == 404, f"/static/chart.min.js with no Chart.js: {st}")
    from cdp import Browser
    with Browser() as b:
        page = b.open(f"{BASE}/adoption?program={urllib.parse.quote(P)}&token={manager}"
                      f"&at={AT.isoformat()}", 1366, 900)
        state = wait_ready(page, "no Chart.js")
        st, doc, _ = adoption(manager, at=AT.isoformat())
        compare(state, doc, "no Chart.js", charts=False)
        check(all(c["data"] == 0 for c in state["charts"].values()),
              f"no Chart.js, yet charts drawn: {state['charts']}")
        check(state["note"] and "libjs-chart.js" in
              page.eval("document.getElementById('chart-note').textContent"),
              "the page says Chart.js is missing")
        check(page.eval("document.getElementById('periods-box').open"),
              "the figures per period are open when there are no charts")


def main():
    t0 = time.monotonic()
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True,
                   capture_output=True)
    people, rows, quiet, new, eligible = facts()
    load(people, rows)
    run.say(f"{len(rows)} fact rows of {len(people)} participants, {FIRST_MONDAY} to {AT}")
    board_start()
    st, body = fetch(f"{BASE}/static/chart.min.js")
    check(st == 200 and "Chart.js v3" in body[:200], f"/static/chart.min.js: {st} {body[:100]}")
    manager, display = token("manager"), token("display")
    participant, other = token("participant", participant="p0001"), token("manager", EMPTY)
    r = subprocess.run([str(run.bin / "carrot-board"), "token", "add", "--program", P, "--kind",
                        "boss", "--pg-dsn", ENV["CARROT_PG_DSN"]], env=ENV, capture_output=True,
                       text=True)
    check(r.returncode == 2 and "display, participant or manager" in r.stderr,
          f"token add --kind boss: {r.returncode} {r.stderr}")
    listing = subprocess.run([str(run.bin / "carrot-board"), "token", "list", "--program", P,
                              "--pg-dsn", ENV["CARROT_PG_DSN"]], env=ENV, check=True,
                             capture_output=True, text=True).stdout
    check(f"{manager.split('_')[1]}\tmanager\t" in listing, f"token list: {listing}")
    api_checks(manager, display, participant, other)
    page_checks(manager, quiet, new, eligible)
    run.stop("board")
    board_start("--chartjs", str(run.build / "no-such-chart.min.js"))
    no_chartjs(manager)
    run.say(f"screenshot: {SHOTS / 'adoption.png'}; {time.monotonic() - t0:.1f} s in all")


run.finish(main)
