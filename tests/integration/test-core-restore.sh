#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Objects of ours that someone deletes come back: the v4 and v6 source rules, the default routes and the
# fail-closed routes, each within 1000 ms, counted in status (per object and in total). The restore
# latency (from `ip rule del` returning to the rule being visible again) is measured over 20 deletions and
# printed as min/median/max. A deletion fight on one object is rate-limited (burst 10, then 2/s):
# restore_throttled grows, and the object still comes back once the fight stops.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink NS GW
seed003_config "$T/vpnpolicy.conf" '[Kernel]' 'FailClosed=yes'

agent_start "$NS" "$T/vpnpolicy.conf"
seed003_exact "$NS" "start"

# rule_there FAM PREFIX / route_there FAM SELECTOR...: true when the object is in the kernel
rule_there() { [[ -n $(ip -n "$NS" -"$1" rule show pref 32765 from "$2" lookup 200) ]]; }
route_there() { [[ -n $(ip -n "$NS" -"$1" route show table 200 "${@:2}") ]]; }
status() { ctl "$NS" status --json || true; }   # JSON also when degraded (exit 3)

# deleted_restored NAME IP-ARGS... -- THERE-CHECK...: `ip -n $NS IP-ARGS` deletes the object, and the
# check finds it there again within 1000 ms.
deleted_restored() {
        local what=$1 del=() t0
        shift
        while [[ $1 != -- ]]; do
                del+=("$1")
                shift
        done
        shift
        check "$what: deleted by hand" ip -n "$NS" "${del[@]}"
        t0=$(now_us)
        check "$what: restored within 1000 ms" wait_until 1000 "$@"
        info "$what back after $((($(now_us) - t0) / 1000)) ms"
}

info "each object deleted once"
monitor_start "$NS" "$T/mon"
deleted_restored "v4 source rule" -4 rule del pref 32765 from 10.10.10.0/24 lookup 200 -- rule_there 4 10.10.10.0/24
deleted_restored "v6 source rule" -6 rule del pref 32765 from fd00:4242:4242:4242::/64 lookup 200 -- \
        rule_there 6 fd00:4242:4242:4242::/64
deleted_restored "v4 default route" -4 route del default via 192.168.1.1 table 200 -- \
        route_there 4 default via 192.168.1.1
deleted_restored "v6 default route" -6 route del default via fd00:1010:1010:1010::1 table 200 -- \
        route_there 6 default via fd00:1010:1010:1010::1
deleted_restored "v4 fail-closed route" -4 route del unreachable default table 200 metric 4294967295 -- \
        route_there 4 type unreachable default
deleted_restored "v6 fail-closed route" -6 route del unreachable default table 200 metric 4294967295 -- \
        route_there 6 type unreachable default
monitor_stop
assert_eq "monitor: 6 deletions (ours by hand)" 6 "$(grep -c '^\[[^]]*\] Deleted' "$T/mon")"
assert_eq "monitor: 6 re-adds" 6 "$(grep -vc '^\[[^]]*\] Deleted' "$T/mon")"
seed003_exact "$NS" "after restores"
st=$(status)
assert_eq "status: 6 restores counted" 6 "$(jq .counters.restores <<<"$st")"
assert_eq "status: every object restored once, present" \
        '[1,1,1,1,1,1]' "$(jq -c '[.objects[] | select(.present) | .restores]' <<<"$st")"
assert_eq "status: nothing throttled yet" 0 "$(jq .counters.restore_throttled <<<"$st")"
check "status: healthy" ctl "$NS" status

# ---------------------------------------------------------------------------------------------------------
info "restore latency: 20 deletions of the source rules (v4 and v6 alternating)"
monitor_start "$NS" "$T/mon-lat"
lat=()
for i in $(seq 1 20); do
        if ((i % 2)); then fam=4 pfx=10.10.10.0/24; else fam=6 pfx=fd00:4242:4242:4242::/64; fi
        sleep 0.1               # stay well inside the rate limit: 10 per rule, 2/s refill
        ip -n "$NS" -"$fam" rule del pref 32765 from "$pfx" lookup 200
        t0=$(now_us)
        ok=
        # tight poll (no sleep): one `ip rule show` takes about a millisecond
        while (($(now_us) - t0 < 1000000)); do
                if rule_there "$fam" "$pfx"; then ok=1; break; fi
        done
        t1=$(now_us)
        [[ -n $ok ]] || { lat+=(1000000); continue; }
        lat+=($((t1 - t0)))
done
mapfile -t sorted < <(printf '%s\n' "${lat[@]}" | sort -n)
fmt() { printf '%d.%02d' $(($1 / 1000)) $((($1 % 1000) / 10)); }
min=${sorted[0]} med=$(((sorted[9] + sorted[10]) / 2)) max=${sorted[19]}
echo "# METRIC restore-latency-ms min $(fmt "$min") median $(fmt "$med") max $(fmt "$max") (n=20, wall clock from \`ip rule del\` returning to \`ip rule show\` seeing it; one poll costs about 2 ms)"
monitor_stop
# The same from the kernel's own events: time between the deletion and the re-add notification.
mapfile -t klat < <(awk '
        function us(ts,   a, b) { split(ts, a, "T"); split(a[2], b, ":"); return (b[1] * 3600 + b[2] * 60 + b[3]) * 1e6 }
        /32765:/ { ts = substr($1, 2, length($1) - 2); key = ($2 == "Deleted") ? $5 : $4
                   if ($2 == "Deleted") del[key] = us(ts); else if (key in del) { printf "%d\n", us(ts) - del[key]; delete del[key] } }
        ' "$T/mon-lat" | sort -n)
assert_eq "monitor: 20 delete/re-add pairs" 20 "${#klat[@]}"
if ((${#klat[@]} == 20)); then
        echo "# METRIC restore-latency-kernel-events-ms min $(fmt "${klat[0]}") median $(fmt $(((klat[9] + klat[10]) / 2))) max $(fmt "${klat[19]}") (n=20, RTM_DELRULE to RTM_NEWRULE timestamps of ip monitor)"
fi
check "all 20 restored within 1000 ms (max $(fmt "$max") ms)" test "$max" -lt 1000000
check "median restore latency below 100 ms ($(fmt "$med") ms)" test "$med" -lt 100000
st=$(status)
assert_eq "status: 26 restores now" 26 "$(jq .counters.restores <<<"$st")"
assert_eq "status: v4 rule restored 11 times" 11 \
        "$(jq '.objects[] | select(.role == "source-rule" and .family == "ipv4") | .restores' <<<"$st")"
assert_eq "still no throttling" 0 "$(jq .counters.restore_throttled <<<"$st")"

# ---------------------------------------------------------------------------------------------------------
info "a deletion fight on the v4 fail-closed route is rate-limited"
sleep 1.2       # let the token buckets refill a little (the v4 fail-closed route has spent 1 of 10)
n=0 tries=0
t0=$(now_ms)
while (($(now_ms) - t0 < 1500)); do
        tries=$((tries + 1))
        if ip -n "$NS" -4 route del unreachable default table 200 metric 4294967295 2>/dev/null; then
                n=$((n + 1))
        fi
done
info "deleted the v4 fail-closed route $n times in 1.5 s ($tries attempts)"
st=$(status)
info "after the fight: restores $(jq .counters.restores <<<"$st"), throttled $(jq .counters.restore_throttled <<<"$st")"
check "the fight found the route missing at times (it was not restored at once every time)" test "$tries" -gt "$n"
rs=$(jq '.objects[] | select(.role == "fail-closed" and .family == "ipv4") | .restores' <<<"$st")
check "restores of that object during the fight limited to burst + 2/s (<= 16, got $((rs - 1)))" test $((rs - 1)) -le 16
check "but more than the burst of 10 minus the one spent (>= 9, got $((rs - 1)))" test $((rs - 1)) -ge 9
check "restore_throttled > 0" jq -e '.counters.restore_throttled > 0' <<<"$st"
check "after the fight it comes back (within 1000 ms)" wait_until 1000 route_there 4 type unreachable default
assert_eq "after the fight: v4 routes exact" "$ROUTES4" "$(routes_json "$NS" 4 200)"
assert_eq "after the fight: other objects not throttled (v6 routes exact)" "$ROUTES6" "$(routes_json "$NS" 6 200)"
check "healthy again" wait_until 2000 ctl "$NS" status
check "agent still running" _vpt_alive "$AGENT_PID"

finish
