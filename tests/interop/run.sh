#!/usr/bin/env bash
# Interoperability of Carrot's Avro with Apache Avro's Java implementation
# (the reference): bytes Carrot writes are decoded by Java's
# BinaryMessageDecoder, and bytes Java's BinaryMessageEncoder writes are
# decoded by Carrot; every field is compared.
#   tests/interop/run.sh INTEROP_TOOL WORK_DIR
set -euo pipefail
tool="$1"
work="$2/interop"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=deploy/env.sh
. "$here/../../deploy/env.sh"
jars="$CARROT_CACHE/avro-java-1.11.4"
if [[ ! -f "$jars/.complete" ]]; then
    mkdir -p "$jars.tmp"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$jars.tmp" \
        -DincludeScope=runtime || carrot_die "could not fetch the Avro Java jars"
    rm -rf "$jars" && mv "$jars.tmp" "$jars" && touch "$jars/.complete"
fi
mkdir -p "$work"
# UTF-8 whatever the locale (with none, javac and java default to US-ASCII and
# the test's "Süd" and "Außendienst" would not survive)
javac -encoding UTF-8 -d "$work" -cp "$jars/*" "$here/Interop.java"
java() { command java -Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8 "$@"; }
schema="$CARROT_ROOT/schemas/crm_activity.avsc"
fail=0
expect() { # expect NAME WANT GOT
    if [[ "$3" != *"$2"* ]]; then
        echo "interop: $1: expected \"$2\" in:"
        echo "$3"
        fail=1
    fi
}

"$tool" write "$work/carrot.bin"
java_says="$(java -cp "$work:$jars/*" Interop decode "$schema" "$work/carrot.bin")"
for want in '"event_id": "carrot-evt-1"' '"change_type": "DELETE"' '"activity_type": "meeting"' \
    '"occurred_at": 1793628180250' '"participant_id": "p-carrot"' '"segment": "dealer"' \
    '"team_id": null' '"tenure_days": 365' '"amount_minor": -1234' '"duration_seconds": 1800' \
    '"text_length": 99' '"custom": {"Kanal": "Außendienst"}'; do
    expect "Java decoding Carrot's bytes" "$want" "$java_says"
done

java -cp "$work:$jars/*" Interop encode "$schema" "$work/java.bin"
carrot_says="$("$tool" read "$work/java.bin")"
for want in event_id=java-evt-1 change_type=UNDELETE activity_type=quote occurred_at=1793628180250 \
    recorded_at=1793628180999 participant_id=p-java segment=distributor 'team_id=(null)' \
    tenure_days=42 amount_minor=9876543210 currency=EUR stage=proposal text_length=17 \
    'custom.Region__c=Süd'; do
    expect "Carrot decoding Java's bytes" "$want" "$carrot_says"
done
((fail == 0)) || exit 1
echo "interop: Carrot and Apache Avro Java read each other's single-object messages"
