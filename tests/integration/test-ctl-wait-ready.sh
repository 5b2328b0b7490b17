#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# vpnpolicyctl wait-ready (issue 11, item 5), the gate the VPN units pass before they start: exit 0 once
# the agent answers and the kernel holds its source rules and fail-closed routes, also when it is
# degraded (the gateway's link down); 4 when nothing answers within --timeout (no agent, a hung agent, an
# agent that exits on a bad configuration under socket activation); 3 when the agent answers but its
# fail-closed route is not in (a foreign route holds its key), and 0 as soon as it is; 1 when refused
# (not root, not in ReadGroup=); 2 with one line for every bad argument. An agent that comes up while it
# waits, with its own socket or socket-activated, is waited for.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

# wr NS ARGS...: wait-ready in NS; sets RC, OUT (stdout), ERR (stderr), MS (how long it took)
wr() {
        local ns=$1 t0
        shift
        t0=$(now_ms)
        RC=0
        ctl "$ns" wait-ready "$@" >"$T/wr.out" 2>"$T/wr.err" || RC=$?
        MS=$(($(now_ms) - t0))
        OUT=$(<"$T/wr.out")
        ERR=$(<"$T/wr.err")
        info "wait-ready $*: exit $RC after $MS ms; out: $OUT; err: $ERR"
}
one_line() { [[ $(wc -l <<<"$1") == 1 && -n $1 ]]; }

seed003_uplink NS GW
seed003_config "$T/ok.conf" '[Kernel]' 'FailClosed=yes'

# ---------------------------------------------------------------------------------------------------------
info "usage errors: exit 2, one line on stderr, no waiting"
for args in "--timeout 0" "--timeout abc" "--timeout 3601" "--timeout -1" "--timeout 5x" "--timeout" \
        "--bogus" "now" "--timeout 1 extra"; do
        # shellcheck disable=SC2086
        wr "$NS" $args
        check "wait-ready $args: exit 2" test "$RC" = 2
        check "wait-ready $args: one line saying what is wrong" one_line "$ERR"
        check "wait-ready $args: at once (${MS} ms)" test "$MS" -lt 1000
done
wr "$NS" --timeout
check "missing value: says --timeout needs a value" grep -q -- '--timeout needs a value' <<<"$ERR"
wr "$NS" --timeout 0
check "0 s: says the range" grep -q '1\.\.3600' <<<"$ERR"

# ---------------------------------------------------------------------------------------------------------
info "no agent: exit 4 after the timeout"
wr "$NS" --timeout 1
check "no agent: exit 4" test "$RC" = 4
check "no agent: one line naming the socket" eval 'one_line "$ERR" && grep -qF "$T/run-$NS/io.vpnpolicy" <<<"$ERR"'
check "no agent: it waited the timeout, not more (1000 <= $MS < 2500 ms)" test "$MS" -ge 1000 -a "$MS" -lt 2500
check "no agent: nothing on stdout" test -z "$OUT"

# ---------------------------------------------------------------------------------------------------------
info "an agent that comes up while it waits (its own socket: connecting fails until then)"
mkdir -p "$T/run-$NS"
ctl "$NS" wait-ready --timeout 20 >"$T/late.out" 2>"$T/late.err" &
wpid=$!
register_pid "$wpid"
sleep 0.5
check "still waiting before the agent runs" _vpt_alive "$wpid"
agent_start "$NS" "$T/ok.conf"
t0=$(now_ms)
rc=0
wait "$wpid" || rc=$?
info "late agent: wait-ready exit $rc, $(($(now_ms) - t0)) ms after READY; $(cat "$T/late.out" "$T/late.err")"
check "late agent: exit 0" test "$rc" = 0
check "late agent: says ready" grep -q 'is ready' "$T/late.out"

# ---------------------------------------------------------------------------------------------------------
info "healthy, then degraded (gateway link down): ready both times"
wr "$NS"
check "healthy: exit 0" test "$RC" = 0
check "healthy: at once ($MS ms)" test "$MS" -lt 1000
check "healthy: says healthy" grep -q '(healthy)' <<<"$OUT"
ip -n "$NS" link set eth1 down
check "link down: the v4 default route is gone" wait_until 2000 eval '[[ -z $(ip -n "$NS" route show table 200 default via 192.168.1.1) ]]'
check "link down: the agent says degraded (status exit 3)" wait_until 3000 eval 'rc=0; ctl "$NS" status >/dev/null 2>&1 || rc=$?; ((rc == 3))'
wr "$NS" --timeout 5
check "degraded: exit 0 (rules and fail-closed routes in force)" test "$RC" = 0
check "degraded: says degraded" grep -q '(degraded)' <<<"$OUT"
ip -n "$NS" link set eth1 up
ip -n "$NS" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad 2>/dev/null || true

# ---------------------------------------------------------------------------------------------------------
info "a hung agent (SIGSTOP): the call is accepted but never answered"
kill -STOP "$AGENT_PID"
wr "$NS" --timeout 1
kill -CONT "$AGENT_PID"
check "hung: exit 4" test "$RC" = 4
check "hung: one line" one_line "$ERR"
check "hung: within the timeout (1000 <= $MS < 2500 ms)" test "$MS" -ge 1000 -a "$MS" -lt 2500
wr "$NS" --timeout 5
check "running again: exit 0" test "$RC" = 0

# ---------------------------------------------------------------------------------------------------------
info "refused: a user that may not read the status"
rc=0
ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups "$VPNPOLICYCTL" --runtime-dir "$T/run-$NS" \
        wait-ready --timeout 5 >/dev/null 2>"$T/refused.err" || rc=$?
info "nobody: exit $rc: $(cat "$T/refused.err")"
check "nobody: exit 1 (refused), not a wait for the timeout" test "$rc" = 1
check "nobody: one line saying refused" eval 'one_line "$(cat "$T/refused.err")" && grep -q refused "$T/refused.err"'
agent_stop

# ---------------------------------------------------------------------------------------------------------
info "the agent answers, but a foreign route holds the key of its fail-closed route"
ip -n "$NS" route del unreachable default metric 4294967295 table 200
ip -n "$NS" route add unreachable default metric 4294967295 table 200 proto static
agent_start "$NS" "$T/ok.conf"
wr "$NS" --timeout 1
check "fail-closed route not ours: exit 3" test "$RC" = 3
check "fail-closed route not ours: one line naming it" eval 'one_line "$ERR" && grep -q "unreachable default" <<<"$ERR"'
ctl "$NS" wait-ready --timeout 20 >"$T/fc.out" 2>"$T/fc.err" &
wpid=$!
register_pid "$wpid"
sleep 0.3
check "still waiting while the foreign route is there" _vpt_alive "$wpid"
ip -n "$NS" route del unreachable default metric 4294967295 table 200 proto static
t0=$(now_ms)
rc=0
wait "$wpid" || rc=$?
info "foreign route removed: wait-ready exit $rc after $(($(now_ms) - t0)) ms"
check "once the agent's own fail-closed route is in: exit 0" test "$rc" = 0
agent_stop

# ---------------------------------------------------------------------------------------------------------
info "socket activation (systemd-socket-activate holds the socket): answered after READY"
command -v systemd-socket-activate >/dev/null || die "systemd-socket-activate is missing (package systemd)"
sa() { # CONF: a socket-activated agent in NS, started at the first connection
        ip netns exec "$NS" systemd-socket-activate -l "$T/run-$NS/io.vpnpolicy" "$VPNPOLICYD" --config "$1" \
                --runtime-dir "$T/run-$NS" --log-level debug </dev/null >>"$T/agent-sa.log" 2>&1 &
        SA_PID=$!
        register_pid "$SA_PID"
        wait_until 3000 test -S "$T/run-$NS/io.vpnpolicy"
}
rm -f "$T/run-$NS/io.vpnpolicy"
sa "$T/ok.conf"
wr "$NS" --timeout 10
check "socket-activated: exit 0" test "$RC" = 0
check "socket-activated: the agent runs (started by the call)" _vpt_alive "$SA_PID"
kill -TERM "$SA_PID"
wait_until 5000 _vpt_dead "$SA_PID" || kill -KILL "$SA_PID"
wait "$SA_PID" 2>/dev/null || true

info "socket activation with an invalid configuration: the agent exits 78, nothing answers"
seed003_config "$T/bad.conf" '[Kernel]' 'Bogus=1'
rc=0
ip netns exec "$NS" "$VPNPOLICYD" --check-config --config "$T/bad.conf" >/dev/null 2>&1 || rc=$?
check "the bad config is refused with 78" test "$rc" = 78
rm -f "$T/run-$NS/io.vpnpolicy"
sa "$T/bad.conf"
wr "$NS" --timeout 2
check "bad config: exit 4" test "$RC" = 4
check "bad config: one line" one_line "$ERR"
rc=0
wait "$SA_PID" 2>/dev/null || rc=$?
check "bad config: the agent exited 78" test "$rc" = 78

finish
