#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# Mirrored routes (issue "tunnels"): every main-table route via a managed tun that is not proto kernel
# (client LANs from OpenVPN's route lines, the net30 pool route) is copied into table 200 with the same
# destination, gateway, device and metric, proto 211, and removed when the original goes; `route replace`
# of the original updates the copy. Not copied: with MirrorRoutes=no, routes via a device that is not
# managed, routes in other tables, the kernel's own connected routes (no duplicates of the tun routes).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

CONVERGE_MS=${CONVERGE_MS:-3000}

# write_conf FILE MIRROR: the seed 003 configuration, Match=tun* (the default), MirrorRoutes=MIRROR.
write_conf() { seed003_config "$1" '[Kernel]' 'Forwarding=enable' '[Tunnels]' "MirrorRoutes=$2"; }

# all routes of table 200 (any protocol), to see duplicates or foreign copies
all_routes() { routes_json "$1" "$2" 200; }

status() { ctl "$1" status --json || true; }

# r DST DEV METRIC [GATEWAY]: one expected table-200 route as JSON
r() {
        local j
        j=$(jq -cn --arg dst "$1" --arg dev "$2" --argjson metric "$3" \
                '{dst: $dst, dev: $dev, type: "unicast", metric: $metric, protocol: "vpnpolicy"}')
        [[ -z ${4:-} ]] || j=$(jq -c --arg gw "$4" '. + {gateway: $gw}' <<<"$j")
        echo "$j"
}
arr() { jq -cs . <<<"$(printf '%s\n' "$@")"; }

setup() {
        seed003_uplink --no-forwarding NS GW
        barrier_tun_add "$NS"
        seed003_tun "$NS" tun0
        tun_add "$NS" vpn0
        ip -n "$NS" addr add 10.20.0.1/24 dev vpn0
        ip -n "$NS" addr add fd00:2020::1/64 dev vpn0
}

T4=$(r 10.10.10.0/24 tun0 0)
T6=$(r fd00:4242:4242:4242::/64 tun0 256)

# ---------------------------------------------------------------------------------------------------------
info "setup"
setup
write_conf "$T/yes.conf" yes
agent_start "$NS" "$T/yes.conf"
expect_routes "tun routes only, to start with (v4)" "$NS" 4 "[$T4]"
expect_routes "tun routes only, to start with (v6)" "$NS" 6 "[$T6]"

# ---------------------------------------------------------------------------------------------------------
info "the kernel's own routes are not copied"
check "main has the proto kernel connected route via tun0" grep -q 'proto kernel' <(ip -n "$NS" route show 10.10.10.0/24)
assert_eq "table 200 holds exactly one 10.10.10.0/24 (ours), not a copy of the kernel's" \
        "[$T4]" "$(all_routes "$NS" 4 | jq -c '[.[] | select(.dst == "10.10.10.0/24")]')"
assert_eq "table 200 holds exactly one fd00:4242:4242:4242::/64 (ours)" \
        "[$T6]" "$(all_routes "$NS" 6 | jq -c '[.[] | select(.dst == "fd00:4242:4242:4242::/64")]')"
check_fail "no v6 link-local or multicast route in table 200" grep -qE 'fe80|ff00' <(ip -n "$NS" -6 route show table 200)

# ---------------------------------------------------------------------------------------------------------
info "mirrored and un-mirrored, v4"
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.2 dev tun0
M1=$(r 172.16.1.0/24 tun0 0 10.10.10.2)
expect_routes "v4 with gateway: copied" "$NS" 4 "$(arr "$T4" "$M1")"
ip -n "$NS" route add 172.16.2.0/24 dev tun0 metric 50
M2=$(r 172.16.2.0/24 tun0 50)
expect_routes "v4 without gateway, metric 50: copied with its metric" "$NS" 4 "$(arr "$T4" "$M1" "$M2")"
ip -n "$NS" route add 172.16.3.3 dev tun0 proto static
M3=$(r 172.16.3.3 tun0 0)
expect_routes "v4 host route, proto static: copied as proto 211" "$NS" 4 "$(arr "$T4" "$M1" "$M2" "$M3")"
# OpenVPN's net30 pool route: main-table route via the peer
ip -n "$NS" addr add 10.8.0.1 peer 10.8.0.2 dev tun0
ip -n "$NS" route add 10.8.0.0/24 via 10.8.0.2 dev tun0
P=$(r 10.8.0.2 tun0 0)
M4=$(r 10.8.0.0/24 tun0 0 10.8.0.2)
expect_routes "net30: peer route and pool route via the peer both in table 200" "$NS" 4 \
        "$(arr "$T4" "$M1" "$M2" "$M3" "$P" "$M4")"
# two routes to one destination with different metrics: two copies
ip -n "$NS" route add 172.16.4.0/24 dev tun0 metric 10
ip -n "$NS" route add 172.16.4.0/24 dev tun0 metric 20
M5a=$(r 172.16.4.0/24 tun0 10)
M5b=$(r 172.16.4.0/24 tun0 20)
expect_routes "same destination, two metrics: two copies" "$NS" 4 \
        "$(arr "$T4" "$M1" "$M2" "$M3" "$P" "$M4" "$M5a" "$M5b")"
s=$(status "$NS")
check "status: mirror-route objects present" \
        test "$(jq '[.objects[] | select(.role == "mirror-route" and .present == true)] | length' <<<"$s")" = 6
check "status: mirror of 172.16.1.0/24 is listed" \
        jq -e '.objects[] | select(.role == "mirror-route" and (.object | startswith("172.16.1.0/24 ")))' <<<"$s"
check "table 200 copy carries proto 211" grep -q 'proto 211' <(ip -n "$NS" -N route show table 200 172.16.1.0/24)

ip -n "$NS" route del 172.16.4.0/24 dev tun0 metric 10
expect_routes "one of the two deleted: the other copy stays" "$NS" 4 \
        "$(arr "$T4" "$M1" "$M2" "$M3" "$P" "$M4" "$M5b")"
ip -n "$NS" route del 172.16.4.0/24 dev tun0 metric 20
ip -n "$NS" route del 172.16.1.0/24 via 10.10.10.2 dev tun0
expect_routes "v4 with gateway: un-mirrored" "$NS" 4 "$(arr "$T4" "$M2" "$M3" "$P" "$M4")"
ip -n "$NS" route del 172.16.2.0/24 dev tun0 metric 50
ip -n "$NS" route del 172.16.3.3 dev tun0
expect_routes "v4 without gateway: un-mirrored" "$NS" 4 "$(arr "$T4" "$P" "$M4")"
ip -n "$NS" route del 10.8.0.0/24 via 10.8.0.2 dev tun0
ip -n "$NS" addr del 10.8.0.1 peer 10.8.0.2 dev tun0
expect_routes "net30 gone: only the tun route left" "$NS" 4 "[$T4]"

# ---------------------------------------------------------------------------------------------------------
info "mirrored and un-mirrored, v6"
ip -n "$NS" -6 route add fd00:aaaa::/64 via fd00:4242:4242:4242::2 dev tun0
N1=$(r fd00:aaaa::/64 tun0 1024 fd00:4242:4242:4242::2)
expect_routes "v6 with gateway: copied (metric 1024)" "$NS" 6 "$(arr "$T6" "$N1")"
ip -n "$NS" -6 route add fd00:bbbb::/48 dev tun0 metric 77
N2=$(r fd00:bbbb::/48 tun0 77)
expect_routes "v6 without gateway, metric 77: copied" "$NS" 6 "$(arr "$T6" "$N1" "$N2")"
ip -n "$NS" -6 route del fd00:aaaa::/64 via fd00:4242:4242:4242::2 dev tun0
expect_routes "v6 with gateway: un-mirrored" "$NS" 6 "$(arr "$T6" "$N2")"
ip -n "$NS" -6 route del fd00:bbbb::/48 dev tun0 metric 77
expect_routes "v6 without gateway: un-mirrored" "$NS" 6 "[$T6]"

# ---------------------------------------------------------------------------------------------------------
info "route replace updates the copy"
ip -n "$NS" route add 172.16.5.0/24 via 10.10.10.2 dev tun0
expect_routes "v4 original copied" "$NS" 4 "$(arr "$T4" "$(r 172.16.5.0/24 tun0 0 10.10.10.2)")"
ip -n "$NS" route replace 172.16.5.0/24 via 10.10.10.3 dev tun0
expect_routes "v4 replace: copy has the new gateway, the old copy is gone" "$NS" 4 \
        "$(arr "$T4" "$(r 172.16.5.0/24 tun0 0 10.10.10.3)")"
ip -n "$NS" route replace 172.16.5.0/24 dev tun0
expect_routes "v4 replace without gateway: copy without gateway" "$NS" 4 "$(arr "$T4" "$(r 172.16.5.0/24 tun0 0)")"
ip -n "$NS" route del 172.16.5.0/24 dev tun0
ip -n "$NS" -6 route add fd00:cccc::/64 via fd00:4242:4242:4242::2 dev tun0
expect_routes "v6 original copied" "$NS" 6 "$(arr "$T6" "$(r fd00:cccc::/64 tun0 1024 fd00:4242:4242:4242::2)")"
ip -n "$NS" -6 route replace fd00:cccc::/64 via fd00:4242:4242:4242::3 dev tun0
expect_routes "v6 replace: copy has the new gateway" "$NS" 6 \
        "$(arr "$T6" "$(r fd00:cccc::/64 tun0 1024 fd00:4242:4242:4242::3)")"
ip -n "$NS" -6 route del fd00:cccc::/64 dev tun0
expect_routes "v6 replaced route deleted: copy gone" "$NS" 6 "[$T6]"
# replace moving a route from a managed tun to an unmanaged device: copy goes
ip -n "$NS" route add 172.16.6.0/24 dev tun0
expect_routes "route via tun0 copied" "$NS" 4 "$(arr "$T4" "$(r 172.16.6.0/24 tun0 0)")"
ip -n "$NS" route replace 172.16.6.0/24 dev vpn0
expect_routes "replace moves it to vpn0 (not managed): copy gone" "$NS" 4 "[$T4]"
ip -n "$NS" route replace 172.16.6.0/24 dev tun0
expect_routes "and back to tun0: copied again" "$NS" 4 "$(arr "$T4" "$(r 172.16.6.0/24 tun0 0)")"
ip -n "$NS" route del 172.16.6.0/24 dev tun0
expect_routes "deleted: gone" "$NS" 4 "[$T4]"

# ---------------------------------------------------------------------------------------------------------
info "not copied: routes via devices that are not managed, other tables, non-unicast"
ip -n "$NS" route add 172.17.0.0/24 via 192.168.1.1 dev eth1
ip -n "$NS" route add 172.17.1.0/24 dev vpn0
ip -n "$NS" -6 route add fd00:dddd::/64 dev vpn0
ip -n "$NS" route add 172.17.2.0/24 dev tun0 table 100
ip -n "$NS" route add blackhole 172.17.3.0/24
barrier "$NS"
assert_eq "v4: nothing copied" "[$T4]" "$(tun_routes "$NS" 4)"
assert_eq "v6: nothing copied" "[$T6]" "$(tun_routes "$NS" 6)"
check_fail "no foreign-protocol route in table 200" jq -e '.[] | select(.protocol != "vpnpolicy")' <<<"$(all_routes "$NS" 4)"

# ---------------------------------------------------------------------------------------------------------
info "onlink route via the tun (gateway outside the tun's subnet)"
ip -n "$NS" route add 172.16.11.0/24 via 10.99.0.5 dev tun0 onlink
expect_routes "onlink: copied with its gateway" "$NS" 4 "$(arr "$T4" "$(r 172.16.11.0/24 tun0 0 10.99.0.5)")"
check "onlink: the copy is onlink too" grep -q onlink <(ip -n "$NS" route show table 200 172.16.11.0/24)
check "onlink: no failing object in status" \
        jq -e '[.objects[] | select(.role == "mirror-route" and .last_error != null)] | length == 0' <<<"$(status "$NS")"
ip -n "$NS" route del 172.16.11.0/24 via 10.99.0.5 dev tun0 onlink
expect_routes "onlink original deleted: no copy" "$NS" 4 "[$T4]"
check "onlink original deleted: no mirror-route object left" \
        jq -e '[.objects[] | select(.role == "mirror-route")] | length == 0' <<<"$(status "$NS")"

# ---------------------------------------------------------------------------------------------------------
info "original flushed by the kernel (device down): the copy does not come back"
ip -n "$NS" route add 172.16.7.0/24 via 10.10.10.2 dev tun0
expect_routes "copied" "$NS" 4 "$(arr "$T4" "$(r 172.16.7.0/24 tun0 0 10.10.10.2)")"
ip -n "$NS" link set tun0 down
ip -n "$NS" link set tun0 up
check "the kernel flushed the original from main" test -z "$(ip -n "$NS" route show 172.16.7.0/24)"
ip -n "$NS" addr add 10.10.10.1/24 dev tun0 2>/dev/null || true
barrier "$NS"
expect_routes "after down/up: no copy of the flushed original" "$NS" 4 "[$T4]"
check_fail "status: no mirror-route for the flushed original" \
        jq -e '.objects[] | select(.role == "mirror-route")' <<<"$(status "$NS")"

# device deleted: its copies go
ip -n "$NS" route add 172.16.8.0/24 via 10.10.10.2 dev tun0
ip -n "$NS" -6 route add fd00:eeee::/64 dev tun0
expect_routes "copied before the device goes" "$NS" 4 "$(arr "$T4" "$(r 172.16.8.0/24 tun0 0 10.10.10.2)")"
ip -n "$NS" link del tun0
expect_routes "device deleted: v4 copies gone" "$NS" 4 '[]'
expect_routes "device deleted: v6 copies gone" "$NS" 6 '[]'
check_fail "status: no mirror-route after the device went" \
        jq -e '.objects[] | select(.role == "mirror-route")' <<<"$(status "$NS")"

# ---------------------------------------------------------------------------------------------------------
info "MirrorRoutes=no"
agent_stop
seed003_tun "$NS" tun0
ip -n "$NS" route add 172.16.9.0/24 via 10.10.10.2 dev tun0       # there before the agent starts
write_conf "$T/no.conf" no
agent_start "$NS" "$T/no.conf"
ip -n "$NS" route add 172.16.10.0/24 dev tun0                       # added while it runs
ip -n "$NS" -6 route add fd00:ffff::/64 via fd00:4242:4242:4242::2 dev tun0
barrier "$NS"
expect_routes "MirrorRoutes=no: v4 tun route only" "$NS" 4 "[$T4]"
expect_routes "MirrorRoutes=no: v6 tun route only" "$NS" 6 "[$T6]"

info "reload to MirrorRoutes=yes copies them, back to no removes them"
cp "$T/yes.conf" "$T/no.conf"
check "reload (yes)" ctl "$NS" reload
expect_routes "after reload to yes: v4 copies" "$NS" 4 \
        "$(arr "$T4" "$(r 172.16.9.0/24 tun0 0 10.10.10.2)" "$(r 172.16.10.0/24 tun0 0)")"
expect_routes "after reload to yes: v6 copy" "$NS" 6 "$(arr "$T6" "$(r fd00:ffff::/64 tun0 1024 fd00:4242:4242:4242::2)")"
write_conf "$T/no.conf" no
check "reload (no)" ctl "$NS" reload
expect_routes "after reload to no: v4 copies removed" "$NS" 4 "[$T4]"
expect_routes "after reload to no: v6 copy removed" "$NS" 6 "[$T6]"

info "a copy present at start is adopted by a MirrorRoutes=yes agent, removed by a =no one"
write_conf "$T/no.conf" yes
ctl "$NS" reload >/dev/null
expect_routes "copies back" "$NS" 4 "$(arr "$T4" "$(r 172.16.9.0/24 tun0 0 10.10.10.2)" "$(r 172.16.10.0/24 tun0 0)")"
agent_stop
ip -n "$NS" route del 172.16.10.0/24 dev tun0       # the original goes while no agent runs
write_conf "$T/no.conf" yes
agent_start "$NS" "$T/no.conf"
expect_routes "restart: the copy of the deleted original is removed, the other kept" "$NS" 4 \
        "$(arr "$T4" "$(r 172.16.9.0/24 tun0 0 10.10.10.2)")"
agent_stop
write_conf "$T/no.conf" no
agent_start "$NS" "$T/no.conf"
expect_routes "restart with MirrorRoutes=no: leftover copies removed" "$NS" 4 "[$T4]"

agent_stop
check "agent exits 0 on SIGTERM" test "$AGENT_RC" = 0
finish
