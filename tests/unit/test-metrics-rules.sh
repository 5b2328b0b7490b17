#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The alerts (docs/prometheus/vpnpolicy.rules.yml): `promtool check rules` accepts them and `promtool
# test rules` runs their unit tests (vpnpolicy.rules.test.yml: series that fire and series that must
# not). The real Prometheus server evaluating them against the real endpoint is
# tests/integration/test-metrics-prometheus.sh.
set -euo pipefail
ROOT=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null || { echo "SKIP: promtool is missing (Debian package prometheus)"; exit 77; }
cd "$ROOT/docs/prometheus"
"$PROMTOOL" check rules vpnpolicy.rules.yml
"$PROMTOOL" test rules vpnpolicy.rules.test.yml
# Every alert has a test, and every alert a runbook line that points to vpnpolicyctl doctor.
failed=0
for a in $(sed -n 's/^ *- alert: //p' vpnpolicy.rules.yml); do
        grep -q "alertname: $a\$" vpnpolicy.rules.test.yml || { echo "FAIL: no test for $a"; failed=1; }
done
n_alerts=$(grep -c '^ *- alert: ' vpnpolicy.rules.yml)
n_doctor=$(grep -c '^ *runbook: .*vpnpolicyctl doctor' vpnpolicy.rules.yml)
[[ $n_alerts == "$n_doctor" ]] || { echo "FAIL: $n_alerts alerts, $n_doctor runbook lines naming vpnpolicyctl doctor"; failed=1; }
((failed)) || echo "ok: $n_alerts alerts, each tested, each with a runbook line"
exit "$failed"
