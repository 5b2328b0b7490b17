#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# docs/migrating.md, step by step (issue "vpnpolicyctl"): the hand-made seed 003 recipe (rt_tables line,
# rules without protocol, routes proto boot, the up script's tun routes) is in place; the agent starts next
# to it (degraded: its default and tun routes collide with the hand-made ones), doctor lists the commands,
# they are run as printed (conflicts first: routes replaced in place; then the old rules deleted), and the
# agent is healthy with doctor clean. At every step explain shows pool traffic leaving via the gateway, and
# the event monitor shows that no route of table 200 was ever deleted: no gap.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink --no-forwarding NS GW
seed003_tun "$NS"
mkdir -p "/etc/netns/$NS/systemd"

# the recipe, as rule-eth1/route-eth1 and the ipcalc up script leave it
printf '200\tvpn\n' >>"/etc/netns/$NS/iproute2/rt_tables"
ns_exec "$NS" sh -ec '
        sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
        ip -4 rule add from 10.10.10.0/24 lookup vpn
        ip -6 rule add from fd00:4242:4242:4242::/64 lookup vpn
        ip -4 route add default via 192.168.1.1 table vpn
        ip -6 route add default via fd00:1010:1010:1010::1 table vpn
        ip -4 route add 10.10.10.0/24 dev tun0 table vpn
        ip -6 route add fd00:4242:4242:4242::/64 dev tun0 table vpn'
check "recipe: the kernel picked preference 32765" test -n "$(ip -n "$NS" rule show pref 32765)"

# path NAME: pool traffic, v4 and v6, leaves via the gateway (whoever's objects carry it)
path() {
        local v4 v6
        v4=$(ctl "$NS" explain 10.10.10.2 203.0.113.1 --iif tun0 --json | jq -c '[.kernel.routed, .kernel.result.gateway]')
        v6=$(ctl "$NS" explain fd00:4242:4242:4242::2 2001:db8::1 --iif tun0 --json |
                jq -c '[.kernel.routed, .kernel.result.gateway]')
        assert_eq "$1: traffic via the gateway" '[true,"192.168.1.1"] [true,"fd00:1010:1010:1010::1"]' "$v4 $v6"
}
path "recipe"

monitor_start "$NS" "$T/monitor.log"

# 1-2: configure with the same names, start next to the recipe
conf=$T/vpnpolicy.conf
seed003_config "$conf"
check "the rt_tables line is no clash" ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$conf"
agent_start "$NS" "$conf"
rc=0; ctl "$NS" status >/dev/null || rc=$?
assert_eq "started: degraded, the hand-made routes are in the way" 3 "$rc"
path "started"

# 3: doctor lists the commands
rc=0; ctl "$NS" doctor --json >"$T/d.json" || rc=$?
assert_eq "doctor: warnings" 3 "$rc"
mapfile -t conflicts < <(jq -r '.findings[] | select(.check == "conflict") | .fix[]' "$T/d.json")
mapfile -t rules < <(jq -r '.findings[] | select(.check == "source-rule") | .fix[] | select(startswith("ip "))' "$T/d.json")
assert_eq "doctor: three routes to convert" 3 "${#conflicts[@]}"
assert_eq "doctor: two rules to delete" 2 "${#rules[@]}"

# 4: run them as printed, conflicts first, checking the path after each
for c in "${conflicts[@]}" "${rules[@]}"; do
        info "running: $c"
        check "runs: $c" ns_exec "$NS" sh -c "$c"
        path "after: $c"
done
check "healthy" wait_until 3000 ctl "$NS" status
rc=0; ctl "$NS" doctor --json >"$T/d2.json" || rc=$?
assert_eq "doctor: clean (exit 0)" 0 "$rc"
check "doctor: no conflict or source-rule left" \
        jq -e 'all(.findings[]; .check != "conflict" and .check != "source-rule")' "$T/d2.json"
# (the tunnel's own rules, "iif tun0", are the agent's too and not counted here)
assert_eq "one rule per pool left, ours" '["vpnpolicy","vpnpolicy"]' \
        "$( (ip -n "$NS" -j -4 rule show pref 32765; ip -n "$NS" -j -6 rule show pref 32765) |
                jq -cs '[.[][] | select(has("iif") | not) | .protocol]')"

monitor_stop
check "no route of table 200 was ever deleted" bash -c "! grep -E '^(\\[[^]]*\\] *)?Deleted .*table (vpn|200)' '$T/monitor.log' | grep -v ' lookup '"
check "the routes were replaced in place (events seen)" grep -q 'default via 192.168.1.1 dev eth1 table vpn proto vpnpolicy' "$T/monitor.log"

finish
