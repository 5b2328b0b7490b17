#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 10b: the control socket's connection budgets (issue 11, section 6). Unprivileged local users
# must never take the room of the peers the agent serves: [Control] ReadGroup= members (status) and
# RegisterUser= registrants (the hook after OpenVPN dropped root, --up-restart). With vlstress
# (tests/reliability/vlstress.c):
#  A. The open-file limit raised (as the agent does itself): two unprivileged uids (65534 and 65533, gid
#     65533, not in ReadGroup=) each open 2,200 idle connections: together they fill the non-root budget
#     (4,096; 2,048 per uid). Checked while they hold them: a third unprivileged uid is refused (so the
#     budget is full indeed), and a ReadGroup= member's GetStatus and a RegisterUser='s RegisterTunnel
#     (refreshing root's registration of tun0) are served, every probe; root's status too.
#  B. The open-file limit at 1024 (systemd's default soft limit, hard limit 1024 too, so the agent cannot
#     raise it): nobody's 1,100 idle connections would take every descriptor; the agent keeps the last 256
#     for root and the peers it serves: the ReadGroup= member and the registrant are served.
# Afterwards the descriptors are back, the policy untouched and the agent healthy.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is missing"
command -v prlimit >/dev/null || skip_test "prlimit (util-linux) is missing"
[[ -x $VLSTRESS ]] || die "no vlstress helper at $VLSTRESS (ninja -C $BUILD)"
getent passwd daemon >/dev/null || skip_test "no user daemon (uid 1) for RegisterUser="
getent group nogroup >/dev/null || skip_test "no group nogroup for ReadGroup="
HARD=$(ulimit -Hn)
((HARD >= 10000)) || skip_test "the hard open-file limit here is $HARD, below 10000"

rel_topology NS GW
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/24 dev tun0
rel_conf "$T/vpnpolicy.conf" '[Control]' 'ReadGroup=nogroup' 'RegisterUser=daemon'
SOCK=$T/run-$NS/io.vpnpolicy
REGISTER='{"method":"io.vpnpolicy.RegisterTunnel","parameters":{"dev":"tun0","ifconfig_local":"10.10.10.1","ifconfig_netmask":"255.255.255.0"}}'
as_uid() { local u=$1 g=$2; shift 2; ip netns exec "$NS" setpriv --reuid "$u" --regid "$g" --clear-groups "$@"; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# probe WHO UID GID MS [--request JSON]: probes every 200 ms for MS; sets OK and FAIL
probe() {
        local who=$1 u=$2 g=$3 ms=$4 out
        shift 4
        out=$(as_uid "$u" "$g" "$VLSTRESS" probe "$SOCK" --interval-ms 200 --duration-ms "$ms" "$@")
        info "$who: $out"
        read -r _ _ OK _ FAIL _ <<<"$out"
}
# flood UID GID N: N idle connections of UID, in the background (its pid in FLOOD_PIDS). The agent closes
# them 10 s after it accepted them (its idle deadline): everything under the flood happens before that.
FLOOD_PIDS=()
flood() {
        as_uid "$1" "$2" "$VLSTRESS" clients "$SOCK" --idle "$3" --hold-ms 12000 >"$T/flood-$1.out" &
        FLOOD_PIDS+=($!)
        register_pid "$!"
}
# root registers tun0 as OpenVPN's up hook does at start (as root): non-root registrants may refresh it
register_root() {
        ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$T/run-$NS" dev=tun0 ifconfig_local=10.10.10.1 \
                ifconfig_netmask=255.255.255.0 script_type=up "$HOOK" --strict tun0 1500 1500 10.10.10.1 \
                255.255.255.0 init
}
# served WHAT: the ReadGroup member's status and the registrant's RegisterTunnel answer every probe
served() {
        probe "$1: ReadGroup member (uid 65532, gid nogroup), GetStatus" 65532 65534 1500
        check "$1: the ReadGroup= member is served ($OK ok, $FAIL failed)" test "$FAIL" = 0 -a "$OK" -ge 5
        figure "budget_${2}_reader_failures" "$FAIL" probes
        probe "$1: RegisterUser=daemon (uid 1), RegisterTunnel tun0" 1 1 1500 --request "$REGISTER"
        check "$1: the RegisterUser= registrant is served ($OK ok, $FAIL failed)" test "$FAIL" = 0 -a "$OK" -ge 5
        figure "budget_${2}_registrant_failures" "$FAIL" probes
}

# ---------------------------------------------------------------------------------------------------------
info "A. open-file limit raised: two unprivileged uids fill the non-root budget"
read -ra _VPT_WRAPPER <<<"prlimit --nofile=$HARD:"
agent_start "$NS" "$T/vpnpolicy.conf"
read -ra _VPT_WRAPPER <<<"${AGENT_WRAPPER:-}"
check "A: root registers tun0" register_root
rel_dump "$NS" "$T/before.dump"
fd0=$(nfds "$AGENT_PID")
probe "A, idle: ReadGroup member" 65532 65534 1000
check "A, before the flood: the ReadGroup= member is served" test "$FAIL" = 0 -a "$OK" -ge 5

flood 65534 65533 2200
flood 65533 65533 2200
check "A: the agent holds 4,096 unprivileged connections (2,048 per uid)" \
        wait_until 8000 eval '(( $(nfds "$AGENT_PID") >= fd0 + 4096 ))'
info "A: agent descriptors $fd0 before, $(nfds "$AGENT_PID") during the flood"
probe "A: a third unprivileged uid (65531)" 65531 65533 1000
check "A: the budget is full: a third unprivileged uid is refused ($OK ok, $FAIL failed)" test "$OK" = 0 -a "$FAIL" -gt 0
served "A" raised
probe "A: root" 0 0 1000
check "A: root is served ($OK ok, $FAIL failed)" test "$FAIL" = 0 -a "$OK" -ge 3
check "A: the flood still held the budget after the probes" test "$(nfds "$AGENT_PID")" -ge $((fd0 + 4096))
for p in "${FLOOD_PIDS[@]}"; do wait "$p" || true; done
FLOOD_PIDS=()
for u in 65534 65533; do info "A: flood of uid $u: $(tr '\n' ';' <"$T/flood-$u.out")"; done
check "A: descriptors back to $fd0 once the floods are gone" wait_until 5000 eval '(( $(nfds "$AGENT_PID") <= fd0 ))'
rel_dump "$NS" "$T/after.dump"
check "A: the policy untouched" cmp -s "$T/before.dump" "$T/after.dump"
check "A: agent alive and healthy" ctl "$NS" status
agent_stop TERM

# ---------------------------------------------------------------------------------------------------------
info "B. open-file limit 1024 (soft and hard): nobody's 1,100 idle connections"
read -ra _VPT_WRAPPER <<<"prlimit --nofile=1024:1024"
agent_start "$NS" "$T/vpnpolicy.conf"
read -ra _VPT_WRAPPER <<<"${AGENT_WRAPPER:-}"
info "agent: $(grep 'Max open files' "/proc/$AGENT_PID/limits")"
check "B: root registers tun0" register_root
fd0=$(nfds "$AGENT_PID")
flood 65534 65533 1100
check "B: the agent holds 768 of nobody's connections (1024 less the 256 it keeps back)" \
        wait_until 8000 eval '(( $(nfds "$AGENT_PID") >= fd0 + 768 ))'
info "B: agent descriptors $fd0 before, $(nfds "$AGENT_PID") during the flood"
served "B" nofile1024
n=$(nfds "$AGENT_PID")
check "B: the flood still held its 768 after the probes, and no more: 200 descriptors and more free ($n open)" \
        test "$n" -ge $((fd0 + 768)) -a "$n" -le $((1024 - 200))
for p in "${FLOOD_PIDS[@]}"; do wait "$p" || true; done
check "B: descriptors back to $fd0 once the flood is gone" wait_until 5000 eval '(( $(nfds "$AGENT_PID") <= fd0 ))'
check "B: agent alive and healthy" ctl "$NS" status
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
