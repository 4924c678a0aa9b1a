#!/usr/bin/env bash
# cmake --install puts every program, its man page and the documents in place,
# and every man page renders without a warning.
# usage: tests/check-install.sh BUILD_DIR
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for prog in carrot-ingest carrot-webhook carrot-loadgen carrot-scorer carrot-leaderboard \
    carrot-rules carrot-ledger carrot-directory carrot-board carrot-commit carrot-report carrot-notify; do
    [[ -x "$prefix/bin/$prog" ]] || { echo "check-install: no $prefix/bin/$prog" >&2; exit 1; }
    page="$prefix/share/man/man1/$prog.1"
    [[ -s "$page" ]] || { echo "check-install: no man page $page" >&2; exit 1; }
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
    [[ -z "$warnings" ]] || { echo "check-install: $prog.1: $warnings" >&2; exit 1; }
    LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q -- "--version" \
        || { echo "check-install: $prog.1 does not render its settings" >&2; exit 1; }
done
for doc in README.md LICENSE CHANGELOG.md; do
    [[ -s "$prefix/share/doc/carrot/$doc" ]] || { echo "check-install: no $doc" >&2; exit 1; }
done
echo "check-install: 10 programs, 10 man pages, 3 documents"
