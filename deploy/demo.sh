#!/usr/bin/env bash
# The quickstart: on a fresh machine, installs what is missing, builds Carrot,
# starts Kafka, Redis and PostgreSQL on loopback, feeds the bundled demo CRM
# feed (deploy/demo/crm-feed.jsonl) through carrot-ingest, carrot-scorer and
# carrot-ledger until it is drained, then prints the leaderboard and the
# ledger total and checks that they agree. Safe to run again: a replayed feed
# is recognised (same event ids) and changes no total.
set -euo pipefail
# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$CARROT_ROOT"

bash deploy/install-deps.sh
bash deploy/build.sh build
bash deploy/services.sh start

bin=build
program=demo
carrot_say "applying ledger migrations"
"$bin/ledger/carrot-ledger" migrate

carrot_say "ingesting deploy/demo/crm-feed.jsonl"
"$bin/producers/carrot-ingest" --input deploy/demo/crm-feed.jsonl --program "$program"

carrot_say "checking the rules, and putting them in force through the carrot.rules topic"
"$bin/consumers/carrot-rules" check deploy/demo/rules.yaml
"$bin/consumers/carrot-rules" publish deploy/demo/rules.yaml --log-level warn

carrot_say "scoring until the activities topic is drained"
"$bin/consumers/carrot-scorer" --rules deploy/demo/rules.yaml --until-drained --log-level warn

carrot_say "booking awards until the awards topic is drained"
"$bin/ledger/carrot-ledger" run --until-drained --log-level warn

echo
echo "== leaderboard: program $program, program to date =="
"$bin/consumers/carrot-leaderboard" --program "$program" --top 10
echo
echo "== leaderboard: dealers, the week of 2026-11-09 (program time zone) =="
"$bin/consumers/carrot-leaderboard" --program "$program" --period week --at 2026-11-10T12:00:00Z \
    --scope seg:dealer --top 5
echo
echo "== p0005: rank and points on every board (days left out here) =="
"$bin/consumers/carrot-leaderboard" --program "$program" --participant p0005 | grep -E "^(board|ptd|q:|m:|w:)"
echo
echo "== ledger =="
"$bin/ledger/carrot-ledger" liability

board_total=$("$bin/consumers/carrot-leaderboard" --program "$program" --format json --top 1 |
    sed -n 's/.*"total_points":\(-\{0,1\}[0-9]*\).*/\1/p')
ledger_total=$(bash deploy/postgres.sh psql -tAc \
    "SELECT coalesce(sum(points), 0) FROM awards WHERE program_id = '$program'")
echo
if [[ -n "$board_total" && "$board_total" == "$ledger_total" ]]; then
    echo "leaderboard total $board_total = ledger total $ledger_total: they agree"
else
    carrot_die "leaderboard total '$board_total' and ledger total '$ledger_total' disagree"
fi
echo "services are still running: deploy/services.sh stop ends them"
