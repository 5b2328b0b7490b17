#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 7: no leak. The seed-003 world with the real OpenVPN (tests/e2e/world.sh, subnet) and
# vpnpolicyd on the server (started before OpenVPN, as in test-e2e-agent.sh; OpenVPN has no up hook here,
# the agent adopts tun0 from netlink). The gateway's device (srv eth1) fails in three ways:
#   admin    `ip link set eth1 down` (the kernel deletes the default routes via it)
#   carrier  the peer end (nat's to-srv) goes down: eth1 has no carrier, its routes stay, marked linkdown
#   ignore   the same with net.ipv{4,6}.conf.all.ignore_routes_with_linkdown=1 on srv (routes skipped)
# each while the agent is running, stopped (SIGTERM: it left everything in place) and killed (kill -9).
# In each of the 9 cases cl1 sends ICMP (ping), UDP (bash /dev/udp) and TCP (bash /dev/tcp) probes to the
# inet host, v4 and v6 (6 probes), and the pool-sourced packet counters of rtr (the main table's default
# router) must not move: nothing leaves by the main default route. When the device comes back, the
# default routes are in table 200 again within 1 s (agent running), or at READY=1 of the restarted agent;
# then the probes reach inet via nat again.
# The agent runs with [Firewall] Manage=no: the routing policy alone (the nftables leak guard would hide
# a routing leak). A control proves the probes would see a leak: with the agent stopped and the
# fail-closed routes deleted by hand, the same probes do reach rtr. Last, with the firewall on (the
# default), the same hole is closed by the leak guard: rtr sees nothing.
# All traffic stays inside the world's namespaces. Sizes: the same in CI and full (about a minute).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

for tool in /usr/sbin/openvpn nft ping openssl; do
        command -v "$tool" >/dev/null || skip_test "$tool is missing (tests/run.sh installs it)"
done
# shellcheck source=../e2e/world.sh
source "$SOURCE_ROOT/tests/e2e/world.sh"
export WORLD_PREFIX=vpr$$l
defer world_down

conf=$T/vpnpolicy.conf
cat >"$conf" <<EOF
[Pool]
Prefix=$WORLD_POOL4
Prefix=$WORLD_POOL6
[Gateway]
IPv4=$WORLD_GW4
IPv6=$WORLD_GW6
Device=eth1
[Kernel]
Forwarding=enable
FailClosed=yes
EOF
# The routing policy alone first: the nftables leak guard would hide a routing leak (it is checked on
# its own at the end).
cp "$conf" "$T/firewall.conf"
printf '[Firewall]\nManage=no\n' >>"$conf"
pre_vpn() { agent_start "$1" "$conf"; }
export WORLD_UP_HOOK=""
export WORLD_PRE_VPN_HOOK=pre_vpn
world_up subnet || die "the world did not come up"
SRV=$WORLD_SRV
info "world up in $WORLD_UP_MS ms; cl1 $WORLD_CL1_TUN4 $WORLD_CL1_TUN6"

rtr4() { world_counter rtr pool4; }
rtr6() { world_counter rtr pool6; }
nat4() { world_counter nat pool4; }
nat6() { world_counter nat pool6; }

# probes: 6 probes from cl1 to inet (ICMP, UDP, TCP; v4 and v6), in parallel; prints how many got an
# answer (ping reply, or TCP refused by inet's RST: nothing listens) and which did not; UDP gets no answer
# (nothing listens), it only sends.
PROBE_MISSED=
tcp_probe() {
        local out
        out=$(ip netns exec "$WORLD_CL1" timeout 2 bash -c "exec 3<>/dev/tcp/$1/80" 2>&1) || true
        [[ $out == *refused* ]]
}
probes() {
        local d pids=() names=() ok=0 i
        for d in "$WORLD_INET4" "$WORLD_INET6"; do
                ip netns exec "$WORLD_CL1" ping -q -n -c 3 -i 0.2 -W 1 "$d" >/dev/null 2>&1 &
                pids+=($!)
                names+=("ping-$d")
                tcp_probe "$d" &
                pids+=($!)
                names+=("tcp-$d")
                # shellcheck disable=SC2016
                ip netns exec "$WORLD_CL1" bash -c 'for i in 1 2 3; do echo probe >"/dev/udp/$1/9" || true; sleep 0.1; done' \
                        _ "$d" >/dev/null 2>&1 || true
        done
        PROBE_MISSED=
        for i in "${!pids[@]}"; do
                if wait "${pids[i]}"; then ok=$((ok + 1)); else PROBE_MISSED+=" ${names[i]}"; fi
        done
        echo "$ok"
}
# answered_via_nat: all 4 answerable probes answered, and the pool counters of nat moved
answered_via_nat() {
        local a b n
        a=$(nat4) b=$(nat6)
        n=$(probes)
        [[ $n == 4 && $(nat4) -gt $a && $(nat6) -gt $b ]]
}

defaults_there() {
        [[ -n $(ip -n "$SRV" -4 route show table 200 default via "$WORLD_GW4" dev eth1) ]] &&
                [[ -n $(ip -n "$SRV" -6 route show table 200 default via "$WORLD_GW6" dev eth1) ]] &&
                ! ip -n "$SRV" route show table 200 default via "$WORLD_GW4" | grep_q linkdown &&
                ! ip -n "$SRV" -6 route show table 200 default via "$WORLD_GW6" | grep_q linkdown
}
failclosed_there() {
        [[ -n $(ip -n "$SRV" -4 route show table 200 type unreachable default) ]] &&
                [[ -n $(ip -n "$SRV" -6 route show table 200 type unreachable default) ]]
}

# sanity: the path works, through nat only
check "baseline: the probes are answered (ping and TCP, v4 and v6), via nat" wait_until 5000 answered_via_nat
assert_eq "baseline: no pool packet at rtr" "0 0" "$(rtr4) $(rtr6)"

down() { # MODE
        case $1 in
        admin) ip -n "$SRV" link set eth1 down ;;
        carrier | ignore) ip -n "$WORLD_NAT" link set to-srv down ;;
        esac
}
# up MODE: the device back. Taking a device down deletes its IPv6 addresses; the system's network
# configuration puts them back, here we do (test-core-linkdown.sh likewise).
up() {
        case $1 in
        admin)
                ip -n "$SRV" link set eth1 up
                ip -n "$SRV" -6 addr replace "$WORLD_SRV_GWSIDE6/64" dev eth1 nodad
                ;;
        carrier | ignore)
                # nat's end lost its IPv6 address and its routes via srv when it went down: back
                ip -n "$WORLD_NAT" link set to-srv up
                ip -n "$WORLD_NAT" -6 addr replace "$WORLD_GW6/64" dev to-srv nodad
                ip -n "$WORLD_NAT" route replace "$WORLD_POOL4" via "$WORLD_SRV_GWSIDE4"
                ip -n "$WORLD_NAT" -6 route replace "$WORLD_POOL6" via "$WORLD_SRV_GWSIDE6"
                ;;
        esac
}
set_ignore() {
        ip netns exec "$SRV" sysctl -qw net.ipv4.conf.all.ignore_routes_with_linkdown="$1" \
                net.ipv6.conf.all.ignore_routes_with_linkdown="$1" >/dev/null
}

leaks=0
cases=0
returns=()
for mode in admin carrier ignore; do
        if [[ $mode == ignore ]]; then set_ignore 1; else set_ignore 0; fi
        for agent in running stopped killed; do
                name="$mode/$agent"
                cases=$((cases + 1))
                case $agent in
                stopped) agent_stop TERM ;;
                killed) agent_kill9 "$SRV" 2>/dev/null ;;
                esac
                r4=$(rtr4) r6=$(rtr6)
                down "$mode"
                if [[ $mode == admin ]]; then
                        wait_until 1000 eval '[[ -z $(ip -n "$SRV" -4 route show table 200 default via "$WORLD_GW4") ]]' || true
                else
                        wait_until 1000 eval '[[ -n $(ip -n "$SRV" -4 route show table 200 default via "$WORLD_GW4" | grep linkdown) ]]' || true
                fi
                check "$name: fail-closed routes in table 200 while down" failclosed_there
                answered=$(probes)
                d4=$(($(rtr4) - r4)) d6=$(($(rtr6) - r6))
                if ((d4 == 0 && d6 == 0)); then
                        _vpt_pass "$name: no pool packet left by the main default route (rtr +0/+0; $answered probes answered)"
                else
                        leaks=$((leaks + 1))
                        _vpt_fail "$name: no pool packet left by the main default route" "rtr pool4 +$d4, pool6 +$d6" ""
                fi
                up "$mode"
                t0=$(now_us)
                if [[ $agent == running ]]; then
                        if wait_until 1000 defaults_there; then
                                ms=$((($(now_us) - t0) / 1000))
                                returns+=("$ms")
                                _vpt_pass "$name: default routes back within 1 s of the device ($ms ms)"
                        else
                                _vpt_fail "$name: default routes back within 1 s of the device" "$(ip -n "$SRV" route show table 200 | tr '\n' ';')" ""
                        fi
                else
                        # carrier: the routes never left, only the linkdown mark goes
                        [[ $mode == admin ]] || check "$name: default routes back (no agent needed) within 1 s" wait_until 1000 defaults_there
                        agent_start "$SRV" "$conf"
                        check "$name: restarted agent: default routes in table 200 at READY=1 ($AGENT_READY_MS ms)" defaults_there
                fi
                check "$name: afterwards the probes are answered again, via nat" wait_until 5000 answered_via_nat
        done
done
set_ignore 0
assert_eq "no leak in any of the $cases cases (device admin-down, carrier lost, carrier lost with ignore_routes_with_linkdown; agent running, stopped, killed)" 0 "$leaks"
assert_eq "rtr saw no pool packet at all" "0 0" "$(rtr4) $(rtr6)"
figure leak_cases "$cases" cases
figure leak_probes $((cases * 6)) probes
figure leak_pool_packets_at_rtr "$(($(rtr4) + $(rtr6)))" packets
figure leak_default_back_admin_running "${returns[0]:--1}" ms
figure leak_default_back_carrier_running "${returns[1]:--1}" ms

# ---------------------------------------------------------------------------------------------------------
info "control: the probes do see a leak when there is one (agent stopped, fail-closed routes deleted)"
agent_stop TERM
ip -n "$SRV" -4 route del unreachable default metric 4294967295 table 200
ip -n "$SRV" -6 route del unreachable default metric 4294967295 table 200
r4=$(rtr4) r6=$(rtr6)
down admin
probes >/dev/null
d4=$(($(rtr4) - r4)) d6=$(($(rtr6) - r6))
check "control: without fail-closed routes, pool packets reach rtr (pool4 +$d4, pool6 +$d6)" test "$d4" -gt 0 -a "$d6" -gt 0
figure leak_control_pool_packets_at_rtr $((d4 + d6)) packets
up admin
agent_start "$SRV" "$conf"
check "control: the restarted agent puts the fail-closed routes back" failclosed_there

info "with the nftables leak guard ([Firewall] defaults): the same hole is closed by the firewall"
agent_stop TERM
agent_start "$SRV" "$T/firewall.conf"
st=$(status_json "$SRV")
if jq -e '.firewall != null' <<<"$st" >/dev/null; then
        agent_stop TERM
        ip -n "$SRV" -4 route del unreachable default metric 4294967295 table 200
        ip -n "$SRV" -6 route del unreachable default metric 4294967295 table 200
        r4=$(rtr4) r6=$(rtr6)
        down admin
        probes >/dev/null
        d4=$(($(rtr4) - r4)) d6=$(($(rtr6) - r6))
        check "leak guard: without fail-closed routes, agent stopped, still no pool packet at rtr (+$d4/+$d6)" \
                test "$d4" = 0 -a "$d6" = 0
        up admin
        agent_start "$SRV" "$T/firewall.conf"
        info "firewall in status: $(status_json "$SRV" | jq -c .firewall)"
else
        info "this agent builds no nftables table: leak guard not checked"
fi
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
