#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# vpnpolicyctl status, explain and doctor with two policies and three gateways (tests/lib/gateways.sh;
# issue 13, "See it"): status prints every policy, each gateway's state per family, its RTT and loss, since
# when and why, and which gateway carries the traffic; explain names the policy and the gateway a packet
# takes (from the agent, and from the configuration with the agent stopped); doctor checks every gateway:
# its neighbour entry (FAILED: an error only when no other gateway carries the policy), its probes (a
# black-holing primary: a warning while the backup carries), the return route per gateway and policy.
# With both staff gateways black-holed: status, explain and doctor say fail-closed, guest is untouched.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/gateways.sh
source "$(dirname "$0")/../lib/gateways.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v ping >/dev/null || skip_test "ping(8) is missing (Debian: iputils-ping)"

gw_lab
S=$GW_S
mkdir -p "/etc/netns/$S/systemd"        # the host's systemd files are not this namespace's
gw_lab_config "$T/etc"
conf=$T/etc/vpnpolicy.conf
agent_start "$S" "$conf"

all_up() {
        ctl "$S" status --json | jq -e '[.policies[0].gateways[].health[] | .state] == ["up", "up", "up", "up"]'
}
check "staff: nat1 and nat2 up" wait_until 3000 all_up
ns_exec "$GW_C1" ping -n -q -c 2 -i 0.1 -W 1 "$GW_TARGET4" >/dev/null
ns_exec "$GW_C2" ping -n -q -c 2 -i 0.1 -W 1 "$GW_TARGET4" >/dev/null

# doctor: --json into $T/d.json, exit status in DRC
doctor() {
        DRC=0
        ctl "$S" doctor --json "$@" >"$T/d.json" 2>"$T/d.err" || DRC=$?
}
# finding SEVERITY CHECK REGEX / fix CHECK TEXT: one finding like that
finding() { jq -e --arg s "$1" --arg c "$2" --arg m "$3" \
        'any(.findings[]; .severity == $s and .check == $c and (.message | test($m)))' "$T/d.json" >/dev/null; }
fix() { jq -e --arg c "$1" --arg x "$2" 'any(.findings[]; .check == $c and any(.fix[]; . == $x))' "$T/d.json" >/dev/null; }
problems() { jq -r '.findings[] | select(.severity != "info") | "\(.severity) \(.check): \(.message)"' "$T/d.json"; }

# ---------------------------------------------------------------------------------------------------------
info "status: every policy, every gateway"
txt=$(ctl "$S" status)
check "status: both policies" eval 'grep -q "^Policy staff: table staff (200)" <<<"$txt" && grep -q "^Policy guest: table guest (201)" <<<"$txt"'
check "status: the header counts them" grep -qx '  Policies: 2' <<<"$txt"
check "status: staff IPv4 by nat1" grep -q '^  Traffic:  IPv4 by nat1 (since ' <<<"$txt"
check "status: guest IPv6 by nat3" grep -q '^  Traffic:  IPv6 by nat3 (since ' <<<"$txt"
check "status: nat2 with its probe" grep -q '^  Gateway nat2 (priority 20): 192.168.2.1, fd00:1010:1010:1012::1 dev eth2, probe icmp every 200.00ms through it to 198.51.100.1, 2001:db8:100::1$' <<<"$txt"
check "status: nat1 IPv4 up, its RTT, loss, active" \
        grep -qE '^    IPv4 up +since [0-9T:-]+Z, rtt [0-9.]+ms \(avg [0-9.]+ms\), loss 0%, ACTIVE' <<<"$txt"
check "status: nat2 up, not active" eval \
        'sed -n "/^  Gateway nat2/,/^  Gateway/p" <<<"$txt" | grep -E "^    IPv4 up " | grep -vq ACTIVE'
check "status: last change and why" grep -qE '^      last change [0-9T:-]+Z: probe answered in [0-9.]+ ms' <<<"$txt"
check "status: nat3 unprobed" eval 'sed -n "/^  Gateway nat3/,\$p" <<<"$txt" | grep_q -E "^    IPv4 unprobed "'

info "explain: the policy and the gateway"
txt=$(ctl "$S" explain 10.10.10.2 "$GW_TARGET4" --iif cl-staff)
check "explain staff: policy" grep -qx 'policy: staff' <<<"$txt"
check "explain staff: gateway nat1, up and active" grep -qx 'gateway: nat1 (192.168.1.1, up, active)' <<<"$txt"
txt=$(ctl "$S" explain fd00:4343:4343:4343::2 "$GW_TARGET6" --iif cl-guest)
check "explain guest v6: policy" grep -qx 'policy: guest' <<<"$txt"
check "explain guest v6: gateway nat3" grep -qx 'gateway: nat3 (fd00:1010:1010:1013::1, unprobed, active)' <<<"$txt"
ctl "$S" explain 10.20.20.2 "$GW_TARGET4" --iif cl-guest --json >"$T/x.json"
assert_eq "explain --json: policy and gateway" '{"policy":"guest","gateway":{"name":"nat3","address":"192.168.3.1","state":"unprobed","active":true},"fail_closed":false}' \
        "$(jq -c '{policy, gateway, fail_closed}' "$T/x.json")"
txt=$(ctl "$S" explain 172.16.0.1 "$GW_TARGET4")
check "explain: the host's own traffic takes no policy" grep -qx 'policy: none (the table that decides is no policy'"'"'s)' <<<"$txt"

info "doctor: clean, a return route per gateway"
doctor
assert_eq "clean: no error or warning" "" "$(problems)"
assert_eq "clean: exit 0" 0 "$DRC"
check "return route: nat2, staff's pool" fix return-route "ip route add 10.10.10.0/24 via 192.168.2.100"
check "return route: nat3, guest's v6 pool" fix return-route "ip -6 route add fd00:4343:4343:4343::/64 via fd00:1010:1010:1013::100"
check "return route: nat3 is not told about staff" eval \
        '! jq -e "any(.findings[]; .check == \"return-route\" and (.message | test(\"nat3\")) and any(.fix[]; test(\"10.10.10\")))" "$T/d.json"'
check "return route: names the gateway and the policy" finding info return-route 'gateway 192.168.2.1 must route the IPv4 pools.*\(gateway nat2 of policy staff\)$'

info "doctor: nat2's neighbour entry FAILED, nat1 carries: a warning"
ip -n "$S" neigh replace 192.168.2.1 dev eth2 nud failed
doctor
check "neigh FAILED on the backup: a warning" finding warning gateway \
        '^the gateway 192.168.2.1 cannot be reached on eth2.*FAILED.*another gateway of the policy carries its traffic \(gateway nat2 of policy staff\)'
assert_eq "neigh FAILED on the backup: exit 3" 3 "$DRC"
ip -n "$S" neigh del 192.168.2.1 dev eth2
ns_exec "$S" ping -c 1 -W 2 192.168.2.1 >/dev/null

# ---------------------------------------------------------------------------------------------------------
info "nat1 black-holes: only its probes can tell"
gw_fault_blackhole 1 on
check "staff v4 moves to nat2" wait_until 5000 eval '[[ $(gw_active "$S" staff 4) == nat2 ]]'
txt=$(ctl "$S" status)
check "status: staff IPv4 by nat2" grep -q '^  Traffic:  IPv4 by nat2 (since ' <<<"$txt"
check "status: nat1 down, why" eval \
        'sed -n "/^  Gateway nat1/,/^  Gateway/p" <<<"$txt" | grep -A1 -E "^    IPv4 down " | grep_q -E "last change [0-9T:-]+Z: .*lost"'
txt=$(ctl "$S" explain 10.10.10.2 "$GW_TARGET4" --iif cl-staff)
check "explain: now by nat2" grep -qx 'gateway: nat2 (192.168.2.1, up, active)' <<<"$txt"
doctor
check "doctor: nat1's probes fail, it answers but forwards nothing, nat2 carries" finding warning gateway \
        '^the IPv4 probes of the gateway 192.168.1.1 fail \(.*\), the gateway answers but forwards nothing: another gateway of the policy carries its traffic \(gateway nat1 of policy staff\)$'
check "doctor: the probe's way, as a command" fix gateway "ping -4 -c 3 -m 1987051520 $GW_TARGET4  # the probe's way: through 192.168.1.1 only"
check "doctor: no fail-closed error while nat2 carries" eval '! finding error gateway "no usable"'

info "nat2 black-holes too: fail-closed, guest untouched"
gw_fault_blackhole 2 on
check "staff v4: no gateway" wait_until 5000 eval '[[ $(gw_active "$S" staff 4) == null ]]'
txt=$(ctl "$S" status || true)
check "status: staff IPv4 fail-closed" grep -qx '  Traffic:  IPv4 fail-closed: DROPPED, no usable gateway (since .*)' <<<"$txt"
check "status: guest still by nat3" grep -q '^  Traffic:  IPv4 by nat3 ' <<<"$txt"
txt=$(ctl "$S" explain 10.10.10.2 "$GW_TARGET4" --iif cl-staff)
check "explain: fail-closed: dropped" grep -qx 'gateway: none: fail-closed: dropped (no gateway of policy staff is up)' <<<"$txt"
check "explain --json: fail_closed" eval \
        'ctl "$S" explain 10.10.10.2 "$GW_TARGET4" --iif cl-staff --json | jq -e ".fail_closed and .policy == \"staff\" and .gateway == null"'
doctor
check "doctor: policy staff has no usable IPv4 gateway" finding error gateway '^policy staff has no usable IPv4 gateway: fail-closed'
check "doctor: nat1's probe failure is an error now" finding error gateway '^the IPv4 probes of the gateway 192.168.1.1 fail.*it carries no traffic'
check "doctor: guest has no such finding" eval '! finding error gateway "policy guest"'
assert_eq "doctor: exit 1" 1 "$DRC"
check "guest traffic still flows" ns_exec "$GW_C2" ping -n -q -c 2 -i 0.1 -W 1 "$GW_TARGET4"
gw_fault_blackhole 1 off
gw_fault_blackhole 2 off
check "staff back on nat1" wait_until 8000 eval '[[ $(gw_active "$S" staff 4) == nat1 ]]'

info "explain without the agent: the policy from the configuration"
agent_stop
txt=$(ctl "$S" explain 10.10.10.2 "$GW_TARGET4" --iif cl-staff --config "$conf")
check "no agent: policy from --config" grep -qx 'policy: staff' <<<"$txt"
check "no agent: gateway from --config, no health" grep -qx 'gateway: nat1 (192.168.1.1)' <<<"$txt"
txt=$(ctl "$S" explain 10.10.10.2 "$GW_TARGET4" --iif cl-staff --config "$T/nonexistent.conf")
check "no agent, bad --config: a note, still explained" eval \
        'grep -q "^note: $T/nonexistent.conf does not load" <<<"$txt" && grep -q "^result: forwarded via 192.168.1.1" <<<"$txt"'

finish
