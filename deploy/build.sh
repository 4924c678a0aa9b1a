#!/usr/bin/env bash
# Configures and builds Carrot with CMake into a build directory.
#   deploy/build.sh [BUILD_DIR] [CMAKE_ARGS...]     (default BUILD_DIR: build)
set -euo pipefail
# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

dir="${1:-build}"
shift || true
[[ "$dir" = /* ]] || dir="$CARROT_ROOT/$dir"
generator=()
command -v ninja >/dev/null 2>&1 && [[ ! -f "$dir/Makefile" ]] && generator=(-G Ninja)
cmake -S "$CARROT_ROOT" -B "$dir" "${generator[@]}" "$@" >/dev/null \
    || carrot_die "cmake configure failed in $dir"
cmake --build "$dir" -j "$(nproc)" || carrot_die "build failed in $dir"
