#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-e2e-clientlan.sh: a client's LAN behind the real OpenVPN (issue 11 item 4). In the seed-003 world
# (tests/e2e/world.sh) cl1 has a LAN behind it: `iroute 172.16.1.0 255.255.255.0` (and iroute-ipv6) in
# the server's ccd/cl1, `route`/`route-ipv6` in the server config. lan1 sends from 172.16.1.5 and
# fd00:172:16:1::5 to the outside host 203.0.113.1 / 2001:db8:203::1: that traffic arrives on tun0 with
# a source outside the pools. With vpnpolicyd it must leave by the NAT gateway (nat's lan4/lan6
# counters rise) and never by the main default router (rtr's stay), because
#   - the routing: the agent's `iif tun0 lookup vpn` rule per tunnel, and
#   - the guard: nftables drops what arrives from a managed tunnel and leaves by anything but a tunnel or
#     the policy's gateway device (counted in vpn/leak-drops).
# Shown, each with the routers' counters:
#   1. with the agent: v4 and v6 via nat only, pings answered;
#   2. control, agent stopped (SIGTERM leaves everything) and its iif rules deleted: the guard drops
#      (counted), nothing leaves; then its table deleted too: the leak, via rtr (so the test can fail);
#   3. the agent restarted: rules and table back, via nat only again;
#   4. the iif rule deleted by someone while the agent is frozen (SIGSTOP): the guard drops (counted),
#      nothing via rtr; thawed, the agent restores the rule and traffic goes via nat again;
#   5. the iif rule deleted 20 times while the agent runs, under a continuous ping from lan1 (100/s):
#      0 packets via rtr; the time from deletion to restore (ip monitor) as figures (past the restore
#      rate limit's burst the agent waits, and the guard drops meanwhile).
# PASS:/FAIL: per check, "# figure: NAME VALUE UNIT" lines; exit 1 if any check failed, 2 if the world
# would not come up, 77 if not root or tools are missing. Namespaces "vpc<pid>-*", one temp dir, all
# removed on every exit.
#
# Environment: VPNPOLICYD VPNPOLICYCTL VPNPOLICY_HOOK NOTIFY_WAIT (default: under $BUILD, which defaults
# to build/ of this tree), SOURCE_ROOT, KEEP_LOGS=1 (print the agent and OpenVPN logs at the end).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
VPNPOLICYD=${VPNPOLICYD:-$BUILD/agent/daemon/vpnpolicyd}
VPNPOLICYCTL=${VPNPOLICYCTL:-$BUILD/agent/ctl/vpnpolicyctl}
VPNPOLICY_HOOK=${VPNPOLICY_HOOK:-$BUILD/hooks/vpnpolicy-openvpn-up}
NOTIFY_WAIT=${NOTIFY_WAIT:-$BUILD/tests/helpers/notify-wait}

if ((EUID != 0)); then
        echo "SKIP: test-e2e-clientlan needs root (network namespaces)"
        exit 77
fi
for tool in openvpn:/usr/sbin/openvpn nft ip jq ping openssl awk date; do
        if ! command -v "${tool#*:}" >/dev/null; then
                echo "SKIP: test-e2e-clientlan: '${tool%%:*}' is missing (tests/run.sh installs it)"
                exit 77
        fi
done
for bin in "$VPNPOLICYD" "$VPNPOLICYCTL" "$VPNPOLICY_HOOK" "$NOTIFY_WAIT"; do
        [[ -x $bin ]] || { echo "FAIL: test-e2e-clientlan: $bin is not built (meson setup build && ninja -C build)"; exit 1; }
done

# shellcheck source=SCRIPTDIR/world.sh
source "$HERE/world.sh"

FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
info() { echo "# $*"; }
figure() { echo "# figure: $1 $2 $3"; }

TDIR=$(mktemp -d "${TMPDIR:-/tmp}/vpc.XXXXXX")
chmod 0755 "$TDIR"
NW_PID=
AGENT_PID=
AGENT_RUNDIR=
MON_PID=
BG_PID=

cleanup() {
        local pid
        for pid in $BG_PID $NW_PID $MON_PID; do kill -TERM "$pid" 2>/dev/null || true; done
        # a frozen agent cannot act on TERM
        [[ -z $AGENT_PID ]] || { kill -CONT "$AGENT_PID"; kill -TERM "$AGENT_PID"; } 2>/dev/null || true
        if [[ -n ${KEEP_LOGS:-} && -d ${WORLD_DIR:-/nonexistent}/log ]]; then
                tail -n 40 "$WORLD_DIR"/log/*.log || true
        fi
        world_down
        rm -rf "$TDIR"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
wait_for() {            # MILLISECONDS CMD...: poll every 10 ms
        local n=$(($1 / 10))
        shift
        while ((n-- > 0)); do
                "$@" && return 0
                sleep 0.01
        done
        "$@"
}
alive() {
        local s
        { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
        s=${s##*) }
        [[ ${s:0:1} != Z ]]
}
check() {
        local name=$1
        shift
        if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi
}

in_srv() { ip netns exec "$WORLD_SRV" "$@"; }
ctl() { in_srv "$VPNPOLICYCTL" --runtime-dir "$AGENT_RUNDIR" "$@"; }

# ---------------------------------------------------------------------------------------------------
# the agent (as in test-e2e-agent.sh)

agent_conf() {
        cat >"$WORLD_DIR/vpnpolicy.conf" <<EOF
# test-e2e-clientlan: seed 003
[Pool]
Prefix=$WORLD_POOL4
Prefix=$WORLD_POOL6

[Gateway]
IPv4=$WORLD_GW4
IPv6=$WORLD_GW6
Device=eth1

[Kernel]
Forwarding=enable
EOF
}

AGENT_STARTS=0
agent_start() {         # vpnpolicyd in the server namespace, back when it sent READY=1
        local sock log
        AGENT_STARTS=$((AGENT_STARTS + 1))
        sock=$TDIR/notify-$AGENT_STARTS.sock log=$TDIR/notify-$AGENT_STARTS.log
        "$NOTIFY_WAIT" --timeout-ms 10000 "$sock" </dev/null >"$log" 2>&1 &
        NW_PID=$!
        wait_for 2000 test -S "$sock" || { echo "notify-wait did not bind $sock" >&2; return 1; }
        NOTIFY_SOCKET=$sock ip netns exec "$WORLD_SRV" "$VPNPOLICYD" --config "$WORLD_DIR/vpnpolicy.conf" \
                --runtime-dir "$AGENT_RUNDIR" --log-level debug </dev/null >>"$WORLD_DIR/log/agent.log" 2>&1 &
        AGENT_PID=$!
        echo "$AGENT_PID" >"$WORLD_DIR/pid/agent.pid"
        if ! wait "$NW_PID"; then
                NW_PID=
                echo "agent (pid $AGENT_PID) sent no READY=1 within 10 s" >&2
                tail -n 20 "$WORLD_DIR/log/agent.log" >&2
                return 1
        fi
        NW_PID=
        alive "$AGENT_PID" || { echo "agent exited after READY=1" >&2; return 1; }
}
agent_stop() {          # SIGTERM, wait until gone
        kill -TERM "$AGENT_PID"
        # shellcheck disable=SC2016
        wait_for 5000 eval '! alive $AGENT_PID' || return 1
        wait "$AGENT_PID" 2>/dev/null || true
        AGENT_PID=
}
pre_vpn_agent() {       # WORLD_PRE_VPN_HOOK: the agent before OpenVPN
        AGENT_RUNDIR=$WORLD_RUNTIME_DIR
        agent_conf
        agent_start
}

# ---------------------------------------------------------------------------------------------------
# what we look at

LAN4=172.16.1.5
LAN6=fd00:172:16:1::5
# iif_rules: the agent's tunnel rules for tun0, v4 and v6 (one line each when both are in)
iif_rules() { { in_srv ip -4 rule; in_srv ip -6 rule; } | grep -c 'iif tun0 lookup vpn proto vpnpolicy' || true; }
rules_in() { [[ $(iif_rules) == 2 ]]; }
rules_del() {
        in_srv ip -4 rule del iif tun0 lookup 200 2>/dev/null || true
        in_srv ip -6 rule del iif tun0 lookup 200 2>/dev/null || true
}
# guard_drops: packets the agent's leak guard dropped (read from the kernel: the agent may be frozen)
guard_drops() {
        in_srv nft -j list counter inet vpnpolicy vpn/leak-drops 2>/dev/null |
                jq '.nftables[1].counter.packets' 2>/dev/null || echo 0
}
lan_ping() {            # 4|6 COUNT: from lan1's 172.16.1.5 / fd00:172:16:1::5 to the outside host
        local src dst
        if [[ $1 == 4 ]]; then src=$LAN4 dst=$WORLD_INET4; else src=$LAN6 dst=$WORLD_INET6; fi
        world_exec lan1 ping -"$1" -q -n -c "$2" -i 0.05 -W 1 -I "$src" "$dst" >/dev/null 2>&1
}

# path WANT VIA FAMILY LABEL [DROPS]: 5 pings from lan1; WANT ok|fail; the lan counter of FAMILY must rise
# by 5 on exactly VIA (nat|rtr) or on neither (none); DROPS: the guard's counter must rise by that much.
path() {
        local want=$1 via=$2 f=$3 label=$4 drops=${5:-} got r0 n0 d0 dr dn dd ok=1
        r0=$(world_counter rtr "lan$f") n0=$(world_counter nat "lan$f") d0=$(guard_drops)
        if lan_ping "$f" 5; then got=ok; else got=fail; fi
        dr=$(($(world_counter rtr "lan$f") - r0)) dn=$(($(world_counter nat "lan$f") - n0)) dd=$(($(guard_drops) - d0))
        [[ $got == "$want" ]] || ok=
        case $via in
                nat) ((dn == 5 && dr == 0)) || ok= ;;
                rtr) ((dr == 5 && dn == 0)) || ok= ;;
                none) ((dr == 0 && dn == 0)) || ok= ;;
        esac
        [[ -z $drops ]] || ((dd == drops)) || ok=
        local what src=$LAN4
        [[ $f == 4 ]] || src=$LAN6
        what="$label: 5 pings lan1 $src -> outside (v$f) ${want/ok/answered}"
        if [[ $via == none ]]; then what+=", neither router"; else what+=", $via only"; fi
        [[ -z $drops ]] || what+=", $drops guard drops"
        if [[ -n $ok ]]; then pass "$what"; else fail "$what (ping: $got; rtr +$dr, nat +$dn, guard drops +$dd)"; fi
        LAST_RTR=$dr
}

# ip monitor of the rules in the server namespace; mon_stop waits until it has shown everything up to
# then (a marker rule, nobody else's)
mon_marker() {
        in_srv ip -4 rule add pref 1234 from 198.51.100.254 lookup 250 &&
                in_srv ip -4 rule del pref 1234 from 198.51.100.254 lookup 250
}
mon_start() {
        ip netns exec "$WORLD_SRV" ip -ts monitor rule >"$1" 2>&1 &
        MON_PID=$! MON_FILE=$1
        # shellcheck disable=SC2016
        wait_for 2000 eval 'mon_marker; grep -q "Deleted 1234:" "$MON_FILE"'
}
mon_stop() {
        local n
        n=$(grep -c 'Deleted 1234:' "$MON_FILE" || true)
        mon_marker
        # shellcheck disable=SC2016
        wait_for 2000 eval '(( $(grep -c "Deleted 1234:" "$MON_FILE") > n ))' || true
        kill -TERM "$MON_PID" 2>/dev/null || true
        wait "$MON_PID" 2>/dev/null || true
        MON_PID=
}
# restore_gaps FILE: for each deletion of the v4 iif rule, microseconds until it was back
restore_gaps() {
        awk 'match($0, /^\[[0-9T:.-]+\] /) {
                ts = substr($0, 2, RLENGTH - 3); text = substr($0, RLENGTH + 1)
                if (text !~ /iif tun0 lookup vpn/ || text ~ /^Deleted/ && del != "") next
                if (text ~ /^Deleted/) { del = ts; next }
                if (del != "") { print del, ts; del = "" }
        }' "$1" | while read -r a b; do
                echo $(($(date -d "${b/T/ }" +%s%6N) - $(date -d "${a/T/ }" +%s%6N)))
        done
}

# ---------------------------------------------------------------------------------------------------

T0=$SECONDS
WORLD_PREFIX="vpc$$"
export WORLD_UP_HOOK=$VPNPOLICY_HOOK
export WORLD_PRE_VPN_HOOK=pre_vpn_agent
if ! world_up subnet; then echo "FAIL: world_up"; exit 2; fi
info "world up in ${WORLD_UP_MS} ms: $WORLD_PREFIX, cl1 $WORLD_CL1_TUN4, LAN 172.16.1.0/24 behind it"
# The LAN host's test addresses; return routes for the LAN on both routers (as for the pools), so that
# a packet sent either way gets its answer: the counters, not the answers, tell the ways apart.
world_exec lan1 ip addr add $LAN4/24 dev eth0
world_exec lan1 ip addr add $LAN6/64 dev eth0 nodad
world_exec nat ip route add "$WORLD_LAN4" via "$WORLD_SRV_GWSIDE4"
world_exec nat ip -6 route add "$WORLD_LAN6" via "$WORLD_SRV_GWSIDE6"
world_exec rtr ip route add "$WORLD_LAN4" via "$WORLD_SRV_UPLINK4"
world_exec rtr ip -6 route add "$WORLD_LAN6" via "$WORLD_SRV_UPLINK6"
check "OpenVPN routes the LAN to tun0 in main (the server's route line)" bash -c \
        "ip -n $WORLD_SRV -4 route show table main | grep_q '^$WORLD_LAN4 via [0-9.]* dev tun0'"
check "the agent's iif rules for tun0, v4 and v6" wait_for 3000 rules_in
check "the guard names tun0" bash -c "ip netns exec $WORLD_SRV nft list set inet vpnpolicy vpn/tunnels | grep_q '\"tun0\"'"

info "1. with the agent"
path ok nat 4 "1. agent"
path ok nat 6 "1. agent"

info "2. control: the agent stopped, its iif rules deleted, then its table too"
agent_stop || fail "agent did not stop on SIGTERM"
rules_del
check "2. iif rules gone" test "$(iif_rules)" = 0
path fail none 4 "2. no iif rule, the guard alone" 5
path fail none 6 "2. no iif rule, the guard alone" 5
in_srv nft delete table inet vpnpolicy
path ok rtr 4 "2. neither rule nor guard: THE LEAK"
figure clientlan_leak_without_agent_v4 "$LAST_RTR" packets
path ok rtr 6 "2. neither rule nor guard: THE LEAK"
figure clientlan_leak_without_agent_v6 "$LAST_RTR" packets

info "3. the agent restarted"
if agent_start; then
        check "3. iif rules back" wait_for 3000 rules_in
        check "3. table back" in_srv nft list table inet vpnpolicy
        path ok nat 4 "3. agent restarted"
        path ok nat 6 "3. agent restarted"
else
        fail "3. the agent did not come up again"
fi

info "4. the iif rule deleted while the agent is frozen: the guard holds; thawed, the agent restores it"
kill -STOP "$AGENT_PID"
rules_del
path fail none 4 "4. frozen agent, rule deleted" 5
path fail none 6 "4. frozen agent, rule deleted" 5
kill -CONT "$AGENT_PID"
check "4. thawed: the agent restores both rules" wait_for 3000 rules_in
path ok nat 4 "4. after the restore"
path ok nat 6 "4. after the restore"

info "5. the iif rule deleted 20 times while the agent runs, under a continuous ping from lan1"
mon_start "$TDIR/monitor.txt"
r0=$(world_counter rtr lan4) n0=$(world_counter nat lan4) d0=$(guard_drops)
# not through world_exec: $! must be ping itself (`ip netns exec` execs it), to stop it
ip netns exec "$WORLD_LAN1" ping -q -n -i 0.01 -W 1 -I $LAN4 "$WORLD_INET4" >"$TDIR/bgping.txt" 2>&1 &
BG_PID=$!
sleep 0.3
for i in $(seq 20); do
        in_srv ip -4 rule del iif tun0 lookup 200
        wait_for 2000 rules_in || fail "5. deletion $i: the rule not back within 2 s"
        sleep 0.1
done
kill -INT "$BG_PID" 2>/dev/null || true
wait "$BG_PID" 2>/dev/null || true
BG_PID=
mon_stop
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$TDIR/bgping.txt")
rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TDIR/bgping.txt")
dr=$(($(world_counter rtr lan4) - r0)) dn=$(($(world_counter nat lan4) - n0)) dd=$(($(guard_drops) - d0))
check "5. continuous ping: $tx sent, $rx answered, 0 via rtr (got $dr), $dn via nat, $dd dropped by the guard" \
        test "${tx:-0}" -gt 100 -a "$dr" = 0 -a "$dn" -gt 100
figure clientlan_churn_sent "${tx:-0}" packets
figure clientlan_churn_via_rtr "$dr" packets
figure clientlan_churn_guard_drops "$dd" packets
figure clientlan_churn_lost $((${tx:-0} - ${rx:-0})) packets
mapfile -t gaps < <(restore_gaps "$TDIR/monitor.txt")
check "5. ip monitor saw 20 deletions and 20 restores (got ${#gaps[@]})" test "${#gaps[@]}" = 20
# The agent restores an object at once up to a burst of 10, then at 2 per second (plan.c): the guard
# holds in between.
info "5. deletion to restore, in order (ms): $(for g in "${gaps[@]}"; do printf '%s ' "$(ms "$g")"; done)"
mapfile -t gaps < <(printf '%s\n' "${gaps[@]}" | sort -n)
if ((${#gaps[@]})); then
        figure clientlan_rule_restore_p50 "$(ms "${gaps[$((${#gaps[@]} / 2))]}")" ms
        figure clientlan_rule_restore_max "$(ms "${gaps[-1]}")" ms
fi
js=$(ctl status --json 2>/dev/null || true)
check "5. status: healthy, the tunnel rules present" \
        jq -e '.health == "healthy" and all(.objects[] | select(.role == "tunnel-rule"); .present)' <<<"$js"
check "5. status: the restores counted (>= 22)" jq -e '.counters.restores >= 22' <<<"$js"

echo "counters at the end: $(world_counters | tr '\n' ' ')"
figure e2e_clientlan_total $((SECONDS - T0)) s
if ((FAILS)); then
        echo "$FAILS check(s) FAILED"
        exit 1
fi
echo "all checks passed"
