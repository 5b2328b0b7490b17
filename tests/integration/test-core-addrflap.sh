#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# The uplink's address flaps (issue 11, item 2). Removing the gateway device's last IPv4 address makes
# the kernel flush every IPv4 route via the device, our default route in table vpn too, silently and
# after it has announced RTM_DELADDR (fib_del_ifaddr() in net/ipv4/fib_frontend.c); adding it back
# brings only the connected route, so the agent must put the default route back, each time. systemd-
# networkd does exactly this (removes and re-adds its static address 12-20 ms apart) on `networkctl
# reconfigure`, on a reload after an edit and on a restart.
# The uplink also carries UPLINK_ROUTES (default 1000) routes of another table (100: a router's share of a
# routing table); the kernel flushes them with ours, so the flush takes a few milliseconds after the
# announcement instead of microseconds: the window in which an agent that looks (a dump) or trusts its
# cache sees our default route that is about to vanish. It makes the race of the issue happen in about a
# third of the flaps here instead of on a busy machine only; with UPLINK_ROUTES=0 it is as rare as there.
# FLAPS times (default 200): `ip addr del` of the v4 and v6 uplink addresses, a gap (a sixth of them 0 ms:
# both commands in one `ip -batch`; the others 1-50 ms at random, FLAP_SEED), `ip addr add` of both, and
# the table 100 routes again.
# After each flap (not only at the end: a correct agent must recover from every one, promptly, and a miss
# is then counted and attributed to its flap):
#   - the v4 and v6 default routes are back in table vpn within FLAP_BACK_MS (default 1000; the agent's
#     event-to-route latency is a few ms, see docs/performance.md);
#   - `status --json` agrees with the kernel within TRUTH_MS (default 2000; tests/lib/status-truth.sh).
# All along, a client namespace behind the server pings from the pools (v4 and v6, 20 per second each)
# to a target that both the NAT gateway and the main default router answer: the main default router's
# nftables counter of pool sources must stay at 0 (and the gateway's must rise, or the pings proved
# nothing). [Firewall] Manage=no: the nftables leak guard would hide a routing leak. The control at the end
# (agent stopped, its table emptied by hand) shows that the same pings do reach the main default router;
# the one at the start, that the comparison with the kernel finds each kind of disagreement.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"
# shellcheck source=../lib/status-truth.sh
source "$(dirname "$0")/../lib/status-truth.sh"

command -v nft >/dev/null || skip_test "nft is missing (tests/run.sh installs it)"
command -v ping >/dev/null || skip_test "ping is missing (tests/run.sh installs it)"
FLAPS=${FLAPS:-200}
UPLINK_ROUTES=${UPLINK_ROUTES:-1000}
FLAP_BACK_MS=${FLAP_BACK_MS:-1000}
TRUTH_MS=${TRUTH_MS:-2000}
FLAP_SEED=${FLAP_SEED:-$$}
MAX_MISSES=${MAX_MISSES:-3}     # stop flapping after this many misses (each costs seconds)
TARGET4=203.0.113.1
TARGET6=2001:db8:203::1

# ---------------------------------------------------------------------------------------------------------
# server (NS) with its uplink to the NAT gateway (GW) and its main default route to DEF; a client (CL)
# holding pool addresses behind the server, on a veth (the policy is by source: any ingress will do)
seed003_uplink NS GW
ns_new DEF
ns_new CL
veth_add "$NS" eth9 "$DEF" eth0
ip -n "$NS" addr add 172.16.0.1/24 dev eth9
ip -n "$NS" addr add fd00:9::1/64 dev eth9 nodad
ip -n "$NS" route add default via 172.16.0.254
ip -n "$NS" -6 route add default via fd00:9::fe
ip -n "$DEF" addr add 172.16.0.254/24 dev eth0
ip -n "$DEF" addr add fd00:9::fe/64 dev eth0 nodad
veth_add "$NS" pool0 "$CL" eth0
ip -n "$NS" addr add 10.10.10.1/24 dev pool0
ip -n "$NS" addr add fd00:4242:4242:4242::1/64 dev pool0 nodad
ip -n "$CL" addr add 10.10.10.2/24 dev eth0
ip -n "$CL" addr add fd00:4242:4242:4242::2/64 dev eth0 nodad
ip -n "$CL" route add default via 10.10.10.1
ip -n "$CL" -6 route add default via fd00:4242:4242:4242::1
for ns in "$GW" "$DEF"; do
        ip -n "$ns" addr add "$TARGET4/32" dev lo
        ip -n "$ns" addr add "$TARGET6/128" dev lo
        ns_exec "$ns" nft -f - <<'EOF'
table inet vpt {
        counter pool4 {}
        counter pool6 {}
        chain count {
                type filter hook prerouting priority filter; policy accept;
                ip saddr 10.10.10.0/24 counter name pool4
                ip6 saddr fd00:4242:4242:4242::/64 counter name pool6
        }
}
EOF
done
ip -n "$GW" route add 10.10.10.0/24 via 192.168.1.100
ip -n "$GW" -6 route add fd00:4242:4242:4242::/64 via fd00:1010:1010:1010::100
ip -n "$DEF" route add 10.10.10.0/24 via 172.16.0.1
ip -n "$DEF" -6 route add fd00:4242:4242:4242::/64 via fd00:9::1
counter() { # NS NAME: packets counted
        local out
        out=$(ns_exec "$1" nft list counter inet vpt "$2")
        out=${out#*packets }
        echo "${out%% *}"
}

# the uplink's share of a routing table, in table 100 (flushed before table 200: fib_flush() walks the
# tables by id modulo 256)
for ((i = 0; i < UPLINK_ROUTES; i++)); do
        printf 'route add 10.%d.%d.0/24 via 192.168.1.1 dev eth1 table 100\n' $((100 + i / 256)) $((i % 256))
done >"$T/uplink-routes"
uplink_routes() { [[ ! -s $T/uplink-routes ]] || ip -n "$NS" -batch "$T/uplink-routes"; }
uplink_routes

seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Firewall]' 'Manage=no' '[Kernel]' 'FailClosed=yes'
# A verification a second: the flaps run into it, and (Manage=no) it must leave nothing pending behind.
agent_start "$NS" "$T/vpnpolicy.conf" --verify-interval 1
check "start: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$NS"
ok4() { [[ $(ns_exec "$CL" ping -n -q -c 1 -W 1 "$TARGET4" 2>&1) == *" 1 received"* ]]; }
check "start: the pool reaches the target" ok4
check "start: by the gateway, not the main default router" eval '(($(counter "$GW" pool4) > 0 && $(counter "$DEF" pool4) == 0))'

# ---------------------------------------------------------------------------------------------------------
info "the comparison with the kernel sees each kind of lie (statuses taken earlier, the agent stopped)"
ctl "$NS" status --json >"$T/st-healthy.json"
kill -STOP "$AGENT_PID"
ip -n "$NS" route del default via 192.168.1.1 dev eth1 table 200
lie=$(status_truth "$NS" "$T/st-healthy.json") && lie_rc=0 || lie_rc=$?
# status_truth's lines: "+ OBJECT" status calls it present and the kernel lacks it, "- OBJECT" the kernel
# has it and status does not call it present
check "an object called present that the kernel lacks is found" eval '((lie_rc == 1)) && grep -q "^+ default via 192.168.1.1 dev eth1 table 200 metric 0" <<<"$lie"'
ip -n "$NS" route add 10.99.0.0/16 dev eth1 table 200 proto 211
lie=$(status_truth "$NS" "$T/st-healthy.json") && lie_rc=0 || lie_rc=$?
check "an object of ours that status does not call present is found" eval '((lie_rc == 1)) && grep -q "^- 10.99.0.0/16 dev eth1 table 200" <<<"$lie"'
ip -n "$NS" route del 10.99.0.0/16 dev eth1 table 200 proto 211
kill -CONT "$AGENT_PID"
check "the agent restores its route" status_truthful_within "$TRUTH_MS" "$NS"
ip -n "$NS" link set eth1 down
check "link down: the agent calls its default routes absent" wait_until "$TRUTH_MS" eval \
        '[[ $(ctl "$NS" status --json | jq "[.objects[] | select(.role == \"default-route\" and .present == false)] | length") == 2 ]]'
ctl "$NS" status --json >"$T/st-down.json" || true
kill -STOP "$AGENT_PID"
ip -n "$NS" link set eth1 up
ip -n "$NS" route add default via 192.168.1.1 dev eth1 table 200 proto 211
lie=$(status_truth "$NS" "$T/st-down.json") && lie_rc=0 || lie_rc=$?
check "an object called absent that the kernel has is found" eval '((lie_rc == 1)) && grep -q "^- default via 192.168.1.1 dev eth1 table 200 metric 0" <<<"$lie"'
kill -CONT "$AGENT_PID"
ip -n "$NS" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad
uplink_routes
check "up again: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$NS"
seed003_exact "$NS" "before the flaps"

# ---------------------------------------------------------------------------------------------------------
info "$FLAPS flaps of eth1's addresses (seed $FLAP_SEED, $UPLINK_ROUTES routes via eth1 in table 100)"
defaults_back() {
        [[ -n $(ip -n "$NS" -4 route show table 200 default via 192.168.1.1 dev eth1) &&
                -n $(ip -n "$NS" -6 route show table 200 default via fd00:1010:1010:1010::1 dev eth1) ]]
}
ip netns exec "$CL" ping -n -q -i 0.05 "$TARGET4" </dev/null >"$T/ping4.out" 2>&1 &
ping4=$!        # ip netns exec execs ping: this is ping's pid
register_pid "$ping4"
ip netns exec "$CL" ping -n -q -i 0.05 "$TARGET6" </dev/null >"$T/ping6.out" 2>&1 &
ping6=$!
register_pid "$ping6"
RANDOM=$FLAP_SEED
misses=0
untruthful=0
zero=0
: >"$T/back-ms"
t0=$(now_ms)
for ((i = 1; i <= FLAPS && misses < MAX_MISSES; i++)); do
        gap=$((RANDOM % 6 == 0 ? 0 : 1 + RANDOM % 50))
        if ((gap == 0)); then
                zero=$((zero + 1))
                ip -n "$NS" -batch - <<'EOF'
addr del 192.168.1.100/24 dev eth1
addr del fd00:1010:1010:1010::100/64 dev eth1
addr add 192.168.1.100/24 dev eth1
addr add fd00:1010:1010:1010::100/64 dev eth1 nodad
EOF
        else
                ip -n "$NS" -batch - <<'EOF'
addr del 192.168.1.100/24 dev eth1
addr del fd00:1010:1010:1010::100/64 dev eth1
EOF
                sleep "0.0$(printf %02d "$gap")"
                ip -n "$NS" -batch - <<'EOF'
addr add 192.168.1.100/24 dev eth1
addr add fd00:1010:1010:1010::100/64 dev eth1 nodad
EOF
        fi
        t1=$(now_ms)
        uplink_routes
        if wait_until "$FLAP_BACK_MS" defaults_back; then
                echo $(($(now_ms) - t1)) >>"$T/back-ms"
        else
                misses=$((misses + 1))
                if wait_until 5000 defaults_back; then late="back after $(($(now_ms) - t1)) ms"; else late="still missing after 5 s"; fi
                echo "# flap $i (gap ${gap} ms): the default routes were not back within $FLAP_BACK_MS ms ($late)"
                ip -n "$NS" route show table 200 | sed 's/^/#   v4 table 200: /'
                ip -n "$NS" -6 route show table 200 | sed 's/^/#   v6 table 200: /'
        fi
        if ! out=$(status_truthful_within "$TRUTH_MS" "$NS"); then
                untruthful=$((untruthful + 1))
                echo "# flap $i (gap ${gap} ms): status disagrees with the kernel:"
                sed 's/^/#   /' <<<"$out"
        fi
done
flaps=$((i - 1))
ms=$(($(now_ms) - t0))
sleep 0.1       # the last pings' replies
kill -INT "$ping4" "$ping6" 2>/dev/null || true
wait "$ping4" "$ping6" 2>/dev/null || true
info "pings: v4 $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$T/ping4.out"), v6 $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$T/ping6.out")"
read -r bmin bmed bmax < <(sort -n "$T/back-ms" | awk '{ v[NR] = $1 } END { if (NR) print v[1], v[int((NR + 1) / 2)], v[NR]; else print "- - -" }')
info "$flaps flaps ($zero with a 0 ms gap) in $ms ms; default routes back after (ms): min $bmin median $bmed max $bmax"
info "pool packets: gateway v4 $(counter "$GW" pool4) v6 $(counter "$GW" pool6), main default router v4 $(counter "$DEF" pool4) v6 $(counter "$DEF" pool6)"
check "all $FLAPS flaps ran (stopped after $MAX_MISSES misses)" test "$flaps" = "$FLAPS"
assert_eq "after every flap the default routes were back within $FLAP_BACK_MS ms (flaps that missed)" 0 "$misses"
assert_eq "after every flap status agreed with the kernel within $TRUTH_MS ms (flaps where it did not)" 0 "$untruthful"
check "the pings went through the gateway (v4 $(counter "$GW" pool4) packets)" test "$(counter "$GW" pool4)" -gt 0
check "v6 too ($(counter "$GW" pool6) packets)" test "$(counter "$GW" pool6)" -gt 0
assert_eq "no v4 pool packet reached the main default router" 0 "$(counter "$DEF" pool4)"
assert_eq "no v6 pool packet reached the main default router" 0 "$(counter "$DEF" pool6)"
seed003_exact "$NS" "after the flaps"
check "after the flaps: healthy" ctl "$NS" status
verifications() { ctl "$NS" status --json | jq -e ".counters.verifications >= $1" >/dev/null; }
check "verifications ran during the flaps" verifications 2
check "after the flaps: the agent is idle (no work left that it never does)" agent_idle 2000

# ---------------------------------------------------------------------------------------------------------
info "control: without the agent's table the same pings leak to the main default router"
agent_stop
ip -n "$NS" route flush table 200
# (a v6 flush leaves an "unreachable default metric 4294967295" alone: iproute2 takes it for the kernel's own)
ip -n "$NS" -6 route del unreachable default metric 4294967295 table 200
ip -n "$NS" -6 route flush table 200
ns_exec "$CL" ping -n -q -c 3 -i 0.1 -W 1 "$TARGET4" >/dev/null 2>&1 || true
ns_exec "$CL" ping -n -q -c 3 -i 0.1 -W 1 "$TARGET6" >/dev/null 2>&1 || true
check "control: v4 pool packets counted at the main default router" test "$(counter "$DEF" pool4)" -ge 3
check "control: v6 too" test "$(counter "$DEF" pool6)" -ge 3

finish
