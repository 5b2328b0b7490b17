#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `vpnpolicyctl metrics` against the real daemon (issue 15): `promtool check metrics` (the Prometheus
# parser and linter) accepts the output in every state the agent can be in here — healthy with a
# tunnel, a tunnel down (its routes waiting, no fault), degraded (the gateway's link down: the default
# routes missing), no firewall ([Firewall] Manage=no), refused (a user outside [Control] ReadGroup=) and
# unreachable (vpnpolicy_up 0, exit 4) — and the values follow the kernel: a deleted rule counted as a
# restore, missing objects counted per policy, role and family. --output writes the file atomically
# (mode 0644, no temporary left, a valid file also when the agent is down). A probed gateway: up with its
# round trip and no loss, then black-holing the probes (an nft drop of echo requests in the gateway:
# only the probe can tell) down, no gateway active, the failover counted, loss rising, no round trip —
# the figures are the daemon's health state, the same the status shows.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

command -v promtool >/dev/null || skip_test "promtool is missing (Debian package prometheus; tests/run.sh installs it)"

# metrics [CTL ARGS...]: the output of `vpnpolicyctl metrics` in $T/m.txt, its exit status in $T/m.rc
metrics() {
        local rc=0
        ctl "$NS" metrics "$@" >"$T/m.txt" 2>"$T/m.err" || rc=$?
        echo "$rc" >"$T/m.rc"
}
promtool_ok() { promtool check metrics <"$1"; }
# value SERIES: the value of the sample whose name and labels are exactly SERIES, from $T/m.txt
value() { awk -v s="$1" '$1 == s { print $2; found = 1 } END { exit !found }' "$T/m.txt"; }
state() {
        local what=$1
        metrics
        check "$what: exit status 0" test "$(cat "$T/m.rc")" = 0
        check "$what: promtool check metrics accepts it" promtool_ok "$T/m.txt"
        assert_eq "$what: vpnpolicy_up 1" 1 "$(value vpnpolicy_up)"
        cp "$T/m.txt" "$T/m-$what.txt"
}
obj() { echo "vpnpolicy_objects_$1{policy=\"vpn\",role=\"$2\",family=\"$3\"}"; }

seed003_uplink NS GW
seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Kernel]' 'FailClosed=yes'
agent_start "$NS" "$T/vpnpolicy.conf"
seed003_tun "$NS" tun0
check "tun0's routes are in" wait_until 3000 table200_has "$NS" 10.10.10.0/24

info "healthy, with a tunnel"
state healthy
assert_eq "healthy: vpnpolicy_healthy 1" 1 "$(value vpnpolicy_healthy)"
assert_eq "healthy: source rule v4 wanted 1" 1 "$(value "$(obj wanted source-rule ipv4)")"
assert_eq "healthy: source rule v4 present 1" 1 "$(value "$(obj present source-rule ipv4)")"
assert_eq "healthy: default route v6 missing 0" 0 "$(value "$(obj missing default-route ipv6)")"
assert_eq "healthy: tun route v4 present 1" 1 "$(value "$(obj present tun-route ipv4)")"
assert_eq "healthy: one managed tunnel" 1 "$(value 'vpnpolicy_managed_tunnels{policy="vpn"}')"
assert_eq "healthy: tun0 up" 1 "$(value 'vpnpolicy_tunnel_up{device="tun0",policy="vpn"}')"
assert_eq "healthy: the gateway is active for IPv4" 1 \
        "$(value 'vpnpolicy_gateway_active{policy="vpn",gateway="gateway",family="ipv4"}')"
assert_eq "healthy: the firewall table is present" 1 "$(value vpnpolicy_firewall_table_present)"
assert_eq "healthy: the pool's counters are there" 0 \
        "$(value 'vpnpolicy_pool_out_packets_total{policy="vpn",pool="10.10.10.0/24"}')"
assert_eq "healthy: no restore yet" 0 "$(value vpnpolicy_restores_total)"
check "healthy: build info names the version" grep -q '^vpnpolicy_build_info{version="[0-9][^"]*",commit="[0-9a-f]*"} 1$' "$T/m.txt"
started=$(value vpnpolicy_start_time_seconds)
check "healthy: start time within the last minute ($started)" \
        awk -v s="$started" -v now="$(date +%s)" 'BEGIN { exit !(s > now - 60 && s <= now + 1) }'
check "healthy: the pass histogram counted passes" awk '$1 == "vpnpolicy_reconcile_duration_seconds_count" { exit !($2 > 0) }' "$T/m.txt"
check "healthy: an unprobed gateway has no probe figures" bash -c "! grep -q '^vpnpolicy_gateway_up\|^vpnpolicy_gateway_probe' '$T/m.txt'"
check "healthy: no verification yet, no made-up time" bash -c "! grep -q '^vpnpolicy_last_verification' '$T/m.txt'"

info "a rule deleted by hand is put back and counted"
ip -n "$NS" rule del pref 32765 from 10.10.10.0/24 lookup 200
check "the rule is back" wait_until 2000 bash -c "[[ -n \$(ip -n '$NS' rule show pref 32765 from 10.10.10.0/24) ]]"
metrics
assert_eq "vpnpolicy_restores_total 1" 1 "$(value vpnpolicy_restores_total)"

info "the tunnel down: its routes wait, no fault"
ip -n "$NS" link set tun0 down
check "tun0's route gone" wait_until 3000 table200_lacks "$NS" 10.10.10.0/24
state tun-down
assert_eq "tun-down: tun route v4 waiting 1" 1 "$(value "$(obj waiting tun-route ipv4)")"
assert_eq "tun-down: tun route v4 missing 0" 0 "$(value "$(obj missing tun-route ipv4)")"
assert_eq "tun-down: healthy still" 1 "$(value vpnpolicy_healthy)"
assert_eq "tun-down: tun0 down" 0 "$(value 'vpnpolicy_tunnel_up{device="tun0",policy="vpn"}')"
ip -n "$NS" link set tun0 up

info "degraded: the gateway's link down, the default routes cannot be in"
ip -n "$NS" link set eth1 down
v4_default_gone() { [[ -z $(ip -n "$NS" route show table 200 default via 192.168.1.1) ]]; }
check "the v4 default route is gone" wait_until 3000 v4_default_gone
state degraded
assert_eq "degraded: vpnpolicy_healthy 0" 0 "$(value vpnpolicy_healthy)"
assert_eq "degraded: default route v4 missing 1" 1 "$(value "$(obj missing default-route ipv4)")"
assert_eq "degraded: default route v6 missing 1" 1 "$(value "$(obj missing default-route ipv6)")"
assert_eq "degraded: source rules still present" 1 "$(value "$(obj present source-rule ipv4)")"
ip -n "$NS" link set eth1 up
# The kernel dropped eth1's IPv6 address on link down (keep_addr_on_down=0): give it back.
ip -n "$NS" addr replace fd00:1010:1010:1010::100/64 dev eth1 nodad
check "back to healthy" wait_until 15000 bash -c "$VPNPOLICYCTL --runtime-dir $T/run-$NS metrics 2>/dev/null | grep_q -x 'vpnpolicy_healthy 1'"

info "--output FILE: atomic, 0644, and bad arguments"
mkdir -p "$T/textfile"
(umask 0077 && ctl "$NS" metrics --output "$T/textfile/vpnpolicy.prom")
check "--output: the file is there" test -s "$T/textfile/vpnpolicy.prom"
assert_eq "--output: mode 0644 whatever the umask" 644 "$(stat -c %a "$T/textfile/vpnpolicy.prom")"
check "--output: promtool accepts it" promtool_ok "$T/textfile/vpnpolicy.prom"
assert_eq "--output: no temporary file left" "vpnpolicy.prom" "$(ls -A "$T/textfile")"
check "--output: nothing on standard output" test -z "$(ctl "$NS" metrics --output "$T/textfile/vpnpolicy.prom")"
metrics --output
check "--output without a file: exit 2" test "$(cat "$T/m.rc")" = 2
check "--output without a file: says so" grep -q 'needs a file name' "$T/m.err"
metrics --bogus
check "unknown argument: exit 2" test "$(cat "$T/m.rc")" = 2
metrics --output "$T/no-such-dir/x.prom"
check "--output into a missing directory: exit 1" test "$(cat "$T/m.rc")" = 1
check "--output into a missing directory: says why" grep -q 'failed to write' "$T/m.err"

info "refused: a user outside [Control] ReadGroup= (nobody)"
as_nobody() {
        ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups -- \
                "$VPNPOLICYCTL" --runtime-dir "$T/run-$NS" metrics >"$T/m.txt" 2>"$T/m.err" && echo 0 >"$T/m.rc" || echo $? >"$T/m.rc"
}
as_nobody
assert_eq "refused: exit 1" 1 "$(cat "$T/m.rc")"
assert_eq "refused: vpnpolicy_up 0" 0 "$(value vpnpolicy_up)"
check "refused: promtool accepts it" promtool_ok "$T/m.txt"
check "refused: says why" grep -q 'PermissionDenied' "$T/m.err"
info "allowed once ReadGroup=nogroup names its group (as the metrics service's group)"
seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Kernel]' 'FailClosed=yes' '[Control]' 'ReadGroup=nogroup'
check "reload" ctl "$NS" reload
as_nobody
assert_eq "ReadGroup member: exit 0" 0 "$(cat "$T/m.rc")"
assert_eq "ReadGroup member: vpnpolicy_up 1" 1 "$(value vpnpolicy_up)"
assert_eq "ReadGroup member: reloads counted" 1 "$(value vpnpolicy_reloads_total)"

info "no firewall ([Firewall] Manage=no)"
agent_stop
seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Firewall]' 'Manage=no'
agent_start "$NS" "$T/vpnpolicy.conf"
state no-firewall
assert_eq "no-firewall: vpnpolicy_firewall_managed 0" 0 "$(value vpnpolicy_firewall_managed)"
check "no-firewall: no pool counters" bash -c "! grep -q '^vpnpolicy_pool_\|^vpnpolicy_leak_guard' '$T/m-no-firewall.txt'"

info "a probed gateway: up, then its probes black-holed"
agent_stop
seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' 'Probe=icmp' 'ProbeIntervalSec=200ms' \
        'ProbeTimeoutSec=200ms' 'FailCount=2' 'RiseCount=2' '[Firewall]' 'Manage=no'
agent_start "$NS" "$T/vpnpolicy.conf"
gw='policy="vpn",gateway="gateway",family="ipv4"'
gw_up_is() { metrics && [[ $(value "vpnpolicy_gateway_up{$gw}" 2>/dev/null) == "$1" ]]; }
check "the probes find the gateway up" wait_until 5000 gw_up_is 1
state gateway-up
assert_eq "gateway-up: active" 1 "$(value "vpnpolicy_gateway_active{$gw}")"
check "gateway-up: a round trip time, under a second" \
        awk -v v="$(value "vpnpolicy_gateway_probe_rtt_seconds{$gw}")" 'BEGIN { exit !(v > 0 && v < 1) }'
assert_eq "gateway-up: no loss" 0 "$(value "vpnpolicy_gateway_probe_loss_ratio{$gw}")"
assert_eq "gateway-up: no failover yet" 0 "$(value 'vpnpolicy_gateway_failovers_total{policy="vpn"}')"
ns_exec "$GW" nft -f - <<'EOF2'
table inet probefault {
        chain input {
                type filter hook input priority -300; policy accept;
                icmp type echo-request drop
                icmpv6 type echo-request drop
        }
}
EOF2
gw6='policy="vpn",gateway="gateway",family="ipv6"'
both_down() { gw_up_is 0 && [[ $(value "vpnpolicy_gateway_up{$gw6}" 2>/dev/null) == 0 ]]; }
check "the probes find it down, both families" wait_until 5000 both_down
state gateway-down
assert_eq "gateway-down: no longer active (fail-closed)" 0 "$(value "vpnpolicy_gateway_active{$gw}")"
assert_eq "gateway-down: the failovers counted (IPv4 and IPv6 gave the route up)" 2 "$(value 'vpnpolicy_gateway_failovers_total{policy="vpn"}')"
check "gateway-down: loss above 0" \
        awk -v v="$(value "vpnpolicy_gateway_probe_loss_ratio{$gw}")" 'BEGIN { exit !(v > 0 && v <= 1) }'
check "gateway-down: no round trip of an unanswered probe" bash -c "! grep -q '^vpnpolicy_gateway_probe_rtt_seconds{$gw}' '$T/m.txt'"
assert_eq "gateway-down: vpnpolicy_healthy 0" 0 "$(value vpnpolicy_healthy)"
assert_eq "gateway-down: the same verdict as the status" down \
        "$(ctl "$NS" status --json | jq -r '.policies[0].gateways[0].health.ipv4.state' || true)"
ns_exec "$GW" nft delete table inet probefault
check "the probes find it up again" wait_until 5000 gw_up_is 1

info "the agent down"
agent_stop
metrics
assert_eq "agent down: exit 4" 4 "$(cat "$T/m.rc")"
check "agent down: promtool accepts it" promtool_ok "$T/m.txt"
assert_eq "agent down: vpnpolicy_up 0 and nothing else" \
        "vpnpolicy_up 0" "$(grep -v '^#' "$T/m.txt")"
check "agent down: says why on stderr" grep -q 'Cannot reach vpnpolicyd' "$T/m.err"
metrics --output "$T/textfile/vpnpolicy.prom"
assert_eq "agent down, --output: exit 4" 4 "$(cat "$T/m.rc")"
assert_eq "agent down, --output: the file says vpnpolicy_up 0" "vpnpolicy_up 0" \
        "$(grep -v '^#' "$T/textfile/vpnpolicy.prom")"
finish
