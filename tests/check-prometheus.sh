#!/usr/bin/env bash
# check-prometheus.sh: promtool checks the generated scrape configuration and the alert
# rules, and runs the rules' unit tests (each alert fires on its symptom, silent otherwise).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
run="$(mktemp -d)"
trap 'rm -rf "$run"' EXIT
command -v promtool >/dev/null || { echo "promtool not found: run deploy/install-deps.sh" >&2; exit 1; }
CARROT_RUN_DIR="$run" bash "$root/deploy/prometheus.sh" config >/dev/null
promtool check config "$run/prometheus/prometheus.yml"
promtool check rules "$root/deploy/prometheus/alerts.yml"
(cd "$root/deploy/prometheus" && promtool test rules alerts_test.yml)
