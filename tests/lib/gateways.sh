# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034
#
# tests/lib/gateways.sh: a VPN server with several NAT gateways, an "internet" behind them, a main default
# router where leaked pool traffic would go, and pool clients, all in namespaces; counters of our own in
# every gateway and in the default router; faults to inject. Source it after common.sh (whose rules apply:
# the functions that create namespaces must run in the main shell, not in $(...)).
#
#   source "$(dirname "$0")/../lib/common.sh"
#   source "$(dirname "$0")/../lib/gateways.sh"
#   gw_server S                      # the VPN server, with its main default route to the leak router
#   gw_internet I                    # 198.51.100.1 and 2001:db8:100::1, the probe target and the far end
#   gw_gateway --switch G1 1         # a NAT box on S's eth1, through a switch namespace (for faults a/b)
#   gw_gateway G2 2                  # a NAT box on S's eth2, a plain veth
#   gw_client C1 staff               # a client with the first addresses of the staff pools
#   ...
#
# Address plan, N the gateway's number (1..9):
#   S ethN 192.168.N.100/24 fd00:1010:1010:101N::100/64  <->  G_N eth0 192.168.N.1 fd00:1010:1010:101N::1
#   G_N wan 100.64.N.2/24 2001:db8:N::2/64  <->  I wN 100.64.N.1 2001:db8:N::1; G_N masquerades on wan
#   S eth9 172.16.0.1/24 fd00:9::1/64  <->  L 172.16.0.254 fd00:9::fe: S's main-table default routes
#   pools: staff 10.10.10.0/24 fd00:4242:4242:4242::/64, guest 10.20.20.0/24 fd00:4343:4343:4343::/64;
#   client C on S's device cl-POOL: S holds the pools' .1/::1, the client .2/::2
# A gateway made with --switch has its LAN through a bridge in namespace GW_SWITCH[N]: S ethN <-> SW sN,
# SW pN <-> G_N eth0 (both in brN), so that the gateway can die behind a link that keeps its carrier.
#
# Counters (nft, table inet gwtest, in each gateway): forwarded packets from each pool (staff4, staff6,
# guest4, guest6) and the server's own echo requests to the probe targets (probe4, probe6); in L the same
# names count what arrived there (pool packets there are a leak).

[[ -n ${_VPT_SOURCED:-} ]] || { echo "gateways.sh: source common.sh first" >&2; exit 1; }
[[ -n ${_GATEWAYS_SOURCED:-} ]] && return 0
_GATEWAYS_SOURCED=1

GW_TARGET4=198.51.100.1
GW_TARGET6=2001:db8:100::1
declare -A GW_POOL4=([staff]=10.10.10 [guest]=10.20.20)
declare -A GW_POOL6=([staff]=fd00:4242:4242:4242 [guest]=fd00:4343:4343:4343)
declare -A GW_NS=()             # gateway number -> its namespace
declare -A GW_SWITCH=()         # gateway number -> its switch namespace (--switch only)
GW_SERVER=
GW_INET=
GW_LEAK=

gw_addr4() { echo "192.168.$1.1"; }
gw_addr6() { echo "fd00:1010:1010:101$1::1"; }

# _gw_counters NS: the pool counters in NS, counting HOOK (forward or input+forward).
_gw_counters() {
        ns_exec "$1" nft -f - <<EOF
table inet gwtest {
        counter staff4 {}
        counter staff6 {}
        counter guest4 {}
        counter guest6 {}
        counter probe4 {}
        counter probe6 {}
        chain count {
                type filter hook $2 priority -200; policy accept;
                ip saddr ${GW_POOL4[staff]}.0/24 counter name staff4
                ip6 saddr ${GW_POOL6[staff]}::/64 counter name staff6
                ip saddr ${GW_POOL4[guest]}.0/24 counter name guest4
                ip6 saddr ${GW_POOL6[guest]}::/64 counter name guest6
                ip daddr $GW_TARGET4 icmp type echo-request ip saddr != 10.0.0.0/8 counter name probe4
                ip6 daddr $GW_TARGET6 icmpv6 type echo-request ip6 saddr != fd00:4200::/23 counter name probe6
        }
}
EOF
}

# gw_count NS NAME: packets of one of the pool counters in NS (a gateway or the leak router).
gw_count() {
        ns_exec "$1" nft -j list counter inet gwtest "$2" | jq '.nftables[1].counter.packets'
}

# gw_counts NS: all four, "staff4 staff6 guest4 guest6"
gw_counts() {
        ns_exec "$1" nft -j list table inet gwtest |
                jq -r '[.nftables[] | select(.counter) | .counter | {(.name): .packets}] | add
                       | "\(.staff4) \(.staff6) \(.guest4) \(.guest6)"'
}

# gw_server VAR: the VPN server, forwarding, with the leak router L as its main-table default route.
gw_server() {
        ns_new "$1" || return 1
        GW_SERVER=${!1}
        ns_exec "$GW_SERVER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
                net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null || return 1
        ns_new GW_LEAK || return 1
        veth_add "$GW_SERVER" eth9 "$GW_LEAK" eth0 || return 1
        ip -n "$GW_SERVER" addr add 172.16.0.1/24 dev eth9 &&
                ip -n "$GW_SERVER" addr add fd00:9::1/64 dev eth9 nodad &&
                ip -n "$GW_LEAK" addr add 172.16.0.254/24 dev eth0 &&
                ip -n "$GW_LEAK" addr add fd00:9::fe/64 dev eth0 nodad &&
                ip -n "$GW_SERVER" route add default via 172.16.0.254 &&
                ip -n "$GW_SERVER" -6 route add default via fd00:9::fe || return 1
        _gw_counters "$GW_LEAK" prerouting
}

# gw_internet VAR: the far side, with the probe targets on lo.
gw_internet() {
        ns_new "$1" || return 1
        GW_INET=${!1}
        ip -n "$GW_INET" addr add "$GW_TARGET4/32" dev lo &&
                ip -n "$GW_INET" addr add "$GW_TARGET6/128" dev lo
}

# _gw_lan S_DEV G_NS N [--switch]: the server's device and the gateway's eth0, directly or via a bridge.
_gw_lan() {
        local dev=$1 g=$2 n=$3 sw
        if [[ ${4:-} != --switch ]]; then
                veth_add "$GW_SERVER" "$dev" "$g" eth0
                return
        fi
        ns_new sw || return 1
        GW_SWITCH[$n]=$sw
        ip -n "$sw" link add "br$n" type bridge &&
                ip -n "$sw" link set "br$n" up &&
                veth_add "$GW_SERVER" "$dev" "$sw" "s$n" &&
                veth_add "$sw" "p$n" "$g" eth0 &&
                ip -n "$sw" link set "s$n" master "br$n" &&
                ip -n "$sw" link set "p$n" master "br$n"
}

# gw_gateway [--switch] VAR N: NAT box number N on the server's ethN, its WAN to the internet.
gw_gateway() {
        local switch= g n
        if [[ $1 == --switch ]]; then
                switch=--switch
                shift
        fi
        ns_new "$1" || return 1
        g=${!1} n=$2
        GW_NS[$n]=$g
        ns_exec "$g" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
        _gw_lan "eth$n" "$g" "$n" $switch || return 1
        ip -n "$GW_SERVER" addr add "192.168.$n.100/24" dev "eth$n" &&
                ip -n "$GW_SERVER" addr add "fd00:1010:1010:101$n::100/64" dev "eth$n" nodad &&
                ip -n "$g" addr add "192.168.$n.1/24" dev eth0 &&
                ip -n "$g" addr add "fd00:1010:1010:101$n::1/64" dev eth0 nodad || return 1
        veth_add "$g" wan "$GW_INET" "w$n" &&
                ip -n "$g" addr add "100.64.$n.2/24" dev wan &&
                ip -n "$g" addr add "2001:db8:$n::2/64" dev wan nodad &&
                ip -n "$GW_INET" addr add "100.64.$n.1/24" dev "w$n" &&
                ip -n "$GW_INET" addr add "2001:db8:$n::1/64" dev "w$n" nodad &&
                ip -n "$g" route add default via "100.64.$n.1" &&
                ip -n "$g" -6 route add default via "2001:db8:$n::1" || return 1
        # Back to the pools through the server (for the server's own probes, the LAN is connected).
        ip -n "$g" route add 10.0.0.0/8 via "192.168.$n.100" &&
                ip -n "$g" -6 route add fd00:4200::/23 via "fd00:1010:1010:101$n::100" || return 1
        ns_exec "$g" nft -f - <<'EOF' || return 1
table inet gwnat {
        chain post {
                type nat hook postrouting priority 100; policy accept;
                oifname "wan" masquerade
        }
}
EOF
        _gw_counters "$g" forward
}

# gw_client VAR POOL: a pool client on the server's cl-POOL, default routes via the server.
gw_client() {
        local c pool=$2 p4=${GW_POOL4[$2]} p6=${GW_POOL6[$2]}
        ns_new "$1" || return 1
        c=${!1}
        veth_add "$GW_SERVER" "cl-$pool" "$c" eth0 &&
                ip -n "$GW_SERVER" addr add "$p4.1/24" dev "cl-$pool" &&
                ip -n "$GW_SERVER" addr add "$p6::1/64" dev "cl-$pool" nodad &&
                ip -n "$c" addr add "$p4.2/24" dev eth0 &&
                ip -n "$c" addr add "$p6::2/64" dev eth0 nodad &&
                ip -n "$c" route add default via "$p4.1" &&
                ip -n "$c" -6 route add default via "$p6::1"
}

# gw_config FILE POLICY TABLE_ID PRIORITY [GATEWAY_LINE...]: a policy file (the main one when FILE is the
# main configuration: then add the global sections with gw_config_globals). Each GATEWAY_LINE is
# "N[:KEY=VALUE,...]": gateway N (name natN, its addresses and ethN, priority 10*N), probing both
# targets, with the keys given (e.g. "2:Priority=5,ProbeTarget=").
gw_config() {
        local file=$1 policy=$2 id=$3 prio=$4 spec n kv
        shift 4
        {
                printf '[Table]\nName=%s\nId=%s\nPriority=%s\n\n[Pool]\nPrefix=%s.0/24\nPrefix=%s::/64\n' \
                        "$policy" "$id" "$prio" "${GW_POOL4[$policy]}" "${GW_POOL6[$policy]}"
                for spec; do
                        n=${spec%%:*}
                        printf '\n[Gateway]\nName=nat%s\nIPv4=%s\nIPv6=%s\nDevice=eth%s\nPriority=%s\n' \
                                "$n" "$(gw_addr4 "$n")" "$(gw_addr6 "$n")" "$n" "$((10 * n))"
                        printf 'ProbeTarget=%s\nProbeTarget=%s\n' "$GW_TARGET4" "$GW_TARGET6"
                        [[ $spec == *:* ]] || continue
                        IFS=, read -ra kv <<<"${spec#*:}"
                        printf '%s\n' "${kv[@]}"
                done
        } >"$file"
}

# ---------------------------------------------------------------------------------------------------------
# faults, in gateway N: on or off

# the server's link to the gateway loses carrier (the switch port facing the server goes down)
gw_fault_carrier() {
        local sw=${GW_SWITCH[$1]:?gateway $1 has no switch} state=up
        [[ $2 == on ]] && state=down
        ip -n "$sw" link set "s$1" "$state"
}

# the gateway's own LAN interface goes admin-down, behind the switch: the server keeps its carrier
gw_fault_admin() {
        local state=up
        [[ $2 == on ]] && state=down
        ip -n "${GW_NS[$1]}" link set eth0 "$state"
        [[ $2 == on ]] || gw_relink "$1"
}

# gw_relink N: what an admin-down of gateway N's eth0 took with it (its IPv6 address, and its routes back
# to the pools), put back
gw_relink() {
        local g=${GW_NS[$1]}
        ip -n "$g" addr add "fd00:1010:1010:101$1::1/64" dev eth0 nodad 2>/dev/null || true
        ip -n "$g" route replace 10.0.0.0/8 via "192.168.$1.100"
        wait_until 2000 ip -n "$g" -6 route replace fd00:4200::/23 via "fd00:1010:1010:101$1::100"
}

# the gateway answers for itself but forwards nothing
gw_fault_blackhole() {
        local g=${GW_NS[$1]}
        ns_exec "$g" nft delete table inet gwfault 2>/dev/null || true
        [[ $2 == on ]] || return 0
        ns_exec "$g" nft -f - <<'EOF'
table inet gwfault {
        chain blackhole {
                type filter hook forward priority -300; policy drop;
        }
}
EOF
}

# the gateway loses PERCENT % of what arrives from the server (this kernel has no netem): on PERCENT / off
gw_fault_loss() {
        local g=${GW_NS[$1]}
        ns_exec "$g" nft delete table inet gwfault 2>/dev/null || true
        [[ $2 != off ]] || return 0
        ns_exec "$g" nft -f - <<EOF
table inet gwfault {
        chain pre {
                type filter hook prerouting priority -300; policy accept;
                iifname "eth0" numgen random mod 100 < $2 drop
        }
}
EOF
}

# gw_clear N: every fault of gateway N off
gw_clear() {
        gw_fault_blackhole "$1" off
        [[ -z ${GW_SWITCH[$1]:-} ]] || gw_fault_carrier "$1" off
        if [[ $(ip -n "${GW_NS[$1]}" -j link show eth0 | jq -r '.[0].flags | index("UP") != null') != true ]]; then
                gw_fault_admin "$1" off
        fi
}

# ---------------------------------------------------------------------------------------------------------
# what the agent and the kernel say

# gw_default NS FAMILY TABLE: the gateway of TABLE's default route ("" when none)
gw_default() {
        ip -n "$1" -"$2" -j route show table "$3" default 2>/dev/null |
                jq -r '[.[] | select(.gateway)][0].gateway // ""'
}

# gw_active NS POLICY FAMILY: the active gateway's name per the agent's status ("null" when none)
gw_active() {
        { ctl "$1" status --json || true; } |
                jq -r --arg p "$2" --arg f "ipv$3" '.policies[] | select(.name == $p) | .active[$f]'
}

# gw_state NS POLICY GATEWAY FAMILY: that gateway's health state per the agent's status
gw_state() {
        { ctl "$1" status --json || true; } |
                jq -r --arg p "$2" --arg g "$3" --arg f "ipv$4" \
                        '.policies[] | select(.name == $p) | .gateways[] | select(.name == $g) | .health[$f].state'
}

# gw_ping_start NAME CLIENT_NS DEST [INTERVAL]: a continuous ping in the background, output in
# $T/ping-NAME.log with timestamps (-D) and a line per lost reply (-O).
gw_ping_start() {
        local name=$1 c=$2 dest=$3 interval=${4:-0.05}
        # Not through a function: $! must be the process that becomes ping, for the signal to reach it.
        ip netns exec "$c" ping -n -D -O -i "$interval" -W 1 "$dest" >"$T/ping-$name.log" 2>&1 &
        register_pid $!
        eval "GW_PING_$name=$!"
}

# gw_ping_stop NAME: stop it (SIGINT: ping prints its summary)
gw_ping_stop() {
        local pid_var=GW_PING_$1
        kill -INT "${!pid_var}" 2>/dev/null || true
        wait "${!pid_var}" 2>/dev/null || true
}

# gw_ping_lost NAME: replies lost, by ping's own summary
gw_ping_lost() {
        awk '/packets transmitted/ { print $1 - $4 }' "$T/ping-$1.log"
}

# ---------------------------------------------------------------------------------------------------------
# the standard lab: server S, internet I, staff gateways nat1 (eth1, behind a switch) and nat2 (eth2), the
# guest gateway nat3 (eth3), clients C1 (staff) and C2 (guest), the leak router; sets GW_S, GW_C1, GW_C2.

gw_lab() {
        gw_server GW_S || return 1
        gw_internet GW_I || return 1
        gw_gateway --switch GW_G1 1 || return 1
        gw_gateway GW_G2 2 || return 1
        gw_gateway GW_G3 3 || return 1
        gw_client GW_C1 staff || return 1
        gw_client GW_C2 guest
}

# gw_lab_config DIR [STAFF_LINE...]: DIR/vpnpolicy.conf with policy staff (table 200, nat1 and nat2, probes
# every 200 ms, FailCount=3, RiseCount=3, PreemptHoldSec=1s, the STAFF_LINEs after them, e.g.
# '[Failover]' 'Preempt=no'), [Firewall] Manage=no (unless a STAFF_LINE sets it) and DIR/policies.d/guest.conf
# with policy guest (table 201, nat3, unprobed). The main file is DIR/vpnpolicy.conf.
GW_FAST=ProbeIntervalSec=200ms,ProbeTimeoutSec=200ms,FailCount=3,RiseCount=3
gw_lab_config() {
        local dir=$1 line
        shift
        mkdir -p "$dir/policies.d"
        gw_config "$dir/vpnpolicy.conf" staff 200 32765 "1:$GW_FAST" "2:$GW_FAST"
        {
                printf '\n[Failover]\nPreemptHoldSec=1s\n'
                for line; do
                        [[ $line != \[* ]] || echo
                        printf '%s\n' "$line"
                done
                printf '%s\n' "$@" | grep_q '^\[Firewall\]' || printf '\n[Firewall]\nManage=no\n'
        } >>"$dir/vpnpolicy.conf"
        gw_config "$dir/policies.d/guest.conf" guest 201 32764 3
}
