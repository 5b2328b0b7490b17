#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# The kernel's evidence about a gateway, each alone (tests/lib/gateways.sh, staff's nat1 and nat2):
#   - its neighbour entry FAILED takes nat1 down although its probes could not yet (FailCount=100,
#     MaxLossPercent=100), with the reason in status and the journal;
#   - its Device= deleted, then made again: down at once ("does not exist"), back by its probes;
#   - Probe=none on both gateways: no probe objects, failover by carrier alone;
#   - without CAP_NET_RAW no probe socket: judged by the links alone, status says why, degraded;
#   - our probe rule and route are restored when deleted, and `vpnpolicyctl teardown` removes them.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/gateways.sh
source "$(dirname "$0")/../lib/gateways.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is missing"

gw_lab
S=$GW_S
conf=$T/etc/vpnpolicy.conf
default_is() { [[ $(gw_default "$S" 4 200) == "$1" ]]; }
health() { # GATEWAY KEY: nat1's (or nat2's) IPv4 health key
        ctl "$S" status --json | jq -r --arg g "$1" --arg k "$2" \
                '.policies[0].gateways[] | select(.name == $g) | .health.ipv4 | getpath($k | split("."))'
}

info "the neighbour entry FAILED, probes too patient to tell"
gw_lab_config "$T/etc" '[Gateway]' 'Name=nat1' 'FailCount=100' 'MaxLossPercent=100'
agent_start "$S" "$conf"
check "nat1 carries the traffic" wait_until 3000 default_is 192.168.1.1
# nat1 goes quiet behind the switch; without a cached entry the kernel solicits at once and gives up
# after its probes (net.ipv4.neigh.eth1.mcast_solicit=3, retrans 1 s): FAILED. The flush itself reports
# the entry FAILED too, with no probes: that must not count.
gw_fault_admin 1 on
ip -n "$S" neigh flush dev eth1
sleep 0.3
check "flushing the neighbour table is no evidence" eval '[[ $(health nat1 state) == up ]]'
t0=$(now_us)
check "nat1 is taken down by its FAILED neighbour entry" wait_until 8000 eval '[[ $(health nat1 state) == down ]]'
echo "# FIGURE neighbour-failed fault-to-down-ms $((($(now_us) - t0) / 1000))"
reason=$(health nat1 reason)
info "reason: $reason"
check "the reason names the ARP entry" grep -q 'ARP entry is FAILED' <<<"$reason"
assert_eq "status shows the neighbour state" failed "$(health nat1 neighbour)"
check "the traffic moved to nat2" wait_until 2000 default_is 192.168.2.1
check "the journal line carries the gateway, the policy and the family" \
        grep -q 'Gateway nat1 of policy staff (ipv4): down (its ARP entry is FAILED' "$T/agent-$S.log"
gw_fault_admin 1 off
check "nat1 answers again: up, and back" wait_until 5000 default_is 192.168.1.1

info "Device= deleted and made again"
ip -n "$S" link del eth1
check "eth1 gone: nat1 down at once" wait_until 2000 eval '[[ $(health nat1 state) == down ]]'
assert_eq "... saying why" "device eth1 does not exist" "$(health nat1 link.reason)"
check "the traffic moved to nat2" wait_until 2000 default_is 192.168.2.1
check "nat1's probe route waits for its device, blocked (status stays healthy for it)" eval \
        'ctl "$S" status --json | jq -e "any(.objects[]; .role == \"probe-route\" and .blocked != null)"'
veth_add "$S" eth1 "${GW_SWITCH[1]}" s1
ip -n "${GW_SWITCH[1]}" link set s1 master br1
ip -n "$S" addr add 192.168.1.100/24 dev eth1
ip -n "$S" addr add fd00:1010:1010:1011::100/64 dev eth1 nodad
check "a new eth1: nat1 up by its probes, and back" wait_until 5000 default_is 192.168.1.1
check "its probe route is in again" eval '[[ -n $(ip -n "$S" route show table 1987051520 default) ]]'

info "our probe objects are restored when deleted"
ip -n "$S" rule del pref 1000 fwmark 0x76700001
check "a deleted probe rule is restored" wait_until 2000 eval \
        '[[ -n $(ip -n "$S" rule show pref 1000 | grep 0x76700001) ]]'
ip -n "$S" route del default table 1987051521
check "a deleted probe route is restored" wait_until 2000 eval \
        '[[ -n $(ip -n "$S" route show table 1987051521 default) ]]'
agent_stop TERM
check "teardown (agent stopped) removes our rules and routes" ctl "$S" teardown --yes
assert_eq "no probe rule is left" "" "$(ip -n "$S" rule show pref 1000)"
assert_eq "no probe route is left" "" "$(ip -n "$S" route show table 1987051520; ip -n "$S" -6 route show table 1987051521)"

info "Probe=none on both: no probe objects, failover by carrier"
gw_lab_config "$T/etc" '[Gateway]' 'Name=nat1' 'Probe=none' '[Gateway]' 'Name=nat2' 'Probe=none'
agent_start "$S" "$conf"
check "nat1 carries the traffic" wait_until 2000 default_is 192.168.1.1
assert_eq "no probe rule" "" "$(ip -n "$S" rule show pref 1000)"
assert_eq "both unprobed" "unprobed unprobed" "$(health nat1 state) $(health nat2 state)"
gw_fault_blackhole 1 on
sleep 1
check "a black hole goes unnoticed without probes (as configured)" default_is 192.168.1.1
gw_fault_blackhole 1 off
gw_fault_carrier 1 on
check "carrier lost: the traffic moves to nat2" wait_until 3000 default_is 192.168.2.1
gw_fault_carrier 1 off
check "carrier back: nat1 again after the hold" wait_until 5000 default_is 192.168.1.1
agent_stop TERM

info "without CAP_NET_RAW"
gw_lab_config "$T/etc"
# (root, but with CAP_NET_ADMIN alone: the agent's wrapper, as common.sh's AGENT_WRAPPER would set it)
saved=("${_VPT_WRAPPER[@]}")
_VPT_WRAPPER=(setpriv --bounding-set=-all,+net_admin --inh-caps=-all,+net_admin --)
agent_start "$S" "$conf"
_VPT_WRAPPER=("${saved[@]}")
check "judged by their links alone: nat1 carries the traffic" wait_until 3000 default_is 192.168.1.1
st=$(ctl "$S" status --json || true)
assert_eq "both unprobed, saying why" \
        '["probes cannot run: Operation not permitted","probes cannot run: Operation not permitted"]' \
        "$(jq -c '[.policies[0].gateways[].health.ipv4.reason]' <<<"$st")"
assert_eq "... and degraded" degraded "$(jq -r .health <<<"$st")"
check "the journal says probes need CAP_NET_RAW" grep -q 'probes need CAP_NET_RAW' "$T/agent-$S.log"
gw_fault_carrier 1 on
check "carrier lost: still a failover" wait_until 3000 default_is 192.168.2.1
gw_fault_carrier 1 off

assert_eq "no pool packet left by the main default route" "0 0 0 0" "$(gw_counts "$GW_LEAK")"
finish
