#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The gateway's link goes down and up. While down, the kernel drops the default routes (v4 silently, v6
# with its addresses) and only the fail-closed unreachable routes stay in table 200; status reports the
# default routes missing. Once up, the v4 default route is back within 1 s, the v6 one within 1 s of its
# address being back. The same with [Gateway] Device=eth1, and with Device= naming a device that does
# not exist yet: status says blocked, and the route appears once the device is made (by renaming a veth,
# and again after deleting it and creating a new veth of that name).
# No sleep waits for the agent: each step waits (bounded) for the kernel's state, then requires that `status --json` agrees
# with the kernel (tests/lib/status-truth.sh: what it calls present is there, what it calls absent is not,
# and everything of ours that is there it calls present), after every down, up and address change. The
# kernel flushes IPv4 routes after it has announced the link down, silently (issue 11, item 2): an agent
# that trusts its cache says "present" there, and does not re-add the route at the next up. eth1 also
# carries UPLINK_ROUTES (default 1000) routes of table 100, flushed with ours: the flush then takes
# milliseconds, not microseconds, and the race happens in a quarter of the cycles here instead of on a
# busy machine only; QUICK_CYCLES (default 20) more cycles per configuration make sure it is seen.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"
# shellcheck source=../lib/status-truth.sh
source "$(dirname "$0")/../lib/status-truth.sh"

TRUTH_MS=${TRUTH_MS:-2000}      # how long the agent may take to agree with the kernel after a change
UPLINK_ROUTES=${UPLINK_ROUTES:-1000}
for ((i = 0; i < UPLINK_ROUTES; i++)); do
        printf 'route add 10.%d.%d.0/24 via 192.168.1.1 dev eth1 table 100\n' $((100 + i / 256)) $((i % 256))
done >"$T/uplink-routes"
# uplink_routes NS: the uplink's share of a routing table, in table 100 (fib_flush() walks the tables by
# id modulo 256: these go before table 200)
uplink_routes() { [[ ! -s $T/uplink-routes ]] || ip -n "$1" -batch "$T/uplink-routes"; }

# topology NSVAR GWVAR: the seed 003 uplink, and a leak path in the server namespace.
topology() {
        seed003_uplink "$1" "$2" || return 1
        leak_path "${!1}" && uplink_routes "${!1}"
}
# leak_path NS: the host's own default route (main table) via another device, eth9: where pool traffic
# would leak if table 200 had nothing left.
leak_path() {
        ip -n "$1" link add eth9 type veth peer name eth9p
        ip -n "$1" link set eth9 up
        ip -n "$1" link set eth9p up
        ip -n "$1" addr add 172.16.0.1/24 dev eth9
        ip -n "$1" addr add fd00:9::1/64 dev eth9 nodad
        ip -n "$1" route add default via 172.16.0.254
        ip -n "$1" -6 route add default via fd00:9::fe
}
# lookup NS FAMILY: where the kernel sends a packet from a pool address arriving on lo (output device,
# or the error); e.g. "eth1", "eth9" (a leak) or "No route to host"
lookup() {
        local out
        if [[ $2 == 4 ]]; then
                out=$(ip -n "$1" -4 route get 8.8.8.8 from 10.10.10.5 iif lo 2>&1) || true
        else
                out=$(ip -n "$1" -6 route get 2001:db8::1 from fd00:4242:4242:4242::5 iif lo 2>&1) || true
        fi
        if [[ $out =~ \ dev\ ([^ ]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo "${out#RTNETLINK answers: }"; fi
}
UNREACH4='[{"dst":"default","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]'
UNREACH6='[{"dst":"default","dev":"lo","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]'

default_there() { [[ -n $(ip -n "$1" -"$2" route show table 200 default via "$3") ]]; }
# status_obj NS FAMILY ROLE: that object's status entry
status_obj() {
        { ctl "$1" status --json || true; } |
                jq -c --arg f "ipv$2" --arg r "$3" '.objects[] | select(.family == $f and .role == $r)'
}

# cycle NS LABEL: eth1 down, check, up, check the v4 route, re-add the v6 address, check the v6 route
cycle() {
        local ns=$1 what=$2 hold=${3:-0} t0 ms
        ip -n "$ns" link set eth1 down
        check "$what: down: v4 default route gone" wait_until 1000 eval '! default_there "$ns" 4 192.168.1.1'
        check "$what: down: v6 default route gone" wait_until 1000 eval '! default_there "$ns" 6 fd00:1010:1010:1010::1'
        check "$what: down: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$ns"
        # the agent has handled the down (and whatever it does about it) before the kernel is looked at
        check "$what: down: the agent has caught up (barrier)" agent_barrier "$ns"
        assert_eq "$what: down: only the v4 fail-closed route in table 200" "$UNREACH4" "$(routes_json "$ns" 4 200)"
        assert_eq "$what: down: only the v6 fail-closed route in table 200" "$UNREACH6" "$(routes_json "$ns" 6 200)"
        assert_eq "$what: down: v4 pool traffic is refused, not leaked to eth9" "No route to host" "$(lookup "$ns" 4)"
        assert_eq "$what: down: v6 pool traffic is refused, not leaked to eth9" "No route to host" "$(lookup "$ns" 6)"
        check "$what: down: status: v4 default route not present" \
                jq -e '.present == false' <<<"$(status_obj "$ns" 4 default-route)"
        check "$what: down: status: fail-closed still present" \
                jq -e '.present == true' <<<"$(status_obj "$ns" 4 fail-closed)"
        rc=0; ctl "$ns" status >/dev/null 2>&1 || rc=$?
        info "$what: down: status exit $rc (health $(ctl "$ns" status --json | jq -r .health))"
        check_fail "$what: down: the agent does not pretend the gateway route is there (not exit 0)" test "$rc" = 0
        sleep "$hold"   # a long outage: retries back off meanwhile, the link-up must still act at once

        ip -n "$ns" link set eth1 up
        t0=$(now_us)
        uplink_routes "$ns"
        check "$what: up: v4 default route back within 1000 ms" wait_until 1000 default_there "$ns" 4 192.168.1.1
        ms=$((($(now_us) - t0) / 1000))
        echo "# METRIC $what: v4 default route back ${ms} ms after link up"
        check "$what: up: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$ns"
        ip -n "$ns" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad 2>/dev/null || true
        t0=$(now_us)
        check "$what: up: v6 default route back within 1000 ms of the address" \
                wait_until 1000 default_there "$ns" 6 fd00:1010:1010:1010::1
        ms=$((($(now_us) - t0) / 1000))
        echo "# METRIC $what: v6 default route back ${ms} ms after the address"
        check "$what: v6 address back: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$ns"
        assert_eq "$what: up: v4 routes exact" "$ROUTES4" "$(routes_json "$ns" 4 200)"
        assert_eq "$what: up: v6 routes exact" "$ROUTES6" "$(routes_json "$ns" 6 200)"
        assert_eq "$what: up: v4 pool traffic goes out eth1" eth1 "$(lookup "$ns" 4)"
        assert_eq "$what: up: v6 pool traffic goes out eth1" eth1 "$(lookup "$ns" 6)"
        check "$what: up: healthy again" wait_until 2000 ctl "$ns" status
}

# quick_cycles NS LABEL N: N more down/up cycles of eth1, each checked the same way (kernel first, then
# status), counted: the race above is per cycle, so more cycles catch it surely.
quick_cycles() {
        local ns=$1 what=$2 n=$3 i bad_down=0 bad_up=0 out
        for ((i = 1; i <= n; i++)); do
                out=
                ip -n "$ns" link set eth1 down
                wait_until 1000 eval '! default_there "$ns" 4 192.168.1.1' || true
                if ! out=$(status_truthful_within "$TRUTH_MS" "$ns"); then
                        bad_down=$((bad_down + 1))
                        echo "# $what: cycle $i: down: $out"
                fi
                ip -n "$ns" link set eth1 up
                uplink_routes "$ns"
                ip -n "$ns" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad 2>/dev/null || true
                if ! wait_until 1000 default_there "$ns" 4 192.168.1.1 || ! wait_until 1000 default_there "$ns" 6 fd00:1010:1010:1010::1 ||
                        ! out=$(status_truthful_within "$TRUTH_MS" "$ns"); then
                        bad_up=$((bad_up + 1))
                        echo "# $what: cycle $i: up: v4 default route $(default_there "$ns" 4 192.168.1.1 && echo in || echo MISSING)," \
                                "v6 $(default_there "$ns" 6 fd00:1010:1010:1010::1 && echo in || echo MISSING); ${out:-}"
                fi
        done
        assert_eq "$what: $n cycles: down, status agreed with the kernel every time (cycles where not)" 0 "$bad_down"
        assert_eq "$what: $n cycles: up, both default routes back within 1000 ms and status agreeing (cycles where not)" 0 "$bad_up"
}

# ---------------------------------------------------------------------------------------------------------
info "no Device="
topology NS GW
seed003_config "$T/nodev.conf" '[Kernel]' 'FailClosed=yes'
agent_start "$NS" "$T/nodev.conf"
assert_eq "start: v4 routes" "$ROUTES4" "$(routes_json "$NS" 4 200)"
assert_eq "start: v6 routes" "$ROUTES6" "$(routes_json "$NS" 6 200)"
cycle "$NS" "no Device="
cycle "$NS" "no Device= (second time)"
cycle "$NS" "no Device= (down for 5 s)" 5
quick_cycles "$NS" "no Device=" "${QUICK_CYCLES:-20}"
agent_stop
# The lookups above can fail: without the fail-closed route (agent stopped, route deleted) the same
# lookup leaks to eth9.
ip -n "$NS" link set eth1 down
ip -n "$NS" -4 route del unreachable default table 200 metric 4294967295
assert_eq "control: without fail-closed, v4 pool traffic leaks to eth9" eth9 "$(lookup "$NS" 4)"

# ---------------------------------------------------------------------------------------------------------
info "Device=eth1"
topology NS2 GW2
seed003_config "$T/dev.conf" '[Gateway]' 'Device=eth1' '[Kernel]' 'FailClosed=yes'
agent_start "$NS2" "$T/dev.conf"
assert_eq "Device=eth1: v4 routes" "$ROUTES4" "$(routes_json "$NS2" 4 200)"
assert_eq "Device=eth1: v6 routes" "$ROUTES6" "$(routes_json "$NS2" 6 200)"
check "Device=eth1: status: no object blocked" jq -e 'all(.objects[]; .blocked == null)' <<<"$(ctl "$NS2" status --json)"
cycle "$NS2" "Device=eth1"
quick_cycles "$NS2" "Device=eth1" "${QUICK_CYCLES:-20}"
agent_stop

# ---------------------------------------------------------------------------------------------------------
info "Device=eth1 before eth1 exists"
ns_new NS3
ns_new GW3
ns_exec "$NS3" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
seed003_config "$T/later.conf" '[Gateway]' 'Device=eth1' '[Kernel]' 'FailClosed=yes'
agent_start "$NS3" "$T/later.conf"
assert_eq "no eth1: only the v4 fail-closed route" "$UNREACH4" "$(routes_json "$NS3" 4 200)"
assert_eq "no eth1: only the v6 fail-closed route" "$UNREACH6" "$(routes_json "$NS3" 6 200)"
check "no eth1: rules are in nonetheless" test "$(rules_json "$NS3" 4 | jq length)" = 1
o4=$(status_obj "$NS3" 4 default-route)
info "no eth1: status of the v4 default route: $o4"
check "no eth1: status: v4 default route blocked (non-null), not present" jq -e '.blocked != null and .present == false' <<<"$o4"
check "no eth1: status: v6 default route blocked" jq -e '.blocked != null' <<<"$(status_obj "$NS3" 6 default-route)"
check "no eth1: status: blocked says why (a string)" jq -e '.blocked | type == "string" and length > 0' <<<"$o4"

# a veth named otherwise, with the gateway's subnet: still no route (Device= pins eth1)
ip -n "$NS3" link add pre0 type veth peer name eth0 netns "$GW3"
seed003_gateway_addrs "$GW3"
ip -n "$GW3" link set eth0 up
ip -n "$NS3" addr add 192.168.1.100/24 dev pre0
ip -n "$NS3" link set pre0 up
ip -n "$NS3" addr add fd00:1010:1010:1010::100/64 dev pre0 nodad
check "pre0 up: the agent has handled its events (barrier)" agent_barrier "$NS3"
check "pre0 up: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$NS3"
assert_eq "pre0 up: still no v4 default route (not via pre0)" "$UNREACH4" "$(routes_json "$NS3" 4 200)"
check "pre0 up: still blocked" jq -e '.blocked != null' <<<"$(status_obj "$NS3" 4 default-route)"

# rename pre0 -> eth1 (a device must be down to be renamed; v6 addresses go with the down)
ip -n "$NS3" link set pre0 down
ip -n "$NS3" link set pre0 name eth1
ip -n "$NS3" link set eth1 up
t0=$(now_us)
check "renamed to eth1: v4 default route within 1000 ms" wait_until 1000 default_there "$NS3" 4 192.168.1.1
echo "# METRIC rename: v4 default route $((($(now_us) - t0) / 1000)) ms after eth1 up"
ip -n "$NS3" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad 2>/dev/null || true
check "renamed to eth1: v6 default route within 1000 ms" wait_until 1000 default_there "$NS3" 6 fd00:1010:1010:1010::1
check "renamed: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$NS3"
assert_eq "renamed: v4 routes exact" "$ROUTES4" "$(routes_json "$NS3" 4 200)"
assert_eq "renamed: v6 routes exact" "$ROUTES6" "$(routes_json "$NS3" 6 200)"
check "renamed: status: nothing blocked, healthy" wait_until 2000 eval \
        'ctl "$NS3" status --json | jq -e "all(.objects[]; .blocked == null and .present) and .health == \"healthy\""'

# delete eth1 altogether: routes go, blocked again; a brand new veth named eth1 brings them back
ip -n "$NS3" link del eth1
check "eth1 deleted: v4 default route gone" wait_until 1000 eval '! default_there "$NS3" 4 192.168.1.1'
check "eth1 deleted: the agent has handled it (barrier)" agent_barrier "$NS3"
check "eth1 deleted: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$NS3"
assert_eq "eth1 deleted: only the fail-closed route" "$UNREACH4" "$(routes_json "$NS3" 4 200)"
check "eth1 deleted: blocked again" wait_until 1000 eval '[[ $(status_obj "$NS3" 4 default-route | jq .blocked) != null ]]'
ip -n "$NS3" link add eth1 type veth peer name eth0 netns "$GW3"
seed003_gateway_addrs "$GW3"
ip -n "$GW3" link set eth0 up
ip -n "$NS3" addr add 192.168.1.100/24 dev eth1
ip -n "$NS3" link set eth1 up
t0=$(now_us)
check "new eth1: v4 default route within 1000 ms" wait_until 1000 default_there "$NS3" 4 192.168.1.1
echo "# METRIC new veth: v4 default route $((($(now_us) - t0) / 1000)) ms after eth1 up"
ip -n "$NS3" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad
check "new eth1: v6 default route within 1000 ms" wait_until 1000 default_there "$NS3" 6 fd00:1010:1010:1010::1
check "new eth1: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$NS3"
assert_eq "new eth1: v4 routes exact" "$ROUTES4" "$(routes_json "$NS3" 4 200)"
assert_eq "new eth1: v6 routes exact" "$ROUTES6" "$(routes_json "$NS3" 6 200)"
check "new eth1: healthy" wait_until 2000 ctl "$NS3" status

finish
