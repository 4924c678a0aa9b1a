#!/usr/bin/env bash
# The quickstart: on a fresh machine, installs what is missing, builds Carrot,
# starts Kafka, Redis and PostgreSQL on loopback, writes the demo CRM feed
# (carrot-loadgen, seed 42: always the same 3,000 activities, dated over the
# two weeks before this one), feeds it through carrot-ingest, carrot-scorer and
# carrot-ledger until it is drained (and its 40 participants, with names,
# through carrot-directory), closes the feed's two weeks of commitments
# (carrot-commit) and prints a supervisor's follow-up list, folds it all into the
# adoption facts (carrot-report) and prints the weekly adoption report, then prints
# the leaderboard and the ledger total and checks that they agree. Safe to run
# again: a replayed feed is recognised (same event ids), a closed week is not
# settled twice, and no total changes.
set -euo pipefail
# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$CARROT_ROOT"

usage() {
    cat <<EOF
usage: deploy/demo.sh [--program NAME] [--start TIME]

  --program NAME  the program id (default: demo)
  --start TIME    the first activity's time, RFC 3339 (default: 08:00 UTC on the
                  Monday two weeks ago, in the program's time zone, so the feed covers
                  the last two weeks and the boards are live)
The demo rules' promotions are moved by as many whole weeks as the feed is.
EOF
}

program=demo
start=
while (($#)); do
    case "$1" in
        --program) program=${2:?--program needs a value}; shift 2 ;;
        --start) start=${2:?--start needs a value}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ "$program" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || carrot_die "--program: \"$program\" is not a program id"

bash deploy/install-deps.sh
bash deploy/build.sh build
bash deploy/services.sh start

bin=build/bin
tz=America/Chicago # the demo rules' time zone
demo_dir="$CARROT_RUN_DIR/demo"
mkdir -p "$demo_dir"

# Dates: the feed was designed from Monday 2026-11-02; it and the promotions move
# by whole weeks, so each lands on the same weekday and the same week of the feed.
now=$(carrot_now)
pinned=1
if [[ -z "$start" ]]; then
    pinned=0
    dow=$(TZ=$tz date -d "@$now" +%u)
    monday=$(date -d "$(TZ=$tz date -d "@$now" +%F) -$((dow - 1 + 14)) days" +%F)
    start="${monday}T08:00:00Z"
fi
start_s=$(date -ud "$start" +%s) || carrot_die "--start: \"$start\" is not a time"
weeks=$(((start_s - $(date -ud 2026-11-02T08:00:00Z +%s)) / 604800))
moved() { # moved DAY: local midnight of DAY moved by $weeks weeks, RFC 3339 with its offset
    TZ=$tz date -d "$(date -d "$1 $((weeks * 7)) days" +%F) 00:00" +%Y-%m-%dT%H:%M:%S%:z
}
rules="$demo_dir/rules-$program.yaml"
# through markers, so a moved date is never moved again
sed -e "s/^program: demo$/program: $program/" \
    -e "s/2026-11-02T00:00:00-06:00/@1@/; s/2026-11-09T00:00:00-06:00/@2@/" \
    -e "s/2026-11-16T00:00:00-06:00/@3@/" \
    -e "s/@1@/$(moved 2026-11-02)/; s/@2@/$(moved 2026-11-09)/; s/@3@/$(moved 2026-11-16)/" \
    deploy/demo/rules.yaml >"$rules"
feed="$demo_dir/crm-feed-$program.jsonl"
"$bin/carrot-loadgen" --seed 42 --count 3000 --participants 40 --bad-every 500 \
    --program "$program" --start "$start" >"$feed"
carrot_say "the demo feed starts at $start (promotions moved $weeks weeks): $feed"

carrot_say "applying ledger migrations"
"$bin/carrot-ledger" migrate

carrot_say "ingesting the demo feed"
"$bin/carrot-ingest" --input "$feed" --program "$program"

carrot_say "feeding the demo's participants (names, teams, supervisors) into the directory"
people="$demo_dir/participants-$program.jsonl"
"$bin/carrot-loadgen" --seed 42 --participants 40 --participants-feed --program "$program" \
    --start "$start" >"$people"
"$bin/carrot-ingest" --format participants --input "$people" --program "$program" >/dev/null
stored=$("$bin/carrot-directory" --until-drained --log-level warn | sed -n 's/.*"consumed":\([0-9]*\).*/\1/p')
carrot_say "$(wc -l <"$people") participants fed to the directory (carrot-directory read ${stored:-0} new records)"

carrot_say "checking the rules, and putting them in force through the carrot.rules topic"
"$bin/carrot-rules" check "$rules"
"$bin/carrot-rules" publish "$rules" --log-level warn

carrot_say "scoring until the activities topic is drained"
"$bin/carrot-scorer" --rules "$rules" --until-drained --log-level warn

carrot_say "booking awards until the awards topic is drained"
"$bin/carrot-ledger" run --until-drained --log-level warn

# Accountability (README "Accountability"): p0005's supervisor p0001 sets a weekly
# target, p0005 acknowledges it, and the feed's two weeks are closed in order: each
# commitment of each participant met or missed once, the bonuses and penalties booked
# as awards (a rerun settles nothing again). The feed is complete, so no grace for
# late records is waited for.
commit=("$bin/carrot-commit" --program "$program" --rules "$rules" --log-level warn)
"${commit[@]}" set --participant p0005 --commitment weekly-calls --target 8 --by p0001 \
    --note "agreed in our weekly one-to-one" >/dev/null
"${commit[@]}" acknowledge --participant p0005 --commitment weekly-calls --by p0005 >/dev/null
echo
echo "== accountability: the feed's two weeks closed =="
for day in "$start_s" $((start_s + 7 * 86400)); do
    week="w:$(TZ=$tz date -d "@$day" +%G-W%V)"
    rc=0
    "${commit[@]}" close --period "$week" --grace-hours 0 || rc=$?
    # a --start of this week leaves a week that is not over: nothing to close yet
    ((rc == 0 || rc == 3)) || carrot_die "carrot-commit close --period $week failed"
done
carrot_say "booking the commitments' bonuses and penalties"
"$bin/carrot-ledger" run --until-drained --log-level warn
echo
echo "== p0001's follow-up list: the misses of last week under Liam Okafor =="
"${commit[@]}" followups --supervisor p0001
echo
echo "== p0005 this week: where they stand =="
"${commit[@]}" show --participant p0005

echo
echo "== leaderboard: program $program, program to date =="
"$bin/carrot-leaderboard" --program "$program" --top 10
echo
echo "== leaderboard: dealers, last week (program time zone) =="
"$bin/carrot-leaderboard" --program "$program" --period week --at -7d \
    --scope seg:dealer --top 5
echo
echo "== p0005: rank and points on every board (days left out here) =="
"$bin/carrot-leaderboard" --program "$program" --participant p0005 | grep -E "^(board|ptd|q:|m:|w:)"
echo
echo "== ledger =="
"$bin/carrot-ledger" liability --program "$program"
echo
echo "== the boards against the ledger, participant by participant =="
"$bin/carrot-ledger" reconcile --program "$program" ||
    carrot_die "carrot-ledger reconcile: the boards and the ledger differ (or could not be compared)"

# Adoption (README "Adoption analytics"): the activities, awards, participants and
# dead letters folded into PostgreSQL once (a rerun folds nothing again), and the
# program manager's weekly report of the feed's weeks.
carrot_say "folding the topics into the adoption facts"
"$bin/carrot-report" run --until-drained --log-level warn >/dev/null
echo
echo "== adoption: who logged what, how much and how often, by week =="
"$bin/carrot-report" adoption --program "$program" --period week --periods 3 | sed -n '1,7p'

board_total=$("$bin/carrot-leaderboard" --program "$program" --format json --top 1 |
    sed -n 's/.*"total_points":\(-\{0,1\}[0-9]*\).*/\1/p')
week_total=$("$bin/carrot-leaderboard" --program "$program" --period week --at -7d \
    --format json --top 1 | sed -n 's/.*"total_points":\(-\{0,1\}[0-9]*\).*/\1/p')
ledger_total=$(bash deploy/postgres.sh psql -tAc \
    "SELECT coalesce(sum(points), 0) FROM awards WHERE program_id = '$program'")
echo
if [[ -n "$board_total" && "$board_total" == "$ledger_total" ]]; then
    echo "leaderboard total $board_total = ledger total $ledger_total: they agree"
else
    carrot_die "leaderboard total '$board_total' and ledger total '$ledger_total' disagree"
fi
# a feed dated by default is live: last week's board has points (a --start in the
# past may have none left)
((${week_total:-0} > 0 || pinned)) || carrot_die "last week's board is empty: the demo feed is not live"

# the displays: carrot-board on this program (one left by an earlier demo is replaced)
board_port="${CARROT_BOARD_PORT:-18090}"
board_pid="$CARROT_RUN_DIR/carrot-board.pid"
if [[ -f "$board_pid" ]]; then
    kill "$(cat "$board_pid")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$board_pid")" 2>/dev/null || break; sleep 0.1; done
    rm -f "$board_pid"
fi
tv_token=$("$bin/carrot-board" token add --program "$program" --label "demo TV" --log-level warn)
me_token=$("$bin/carrot-board" token add --program "$program" --kind participant \
    --participant p0005 --label "demo: p0005's link" --log-level warn)
manager_token=$("$bin/carrot-board" token add --program "$program" --kind manager \
    --label "demo: the program manager" --log-level warn)
nohup "$bin/carrot-board" --programs "$program" --port "$board_port" \
    >"$CARROT_RUN_DIR/carrot-board.log" 2>&1 </dev/null &
echo $! >"$board_pid"
for _ in $(seq 100); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $tv_token" \
        "http://127.0.0.1:$board_port/v1/programs/$program/boards"; then
        break
    fi
    kill -0 "$(cat "$board_pid")" 2>/dev/null ||
        carrot_die "carrot-board did not start: $(tail -3 "$CARROT_RUN_DIR/carrot-board.log")"
    sleep 0.2
done
echo
echo "== displays (carrot-board, log in $CARROT_RUN_DIR/carrot-board.log) =="
echo "TV (kiosk):       http://127.0.0.1:$board_port/tv/$program?token=$tv_token&scenes=ptd,week,movers,promo"
echo "p0005's own page: http://127.0.0.1:$board_port/me?token=$me_token"
echo "adoption (charts): http://127.0.0.1:$board_port/adoption?program=$program&token=$manager_token"
echo "services are still running: deploy/services.sh stop ends them (and carrot-board)"
