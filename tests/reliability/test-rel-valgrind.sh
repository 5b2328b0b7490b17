#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability tooling (a): the agent under valgrind memcheck through a short scenario of its core cases:
# start (with a tun device, its addresses and a client LAN route: tun and mirrored routes), restore of a
# deleted rule and route, status calls, a good and a bad reload by vpnpolicyctl and by SIGHUP, a refused
# RegisterTunnel of an unprivileged user, tun devices added and deleted, an overrun and resync
# (--netlink-rcvbuf 4096 and a burst of events), SIGTERM. Memcheck must report no error and no definitely
# lost block (exit status 99 otherwise, --error-exitcode), and the agent must exit 0.
# VALGRIND (default "valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite")
# replaces the command prefix.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || skip_test "valgrind is missing (tests/run.sh installs it)"
VALGRIND=${VALGRIND:-valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite}
read -ra _VPT_WRAPPER <<<"$VALGRIND"
AGENT_TIMEOUT_MS=60000
AGENT_STOP_TIMEOUT_MS=60000

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf"
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/24 dev tun0
ip -n "$NS" -6 addr add fd00:4242:4242:4242::1/64 dev tun0 nodad
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.2 dev tun0 onlink

agent_start "$NS" "$T/vpnpolicy.conf" --netlink-rcvbuf 4096
info "under valgrind: READY after $AGENT_READY_MS ms"
check "start: tun and mirrored routes in table 200" wait_until 5000 eval \
        '[[ -n $(ip -n "$NS" route show table 200 10.10.10.0/24) && -n $(ip -n "$NS" route show table 200 172.16.1.0/24) ]]'
check "status" wait_until 5000 ctl "$NS" status

ip -n "$NS" -4 rule del pref 32765 from 10.10.10.0/24 lookup 200
ip -n "$NS" -6 route del default via fd00:1010:1010:1010::1 table 200
check "restore: rule and route back" wait_until 5000 eval \
        '[[ -n $(ip -n "$NS" -4 rule show pref 32765 from 10.10.10.0/24) && -n $(ip -n "$NS" -6 route show table 200 default via fd00:1010:1010:1010::1) ]]'

rel_conf "$T/vpnpolicy.conf" "[Pool]" "Prefix=10.20.0.0/24"
check "good reload (vpnpolicyctl)" ctl "$NS" reload
check "good reload: the new pool's rule" wait_until 5000 eval '[[ -n $(ip -n "$NS" -4 rule show from 10.20.0.0/24) ]]'
printf '[Pool]\nPrefix=10.20.0.1/24\n' >>"$T/vpnpolicy.conf"
check_fail "bad reload (vpnpolicyctl) refused" ctl "$NS" reload
rel_conf "$T/vpnpolicy.conf"
n0=$(notify_lines "$NS")
kill -HUP "$AGENT_PID"
check "good reload (SIGHUP)" notify_wait "$NS" READY=1 20000 "$n0"
echo "[Bad]" >>"$T/vpnpolicy.conf"
n0=$(notify_lines "$NS")
kill -HUP "$AGENT_PID"
check "bad reload (SIGHUP) answered" notify_wait "$NS" READY=1 20000 "$n0"
rel_conf "$T/vpnpolicy.conf"

rc=0
ip netns exec "$NS" setpriv --reuid 65534 --regid 65534 --clear-groups env -i dev=tun0 script_type=up \
        ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0 "$HOOK" --runtime-dir "$T/run-$NS" \
        >"$T/hook.out" 2>&1 || rc=$?
check "hook as nobody: refused, exit 0" test "$rc" = 0

for i in 1 2 3; do
        tun_add "$NS" "tun$i"
        ip -n "$NS" addr add "10.10.10.$((i * 16 + 1))/28" dev "tun$i"     # a pool address: ours
        ip -n "$NS" route add "172.17.$i.0/24" dev "tun$i"
done
check "tun1..3: routes in table 200" wait_until 5000 eval '[[ $(ip -n "$NS" route show table 200 | grep -c "dev tun[123]") == 6 ]]'
for i in 1 2 3; do ip -n "$NS" link del "tun$i"; done
check "tun1..3 deleted: their routes gone" wait_until 5000 eval '[[ $(ip -n "$NS" route show table 200 | grep -c "dev tun[123]") == 0 ]]'

for ((j = 0; j < 2000; j++)); do echo "route add 10.200.$((j / 256)).$((j % 256))/32 dev eth1 table 100"; done >"$T/burst"
ip -n "$NS" -batch "$T/burst"
ip -n "$NS" route flush table 100
check "overrun and resync" wait_until 10000 eval '[[ $(status_json "$NS" | jq .counters.resyncs) -gt 0 ]]'
check "healthy" wait_until 10000 ctl "$NS" status

agent_stop TERM
info "valgrind: $(grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|All heap blocks' "$T/agent-$NS.log" | sed 's/^==[0-9]*== //' | tr '\n' ';')"
assert_eq "the agent exits 0 under valgrind (99: memcheck errors or definite leaks)" 0 "$AGENT_RC"
check "memcheck: ERROR SUMMARY: 0 errors" grep -q 'ERROR SUMMARY: 0 errors' "$T/agent-$NS.log"
check "memcheck: nothing definitely lost" bash -c "! grep -E 'definitely lost: [1-9]' '$T/agent-$NS.log'"
figure valgrind_ready "$AGENT_READY_MS" ms
figure valgrind_errors "$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$T/agent-$NS.log" | tail -n 1)" errors
finish
