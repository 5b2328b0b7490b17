#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vpnpolicyctl doctor on an eduVPN 3.x node (issue 14): the server configurations are read from the
# openvpn-server@ directory (--openvpn-dir, default /etc/openvpn/server), one per process, generated
# without an up hook and with a "do not edit" header: no hook is demanded. Each process's split range
# (server /25, server-ipv6 /112, ifconfig-pool) is checked against the pools of every policy: one
# outside them all is a warning with its fix; disable-dco is reported (DCO silently off). A route into a
# DCO device without a gateway (beyond its connected subnet) is a warning: there is no DCO module here, so
# tun0 stands in for one with --assume-dco, and without it (a plain tun) the same route is no finding.
# A configuration without disable-dco whose device is a plain tun gets a note (DCO silently off); one with
# disable-dco does not. Without disable-dco, two clients' overlapping iroutes (same or nested) and an
# iroute inside the server's range are warnings (under DCO each iroute is a kernel route via its client).
# WireGuard devices (wireguard-go's tun named wg*: no wireguard module here) are listed with their
# addresses; one without an address inside a pool is a warning (the agent leaves it to the main table).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

ns_new NS
conf=$T/vpnpolicy.conf
mkdir -p "$T/policies.d" "$T/server"
printf '[Pool]\nPrefix=10.10.10.0/24\nPrefix=fd00:4242:4242:4242::/64\n[Gateway]\nIPv4=192.168.1.1\nIPv6=fd00:1::1\n' >"$conf"
printf '[Table]\nId=201\nPriority=32764\n[Pool]\nPrefix=10.20.30.0/24\n[Gateway]\nIPv4=192.168.2.1\n' \
        >"$T/policies.d/guest.conf"
# ovpn NAME DEV RANGE4 RANGE6 [LINE...]: a configuration as vpn-server-node 3.x writes it (into $OVPN_DIR,
# default $T/server)
ovpn() {
        local f=${OVPN_DIR:-$T/server}/$1.conf
        shift
        {
                echo "#"
                echo "# OpenVPN Server Configuration"
                echo "#"
                echo "# ******************************************"
                echo "# * THIS FILE IS GENERATED, DO NOT MODIFY! *"
                echo "# ******************************************"
                printf 'verb 3\ndev %s\nuser nobody\ngroup nogroup\npersist-tun\ntopology subnet\n' "$1"
                printf 'server %s\nserver-ipv6 %s\n' "$2" "$3"
                shift 3
                printf '%s\n' "$@"
        } >"$f"
}
ovpn default-0 tun0 "10.10.10.0 255.255.255.128" "fd00:4242:4242:4242::/112" "proto udp6" "port 1194"
ovpn default-1 tun1 "10.10.10.128 255.255.255.128" "fd00:4242:4242:4242::1:0/112" "proto tcp6-server" "port 1194"
ovpn guest-0 tun2 "10.20.30.0 255.255.255.0" "fd00:2030::/64" "port 1195"
doctor() {
        DRC=0
        ns_exec "$NS" "$VPNPOLICYCTL" --runtime-dir "$T/run" doctor --json --config "$conf" "$@" >"$T/d.json" \
                2>"$T/d.err" || DRC=$?
        doctor_output_ok
}
openvpn_msgs() { jq -c '[.findings[] | select(.check == "openvpn") | .message]' "$T/d.json"; }

doctor --openvpn-dir "$T/server"
check "the directory's configurations are read (not skipped)" jq -e 'all(.skipped[]; .check != "openvpn")' "$T/d.json"
check "guest-0's IPv6 range is in no pool: warning" \
        finding warning openvpn "^the server's range fd00:2030::/64 \\($T/server/guest-0.conf:14\\) is in no \\[Pool\\]"
check "... with its fix" fix openvpn "[Pool] Prefix=fd00:2030::/64 in $conf"
assert_eq "only that: both /25 and /112 slices are in the pool, guest's /24 in guest's; no up hook demanded" 1 \
        "$(openvpn_msgs | jq length)"

info "a process whose range is outside every pool; an ifconfig-pool outside; DCO turned off"
ovpn default-2 tun3 "10.10.11.0 255.255.255.128" "fd00:4242:4242:4242::2:0/112" \
        "ifconfig-pool 10.10.10.200 10.99.0.9" "disable-dco"
doctor --openvpn-dir "$T/server"
check "default-2's /25 outside every pool: warning" \
        finding warning openvpn "^the server's range 10.10.11.0/25 \\($T/server/default-2.conf:13\\)"
check "ifconfig-pool end outside: warning" finding warning openvpn "^the server's range 10.99.0.9/32 "
check_fail "ifconfig-pool start inside: no finding" finding warning openvpn "^the server's range 10.10.10.200/32 "
check "disable-dco: reported" finding info openvpn "^$T/server/default-2.conf turns data-channel offload off \\(disable-dco, $T/server/default-2.conf:16\\)"
check "no finding about an up hook" jq -e 'all(.findings[]; .message | test("up hook|up /") | not)' "$T/d.json"

info "DCO: a route without its gateway on a DCO device (tun0 standing in, --assume-dco)"
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/25 dev tun0
ip -n "$NS" -6 addr add fd00:4242:4242:4242::1/112 dev tun0 nodad
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.3 dev tun0 metric 100 proto boot
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.3 dev tun0 metric 100 table 200 proto 211
ip -n "$NS" route add 10.10.10.0/25 dev tun0 table 200 proto 211
doctor --openvpn-dir "$T/server" --assume-dco
check "routes with their gateway and the connected subnet: no dco finding" no_check dco
ip -n "$NS" route add 172.16.7.0/24 dev tun0 table 200 proto 211 metric 100
ip -n "$NS" -6 route add fd00:aaaa::/64 dev tun0 metric 100 proto boot
doctor --openvpn-dir "$T/server" --assume-dco
check "v4 copy without gateway: warning" finding warning dco "^172.16.7.0/24 dev tun0 table 200 metric 100 has no gateway"
check "v6 main route without gateway: warning" finding warning dco "^fd00:aaaa::/64 dev tun0 table main metric 100 has no gateway"
check "... with the iroute fix" fix dco "iroute-ipv6 fd00:aaaa::/64 in the client's client-config-dir file (OpenVPN then routes it via the client, and vpnpolicyd copies that)"
assert_eq "exactly those two" 2 "$(jq '[.findings[] | select(.check == "dco")] | length' "$T/d.json")"
doctor --openvpn-dir "$T/server"
check "a plain tun (no --assume-dco): no dco finding" no_check dco

info "DCO expected but off: tun0 is a plain tun, default-0 does not disable DCO; default-2 (tun3) does"
tun_add "$NS" tun3
doctor --openvpn-dir "$T/server"
check "default-0 on tun0: DCO not in use, a note" \
        finding info openvpn "^DCO is not in use on tun0 although $T/server/default-0.conf does not disable it \\(module missing"
check "... with the module's fix" fix openvpn "modprobe ovpn-dco-v2  # or ovpn (Linux 6.16 and later); install ovpn-dco-dkms if it is missing"
check "... and the log's" fix openvpn "journalctl -b | grep -i dco  # OpenVPN's log says which option keeps DCO off"
check_fail "default-2 on tun3 has disable-dco: no such note" finding info openvpn "^DCO is not in use on tun3 "
check_fail "default-1's tun1 does not exist: no such note" finding info openvpn "^DCO is not in use on tun1 "
doctor --openvpn-dir "$T/server" --assume-dco
check_fail "tun0 counted as DCO (--assume-dco): no such note" finding info openvpn "^DCO is not in use on tun0 "

info "iroutes that cannot all be kernel routes under DCO: two clients' overlapping ones, one in the pool"
mkdir -p "$T/ccdsrv" "$T/ccd"
printf 'iroute 172.16.1.0 255.255.255.0\n' >"$T/ccd/alice"
printf 'iroute 172.16.1.128 255.255.255.128\n' >"$T/ccd/bob"
printf 'iroute 172.16.2.0 255.255.255.0\n' >"$T/ccd/carol"
printf 'iroute 172.16.2.0 255.255.255.0\n' >"$T/ccd/dave"
printf 'iroute 10.10.10.64 255.255.255.192\n' >"$T/ccd/erin"
printf 'iroute 172.16.3.0 255.255.255.0\niroute-ipv6 fd00:99::/48\n' >"$T/ccd/frank"
printf 'iroute-ipv6 fd00:99:0:1::/64\n' >"$T/ccd/grace"
ccd_lines=("client-config-dir $T/ccd" "route 172.16.1.0 255.255.255.0" "route 172.16.2.0 255.255.255.0"
        "route 172.16.3.0 255.255.255.0" "route-ipv6 fd00:99::/48")
OVPN_DIR=$T/ccdsrv ovpn ccd-0 tun5 "10.10.10.0 255.255.255.128" "fd00:4242:4242:4242::/112" "${ccd_lines[@]}"
overlaps() { jq '[.findings[] | select(.check == "openvpn" and (.message | test("overlap: with data-channel|is inside the server.s range")))] | length' "$T/d.json"; }
doctor --openvpn-dir "$T/ccdsrv"
check "nested iroutes of alice and bob: warning" finding warning openvpn \
        "^iroute 172.16.1.0/24 \\($T/ccd/alice:1\\) and 172.16.1.128/25 \\($T/ccd/bob:1\\) overlap: with data-channel offload"
check "... with its fix" fix openvpn "give each client a network of its own: delete the iroute line $T/ccd/alice:1 or $T/ccd/bob:1"
check "the same iroute of carol and dave: warning" finding warning openvpn \
        "^iroute 172.16.2.0/24 \\($T/ccd/carol:1\\) and 172.16.2.0/24 \\($T/ccd/dave:1\\) overlap"
check "nested IPv6 iroutes of frank and grace: warning" finding warning openvpn \
        "^iroute-ipv6 fd00:99::/48 \\($T/ccd/frank:2\\) and fd00:99:0:1::/64 \\($T/ccd/grace:1\\) overlap"
check "erin's iroute inside the server's range: warning" finding warning openvpn \
        "^iroute 10.10.10.64/26 \\($T/ccd/erin:1\\) is inside the server's range 10.10.10.0/25 \\($T/ccdsrv/ccd-0.conf:13\\)"
check "... with its fix" fix openvpn "delete the iroute line $T/ccd/erin:1 (the server's range needs no iroute)"
assert_eq "exactly those four (frank's 172.16.3.0/24 is his alone)" 4 "$(overlaps)"
OVPN_DIR=$T/ccdsrv ovpn ccd-0 tun5 "10.10.10.0 255.255.255.128" "fd00:4242:4242:4242::/112" "${ccd_lines[@]}" disable-dco
doctor --openvpn-dir "$T/ccdsrv"
assert_eq "with disable-dco OpenVPN picks the client itself: no overlap warning" 0 "$(overlaps)"

info "WireGuard devices (wireguard-go's tun named wg*; no wireguard module here): listed, unmanaged ones warned"
tun_add "$NS" wg0
ip -n "$NS" addr add 10.20.30.1/24 dev wg0
ip -n "$NS" -6 addr add fd00:2030::1/64 dev wg0 nodad
tun_add "$NS" wg1
ip -n "$NS" addr add 192.168.77.1/24 dev wg1
doctor --openvpn-dir "$T/server"
check "wg0 listed with its addresses" finding info wireguard "^WireGuard device wg0 \\(wireguard-go's tun\\): 10.20.30.1/24, fd00:2030::1/64$"
check "wg1 listed" finding info wireguard "^WireGuard device wg1 \\(wireguard-go's tun\\): 192.168.77.1/24$"
check "wg1 has no pool address: warning" finding warning wireguard \
        "^vpnpolicyd does not manage the WireGuard device wg1: it carries no address inside any policy's \\[Pool\\] Prefix=, so its clients' traffic leaves by the main table"
check "... with its fix" fix wireguard "Address = 10.10.10.1/24  # in wg1's WireGuard configuration (eduVPN: the profile's range), an address inside a pool makes it ours"
assert_eq "wg0 (in guest's pool) is managed: one warning, for wg1" 1 \
        "$(jq '[.findings[] | select(.check == "wireguard" and .severity == "warning")] | length' "$T/d.json")"
check_fail "tun0 is no WireGuard device" finding info wireguard "device tun0 "

info "an empty directory: nothing read, said so"
mkdir -p "$T/empty"
doctor --openvpn-dir "$T/empty"
check "skipped with the reason" jq -e 'any(.skipped[]; .check == "openvpn")' "$T/d.json"
finish
