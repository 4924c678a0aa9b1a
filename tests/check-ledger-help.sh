#!/usr/bin/env bash
# carrot-ledger's commands come from one table: --help lists every one, and
# `carrot-ledger CMD --help` shows CMD's usage and only the settings it reads;
# what a command needs is checked before it touches the database.
# usage: tests/check-ledger-help.sh CARROT_LEDGER
set -euo pipefail
ledger=$1
fail() { echo "check-ledger-help: $*" >&2; exit 1; }

commands=$("$ledger" --help | awk '/^  [a-z][a-z-]*  / { print $1 }')
(($(wc -w <<<"$commands") == 17)) || fail "expected 17 commands in --help, got:" $commands
for c in $commands; do
    out=$("$ledger" "$c" --help) || fail "$c --help exited $?"
    [[ "$(head -1 <<<"$out")" == "usage: carrot-ledger $c "* ]] || fail "$c --help: $(head -1 <<<"$out")"
    grep -q -- '^  --log-level ' <<<"$out" || fail "$c --help does not list --log-level"
    "$ledger" "$c" --help-man | grep -q '^\.TH "CARROT-LEDGER"' || fail "$c --help-man"
done

# the settings a command's help lists, in the table's order
settings() {
    "$ledger" "$1" --help | awk '/^  --[a-z-]+ +(string|integer|boolean)/ { printf "%s ", $1 }'
}
expect() {
    local got
    got=$(settings "$1")
    [[ "$got" == "$2" ]] || fail "$1 --help lists \"$got\", expected \"$2\""
}
expect balance "--pg-dsn --log-level --log-format --program --participant "
expect run "--brokers --topic --dlq-topic --group --instance --pg-dsn --batch-size --batch-ms --until-drained --log-level --log-format --metrics-port --metrics-listen --redis-host --redis-port --redis-timeout-ms --activities-topic --scorer-group --fence-timeout-ms --drift-interval "
expect reconcile "--brokers --topic --group --pg-dsn --log-level --log-format --redis-host --redis-port --redis-timeout-ms --activities-topic --scorer-group --fence-timeout-ms --program "
expect reject "--pg-dsn --log-level --log-format --redemption --reason "
expect sweepstakes-create "--pg-dsn --log-level --log-format --program --name --sweepstakes --entry-cost --prizes --seed-file "
expect verify "--pg-dsn --log-level --log-format --program --sweepstakes "
"$ledger" balance --help | grep -qx 'usage: carrot-ledger balance --program PROGRAM --participant PARTICIPANT \[settings\]' \
    || fail "balance --help: no synopsis with its needed settings"

# usage errors exit 2 with their message, before any connection is tried
usage_error() {
    local want=$1 err rc=0
    shift
    err=$("$ledger" "$@" --pg-dsn "host=/nonexistent" 2>&1 >/dev/null) || rc=$?
    ((rc == 2)) || fail "$* exited $rc, expected 2"
    grep -qF -- "$want" <<<"$err" || fail "$*: \"$err\" does not say \"$want\""
}
usage_error 'reject needs --reason' reject --redemption 3
usage_error 'reject needs --redemption' reject --reason no
usage_error 'fulfil needs --redemption' fulfil
usage_error 'draw needs --seed-file' draw --program p --sweepstakes s
usage_error 'unknown command "nosuch"' nosuch
usage_error 'expected one command' balance extra
echo "check-ledger-help: 17 commands, each with its own --help"
