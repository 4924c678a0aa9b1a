# Shared settings for Carrot's local services (Kafka, Redis, PostgreSQL) and tests.
# Source it from bash (". deploy/env.sh"); every variable may be overridden from the environment.
# shellcheck shell=bash

# Repository root: the parent of the directory holding this file.
if [[ -z "${CARROT_ROOT:-}" ]]; then
    CARROT_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
fi
: "${CARROT_RUN_DIR:=$CARROT_ROOT/.run}"
: "${CARROT_CACHE:=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/carrot}"

# Kafka (single-node KRaft broker+controller; jars cached per version).
: "${CARROT_KAFKA_VERSION:=3.9.1}"
: "${CARROT_KAFKA_JARS:=$CARROT_CACHE/kafka-$CARROT_KAFKA_VERSION}"
: "${CARROT_KAFKA_PORT:=19092}"
: "${CARROT_KAFKA_CONTROLLER_PORT:=19093}"
: "${CARROT_KAFKA_HEAP_OPTS:=-Xmx512m -Xms256m}"
: "${CARROT_KAFKA_WAIT_TIMEOUT:=90}"
: "${CARROT_BROKERS:=127.0.0.1:$CARROT_KAFKA_PORT}"
: "${CARROT_PARTITIONS:=6}"
# Topic retention in ms (-1: forever); see README "Topics and retention".
: "${CARROT_ACTIVITIES_RETENTION_MS:=-1}"
: "${CARROT_AWARDS_RETENTION_MS:=-1}"
: "${CARROT_DLQ_RETENTION_MS:=2592000000}"
if [[ -z "${CARROT_JAVA:-}" ]]; then
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        CARROT_JAVA="$JAVA_HOME/bin/java"
    else
        CARROT_JAVA=java
    fi
fi

# Redis.
: "${CARROT_REDIS_HOST:=127.0.0.1}"
: "${CARROT_REDIS_PORT:=16379}"

# PostgreSQL.
: "${CARROT_PG_PORT:=15432}"
: "${CARROT_PG_DB:=carrot}"
: "${CARROT_PG_USER:=carrot}"
: "${CARROT_PG_DSN:=host=127.0.0.1 port=$CARROT_PG_PORT dbname=$CARROT_PG_DB user=$CARROT_PG_USER}"

export CARROT_ROOT CARROT_RUN_DIR CARROT_CACHE \
    CARROT_KAFKA_VERSION CARROT_KAFKA_JARS CARROT_KAFKA_PORT CARROT_KAFKA_CONTROLLER_PORT \
    CARROT_KAFKA_HEAP_OPTS CARROT_KAFKA_WAIT_TIMEOUT CARROT_BROKERS CARROT_PARTITIONS CARROT_JAVA \
    CARROT_ACTIVITIES_RETENTION_MS CARROT_AWARDS_RETENTION_MS CARROT_DLQ_RETENTION_MS \
    CARROT_REDIS_HOST CARROT_REDIS_PORT \
    CARROT_PG_PORT CARROT_PG_DB CARROT_PG_USER CARROT_PG_DSN

# carrot_say MESSAGE...: print "carrot: MESSAGE" to stderr.
carrot_say() {
    printf 'carrot: %s\n' "$*" >&2
}

# carrot_die MESSAGE...: print "carrot: MESSAGE" to stderr and exit 1.
carrot_die() {
    carrot_say "$@"
    exit 1
}

# carrot_now: the Unix seconds of now by Carrot's clock: the wall clock plus
# CARROT_TEST_CLOCK_SHIFT ("+60d", "+3600s", ...; tests only, see README "Testing
# on other dates"), so a script dates things as the programs it runs do.
carrot_now() {
    local shift=${CARROT_TEST_CLOCK_SHIFT:-} n unit
    local -A secs=([s]=1 [m]=60 [h]=3600 [d]=86400 [w]=604800)
    if [[ -z "$shift" ]]; then
        date +%s
        return
    fi
    [[ "$shift" =~ ^\+([0-9]+)([smhdw])$ ]] || carrot_die "CARROT_TEST_CLOCK_SHIFT: expected \"+N\" and a unit (s, m, h, d, w), not \"$shift\""
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
    echo $(($(date +%s) + 10#$n * ${secs[$unit]}))
}

# carrot_port_open PORT: succeed if something accepts TCP connections on 127.0.0.1:PORT.
carrot_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# carrot_proc_running PID: succeed if PID is a live process (a zombie awaiting its reaper is not).
carrot_proc_running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    if [[ -r "/proc/$1/stat" ]] && read -r stat <"/proc/$1/stat" 2>/dev/null; then
        stat=${stat##*) }
        [[ "${stat%% *}" != Z ]] || return 1
    fi
    return 0
}

# carrot_wait_gone PID TENTHS: succeed once PID has exited; fail after TENTHS tenths of a second.
carrot_wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        carrot_proc_running "$1" || return 0
        sleep 0.1
    done
    ! carrot_proc_running "$1"
}

# carrot_pid_alive PIDFILE [PATTERN]: print the pid and succeed if PIDFILE names a live
# process (whose command line contains PATTERN, if given, to survive pid reuse).
carrot_pid_alive() {
    local pidfile=$1 pattern=${2:-} pid
    [[ -r "$pidfile" ]] || return 1
    pid=$(<"$pidfile")
    pid=${pid//[[:space:]]/}
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    carrot_proc_running "$pid" || return 1
    if [[ -n "$pattern" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
    fi
    printf '%s\n' "$pid"
}
