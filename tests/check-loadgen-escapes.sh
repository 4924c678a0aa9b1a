#!/usr/bin/env bash
# carrot-loadgen writes valid JSON lines for any program id: quotes and
# backslashes in it are escaped, and every line names it exactly.
# usage: tests/check-loadgen-escapes.sh CARROT-LOADGEN
set -euo pipefail
program='x"y\z'
"$1" --count 20 --program "$program" | python3 -c '
import json, sys
ids = {json.loads(line)["program_id"] for line in sys.stdin}
sys.exit(0 if ids == {sys.argv[1]} else "program ids written: %r" % ids)' "$program"
echo "check-loadgen-escapes: 20 valid lines"
