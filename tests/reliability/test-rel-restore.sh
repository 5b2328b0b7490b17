#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 6: foreign deletions of our rules.
#  A. DELETIONS deletions of our source rules by another process (`ip rule del`), spaced SPACING_MS apart
#     and spread over POOLS pools (the restore rate limit, a burst of 10 then 2/s per object, is part B's
#     subject, not this one's): a lossless monitor (relnl) sees every deletion followed by a re-add of the
#     very same rule (selector, preference, table, protocol tag and flags, compared field by field with
#     the original), the final rules are the original ones, and status counts every restore. Figures: the
#     restore latency p50/p99/max from the kernel's own events (deletion to re-add as the monitor saw them).
#  B. A deletion fight: relnl deletes our v4 rule every 10 ms for FIGHT_S seconds. The agent's CPU
#     (utime+stime from /proc) stays under 5 % of one CPU, it logs exactly one warning about that rule,
#     restore_throttled counts the throttled restores, and once the fight stops the rule is back and
#     status healthy within 5 s.
# (test-core-restore.sh restores each kind of object once, measures 20 deletions and a 1.5 s fight.)
# Sizes: CI: 200 deletions over 8 pools 60 ms apart, FIGHT_S 15; full (REL_FULL=1): 200 deletions of one
# rule 550 ms apart, FIGHT_S 60.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DELETIONS=${DELETIONS:-200}
POOLS=${POOLS:-$(rel_size 8 1)}
SPACING_MS=${SPACING_MS:-$(rel_size 60 550)}
FIGHT_S=${FIGHT_S:-$(rel_size 15 60)}

rel_topology NS GW
extra=()
for ((p = 1; p < POOLS; p++)); do extra+=("[Pool]" "Prefix=10.10.$((10 + p)).0/24"); done
rel_conf "$T/vpnpolicy.conf" "${extra[@]}"
agent_start "$NS" "$T/vpnpolicy.conf"
pools=()
for ((p = 0; p < POOLS; p++)); do pools+=("10.10.$((10 + p)).0/24"); done
check "start: $POOLS v4 source rules" test "$(rules_json "$NS" 4 vpnpolicy | jq length)" = "$POOLS"
rel_dump "$NS" "$T/before.dump"
grep ' rule fam=4 .* proto=211 ' "$T/before.dump" | sed -E 's/^[^ ]+ [^ ]+ //' | sort >"$T/rules-before"

# ---------------------------------------------------------------------------------------------------------
info "A. $DELETIONS deletions over $POOLS pool rule(s), $SPACING_MS ms apart"
relmon_start "$NS" "$T/mon"
fail_del=0
for ((i = 0; i < DELETIONS; i++)); do
        p=${pools[i % POOLS]}
        t_next=$(($(now_ms) + SPACING_MS))
        # the rule may be a few ms away from being back: wait for it, so each deletion really deletes
        wait_until 1000 eval "[[ -n \$(ip -n $NS -4 rule show pref 32765 from $p lookup 200) ]]" || true
        ip -n "$NS" -4 rule del pref 32765 from "$p" lookup 200 2>/dev/null || fail_del=$((fail_del + 1))
        while (($(now_ms) < t_next)); do sleep 0.005; done
done
check "every rule back at the end" wait_until 1000 eval \
        '[[ $(rules_json "$NS" 4 vpnpolicy | jq length) == "$POOLS" ]]'
sleep 0.2
relmon_stop
check "monitor lossless" true
assert_eq "all $DELETIONS deletions found the rule there" 0 "$fail_del"
# pair each deletion with the next add of the same key
awk '$3 == "rule" && / proto=211 / {
        line = $0; sub(/^[^ ]+ [^ ]+ /, "", line); key = line; sub(/ \|.*/, "", key)
        if ($2 == "DEL") { del[key] = $1; dels++ }
        else if ($2 == "NEW" && (key in del)) { printf "%d %s\n", $1 - del[key], line; delete del[key]; adds++ }
     }
     END { printf "# dels %d adds %d\n", dels, adds > "/dev/stderr" }' "$T/mon" 2>"$T/pairs.count" >"$T/pairs"
info "monitor: $(cat "$T/pairs.count")"
assert_eq "monitor: $DELETIONS deletions of our rules" "# dels $DELETIONS adds $DELETIONS" "$(cat "$T/pairs.count")"
cut -d' ' -f2- "$T/pairs" | sort -u >"$T/readded"
check "every re-add is the original rule (selector, preference, table, protocol, flags)" \
        bash -c "comm -23 '$T/readded' '$T/rules-before' | grep_q . && exit 1 || exit 0"
rel_dump "$NS" "$T/after.dump"
# sorted: a re-added rule goes after the others of its preference (no matter for disjoint sources)
check "rules and routes as before" cmp -s <(sort "$T/before.dump") <(sort "$T/after.dump")
st=$(status_json "$NS")
assert_eq "status: $DELETIONS restores counted" "$DELETIONS" "$(jq .counters.restores <<<"$st")"
assert_eq "status: none throttled" 0 "$(jq .counters.restore_throttled <<<"$st")"
cut -d' ' -f1 "$T/pairs" >"$T/lat"
p50=$(percentile 50 <"$T/lat")
p99=$(percentile 99 <"$T/lat")
pmax=$(percentile 100 <"$T/lat")
figure restore_deletions "$DELETIONS" deletions
figure restore_latency_p50 "$(us_to_ms "$p50")" ms
figure restore_latency_p99 "$(us_to_ms "$p99")" ms
figure restore_latency_max "$(us_to_ms "$pmax")" ms
check "restore latency p50 under 50 ms ($(us_to_ms "$p50") ms)" test "$p50" -lt 50000
check "every restore within 1 s (max $(us_to_ms "$pmax") ms)" test "$pmax" -lt 1000000

# ---------------------------------------------------------------------------------------------------------
info "B. deletion fight: our v4 rule deleted every 10 ms for $FIGHT_S s"
sleep 1         # refill the token bucket a little
log=$T/agent-$NS.log
lines0=$(wc -l <"$log")
st0=$(status_json "$NS")
c0=$(cpu_ticks "$AGENT_PID")
t0=$(now_us)
out=$(ip netns exec "$NS" "$RELNL" fight 10 "$FIGHT_S" rule4 del pref=32765 src=10.10.10.0/24 table=200 proto=211)
t1=$(now_us)
c1=$(cpu_ticks "$AGENT_PID")
info "fight: $out"
read -r _ attempts _ deleted _ absent _ other <<<"$out"
t_fight_end=$(now_us)
if wait_until 5000 eval '[[ -n $(ip -n "$NS" -4 rule show pref 32765 from 10.10.10.0/24 lookup 200) ]]'; then
        back_ms=$((($(now_us) - t_fight_end) / 1000))
        _vpt_pass "after the fight: the rule is back within 5 s ($back_ms ms)"
else
        back_ms=-1
        _vpt_fail "after the fight: the rule is back within 5 s" "still missing" ""
fi
check "after the fight: healthy within 5 s" wait_until 5000 ctl "$NS" status
st=$(status_json "$NS")
elapsed_ms=$(((t1 - t0) / 1000))
cpu_permille=$(((c1 - c0) * 1000 * 1000 / CLK_TCK / elapsed_ms))
throttled=$(($(jq .counters.restore_throttled <<<"$st") - $(jq .counters.restore_throttled <<<"$st0")))
restores=$(($(jq .counters.restores <<<"$st") - $(jq .counters.restores <<<"$st0")))
warnings=$(tail -n "+$((lines0 + 1))" "$log" | grep -c 'keeps being deleted' || true)
info "fight: $attempts attempts, $deleted deletions, $absent found it absent; agent: $restores restores, $throttled throttled, CPU $((cpu_permille / 10)).$((cpu_permille % 10)) % over $elapsed_ms ms, $warnings warning(s)"
tail -n "+$((lines0 + 1))" "$log" | grep 'keeps being deleted' | sed 's/^/#   /' || true
check "the fight ran (>= $((FIGHT_S * 50)) attempts, some deletions)" test "$attempts" -ge $((FIGHT_S * 50)) -a "$deleted" -gt 0
assert_eq "relnl fight: no unexpected errors" 0 "$other"
check "agent CPU under 5 % during the fight ($((cpu_permille / 10)).$((cpu_permille % 10)) %)" test "$cpu_permille" -lt 50
assert_eq "exactly one warning in the log for the fight" 1 "$warnings"
check "restore_throttled counted ($throttled)" test "$throttled" -gt 0
check "restores limited to the burst + 2/s ($restores in $FIGHT_S s)" test "$restores" -le $((10 + 2 * FIGHT_S + 2))
figure restore_fight_seconds "$FIGHT_S" s
figure restore_fight_deletions "$deleted" deletions
figure restore_fight_agent_cpu "$((cpu_permille / 10)).$((cpu_permille % 10))" %
figure restore_fight_throttled "$throttled" restores
figure restore_fight_recovery "$back_ms" ms
rel_dump "$NS" "$T/end.dump"
check "everything as before the fight" cmp -s <(sort "$T/before.dump") <(sort "$T/end.dump")
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
