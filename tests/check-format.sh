#!/usr/bin/env bash
# Checks that every tracked .c and .h file is formatted as .clang-format says
# (clang-format --dry-run --Werror); lists the files that are not.
# Reformat with: clang-format -i $(git ls-files '*.c' '*.h')
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$root"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "clang-format is not installed (deploy/install-deps.sh installs it); the format check cannot run" >&2
    exit 1
fi
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "$root is not a git checkout: the format check needs git ls-files" >&2
    exit 1
fi
mapfile -d '' files < <(git ls-files -z '*.c' '*.h')
if ((${#files[@]} == 0)); then
    echo "git ls-files found no .c or .h files in $root" >&2
    exit 1
fi
off=()
for f in "${files[@]}"; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || off+=("$f")
done
if ((${#off[@]} > 0)); then
    echo "${#off[@]} of ${#files[@]} files are not formatted as .clang-format says ($(clang-format --version)):" >&2
    printf '  %s\n' "${off[@]}" >&2
    echo "run: clang-format -i \$(git ls-files '*.c' '*.h')" >&2
    exit 1
fi
echo "all ${#files[@]} .c and .h files are formatted as .clang-format says"
