#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2154 # functions run indirectly (wait_until); results are set by eval
#
# tests/bench/run.sh: every benchmark of vpnpolicyd, each against a baseline measured in the same run, in
# network namespaces it creates (and removes on every exit), and writes docs/performance.md.
#
#   sudo tests/bench/run.sh              # builds build-bench (release), about 5 minutes on 2 cores
#   sudo BENCH_QUICK=1 tests/bench/run.sh  # smaller counts, a 5 s idle, report to $T only: a smoke run
#
# Benchmarks, not tests: a target missed is reported (met / missed), never a failure. The exit status
# is non-zero only when a benchmark could not run (a helper failed, the agent did not start).
# Every figure is printed as "# figure: NAME VALUE UNIT" too.
#
#   1 latency   event to route: address on a tun -> its subnet in table 200; main-table route via a tun ->
#               its copy; vpnpolicyd vs the floor (floor-listener) vs the seed's up script per event
#   2 hook      the up hook's wall time from exec to exit vs the seed's up script
#   3 bulk      10,000 and 100,000 mirrored routes: cold start to READY, a burst at run time, vs raw-batch
#               and ip -batch adding the same routes
#   4 devices   1,000 tun devices with an address each in one burst: time to all tun routes, none lost
#   5 idle      60 s with 100 tuns and 10,000 routes: wakeups/s, CPU, RSS; RSS per route
#   6 restart   start to READY with 100 tuns and 10,000 routes in place, nothing sent
#   7 callgrind instructions per event (tests/bench/callgrind.sh)
#   8 verify    the periodic verification of our tables and rules: its duration and CPU at 10k/100k routes
#   9 probes    gateway probes of 1, 2, 16 gateways (tests/integration/test-gw-cost.sh): CPU and wakeups per second
#
# Environment: BUILD (default build-bench; built here unless BENCH_NO_BUILD=1), BENCH_ONLY (a list of
# the names above), BENCH_EVENTS (1000), BENCH_HOOK_RUNS (200), BENCH_BULK ("10000 100000"),
# BENCH_REPS (3), BENCH_TUNS (1000), BENCH_IDLE_S (60), BENCH_OUT (docs/performance.md; with BENCH_QUICK
# the report goes to $T/performance.md unless BENCH_OUT is set).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-build-bench}
[[ $BUILD == /* ]] || BUILD=$SOURCE_ROOT/$BUILD
TEST_NAME=bench
START_S=$SECONDS

if ((EUID == 0)) && [[ -z ${BENCH_NO_BUILD:-} ]]; then
        echo "# building $BUILD (release)"
        if [[ ! -f $BUILD/build.ninja ]]; then
                meson setup "$BUILD" "$SOURCE_ROOT" -Dbuildtype=release >/dev/null
        fi
        ninja -C "$BUILD" >/dev/null || { echo "FAIL: bench: ninja -C $BUILD failed" >&2; exit 1; }
fi

# shellcheck source=../lib/common.sh
source "$SOURCE_ROOT/tests/lib/common.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

QUICK=${BENCH_QUICK:-}
EVENTS=${BENCH_EVENTS:-$([[ -n $QUICK ]] && echo 200 || echo 1000)}
HOOK_RUNS=${BENCH_HOOK_RUNS:-$([[ -n $QUICK ]] && echo 40 || echo 200)}
BULK=${BENCH_BULK:-$([[ -n $QUICK ]] && echo 10000 || echo "10000 100000")}
REPS=${BENCH_REPS:-3}
TUNS=${BENCH_TUNS:-1000}
IDLE_S=${BENCH_IDLE_S:-$([[ -n $QUICK ]] && echo 5 || echo 60)}
ONLY=${BENCH_ONLY:-latency hook bulk devices idle restart verify callgrind metrics probes}
if [[ -n ${BENCH_OUT:-} ]]; then
        OUT=$BENCH_OUT
elif [[ -n $QUICK ]]; then
        OUT=$T/performance.md
else
        OUT=$SOURCE_ROOT/docs/performance.md
fi
[[ $OUT == /* ]] || OUT=$SOURCE_ROOT/$OUT
HOOK=$BUILD/hooks/vpnpolicy-openvpn-up
SEED_UP=$SOURCE_ROOT/tests/e2e/seed-up.sh
SEED_POLICY=$SOURCE_ROOT/tests/e2e/seed-policy.sh
REPORT=$T/report.md
: >"$REPORT"
wanted() { [[ " $ONLY " == *" $1 "* ]]; }
section() { echo; echo "=== $* ($((SECONDS - START_S)) s)"; }
md() { printf '%s\n' "$@" >>"$REPORT"; }
# row WORDS...: one line of a table, from all words joined by a space
row() { printf '%s\n' "$*" >>"$REPORT"; }
# target KEY TEXT RESULT: a line of the summary; a missed target adds KEY to the causes to explain
TARGETS=()
declare -A CAUSE=()
target() {
        TARGETS+=("$2|$3")
        [[ $3 != *missed* ]] || CAUSE[$1]=1
}
# cause KEY: include the analysis block KEY of tests/bench/analysis.md (a finding besides the targets)
cause() { CAUSE[$1]=1; }

# Profiles (perf, cpu-clock sampling: this machine has no hardware counters), flat, self time.
PERF_OK=
if command -v perf >/dev/null && perf record -q -e cpu-clock -o "$T/perf-probe.data" true >/dev/null 2>&1; then
        PERF_OK=1
fi
PROFILES=$T/profiles.md
: >"$PROFILES"
# profile_add TITLE DATA: the top 14 symbols by self time into the profiles section
profile_add() {
        [[ -s $2 ]] || return 0
        {
                echo "$1:"
                echo
                echo '```'
                perf report -i "$2" --no-children --sort dso,sym -g none --percent-limit 0.8 2>/dev/null |
                        awk '!/^#/ && NF && n++ < 14'
                echo '```'
                echo
        } >>"$PROFILES"
}
# perf_attach PID DATA: sample PID into DATA until perf_detach; PERF_PID
perf_attach() {
        PERF_PID=
        [[ -n $PERF_OK ]] || return 0
        perf record -q -e cpu-clock -F 2000 -o "$2" -p "$1" >/dev/null 2>&1 &
        PERF_PID=$!
        register_pid "$PERF_PID"
        sleep 0.3
}
perf_detach() {
        [[ -n ${PERF_PID:-} ]] || return 0
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=
}

# agent_counters NS: the status counters as compact JSON (overruns, resyncs, passes)
agent_counters() { ctl "$1" status --json 2>/dev/null | jq -c '.counters // {}' 2>/dev/null || echo '{}'; }

# ---------------------------------------------------------------------------------------------------------
# 1. event to route

bench_latency() {
        local per=$((EVENTS / 4)) r kind who
        section "1. event to route: $EVENTS events each"
        bench_ns LA
        tun_add "$LA" tun0
        ip -n "$LA" addr add 10.199.0.1/24 dev tun0     # an anchor: the events' address is never the last one
        bench_conf "$T/lat.conf"
        bench_agent_start "$LA" "$T/lat.conf"
        bench_ns LF
        tun_add "$LF" tun0
        ip -n "$LF" addr add 10.199.0.1/24 dev tun0
        floor_start "$LF"
        bench_ns LS
        "$SEED_POLICY" "$LS"
        tun_add "$LS" tun0
        ip -n "$LS" addr add 10.199.0.1/24 dev tun0
        for f in lat-addr-ours lat-addr-floor lat-addr-seed lat-route-ours lat-route-floor; do : >"$T/$f"; done

        # Four rounds, interleaved, so that a slow patch of the machine hits all of them alike.
        for ((r = 0; r < 4; r++)); do
                info "round $((r + 1))/4: $per address events and $per route events each"
                ip netns exec "$LA" "$BENCH_LATENCY" addr --dev tun0 --count "$per" --warmup 5 >>"$T/lat-addr-ours"
                ip netns exec "$LF" "$BENCH_LATENCY" addr --dev tun0 --count "$per" --warmup 5 >>"$T/lat-addr-floor"
                ip netns exec "$LS" env VPNPOLICY_SEED_TABLE=vpn "$BENCH_LATENCY" addr --dev tun0 --count "$per" \
                        --warmup 2 --exec "$SEED_UP" -- >>"$T/lat-addr-seed"
                ip netns exec "$LA" "$BENCH_LATENCY" route --dev tun0 --count "$per" --warmup 5 >>"$T/lat-route-ours"
                ip netns exec "$LF" "$BENCH_LATENCY" route --dev tun0 --count "$per" --warmup 5 >>"$T/lat-route-floor"
        done
        info "agent counters: $(agent_counters "$LA")"
        floor_stop "$FLOOR_PID"
        info "$(tail -n 1 "$T/floor-$LF.log")"
        agent_stop

        md "## 1. Event to route" ""
        md "Time from the helper's netlink request (an IPv4 address added to \`tun0\`, or a main-table route" \
           "\`172.18.x.y/32 dev tun0\`) to the kernel's \`RTM_NEWROUTE\` for the copy in table 200, as received by" \
           "\`tests/bench/bench-latency\` on a route-group socket (CLOCK_MONOTONIC). Each event is removed again" \
           "and its copy's removal awaited before the next one, with 1 ms between events; $EVENTS events per" \
           "row in four interleaved rounds. The floor is \`tests/bench/floor-listener\` (libmnl, no state but" \
           "which ifindexes are tuns, one sendmsg per wakeup, no acks awaited); the seed is" \
           "\`tests/e2e/seed-up.sh\` (seed 003's \`up\`) run per event as OpenVPN runs it (fork+exec after the" \
           "address is in, OpenVPN's environment, no PATH), with the seed's rules and table in place." ""
        md "| event | program | n | min µs | median µs | p99 µs | max µs | median vs floor |" \
           "|---|---|---:|---:|---:|---:|---:|---:|"
        local fmed
        for kind in addr route; do
                stats "$T/lat-$kind-floor"
                fmed=$S_MED
                for who in ours floor seed; do
                        local label name
                        case $who in
                        ours) label="vpnpolicyd" ;;
                        floor) label="floor-listener" ;;
                        seed) label="seed \`up\` script" ;;
                        esac
                        name=latency_${kind}_$who
                        if [[ $kind == route && $who == seed ]]; then
                                md "| route via tun | $label | | | never | | | the seed never copies it |"
                                continue
                        fi
                        stats "$T/lat-$kind-$who"
                        figure "${name}_median" "$(fmt "$S_MED")" us
                        figure "${name}_p99" "$(fmt "$S_P99")" us
                        [[ $who == ours ]] && eval "LAT_${kind}_MED=$S_MED LAT_${kind}_P99=$S_P99"
                        row "| $([[ $kind == addr ]] && echo "address on tun" || echo "route via tun") | $label | $S_N |" \
                           "$(fmt "$S_MIN") | $(fmt "$S_MED") | $(fmt "$S_P99") | $(fmt "$S_MAX") | $(ratio "$S_MED" "$fmed")× |"
                        [[ $kind == addr ]] && eval "LAT_addr_${who}_MED=$S_MED"
                        [[ $kind == route ]] && eval "LAT_route_${who}_MED=$S_MED"
                done
        done
        local ta tr
        ta=$(met le "$LAT_addr_ours_MED" "$(awk -v f="$LAT_addr_floor_MED" 'BEGIN { print (2 * f < 1000 ? 2 * f : 1000) }')")
        tr=$(met le "$LAT_route_ours_MED" "$(awk -v f="$LAT_route_floor_MED" 'BEGIN { print (2 * f < 1000 ? 2 * f : 1000) }')")
        md "" "Target: median within 2× the floor and under 1 ms. Address events: $ta" \
           "($(ratio "$LAT_addr_ours_MED" "$LAT_addr_floor_MED")× the floor); route events: $tr" \
           "($(ratio "$LAT_route_ours_MED" "$LAT_route_floor_MED")× the floor)." ""
        target latency "Event to route, address: median ≤ 2× floor and < 1 ms" "$ta"
        target latency "Event to route, route: median ≤ 2× floor and < 1 ms" "$tr"
}

# ---------------------------------------------------------------------------------------------------------
# 2. hook round trip

bench_hook() {
        section "2. hook round trip: $HOOK_RUNS runs each"
        local env=(-e dev=tunh -e dev_type=tun -e ifconfig_local=10.10.10.1 -e ifconfig_netmask=255.255.255.0
                -e ifconfig_ipv6_local=fd00:4242:4242:4242::1 -e ifconfig_ipv6_netbits=64 -e tun_mtu=1500
                -e link_mtu=0 -e script_type=up -e script_context=init -e config=/etc/openvpn/server/server.conf
                -e daemon_pid=$$ -e daemon=0 -e verb=3 -e proto_1=udp -e local_port_1=1194)
        # What OpenVPN does before it runs `up`: the device, up, with its addresses.
        prep() {
                echo "ip link del $1 2>/dev/null; ip tuntap add dev $1 mode tun && ip link set $1 up &&" \
                        "ip addr add 10.10.10.1/24 dev $1 && ip addr add fd00:4242:4242:4242::1/64 dev $1"
        }
        bench_ns HA
        bench_conf "$T/hook.conf"
        bench_agent_start "$HA" "$T/hook.conf"
        bench_ns HS
        "$SEED_POLICY" "$HS"

        ip netns exec "$HA" "$BENCH_EXEC" -n "$HOOK_RUNS" -p "$(prep tunh)" "${env[@]}" \
                -e "VPNPOLICY_RUNTIME_DIR=$T/run-$HA" -- "$HOOK" tunh 1500 0 10.10.10.1 255.255.255.0 init \
                >"$T/hook-ours"
        # A device outside Match=tun*: managed only once the hook registers it, so the hook waits for the
        # agent to add the routes: the whole path (register, reconcile, ack, confirm). tunh goes first: the
        # same subnet on two devices is one route, which the first device holds.
        ip -n "$HA" link del tunh
        ip netns exec "$HA" "$BENCH_EXEC" -n "$HOOK_RUNS" -p "$(prep ovpnh)" "${env[@]/dev=tunh/dev=ovpnh}" \
                -e "VPNPOLICY_RUNTIME_DIR=$T/run-$HA" -- "$HOOK" ovpnh 1500 0 10.10.10.1 255.255.255.0 init \
                >"$T/hook-ours-reg"
        ip netns exec "$HS" "$BENCH_EXEC" -n "$HOOK_RUNS" -p "$(prep tunh)" "${env[@]}" \
                -- "$SEED_UP" tunh 1500 0 10.10.10.1 255.255.255.0 init >"$T/hook-seed"
        # The floor: spawning /bin/true the same way (the device made before each run too).
        ip netns exec "$HS" "$BENCH_EXEC" -n "$HOOK_RUNS" -p "$(prep tunt)" "${env[@]}" \
                -- /bin/true tunt 1500 0 10.10.10.1 255.255.255.0 init >"$T/hook-true"
        # the routes the last hook run confirmed
        check_routes() { [[ -n $(ip -n "$HA" route show table 200 10.10.10.0/24 dev ovpnh) ]]; }
        check_routes || die "hook: table 200 lacks 10.10.10.0/24 dev ovpnh after the last run"
        agent_stop

        local bad
        bad=$(awk '$2 != 0' "$T/hook-ours" "$T/hook-ours-reg" | wc -l)
        ((bad == 0)) || info "hook: $bad runs exited non-zero"
        bad=$(awk '$2 != 0' "$T/hook-seed" | wc -l)
        ((bad == 0)) || info "seed up: $bad runs exited non-zero"

        md "## 2. Hook round trip" ""
        md "Wall time of the \`up\` program from fork+exec to exit (\`tests/bench/bench-exec\`, CLOCK_MONOTONIC)," \
           "$HOOK_RUNS runs each, as OpenVPN runs it: its environment only (no PATH), its positional arguments," \
           "the tun device created, up and addressed just before (untimed). vpnpolicyd's hook registers the" \
           "device and returns once the agent confirms the routes; the seed's \`up\` computes the networks in" \
           "bash and runs its two \`ip route add\`." ""
        md "| program | n | min ms | median ms | p99 ms | max ms | median vs seed | vs /bin/true |" \
           "|---|---:|---:|---:|---:|---:|---:|---:|"
        stats "$T/hook-true"
        local tmed=$S_MED
        stats "$T/hook-seed"
        local smed=$S_MED f label
        for f in ours ours-reg seed true; do
                case $f in
                ours) label="vpnpolicy hook, device \`tunh\` (managed by Match=tun\\*)" ;;
                ours-reg) label="vpnpolicy hook, device \`ovpnh\` (managed once the hook registers it)" ;;
                seed) label="seed \`up\` script (two \`ip route add\`)" ;;
                true) label="\`/bin/true\` spawned the same way (the floor)" ;;
                esac
                stats "$T/hook-$f"
                figure "hook_${f//-/_}_median" "$(fmt "$(awk -v x="$S_MED" 'BEGIN { print x / 1000 }')" 2)" ms
                row "| $label | $S_N | $(fmt "$(awk -v x="$S_MIN" 'BEGIN { print x / 1000 }')" 2) |" \
                   "$(fmt "$(awk -v x="$S_MED" 'BEGIN { print x / 1000 }')" 2) |" \
                   "$(fmt "$(awk -v x="$S_P99" 'BEGIN { print x / 1000 }')" 2) |" \
                   "$(fmt "$(awk -v x="$S_MAX" 'BEGIN { print x / 1000 }')" 2) | $(ratio "$S_MED" "$smed")× |" \
                   "$(ratio "$S_MED" "$tmed")× |"
                eval "HOOK_${f//-/_}_MED=$S_MED"
        done
        local t1 t2
        t1=$(met le "$HOOK_ours_MED" "$(awk -v s="$tmed" 'BEGIN { print s * 1.3 }')")
        t2=$(met le "$HOOK_ours_reg_MED" "$(awk -v s="$tmed" 'BEGIN { print s * 2 }')")
        md "" "Targets: a managed device ≤ 1.3× /bin/true spawned the same way: $t1; a device registered by" \
           "the hook ≤ 2×: $t2." ""
        target hook "Hook round trip (tun*): ≤ 1.3× /bin/true" "$t1"
        target hook "Hook round trip (registered by the hook): ≤ 2× /bin/true" "$t2"
}

# ---------------------------------------------------------------------------------------------------------
# 3. bulk

# ipbatch_file N FILE: "route add 172.16.x.y/32 dev tun0 table 200" for the same routes as raw-batch
ipbatch_file() {
        awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
                printf "route add 172.%d.%d.%d/32 dev tun0 table 200\n", 16 + int(i / 65536), int(i / 256) % 256, i % 256 }' >"$2"
}

raw() { ip netns exec "$1" "$BENCH_RAW" "${@:2}"; }

bench_bulk() {
        local n rep t0 t1 line pid rss
        section "3. bulk: $BULK routes, $REPS repetitions"
        bench_ns BB             # baselines
        tun_add "$BB" tun0
        ip -n "$BB" addr add 10.199.0.1/24 dev tun0
        bench_ns BA             # the agent
        tun_add "$BA" tun0
        ip -n "$BA" addr add 10.199.0.1/24 dev tun0
        bench_conf "$T/bulk.conf"

        # RSS with no mirrored route at all
        bench_agent_start "$BA" "$T/bulk.conf"
        sleep 0.5
        RSS_0=$(proc_field "$AGENT_PID" VmRSS)
        RSSA_0=$(proc_field "$AGENT_PID" RssAnon)
        agent_stop

        md "## 3. Bulk" ""
        md "Mirrored routes: \`172.16.0.0 + i\`/32 \`dev tun0\` in the main table, copied to table 200." \
           "*Cold start*: the routes are there before the agent starts; time from the daemon's exec to READY=1" \
           "(which comes after the first full reconcile, every copy acked), and the copies counted. *Burst*: the" \
           "agent runs; \`raw-batch\` adds the routes to the main table; time from its start to the last copy" \
           "seen in table 200 (\`bench-latency count\`). Baselines, in a namespace of their own with the same" \
           "main-table routes: \`raw-batch\` (libmnl, one sendmsg per ~64 KiB, every ack checked) and" \
           "\`ip -batch\` adding the same routes to table 200. $REPS repetitions each." ""
        md "| routes | program | min ms | median ms | max ms | routes/s (median) | vs raw-batch |" \
           "|---:|---|---:|---:|---:|---:|---:|"
        for n in $BULK; do
                info "$n routes"
                ipbatch_file "$n" "$T/ipbatch-$n"
                raw "$BB" --op add --dev tun0 --count "$n" --table 254 >/dev/null
                : >"$T/bulk-raw-$n"
                : >"$T/bulk-ip-$n"
                for ((rep = 0; rep < REPS; rep++)); do
                        raw "$BB" --op add --dev tun0 --count "$n" --table 200 | awk '{ print $1 / 1000 }' >>"$T/bulk-raw-$n"
                        raw "$BB" --op del --dev tun0 --count "$n" --table 200 >/dev/null
                        t0=$(now_us)
                        ip -n "$BB" -batch "$T/ipbatch-$n"
                        t1=$(now_us)
                        echo "$(((t1 - t0) / 1000))" >>"$T/bulk-ip-$n"
                        raw "$BB" --op del --dev tun0 --count "$n" --table 200 >/dev/null
                done
                raw "$BB" --op del --dev tun0 --count "$n" --table 254 >/dev/null

                # cold start
                raw "$BA" --op add --dev tun0 --count "$n" --table 254 >/dev/null
                : >"$T/bulk-cold-$n"
                for ((rep = 0; rep < REPS; rep++)); do
                        bench_agent_start "$BA" "$T/bulk.conf"
                        c=$(count_copies "$BA" 172.16.0.0/12)
                        [[ $c == "$n" ]] || info "cold start $n: only $c copies at READY"
                        echo "$((BENCH_READY_US / 1000))" >>"$T/bulk-cold-$n"
                        sleep 0.3
                        rss=$(proc_field "$AGENT_PID" VmRSS)
                        eval "RSS_$n=$rss RSSA_$n=$(proc_field "$AGENT_PID" RssAnon)"
                        if ((rep < REPS - 1)); then
                                agent_stop
                                raw "$BA" --op del --dev tun0 --count "$n" --table 200 >/dev/null
                        fi
                done
                if ! ctl "$BA" status --json >/dev/null 2>"$T/status-$n.err"; then
                        info "vpnpolicyctl status --json fails with $n routes: $(cat "$T/status-$n.err")"
                        grep -qi 'too long' "$T/status-$n.err" && cause status-size
                        STATUS_FAIL_N=${STATUS_FAIL_N:-$n}
                fi
                # burst: remove the originals (the agent removes the copies), then add them in one go
                : >"$T/bulk-burst-$n"
                ov0=$(grep -c 'overran' "$T/agent-$BA.log" || true)
                for ((rep = 0; rep < REPS; rep++)); do
                        raw "$BA" --op del --dev tun0 --count "$n" --table 254 >/dev/null
                        wait_copies "$BA" 172.16.0.0/12 0 60000 || die "bulk $n: the copies were not removed"
                        sleep 0.2
                        line=$(ip netns exec "$BA" "$BENCH_LATENCY" count --table 200 --match 172.16.0.0/12 \
                                --expect "$n" --timeout-ms 120000 -- "$BENCH_RAW" --op add --dev tun0 --count "$n" --table 254) ||
                                die "bulk $n: burst did not converge: $line"
                        read -r el gen ovr <<<"$line"
                        info "burst $n: all copies after $((el / 1000)) ms (generator done after $((gen / 1000)) ms, helper overruns $ovr)"
                        echo "$((el / 1000)) $((gen / 1000))" >>"$T/bulk-burst-$n"
                done
                ov1=$(grep -c 'overran' "$T/agent-$BA.log" || true)
                eval "BULK_OVERRUNS_$n=$((ov1 - ov0))"
                info "event socket overruns of the agent during the bursts: $((ov1 - ov0))"
                if [[ -n $PERF_OK && $n == "${BULK##* }" ]]; then
                        # untimed: one more burst, sampled
                        raw "$BA" --op del --dev tun0 --count "$n" --table 254 >/dev/null
                        wait_copies "$BA" 172.16.0.0/12 0 60000 || true
                        perf_attach "$AGENT_PID" "$T/perf-burst.data"
                        ip netns exec "$BA" "$BENCH_LATENCY" count --table 200 --match 172.16.0.0/12 --expect "$n" \
                                --timeout-ms 120000 -- "$BENCH_RAW" --op add --dev tun0 --count "$n" --table 254 >/dev/null || true
                        perf_detach
                        profile_add "Burst of $n routes at run time (vpnpolicyd)" "$T/perf-burst.data"
                fi
                agent_stop
                if [[ -n $PERF_OK && $n == "${BULK##* }" ]]; then
                        raw "$BA" --op del --dev tun0 --count "$n" --table 200 >/dev/null
                        BENCH_WRAP="perf record -q -e cpu-clock -F 2000 -o $T/perf-cold.data --" \
                                bench_agent_start "$BA" "$T/bulk.conf"
                        agent_stop
                        profile_add "Cold start with $n routes to copy (vpnpolicyd, from exec to READY and a little after)" \
                                "$T/perf-cold.data"
                fi
                raw "$BA" --op del --dev tun0 --count "$n" --table 254 >/dev/null
                raw "$BA" --op del --dev tun0 --count "$n" --table 200 >/dev/null

                stats "$T/bulk-raw-$n"
                local rawmed=$S_MED f label rate
                for f in cold burst raw ip; do
                        case $f in
                        cold) label="vpnpolicyd, cold start to READY" ;;
                        burst) label="vpnpolicyd, burst at run time" ;;
                        raw) label="raw-batch to table 200" ;;
                        ip) label="\`ip -batch\` to table 200" ;;
                        esac
                        stats "$T/bulk-$f-$n"
                        rate=$(awk -v n="$n" -v ms="$S_MED" 'BEGIN { printf "%.0f", (ms > 0) ? n / ms * 1000 : 0 }')
                        figure "bulk_${n}_${f}_ms" "$S_MED" ms
                        figure "bulk_${n}_${f}_routes_per_s" "$rate" routes/s
                        row "| $n | $label | $(fmt "$S_MIN" 0) | $(fmt "$S_MED" 0) | $(fmt "$S_MAX" 0) | $rate |" \
                           "$(ratio "$rawmed" "$S_MED") |"
                        eval "BULK_${f}_${n}=$S_MED"
                done
                stats "$T/bulk-burst-$n" 2
                md "| $n | (the burst's generator alone: raw-batch to the main table, while the agent copies) | $(fmt "$S_MIN" 0) | $(fmt "$S_MED" 0) | $(fmt "$S_MAX" 0) | | |"
                eval "ov=\$BULK_OVERRUNS_$n"
                figure "bulk_${n}_burst_overruns" "$ov" overruns
        done
        local t
        md "" "Target: ≥ 80 % of the raw sender's rate (the \"vs raw-batch\" column is ours ÷ raw in routes/s)."
        for n in $BULK; do
                eval "ov=\$BULK_OVERRUNS_$n"
                md "With $n routes the agent's event socket overran $ov times over the $REPS bursts (each overrun: a full resync)."
        done
        [[ -z ${STATUS_FAIL_N:-} ]] ||
                md "" "\`vpnpolicyctl status --json\` failed with $STATUS_FAIL_N routes: \"$(sed 's/^.*: //' "$T/status-$STATUS_FAIL_N.err" | tail -n 1)\"."
        for n in $BULK; do
                for f in cold burst; do
                        eval "ms=\$BULK_${f}_$n raw_ms=\$BULK_raw_$n"
                        # shellcheck disable=SC2154
                        t=$(met le "$ms" "$(awk -v r="$raw_ms" 'BEGIN { print r / 0.8 }')")
                        target bulk "Bulk $n routes, $f: ≥ 80 % of raw-batch" "$t ($(awk -v a="$raw_ms" -v b="$ms" 'BEGIN { printf "%.0f %%", 100 * a / b }'))"
                done
        done
        md ""
}

# ---------------------------------------------------------------------------------------------------------
# 4. devices

devices_batch() {
        local i
        for ((i = 0; i < TUNS; i++)); do
                echo "tuntap add dev tun$i mode tun"
                echo "link set tun$i up group 9"
                echo "addr add 100.64.$((i / 64)).$((i % 64 * 4 + 1))/30 dev tun$i"
        done >"$1"
}

# dev_run NS WHO: one burst of TUNS devices in NS (the agent or the floor listening there); appends the
# time to all tun routes to $T/dev-WHO and the number missing to $T/dev-WHO-lost, then deletes them.
dev_run() {
        local ns=$1 who=$2 line el gen ovr c
        line=$(ip netns exec "$ns" "$BENCH_LATENCY" count --table 200 --match 100.64.0.0/16 \
                --expect "$TUNS" --timeout-ms 60000 -- /usr/sbin/ip -batch "$T/devices.batch") || true
        read -r el gen ovr <<<"$line"
        sleep 1         # anything late or lost shows up now
        c=$(count_copies "$ns" 100.64.0.0/16)
        if [[ $el == timeout ]]; then
                info "devices ($who): not all tun routes within 60 s: $c of $TUNS"
        else
                info "devices ($who): all $TUNS tun routes after $((el / 1000)) ms (ip -batch done after $((gen / 1000)) ms); a second later $c"
                echo "$((el / 1000)) $((gen / 1000))" >>"$T/dev-$who"
        fi
        echo "$((TUNS - c))" >>"$T/dev-$who-lost"
        ip -n "$ns" link del group 9
        wait_copies "$ns" 100.64.0.0/16 0 30000 || info "devices ($who): routes left after deleting the devices"
}

bench_devices() {
        local rep who ns t0 t1
        section "4. devices: $TUNS tun devices in a burst, $REPS repetitions"
        devices_batch "$T/devices.batch"
        bench_ns DA
        bench_conf "$T/dev.conf"
        bench_agent_start "$DA" "$T/dev.conf"
        bench_ns DF
        floor_start "$DF"
        local dfpid=$FLOOR_PID
        bench_ns DG
        for who in ours floor gen ours-routes floor-routes; do : >"$T/dev-$who"; : >"$T/dev-$who-lost"; done
        for ((rep = 0; rep < REPS; rep++)); do
                dev_run "$DA" ours
                dev_run "$DF" floor
                # the generator alone: how fast the devices can appear at all
                t0=$(now_us)
                ip -n "$DG" -batch "$T/devices.batch"
                t1=$(now_us)
                echo "$(((t1 - t0) / 1000)) $(((t1 - t0) / 1000))" >>"$T/dev-gen"
                echo 0 >>"$T/dev-gen-lost"
                ip -n "$DG" link del group 9
        done
        info "agent counters: $(agent_counters "$DA")"

        # Once more with 10,000 mirrored routes in place (via tunr, which stays): the cost of a new device
        # must not grow with the routes the box holds.
        tun_add "$DA" tunr
        tun_add "$DF" tunr
        # a pool address makes it ours (a tunnel without one is not the agent's to copy routes from)
        ip -n "$DA" addr add 100.127.0.1/30 dev tunr
        ip -n "$DF" addr add 100.127.0.1/30 dev tunr
        raw "$DA" --op add --dev tunr --count 10000 --table 254 >/dev/null
        raw "$DF" --op add --dev tunr --count 10000 --table 254 >/dev/null
        wait_copies "$DA" 172.16.0.0/12 10000 30000 || die "devices: the agent did not copy 10,000 routes"
        wait_copies "$DF" 172.16.0.0/12 10000 30000 || die "devices: the floor did not copy 10,000 routes"
        dev_run "$DA" ours-routes
        dev_run "$DF" floor-routes
        if [[ -n $PERF_OK ]]; then
                # untimed: 200 devices, sampled
                head -n 600 "$T/devices.batch" >"$T/devices-200.batch"
                perf_attach "$AGENT_PID" "$T/perf-devices.data"
                ip -n "$DA" -batch "$T/devices-200.batch"
                wait_copies "$DA" 100.64.0.0/16 200 60000 || true
                perf_detach
                ip -n "$DA" link del group 9
                profile_add "200 tun devices appearing while 10,000 mirrored routes are in place (vpnpolicyd)" \
                        "$T/perf-devices.data"
        fi
        floor_stop "$dfpid"
        agent_stop

        md "## 4. Scale of devices" ""
        md "$TUNS tun devices created, set up and given an address each by one \`ip -batch\` (3 requests per" \
           "device, as OpenVPN's \`--dev tunN\` instances would); time from its start until all $TUNS tun routes" \
           "are in table 200 (\`bench-latency count\`), and how many are missing a second after that (or after" \
           "60 s). $REPS repetitions; the devices are deleted in between. Then once more (1 run each) with 10,000" \
           "mirrored routes already in place on another tun." ""
        md "| program | routes in place | min ms | median ms | max ms | ip -batch done (median ms) | missing (worst run) | vs floor |" \
           "|---|---:|---:|---:|---:|---:|---:|---:|"
        local fmed lost label routes gmed
        for who in ours floor gen ours-routes floor-routes; do
                case $who in
                ours | ours-routes) label=vpnpolicyd ;;
                floor | floor-routes) label=floor-listener ;;
                gen) label="\`ip -batch\` alone, nothing listening" ;;
                esac
                [[ $who == *-routes ]] && routes=10000 || routes=0
                if [[ $who == floor* ]]; then
                        stats "$T/dev-$who"
                        eval "DEV_FLOOR_$routes=$S_MED"
                fi
        done
        for who in ours floor gen ours-routes floor-routes; do
                case $who in
                ours | ours-routes) label=vpnpolicyd ;;
                floor | floor-routes) label=floor-listener ;;
                gen) label="\`ip -batch\` alone, nothing listening" ;;
                esac
                [[ $who == *-routes ]] && routes=10000 || routes=0
                eval "fmed=\$DEV_FLOOR_$routes"
                stats "$T/dev-$who" 2
                gmed=$S_MED
                stats "$T/dev-$who"
                lost=$(sort -n "$T/dev-$who-lost" | tail -n 1)
                figure "devices_${who//-/_}_ms" "$S_MED" ms
                figure "devices_${who//-/_}_missing" "${lost:-0}" routes
                row "| $label | $routes | $(fmt "$S_MIN" 0) | $(fmt "$S_MED" 0) | $(fmt "$S_MAX" 0) | $(fmt "$gmed" 0) |" \
                    "${lost:-0} | $(ratio "$S_MED" "$fmed")× |"
                eval "DEV_${who//-/_}_LOST=${lost:-0} DEV_${who//-/_}_MED=$S_MED"
        done
        local t
        t=$(met test "$DEV_ours_LOST" = 0 -a "$DEV_ours_routes_LOST" = 0)
        md "" "Target: none missing: $t." ""
        target devices "Devices: $TUNS tuns in a burst, no tun route missing" "$t"
        # a finding, not a target: the cost of a device growing with the routes in place
        if awk -v a="$DEV_ours_routes_MED" -v b="$DEV_FLOOR_10000" 'BEGIN { exit !(a > 3 * b) }'; then
                cause devices-scale
        fi
}

# ---------------------------------------------------------------------------------------------------------
# 5. idle, 6. restart (same namespace: 100 tuns, 10,000 routes)

IDLE_READY=
idle_setup() {
        local i
        bench_ns IA
        for ((i = 0; i < 100; i++)); do
                echo "tuntap add dev tun$i mode tun"
                echo "link set tun$i up"
                echo "addr add 100.64.$((i / 64)).$((i % 64 * 4 + 1))/30 dev tun$i"
        done >"$T/idle.batch"
        ip -n "$IA" -batch "$T/idle.batch"
        raw "$IA" --op add --dev tun --devs 100 --count 10000 --table 254 >/dev/null
        bench_conf "$T/idle.conf"
        bench_agent_start "$IA" "$T/idle.conf"
        wait_copies "$IA" 172.16.0.0/12 10000 30000 || die "idle: the 10,000 copies are not there"
        IDLE_READY=1
}

bench_idle() {
        section "5. idle: $IDLE_S s with 100 tuns and 10,000 routes"
        [[ -n $IDLE_READY ]] || idle_setup
        bench_ns IF
        ip -n "$IF" -batch "$T/idle.batch"
        floor_start "$IF"
        raw "$IF" --op add --dev tun --devs 100 --count 10000 --table 254 >/dev/null
        wait_copies "$IF" 172.16.0.0/12 10000 30000 || die "idle: the floor did not copy the routes"
        sleep 1
        local pid=$AGENT_PID fpid=$FLOOR_PID hz v0 n0 c0 fv0 fn0 fc0 v1 n1 c1 fv1 fn1 fc1 t0 t1 secs
        hz=$(getconf CLK_TCK)
        t0=$(now_us)
        v0=$(proc_field "$pid" voluntary_ctxt_switches); n0=$(proc_field "$pid" nonvoluntary_ctxt_switches)
        c0=$(proc_cpu_ticks "$pid")
        fv0=$(proc_field "$fpid" voluntary_ctxt_switches); fn0=$(proc_field "$fpid" nonvoluntary_ctxt_switches)
        fc0=$(proc_cpu_ticks "$fpid")
        # Instructions too where the machine has hardware counters (this one's perf says "not supported").
        local insns=
        if perf stat -x, -e instructions true 2>&1 | grep_q '^[0-9]*,,instructions'; then
                perf stat -x, -e instructions -p "$pid" -o "$T/idle-perf" -- sleep "$IDLE_S" >/dev/null 2>&1 || sleep "$IDLE_S"
                insns=$(awk -F, '$3 == "instructions" { print $1 }' "$T/idle-perf" 2>/dev/null)
        else
                sleep "$IDLE_S"
        fi
        v1=$(proc_field "$pid" voluntary_ctxt_switches); n1=$(proc_field "$pid" nonvoluntary_ctxt_switches)
        c1=$(proc_cpu_ticks "$pid")
        fv1=$(proc_field "$fpid" voluntary_ctxt_switches); fn1=$(proc_field "$fpid" nonvoluntary_ctxt_switches)
        fc1=$(proc_cpu_ticks "$fpid")
        t1=$(now_us)
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')
        local wake fwake cpu fcpu rss frss
        wake=$(awk -v d=$((v1 - v0 + n1 - n0)) -v s="$secs" 'BEGIN { printf "%.2f", d / s }')
        fwake=$(awk -v d=$((fv1 - fv0 + fn1 - fn0)) -v s="$secs" 'BEGIN { printf "%.2f", d / s }')
        cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.0f", d * 1000 / hz }')
        fcpu=$(awk -v d=$((fc1 - fc0)) -v hz="$hz" 'BEGIN { printf "%.0f", d * 1000 / hz }')
        rss=$(proc_field "$pid" VmRSS)
        frss=$(proc_field "$fpid" VmRSS)
        local rssa frssa
        rssa=$(proc_field "$pid" RssAnon)
        frssa=$(proc_field "$fpid" RssAnon)
        floor_stop "$fpid"
        figure idle_wakeups_per_s "$wake" 1/s
        figure idle_cpu_ms "$cpu" ms
        figure idle_rss_kib "$rss" KiB
        figure idle_floor_wakeups_per_s "$fwake" 1/s
        [[ -z $insns ]] || figure idle_instructions "$insns" instructions

        md "## 5. Idle cost" ""
        md "$(fmt "$secs" 1) s with nothing happening, 100 tun devices (an address each) and 10,000 mirrored" \
           "routes, no systemd (so no watchdog). Wakeups: voluntary + involuntary context switches from" \
           "\`/proc/PID/status\`; CPU: utime + stime from" \
           "\`/proc/PID/stat\`. Baseline: floor-listener holding the same copies in a namespace of its own, over" \
           "the same seconds." ""
        md "| program | wakeups/s | CPU ms in $(fmt "$secs" 0) s | VmRSS KiB | of which RssAnon KiB |" "|---|---:|---:|---:|---:|"
        md "| vpnpolicyd | $wake | $cpu | $rss | $rssa |" "| floor-listener | $fwake | $fcpu | $frss | $frssa |"
        local tw tr
        # The periodic verification (default every 60 s) is the one wakeup left: about 0.02 a second.
        tw=$(met le "$wake" 0.05)
        tr=$(met test "$rss" -lt 8192)
        if [[ -n $insns ]]; then
                md "" "Instructions retired by vpnpolicyd over the idle period (perf stat): $insns."
        else
                md "" "\`perf stat -e instructions\` is not supported here (no hardware counters), so no instruction count."
        fi
        md "" "Targets: near 0 wakeups/s besides the watchdog (the verification once a minute: ≤ 0.05/s): $tw; RSS < 8 MiB at this size: $tr." ""
        target idle "Idle: ≤ 0.05 wakeups/s (the verification once a minute)" "$tw"
        target rss "Idle: RSS < 8 MiB with 100 tuns, 10,000 routes" "$tr ($rss KiB)"
        if [[ -n ${RSS_0:-} ]]; then
                md "Memory by routes held (VmRSS after READY of a fresh agent, one tun):" ""
                md "| mirrored routes | VmRSS KiB | RssAnon KiB | bytes per route over none |" "|---:|---:|---:|---:|"
                md "| 0 | $RSS_0 | $RSSA_0 | |"
                local n v
                for n in $BULK; do
                        eval "v=\${RSS_$n:-} va=\${RSSA_$n:-}"
                        [[ -n $v ]] || continue
                        md "| $n | $v | $va | $(awk -v a="$v" -v b="$RSS_0" -v n="$n" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }') |"
                        figure "rss_${n}_routes_kib" "$v" KiB
                        figure "rss_bytes_per_route_$n" "$(awk -v a="$v" -v b="$RSS_0" -v n="$n" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')" B
                done
                figure rss_0_routes_kib "$RSS_0" KiB
                md ""
        fi
}

bench_restart() {
        local rep c
        section "6. restart with 100 tuns and 10,000 routes in place, $((REPS + 2)) restarts"
        [[ -n $IDLE_READY ]] || idle_setup
        : >"$T/restart"
        : >"$T/restart-changes"
        for ((rep = 0; rep < REPS + 2; rep++)); do
                agent_stop
                monitor_start "$IA" "$T/restart-$rep.mon"
                bench_agent_start "$IA" "$T/idle.conf"
                monitor_stop
                c=$(grep -cv '^\s*$' "$T/restart-$rep.mon" || true)
                echo "$((BENCH_READY_US / 1000)).$(printf '%03d' $((BENCH_READY_US % 1000)))" >>"$T/restart"
                echo "$c" >>"$T/restart-changes"
                ((c == 0)) || { info "restart $rep: $c rule/route changes:"; head -n 5 "$T/restart-$rep.mon"; }
        done
        ip netns exec "$IA" "$BENCH_LATENCY" dump --count 5 >"$T/restart-dump"
        agent_stop
        if [[ -n $PERF_OK ]]; then
                # untimed: one more start, sampled
                BENCH_WRAP="perf record -q -e cpu-clock -F 4000 -o $T/perf-restart.data --" bench_agent_start "$IA" "$T/idle.conf"
                agent_stop
                profile_add "Restart with 100 tuns and 10,000 routes in place (vpnpolicyd, exec to READY)" "$T/perf-restart.data"
        fi

        stats "$T/restart"
        local rmin=$S_MIN rmed=$S_MED rmax=$S_MAX changes
        changes=$(sort -n "$T/restart-changes" | tail -n 1)
        awk '{ print $1 / 1000 }' "$T/restart-dump" >"$T/restart-dump-ms"
        stats "$T/restart-dump-ms"
        figure restart_ready_ms "$rmed" ms
        figure restart_changes_sent "$changes" changes
        figure restart_dump_ms "$S_MED" ms
        md "## 6. Restart" ""
        md "Time from the daemon's exec to READY=1 with 100 tun devices and 10,000 mirrored routes (and their" \
           "copies) already in place: it dumps, adopts, and must send nothing (checked with \`ip monitor rule" \
           "route\` over the whole start). $((REPS + 2)) restarts. Baseline: one full dump of the same state with" \
           "libmnl (links, v4/v6 addresses, rules and routes, what the daemon reads at start)." ""
        md "| program | n | min ms | median ms | max ms | rule/route changes seen |" "|---|---:|---:|---:|---:|---:|"
        md "| vpnpolicyd start to READY | $((REPS + 2)) | $(fmt "$rmin") | $(fmt "$rmed") | $(fmt "$rmax") | $changes (worst) |"
        md "| full dump (bench-latency dump) | $S_N | $(fmt "$S_MIN") | $(fmt "$S_MED") | $(fmt "$S_MAX") | |"
        local t
        t=$(met le "$rmed" 200)
        md "" "Target: < 200 ms and nothing sent: $t; changes: $([[ $changes == 0 ]] && echo none || echo "**$changes**")." ""
        target restart "Restart with 100 tuns, 10,000 routes: READY < 200 ms" "$t ($(fmt "$rmed") ms)"
        target restart-sent "Restart: nothing sent" "$([[ $changes == 0 ]] && echo met || echo "**missed** ($changes)")"
}

# ---------------------------------------------------------------------------------------------------------
# 8. verification: the periodic re-read of our tables and rules (anti-entropy), at scale

# verify_duration NS: the last verification's duration in microseconds, once there is one
verify_duration() {
        ctl "$1" status --json 2>/dev/null | jq -e '.verification.duration_usec // empty' 2>/dev/null
}
_verified() { [[ -n $(verify_duration "$1") ]]; }

bench_verify() {
        local n d pid c0 c1 hz secs
        section "8. verification: the cost of re-reading our tables and rules, $BULK routes"
        md "## 8. Verification (anti-entropy)" ""
        md "The agent re-reads its own objects from the kernel at a bounded rate (\`--verify-interval\`, default" \
           "60 s, never more often than 100 times the last verification's duration: at most 1 % of the time): a" \
           "filtered dump of each policy table and of the rules, a sweep of what it believed held and the dump did" \
           "not show. One tun, N mirrored routes; the agent started with \`--verify-interval 1\`; the" \
           "duration as the agent measured it (status \`verification.duration_usec\`), and the agent's CPU over" \
           "20 s of verifications at the fastest rate it allows." ""
        md "| mirrored routes | one verification ms | interval it allows s | CPU share at that rate | CPU share at the default 60 s |" \
           "|---:|---:|---:|---:|---:|"
        hz=$(getconf CLK_TCK)
        for n in $BULK; do
                bench_ns VA
                tun_add "$VA" tun0
                ip -n "$VA" addr add 10.199.0.1/24 dev tun0
                raw "$VA" --op add --dev tun0 --count "$n" --table 254 >/dev/null
                bench_conf "$T/verify.conf"
                bench_agent_start "$VA" "$T/verify.conf" --verify-interval 1
                wait_until 30000 _verified "$VA" || die "verify $n: no verification reported"
                d=$(verify_duration "$VA")
                pid=$AGENT_PID
                c0=$(proc_cpu_ticks "$pid")
                sleep 20
                c1=$(proc_cpu_ticks "$pid")
                secs=20
                agent_stop
                local ms allowed share share60
                ms=$(awk -v d="$d" 'BEGIN { printf "%.1f", d / 1000 }')
                allowed=$(awk -v d="$d" 'BEGIN { v = d * 100 / 1e6; printf "%.1f", v < 1 ? 1 : v }')
                share=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.2f %%", (b - a) / hz / s * 100 }')
                share60=$(awk -v d="$d" 'BEGIN { printf "%.3f %%", d / 1e6 / 60 * 100 }')
                figure "verify_${n}_ms" "$ms" ms
                figure "verify_${n}_cpu_share_fastest" "${share% %}" %
                md "| $n | $ms | $allowed | $share | $share60 |"
        done
        md ""
}

# ---------------------------------------------------------------------------------------------------------
# 7. callgrind (its own script, its figures appended here)

bench_callgrind() {
        section "7. callgrind: instructions per event"
        if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
                md "## 7. Instructions per event" "" "valgrind is not installed: skipped." ""
                return 0
        fi
        local out=$T/callgrind.out
        BENCH_NO_BUILD=1 BUILD=$BUILD BENCH_CG_REPORT=$T/callgrind.md "$HERE/callgrind.sh" | tee "$out" |
                grep -E '^# (figure|vpnpolicyd)' || true
        grep -q '^# figure: callgrind_ir_per_addr_event ' "$out" || die "callgrind.sh gave no figure"
        while read -r _ _ name value unit; do figure "$name" "$value" "$unit" >/dev/null; done \
                < <(grep '^# figure: ' "$out")
        cat "$T/callgrind.md" >>"$REPORT"
        grep -q ' firewall_sync$' "$T/callgrind.md" && cause firewall-pass
        grep -qE ' (log_object|__vfprintf_internal)$' "$T/callgrind.md" && cause logging
        return 0
}

# ---------------------------------------------------------------------------------------------------------
# 8. being scraped (its own script, its figures and section appended here)

bench_metrics() {
        section "8. metrics: scraped every second with 10,000 routes"
        local out=$T/metrics.out
        BUILD=$BUILD BENCH_METRICS_S=$IDLE_S BENCH_METRICS_MD=$T/metrics.md "$HERE/bench-metrics.sh" | tee "$out" |
                grep -E '^# figure' || true
        grep -q '^# figure: metrics_daemon_cpu_extra_percent ' "$out" || die "bench-metrics.sh gave no figure"
        while read -r _ _ name value unit; do figure "$name" "$value" "$unit" >/dev/null; done \
                < <(grep '^# figure: ' "$out")
        cat "$T/metrics.md" >>"$REPORT"
        target metrics "Scraped every second with 10,000 routes: < 1 % of a CPU more" \
                "$(met le "${FIG[metrics_daemon_cpu_extra_percent]}" 1) (${FIG[metrics_daemon_cpu_extra_percent]} %)"
}

# ---------------------------------------------------------------------------------------------------------
# 9. gateway probes: tests/integration/test-gw-cost.sh against this build, its # FIGURE lines as a table

probe_row() { # NAME: "| gateways | CPU µs/s | per gateway | wakeups/s | probe-timer wakeups/s |"
        local l n cpu wake pw
        l=$(grep "^# FIGURE probe-cost $1 " "$T/probes.out") || return 1
        n=$(sed -n 's/.* gateways=\([0-9]*\).*/\1/p' <<<"$l")
        cpu=$(sed -n 's/.* cpu-us-per-s=\([0-9]*\) .*/\1/p' <<<"$l")
        wake=$(sed -n 's/.* wakeups-per-s=\([0-9.]*\) probe.*/\1/p' <<<"$l")
        pw=$(sed -n 's/.* probe-timer-wakeups-per-s=\([0-9.]*\).*/\1/p' <<<"$l")
        figure "probe_${1//-/_}_cpu_us_per_s" "$cpu" us >/dev/null
        figure "probe_${1//-/_}_wakeups_per_s" "$wake" 1/s >/dev/null
        row "| $1 | $n | $cpu | $(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.1f", c / n }') | $wake | $pw |"
}

bench_probes() {
        section "9. gateway probes: 1, 2, 16 gateways at ProbeIntervalSec=1s"
        VPNPOLICYD=$BUILD/agent/daemon/vpnpolicyd VPNPOLICYCTL=$BUILD/agent/ctl/vpnpolicyctl BUILD=$BUILD \
                GW_COST_SECONDS=$((IDLE_S / 4 > 5 ? IDLE_S / 4 : 5)) \
                bash "$SOURCE_ROOT/tests/integration/test-gw-cost.sh" >"$T/probes.out" 2>&1 ||
                die "test-gw-cost.sh failed: $(tail -n 5 "$T/probes.out")"
        md "## 9. Gateway probes" "" \
                "The idle daemon with one policy and N gateways on one LAN, probed by ICMP echo every second" \
                "(\`tests/integration/test-gw-cost.sh\`: CPU from \`/proc/PID/schedstat\`, which includes the" \
                "kernel's whole reply path over the veth inside our \`sendto()\`; wakeups from the context switches)." \
                "The probes of all gateways share one timer, so the wakeups do not grow with the gateways." "" \
                "| configuration | gateways | CPU µs/s | per gateway | wakeups/s | probe-timer wakeups/s |" \
                "|---|---:|---:|---:|---:|---:|"
        local c
        for c in baseline two sixteen sixteen-with-targets; do probe_row "$c" || die "no probe-cost figure for $c"; done
        md ""
        target probes "Probes: one wakeup a second for 16 gateways (≤ 1.3/s)" \
                "$(met awk -v w="${FIG[probe_sixteen_wakeups_per_s]}" 'BEGIN { exit !(w <= 1.3) }') (${FIG[probe_sixteen_wakeups_per_s]}/s)"
}

# ---------------------------------------------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for b in latency hook bulk devices idle restart verify callgrind metrics probes; do
        wanted "$b" && "bench_$b"
done
ELAPSED=$((SECONDS - START_S))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

{
        echo "# vpnpolicyd performance"
        echo
        echo "Written by \`tests/bench/run.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'), ${ELAPSED} s). Do not edit by hand:"
        echo "run \`sudo tests/bench/run.sh\` again (it builds \`build-bench\` with \`-Dbuildtype=release\`)."
        echo
        echo "| machine | |"
        echo "|---|---|"
        echo "| CPUs (nproc) | $(nproc) |"
        echo "| CPU | $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) |"
        echo "| kernel | $(uname -r) |"
        echo "| load average (1, 5, 15 min) at start, at end | $LOAD_START; $LOAD_END |"
        echo "| commit | $(git -C "$SOURCE_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SOURCE_ROOT" diff --quiet HEAD -- agent hooks 2>/dev/null || echo ' (agent/ or hooks/ modified)') |"
        echo "| command | \`sudo tests/bench/run.sh\`$([[ -n $QUICK ]] && echo " (BENCH_QUICK=1)") |"
        echo
        echo "All benchmarks run in network namespaces of their own (veth, tun; this kernel has no \`dummy\`),"
        echo "with the seed-003 configuration (two pools, the gateway on \`eth1\`, defaults otherwise: \`Match=tun*\`,"
        echo "\`MirrorRoutes=yes\`, \`FailClosed=yes\`, \`[Firewall] Manage=yes\`), the daemon at its default log level"
        echo "(info) writing to a file. Figures are min / median / max (and p99 where asked) of repeated runs;"
        echo "each baseline ran in the same invocation. Every figure is also printed as \`# figure: NAME VALUE UNIT\`."
        echo
        echo "## Summary"
        echo
        echo "| target | result |"
        echo "|---|---|"
        for t in "${TARGETS[@]}"; do echo "| ${t%%|*} | ${t#*|} |"; done
        echo
        if ((${#CAUSE[@]})); then
                echo "## Why targets are missed, and other findings"
                echo
                echo "From the profiles at the end and callgrind (section 7); the analysis text is kept in"
                echo "\`tests/bench/analysis.md\` and included for every target missed (or finding seen) in this run."
                echo
                for k in bulk rss restart restart-sent latency hook devices idle devices-scale firewall-pass logging status-size; do
                        [[ -n ${CAUSE[$k]:-} ]] || continue
                        awk -v k="$k" '/^<!-- cause: / { on = ($3 == k); next } on' "$HERE/analysis.md"
                done
        fi
        cat "$REPORT"
        if [[ -s $PROFILES ]]; then
                echo "## Profiles"
                echo
                echo "\`perf record -e cpu-clock\` of the daemon (release build), self time by symbol, in untimed extra runs."
                echo
                cat "$PROFILES"
        fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
echo "# report written to $OUT ($ELAPSED s)"
printf '%s\n' "${TARGETS[@]}" | sed 's/^/# target: /'
_vpt_pass "benchmarks ran"
finish
