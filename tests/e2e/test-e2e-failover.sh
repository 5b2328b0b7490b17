#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
#
# test-e2e-failover.sh: gateway failover end to end, with real OpenVPN 2.6 and wireguard-go: the eduVPN
# 3.x-shaped node of tests/e2e/world-eduvpn3.sh with a second NAT box per profile (e3_backups_up), and the
# agent's configuration of docs/guide-two-profiles.md, taken from its marked blocks; the guide's checks and
# its failover by hand run against the node (tests/lib/guide.sh). Then, with clients pinging the outside
# at 20/s:
#   1. staff's primary nat-a (E3_GWS) turns into a blackhole (answers and forwards nothing): the traffic
#      moves to nat-b (E3_GWSB: its counters grow, nat-a's stop, status says so); the pings lost are at
#      most what FailCount x ProbeIntervalSec + ProbeTimeoutSec (from the guide's file) plus a margin
#      allows; the guest profile loses none;
#   2. nat-a heals: the traffic stays on nat-b for RiseCount probes and PreemptHoldSec, then goes back to
#      nat-a without a loss;
#   3. both staff NAT boxes dead: fail-closed (the pings fail), the guests unaffected; then back.
# Throughout, the node's default router (E3_RTR) sees not one pool packet (its counters stay 0: no leak).
# Figures are printed as "# figure: NAME VALUE UNIT".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$HERE/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/guide.sh
source "$HERE/../lib/guide.sh"
# shellcheck source=SCRIPTDIR/world-eduvpn3.sh
source "$HERE/world-eduvpn3.sh"

e3_require_tools
GUIDE=$SOURCE_ROOT/docs/guide-two-profiles.md
GUIDE_ETC=$T/etc
CONF=$GUIDE_ETC/etc/vpnpolicy/vpnpolicy.conf
PING_MS=50              # e3_bg_ping_start: 20/s
MARGIN_MS=1000          # scheduling on a loaded machine, the route's replacement, the ping's own timing


# conf_ms KEY: the first KEY= of the main file (staff's nat-a) in milliseconds ("500ms", "5s", "1.5s")
conf_ms() {
        grep -m1 "^$1=" "$CONF" | cut -d= -f2 |
                awk '/ms$/ { print $0 + 0; next } /s$/ { printf "%.0f\n", ($0 + 0) * 1000; next } { exit 1 }'
}
conf_n() { grep -m1 "^$1=" "$CONF" | cut -d= -f2; }

counter() { e3_counter "$(e3_ns "$1")" "$2"; }
counter_above() { (($(counter "$1" "$2") > $3)); }
# active POLICY FAMILY: the gateway carrying that family per the agent ("null" when none)
active() {
        { ctl "$E3_SRV" status --json || true; } | jq -r --arg p "$1" --arg f "ipv$2" '.policies[] | select(.name == $p) | .active[$f]'
}
active_is() { [[ $(active "$1" "$2") == "$3" ]]; }
status_says() { { ctl "$E3_SRV" status || true; } | grep_q -F -- "$1"; }
answers_above() { (($(e3_bg_answers "$1") > $2)); }
no_leak() {
        check "$1: the node's default router saw no pool packet ($(e3_counters))" \
                test "$(counter RTR pool4)" = 0 -a "$(counter RTR pool6)" = 0
}

# ---------------------------------------------------------------------------------------------------------

T0=$(now_ms)
guide_extract "$GUIDE" "$T/guide" || die "cannot read the marked blocks of $GUIDE"
guide_files
INTERVAL_MS=$(conf_ms ProbeIntervalSec) && TIMEOUT_MS=$(conf_ms ProbeTimeoutSec) &&
        HOLD_MS=$(conf_ms PreemptHoldSec) && FAIL_N=$(conf_n FailCount) && RISE_N=$(conf_n RiseCount) ||
        die "the guide's vpnpolicy.conf lacks a probe or failover setting"
DETECT_MS=$((FAIL_N * INTERVAL_MS + TIMEOUT_MS))
info "from the guide: probes every $INTERVAL_MS ms, timeout $TIMEOUT_MS ms, FailCount=$FAIL_N, RiseCount=$RISE_N, PreemptHoldSec $HOLD_MS ms"

e3_net_up || die "the network did not come up"
e3_backups_up || die "the backup NAT boxes did not come up"
GUIDE_NS=$E3_SRV GUIDE_SERVER_DIR=$E3_DIR/server
agent_start "$E3_SRV" "$CONF" || die "vpnpolicyd did not start"
e3_vpn_up || die "the VPN did not come up"
figure failover_world_up $(($(now_ms) - T0)) ms

# --- the guide, followed (its failover by hand included)
guide_shims
guide_checks
check "both profiles on their nat-a after the guide (v4 and v6)" wait_until 20000 eval \
        'active_is staff 4 nat-a && active_is staff 6 nat-a && active_is guest 4 nat-a && active_is guest 6 nat-a'
e3_path CU "$E3_INET4" GWS staff4 "staff CU to the outside, v4"
e3_path WP "$E3_INET6" GWS staff6 "staff WP to the outside, v6"
e3_path CG "$E3_INET4" GWG guest4 "guest CG to the outside, v4"
no_leak "after the guide"

# --- 1. staff's nat-a dies under 20/s pings
e3_bg_ping_start f_cu CU "$E3_INET4"
e3_bg_ping_start f_wp WP "$E3_INET6"
e3_bg_ping_start g_cg CG "$E3_INET4"
wait_until 5000 e3_bg_pings_answered f_cu f_wp g_cg || die "the pings before the fault got no answer"
b4=$(counter GWSB staff4) b6=$(counter GWSB staff6)
t0=$(now_us)
e3_blackhole GWS on
wait_until $((DETECT_MS + MARGIN_MS + 10000)) counter_above GWSB staff4 "$b4" || die "no staff traffic on nat-b"
t1=$(now_us)
switch_ms=$(((t1 - t0) / 1000))
check "1. staff v4 traffic on nat-b after $switch_ms ms (at most $DETECT_MS + $MARGIN_MS)" \
        test "$switch_ms" -le $((DETECT_MS + MARGIN_MS))
check "1. staff v6 traffic on nat-b" wait_until $((DETECT_MS + MARGIN_MS)) counter_above GWSB staff6 "$b6"
check "1. status: Traffic: IPv4 by nat-b, IPv6 by nat-b" wait_until 2000 eval \
        'status_says "Traffic:  IPv4 by nat-b" && status_says "Traffic:  IPv6 by nat-b"'
a4=$(counter GWS staff4)
n_cu=$(e3_bg_answers f_cu) n_wp=$(e3_bg_answers f_wp)
wait_until 5000 answers_above f_cu "$n_cu" && wait_until 5000 answers_above f_wp "$n_wp" ||
        die "the pings got no answer by nat-b"
e3_bg_ping_stop f_cu
lost4=$E3_BG_LOST
e3_bg_ping_stop f_wp
lost6=$E3_BG_LOST
lost_max=$(((DETECT_MS + MARGIN_MS) / PING_MS))
check "1. pings lost in the failover, v4: $lost4, v6: $lost6 (at most ($DETECT_MS + $MARGIN_MS) / $PING_MS = $lost_max)" \
        test "$lost4" -le "$lost_max" -a "$lost6" -le "$lost_max"
check "1. nat-a got no more staff traffic after the switch" test "$(counter GWS staff4)" = "$a4"
check "1. still on nat-b while nat-a is dead" active_is staff 4 nat-b
e3_path CG "$E3_INET4" GWG guest4 "1. guest CG still by its nat-a only"
figure failover_fault_to_backup_traffic "$switch_ms" ms
figure failover_lost_pings_v4 "$lost4" pings
figure failover_lost_pings_v6 "$lost6" pings
no_leak "1. after the failover"

# --- 2. nat-a heals: preempt after RiseCount probes and PreemptHoldSec
e3_bg_ping_start p_cu CU "$E3_INET4"
wait_until 5000 e3_bg_pings_answered p_cu || die "the pings before the heal got no answer"
t2=$(now_us)
e3_blackhole GWS off
back_max=$((HOLD_MS + RISE_N * INTERVAL_MS + TIMEOUT_MS + MARGIN_MS))
check "2. staff v4 back on nat-a" wait_until $((back_max + 10000)) active_is staff 4 nat-a
t3=$(now_us)
back_ms=$(((t3 - t2) / 1000))
back_min=$((HOLD_MS + (RISE_N - 1) * INTERVAL_MS))
check "2. back on nat-a after $back_ms ms: no sooner than PreemptHoldSec + (RiseCount - 1) probes ($back_min), no later than $back_max" \
        test "$back_ms" -ge "$back_min" -a "$back_ms" -le "$back_max"
check "2. status: Traffic: IPv4 by nat-a" status_says "Traffic:  IPv4 by nat-a"
a4=$(counter GWS staff4)
check "2. staff traffic on nat-a again" wait_until 3000 counter_above GWS staff4 "$a4"
n_cu=$(e3_bg_answers p_cu)
wait_until 5000 answers_above p_cu "$n_cu" || die "the pings got no answer by nat-a again"
e3_bg_ping_stop p_cu
check "2. no ping lost going back to nat-a ($E3_BG_LOST of $E3_BG_TX)" test "$E3_BG_LOST" -eq 0
check "2. v6 back on nat-a too" wait_until 5000 active_is staff 6 nat-a
figure failover_heal_to_primary_route "$back_ms" ms
figure failover_preempt_lost_pings "$E3_BG_LOST" pings
no_leak "2. after going back"

# --- 3. both staff NAT boxes dead: fail-closed
e3_blackhole GWS on
e3_blackhole GWSB on
check "3. both dead: no staff gateway active (v4 and v6)" wait_until $((DETECT_MS + MARGIN_MS + 5000)) eval \
        'active_is staff 4 null && active_is staff 6 null'
check "3. status: fail-closed" status_says "Traffic:  IPv4 fail-closed: DROPPED, no usable gateway"
check_fail "3. status exits non-zero" ctl "$E3_SRV" status
check "3. status --json: health degraded, guest still on nat-a" eval \
        '[[ $({ ctl "$E3_SRV" status --json || true; } | jq -r .health) == degraded ]] && active_is guest 4 nat-a'
check_fail "3. both dead: CU's v4 ping fails" e3_ping CU "$E3_INET4"
check_fail "3. both dead: WP's v6 ping fails" e3_ping WP "$E3_INET6"
e3_path CG "$E3_INET4" GWG guest4 "3. guest CG still by its nat-a only"
no_leak "3. with both staff NAT boxes dead"
e3_blackhole GWS off
e3_blackhole GWSB off
check "3. revived: CU reaches the outside again" wait_until $((back_max + 10000)) e3_ping CU "$E3_INET4" 1
check "3. revived: back on nat-a" wait_until $((back_max + 10000)) active_is staff 4 nat-a
e3_bg_ping_stop g_cg
check "the guest profile lost no ping through all of it ($E3_BG_LOST of $E3_BG_TX)" test "$E3_BG_LOST" -eq 0
no_leak "at the end"
figure failover_total $(($(now_ms) - T0)) ms
finish
