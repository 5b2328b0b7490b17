#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# Two policies, two pools each (IPv4 and IPv6), three gateways (tests/lib/gateways.sh): staff by nat1 (its
# primary) or nat2, guest by nat3. Proven with traffic and with counters of our own in every gateway and in
# the server's main default router (L): each pool's traffic leaves by its own gateway, none by the main
# default route. The probes go through their own gateway whatever the default route is (the backup's
# probes reach the target through the backup, the main default router sees none), by the probe rules and
# tables the status names; the periodic verification (every second here) re-reads the probe tables too and
# finds nothing to repair. An IPv6 link-local gateway is probed through its device. Bad reloads (each kind
# of new key wrong) change nothing: not a rule, not a route, not a verdict.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/gateways.sh
source "$(dirname "$0")/../lib/gateways.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v ping >/dev/null || skip_test "ping(8) is missing (Debian: iputils-ping)"

gw_lab
S=$GW_S
gw_lab_config "$T/etc"
conf=$T/etc/vpnpolicy.conf
agent_start "$S" "$conf" --verify-interval 1

both_up() {
        ctl "$S" status --json | jq -e '[.policies[0].gateways[].health[] | .state] == ["up", "up", "up", "up"]'
}
check "staff: nat1 and nat2 up in both families" wait_until 3000 both_up
st=$(ctl "$S" status --json)
assert_eq "active gateways per policy and family" \
        '[{"name":"staff","active":{"ipv4":"nat1","ipv6":"nat1"}},{"name":"guest","active":{"ipv4":"nat3","ipv6":"nat3"}}]' \
        "$(jq -c '[.policies[] | {name, active}]' <<<"$st")"
assert_eq "guest's lone gateway is not probed (Probe=none by default)" '["unprobed","unprobed"]' \
        "$(jq -c '[.policies[1].gateways[0].health[].state]' <<<"$st")"
assert_eq "health: healthy" healthy "$(jq -r .health <<<"$st")"

info "the routes"
for t in "staff 200 192.168.1.1" "guest 201 192.168.3.1"; do
        read -r name id via <<<"$t"
        check "rt_tables.d names table $id $name" grep -qxP "$id\t$name" "/etc/netns/$S/iproute2/rt_tables.d/vpnpolicy.conf"
        check "ip route show table $name: default via $via" eval \
                "ns_exec \"\$S\" ip -4 route show table $name | grep_q '^default via $via '"
done
assert_eq "staff v4: default via nat1" 192.168.1.1 "$(gw_default "$S" 4 200)"
assert_eq "staff v6: default via nat1" fd00:1010:1010:1011::1 "$(gw_default "$S" 6 200)"
assert_eq "guest v4: default via nat3" 192.168.3.1 "$(gw_default "$S" 4 201)"
assert_eq "guest v6: default via nat3" fd00:1010:1010:1013::1 "$(gw_default "$S" 6 201)"
for f in 4 6; do
        assert_eq "v$f: the probe rules of nat1 and nat2 (guest's unprobed nat3 has none)" \
                '[{"fwmark":"0x76700000","priority":1000,"protocol":"vpnpolicy","src":"all","srclen":0,"table":"1987051520"},
                  {"fwmark":"0x76700001","priority":1000,"protocol":"vpnpolicy","src":"all","srclen":0,"table":"1987051521"}]' \
                "$(rules_json "$S" "$f" vpnpolicy | jq -c '[.[] | select(.fwmark)]')"
done
assert_eq "status names nat2's probe mark and table" '{"mark":1987051521,"table":1987051521}' \
        "$(jq -c '.policies[0].gateways[1].probe | {mark, table}' <<<"$st")"
assert_eq "nat1's probe table: default via nat1 only" \
        '[{"dst":"default","gateway":"192.168.1.1","dev":"eth1","type":"unicast","metric":0,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$S" 4 1987051520)"
assert_eq "nat2's probe table (v6): default via nat2 only" \
        '[{"dst":"default","gateway":"fd00:1010:1010:1012::1","dev":"eth2","type":"unicast","metric":1024,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$S" 6 1987051521)"
# The kernel's own answer: a packet with nat2's mark goes by nat2, one without by the main default route.
via() { ip -n "$S" -j route get "$GW_TARGET4" ${1:+mark "$1"} | jq -r '.[0].gateway // .[0].dev'; }
assert_eq "route get with nat2's mark: via nat2" 192.168.2.1 "$(via 0x76700001)"
assert_eq "route get without a mark: the main default route" 172.16.0.254 "$(via)"

info "traffic: each pool by its own gateway"
for c in "$GW_C1 4 $GW_TARGET4" "$GW_C1 6 $GW_TARGET6" "$GW_C2 4 $GW_TARGET4" "$GW_C2 6 $GW_TARGET6"; do
        read -r ns f dst <<<"$c"
        check "ping -$f $dst from $ns" ns_exec "$ns" ping -"$f" -n -q -c 5 -i 0.05 -W 1 "$dst"
done
assert_eq "nat1 carried staff v4 and v6 only (staff4 staff6 guest4 guest6)" "5 5 0 0" "$(gw_counts "${GW_NS[1]}")"
assert_eq "nat2 carried nothing of the pools" "0 0 0 0" "$(gw_counts "${GW_NS[2]}")"
assert_eq "nat3 carried guest v4 and v6 only" "0 0 5 5" "$(gw_counts "${GW_NS[3]}")"
assert_eq "the main default router saw no pool packet" "0 0 0 0" "$(gw_counts "$GW_LEAK")"

info "probes through their own gateway"
for n in 1 2; do
        for f in 4 6; do
                check "nat$n forwarded the server's v$f probes to the target" \
                        test "$(gw_count "${GW_NS[$n]}" "probe$f")" -gt 0
        done
done
assert_eq "nat3 (unprobed) forwarded no probe" "0 0" \
        "$(gw_count "${GW_NS[3]}" probe4) $(gw_count "${GW_NS[3]}" probe6)"
assert_eq "no probe went by the main default route" "0 0" "$(gw_count "$GW_LEAK" probe4) $(gw_count "$GW_LEAK" probe6)"
check "status: probes answered, none rejected or failed to send" eval \
        'ctl "$S" status --json | jq -e ".counters | .probe_replies > 0 and .probe_send_errors == 0 and .probe_rejected == 0"'
check "verification re-read the tables, the probe tables included, and repaired nothing" eval \
        'ctl "$S" status --json | jq -e ".counters | .verifications >= 2 and .verify_repairs == 0 and .restores == 0"'

info "an IPv6 link-local gateway: probed through its device"
ip -n "${GW_NS[2]}" addr add fe80::2/64 dev eth0 nodad
cp "$conf" "$T/ll.conf"
printf '[Gateway]\nName=nat2\nIPv6=fe80::2\n' >>"$conf"
check "reload with nat2 at fe80::2" ctl "$S" reload
check "nat2 (fe80::2 dev eth2) is up by its probes" wait_until 3000 eval \
        '[[ $(ctl "$S" status --json | jq -r ".policies[0].gateways[1] | \"\(.ipv6) \(.health.ipv6.state)\"") == "fe80::2 up" ]]'
assert_eq "its probe route goes via fe80::2 dev eth2" \
        '[{"dst":"default","gateway":"fe80::2","dev":"eth2","type":"unicast","metric":1024,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$S" 6 1987051521)"
cp "$T/ll.conf" "$conf"
check "reload back" ctl "$S" reload
check "nat2 up again at its global address" wait_until 3000 eval \
        '[[ $(gw_state "$S" staff nat2 6) == up ]]'

# ---------------------------------------------------------------------------------------------------------
info "bad reloads change nothing"
snapshot() {
        {
                ip -n "$S" -4 rule show
                ip -n "$S" -6 rule show
                ip -n "$S" -4 route show table all proto vpnpolicy
                ip -n "$S" -6 route show table all proto vpnpolicy
                ctl "$S" status --json | jq -c '[.policies[] | {name, active, g: [.gateways[] | [.name, .health.ipv4.state]]}]'
        } 2>&1
}
before=$(snapshot)
cp "$conf" "$T/good.conf"
# bad_reload NAME EXPECTED_ERROR LINE...: the good staff file with the LINEs appended, the last one wrong:
# refused with "FILE:LINE: EXPECTED_ERROR", and nothing changed.
bad_reload() {
        local name=$1 expect=$2 out rc=0 line
        shift 2
        cp "$T/good.conf" "$conf"
        printf '%s\n' "$@" >>"$conf"
        line=$(wc -l <"$conf")
        out=$(ctl "$S" reload 2>&1) || rc=$?
        check "bad reload ($name): refused" test "$rc" -ne 0
        check "bad reload ($name): says $conf:$line: $expect" grep -qF -- "$conf:$line: $expect" <<<"$out"
        assert_eq "bad reload ($name): nothing changed" "$before" "$(snapshot)"
}
bad_reload "Probe" "[Gateway] Probe: invalid value \"ping\"" '[Gateway]' 'Name=nat2' 'Probe=ping'
bad_reload "ProbeTarget" "[Gateway] ProbeTarget: 10.10.10.9 is inside" '[Gateway]' 'Name=nat2' 'ProbeTarget=10.10.10.9'
bad_reload "ProbeIntervalSec" "[Gateway] ProbeIntervalSec: 1ms is out of range" '[Gateway]' 'Name=nat2' 'ProbeIntervalSec=1ms'
bad_reload "ProbeTimeoutSec" "[Gateway] ProbeTimeoutSec: 5s is longer than" '[Gateway]' 'Name=nat2' 'ProbeTimeoutSec=5s'
bad_reload "FailCount" "[Gateway] FailCount: 0 is out of range" '[Gateway]' 'Name=nat2' 'FailCount=0'
bad_reload "RiseCount" "[Gateway] RiseCount: 101 is out of range" '[Gateway]' 'Name=nat2' 'RiseCount=101'
bad_reload "MaxLossPercent" "[Gateway] MaxLossPercent: 120 is out of range" '[Gateway]' 'Name=nat2' 'MaxLossPercent=120'
bad_reload "MaxRTTSec" "[Gateway] MaxRTTSec: 3s is longer than" '[Gateway]' 'Name=nat2' 'MaxRTTSec=3s'
bad_reload "Priority" "[Gateway] Priority: invalid number" '[Gateway]' 'Name=nat2' 'Priority=-1'
bad_reload "Preempt" "[Failover] Preempt: invalid boolean" '[Failover]' 'Preempt=maybe'
bad_reload "PreemptHoldSec" "[Failover] PreemptHoldSec: 2d is out of range" '[Failover]' 'PreemptHoldSec=2d'
bad_reload "a table in the probes' range" "[Table] Id: 1987051521 is in the range of the gateway probes' tables" \
        '[Table]' 'Id=1987051521'
cp "$T/good.conf" "$conf"
check "status: the reload failures are counted" eval \
        '[[ $(ctl "$S" status --json | jq .counters.reload_failures) -ge 12 ]]'
check "the good configuration reloads" ctl "$S" reload
assert_eq "... and changes nothing either" "$before" "$(snapshot)"
check "agent alive" _vpt_alive "$AGENT_PID"
check "idle between probes and verifications (firewall managed, probes running)" agent_idle 2000

finish
