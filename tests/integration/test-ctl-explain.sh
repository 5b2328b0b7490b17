#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vpnpolicyctl explain SRC DST [--iif DEV] [--json] (issue "vpnpolicyctl"): the rule, table, route and
# result the kernel gives a packet, for the seed 003 setup kept by the agent, IPv4 and IPv6: a tun route
# (client to client), the default route via the gateway, fail-closed (the gateway's device down: the
# kernel drops the gateway route, our unreachable route is left), a foreign rule at a lower preference
# that takes the pool's traffic, the iif inferred from the route back to the source, a local packet, and
# all of it again with the agent stopped (explain needs only netlink). Usage errors exit 2.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink --no-forwarding NS GW
ip -n "$NS" route add default via 192.168.1.1 dev eth1         # the host's own default route (main)
seed003_tun "$NS"

conf=$T/vpnpolicy.conf
seed003_config "$conf" '[Kernel]' 'Forwarding=enable'
agent_start "$NS" "$conf"
wait_until 3000 test -n "$(ip -n "$NS" -6 route show table 200 default via fd00:1010:1010:1010::1)" ||
        die "the agent did not add the v6 default route"

# explain_json ARGS...: explain --json in NS, output in $T/x.json, exit status in XRC
explain_json() {
        XRC=0
        ctl "$NS" explain "$@" --json >"$T/x.json" 2>"$T/x.err" || XRC=$?
}
jx() { jq -r "$1" "$T/x.json"; }

explain_text() { ctl "$NS" explain "$@" 2>&1; }

# ---- the default route via the gateway, IPv4 and IPv6
out=$(explain_text 10.10.10.2 203.0.113.1 --iif tun0)
check "v4 default: rule named, ours" grep -qx 'rule 32765: from 10.10.10.0/24 lookup vpn (ours)' <<<"$out"
check "v4 default: table named" grep -qx 'table vpn (200)' <<<"$out"
check "v4 default: route" grep -q '^route: default via 192.168.1.1 dev eth1 proto vpnpolicy (ours)$' <<<"$out"
check "v4 default: result" grep -qx 'result: forwarded via 192.168.1.1 dev eth1' <<<"$out"

explain_json 10.10.10.2 203.0.113.1 --iif tun0
assert_eq "v4 default: exit 0" 0 "$XRC"
assert_eq "v4 default: json" '{"rule":32765,"ours":true,"table":200,"name":"vpn","gw":"192.168.1.1","dev":"eth1","routed":true}' \
        "$(jq -c '{rule: .rule.priority, ours: .rule.ours, table: .rule.table.id, name: .rule.table.name,
                   gw: .route.gateway, dev: .kernel.result.dev, routed: .kernel.routed}' "$T/x.json")"

out=$(explain_text fd00:4242:4242:4242::2 2001:db8::1 --iif tun0)
check "v6 default: rule" grep -qx 'rule 32765: from fd00:4242:4242:4242::/64 lookup vpn (ours)' <<<"$out"
check "v6 default: route" grep -q '^route: default via fd00:1010:1010:1010::1 dev eth1 proto vpnpolicy metric 1024 (ours)$' <<<"$out"
check "v6 default: result" grep -qx 'result: forwarded via fd00:1010:1010:1010::1 dev eth1' <<<"$out"

# ---- the tun route: client to client stays on tun0, through table vpn
out=$(explain_text 10.10.10.2 10.10.10.3 --iif tun0)
check "v4 tun route" grep -q '^route: 10.10.10.0/24 dev tun0 proto vpnpolicy (ours)$' <<<"$out"
check "v4 tun route: result" grep -qx 'result: forwarded dev tun0' <<<"$out"
out=$(explain_text fd00:4242:4242:4242::2 fd00:4242:4242:4242::3 --iif tun0)
check "v6 tun route" grep -q '^route: fd00:4242:4242:4242::/64 dev tun0 proto vpnpolicy metric 256 (ours)$' <<<"$out"

# ---- without --iif: the device that routes the source back; a local source is an output lookup
out=$(explain_text 10.10.10.2 203.0.113.1)
check "iif inferred" grep -q '^packet: 10.10.10.2 -> 203.0.113.1, in on tun0, the device that routes the source (IPv4)$' <<<"$out"
explain_json 192.168.1.100 203.0.113.1
assert_eq "local packet: main table via the host's default route" '{"iif":"lo","rule":32766,"table":"main","proto":"boot"}' \
        "$(jq -c '{iif: .packet.iif, rule: .rule.priority, table: .rule.table.name, proto: .route.protocol}' "$T/x.json")"

# ---- a foreign rule at a lower preference takes the pool's traffic
ip -n "$NS" route add default via 192.168.1.1 dev eth1 table 100 proto static
ip -n "$NS" rule add pref 100 from 10.10.0.0/16 lookup 100 proto static
out=$(explain_text 10.10.10.2 203.0.113.1 --iif tun0)
check "foreign rule: named" grep -qx 'rule 100: from 10.10.0.0/16 lookup 100 (foreign, proto static)' <<<"$out"
check "foreign rule: table" grep -qx 'table 100' <<<"$out"
check "foreign rule: note" grep -q '^note: a foreign rule at preference 100 comes before ours at 32765' <<<"$out"
ip -n "$NS" -6 route add default via fd00:1010:1010:1010::1 dev eth1 table 100 proto static
ip -n "$NS" -6 rule add pref 100 from fd00:4242::/32 lookup 100 proto static
explain_json fd00:4242:4242:4242::2 2001:db8::1 --iif tun0
assert_eq "v6 foreign rule" '{"rule":100,"ours":false,"proto":"static","table":100}' \
        "$(jq -c '{rule: .rule.priority, ours: .rule.ours, proto: .rule.protocol, table: .kernel.result.table}' "$T/x.json")"
ip -n "$NS" rule del pref 100 from 10.10.0.0/16 lookup 100
ip -n "$NS" -6 rule del pref 100 from fd00:4242::/32 lookup 100

# ---- fail-closed: eth1 down, the kernel drops the gateway routes, our unreachable ones decide
ip -n "$NS" link set eth1 down
explain_json 10.10.10.2 203.0.113.1 --iif tun0
assert_eq "v4 fail-closed: json" '{"rule":32765,"type":"unreachable","fail_closed":true,"routed":false,"error":"No route to host"}' \
        "$(jq -c '{rule: .rule.priority, type: .route.type, fail_closed: .route.fail_closed, routed: .kernel.routed,
                   error: .kernel.error}' "$T/x.json")"
assert_eq "v4 fail-closed: explain still exits 0" 0 "$XRC"
out=$(explain_text 10.10.10.2 203.0.113.1 --iif tun0)
check "v4 fail-closed: text" grep -q '^route: unreachable default proto vpnpolicy metric 4294967295 (ours, fail-closed)$' <<<"$out"
check "v4 fail-closed: dropped" grep -q '^result: dropped: No route to host (fail-closed' <<<"$out"
explain_json fd00:4242:4242:4242::2 2001:db8::1 --iif tun0
assert_eq "v6 fail-closed" '{"type":"unreachable","fail_closed":true,"ours":true}' \
        "$(jq -c '{type: .route.type, fail_closed: .route.fail_closed, ours: .route.ours}' "$T/x.json")"
check "v6 fail-closed: the kernel does not route it" test "$(jx .kernel.routed)" = false

# ---- the agent is not needed: stop it (objects stay), explain again
ip -n "$NS" link set eth1 up
agent_stop
ip -n "$NS" route replace default via 192.168.1.1 dev eth1 table 200 proto 211
out=$(explain_text 10.10.10.2 203.0.113.1 --iif tun0)
check "no agent: still explained" grep -qx 'result: forwarded via 192.168.1.1 dev eth1' <<<"$out"

# ---- forwarding off: the kernel refuses forwarded packets, explain says why
ns_exec "$NS" sysctl -qw net.ipv4.ip_forward=0
out=$(explain_text 10.10.10.2 203.0.113.1 --iif tun0)
check "forwarding off: note and fix" grep -q '^note: forwarding is off for IPv4 on tun0.*fix: sysctl -w net.ipv4.ip_forward=1$' <<<"$out"
ns_exec "$NS" sysctl -qw net.ipv4.ip_forward=1

# ---- usage and failures
rc=0; ctl "$NS" explain 10.10.10.2 >/dev/null 2>&1 || rc=$?
assert_eq "one address: usage error" 2 "$rc"
rc=0; ctl "$NS" explain 10.10.10.2 2001:db8::1 >/dev/null 2>&1 || rc=$?
assert_eq "mixed families: usage error" 2 "$rc"
rc=0; ctl "$NS" explain 10.10.10.2 nonsense >/dev/null 2>&1 || rc=$?
assert_eq "not an address: usage error" 2 "$rc"
rc=0; ctl "$NS" explain 10.10.10.2 203.0.113.1 --iif nosuch0 >/dev/null 2>&1 || rc=$?
assert_eq "unknown device: failure" 1 "$rc"

finish
