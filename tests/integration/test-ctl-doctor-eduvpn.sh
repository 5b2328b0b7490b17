#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vpnpolicyctl doctor on an eduVPN 3.x node (issue 14): the server configurations are read from the
# openvpn-server@ directory (--openvpn-dir, default /etc/openvpn/server), one per process, generated
# without an up hook and with a "do not edit" header: no hook is demanded. Each process's split range
# (server /25, server-ipv6 /112, ifconfig-pool) is checked against the pools of every policy: one
# outside them all is a warning with its fix; disable-dco is reported (DCO silently off). A route into a
# DCO device without a gateway (beyond its connected subnet) is a warning: there is no DCO module here, so
# tun0 stands in for one with --assume-dco, and without it (a plain tun) the same route is no finding.
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
# ovpn NAME DEV RANGE4 RANGE6 [LINE...]: a configuration as vpn-server-node 3.x writes it
ovpn() {
        local f=$T/server/$1.conf
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

info "an empty directory: nothing read, said so"
mkdir -p "$T/empty"
doctor --openvpn-dir "$T/empty"
check "skipped with the reason" jq -e 'any(.skipped[]; .check == "openvpn")' "$T/d.json"
finish
