#!/usr/bin/env python3
"""test_display.py BUILD_DIR: carrot-board against real Kafka, Redis and
PostgreSQL, and its TV page in a real headless Chromium.

The pipeline of this run (participants through carrot-ingest and
carrot-directory; activities through the scorer and the ledger writer)
scores a hand-made feed whose points are known, then:
  1. tokens: none, malformed, unknown, revoked (401); a participant's token
     on a program's endpoint (403); a display token on /v1/me (403);
  2. every endpoint: boards, a board by period/scope/name with ranks 1, 2,
     2, 2, 5, 6 (ties share a rank), names from the directory, a hidden
     participant shown as "hidden" with no id, a cursor that pages the
     board exactly, around, standing, rules (the running promotion), /v1/me
     (balance and awards equal to the ledger's); bad parameters (each status
     and reason); ETag and 304; no write method (405);
  3. live push: a stream opened before an activity receives the change and
     the goal's celebration; a reconnect with Last-Event-ID gets the
     celebration it missed once; a scorer killed with SIGKILL mid-run and
     restarted pushes nothing twice (the feed stream, the push's only
     source, sums to the board, event by event);
  4. the TV page: names on screen, a change without a reload, the goal
     banner, recovery after carrot-board restarts; screenshots of the TV
     and the participant page (docs/ when CARROT_SCREENSHOTS names a folder).
"""
import datetime
import http.client
import json
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from carrot_it import ENV, WRAP, Run, free_port, psql, wait_for  # noqa: E402
from carrot_it import http as fetch  # noqa: E402

run = Run("test_display", sys.argv[1])
REDIS = (ENV.get("CARROT_REDIS_HOST", "127.0.0.1"), ENV["CARROT_REDIS_PORT"])
P = run.program
BOARD_PORT, BOARD_METRICS = free_port(), free_port()
RULES_TOPIC, PARTS, PARTS_DLQ = f"{run.tag}.rules", f"{run.tag}.participants", f"{run.tag}.pdlq"
BASE = f"http://127.0.0.1:{BOARD_PORT}"
SHOTS = pathlib.Path(ENV.get("CARROT_SCREENSHOTS") or run.build)


def redis(*args):
    return subprocess.run(["redis-cli", "-h", REDIS[0], "-p", REDIS[1], *args],
                          capture_output=True, text=True, check=True).stdout


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def shifted_now():
    """Now as Carrot's processes see it (tests/run.sh shifts their clock, CARROT_TEST_CLOCK_SHIFT)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    shift = ENV.get("CARROT_TEST_CLOCK_SHIFT", "")
    if shift:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[shift[-1]]
        now += datetime.timedelta(seconds=int(shift[1:-1]) * unit)
    return now


NOW = shifted_now()
seq = 0


def note(who, minutes_ago=30, kind="note", extra=None):
    """One activity of who: a note, logged a minute after it happened (full
    timeliness), so equal activities give equal points."""
    global seq
    seq += 1
    at = NOW - datetime.timedelta(minutes=minutes_ago)
    e = {"event_id": f"{run.tag}-e{seq}", "program_id": P, "source_system": "test",
         "source_record_id": f"{run.tag}-r{seq}", "change_type": "CREATE",
         "activity_type": kind, "occurred_at": iso(at),
         "recorded_at": iso(at + datetime.timedelta(minutes=1)), "participant_id": who,
         "segment": "dealer", "team_id": "team-01", "region": "east", "tenure_days": 400,
         "text_length": 50}
    e.update(extra or {})
    return json.dumps(e) + "\n"


def call(who, minutes_ago=20):
    return note(who, minutes_ago, "call", {"account_id": "acct-1", "disposition": "connected",
                                           "duration_seconds": 60})


def get(path, token=None, headers=None):
    """(status, JSON or None, headers) of a GET."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    c = http.client.HTTPConnection("127.0.0.1", BOARD_PORT, timeout=10)
    try:
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
        except (OSError, http.client.HTTPException) as e:
            raise RuntimeError(f"GET {path}: {e}") from e
        body = r.read().decode()
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        return r.status, doc, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


STREAMS = []  # every Stream opened, for the checks of their bytes


class Stream:
    """A server-sent events client on a thread: events land in a queue."""

    def __init__(self, path, token, last_event_id=None):
        self.q = queue.Queue()
        self.opened, self.pings, self.nuls = time.monotonic(), 0, 0
        STREAMS.append(self)
        self.conn = http.client.HTTPConnection("127.0.0.1", BOARD_PORT, timeout=60)
        h = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id:
            h["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=h)
        self.sock = self.conn.sock  # http.client lets go of it once the response streams
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.type = self.resp.getheader("Content-Type")
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        ev = {}
        try:
            for raw in self.resp:
                self.nuls += raw.count(b"\x00")
                line = raw.decode().rstrip("\n")
                self.pings += line == ": ping"
                if not line:
                    if "data" in ev:
                        self.q.put(ev)
                    ev = {}
                elif line.startswith(":"):
                    continue
                else:
                    k, _, v = line.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
        except Exception:  # the stream was closed under the reader (close()): it ends
            pass
        self.q.put(None)

    def next(self, kind=None, timeout=20):
        """The next event (of kind, others skipped); None when the stream ended."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no {kind or 'event'} on the stream within {timeout} s")
            if ev is None or kind is None or ev.get("event") == kind:
                return ev

    def drain(self, seconds):
        """Every event that arrives within seconds."""
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                ev = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if ev is None:
                break
            out.append(ev)
        return out

    def close(self):
        try:
            self.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def token(kind="display", participant=None):
    args = [str(run.bin / "carrot-board"), "token", "add", "--program", P, "--kind", kind,
            "--pg-dsn", ENV["CARROT_PG_DSN"], "--label", f"test {kind}"]
    if participant:
        args += ["--participant", participant]
    r = subprocess.run(args, env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"token add: {r.stderr}")
    return r.stdout.strip()


def board_start():
    run.start("board", ["carrot-board", "--programs", P, "--port", str(BOARD_PORT),
                        "--redis-host", REDIS[0], "--redis-port", REDIS[1],
                        "--pg-dsn", ENV["CARROT_PG_DSN"], "--brokers", ENV["CARROT_BROKERS"],
                        "--rules-topic", RULES_TOPIC, "--token-refresh-ms", "500",
                        "--push-interval-ms", "100", "--heartbeat-ms", "2000",
                        "--metrics-port", str(BOARD_METRICS)],
              WRAP)
    wait_for("carrot-board to be ready",
             lambda: fetch(f"http://127.0.0.1:{BOARD_METRICS}/readyz")[0] == 200, 120, 0.3)


def zrevrange(board):
    out = redis("ZREVRANGE", f"carrot:{{{P}}}:lb:{board}", "0", "-1", "WITHSCORES").split()
    return [(out[i], int(out[i + 1])) for i in range(0, len(out), 2)]


def check(cond, msg):
    if not cond:
        run.fail(msg)
    return cond


def setup():
    run.topics(3)
    run.create_topics(*(f"{t}:1" for t in (RULES_TOPIC, PARTS, PARTS_DLQ)))
    subprocess.run([str(run.bin / "carrot-ledger"), "migrate"], env=ENV, check=True,
                   capture_output=True)
    rules = run.rules(run.build)
    promo = (f"promotions:\n  - id: meeting-sprint\n    from: {iso(NOW - datetime.timedelta(days=1))}"
             f"\n    to: {iso(NOW + datetime.timedelta(days=2))}\n"
             "    when: {activity: meeting}\n    bonus: 5\n")
    rules.write_text(rules.read_text().replace("promotions:\n", promo, 1))
    subprocess.run([str(run.bin / "carrot-rules"), "publish", str(rules), "--brokers",
                    ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC], env=ENV, check=True,
                   capture_output=True)
    people = subprocess.run([str(run.bin / "carrot-loadgen"), "--participants-feed", "--program",
                             P], env=ENV, check=True, capture_output=True, text=True).stdout
    subprocess.run([str(run.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"],
                    "--format", "participants", "--participants-topic", PARTS,
                    "--participants-dlq-topic", PARTS_DLQ, "--program", P], input=people,
                   env=ENV, check=True, capture_output=True, text=True)
    subprocess.run([str(run.bin / "carrot-directory"), "--brokers", ENV["CARROT_BROKERS"],
                    "--topic", PARTS, "--dlq-topic", PARTS_DLQ, "--group", f"{run.tag}.dir",
                    "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--until-drained"],
                   env=ENV, check=True, capture_output=True, timeout=120)
    names = {}
    for line in people.splitlines():
        d = json.loads(line)
        names[d["participant_id"]] = (d["display_name"], d.get("hide_from_screen", False))
    return names


def booked(who):
    return int(psql(f"SELECT coalesce(sum(points), 0) FROM awards WHERE program_id = '{P}' "
                    f"AND participant_id = '{who}'"))


def main():
    names = setup()
    hidden = [p for p, (_, h) in names.items() if h]
    check(len(hidden) >= 1, f"the demo participants hide nobody: {names}")
    hid = hidden[0]
    run.scorer(*REDIS, free_port())
    run.start("ledger", ["carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"], "--topic",
                         run.awards, "--group", run.ledger_group, "--dlq-topic", run.awards_dlq,
                         "--instance", "l1", "--pg-dsn", ENV["CARROT_PG_DSN"]], WRAP)
    board_start()
    tv, me1, me_hidden = token(), token("participant", "p0001"), token("participant", hid)

    # the known feed: p0003 4 notes; p0001, p0002, p0004 3 each; hidden 2; p0005 1
    counts = {"p0003": 4, "p0001": 3, "p0002": 3, "p0004": 3, hid: 2, "p0005": 1}
    run.ingest("".join(note(w) for w, n in counts.items() for _ in range(n)))
    wait_for("the six on the program board",
             lambda: len(zrevrange("ptd:all")) == 6 and
             sum(booked(w) > 0 for w in counts) == 6, 120)
    ranked = zrevrange("ptd:all")

    # 1. tokens
    st, doc, hd = get(f"/v1/programs/{P}/boards")
    check(st == 401 and doc and doc["error"] and hd.get("www-authenticate") == "Bearer",
          f"no token: {st} {doc}")
    for bad in ("nonsense", "cbt_0011223344556677_" + "00" * 32, tv[:-1] + "0" if tv[-1] != "0"
                else tv[:-1] + "1"):
        st, doc, _ = get(f"/v1/programs/{P}/boards", bad)
        check(st == 401 and doc["error"] == "unknown or revoked token", f"token {bad}: {st} {doc}")
    st, doc, _ = get(f"/v1/programs/{P}/boards", me1)
    check(st == 403, f"a participant's token on the boards: {st} {doc}")
    st, doc, _ = get("/v1/me", tv)
    check(st == 403, f"a display token on /v1/me: {st} {doc}")
    spare = token()
    check(get(f"/v1/programs/{P}/boards", spare)[0] == 200, "a new token works")
    spare_id = spare.split("_")[1]
    subprocess.run([str(run.bin / "carrot-board"), "token", "revoke", spare_id, "--pg-dsn",
                    ENV["CARROT_PG_DSN"]], env=ENV, check=True, capture_output=True)
    listing = subprocess.run([str(run.bin / "carrot-board"), "token", "list", "--program", P,
                              "--pg-dsn", ENV["CARROT_PG_DSN"]], env=ENV, check=True,
                             capture_output=True, text=True).stdout
    check(spare_id in listing and spare.split("_")[2] not in listing,
          "token list shows ids, never secrets")
    wait_for("the revoked token refused", lambda: get(f"/v1/programs/{P}/boards", spare)[0] == 401,
             10, 0.2)
    stored = psql(f"SELECT encode(secret_sha256, 'hex') FROM display_tokens "
                  f"WHERE token_id = '{spare_id}'")
    check(stored and stored != spare.split("_")[2], "the secret is stored hashed")

    # 2. endpoints
    st, doc, _ = get(f"/v1/programs/{P}/boards", tv)
    boards = {b["board"]: b for b in doc["boards"]} if st == 200 else {}
    check("ptd:all" in boards and boards["ptd:all"]["members"] == 6 and "ptd:seg:dealer" in boards,
          f"boards: {st} {doc}")
    st, doc, hd = get(f"/v1/programs/{P}/board?period=ptd&limit=100", tv)
    if check(st == 200, f"board: {st} {doc}"):
        got = [(e["rank"], e["participant_id"], e["name"], e["points"]) for e in doc["entries"]]
        ranks = {pid if pid else hid: r for r, pid, _, _ in got}
        check([r for r, _, _, _ in got] == [1, 2, 2, 2, 5, 6], f"competition ranks: {got}")
        check(ranks.get("p0003") == 1 and ranks.get("p0005") == 6 and ranks.get(hid) == 5,
              f"who holds which rank: {got}")
        check([pts for _, _, _, pts in got] == [s for _, s in ranked], f"points as Redis: {got}")
        hidden_rows = [g for g in got if g[1] is None]
        check(len(hidden_rows) == 1 and hidden_rows[0][2] == "hidden" and
              names[hid][0] not in json.dumps(doc), f"the hidden participant is hidden: {got}")
        for r, pid, name, _ in got:
            if pid:
                check(name == names[pid][0], f"{pid} is named {name}, not {names[pid][0]}")
        check(doc["members"] == 6 and doc["next_cursor"] is None and
              doc["entries"][0]["change"] is None, f"ptd: members, no cursor, no change: {doc}")
        check(hd.get("etag") and "no-cache" in hd.get("cache-control", ""), f"headers {hd}")
        st2, _, _ = get(f"/v1/programs/{P}/board?period=ptd&limit=100", tv,
                        {"If-None-Match": hd.get("etag", "")})
        check(st2 == 304, f"If-None-Match: {st2}")
    # pages of 4: the cursor walks the board exactly once
    seen, cursor = [], None
    for _ in range(4):
        q = f"/v1/programs/{P}/board?board=ptd:all&limit=4" + (f"&cursor={cursor}" if cursor else "")
        st, doc, _ = get(q, tv)
        if not check(st == 200, f"page {q}: {st} {doc}"):
            break
        seen += [e["points"] for e in doc["entries"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    check(seen == [s for _, s in ranked], f"pages {seen} != {ranked}")
    # the week board: the change since last week is this week's points (last week is empty)
    st, doc, _ = get(f"/v1/programs/{P}/board?period=week&scope=seg:dealer", tv)
    check(st == 200 and doc["board"].startswith("w:") and doc["board"].endswith(":seg:dealer") and
          all(e["change"] == e["points"] for e in doc["entries"]), f"week board: {st} {doc}")
    # around
    st, doc, _ = get(f"/v1/programs/{P}/board/around?participant=p0002&k=1", tv)
    check(st == 200 and [e["participant_id"] for e in doc["entries"]][1] == "p0002" and
          len(doc["entries"]) == 3, f"around p0002: {st} {doc}")
    st, doc, _ = get(f"/v1/programs/{P}/board/around?participant={hid}", tv)
    check(st == 404, f"around a hidden participant: {st} {doc}")
    # standing
    st, doc, _ = get(f"/v1/programs/{P}/participants/p0003/standing", tv)
    bs = {b["board"]: b for b in doc["boards"]} if st == 200 else {}
    check(bs.get("ptd:all", {}).get("rank") == 1 and len(bs) >= 5 and
          doc["name"] == names["p0003"][0], f"standing p0003: {st} {doc}")
    st, doc, _ = get(f"/v1/programs/{P}/participants/{hid}/standing", tv)
    check(st == 404, f"standing of a hidden participant: {st} {doc}")
    st, doc, _ = get(f"/v1/programs/{P}/participants/nobody-here/standing", tv)
    check(st == 404, f"standing of nobody: {st} {doc}")
    # rules
    st, doc, _ = wait_for("the rules", lambda: (lambda r: r if r[0] == 200 else None)(
        get(f"/v1/programs/{P}/rules", tv)), 30, 0.3)
    check(doc["version"] == "2026.12-1" and doc["timezone"] == "America/Chicago" and
          any(k["id"] == "call" and k["cap"]["points"] == 40 for k in doc["kpis"]) and
          [(p["id"], p["running"]) for p in doc["promotions"]] == [("meeting-sprint", True)] and
          any(g["id"] == "weekly-calls" and g["target"] == 15 for g in doc["goals"]),
          f"rules: {doc}")
    # me
    st, doc, hd = get("/v1/me", me1)
    if check(st == 200, f"/v1/me: {st} {doc}"):
        check(doc["participant"] == "p0001" and doc["name"] == names["p0001"][0] and
              doc["balance"]["earned"] == booked("p0001") and
              sum(a["points"] for a in doc["awards"]) == booked("p0001") and
              all(a["rule"] for a in doc["awards"]) and doc["earns"]["version"] == "2026.12-1" and
              "no-store" in hd.get("cache-control", ""), f"/v1/me p0001: {doc}")
    st, doc, _ = get("/v1/me", me_hidden)
    check(st == 200 and doc["participant"] == hid and doc["name"] == names[hid][0],
          f"a hidden participant sees their own page by name: {st} {doc}")
    # bad parameters: each its status and reason
    bad = [
        ("board?period=fortnight", 400, "period"), ("board?scope=planet:mars", 400, "scope"),
        ("board?limit=0", 400, "limit"), ("board?limit=101", 400, "limit"),
        ("board?limit=ten", 400, "limit"), ("board?cursor=-1", 400, "cursor"),
        ("board?at=yesterday-ish", 400, "at"), ("board?board=w:2026-W99:all", 400, "board"),
        ("board?board=ptd:all&period=week", 400, "board"),
        ("board?board=d:2019-01-01:all", 404, "no such board"),
        ("board?period=day&at=2019-01-01T12:00:00Z", 404, "no such board"),
        ("board?scope=seg:nobody", 404, "no such board"),
        ("board/around?k=51&participant=p0001", 400, "k"), ("board/around", 400, "participant"),
        ("board?participant=" + urllib.parse.quote("a\x01b"), 400, "participant"),
        ("nonsense", 404, "no such endpoint"),
    ]
    for q, want, reason in bad:
        st, doc, _ = get(f"/v1/programs/{P}/{q}", tv)
        check(st == want and doc and reason in doc["error"] and doc["status"] == want,
              f"{q}: {st} {doc}, expected {want} naming {reason}")
    lb = [str(run.bin / "carrot-leaderboard"), "--redis-host", REDIS[0], "--redis-port", REDIS[1]]
    r = subprocess.run(lb + ["--program", f"{P}-not"], env=ENV, capture_output=True, text=True)
    check(r.returncode == 3 and "unknown program" in r.stderr and not r.stdout,
          f"carrot-leaderboard of an unknown program: {r.returncode} {r.stderr}")
    r = subprocess.run(lb + ["--program", P, "--top", "3"], env=ENV, capture_output=True, text=True)
    check(r.returncode == 0 and "board total" in r.stdout, f"carrot-leaderboard: {r.stdout}")
    st, doc, _ = get("/v1/programs/no-such-program/boards", tv)
    check(st == 404 and doc["error"] == "unknown program", f"unknown program: {st} {doc}")
    c = http.client.HTTPConnection("127.0.0.1", BOARD_PORT, timeout=10)
    c.request("POST", f"/v1/programs/{P}/boards", body=b"{}",
              headers={"Authorization": f"Bearer {tv}"})
    r = c.getresponse()
    check(r.status == 405 and r.getheader("Allow") == "GET, HEAD", f"POST: {r.status}")
    c.close()
    st, _, hd = get(f"/v1/programs/{P}/boards", tv, {"Origin": "https://evil.example"})
    check("access-control-allow-origin" not in hd, f"CORS closed: {hd}")

    # 3. live push
    s1 = Stream(f"/v1/programs/{P}/events?period=ptd", tv)
    check(s1.status == 200 and s1.type == "text/event-stream", f"events: {s1.status} {s1.type}")
    snap = s1.next("board")
    check(snap and json.loads(snap["data"])["members"] == 6, f"snapshot: {snap}")
    t0 = time.monotonic()
    run.ingest(call("p0005"))
    ev = s1.next("board")
    dt = time.monotonic() - t0
    got = json.loads(ev["data"]) if ev else {}
    p5 = [e for e in got.get("entries", []) if e["participant_id"] == "p0005"]
    check(p5 and p5[0]["points"] == int(redis("ZSCORE", f"carrot:{{{P}}}:lb:ptd:all", "p0005")),
          f"the pushed board holds the new call: {got}")
    check(ev and ev["id"] > snap["id"], f"the change's id {ev} is newer than the snapshot's {snap}")
    run.say(f"a change reached the stream {dt:.2f} s after carrot-ingest started")
    # a goal: 15 calls this week for p0006; s1 sees the celebration; s2, which left
    # before it, reconnects with its last id and gets it exactly once
    s2 = Stream(f"/v1/programs/{P}/events?period=ptd", tv)
    last2 = s2.next("board")["id"]
    s2.close()
    run.ingest("".join(call("p0006", 30 + i) for i in range(15)))
    # the 15 calls may take two batches (a slow run, valgrind): p0006 may take number one
    # in the first and reach the goal in the second; the goal's is the celebration awaited
    deadline = time.monotonic() + 30
    cel = s1.next("celebrate", 30)
    while cel and json.loads(cel["data"]).get("kind") == "number_one" and \
            time.monotonic() < deadline:
        cel = s1.next("celebrate", max(1, int(deadline - time.monotonic())))
    cd = json.loads(cel["data"]) if cel else {}
    check(cd.get("kind") == "goal" and cd.get("goal") == "weekly-calls" and
          cd.get("name") == names["p0006"][0] and cd.get("bonus") == 50,
          f"the goal's celebration: {cel}")
    s3 = Stream(f"/v1/programs/{P}/events?period=ptd", tv, last_event_id=last2)
    evs = s3.drain(3)
    goals = [e for e in evs if e.get("event") == "celebrate" and
             json.loads(e["data"]).get("goal") == "weekly-calls"]
    check(len(goals) == 1, f"the reconnect's replay holds the goal once: {evs}")
    check(evs and evs[-1].get("event") == "board" and
          json.loads(evs[-1]["data"])["version"] == evs[-1]["id"],
          f"the reconnect ends with the board as it is now: {evs}")
    s3.close()
    # the hidden participant's goal is never celebrated on a screen
    run.ingest("".join(call(hid, 60 + i) for i in range(15)))
    later = s1.drain(4)
    check(not any(names[hid][0] in e["data"] for e in later) and
          not any(e.get("event") == "celebrate" and json.loads(e["data"]).get("kind") == "goal"
                  for e in later), f"no celebration names the hidden: {later}")
    # a promotion starting: new rules (a version of their own) with one that starts in
    # 3 s: the stream celebrates it when it starts, once
    rules = run.build / "rules.yaml"
    flash = (f"promotions:\n  - id: flash-hour\n    from: {iso(shifted_now() + datetime.timedelta(seconds=3))}"
             f"\n    to: {iso(shifted_now() + datetime.timedelta(hours=1))}\n"
             "    when: {activity: meeting}\n    multiplier: 3\n")
    text = rules.read_text().replace("promotions:\n", flash, 1)
    rules.write_text(text.replace('version: "2026.12-1"', 'version: "2026.12-2"', 1))
    subprocess.run([str(run.bin / "carrot-rules"), "publish", str(rules), "--brokers",
                    ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC], env=ENV, check=True,
                   capture_output=True)
    cel = s1.next("celebrate", 40)
    cd = json.loads(cel["data"]) if cel else {}
    check(cd.get("kind") == "promotion" and cd.get("promotion") == "flash-hour" and
          cd.get("multiplier") == 3 and cd.get("bonus") == 0 and cd.get("to"),
          f"the promotion's celebration: {cel}")
    again = [e for e in s1.drain(3) if e.get("event") == "celebrate" and
             json.loads(e["data"]).get("promotion") == "flash-hour"]
    check(not again, f"the promotion celebrated once: {again}")
    st, doc, _ = get(f"/v1/programs/{P}/rules", tv)
    check(st == 200 and doc["version"] == "2026.12-2" and
          ("flash-hour", True) in [(p["id"], p["running"]) for p in doc["promotions"]],
          f"the new rules in force: {doc}")
    # SIGKILL the scorer under load, restart: the feed (what every push is made of)
    # sums to the board, so no change was pushed twice
    sp, _ = run.procs["scorer"]
    feed = "".join(note(f"p00{10 + i % 20}", 5) for i in range(3000))
    ing = run.ingest(feed, wait=False)
    wait_for("the scorer to be busy", lambda: len(zrevrange("ptd:all")) > 9, 60, 0.05)
    sp.send_signal(signal.SIGKILL)
    sp.wait()
    run.procs.pop("scorer")[1].close()
    ing.wait(120)
    run.scorer(*REDIS, free_port())
    wait_for("the board to hold all 3000 notes", lambda: sum(
        booked(f"p00{10 + i}") > 0 for i in range(20)) == 20 and
        sum(s for w, s in zrevrange("ptd:all") if w >= "p0010" and w <= "p0029") ==
        sum(booked(f"p00{10 + i}") for i in range(20)), 180, 1)
    sums, sources = {}, []
    entries = json.loads(subprocess.run(
        [sys.executable, "-c", FEED_DUMP, REDIS[0], REDIS[1], f"carrot:{{{P}}}:feed"],
        capture_output=True, text=True, check=True).stdout)
    for src, changes in entries:
        sources.append(src)
        for who, amount in changes:
            sums[who] = sums.get(who, 0) + amount
    check(len(sources) == len(set(sources)), "a feed entry per scorer transaction, none repeated")
    board_now = dict(zrevrange("ptd:all"))
    check(sums == board_now, f"the feed sums to the board: {sums} != {board_now}")
    # the heartbeat (every 2 s here) is a comment line, and no stream carries a NUL byte:
    # an EventSource takes it into the next line's field name, and drops that event
    lived = time.monotonic() - s1.opened
    check(s1.pings >= 2, f"{s1.pings} heartbeats on a stream open {lived:.0f} s")
    check(not any(st.nuls for st in STREAMS),
          f"NUL bytes on the streams: {[st.nuls for st in STREAMS]}")
    run.say(f"{s1.pings} heartbeats in {lived:.0f} s on the first stream, no NUL byte")
    s1.close()

    # 4. the TV page in Chromium
    tv_page(tv, me1, names)


# redis-cli cannot split the feed's \x1e/\x1f fields cleanly: a few lines of Python
# over the RESP protocol read the stream (source id, [(participant, amount)]).
FEED_DUMP = r'''
import json, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"".join([b"*%d\r\n" % len(a)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in
              (y.encode() for y in a)]))
    return read()
def read():
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t == b"*":
        return [read() for _ in range(int(rest))] if int(rest) >= 0 else None
    if t == b"$":
        n = int(rest)
        if n < 0: return None
        v = f.read(n + 2)[:-2]
        return v
    if t == b"-": raise SystemExit(rest.decode())
    return rest
out = []
for _id, fields in cmd("XRANGE", sys.argv[3], "-", "+"):
    d = dict(zip(fields[::2], fields[1::2]))
    changes = []
    for e in (d.get(b"e") or b"").split(b"\x1f"):
        if e:
            parts = e.split(b"\x1e")
            changes.append((parts[0].decode(), int(parts[1])))
    out.append((d[b"s"].decode(), changes))
print(json.dumps(out))
'''


def tv_page(tv, me1, names):
    from cdp import Browser
    with Browser() as b:
        url = f"{BASE}/tv/{urllib.parse.quote(P)}?token={tv}&scenes=ptd,week,promo&rotate=600"
        page = b.open(url, 1920, 1080)
        page.wait("document.querySelectorAll('#entries li .name').length >= 6", 30)
        shown = page.eval("[...document.querySelectorAll('#entries li .name')]"
                          ".map(e => e.textContent)")
        top = get(f"/v1/programs/{P}/board?period=ptd&limit=10", tv)[1]
        check(shown == [e["name"] for e in top["entries"]], f"the TV shows {shown}, the API {top}")
        check(page.eval("document.getElementById('status').textContent") == "live", "TV status")
        # a change without a reload: p0011, on the screen, climbs with a deal won
        before = page.eval("document.getElementById('entries').innerText")
        page.eval("window.__marker = 1")
        t0 = time.monotonic()
        run.ingest(note("p0011", 3, "deal_won", {"amount_minor": 500000, "currency": "USD"}))
        dt = page.wait(f"document.getElementById('entries').innerText !== {json.dumps(before)}",
                       10, 0.05)
        check(page.eval("window.__marker") == 1, "the page changed without a reload")
        run.say(f"the TV changed {time.monotonic() - t0:.2f} s after carrot-ingest started "
                f"({dt:.2f} s of waiting in the page)")
        # the goal banner: 15 meetings reach no goal; 15 calls of p0007 do
        run.ingest("".join(call("p0007", 90 + i) for i in range(15)))
        # (a slow run may split the calls over two batches: a "new number one" banner may
        # come first; the goal's is the one awaited)
        page.wait("!document.getElementById('banner').hidden && "
                  "document.getElementById('banner').innerText.includes('weekly-calls')", 30, 0.05)
        text = page.eval("document.getElementById('banner').innerText")
        check(names["p0007"][0] in text and "weekly-calls" in text, f"the banner says {text}")
        page.screenshot(str(SHOTS / "tv-celebration.png"))
        # a celebration carrot-notify posts to the screens (its display channel appends it to
        # the feed as carrot_board_feed_post does) is shown as its configuration words it,
        # after the goal's: queued, not replacing it
        post = {"from": "notify", "kind": "draw_won", "title": "Sweepstakes winner!",
                "text": "<b>Mia</b> won an e-bike", "name": "Mia",
                "message": "n-test-1"}
        redis("XADD", f"carrot:{{{P}}}:feed", "*", "s", "notify", "c", json.dumps(post))
        page.wait("document.getElementById('banner-text').textContent === "
                  "'<b>Mia</b> won an e-bike'", 30, 0.1)
        check(page.eval("document.getElementById('banner-title').textContent") ==
              "Sweepstakes winner!", "the post's title on the banner")
        check(page.eval("document.querySelector('#banner b')") is None,
              "the post's text is shown as text, not markup")
        # carrot-board restarts: the page says so, then recovers on its own
        run.stop("board")
        page.wait("document.getElementById('status').textContent !== 'live'", 15, 0.1)
        before = page.eval("document.getElementById('entries').innerText")
        board_start()
        run.ingest(note("p0012", 2, "deal_won", {"amount_minor": 10000, "currency": "USD"}))
        page.wait("document.getElementById('status').textContent === 'live'", 30, 0.2)
        page.wait(f"document.getElementById('entries').innerText !== {json.dumps(before)}", 30,
                  0.2)
        page.wait("document.getElementById('banner').hidden", 15, 0.2)
        page.screenshot(str(SHOTS / "tv.png"))
        mp = b.open(f"{BASE}/me?token={me1}", 1280, 900)
        mp.wait("document.querySelectorAll('#boards tbody tr').length >= 5", 20)
        earned = get("/v1/me", me1)[1]["balance"]["earned"]
        shown = mp.eval("document.getElementById('earned').textContent").replace(",", "")
        check(shown == str(earned), f"the page shows {shown} earned, the API {earned}")
        mp.screenshot(str(SHOTS / "me.png"))
        run.say(f"screenshots in {SHOTS}: tv.png, tv-celebration.png, me.png")


run.finish(main)
