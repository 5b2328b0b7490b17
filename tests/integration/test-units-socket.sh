#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Socket activation, as units/vpnpolicyd.socket does it, with systemd-socket-activate holding the
# listening socket instead of systemd: the daemon adopts the one socket it is passed (sd_listen_fds), the
# first call (which triggers the start) is queued and answered once the daemon is ready, and calls made
# while the daemon is down between two runs wait in the backlog instead of failing: what lets the
# OpenVPN up hook ride over a restart of vpnpolicyd.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

command -v systemd-socket-activate >/dev/null || skip_test "systemd-socket-activate is missing"

ns_new NS
ns_new GW
veth_add "$NS" eth1 "$GW" eth0
ip -n "$NS" addr add 192.168.1.100/24 dev eth1
ip -n "$GW" addr add 192.168.1.1/24 dev eth0
ns_exec "$NS" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
conf=$T/vpnpolicy.conf
printf '[Pool]\nPrefix=10.10.10.0/24\n[Gateway]\nIPv4=192.168.1.1\n' >"$conf"

run=$T/run-$NS
mkdir -p "$run"
sock=$run/io.vpnpolicy
log=$T/agent-$NS.log
# The listener starts the loop on the first connection; each daemon run gets the socket as fd 3 with
# LISTEN_PID set to its own pid (a subshell that execs it), as systemd does for every start.
cat >"$T/runs.sh" <<EOF
n=0
while :; do
        n=\$((n + 1))
        echo "=== run \$n \$(date +%T.%N)"
        ( export LISTEN_PID=\$BASHPID; exec "$VPNPOLICYD" --config "$conf" --runtime-dir "$run" --log-level debug )
        echo "=== run \$n exited with \$?"
        sleep 1         # the gap a Restart= would leave
done
EOF
ip netns exec "$NS" systemd-socket-activate -l "$sock" -- bash "$T/runs.sh" </dev/null >>"$log" 2>&1 &
register_pid $!
check "the listener holds the socket before any daemon runs" wait_until 3000 test -S "$sock"
check "no daemon yet" eval '! pgrep -f -- "$VPNPOLICYD --config $conf" >/dev/null'

t0=$(now_ms)
check "the first call starts the daemon and is answered" ctl "$NS" status
info "first call answered after $(($(now_ms) - t0)) ms"
pid=$(pgrep -f -- "$VPNPOLICYD --config $conf" | head -n1) || true
check "the daemon runs" test -n "$pid"
check "the daemon adopted the passed socket (no socket of its own bound)" \
        eval '[[ $(grep -cE "^=== run [0-9]+ [0-9]{2}:" "$log") == 1 ]] && ! grep -qi "failed to listen" "$log"'
check "the rule is in" eval '[[ $(rules_json "$NS" 4 vpnpolicy | jq length) == 1 ]]'

info "restart: calls during the gap are queued"
kill -TERM "$pid"
check "the daemon exits on SIGTERM" wait_until 3000 _vpt_dead "$pid"
check "the socket stays while no daemon runs" test -S "$sock"
t0=$(now_ms)
check "a call in the gap waits and is answered by the next run" ctl "$NS" status
waited=$(($(now_ms) - t0))
info "call in the gap answered after $waited ms"
check "it waited for the next run (>= 500 ms)" test "$waited" -ge 500
check "the second run answered it" eval '[[ $(grep -cE "^=== run [0-9]+ [0-9]{2}:" "$log") == 2 ]]'
check "the rule is still in" eval '[[ $(rules_json "$NS" 4 vpnpolicy | jq length) == 1 ]]'

finish
