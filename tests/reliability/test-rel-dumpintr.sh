#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 4: dumps interrupted under churn (NLM_F_DUMP_INTR). Three writers churn continuously:
# main-table routes via tun devices (the mirrored set changes), addresses on tun devices (the tun routes
# change) and whole tun devices (links come and go). relnl dumpintr shows how often the kernel flags a
# dump as interrupted under this churn (figures per kind). The agent runs with --netlink-rcvbuf 4096, so
# it overruns and resyncs (full dumps) all the time, and it is also started twice in the middle of the
# churn (its start-up dumps interrupted). Once the churn stops, within CONVERGE_MS:
#   - table 200 is exactly what the kernel's main table and addresses call for (every mirrored route of a
#     main-table route via a tun device, every tun route of a tun address, nothing else of ours);
#   - rules and the default routes exact, status healthy.
# Only dumps of several datagrams can be interrupted, so there are NDEV tun devices with an address each
# (the link and address dumps span several 64 KiB reads, as the agent reads them).
# Sizes: CHURN_S 8 (CI) / 60 (full); NDEV 300 tun devices, NSTABLE 1000 stable mirrored routes.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CHURN_S=${CHURN_S:-$(rel_size 8 60)}
NDEV=${NDEV:-300}
NSTABLE=${NSTABLE:-1000}
CONVERGE_MS=${CONVERGE_MS:-5000}

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf" "${REL_TUN_POOL[@]}"
for ((i = 0; i < NDEV; i++)); do
        echo "tuntap add dev tun$i mode tun"
        echo "link set tun$i up"
        echo "addr add 100.$((64 + i / 256)).$((i % 256)).1/24 dev tun$i"
done >"$T/devices.batch"
for ((j = 0; j < NSTABLE; j++)); do
        echo "route add 172.16.$((j / 256)).$((j % 256))/32 dev tun$((j % NDEV))"
done >"$T/stable.batch"
ip -n "$NS" -batch "$T/devices.batch"
ip -n "$NS" -batch "$T/stable.batch"

# churn batches: routes (500 via the tuns, with metrics and a gateway form), addresses, devices
for ((j = 0; j < 500; j++)); do
        echo "route add 172.20.$((j / 256)).$((j % 256))/32 dev tun$((j % NDEV)) metric $((j % 3))"
done >"$T/churn-routes-add"
sed 's/^route add/route del/' "$T/churn-routes-add" >"$T/churn-routes-del"
for ((i = 0; i < NDEV; i++)); do echo "addr add 100.$((96 + i / 256)).$((i % 256)).1/24 dev tun$i"; done >"$T/churn-addrs-add"
sed 's/^addr add/addr del/' "$T/churn-addrs-add" >"$T/churn-addrs-del"
for ((i = 0; i < 20; i++)); do
        echo "tuntap add dev tunx$i mode tun"
        echo "link set tunx$i up"
        echo "addr add 100.126.$i.1/24 dev tunx$i"
        echo "route add 172.21.$i.0/24 dev tunx$i"
done >"$T/churn-links-add"
for ((i = 0; i < 20; i++)); do echo "tuntap del dev tunx$i mode tun"; done >"$T/churn-links-del"

churner() { # KIND: add/del its batch until $T/stop exists
        while [[ ! -e $T/stop ]]; do
                ip -n "$NS" -batch "$T/churn-$1-add" >/dev/null 2>&1 || true
                ip -n "$NS" -batch "$T/churn-$1-del" >/dev/null 2>&1 || true
        done
}
CHURNERS=()
churn_start() {
        rm -f "$T/stop"
        local k
        for k in routes addrs links; do
                churner "$k" &
                CHURNERS+=($!)
                register_pid "$!"
        done
}
churn_stop() {
        touch "$T/stop"
        wait "${CHURNERS[@]}" 2>/dev/null || true
        CHURNERS=()
}

# expected_v4 / actual_v4: table 200 (v4, ours) as the main table and the addresses call for it, as
# sorted "dst dev gateway metric" lines. A main-table route via a tun device is mirrored as it is; the
# kernel's own connected route of a tun address (proto kernel) is the tun route (metric 0 in table 200).
expected_v4() {
        ip -n "$NS" -4 -j route show table main |
                jq -r '.[] | select((.dev // "") | startswith("tun")) | select(.type == null or .type == "unicast")
                        | [.dst, .dev, (.gateway // "-"), (if .protocol == "kernel" then 0 else (.metric // 0) end)] | @tsv' |
                sort
        printf 'default\teth1\t192.168.1.1\t0\ndefault\t-\t-\t4294967295\n'
}
actual_v4() {
        ip -n "$NS" -4 -j route show table 200 proto 211 |
                jq -r '.[] | [.dst, (.dev // "-"), (.gateway // "-"), (.metric // 0)] | @tsv' | sort
}
expected_sorted() { expected_v4 | sort; }
converged() { [[ $(expected_sorted) == "$(actual_v4)" ]]; }

# ---------------------------------------------------------------------------------------------------------
info "how often the kernel flags dumps as interrupted under this churn (relnl dumpintr)"
churn_start
sleep 0.5
for _ in 1 2 3; do    # a slow machine may need more rounds to catch one
        out=$(ip netns exec "$NS" "$RELNL" dumpintr 50)
        [[ $out =~ (link|addr4|addr6)\ [1-9] ]] && break
done
churn_stop
info "dumpintr under churn: $out"
read -r -a f <<<"$out"
declare -A INTR=()
for ((k = 4; k + 1 < ${#f[@]}; k += 2)); do INTR[${f[k]}]=${f[k + 1]}; done
for k in link addr4 addr6 route4 route6 rule4; do figure "dumpintr_${k}_interrupted_of_50" "${INTR[$k]:-0}" dumps; done
check "the churn interrupts dumps (link or address dumps flagged NLM_F_DUMP_INTR)" \
        test $((${INTR[link]:-0} + ${INTR[addr4]:-0} + ${INTR[addr6]:-0} + ${INTR[route4]:-0} + ${INTR[route6]:-0})) -gt 0

# ---------------------------------------------------------------------------------------------------------
info "agent (rcvbuf 4096) under $CHURN_S s of churn, started twice in the middle of it"
agent_start "$NS" "$T/vpnpolicy.conf" --netlink-rcvbuf 4096
check "converged before the churn" wait_until "$CONVERGE_MS" converged
churn_start
t_churn=$(now_ms)
sleep $((CHURN_S / 3))
starts_ok=0
for n in 1 2; do
        agent_kill9 "$NS" 2>/dev/null
        if agent_start "$NS" "$T/vpnpolicy.conf" --netlink-rcvbuf 4096; then
                starts_ok=$((starts_ok + 1))
                info "start $n under churn: READY after $AGENT_READY_MS ms"
                figure "dumpintr_start_${n}_under_churn_ready" "$AGENT_READY_MS" ms
        fi
        sleep $((CHURN_S / 3))
done
assert_eq "the agent came up (READY=1) both times it was started under churn" 2 "$starts_ok"
st=$(status_json "$NS")
churn_ms=$(($(now_ms) - t_churn))
churn_stop
check "agent alive after the churn" _vpt_alive "$AGENT_PID"
info "counters at the end of the churn: $(jq -c '.counters | {overruns, resyncs, netlink_errors, failed_operations, operations}' <<<"$st")"
check "resyncs happened under the churn" jq -e '.counters.resyncs > 0' <<<"$st"
t0=$(now_us)
if wait_until "$CONVERGE_MS" converged; then
        ms=$((($(now_us) - t0) / 1000))
        _vpt_pass "after the churn: table 200 exactly as the main table and the addresses call for ($ms ms)"
        figure dumpintr_converge_after_churn "$ms" ms
else
        _vpt_fail "after the churn: table 200 exactly as the main table and the addresses call for" \
                "not within $CONVERGE_MS ms (- expected, + table 200)" "$(diff <(expected_sorted) <(actual_v4) | head -n 20)"
fi
assert_eq "rules v4 exact" "$REL_RULES4_TUNS" "$(source_rules_json "$NS" 4)"
assert_eq "rules v6 exact" "$REL_RULES6" "$(source_rules_json "$NS" 6)"
assert_eq "v6 table 200 exact" "$REL_ROUTES6" "$(routes_json "$NS" 6 200)"
check "status healthy" wait_until 3000 ctl "$NS" status
check "no churn device left" test -z "$(ip -n "$NS" -o link show | grep 'tunx')"
figure dumpintr_churn_seconds $((churn_ms / 1000)) s
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
