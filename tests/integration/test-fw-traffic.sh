#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# The table of agent/nft.c proven with traffic, v4 and v6, all inside namespaces:
#
#   C (client, pool addresses) --tun0|S|eth1-- G (gateway: 198.51.100.0/24, 2001:db8:1::/64 on lo)
#                                      S|eth2-- L (the host's default route: 203.0.113.1, 2001:db8:2::1)
#
# S forwards and runs nft-driver. "tun0" is a veth standing in for a tun device (the firewall only looks
# at names). S's default routes lead to L, as a host's own default route would.
#   - leak guard: pool traffic leaving by eth2 is dropped and counted (leak-drops); with the guard off it
#     passes, so the test can fail; with the gateway unknown, even eth1 is closed;
#   - the tunnel guard: traffic arriving from a tunnel with a source outside the pools (a client's LAN)
#     leaves by the gateway or a tunnel only: by eth2 it is dropped and counted; with tun0 not in the
#     tunnel set it passes (so the test can fail);
#   - per-pool counters count both directions, the gateway's counter what left via its address, and
#     they survive a set update (a tunnel added) and a rebuild (a pool added in front);
#   - masquerade: G sees S's eth1 address as source (counters on G), and the pool address without it;
#   - a foreign table's drop rule keeps working alongside ours, across our rebuilds.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

NFT_DRIVER=${NFT_DRIVER:-$BUILD/tests/integration/nft-driver}
command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v ping >/dev/null || skip_test "ping(8) is missing (Debian: iputils-ping)"
[[ -x $NFT_DRIVER ]] || die "no nft-driver at $NFT_DRIVER"

ns_new S
ns_new C
ns_new G
ns_new L
veth_add "$S" tun0 "$C" eth0
veth_add "$S" eth1 "$G" eth0
veth_add "$S" eth2 "$L" eth0

ip -n "$C" addr add 10.10.10.2/24 dev eth0
ip -n "$C" addr add fd00:4242:4242:4242::2/64 dev eth0 nodad
# A host of the client's LAN, as if behind an iroute; deprecated, so only ping -I picks it as a source.
ip -n "$C" addr add 172.16.1.5/32 dev eth0
ip -n "$C" addr add fd00:172:16:1::5/128 dev eth0 nodad preferred_lft 0
ip -n "$C" route add default via 10.10.10.1
ip -n "$C" -6 route add default via fd00:4242:4242:4242::1

ip -n "$S" addr add 10.10.10.1/24 dev tun0
ip -n "$S" addr add fd00:4242:4242:4242::1/64 dev tun0 nodad
ip -n "$S" addr add 192.168.1.2/24 dev eth1
ip -n "$S" addr add fd00:1010:1010:1010::2/64 dev eth1 nodad
ip -n "$S" addr add 192.168.2.2/24 dev eth2
ip -n "$S" addr add fd00:2020:2020:2020::2/64 dev eth2 nodad
ip -n "$S" route add 198.51.100.0/24 via 192.168.1.1 dev eth1
ip -n "$S" -6 route add 2001:db8:1::/64 via fd00:1010:1010:1010::1 dev eth1
ip -n "$S" route add default via 192.168.2.1 dev eth2
ip -n "$S" route add 172.16.1.0/24 via 10.10.10.2 dev tun0     # what OpenVPN's `route` line makes
ip -n "$S" -6 route add fd00:172:16:1::/64 via fd00:4242:4242:4242::2 dev tun0
ip -n "$S" -6 route add default via fd00:2020:2020:2020::1 dev eth2
ns_exec "$S" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null

ip -n "$G" addr add 192.168.1.1/24 dev eth0
ip -n "$G" addr add fd00:1010:1010:1010::1/64 dev eth0 nodad
ip -n "$G" addr add 198.51.100.1/32 dev lo
ip -n "$G" addr add 198.51.100.2/32 dev lo
ip -n "$G" addr add 2001:db8:1::1/128 dev lo
ip -n "$G" route add 10.10.10.0/24 via 192.168.1.2
ip -n "$G" -6 route add fd00:4242:4242:4242::/64 via fd00:1010:1010:1010::2
ip -n "$G" route add 172.16.1.0/24 via 192.168.1.2
ip -n "$G" -6 route add fd00:172:16:1::/64 via fd00:1010:1010:1010::2

ip -n "$L" addr add 192.168.2.1/24 dev eth0
ip -n "$L" addr add fd00:2020:2020:2020::1/64 dev eth0 nodad
ip -n "$L" addr add 203.0.113.1/32 dev lo
ip -n "$L" addr add 2001:db8:2::1/128 dev lo
ip -n "$L" route add 10.10.10.0/24 via 192.168.2.2
ip -n "$L" -6 route add fd00:4242:4242:4242::/64 via fd00:2020:2020:2020::2
ip -n "$L" route add 172.16.1.0/24 via 192.168.2.2
ip -n "$L" -6 route add fd00:172:16:1::/64 via fd00:2020:2020:2020::2

# G counts the echo requests it receives, by source.
ns_exec "$G" nft -f - <<'NFT'
table inet probe {
        counter from-s4 {}
        counter from-pool4 {}
        counter from-s6 {}
        counter from-pool6 {}
        counter from-lan {}
        chain in {
                type filter hook input priority 0; policy accept;
                ip saddr 192.168.1.2 icmp type echo-request counter name from-s4
                ip saddr 10.10.10.0/24 icmp type echo-request counter name from-pool4
                ip6 saddr fd00:1010:1010:1010::2 icmpv6 type echo-request counter name from-s6
                ip6 saddr fd00:4242:4242:4242::/64 icmpv6 type echo-request counter name from-pool6
                ip saddr 172.16.1.5 icmp type echo-request counter name from-lan
                ip6 saddr fd00:172:16:1::5 icmpv6 type echo-request counter name from-lan
        }
}
NFT
probe() { ns_exec "$G" nft -j list counter inet probe "$1" | jq '.nftables[1].counter.packets'; }

# A foreign table in S with a drop rule of its own.
ns_exec "$S" nft -f - <<'NFT'
table inet foreign {
        chain guard {
                type filter hook forward priority 10; policy accept;
                ip daddr 198.51.100.2 counter drop
        }
}
NFT
foreign_drops() {
        ns_exec "$S" nft -j list chain inet foreign guard | jq '[.nftables[].rule.expr // empty | .[] | .counter.packets // empty] | first'
}

drv() { ns_exec "$S" "$NFT_DRIVER" "$@"; }
ping4() { ns_exec "$C" ping -n -q -c 1 -W 1 "$1"; }
ping6() { ns_exec "$C" ping -6 -n -q -c 1 -W 1 "$1"; }
lan4() { ns_exec "$C" ping -n -q -c 1 -W 1 -I 172.16.1.5 "$1"; }
lan6() { ns_exec "$C" ping -6 -n -q -c 1 -W 1 -I fd00:172:16:1::5 "$1"; }
SPEC=(--pool 10.10.10.0/24 --pool fd00:4242:4242:4242::/64 --tunnel tun0 --gw gateway=192.168.1.1
        --gw gateway=fd00:1010:1010:1010::1)

# counter NAME SPEC...: packets of one of our counters, via nft_counters() (pool-0-out, leak, gw ...).
counter() {
        local what=$1
        shift
        case $what in
        leak) drv counters "$@" | jq '.leak_guard_drops.packets // 0' ;;
        gw) drv counters "$@" | jq '.policies[0].gateways[0].out_packets' ;;
        pool-*) drv counters "$@" | jq --argjson i "${what:5:1}" --arg d "${what:7}" '.pools[$i][$d + "_packets"]' ;;
        esac
}

info "without our table everything passes (the topology works)"
check "no table: v4 via the gateway" ping4 198.51.100.1
check "no table: v4 by the default route" ping4 203.0.113.1
check "no table: v6 by the default route" ping6 2001:db8:2::1

info "leak guard on"
assert_eq "leak guard: built" "changed=1" "$(drv apply "${SPEC[@]}" --gateway eth1 --leak-guard yes --masquerade no)"
ON=("${SPEC[@]}" --gateway eth1 --leak-guard yes --masquerade no)
check "leak guard: v4 via the gateway passes" ping4 198.51.100.1
check "leak guard: v6 via the gateway passes" ping6 2001:db8:1::1
check "leak guard: server's own tunnel address answers" ping4 10.10.10.1
leak0=$(counter leak "${ON[@]}")
check_fail "leak guard: v4 by the default route is dropped" ping4 203.0.113.1
check_fail "leak guard: v6 by the default route is dropped" ping6 2001:db8:2::1
assert_eq "leak guard: both drops counted" "$((leak0 + 2))" "$(counter leak "${ON[@]}")"
check "pool counter v4 out" test "$(counter pool-0-out "${ON[@]}")" -ge 2
check "pool counter v4 in" test "$(counter pool-0-in "${ON[@]}")" -ge 1
check "pool counter v6 out" test "$(counter pool-1-out "${ON[@]}")" -ge 2
check "pool counter v6 in" test "$(counter pool-1-in "${ON[@]}")" -ge 1
check "gateway counter: what left via 192.168.1.1 and fd00:1010:1010:1010::1" test "$(counter gw "${ON[@]}")" -ge 2
check "no masquerade: the gateway sees the pool address" test "$(probe from-pool4)" -ge 1
assert_eq "no masquerade: not the server's" 0 "$(probe from-s4)"

info "tunnel guard: from the tunnel with a source outside the pools (a client's LAN)"
leak0=$(counter leak "${ON[@]}") gw0=$(counter gw "${ON[@]}") lan0=$(probe from-lan)
check "tunnel guard: v4 via the gateway passes" lan4 198.51.100.1
check "tunnel guard: v6 via the gateway passes" lan6 2001:db8:1::1
assert_eq "tunnel guard: the gateway saw both" "$((lan0 + 2))" "$(probe from-lan)"
check_fail "tunnel guard: v4 by the default route is dropped" lan4 203.0.113.1
check_fail "tunnel guard: v6 by the default route is dropped" lan6 2001:db8:2::1
assert_eq "tunnel guard: both drops counted" "$((leak0 + 2))" "$(counter leak "${ON[@]}")"
assert_eq "tunnel guard: not pool traffic, not on the gateway's counter" "$gw0" "$(counter gw "${ON[@]}")"
NOTUN=("${ON[@]/tun0/tun1}")
assert_eq "tun0 not a tunnel: elements only" "changed=1" "$(drv apply "${NOTUN[@]}")"
check "tun0 not a tunnel: v4 by the default route passes (so the test can fail)" lan4 203.0.113.1
check "tun0 not a tunnel: v6 by the default route passes" lan6 2001:db8:2::1
check_fail "tun0 not a tunnel: pool traffic is still guarded" ping4 203.0.113.1
assert_eq "tun0 a tunnel again" "changed=1" "$(drv apply "${ON[@]}")"
check_fail "tun0 a tunnel again: v4 by the default route dropped" lan4 203.0.113.1

info "a set update keeps the counters"
before=$(drv counters "${ON[@]}")
assert_eq "tunnel added: elements only" "changed=1" "$(drv apply "${ON[@]}" --tunnel tun1)"
assert_eq "tunnel added: counters kept" "$before" "$(drv counters "${ON[@]}" --tunnel tun1)"
check "counters are not zero" test "$(jq '.pools[0].out_packets' <<<"$before")" -gt 0

info "a rebuild keeps each counter with its pool"
# A pool added in front: the table is rebuilt, each counter starts from its old value (by name).
assert_eq "pool added in front: rebuilt" "changed=1" "$(drv apply --pool 10.99.0.0/24 "${ON[@]}")"
after=$(drv counters --pool 10.99.0.0/24 "${ON[@]}")
assert_eq "pool added: the old pools' counters kept" "$(jq -c '.pools' <<<"$before")" "$(jq -c '.pools[1:]' <<<"$after")"
assert_eq "pool added: the new pool's start at 0" 0 "$(jq '.pools[0].out_packets + .pools[0].in_packets' <<<"$after")"
assert_eq "pool added: gateway and leak counters kept" "$(jq -c '[.policies[0].gateways, .leak_guard_drops]' <<<"$before")" \
        "$(jq -c '[.policies[0].gateways, .leak_guard_drops]' <<<"$after")"

info "a foreign table's rule keeps working alongside ours"
f0=$(foreign_drops)
check_fail "foreign drop rule: 198.51.100.2 dropped" ping4 198.51.100.2
assert_eq "foreign drop rule: counted" "$((f0 + 1))" "$(foreign_drops)"

info "leak guard off: the same traffic passes (so the test can fail)"
assert_eq "leak guard off: rebuilt" "changed=1" "$(drv apply "${SPEC[@]}" --gateway eth1 --leak-guard no --masquerade no)"
check "leak guard off: v4 by the default route passes" ping4 203.0.113.1
check "leak guard off: v6 by the default route passes" ping6 2001:db8:2::1

info "gateway unknown: only the tunnels are open"
assert_eq "gateway unknown: built" "changed=1" "$(drv apply "${SPEC[@]}" --leak-guard yes --masquerade no)"
check_fail "gateway unknown: v4 via eth1 dropped" ping4 198.51.100.1
check_fail "gateway unknown: v6 via eth1 dropped" ping6 2001:db8:1::1
check "gateway unknown: the server's tunnel address still answers" ping4 10.10.10.1

info "masquerade"
MASQ=("${SPEC[@]}" --gateway eth1 --leak-guard yes --masquerade yes)
assert_eq "masquerade: built" "changed=1" "$(drv apply "${MASQ[@]}")"
s4=$(probe from-s4) p4=$(probe from-pool4) s6=$(probe from-s6) p6=$(probe from-pool6)
check "masquerade: v4 via the gateway passes" ping4 198.51.100.1
check "masquerade: v6 via the gateway passes" ping6 2001:db8:1::1
assert_eq "masquerade: the gateway sees the server's v4 address" "$((s4 + 1))" "$(probe from-s4)"
assert_eq "masquerade: not the pool's v4 address" "$p4" "$(probe from-pool4)"
assert_eq "masquerade: the gateway sees the server's v6 address" "$((s6 + 1))" "$(probe from-s6)"
assert_eq "masquerade: not the pool's v6 address" "$p6" "$(probe from-pool6)"
check_fail "masquerade: leak guard still drops" ping4 203.0.113.1
f0=$(foreign_drops)
check_fail "after our rebuilds: foreign drop rule still drops" ping4 198.51.100.2
assert_eq "after our rebuilds: foreign drop counted" "$((f0 + 1))" "$(foreign_drops)"

assert_eq "remove" "removed=1" "$(drv remove)"
check "removed: traffic by the default route passes again" ping4 203.0.113.1

finish
