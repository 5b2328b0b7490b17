#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# Failover of the staff policy from its primary nat1 to nat2 (tests/lib/gateways.sh), with pool traffic
# flowing all the time, for four faults of nat1, each GW_TRIALS times (default 3):
#   carrier    the server's link to nat1 loses carrier (the switch port facing the server goes down); the
#              kernel reports carrier changes through linkwatch, at most one a second per device
#              (net/core/link_watch.c), so this one takes anywhere from 0 to 1 s to be seen
#   admin      nat1's own interface goes down behind the switch: the server keeps its carrier, only the
#              probes and the neighbour entry can tell
#   blackhole  nat1 answers for itself but forwards nothing: only the probe through it to the target
#   loss       nat1 drops 30 % of what it receives (nft numgen; this kernel has no netem)
# For each: the time from the fault to pool traffic on nat2 (# FIGURE lines, p50 and max), the default
# route replaced in one operation (ip monitor: never deleted), and the recovery as configured (Preempt=yes,
# PreemptHoldSec=1s: back to nat1 no sooner than RiseCount probes plus the hold after the fault is gone).
# Then Preempt=no (the backup keeps the traffic while healthy, nat1 takes it back only when nat2 fails),
# and every gateway of staff dead (fail-closed: no default route, the pings fail). Throughout: not one pool
# packet out of the main default route, and the guest policy (nat3) not disturbed.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/gateways.sh
source "$(dirname "$0")/../lib/gateways.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v ping >/dev/null || skip_test "ping(8) is missing (Debian: iputils-ping)"
TRIALS=${GW_TRIALS:-3}
HOLD_MS=1000
RISE_MS=600             # RiseCount=3 probes of 200 ms

gw_lab
S=$GW_S
gw_lab_config "$T/etc"
conf=$T/etc/vpnpolicy.conf
agent_start "$S" "$conf"
all_up() {
        ctl "$S" status --json | jq -e '[.policies[0].gateways[].health[] | .state] == ["up", "up", "up", "up"]'
}
check "nat1 and nat2 up" wait_until 3000 all_up

gw_ping_start staff4 "$GW_C1" "$GW_TARGET4" 0.02
gw_ping_start staff6 "$GW_C1" "$GW_TARGET6" 0.05
gw_ping_start guest4 "$GW_C2" "$GW_TARGET4" 0.05
monitor_start "$S" "$T/monitor"

# counter_grows NS NAME FROM: polls every 20 ms until the counter is above FROM (or TIMEOUT_MS)
counter_above() { [[ $(gw_count "$1" "$2") -gt $3 ]]; }
default_is() { [[ $(gw_default "$S" "$1" 200) == "$2" ]]; }
fault() { # NAME on|off
        case $1 in
        carrier) gw_fault_carrier 1 "$2" ;;
        admin) gw_fault_admin 1 "$2" ;;
        blackhole) gw_fault_blackhole 1 "$2" ;;
        loss) if [[ $2 == on ]]; then gw_fault_loss 1 30; else gw_fault_loss 1 off; fi ;;
        esac
}
# announcements of table staff's default route by ip monitor so far, and lost pings of a log so far
mon_lines() { grep -cE 'default .*table (staff|200) ' "$T/monitor" || true; }
lost_lines() { grep -c 'no answer yet' "$T/ping-$1.log" || true; }
# stats LIST: "p50 max" of whitespace-separated numbers
stats() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)], a[NR] }'; }

declare -A FAIL_MS=() BACK_MS=() LOST=()
trial() { # FAULT
        local f=$1 c2 c1 t0 t1 t2 ms m0 l0 l1 n
        c2=$(gw_count "${GW_NS[2]}" staff4)
        m0=$(mon_lines)
        l0=$(lost_lines staff4)
        t0=$(now_us)
        fault "$f" on
        if ! wait_until 15000 counter_above "${GW_NS[2]}" staff4 "$c2"; then
                _vpt_fail "$f: pool traffic on nat2 within 15 s" "no traffic on the backup" ""
                fault "$f" off
                return
        fi
        t1=$(now_us)
        ms=$(((t1 - t0) / 1000))
        FAIL_MS[$f]+="$ms "
        check "$f: v4 default route via nat2" wait_until 2000 default_is 4 192.168.2.1
        # The primary stays faulty a little longer: it must not come back while the fault lasts.
        sleep 0.3
        check "$f: still on nat2 while nat1 is faulty" default_is 4 192.168.2.1
        # (v6 is judged on its own, by its own probes: with random loss it may take longer)
        check "$f: v6 default route via nat2" wait_until 10000 default_is 6 fd00:1010:1010:1012::1
        # ping reports a lost request when it sends a later one: counted here, well after the switch, the
        # requests lost before it are all in, and none of the way back.
        l1=$(lost_lines staff4)
        LOST[$f]+="$((l1 - l0)) "
        fault "$f" off
        t2=$(now_us)
        check "$f: back to nat1 after the fault" wait_until 10000 default_is 4 192.168.1.1
        ms=$((($(now_us) - t2) / 1000))
        BACK_MS[$f]+="$ms "
        # With 30 % loss nat1 may come up now and then while the fault lasts, and its hold runs from then.
        [[ $f == loss ]] || check "$f: not back before RiseCount probes and PreemptHoldSec ($ms ms >= $((HOLD_MS + RISE_MS - 200)))" \
                test "$ms" -ge $((HOLD_MS + RISE_MS - 200))
        c1=$(gw_count "${GW_NS[1]}" staff4)
        check "$f: pool traffic on nat1 again" wait_until 3000 counter_above "${GW_NS[1]}" staff4 "$c1"
        check "$f: v6 back to nat1" wait_until 3000 default_is 6 fd00:1010:1010:1011::1
        # Going back is make-before-break: the backup carries until the route is replaced.
        assert_eq "$f: no ping lost going back to nat1" 0 "$(($(lost_lines staff4) - l1))"
        wait_until 1000 eval '(( $(mon_lines) - m0 >= 4 ))' || true
        n=$(($(mon_lines) - m0))
        if [[ $f == loss ]]; then
                info "$f: $n announcements of the default route (nat1 may come and go while it loses packets)"
        else
                assert_eq "$f: the default route replaced exactly twice per family (there and back)" 4 "$n"
        fi
}

for f in carrier admin blackhole loss; do
        for ((i = 1; i <= TRIALS; i++)); do
                info "fault $f, trial $i"
                trial "$f"
        done
done
for f in carrier admin blackhole loss; do
        read -r p50 max < <(stats "${FAIL_MS[$f]:-}")
        echo "# FIGURE failover-$f fault-to-backup-traffic-ms p50=$p50 max=$max n=$TRIALS (${FAIL_MS[$f]:-})"
        read -r p50 max < <(stats "${LOST[$f]:-}")
        echo "# FIGURE failover-$f pings-lost-at-20ms p50=$p50 max=$max n=$TRIALS (${LOST[$f]:-})"
        read -r p50 max < <(stats "${BACK_MS[$f]:-}")
        echo "# FIGURE recovery-$f fault-gone-to-primary-route-ms p50=$p50 max=$max n=$TRIALS (RiseCount=3 x 200 ms + PreemptHoldSec=1s)"
done

# ---------------------------------------------------------------------------------------------------------
info "Preempt=no: the backup keeps the traffic while it is healthy"
gw_lab_config "$T/etc" '[Failover]' 'Preempt=no'
check "reload with Preempt=no" ctl "$S" reload
gw_fault_blackhole 1 on
check "Preempt=no: nat1 fails, traffic on nat2" wait_until 5000 default_is 4 192.168.2.1
gw_fault_blackhole 1 off
check "Preempt=no: nat1 up again" wait_until 3000 eval '[[ $(gw_state "$S" staff nat1 4) == up ]]'
sleep $(((HOLD_MS + RISE_MS) / 1000 + 1))
check "Preempt=no: still on nat2 well after the hold time" default_is 4 192.168.2.1
gw_fault_blackhole 2 on
t0=$(now_us)
check "Preempt=no: nat2 fails, back to nat1 at once (no hold)" wait_until 3000 default_is 4 192.168.1.1
echo "# FIGURE preempt-no backup-fails-to-primary-route-ms $((($(now_us) - t0) / 1000))"
gw_fault_blackhole 2 off
check "nat2 up again" wait_until 3000 eval '[[ $(gw_state "$S" staff nat2 4) == up ]]'

# ---------------------------------------------------------------------------------------------------------
info "every gateway of staff dead: fail-closed, the guests unaffected"
lost_before=$(ctl "$S" status --json | jq .counters.failovers)
g3=$(gw_count "${GW_NS[3]}" guest4)
gw_fault_blackhole 1 on
ip -n "${GW_NS[2]}" link set eth0 down         # nat2's link: the server loses carrier on eth2
check "all dead: no v4 default route in table staff" wait_until 5000 default_is 4 ""
check "all dead: no v6 default route in table staff" wait_until 5000 default_is 6 ""
assert_eq "all dead: only the fail-closed route is left (v4)" \
        '[{"dst":"default","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$S" 4 200)"
check_fail "all dead: a pool ping fails" ns_exec "$GW_C1" ping -n -q -c 3 -i 0.1 -W 1 "$GW_TARGET4"
st=$(ctl "$S" status --json || true)
assert_eq "all dead: status: no active gateway, degraded" '{"ipv4":null,"ipv6":null}|degraded' \
        "$(jq -c .policies[0].active <<<"$st")|$(jq -r .health <<<"$st")"
check "all dead: the guests' traffic still flows by nat3" wait_until 2000 counter_above "${GW_NS[3]}" guest4 "$g3"
assert_eq "all dead: guest still by nat3" 192.168.3.1 "$(gw_default "$S" 4 201)"
gw_fault_blackhole 1 off
ip -n "${GW_NS[2]}" link set eth0 up
gw_relink 2
# (Preempt=no is still in force: whichever comes back first keeps the traffic)
check "revived: a default route again" wait_until 5000 eval '[[ -n $(gw_default "$S" 4 200) ]]'
check "revived: pool traffic flows again" ns_exec "$GW_C1" ping -n -q -c 3 -i 0.1 -W 1 "$GW_TARGET4"
check "status counts the failovers" test "$(ctl "$S" status --json | jq .counters.failovers)" -gt "$lost_before"

# ---------------------------------------------------------------------------------------------------------
gw_ping_stop staff4
gw_ping_stop staff6
gw_ping_stop guest4
monitor_stop
assert_eq "no pool packet ever left by the main default route (staff4 staff6 guest4 guest6)" "0 0 0 0" \
        "$(gw_counts "$GW_LEAK")"
assert_eq "the guests lost no ping through all of it" 0 "$(gw_ping_lost guest4)"
info "staff pings lost over $((4 * TRIALS)) failovers and recoveries, the all-dead phase included: v4 $(gw_ping_lost staff4) of $(awk '/transmitted/ { print $1 }' "$T/ping-staff4.log"), v6 $(gw_ping_lost staff6)"
deleted=$(grep -cE '^(\[[^]]*\] *)?Deleted .*default .*table (staff|200) ' "$T/monitor" || true)
info "ip monitor, table staff: $(mon_lines) default routes announced, $deleted deleted"
# The only deletions: the route given up when every gateway was dead (v4 and v6).
assert_eq "the default route was deleted only when no gateway was left, never to switch" 2 "$deleted"
check "agent alive" _vpt_alive "$AGENT_PID"

finish
