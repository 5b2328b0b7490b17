#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-world-seed.sh [subnet|net30]...: the seed-003 world with the seed's own recipe (seed-policy.sh
# by hand, seed-up.sh as OpenVPN's `up`), no agent. Proves the world is right (paths by the router
# counters) and records the seed's gaps, which the agent must close:
#   - a client's traffic to another client's LAN (route + iroute, seed 000) goes to the NAT router
#     and dies: the seed never puts client-LAN routes into table vpn;
#   - with topology net30 the seed's `up` cannot compute the IPv4 tun network, so clients cannot
#     reach the server's tun address or each other over IPv4.
# Default: both topologies. Prints PASS:/FAIL: per check; exit 1 if any FAIL, 2 if the world would
# not come up; cleans up on every exit (also SIGINT/SIGTERM).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/world.sh
source "$HERE/world.sh"

FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

trap 'world_down' EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# check ok|fail NAME CMD...: CMD must succeed (ok) or fail (fail)
check() {
        local want=$1 name=$2 got
        shift 2
        if "$@" >/dev/null 2>&1; then got=ok; else got=fail; fi
        if [ "$got" = "$want" ]; then pass "$name"; else fail "$name (expected $want, got $got)"; fi
}

# path ok|fail nat|rtr|none COUNTER FROM DEST NAME: ping DEST from FROM, expect the ping to succeed
# or fail, and the router counter COUNTER to rise on exactly the router given (none: on neither).
path() {
        local want=$1 via=$2 ctr=$3 from=$4 dest=$5 name=$6 got r0 n0 dr dn ok=1
        r0=$(world_counter rtr "$ctr"); n0=$(world_counter nat "$ctr")
        if world_ping "$from" "$dest"; then got=ok; else got=fail; fi
        dr=$(( $(world_counter rtr "$ctr") - r0 )); dn=$(( $(world_counter nat "$ctr") - n0 ))
        [ "$got" = "$want" ] || ok=
        case $via in
                nat) (( dn > 0 && dr == 0 )) || ok= ;;
                rtr) (( dr > 0 && dn == 0 )) || ok= ;;
                none) (( dr == 0 && dn == 0 )) || ok= ;;
        esac
        local what="$name: ping $from -> $dest"
        if [ "$want" = ok ]; then what+=" succeeds"; else what+=" fails"; fi
        [ "$via" = none ] && what+=", crossing neither router" || what+=", via $via only"
        if [ -n "$ok" ]; then
                pass "$what"
        else
                fail "$what (ping: $got; $ctr counter +$dr on rtr, +$dn on nat)"
        fi
}

run_topology() {
        local topo=$1 t v4ok msg
        echo "=== topology $topo (seed recipe, no agent)"
        WORLD_PREFIX="vpw$$${topo:0:1}"
        export WORLD_PRE_VPN_HOOK="$HERE/seed-policy.sh"
        export WORLD_UP_HOOK="$HERE/seed-up.sh"
        if ! world_up "$topo"; then
                echo "FAIL: [$topo] world_up"
                exit 2
        fi
        echo "world up in ${WORLD_UP_MS} ms: $WORLD_PREFIX, cl1 $WORLD_CL1_TUN4 $WORLD_CL1_TUN6, cl2 $WORLD_CL2_TUN4 $WORLD_CL2_TUN6"
        t="[$topo]"
        # IPv4 tun route in table vpn: the seed's up manages it with subnet, not with net30.
        if [ "$topo" = subnet ]; then v4ok=ok; else v4ok=fail; fi

        check ok "$t seed rules in place (v4, v6)" bash -c \
                "ip -n $WORLD_SRV -4 rule | grep_q 'from $WORLD_POOL4 lookup vpn' &&
                 ip -n $WORLD_SRV -6 rule | grep_q 'from $WORLD_POOL6 lookup vpn'"
        if [ "$v4ok" = ok ]; then
                msg="$t seed up script put the IPv4 tun route into table vpn"
        else
                msg="$t SEED GAP (net30: no ifconfig_netmask, \$5 is the peer): seed up script put NO IPv4 tun route into table vpn"
        fi
        check "$v4ok" "$msg" bash -c \
                "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^$WORLD_POOL4 dev tun0'"
        check ok "$t seed up script put the IPv6 tun route into table vpn" bash -c \
                "ip netns exec $WORLD_SRV ip -6 route show table vpn | grep_q '^$WORLD_POOL6 dev tun0'"

        path ok nat pool4 cl1 "$WORLD_INET4" "$t cl1 to the outside, v4"
        path ok nat pool6 cl1 "$WORLD_INET6" "$t cl1 to the outside, v6"
        path ok nat pool4 cl2 "$WORLD_INET4" "$t cl2 to the outside, v4"
        path ok nat pool6 cl2 "$WORLD_INET6" "$t cl2 to the outside, v6"

        if [ "$v4ok" = ok ]; then
                path ok none pool4 cl1 "$WORLD_SRV_TUN4" "$t cl1 to the server's tun address, v4"
                path ok none pool4 cl1 "$WORLD_CL2_TUN4" "$t client to client cl1 -> cl2, v4"
                path ok none pool4 cl2 "$WORLD_CL1_TUN4" "$t client to client cl2 -> cl1, v4"
        else
                path fail nat pool4 cl1 "$WORLD_SRV_TUN4" "$t SEED GAP (net30, no v4 tun route): cl1 to the server's tun address, v4"
                path fail nat pool4 cl1 "$WORLD_CL2_TUN4" "$t SEED GAP (net30, no v4 tun route): client to client cl1 -> cl2, v4"
        fi
        path ok none pool6 cl1 "$WORLD_SRV_TUN6" "$t cl1 to the server's tun address, v6"
        path ok none pool6 cl1 "$WORLD_CL2_TUN6" "$t client to client cl1 -> cl2, v6"
        path ok none pool6 cl2 "$WORLD_CL1_TUN6" "$t client to client cl2 -> cl1, v6"

        path ok none pool4 cl1 "$WORLD_LAN1_4" "$t cl1 to its own LAN host lan1, v4"
        path ok none pool6 cl1 "$WORLD_LAN1_6" "$t cl1 to its own LAN host lan1, v6"
        path fail nat pool4 cl2 "$WORLD_LAN1_4" "$t SEED GAP (client LAN not in table vpn): cl2 to cl1's LAN host, v4"
        path fail nat pool6 cl2 "$WORLD_LAN1_6" "$t SEED GAP (client LAN not in table vpn): cl2 to cl1's LAN host, v6"

        path ok rtr srv4 srv "$WORLD_INET4" "$t the server's own traffic (non-pool source), v4"
        path ok rtr srv6 srv "$WORLD_INET6" "$t the server's own traffic (non-pool source), v6"

        check ok "$t no pool packet ever crossed rtr (rtr pool4=$(world_counter rtr 4) pool6=$(world_counter rtr 6))" \
                test "$(world_counter rtr 4)" = 0 -a "$(world_counter rtr 6)" = 0

        # Control: without the source rules pool traffic leaks out the default route, and the rtr
        # counters see it (so a zero there above means something).
        ip -n "$WORLD_SRV" -4 rule del from "$WORLD_POOL4" lookup 200
        ip -n "$WORLD_SRV" -6 rule del from "$WORLD_POOL6" lookup 200
        path ok rtr pool4 cl1 "$WORLD_INET4" "$t control, rules removed: the leak to rtr is counted, v4"
        path ok rtr pool6 cl1 "$WORLD_INET6" "$t control, rules removed: the leak to rtr is counted, v6"
        echo "counters at the end: $(world_counters | tr '\n' ' ')"
        world_down
}

topos=("$@")
(( ${#topos[@]} )) || topos=(subnet net30)
for topo in "${topos[@]}"; do
        case $topo in subnet|net30) ;; *) echo "usage: $0 [subnet|net30]..." >&2; exit 2;; esac
        run_topology "$topo"
done

if (( FAILS )); then
        echo "$FAILS check(s) FAILED"
        exit 1
fi
echo "all checks passed"
