#!/usr/bin/env bash
# Runs Carrot's own PostgreSQL cluster on 127.0.0.1:$CARROT_PG_PORT (trust auth, superuser
# $CARROT_PG_USER, database $CARROT_PG_DB); as root it runs the server as an unprivileged user.
set -euo pipefail

# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The OS user that owns the cluster when these scripts run as root (postgres refuses root).
: "${CARROT_PG_OS_USER:=postgres}"
: "${CARROT_PG_WAIT_TIMEOUT:=60}"

PG_LINK="$CARROT_RUN_DIR/pg"
IS_ROOT=false
if [[ $(id -u) -eq 0 ]]; then
    IS_ROOT=true
fi

usage() {
    cat <<EOF
usage: deploy/postgres.sh COMMAND [ARGS]

commands:
  start            create the cluster if needed, start it on 127.0.0.1:$CARROT_PG_PORT, wait
                   for it and create database $CARROT_PG_DB if missing
  stop             stop it (fast shutdown)
  status           print whether it runs; exit 0 if so, 3 if not
  wait [SECONDS]   wait until it accepts connections (default $CARROT_PG_WAIT_TIMEOUT s)
  psql [ARGS...]   run psql on "$CARROT_PG_DSN" with ARGS
  datadir          print the data directory

The cluster lives in $PG_LINK (data/, postgres.log). When run as root, the server runs as
the OS user $CARROT_PG_OS_USER; if that user cannot reach $CARROT_RUN_DIR (for example a
checkout under /root), the cluster lives in /var/tmp/carrot-pg-$CARROT_PG_PORT instead and
$PG_LINK is a symbolic link to it.
EOF
}

# The newest installed server binaries; 15 when present.
pg_bindir() {
    if [[ -n "${CARROT_PG_BINDIR:-}" ]]; then
        printf '%s\n' "$CARROT_PG_BINDIR"
        return 0
    fi
    if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
        return 0
    fi
    local dir
    dir=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1) || true
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        printf '%s\n' "$dir"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir)
        if [[ -x "$dir/initdb" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    return 1
}

BINDIR=$(pg_bindir) || BINDIR=""

need_bindir() {
    [[ -n "$BINDIR" ]] || carrot_die "postgresql server binaries not found: run deploy/install-deps.sh"
}

# as_pg CMD...: run CMD as the cluster owner (from /, which every user may enter).
as_pg() {
    if $IS_ROOT; then
        (cd / && runuser -u "$CARROT_PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

# The directory holding data/ and postgres.log of an existing cluster; empty if none yet.
existing_root() {
    if [[ -L "$PG_LINK" ]]; then
        readlink "$PG_LINK"
    elif [[ -d "$PG_LINK" ]]; then
        printf '%s\n' "$PG_LINK"
    fi
}

# Where a new cluster goes; see usage.
new_root() {
    if ! $IS_ROOT || as_pg test -x "$CARROT_RUN_DIR"; then
        printf '%s\n' "$PG_LINK"
    else
        printf '%s\n' "/var/tmp/carrot-pg-$CARROT_PG_PORT"
    fi
}

ensure_os_user() {
    $IS_ROOT || return 0
    id -u "$CARROT_PG_OS_USER" >/dev/null 2>&1 && return 0
    carrot_say "creating system user $CARROT_PG_OS_USER to run postgres"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$CARROT_PG_OS_USER" \
        || carrot_die "could not create system user $CARROT_PG_OS_USER"
}

# Make the cluster directory (and, as root, the link to it); set PG_ROOT, DATA and LOG_FILE.
prepare_root() {
    mkdir -p "$CARROT_RUN_DIR"
    ensure_os_user
    PG_ROOT=$(existing_root)
    if [[ -z "$PG_ROOT" ]]; then
        PG_ROOT=$(new_root)
        if [[ "$PG_ROOT" != "$PG_LINK" ]]; then
            [[ ! -L "$PG_ROOT" ]] || carrot_die "refusing to use $PG_ROOT: it is a symbolic link"
            ln -s "$PG_ROOT" "$PG_LINK"
            carrot_say "user $CARROT_PG_OS_USER cannot reach $CARROT_RUN_DIR: keeping the postgres cluster in $PG_ROOT"
        fi
    fi
    DATA="$PG_ROOT/data"
    LOG_FILE="$PG_ROOT/postgres.log"
    mkdir -p "$PG_ROOT"
    chmod 700 "$PG_ROOT"
    if $IS_ROOT; then
        chown "$CARROT_PG_OS_USER:" "$PG_ROOT"
        as_pg test -w "$PG_ROOT" \
            || carrot_die "user $CARROT_PG_OS_USER cannot write $PG_ROOT (see deploy/postgres.sh help)"
    fi
}

PG_ROOT=$(existing_root)
DATA="${PG_ROOT:-$PG_LINK}/data"
LOG_FILE="${PG_ROOT:-$PG_LINK}/postgres.log"

# Print the postmaster pid and succeed if the cluster runs.
running_pid() {
    [[ -n "$BINDIR" && -n "$PG_ROOT" ]] || return 1
    local out
    out=$(as_pg "$BINDIR/pg_ctl" -D "$DATA" status 2>/dev/null) || return 1
    [[ "$out" =~ PID:\ ([0-9]+) ]] || return 1
    printf '%s\n' "${BASH_REMATCH[1]}"
}

is_ready() {
    "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$CARROT_PG_PORT" -d postgres -U "$CARROT_PG_USER"
}

show_log_tail() {
    if [[ -s "$LOG_FILE" ]]; then
        printf '%s\n' "--- last 30 lines of $LOG_FILE" >&2
        tail -n 30 "$LOG_FILE" >&2
    fi
}

cmd_wait() {
    need_bindir
    local timeout=${1:-$CARROT_PG_WAIT_TIMEOUT}
    [[ "$timeout" =~ ^[0-9]+$ ]] || carrot_die "invalid timeout: $timeout"
    local deadline=$((SECONDS + timeout))
    until is_ready; do
        if ((SECONDS >= deadline)); then
            show_log_tail
            carrot_die "postgres did not accept connections on 127.0.0.1:$CARROT_PG_PORT within $timeout s: see $LOG_FILE"
        fi
        sleep 0.2
    done
}

ensure_database() {
    local admin="host=127.0.0.1 port=$CARROT_PG_PORT dbname=postgres user=$CARROT_PG_USER"
    local exists
    exists=$("$BINDIR/psql" "$admin" -X -A -t -q -v ON_ERROR_STOP=1 -v db="$CARROT_PG_DB" \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'db';") \
        || carrot_die "could not query postgres on 127.0.0.1:$CARROT_PG_PORT"
    [[ "$exists" == 1 ]] && return 0
    "$BINDIR/psql" "$admin" -X -q -v ON_ERROR_STOP=1 -v db="$CARROT_PG_DB" \
        <<<'CREATE DATABASE :"db";' \
        || carrot_die "could not create database $CARROT_PG_DB"
    carrot_say "created database $CARROT_PG_DB"
}

cmd_start() {
    need_bindir
    local pid
    if pid=$(running_pid); then
        cmd_wait
        carrot_say "postgres is already running (pid $pid) on 127.0.0.1:$CARROT_PG_PORT"
        ensure_database
        return 0
    fi
    if carrot_port_open "$CARROT_PG_PORT"; then
        carrot_die "could not start postgres: port $CARROT_PG_PORT is in use by another process"
    fi
    prepare_root
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        carrot_say "initializing postgres cluster in $DATA"
        local initdb_log="$PG_ROOT/initdb.log"
        if ! as_pg "$BINDIR/initdb" -D "$DATA" -A trust -U "$CARROT_PG_USER" \
            --encoding=UTF8 --locale=C >"$initdb_log" 2>&1; then
            carrot_die "could not initialize postgres cluster: see $initdb_log"
        fi
    fi
    # The socket path must fit in sun_path (107 bytes); without one, clients use TCP only.
    local sockdir=$PG_ROOT
    if ((${#sockdir} + ${#CARROT_PG_PORT} + 10 > 107)); then
        sockdir=""
    fi
    carrot_say "starting postgres on 127.0.0.1:$CARROT_PG_PORT"
    if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG_FILE" -w -t "$CARROT_PG_WAIT_TIMEOUT" \
        -o "-p $CARROT_PG_PORT -k '$sockdir' -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
        start >/dev/null; then
        show_log_tail
        carrot_die "could not start postgres: see $LOG_FILE"
    fi
    cmd_wait
    ensure_database
    carrot_say "postgres is ready on 127.0.0.1:$CARROT_PG_PORT"
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid); then
        carrot_say "postgres is not running"
        return 0
    fi
    carrot_say "stopping postgres (pid $pid)"
    if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null; then
        carrot_say "postgres did not stop within 60 s, stopping it in immediate mode"
        as_pg "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null \
            || carrot_die "could not stop postgres: see $LOG_FILE"
    fi
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        if is_ready; then
            echo "postgres: running (pid $pid) on 127.0.0.1:$CARROT_PG_PORT"
        else
            echo "postgres: starting (pid $pid), 127.0.0.1:$CARROT_PG_PORT not accepting connections yet"
        fi
        return 0
    fi
    echo "postgres: stopped"
    return 3
}

cmd_psql() {
    need_bindir
    exec "$BINDIR/psql" "$CARROT_PG_DSN" "$@"
}

main() {
    local cmd=${1:-}
    (($# > 0)) && shift
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        wait) cmd_wait "$@" ;;
        psql) cmd_psql "$@" ;;
        datadir) printf '%s\n' "$DATA" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
