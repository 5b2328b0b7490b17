#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Restarts: SIGTERM leaves every object in place (exit 0), and a restart adopts them with no kernel
# change at all. After kill -9, a restarted agent adopts what it still wants (no deletion, no re-add of a
# desired object, proven by `ip monitor` running across the restart) and removes the stale objects of its
# protocol (a rule for a pool no longer configured, a route in table 200 from an old config), and only
# those: foreign objects next to them stay. A config changed while the agent was down is applied at
# start: a new gateway replaces our route in place (no deletion), a new table id moves everything.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink NS GW
ip -n "$GW" addr add 192.168.1.2/24 dev eth0              # a second gateway for a config changed while down
conf=$T/vpnpolicy.conf
seed003_config "$conf"

# foreign objects that stay through everything
FOREIGN_RULE='{"priority":1000,"src":"10.99.0.0","srclen":24,"table":"vpn","protocol":"static"}'
FOREIGN_ROUTE='{"dst":"10.98.0.0/24","dev":"eth1","type":"unicast","metric":0,"protocol":"static"}'

exact() { # WHAT [EXTRA_RULE4]: the whole v4/v6 state is ours + foreign (+ the extra rule)
        seed003_exact "$NS" "$1" "[$FOREIGN_RULE${2:+,$2}]" "[$FOREIGN_ROUTE]"
}

agent_start "$NS" "$conf"
ip -n "$NS" rule add pref 1000 from 10.99.0.0/24 lookup 200 proto static
ip -n "$NS" route add 10.98.0.0/24 dev eth1 table 200 proto static
exact "first start"

# ---------------------------------------------------------------------------------------------------------
info "SIGTERM leaves everything in place"
monitor_start "$NS" "$T/mon-term"
old_pid=$AGENT_PID
agent_stop TERM
assert_eq "SIGTERM: exit status 0" 0 "$AGENT_RC"
check "SIGTERM: STOPPING=1 sent" notify_wait "$NS" STOPPING=1 1000
sleep 0.3
exact "after SIGTERM"
check "the agent is gone" _vpt_dead "$old_pid"
rc=0
ctl "$NS" status >/dev/null 2>&1 || rc=$?
assert_eq "status with no agent: exit 4 (unreachable)" 4 "$rc"
agent_start "$NS" "$conf"
sleep 0.3
monitor_stop
check_fail "SIGTERM + restart: no kernel change at all (monitor empty)" grep -q . "$T/mon-term"
exact "restart after SIGTERM"
st=$(ctl "$NS" status --json || true)
check "restart after SIGTERM: healthy, all present, nothing restored" \
        jq -e '.health == "healthy" and all(.objects[]; .present) and .counters.restores == 0' <<<"$st"

# ---------------------------------------------------------------------------------------------------------
info "kill -9, stale objects of ours appear, restart"
agent_kill9
assert_eq "kill -9: status 137" 137 "$AGENT_RC"
exact "after kill -9"
monitor_start "$NS" "$T/mon-kill"
# stale: carries our protocol, but no config wants it (in an old config, 10.99.0.0/24 was a pool)
ip -n "$NS" rule add pref 32765 from 10.99.0.0/24 lookup 200 proto 211
ip -n "$NS" route add 10.99.0.0/24 dev eth1 table 200 proto 211
ip -n "$NS" -6 rule add pref 32765 from fd00:99::/64 lookup 200 proto 211
ip -n "$NS" -6 route add fd00:99::/64 dev eth1 table 200 proto 211
# a foreign twin of the stale rule (same selector, proto static): not ours, must stay
ip -n "$NS" rule add pref 32765 from 10.99.0.0/24 lookup 200 proto static
TWIN='{"priority":32765,"src":"10.99.0.0","srclen":24,"table":"vpn","protocol":"static"}'
agent_start "$NS" "$conf"
check "stale v4 rule removed" wait_until 2000 eval \
        '[[ $(rules_json "$NS" 4 vpnpolicy | jq "map(select(.src == \"10.99.0.0\")) | length") == 0 ]]'
check "stale v4 route removed" wait_until 2000 eval '[[ -z $(ip -n "$NS" route show table 200 10.99.0.0/24) ]]'
check "stale v6 rule removed" wait_until 2000 eval '[[ $(rules_json "$NS" 6 | jq length) == 1 ]]'
check "stale v6 route removed" wait_until 2000 eval '[[ -z $(ip -n "$NS" -6 route show table 200 fd00:99::/64) ]]'
sleep 0.2
monitor_stop
exact "restart after kill -9" "$TWIN"

deleted=$(grep -E '^\[[^]]*\] Deleted' "$T/mon-kill" | sed -E 's/^\[[^]]*\] Deleted //' | sort)
info "deleted during the restart:"
sed 's/^/#   /' <<<"$deleted"
assert_eq "exactly 4 deletions, the stale ones" 4 "$(grep -c . <<<"$deleted")"
check_fail "no deletion of a desired rule (10.10.10.0/24 or fd00:4242:4242:4242::/64)" \
        grep -E '10\.10\.10\.0/24|fd00:4242:4242:4242::/64' <<<"$deleted"
check_fail "no deletion of a desired route (default)" grep -E '^(unreachable )?default' <<<"$deleted"
check_fail "no deletion of a foreign object (proto static)" grep 'proto static' <<<"$deleted"
check "the stale v4 rule is among the deletions" grep -q '32765:.*from 10.99.0.0/24 lookup vpn proto vpnpolicy' <<<"$deleted"
check "the stale v4 route is among the deletions" grep -q '^10.99.0.0/24 dev eth1 table vpn proto vpnpolicy' <<<"$deleted"
# adoption: no re-add either (a replace would show as a new-route line without a deletion)
check_fail "no add or replace of a desired object" \
        grep -vE '^\[[^]]*\] (Deleted |32765:.*from (10\.99\.0\.0/24|fd00:99::/64)|10\.99\.0\.0/24|fd00:99::/64)' "$T/mon-kill"
st=$(ctl "$NS" status --json || true)
check "after the restart: healthy, all 6 present, no restores" \
        jq -e '.health == "healthy" and (.objects | length) == 6 and all(.objects[]; .present) and .counters.restores == 0' <<<"$st"
check "the foreign twin rule stayed" \
        jq -e -n --argjson t "$TWIN" --argjson r "$(rules_json "$NS" 4)" '$r | index([$t]) != null'

# ---------------------------------------------------------------------------------------------------------
info "kill -9 with an object missing: the restart restores it (no stale list needed)"
agent_kill9
ip -n "$NS" -6 rule del pref 32765 from fd00:4242:4242:4242::/64 lookup 200
ip -n "$NS" route del unreachable default table 200 metric 4294967295
agent_start "$NS" "$conf"
assert_eq "at READY: v6 rule back" "$RULES6" "$(rules_json "$NS" 6)"
assert_eq "at READY: v4 routes back" "$(jq -c --argjson f "$FOREIGN_ROUTE" '. + [$f]' <<<"$ROUTES4")" "$(routes_json "$NS" 4 200)"
check "healthy" ctl "$NS" status

# ---------------------------------------------------------------------------------------------------------
info "the gateway changed while the agent was down: our route is replaced in place"
agent_kill9
sed -i 's/^IPv4=192.168.1.1$/IPv4=192.168.1.2/' "$conf"
monitor_start "$NS" "$T/mon-gw"
agent_start "$NS" "$conf"
sleep 0.2
monitor_stop
assert_eq "new gateway: v4 routes" \
        "$(jq -c --argjson f "$FOREIGN_ROUTE" '. + [$f] | map(if .gateway then .gateway = "192.168.1.2" else . end)' <<<"$ROUTES4")" \
        "$(routes_json "$NS" 4 200)"
sed 's/^/#   /' "$T/mon-gw"
check_fail "new gateway: no deletion (replaced, no gap)" grep -q Deleted "$T/mon-gw"
assert_eq "new gateway: a single event, the new route" 1 "$(grep -c 'default via 192.168.1.2 dev eth1 table vpn' "$T/mon-gw")"
assert_eq "new gateway: nothing else happened" 1 "$(grep -c . "$T/mon-gw")"

# ---------------------------------------------------------------------------------------------------------
info "the table id changed while the agent was down (SIGTERM, Id=201, start)"
agent_stop TERM
sed -i -e 's/^Id=200$/Id=201/' -e 's/^IPv4=192.168.1.2$/IPv4=192.168.1.1/' "$conf"
agent_start "$NS" "$conf"
assert_eq "Id=201: table 200 keeps only the foreign route" "[$FOREIGN_ROUTE]" "$(routes_json "$NS" 4 200)"
assert_eq "Id=201: no v6 route left in table 200" '[]' "$(routes_json "$NS" 6 200)"
assert_eq "Id=201: v4 routes in table 201" "$ROUTES4" "$(routes_json "$NS" 4 201)"
assert_eq "Id=201: v6 routes in table 201" "$ROUTES6" "$(routes_json "$NS" 6 201)"
check "Id=201: no rule of ours looks up 200" \
        test -z "$(ip -n "$NS" -4 rule show table 200 | grep -v 'proto static'; ip -n "$NS" -6 rule show table 200)"
check "Id=201: the foreign rule (pref 1000, lookup 200) stays" test -n "$(ip -n "$NS" -4 rule show pref 1000 table 200)"
assert_eq "Id=201: our rules look up 201" 2 "$({ ip -n "$NS" -4 rule show table 201; ip -n "$NS" -6 rule show table 201; } | grep -c 'pref\|^32765')"
check "Id=201: healthy" ctl "$NS" status

finish
