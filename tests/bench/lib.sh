# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034
#
# tests/bench/lib.sh: sourced by tests/bench/run.sh and tests/bench/callgrind.sh, after tests/lib/common.sh
# (namespaces, the agent, cleanup on every exit). Builds nothing; BENCH_BIN is where meson put the helpers.

BENCH_BIN=${BENCH_BIN:-$BUILD/tests/bench}
BENCH_LATENCY=$BENCH_BIN/bench-latency
BENCH_FLOOR=$BENCH_BIN/floor-listener
BENCH_RAW=$BENCH_BIN/raw-batch
BENCH_EXEC=$BENCH_BIN/bench-exec
BENCH_FIGURES=${BENCH_FIGURES:-$T/figures}
: >"$BENCH_FIGURES"
declare -gA FIG=()

for _b in "$BENCH_LATENCY" "$BENCH_FLOOR" "$BENCH_RAW" "$BENCH_EXEC" "$VPNPOLICYD" "$NOTIFY_WAIT"; do
        [[ -x $_b ]] || die "missing $_b (ninja -C $BUILD)"
done
unset _b

# figure NAME VALUE UNIT: print "# figure: NAME VALUE UNIT" and remember it for the report.
figure() {
        FIG[$1]=$2
        echo "# figure: $1 $2 $3"
        echo "$1 $2 $3" >>"$BENCH_FIGURES"
}

# stats FILE [COLUMN]: sets S_N S_MIN S_MED S_P99 S_MAX from the numbers in COLUMN (default 1) of FILE.
# Median: the middle value (mean of the two middle ones); p99: nearest rank, ceil(0.99 n).
stats() {
        local out
        out=$(awk -v c="${2:-1}" '$c ~ /^[0-9.]+$/ { print $c }' "$1" | sort -g | awk '
                { v[NR] = $1 }
                END {
                        n = NR
                        if (n == 0) { print "0 0 0 0 0"; exit }
                        med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
                        r = int(0.99 * n); if (r < 0.99 * n) r++; if (r < 1) r = 1
                        printf "%d %s %s %s %s\n", n, v[1], med, v[r], v[n]
                }')
        read -r S_N S_MIN S_MED S_P99 S_MAX <<<"$out"
}

# fmt NUMBER [DECIMALS]: rounded for the report
fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, x }'; }
# ratio A B [DECIMALS]: A / B
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == 0) print "n/a"; else printf "%.*f", d, a / b }'; }
# le A B: true if A <= B (floating point)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
met() { if "$@"; then echo met; else echo "**missed**"; fi; }

# bench_ns VAR: a namespace NS with the seed-003 box: eth1 to a gateway namespace (192.168.1.1,
# fd00:1010:1010:1010::1), IPv6 DAD off, forwarding on.
bench_ns() {
        local __v=$1 ns gw
        ns_new "$__v"
        ns=${!__v}
        ns_new gw
        veth_add "$ns" eth1 "$gw" eth0
        ip -n "$ns" addr add 192.168.1.100/24 dev eth1
        ip -n "$ns" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad
        ip -n "$gw" addr add 192.168.1.1/24 dev eth0
        ip -n "$gw" addr add fd00:1010:1010:1010::1/64 dev eth0 nodad
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

# bench_conf FILE [LINES...]: the seed-003 configuration (defaults otherwise: Match=tun*, MirrorRoutes=yes,
# FailClosed=yes, [Firewall] Manage=yes), plus LINES. The benchmarks' tuns carry addresses in 10.128.0.0/9
# and 100.64.0.0/10, pools too: a tun is the agent's only with a pool address.
bench_conf() {
        local f=$1
        shift
        {
                printf '[Pool]\nPrefix=10.10.10.0/24\nPrefix=fd00:4242:4242:4242::/64\n'
                printf 'Prefix=10.128.0.0/9\nPrefix=100.64.0.0/10\n'
                printf '[Gateway]\nIPv4=192.168.1.1\nIPv6=fd00:1010:1010:1010::1\n'
                printf '[Kernel]\nForwarding=enable\n'
                local l
                for l; do printf '%s\n' "$l"; done
        } >"$f"
}

# bench_agent_start NS CONF [ARGS...]: agent_start at log level info (the default, not the tests'
# debug), through `bench-exec --stamp` so that BENCH_READY_US is the time from the daemon's exec to its
# READY=1 (without `ip netns exec`'s own cost). Extra wrapper words (valgrind) in BENCH_WRAP.
bench_agent_start() {
        local ns=$1 conf=$2 stamp ts ready
        shift 2
        stamp=$T/stamp-$ns
        rm -f "$stamp"
        # shellcheck disable=SC2206
        _VPT_WRAPPER=("$BENCH_EXEC" --stamp "$stamp" -- ${BENCH_WRAP:-})
        agent_start "$ns" "$conf" --log-level info "$@" || return 1
        _VPT_WRAPPER=()
        ts=$(<"$stamp")
        ready=$(grep ' READY=1$' "$T/notify-$ns.log" | tail -n 1 | cut -d' ' -f1)
        BENCH_READY_US=$(awk -v a="$ts" -v b="$ready" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
}

# proc_field PID FIELD: a line of /proc/PID/status, the number only (kB for Vm*)
proc_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# proc_cpu_ticks PID: utime + stime, in clock ticks
proc_cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# count_copies NS MATCH [DEV]: how many table-200 IPv4 routes lie inside MATCH (a dump, not ip's text)
count_copies() { ip netns exec "$1" "$BENCH_LATENCY" dumpcount --table 200 --match "$2" ${3:+--dev "$3"}; }
_copies_are() { [[ $(count_copies "$1" "$2") == "$3" ]]; }
# wait_copies NS MATCH N TIMEOUT_MS
wait_copies() { wait_until "$4" _copies_are "$1" "$2" "$3"; }

# floor_start NS: floor-listener in NS; FLOOR_PID
floor_start() {
        local ns=$1
        ip netns exec "$ns" "$BENCH_FLOOR" --table 200 </dev/null 2>"$T/floor-$ns.log" &
        FLOOR_PID=$!
        register_pid "$FLOOR_PID"
        wait_until 3000 grep -q 'ready' "$T/floor-$ns.log" || die "floor-listener in $ns did not start"
}
floor_stop() {
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}
