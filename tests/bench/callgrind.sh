#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/bench/callgrind.sh: instructions the daemon executes per event, counted by valgrind's callgrind
# (Ir): a figure that does not move with the machine's noise, so a regression shows even on a busy CI box.
#
#   sudo tests/bench/callgrind.sh        # builds build-bench unless BENCH_NO_BUILD=1
#
# In a namespace of its own, vpnpolicyd runs under callgrind with one tun (an anchor address, the
# seed-003 configuration). After READY the counters are zeroed; then bench-latency drives
# BENCH_CG_EVENTS (default 1000) events one at a time and the counters are dumped:
#   addr:  an IPv4 address added to tun0, its copy awaited, the address removed, the copy's removal awaited
#   route: the same with a main-table route via tun0
# Prints "# figure: callgrind_ir_per_addr_event N Ir" (and _route_), the functions with the most
# inclusive cost, and with BENCH_CG_REPORT=FILE writes a markdown section there (for run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-build-bench}
[[ $BUILD == /* ]] || BUILD=$SOURCE_ROOT/$BUILD
TEST_NAME=callgrind
if ((EUID == 0)) && [[ -z ${BENCH_NO_BUILD:-} ]]; then
        [[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" "$SOURCE_ROOT" -Dbuildtype=release >/dev/null
        ninja -C "$BUILD" >/dev/null
fi
# shellcheck source=../lib/common.sh
source "$SOURCE_ROOT/tests/lib/common.sh"
BENCH_FIGURES=$T/figures
# shellcheck source=lib.sh
source "$HERE/lib.sh"

for tool in valgrind callgrind_control callgrind_annotate; do
        command -v "$tool" >/dev/null || skip_test "$tool is not installed (valgrind)"
done

EVENTS=${BENCH_CG_EVENTS:-1000}
REPORT_FILE=${BENCH_CG_REPORT:-}
AGENT_TIMEOUT_MS=120000

bench_ns CN
tun_add "$CN" tun0
ip -n "$CN" addr add 10.199.0.1/24 dev tun0
bench_conf "$T/cg.conf"
BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=$T/cg.out --dump-instr=no --vgdb=yes"
bench_agent_start "$CN" "$T/cg.conf"
PID=$AGENT_PID
info "vpnpolicyd under callgrind ready after $((BENCH_READY_US / 1000)) ms (pid $PID)"

# cg_total FILE: the total Ir of a callgrind dump
cg_total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# cg_dumps: how many dumps callgrind wrote so far (cg.out.1, cg.out.2, ...)
cg_dumps() {
        local n=0
        while [[ -e $T/cg.out.$((n + 1)) ]]; do n=$((n + 1)); done
        echo "$n"
}
# shellcheck disable=SC2317 # run by wait_until
_cg_dumped() { (($(cg_dumps) > $1)); }

callgrind_control -z "$PID" >/dev/null 2>&1
declare -A IR=()
for kind in addr route; do
        ip netns exec "$CN" "$BENCH_LATENCY" "$kind" --dev tun0 --count "$EVENTS" --warmup 0 --gap-us 0 >/dev/null ||
                die "bench-latency $kind failed under callgrind"
        before=$(cg_dumps)
        callgrind_control -d "$kind" "$PID" >/dev/null 2>&1
        wait_until 20000 _cg_dumped "$before" || die "callgrind did not dump"
        f=$T/cg.out.$((before + 1))
        wait_until 5000 grep -q '^totals:' "$f" || die "callgrind's dump $f is incomplete"
        cp "$f" "$T/cg-$kind.out"
        total=$(cg_total "$T/cg-$kind.out")
        IR[$kind]=$((total / EVENTS))
        figure "callgrind_ir_per_${kind}_event" "${IR[$kind]}" Ir
        # below the "Ir file:function" header, without the event loop's scaffolding, 18 lines
        callgrind_annotate --inclusive=yes "$T/cg-$kind.out" 2>/dev/null |
                awk '/file:function/ { on = 1; next }
                     on && NF && !/^-+$/ && !/(below main|libc_start|:main |manager_run|sd_event_(loop|run|dispatch)|PROGRAM TOTALS|0x0)/ {
                        sub(/ \[.*\]$/, ""); sub(/  [^ ]*:/, "  "); if (n++ < 18) print }' \
                >"$T/cg-$kind.top"
        echo "# vpnpolicyd: top inclusive costs, $kind events ($EVENTS):"
        sed 's/^/#   /' "$T/cg-$kind.top"
done
agent_stop

if [[ -n $REPORT_FILE ]]; then
        {
                echo "## 7. Instructions per event (callgrind)"
                echo
                echo "\`tests/bench/callgrind.sh\`: vpnpolicyd under valgrind's callgrind, one tun, counters zeroed after"
                echo "READY, then $EVENTS events one at a time (each: added, copy awaited, removed, copy's removal"
                echo "awaited). Instructions (Ir) of the whole daemon divided by the events: stable on a noisy machine,"
                echo "so a regression of the per-event path shows here first."
                echo
                echo "| event (add + remove) | Ir per event |"
                echo "|---|---:|"
                echo "| IPv4 address on a tun | ${IR[addr]} |"
                echo "| main-table route via a tun | ${IR[route]} |"
                echo
                for kind in addr route; do
                        echo "Most expensive functions, inclusive, $kind events (callgrind_annotate --inclusive=yes):"
                        echo
                        echo '```'
                        cat "$T/cg-$kind.top"
                        echo '```'
                        echo
                done
        } >"$REPORT_FILE"
fi
_vpt_pass "callgrind figures"
finish
