# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/lab/lab-eduvpn3.sh: the eduVPN 3.x node of tests/e2e/world-eduvpn3.sh as a long-lived lab, sourced
# by lab.sh for `lab.sh up eduvpn3`. Namespaces "$LAB_PREFIX-e3-ROLE" (vplab-e3-srv, ...), files in
# $LAB_DIR/e3, the agent's configuration from docs/guide-eduvpn3.md. world-eduvpn3.sh runs on these few
# stand-ins for the test harness's calls (tests/lib/common.sh), which remove everything when a test ends:
# here nothing is removed until `lab.sh down`.

# shellcheck source=SCRIPTDIR/../lib/guide.sh
source "$ROOT/tests/lib/guide.sh"
# shellcheck source=SCRIPTDIR/../e2e/world-eduvpn3.sh
source "$ROOT/tests/e2e/world-eduvpn3.sh"

T=$LAB_DIR
LAB_E3_STATE=$LAB_DIR/e3-state
LAB_E3_NS=$LAB_DIR/e3-namespaces

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
wait_until() {
        local deadline=$(($(now_ms) + $1))
        shift
        until "$@" >/dev/null 2>&1; do
                (($(now_ms) < deadline)) || return 1
                sleep 0.02
        done
}
_vpt_dead() { [[ ! -d /proc/$1 ]] || [[ $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) == Z ]]; }
register_pid() { :; }   # `down` stops whatever runs in the namespaces
ns_exec() {
        local ns=$1
        shift
        ip netns exec "$ns" "$@"
}
veth_add() {
        ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" &&
                ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}
# ns_new VAR: namespace "$LAB_PREFIX-e3-role" for VAR=E3_ROLE, with its own /etc/iproute2
ns_new() {
        local role=${1#E3_} name d
        name=$LAB_PREFIX-e3-${role,,}
        [[ ! -e /run/netns/$name ]] || die "namespace $name exists (a lab left over?); run: $0 down"
        echo "$name" >>"$LAB_E3_NS"
        d=/etc/netns/$name/iproute2
        mkdir -p "$d/rt_tables.d" "$d/rt_protos.d" &&
                printf '255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n' >"$d/rt_tables" &&
                ip netns add "$name" && ip -n "$name" link set lo up &&
                ip netns exec "$name" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
                        >/dev/null || return 1
        printf -v "$1" '%s' "$name"
}

lab_e3_ctl() { ip netns exec "$E3_SRV" "$VPNPOLICYCTL" --runtime-dir "$LAB_DIR/run" "$@"; }

# lab_e3_agent: the guide's configuration under $LAB_DIR/vpnpolicy, vpnpolicyd in its own session
lab_e3_agent() {
        local f path conf=$LAB_DIR/vpnpolicy/vpnpolicy.conf
        guide_extract "$ROOT/docs/guide-eduvpn3.md" "$LAB_DIR/guide" || die "cannot read docs/guide-eduvpn3.md"
        for f in "$LAB_DIR"/guide/*-file; do
                path=$(cat "$f.arg")
                mkdir -p "$(dirname "$LAB_DIR${path#/etc}")"
                cp "$f" "$LAB_DIR${path#/etc}"
        done
        mkdir -p -m 0755 "$LAB_DIR/run"
        say "policy: the agent, $VPNPOLICYD --config $conf (log $LAB_DIR/agent.log)"
        # shellcheck disable=SC2016
        ip netns exec "$E3_SRV" /usr/bin/setsid -f /bin/sh -c 'echo $$ >"$0"; exec "$@"' "$LAB_DIR/agent.pid" \
                "$VPNPOLICYD" --config "$conf" --runtime-dir "$LAB_DIR/run" </dev/null >>"$LAB_DIR/agent.log" 2>&1
        wait_until 10000 lab_e3_ctl status --json ||
                { tail -n 20 "$LAB_DIR/agent.log" >&2; die "the agent is not ready after 10 s"; }
}

lab_e3_describe() {
        cat <<EOF
eduVPN 3.x node $E3_SRV (docs/guide-eduvpn3.md), files in $E3_DIR
  profile staff: openvpn staff-0 udp/1194 tun0, staff-1 tcp/1194 tun1, WireGuard wg0 udp/51820 -> $E3_GWS
  profile guest: openvpn guest-0 udp/1195 tun2 -> $E3_GWG
  clients: $E3_CU (staff, udp) ${E3_ADDR4[CU]:-} ${E3_ADDR6[CU]:-}, $E3_CT (staff, tcp) ${E3_ADDR4[CT]:-} ${E3_ADDR6[CT]:-},
           $E3_CG (guest) ${E3_ADDR4[CG]:-} ${E3_ADDR6[CG]:-}, $E3_WP (WireGuard peer) 10.10.11.2 fd00:4242:4242:4243::2
  outside: $E3_INET4 $E3_INET6 in $E3_INET; the node's default router $E3_RTR (must see no pool packet)

Explore:
  ip netns exec $E3_CT ping -c1 $E3_INET4                 # staff, by $E3_GWS
  ip netns exec $E3_CG ping -c1 $E3_INET4                 # guest, by $E3_GWG
  ip netns exec $E3_WP ping -c1 ${E3_ADDR4[CT]:-10.10.10.130}                # WireGuard to OpenVPN tun1
  ip netns exec $E3_SRV ip route show table staff
  ip netns exec $E3_SRV $VPNPOLICYCTL --runtime-dir $LAB_DIR/run status
  ip netns exec $E3_SRV bash                          # a shell on the node
  $0 status                                           # counters of the routers
  $0 down                                             # removes everything
EOF
}

lab_e3_up() {
        [ ! -e "$LAB_E3_STATE" ] || die "already up (state $LAB_E3_STATE); run: $0 down"
        mkdir -p "$LAB_DIR"
        lab_install
        lab_build
        trap 'lab_e3_up_failed $?' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        e3_net_up || die "the network did not come up"
        lab_e3_agent
        e3_vpn_up || die "the VPN did not come up"
        declare -p E3_SRV E3_RTR E3_GWS E3_GWG E3_INET E3_CU E3_CT E3_CG E3_WP E3_DIR E3_ADDR4 E3_ADDR6 \
                | sed 's/^declare -\(A\|-\) /declare -g\1 /; s/^declare -g- /declare -g /' >"$LAB_E3_STATE"
        trap - EXIT INT TERM
        lab_e3_describe
        lab_e3_ctl status || true
}

lab_e3_up_failed() {
        (($1 == 0)) && return 0
        say "up failed, cleaning up"
        lab_e3_down
}

lab_e3_status() {
        # shellcheck disable=SC1090
        source "$LAB_E3_STATE"
        lab_e3_describe
        echo "--- router counters (packets arriving, by source)"
        e3_counters | tr ' ' '\n' | grep -v '=0$' || true
        lab_e3_ctl status || true
}

# lab_e3_down: everything in the lab's namespaces stopped, the namespaces and their /etc/netns gone
lab_e3_down() {
        local ns pids
        [[ -f $LAB_E3_NS ]] || return 0
        while read -r ns; do
                pids=$(ip netns pids "$ns" 2>/dev/null) || pids=
                # shellcheck disable=SC2086
                [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
        done <"$LAB_E3_NS"
        while read -r ns; do
                [[ ! -e /run/netns/$ns ]] || ip netns del "$ns" || true
                rm -rf "/etc/netns/$ns"
        done <"$LAB_E3_NS"
        rmdir /etc/netns 2>/dev/null || true
        rm -rf "$LAB_DIR"
}
