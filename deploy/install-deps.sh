#!/usr/bin/env bash
# Installs the Debian packages Carrot needs to build, test and run its local services;
# idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

# shellcheck source=deploy/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PACKAGES=(
    build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format
    librdkafka-dev libavro-dev libhiredis-dev libpq-dev check libjansson-dev libssl-dev uuid-dev
    redis-server postgresql postgresql-contrib
    openjdk-17-jre-headless maven ca-certificates ca-certificates-java
    valgrind python3 libmicrohttpd-dev libcurl4-openssl-dev libyaml-dev tzdata lua5.1
    prometheus systemd chromium fonts-dejavu-core curl libjs-chart.js
)

usage() {
    cat <<EOF
usage: deploy/install-deps.sh [--check]

Installs whichever of these Debian packages are missing (as root, or through sudo):
  ${PACKAGES[*]}
With --check, only lists the missing ones and exits 1 if there are any.
EOF
}

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

main() {
    local check_only=false
    case "${1:-}" in
        "") ;;
        --check) check_only=true ;;
        -h | --help)
            usage
            return 0
            ;;
        *)
            usage >&2
            return 2
            ;;
    esac
    command -v dpkg-query >/dev/null 2>&1 \
        || carrot_die "dpkg-query not found: this script needs Debian or a derivative"

    local pkg
    local -a missing=()
    for pkg in "${PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        carrot_say "all dependencies present"
        return 0
    fi
    if $check_only; then
        carrot_say "missing packages: ${missing[*]}"
        return 1
    fi

    local -a sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || carrot_die "not root and sudo not found: as root, run apt-get install ${missing[*]}"
        sudo=(sudo)
    fi
    carrot_say "installing: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        || carrot_die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" \
        || carrot_die "could not install: ${missing[*]}"

    local -a still=()
    for pkg in "${missing[@]}"; do
        installed "$pkg" || still+=("$pkg")
    done
    ((${#still[@]} == 0)) || carrot_die "still missing after apt-get install: ${still[*]}"
    carrot_say "installed: ${missing[*]}"
}

main "$@"
