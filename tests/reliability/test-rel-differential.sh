#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability tooling (b): differential test against iproute2. Two identical namespaces (eth1 to a
# gateway, tun0 with the pools' first addresses, a client LAN route via tun0 in main, v4 and v6). In one
# the agent builds its objects; in the twin the equivalent `ip` commands build them by hand (below, the
# iproute2 spelling of design.md's table). For each object kind and family (source and tunnel rules, default route,
# fail-closed route, tun route, mirrored route), the objects as `ip -d -j` shows them must be equal after
# normalisation. Fields that legitimately differ are dropped and listed in IGNORED (none but the kernel's
# own bookkeeping); what the equivalent commands must say explicitly to match is noted next to them.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# fields dropped before comparing (none needed so far; "expires" and "cache" are per-route timers)
IGNORED='["expires", "cache"]'

world() { # NSVAR GWVAR
        rel_topology "$1" "$2"
        local ns=${!1}
        tun_add "$ns" tun0
        ip -n "$ns" addr add 10.10.10.1/24 dev tun0
        ip -n "$ns" -6 addr add fd00:4242:4242:4242::1/64 dev tun0 nodad
        ip -n "$ns" route add 172.16.1.0/24 via 10.10.10.2 dev tun0 onlink
        ip -n "$ns" -6 route add fd00:172:16:1::/64 dev tun0
}
world NS GW
world TWIN TGW
# the same interface indexes in both (ip -d -j names devices, but keep the kernels alike)
assert_eq "twin: same ifindex for eth1 and tun0" \
        "$(ip -n "$NS" -j link show | jq -c '[.[] | {ifname, ifindex}]')" \
        "$(ip -n "$TWIN" -j link show | jq -c '[.[] | {ifname, ifindex}]')"

rel_conf "$T/vpnpolicy.conf" "[Tunnels]" "MirrorRoutes=yes" "[Kernel]" "FailClosed=yes"
agent_start "$NS" "$T/vpnpolicy.conf"
check "agent: healthy" wait_until 3000 ctl "$NS" status
# the agent writes "200 vpn" and "211 vpnpolicy" into its namespace's /etc/iproute2: the same names for
# the twin, so `ip` prints the same words
cp -a "/etc/netns/$NS/iproute2/rt_tables.d/." "/etc/netns/$TWIN/iproute2/rt_tables.d/"
cp -a "/etc/netns/$NS/iproute2/rt_protos.d/." "/etc/netns/$TWIN/iproute2/rt_protos.d/"

# the equivalent ip commands, kind by kind
twin() { ip netns exec "$TWIN" ip "$@"; }
twin -4 rule add pref 32765 from 10.10.10.0/24 lookup 200 proto 211
twin -6 rule add pref 32765 from fd00:4242:4242:4242::/64 lookup 200 proto 211
twin -4 rule add pref 32765 iif tun0 lookup 200 proto 211
twin -6 rule add pref 32765 iif tun0 lookup 200 proto 211
twin -4 route add default via 192.168.1.1 dev eth1 table 200 proto 211
twin -6 route add default via fd00:1010:1010:1010::1 dev eth1 table 200 proto 211
twin -4 route add unreachable default metric 4294967295 table 200 proto 211
twin -6 route add unreachable default metric 4294967295 table 200 proto 211
twin -4 route add 10.10.10.0/24 dev tun0 table 200 proto 211 scope link
twin -6 route add fd00:4242:4242:4242::/64 dev tun0 table 200 proto 211 metric 256
twin -4 route add 172.16.1.0/24 via 10.10.10.2 dev tun0 onlink table 200 proto 211
twin -6 route add fd00:172:16:1::/64 dev tun0 table 200 proto 211 metric 1024
# notes: the v4 tun route has "scope link" as the kernel's connected route does (`ip route add` of a
# device route picks it too, said for clarity); the v6 tun route takes the kernel's connected route's
# metric 256 (a plain `ip -6 route add` would use 1024); the v6 mirror keeps the original's metric 1024.

norm() { jq -cS --argjson drop "$IGNORED" '[.[] | with_entries(select(.key as $k | $drop | index($k) | not))] | sort'; }
rules() { ip netns exec "$1" ip -d -j -"$2" rule show | jq -c '[.[] | select(.priority == 32765)]' | norm; }
routes() { ip netns exec "$1" ip -d -j -"$2" route show table 200 | norm; }

declare -A KIND=(
        [default route]='select(.dst == "default" and (.type // "unicast") == "unicast")'
        [fail-closed route]='select(.dst == "default" and .type == "unreachable")'
        [tun route]='select(.dst == "10.10.10.0/24" or .dst == "fd00:4242:4242:4242::/64")'
        [mirrored route]='select(.dst == "172.16.1.0/24" or .dst == "fd00:172:16:1::/64")'
)
kinds=0
for fam in 4 6; do
        a=$(rules "$NS" "$fam") b=$(rules "$TWIN" "$fam")
        assert_eq "v$fam source and tunnel rules: agent = ip rule add" "$b" "$a"
        kinds=$((kinds + 1))
        a=$(routes "$NS" "$fam") b=$(routes "$TWIN" "$fam")
        for k in "default route" "fail-closed route" "tun route" "mirrored route"; do
                ka=$(jq -c "[.[] | ${KIND[$k]}]" <<<"$a")
                kb=$(jq -c "[.[] | ${KIND[$k]}]" <<<"$b")
                check "v$fam $k: present on both sides" test "$(jq length <<<"$ka")" = 1 -a "$(jq length <<<"$kb")" = 1
                assert_eq "v$fam $k: agent = ip route add" "$kb" "$ka"
                kinds=$((kinds + 1))
        done
        assert_eq "v$fam table 200 as a whole: agent = ip" "$b" "$a"
done
info "compared: $(routes "$NS" 4 | jq length) v4 and $(routes "$NS" 6 | jq length) v6 routes, ignoring $IGNORED"
figure differential_kinds_compared "$kinds" objects
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
