#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# Tunnels at scale (issue "tunnels", design: 1,000 tun devices, many mirrored routes): 1,000 tun devices
# with an address each and 10,000 main-table routes via them, all created by `ip -batch` while the agent
# runs, converge to 1,000 tun routes + 10,000 mirrored routes in table 200; a restart adopts them all;
# deleting 500 devices takes exactly their routes away (the kernel removes IPv4 routes silently). Prints
# the convergence times.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

NDEV=${NDEV:-1000}
NROUTES=${NROUTES:-10000}
NDEL=$((NDEV / 2))
CONVERGE_MS=${CONVERGE_MS:-30000}

seed003_uplink --no-forwarding NS GW
seed003_config --pool 10.10.10.0/24 --pool fd00:4242:4242:4242::/64 --pool 100.64.0.0/16 "$T/scale.conf" '[Kernel]' 'Forwarding=enable'
agent_start "$NS" "$T/scale.conf"

# tun i (in the pool 100.64.0.0/16, which makes it ours): 100.64.(i/64).(i%64*4+1)/30, so its tun route is 100.64.(i/64).(i%64*4)/30
for ((i = 0; i < NDEV; i++)); do
        echo "tuntap add dev tun$i mode tun"
        echo "link set tun$i up group $((i < NDEL ? 7 : 0))"
        echo "addr add 100.64.$((i / 64)).$((i % 64 * 4 + 1))/30 dev tun$i"
done >"$T/devices.batch"
# route j: 172.16.(j/256).(j%256)/32 via tun(j % NDEV)
for ((j = 0; j < NROUTES; j++)); do
        echo "route add 172.16.$((j / 256)).$((j % 256))/32 dev tun$((j % NDEV))"
done >"$T/routes.batch"

# counts of our routes in table 200 (defaults left out): total, and those via the deleted devices
count_routes() {
        ip -n "$NS" -j route show table 200 proto 211 | jq '[.[] | select(.dst != "default")] | length'
}
count_deleted_dev_routes() {
        ip -n "$NS" -j route show table 200 proto 211 |
                jq --argjson n "$NDEL" '[.[] | select(.dev != null and (.dev | ltrimstr("tun") | tonumber? // 1e9) < $n)] | length'
}
# polling: one text line per route, cheaper than JSON for 11,000 routes
count_routes_fast() { ip -n "$NS" -4 route show table 200 proto 211 | grep -vc '^\(unreachable \)\?default '; }
_count_is() { [[ $(count_routes_fast) == "$1" && $(count_routes) == "$1" ]]; }

# converge NAME EXPECTED T0_US TB_US: wait for EXPECTED routes, print the time since T0_US (before the
# batch) and since TB_US (the batch done)
converge() {
        local name=$1 exp=$2 t0=$3 tb=$4 ms t1
        if wait_until "$CONVERGE_MS" _count_is "$exp"; then
                t1=$(now_us)
                ms=$(((t1 - t0) / 1000))
                echo "# CONVERGED $name: $exp routes in table 200 after $ms ms ($(((t1 - tb) / 1000)) ms after the batch returned)"
                _vpt_pass "$name: $exp routes in table 200 (${ms} ms)"
        else
                _vpt_fail "$name" "table 200 has $(count_routes) of our routes, expected $exp, after $CONVERGE_MS ms" ""
        fi
}

status() { ctl "$NS" status --json || true; }
role_count() { jq --arg r "$2" '[.objects[] | select(.role == $r and .present == true)] | length' <<<"$1"; }

# ---------------------------------------------------------------------------------------------------------
info "$NDEV tun devices with an address each"
t0=$(now_us)
ip -n "$NS" -batch "$T/devices.batch"
tb=$(now_us)
info "ip -batch of the devices took $(((tb - t0) / 1000)) ms"
converge "$NDEV tun routes" "$NDEV" "$t0" "$tb"

info "$NROUTES main-table routes via them"
t0=$(now_us)
ip -n "$NS" -batch "$T/routes.batch"
tb=$(now_us)
info "ip -batch of the routes took $(((tb - t0) / 1000)) ms"
converge "$NROUTES mirrored routes" $((NDEV + NROUTES)) "$t0" "$tb"

s=$(status)
assert_eq "status: $NDEV tun-route objects present" "$NDEV" "$(role_count "$s" tun-route)"
assert_eq "status: $NROUTES mirror-route objects present" "$NROUTES" "$(role_count "$s" mirror-route)"
assert_eq "status: $NDEV managed devices" "$NDEV" "$(jq '[.devices[] | select(.name | startswith("tun"))] | length' <<<"$s")"
check "status: healthy" jq -e '.health == "healthy"' <<<"$s"
info "counters: $(jq -c .counters <<<"$s")"
assert_eq "a sample mirror is exact" \
        '[{"dst":"172.16.39.15","dev":"tun999","type":"unicast","metric":0,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$NS" 4 200 | jq -c '[.[] | select(.dst == "172.16.39.15")]')"
assert_eq "a sample tun route is exact" \
        '[{"dst":"100.64.15.156/30","dev":"tun999","type":"unicast","metric":0,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$NS" 4 200 | jq -c '[.[] | select(.dst == "100.64.15.156/30")]')"

# ---------------------------------------------------------------------------------------------------------
info "restart: everything adopted, nothing deleted"
agent_stop
check "agent stopped with 0" test "$AGENT_RC" = 0
monitor_start "$NS" "$T/restart.mon"
agent_start "$NS" "$T/scale.conf"
echo "# CONVERGED restart: READY=1 after $AGENT_READY_MS ms with $((NDEV + NROUTES)) routes to adopt"
monitor_stop
check "restart: no route of table 200 deleted" test "$(grep -c '^Deleted.*table \(vpn\|200\)' "$T/restart.mon")" = 0
check "restart: still $((NDEV + NROUTES)) routes" _count_is $((NDEV + NROUTES))

# ---------------------------------------------------------------------------------------------------------
info "delete $NDEL devices at once (one request: ip link del group)"
t0=$(now_us)
ip -n "$NS" link del group 7
tb=$(now_us)
info "ip link del group took $(((tb - t0) / 1000)) ms"
check "$NDEL devices deleted" test "$(ip -n "$NS" -o link show | grep -c ': tun[0-9]*:')" = $((NDEV - NDEL))
left=$((NDEV - NDEL + NROUTES - NROUTES * NDEL / NDEV))
converge "after deleting $NDEL devices" "$left" "$t0" "$tb"
assert_eq "no route via a deleted device is left" 0 "$(count_deleted_dev_routes)"
assert_eq "main table: no route via a deleted device either" 0 \
        "$(ip -n "$NS" -j route show | jq --argjson n "$NDEL" '[.[] | select(.dev != null and (.dev | ltrimstr("tun") | tonumber? // 1e9) < $n)] | length')"
# the wants of the deleted devices are gone too (nothing retried, nothing missing)
ok=0
for _ in $(seq 1 100); do
        s=$(status)
        if [[ $(jq -r '.health' <<<"$s") == healthy ]]; then ok=1; break; fi
        sleep 0.1
done
check "status healthy after the deletions" test "$ok" = 1
assert_eq "status: $((NDEV - NDEL)) tun-route objects" $((NDEV - NDEL)) \
        "$(jq '[.objects[] | select(.role == "tun-route")] | length' <<<"$s")"
assert_eq "status: $((NROUTES - NROUTES * NDEL / NDEV)) mirror-route objects" $((NROUTES - NROUTES * NDEL / NDEV)) \
        "$(jq '[.objects[] | select(.role == "mirror-route")] | length' <<<"$s")"
assert_eq "status: no failing object" 0 "$(jq '[.objects[] | select(.last_error != null)] | length' <<<"$s")"
info "counters: $(jq -c .counters <<<"$s")"
sleep 1
check "a second later: still $left routes" _count_is "$left"
check "agent still running" _vpt_alive "$AGENT_PID"

agent_stop
check "agent exits 0 on SIGTERM" test "$AGENT_RC" = 0
finish
