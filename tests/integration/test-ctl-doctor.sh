#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vpnpolicyctl doctor, kernel checks (issue "vpnpolicyctl"): a clean seed 003 setup kept by the agent gives
# no error or warning (exit 0; the return routes the gateway needs are notes, with the exact commands).
# Then one fault at a time, each asserted with its finding, severity, fix text and exit status (1 errors,
# 3 warnings only), and where the fix is a command, it is run and the finding is gone: ICMP redirects on,
# a foreign rule before ours (and a harmless duplicate of ours), the gateway's neighbour entry FAILED,
# INCOMPLETE and absent, forwarding off on a tun, a [Gateway] Device= that does not exist (no default
# route, degraded agent), the agent stopped, forwarding off, strict rp_filter dropping client-to-client
# traffic, the policy table empty and the source rules gone.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink --no-forwarding NS GW
seed003_tun "$NS"
# The host's systemd and NetworkManager files are not this namespace's: an empty /etc/systemd inside.
mkdir -p "/etc/netns/$NS/systemd"

conf=$T/vpnpolicy.conf
# write_conf [LINE...]: the seed 003 configuration with Forwarding=enable (and LINEs) into $conf
write_conf() { seed003_config "$conf" '[Kernel]' 'Forwarding=enable' "$@"; }

# doctor [ARGS...]: doctor --json in NS into $T/d.json; exit status in DRC
doctor() {
        DRC=0
        ctl "$NS" doctor --json "$@" >"$T/d.json" 2>"$T/d.err" || DRC=$?
        doctor_output_ok
}
# problems: the errors and warnings, one "severity check: message" line each
problems() { jq -r '.findings[] | select(.severity != "info") | "\(.severity) \(.check): \(.message)"' "$T/d.json"; }

# ---- clean
write_conf
agent_start "$NS" "$conf"
wait_until 3000 test -n "$(ip -n "$NS" -6 route show table 200 default)" || die "no v6 default route"
ns_exec "$NS" ping -c 1 -W 2 192.168.1.1 >/dev/null
ns_exec "$NS" ping -c 1 -W 2 fd00:1010:1010:1010::1 >/dev/null
doctor
assert_eq "clean: no error or warning" "" "$(problems)"
assert_eq "clean: exit 0" 0 "$DRC"
check "clean: the NAT router's return route, v4" fix return-route "ip route add 10.10.10.0/24 via 192.168.1.100"
check "clean: the NAT router's return route, v6" fix return-route "ip -6 route add fd00:4242:4242:4242::/64 via fd00:1010:1010:1010::100"
check "clean: agent found" jq -e '.agent == true and .schema == 1' "$T/d.json"
out=$(ctl "$NS" doctor) || true
check "clean: human output sums up" grep -qx '0 error(s), 0 warning(s), 2 note(s).' <<<"$out"

# ---- ICMP redirects on for a managed tun (seed 002)
ns_exec "$NS" sysctl -qw net.ipv4.conf.tun0.send_redirects=1
doctor
check "redirects: warning" finding warning send-redirects 'ICMP redirects from tun0'
check "redirects: fix" fix send-redirects "sysctl -w net.ipv4.conf.tun0.send_redirects=0"
assert_eq "redirects: exit 3 (warnings only)" 3 "$DRC"
ns_exec "$NS" sysctl -qw net.ipv4.conf.tun0.send_redirects=0
ns_exec "$NS" sysctl -qw net.ipv4.conf.all.send_redirects=1
doctor
check "redirects via all: fix names all" \
        fix send-redirects "sysctl -w net.ipv4.conf.all.send_redirects=0"
ns_exec "$NS" sysctl -qw net.ipv4.conf.all.send_redirects=0

# ---- a foreign rule before ours takes the pool's traffic
ip -n "$NS" route add default via 192.168.1.1 dev eth1 table 100 proto static
ip -n "$NS" rule add pref 100 from 10.10.0.0/16 lookup 100 proto static
doctor
check "shadow: error" finding error source-rule '^the foreign rule 100: from 10.10.0.0/16 lookup 100 comes before ours'
check "shadow: fix" fix source-rule "ip -4 rule del pref 100 from 10.10.0.0/16 lookup 100 proto static"
check "shadow: other fix" fix source-rule "or put ours first: [Table] Priority=99 in $conf"
assert_eq "shadow: exit 1" 1 "$DRC"
ns_exec "$NS" ip -4 rule del pref 100 from 10.10.0.0/16 lookup 100 proto static
doctor
check "shadow: gone after the fix" no_check source-rule
# a leftover of the hand-made recipe: same table, before ours: harmless, a note
ip -n "$NS" rule add pref 32000 from 10.10.10.0/24 lookup 200 proto static
doctor
check "duplicate: a note" finding info source-rule 'also sends to our table'
check "duplicate: fix" fix source-rule "ip -4 rule del pref 32000 from 10.10.10.0/24 lookup vpn proto static"
assert_eq "duplicate: exit 0" 0 "$DRC"
ip -n "$NS" rule del pref 32000

# ---- the gateway's neighbour entry
ip -n "$NS" neigh del 192.168.1.1 dev eth1 2>/dev/null || true
ip -n "$NS" neigh add 192.168.1.1 dev eth1 nud failed
doctor
check "neigh FAILED: error" finding error gateway '^the gateway 192.168.1.1 cannot be reached on eth1.*FAILED'
check "neigh FAILED: fix" fix gateway \
        "ping -c 1 -I eth1 192.168.1.1; ip neigh show 192.168.1.1 dev eth1 (check the link and the router at 192.168.1.1)"
assert_eq "neigh FAILED: exit 1" 1 "$DRC"
ip -n "$NS" neigh replace 192.168.1.1 dev eth1 nud incomplete
doctor
check "neigh INCOMPLETE: warning" finding warning gateway 'cannot be reached on eth1.*INCOMPLETE'
ip -n "$NS" neigh del 192.168.1.1 dev eth1
doctor
check "neigh absent: a note" finding info gateway '^no neighbour entry for the gateway 192.168.1.1 on eth1'
check "neigh absent: fix" fix gateway "ping -c 1 -I eth1 192.168.1.1"
ns_exec "$NS" ping -c 1 -W 2 192.168.1.1 >/dev/null

# ---- forwarding off on a managed tun (IPv4 decides per input device)
ns_exec "$NS" sysctl -qw net.ipv4.conf.tun0.forwarding=0
doctor
check "tun forwarding off: error" finding error forwarding '^IPv4 forwarding is off on tun0'
check "tun forwarding off: fix" fix forwarding "sysctl -w net.ipv4.conf.tun0.forwarding=1"
ns_exec "$NS" sysctl -qw net.ipv4.conf.tun0.forwarding=1

# ---- [Gateway] Device= that does not exist: no default route, only fail-closed; the agent degraded
agent_stop
ip -n "$NS" route del default via 192.168.1.1 table 200
ip -n "$NS" -6 route del default via fd00:1010:1010:1010::1 table 200
write_conf '[Gateway]' 'Device=eth9'
agent_start "$NS" "$conf"
doctor
check "no device: error" finding error gateway '^\[Gateway\] Device=eth9: no such device'
check "no device: fix" fix gateway "ip link show; then [Gateway] Device=DEV (the device on 192.168.1.1's subnet) in $conf"
check "no device: default route missing, fail-closed" \
        finding error default-route '^table vpn has no IPv4 default route via the gateway, only unreachable default'
check "no device: agent degraded" finding warning agent '^vpnpolicyd wants default via 192.168.1.1 .* not there: the gateway device does not exist'
assert_eq "no device: exit 1" 1 "$DRC"
agent_stop
write_conf
ip -n "$NS" route replace default via 192.168.1.1 dev eth1 table 200 proto vpnpolicy
ip -n "$NS" -6 route replace default via fd00:1010:1010:1010::1 dev eth1 table 200 proto vpnpolicy

# ---- the agent stopped: objects stay (SIGTERM), doctor says nothing keeps them
doctor --config "$conf"
check "no agent: warning" finding warning agent 'not reachable at .*: nothing keeps the policy'
check "no agent: fix" fix agent "systemctl enable --now vpnpolicyd"
check "no agent: openvpn skipped" jq -e 'any(.skipped[]; .check == "openvpn")' "$T/d.json"
check "no agent: agent false" jq -e '.agent == false' "$T/d.json"

# ---- forwarding off
ns_exec "$NS" sysctl -qw net.ipv4.ip_forward=0
doctor --config "$conf"
check "forwarding off: error" finding error forwarding '^IPv4 forwarding is off \(net.ipv4.ip_forward = 0\)'
check "forwarding off: fix" fix forwarding "sysctl -w net.ipv4.ip_forward=1"
check "forwarding off: config fix" fix forwarding "[Kernel] Forwarding=enable in $conf (vpnpolicyd then turns it on)"
assert_eq "forwarding off: exit 1" 1 "$DRC"
ns_exec "$NS" sysctl -qw net.ipv4.ip_forward=1

# ---- strict rp_filter on tun0 drops client-to-client traffic once table vpn has no tun route
ip -n "$NS" route del 10.10.10.0/24 dev tun0 table 200
ns_exec "$NS" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.tun0.rp_filter=1
doctor --config "$conf"
check "rp_filter: error" finding error rp-filter '^strict reverse-path filtering on tun0 \(rp_filter = 1\) drops pool traffic from 10.10.10.2 to 10.10.10.3: the route back to 10.10.10.2 is default via 192.168.1.1 dev eth1'
check "rp_filter: fix" fix rp-filter "sysctl -w net.ipv4.conf.tun0.rp_filter=2"
ns_exec "$NS" sysctl -qw net.ipv4.conf.tun0.rp_filter=2
doctor --config "$conf"
check "rp_filter: gone after the fix" no_check rp-filter
ns_exec "$NS" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tun0.rp_filter=0

# ---- the policy table empty, the source rules gone
ip -n "$NS" route flush table 200
ip -n "$NS" -6 route flush table 200
# (ip -6 route flush leaves reject routes)
ip -n "$NS" -6 route del unreachable default table 200 metric 4294967295
doctor --config "$conf"
check "empty table: v4 error" finding error default-route '^table vpn has no IPv4 route for pool traffic: it falls through'
check "empty table: v6 error" finding error default-route '^table vpn has no IPv6 route for pool traffic'
check "empty table: fix" fix default-route \
        'systemctl enable --now vpnpolicyd (it adds `ip -4 route add default via 192.168.1.1 table vpn proto vpnpolicy`)'
ip -n "$NS" rule del pref 32765 from 10.10.10.0/24
doctor --config "$conf"
check "no rule: error" finding error source-rule '^no rule sends pool 10.10.10.0/24 to table vpn'
check "no rule, v6 still there" jq -e 'all(.findings[]; (.message | test("no rule sends pool fd00")) | not)' "$T/d.json"

# ---- usage
rc=0; ctl "$NS" doctor --bogus >/dev/null 2>&1 || rc=$?
assert_eq "unknown option: usage error" 2 "$rc"
rc=0; ctl "$NS" doctor extra >/dev/null 2>&1 || rc=$?
assert_eq "stray argument: usage error" 2 "$rc"

finish
