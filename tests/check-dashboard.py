#!/usr/bin/env python3
"""check-dashboard.py: lints deploy/grafana/carrot.json and deploy/prometheus/alerts.yml.

Every panel and query of the dashboard reads the Prometheus data source of
the "datasource" variable; every metric the dashboard or an alert names is
registered somewhere in Carrot's C code (by its full name, as a string), so
a renamed metric cannot leave a dead panel or a silent alert behind.
Prints one line per problem and exits 1 if there is any.
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
METRIC = re.compile(r"\b((?:carrot|process)_[a-z0-9_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# exported by Prometheus itself for every target, not by Carrot
BUILTIN = {"up"}


def code_metric_names():
    names = set()
    for path in ROOT.glob("**/*.c"):
        if any(p in path.parts for p in ("build", "tests", "bench", ".run")):
            continue
        names.update(re.findall(r'"((?:carrot|process)_[a-z0-9_]+)"', path.read_text()))
    return names


def metrics_in(expr):
    out = set()
    for name in METRIC.findall(expr):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        out.add(name)
    return out


def main():
    problems = []
    known = code_metric_names()
    dash = json.loads((ROOT / "deploy/grafana/carrot.json").read_text())
    variables = [v for v in dash.get("templating", {}).get("list", []) if v.get("name") == "datasource"]
    if not variables or variables[0].get("type") != "datasource" or variables[0].get("query") != "prometheus":
        problems.append("dashboard: no \"datasource\" variable of type datasource/prometheus")
    exprs = 0
    for panel in dash.get("panels", []):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "?")
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel \"{title}\": its datasource is not ${{datasource}}")
        if not panel.get("targets"):
            problems.append(f"panel \"{title}\": no query")
        for t in panel.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"panel \"{title}\" query {t.get('refId')}: datasource is not ${{datasource}}")
            exprs += 1
            for m in sorted(metrics_in(t.get("expr", "")) - known):
                problems.append(f"panel \"{title}\": metric {m} is not registered in the code")
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    for line in rules.splitlines():
        if line.strip().startswith(("summary:", "runbook:", "#", "- alert:")):
            continue
        for m in sorted(metrics_in(line) - known - BUILTIN):
            problems.append(f"alerts.yml: metric {m} is not registered in the code")
    for p in problems:
        print(p)
    if not problems:
        print(f"dashboard: {exprs} queries over ${{datasource}}, every metric registered in the code")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
