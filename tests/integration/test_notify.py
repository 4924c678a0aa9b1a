#!/usr/bin/env python3
"""test_notify.py BUILD_DIR: carrot-notify on real Kafka, Redis and PostgreSQL, with local
Slack/Teams/webhook (HTTP) and SMTP receivers that fail on purpose.

A feed goes through carrot-ingest, carrot-scorer and carrot-ledger in phases, each with the
triggers it must cause: a baseline, a goal and an entry into the top 3, a new number one
passing two people, a tie into the top 3 by someone in quiet hours, a goal of someone who
opted out of goals; then redemptions fulfilled and rejected, a sweepstakes drawn, and a
period's settlements (met, missed with a supervisor, a streak). Then:
  - the triggers stored are exactly those (kind and participant), each once;
  - every message reaches its receiver although the webhook answered 503 three times, the
    chat receiver hung past the timeout for a while and the webhook receiver was down
    (connection refused) for a phase, during which the e-mails went (a channel that does not
    answer holds no other); the channels' bodies are Slack Block Kit (a name's
    "<", ">" and "&" escaped), a Teams Adaptive Card, signed JSON, an e-mail;
  - the webhook's signature verifies with an independent HMAC (receivers.verify_signature),
    and fails for a tampered body and a stale timestamp;
  - quiet hours hold a participant's messages until their end; an opt-out skips the goal's
    messages and no other;
  - a receiver that refuses a message for good (400) dead-letters it (topic and log, with
    the answer); `carrot-notify replay` sends it once the receiver accepts;
  - carrot-notify killed with SIGKILL three times mid-delivery of a burst and restarted:
    every message delivered, none twice to the receiver that honours Idempotency-Key, a
    chat message sent again marked possibly repeated;
  - the display channel posts to the program's screens: each of its messages is in the
    boards' feed once (through the kills too), and carrot-board with builtin-celebrations
    off celebrates exactly those, as worded by the configuration, and none of its own;
  - the configuration is versioned like the rules: the first member's file seeds the
    configuration topic, `carrot-notify publish` switches the running member to version 2
    (what was queued keeps version 1; a message still due for a channel version 2 makes
    another form is given up on, with why), members restarted with the version 1 file follow
    the topic's version 2, and SIGHUP publishes the file again (version 3, which drops a
    channel with a message still due: given up on too), which is then in force;
  - bad configurations are refused with their line: a template naming an unknown field, a
    channel URL that is not http(s), an e-mail address that is not one.
"""
import datetime
import json
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

from carrot_it import ENV, ROOT, WRAP, Run, free_port, kafka, psql, shift_ms, wait_for
from receivers import HttpReceiver, SmtpReceiver, verify_signature

run = Run("test_notify", sys.argv[1])
P = run.program
PARTS, PARTS_DLQ = f"{run.tag}.participants", f"{run.tag}.participants.dlq"
RULES_TOPIC = f"{run.tag}.rules"
NOTIFY_DLQ = f"{run.tag}.notify.dlq"
CONFIG_TOPIC = f"{run.tag}.notify.config"
GROUP = f"{run.tag}.notify"  # the deployment under test; the digest one is another
MINE = f"notifier = '{GROUP}' AND program_id = '{run.program}'"
REDIS = (ENV["CARROT_REDIS_HOST"], ENV["CARROT_REDIS_PORT"])
SECRET = "s3cret-for-the-test"
NOW = int(time.time() * 1000) + shift_ms()
def iso_at(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


# two promotions on meetings (which no one logs here: the points stay as counted): one
# running since an hour ago, one over half an hour ago
RULES = f"""program: {P}
version: "t1"
timezone: UTC
kpis:
  - id: deal
    when: {{activity: deal_won}}
    points: 100
  - id: call
    when: {{activity: call}}
    points: 5
goals:
  - id: three-calls
    when: {{activity: call}}
    period: week
    target: 3
    bonus: 50
promotions:
  - id: double-meetings
    from: {iso_at(NOW - 3600000)}
    to: {iso_at(NOW + 3600000)}
    when: {{activity: meeting, segment: [direct]}}
    multiplier: 2
  - id: early-bird
    from: {iso_at(NOW - 3 * 3600000)}
    to: {iso_at(NOW - 1800000)}
    when: {{activity: meeting}}
    bonus: 5
"""
n_events = 0
_utc = datetime.timezone.utc
LAST_WEEK = datetime.datetime.fromtimestamp(NOW / 1000 - 7 * 86400, _utc).strftime("%G-W%V")
IN_40_DAYS = datetime.datetime.fromtimestamp(NOW / 1000 + 40 * 86400, _utc).strftime("%Y-%m-%d")


def line(pid, typ, ago_ms=60000):
    global n_events
    n_events += 1
    at = datetime.datetime.fromtimestamp((NOW - ago_ms) / 1000, datetime.timezone.utc)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return json.dumps({"event_id": f"{run.tag}-e{n_events}", "program_id": P,
                       "source_system": "crm", "source_record_id": f"r{n_events}", "change_type": "CREATE",
                       "activity_type": typ, "occurred_at": stamp, "recorded_at": stamp,
                       "participant_id": pid})


def feed(*items, ago_ms=60000):
    """items: (participant, activity, times); ingested at once."""
    run.ingest("".join(line(p, t, ago_ms) + "\n" for p, t, k in items for _ in range(k)))


def notify(*args, check=None):
    r = subprocess.run([*WRAP, str(run.bin / "carrot-notify"), *args, "--pg-dsn", ENV["CARROT_PG_DSN"]],
                       env=ENV, capture_output=True, text=True, cwd=ROOT)
    if check is not None and r.returncode != check:
        raise RuntimeError(f"carrot-notify {' '.join(args)}: exit {r.returncode}, not {check}: "
                           f"{r.stderr[-600:]}")
    return r


def ledger(*args):
    r = subprocess.run([str(run.bin / "carrot-ledger"), *args, "--pg-dsn", ENV["CARROT_PG_DSN"]],
                       env=ENV, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"carrot-ledger {' '.join(args)}: exit {r.returncode}: "
                           f"{r.stderr[-600:]}")
    return r.stdout


def booked():
    return int(psql(f"SELECT count(*) FROM awards WHERE program_id = '{P}'"))


def events():
    rows = psql(f"SELECT kind || ' ' || participant_id FROM notify_events WHERE {MINE} "
                "ORDER BY 1")
    return sorted(rows.splitlines()) if rows else []


def outbox(where="true"):
    """[(id, trigger, channel, recipient, state, attempts, possibly_repeated, key)]"""
    rows = psql(f"SELECT message_id, kind, channel, recipient, state, attempts, possibly_repeated, "
                f"idempotency_key FROM notify_outbox WHERE {MINE} AND ({where}) "
                "ORDER BY message_id")
    return [tuple(r.split("|")) for r in rows.splitlines()] if rows else []


T0 = time.monotonic()


def expect_events(want, what):
    """Waits for the triggers want; any other is caught by the last, exact comparison."""
    try:
        wait_for(what, lambda: set(want) <= set(events()), timeout=60, interval=0.2)
    except TimeoutError:
        run.fail(f"{what}: triggers {events()}, expected {sorted(want)}")
    run.say(f"{time.monotonic() - T0:5.1f} s: {what}")


def config(chat, hook, strict, smtp, quiet, version="notify-test-1"):
    return f"""version: "{version}"
time_zone: Etc/GMT-12
programs: [{P}]
quiet_hours: {{from: "{quiet[0]}", to: "{quiet[1]}"}}
retry: {{attempts: 30, base_ms: 200, max_ms: 1000, timeout_ms: 1500}}
channels:
  slack: {{type: slack, url: "{chat.url('/slack')}"}}
  teams: {{type: teams, url: "{chat.url('/teams')}"}}
  hook: {{type: webhook, url: "{hook.url('/carrot')}", secret_env: NOTIFY_TEST_SECRET}}
  strict: {{type: webhook, url: "{strict.url('/strict')}", secret_env: NOTIFY_TEST_SECRET}}
  mail: {{type: email, url: "{smtp.url()}", from: "carrot@example.com"}}
  tv: {{type: display}}
triggers:
  goal:
    channels: [slack, hook, mail, tv]
    text: "{{{{name}}}} reached {{{{goal}}}}: +{{{{points}}}} points (rules {{{{rules_version}}}})"
    subject: "Goal reached: {{{{goal}}}}"
  number_one:
    board: "ptd:all"
    channels: [teams, hook, tv]
    subject: "Top of the board"
    text: "{{{{name}}}} is number one with {{{{points}}}}"
  top_n: {{board: "ptd:all", n: 3, channels: [hook], text: "{{{{name}}}} is in the top {{{{n}}}}: rank {{{{rank}}}}"}}
  overtaken:
    board: "ptd:all"
    n: 3
    channels: [hook, mail]
    text: "{{{{by}}}} passed {{{{name}}}}: now rank {{{{rank}}}} (was {{{{previous_rank}}}})"
  commitment_met: {{channels: [hook], text: "{{{{name}}}} kept {{{{commitment}}}} in {{{{period}}}}"}}
  commitment_missed:
    channels: [hook, mail]
    to: [participant, supervisor]
    text: "{{{{name}}}} missed {{{{commitment}}}}: {{{{figure}}}} of {{{{target}}}} ({{{{supervisor}}}} is told)"
  streak: {{channels: [hook, tv], text: "{{{{name}}}}: {{{{streak}}}} periods in a row"}}
  redemption_fulfilled: {{channels: [hook], text: "{{{{item}}}} is on its way to {{{{name}}}}"}}
  redemption_rejected: {{channels: [hook], text: "{{{{item}}}} refused: {{{{reason}}}}"}}
  draw_won: {{channels: [hook, strict, tv], text: "{{{{name}}}} won {{{{prize}}}} in {{{{sweepstakes}}}}"}}
  points_expiring: {{days: 40, channels: [hook], text: "{{{{points}}}} points of {{{{name}}}} expire by {{{{date}}}}"}}
  weekly_summary: {{channels: [hook], text: "{{{{name}}}}, week {{{{week}}}}: {{{{points}}}} points, rank {{{{rank}}}} of {{{{of}}}}"}}
  promotion_started:
    channels: [slack, mail]
    subject: "A promotion: {{{{promotion}}}}"
    text: "{{{{promotion}}}} runs for {{{{segments}}}}: x{{{{multiplier}}}}"
  promotion_ended: {{channels: [hook], text: "{{{{promotion}}}} is over"}}
  team_summary:
    channels: [hook, mail]
    subject: "Your team's week {{{{week}}}}"
    text: "{{{{name}}}}: your {{{{people}}}} people made {{{{points}}}} points; {{{{top}}}} led with {{{{top_points}}}}"
"""


# the digest deployment's daily time: this long after it starts (under valgrind its
# triggers take longer to be queued)
DIGEST_LEAD_MS = 45000 if WRAP else 20000


def start_digest(tmp, smtp):
    """A second deployment (its own group, outbox and places) whose e-mail channel sends a
    daily digest; its clock is set a little ahead so that its digest time, HH:MM, comes
    DIGEST_LEAD_MS after it starts."""
    now = int(time.time() * 1000) + shift_ms()
    at = -(-(now + DIGEST_LEAD_MS) // 60000) * 60000  # the minute after the lead
    ahead = at - DIGEST_LEAD_MS - now
    hhmm = datetime.datetime.fromtimestamp(at / 1000, datetime.timezone.utc).strftime("%H:%M")
    cfg = tmp / "digest.yaml"
    cfg.write_text(f"""version: "digest-1"
programs: [{P}]
channels:
  dmail: {{type: email, url: "{smtp.url()}", from: "digest@example.com", digest: "{hhmm}"}}
triggers:
  goal: {{channels: [dmail], text: "{{{{name}}}} reached {{{{goal}}}}"}}
  top_n: {{board: "ptd:all", n: 3, channels: [dmail], text: "{{{{name}}}}: top {{{{n}}}}"}}
  overtaken: {{board: "ptd:all", n: 3, channels: [dmail], text: "{{{{by}}}} passed {{{{name}}}}"}}
""")
    shift = (shift_ms() + ahead) // 1000
    return run.start("digest", ["carrot-notify", "run", "--notifications", str(cfg), "--brokers",
                                ENV["CARROT_BROKERS"], "--awards-topic", run.awards, "--group",
                                f"{run.tag}.digest", "--instance", "d1", "--dlq-topic",
                                NOTIFY_DLQ, "--redis-host", REDIS[0], "--redis-port", REDIS[1],
                                "--rules-topic", RULES_TOPIC, "--pg-dsn", ENV["CARROT_PG_DSN"],
                                "--batch-ms", "50", "--config-topic", ""],
                     WRAP, extra_env={"CARROT_TEST_CLOCK_SHIFT": f"+{shift}s"})


def check_digests(smtp):
    """One e-mail per address with the day's messages, at the digest time."""
    want = {"p0@example.com": ["Cleo passed Ann <@here> & Co"],
            "p1@example.com": ["Bob reached three-calls", "Bob: top 3", "Cleo passed Bob"],
            # number_one is off here: Cleo's entry is told as top_n
            "p2@example.com": ["Cleo: top 3"],
            "p3@example.com": ["Dee reached three-calls", "Dee: top 3"]}

    def got():
        with smtp.lock:
            return {m["rcpt_to"][0]: m for m in smtp.messages}
    try:
        wait_for("the digests", lambda: set(got()) >= set(want), timeout=90)
    except TimeoutError:
        run.fail(f"digests: {sorted(got())}, expected {sorted(want)}")
        return
    mails = got()
    for addr, lines in want.items():
        m = mails[addr]
        body = m["data"].decode().split("\r\n\r\n", 1)[1]
        items = sorted(x[2:] for x in body.split("\r\n") if x.startswith("- "))
        subject = m["headers"].get("subject")
        if items != sorted(lines) or subject != f"Carrot: {len(lines)} update" + (
                "s" if len(lines) > 1 else ""):
            run.fail(f"digest to {addr}: {subject!r}, {items}; expected {sorted(lines)}")
    if len(smtp.messages) != len(want):
        run.fail(f"{len(smtp.messages)} digest e-mails, expected {len(want)}")


def bad_configs(tmp):
    """Refused when read, with the line."""
    base = ('version: "x"\nchannels:\n  hook: {type: webhook, url: "http://127.0.0.1:1/h", '
            'secret_env: NOTIFY_TEST_SECRET}\n')
    cases = [
        (base + "triggers:\n  goal:\n    channels: [hook]\n    text: \"{{name}} got {{bonus}}\"\n",
         ":7:", "unknown field \"bonus\""),
        ('version: "x"\nchannels:\n  s: {type: slack, url: "ftp://example.com/x"}\n', ":3:",
         "is not an http(s):// URL"),
        ('version: "x"\nchannels:\n  s: {type: webhook, url: "file:///etc/passwd", '
         'secret_env: NOTIFY_TEST_SECRET}\n', ":3:", "is not an http(s):// URL"),
        ('version: "x"\nchannels:\n  m:\n    type: email\n    url: "smtp://127.0.0.1:25"\n'
         '    from: "carrot at example"\n', ":6:", "is not an e-mail address"),
        ('version: "x"\nchannels:\n  m: {type: email, url: "http://127.0.0.1:25", '
         'from: "a@b.example"}\n', ":3:", "smtp"),
        (base + "triggers:\n  goals: {channels: [hook], text: hi}\n", ":5:", "unknown trigger"),
        (base + "triggers:\n  goal: {channels: [nope], text: hi}\n", ":5:", "no channel"),
    ]
    for i, (text, where, why) in enumerate(cases):
        path = tmp / f"bad{i}.yaml"
        path.write_text(text)
        r = notify("check", "--notifications", str(path))
        if r.returncode != 3 or where not in r.stderr or why not in r.stderr:
            run.fail(f"bad configuration {i}: exit {r.returncode}, {r.stderr.strip()!r}; "
                     f"expected exit 3 naming {where} and {why!r}")
    # a configuration that is not valid is not published
    r = notify("publish", "--notifications", str(tmp / "bad0.yaml"), "--config-topic",
               CONFIG_TOPIC, "--group", GROUP, "--brokers", ENV["CARROT_BROKERS"])
    if r.returncode != 3 or ":7:" not in r.stderr:
        run.fail(f"publish of a bad configuration: exit {r.returncode}, {r.stderr.strip()!r}")
    r = notify("contact", "--program", P, "--participant", "x", "--email", "x@y")
    if r.returncode != 2 or "is not an e-mail address" not in r.stderr:
        run.fail(f"contact with a bad address: exit {r.returncode}, {r.stderr.strip()!r}")


def start_notify(cfg_path, name="notify"):
    return run.start(name, ["carrot-notify", "run", "--notifications", str(cfg_path), "--brokers",
                            ENV["CARROT_BROKERS"], "--awards-topic", run.awards, "--group",
                            GROUP, "--instance", "n1", "--dlq-topic", NOTIFY_DLQ,
                            "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--rules-topic",
                            RULES_TOPIC, "--pg-dsn", ENV["CARROT_PG_DSN"], "--ledger-ms", "300",
                            "--batch-ms", "50", "--digest-ms", "1000", "--config-topic",
                            CONFIG_TOPIC],
                     WRAP, extra_env={"NOTIFY_TEST_SECRET": SECRET})


def main():
    tmp = run.build / f"{run.tag}-notify"
    tmp.mkdir(exist_ok=True)
    run.topics(3)
    run.create_topics(*(f"{t}:1" for t in (NOTIFY_DLQ, PARTS, PARTS_DLQ)),
                      f"{RULES_TOPIC}:1:compact")
    ENV["NOTIFY_TEST_SECRET"] = SECRET
    bad_configs(tmp)
    ledger("migrate")

    # names from the directory, one that chat markup must not read as markup
    people = {"p0": "Ann <@here> & Co", "p1": "Bob", "p2": "Cleo", "p3": "Dee", "p4": "Eve",
              "q1": "Q One", "q2": "Q Two", "boss": "The Boss"}
    directory = "".join(json.dumps({
        "participant_id": p, "program_id": P, "display_name": name, "segment": "direct",
        "supervisor_id": "boss" if p != "boss" else None,
        "updated_at": "2026-01-01T00:00:00Z"}) + "\n" for p, name in people.items())
    subprocess.run([str(run.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"], "--format",
                    "participants", "--participants-topic", PARTS, "--participants-dlq-topic",
                    PARTS_DLQ, "--program", P], input=directory, env=ENV, check=True,
                   capture_output=True, text=True)
    subprocess.run([str(run.bin / "carrot-directory"), "--brokers", ENV["CARROT_BROKERS"],
                    "--topic", PARTS, "--dlq-topic", PARTS_DLQ, "--group", f"{run.tag}.dir",
                    "--redis-host", REDIS[0], "--redis-port", REDIS[1], "--until-drained"],
                   env=ENV, check=True, capture_output=True, timeout=300)
    for p in ("p0", "p1", "p2", "p3", "boss"):
        notify("contact", "--program", P, "--participant", p, "--email", f"{p}@example.com",
               check=0)
    # p3 is in quiet hours: UTC now, inside an hour either side; everyone else's zone
    # (Etc/GMT-12, 12 hours ahead) is outside them
    utc = datetime.datetime.fromtimestamp(NOW / 1000, datetime.timezone.utc)
    quiet = ((utc - datetime.timedelta(hours=1)).strftime("%H:%M"),
             (utc + datetime.timedelta(hours=1)).strftime("%H:%M"))
    notify("contact", "--program", P, "--participant", "p3", "--time-zone", "UTC", check=0)
    notify("opt-out", "--program", P, "--participant", "p4", "--trigger", "goal", check=0)

    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    subprocess.run([str(run.bin / "carrot-rules"), "publish", str(rules), "--rules-topic",
                    RULES_TOPIC, "--brokers", ENV["CARROT_BROKERS"]], env=ENV, check=True,
                   capture_output=True)
    run.start("scorer", ["carrot-scorer", "--brokers", ENV["CARROT_BROKERS"], "--redis-host",
                         REDIS[0], "--redis-port", REDIS[1], "--topic", run.topic,
                         "--awards-topic", run.awards, "--dlq-topic", run.dlq, "--group",
                         run.scorer_group, "--instance", "s1", "--rules", str(rules),
                         "--rules-topic", ""])
    run.start("ledger", ["carrot-ledger", "run", "--brokers", ENV["CARROT_BROKERS"], "--topic",
                         run.awards, "--dlq-topic", run.awards_dlq, "--group", run.ledger_group,
                         "--pg-dsn", ENV["CARROT_PG_DSN"]])

    with HttpReceiver() as chat, HttpReceiver() as hook, HttpReceiver() as strict, \
            SmtpReceiver() as smtp, SmtpReceiver() as digest_smtp:
        cfg = tmp / "notify.yaml"
        cfg.write_text(config(chat, hook, strict, smtp, quiet))
        r = notify("check", "--notifications", str(cfg))
        if r.returncode != 0:
            run.fail(f"check of the test's configuration: {r.stderr.strip()}")
        hook.set_mode("fail_n", n=3, status=503)
        strict.set_mode("reject", status=400)
        # the board's first sight, once the scorer has it all: a baseline, nothing told;
        # q1 and q2 logged last week: their summaries (and their supervisor's) are due now
        feed(("p0", "deal_won", 1))
        feed(("q1", "call", 1), ("q2", "call", 2), ago_ms=7 * 86400000)
        wait_for("the baseline booked", lambda: booked() == 4, timeout=60)
        start_notify(cfg)
        start_digest(tmp, digest_smtp)
        wait_for("the baselines of both deployments", lambda: psql(
            f"SELECT count(*) FROM notify_ranks WHERE program_id = '{P}'") == "2", timeout=60)
        want = ["weekly_summary q1", "weekly_summary q2", "team_summary boss",
                "promotion_started ", "promotion_ended "]
        feed(("p1", "call", 3))  # 65 points: a goal, rank 2; q2 and q1 fall a place each
        want += ["goal p1", "top_n p1", "overtaken q2", "overtaken q1"]
        expect_events(want, "a goal and an entry into the top 3")
        chat.set_mode("hang")  # past the 1.5 s timeout, for a while
        hook.stop()  # connection refused, for a while
        down = time.monotonic()
        feed(("p2", "deal_won", 2))  # 200: number one, passing p0 and p1
        want += ["number_one p2", "overtaken p0", "overtaken p1", "overtaken q2"]
        expect_events(want, "a new number one")
        # channels that do not answer hold no other: this phase's e-mails go while the webhook
        # refuses and the chat hangs, with their messages still due
        passed_over = ("kind = 'overtaken' AND channel = 'mail' AND recipient IN ('p0', 'p1') "
                       "AND state = 'sent'")
        try:
            wait_for("e-mail while the webhook is down", lambda: len(outbox(passed_over)) == 2,
                     timeout=60, interval=0.2)
        except TimeoutError:
            run.fail(f"this phase's e-mails wait for the channels that are down: "
                     f"{outbox('channel = ' + repr('mail'))}")
        stuck = outbox("channel IN ('hook', 'teams') AND state <> 'sent'")
        if not any(m[1] == "number_one" for m in stuck):
            run.fail(f"the channels down had nothing due while the e-mails went: {stuck}")
        time.sleep(max(0.0, 3 - (time.monotonic() - down)))
        chat.set_mode("ok")
        hook.start()
        feed(("p3", "call", 3), ("p4", "call", 3))  # 65 each: a tie at rank 3 with p1
        want += ["goal p3", "goal p4", "top_n p3", "top_n p4"]
        expect_events(want, "ties into the top 3")

        # the ledger's triggers
        wait_for("the ledger to book", lambda: booked() == 18, timeout=60)
        ledger("catalog-set", "--program", P, "--item", "mug", "--name", "Mug", "--price", "30",
               "--stock", "10")
        ledger("redeem", "--program", P, "--participant", "p0", "--item", "mug")
        ledger("redeem", "--program", P, "--participant", "p1", "--item", "mug")
        ids = psql(f"SELECT redemption_id FROM redemptions WHERE program_id = '{P}' "
                   "ORDER BY participant_id").split()
        ledger("fulfil", "--redemption", ids[0])
        ledger("reject", "--redemption", ids[1], "--reason", "out of stock")
        seed = tmp / "seed"
        ledger("sweepstakes-create", "--program", P, "--sweepstakes", "wheel", "--name",
               "Spin & Win", "--entry-cost", "10", "--prizes", '[{"prize": "e-bike", "weight": 1}]',
               "--seed-file", str(seed))
        ledger("enter", "--program", P, "--sweepstakes", "wheel", "--participant", "p2")
        ledger("close", "--program", P, "--sweepstakes", "wheel")
        ledger("draw", "--program", P, "--sweepstakes", "wheel", "--seed-file", str(seed))
        # a week's settlements, as carrot-commit close writes them
        psql("INSERT INTO commitment_settlements (program_id, commitment_id, period_id, "
             "participant_id, supervisor_id, metric, figure, target, met, streak, misses, bonus, "
             "penalty, streak_bonus, rules_version, period_end) VALUES "
             f"('{P}', 'calls', 'w:2026-W49', 'p0', 'boss', 'count', 5, 4, true, 1, 0, 20, 0, 0, "
             "'t1', now()), "
             f"('{P}', 'calls', 'w:2026-W49', 'p1', 'boss', 'count', 1, 4, false, 0, 2, 0, 5, 0, "
             "'t1', now()), "
             f"('{P}', 'calls', 'w:2026-W49', 'p2', 'boss', 'count', 6, 4, true, 2, 0, 20, 0, 30, "
             "'t1', now())")
        want += ["redemption_fulfilled p0", "redemption_rejected p1", "draw_won p2",
                 "commitment_met p0", "commitment_missed p1", "commitment_met p2", "streak p2"]
        expect_events(want, "the ledger's triggers")
        # an expiry policy: everyone's points expire within 40 days (a month after earning)
        ledger("expiry-set", "--program", P, "--months", "1")
        want += [f"points_expiring {p}" for p in ("p0", "p1", "p2", "p3", "p4", "q1", "q2")]
        expect_events(want, "points expiring")
        time.sleep(1)  # a trigger that should not be would be stored by now
        if events() != sorted(want):
            run.fail(f"triggers {events()}, expected exactly {sorted(want)}")

        # every message that is not held or skipped reaches its receiver
        def settled():
            rows = outbox("state NOT IN ('sent', 'skipped', 'dead') AND recipient <> 'p3'")
            return not rows
        try:
            wait_for("every message sent", settled, timeout=90)
        except TimeoutError:
            unsent = outbox("state <> 'sent'")
            run.fail(f"messages not sent: {unsent}")
        run.say(f"{time.monotonic() - T0:5.1f} s: every message sent")
        check_bodies(chat, hook, smtp)
        check_held_and_skipped()
        check_dead_and_replay(strict)
        run.say(f"{time.monotonic() - T0:5.1f} s: dead letter and replay")
        new_version(tmp, cfg, chat, hook, strict, smtp, quiet)
        burst_with_kills(cfg, chat, hook, smtp)
        versions_after_kills()
        check_screens()
        reread_on_sighup(tmp, cfg, chat, hook, strict, smtp, quiet)
        run.say(f"{time.monotonic() - T0:5.1f} s: the screens")
        check_digests(digest_smtp)
        run.say(f"{time.monotonic() - T0:5.1f} s: digests")


def check_bodies(chat, hook, smtp):
    sent = outbox("state = 'sent'")
    by_channel = {}
    for m in sent:
        by_channel.setdefault(m[2], []).append(m)
    # the webhook: every message once, each signed, the failures retried
    got = {r["headers"].get("idempotency-key") for r in hook.delivered()}
    want = {m[7] for m in by_channel.get("hook", [])}
    if got != want:
        run.fail(f"webhook: delivered {len(got)} keys, the outbox says {len(want)} sent: "
                 f"{sorted(want ^ got)[:5]}")
    if not any(r["status"] == 503 for r in hook.requests):
        run.fail("the webhook receiver never answered 503: the retry was not exercised")
    for r in hook.delivered():
        if not verify_signature(SECRET.encode(), r["headers"], r["body"]):
            run.fail(f"a signature does not verify: {r['headers']}")
            break
    r0 = hook.delivered()[0]
    if verify_signature(SECRET.encode(), r0["headers"], r0["body"] + b" "):
        run.fail("a tampered body verifies")
    if verify_signature(SECRET.encode(), r0["headers"], r0["body"], now=time.time() + 301):
        run.fail("a signature 301 s old verifies")
    texts = {json.loads(r["body"])["text"] for r in hook.delivered()}
    for t in ("Bob reached three-calls: +50 points (rules t1)", "Cleo is number one with 200",
              "Cleo passed Ann <@here> & Co: now rank 2 (was 1)", "Bob is in the top 3: rank 2",
              "Mug is on its way to Ann <@here> & Co", "Mug refused: out of stock",
              "Cleo won e-bike in Spin & Win", "Bob missed calls: 1 of 4 (The Boss is told)",
              "Cleo: 2 periods in a row", "Ann <@here> & Co kept calls in 2026-W49",
              "early-bird is over",
              f"Q Two, week {LAST_WEEK}: 10 points, rank 1 of 2",
              f"Q One, week {LAST_WEEK}: 5 points, rank 2 of 2",
              "The Boss: your 2 people made 15 points; Q Two led with 10",
              f"70 points of Ann <@here> & Co expire by {IN_40_DAYS}",
              f"190 points of Cleo expire by {IN_40_DAYS}", f"65 points of Bob expire by {IN_40_DAYS}",
              f"10 points of Q Two expire by {IN_40_DAYS}"):
        if t not in texts:
            run.fail(f"no webhook message {t!r} among {sorted(texts)}")
    # chat: Slack's markup escaped, Teams an Adaptive Card; some posts timed out first
    slack = [json.loads(r["body"]) for r in chat.delivered() if r["path"] == "/slack"]
    teams = [json.loads(r["body"]) for r in chat.delivered() if r["path"] == "/teams"]
    if sorted(s["text"] for s in slack) != ["Bob reached three-calls: +50 points (rules t1)",
                                            "double-meetings runs for direct: x2"]:
        run.fail(f"slack posts: {[s['text'] for s in slack]}")
    if slack and slack[0]["blocks"][0]["text"]["type"] != "mrkdwn":
        run.fail(f"slack body is not Block Kit: {slack[0]}")
    card = teams[0]["attachments"][0] if teams else {}
    if (len(teams) != 1 or card.get("contentType") != "application/vnd.microsoft.card.adaptive"
            or card["content"]["body"][0]["text"] != "Cleo is number one with 200"):
        run.fail(f"teams posts: {teams}")
    hung = psql(f"SELECT count(*) FROM notify_attempts a JOIN notify_outbox o USING (message_id) "
                f"WHERE o.{MINE} AND o.channel = 'teams' AND a.outcome = 'retry'")
    if hung == "0":
        run.fail("the hanging chat receiver caused no retry")
    # e-mail: to each contact the triggers name, the supervisor too
    with smtp.lock:
        mails = [(m["rcpt_to"], m["headers"].get("subject")) for m in smtp.messages]
    want_mail = sorted([(["p1@example.com"], "Goal reached: three-calls"),
                        (["p0@example.com"], "Cleo passed Ann <@here> & Co: now rank 2 (was 1)"),
                        (["p1@example.com"], "Cleo passed Bob: now rank 3 (was 2)"),
                        (["p1@example.com"], "Bob missed calls: 1 of 4 (The Boss is told)"),
                        (["boss@example.com"], "Bob missed calls: 1 of 4 (The Boss is told)"),
                        (["boss@example.com"], f"Your team's week {LAST_WEEK}")] +
                       [([f"{p}@example.com"], "A promotion: double-meetings")
                        for p in ("p0", "p1", "p2", "boss")])
    if sorted(mails) != want_mail:
        run.fail(f"e-mails: {sorted(mails)}, expected {want_mail}")


def check_held_and_skipped():
    held = outbox("recipient = 'p3' AND channel <> 'tv'")
    if not held or any(m[4] != "pending" for m in held):
        run.fail(f"p3's messages in quiet hours: {held}")
    late = psql(f"SELECT count(*) FROM notify_outbox WHERE {MINE} AND recipient = "
                "'p3' AND channel <> 'tv' AND next_at < now() + interval '55 minutes'")
    if late != "0":
        run.fail(f"{late} of p3's messages are due before their quiet hours end")
    # the office's screen is not a message to p3: no quiet hours for it
    if [(m[1], m[4]) for m in outbox("recipient = 'p3' AND channel = 'tv'")] != [("goal", "sent")]:
        run.fail(f"p3's goal on the screens: {outbox('recipient = ' + repr('p3'))}")
    skipped = outbox("recipient = 'p4'")
    goal = sorted((m[2], m[4]) for m in skipped if m[1] == "goal")
    if goal != [("hook", "skipped"), ("mail", "skipped"), ("slack", "skipped"),
                ("tv", "skipped")]:
        run.fail(f"p4 opted out of goals: {goal}")
    if [m[4] for m in skipped if m[1] == "top_n"] != ["sent"]:
        run.fail(f"p4's top 3 entry (not opted out): {skipped}")


def check_dead_and_replay(strict):
    dead = outbox("channel = 'strict'")
    if len(dead) != 1 or dead[0][4] != "dead":
        run.fail(f"the message refused with 400: {dead}")
        return
    answer = psql(f"SELECT last_status || ' ' || last_answer FROM notify_outbox WHERE "
                  f"message_id = {dead[0][0]}")
    if not answer.startswith("400"):
        run.fail(f"the dead message's answer: {answer!r}")
    dl = kafka("consume", NOTIFY_DLQ, "1")
    if "Cleo won e-bike" not in dl or "carrot.error" not in dl:
        run.fail(f"the dead-letter topic: {dl[:400]!r}")
    strict.set_mode("ok")
    notify("replay", "--message", dead[0][0], check=0)
    r = notify("replay", "--message", dead[0][0])
    if r.returncode != 3:
        run.fail(f"a second replay of a message no longer dead: exit {r.returncode}")
    try:
        wait_for("the replayed message", lambda: len(strict.delivered()) == 1, timeout=30)
    except TimeoutError:
        run.fail(f"the replayed message did not arrive: {outbox('channel = ' + repr('strict'))}")
    log = json.loads(notify("log", "--program", P, "--state", "sent", "--limit", "1000",
                            "--format", "json", check=0).stdout)
    if not any(e["channel"] == "strict" for e in log):
        run.fail("carrot-notify log does not list the replayed message as sent")


def notify_log():
    """The log of the last carrot-notify started (the file is kept after it stops)."""
    return (run.build / f"{run.tag}-notify.log").read_text()


def draw_for_strict(tmp, name, who):
    """A sweepstakes drawn for who while the strict receiver is down: its draw_won message on
    the strict channel tried and still due. Returns the outbox filter of that message."""
    seed = tmp / f"seed-{name}"
    ledger("sweepstakes-create", "--program", P, "--sweepstakes", name, "--name", name,
           "--entry-cost", "10", "--prizes", '[{"prize": "mug", "weight": 1}]',
           "--seed-file", str(seed))
    ledger("enter", "--program", P, "--sweepstakes", name, "--participant", who)
    ledger("close", "--program", P, "--sweepstakes", name)
    ledger("draw", "--program", P, "--sweepstakes", name, "--seed-file", str(seed))
    mine = f"channel = 'strict' AND recipient = '{who}' AND kind = 'draw_won'"
    wait_for("a message for the stopped receiver tried", lambda: any(
        int(m[5]) >= 1 and m[4] == "pending" for m in outbox(mine)), timeout=60, interval=0.2)
    return mine


def given_up(mine, why):
    try:
        wait_for("a message given up on", lambda: outbox(mine)[0][4] == "dead", timeout=30,
                 interval=0.2)
    except TimeoutError:
        run.fail(f"not given up on ({why}): {outbox(mine)}")
    said = psql(f"SELECT last_answer FROM notify_outbox WHERE {MINE} AND {mine}")
    if said != why:
        run.fail(f"given up on with {said!r}, expected {why!r}")


def strict_as_slack(text, strict):
    """The configuration's text with the strict channel a Slack webhook (another form)."""
    old = (f'  strict: {{type: webhook, url: "{strict.url("/strict")}", '
           'secret_env: NOTIFY_TEST_SECRET}\n')
    assert old in text
    return text.replace(old, f'  strict: {{type: slack, url: "{strict.url("/strict")}"}}\n')


def new_version(tmp, cfg, chat, hook, strict, smtp, quiet):
    """Version 2, whose strict channel is a Slack webhook now, published while a message made
    for it as a signed webhook is still due (its receiver down): the running member switches
    to it and gives that message up; the file stays version 1."""
    strict.stop()
    lost = draw_for_strict(tmp, "wheel2", "p1")
    v2 = tmp / "notify-v2.yaml"
    v2.write_text(strict_as_slack(config(chat, hook, strict, smtp, quiet, "notify-test-2"),
                                  strict))
    r = notify("publish", "--notifications", str(v2), "--config-topic", CONFIG_TOPIC, "--group",
               GROUP, "--brokers", ENV["CARROT_BROKERS"])
    if r.returncode != 0 or "published version notify-test-2" not in r.stdout:
        run.fail(f"publish: exit {r.returncode}, {r.stdout.strip()!r} {r.stderr.strip()!r}")
    try:
        wait_for("version 2 in force", lambda: "notifying with version notify-test-2 (was "
                 "notify-test-1)" in notify_log(), timeout=30, interval=0.2)
    except TimeoutError:
        run.fail(f"the running member did not take version 2: {notify_log()[-600:]}")
    v1 = psql(f"SELECT DISTINCT config_version FROM notify_outbox WHERE {MINE}")
    if v1 != "notify-test-1":
        run.fail(f"the messages queued before: versions {v1!r}, expected notify-test-1")
    given_up(lost, "channel strict is slack now; the message was made for webhook")


def versions_after_kills():
    """Members restarted with the version 1 file queued the burst under the topic's version 2."""
    rows = psql(f"SELECT DISTINCT config_version FROM notify_outbox WHERE {MINE} AND "
                "recipient ~ '^b[0-9]'")
    if rows != "notify-test-2":
        run.fail(f"the burst's messages were queued under {rows!r}, expected notify-test-2")
    if "following " + CONFIG_TOPIC + ": version notify-test-2" not in notify_log():
        run.fail(f"the restarted member does not say it follows the topic: {notify_log()[:600]}")


def reread_on_sighup(tmp, cfg, chat, hook, strict, smtp, quiet):
    """The file edited to version 3, without the strict channel, and SIGHUP while a message
    for that channel is still due: published, then in force, and the message given up on."""
    cfg.write_text(config(chat, hook, strict, smtp, quiet, "notify-test-3")
                   .replace(f'  strict: {{type: webhook, url: "{strict.url("/strict")}", '
                            'secret_env: NOTIFY_TEST_SECRET}\n', "")
                   .replace("[hook, strict, tv]", "[hook, tv]"))
    start_notify(cfg)  # the topic's version 2 in force first, whatever the file says
    wait_for("carrot-notify running", lambda: "notifying with version notify-test-2" in
             notify_log(), timeout=60, interval=0.2)
    lost = draw_for_strict(tmp, "wheel3", "p0")
    run.procs["notify"][0].send_signal(signal.SIGHUP)
    try:
        wait_for("version 3 in force", lambda: "notifying with version notify-test-3 (was "
                 "notify-test-2)" in notify_log(), timeout=60, interval=0.2)
    except TimeoutError:
        run.fail(f"SIGHUP did not put version 3 in force: {notify_log()[-600:]}")
    given_up(lost, "no channel strict in the configuration")
    run.stop("notify")


def feed_posts():
    """The celebrations posted to the program's feed: [(stream id, JSON)]."""
    out = subprocess.run(["redis-cli", "-h", REDIS[0], "-p", REDIS[1], "--raw", "XRANGE",
                          f"carrot:{{{P}}}:feed", "-", "+"], capture_output=True, text=True,
                         check=True).stdout
    entries = []  # raw: an entry's id, then its fields and values, a line each
    for ln in out.splitlines():
        if re.fullmatch(r"\d+-\d+", ln):
            entries.append((ln, []))
        elif entries:
            entries[-1][1].append(ln)
    return [(i, json.loads(f[f.index("c") + 1])) for i, f in entries
            if "c" in f[0::2]]


def sse(port, token, last_event_id, seconds):
    """The events of carrot-board's live stream within seconds (HTTP/1.0: not chunked)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    s.sendall((f"GET /v1/programs/{P}/events?period=ptd HTTP/1.0\r\nAuthorization: Bearer {token}"
               f"\r\nLast-Event-ID: {last_event_id}\r\n\r\n").encode())
    data, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    if " 200 " not in head.split("\r\n")[0]:
        raise RuntimeError(f"the live stream: {head[:200]!r}")
    events = []
    for block in body.split("\n\n"):
        ev = dict(ln.split(": ", 1) for ln in block.split("\n") if ": " in ln and ln[0] != ":")
        if "data" in ev:
            events.append(ev)
    return events


def check_screens():
    """The display channel's messages are in the feed once each, and a screen shows them."""
    posts = feed_posts()
    keys = [c["message"] for _, c in posts]
    sent = {m[7] for m in outbox("channel = 'tv' AND state = 'sent'")}
    if len(keys) != len(set(keys)) or set(keys) != sent:
        run.fail(f"the screens' posts: {len(keys)} ({len(set(keys))} keys), {len(sent)} sent")
    kinds = sorted({c["kind"] for _, c in posts})
    if kinds != ["draw_won", "goal", "number_one", "streak"]:
        run.fail(f"the kinds posted to the screens: {kinds}")
    texts = {(c["title"], c["text"]) for _, c in posts}
    for want in (("Top of the board", "Cleo is number one with 200"),
                 ("Sweepstakes winner!", "Cleo won e-bike in Spin & Win"),
                 ("Goal reached: three-calls", "Bob reached three-calls: +50 points (rules t1)"),
                 ("On a streak!", "Cleo: 2 periods in a row")):
        if want not in texts:
            run.fail(f"no post {want} among {sorted(texts)[:6]}")
    # a TV that was away since the start: its replay is exactly the posts, and none of
    # carrot-board's own celebrations (the feed's goals are there too)
    port, mport = free_port(), free_port()
    r = subprocess.run([str(run.bin / "carrot-board"), "token", "add", "--program", P, "--kind",
                        "display", "--pg-dsn", ENV["CARROT_PG_DSN"], "--label", "notify test"],
                       env=ENV, capture_output=True, text=True, check=True)
    token = r.stdout.strip()
    run.start("board", ["carrot-board", "--programs", P, "--port", str(port), "--redis-host",
                        REDIS[0], "--redis-port", REDIS[1], "--pg-dsn", ENV["CARROT_PG_DSN"],
                        "--brokers", ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC,
                        "--builtin-celebrations=false", "--metrics-port", str(mport)], WRAP)

    def ready():
        try:
            return subprocess.run(["curl", "-sf", f"http://127.0.0.1:{mport}/readyz"],
                                  capture_output=True).returncode == 0
        except OSError:
            return False
    wait_for("carrot-board", ready, timeout=120, interval=0.3)
    shown = [e for e in sse(port, token, "0", 6 if WRAP else 3) if e.get("event") == "celebrate"]
    got = [(e["id"], json.loads(e["data"])) for e in shown]
    if got != posts:
        run.fail(f"the screen celebrated {len(got)} ({[c.get('kind') for _, c in got][:8]}...), "
                 f"the feed holds {len(posts)} posts")
    run.stop("board")


def burst_with_kills(cfg, chat, hook, smtp):
    """30 goals at once (90 messages), the webhook slow; carrot-notify killed three times."""
    hook.set_mode("slow", delay=0.05)
    names = [f"b{i:02d}" for i in range(30)]

    def burst_seen():
        with hook.lock:
            return sum(1 for r in hook.requests if b'"participant":"b' in r["body"])

    feed(*[(p, "call", 3) for p in names])
    for _ in range(3):  # each time a burst message is on its way: SIGKILL, and start again
        seen = burst_seen()
        wait_for("a burst delivery", lambda: burst_seen() > seen, timeout=60, interval=0.02)
        time.sleep(0.15)
        p, log = run.procs.pop("notify")
        p.send_signal(signal.SIGKILL)
        p.wait()
        log.close()
        start_notify(cfg)
        run.say(f"{time.monotonic() - T0:5.1f} s: killed mid-delivery and restarted")
    want = {f"goal {p}" for p in names}  # (and some enter the top 3: not counted here)
    try:
        wait_for("the burst's triggers", lambda: want <= set(events()), timeout=60)
        wait_for("the burst delivered", lambda: not outbox(
            "state NOT IN ('sent', 'skipped', 'dead') AND recipient <> 'p3'"), timeout=120)
    except TimeoutError:
        unsent = outbox("state NOT IN ('sent', 'skipped') AND recipient <> 'p3'")
        run.fail(f"after the kills: {len(set(events()) & want)} of 30 goals, unsent: "
                 f"{unsent[:5]}")
    keys = [r["headers"].get("idempotency-key") for r in hook.delivered()]
    if len(keys) != len(set(keys)):
        run.fail("the webhook got a key twice as new")
    want_keys = {m[7] for m in outbox("channel = 'hook' AND state = 'sent'")}
    if set(keys) != want_keys:
        run.fail(f"webhook: {len(set(keys))} keys delivered, {len(want_keys)} sent")
    burst = [m for m in outbox("kind = 'goal' AND channel <> 'mail'") if m[3].startswith("b")]
    if len(burst) != 90 or any(m[4] != "sent" for m in burst):
        run.fail(f"the burst's goal messages: {len(burst)} (90 expected: slack, hook, tv), "
                 f"states {sorted({m[4] for m in burst})}")
    slack = [json.loads(r["body"])["text"] for r in chat.delivered() if r["path"] == "/slack"]
    for p in names:
        if sum(1 for t in slack if t.startswith(f"{p} reached")) < 1:
            run.fail(f"no slack post for {p}")
            break
    repeated = int(psql(f"SELECT count(*) FROM notify_outbox WHERE {MINE} AND "
                        "possibly_repeated"))
    extra = sum(1 for t in slack if t.split()[0] in names) - len(names)
    if extra > repeated or repeated > 3:
        run.fail(f"{extra} slack posts repeated, {repeated} marked possibly repeated (at most "
                 "one in doubt per kill)")
    run.say(f"{time.monotonic() - T0:5.1f} s: burst: 3 kills, {hook.repeats()} webhook repeats refused by key, {repeated} chat "
            f"messages possibly repeated")
    run.stop("notify")


run.finish(main)
