#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# No derived object displaces a policy object (issue 11, item 1). With Match=tun* and a managed tun5
# (10.8.0.1/24 and fd00:4242:4242:4242::1/64, inside the pools, up):
#   - a default route via tun5 in the main table (metric 0, the key of our v4 default route in table 200;
#     metric 1024 for v6) is not copied: our default routes stay via the gateway, also after it is deleted;
#   - a client tunnel's redirect-gateway routes (0.0.0.0/1 + 128.0.0.0/1, ::/1 + 8000::/1, ::/3, 2000::/4,
#     3000::/4) and routes via tun5 that cover a gateway (192.168.1.0/24, 192.168.0.0/16, fc00::/7,
#     fd00:1010::/32) are not copied, while an ordinary client LAN via tun5 is;
#   - a copy cannot take a tun route's place, nor a second device's tun route the first one's: refused
#     and counted (status counters.clashes), and the second device gets the route once the first goes;
#   - health is "degraded" whenever a wanted object is absent, whatever the reason (the gateway's device
#     down, so the re-add fails; an object of another protocol in the way; Device= missing), and
#     "healthy" again when it is back; a tunnel's routes waiting for their device do not count.
# After every step, status and the kernel agree both ways (tests/lib/status-truth.sh).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"
# shellcheck source=../lib/status-truth.sh
source "$(dirname "$0")/../lib/status-truth.sh"

CONVERGE_MS=${CONVERGE_MS:-3000}

# r DST DEV METRIC [GATEWAY] [TYPE]: one expected table-200 route as routes_json gives it
r() {
        local j
        j=$(jq -cn --arg dst "$1" --argjson metric "$3" --arg type "${5:-unicast}" \
                '{dst: $dst, type: $type, metric: $metric, protocol: "vpnpolicy"}')
        [[ -z $2 ]] || j=$(jq -c --arg dev "$2" '. + {dev: $dev}' <<<"$j")
        [[ -z ${4:-} ]] || j=$(jq -c --arg gw "$4" '. + {gateway: $gw}' <<<"$j")
        echo "$j"
}
arr() { jq -cs . <<<"$(printf '%s\n' "$@")"; }

BASE4=(
        "$(r default eth1 0 192.168.1.1)"
        "$(r default '' 4294967295 '' unreachable)"
        "$(r 10.8.0.0/24 tun5 0)"
)
BASE6=(
        "$(r default eth1 1024 fd00:1010:1010:1010::1)"
        "$(r default lo 4294967295 '' unreachable)"
        "$(r fd00:4242:4242:4242::/64 tun5 256)"
)
# table200_is NAME FAMILY ROUTE...: table 200 holds exactly these routes (waits for it, then compares)
_table200_equals() { [[ $(routes_json "$NS" "$1" 200 | json_norm) == "$(json_norm <<<"$2")" ]]; }
table200_is() {
        local name=$1 fam=$2 want
        shift 2
        want=$(arr "$@")
        wait_until "$CONVERGE_MS" _table200_equals "$fam" "$want" || true
        assert_eq "$name" "$want" "$(routes_json "$NS" "$fam" 200)"
}
status() { status_json "$NS"; }
table200_lacks_default() { [[ -z $(ip -n "$NS" route show table 200 default proto 211 metric 0) ]]; }
clashes() { status | jq .counters.clashes; }
# both default routes are wanted and present (a status that lost one of them would say nothing about it)
defaults_present() {
        status | jq -e '[.objects[] | select(.role == "default-route" and .present)] | length == 2' >/dev/null
}

# ---------------------------------------------------------------------------------------------------------
info "setup: tun5 with pool addresses, up"
seed003_uplink NS GW
barrier_tun_add "$NS"
tun_add "$NS" tun5
ip -n "$NS" addr add 10.8.0.1/24 dev tun5
ip -n "$NS" addr add fd00:4242:4242:4242::1/64 dev tun5 nodad
conf=$T/vpnpolicy.conf
seed003_config --pool 10.10.10.0/24 --pool 10.8.0.0/24 --pool fd00:4242:4242:4242::/64 "$conf"
agent_start "$NS" "$conf"
table200_is "start: v4 table 200" 4 "${BASE4[@]}"
table200_is "start: v6 table 200" 6 "${BASE6[@]}"
check "start: tun5 is managed" jq -e '.devices[] | select(.name == "tun5")' <<<"$(status)"
assert_eq "start: healthy" healthy "$(health "$NS")"
truth_check "start" "$NS"

# ---------------------------------------------------------------------------------------------------------
info "a default route via tun5 in the main table, with the key of ours"
ip -n "$NS" route add default via 10.8.0.5 dev tun5 metric 0
ip -n "$NS" -6 route add default via fd00:4242:4242:4242::5 dev tun5 metric 1024
barrier "$NS"
table200_is "main default via tun5: our v4 default route stays via the gateway" 4 "${BASE4[@]}"
table200_is "main default via tun5: our v6 default route stays via the gateway" 6 "${BASE6[@]}"
assert_eq "main default via tun5: healthy" healthy "$(health "$NS")"
check "main default via tun5: status lists both default routes, present" defaults_present
truth_check "main default via tun5" "$NS"

ip -n "$NS" route del default via 10.8.0.5 dev tun5 metric 0
ip -n "$NS" -6 route del default via fd00:4242:4242:4242::5 dev tun5 metric 1024
barrier "$NS"
table200_is "main default via tun5 deleted: our v4 default route still there" 4 "${BASE4[@]}"
table200_is "main default via tun5 deleted: our v6 default route still there" 6 "${BASE6[@]}"
assert_eq "main default via tun5 deleted: healthy" healthy "$(health "$NS")"
check "main default via tun5 deleted: status lists both default routes, present" defaults_present
truth_check "main default via tun5 deleted" "$NS"

# ---------------------------------------------------------------------------------------------------------
info "redirect-gateway routes and routes covering a gateway are not copied; a client LAN is"
for p in 0.0.0.0/1 128.0.0.0/1 192.168.1.0/24 192.168.0.0/16; do
        ip -n "$NS" route add "$p" via 10.8.0.5 dev tun5 metric 10
done
for p in ::/1 8000::/1 ::/3 2000::/4 3000::/4 fc00::/7 fd00:1010::/32; do
        ip -n "$NS" -6 route add "$p" via fd00:4242:4242:4242::5 dev tun5 metric 10
done
ip -n "$NS" route add 172.16.1.0/24 via 10.8.0.5 dev tun5
ip -n "$NS" -6 route add fd00:aaaa::/64 via fd00:4242:4242:4242::5 dev tun5
barrier "$NS"
table200_is "v4: only the client LAN copied" 4 "${BASE4[@]}" "$(r 172.16.1.0/24 tun5 0 10.8.0.5)"
table200_is "v6: only the client LAN copied" 6 "${BASE6[@]}" "$(r fd00:aaaa::/64 tun5 1024 fd00:4242:4242:4242::5)"
assert_eq "redirect-gateway routes: healthy" healthy "$(health "$NS")"
truth_check "redirect-gateway routes" "$NS"
for p in 0.0.0.0/1 128.0.0.0/1 192.168.1.0/24 192.168.0.0/16; do
        ip -n "$NS" route del "$p" via 10.8.0.5 dev tun5 metric 10
done
for p in ::/1 8000::/1 ::/3 2000::/4 3000::/4 fc00::/7 fd00:1010::/32; do
        ip -n "$NS" -6 route del "$p" via fd00:4242:4242:4242::5 dev tun5 metric 10
done
ip -n "$NS" route del 172.16.1.0/24 via 10.8.0.5 dev tun5
ip -n "$NS" -6 route del fd00:aaaa::/64 via fd00:4242:4242:4242::5 dev tun5
table200_is "client LAN gone: v4 copy gone" 4 "${BASE4[@]}"
table200_is "client LAN gone: v6 copy gone" 6 "${BASE6[@]}"

# ---------------------------------------------------------------------------------------------------------
info "clashes: a copy in a tun route's place, a second device's tun route"
c0=$(clashes)
# The connected route in main replaced by one that is copied: its copy would have the tun route's key.
ip -n "$NS" route replace 10.8.0.0/24 dev tun5 proto static
barrier "$NS"
check "copy of the main route: refused and counted" test "$(clashes)" -gt "$c0"
table200_is "copy of the main route: the tun route stays, alone" 4 "${BASE4[@]}"
check "status: 10.8.0.0/24 is the tun route" \
        jq -e '[.objects[] | select(.object | startswith("10.8.0.0/24 "))] | length == 1 and .[0].role == "tun-route"' \
        <<<"$(status)"
truth_check "copy refused" "$NS"
ip -n "$NS" route replace 10.8.0.0/24 dev tun5 proto kernel scope link src 10.8.0.1

c0=$(clashes)
tun_add "$NS" tun6
ip -n "$NS" addr add 10.8.0.2/24 dev tun6
barrier "$NS"
check "tun6 is managed" jq -e '.devices[] | select(.name == "tun6")' <<<"$(status)"
check "tun6's tun route (the subnet of tun5's): refused and counted" test "$(clashes)" -gt "$c0"
table200_is "tun6: the tun route stays via tun5" 4 "${BASE4[@]}"
truth_check "second tun route refused" "$NS"
ip -n "$NS" link del tun5
table200_is "tun5 deleted: tun6 gets the tun route" 4 "${BASE4[@]:0:2}" "$(r 10.8.0.0/24 tun6 0)"
assert_eq "tun5 deleted: healthy" healthy "$(health "$NS")"
truth_check "tun5 deleted" "$NS"
# back to the start: tun5 again, tun6 gone
ip -n "$NS" link del tun6
tun_add "$NS" tun5
ip -n "$NS" addr add 10.8.0.1/24 dev tun5
ip -n "$NS" addr add fd00:4242:4242:4242::1/64 dev tun5 nodad
table200_is "tun5 back: v4 table 200" 4 "${BASE4[@]}"
table200_is "tun5 back: v6 table 200" 6 "${BASE6[@]}"

# ---------------------------------------------------------------------------------------------------------
info "health: degraded whenever a wanted object is absent"
# The gateway's device down: the kernel drops the default routes, and adding them back fails.
ip -n "$NS" link set eth1 down
check "eth1 down: degraded" wait_until "$CONVERGE_MS" eval '[[ $(health "$NS") == degraded ]]'
check "eth1 down: the v4 default route is absent in status" \
        jq -e '.objects[] | select(.role == "default-route" and .family == "ipv4") | .present == false' <<<"$(status)"
truth_check "eth1 down" "$NS"
ip -n "$NS" link set eth1 up
# (the kernel removed the IPv6 address with the link: keep_addr_on_down=0; networkd would add it again)
ip -n "$NS" addr replace fd00:1010:1010:1010::100/64 dev eth1 nodad
table200_is "eth1 up: v4 default route back" 4 "${BASE4[@]}"
table200_is "eth1 up: v6 default route back" 6 "${BASE6[@]}"
check "eth1 up: healthy" wait_until "$CONVERGE_MS" eval '[[ $(health "$NS") == healthy ]]'
truth_check "eth1 up" "$NS"

# Someone else's route in the way: ours deleted and a foreign one with its key added while the agent
# is stopped (SIGSTOP), so its re-add meets the foreign one (EEXIST).
kill -STOP "$AGENT_PID"
stopped=$AGENT_PID
defer sh -c "kill -CONT $stopped 2>/dev/null || true"
ip -n "$NS" route del default table 200 proto 211 metric 0
ip -n "$NS" route add default via 192.168.1.1 dev eth1 table 200 proto static
kill -CONT "$AGENT_PID"
check "foreign route in the way: degraded" wait_until "$CONVERGE_MS" eval '[[ $(health "$NS") == degraded ]]'
check "foreign route in the way: the default route is absent, with the reason" \
        jq -e '.objects[] | select(.role == "default-route" and .family == "ipv4")
               | .present == false and (.last_error | test("not ours"))' <<<"$(status)"
truth_check "foreign route in the way" "$NS"
ip -n "$NS" route del default table 200 proto static
table200_is "foreign route gone: ours back" 4 "${BASE4[@]}"
check "foreign route gone: healthy" wait_until "$CONVERGE_MS" eval '[[ $(health "$NS") == healthy ]]'

# A tunnel's routes wait while its device is down: that alone is no fault.
ip -n "$NS" link set tun5 down
# (the kernel drops the IPv4 routes via it; its IPv6 address goes with the link, and the v6 tun route
# with the address)
tun5_route_waits() {
        status | jq -e '[.objects[] | select(.role == "tun-route" and (.object | test("dev tun5 ")))]
                        | length >= 1 and all(.[]; .blocked == "the device is down" and (.present | not))'
}
check "tun5 down: its tun routes wait" wait_until "$CONVERGE_MS" tun5_route_waits
assert_eq "tun5 down: still healthy" healthy "$(health "$NS")"
truth_check "tun5 down" "$NS"
ip -n "$NS" link set tun5 up
ip -n "$NS" addr replace fd00:4242:4242:4242::1/64 dev tun5 nodad
table200_is "tun5 up: v4 tun route back" 4 "${BASE4[@]}"
table200_is "tun5 up: v6 tun route back" 6 "${BASE6[@]}"

# The gateway's device does not exist: the default routes cannot be sent. (The ones the kernel holds, via
# eth1, still reach the gateway and are left alone.) Deleted, they stay out, and that is a fault.
seed003_config --pool 10.10.10.0/24 --pool 10.8.0.0/24 --pool fd00:4242:4242:4242::/64 "$conf" 'Device=eth9'
check "reload with Device=eth9" ctl "$NS" reload
check "Device=eth9: the default routes are blocked, and say why" \
        jq -e '[.objects[] | select(.role == "default-route") | .blocked == "the gateway device does not exist"]
               | length == 2 and all' <<<"$(status)"
truth_check "Device=eth9" "$NS"
ip -n "$NS" route del default table 200 proto 211 metric 0
check "Device=eth9, default route deleted: degraded" wait_until "$CONVERGE_MS" eval '[[ $(health "$NS") == degraded ]]'
check "Device=eth9, default route deleted: not restored" table200_lacks_default
truth_check "Device=eth9, default route deleted" "$NS"
seed003_config --pool 10.10.10.0/24 --pool 10.8.0.0/24 --pool fd00:4242:4242:4242::/64 "$conf" 'Device=eth1'
check "reload with Device=eth1" ctl "$NS" reload
table200_is "Device=eth1: v4 table 200" 4 "${BASE4[@]}"
table200_is "Device=eth1: v6 table 200" 6 "${BASE6[@]}"
check "Device=eth1: healthy" wait_until "$CONVERGE_MS" eval '[[ $(health "$NS") == healthy ]]'
truth_check "Device=eth1" "$NS"

agent_stop
check "SIGTERM: exit 0" test "$AGENT_RC" = 0
finish
