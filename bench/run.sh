#!/usr/bin/env bash
# Runs every benchmark against the services of deploy/services.sh (started if
# needed) and prints each one's figures and its ratio to the baseline taken
# in the same run.
set -euo pipefail
# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/env.sh"
cd "$CARROT_ROOT"
bash deploy/build.sh build
bash deploy/services.sh start
echo "== ledger: awards booked per second vs plain COPY =="
build/bench/bench_ledger --brokers "$CARROT_BROKERS" --pg-dsn "$CARROT_PG_DSN"
echo "== adoption: facts folded vs a plain consume and COPY; the weekly report over 90 days of 1M activities a day vs a plain sum =="
build/bench/bench_adoption --brokers "$CARROT_BROKERS" --pg-dsn "$CARROT_PG_DSN"
echo "== scorer: activities scored per second vs a plain consume =="
build/bench/bench_scorer --brokers "$CARROT_BROKERS" --redis-host "$CARROT_REDIS_HOST" \
    --redis-port "$CARROT_REDIS_PORT"
echo "== scale-out: one, two and three scorers in one group on a 12-partition topic =="
for n in 1 2 3; do
    build/bench/bench_scorer --brokers "$CARROT_BROKERS" --partitions 12 --scorers "$n" \
        --redis-host "$CARROT_REDIS_HOST" --redis-port "$CARROT_REDIS_PORT"
done
echo "== scale-out on the Redis Cluster of deploy/redis-cluster.sh =="
bash deploy/redis-cluster.sh start
for n in 1 2 3; do
    build/bench/bench_scorer --brokers "$CARROT_BROKERS" --partitions 12 --scorers "$n" \
        --redis-host 127.0.0.1 --redis-port "${CARROT_REDIS_CLUSTER_PORT:-17000}"
done
bash deploy/redis-cluster.sh stop
echo "== latency: activity to leaderboard at a steady rate vs a plain consume; scorer memory =="
build/bench/bench_latency --brokers "$CARROT_BROKERS" --redis-host "$CARROT_REDIS_HOST" \
    --redis-port "$CARROT_REDIS_PORT"
echo "== push: 1000 live streams on one board while the scorer runs at 2000/s =="
build/bench/bench_latency --brokers "$CARROT_BROKERS" --redis-host "$CARROT_REDIS_HOST" \
    --redis-port "$CARROT_REDIS_PORT" --pg-dsn "$CARROT_PG_DSN" --rate 2000 --seconds 20 \
    --memory-seconds 20 --push-clients 1000
echo "== board reads through carrot-board vs the same reads straight to Redis (1M participants) =="
build/bench/bench_board --redis-host "$CARROT_REDIS_HOST" --redis-port "$CARROT_REDIS_PORT" \
    --pg-dsn "$CARROT_PG_DSN"
echo "== a week's close (100,000 people x 3 commitments) vs INSERT ... SELECT; a follow-up list =="
build/bench/bench_commit --redis-host "$CARROT_REDIS_HOST" --redis-port "$CARROT_REDIS_PORT" \
    --pg-dsn "$CARROT_PG_DSN"
echo "== notify: 100,000 awards (10,000 goals) to messages at a receiver vs a plain consume; memory while the receiver is down 60 s =="
build/bench/bench_notify --brokers "$CARROT_BROKERS" --pg-dsn "$CARROT_PG_DSN" --down-seconds 60
echo "== codec: CrmActivity encode/decode vs raw avro-c generic =="
build/bench/bench_codec
