#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Lost events: the agent runs with a tiny netlink receive buffer (--netlink-rcvbuf 4096), and a flood of
# unrelated events (2,000 routes in a foreign table, 50 veth pairs made and deleted) overruns it while one
# of our rules is deleted in the middle. The agent notices (ENOBUFS: overruns > 0), resyncs (resyncs > 0,
# at most about once a second), and ends with our rule back and exactly the expected object set.
# Then the agent is stopped (SIGSTOP), a rule and a route of ours are deleted, another flood comes, and
# after SIGCONT both are back within 1 s.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink NS GW
seed003_config "$T/vpnpolicy.conf"
rule_there() { [[ -n $(ip -n "$NS" -"$1" rule show pref 32765 from "$2" lookup 200) ]]; }
status() { ctl "$NS" status --json || true; }   # JSON also when degraded (exit 3)

# flood files: 2,000 routes into foreign table 100 in 8 parts (add, del), 50 veth pairs (add, del)
for part in 0 1 2 3 4 5 6 7; do
        for i in $(seq 0 249); do echo "route add 10.200.$part.$i/32 dev eth1 table 100 proto static"; done >"$T/routes-add.$part"
        sed 's/^route add/route del/' "$T/routes-add.$part" >"$T/routes-del.$part"
done
for i in $(seq 1 50); do echo "link add fl$i type veth peer name flp$i"; done >"$T/links-add"
for i in $(seq 1 50); do echo "link del fl$i"; done >"$T/links-del"
# flood add|del: the 8 route parts in parallel (8 writers outpace one reader), with the link churn
flood() {
        local f pids=()
        for f in "$T"/routes-"$1".*; do
                ip -n "$NS" -batch "$f" &
                pids+=($!)
        done
        { ip -n "$NS" -batch "$T/links-add" && ip -n "$NS" -batch "$T/links-del"; } &
        pids+=($!)
        wait "${pids[@]}"
}
t_start=$(now_ms)
agent_start "$NS" "$T/vpnpolicy.conf" --netlink-rcvbuf 4096
seed003_exact "$NS" "start"

# ---------------------------------------------------------------------------------------------------------
info "flood with a deletion of our v4 rule in the middle"
# Whether 8 writers overrun the reader depends on the machine: up to 3 rounds until one does.
for round in 1 2 3; do
        flood add &
        flooder=$!
        register_pid "$flooder"
        sleep 0.05
        ip -n "$NS" rule del pref 32765 from 10.10.10.0/24 lookup 200
        wait "$flooder"
        if [[ $(status | jq .counters.overruns) -gt 0 || $round == 3 ]]; then
                break
        fi
        info "round $round: no overrun, flooding again"
        check "round $round: our v4 rule back" wait_until 2000 rule_there 4 10.10.10.0/24
        flood del
done
assert_eq "flood: 2000 foreign routes in table 100" 2000 "$(ip -n "$NS" route show table 100 | wc -l)"
check "our v4 rule back within 2000 ms" wait_until 2000 rule_there 4 10.10.10.0/24
sleep 1.2       # let any resync still due run
seed003_exact "$NS" "after the flood"
st=$(status)
info "counters: $(jq -c '.counters | {overruns, resyncs, restores, reconcile_passes, netlink_errors}' <<<"$st")"
check "status: overruns > 0" jq -e '.counters.overruns > 0' <<<"$st"
check "status: resyncs > 0" jq -e '.counters.resyncs > 0' <<<"$st"
elapsed_s=$((($(now_ms) - t_start) / 1000 + 1))
check "resyncs rate-limited: at most one a second (<= $((elapsed_s + 1)) in ${elapsed_s} s)" \
        jq -e --argjson max $((elapsed_s + 1)) '.counters.resyncs <= $max' <<<"$st"
check "status: healthy" ctl "$NS" status
assert_eq "foreign table 100 untouched (2000 routes)" 2000 "$(ip -n "$NS" route show table 100 | wc -l)"
check "status: all objects present" jq -e 'all(.objects[]; .present)' <<<"$st"

# ---------------------------------------------------------------------------------------------------------
info "SIGSTOP, deletions, flood, SIGCONT"
overruns0=$(jq .counters.overruns <<<"$st")
resyncs0=$(jq .counters.resyncs <<<"$st")
passes0=$(jq .counters.reconcile_passes <<<"$st")
kill -STOP "$AGENT_PID"
defer kill -CONT "$AGENT_PID"
ip -n "$NS" rule del pref 32765 from 10.10.10.0/24 lookup 200
ip -n "$NS" -6 route del default via fd00:1010:1010:1010::1 table 200
flood del
check_fail "while stopped: our v4 rule is gone" rule_there 4 10.10.10.0/24
kill -CONT "$AGENT_PID"
t0=$(now_us)
check "after SIGCONT: v4 rule back within 1000 ms" wait_until 1000 rule_there 4 10.10.10.0/24
check "after SIGCONT: v6 default route back within 1000 ms" \
        wait_until 1000 eval '[[ -n $(ip -n "$NS" -6 route show table 200 default via fd00:1010:1010:1010::1) ]]'
echo "# METRIC after SIGCONT: both back in $((($(now_us) - t0) / 1000)) ms"
sleep 1.2
seed003_exact "$NS" "after SIGCONT"
st=$(status)
info "counters: $(jq -c '.counters | {overruns, resyncs, restores, reconcile_passes, netlink_errors}' <<<"$st")"
check "status: another overrun seen" jq -e --argjson o "$overruns0" '.counters.overruns > $o' <<<"$st"
check "status: another resync done" jq -e --argjson r "$resyncs0" '.counters.resyncs > $r' <<<"$st"
check "the queued burst cost few reconcile passes (<= 10, coalesced)" \
        jq -e --argjson p "$passes0" '.counters.reconcile_passes - $p <= 10' <<<"$st"
assert_eq "foreign table 100 empty again" 0 "$(ip -n "$NS" route show table 100 | wc -l)"
check "healthy" ctl "$NS" status
check_fail "no flood link left" grep -q 'fl[0-9]' <(ip -n "$NS" -o link)

finish
