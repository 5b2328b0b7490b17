#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# Restart and kill -9 of the agent while the backup gateway carries the traffic (tests/lib/gateways.sh):
# with Preempt=no nat2 keeps the traffic after nat1 came back, so a restarted agent that chose by priority
# alone would move it to nat1. Each time: the route in the kernel says which gateway carries the traffic,
# the new agent adopts it (status: adopted), keeps it while the probes decide and after (no announcement of
# table staff's default route at all), a continuous ping loses at most one reply, and the probes resume.
# Then with Preempt=yes: after a restart nat2 keeps the traffic until nat1 has been up for the hold time,
# and only then does it move.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/gateways.sh
source "$(dirname "$0")/../lib/gateways.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v ping >/dev/null || skip_test "ping(8) is missing (Debian: iputils-ping)"

gw_lab
S=$GW_S
gw_lab_config "$T/etc" '[Failover]' 'Preempt=no'
conf=$T/etc/vpnpolicy.conf
agent_start "$S" "$conf"
default_is() { [[ $(gw_default "$S" "$1" 200) == "$2" ]]; }
state_of() { gw_state "$S" staff "$1" 4; }
check "nat1 carries the traffic" wait_until 3000 default_is 4 192.168.1.1
gw_fault_blackhole 1 on
check "nat1 fails: nat2 carries it" wait_until 3000 default_is 4 192.168.2.1
check "... v6 too" wait_until 3000 default_is 6 fd00:1010:1010:1012::1
gw_fault_blackhole 1 off
check "nat1 up again" wait_until 3000 eval '[[ $(state_of nat1) == up ]]'
check "Preempt=no: nat2 keeps the traffic" default_is 4 192.168.2.1

gw_ping_start staff4 "$GW_C1" "$GW_TARGET4" 0.02
gw_ping_start staff6 "$GW_C1" "$GW_TARGET6" 0.02
monitor_start "$S" "$T/monitor"
announced() { grep -cE 'default .*table (staff|200) ' "$T/monitor" || true; }
sleep 0.5

# cycle HOW: stop the agent (TERM or KILL), start it again, check the adoption
cycle() {
        local how=$1 l0 sent st
        l0=$(grep -c 'no answer yet' "$T/ping-staff4.log" || true)
        agent_stop "$how" || true
        check "$how: the route stays while no agent runs" default_is 4 192.168.2.1
        agent_start "$S" "$conf"
        st=$(ctl "$S" status --json)
        assert_eq "$how: adopted nat2, kept while the probes decide (v4 and v6)" \
                '{"ipv4":{"adopted":true,"gateway":"nat2"},"ipv6":{"adopted":true,"gateway":"nat2"}}' \
                "$(jq -c '.policies[0].choice | map_values({gateway, adopted})' <<<"$st")"
        check "$how: both gateways probed again and up" wait_until 3000 eval \
                '[[ $(state_of nat1) == up && $(state_of nat2) == up ]]'
        sent=$(ctl "$S" status --json | jq .counters.probes_sent)
        sleep 0.5
        check "$how: the probes go on ($sent sent, then more)" \
                test "$(ctl "$S" status --json | jq .counters.probes_sent)" -gt "$sent"
        check "$how: nat2 still carries v4" default_is 4 192.168.2.1
        check "$how: nat2 still carries v6" default_is 6 fd00:1010:1010:1012::1
        sleep 0.3
        LOST=$(($(grep -c 'no answer yet' "$T/ping-staff4.log" || true) - l0))
        echo "# FIGURE restart-$how pings-lost-at-20ms=$LOST"
        check "$how: the continuous ping lost at most one reply ($LOST)" test "$LOST" -le 1
}
cycle TERM
cycle KILL
assert_eq "no announcement of table staff's default route across both" 0 "$(announced)"

info "Preempt=yes: after a restart the hold time still applies"
gw_lab_config "$T/etc"          # PreemptHoldSec=1s
agent_stop TERM
t0=$(now_us)
agent_start "$S" "$conf"
sleep 0.5
check "Preempt=yes: right after the start nat2 keeps the traffic" default_is 4 192.168.2.1
check "... and nat1 takes it once it has been up for the hold time" wait_until 5000 default_is 4 192.168.1.1
ms=$((($(now_us) - t0) / 1000))
echo "# FIGURE restart-preempt start-to-primary-ms=$ms (first verdict + PreemptHoldSec=1s)"
check "... not before the hold time ($ms ms >= 1000)" test "$ms" -ge 1000

gw_ping_stop staff4
gw_ping_stop staff6
monitor_stop
info "pings lost in all: v4 $(gw_ping_lost staff4), v6 $(gw_ping_lost staff6)"
check "the v4 ping lost at most one reply per restart and none on the preemption" test "$(gw_ping_lost staff4)" -le 3
assert_eq "no pool packet left by the main default route" "0 0 0 0" "$(gw_counts "$GW_LEAK")"
finish
