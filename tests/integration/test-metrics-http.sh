#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The HTTP endpoint (vpnpolicy-metricsd, issue 15), run as its socket unit runs it: the listening socket
# handed over by systemd's own systemd-socket-activate, in a namespace of the test, on its loopback. It
# serves GET and HEAD /metrics (the agent's metrics, or vpnpolicy_up 0 while the agent is down), and
# refuses what it should while it keeps serving: other paths (404), other methods (405), a GET with a
# body (413), oversized headers and URLs (431/414), a sender too slow to finish its request (cut after
# its 10 s deadline) and an idle connection (closed after 10 s), a flood of connections beyond the limit;
# a normal scrape meanwhile is answered at once.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

METRICSD=${METRICSD:-$BUILD/agent/ctl/vpnpolicy-metricsd}
[[ -x $METRICSD ]] || die "no vpnpolicy-metricsd at $METRICSD"
for tool in systemd-socket-activate curl promtool; do
        command -v "$tool" >/dev/null || skip_test "$tool is missing (tests/run.sh installs it)"
done
PORT=9767
URL=http://127.0.0.1:$PORT

seed003_uplink NS GW
seed003_config "$T/vpnpolicy.conf"
agent_start "$NS" "$T/vpnpolicy.conf"
ns_exec "$NS" systemd-socket-activate -l "127.0.0.1:$PORT" -- "$METRICSD" --runtime-dir "$T/run-$NS" \
        </dev/null >"$T/metricsd.log" 2>&1 &
SERVER=$!
register_pid "$SERVER"
listening() { ns_exec "$NS" ss -Hltn "sport = :$PORT" | grep_q LISTEN; }
check "the socket listens" wait_until 3000 listening

# http ARGS...: curl in the namespace; prints "STATUS CONTENT-TYPE", the body in $T/body
http() { ns_exec "$NS" curl -s --max-time 5 -o "$T/body" -w '%{http_code} %{content_type}' "$@" || true; }
status_of() { local s; s=$(http "$@"); echo "${s%% *}"; }
served() { [[ $(status_of "$URL/metrics") == 200 ]]; }

info "what it serves"
t0=$(now_us)
assert_eq "GET /metrics: 200, the exposition format's content type" \
        "200 text/plain; version=0.0.4; charset=utf-8" "$(http "$URL/metrics")"
info "first scrape (the service starts on it) took $((($(now_us) - t0) / 1000)) ms"
check "GET /metrics: promtool accepts the body" promtool check metrics <"$T/body"
check "GET /metrics: vpnpolicy_up 1" grep -qx 'vpnpolicy_up 1' "$T/body"
check "GET /metrics: the agent's objects" grep -q '^vpnpolicy_objects_present{policy="vpn",role="source-rule",family="ipv4"} 1$' "$T/body"
assert_eq "HEAD /metrics: 200" 200 "$(status_of -I "$URL/metrics")"
raw_head() {
        ns_exec "$NS" bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PORT"' && printf "HEAD /metrics HTTP/1.0\r\n\r\n" >&3 &&
                timeout 5 cat <&3' >"$T/head.txt"
}
raw_head
check "HEAD /metrics: headers only, no body" bash -c "grep -q '^HTTP/1.[01] 200' '$T/head.txt' && ! grep -q 'vpnpolicy_up' '$T/head.txt'"
assert_eq "GET /metrics?x=1 (a query is no other path): 200" 200 "$(status_of "$URL/metrics?x=1")"

info "what it refuses"
for path in / /metrics/ /metricsx /Metrics /metrics/../etc/passwd /status; do
        assert_eq "GET $path: 404" 404 "$(status_of --path-as-is "$URL$path")"
done
for m in POST PUT DELETE PATCH OPTIONS; do
        assert_eq "$m /metrics: 405" 405 "$(status_of -X "$m" "$URL/metrics")"
done
check "405 says what is allowed" grep -qi '^allow: GET, HEAD' <(ns_exec "$NS" curl -s -i -X POST "$URL/metrics")
assert_eq "POST with a 1 MiB body: 405 (not read)" 405 \
        "$(head -c 1048576 /dev/zero | status_of -X POST --data-binary @- "$URL/metrics")"
assert_eq "GET with a body: 413" 413 "$(status_of -X GET --data-binary hello "$URL/metrics")"
big=$(head -c 20000 /dev/zero | tr '\0' a)
assert_eq "GET with a 20 kB header: 431" 431 "$(status_of -H "X-Big: $big" "$URL/metrics")"
s=$(status_of "$URL/metrics?$big")
check "GET with a 20 kB URL: 414 or 431 ($s)" test "$s" = 414 -o "$s" = 431
assert_eq "then still serving: 200" 200 "$(status_of "$URL/metrics")"

info "slow and idle connections, while scrapes go on"
# slow_sender OUT: sends a request header line every second and never finishes; writes the seconds until
# the server cut it into OUT ("never" after 30 s).
slow_sender() {
        ns_exec "$NS" bash -c '
                exec 3<>/dev/tcp/127.0.0.1/'"$PORT"' || exit 1
                t0=$SECONDS
                printf "GET /metrics HTTP/1.1\r\nHost: x\r\n" >&3
                while ((SECONDS - t0 < 30)); do
                        sleep 1
                        printf "X-Slow: %d\r\n" $SECONDS >&3 2>/dev/null || { echo $((SECONDS - t0)); exit; }
                        read -r -t 0.01 -u 3 line; rc=$?
                        ((rc == 1)) && { echo $((SECONDS - t0)); exit; }
                done
                echo never' >"$1" 2>/dev/null
}
# idle OUT: connects and sends nothing; the seconds until the server closed it.
idle() {
        ns_exec "$NS" bash -c '
                exec 3<>/dev/tcp/127.0.0.1/'"$PORT"' || exit 1
                t0=$SECONDS
                while ((SECONDS - t0 < 30)); do
                        read -r -t 1 -u 3 line; rc=$?
                        ((rc == 1)) && { echo $((SECONDS - t0)); exit; }
                done
                echo never' >"$1" 2>/dev/null
}
slow_sender "$T/slow" &
slow_pid=$!
idle "$T/idle" &
idle_pid=$!
sleep 2
served=0
for i in 1 2 3; do
        t0=$(now_us)
        [[ $(status_of "$URL/metrics") == 200 ]] && served=$((served + 1))
        info "scrape during the slow connection: $((($(now_us) - t0) / 1000)) ms"
        sleep 1
done
assert_eq "3 scrapes served while a slow and an idle connection are open" 3 "$served"
wait "$slow_pid" "$idle_pid" || true
slow=$(cat "$T/slow")
idle_s=$(cat "$T/idle")
check "the slow sender was cut at its 10 s deadline (after $slow s)" test "$slow" != never -a "$slow" -ge 9 -a "$slow" -le 13
check "the idle connection was closed after 10 s (after $idle_s s)" test "$idle_s" != never -a "$idle_s" -ge 9 -a "$idle_s" -le 13

info "a flood of 64 connections, beyond the limit (32)"
ns_exec "$NS" bash -c '
        for i in $(seq 1 64); do exec {fd}<>/dev/tcp/127.0.0.1/'"$PORT"' || true; done
        sleep 3' &
flood=$!
sleep 1
s=$(status_of "$URL/metrics")
info "a scrape during the flood: $s (refused or served; the server must not fall over)"
wait "$flood" || true
check "after the flood: served again within 3 s" wait_until 3000 served
check "the server is still the same process" _vpt_alive "$SERVER"

info "the agent down, then back"
agent_stop
sleep 0.6       # the server shares one answer of the agent for 0.5 s
assert_eq "agent down: still 200" 200 "$(status_of "$URL/metrics")"
assert_eq "agent down: vpnpolicy_up 0 and nothing else" "vpnpolicy_up 0" "$(grep -v '^#' "$T/body")"
check "agent down: promtool accepts it" promtool check metrics <"$T/body"
agent_start "$NS" "$T/vpnpolicy.conf"
up_again() { [[ $(status_of "$URL/metrics") == 200 ]] && grep -qx 'vpnpolicy_up 1' "$T/body"; }
check "agent back: vpnpolicy_up 1 again" wait_until 3000 up_again
check "the log says when the agent went and came back" \
        bash -c "grep -q 'Cannot reach vpnpolicyd' '$T/metricsd.log' && grep -c 'vpnpolicyd answers' '$T/metricsd.log' | grep_q -x 2"
check "the server is still the same process at the end" _vpt_alive "$SERVER"

info "without a socket from systemd it refuses to start, saying why"
rc=0
"$METRICSD" --runtime-dir "$T/run-$NS" >"$T/nosock.log" 2>&1 || rc=$?
check "no socket: exit 1" test "$rc" = 1
check "no socket: says so" grep -q 'Expected one listening socket from systemd' "$T/nosock.log"
rc=0
"$METRICSD" --bogus >/dev/null 2>&1 || rc=$?
check "bad option: exit 2" test "$rc" = 2
finish
