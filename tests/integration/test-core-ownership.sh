#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# What is ours (issue 11, items 3 and 6).
# Tunnels: a device matching [Tunnels] Match=tun* is ours only with an address inside a pool, or when root
# registered it (the up hook). tun5, an OpenVPN client tunnel (10.99.0.2/24, no pool address) with
# redirect-gateway routes (0.0.0.0/1, 128.0.0.0/1) and a client LAN (172.16.50.0/24) via it, is not managed:
# not in status, no tun route, no copies, no rule, not in the nft tunnels set; pool traffic through the
# server (from a client namespace behind a veth) does not go out tun5 (0 packets, counted in the server's
# forward hook) but reaches the gateway (counted there). The counter is proven by the same traffic going out
# tun5 once tun5 carries a pool address and is ours (its client LAN copied); losing the address makes it not
# ours again (its routes, rules and set entry go). Root's registration (the hook) makes the pool-less tun5
# and a tun outside Match= ours. doctor names the tun that matches and is not ours (info, with the reason
# and what would make it ours), with and without the agent, and never one that is ours.
# Objects: only our tables' objects with protocol 211 and rules of protocol 211 that point at them are ours.
# A route in table 300 and rules to table 300, all proto 211, survive the agent's start, a verification, a
# forced resync (overrun), a reload and teardown; objects of protocol 211 in table 200 that the agent did
# not make are swept. After the table changes 200 -> 201 (reload), table 200 is swept; after 201 -> 202
# while the agent is stopped, its start sweeps 201 (the runtime directory remembers it), and teardown
# removes what is left in any remembered table.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"
# shellcheck source=../lib/status-truth.sh
source "$(dirname "$0")/../lib/status-truth.sh"

HOOK=${HOOK:-$BUILD/hooks/vpnpolicy-openvpn-up}
[[ -x $HOOK ]] || die "no hook binary at $HOOK (ninja -C $BUILD)"
command -v nft >/dev/null || die "nft is missing (tests/run.sh installs it)"
CONVERGE_MS=${CONVERGE_MS:-3000}
PINGS=5
# the agent's options for the objects part (empty for binaries older than --verify-interval)
read -ra VERIFY_ARGS <<<"${VERIFY_ARGS---verify-interval 1}"

status() { status_json "$NS"; }
devices() { status | jq -cS '[.devices[].name] | sort'; }
managed() { status | jq -e --arg d "$1" 'any(.devices[]; .name == $d)' >/dev/null; }
not_managed() { ! managed "$1"; }
# via_in_200 DEV: routes in table 200 (both families) via DEV
via_in_200() { { ip -n "$NS" -4 route show table 200; ip -n "$NS" -6 route show table 200; } | grep -c " dev $1 " || true; }
no_route_via() { [[ $(via_in_200 "$1") == 0 ]]; }
# iif_rules DEV: our rules for traffic arriving from DEV
iif_rules() { { ip -n "$NS" -4 rule show iif "$1"; ip -n "$NS" -6 rule show iif "$1"; } | grep -c 'lookup' || true; }
# (the policy "vpn"'s set: the table has one tunnels set per policy)
in_set() { ip netns exec "$NS" nft -j list set inet vpnpolicy vpn/tunnels | jq -e --arg d "$1" 'any(.nftables[].set.elem[]?; . == $d)' >/dev/null; }
not_in_set() { ! in_set "$1"; }
# counters: pool packets the server forwarded out tun5, echo requests from the pool the gateway got
out_tun5() { ip netns exec "$NS" nft -j list counter inet vpt_count out_tun5 | jq '.nftables[1].counter.packets'; }
at_gw() { ip netns exec "$GW" nft -j list counter inet vpt_count pool_in | jq '.nftables[1].counter.packets'; }
# pings DST: PINGS echo requests from the client (10.10.10.5) to DST, answered or not
pings() { ip netns exec "$CL" ping -c "$PINGS" -i 0.2 -W 1 -q "$1" >/dev/null 2>&1 || true; }
# hook NAME=VALUE...: the up hook as root, as OpenVPN runs it; HOOK_RC
hook() {
        HOOK_RC=0
        ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$T/run-$NS" "$@" "$HOOK" --strict </dev/null \
                >"$T/hook.out" 2>"$T/hook.err" || HOOK_RC=$?
}
# doctor [ARGS...]: doctor --json into $T/d.json
doctor() { ctl "$NS" doctor --json --config "$conf" "$@" >"$T/d.json" 2>"$T/d.err" || true; doctor_output_ok; }
tun_finding() {
        jq -e --arg d "$1" --arg sev "$2" 'any(.findings[]; .check == "tunnels" and .severity == $sev
                and (.message | startswith($d + " matches [Tunnels] Match="))
                and (.message | test("no address inside a pool \\(10\\.10\\.10\\.0/24, fd00:4242:4242:4242::/64\\)")))' \
                "$T/d.json" >/dev/null
}
no_tun_finding() { jq -e --arg d "$1" 'all(.findings[]; .check != "tunnels" or (.message | startswith($d + " ") | not))' "$T/d.json" >/dev/null; }

# ---------------------------------------------------------------------------------------------------------
info "setup: the server, its gateway, a pool client behind a veth, the client tunnel tun5"
seed003_uplink NS GW
ns_new CL
veth_add "$NS" cl0 "$CL" eth0
ip -n "$NS" addr add 10.10.10.1/24 dev cl0
ip -n "$CL" addr add 10.10.10.5/24 dev eth0
ip -n "$CL" route add default via 10.10.10.1
# the gateway answers for the Internet (TEST-NET-2) and the client LAN, and routes the pool back
ip -n "$GW" addr add 198.51.100.1/32 dev lo
ip -n "$GW" addr add 172.16.50.1/32 dev lo
ip -n "$GW" route add 10.10.10.0/24 via 192.168.1.100
barrier_tun_add "$NS"
# OpenVPN as a client: its tun has the server's address for it, and routes everything through it
tun_add "$NS" tun5
ip -n "$NS" addr add 10.99.0.2/24 dev tun5
ip -n "$NS" route add 0.0.0.0/1 via 10.99.0.1 dev tun5
ip -n "$NS" route add 128.0.0.0/1 via 10.99.0.1 dev tun5
ip -n "$NS" route add 172.16.50.0/24 via 10.99.0.1 dev tun5
# counters: the server's forward hook (before anything else decides), the gateway's input
ip netns exec "$NS" nft -f - <<'EOF'
table inet vpt_count {
        counter out_tun5 {}
        chain count_forward { type filter hook forward priority -500; oifname "tun5" ip saddr 10.10.10.0/24 counter name "out_tun5"; }
}
EOF
ip netns exec "$GW" nft -f - <<'EOF'
table inet vpt_count {
        counter pool_in {}
        chain count_input { type filter hook input priority -500; ip saddr 10.10.10.0/24 icmp type echo-request counter name "pool_in"; }
}
EOF
conf=$T/vpnpolicy.conf
seed003_config "$conf"
agent_start "$NS" "$conf"
barrier "$NS"

# ---------------------------------------------------------------------------------------------------------
info "tun5 matches tun* but carries no pool address: not ours"
assert_eq "status devices: tunb only" '["tunb"]' "$(devices)"
check "no route via tun5 in table 200 (no tun route, no copies)" no_route_via tun5
assert_eq "no rule for traffic from tun5" 0 "$(iif_rules tun5)"
check "tunb is in the nft tunnels set" in_set tunb
check "tun5 is not in the nft tunnels set" not_in_set tun5
truth_check "client tunnel" "$NS"
assert_eq "healthy" healthy "$(health "$NS")"

pings 198.51.100.1
pings 172.16.50.1
assert_eq "pool traffic: 0 packets out tun5" 0 "$(out_tun5)"
assert_eq "pool traffic: every echo request at the gateway" $((2 * PINGS)) "$(at_gw)"

doctor
check "doctor names tun5 (info), with the reason" tun_finding tun5 info
check "doctor: what would make tun5 ours, an address inside a pool" \
        fix tunnels "ip address add 10.10.10.1/24 dev tun5  # an address inside a pool makes it ours (OpenVPN's server directive gives its tun the pool's first address)"
check "doctor: ... or root's registration by the up hook" \
        jq -e 'any(.findings[] | select(.check == "tunnels") | .fix[]; test("^up /.*/vpnpolicy-openvpn-up  # in the OpenVPN configuration that makes tun5: root.s registration makes it ours$"))' "$T/d.json"
check "doctor does not name tunb (ours)" no_tun_finding tunb
check "doctor does not name cl0 or eth1 (no tunnels)" eval 'no_tun_finding cl0 && no_tun_finding eth1'

# ---------------------------------------------------------------------------------------------------------
info "tun5 gets a pool address: ours; loses it: not ours again"
ip -n "$NS" addr add 10.10.10.200/32 dev tun5
check "pool address: tun5 managed" wait_until "$CONVERGE_MS" managed tun5
check "pool address: the client LAN via tun5 copied" wait_until "$CONVERGE_MS" \
        table200_has "$NS" 172.16.50.0/24
check "pool address: its tun route" table200_has "$NS" 10.99.0.0/24
check "pool address: redirect-gateway routes still not copied" \
        eval '[[ -z $(ip -n "$NS" route show table 200 0.0.0.0/1) && -z $(ip -n "$NS" route show table 200 128.0.0.0/1) ]]'
# (IPv4 only: a tunnel gets the rule of a family it carries an address of)
check "pool address: the rule for traffic from tun5" wait_until "$CONVERGE_MS" eval '[[ $(iif_rules tun5) == 1 ]]'
check "pool address: tun5 in the nft tunnels set" wait_until "$CONVERGE_MS" in_set tun5
truth_check "pool address" "$NS"
doctor
check "pool address: doctor does not name tun5" no_tun_finding tun5
# The counter counts: the copy sends the client LAN's traffic out tun5 now.
pings 172.16.50.1
assert_eq "pool address: the client LAN's pool traffic goes out tun5 (the counter works)" "$PINGS" "$(out_tun5)"

ip -n "$NS" addr del 10.10.10.200/32 dev tun5
check "pool address gone: tun5 not managed" wait_until "$CONVERGE_MS" not_managed tun5
check "pool address gone: no route via tun5 in table 200" wait_until "$CONVERGE_MS" no_route_via tun5
check "pool address gone: no rule for traffic from tun5" wait_until "$CONVERGE_MS" eval '[[ $(iif_rules tun5) == 0 ]]'
check "pool address gone: tun5 out of the nft tunnels set" wait_until "$CONVERGE_MS" not_in_set tun5
truth_check "pool address gone" "$NS"
gw0=$(at_gw)
pings 198.51.100.1
pings 172.16.50.1
assert_eq "pool address gone: no more pool packets out tun5" "$PINGS" "$(out_tun5)"
assert_eq "pool address gone: every echo request at the gateway" $((gw0 + 2 * PINGS)) "$(at_gw)"

# ---------------------------------------------------------------------------------------------------------
info "root's registration makes a pool-less tun, and one outside Match=, ours"
hook dev=tun5 dev_type=tun ifconfig_local=10.99.0.2 ifconfig_netmask=255.255.255.0 script_type=up
check "hook for tun5: exit 0" test "$HOOK_RC" = 0
check "registered: tun5 managed, registered by root" \
        jq -e '.devices[] | select(.name == "tun5" and .registered and .registered_by_uid == 0)' <<<"$(status)"
check "registered: tun5's tun route in table 200 when the hook returns" table200_has "$NS" 10.99.0.0/24
check "registered: the client LAN copied" wait_until "$CONVERGE_MS" table200_has "$NS" 172.16.50.0/24
check "registered: tun5 in the nft tunnels set" wait_until "$CONVERGE_MS" in_set tun5
doctor
check "registered: doctor does not name tun5" no_tun_finding tun5

tun_add "$NS" vpn7
ip -n "$NS" addr add 10.98.0.1/24 dev vpn7
barrier "$NS"
check "vpn7 (outside Match=, no pool address): not managed" not_managed vpn7
doctor
check "doctor does not name vpn7 (it does not match)" no_tun_finding vpn7
hook dev=vpn7 dev_type=tun ifconfig_local=10.98.0.1 ifconfig_netmask=255.255.255.0 script_type=up
check "hook for vpn7: exit 0" test "$HOOK_RC" = 0
check "registered: vpn7 managed" managed vpn7
check "registered: vpn7's tun route in table 200" table200_has "$NS" 10.98.0.0/24
truth_check "registrations" "$NS"

ip -n "$NS" link del vpn7
check "vpn7 deleted: its route goes" wait_until "$CONVERGE_MS" table200_lacks "$NS" 10.98.0.0/24

# ---------------------------------------------------------------------------------------------------------
info "doctor without the agent: the agent's rule, registrations unknown"
agent_stop
check "SIGTERM: exit 0" test "$AGENT_RC" = 0
doctor
check "no agent: doctor names tun5 (info)" tun_finding tun5 info
check "no agent: ... and says registrations are unknown" \
        jq -e 'any(.findings[]; .check == "tunnels" and (.message | test("unknown: vpnpolicyd is not reachable")))' "$T/d.json"
check "no agent: doctor does not name tunb (a pool address)" no_tun_finding tunb

# =========================================================================================================
info "objects: protocol 211 outside our tables is not ours"
seed003_uplink NS GW
conf=$T/objects.conf
seed003_config "$conf"
# someone else's, with our protocol: a route in table 300 and rules that point at it
ip -n "$NS" route add 10.50.0.0/16 dev eth1 table 300 proto 211
ip -n "$NS" -6 route add fd00:50::/64 dev eth1 table 300 proto 211
ip -n "$NS" rule add pref 5000 from 10.99.0.0/24 lookup 300 proto 211
ip -n "$NS" -6 rule add pref 5000 from fd00:99::/64 lookup 300 proto 211
# ours (our protocol, our table, or pointing at it) that no configuration wants: swept
ip -n "$NS" route add 10.77.0.0/16 dev eth1 table 200 proto 211
ip -n "$NS" rule add pref 6000 from 10.88.0.0/24 lookup 200 proto 211

# theirs: the objects of table 300 and the rules to it, as one sorted list
theirs() {
        {
                ip -n "$NS" -j -N -4 route show table 300; ip -n "$NS" -j -N -6 route show table 300
                ip -n "$NS" -j -N -4 rule show; ip -n "$NS" -j -N -6 rule show
        } | jq -cSs '[.[][] | select(.table == null or .table == "300") | select(.protocol == "211") | del(.flags)] | sort'
}
THEIRS=$(theirs)
assert_eq "setup: 4 objects of protocol 211 for table 300" 4 "$(jq length <<<"$THEIRS")"
theirs_intact() { assert_eq "$1: table 300's objects of protocol 211 intact" "$THEIRS" "$(theirs)"; }
# ours_in TABLE: our objects in TABLE and rules to it
ours_in() {
        {
                ip -n "$NS" -N -4 route show table "$1" proto 211 2>/dev/null || true
                ip -n "$NS" -N -6 route show table "$1" proto 211 2>/dev/null || true
                ip -n "$NS" -N -4 rule show table "$1" | grep 'proto 211' || true
                ip -n "$NS" -N -6 rule show table "$1" | grep 'proto 211' || true
        } | wc -l
}
# 2 source rules, 2 default routes, 2 fail-closed routes
OURS=6
# ours_exact WHAT: the rules to table 200 and the routes of table 200 are exactly seed 003's
ours_exact() {
        assert_eq "$1: v4 rules to table 200 exact" "$RULES4" "$(rules_json "$NS" 4 | jq -c '[.[] | select(.table == "vpn")]')"
        assert_eq "$1: v6 rules to table 200 exact" "$RULES6" "$(rules_json "$NS" 6 | jq -c '[.[] | select(.table == "vpn")]')"
        assert_eq "$1: v4 routes in table 200 exact" "$ROUTES4" "$(routes_json "$NS" 4 200)"
        assert_eq "$1: v6 routes in table 200 exact" "$ROUTES6" "$(routes_json "$NS" 6 200)"
}
verifications() { status | jq '.counters.verifications // 0'; }
resyncs() { status | jq '.counters.resyncs // 0'; }

agent_start "$NS" "$conf" "${VERIFY_ARGS[@]}" --netlink-rcvbuf 4096
theirs_intact "start"
check "start: the strays of table 200 swept" wait_until "$CONVERGE_MS" eval '[[ $(ours_in 200) == '"$OURS"' ]]'
check_fail "start: the stray route is gone" table200_has "$NS" 10.77.0.0/16
check_fail "start: the stray rule is gone" grep -q 10.88.0.0 <(ip -n "$NS" rule show)
ours_exact "start"
truth_check "start" "$NS"

v0=$(verifications)
check "verification runs (every second here)" wait_until 5000 eval '(( $(verifications) >= v0 + 2 ))'
theirs_intact "after verifications"
ours_exact "after verifications"

info "a forced resync: the agent stopped while 2,000 events overrun its 4 KiB buffer"
for ((j = 0; j < 1000; j++)); do echo "route add 10.200.$((j / 256)).$((j % 256))/32 dev eth1 table 100 proto static"; done >"$T/flood-add"
sed 's/^route add/route del/' "$T/flood-add" >"$T/flood-del"
r0=$(resyncs)
kill -STOP "$AGENT_PID"
stopped=$AGENT_PID
defer sh -c "kill -CONT $stopped 2>/dev/null || true"
ip -n "$NS" -batch "$T/flood-add"
ip -n "$NS" -batch "$T/flood-del"
kill -CONT "$AGENT_PID"
check "resync: counted" wait_until 5000 eval '(( $(resyncs) > r0 ))'
theirs_intact "after the resync"
ours_exact "after the resync"

info "reload: the same configuration, then table 200 -> 201"
check "reload (same)" ctl "$NS" reload
theirs_intact "same-config reload"
sed -i 's/^Id=200$/Id=201/' "$conf"
check "reload (Id=201)" ctl "$NS" reload
check "Id=201: table 200 swept" wait_until "$CONVERGE_MS" eval '[[ $(ours_in 200) == 0 ]]'
check "Id=201: our objects in table 201" wait_until "$CONVERGE_MS" eval '[[ $(ours_in 201) == '"$OURS"' ]]'
theirs_intact "Id=201"
truth_check "Id=201" "$NS" 201
check "the runtime directory remembers both tables" eval 'grep -qx 200 "$T/run-$NS/tables" && grep -qx 201 "$T/run-$NS/tables"'

info "table 201 -> 202 while the agent is stopped"
agent_stop
sed -i 's/^Id=201$/Id=202/' "$conf"
# our protocol in a remembered table while nobody runs: ours
ip -n "$NS" route add 10.78.0.0/16 dev eth1 table 200 proto 211
agent_start "$NS" "$conf" "${VERIFY_ARGS[@]}"
check "Id=202 at start: table 201 swept" wait_until "$CONVERGE_MS" eval '[[ $(ours_in 201) == 0 ]]'
check "Id=202 at start: table 200 swept again" wait_until "$CONVERGE_MS" eval '[[ $(ours_in 200) == 0 ]]'
check "Id=202 at start: our objects in table 202" wait_until "$CONVERGE_MS" eval '[[ $(ours_in 202) == '"$OURS"' ]]'
theirs_intact "Id=202"
truth_check "Id=202" "$NS" 202

info "teardown"
agent_stop
ip -n "$NS" route add 10.79.0.0/16 dev eth1 table 201 proto 211
TRC=0
ctl "$NS" teardown --yes >"$T/t.out" 2>"$T/t.err" || TRC=$?
assert_eq "teardown: exit 0" 0 "$TRC"
assert_eq "teardown: nothing of ours left in 202" 0 "$(ours_in 202)"
assert_eq "teardown: the stray in remembered table 201 removed" 0 "$(ours_in 201)"
theirs_intact "teardown"
check_fail "teardown: does not list table 300's objects" grep -E '10\.50\.0\.0|fd00:50::|10\.99\.0\.0|fd00:99::' "$T/t.out"

# =========================================================================================================
info "an object of ours that the kernel holds with other content than we want, then not wanted: removed"
seed003_uplink NS GW
conf=$T/stray.conf
# Device=eth9 does not exist: the default routes cannot be sent (nor replaced), they wait.
seed003_config "$conf" 'Device=eth9'
agent_start "$NS" "$conf"
# ours by protocol and table, under the v4 default route's identity, other content than ours (no device:
# no dump of a device's routes reports it)
ip -n "$NS" route add unreachable default table 200 proto 211 metric 0
# a barrier without a tunnel (events are handled in order): our fail-closed route deleted and restored
ip -n "$NS" route del unreachable default table 200 metric 4294967295
check "the fail-closed route restored" wait_until "$CONVERGE_MS" \
        eval '[[ -n $(ip -n "$NS" -4 route show table 200 default metric 4294967295) ]]'
check "held, not as wanted: status says absent" \
        jq -e '.objects[] | select(.role == "default-route" and .family == "ipv4") | .present == false' <<<"$(status)"
# The v4 pool and gateway go: the v4 default route is no longer wanted, whatever the kernel holds.
printf '[Table]\nName=vpn\nId=200\nPriority=32765\n\n[Pool]\nPrefix=fd00:4242:4242:4242::/64\n\n[Gateway]\nIPv6=fd00:1010:1010:1010::1\nDevice=eth9\n' >"$conf"
check "reload (IPv6 only)" ctl "$NS" reload
check "the v4 default route of ours is removed" wait_until "$CONVERGE_MS" \
        eval '[[ -z $(ip -n "$NS" -4 route show table 200 default) ]]'
truth_check "v4 gone" "$NS"

finish
