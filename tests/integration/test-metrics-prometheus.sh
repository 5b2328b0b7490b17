#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real Prometheus server (Debian's prometheus) scrapes the real endpoint (issue 15): vpnpolicyd and
# vpnpolicy-metricsd (its socket handed over by systemd-socket-activate, as the socket unit does) in a
# namespace of the test, Prometheus in the same namespace on its loopback with a data directory and
# configuration of its own, scraping every second and evaluating the shipped alerts
# (docs/prometheus/vpnpolicy.rules.yml) every second. Through Prometheus's HTTP API: the target is up
# with vpnpolicy_up 1; a rule the test deletes is restored and the restore is counted; with the
# gateway's link kept down the default routes stay missing and VpnpolicyObjectMissing fires (and
# resolves once the link is back); the agent stopped fires VpnpolicyAgentDown. The rules run as
# shipped but for their `for:` durations, shortened to 3 s in the test's copy: the timing (1 min) is
# what promtool test rules covers (tests/unit/test-metrics-rules.sh); this test covers the plumbing.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

METRICSD=${METRICSD:-$BUILD/agent/ctl/vpnpolicy-metricsd}
PROMETHEUS=${PROMETHEUS:-prometheus}
[[ -x $METRICSD ]] || die "no vpnpolicy-metricsd at $METRICSD"
for tool in systemd-socket-activate curl "$PROMETHEUS"; do
        command -v "$tool" >/dev/null || skip_test "$tool is missing (tests/run.sh installs it)"
done
PORT=9767 PROM=http://127.0.0.1:9090

seed003_uplink NS GW
seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Kernel]' 'FailClosed=yes'
agent_start "$NS" "$T/vpnpolicy.conf"
ns_exec "$NS" systemd-socket-activate -l "127.0.0.1:$PORT" -- "$METRICSD" --runtime-dir "$T/run-$NS" \
        </dev/null >"$T/metricsd.log" 2>&1 &
register_pid $!

mkdir -p "$T/prom/data"
sed -E 's/^( *for: ).*/\13s/' "$SOURCE_ROOT/docs/prometheus/vpnpolicy.rules.yml" >"$T/prom/rules.yml"
cat >"$T/prom/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $T/prom/rules.yml
scrape_configs:
  - job_name: vpnpolicy
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF2
check "promtool check config" promtool check config "$T/prom/prometheus.yml"
ns_exec "$NS" "$PROMETHEUS" --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
        --web.listen-address=127.0.0.1:9090 --log.level=warn </dev/null >"$T/prometheus.log" 2>&1 &
register_pid $!
ready() { ns_exec "$NS" curl -sf --max-time 1 "$PROM/-/ready" >/dev/null; }
if ! wait_until 30000 ready; then
        tail -n 20 "$T/prometheus.log" >&2
        die "Prometheus did not get ready"
fi
info "Prometheus $("$PROMETHEUS" --version 2>&1 | head -n1 | awk '{print $3}') ready"

# query EXPR: the values of an instant query, one "labels value" line per series (sorted)
query() {
        ns_exec "$NS" curl -s --max-time 3 "$PROM/api/v1/query" --data-urlencode "query=$1" |
                jq -r '.data.result[] | "\(.metric | del(.__name__) | to_entries | map("\(.key)=\(.value)") | join(",")) \(.value[1])"' |
                sort
}
value_is() { [[ $(query "$1" | awk '{print $NF}') == "$2" ]]; }
# firing NAME: the labels of NAME's firing alerts, one line each
firing() {
        ns_exec "$NS" curl -s --max-time 3 "$PROM/api/v1/alerts" |
                jq -r --arg a "$1" '.data.alerts[] | select(.labels.alertname == $a and .state == "firing") | .labels | del(.alertname, .severity) | to_entries | map("\(.key)=\(.value)") | join(",")' | sort
}
is_firing() { [[ -n $(firing "$1") ]]; }
not_firing() { [[ -z $(firing "$1") ]]; }
series_count_is() { [[ $(query "$1" | wc -l) == "$2" ]]; }

info "scraped"
check "Prometheus's own up for the target is 1" wait_until 10000 value_is 'up{job="vpnpolicy"}' 1
check "vpnpolicy_up 1 through Prometheus" wait_until 5000 value_is vpnpolicy_up 1
assert_eq "the source rules present" "family=ipv4,instance=127.0.0.1:$PORT,job=vpnpolicy,policy=vpn,role=source-rule 1" \
        "$(query 'vpnpolicy_objects_present{role="source-rule",family="ipv4"}')"
assert_eq "no restore yet" 0 "$(query vpnpolicy_restores_total | awk '{print $NF}')"
sleep 4         # longer than the shortened for:, so a wrongly firing alert would show
assert_eq "no alert fires while healthy" "" "$(ns_exec "$NS" curl -s "$PROM/api/v1/alerts" | jq -r '.data.alerts[] | select(.state == "firing") | .labels.alertname')"

info "a deleted rule: restored, and Prometheus sees the restore counted"
ip -n "$NS" rule del pref 32765 from 10.10.10.0/24 lookup 200
check "the rule is back in the kernel" wait_until 2000 bash -c "[[ -n \$(ip -n '$NS' rule show pref 32765 from 10.10.10.0/24) ]]"
check "Prometheus: vpnpolicy_restores_total 1" wait_until 10000 value_is vpnpolicy_restores_total 1
check "Prometheus: increase() over a minute sees it" wait_until 5000 series_count_is 'increase(vpnpolicy_restores_total[1m]) > 0' 1

info "a wanted object kept away: the gateway's link down, the default routes cannot be in"
ip -n "$NS" link set eth1 down
check "VpnpolicyObjectMissing fires" wait_until 20000 is_firing VpnpolicyObjectMissing
assert_eq "for the default routes of both families" \
        "family=ipv4,instance=127.0.0.1:$PORT,policy=vpn,role=default-route
family=ipv6,instance=127.0.0.1:$PORT,policy=vpn,role=default-route" "$(firing VpnpolicyObjectMissing)"
runbook=$(ns_exec "$NS" curl -s "$PROM/api/v1/alerts" | jq -r '[.data.alerts[] | select(.labels.alertname == "VpnpolicyObjectMissing")][0].annotations.runbook')
check "its runbook points to vpnpolicyctl doctor ($runbook)" grep -q 'vpnpolicyctl doctor' <<<"$runbook"
ip -n "$NS" link set eth1 up
ip -n "$NS" addr replace fd00:1010:1010:1010::100/64 dev eth1 nodad   # dropped with the link (keep_addr_on_down=0)
check "resolved once the link is back" wait_until 20000 not_firing VpnpolicyObjectMissing

info "the agent stopped"
agent_stop
check "vpnpolicy_up 0 through Prometheus" wait_until 10000 value_is vpnpolicy_up 0
check "the endpoint itself stays up for Prometheus" value_is 'up{job="vpnpolicy"}' 1
check "VpnpolicyAgentDown fires" wait_until 20000 is_firing VpnpolicyAgentDown
check "Prometheus logged no scrape or rule errors" bash -c "! grep -Ei 'level=(error|warn).*(scrape|rule|append)' '$T/prometheus.log'"
finish
