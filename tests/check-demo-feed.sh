#!/usr/bin/env bash
# The demo feed is reproducible: the same seed writes the same activities at any
# start, and at the start it was designed from (Monday 2026-11-02 08:00 UTC) the
# very bytes the first quickstart shipped. By default carrot-loadgen dates its
# feed relative to now, so a feed made today has live boards.
# usage: tests/check-demo-feed.sh CARROT-LOADGEN
set -euo pipefail
loadgen=$1
demo=(--seed 42 --count 3000 --participants 40 --bad-every 500)
fail() { echo "check-demo-feed: $*" >&2; exit 1; }

designed=$("$loadgen" "${demo[@]}" --start 2026-11-02T08:00:00Z)
sum=$(printf '%s\n' "$designed" | sha256sum | cut -d' ' -f1)
[[ $sum == bab4299614299d07f00ba1b0bc891d26e7db3e0b3d4e813c13f5715685a45ef8 ]] \
    || fail "the demo feed at 2026-11-02T08:00:00Z changed: sha256 $sum"

# 17 weeks later: the same lines but for their times, each moved by exactly 17 weeks
later=$("$loadgen" "${demo[@]}" --start 2027-03-01T08:00:00Z)
untimed() { sed -E 's/"(occurred|recorded)_at":"[^"]*"/"\1_at":""/g'; }
cmp -s <(untimed <<<"$designed") <(untimed <<<"$later") \
    || fail "the demo feed's content depends on its start"
times() { grep -oE '"(occurred|recorded)_at":"[0-9][^"]*"' | cut -d'"' -f4; }
moved=$(paste <(times <<<"$designed" | head -n 400) <(times <<<"$later" | head -n 400) |
    while read -r a b; do echo $(($(date -ud "$b" +%s) - $(date -ud "$a" +%s))); done | sort -u)
[[ $moved == $((17 * 7 * 86400)) ]] || fail "times moved by $moved s, not 17 weeks"

# the default start is 14 days before now
first=$("$loadgen" --count 1 | grep -oE '"occurred_at":"[^"]*"' | cut -d'"' -f4)
ago=$(($(date +%s) - $(date -ud "$first" +%s)))
((ago >= 14 * 86400 - 60 && ago <= 14 * 86400 + 60)) \
    || fail "a feed with no --start begins $ago s ago, not 14 days"
echo "check-demo-feed: reproducible at any start, live by default"
