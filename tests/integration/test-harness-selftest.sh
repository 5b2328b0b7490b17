#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Proves tests/lib/common.sh and tests/helpers/notify-wait before any test relies on them: namespaces
# made and removed, the iproute2 view per namespace, kernel state as JSON, checks that fail, cleanup after
# an error or a signal, the sd_notify receiver, agent_start/stop against a fake agent, the event monitor.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

command -v socat >/dev/null || die "socat is missing (tests/run.sh installs it)"

# notify DATA SOCKET: a fake sd_notify sender
notify() { printf '%s\n' "$1" | socat -t0 - "UNIX-SENDTO:$2"; }

# ---------------------------------------------------------------------------------------------------------
info "namespaces"
ns_new A
check "namespace exists" test -e "/run/netns/$A"
check "namespace name is short" test "${#A}" -le 15
check "lo is up" ip -n "$A" -o link show lo up
check "own rt_tables in the namespace" ip netns exec "$A" grep -qP '^254\tmain$' /etc/iproute2/rt_tables
ip netns exec "$A" sh -c 'echo "200 selftest" >/etc/iproute2/rt_tables.d/selftest.conf'
check "rt_tables.d write lands in /etc/netns" test -f "/etc/netns/$A/iproute2/rt_tables.d/selftest.conf"
check_fail "host /etc/iproute2 untouched" test -e /etc/iproute2/rt_tables.d/selftest.conf
rm -f "/etc/netns/$A/iproute2/rt_tables.d/selftest.conf"
ns_new B
check "second namespace has another name" test "$A" != "$B"

# ---------------------------------------------------------------------------------------------------------
info "rules_json / routes_json"
tun_add "$A" tun0
ip -n "$A" addr add 10.10.10.1/24 dev tun0
echo '200 vpn' >"/etc/netns/$A/iproute2/rt_tables.d/vpnpolicy.conf"
echo '99 vpnpolicy' >"/etc/netns/$A/iproute2/rt_protos.d/vpnpolicy.conf"
ip -n "$A" rule add from 10.10.10.0/24 lookup 200 pref 32765 proto 99
ip -n "$A" rule add from 10.20.0.0/16 lookup main pref 100
ip -n "$A" -6 rule add from fd00:4242:4242:4242::/64 lookup 200 pref 32765 proto 99
ip -n "$A" route add unreachable default metric 4294967295 table 200 proto 99
ip -n "$A" route add 10.10.10.0/24 dev tun0 table 200 proto 99
assert_eq "rules v4, kernel defaults left out" \
        '[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"},
          {"priority":100,"src":"10.20.0.0","srclen":16,"table":"main","protocol":"unspec"}]' \
        "$(rules_json "$A" 4)"
assert_eq "rules v4, one protocol" \
        '[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"}]' \
        "$(rules_json "$A" inet vpnpolicy)"
assert_eq "rules v6" \
        '[{"priority":32765,"src":"fd00:4242:4242:4242::","srclen":64,"table":"vpn","protocol":"vpnpolicy"}]' \
        "$(rules_json "$A" 6)"
assert_eq "routes v4 in table vpn" \
        '[{"dst":"default","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"},
          {"dst":"10.10.10.0/24","dev":"tun0","type":"unicast","metric":0,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$A" 4 vpn)"
assert_eq "routes v6 of a table that does not exist: empty" '[]' "$(routes_json "$A" 6 vpn)"
assert_eq "routes by table number and protocol" '[]' "$(routes_json "$A" 4 200 kernel)"
# the comparison itself: a different set must fail (in a subshell, so it does not count here)
out=$( (assert_eq "x" '[{"a":1}]' '[{"a":2}]') ) || true
check "assert_eq reports a JSON difference" grep -q '^FAIL: x' <<<"$out"
out=$( (assert_eq "x" '[{"a":1},{"b":2}]' '[{"b":2},{"a":1}]') ) || true
check "assert_eq compares arrays as sets" grep -q '^PASS: x' <<<"$out"

# ---------------------------------------------------------------------------------------------------------
info "checks and finish"
rc=0
out=$(
        _VPT_PASSED=0 _VPT_FAILED=()
        check "this one passes" true
        check "this one must fail" false
        check_fail "so must this" true
        finish
) || rc=$?
check "finish exits 1 after a failed check" test "$rc" = 1
check "the failed check says FAIL" grep -q '^FAIL: this one must fail' <<<"$out"
check "check_fail of a success says FAIL" grep -q '^FAIL: so must this' <<<"$out"
check "the passing check says PASS" grep -q '^PASS: this one passes' <<<"$out"
check "the summary names the failures" grep -q '^SUMMARY: .*2 failed' <<<"$out"
rc=0
out=$(_VPT_PASSED=0 _VPT_FAILED=() && finish) || rc=$?
check "finish with no checks exits 1" test "$rc" = 1
check_fail "check_fail of a failure passes" false

t0=$(now_ms)
rc=0
wait_until 150 false || rc=$?
t1=$(now_ms)
check "wait_until times out with 1" test "$rc" = 1
check "wait_until waits about its timeout" test $((t1 - t0)) -ge 150 -a $((t1 - t0)) -lt 1000
(sleep 0.05 && touch "$T/late") &
register_pid $!
check "wait_until sees a condition come true" wait_until 2000 test -e "$T/late"

# ---------------------------------------------------------------------------------------------------------
info "cleanup after an error, a signal and a death by die"
cat >"$T/child.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
source "$SOURCE_ROOT/tests/lib/common.sh"
out=$1 mode=$2
ns_new N
echo "$N" >"$out.ns"
echo "$T" >"$out.tmp"
ip netns exec "$N" sleep 1000 &
echo $! >"$out.pid"
ip netns exec "$N" sleep 1001 </dev/null >/dev/null 2>&1 &   # not registered: found by `ip netns pids`
echo $! >"$out.pid2"
defer sh -c "echo first >>$out.defer"
defer sh -c "echo second >>$out.defer"
fails() { false; echo "not reached"; }
case $mode in
error) fails ;;
signal) touch "$out.ready"; sleep 1000 & wait $! ;;
die) die "on purpose" ;;
esac
echo "not reached"
EOF
for mode in error signal die; do
        o=$T/child-$mode
        rc=0
        if [[ $mode == signal ]]; then
                bash "$T/child.sh" "$o" "$mode" >"$o.log" 2>&1 &
                cpid=$!
                wait_until 5000 test -e "$o.ready" || true
                kill -TERM "$cpid"
                wait "$cpid" || rc=$?
        else
                bash "$T/child.sh" "$o" "$mode" >"$o.log" 2>&1 || rc=$?
        fi
        cns=$(cat "$o.ns")
        check "$mode: test exits non-zero" test "$rc" -ne 0
        check_fail "$mode: namespace deleted" test -e "/run/netns/$cns"
        check_fail "$mode: /etc/netns entry deleted" test -e "/etc/netns/$cns"
        check_fail "$mode: temp dir deleted" test -e "$(cat "$o.tmp")"
        check_fail "$mode: registered process gone" _vpt_alive "$(cat "$o.pid")"
        check_fail "$mode: process left in the namespace gone" _vpt_alive "$(cat "$o.pid2")"
        assert_eq "$mode: deferred commands ran, last first" $'second\nfirst' "$(cat "$o.defer")"
        check_fail "$mode: nothing after the failure ran" grep -q "not reached" "$o.log"
done
check "error: the abort names the failing command" grep -q 'aborted (exit 1).*line [0-9]* in fails(): false' "$T/child-error.log"
check "signal: the abort names the signal" grep -q 'interrupted by SIGTERM' "$T/child-signal.log"
check "die: the message is shown" grep -q 'FAIL: .*on purpose' "$T/child-die.log"
_selftest_cleanup_idem() {
        # a copy of the state, cleaned twice in a child shell that sources the library afresh
        bash -c 'set -euo pipefail; source "$SOURCE_ROOT/tests/lib/common.sh"; ns_new X; echo "$X" >"$1";
                 cleanup; cleanup; test ! -e "/run/netns/$X"' _ "$T/idem.ns"
}
check "cleanup is idempotent" _selftest_cleanup_idem

# ---------------------------------------------------------------------------------------------------------
info "notify-wait"
S=$T/nw.sock
"$NOTIFY_WAIT" --timeout-ms 5000 "$S" >"$T/nw.out" 2>&1 &
nw=$!
register_pid $nw
check "notify-wait binds its socket" wait_until 2000 test -S "$S"
notify $'STATUS=starting\nMAINPID=4242' "$S"
ip netns exec "$A" socat -t0 - "UNIX-SENDTO:$S" <<<"READY=1" # a path socket works across namespaces
rc=0
wait "$nw" || rc=$?
check "exits 0 on READY=1" test "$rc" = 0
check "prints every line with a timestamp" grep -qE '^[0-9]{10}\.[0-9]{6} MAINPID=4242$' "$T/nw.out"
check "prints READY=1" grep -qE '^[0-9]{10}\.[0-9]{6} READY=1$' "$T/nw.out"
check_fail "removes its socket" test -e "$S"
rc=0
"$NOTIFY_WAIT" --timeout-ms 100 "$S" >/dev/null 2>&1 || rc=$?
check "exits 1 on timeout" test "$rc" = 1
rc=0
"$NOTIFY_WAIT" --no-such-option "$S" >/dev/null 2>&1 || rc=$?
check "exits 2 on a usage error" test "$rc" = 2

"$NOTIFY_WAIT" --keep "$S" >"$T/nwk.out" 2>&1 &
nw=$!
register_pid $nw
wait_until 2000 test -S "$S"
notify WATCHDOG=1 "$S"
notify READY=1 "$S"
notify RELOADING=1 "$S"
check "--keep goes on after READY=1" wait_until 2000 grep -q 'RELOADING=1$' "$T/nwk.out"
kill -TERM "$nw"
rc=0
wait "$nw" || rc=$?
check "--keep exits 0 on SIGTERM after a match" test "$rc" = 0
check "--keep saw WATCHDOG=1" grep -q ' WATCHDOG=1$' "$T/nwk.out"

# ---------------------------------------------------------------------------------------------------------
info "agent_start / agent_stop / ctl with a fake agent"
cat >"$T/fake-agent" <<'EOF'
#!/bin/bash
# Speaks sd_notify like vpnpolicyd; waits on a FIFO, not a child, so a KILL leaves no orphan behind.
mode=ok
while (($#)); do
        case $1 in
        --config) conf=$2; shift ;;
        --runtime-dir) run=$2; shift ;;
        --mode) mode=$2; shift ;;
        esac
        shift
done
say() { printf '%s\n' "$@" | socat -t0 - "UNIX-SENDTO:$NOTIFY_SOCKET"; }
echo "fake agent: conf=$conf run=$run netns=$(readlink /proc/self/ns/net)" >&2
trap 'say STOPPING=1; exit 0' TERM
trap 'say RELOADING=1; say READY=1' HUP
rm -f "$run/fifo" && mkfifo "$run/fifo" && exec 3<>"$run/fifo"
case $mode in
die) echo "fatal: bad config on purpose" >&2; exit 3 ;;
silent) ;;
*) say READY=1 "STATUS=fake" ;;
esac
while :; do read -r -t 1000 -u 3 || true; done
EOF
printf '#!/bin/sh\necho "fake ctl: $*"\n' >"$T/fake-ctl"
chmod +x "$T/fake-agent" "$T/fake-ctl"
: >"$T/empty.conf"
saved=("$VPNPOLICYD" "$VPNPOLICYCTL")
VPNPOLICYD=$T/fake-agent
VPNPOLICYCTL=$T/fake-ctl

agent_start "$A" "$T/empty.conf"
check "agent_start returns once READY=1 came" test -n "$AGENT_READY_MS"
check "AGENT_PID is running" _vpt_alive "$AGENT_PID"
check "ready time recorded" grep -qE '^[0-9]+$' "$T/ready-ms"
check "the agent runs in the namespace" \
        grep -qF "netns=$(ip netns exec "$A" readlink /proc/self/ns/net)" "$T/agent-$A.log"
check "the agent gets its config and runtime dir" grep -qF "conf=$T/empty.conf run=$T/run-$A" "$T/agent-$A.log"
assert_eq "ctl passes the runtime dir" "fake ctl: --runtime-dir $T/run-$A status --json" "$(ctl "$A" status --json)"
n=$(notify_lines "$A")
kill -HUP "$AGENT_PID"
check "notify_wait sees READY=1 after a reload" notify_wait "$A" READY=1 3000 "$n"
check "and RELOADING=1 before it" notify_wait "$A" RELOADING=1 0 "$n"
check_fail "notify_wait does not see old lines" notify_wait "$A" STATUS=fake 50 "$n"
agent_stop
check "agent_stop: exit status 0" test "$AGENT_RC" = 0
check "agent_stop: STOPPING=1 seen" notify_wait "$A" STOPPING=1 1000
agent_start "$A" "$T/empty.conf"
check "restart in the same namespace" _vpt_alive "$AGENT_PID"
agent_kill9
check "agent_kill9: status 137" test "$AGENT_RC" = 137

rc=0
agent_start "$A" "$T/empty.conf" --mode die 2>"$T/die.err" || rc=$?
check "agent_start fails when the agent dies" test "$rc" = 1
check "and says with which status" grep -q 'exited with status 3 before READY=1' "$T/die.err"
check "and shows the log tail" grep -q 'fatal: bad config on purpose' "$T/die.err"
rc=0
AGENT_TIMEOUT_MS=300 agent_start "$A" "$T/empty.conf" --mode silent 2>"$T/silent.err" || rc=$?
check "agent_start fails when READY=1 never comes" test "$rc" = 1
check "and says so" grep -q 'no READY=1 .* within 300 ms' "$T/silent.err"
silent_pid=$AGENT_PID
agent_stop
check "the silent agent is stopped" _vpt_dead "$silent_pid"
VPNPOLICYD=${saved[0]}
VPNPOLICYCTL=${saved[1]}

# ---------------------------------------------------------------------------------------------------------
info "monitor"
monitor_start "$A" "$T/mon1"
ip -n "$A" route del 10.10.10.0/24 dev tun0 table 200
monitor_stop
check "the monitor saw the deletion" grep -q 'Deleted 10.10.10.0/24 dev tun0 table' "$T/mon1"
check_fail "its sentinel is gone from the file" grep -q '192.0.2.255' "$T/mon1"
assert_eq "its sentinel is gone from the kernel" "" "$(ip -n "$A" route show table all 192.0.2.255)"
monitor_start "$A" "$T/mon2"
ip -n "$A" route replace unreachable default metric 4294967295 table 200 proto 99
monitor_stop
check "a quiet stretch records no deletion" test "$(grep -c Deleted "$T/mon2")" = 0

finish
