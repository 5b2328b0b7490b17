#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The cost of being scraped (issue 15), for docs/performance.md: vpnpolicyd with 100 tun devices and
# 10,000 mirrored routes, scraped once a second through the HTTP endpoint (vpnpolicy-metricsd, socket
# from systemd-socket-activate) for BENCH_METRICS_S seconds (default 60), against the same daemon left
# alone for as long. Figures: the daemon's CPU (/proc/PID/schedstat) in both phases and the
# difference as a share of one CPU (target < 1 %), vpnpolicy-metricsd's CPU, the scrape latency
# (curl, median and max), the reply size; and for contrast one GetStatus of the same state (size, time).
# Not run by the test suite. As root, from the repository root, after ninja -C build:
#   tests/bench/bench-metrics.sh
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

S=${BENCH_METRICS_S:-60}
METRICSD=${METRICSD:-$BUILD/agent/ctl/vpnpolicy-metricsd}
PORT=9767
[[ -x $METRICSD ]] || die "no vpnpolicy-metricsd at $METRICSD (ninja -C $BUILD)"
raw() { ip netns exec "$1" "$BENCH_RAW" "${@:2}"; }

bench_ns NS
for ((i = 0; i < 100; i++)); do
        echo "tuntap add dev tun$i mode tun"
        echo "link set tun$i up"
        echo "addr add 100.64.$((i / 64)).$((i % 64 * 4 + 1))/30 dev tun$i"
done >"$T/devices.batch"
ip -n "$NS" -batch "$T/devices.batch"
raw "$NS" --op add --dev tun --devs 100 --count 10000 --table 254 >/dev/null
# A tun is ours when it carries a pool address: bench_conf's pool 100.64.0.0/10 holds theirs.
bench_conf "$T/vpnpolicy.conf"
bench_agent_start "$NS" "$T/vpnpolicy.conf"
wait_copies "$NS" 172.16.0.0/12 10000 60000 || die "the 10,000 copies are not there"
pid=$AGENT_PID
ns_exec "$NS" systemd-socket-activate -l "127.0.0.1:$PORT" -- "$METRICSD" --runtime-dir "$T/run-$NS" \
        </dev/null >"$T/metricsd.log" 2>&1 &
register_pid $!
wait_until 3000 bash -c "ip netns exec $NS ss -Hltn 'sport = :$PORT' | grep_q LISTEN" || die "no listener"
ns_exec "$NS" curl -sf -o "$T/first.txt" "http://127.0.0.1:$PORT/metrics" || die "the first scrape failed"
grep -q '^vpnpolicy_objects_present{policy="vpn",role="mirror-route",family="ipv4"} 10000$' "$T/first.txt" ||
        die "the scrape does not show the 10,000 mirrored routes present"
mpid=$(ip netns pids "$NS" | xargs -r ps -o pid=,comm= -p | awk '$2 ~ /^vpnpolicy-metri/ { print $1 }')
[[ -n $mpid ]] || die "vpnpolicy-metricsd is not running"
sleep 2
# CPU time in nanoseconds from the scheduler (/proc/PID/schedstat, first field): exact, where utime and
# stime count 10 ms ticks.
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
cpu_ms() { awk -v d="$1" 'BEGIN { printf "%.2f", d / 1e6 }'; }

info "phase 1: $S s alone"
c0=$(cpu_ns "$pid"); t0=$(now_us)
sleep "$S"
c1=$(cpu_ns "$pid"); t1=$(now_us)
idle_ms=$(cpu_ms $((c1 - c0)))
idle_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')

info "phase 2: $S s scraped once a second"
: >"$T/lat"
mc0=$(cpu_ns "$mpid")
c0=$(cpu_ns "$pid"); t0=$(now_us)
for ((i = 0; i < S; i++)); do
        next=$((t0 + (i + 1) * 1000000))
        ns_exec "$NS" curl -s -o "$T/scrape.txt" -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$PORT/metrics" >>"$T/lat"
        now=$(now_us)
        ((next > now)) && sleep "$(awk -v d=$((next - now)) 'BEGIN { printf "%.3f", d / 1e6 }')"
done
c1=$(cpu_ns "$pid"); t1=$(now_us)
mc1=$(cpu_ns "$mpid")
scraped_ms=$(cpu_ms $((c1 - c0)))
scraped_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')
metricsd_ms=$(cpu_ms $((mc1 - mc0)))
n=$(wc -l <"$T/lat")
stats "$T/lat" 1
lat_med=$(fmt "$(awk -v x="$S_MED" 'BEGIN { print x * 1000 }')" 2)
lat_max=$(fmt "$(awk -v x="$S_MAX" 'BEGIN { print x * 1000 }')" 2)
size=$(awk '{ s = $2 } END { print s }' "$T/lat")

info "for contrast: one GetStatus of the same state"
c0=$(cpu_ns "$pid"); t0=$(now_us)
ctl "$NS" status --json >"$T/status.json" || true
t1=$(now_us); c1=$(cpu_ns "$pid")
status_ms=$(((t1 - t0) / 1000))
status_cpu=$(cpu_ms $((c1 - c0)))
status_size=$(stat -c %s "$T/status.json")

# Each phase as a share of one CPU (ms per s / 10 = %); the extra is their difference.
extra=$(awk -v a="$scraped_ms" -v sa="$scraped_s" -v b="$idle_ms" -v sb="$idle_s" \
        'BEGIN { printf "%.3f", (a / sa - b / sb) / 10 }')
per_scrape=$(awk -v a="$scraped_ms" -v sa="$scraped_s" -v b="$idle_ms" -v sb="$idle_s" -v n="$n" \
        'BEGIN { printf "%.2f", (a - b / sb * sa) / n }')
total=$(awk -v a="$scraped_ms" -v s="$scraped_s" 'BEGIN { printf "%.3f", a / (s * 1000) * 100 }')
figure metrics_daemon_cpu_idle_ms "$idle_ms" "ms in $(fmt "$idle_s" 1) s"
figure metrics_daemon_cpu_scraped_ms "$scraped_ms" "ms in $(fmt "$scraped_s" 1) s ($n scrapes)"
figure metrics_daemon_cpu_per_scrape_ms "$per_scrape" "ms (the extra CPU over the scrapes)"
figure metrics_daemon_cpu_scraped_percent "$total" "% of one CPU while scraped every second"
figure metrics_daemon_cpu_extra_percent "$extra" "% of one CPU more than alone (target < 1 %)"
figure metrics_metricsd_cpu_ms "$metricsd_ms" "ms in the same $(fmt "$scraped_s" 1) s"
figure metrics_scrape_latency_ms "$lat_med" "median (max $lat_max), curl's time_total"
figure metrics_reply_bytes "$size" bytes
figure status_json_bytes "$status_size" "bytes (one GetStatus, $status_ms ms, $status_cpu ms daemon CPU)"
if [[ -n ${BENCH_METRICS_MD:-} ]]; then
        {
                echo "## 8. Being scraped (Prometheus)"
                echo
                echo "\`tests/bench/bench-metrics.sh\`: 100 tun devices and 10,000 mirrored routes; the HTTP endpoint"
                echo "(\`vpnpolicy-metricsd\`, its socket from \`systemd-socket-activate\`) scraped once a second with curl for"
                echo "$(fmt "$scraped_s" 0) s, against the same daemon left alone for $(fmt "$idle_s" 0) s before. CPU: the scheduler's"
                echo "run time (\`/proc/PID/schedstat\`), exact where utime and stime count 10 ms ticks."
                echo
                echo "| | figure |"
                echo "|---|---:|"
                echo "| vpnpolicyd CPU, alone | $idle_ms ms in $(fmt "$idle_s" 1) s |"
                echo "| vpnpolicyd CPU, scraped every second | $scraped_ms ms in $(fmt "$scraped_s" 1) s ($n scrapes): $total % of one CPU |"
                echo "| vpnpolicyd CPU per scrape (the difference) | $per_scrape ms |"
                echo "| vpnpolicyd CPU more than alone | $extra % of one CPU |"
                echo "| vpnpolicy-metricsd CPU over the scrapes | $metricsd_ms ms |"
                echo "| scrape latency (curl time_total) | median $lat_med ms, max $lat_max ms |"
                echo "| reply (exposition text) | $size bytes |"
                echo "| for contrast: one \`status --json\` (GetStatus) of the same state | $status_size bytes, $status_ms ms, $status_cpu ms vpnpolicyd CPU |"
                echo
                echo "Target: < 1 % of one CPU more than alone: $(met le "$extra" 1)."
                echo
        } >"$BENCH_METRICS_MD"
fi
check "the daemon's extra CPU while scraped every second is below 1 % ($extra %)" le "$extra" 1
finish
