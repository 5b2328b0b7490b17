#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 3: lost events. The namespace has NDEV tun devices with NMIRROR mirrored routes, so a
# resync has real work. For the default receive buffer (64 MiB), 8 MiB and --netlink-rcvbuf 4096:
#   the agent is stopped (SIGSTOP), EVENTS route events happen (routes added to and deleted from a
#   foreign table), one of our rules and one of our routes are deleted, the agent continues (SIGCONT):
#   no crash, the overrun is logged and counted, a full resync runs, both objects are back within 1 s of
#   SIGCONT, the state is exact, and the foreign table is left alone.
# Then a sustained storm (STORM_S seconds of continuous route churn by two writers, rcvbuf 4096): resyncs
# stay rate-limited (at most one a second: the resyncs counter against the elapsed time), status keeps
# answering, and a rule of ours deleted every 2 s in the storm comes back each time (figures: restore
# latency under the storm, the agent's CPU share).
# (test-core-overrun.sh floods a running agent with 2,000 routes and stops it once; this is the
# 20,000-event backlog with both buffers and a sustained storm.)
# Sizes: EVENTS 20000; STORM_S 10 (CI) / 60 (full); NDEV 10, NMIRROR 1000.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-20000}
STORM_S=${STORM_S:-$(rel_size 10 60)}
NDEV=${NDEV:-10}
NMIRROR=${NMIRROR:-1000}

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf" "${REL_TUN_POOL[@]}"
for ((i = 0; i < NDEV; i++)); do
        echo "tuntap add dev tun$i mode tun"
        echo "link set tun$i up"
        echo "addr add 100.64.$i.1/24 dev tun$i"
done >"$T/devices.batch"
for ((j = 0; j < NMIRROR; j++)); do
        echo "route add 172.16.$((j / 256)).$((j % 256))/32 dev tun$((j % NDEV))"
done >"$T/mirror.batch"
ip -n "$NS" -batch "$T/devices.batch"
ip -n "$NS" -batch "$T/mirror.batch"
WANT4=$((NDEV + NMIRROR + 2))

# EVENTS/2 routes added to table 100, then deleted: EVENTS route events
half=$((EVENTS / 2))
for ((j = 0; j < half; j++)); do
        echo "route add 10.$((200 + j / 65536)).$((j / 256 % 256)).$((j % 256))/32 dev eth1 table 100 proto static"
done >"$T/flood-add.batch"
sed 's/^route add/route del/' "$T/flood-add.batch" >"$T/flood-del.batch"

rule_there() { [[ -n $(ip -n "$NS" -4 rule show pref 32765 from 10.10.10.0/24 lookup 200) ]]; }
route6_there() { [[ -n $(ip -n "$NS" -6 route show table 200 default via fd00:1010:1010:1010::1) ]]; }
both_there() { rule_there && route6_there; }
count4() { ip -n "$NS" -4 route show table 200 proto 211 2>/dev/null | wc -l; }
exact() {
        assert_eq "$1: v4 rules" "$REL_RULES4_TUNS" "$(source_rules_json "$NS" 4)"
        assert_eq "$1: v6 rules" "$REL_RULES6" "$(source_rules_json "$NS" 6)"
        assert_eq "$1: v6 table 200" "$REL_ROUTES6" "$(routes_json "$NS" 6 200)"
        assert_eq "$1: v4 table 200: $WANT4 routes of ours" "$WANT4" "$(count4)"
        assert_eq "$1: v4 table 200: nothing else" "$WANT4" "$(ip -n "$NS" -4 route show table 200 | wc -l)"
}

backlog() { # NAME EVENTS_FILE_SUFFIX EXPECT_OVERRUN [AGENT ARGS...]
        local name=$1 sfx=$2 expect=$3 log lines0 st0 st t0 ms o0 r0 o1 r1
        shift 3
        info "=== $name: SIGSTOP, $(($(wc -l <"$T/flood-add$sfx.batch") * 2)) route events, our v4 rule and v6 default route deleted, SIGCONT"
        agent_start "$NS" "$T/vpnpolicy.conf" "$@"
        log=$T/agent-$NS.log
        exact "$name: start"
        st0=$(status_json "$NS")
        lines0=$(wc -l <"$log")
        kill -STOP "$AGENT_PID"
        ip -n "$NS" -batch "$T/flood-add$sfx.batch"
        ip -n "$NS" -4 rule del pref 32765 from 10.10.10.0/24 lookup 200
        ip -n "$NS" -6 route del default via fd00:1010:1010:1010::1 table 200
        ip -n "$NS" -batch "$T/flood-del$sfx.batch"
        check_fail "$name: while stopped, both objects are gone" both_there
        kill -CONT "$AGENT_PID"
        t0=$(now_us)
        if wait_until 1000 both_there; then
                ms=$((($(now_us) - t0) / 1000))
                _vpt_pass "$name: after SIGCONT both are back within 1000 ms ($ms ms)"
        else
                ms=-1
                _vpt_fail "$name: after SIGCONT both are back within 1000 ms" "rule: $(rule_there && echo back || echo missing), route: $(route6_there && echo back || echo missing)" ""
        fi
        figure "overrun_${name}_restore_after_sigcont" "$ms" ms
        sleep 1.2
        check "$name: no crash (agent running)" _vpt_alive "$AGENT_PID"
        st=$(status_json "$NS")
        o0=$(jq .counters.overruns <<<"$st0") r0=$(jq .counters.resyncs <<<"$st0")
        o1=$(jq .counters.overruns <<<"$st") r1=$(jq .counters.resyncs <<<"$st")
        info "$name: counters before $(jq -c '.counters | {overruns, resyncs, restores, reconcile_passes}' <<<"$st0"), after $(jq -c '.counters | {overruns, resyncs, restores, reconcile_passes}' <<<"$st")"
        if [[ $expect == yes ]]; then
                check "$name: overrun counted ($o0 -> $o1)" test "$o1" -gt "$o0"
        elif ((o1 == o0)); then
                info "$name: the buffer held the whole backlog (no overrun): the objects came back from the events"
        fi
        if ((o1 > o0)); then
                check "$name: overrun logged" grep -q 'Netlink event socket overran' <(tail -n "+$((lines0 + 1))" "$log")
                check "$name: a full resync ran (counted: $r0 -> $r1)" test "$r1" -gt "$r0"
                check "$name: a full resync ran (logged)" grep -q 'Resynced with the kernel' <(tail -n "+$((lines0 + 1))" "$log")
        fi
        figure "overrun_${name}_overruns" $((o1 - o0)) overruns
        exact "$name: after"
        assert_eq "$name: foreign table 100 empty (every event applied by the kernel, none by us)" 0 \
                "$(ip -n "$NS" -4 route show table 100 | wc -l)"
        check "$name: healthy" ctl "$NS" status
        agent_stop TERM
        check "$name: SIGTERM exit 0" test "$AGENT_RC" = 0
}

# a larger backlog for the default buffer: 3 x EVENTS
for ((j = 0; j < half * 3; j++)); do
        echo "route add 10.$((200 + j / 65536)).$((j / 256 % 256)).$((j % 256))/32 dev eth1 table 100 proto static"
done >"$T/flood-add-big.batch"
sed 's/^route add/route del/' "$T/flood-add-big.batch" >"$T/flood-del-big.batch"

backlog default "" maybe
# The default buffer (64 MiB) holds even the larger backlog; 8 MiB (the first releases' default) does not.
backlog default_3x -big maybe
backlog rcvbuf8m_3x -big yes --netlink-rcvbuf 8388608
backlog rcvbuf4096 "" yes --netlink-rcvbuf 4096

# ---------------------------------------------------------------------------------------------------------
info "=== sustained storm: $STORM_S s of route churn (two writers), --netlink-rcvbuf 4096"
agent_start "$NS" "$T/vpnpolicy.conf" --netlink-rcvbuf 4096
log=$T/agent-$NS.log
for w in 1 2; do
        for ((j = 0; j < 2000; j++)); do echo "route add 10.$((210 + w)).$((j / 256)).$((j % 256))/32 dev eth1 table 100"; done >"$T/storm-add-$w"
        sed 's/^route add/route del/' "$T/storm-add-$w" >"$T/storm-del-$w"
done
storm() { # W: churn until $T/storm-stop exists
        while [[ ! -e $T/storm-stop ]]; do
                ip -n "$NS" -batch "$T/storm-add-$1" && ip -n "$NS" -batch "$T/storm-del-$1"
        done
}
st0=$(status_json "$NS")
r0=$(jq .counters.resyncs <<<"$st0")
relmon_start "$NS" "$T/storm.mon" --quiet     # baseline: a reader of every event (64 MiB buffer)
m0=$(cpu_ticks "$RELMON_PID")
c0=$(cpu_ticks "$AGENT_PID")
t_start=$(now_us)
storm 1 &
s1=$!
storm 2 &
s2=$!
register_pid "$s1"
register_pid "$s2"
lat=()
probe_fail=0
end=$(($(now_ms) + STORM_S * 1000))
while (($(now_ms) < end - 2500)); do
        sleep 1
        # answers (healthy, or degraded while a resync is due: exit 3 with JSON)
        ctl "$NS" status --json >"$T/probe.json" 2>/dev/null || true
        jq -e .counters "$T/probe.json" >/dev/null 2>&1 || probe_fail=$((probe_fail + 1))
        ip -n "$NS" -4 rule del pref 32765 from 10.10.10.0/24 lookup 200
        t0=$(now_us)
        if wait_until 2500 rule_there; then lat+=($((($(now_us) - t0) / 1000))); else lat+=(99999); fi
done
while (($(now_ms) < end)); do sleep 0.2; done
touch "$T/storm-stop"
wait "$s1" "$s2" || true
t_end=$(now_us)
c1=$(cpu_ticks "$AGENT_PID")
m1=$(cpu_ticks "$RELMON_PID")
relmon_stop || true
elapsed_ms=$(((t_end - t_start) / 1000))
st=$(status_json "$NS")
r1=$(jq .counters.resyncs <<<"$st")
resyncs=$((r1 - r0))
info "storm: ${elapsed_ms} ms, $resyncs resyncs, overruns $(jq .counters.overruns <<<"$st"), restores $(jq .counters.restores <<<"$st"); rule restore latencies (ms): ${lat[*]}"
check "storm: overruns happened (the storm is one)" jq -e '.counters.overruns > 0' <<<"$st"
check "storm: resyncs rate-limited, at most one a second ($resyncs in $elapsed_ms ms)" \
        test "$resyncs" -le $((elapsed_ms / 1000 + 1))
check "storm: resyncs did happen ($resyncs)" test "$resyncs" -ge 1
assert_eq "storm: status answered every second (JSON, healthy or degraded)" 0 "$probe_fail"
max_lat=$(printf '%s\n' "${lat[@]}" | percentile 100)
check "storm: our rule, deleted ${#lat[@]} times, came back each time within 2.5 s (max $max_lat ms)" test "$max_lat" -lt 2500
check "storm: no crash" _vpt_alive "$AGENT_PID"
sleep 1.2
exact "after the storm"
assert_eq "after the storm: foreign table 100 empty" 0 "$(ip -n "$NS" -4 route show table 100 | wc -l)"
cpu=$(((c1 - c0) * 1000 * 100 / CLK_TCK / elapsed_ms))
figure overrun_storm_seconds $((elapsed_ms / 1000)) s
figure overrun_storm_resyncs_per_s "$(awk -v r="$resyncs" -v t="$elapsed_ms" 'BEGIN { printf "%.2f", r * 1000 / t }')" resyncs/s
figure overrun_storm_restore_p50 "$(printf '%s\n' "${lat[@]}" | percentile 50)" ms
figure overrun_storm_restore_max "$max_lat" ms
figure overrun_storm_agent_cpu "$cpu" %
info "storm: $(tail -n 1 "$T/storm.mon" | sed 's/# //') route events in the storm"
figure overrun_storm_baseline_reader_cpu $(((m1 - m0) * 1000 * 100 / CLK_TCK / elapsed_ms)) %
check "healthy after the storm" ctl "$NS" status
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
