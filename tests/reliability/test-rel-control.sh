#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 10: the control socket under hostile local clients (tests/reliability/vlstress.c), all of
# them an unprivileged user (nobody) unless said otherwise, while root asks for the status every 200 ms.
#  A. The agent with the open-file limit it gets under the shipped unit (the unit sets no LimitNOFILE=,
#     so systemd's default soft limit of 1024 applies, and the agent does not raise it): 1,000 and 1,100
#     idle connections (connected, nothing sent) of nobody must not lock root out: status keeps answering.
#  B. The agent with RLIMIT_NOFILE raised to its hard limit, ROUNDS rounds of 1,370 concurrent
#     connections: 1,000 idle, 100 slow (half a request, never finished), 50 oversized (80 KiB, no end),
#     120 malformed (12 kinds), 100 mutating calls (Reload, RegisterTunnel). Checked:
#       - root's status answers throughout (every probe, within 2 s each; figures p50/max);
#       - every mutating call of nobody is refused (PermissionDenied, with a reason), and logged;
#       - every malformed request gets an error answer (InvalidParameter with a reason, or
#         MethodNotFound naming the method), every oversized one RequestTooLarge (with the limit) and
#         its connection closed; every slow one is closed after the 10 s request deadline;
#       - afterwards the descriptors are back to where they were, VmRSS is bounded (figures before,
#         during, after each round), the policy untouched and the agent healthy.
#     Then 4,200 idle connections of nobody, beyond the agent's connection cap (4,096): root's status must
#     still answer.
# Sizes: ROUNDS 1 (CI) / 3 (full).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is missing"
command -v prlimit >/dev/null || skip_test "prlimit (util-linux) is missing"
[[ -x $VLSTRESS ]] || die "no vlstress helper at $VLSTRESS (ninja -C $BUILD)"
ROUNDS=${ROUNDS:-$(rel_size 1 3)}
HARD=$(ulimit -Hn)
((HARD >= 4096)) || skip_test "the hard open-file limit here is $HARD, below 4096"

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf"
SOCK=$T/run-$NS/io.vpnpolicy
as_nobody() { ip netns exec "$NS" setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# ---------------------------------------------------------------------------------------------------------
info "A. open-file soft limit 1024 (as under the shipped unit): 1,000 idle connections of nobody"
read -ra _VPT_WRAPPER <<<"prlimit --nofile=1024:"
agent_start "$NS" "$T/vpnpolicy.conf"
read -ra _VPT_WRAPPER <<<"${AGENT_WRAPPER:-}"
info "agent: $(grep 'Max open files' "/proc/$AGENT_PID/limits")"
for idle in 1000 1100; do
        fd0=$(nfds "$AGENT_PID")
        as_nobody "$VLSTRESS" clients "$SOCK" --idle "$idle" --hold-ms 6000 >"$T/a-clients.out" &
        cl=$!
        register_pid "$cl"
        sleep 1
        fd1=$(nfds "$AGENT_PID")
        probe=$(ip netns exec "$NS" "$VLSTRESS" probe "$SOCK" --interval-ms 200 --duration-ms 4000)
        wait "$cl" || true
        info "A: agent descriptors $fd0 before, $fd1 with $idle idle connections; root's status: $probe"
        read -r _ _ ok _ fail _ <<<"$probe"
        figure "control_a_${idle}_idle_status_failures" "$fail" probes
        check "A: root's status keeps answering while nobody holds $idle idle connections ($ok ok, $fail failed)" \
                test "$fail" = 0 -a "$ok" -gt 0
        wait_until 5000 ctl "$NS" status || true
done
check "A: status answers again once they are gone" wait_until 5000 ctl "$NS" status
agent_stop TERM

# ---------------------------------------------------------------------------------------------------------
info "B. open-file limit raised to $HARD: $ROUNDS round(s) of 1,370 hostile connections"
read -ra _VPT_WRAPPER <<<"prlimit --nofile=$HARD:"
agent_start "$NS" "$T/vpnpolicy.conf"
read -ra _VPT_WRAPPER <<<"${AGENT_WRAPPER:-}"
rel_dump "$NS" "$T/before.dump"
fd0=$(nfds "$AGENT_PID")
rss0=$(vmrss_kb "$AGENT_PID")
figure control_rss_before "$rss0" KiB
rss_after=()
for round in $(seq 1 "$ROUNDS"); do
        lines0=$(wc -l <"$T/agent-$NS.log")
        as_nobody "$VLSTRESS" clients "$SOCK" --idle 1000 --slow 100 --oversized 50 --malformed 120 --mutate 100 \
                --hold-ms 11500 >"$T/b$round.out" &
        cl=$!
        register_pid "$cl"
        sleep 1
        rss_during=$(vmrss_kb "$AGENT_PID")
        fd_during=$(nfds "$AGENT_PID")
        probe=$(ip netns exec "$NS" "$VLSTRESS" probe "$SOCK" --interval-ms 200 --duration-ms 9500)
        wait "$cl" || true
        r=$T/b$round.out
        info "round $round: clients: $(tr '\n' ';' <"$r")"
        info "round $round: root's status: $probe; agent descriptors $fd_during, VmRSS $rss_during KiB during the round"
        read -r _ _ ok _ fail _ maxms _ p50 <<<"$probe"
        check "round $round: all 1,370 connections were accepted" grep -qx 'connected 1370 failed 0' "$r"
        check "round $round: root's status answered throughout ($ok ok, $fail failed, max $maxms ms)" \
                test "$fail" = 0 -a "$ok" -ge 20
        check "round $round: every mutating call of nobody refused with a reason (PermissionDenied)" \
                grep -qx 'reply mutate org.varlink.service.PermissionDenied 100 with_reason 100' "$r"
        assert_eq "round $round: every refusal logged" 100 \
                "$(tail -n "+$((lines0 + 1))" "$T/agent-$NS.log" | grep -c 'Refused .* from uid 65534' || true)"
        check "round $round: every malformed request answered with an error" grep -qx 'unanswered malformed 0' "$r"
        assert_eq "round $round: malformed: InvalidParameter with a reason, or MethodNotFound (the unknown method)" \
                "120" "$(awk '$1 == "reply" && $2 == "malformed" && (($3 == "org.varlink.service.InvalidParameter" && $4 == $6) || $3 == "org.varlink.service.MethodNotFound") { n += $4 } END { print n + 0 }' "$r")"
        check "round $round: every oversized request refused (RequestTooLarge) and closed" \
                bash -c "grep -qx 'reply oversized io.vpnpolicy.RequestTooLarge 50 with_reason 0' '$r' && grep -qx 'closed_by_agent oversized 50' '$r'"
        check "round $round: every slow request closed at its deadline, unanswered" \
                bash -c "grep -qx 'closed_by_agent slow 100' '$r' && grep -qx 'unanswered slow 100' '$r'"
        check "round $round: descriptors back to $fd0 once the clients are gone" \
                wait_until 3000 eval '(( $(nfds "$AGENT_PID") <= fd0 ))'
        rss=$(vmrss_kb "$AGENT_PID")
        rss_after+=("$rss")
        figure "control_round${round}_status_p50" "$p50" ms
        figure "control_round${round}_status_max" "$maxms" ms
        figure "control_round${round}_rss_during" "$rss_during" KiB
        figure "control_round${round}_rss_after" "$rss" KiB
        check "round $round: VmRSS bounded: $rss KiB after, $rss_during during (<= before + 16 MiB)" \
                test "$rss" -le $((rss0 + 16384)) -a "$rss_during" -le $((rss0 + 65536))
done
if ((ROUNDS > 1)); then
        check "no growth from round to round (VmRSS ${rss_after[*]} KiB; last <= first + 1 MiB)" \
                test "${rss_after[-1]}" -le $((rss_after[0] + 1024))
fi
info "B. beyond the connection cap (4,096): 4,200 idle connections of nobody, the open-file limit raised"
as_nobody "$VLSTRESS" clients "$SOCK" --idle 4200 --hold-ms 6000 >"$T/cap.out" &
cl=$!
register_pid "$cl"
sleep 1.5
probe=$(ip netns exec "$NS" "$VLSTRESS" probe "$SOCK" --interval-ms 200 --duration-ms 3000)
wait "$cl" || true
info "cap: clients: $(tr '\n' ';' <"$T/cap.out"); root's status: $probe"
read -r _ _ ok _ fail _ <<<"$probe"
figure control_cap_4200_idle_status_failures "$fail" probes
check "B: root's status keeps answering while nobody holds 4,200 idle connections ($ok ok, $fail failed)" \
        test "$fail" = 0 -a "$ok" -gt 0
check "B: descriptors back to $fd0 once they are gone" wait_until 5000 eval '(( $(nfds "$AGENT_PID") <= fd0 ))'
rel_dump "$NS" "$T/after.dump"
check "the policy untouched" cmp -s "$T/before.dump" "$T/after.dump"
check "agent alive and healthy" ctl "$NS" status
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
