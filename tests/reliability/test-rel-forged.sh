#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 5: forged netlink. Any process in the namespace may send a unicast netlink message to the
# agent's sockets if it knows their port ids (here read from /proc/PID/net/netlink by `relnl portids`).
# relnl send builds messages shaped like kernel notifications (nlmsg_pid 0, seq 0) claiming that our rule
# and our default route were deleted, that a new main-table route via tun0 appeared (would be mirrored),
# that the client LAN route via tun0, tun0's address and tun0 itself went away (would take routes out of
# table 200), for both families, and sends them to both of the agent's sockets (events and requests) as
# root (an unprivileged user, nobody, is refused by the kernel itself: sending to a NETLINK_ROUTE port
# id needs CAP_NET_ADMIN; checked too). The agent believes only port id 0 (the kernel):
#   - a lossless monitor sees no kernel change at all; rules and routes are byte-for-byte as before;
#   - the agent did nothing (operations, restores and reconcile passes unchanged), is alive and healthy;
#   - a real deletion afterwards is still restored (the event socket works).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is missing"

rel_topology NS GW
rel_conf "$T/vpnpolicy.conf"
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/24 dev tun0
ip -n "$NS" -6 addr add fd00:4242:4242:4242::1/64 dev tun0 nodad
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.2 dev tun0 onlink
agent_start "$NS" "$T/vpnpolicy.conf"
TUN=$(ip -n "$NS" -j link show tun0 | jq '.[0].ifindex')
ETH=$(ip -n "$NS" -j link show eth1 | jq '.[0].ifindex')
check "before: client LAN mirrored" wait_until 2000 eval '[[ -n $(ip -n "$NS" route show table 200 172.16.1.0/24) ]]'
check "before: healthy" wait_until 2000 ctl "$NS" status

mapfile -t PORTS < <("$RELNL" portids "$AGENT_PID")
info "agent's netlink sockets (port id, role): ${PORTS[*]}"
check "the agent's NETLINK_ROUTE port ids found (events and requests)" test "${#PORTS[@]}" -ge 2

# the lies, SPECs separated by "," (see relnl.c)
# shellcheck disable=SC2054
LIES=(
        rule4 del pref=32765 src=10.10.10.0/24 table=200 proto=211 ,
        rule6 del pref=32765 src=fd00:4242:4242:4242::/64 table=200 proto=211 ,
        route4 del dst=0.0.0.0/0 gw=192.168.1.1 oif="$ETH" table=200 proto=211 ,
        route6 del dst=::/0 gw=fd00:1010:1010:1010::1 oif="$ETH" table=200 proto=211 metric=1024 ,
        route4 del dst=0.0.0.0/0 type=unreachable table=200 proto=211 metric=4294967295 ,
        route4 new dst=10.77.0.0/24 oif="$TUN" table=254 proto=3 ,
        route6 new dst=fd00:77::/64 oif="$TUN" table=254 proto=3 ,
        route4 del dst=172.16.1.0/24 gw=10.10.10.2 oif="$TUN" table=254 proto=3 ,
        route4 del dst=10.10.10.0/24 oif="$TUN" table=200 proto=211 ,
        addr4 del ifindex="$TUN" addr=10.10.10.1/24 ,
        addr6 del ifindex="$TUN" addr=fd00:4242:4242:4242::1/64 ,
        link del ifindex="$TUN" name=tun0
)

# The agent is quiet first: whatever the set-up made it do (a confirming dump after the links came up, the
# kernel's late address events) is over, so that any pass from here on would be the forged messages' doing.
_quiet() {
        local a b
        a=$(status_json "$NS" | jq .counters.reconcile_passes)
        sleep 0.3
        b=$(status_json "$NS" | jq .counters.reconcile_passes)
        [[ $a == "$b" ]]
}
check "the agent is quiet before the forged messages" wait_until 5000 _quiet
rel_dump "$NS" "$T/before.dump"
st0=$(status_json "$NS")
relmon_start "$NS" "$T/forged.mon"
sent=0
refused=0
for who in root nobody; do
        for p in "${PORTS[@]%% *}"; do
                for _ in 1 2 3; do
                        if [[ $who == root ]]; then
                                out=$(ip netns exec "$NS" "$RELNL" send "$p" "${LIES[@]}")
                        else
                                out=$(ip netns exec "$NS" setpriv --reuid 65534 --regid 65534 --clear-groups \
                                        "$RELNL" send "$p" "${LIES[@]}")
                        fi
                        read -r _ s _ r <<<"$out"
                        if [[ $who == root ]]; then sent=$((sent + s)); else refused=$((refused + r)); fi
                        [[ $who == root ]] || assert_eq "as nobody: the kernel refuses to deliver (EPERM) to port $p" "0 12" "$s $r"
                done
        done
done
info "sent $sent forged messages as root; $refused refused by the kernel as nobody"
check "the forged messages were accepted by the kernel for delivery ($sent)" test "$sent" -ge $((2 * 3 * 12))
sleep 1
relmon_stop
check "lossless monitor" true
assert_eq "monitor: no kernel change at all after the forged messages" 0 "$(grep -vc '^#' "$T/forged.mon")"
rel_dump "$NS" "$T/after.dump"
check "rules and routes byte-for-byte as before" cmp -s "$T/before.dump" "$T/after.dump"
st=$(status_json "$NS")
for c in operations restores reconcile_passes resyncs failed_operations; do
        assert_eq "status: counter $c unchanged" "$(jq ".counters.$c" <<<"$st0")" "$(jq ".counters.$c" <<<"$st")"
done
check "agent alive" _vpt_alive "$AGENT_PID"
check "healthy" ctl "$NS" status
check "status still knows tun0 (the forged RTM_DELLINK was not believed)" \
        jq -e '[.devices[] | select(.name == "tun0")] | length == 1' <<<"$st"

info "control: the same kind of message, really from the kernel, is acted upon"
ip netns exec "$NS" "$RELNL" send 0 route4 new dst=10.77.0.0/24 oif="$TUN" table=254 proto=3 >/dev/null
check "control: a real main-table route via tun0 (relnl's message as a request) is mirrored within 1000 ms" \
        wait_until 1000 eval '[[ -n $(ip -n "$NS" route show table 200 10.77.0.0/24) ]]'
ip netns exec "$NS" "$RELNL" send 0 route4 del dst=10.77.0.0/24 oif="$TUN" table=254 proto=3 >/dev/null
check "control: ... and its mirror removed when it goes" \
        wait_until 1000 eval '[[ -z $(ip -n "$NS" route show table 200 10.77.0.0/24) ]]'
info "a real deletion is still restored"
ip -n "$NS" -4 rule del pref 32765 from 10.10.10.0/24 lookup 200
check "real deletion of our v4 rule restored within 1000 ms" \
        wait_until 1000 eval '[[ -n $(ip -n "$NS" -4 rule show pref 32765 from 10.10.10.0/24 lookup 200) ]]'
figure forged_messages_sent "$sent" messages
figure forged_messages_believed 0 messages
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
