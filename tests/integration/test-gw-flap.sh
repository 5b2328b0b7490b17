#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# A flapping gateway does not flap the routes (tests/lib/gateways.sh; probes every 200 ms, FailCount=3,
# RiseCount=3, PreemptHoldSec=1s). The routes of table staff are watched with ip monitor, every
# RTM_NEWROUTE of its default route counted:
#   1. nat1 carries the traffic and black-holes for 120 ms every second (at most one probe lost in a row,
#      two in ten): it stays up, not one announcement, though its probes saw the losses;
#   2. nat1 is down and comes back for 250 ms every 1.25 s (at most two answers in a row): it stays down,
#      the traffic stays on nat2, not one announcement after the first failover;
#   3. the server's link to nat1 loses and regains carrier every 300 ms: one switch to nat2 and, once the
#      link is steady, one back (no announcement in between; the kernel itself reports carrier changes at
#      most once a second, net/core/link_watch.c).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/gateways.sh
source "$(dirname "$0")/../lib/gateways.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"

gw_lab
S=$GW_S
gw_lab_config "$T/etc"
agent_start "$S" "$T/etc/vpnpolicy.conf"
all_up() {
        ctl "$S" status --json | jq -e '[.policies[0].gateways[].health[] | .state] == ["up", "up", "up", "up"]'
}
check "nat1 and nat2 up" wait_until 3000 all_up
check "the traffic goes by nat1" wait_until 2000 eval '[[ $(gw_default "$S" 4 200) == 192.168.1.1 ]]'
monitor_start "$S" "$T/monitor"
announced() { grep -cE 'default .*table (staff|200) ' "$T/monitor" || true; }
nat1() { ctl "$S" status --json | jq -r --arg k "$1" '.policies[0].gateways[0].health.ipv4 | getpath($k | split("."))'; }
default_is() { [[ $(gw_default "$S" 4 200) == "$1" ]]; }

info "1. nat1 black-holes for 120 ms every second, 8 times"
lost0=$(nat1 probes.lost)
changes0=$(nat1 changes)
for ((i = 0; i < 8; i++)); do
        gw_fault_blackhole 1 on
        sleep 0.12
        gw_fault_blackhole 1 off
        sleep 1
done
lost=$(($(nat1 probes.lost) - lost0))
echo "# FIGURE flap-short-outages probes-lost=$lost route-announcements=$(announced) state-changes=$(($(nat1 changes) - changes0))"
check "the flaps reached the probes ($lost lost)" test "$lost" -gt 0
assert_eq "nat1 stayed up (no change of state)" "up 0" "$(nat1 state) $(($(nat1 changes) - changes0))"
assert_eq "not one announcement of the default route" 0 "$(announced)"
check "still by nat1" default_is 192.168.1.1

info "2. nat1 down, back for 250 ms every 1.25 s, 6 times"
gw_fault_blackhole 1 on
check "nat1 down: traffic by nat2" wait_until 3000 default_is 192.168.2.1
wait_until 2000 eval '(( $(announced) >= 2 ))' || true
n0=$(announced)
changes0=$(nat1 changes)
for ((i = 0; i < 6; i++)); do
        gw_fault_blackhole 1 off
        sleep 0.25
        gw_fault_blackhole 1 on
        sleep 1
done
echo "# FIGURE flap-short-comebacks route-announcements=$(($(announced) - n0)) state-changes=$(($(nat1 changes) - changes0))"
assert_eq "nat1 stayed down (no change of state)" "down 0" "$(nat1 state) $(($(nat1 changes) - changes0))"
assert_eq "not one announcement after the failover" 0 "$(($(announced) - n0))"
check "still by nat2" default_is 192.168.2.1
gw_fault_blackhole 1 off
check "nat1 steady again: back to nat1" wait_until 5000 default_is 192.168.1.1
check "v6 back to nat1 too" wait_until 3000 eval '[[ $(gw_default "$S" 6 200) == fd00:1010:1010:1011::1 ]]'

info "3. the link to nat1 loses carrier every 300 ms, 6 times"
n0=$(announced)
for ((i = 0; i < 6; i++)); do
        gw_fault_carrier 1 on
        sleep 0.3
        gw_fault_carrier 1 off
        sleep 0.3
done
check "during the flaps the traffic went to nat2" wait_until 2000 default_is 192.168.2.1
during=$(($(announced) - n0))
check "steady again: back to nat1" wait_until 6000 default_is 192.168.1.1
wait_until 2000 eval '(( $(announced) - n0 >= 4 ))' || true
echo "# FIGURE flap-carrier route-announcements-during=$during total=$(($(announced) - n0))"
assert_eq "one switch there (v4 and v6) during the flaps" 2 "$during"
assert_eq "and one back once steady: 4 in all" 4 "$(($(announced) - n0))"

monitor_stop
assert_eq "no pool packet left by the main default route" "0 0 0 0" "$(gw_counts "$GW_LEAK")"
check "agent alive" _vpt_alive "$AGENT_PID"
finish
