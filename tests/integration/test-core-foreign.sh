#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Foreign objects (any protocol other than 211) are never touched: rules at other preferences, rules with
# exactly our selector (pref 32765 from POOL lookup 200, proto static), a rule at our preference for
# another source, routes of other protocols in table 200. They exist before the agent starts and survive
# the start, a reload (same config and one that drops a pool, so the agent deletes its own twin of a
# foreign rule), restoring a deleted object of ours, and SIGTERM. A foreign route with the same key as
# our default route is not replaced: the agent reports it and takes over only once it is gone.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

# status_field NS JQ: one value from status --json
status_field() { ctl "$1" status --json | jq -r "$2"; }

seed003_uplink NS GW
conf=$T/vpnpolicy.conf
seed003_config "$conf"

# foreign objects, made before the agent ever ran (numbers only: no names exist yet)
ip -n "$NS" rule add pref 100 from 10.20.0.0/16 lookup 200 proto static
ip -n "$NS" rule add pref 32765 from 10.10.10.0/24 lookup 200 proto static          # our selector
ip -n "$NS" rule add pref 32765 from 10.50.0.0/24 lookup 200 proto static          # our pref, looks stale
ip -n "$NS" rule add pref 32765 from 10.60.0.0/24 lookup 200                        # proto unspec (0)
ip -n "$NS" -6 rule add pref 100 from fd00:99::/64 lookup 200 proto static
ip -n "$NS" -6 rule add pref 32765 from fd00:4242:4242:4242::/64 lookup 200 proto static
ip -n "$NS" route add 10.30.0.0/16 via 192.168.1.1 table 200 proto static
ip -n "$NS" route add 10.40.0.0/16 dev eth1 table 200                               # proto boot
ip -n "$NS" route add unreachable 10.41.0.0/16 table 200 metric 4294967295 proto static
ip -n "$NS" -6 route add fd00:30::/64 via fd00:1010:1010:1010::1 table 200 proto static

# numbers, not names: the agent writes "200 vpn" and "211 vpnpolicy" into the namespace's iproute2,
# which changes how `ip` prints them; so map those names back to numbers before comparing.
NUMS='(if .table == "vpn" then .table = "200" else . end) | (if .protocol == "vpnpolicy" then .protocol = "211" else . end)'
rules_num() { ip -n "$1" -j -d -"$2" rule show | jq -cS "[.[] | select(.protocol != \"kernel\") |
        {priority, src: (.src // \"all\"), srclen: (.srclen // 0), table, protocol} | $NUMS] | sort"; }
routes_num() { ip -n "$1" -j -d -"$2" route show table "$3" | jq -cS "[.[] |
        {dst, gateway, dev, type: (.type // \"unicast\"), metric: (.metric // 0), protocol} | $NUMS |
        with_entries(select(.value != null))] | sort"; }
# our_rule NS FAMILY PREFIX [PROTO]: the rule at 32765 from PREFIX with protocol PROTO (default 211), if any
our_rule() {
        local src=${3%/*} len=${3#*/}
        rules_num "$1" "$2" | jq -c --arg s "$src" --argjson l "$len" --arg p "${4:-211}" \
                '.[] | select(.priority == 32765 and .src == $s and .srclen == $l and .protocol == $p)'
}
our_routes() { routes_num "$1" "$2" 200 | jq -c '.[] | select(.protocol == "211")'; }
FOREIGN_RULES4=$(rules_num "$NS" 4)
FOREIGN_RULES6=$(rules_num "$NS" 6)
FOREIGN_ROUTES4=$(routes_num "$NS" 4 200)
# shellcheck disable=SC2034 # read indirectly, as ${!f} in foreign_intact
FOREIGN_ROUTES6=$(routes_num "$NS" 6 200)
assert_eq "setup: 4 foreign v4 rules" 4 "$(jq length <<<"$FOREIGN_RULES4")"
assert_eq "setup: 3 foreign v4 routes in table 200" 3 "$(jq length <<<"$FOREIGN_ROUTES4")"
# foreign_intact WHAT: every foreign object is still there (a subset check: ours come on top)
foreign_intact() {
        local what=$1 f cur fam
        for fam in 4 6; do
                f=FOREIGN_RULES$fam
                cur=$(rules_num "$NS" "$fam")
                check "$what: foreign v$fam rules intact" \
                        jq -e --argjson want "${!f}" --argjson cur "$cur" -n '$want - $cur == []'
                f=FOREIGN_ROUTES$fam
                cur=$(routes_num "$NS" "$fam" 200)
                check "$what: foreign v$fam routes in table 200 intact" \
                        jq -e --argjson want "${!f}" --argjson cur "$cur" -n '$want - $cur == []'
        done
}
# exact_state WHAT NPOOL4 NPOOL6: the kernel holds exactly foreign + ours (ours counted by protocol 211)
exact_state() {
        local what=$1 n4 n6
        n4=$(rules_num "$NS" 4 | jq '[.[] | select(.protocol == "211")] | length')
        n6=$(rules_num "$NS" 6 | jq '[.[] | select(.protocol == "211")] | length')
        assert_eq "$what: our v4 rules" "$2" "$n4"
        assert_eq "$what: our v6 rules" "$3" "$n6"
        assert_eq "$what: v4 rules = foreign + ours" $(($(jq length <<<"$FOREIGN_RULES4") + $2)) \
                "$(rules_num "$NS" 4 | jq length)"
        assert_eq "$what: v6 rules = foreign + ours" $(($(jq length <<<"$FOREIGN_RULES6") + $3)) \
                "$(rules_num "$NS" 6 | jq length)"
}

monitor_start "$NS" "$T/mon-start"
agent_start "$NS" "$conf"
monitor_stop
check_fail "start: no deletion at all" grep -q Deleted "$T/mon-start"
foreign_intact "start"
exact_state "start" 1 1
assert_eq "start: our routes in table 200 (v4: default + fail-closed)" 2 "$(our_routes "$NS" 4 | wc -l)"
assert_eq "start: our routes in table 200 (v6: default + fail-closed)" 2 "$(our_routes "$NS" 6 | wc -l)"
assert_eq "start: healthy" healthy "$(status_field "$NS" .health)"
check "start: our twin of the foreign rule is there too" test -n "$(our_rule "$NS" 4 10.10.10.0/24)"

# ---------------------------------------------------------------------------------------------------------
info "reload with the same config"
monitor_start "$NS" "$T/mon-reload1"
check "ctl reload: exit 0" ctl "$NS" reload
check "reload counted" wait_until 2000 test "$(status_field "$NS" .counters.reloads)" -ge 1
sleep 0.2
monitor_stop
check_fail "same-config reload: no kernel change at all" grep -q . "$T/mon-reload1"
foreign_intact "same-config reload"

# ---------------------------------------------------------------------------------------------------------
info "reload dropping the v4 pool: the agent deletes its own rule, not the foreign twin"
seed003_config --pool fd00:4242:4242:4242::/64 "$conf"
monitor_start "$NS" "$T/mon-reload2"
check "ctl reload (v6 pool only): exit 0" ctl "$NS" reload
check "our v4 rule gone" wait_until 2000 eval '[[ -z $(our_rule "$NS" 4 10.10.10.0/24) ]]'
# The v4 gateway is still configured, so its default route stays; the fail-closed route is per pool family.
check "our v4 fail-closed route gone" wait_until 2000 eval '[[ -z $(our_routes "$NS" 4 | grep unreachable) ]]'
assert_eq "our v4 default route stays (IPv4= still set)" \
        '{"dev":"eth1","dst":"default","gateway":"192.168.1.1","metric":0,"protocol":"211","type":"unicast"}' \
        "$(our_routes "$NS" 4)"
monitor_stop
foreign_intact "v4 pool dropped"
exact_state "v4 pool dropped" 0 1
check "the foreign twin rule (proto static) is still there" test -n "$(our_rule "$NS" 4 10.10.10.0/24 static)"
assert_eq "only our 2 v4 objects were deleted (rule, fail-closed)" 2 "$(grep -c Deleted "$T/mon-reload2")"
check_fail "no deleted line mentions static/boot/unspec objects" \
        grep -E 'Deleted.*(10\.20\.|10\.50\.|10\.60\.|10\.30\.|10\.40\.|10\.41\.|fd00:99|fd00:30|proto static)' "$T/mon-reload2"

seed003_config "$conf"
check "ctl reload (both pools again): exit 0" ctl "$NS" reload
check "our v4 rule back" wait_until 2000 eval '[[ -n $(our_rule "$NS" 4 10.10.10.0/24) ]]'
check "healthy again" wait_until 2000 test "$(status_field "$NS" .health)" = healthy
exact_state "both pools again" 1 1

# ---------------------------------------------------------------------------------------------------------
info "restore of our rule next to its foreign twin"
ip -n "$NS" rule del pref 32765 from 10.10.10.0/24 lookup 200 proto 211
check "our v4 rule restored" wait_until 1000 eval '[[ -n $(our_rule "$NS" 4 10.10.10.0/24) ]]'
# A deletion without protocol may hit either twin; the kernel takes the first match. Whatever it took,
# the agent restores only its own, and the foreign one is not re-created by the agent.
foreign_intact "after restore"
exact_state "after restore" 1 1

# ---------------------------------------------------------------------------------------------------------
info "SIGTERM"
agent_stop
assert_eq "SIGTERM: exit 0" 0 "$AGENT_RC"
foreign_intact "after SIGTERM"
exact_state "after SIGTERM" 1 1
assert_eq "after SIGTERM: our 4 routes stay" 4 "$({ our_routes "$NS" 4; our_routes "$NS" 6; } | wc -l)"

# ---------------------------------------------------------------------------------------------------------
info "a foreign route with the key of our default route"
seed003_uplink NS2 GW2
seed003_config "$T/two.conf"
ip -n "$NS2" route add default via 192.168.1.1 table 200 proto static
agent_start "$NS2" "$T/two.conf"
sleep 0.3
assert_eq "the foreign default route is not replaced" \
        '[{"dev":"eth1","dst":"default","gateway":"192.168.1.1","metric":0,"protocol":"static","type":"unicast"},{"dst":"default","metric":4294967295,"protocol":"211","type":"unreachable"}]' \
        "$(routes_num "$NS2" 4 200)"
rc=0
ctl "$NS2" status --json >"$T/st2.json" || rc=$?
assert_eq "status: degraded (exit 3)" 3 "$rc"
check "status: the v4 default route is reported not present" \
        jq -e '[.objects[] | select(.role == "default-route" and .family == "ipv4")][0] | .present == false' "$T/st2.json"
check "status: the rest is present" \
        jq -e '[.objects[] | select(.role != "default-route" or .family != "ipv4") | .present] | all' "$T/st2.json"
# The add keeps failing with EEXIST. Design §3: failed operations are retried with backoff and reported in
# status. So the object must say why it is missing, and the retries must slow down (backoff from 100 ms
# doubling: at most 2 attempts between 2 s and 6 s; a fixed 1 Hz retry with a full dump makes 4).
sleep 2
c1=$( (ctl "$NS2" status --json || true) | jq -c '.counters | {resyncs, failed_operations}')
sleep 4
st=$(ctl "$NS2" status --json || true)
c2=$(jq -c '.counters | {resyncs, failed_operations}' <<<"$st")
info "conflict counters after 2 s: $c1, after 6 s: $c2"
check "status: the blocked default route reports its failure (failures > 0, last_error set)" \
        jq -e '[.objects[] | select(.role == "default-route" and .family == "ipv4")][0] |
               .failures > 0 and .last_error != null' <<<"$st"
check "the conflict is retried at all: >= 1 more failed add between 2 s and 6 s (backoff: one at ~3.1 s)" \
        jq -e -n --argjson a "$c1" --argjson b "$c2" '$b.failed_operations - $a.failed_operations >= 1'
check "the conflict is retried with backoff: <= 3 failed adds and resyncs between 2 s and 6 s" \
        jq -e -n --argjson a "$c1" --argjson b "$c2" \
        '($b.failed_operations - $a.failed_operations) <= 3 and ($b.resyncs - $a.resyncs) <= 3'
ip -n "$NS2" route del default via 192.168.1.1 table 200 proto static
# The retry backoff is at most 6.4 s at this point (100 ms doubling): the next retry must succeed.
t0=$(now_ms)
check "once the foreign route is gone ours appears (within the backoff, 8 s)" \
        wait_until 8000 eval '[[ -n $(our_routes "$NS2" 4 | grep 192.168.1.1) ]]'
if [[ -n $(our_routes "$NS2" 4 | grep 192.168.1.1) ]]; then
        info "our default route appeared $(($(now_ms) - t0)) ms after the foreign one was deleted"
else
        info "our default route did not appear within $(($(now_ms) - t0)) ms: $(ctl "$NS2" status --json | jq -c '.objects[] | select(.present | not)' || true)"
fi
check "and status turns healthy" wait_until 2000 ctl "$NS2" status

finish
