"""carrot_it.py: what the Python integration tests share: the build's programs
started and stopped (under CARROT_IT_WRAPPER where asked), waiting, metrics,
Kafka topics, psql, a demo feed, and carrot-ledger reconcile.

A test makes one Run(name) and reports through it: run.fail() records a
failure and goes on, run.finish() stops what is left and exits 1 if any.
Needs the environment of deploy/env.sh (tests/run.sh and ctest provide it).
"""
import os
import pathlib
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ)
WRAP = shlex.split(ENV.get("CARROT_IT_WRAPPER", ""))


_GIVEN = set()


def free_port():
    """A port free now, and not one this test was given before (each is closed when
    returned, so the system may hand out the same one again)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def shift_ms():
    """CARROT_TEST_CLOCK_SHIFT in ms: how far ahead Carrot's processes run (README "Testing
    on other dates"); 0 when not set."""
    m = re.fullmatch(r"\+(\d+)([smhdw])", ENV.get("CARROT_TEST_CLOCK_SHIFT", "") or "+0s")
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m[2]] * 1000


def wait_for(what, check, timeout=120, interval=0.5):
    """check()'s first true value, polled every interval seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def http(url, data=None, headers=None, timeout=10):
    """(status, body); status 0 when nothing answered."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return 0, str(e)


def metrics(port):
    status, body = http(f"http://127.0.0.1:{port}/metrics")
    return body if status == 200 else ""


def sample(text, name, labels=""):
    """The value of one series (labels: its exact label text), or None."""
    want = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def sample_sum(text, name):
    """The sum of every series of metric name (None: no series)."""
    total, seen = 0.0, False
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", line)
        if m:
            total += float(m.group(1))
            seen = True
    return total if seen else None


def kafka(*args):
    return subprocess.run(["bash", str(ROOT / "deploy/kafka.sh"), *args], env=ENV, check=True,
                          capture_output=True, text=True).stdout


def create_topics(build, *specs):
    """Topics "NAME:PARTITIONS[:compact]", made at once by the build's tests/it_topic (Kafka's
    own tool would start a JVM per topic)."""
    subprocess.run([str(pathlib.Path(build) / "tests" / "it_topic"), *specs], env=ENV, check=True,
                   capture_output=True, text=True)


def psql(sql):
    return subprocess.run(["bash", str(ROOT / "deploy/postgres.sh"), "psql", "-tAc", sql], env=ENV,
                          check=True, capture_output=True, text=True).stdout.strip()


def booked_points(program):
    return int(psql(f"SELECT coalesce(sum(points), 0) FROM awards WHERE program_id = '{program}'"))


class Run:
    """One test's programs, failures and topics (named after the test and its pid)."""

    def __init__(self, name, build_dir):
        self.name = name
        self.build = pathlib.Path(build_dir).resolve()
        self.bin = self.build / "bin"
        self.tag = f"{name[:2]}-{os.getpid()}-{int(time.time()) % 100000}"
        self.program = self.tag
        self.topic, self.awards = f"{self.tag}.activities", f"{self.tag}.awards"
        self.dlq, self.awards_dlq = f"{self.tag}.activities.dlq", f"{self.tag}.awards.dlq"
        self.scorer_group, self.ledger_group = f"{self.tag}.scorer", f"{self.tag}.ledger"
        self.procs = {}
        self.logs = []
        self.failures = []

    def say(self, msg):
        print(f"{self.name}: {msg}", flush=True)

    def fail(self, msg):
        self.failures.append(msg)
        self.say(f"FAIL: {msg}")

    def create_topics(self, *specs):
        create_topics(self.build, *specs)

    def topics(self, partitions=3):
        self.create_topics(*(f"{t}:{partitions}" for t in (self.topic, self.awards, self.dlq,
                                                            self.awards_dlq)))

    def rules(self, directory):
        """The demo rules, for this run's program."""
        path = pathlib.Path(directory) / "rules.yaml"
        text = (ROOT / "deploy/demo/rules.yaml").read_text()
        path.write_text(re.sub(r"(?m)^program:.*$", f"program: {self.program}", text, count=1))
        return path

    def start(self, name, args, wrap=(), extra_env=None):
        """Starts build/bin/args[0] as name, its output in a log beside the build."""
        log = open(self.build / f"{self.tag}-{name}.log", "w")
        p = subprocess.Popen([*wrap, str(self.bin / args[0])] + args[1:], stdout=log,
                             stderr=subprocess.STDOUT, env=dict(ENV, **(extra_env or {})),
                             cwd=ROOT)
        self.procs[name] = (p, log)
        self.logs.append(log.name)
        return p

    def stop(self, name):
        """SIGTERM (after SIGCONT, for one stopped by the test): it must exit 0."""
        p, log = self.procs.pop(name)
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            self.fail(f"{name} did not stop within 60 s of SIGTERM")
        log.close()
        if rc != 0:
            self.fail(f"{name} exited {rc} on SIGTERM (log: {log.name})")
        return rc

    def scorer(self, redis_host, redis_port, metrics_port, wrap=()):
        return self.start("scorer", [
            "carrot-scorer", "--brokers", ENV["CARROT_BROKERS"], "--redis-host", redis_host,
            "--redis-port", str(redis_port), "--topic", self.topic, "--awards-topic", self.awards,
            "--dlq-topic", self.dlq, "--group", self.scorer_group, "--instance", "s1",
            "--rules", str(self.rules(self.build)), "--rules-topic", "",
            "--metrics-port", str(metrics_port)], wrap)

    def feed(self, count, seed, participants=200):
        """A loadgen feed with ids of its own (loadgen numbers events and records from 1
        in every run, and a repeated event id would carry other content)."""
        text = subprocess.run([str(self.bin / "carrot-loadgen"), "--seed", str(seed), "--count",
                               str(count), "--participants", str(participants), "--program",
                               self.program],
                              env=ENV, check=True, capture_output=True, text=True).stdout
        return text.replace('"evt-', f'"evt-{seed}-').replace('"rec-', f'"rec-{seed}-')

    def ingest(self, feed, wait=True):
        """carrot-ingest of feed into the run's topic; waited for unless wait is False."""
        p = subprocess.Popen([str(self.bin / "carrot-ingest"), "--brokers", ENV["CARROT_BROKERS"],
                              "--topic", self.topic, "--dlq-topic", self.dlq,
                              "--program", self.program],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=ENV, text=True)
        p.stdin.write(feed)
        p.stdin.close()
        if wait and p.wait(120) != 0:
            self.fail(f"carrot-ingest exited {p.returncode}: {p.stderr.read()[-500:]}")
        return p

    def reconcile(self, redis_host, redis_port, wrap=(), fence_ms=30000):
        """(exit code, board, ledger, in flight, output) of carrot-ledger reconcile."""
        r = subprocess.run([*wrap, str(self.bin / "carrot-ledger"), "reconcile",
                            "--program", self.program, "--brokers", ENV["CARROT_BROKERS"],
                            "--topic", self.awards, "--group", self.ledger_group,
                            "--activities-topic", self.topic, "--scorer-group", self.scorer_group,
                            "--redis-host", redis_host, "--redis-port", str(redis_port),
                            "--pg-dsn", ENV["CARROT_PG_DSN"], "--fence-timeout-ms", str(fence_ms)],
                           env=ENV, capture_output=True, text=True, cwd=ROOT)
        m = re.search(rf"^{re.escape(self.program)}: (\d+) participants; board (-?\d+), "
                      r"ledger (-?\d+) \+ in flight (-?\d+): (.*)$", r.stdout, re.M)
        if not m:
            return r.returncode, None, None, None, r.stdout + r.stderr
        return r.returncode, int(m[2]), int(m[3]), int(m[4]), r.stdout

    def finish(self, main):
        """Runs main(), stops every program, removes the logs of a run that passed."""
        try:
            main()
        except Exception as e:  # a timeout or a failed command: the test's failure
            self.fail(f"{type(e).__name__}: {e}")
        finally:
            for name in list(self.procs):
                self.stop(name)
        if not self.failures:
            for log in self.logs:
                pathlib.Path(log).unlink(missing_ok=True)  # a restarted program logs to one file
        self.say("passed" if not self.failures else f"{len(self.failures)} failure(s)")
        sys.exit(1 if self.failures else 0)
