#!/usr/bin/env bash
# Runs a Prometheus (Debian's prometheus package) on 127.0.0.1:$CARROT_PROMETHEUS_PORT that
# scrapes Carrot's programs and evaluates deploy/prometheus/alerts.yml, with its config,
# targets, data and log under $CARROT_RUN_DIR/prometheus. Not part of services.sh: the demo
# and the observability test start it when they want it.
set -euo pipefail

# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PROM_DIR="$CARROT_RUN_DIR/prometheus"
CONFIG="$PROM_DIR/prometheus.yml"
TARGETS="$PROM_DIR/targets.json"
PID_FILE="$PROM_DIR/prometheus.pid"
LOG_FILE="$PROM_DIR/prometheus.log"
RULES="$CARROT_ROOT/deploy/prometheus/alerts.yml"
: "${CARROT_PROMETHEUS_PORT:=19090}"
: "${CARROT_PROMETHEUS_SCRAPE_INTERVAL:=5s}"
: "${CARROT_PROMETHEUS_WAIT_TIMEOUT:=60}"
URL="http://127.0.0.1:$CARROT_PROMETHEUS_PORT"

usage() {
    cat <<USAGE
usage: deploy/prometheus.sh COMMAND [ARGS]

commands:
  start                start prometheus on 127.0.0.1:$CARROT_PROMETHEUS_PORT and wait until ready
  stop                 stop it (SIGTERM, SIGKILL after 30 s)
  status               print whether it runs; exit 0 if so, 3 if not
  targets HOST:PORT... scrape these metrics endpoints (job "carrot"; replaces the list;
                       prometheus picks the change up within seconds)
  config               print the generated prometheus.yml

Scrape and rule evaluation interval: $CARROT_PROMETHEUS_SCRAPE_INTERVAL
(CARROT_PROMETHEUS_SCRAPE_INTERVAL). Rules: $RULES.
Config, targets, data, log and pid file live in $PROM_DIR.
USAGE
}

running_pid() {
    carrot_pid_alive "$PID_FILE" prometheus
}

ready() {
    curl -fsS "$URL/-/ready" >/dev/null 2>&1
}

write_config() {
    mkdir -p "$PROM_DIR"
    [[ -f "$TARGETS" ]] || printf '[]\n' >"$TARGETS"
    # deploy/prometheus/prometheus.yml is the template; only paths and intervals differ.
    sed -e "s|@INTERVAL@|$CARROT_PROMETHEUS_SCRAPE_INTERVAL|g" -e "s|@RULES@|$RULES|g" \
        -e "s|@TARGETS@|$TARGETS|g" "$CARROT_ROOT/deploy/prometheus/prometheus.yml" >"$CONFIG"
}

cmd_targets() {
    mkdir -p "$PROM_DIR"
    local t list=""
    for t in "$@"; do
        [[ "$t" =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]] || carrot_die "not HOST:PORT: $t"
        list+="${list:+, }\"$t\""
    done
    # written whole, then renamed, so prometheus never reads half a file
    printf '[{"targets": [%s], "labels": {"job": "carrot"}}]\n' "$list" >"$TARGETS.tmp"
    mv "$TARGETS.tmp" "$TARGETS"
}

cmd_start() {
    local pid
    if pid=$(running_pid) && ready; then
        carrot_say "prometheus is already running (pid $pid) on $URL"
        return 0
    fi
    if [[ -z "${pid:-}" ]]; then
        command -v prometheus >/dev/null 2>&1 \
            || carrot_die "prometheus not found: run deploy/install-deps.sh"
        if carrot_port_open "$CARROT_PROMETHEUS_PORT"; then
            carrot_die "could not start prometheus: port $CARROT_PROMETHEUS_PORT is in use"
        fi
        write_config
        promtool check config "$CONFIG" >>"$LOG_FILE" 2>&1 \
            || carrot_die "prometheus config does not check: see $LOG_FILE"
        carrot_say "starting prometheus on $URL"
        nohup prometheus --config.file="$CONFIG" --storage.tsdb.path="$PROM_DIR/data" \
            --web.listen-address="127.0.0.1:$CARROT_PROMETHEUS_PORT" \
            --storage.tsdb.retention.time=2d </dev/null >>"$LOG_FILE" 2>&1 &
        echo $! >"$PID_FILE"
    fi
    local deadline=$((SECONDS + CARROT_PROMETHEUS_WAIT_TIMEOUT))
    until ready; do
        local why=""
        running_pid >/dev/null || why="it exited"
        ((SECONDS < deadline)) || why="not within $CARROT_PROMETHEUS_WAIT_TIMEOUT s"
        if [[ -n "$why" ]]; then
            tail -n 30 "$LOG_FILE" >&2 || true
            carrot_die "prometheus did not become ready on $URL ($why): see $LOG_FILE"
        fi
        sleep 0.2
    done
    carrot_say "prometheus is ready on $URL"
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE"
        carrot_say "prometheus is not running"
        return 0
    fi
    carrot_say "stopping prometheus (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! carrot_wait_gone "$pid" 300; then
        kill -KILL "$pid" 2>/dev/null || true
        carrot_wait_gone "$pid" 50 || carrot_die "could not stop prometheus (pid $pid)"
    fi
    rm -f "$PID_FILE"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "prometheus: running (pid $pid) on $URL"
        return 0
    fi
    echo "prometheus: stopped"
    return 3
}

main() {
    local cmd=${1:-}
    (($# > 0)) && shift
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        targets) cmd_targets "$@" ;;
        config)
            write_config
            cat "$CONFIG"
            ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
