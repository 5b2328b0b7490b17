#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every metric family lib/metrics.c can write is documented in vpnpolicyctl(8), METRICS; every vpnpolicy
# metric the alerts use is one it writes (a renamed family must not leave an alert that never fires).
set -euo pipefail
ROOT=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
failed=0
mapfile -t families < <(grep -o '"vpnpolicy_[a-z0-9_]*"' "$ROOT/agent/lib/metrics.c" | tr -d '"' | sort -u)
((${#families[@]} > 20)) || { echo "FAIL: only ${#families[@]} families found in metrics.c"; exit 1; }
man=$(sed -n '/^\.Sh METRICS/,/^\.Sh /p' "$ROOT/docs/vpnpolicyctl.8")
for f in "${families[@]}"; do
        grep -qw -- "$f" <<<"$man" || { echo "FAIL: $f is not in vpnpolicyctl(8), METRICS"; failed=1; }
done
mapfile -t used < <(grep -v '^ *#' "$ROOT/docs/prometheus/vpnpolicy.rules.yml" | grep -o 'vpnpolicy_[a-z0-9_]*' | sort -u)
for u in "${used[@]}"; do
        printf '%s\n' "${families[@]}" | grep -qx -- "$u" || { echo "FAIL: the alerts use $u, which metrics.c never writes"; failed=1; }
done
((failed)) || echo "ok: ${#families[@]} families documented; the alerts use ${#used[@]}, all written"
exit "$failed"
