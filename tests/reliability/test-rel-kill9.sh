#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 2: kill -9 at random points of a large initial reconcile. The namespace holds NDEV tun
# devices and NROUTES main-table routes via them, so a start has NDEV + NROUTES + 6 objects to create.
# Each trial: table 200 emptied, stale objects of ours (proto 211, wanted by no config: a rule, a route
# for an old pool, a mirror of a route no longer in main, a v6 route) and foreign objects next to them put
# in; the agent started and killed with SIGKILL after a random delay within its measured time to READY;
# then started again and left to converge. A lossless monitor (relnl) runs across both starts:
#   - zero deletions of objects the final state wants (adoption, never delete+add);
#   - the final state is exact (every object, nothing else of ours; compared with the first trial's
#     complete state), the stale objects of ours are gone, the foreign ones untouched;
#   - status healthy.
# Figures: kill points (objects in table 200 when killed), READY after the restart.
# (test-core-restart.sh proves adoption of a small policy after kill -9; this is the large reconcile
# killed midway, many times.) Sizes: TRIALS 6 (CI) / 20 (full); NDEV 100, NROUTES 10000; SEED for $RANDOM.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

NDEV=${NDEV:-100}
NROUTES=${NROUTES:-10000}
TRIALS=${TRIALS:-$(rel_size 6 20)}
SEED=${SEED:-$$}
RANDOM=$SEED
AGENT_TIMEOUT_MS=60000
info "seed $SEED (SEED=$SEED reproduces the kill delays)"

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf" "${REL_TUN_POOL[@]}"
for ((i = 0; i < NDEV; i++)); do
        echo "tuntap add dev tun$i mode tun"
        echo "link set tun$i up"
        echo "addr add 100.64.$i.1/24 dev tun$i"
done >"$T/devices.batch"
for ((j = 0; j < NROUTES; j++)); do
        echo "route add 172.16.$((j / 256)).$((j % 256))/32 dev tun$((j % NDEV))"
done >"$T/routes.batch"
ip -n "$NS" -batch "$T/devices.batch"
ip -n "$NS" -batch "$T/routes.batch"
WANT4=$((NDEV + NROUTES + 2))

cat >"$T/stale.batch" <<'EOF'
rule add pref 32765 from 10.99.0.0/24 lookup 200 proto 211
route add 10.99.0.0/24 dev eth1 table 200 proto 211
route add 172.31.0.1/32 dev tun5 table 200 proto 211
route add 172.16.0.5/32 dev tun6 table 200 proto 211
route add fd00:99::/64 dev eth1 table 200 proto 211
rule add pref 1000 from 10.98.0.0/24 lookup 200 proto static
route add 10.98.0.0/24 dev eth1 table 200 proto static
EOF
# 172.16.0.5/32 via tun6 is stale too: main has 172.16.0.5 via tun5, so the mirror wants tun5 (same key:
# the agent replaces it in place, no deletion)
FOREIGN_RULE='{"priority":1000,"src":"10.98.0.0","srclen":24,"table":"vpn","protocol":"static"}'

count4() { ip -n "$NS" -4 route show table 200 proto 211 2>/dev/null | wc -l; }
stale_gone() {
        [[ -z $(ip -n "$NS" -4 rule show pref 32765 from 10.99.0.0/24) ]] &&
                [[ -z $(ip -n "$NS" -4 route show table 200 10.99.0.0/24) ]] &&
                [[ -z $(ip -n "$NS" -4 route show table 200 172.31.0.1) ]] &&
                [[ $(ip -n "$NS" -4 route show table 200 172.16.0.5) == *"dev tun5 "* ]] &&
                [[ -z $(ip -n "$NS" -6 route show table 200 fd00:99::/64) ]]
}
foreign_there() {
        [[ -n $(ip -n "$NS" -4 rule show pref 1000 from 10.98.0.0/24) ]] &&
                [[ -n $(ip -n "$NS" -4 route show table 200 10.98.0.0/24 proto static) ]]
}

# calibration: the time to READY of a full reconcile
rel_flush "$NS"
agent_start "$NS" "$T/vpnpolicy.conf"
CAL_MS=$AGENT_READY_MS
rel_dump "$NS" "$T/want.dump"
rel_ours "$T/want.dump" >"$T/want.keys"
assert_eq "calibration: $WANT4 v4 routes of ours" "$WANT4" "$(count4)"
agent_kill9 "$NS" 2>/dev/null
info "a full reconcile takes $CAL_MS ms to READY; kills fall in [0, $((CAL_MS * 12 / 10))] ms"
WANT_KEYS=$(wc -l <"$T/want.keys")

at_kill=()
readys=()
bad_trials=0
total_bad=0
for trial in $(seq 1 "$TRIALS"); do
        rel_flush "$NS"
        ip -n "$NS" rule del pref 1000 2>/dev/null || true
        ip -n "$NS" -batch "$T/stale.batch"
        relmon_start "$NS" "$T/mon-$trial"
        delay=$((RANDOM % (CAL_MS * 12 / 10 + 1)))
        agent_spawn "$NS" "$T/vpnpolicy.conf"
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -KILL "$AGENT_PID" 2>/dev/null || true
        agent_kill9 "$NS" 2>/dev/null || true
        n=$(count4)
        at_kill+=("$n")
        agent_start "$NS" "$T/vpnpolicy.conf"
        readys+=("$AGENT_READY_MS")
        sleep 0.2       # anything a restart might still do after READY would show now
        relmon_stop || { _vpt_fail "trial $trial: lossless monitor" "the monitor lost events" ""; continue; }
        rel_dump "$NS" "$T/final-$trial.dump"
        rel_ours "$T/final-$trial.dump" >"$T/final-$trial.keys"
        relmon_keys "$T/mon-$trial" DEL | sort -u >"$T/del-$trial.keys"
        bad=$(comm -12 "$T/del-$trial.keys" "$T/want.keys" | wc -l)
        total_bad=$((total_bad + bad))
        extra=$(comm -13 "$T/want.keys" "$T/final-$trial.keys" | wc -l)
        missing=$(comm -23 "$T/want.keys" "$T/final-$trial.keys" | wc -l)
        info "trial $trial: killed after $delay ms with $n of $WANT4 v4 routes in; READY after the restart in $AGENT_READY_MS ms; $(wc -l <"$T/del-$trial.keys") deletions, $bad of wanted objects; final: $missing missing, $extra extra"
        ok=1
        if ((bad)); then
                ok=
                _vpt_fail "trial $trial: no deletion of a wanted object" "$bad wanted objects deleted" \
                        "$(comm -12 "$T/del-$trial.keys" "$T/want.keys" | head -n 5)"
        fi
        if ((missing || extra)); then
                ok=
                _vpt_fail "trial $trial: final state exact" "$missing missing, $extra extra" \
                        "$( (comm -23 "$T/want.keys" "$T/final-$trial.keys" | sed 's/^/missing /'; comm -13 "$T/want.keys" "$T/final-$trial.keys" | sed 's/^/extra /') | head -n 6)"
        fi
        stale_gone || { ok=; _vpt_fail "trial $trial: stale objects of ours swept" "some left" "$(ip -n "$NS" route show table 200 | grep -E '10\.99|172\.31|172\.16\.0\.5 ')"; }
        foreign_there || { ok=; _vpt_fail "trial $trial: foreign objects untouched" "gone" ""; }
        if [[ -n $ok ]]; then
                _vpt_pass "trial $trial: killed with $n routes in; no wanted object deleted, final state exact, stale swept, foreign kept"
        else
                bad_trials=$((bad_trials + 1))
        fi
        agent_kill9 "$NS" 2>/dev/null
done
assert_eq "all $TRIALS trials: no deletion of a wanted object, exact final state, stale swept, foreign kept" 0 "$bad_trials"

agent_start "$NS" "$T/vpnpolicy.conf"
st=$(status_json "$NS")
check "status healthy at the end" jq -e '.health == "healthy" and all(.objects[]; .present)' <<<"$st"
assert_eq "status: every wanted object ($WANT_KEYS)" "$WANT_KEYS" "$(jq '.objects | length' <<<"$st")"
assert_eq "foreign rule untouched" "$FOREIGN_RULE" "$(rules_json "$NS" 4 static | jq -c '.[0]')"

figure kill9_trials "$TRIALS" trials
figure kill9_objects_at_kill_min "$(printf '%s\n' "${at_kill[@]}" | percentile 0)" routes
figure kill9_objects_at_kill_median "$(printf '%s\n' "${at_kill[@]}" | percentile 50)" routes
figure kill9_objects_at_kill_max "$(printf '%s\n' "${at_kill[@]}" | percentile 100)" routes
figure kill9_restart_ready_median "$(printf '%s\n' "${readys[@]}" | percentile 50)" ms
figure kill9_wanted_deleted "$total_bad" objects
info "objects in table 200 at each kill: ${at_kill[*]} (of $WANT4)"
finish
