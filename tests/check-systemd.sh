#!/usr/bin/env bash
# check-systemd.sh BUILD: systemd-analyze verify on deploy/systemd's units, with their
# programs pointed at BUILD/bin (verify checks that every Exec* path is executable).
set -euo pipefail
build="$(cd "$1" && pwd -P)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for unit in "$root"/deploy/systemd/*.service; do
    sed "s|/usr/local/bin/|$build/bin/|g" "$unit" >"$dir/$(basename "$unit")"
done
# a template is verified through an instance of it
for tmpl in "$dir"/*@.service; do
    [[ -e "$tmpl" ]] || continue
    mv "$tmpl" "${tmpl%@.service}@1.service"
done
units=("$dir"/*.service)
((${#units[@]} >= 3)) || { echo "expected the scorer, ledger and webhook units" >&2; exit 1; }
SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "${units[@]}"
# the hardening and restart policy every unit must keep
for unit in "${units[@]}"; do
    for line in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict Restart=always \
        'EnvironmentFile=/etc/carrot/carrot.env'; do
        grep -qxF "$line" "$unit" || { echo "$(basename "$unit"): no $line" >&2; exit 1; }
    done
    grep -q '^ExecStartPost=.*/readyz$' "$unit" || { echo "$(basename "$unit"): no readiness" >&2; exit 1; }
done
echo "systemd: ${#units[@]} units verify"
