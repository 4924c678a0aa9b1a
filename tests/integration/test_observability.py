#!/usr/bin/env python3
"""test_observability.py BUILD_DIR: the pipeline watched by a real Prometheus.

Runs carrot-webhook, carrot-scorer, carrot-ledger run, carrot-directory and
carrot-board against the real services, each serving /metrics, /healthz and
/readyz, with Prometheus (deploy/prometheus.sh) scraping all five, then checks:
  - Kafka's own consumer-groups tool reports lag 0 on every partition for the
    scorer's, the ledger's and the directory's groups once drained, and so do
    the programs' carrot_consumer_lag_messages gauges;
  - a message that is not an activity, written by Kafka's console producer,
    is dead-lettered by the scorer with one JSON log line naming its topic,
    partition and offset as fields;
  - the same tool (--members) names each group member by its program and
    instance (client.id carrot-scorer.s1, ...), not librdkafka's "rdkafka";
  - every panel expression of deploy/grafana/carrot.json, evaluated by
    Prometheus over its HTTP API, returns data and no error;
  - the scorer, the webhook, the directory and the board are unready (503
    naming redis) while Redis is down, and ready again once it is back.
Needs the environment of deploy/env.sh (tests/run.sh and ctest provide it).
"""
import base64
import hashlib
import hmac
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

from carrot_it import ENV, ROOT, create_topics, free_port, http, kafka, metrics, sample_sum, wait_for

BUILD = pathlib.Path(sys.argv[1]).resolve()
BIN = BUILD / "bin"
TAG = f"ob-{os.getpid()}-{int(time.time()) % 100000}"
PROGRAM = TAG
TOPIC, AWARDS = f"{TAG}.activities", f"{TAG}.awards"
DLQ, AWARDS_DLQ = f"{TAG}.activities.dlq", f"{TAG}.awards.dlq"
SCORER_GROUP, LEDGER_GROUP, DIR_GROUP = f"{TAG}.scorer", f"{TAG}.ledger", f"{TAG}.directory"
PARTS, PARTS_DLQ, RULES_TOPIC = f"{TAG}.participants", f"{TAG}.participants.dlq", f"{TAG}.rules"
SECRET = "observability-test-secret"
ACTIVITIES = 2000
BAD_EVERY = 200  # loadgen writes an invalid line every BAD_EVERY: ingest dead-letters them
procs = []
failures = []
PROM_ENV = {}


def say(msg):
    print(f"test_observability: {msg}", flush=True)


def fail(msg):
    failures.append(msg)
    say(f"FAIL: {msg}")


def start(name, args, extra_env=None):
    log = open(BUILD / f"{TAG}-{name}.log", "w")
    env = dict(ENV, **(extra_env or {}))
    p = subprocess.Popen([str(BIN / args[0])] + args[1:], stdout=log, stderr=subprocess.STDOUT,
                         env=env, cwd=ROOT)
    procs.append((name, p, log))
    return p


def group_lags(group):
    """LAG per partition from Kafka's own kafka-consumer-groups --describe."""
    out = kafka("consumer-groups", "--describe", "--group", group)
    lags = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] == group and cols[2].isdigit():
            lags[int(cols[2])] = cols[5]
    return lags


def group_client_ids(group):
    """CLIENT-ID of each member from kafka-consumer-groups --describe --members."""
    out = kafka("consumer-groups", "--describe", "--group", group, "--members")
    ids = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[0] == group and cols[-1].isdigit():
            ids.append(cols[-2])
    return ids


def prom_query(port, expr):
    q = urllib.parse.urlencode({"query": expr})
    status, body = http(f"http://127.0.0.1:{port}/api/v1/query?{q}")
    if status != 200:
        return None, f"HTTP {status}: {body[:300]}"
    doc = json.loads(body)
    if doc.get("status") != "success":
        return None, doc.get("error", body[:300])
    return doc["data"]["result"], None


def hubspot_post(url, body):
    ts = str(int(time.time() * 1000))
    msg = ("POST" + url + body + ts).encode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), msg, hashlib.sha256).digest()).decode()
    return http(url, body.encode(), {"Content-Type": "application/json",
                                     "X-HubSpot-Signature-v3": sig,
                                     "X-HubSpot-Request-Timestamp": ts})


def screenshot(prom_port, path):
    """Prometheus's own page of the dashboard's main figures (its Console tab:
    the values now, readable across a room), in headless Chromium; prints the
    same queries' answers from the HTTP API to compare with the picture."""
    # one query, so the page has one panel and nothing scrolls out of sight
    exprs = ['sum by (__name__, stage, group, check) ({__name__=~"'
             'carrot_webhook_activities_produced_total|carrot_scorer_activities_consumed_total|'
             'carrot_scorer_awards_total|carrot_ledger_awards_booked_total|'
             'carrot_dead_letters_total|carrot_consumer_lag_messages|carrot_ledger_drift_points|'
             'carrot_ready"})']
    q = {}
    for i, e in enumerate(exprs):
        q.update({f"g{i}.expr": e, f"g{i}.tab": "1"})
    url = f"http://127.0.0.1:{prom_port}/classic/graph?" + urllib.parse.urlencode(q)
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1100,900",
                    "--force-device-scale-factor=1.25", "--virtual-time-budget=15000",
                    f"--screenshot={path}", url], check=True, capture_output=True)
    say(f"screenshot of Prometheus's console in {path}; the API says:")
    for e in exprs:
        res, _ = prom_query(prom_port, e)
        for r in res or []:
            say(f"  {r['metric']} {r['value'][1]}")


def main():
    prom_port = int(ENV.get("CARROT_PROMETHEUS_PORT") or free_port())
    ENV["CARROT_PROMETHEUS_PORT"] = str(prom_port)
    ENV["CARROT_PROMETHEUS_SCRAPE_INTERVAL"] = "2s"  # also the scrape timeout: a busy CI host
    ENV["CARROT_RUN_DIR"] = ENV.get("CARROT_RUN_DIR", str(ROOT / ".run"))
    # Prometheus in a directory of this run's: an earlier run's series are not ours
    PROM_ENV.update(ENV, CARROT_RUN_DIR=tempfile.mkdtemp(prefix="carrot-prom-"))
    scorer_m, ledger_m, hook_m, hook_port = free_port(), free_port(), free_port(), free_port()
    dir_m, board_m, board_port = free_port(), free_port(), free_port()
    targets = [scorer_m, ledger_m, hook_m, dir_m, board_m]

    create_topics(BUILD, *(f"{t}:3" for t in (TOPIC, AWARDS, DLQ, AWARDS_DLQ, PARTS, PARTS_DLQ)),
                      f"{RULES_TOPIC}:1")
    rules = pathlib.Path(tempfile.mkdtemp()) / "rules.yaml"
    text = (ROOT / "deploy/demo/rules.yaml").read_text()
    rules.write_text(re.sub(r"(?m)^program:.*$", f"program: {PROGRAM}", text, count=1))

    subprocess.run(["bash", str(ROOT / "deploy/prometheus.sh"), "targets",
                    *(f"127.0.0.1:{p}" for p in targets)],
                   env=PROM_ENV, check=True)
    subprocess.run(["bash", str(ROOT / "deploy/prometheus.sh"), "start"], env=PROM_ENV, check=True)

    subprocess.run([str(BIN / "carrot-ledger"), "migrate"], env=ENV, check=True, cwd=ROOT)
    common = ["--brokers", ENV["CARROT_BROKERS"], "--log-format", "json"]
    redis = ["--redis-host", ENV["CARROT_REDIS_HOST"], "--redis-port", ENV["CARROT_REDIS_PORT"]]
    start("scorer", ["carrot-scorer", *common, *redis, "--topic", TOPIC, "--awards-topic", AWARDS,
                     "--dlq-topic", DLQ, "--group", SCORER_GROUP, "--instance", "s1",
                     "--rules", str(rules), "--rules-topic", "", "--metrics-port", str(scorer_m)])
    start("ledger", ["carrot-ledger", "run", *common, "--topic", AWARDS,
                     "--dlq-topic", AWARDS_DLQ, "--group", LEDGER_GROUP, "--instance", "l1",
                     "--pg-dsn", ENV["CARROT_PG_DSN"], "--metrics-port", str(ledger_m),
                     "--drift-interval", "2", "--activities-topic", TOPIC,
                     "--scorer-group", SCORER_GROUP, *redis])
    public = f"http://127.0.0.1:{hook_port}"
    start("webhook", ["carrot-webhook", *common, *redis, "--port", str(hook_port),
                      "--public-url", public, "--topic", TOPIC, "--dlq-topic", DLQ,
                      "--program", PROGRAM, "--metrics-port", str(hook_m)],
          {"CARROT_SECRET": SECRET})

    start("directory", ["carrot-directory", *common, *redis, "--topic", PARTS,
                        "--dlq-topic", PARTS_DLQ, "--group", DIR_GROUP, "--instance", "d1",
                        "--metrics-port", str(dir_m)])
    # the board follows the rules topic for its promotions: publish the same rules there
    subprocess.run([str(BIN / "carrot-rules"), "publish", str(rules), "--brokers",
                    ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC], env=ENV, check=True,
                   capture_output=True)
    start("board", ["carrot-board", "--log-format", "json", *redis, "--programs", PROGRAM,
                    "--port", str(board_port), "--pg-dsn", ENV["CARROT_PG_DSN"],
                    "--brokers", ENV["CARROT_BROKERS"], "--rules-topic", RULES_TOPIC,
                    "--metrics-port", str(board_m)])

    programs = (("scorer", scorer_m), ("ledger", ledger_m), ("webhook", hook_m),
                ("directory", dir_m), ("board", board_m))
    for name, port in programs:
        wait_for(f"{name} /healthz", lambda p=port: http(f"http://127.0.0.1:{p}/healthz")[0] == 200)
        wait_for(f"{name} /readyz", lambda p=port: http(f"http://127.0.0.1:{p}/readyz")[0] == 200)
    say("scorer, ledger, webhook, directory and board are alive and ready")

    people = subprocess.run([str(BIN / "carrot-loadgen"), "--participants-feed", "--program",
                             PROGRAM], env=ENV, check=True, capture_output=True, text=True).stdout
    subprocess.run([str(BIN / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"],
                    "--format", "participants", "--participants-topic", PARTS,
                    "--participants-dlq-topic", PARTS_DLQ, "--program", PROGRAM], input=people,
                   env=ENV, check=True, capture_output=True, text=True)
    npeople = len(people.splitlines())

    feed = subprocess.run([str(BIN / "carrot-loadgen"), "--seed", "7", "--count", str(ACTIVITIES),
                           "--participants", "20", "--program", PROGRAM,
                           "--bad-every", str(BAD_EVERY)],
                          env=ENV, check=True, capture_output=True, text=True).stdout
    ingest = subprocess.run([str(BIN / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"],
                             "--topic", TOPIC, "--dlq-topic", DLQ, "--program", PROGRAM],
                            input=feed, env=ENV, capture_output=True, text=True)
    if ingest.returncode != 0:
        fail(f"carrot-ingest exited {ingest.returncode}: {ingest.stderr[-500:]}")
    # bytes no Carrot producer writes: the scorer's dead letter, logged with its Kafka fields
    subprocess.run(["bash", str(ROOT / "deploy/kafka.sh"), "produce", TOPIC],
                   input="not an activity\n", env=ENV, check=True, capture_output=True, text=True)
    # what the scorer must read: ingest's deliveries, the bad message and the webhook's events
    expect = json.loads(ingest.stdout.strip().splitlines()[-1])["delivered"] + 1
    events = json.loads((ROOT / "tests/data/hubspot-webhook.json").read_text())
    for e in events:  # ids of this run's: the webhook remembers delivered ones for days
        e["eventId"] = e["eventId"] + os.getpid() * 1000 + int(time.time()) % 1000 * 10**9
    hook_body = json.dumps(events, separators=(",", ":"))
    status, body = hubspot_post(public + "/webhooks/hubspot", hook_body)
    if status != 200:
        fail(f"webhook answered {status}: {body}")
    status, _ = http(public + "/webhooks/hubspot", hook_body.encode(),
                     {"Content-Type": "application/json"})  # unsigned: refused
    if status != 401:
        fail(f"an unsigned webhook call answered {status}, not 401")

    def drained():
        s, l = metrics(scorer_m), metrics(ledger_m)
        consumed = sample_sum(s, "carrot_scorer_activities_consumed_total") or 0
        awards = sample_sum(s, "carrot_scorer_awards_total") or 0
        booked = sample_sum(l, "carrot_ledger_awards_consumed_total") or 0
        lag_s = sample_sum(s, "carrot_consumer_lag_messages")
        lag_l = sample_sum(l, "carrot_consumer_lag_messages")
        hooked = sample_sum(metrics(hook_m), "carrot_webhook_activities_produced_total") or 0
        return (consumed >= expect + hooked and awards > 0 and booked >= awards and lag_s == 0
                and lag_l == 0 and (consumed, awards, booked))
    consumed, awards, booked = wait_for("the scorer and the ledger to drain", drained, 180)
    say(f"drained: {consumed:.0f} activities consumed, {awards:.0f} awards, {booked:.0f} booked")

    def directory_drained():
        m = metrics(dir_m)
        stored = sample_sum(m, "carrot_directory_stored_total") or 0
        lag = sample_sum(m, "carrot_consumer_lag_messages")
        return stored >= npeople and lag == 0 and stored
    try:
        stored = wait_for("the directory to drain", directory_drained, 120)
        say(f"directory: {stored:.0f} of {npeople} participants stored, lag gauge 0")
    except TimeoutError:
        m = metrics(dir_m)
        fail(f"the directory stored {sample_sum(m, 'carrot_directory_stored_total')} of "
             f"{npeople} participants, lag gauge {sample_sum(m, 'carrot_consumer_lag_messages')}")

    # the board answers with a token, refuses without (both are counted)
    tok = subprocess.run([str(BIN / "carrot-board"), "token", "add", "--program", PROGRAM,
                          "--kind", "display", "--pg-dsn", ENV["CARROT_PG_DSN"], "--label",
                          "observability test"], env=ENV, check=True, capture_output=True,
                         text=True).stdout.strip()
    base = f"http://127.0.0.1:{board_port}/v1/programs/{PROGRAM}"

    def board_ok():
        st, _ = http(f"{base}/board?period=ptd", None, {"Authorization": f"Bearer {tok}"})
        return st == 200
    wait_for("carrot-board to answer with the token", board_ok, 30)
    for path in ("/boards", "/board?period=ptd", "/board?period=week", "/rules"):
        st, body = http(base + path, None, {"Authorization": f"Bearer {tok}"})
        if st != 200:
            fail(f"carrot-board {path}: {st} {body[:200]}")
    st, _ = http(base + "/boards")
    if st != 401:
        fail(f"carrot-board without a token answered {st}, not 401")
    def dead_letter_line():
        for line in (BUILD / f"{TAG}-scorer.log").read_text().splitlines():
            doc = json.loads(line) if line.startswith("{") else {}
            if doc.get("msg", "").startswith("dead letter:"):
                return doc
        return None
    try:
        doc = wait_for("the scorer's dead-letter log line", dead_letter_line, 30)
        if (doc.get("level") != "warn" or doc.get("topic") != TOPIC
                or not isinstance(doc.get("partition"), int)
                or not isinstance(doc.get("offset"), int) or doc.get("instance") != "s1"):
            fail(f"the dead-letter log line lacks its fields: {doc}")
        else:
            say(f"dead letter logged: {json.dumps(doc)}")
    except TimeoutError:
        fail("no JSON log line of the scorer says \"dead letter:\"")
    produced = sample_sum(metrics(hook_m), "carrot_webhook_activities_produced_total")
    if not produced:
        fail(f"carrot_webhook_activities_produced_total is {produced} after a signed batch")

    def no_drift():
        m = metrics(ledger_m)
        return (sample_sum(m, "carrot_ledger_drift_points") == 0
                and (sample_sum(m, "carrot_ledger_drift_checks_total") or 0) > 0)
    try:
        wait_for("the ledger's drift check to read 0", no_drift, 60)
    except TimeoutError:
        fail("carrot_ledger_drift_points is not 0 once drained: "
             f"{sample_sum(metrics(ledger_m), 'carrot_ledger_drift_points')}")

    for group in (SCORER_GROUP, LEDGER_GROUP, DIR_GROUP):
        def zero(g=group):
            lags = group_lags(g)
            return len(lags) == 3 and all(v == "0" for v in lags.values()) and lags
        try:
            lags = wait_for(f"kafka-consumer-groups lag 0 for {group}", zero, 60, 2)
            say(f"kafka-consumer-groups: {group} lag {lags}")
        except TimeoutError:
            fail(f"kafka-consumer-groups --describe --group {group}: lag {group_lags(group)}, not 0")

    # each member names itself: program.instance (kafka.h), so Kafka's tools tell them apart
    for group, want in ((SCORER_GROUP, "carrot-scorer.s1"), (LEDGER_GROUP, "carrot-ledger.l1"),
                        (DIR_GROUP, "carrot-directory.d1")):
        ids = group_client_ids(group)
        if ids != [want]:
            fail(f"kafka-consumer-groups --members --group {group}: client ids {ids}, not [{want}]")
        else:
            say(f"kafka-consumer-groups --members: {group} client.id {ids[0]}")

    # Prometheus: every target up, then every panel of the dashboard
    def targets_up():
        # each scraped recently: a scrape that timed out on a busy host is no failure here
        res, _ = prom_query(prom_port, 'max_over_time(up{job="carrot"}[30s]) == 1')
        return res is not None and len(res) == len(targets)
    wait_for(f"prometheus to scrape all {len(targets)} programs", targets_up, 60)
    time.sleep(8)  # a few scrapes after the drain, for rate() windows
    dash = json.loads((ROOT / "deploy/grafana/carrot.json").read_text())
    checked = 0
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", "1m")
            res, err = prom_query(prom_port, expr)
            checked += 1
            if err:
                fail(f"panel \"{panel['title']}\": {expr}: {err}")
            elif not res:
                fail(f"panel \"{panel['title']}\": {expr}: no data")
    say(f"dashboard: {checked} panel queries evaluated by prometheus")
    if ENV.get("CARROT_SCREENSHOT"):  # README's picture: the main panels in Prometheus's graph
        screenshot(prom_port, ENV["CARROT_SCREENSHOT"])

    # readiness follows Redis, for the scorer and the webhook (which dedups in it)
    readies = {"scorer": f"http://127.0.0.1:{scorer_m}/readyz",
               "webhook": f"http://127.0.0.1:{hook_m}/readyz",
               "directory": f"http://127.0.0.1:{dir_m}/readyz",
               "board": f"http://127.0.0.1:{board_m}/readyz"}
    subprocess.run(["bash", str(ROOT / "deploy/redis.sh"), "stop"], env=ENV, check=True)
    try:
        for name, ready in readies.items():
            try:
                status, body = wait_for(
                    f"the {name} to turn unready without Redis",
                    lambda u=ready: (lambda r: r if r[0] == 503 else None)(http(u)), 60)
                if "redis" not in body:
                    fail(f"the {name}'s /readyz without Redis says {body!r}, not naming redis")
                say(f"without redis: the {name}'s /readyz {status} {body.strip()}")
            except TimeoutError:
                fail(f"the {name} stayed ready with Redis stopped")
    finally:
        subprocess.run(["bash", str(ROOT / "deploy/redis.sh"), "start"], env=ENV, check=True)
    for name, ready in readies.items():
        try:
            wait_for(f"the {name} to be ready again", lambda u=ready: http(u)[0] == 200, 60)
            say(f"redis back: the {name}'s /readyz 200")
        except TimeoutError:
            fail(f"the {name} did not become ready again: {http(ready)}")


def stop_all():
    for name, p, log in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, p, log in procs:
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            fail(f"{name} did not stop within 60 s of SIGTERM")
        log.close()
        if rc != 0:
            fail(f"{name} exited {rc} on SIGTERM (log: {log.name})")
    if PROM_ENV:
        subprocess.run(["bash", str(ROOT / "deploy/prometheus.sh"), "stop"], env=PROM_ENV)
        shutil.rmtree(PROM_ENV["CARROT_RUN_DIR"], ignore_errors=True)
    if not failures:
        for _, _, log in procs:
            os.unlink(log.name)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a timeout or a failed command: report it as the test's failure
        fail(f"{type(e).__name__}: {e}")
    finally:
        stop_all()
    say("passed" if not failures else f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
