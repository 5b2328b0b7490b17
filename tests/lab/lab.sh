#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lab.sh up [subnet|net30|eduvpn3] | status | down
#
# `up eduvpn3` starts the eduVPN 3.x node of docs/guide-eduvpn3.md instead (tests/lab/lab-eduvpn3.sh: two
# profiles, three OpenVPN processes without an `up` hook, WireGuard by wireguard-go, a NAT box per profile;
# namespaces "$LAB_PREFIX-e3-*", state in /run/vpnpolicy-lab-eduvpn3/). It can run next to the seed lab;
# `status` and `down` act on whichever is up.
#
# A long-lived seed-003 world (tests/e2e/world.sh) to explore by hand: OpenVPN server and two clients
# in network namespaces "$LAB_PREFIX-*" (default vplab-srv, vplab-cl1, ...), with the policy made by
# vpnpolicyd running in the server namespace (started before OpenVPN) and our hook as OpenVPN's `up`.
# It keeps running after `up` (state in /run/vpnpolicy-lab/) until `down`, which removes everything.
#
# `up` first installs missing Debian packages (apt-get; LAB_NO_INSTALL=1 to skip) and builds the tree
# (meson setup build && ninja -C build) when build/ or a binary is missing; it then prints what it built
# and ends with `vpnpolicyctl status`.
#
# Variables:
#   LAB_POLICY        agent (default): vpnpolicyd + the hook; seed: the seed's own recipe
#                     (seed-policy.sh + seed-up.sh), no agent, to compare
#   VPNPOLICYD        the agent (default build/agent/daemon/vpnpolicyd of this tree)
#   VPNPOLICYD_ARGS   its arguments (default: --config /run/vpnpolicy-lab/world/vpnpolicy.conf
#                     --runtime-dir /run/vpnpolicy-lab/world/run)
#   VPNPOLICYCTL      the CLI (default build/agent/ctl/vpnpolicyctl)
#   LAB_HOOK          OpenVPN `up` command with the agent (default build/hooks/vpnpolicy-openvpn-up; it
#                     finds the agent by OpenVPN's `setenv VPNPOLICY_RUNTIME_DIR`)
#   LAB_PREFIX        namespace prefix (default vplab)
#   LAB_NO_INSTALL    1: never call apt-get
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../e2e/world.sh
source "$ROOT/tests/e2e/world.sh"

LAB_DIR=/run/vpnpolicy-lab
LAB_STATE=$LAB_DIR/state
VPNPOLICYD=${VPNPOLICYD:-$ROOT/build/agent/daemon/vpnpolicyd}
VPNPOLICYCTL=${VPNPOLICYCTL:-$ROOT/build/agent/ctl/vpnpolicyctl}
LAB_HOOK=${LAB_HOOK:-$ROOT/build/hooks/vpnpolicy-openvpn-up}
LAB_PREFIX=${LAB_PREFIX:-vplab}
LAB_POLICY=${LAB_POLICY:-agent}
# What the lab and the build need (Debian package names).
LAB_PACKAGES="openvpn nftables iproute2 openssl meson ninja-build gcc pkg-config libmnl-dev libsystemd-dev
libinih-dev libjansson-dev libnftnl-dev uthash-dev jq iputils-ping procps wireguard-tools wireguard-go"

say() { echo "lab: $*"; }
die() { echo "lab: $*" >&2; exit 1; }

# lab_install: apt-get install the packages of LAB_PACKAGES that are not installed.
lab_install() {
        local p missing=()
        [ -z "${LAB_NO_INSTALL:-}" ] || return 0
        command -v dpkg-query >/dev/null || { say "not Debian (no dpkg-query): not installing anything"; return 0; }
        for p in $LAB_PACKAGES; do
                dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
        done
        (( ${#missing[@]} )) || return 0
        command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get: install them by hand"
        say "installing missing packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } </dev/null ||
                die "apt-get install ${missing[*]} failed"
}

# lab_build: build the tree when build/ or one of the binaries the lab runs is missing.
lab_build() {
        local b=$ROOT/build f
        [ "$LAB_POLICY" = agent ] || return 0
        if [ -x "$VPNPOLICYD" ] && [ -x "$VPNPOLICYCTL" ] && [ -x "${LAB_HOOK%% *}" ]; then
                say "using the build in $b (not rebuilt; run ninja -C $b after changes)"
                return 0
        fi
        if [ ! -f "$b/build.ninja" ]; then
                say "building: meson setup $b && ninja -C $b"
                (cd "$ROOT" && meson setup build) || die "meson setup build failed"
        else
                say "building: ninja -C $b"
        fi
        ninja -C "$b" || die "ninja -C $b failed"
        for f in "$VPNPOLICYD" "$VPNPOLICYCTL" "${LAB_HOOK%% *}"; do
                [ -x "$f" ] || die "$f is still missing after the build"
        done
}

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

[Kernel]
Forwarding=enable
EOF
}

# lab_policy: makes the policy in the server namespace before OpenVPN starts, and sets the `up`
# hook to match: the agent (LAB_POLICY=agent, the default; failing loudly when it cannot run) or the
# seed recipe (LAB_POLICY=seed).
lab_policy() {
        local cfg=$WORLD_DIR/vpnpolicy.conf n out
        if [ "$LAB_POLICY" = seed ]; then
                say "policy: the seed recipe (seed-policy.sh + seed-up.sh), LAB_POLICY=seed"
                "$ROOT/tests/e2e/seed-policy.sh" "$WORLD_SRV"
                export WORLD_UP_HOOK=$ROOT/tests/e2e/seed-up.sh
                return 0
        fi
        lab_agent_conf >"$cfg"
        VPNPOLICYD_ARGS=${VPNPOLICYD_ARGS:---config $cfg --runtime-dir $WORLD_RUNTIME_DIR}
        # shellcheck disable=SC2086
        if ! out=$(ip netns exec "$WORLD_SRV" "$VPNPOLICYD" --check-config $VPNPOLICYD_ARGS 2>&1); then
                echo "$out" >&2
                die "$VPNPOLICYD --check-config $VPNPOLICYD_ARGS failed (LAB_POLICY=seed runs the seed recipe instead)"
        fi
        say "policy: the agent, $VPNPOLICYD $VPNPOLICYD_ARGS (log $WORLD_DIR/log/agent.log)"
        # setsid: its own session, so it outlives this script and the terminal.
        # shellcheck disable=SC2086,SC2016
        ip netns exec "$WORLD_SRV" /usr/bin/env VPNPOLICY_RUNTIME_DIR="$WORLD_RUNTIME_DIR" \
                /usr/bin/setsid -f /bin/sh -c \
                'echo $$ >"$0"; exec "$@"' "$WORLD_DIR/pid/agent.pid" "$VPNPOLICYD" $VPNPOLICYD_ARGS \
                </dev/null >>"$WORLD_DIR/log/agent.log" 2>&1
        # Ready when the control socket answers (it listens only after the first full reconcile).
        n=200
        while (( n-- > 0 )); do
                lab_ctl status --json >/dev/null 2>&1 && break
                sleep 0.05
        done
        if ! lab_ctl status --json >/dev/null 2>&1; then
                tail -n 20 "$WORLD_DIR/log/agent.log" >&2
                die "the agent is not ready after 10 s (log above, $WORLD_DIR/log/agent.log)"
        fi
        export WORLD_UP_HOOK=$LAB_HOOK
}

# lab_ctl ARGS...: vpnpolicyctl on the lab's agent
lab_ctl() {
        ip netns exec "$WORLD_SRV" "$VPNPOLICYCTL" --runtime-dir "$WORLD_RUNTIME_DIR" "$@"
}

# lab_built: what the policy put in the server namespace
lab_built() {
        echo "--- rules and table vpn in $WORLD_SRV"
        ip netns exec "$WORLD_SRV" ip -4 rule
        ip netns exec "$WORLD_SRV" ip -6 rule
        ip netns exec "$WORLD_SRV" ip -4 route show table vpn 2>&1 || true
        ip netns exec "$WORLD_SRV" ip -6 route show table vpn 2>&1 || true
        echo "--- main-table routes via tun0 (what the agent mirrors into table vpn)"
        ip netns exec "$WORLD_SRV" ip -4 route show table main dev tun0 2>&1 || true
        ip netns exec "$WORLD_SRV" ip -6 route show table main dev tun0 2>&1 | grep -v '^fe80' || true
}

lab_show_status() {
        if [ "${LAB_POLICY:-}" = agent ] && [ -x "$VPNPOLICYCTL" ]; then
                echo "--- vpnpolicyctl --runtime-dir $WORLD_RUNTIME_DIR status (in $WORLD_SRV)"
                lab_ctl status 2>&1 || true
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
EOF
        if [ "${LAB_POLICY:-}" = agent ]; then
                cat <<EOF
  ip netns exec $p-srv $VPNPOLICYCTL --runtime-dir $WORLD_RUNTIME_DIR status [--json]
  tail -f $WORLD_DIR/log/agent.log                        # the agent (pid file $WORLD_DIR/pid/agent.pid)
EOF
        fi
        cat <<EOF
  $0 down                                       # removes everything
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
        case $LAB_POLICY in agent|seed) ;; *) die "LAB_POLICY must be agent or seed, not '$LAB_POLICY'";; esac
        [ ! -e "$LAB_STATE" ] || die "already up (state $LAB_STATE); run: $0 down"
        export WORLD_PREFIX=$LAB_PREFIX
        for role in $WORLD_ROLES; do
                [ ! -e "/run/netns/$LAB_PREFIX-$role" ] || die "namespace $LAB_PREFIX-$role exists (a lab left over?); run: $0 down"
        done
        mkdir -p "$LAB_DIR"
        export WORLD_DIR=$LAB_DIR/world
        [ ! -e "$WORLD_DIR" ] || die "$WORLD_DIR exists (a lab left over?); run: $0 down"
        lab_install
        lab_build
        # On any failure from here: remove what was built.
        trap 'lab_up_failed $?' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        local t0=${EPOCHREALTIME/[.,]/}
        world_net_up "$topo"
        lab_policy
        world_vpn_up
        world_save "$LAB_STATE"
        printf 'export LAB_POLICY=%q\n' "$LAB_POLICY" >>"$LAB_STATE"
        trap - EXIT INT TERM
        say "up in $(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 )) ms, policy by the $LAB_POLICY"
        world_describe
        lab_built
        lab_explore
        lab_show_status
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
        lab_built
        echo "--- router counters (packets arriving, by source)"
        world_counters
        lab_explore
        lab_show_status
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

# lab_e3 CMD: CMD (lab_e3_up, _status, _down) of the eduVPN 3.x lab, in a subshell with its own LAB_DIR
lab_e3() {
        (
                LAB_DIR=/run/vpnpolicy-lab-eduvpn3
                # shellcheck source=SCRIPTDIR/lab-eduvpn3.sh
                source "$HERE/lab-eduvpn3.sh"
                "$1"
        )
}
lab_e3_is_up() { [ -e /run/vpnpolicy-lab-eduvpn3/e3-state ]; }

[ "$(id -u)" = 0 ] || die "needs root"
case ${1:-} in
        up)
                if [ "${2:-}" = eduvpn3 ]; then lab_e3 lab_e3_up; else lab_up "${2:-subnet}"; fi
                ;;
        status)
                if lab_e3_is_up; then lab_e3 lab_e3_status; fi
                if [ -e "$LAB_STATE" ] || ! lab_e3_is_up; then lab_status; fi
                ;;
        down)
                lab_e3 lab_e3_down
                lab_down
                ;;
        *) echo "usage: $0 up [subnet|net30|eduvpn3] | status | down" >&2; exit 2 ;;
esac
