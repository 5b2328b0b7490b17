#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# An eduVPN 3.x node (issue 14), without DCO module or kernel WireGuard: tun stand-ins carrying exactly
# the addresses and the main-table routes that OpenVPN 2.6 with data-channel offload makes (sitnl: proto
# boot; a client's iroute "via CLIENT dev tunN metric 100", the server's route statements "via
# SERVER_NETWORK+2 metric 200"), no up hook, the default Match= (tun*, wg*).
#  - Profile "vpn" (table 200): two OpenVPN processes splitting 10.10.10.0/24 into two /25 and the IPv6
#    range into one /112 each (tun0, tun1), and a wg0 (a tun, as wireguard-go makes it) with its own range
#    beside them. Profile "guest" (table 201): a third process on tun2.
#  - Each tun's connected prefix is in its profile's table; the kernel's lookup for client-to-client
#    (across processes, to WireGuard) from a tun takes that table to the right device.
#  - DCO-shaped routes: iroute at metric 100 and route at metric 200 for one prefix, both copied with their
#    gateway and metric; a host route per client; a client that floats (the via changes, another tun)
#    or disconnects: the copy follows at once. IPv4 and IPv6.
#  - Restarting one process (tun1 deleted and made again): only tun1's routes move, nothing else in
#    tables 200 and 201 is touched (ip monitor).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

P6=fd00:4242:4242:4242

# r DST DEV METRIC [GATEWAY]: one expected route of ours as JSON
r() {
        local j
        j=$(jq -cn --arg dst "$1" --arg dev "$2" --argjson metric "$3" \
                '{dst: $dst, dev: $dev, type: "unicast", metric: $metric, protocol: "vpnpolicy"}')
        [[ -z ${4:-} ]] || j=$(jq -c --arg gw "$4" '. + {gateway: $gw}' <<<"$j")
        echo "$j"
}
arr() { jq -cs . <<<"$(printf '%s\n' "$@")"; }
# table_routes NS FAMILY TABLE: our routes of TABLE but the default ones
table_routes() { routes_json "$1" "$2" "$3" vpnpolicy | jq -cS '[.[] | select(.dst != "default")] | sort'; }
_table_is() { [[ $(table_routes "$1" "$2" "$3" | json_norm) == "$(json_norm <<<"$4")" ]]; }
# expect_table NAME NS FAMILY TABLE EXPECTED
expect_table() {
        wait_until 3000 _table_is "$2" "$3" "$4" "$5" || true
        assert_eq "$1" "$5" "$(table_routes "$2" "$3" "$4")"
}
# route_get NS ARGS...: "dev DEV table TABLE [via GW]" of the kernel's lookup
route_get() {
        ip -n "$1" -j route get "${@:2}" | jq -r '.[0] | "dev \(.dev) table \(.table // "main")" + (if .gateway then " via \(.gateway)" else "" end)'
}

# the processes: dev, IPv4 address/len, IPv6 address/len
ovpn_tun() {
        tun_add "$NS" "$1" && ip -n "$NS" addr add "$2" dev "$1" && ip -n "$NS" addr add "$3" dev "$1" nodad
}
tun1_up() { ovpn_tun tun1 10.10.10.129/25 "$P6::1:1/112"; }

info "setup: uplinks, two profiles"
seed003_uplink NS GW
veth_add "$NS" eth2 "$GW" eth2
ip -n "$NS" addr add 192.168.2.100/24 dev eth2
ip -n "$GW" addr add 192.168.2.1/24 dev eth2
ip -n "$NS" addr add fd00:2::100/64 dev eth2 nodad
ip -n "$GW" addr add fd00:2::1/64 dev eth2 nodad
barrier_tun_add "$NS"
ovpn_tun tun0 10.10.10.1/25 "$P6::1/112"
tun1_up
ovpn_tun wg0 10.10.20.1/24 fd00:4242:4242:4243::1/64
ovpn_tun tun2 10.20.30.1/24 fd00:2030::1/64
mkdir -p "$T/policies.d"
seed003_config --pool 10.10.10.0/24 --pool 10.10.20.0/24 --pool "$P6::/64" --pool fd00:4242:4242:4243::/64 \
        "$T/vpnpolicy.conf" 'Device=eth1' '[Kernel]' 'Forwarding=enable'
cat >"$T/policies.d/guest.conf" <<'EOF'
[Table]
Name=guest
Id=201
Priority=32764

[Pool]
Prefix=10.20.30.0/24
Prefix=fd00:2030::/64

[Gateway]
IPv4=192.168.2.1
IPv6=fd00:2::1
Device=eth2
EOF
agent_start "$NS" "$T/vpnpolicy.conf"

V4=("$(r 10.10.10.0/25 tun0 0)" "$(r 10.10.10.128/25 tun1 0)" "$(r 10.10.20.0/24 wg0 0)")
V6=("$(r "$P6::/112" tun0 256)" "$(r "$P6::1:0/112" tun1 256)" "$(r fd00:4242:4242:4243::/64 wg0 256)")
G4=$(r 10.20.30.0/24 tun2 0)
G6=$(r fd00:2030::/64 tun2 256)

# ---------------------------------------------------------------------------------------------------------
info "each process's slice in its profile's table, with the default Match= (tun*, wg*)"
expect_table "vpn: v4 tun routes, a /25 per process and wg0's range" "$NS" 4 200 "$(arr "${V4[@]}")"
expect_table "vpn: v6 tun routes, a /112 per process and wg0's range" "$NS" 6 200 "$(arr "${V6[@]}")"
expect_table "guest: tun2's routes in table 201" "$NS" 4 201 "[$G4]"
expect_table "guest: tun2's v6 route in table 201" "$NS" 6 201 "[$G6]"
assert_eq "client to client across processes: tun0 -> tun1 by table vpn" "dev tun1 table vpn" \
        "$(route_get "$NS" 10.10.10.130 from 10.10.10.2 iif tun0)"
assert_eq "OpenVPN to WireGuard: tun1 -> wg0 by table vpn" "dev wg0 table vpn" \
        "$(route_get "$NS" 10.10.20.7 from 10.10.10.130 iif tun1)"
assert_eq "WireGuard to OpenVPN, v6: wg0 -> tun0 by table vpn" "dev tun0 table vpn" \
        "$(route_get "$NS" "$P6::2" from fd00:4242:4242:4243::7 iif wg0)"
check "guest's table leads to guest's gateway" \
        jq -e 'any(.[]; .dst == "default" and .gateway == "192.168.2.1" and .dev == "eth2")' \
        <<<"$(routes_json "$NS" 4 201)"
check "every tun is managed, wg0 by the default Match=" \
        jq -e '[.devices[].name] | sort == ["tun0","tun1","tun2","tunb","wg0"]' \
        <<<"$(ctl "$NS" status --json || true)"

# ---------------------------------------------------------------------------------------------------------
info "DCO: iroute at metric 100 and route at metric 200 for one prefix; a host route per client"
# client 10.10.10.3 (iroute 172.16.1.0/24, iroute-ipv6 fd00:aaaa::/64), the server's route statements
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.3 dev tun0 metric 100 proto boot
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.2 dev tun0 metric 200 proto boot
ip -n "$NS" -6 route add fd00:aaaa::/64 via "$P6::1000" dev tun0 metric 100 proto boot
ip -n "$NS" -6 route add fd00:aaaa::/64 via "$P6::2" dev tun0 metric 200 proto boot
# client 10.10.10.4: a single host behind it, v4 and v6
ip -n "$NS" route add 172.16.9.9/32 via 10.10.10.4 dev tun0 metric 100 proto boot
ip -n "$NS" -6 route add fd00:bbbb::9/128 via "$P6::1001" dev tun0 metric 100 proto boot
# a guest client
ip -n "$NS" route add 172.16.50.0/24 via 10.20.30.2 dev tun2 metric 100 proto boot
I100=$(r 172.16.1.0/24 tun0 100 10.10.10.3)
R200=$(r 172.16.1.0/24 tun0 200 10.10.10.2)
H4=$(r 172.16.9.9 tun0 100 10.10.10.4)
J100=$(r fd00:aaaa::/64 tun0 100 "$P6::1000")
S200=$(r fd00:aaaa::/64 tun0 200 "$P6::2")
H6=$(r fd00:bbbb::9 tun0 100 "$P6::1001")
expect_table "v4: both metrics copied with their gateways, and the host route" "$NS" 4 200 \
        "$(arr "${V4[@]}" "$I100" "$R200" "$H4")"
expect_table "v6: both metrics copied with their gateways, and the host route" "$NS" 6 200 \
        "$(arr "${V6[@]}" "$J100" "$S200" "$H6")"
expect_table "guest's iroute in guest's table" "$NS" 4 201 "$(arr "$G4" "$(r 172.16.50.0/24 tun2 100 10.20.30.2)")"
check "the copies carry proto 211 (the originals stay proto boot)" \
        grep -q 'via 10.10.10.3 dev tun0 proto 211 metric 100' <(ip -n "$NS" -N route show table 200 172.16.1.0/24)
assert_eq "pool traffic to the client LAN takes the iroute's copy (metric 100)" \
        "dev tun0 table vpn via 10.10.10.3" "$(route_get "$NS" 172.16.1.5 from 10.10.10.130 iif tun1)"

info "the client floats: the via changes (route replace), then it reconnects over TCP on tun1"
ip -n "$NS" route replace 172.16.1.0/24 via 10.10.10.5 dev tun0 metric 100 proto boot
ip -n "$NS" -6 route replace fd00:aaaa::/64 via "$P6::1005" dev tun0 metric 100 proto boot
expect_table "v4: the metric-100 copy follows the new via, metric 200 untouched" "$NS" 4 200 \
        "$(arr "${V4[@]}" "$(r 172.16.1.0/24 tun0 100 10.10.10.5)" "$R200" "$H4")"
expect_table "v6: the metric-100 copy follows the new via" "$NS" 6 200 \
        "$(arr "${V6[@]}" "$(r fd00:aaaa::/64 tun0 100 "$P6::1005")" "$S200" "$H6")"
ip -n "$NS" route del 172.16.1.0/24 via 10.10.10.5 dev tun0 metric 100
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.131 dev tun1 metric 100 proto boot
ip -n "$NS" -6 route del fd00:aaaa::/64 via "$P6::1005" dev tun0 metric 100
ip -n "$NS" -6 route add fd00:aaaa::/64 via "$P6::1:1000" dev tun1 metric 100 proto boot
expect_table "v4: the iroute's copy moved to tun1" "$NS" 4 200 \
        "$(arr "${V4[@]}" "$(r 172.16.1.0/24 tun1 100 10.10.10.131)" "$R200" "$H4")"
expect_table "v6: the iroute's copy moved to tun1" "$NS" 6 200 \
        "$(arr "${V6[@]}" "$(r fd00:aaaa::/64 tun1 100 "$P6::1:1000")" "$S200" "$H6")"

info "the client disconnects: its copies go, the route statements' stay"
ip -n "$NS" route del 172.16.1.0/24 via 10.10.10.131 dev tun1 metric 100
ip -n "$NS" -6 route del fd00:aaaa::/64 via "$P6::1:1000" dev tun1 metric 100
ip -n "$NS" route del 172.16.9.9/32 via 10.10.10.4 dev tun0 metric 100
ip -n "$NS" -6 route del fd00:bbbb::9/128 via "$P6::1001" dev tun0 metric 100
expect_table "v4: only the metric-200 copy left" "$NS" 4 200 "$(arr "${V4[@]}" "$R200")"
expect_table "v6: only the metric-200 copy left" "$NS" 6 200 "$(arr "${V6[@]}" "$S200")"

info "never copied: redirect-gateway halves and a route covering the gateway, via a DCO-shaped tun"
ip -n "$NS" route add 0.0.0.0/1 via 10.10.10.2 dev tun0 metric 100 proto boot
ip -n "$NS" route add 192.168.1.0/28 via 10.10.10.2 dev tun0 metric 100 proto boot
barrier "$NS"
expect_table "v4: nothing new" "$NS" 4 200 "$(arr "${V4[@]}" "$R200")"
ip -n "$NS" route del 0.0.0.0/1 via 10.10.10.2 dev tun0 metric 100
ip -n "$NS" route del 192.168.1.0/28 via 10.10.10.2 dev tun0 metric 100

# ---------------------------------------------------------------------------------------------------------
info "one process restarts (tun1 goes and comes back): only tun1's routes move"
ip -n "$NS" route add 172.16.2.0/24 via 10.10.10.130 dev tun1 metric 100 proto boot
ip -n "$NS" route add 172.16.3.0/24 via 10.10.20.2 dev wg0 proto static
W=$(r 172.16.3.0/24 wg0 0 10.10.20.2)
T1=$(r 172.16.2.0/24 tun1 100 10.10.10.130)
expect_table "before: tun1's and wg0's client routes copied" "$NS" 4 200 "$(arr "${V4[@]}" "$R200" "$T1" "$W")"
monitor_start "$NS" "$T/monitor.log"
ip -n "$NS" link del tun1
expect_table "tun1 gone: its routes gone, the others there" "$NS" 4 200 \
        "$(arr "${V4[0]}" "${V4[2]}" "$R200" "$W")"
tun1_up
ip -n "$NS" route add 172.16.2.0/24 via 10.10.10.131 dev tun1 metric 100 proto boot
expect_table "tun1 back: its routes back" "$NS" 4 200 \
        "$(arr "${V4[@]}" "$R200" "$(r 172.16.2.0/24 tun1 100 10.10.10.131)" "$W")"
expect_table "tun1 back: v6" "$NS" 6 200 "$(arr "${V6[@]}" "$S200")"
monitor_stop
grep -E 'table (vpn|guest|200|201)' "$T/monitor.log" >"$T/ours.log" || true
check "the monitor saw tun1's routes go and come" grep -q 'dev tun1' "$T/ours.log"
check_fail "no event in tables 200/201 about anything but tun1" grep -v 'dev tun1' "$T/ours.log"
expect_table "guest untouched" "$NS" 4 201 "$(arr "$G4" "$(r 172.16.50.0/24 tun2 100 10.20.30.2)")"

agent_stop
check "agent exits 0 on SIGTERM" test "$AGENT_RC" = 0
finish
