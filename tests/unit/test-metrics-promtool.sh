#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `promtool check metrics` (its parser and linter) accepts lib/metrics.c's output for the replies in
# tests/unit/metrics/ (a degraded reply with gateways down, as the daemon will report them once it
# probes; one without the firewall) and for an unreachable agent. The real daemon's output in each
# state is checked by tests/integration/test-metrics-format.sh.
set -euo pipefail
ROOT=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TEST_METRICS=${TEST_METRICS:?the test-metrics binary}
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null || { echo "SKIP: promtool is missing (Debian package prometheus)"; exit 77; }
failed=0
for f in "$ROOT"/tests/unit/metrics/*.json; do
        if out=$("$TEST_METRICS" --print "$f" | "$PROMTOOL" check metrics 2>&1); then
                echo "ok: promtool check metrics: ${f##*/}"
        else
                echo "FAIL: promtool check metrics: ${f##*/}:"
                echo "$out"
                failed=1
        fi
done
exit "$failed"
