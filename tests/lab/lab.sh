#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lab.sh up [subnet|net30] | status | down
#
# A long-lived seed-003 world (tests/e2e/world.sh) to explore by hand: OpenVPN server and two clients
# in network namespaces "$LAB_PREFIX-*" (default vplab-srv, vplab-cl1, ...), with the policy made by
# the agent when it is built and works, else by the seed's own recipe. It keeps running after `up`
# (state in /run/vpnpolicy-lab/) until `down`.
#
# Variables:
#   VPNPOLICYD        the agent (default build/agent/vpnpolicyd of this tree). Used when it exists and
#                     `VPNPOLICYD --check-config $VPNPOLICYD_ARGS` succeeds inside the server namespace.
#   VPNPOLICYD_ARGS   its arguments (default: --config /run/vpnpolicy-lab/world/vpnpolicy.conf)
#   VPNPOLICYCTL      the CLI (default build/agent/vpnpolicyctl)
#   LAB_HOOK          OpenVPN `up` command with the agent (default: "$VPNPOLICYCTL openvpn-hook")
#   LAB_PREFIX        namespace prefix (default vplab)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../e2e/world.sh
source "$ROOT/tests/e2e/world.sh"

LAB_DIR=/run/vpnpolicy-lab
LAB_STATE=$LAB_DIR/state
VPNPOLICYD=${VPNPOLICYD:-$ROOT/build/agent/vpnpolicyd}
VPNPOLICYCTL=${VPNPOLICYCTL:-$ROOT/build/agent/vpnpolicyctl}
LAB_HOOK=${LAB_HOOK:-$VPNPOLICYCTL openvpn-hook}
LAB_PREFIX=${LAB_PREFIX:-vplab}

say() { echo "lab: $*"; }
die() { echo "lab: $*" >&2; exit 1; }

lab_agent_conf() {
        cat <<EOF
# vpnpolicy lab: seed 003
[Table]
Name=vpn
Id=200

[Pool]
Prefix=$WORLD_POOL4
Prefix=$WORLD_POOL6

[Gateway]
IPv4=$WORLD_GW4
IPv6=$WORLD_GW6
Device=eth1

[Tunnels]
Match=tun*
MirrorRoutes=yes
EOF
}

# lab_policy: makes the policy in the server namespace before OpenVPN starts, and sets the `up`
# hook to match. The agent when usable (LAB_POLICY=agent), else the seed recipe (LAB_POLICY=seed).
lab_policy() {
        local cfg=$WORLD_DIR/vpnpolicy.conf why='' n out
        lab_agent_conf >"$cfg"
        VPNPOLICYD_ARGS=${VPNPOLICYD_ARGS:---config $cfg}
        if [ ! -x "$VPNPOLICYD" ]; then
                why="$VPNPOLICYD is not built"
        else
                # shellcheck disable=SC2086
                if ! out=$(ip netns exec "$WORLD_SRV" "$VPNPOLICYD" --check-config $VPNPOLICYD_ARGS 2>&1); then
                        why="$VPNPOLICYD --check-config $VPNPOLICYD_ARGS failed: $(echo "$out" | head -n 3)"
                fi
        fi
        if [ -z "$why" ]; then
                say "policy: the agent, $VPNPOLICYD $VPNPOLICYD_ARGS (log $WORLD_DIR/log/agent.log)"
                # setsid: its own session, so it outlives this script and the terminal.
                # shellcheck disable=SC2086,SC2016
                ip netns exec "$WORLD_SRV" /usr/bin/env VPNPOLICY_RUNTIME_DIR="$WORLD_RUNTIME_DIR" \
                        RUNTIME_DIRECTORY="$WORLD_RUNTIME_DIR" /usr/bin/setsid -f /bin/sh -c \
                        'echo $$ >"$0"; exec "$@"' "$WORLD_DIR/pid/agent.pid" "$VPNPOLICYD" $VPNPOLICYD_ARGS \
                        </dev/null >>"$WORLD_DIR/log/agent.log" 2>&1
                n=100
                while (( n-- > 0 )) && [ ! -S "$WORLD_RUNTIME_DIR/io.vpnpolicy" ]; do sleep 0.05; done
                [ -S "$WORLD_RUNTIME_DIR/io.vpnpolicy" ] ||
                        say "warning: no control socket $WORLD_RUNTIME_DIR/io.vpnpolicy after 5 s (see the agent log)"
                export WORLD_UP_HOOK=$LAB_HOOK
                LAB_POLICY=agent
        else
                say "policy: the seed recipe (seed-policy.sh + seed-up.sh), because $why"
                "$ROOT/tests/e2e/seed-policy.sh" "$WORLD_SRV"
                export WORLD_UP_HOOK=$ROOT/tests/e2e/seed-up.sh
                LAB_POLICY=seed
        fi
}

lab_explore() {
        local p=$WORLD_PREFIX
        cat <<EOF

Explore (the namespaces are $p-{srv,rtr,nat,inet,cl1,cl2,lan1}):
  ip netns exec $p-cl1 ping -c1 $WORLD_INET4               # client to the outside, must go via nat
  ip netns exec $p-cl1 ping -c1 $WORLD_INET6
  ip netns exec $p-cl1 ping -c1 $WORLD_SRV_TUN4                # the server's tun address
  ip netns exec $p-cl1 ping -c1 ${WORLD_CL2_TUN4:-10.10.10.3}                # client to client
  ip netns exec $p-cl2 ping -c1 $WORLD_LAN1_4               # cl2 to the LAN behind cl1 (route + iroute)
  ip netns exec $p-srv ip rule; ip netns exec $p-srv ip -6 rule
  ip netns exec $p-srv ip route show table vpn; ip netns exec $p-srv ip -6 route show table vpn
  ip netns exec $p-srv bash                              # a shell on the VPN server
  ip netns exec $p-nat nft list table inet vpw           # the counters (also: $0 status)
  tail -f $WORLD_DIR/log/srv.log
  $0 down
EOF
}

lab_up_failed() {
        if [ "$1" -ne 0 ]; then
                say "up failed, cleaning up"
                world_down
                rm -rf "$LAB_DIR"
        fi
}

lab_up() {
        local topo=${1:-subnet}
        [ ! -e "$LAB_STATE" ] || die "already up (state $LAB_STATE); run: $0 down"
        export WORLD_PREFIX=$LAB_PREFIX
        for role in $WORLD_ROLES; do
                [ ! -e "/run/netns/$LAB_PREFIX-$role" ] || die "namespace $LAB_PREFIX-$role exists (a lab left over?); run: $0 down"
        done
        mkdir -p "$LAB_DIR"
        export WORLD_DIR=$LAB_DIR/world
        [ ! -e "$WORLD_DIR" ] || die "$WORLD_DIR exists (a lab left over?); run: $0 down"
        # On any failure from here: remove what was built.
        trap 'lab_up_failed $?' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        local t0=$SECONDS
        world_net_up "$topo"
        lab_policy
        world_vpn_up
        world_save "$LAB_STATE"
        printf 'export LAB_POLICY=%q\n' "$LAB_POLICY" >>"$LAB_STATE"
        trap - EXIT INT TERM
        say "up in $((SECONDS - t0)) s, policy by the $LAB_POLICY"
        world_describe
        lab_explore
}

lab_load() {
        [ -e "$LAB_STATE" ] || return 1
        world_load "$LAB_STATE"
}

lab_status() {
        lab_load || die "not up (no $LAB_STATE)"
        local role w pid
        world_describe
        echo "policy: ${LAB_POLICY:-?}"
        for role in $WORLD_ROLES; do
                [ -e "/run/netns/$WORLD_PREFIX-$role" ] || echo "MISSING namespace $WORLD_PREFIX-$role"
        done
        for w in srv cl1 cl2 agent; do
                [ -s "$WORLD_DIR/pid/$w.pid" ] || continue
                pid=$(cat "$WORLD_DIR/pid/$w.pid")
                if [ -d "/proc/$pid" ]; then echo "$w: running (pid $pid)"; else echo "$w: NOT running (pid $pid)"; fi
        done
        echo "--- rules and table vpn in $WORLD_SRV"
        ip netns exec "$WORLD_SRV" ip -4 rule
        ip netns exec "$WORLD_SRV" ip -6 rule
        ip netns exec "$WORLD_SRV" ip -4 route show table vpn 2>&1 || true
        ip netns exec "$WORLD_SRV" ip -6 route show table vpn 2>&1 || true
        echo "--- router counters (packets arriving, by source)"
        world_counters
        if [ "${LAB_POLICY:-}" = agent ] && [ -x "$VPNPOLICYCTL" ]; then
                echo "--- vpnpolicyctl status"
                ip netns exec "$WORLD_SRV" /usr/bin/env VPNPOLICY_RUNTIME_DIR="$WORLD_RUNTIME_DIR" \
                        "$VPNPOLICYCTL" status 2>&1 || true
        fi
        lab_explore
}

lab_down() {
        if ! lab_load; then
                # No state: still sweep what a crashed `up` may have left under the lab's names.
                export WORLD_PREFIX=$LAB_PREFIX WORLD_DIR=$LAB_DIR/world
        fi
        export WORLD_ACTIVE=1
        world_down
        rm -rf "$LAB_DIR"
        say "down"
}

[ "$(id -u)" = 0 ] || die "needs root"
case ${1:-} in
        up) lab_up "${2:-subnet}" ;;
        status) lab_status ;;
        down) lab_down ;;
        *) echo "usage: $0 up [subnet|net30] | status | down" >&2; exit 2 ;;
esac
