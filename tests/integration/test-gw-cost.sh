#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# What probing costs the idle daemon: CPU time (/proc/PID/schedstat) and wakeups (context switches,
# /proc/PID/status) per second, for 1 unprobed gateway (the baseline), 2 and 16 probed gateways, and 16
# with a probe target each, at the default ProbeIntervalSec=1s, over GW_COST_SECONDS (default 5) each. The
# gateways are addresses of one namespace on one LAN. The CPU time includes the kernel's: over a veth the
# gateway's whole reply path (its stack, the echo reply, the way back) runs inside our sendto(), so most of
# it is the lab's network, not the daemon (user time stays at 0 ticks). The rounds are shared: the probe timer must wake the
# loop about once a second whatever the number of gateways (replies are read in batches at the deadline,
# from the kernel's receive stamps), which is checked, not only printed. # FIGURE lines for
# docs/performance.md.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

SECONDS_EACH=${GW_COST_SECONDS:-5}
ns_new S
ns_new G
veth_add "$S" eth1 "$G" eth0
ip -n "$S" addr add 192.168.1.100/24 dev eth1
for ((i = 1; i <= 16; i++)); do
        ip -n "$G" addr add "192.168.1.$i/24" dev eth0
done
ip -n "$G" addr add 198.51.100.1/32 dev lo
ns_exec "$S" sysctl -qw net.ipv4.ip_forward=1 >/dev/null

# conf N [TARGET]: one policy with N gateways (Probe= default: none for one, icmp for more)
conf() {
        local n=$1 target=${2:-} i
        {
                printf '[Table]\nName=vpn\nId=200\nPriority=32765\n[Pool]\nPrefix=10.10.10.0/24\n'
                for ((i = 1; i <= n; i++)); do
                        printf '[Gateway]\nName=g%s\nIPv4=192.168.1.%s\nDevice=eth1\nPriority=%s\n' "$i" "$i" "$i"
                        [[ -z $target ]] || printf 'ProbeTarget=%s\n' "$target"
                done
                printf '[Firewall]\nManage=no\n'
        } >"$T/cost.conf"
}
cpu_ns() { awk '{ print $1 }' "/proc/$AGENT_PID/schedstat"; }
# user and system time in clock ticks (coarse: to tell the daemon's own work from the kernel's)
ticks() { awk '{ print $14, $15 }' "/proc/$AGENT_PID/stat"; }
switches() { awk '/ctxt_switches/ { s += $2 } END { print s }' "/proc/$AGENT_PID/status"; }
probe_wakeups() { ctl "$S" status --json | jq .counters.probe_wakeups; }

# measure NAME N [TARGET]: the figures of one configuration
measure() {
        local name=$1 n=$2 c0 s0 w0 c1 s1 w1 cpu wake pw u0 k0 u1 k1
        conf "$n" "${3:-}"
        agent_start "$S" "$T/cost.conf"
        if ((n > 1)); then
                check "$name: all $n gateways up" wait_until 5000 eval \
                        '[[ $(ctl "$S" status --json | jq -c "[.policies[0].gateways[].health.ipv4.state] | unique") == "[\"up\"]" ]]'
        fi
        sleep 1
        w0=$(probe_wakeups)
        c0=$(cpu_ns) s0=$(switches)
        read -r u0 k0 < <(ticks)
        sleep "$SECONDS_EACH"
        c1=$(cpu_ns) s1=$(switches)
        read -r u1 k1 < <(ticks)
        w1=$(probe_wakeups)
        cpu=$(((c1 - c0) / 1000 / SECONDS_EACH))             # µs of CPU per second
        wake=$(awk -v a="$s0" -v b="$s1" -v t="$SECONDS_EACH" 'BEGIN { printf "%.2f", (b - a) / t }')
        pw=$(awk -v a="$w0" -v b="$w1" -v t="$SECONDS_EACH" 'BEGIN { printf "%.2f", (b - a) / t }')
        echo "# FIGURE probe-cost $name gateways=$n cpu-us-per-s=$cpu (user $((u1 - u0)), system $((k1 - k0)) ticks of $(getconf CLK_TCK)/s in ${SECONDS_EACH}s) wakeups-per-s=$wake probe-timer-wakeups-per-s=$pw$( ((n > 1)) && awk -v c="$cpu" -v w="$wake" -v n="$n" 'BEGIN { printf " per-gateway: cpu-us-per-s=%.1f wakeups-per-s=%.3f", c / n, w / n }')"
        RESULT_WAKE=$wake RESULT_PW=$pw RESULT_CPU=$cpu
        agent_stop TERM
        ip -n "$S" route flush table 200
        ip -n "$S" rule flush protocol vpnpolicy 2>/dev/null || true
}

measure baseline 1
base=$RESULT_WAKE
measure two 2
measure sixteen 16
check "16 gateways: the probe timer wakes about once a second ($RESULT_PW/s)" \
        awk -v w="$RESULT_PW" 'BEGIN { exit !(w >= 0.8 && w <= 1.3) }'
check "16 gateways: the daemon wakes at most 1.5/s more than without probes ($RESULT_WAKE vs $base)" \
        awk -v w="$RESULT_WAKE" -v b="$base" 'BEGIN { exit !(w - b <= 1.5) }'
measure sixteen-with-targets 16 198.51.100.1
check "16 gateways with targets: still about once a second ($RESULT_PW/s)" \
        awk -v w="$RESULT_PW" 'BEGIN { exit !(w >= 0.8 && w <= 1.3) }'
check "16 gateways with targets: under 1 ms of CPU per second ($RESULT_CPU µs)" test "$RESULT_CPU" -lt 1000
finish
