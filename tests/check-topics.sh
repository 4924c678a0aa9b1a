#!/usr/bin/env bash
# check-topics.sh: the default topics carry the retention README "Topics and retention"
# promises (deploy/kafka.sh topics sets it when it creates them).
set -euo pipefail
# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/env.sh"
bash "$CARROT_ROOT/deploy/kafka.sh" topics >/dev/null 2>&1
check() {
    local topic=$1 want=$2 line
    line=$(bash "$CARROT_ROOT/deploy/kafka.sh" describe-topic "$topic" | head -1)
    grep -q -- "$want" <<<"$line" || { echo "$topic: want $want, have: $line" >&2; exit 1; }
}
check crm.activities "retention.ms=$CARROT_ACTIVITIES_RETENTION_MS"
check carrot.awards "retention.ms=$CARROT_AWARDS_RETENTION_MS"
check crm.activities.dlq "retention.ms=$CARROT_DLQ_RETENTION_MS"
check carrot.awards.dlq "retention.ms=$CARROT_DLQ_RETENTION_MS"
check carrot.rules "cleanup.policy=compact"
check carrot.notify.config "cleanup.policy=compact"
check carrot.participants "cleanup.policy=compact"
check carrot.participants.dlq "retention.ms=$CARROT_DLQ_RETENTION_MS"
echo "topics: retention as documented"
