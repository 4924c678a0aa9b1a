#!/usr/bin/env bash
# Runs every Carrot test on a fresh machine: installs what is missing, then
#   1. the normal build: unit and integration tests (real Kafka, Redis, PostgreSQL)
#   2. the demo, and the integration tests and the demo again with every Carrot
#      process's clock 60 and 400 days ahead (CARROT_TEST_CLOCK_SHIFT)
#   3. the pipeline, chaos and failover tests on a Redis Cluster (label "cluster")
#   4. the same programs under valgrind: unit tests and the integration run, no leaks
#   5. an AddressSanitizer + UndefinedBehaviorSanitizer build: unit and integration tests
#   6. a ThreadSanitizer build: the tests of Carrot's own threads (label "tsan":
#      the metrics endpoint, carrot-webhook, carrot-board, the ledger's booking thread)
#   7. a clang build of the libFuzzer targets: a short fuzz run of each
# The services run on their own ports and run directory (.run/test), so a
# quickstart's services are not touched; they are stopped at the end.
# Environment: CARROT_FUZZ_SECONDS (default 12) per fuzz target.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export CARROT_RUN_DIR="${CARROT_TEST_RUN_DIR:-$root/.run/test}"
export CARROT_KAFKA_PORT="${CARROT_TEST_KAFKA_PORT:-29092}"
export CARROT_KAFKA_CONTROLLER_PORT="${CARROT_TEST_KAFKA_CONTROLLER_PORT:-29093}"
export CARROT_REDIS_PORT="${CARROT_TEST_REDIS_PORT:-26379}"
# a Redis Cluster of six nodes from here (their cluster bus 10000 above): deploy/redis-cluster.sh
export CARROT_REDIS_CLUSTER_PORT="${CARROT_TEST_REDIS_CLUSTER_PORT:-27100}"
export CARROT_PG_PORT="${CARROT_TEST_PG_PORT:-25432}"
unset CARROT_BROKERS CARROT_PG_DSN
# shellcheck source=deploy/env.sh
. "$root/deploy/env.sh"
cd "$root"

passed=0
failed=0
phase() { printf '\n==== %s ====\n' "$*"; }

# ctest_phase DIR ARGS...: runs ctest and adds its counts to the totals.
ctest_phase() {
    local dir="$1" out rc=0
    shift
    out="$(mktemp)"
    (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$out" || rc=$?
    local line total bad
    # no summary line is "ran no test", never an aborted script (pipefail)
    line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1 || true)"
    rm -f "$out"
    if [[ -z "$line" || "$line" == *"out of 0"* ]]; then
        failed=$((failed + 1))
        carrot_say "ctest in $dir ($*) ran no test"
        return 0
    fi
    bad="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
    total="$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")"
    passed=$((passed + total - bad))
    failed=$((failed + bad))
    ((rc == 0 || bad > 0)) || failed=$((failed + 1))
}

trap 'bash "$root/deploy/services.sh" stop >/dev/null 2>&1 || true
      bash "$root/deploy/redis-cluster.sh" stop >/dev/null 2>&1 || true' EXIT

phase "dependencies"
bash deploy/install-deps.sh

phase "build"
bash deploy/build.sh build
ctest_phase build

# demo_phase NAME: the quickstart on the test services as program NAME, which must
# end with the leaderboard and the ledger agreeing (in total, and participant by
# participant by carrot-ledger reconcile) and last week's board live.
demo_phase() {
    local out
    out="$(mktemp)"
    if bash deploy/demo.sh --program "$1" >"$out" 2>&1 && grep -q "^leaderboard total .*: they agree" "$out" &&
        grep -q "^$1: .*: they agree" "$out"; then
        passed=$((passed + 1))
        echo "demo $1${CARROT_TEST_CLOCK_SHIFT:+ (clock $CARROT_TEST_CLOCK_SHIFT)}: $(grep "^leaderboard total" "$out")"
    else
        failed=$((failed + 1))
        cat "$out"
        echo "demo $1: FAILED"
    fi
    rm -f "$out"
}

phase "demo, and every date-bound test 60 and 400 days later"
demo_phase "demo-$$"
for shift in +60d +400d; do
    # Redis and Kafka keep the real clock; Carrot's processes and the tests move
    # ahead together (README: "Testing on other dates"); the tests whose programs
    # never read the calendar (label timeless) only once, 400 days ahead
    skip='interop|observability|failover'
    [[ $shift == +60d ]] && skip+='|timeless'
    CARROT_TEST_CLOCK_SHIFT=$shift ctest_phase build -L integration -LE "$skip"
    CARROT_TEST_CLOCK_SHIFT=$shift demo_phase "demo-$$-${shift#+}"
done

phase "Redis Cluster"
# The pipeline and chaos tests again with every program pointed at a node of a Redis
# Cluster (three masters, a replica each), and the failover test; the services fixture's
# own Redis is not needed for them (-FS: no fixture setup: Kafka and PostgreSQL run).
bash deploy/redis-cluster.sh start
CARROT_REDIS_PORT=$CARROT_REDIS_CLUSTER_PORT ctest_phase build -L cluster -FS services

phase "valgrind"
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
units="$(cd build && ctest -N -L check | sed -n 's/.*Test *#[0-9]*: unit\.\(.*\)/\1/p')"
if [[ -z "$units" ]]; then
    failed=$((failed + 1))
    carrot_say "valgrind: ctest lists no unit test"
fi
for t in $units; do
    if CK_FORK=no $vg "build/tests/test_$t" >/dev/null; then
        passed=$((passed + 1))
        echo "valgrind unit.$t: passed"
    else
        failed=$((failed + 1))
        echo "valgrind unit.$t: FAILED"
    fi
done
CARROT_IT_WRAPPER="$vg" ctest_phase build -L integration -LE 'chaos|clock|observability'

phase "sanitizers (ASan + UBSan)"
bash deploy/build.sh build-asan -DCARROT_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest_phase build-asan

phase "ThreadSanitizer"
bash deploy/build.sh build-tsan -DCARROT_TSAN=ON
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp" \
    ctest_phase build-tsan -L tsan

phase "fuzz (libFuzzer)"
bash deploy/build.sh build-fuzz -DCMAKE_C_COMPILER=clang -DCARROT_FUZZ=ON \
    "-DCARROT_FUZZ_SECONDS=${CARROT_FUZZ_SECONDS:-12}"
ctest_phase build-fuzz -L fuzz

echo
echo "all phases: $passed passed, $failed failed"
((failed == 0))
