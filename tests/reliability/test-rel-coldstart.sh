#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 1: cold start at scale. Before the agent starts, the namespace already has the pools'
# gateway, NDEV tun devices (an address each) and NROUTES main-table routes via them (client LANs), and an
# empty table 200. The agent must send READY=1 only once the whole policy is in the kernel: a lossless
# monitor (relnl, relaying the agent's notifications) proves that the kernel queued no change of ours after
# READY=1 was sent (an order, not a comparison of timestamps that a late reader skews), and table 200 is
# complete (NDEV tun routes + NROUTES mirrored routes + the default and fail-closed routes) when READY=1
# is seen; status agrees. Figures: time to READY, objects per second. Repeated RUNS times (fresh table
# each time) for a median.
# (test-tun-scale.sh converges 1,000 devices created while the agent runs; test-core-coldstart.sh checks
# the exact small policy at READY. This one is the large initial reconcile before READY.)
# Sizes: NDEV 100, NROUTES 10000 (CI and full), RUNS 2 (CI) / 5 (full).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

NDEV=${NDEV:-100}
NROUTES=${NROUTES:-10000}
RUNS=${RUNS:-$(rel_size 2 5)}
AGENT_TIMEOUT_MS=60000

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf" "${REL_TUN_POOL[@]}"

# tun i: 100.64.i.1/24 (tun route 100.64.i.0/24); route j: 172.16.(j/256).(j%256)/32 via tun(j % NDEV)
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
WANT=$((NDEV + NROUTES + 2))    # v4 in table 200: tun routes, mirrors, default, unreachable
# added at a start: those, the v6 default and unreachable, 3 source rules (two pools of seed 003, the
# tuns' pool) and one "iif tunN" rule per tun (they have v4 addresses only)
ADDS=$((WANT + 2 + 3 + NDEV))
info "$NDEV tun devices, $NROUTES main-table routes via them; the agent must put $WANT v4 routes in table 200"

count4() { ip -n "$NS" -4 route show table 200 proto 211 2>/dev/null | wc -l; }
empty_before() {
        [[ $(count4) == 0 && -z $(ip -n "$NS" -6 route show table 200 2>/dev/null) ]] &&
                [[ $(rules_json "$NS" 4 vpnpolicy) == "[]" && $(rules_json "$NS" 6 vpnpolicy) == "[]" ]]
}
readys=()
for run in $(seq 1 "$RUNS"); do
        rel_flush "$NS"
        check "run $run: table 200 and the rules empty before the start" empty_before
        # the monitor relays the agent's notifications and marks READY=1 in its stream (relnl.c)
        relmon_start "$NS" "$T/mon-$run" --notify "$T/relay-$run.sock" "$T/notify-$NS.sock"
        AGENT_NOTIFY_SOCKET=$T/relay-$run.sock agent_start "$NS" "$T/vpnpolicy.conf"
        at_ready=$(count4)
        readys+=("$AGENT_READY_MS")
        agent_stop TERM
        check "run $run: the agent exits 0 on SIGTERM" test "$AGENT_RC" = 0
        check "run $run: monitor lossless" relmon_stop
        adds=$(awk '$2 == "NEW" && / proto=211 /' "$T/mon-$run" | wc -l)
        late=$(awk '$2 == "#" && $3 == "READY" { r = 1 } r && $2 == "NEW" && / proto=211 /' "$T/mon-$run" | wc -l)
        dels=$(awk '$2 == "DEL" && / proto=211 /' "$T/mon-$run" | wc -l)
        check "run $run: the monitor saw READY=1" grep -q '^[0-9]* # READY$' "$T/mon-$run"
        info "run $run: READY after $AGENT_READY_MS ms; $adds objects added, $late queued after READY=1; $at_ready v4 routes in table 200 when READY=1 was seen"
        check "run $run: every object added before READY=1 ($late after)" test "$late" = 0
        assert_eq "run $run: objects added (v4 and v6 routes, 3 source rules, $NDEV tunnel rules)" "$ADDS" "$adds"
        assert_eq "run $run: no deletion during the start" 0 "$dels"
        assert_eq "run $run: table 200 complete when READY=1 was seen" "$WANT" "$at_ready"
done
# the v6 side: tuns have no v6 address, so table 200 v6 holds the two defaults
assert_eq "v6 table 200: default + fail-closed" "$REL_ROUTES6" "$(routes_json "$NS" 6 200)"
assert_eq "source rules exact" "$(jq -cS --argjson r "$REL_TUN_POOL_RULE4" '. + [$r] | sort' <<<"$REL_RULES4")" \
        "$(source_rules_json "$NS" 4)"
assert_eq "one tunnel rule per tun" "$NDEV" "$(rules_json "$NS" 4 | jq '[.[] | select(has("iif"))] | length')"

# status after one more start (adoption: nothing to do)
agent_start "$NS" "$T/vpnpolicy.conf"
adopt_ms=$AGENT_READY_MS
st=$(status_json "$NS")
check "status: healthy" jq -e '.health == "healthy"' <<<"$st"
assert_eq "status: $NDEV tun routes present" "$NDEV" "$(jq '[.objects[] | select(.role == "tun-route" and .present)] | length' <<<"$st")"
assert_eq "status: $NROUTES mirrored routes present" "$NROUTES" "$(jq '[.objects[] | select(.role == "mirror-route" and .present)] | length' <<<"$st")"

med=$(printf '%s\n' "${readys[@]}" | percentile 50)
max=$(printf '%s\n' "${readys[@]}" | percentile 100)
figure coldstart_ready_median "$med" ms
figure coldstart_ready_max "$max" ms
figure coldstart_objects "$ADDS" objects
figure coldstart_objects_per_s $((ADDS * 1000 / (med > 0 ? med : 1))) objects/s
figure coldstart_adopt_ready "$adopt_ms" ms
info "READY times (ms): ${readys[*]}; restart with everything in place: $adopt_ms ms"
check "READY within 10 s of the start (median $med ms)" test "$med" -lt 10000
finish
