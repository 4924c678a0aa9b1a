#!/usr/bin/env bash
# Starts, stops and reports all of Carrot's local services (Redis, PostgreSQL, Kafka) at once;
# "start" also creates the default Kafka topics. Installs nothing: see deploy/install-deps.sh.
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=deploy/env.sh
. "$DEPLOY/env.sh"

usage() {
    cat <<EOF
usage: deploy/services.sh COMMAND

commands:
  start     start redis, postgres and kafka (if not running), wait for all of them and
            create the default kafka topics if missing
  stop      stop all three (those not running are skipped)
  status    print the state of each; exit 0 if all run, 3 if any does not
  restart   stop, then start

Ports: kafka $CARROT_BROKERS (controller $CARROT_KAFKA_CONTROLLER_PORT), redis \
$CARROT_REDIS_HOST:$CARROT_REDIS_PORT, postgres 127.0.0.1:$CARROT_PG_PORT.
Data, logs and pid files: $CARROT_RUN_DIR.
EOF
}

cmd_start() {
    # Kafka takes longest (JVM, and on first use the jar download): start it in the
    # background while redis and postgres come up, then wait for it.
    "$DEPLOY/kafka.sh" start &
    local kafka_job=$!
    local rc=0
    "$DEPLOY/redis.sh" start || rc=1
    "$DEPLOY/postgres.sh" start || rc=1
    if ! wait "$kafka_job"; then
        carrot_die "could not start kafka"
    fi
    ((rc == 0)) || carrot_die "could not start all services"
    "$DEPLOY/kafka.sh" topics || carrot_die "could not create the default kafka topics"
    carrot_say "all services running"
}

cmd_stop() {
    local rc=0
    # the demo's carrot-board, if it left one
    if [[ -f "$CARROT_RUN_DIR/carrot-board.pid" ]]; then
        kill "$(cat "$CARROT_RUN_DIR/carrot-board.pid")" 2>/dev/null || true
        rm -f "$CARROT_RUN_DIR/carrot-board.pid"
    fi
    "$DEPLOY/kafka.sh" stop || rc=1
    "$DEPLOY/redis.sh" stop || rc=1
    "$DEPLOY/postgres.sh" stop || rc=1
    return "$rc"
}

cmd_status() {
    local rc=0 s
    for s in redis postgres kafka; do
        "$DEPLOY/$s.sh" status || rc=3
    done
    return "$rc"
}

main() {
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        restart)
            cmd_stop
            cmd_start
            ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
