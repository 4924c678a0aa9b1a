#!/usr/bin/env bash
# Checks that README.md's configuration reference is what the programs'
# --help-markdown prints (the reference is generated from each program's
# config table; regenerate it with: tests/check-docs.sh BUILD_DIR --write).
set -euo pipefail
build="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
readme="$root/README.md"
generated="$(mktemp)"
trap 'rm -f "$generated"' EXIT
for p in carrot-ingest carrot-webhook carrot-loadgen carrot-scorer carrot-leaderboard carrot-rules \
    carrot-ledger carrot-directory carrot-board carrot-commit carrot-report carrot-notify; do
    printf '#### %s\n\n' "$p"
    "$build/bin/$p" --help-markdown
    printf '\n'
done >"$generated"
begin='<!-- config-reference:begin -->'
end='<!-- config-reference:end -->'
if [[ "${2:-}" == "--write" ]]; then
    awk -v b="$begin" -v e="$end" -v f="$generated" '
        $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip' "$readme" >"$readme.new"
    mv "$readme.new" "$readme"
    exit 0
fi
current="$(awk -v b="$begin" -v e="$end" '$0 == e { p = 0 } p; $0 == b { p = 1 }' "$readme")"
if [[ "$current" != "$(cat "$generated")" ]]; then
    echo "README.md's configuration reference is out of date; run: tests/check-docs.sh $build --write" >&2
    diff <(printf '%s\n' "$current") "$generated" >&2 || true
    exit 1
fi
echo "README.md configuration reference matches the programs"
