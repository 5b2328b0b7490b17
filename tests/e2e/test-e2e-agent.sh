#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-e2e-agent.sh [subnet|net30|seed]...: the seed-003 world (tests/e2e/world.sh: real OpenVPN server
# and clients in network namespaces) with vpnpolicyd instead of the seed recipe. The agent starts
# before OpenVPN (WORLD_PRE_VPN_HOOK), OpenVPN's `up` is our hook (build/hooks/vpnpolicy-openvpn-up).
# Proven with pings inside the namespaces and the routers' packet counters only:
#   1. client -> inet host leaves through the NAT router and never the default router, v4 and v6;
#   2. clients reach the server's tun addresses and each other (client-to-client is off in OpenVPN,
#      so this crosses the server's kernel), v4 and v6;
#   3. cl2 reaches lan1 behind cl1 (seed 000 route + iroute): the gap the seed leaves, closed by mirroring;
#   4. the server's own traffic (non-pool source) still leaves via the default router (main table);
#   5. SIGTERM, restart (adoption), kill -9, restart while the tunnels are up: pings keep working
#      (also a continuous ping across all of it), the objects stay as they were, and `ip monitor`
#      shows no deletion of any of them;
#   6. `vpnpolicyctl status --json`: healthy, tun0 registered with OpenVPN's config path, tun and
#      mirror routes present;
#   7. the hook's wall time as OpenVPN runs it (a wrapper as `up` timing exec to exit), against the
#      seed's `up` in the seed world ("seed" below), and the time from tun address to table route;
#   8. net30: the pool route OpenVPN puts in main (10.10.10.0/24 via 10.10.10.2 dev tun0) is mirrored
#      and v4 client-to-client works (the seed cannot).
# In subnet the hook runs through the timing wrapper and finds the agent by OpenVPN's
# `setenv VPNPOLICY_RUNTIME_DIR`; in net30 it is OpenVPN's `up` itself with `--runtime-dir DIR` on the
# up line, DIR being another directory than the setenv one (so the option is what makes it work).
#
# Default: subnet net30 seed. PASS:/FAIL: per check, "# figure: NAME VALUE UNIT" lines for CI logs;
# exit 1 if any check failed, 2 if a world would not come up, 77 if not root or tools are missing.
# Everything lives in namespaces "vpa<pid><s|n|x>-*" and one temp dir, removed on every exit.
#
# Environment: VPNPOLICYD VPNPOLICYCTL VPNPOLICY_HOOK NOTIFY_WAIT (default: under $BUILD, which
# defaults to build/ of this tree), SOURCE_ROOT, KEEP_LOGS=1 (print the agent and OpenVPN logs at the end).
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
        echo "SKIP: test-e2e-agent needs root (network namespaces)"
        exit 77
fi
for tool in openvpn:/usr/sbin/openvpn nft ip jq ping openssl date awk; do
        bin=${tool#*:}
        if ! command -v "$bin" >/dev/null; then
                echo "SKIP: test-e2e-agent: '${tool%%:*}' is missing (tests/run.sh installs it)"
                exit 77
        fi
done
for bin in "$VPNPOLICYD" "$VPNPOLICYCTL" "$VPNPOLICY_HOOK"; do
        [[ -x $bin ]] || { echo "FAIL: test-e2e-agent: $bin is not built (meson setup build && ninja -C build)"; exit 1; }
done

# shellcheck source=SCRIPTDIR/world.sh
source "$HERE/world.sh"

FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
info() { echo "# $*"; }
figure() { echo "# figure: $1 $2 $3"; }

TDIR=$(mktemp -d "${TMPDIR:-/tmp}/vpa.XXXXXX")
chmod 0755 "$TDIR"
NW_PID=                 # notify-wait, our one helper outside the namespaces
AGENT_PID=
AGENT_RUNDIR=
MON_PID=
T=""                    # "[topology] " prefix of check names

cleanup() {
        local pid
        # ours by pid (the namespaces' processes go with world_down)
        for pid in $NW_PID $MON_PID $AGENT_PID; do
                kill -TERM "$pid" 2>/dev/null || true
        done
        if [[ -n ${KEEP_LOGS:-} && -n ${WORLD_DIR:-} && -d ${WORLD_DIR:-/nonexistent}/log ]]; then
                tail -n 40 "$WORLD_DIR"/log/*.log || true
        fi
        world_down
        rm -rf "$TDIR"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
# ms US: microseconds as milliseconds with two decimals
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

# wait_for MILLISECONDS CMD...: poll every 20 ms
wait_for() {
        local n=$(($1 / 20))
        shift
        while ((n-- > 0)); do
                "$@" && return 0
                sleep 0.02
        done
        "$@"
}

alive() {
        local s
        { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
        s=${s##*) }
        [[ ${s:0:1} != Z ]]
}

# check NAME CMD...: CMD must succeed
check() {
        local name=$1
        shift
        if "$@" >/dev/null 2>&1; then pass "$T$name"; else fail "$T$name"; fi
}

# path ok|fail nat|rtr|none COUNTER FROM DEST NAME (as in test-world-seed.sh): ping DEST from FROM,
# expect success or failure, and COUNTER to rise on exactly the router given (none: on neither).
path() {
        local want=$1 via=$2 ctr=$3 from=$4 dest=$5 name=$6 got r0 n0 dr dn ok=1
        r0=$(world_counter rtr "$ctr"); n0=$(world_counter nat "$ctr")
        if world_ping "$from" "$dest"; then got=ok; else got=fail; fi
        dr=$(($(world_counter rtr "$ctr") - r0)); dn=$(($(world_counter nat "$ctr") - n0))
        [[ $got == "$want" ]] || ok=
        case $via in
                nat) ((dn > 0 && dr == 0)) || ok= ;;
                rtr) ((dr > 0 && dn == 0)) || ok= ;;
                none) ((dr == 0 && dn == 0)) || ok= ;;
        esac
        local what="$T$name: ping $from -> $dest"
        [[ $want == ok ]] && what+=" succeeds" || what+=" fails"
        [[ $via == none ]] && what+=", crossing neither router" || what+=", via $via only"
        if [[ -n $ok ]]; then pass "$what"; else fail "$what (ping: $got; $ctr counter +$dr on rtr, +$dn on nat)"; fi
}

in_srv() { ip netns exec "$WORLD_SRV" "$@"; }
ctl() { in_srv "$VPNPOLICYCTL" --runtime-dir "$AGENT_RUNDIR" "$@"; }

# ---------------------------------------------------------------------------------------------------
# the agent

agent_conf() {
        cat >"$WORLD_DIR/vpnpolicy.conf" <<EOF
# test-e2e-agent: seed 003
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
# agent_start: start vpnpolicyd in the server namespace and wait for READY=1 (sd_notify, through
# notify-wait when built, else by polling status). Sets AGENT_PID and AGENT_READY_US.
agent_start() {
        local sock log t0 line ts
        AGENT_STARTS=$((AGENT_STARTS + 1))
        sock=$TDIR/notify-$AGENT_STARTS.sock
        log=$TDIR/notify-$AGENT_STARTS.log
        if [[ -x $NOTIFY_WAIT ]]; then
                "$NOTIFY_WAIT" --timeout-ms 10000 "$sock" </dev/null >"$log" 2>&1 &
                NW_PID=$!
                wait_for 2000 test -S "$sock" || { echo "notify-wait did not bind $sock" >&2; return 1; }
        fi
        t0=$(now_us)
        # ip netns exec execs the command: $! is the agent itself.
        NOTIFY_SOCKET=${NW_PID:+$sock} ip netns exec "$WORLD_SRV" "$VPNPOLICYD" --config "$WORLD_DIR/vpnpolicy.conf" \
                --runtime-dir "$AGENT_RUNDIR" --log-level debug </dev/null >>"$WORLD_DIR/log/agent.log" 2>&1 &
        AGENT_PID=$!
        echo "$AGENT_PID" >"$WORLD_DIR/pid/agent.pid"
        if [[ -n $NW_PID ]]; then
                if ! wait "$NW_PID"; then
                        NW_PID=
                        echo "agent (pid $AGENT_PID) sent no READY=1 within 10 s; notifications:" >&2
                        cat "$log" >&2
                        tail -n 20 "$WORLD_DIR/log/agent.log" >&2
                        return 1
                fi
                NW_PID=
                line=$(grep -m1 ' READY=1$' "$log")
                ts=${line%% *}
                AGENT_READY_US=$((${ts/./} - t0))
        else
                wait_for 10000 ctl status --json || { tail -n 20 "$WORLD_DIR/log/agent.log" >&2; return 1; }
                AGENT_READY_US=$(($(now_us) - t0))
        fi
        alive "$AGENT_PID" || { echo "agent exited after READY=1" >&2; tail -n 20 "$WORLD_DIR/log/agent.log" >&2; return 1; }
}

# agent_stop SIGNAL: signal the agent, wait (5 s) until it has exited, reap it. Sets AGENT_RC, AGENT_EXIT_US.
# (stderr off while the shell reaps it: no "Killed" job line for kill -9)
agent_stop() {
        local t0 ok=1
        t0=$(now_us)
        {
                kill "-$1" "$AGENT_PID"
                # shellcheck disable=SC2016
                wait_for 5000 eval '! alive $AGENT_PID' || ok=
                AGENT_EXIT_US=$(($(now_us) - t0))
                AGENT_RC=0
                [[ -z $ok ]] || wait "$AGENT_PID" || AGENT_RC=$?
        } 2>/dev/null
        [[ -n $ok ]] || { echo "agent (pid $AGENT_PID) did not exit within 5 s of SIG$1" >&2; return 1; }
        AGENT_PID=
}

# ---------------------------------------------------------------------------------------------------
# ip monitor in the server namespace, synchronised with marker routes in table 250 (nobody else's)

# mon_mark: a marker route added and deleted until the monitor has shown it (the first one may come
# before `ip monitor` has subscribed), so every event before the call is in $MON_FILE when it returns.
mon_marks() { grep -c "Deleted unreachable 198.51.100.255 table 250" "$MON_FILE" || true; }
mon_mark() {
        local want n=15
        want=$(($(mon_marks) + 1))
        while ((n-- > 0)); do
                ip -n "$WORLD_SRV" route add unreachable 198.51.100.255/32 table 250 &&
                        ip -n "$WORLD_SRV" route del unreachable 198.51.100.255/32 table 250 || return 1
                # shellcheck disable=SC2016
                wait_for 200 eval '(( $(mon_marks) >= want ))' && return 0
        done
        return 1
}
# mon_start FILE OBJECTS...: `ip -ts monitor OBJECTS` in the server namespace, listening when it returns
mon_start() {
        MON_FILE=$1
        shift
        ip netns exec "$WORLD_SRV" ip -ts monitor "$@" >"$MON_FILE" 2>&1 &
        MON_PID=$!
        mon_mark || { echo "ip monitor does not report (see $MON_FILE)" >&2; return 1; }
}
mon_stop() {
        mon_mark || true
        kill -TERM "$MON_PID" 2>/dev/null || true
        wait "$MON_PID" 2>/dev/null || true
        MON_PID=
}
# mon_time REGEX: microseconds (epoch) of the first monitor line whose text (after the timestamp)
# matches REGEX (extended), or nothing
mon_time() {
        local ts
        ts=$(awk -v re="$1" 'match($0, /^\[[0-9T:.-]+\] /) {
                        if (substr($0, RLENGTH + 1) ~ re) { print substr($0, 2, RLENGTH - 3); exit }
                }' "$MON_FILE")
        [[ -n $ts ]] || return 0
        date -d "${ts/T/ }" +%s%6N
}

# ---------------------------------------------------------------------------------------------------
# the timing wrapper for OpenVPN's `up`: start/end with date +%s%N around the real command (fork,
# exec, run, exit), then, outside the timed part, what table 200 holds for the device at that moment.

make_wrapper() {        # FILE LOGPREFIX COMMAND...
        local f=$1 out=$2 date ipb q
        shift 2
        date=$(command -v date)
        ipb=$(command -v ip)
        printf -v q '%q ' "$@"
        cat >"$f" <<EOF
#!/bin/sh
# test-e2e-agent: OpenVPN's up, timing $* from exec to exit
t0=\$($date +%s%N)
$q "\$@"
rc=\$?
t1=\$($date +%s%N)
{ $ipb -4 -o route show table 200; $ipb -6 -o route show table 200; } >$out.routes 2>&1
echo "\$t0 \$t1 \$rc" >>$out.times
exit \$rc
EOF
        chmod 0755 "$f"
}
# wrapper_read LOGPREFIX: the last timed run: WRAP_US (wall time, microseconds), WRAP_RC, WRAP_RUNS
wrapper_read() {
        local t0 t1
        WRAP_US='' WRAP_RC='' WRAP_RUNS=0
        [[ -s $1.times ]] || return 0
        read -r t0 t1 WRAP_RC < <(tail -n 1 "$1.times")
        WRAP_US=$(((t1 - t0) / 1000))
        WRAP_RUNS=$(wc -l <"$1.times")
}

# the wrapper's own cost: the same wrapper around /bin/true, median of 5 runs
wrapper_floor() {
        local i t0 t1 v=() out=$TDIR/floor
        make_wrapper "$TDIR/up-floor.sh" "$out" /bin/true
        for i in 1 2 3 4 5; do env -i "$TDIR/up-floor.sh" lo >/dev/null 2>&1 || true; done
        while read -r t0 t1 _; do v+=($(((t1 - t0) / 1000))); done <"$out.times"
        printf '%s\n' "${v[@]}" | sort -n | sed -n 3p
}

# ---------------------------------------------------------------------------------------------------

# Object lists in the server namespace, for before/after comparisons.
objects() {
        ip -n "$WORLD_SRV" -4 rule
        ip -n "$WORLD_SRV" -6 rule
        ip -n "$WORLD_SRV" -4 route show table 200
        ip -n "$WORLD_SRV" -6 route show table 200
}

# pings_ok LABEL: the key paths, in parallel: outside v4/v6, the server's tun address, client to
# client, cl2 to lan1 behind cl1. One PASS/FAIL line naming what failed.
pings_ok() {
        local label=$1 d i pids=() names=() bad=()
        local -a P=(
                "cl1 $WORLD_INET4" "cl1 $WORLD_INET6" "cl2 $WORLD_SRV_TUN4" "cl2 $WORLD_SRV_TUN6"
                "cl1 $WORLD_CL2_TUN4" "cl2 $WORLD_CL1_TUN6" "cl2 $WORLD_LAN1_4" "cl2 $WORLD_LAN1_6"
        )
        for d in "${P[@]}"; do
                # shellcheck disable=SC2086
                world_ping $d 3 &
                pids+=($!)
                names+=("${d/ / -> }")
        done
        for i in "${!pids[@]}"; do wait "${pids[i]}" || bad+=("${names[i]}"); done
        if ((${#bad[@]} == 0)); then
                pass "$T$label: all ${#P[@]} paths answer (cl->inet v4/v6, cl->srv tun v4/v6, cl1<->cl2, cl2->lan1 v4/v6)"
        else
                fail "$T$label: no answer on: ${bad[*]}"
        fi
}

# bg_ping_start NAME ROLE DEST / bg_ping_stop NAME: a continuous ping (20/s) across the restarts
declare -A BGP=()
bg_ping_start() {
        ip netns exec "$(world_ns "$2")" ping -n -O -i 0.05 -W 1 "$3" >"$TDIR/bgping-$1.txt" 2>&1 &
        BGP[$1]=$!
}
bg_ping_stop() {        # sets BG_TX, BG_LOST
        local f=$TDIR/bgping-$1.txt rx
        kill -INT "${BGP[$1]}" 2>/dev/null || true
        wait "${BGP[$1]}" 2>/dev/null || true
        BG_TX=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$f")
        rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$f")
        BG_TX=${BG_TX:-0}
        BG_LOST=$((BG_TX - ${rx:-0}))
}

# shellcheck disable=SC2016
# status_check LABEL: vpnpolicyctl status --json in the world
status_check() {
        local label=$1 js rc=0 tun_config=$WORLD_DIR/srv.conf
        js=$(ctl status --json 2>"$TDIR/ctl.err") || rc=$?
        if [[ -z $js ]]; then
                fail "$T$label: vpnpolicyctl status --json failed (exit $rc): $(head -c 300 "$TDIR/ctl.err")"
                return 0
        fi
        check "$label: vpnpolicyctl status --json exits 0 (got $rc)" test "$rc" = 0
        echo "$js" >"$WORLD_DIR/log/status-${label// /_}.json"
        check "$label: health is healthy" jq -e '.health == "healthy"' <<<"$js"
        check "$label: every object present, no failures" \
                jq -e '(.objects | length > 0) and all(.objects[]; .present == true and .failures == 0)' <<<"$js"
        check "$label: tun0 listed under devices, registered by OpenVPN with its config $tun_config" \
                jq -e --arg c "$tun_config" 'any(.devices[]; .name == "tun0" and .registered == true and .config == $c)' <<<"$js"
        check "$label: tun routes present, v4 and v6" \
                jq -e 'any(.objects[]; .role == "tun-route" and .family == "ipv4" and .present)
                   and any(.objects[]; .role == "tun-route" and .family == "ipv6" and (.object | startswith("fd00:4242:4242:4242::/64 dev tun0")) and .present)' <<<"$js"
        check "$label: mirror routes of cl1's LAN present, v4 and v6" \
                jq -e 'any(.objects[]; .role == "mirror-route" and (.object | startswith("172.16.1.0/24 via")) and .present)
                   and any(.objects[]; .role == "mirror-route" and (.object | startswith("fd00:172:16:1::/64 ")) and .present)' <<<"$js"
        if [[ $WORLD_TOPOLOGY == net30 ]]; then
                check "$label: mirror of net30's pool route present" \
                        jq -e 'any(.objects[]; .role == "mirror-route" and (.object | startswith("10.10.10.0/24 via 10.10.10.2 dev tun0")) and .present)' <<<"$js"
        fi
}

# ---------------------------------------------------------------------------------------------------

pre_vpn_agent() {       # WORLD_PRE_VPN_HOOK (a function, so it runs in this shell): agent, then monitor
        agent_conf
        agent_start || return 1
        figure "agent_ready_$WORLD_TOPOLOGY" "$(ms "$AGENT_READY_US")" ms
        # READY=1 comes after the first full reconcile: the policy is there before OpenVPN starts
        check "at READY=1, before OpenVPN: source rules, default and fail-closed routes in table 200, v4 and v6" bash -c \
                "ip -n $WORLD_SRV -4 rule | grep -Eq 'from $WORLD_POOL4 lookup (vpn|200) ' &&
                 ip -n $WORLD_SRV -6 rule | grep -Eq 'from $WORLD_POOL6 lookup (vpn|200) ' &&
                 ip -n $WORLD_SRV -4 route show table 200 | grep_q '^default via $WORLD_GW4 ' &&
                 ip -n $WORLD_SRV -6 route show table 200 | grep_q '^default via $WORLD_GW6 ' &&
                 test \$(ip -n $WORLD_SRV -4 route show table 200 | grep -c '^unreachable default .*metric 4294967295') = 1 &&
                 test \$(ip -n $WORLD_SRV -6 route show table 200 | grep -c '^unreachable default .*metric 4294967295') = 1"
        mon_start "$WORLD_DIR/log/monitor-up.txt" address route rule
}
pre_vpn_seed() {
        "$HERE/seed-policy.sh" "$1" || return 1
        mon_start "$WORLD_DIR/log/monitor-up.txt" address route rule
}

# addr_to_route NAME: figures for the time from the tun address to its route in table vpn
addr_to_route() {
        local name=$1 a4 r4 a6 r6
        a4=$(mon_time "tun0 +inet ${WORLD_SRV_TUN4}[/ ]")
        r4=$(mon_time "^[0-9.]+(/[0-9]+)? dev tun0 table (vpn|200) ")
        a6=$(mon_time "tun0 +inet6 $WORLD_SRV_TUN6/")
        r6=$(mon_time "^${WORLD_POOL6} dev tun0 table (vpn|200) ")
        if [[ -n $a4 && -n $r4 ]]; then figure "${name}_addr_to_route4" "$(ms $((r4 - a4)))" ms
        else info "$name: no v4 tun address or table route in the monitor (address at '${a4}', route at '${r4}')"; fi
        if [[ -n $a6 && -n $r6 ]]; then figure "${name}_addr_to_route6" "$(ms $((r6 - a6)))" ms
        else info "$name: no v6 tun address or table route in the monitor (address at '${a6}', route at '${r6}')"; fi
}

run_seed() {
        T="[seed] "
        echo "=== seed recipe (subnet), for comparison: the seed's up script under the same timing wrapper"
        WORLD_PREFIX="vpa$$x"
        make_wrapper "$TDIR/up-seed.sh" "$TDIR/seed" "$HERE/seed-up.sh"
        export WORLD_UP_HOOK=$TDIR/up-seed.sh
        export WORLD_PRE_VPN_HOOK=pre_vpn_seed
        if ! world_up subnet; then echo "FAIL: [seed] world_up"; exit 2; fi
        mon_stop
        wrapper_read "$TDIR/seed"
        check "seed up script ran once under the wrapper and exited 0" test "$WRAP_RUNS" = 1 -a "$WRAP_RC" = 0
        [[ -z $WRAP_US ]] || figure hook_wall_seed "$(ms "$WRAP_US")" ms
        addr_to_route seed
        world_down
}

run_topology() {
        local topo=$1 js before dels up_events
        T="[$topo] "
        echo "=== topology $topo (vpnpolicyd + our up hook)"
        WORLD_PREFIX="vpa$$${topo:0:1}"
        # WORLD_DIR is made by world_up; the hook's runtime dir must be known before: in subnet the
        # world's own (OpenVPN's setenv), in net30 one under $TDIR given by --runtime-dir on the up line.
        if [[ $topo == subnet ]]; then
                make_wrapper "$TDIR/up-$topo.sh" "$TDIR/hook-$topo" "$VPNPOLICY_HOOK"
                export WORLD_UP_HOOK=$TDIR/up-$topo.sh
        else
                AGENT_RUNDIR=$TDIR/run-$topo
                mkdir -p "$AGENT_RUNDIR"
                export WORLD_UP_HOOK="$VPNPOLICY_HOOK --runtime-dir $AGENT_RUNDIR"
        fi
        export WORLD_PRE_VPN_HOOK=pre_vpn_agent_$topo       # AGENT_RUNDIR for subnet
        if ! world_up "$topo"; then echo "FAIL: $T world_up"; exit 2; fi
        mon_stop
        info "world up in ${WORLD_UP_MS} ms: $WORLD_PREFIX, cl1 $WORLD_CL1_TUN4 $WORLD_CL1_TUN6, cl2 $WORLD_CL2_TUN4 $WORLD_CL2_TUN6"
        figure "world_up_$topo" "$WORLD_UP_MS" ms

        # --- what the agent built (names through the namespace's own /etc/iproute2)
        local etc=/etc/netns/$WORLD_SRV/iproute2
        check "rt_tables.d/vpnpolicy.conf names table 200 vpn in the namespace's /etc/iproute2" \
                grep -Eq '^[[:space:]]*200[[:space:]]+vpn([[:space:]]|$)' "$etc/rt_tables.d/vpnpolicy.conf"
        check "rt_protos.d/vpnpolicy.conf names the protocol vpnpolicy" \
                grep -Eq '^[[:space:]]*[0-9]+[[:space:]]+vpnpolicy([[:space:]]|$)' "$etc/rt_protos.d/vpnpolicy.conf"
        check "source rules from the pools lookup vpn proto vpnpolicy, v4 and v6" bash -c \
                "ip netns exec $WORLD_SRV ip -4 rule | grep_q 'from $WORLD_POOL4 lookup vpn proto vpnpolicy' &&
                 ip netns exec $WORLD_SRV ip -6 rule | grep_q 'from $WORLD_POOL6 lookup vpn proto vpnpolicy'"
        check "default via the NAT gateway in table vpn, v4 and v6" bash -c \
                "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^default via $WORLD_GW4 dev eth1 proto vpnpolicy' &&
                 ip netns exec $WORLD_SRV ip -6 route show table vpn | grep_q '^default via $WORLD_GW6 dev eth1 proto vpnpolicy'"
        check "fail-closed unreachable default metric 4294967295 in table vpn, v4 and v6" bash -c \
                "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^unreachable default proto vpnpolicy metric 4294967295' &&
                 ip netns exec $WORLD_SRV ip -6 route show table vpn | grep_q '^unreachable default .*proto vpnpolicy metric 4294967295'"
        if [[ $topo == subnet ]]; then
                check "tun route $WORLD_POOL4 dev tun0 in table vpn" bash -c \
                        "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^$WORLD_POOL4 dev tun0 proto vpnpolicy'"
        else
                check "tun route for net30's /32 peer (10.10.10.2 dev tun0) in table vpn" bash -c \
                        "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^10.10.10.2 dev tun0 proto vpnpolicy'"
                check "net30: OpenVPN's pool route is in main (10.10.10.0/24 via 10.10.10.2 dev tun0)" bash -c \
                        "ip -n $WORLD_SRV -4 route show table main | grep_q '^$WORLD_POOL4 via 10.10.10.2 dev tun0'"
                check "net30: ... and mirrored into table vpn" bash -c \
                        "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^$WORLD_POOL4 via 10.10.10.2 dev tun0 proto vpnpolicy'"
        fi
        check "tun route $WORLD_POOL6 dev tun0 in table vpn" bash -c \
                "ip netns exec $WORLD_SRV ip -6 route show table vpn | grep_q '^$WORLD_POOL6 dev tun0 proto vpnpolicy'"
        check "cl1's LAN (OpenVPN's route lines in main) mirrored into table vpn, v4 and v6" bash -c \
                "ip netns exec $WORLD_SRV ip -4 route show table vpn | grep_q '^$WORLD_LAN4 via [0-9.]* dev tun0 proto vpnpolicy' &&
                 ip netns exec $WORLD_SRV ip -6 route show table vpn | grep_q '^$WORLD_LAN6 dev tun0 proto vpnpolicy'"

        # --- 7. the hook as OpenVPN ran it
        if [[ $topo == subnet ]]; then
                wrapper_read "$TDIR/hook-$topo"
                check "our up hook ran once under the wrapper and exited 0" test "$WRAP_RUNS" = 1 -a "$WRAP_RC" = 0
                [[ -z $WRAP_US ]] || figure "hook_wall_agent_$topo" "$(ms "$WRAP_US")" ms
                check "when the hook returned, table vpn held tun0's routes (v4 and v6): the barrier" bash -c \
                        "grep -q '^$WORLD_POOL4 dev tun0' '$TDIR/hook-$topo.routes' && grep -q '^$WORLD_POOL6 dev tun0' '$TDIR/hook-$topo.routes'"
        fi
        addr_to_route "agent_$topo"
        check "OpenVPN logged no error from the up hook" bash -c "! grep -q 'vpnpolicy up hook:' '$(world_log srv)'"

        # --- 1. to the outside via nat, never rtr
        path ok nat pool4 cl1 "$WORLD_INET4" "1. cl1 to the outside, v4"
        path ok nat pool6 cl1 "$WORLD_INET6" "1. cl1 to the outside, v6"
        path ok nat pool4 cl2 "$WORLD_INET4" "1. cl2 to the outside, v4"
        path ok nat pool6 cl2 "$WORLD_INET6" "1. cl2 to the outside, v6"
        # --- 2. the server's tun addresses, client to client (8. in net30)
        path ok none pool4 cl1 "$WORLD_SRV_TUN4" "2. cl1 to the server's tun address, v4"
        path ok none pool6 cl1 "$WORLD_SRV_TUN6" "2. cl1 to the server's tun address, v6"
        path ok none pool4 cl2 "$WORLD_SRV_TUN4" "2. cl2 to the server's tun address, v4"
        path ok none pool6 cl2 "$WORLD_SRV_TUN6" "2. cl2 to the server's tun address, v6"
        path ok none pool4 cl1 "$WORLD_CL2_TUN4" "2. client to client cl1 -> cl2, v4"
        path ok none pool4 cl2 "$WORLD_CL1_TUN4" "2. client to client cl2 -> cl1, v4"
        path ok none pool6 cl1 "$WORLD_CL2_TUN6" "2. client to client cl1 -> cl2, v6"
        path ok none pool6 cl2 "$WORLD_CL1_TUN6" "2. client to client cl2 -> cl1, v6"
        # --- 3. the client LAN behind cl1, from cl2 (the seed's gap)
        path ok none pool4 cl2 "$WORLD_LAN1_4" "3. cl2 to cl1's LAN host lan1, v4"
        path ok none pool6 cl2 "$WORLD_LAN1_6" "3. cl2 to cl1's LAN host lan1, v6"
        path ok none lan4 lan1 "$WORLD_CL2_TUN4" "3. lan1 to cl2, v4"
        # --- 4. the server's own traffic
        path ok rtr srv4 srv "$WORLD_INET4" "4. the server's own traffic (non-pool source), v4"
        path ok rtr srv6 srv "$WORLD_INET6" "4. the server's own traffic (non-pool source), v6"
        check "no pool packet crossed rtr so far (rtr pool4=$(world_counter rtr 4) pool6=$(world_counter rtr 6))" \
                test "$(world_counter rtr 4)" = 0 -a "$(world_counter rtr 6)" = 0

        # --- 6. status
        status_check "6. status"

        # --- 5. stop, restart (adoption), kill -9, restart, with the tunnels up
        before=$(objects)
        mon_start "$WORLD_DIR/log/monitor-restart.txt" route rule
        bg_ping_start out4 cl1 "$WORLD_INET4"
        bg_ping_start lan6 cl2 "$WORLD_LAN1_6"
        sleep 0.3

        agent_stop TERM || true
        check "5. SIGTERM: the agent exited with status 0 (got ${AGENT_RC:-?})" test "${AGENT_RC:-x}" = 0
        figure "agent_sigterm_exit_$topo" "$(ms "${AGENT_EXIT_US:-0}")" ms
        check "5. SIGTERM: every rule and table-vpn route left in place, unchanged" test "$(objects)" = "$before"
        pings_ok "5. agent stopped (SIGTERM)"
        # the hook with the agent down, with OpenVPN's environment, under the same timing wrapper:
        # warns, exits 0, quickly
        make_wrapper "$TDIR/up-down-$topo.sh" "$TDIR/hookdown-$topo" "$VPNPOLICY_HOOK" --runtime-dir "$AGENT_RUNDIR"
        in_srv env -i dev=tun0 dev_type=tun script_type=up ifconfig_local="$WORLD_SRV_TUN4" \
                ifconfig_netmask=255.255.255.0 ifconfig_ipv6_local="$WORLD_SRV_TUN6" ifconfig_ipv6_netbits=64 \
                config="$WORLD_DIR/srv.conf" "$TDIR/up-down-$topo.sh" \
                tun0 1500 0 "$WORLD_SRV_TUN4" 255.255.255.0 init >"$TDIR/hook-down.out" 2>&1 || true
        wrapper_read "$TDIR/hookdown-$topo"
        check "5. the hook with the agent down exits 0 (got ${WRAP_RC:-?}) in under 2.5 s ($(ms "${WRAP_US:-0}") ms) and says why on stderr" \
                test "${WRAP_RC:-x}" = 0 -a "${WRAP_US:-9999999}" -lt 2500000 -a -s "$TDIR/hook-down.out"
        [[ -z $WRAP_US ]] || figure "hook_wall_agent_down_$topo" "$(ms "$WRAP_US")" ms

        if agent_start; then
                figure "agent_restart_ready_$topo" "$(ms "$AGENT_READY_US")" ms
                check "5. restart (adoption): every rule and table-vpn route as before" test "$(objects)" = "$before"
                pings_ok "5. agent restarted"
                js=$(ctl status --json 2>/dev/null || true)
                info "after restart: health $(jq -r .health <<<"$js" 2>/dev/null), operations $(jq -r .counters.operations <<<"$js" 2>/dev/null), tun0 registered $(jq -r '.devices[]? | select(.name=="tun0") | .registered' <<<"$js" 2>/dev/null)"
                check "5. restart: status healthy, all objects present" \
                        jq -e '.health == "healthy" and all(.objects[]; .present)' <<<"$js"
        else
                fail "$T5. restart after SIGTERM: the agent did not come up"
        fi

        if [[ -n $AGENT_PID ]]; then
                agent_stop KILL || true
                check "5. kill -9: every rule and table-vpn route left in place" test "$(objects)" = "$before"
                pings_ok "5. agent killed (-9)"
                if agent_start; then
                        figure "agent_restart_after_kill_ready_$topo" "$(ms "$AGENT_READY_US")" ms
                        check "5. restart after kill -9 (adoption): every rule and table-vpn route as before" test "$(objects)" = "$before"
                        pings_ok "5. agent restarted after kill -9"
                        js=$(ctl status --json 2>/dev/null || true)
                        check "5. restart after kill -9: status healthy, all objects present" \
                                jq -e '.health == "healthy" and all(.objects[]; .present)' <<<"$js"
                else
                        fail "$T5. restart after kill -9: the agent did not come up"
                fi
        fi

        bg_ping_stop out4
        check "5. continuous ping cl1 -> $WORLD_INET4 (20/s) across all restarts: $BG_TX sent, $BG_LOST lost (<= 1, the one in flight)" \
                test "$BG_TX" -gt 20 -a "$BG_LOST" -le 1
        figure "restart_ping_lost_out4_$topo" "$BG_LOST" packets
        bg_ping_stop lan6
        check "5. continuous ping cl2 -> $WORLD_LAN1_6 (mirrored route, 20/s) across all restarts: $BG_TX sent, $BG_LOST lost (<= 1)" \
                test "$BG_TX" -gt 20 -a "$BG_LOST" -le 1
        figure "restart_ping_lost_lan6_$topo" "$BG_LOST" packets
        mon_stop
        dels=$(grep -v 'table 250' "$WORLD_DIR/log/monitor-restart.txt" | grep -c 'Deleted' || true)
        up_events=$(grep -v 'table 250' "$WORLD_DIR/log/monitor-restart.txt" | grep -c '^\[' || true)
        if ((dels == 0)); then
                pass "${T}5. ip monitor across the restarts: no deletion of any rule or route ($up_events other events)"
        else
                fail "${T}5. ip monitor across the restarts: $dels deletion(s):"
                grep -v 'table 250' "$WORLD_DIR/log/monitor-restart.txt" | grep 'Deleted' | sed 's/^/#   /'
        fi
        if ((up_events > 0)); then
                info "monitor events during the restarts (not deletions):"
                grep -v 'table 250' "$WORLD_DIR/log/monitor-restart.txt" | grep '^\[' | grep -v Deleted | head -n 20 | sed 's/^/#   /'
        fi
        check "5. no pool packet crossed rtr, restarts included (rtr pool4=$(world_counter rtr 4) pool6=$(world_counter rtr 6))" \
                test "$(world_counter rtr 4)" = 0 -a "$(world_counter rtr 6)" = 0

        echo "counters at the end: $(world_counters | tr '\n' ' ')"
        if [[ -n $AGENT_PID ]]; then agent_stop TERM || true; fi
        world_down
}

pre_vpn_agent_subnet() {
        AGENT_RUNDIR=$WORLD_RUNTIME_DIR
        pre_vpn_agent "$@"
}
pre_vpn_agent_net30() { pre_vpn_agent "$@"; }

host_iproute2_sum() { find /etc/iproute2 -type f -print0 2>/dev/null | sort -z | xargs -0 md5sum 2>/dev/null | md5sum; }

T0=$SECONDS
HOST_SUM=$(host_iproute2_sum)
runs=("$@")
((${#runs[@]})) || runs=(subnet net30 seed)
for run in "${runs[@]}"; do
        case $run in
                subnet | net30) run_topology "$run" ;;
                seed) run_seed ;;
                *) echo "usage: $0 [subnet|net30|seed]..." >&2; exit 2 ;;
        esac
done
T=""
figure wrapper_floor "$(ms "$(wrapper_floor)")" ms
check "the host's /etc/iproute2 untouched" test "$(host_iproute2_sum)" = "$HOST_SUM"
figure e2e_agent_total $((SECONDS - T0)) s

if ((FAILS)); then
        echo "$FAILS check(s) FAILED"
        exit 1
fi
echo "all checks passed"
