#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Cold start on the seed 003 topology: the agent writes its rt_tables.d/rt_protos.d entries in the
# namespace's /etc/iproute2 and puts exactly the expected rules and routes in the kernel (v4 and v6,
# compared as normalized `ip -j` JSON) before READY=1; status --json says healthy with every object
# present. Also a v4-only pool (no v6 objects at all) and FailClosed=no (no unreachable routes).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

# all routes with protocol 211 in any table, as "table dst type" lines (nothing outside table 200)
our_routes_tables() {
        local f
        for f in 4 6; do
                ip -n "$1" -j -"$f" route show table all proto 211 | jq -r '.[] | "\(.table // "main")"'
        done | sort -u | tr '\n' ' '
}

ip2=$(cat /etc/iproute2/rt_tables.d/vpnpolicy.conf 2>/dev/null || echo absent)

# ---------------------------------------------------------------------------------------------------------
info "seed 003: two pools, both gateways, FailClosed=yes"
seed003_uplink NS GW
seed003_config "$T/seed003.conf" '[Tunnels]' 'Match=tun*' 'MirrorRoutes=yes' \
        '[Kernel]' 'SendRedirects=no' 'Forwarding=check' 'FailClosed=yes'

assert_eq "before start: no rules" '[]' "$(rules_json "$NS" 4)"
assert_eq "before start: table 200 empty" '[]' "$(routes_json "$NS" 4 200)"
check_fail "before start: no rt_tables.d entry" test -e "/etc/netns/$NS/iproute2/rt_tables.d/vpnpolicy.conf"

agent_start "$NS" "$T/seed003.conf"
ready_ms=$(cat "$T/ready-ms")
echo "# METRIC time-to-ready-ms $ready_ms (seed 003, 6 objects)"
check "time to READY below 2000 ms ($ready_ms ms)" test "$ready_ms" -lt 2000

# No waiting: READY=1 means the first reconcile is done, so everything must be there right now.
seed003_exact "$NS" "at READY"
assert_eq "proto 211 routes only in table vpn" "vpn " "$(our_routes_tables "$NS")"
assert_eq "main table untouched (v4)" \
        '[{"dst":"192.168.1.0/24","dev":"eth1","type":"unicast","metric":0,"protocol":"kernel"}]' \
        "$(routes_json "$NS" 4 main | jq -c '[.[] | del(.prefsrc)]')"

d=/etc/netns/$NS/iproute2
check "rt_tables.d/vpnpolicy.conf says '200 vpn'" grep -qP '^200\s+vpn$' "$d/rt_tables.d/vpnpolicy.conf"
check "rt_protos.d/vpnpolicy.conf says '211 vpnpolicy'" grep -qP '^211\s+vpnpolicy$' "$d/rt_protos.d/vpnpolicy.conf"
assert_eq "rt_tables.d: one entry, nothing else" 1 "$(grep -cvE '^\s*(#|$)' "$d/rt_tables.d/vpnpolicy.conf")"
assert_eq "rt_protos.d: one entry, nothing else" 1 "$(grep -cvE '^\s*(#|$)' "$d/rt_protos.d/vpnpolicy.conf")"
check "rt_tables itself left alone" grep -qxP '254\tmain' "$d/rt_tables"
check_fail "no temp files left in rt_tables.d" sh -c "ls -A '$d/rt_tables.d' '$d/rt_protos.d' | grep -v '^vpnpolicy.conf$' | grep -v ':$' | grep ."
assert_eq "host /etc/iproute2/rt_tables.d untouched" "$ip2" \
        "$(cat /etc/iproute2/rt_tables.d/vpnpolicy.conf 2>/dev/null || echo absent)"
check "ip shows names: 'lookup vpn proto vpnpolicy'" \
        grep -q '^32765:.*from 10.10.10.0/24 lookup vpn proto vpnpolicy' <(ns_exec "$NS" ip rule show)

rc=0
st=$(ctl "$NS" status --json) || rc=$?
assert_eq "status --json exit 0 (healthy)" 0 "$rc"
check "status --json is JSON" jq -e . <<<"$st"
assert_eq "status: schema 1, healthy, our pid" "{\"schema\":1,\"health\":\"healthy\",\"pid\":$AGENT_PID}" \
        "$(jq -c '{schema, health, pid}' <<<"$st")"
assert_eq "status: config as loaded" \
        "{\"files\":[\"$T/seed003.conf\"],\"table\":{\"name\":\"vpn\",\"id\":200,\"priority\":32765},
          \"pools\":[\"10.10.10.0/24\",\"fd00:4242:4242:4242::/64\"],
          \"gateway\":{\"ipv4\":\"192.168.1.1\",\"ipv6\":\"fd00:1010:1010:1010::1\",\"device\":null},\"fail_closed\":true}" \
        "$(jq -c .config <<<"$st")"
assert_eq "status: the six objects by kind/role/family, all present" \
        '[{"kind":"rule","role":"source-rule","family":"ipv4","present":true},
          {"kind":"rule","role":"source-rule","family":"ipv6","present":true},
          {"kind":"route","role":"default-route","family":"ipv4","present":true},
          {"kind":"route","role":"default-route","family":"ipv6","present":true},
          {"kind":"route","role":"fail-closed","family":"ipv4","present":true},
          {"kind":"route","role":"fail-closed","family":"ipv6","present":true}]' \
        "$(jq -c '[.objects[] | {kind, role, family, present}]' <<<"$st")"
check "status: every object has a since, no failures, not blocked" \
        jq -e 'all(.objects[]; .since != null and .failures == 0 and .restores == 0 and .blocked == null and .last_error == null)' <<<"$st"
check "status: no errors, no failed operations, no restores" \
        jq -e '.last_error == null and .counters.failed_operations == 0 and .counters.netlink_errors == 0 and .counters.restores == 0 and .counters.overruns == 0' <<<"$st"
check "status: counters present and numeric" jq -e '.counters | (keys | length) >= 10 and all(.[]; type == "number")' <<<"$st"
check "status: version and uptime" jq -e '(.version | type == "string") and .uptime_usec >= 0 and (.started | test("^[0-9]{4}-"))' <<<"$st"
rc=0
ctl "$NS" status >"$T/status.txt" || rc=$?
assert_eq "status (human) exit 0" 0 "$rc"
check "status (human) says healthy" grep -q 'healthy' "$T/status.txt"

# A second look a bit later: nothing changed by itself (no churn after READY).
sleep 0.5
assert_eq "0.5 s later: same v4 rules" "$RULES4" "$(rules_json "$NS" 4)"
assert_eq "0.5 s later: same v6 routes" "$ROUTES6" "$(routes_json "$NS" 6 200)"
check "0.5 s later: no restores, one-digit reconcile passes" \
        jq -e '.counters.restores == 0 and .counters.reconcile_passes < 10' <<<"$(ctl "$NS" status --json)"
agent_stop
assert_eq "SIGTERM: exit status 0" 0 "$AGENT_RC"

# ---------------------------------------------------------------------------------------------------------
info "v4 pool only: no v6 object at all"
seed003_uplink NS2 GW2
cat >"$T/v4only.conf" <<'CONF'
[Pool]
Prefix=10.10.10.0/24
[Gateway]
IPv4=192.168.1.1
CONF
agent_start "$NS2" "$T/v4only.conf"
assert_eq "v4-only: v4 rule" "$RULES4" "$(rules_json "$NS2" 4)"
assert_eq "v4-only: v4 routes incl. fail-closed" "$ROUTES4" "$(routes_json "$NS2" 4 200)"
assert_eq "v4-only: no v6 rule" '[]' "$(rules_json "$NS2" 6)"
assert_eq "v4-only: no v6 route (no fail-closed for a family without pool)" '[]' "$(routes_json "$NS2" 6 200)"
assert_eq "v4-only: status lists 3 objects" 3 "$(ctl "$NS2" status --json | jq '.objects | length')"

# ---------------------------------------------------------------------------------------------------------
info "FailClosed=no: no unreachable routes"
seed003_uplink NS3 GW3
sed 's/^FailClosed=yes/FailClosed=no/' "$T/seed003.conf" >"$T/open.conf"
agent_start "$NS3" "$T/open.conf"
assert_eq "FailClosed=no: v4 default only" "$(jq -c '[.[] | select(.type == "unicast")]' <<<"$ROUTES4")" \
        "$(routes_json "$NS3" 4 200)"
assert_eq "FailClosed=no: v6 default only" "$(jq -c '[.[] | select(.type == "unicast")]' <<<"$ROUTES6")" \
        "$(routes_json "$NS3" 6 200)"
assert_eq "FailClosed=no: both rules" "$RULES6" "$(rules_json "$NS3" 6)"
st=$(ctl "$NS3" status --json || true)
check "FailClosed=no: status fail_closed false, no fail-closed object" \
        jq -e '.config.fail_closed == false and ([.objects[] | select(.role == "fail-closed")] | length) == 0' <<<"$st"

finish
