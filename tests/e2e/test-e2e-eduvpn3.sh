#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-e2e-eduvpn3.sh: vpnpolicyd on an eduVPN 3.x-shaped node (tests/e2e/world-eduvpn3.sh): two profiles,
# three real OpenVPN 2.6 servers without an `up` script, WireGuard by wireguard-go, real clients. The
# agent's configuration is the one of docs/guide-eduvpn3.md, taken from its marked blocks, and the guide's
# checks run against the node (tests/lib/guide.sh). Then:
#   1. each profile's clients reach the outside by their profile's gateway only (the NAT boxes' counters),
#      never by the node's default router (its counter stays 0 to the end);
#   2. clients reach each other across OpenVPN processes (tun0 <-> tun1) and across OpenVPN and WireGuard;
#   3. clients ping the node's tunnel addresses;
#   4. kill -9 of the agent under 20/s pings loses at most one ping and deletes nothing (ip monitor; the
#      rules and the two tables dumped before and after, and after the restart that adopts them);
#   5. restarting one OpenVPN process (staff-1: its tun1 goes and comes back) while the others carry 20/s
#      pings: only tun1's routes and rules change, the others lose no ping; figures for the time until
#      tun1's routes are back and until its client's traffic flows again.
# Figures are printed as "# figure: NAME VALUE UNIT".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$HERE/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/guide.sh
source "$HERE/../lib/guide.sh"
# shellcheck source=SCRIPTDIR/world-eduvpn3.sh
source "$HERE/world-eduvpn3.sh"

e3_require_tools
GUIDE=$SOURCE_ROOT/docs/guide-eduvpn3.md
ETC=$T/etc
GUIDE_ETC=$ETC

ms() { awk -v u="$1" 'BEGIN { printf "%.0f", u / 1000 }'; }

# ---------------------------------------------------------------------------------------------------------
# counters

# counter ROLE NAME
counter() { e3_counter "$(e3_ns "$1")" "$2"; }

# ---------------------------------------------------------------------------------------------------------
# the kernel

# dump: the agent's rules and both profiles' tables, both families
dump() {
        local f
        for f in 4 6; do
                rules_json "$E3_SRV" "$f" vpnpolicy
                routes_json "$E3_SRV" "$f" 200
                routes_json "$E3_SRV" "$f" 201
        done
}

# mon_time FILE REGEX: the time (epoch us) of the first event in FILE matching REGEX, "" if none
mon_time() {
        local ts
        ts=$(awk -v re="$2" 'match($0, /^\[[0-9T:.-]+\] /) {
                        if (substr($0, RLENGTH + 1) ~ re) { print substr($0, 2, RLENGTH - 3); exit }
                }' "$1")
        [[ -n $ts ]] || return 0
        date -d "${ts/T/ }" +%s%6N
}

table_has() {           # FAMILY TABLE PATTERN
        ip -n "$E3_SRV" -"$1" route show table "$2" | grep_q -- "$3"
}

# ---------------------------------------------------------------------------------------------------------

T0=$(now_ms)
guide_extract "$GUIDE" "$T/guide" || die "cannot read the marked blocks of $GUIDE"
guide_files
e3_net_up || die "the network did not come up"
GUIDE_NS=$E3_SRV GUIDE_SERVER_DIR=$E3_DIR/server
agent_start "$E3_SRV" "$ETC/etc/vpnpolicy/vpnpolicy.conf" || die "vpnpolicyd did not start"
e3_vpn_up || die "the VPN did not come up"
figure eduvpn3_world_up $(($(now_ms) - T0)) ms
info "clients: CU ${E3_ADDR4[CU]} ${E3_ADDR6[CU]}, CT ${E3_ADDR4[CT]} ${E3_ADDR6[CT]}, CG ${E3_ADDR4[CG]} ${E3_ADDR6[CG]}, WP ${E3_ADDR4[WP]} ${E3_ADDR6[WP]}"
check "no OpenVPN server configuration has an up line" bash -c "! grep -l '^up ' '$E3_DIR'/server/*.conf"
check "wg0 is wireguard-go's tun device" bash -c \
        "ip -n '$E3_SRV' -d -j link show dev wg0 | jq -e '.[0].linkinfo.info_kind == \"tun\"'"
check "every tunnel's routes are in its profile's table (v4 and v6 of tun0, tun1, wg0 in 200; tun2 in 201)" \
        wait_until 5000 bash -c "ip -n '$E3_SRV' -4 route show table 200 | grep_q '^10.10.11.0/24 dev wg0' &&
                ip -n '$E3_SRV' -6 route show table 200 | grep_q '^fd00:4242:4242:4243::/64 dev wg0' &&
                ip -n '$E3_SRV' -4 route show table 200 | grep_q '^10.10.10.0/25 dev tun0' &&
                ip -n '$E3_SRV' -4 route show table 200 | grep_q '^10.10.10.128/25 dev tun1' &&
                ip -n '$E3_SRV' -6 route show table 200 | grep_q '^fd00:4242:4242:4242::1:0/112 dev tun1' &&
                ip -n '$E3_SRV' -4 route show table 201 | grep_q '^10.20.20.0/24 dev tun2' &&
                ip -n '$E3_SRV' -6 route show table 201 | grep_q '^fd00:4343:4343:4343::/112 dev tun2'"

# --- the guide, followed
guide_shims
guide_checks
check "every profile's table is named in rt_tables.d (201 guest)" \
        grep -Eq '^201[[:space:]]+guest$' "/etc/netns/$E3_SRV/iproute2/rt_tables.d/vpnpolicy.conf"

# --- 1. the outside, by the profile's gateway
for c in CU CT WP; do
        e3_path "$c" "$E3_INET4" GWS staff4 "1. staff client $c to the outside, v4"
        e3_path "$c" "$E3_INET6" GWS staff6 "1. staff client $c to the outside, v6"
done
e3_path CG "$E3_INET4" GWG guest4 "1. guest client CG to the outside, v4"
e3_path CG "$E3_INET6" GWG guest6 "1. guest client CG to the outside, v6"

# --- 2. client to client, across processes and across OpenVPN and WireGuard
for pair in "CU CT" "CT CU" "CU WP" "WP CU" "CT WP" "WP CT"; do
        read -r a b <<<"$pair"
        e3_path "$a" "${E3_ADDR4[$b]}" none staff4 "2. $a to $b, v4"
        e3_path "$a" "${E3_ADDR6[$b]}" none staff6 "2. $a to $b, v6"
done

# --- 3. the node's tunnel addresses
for spec in "CU tun0" "CT tun1" "WP wg0" "CU tun1" "WP tun0" "CT wg0"; do
        read -r c dev <<<"$spec"
        e3_path "$c" "${E3_SRV_ADDR4[$dev]}" none staff4 "3. $c to the node's $dev address, v4"
        e3_path "$c" "${E3_SRV_ADDR6[$dev]}" none staff6 "3. $c to the node's $dev address, v6"
done
e3_path CG "${E3_SRV_ADDR4[tun2]}" none guest4 "3. CG to the node's tun2 address, v4"
e3_path CG "${E3_SRV_ADDR6[tun2]}" none guest6 "3. CG to the node's tun2 address, v6"

# --- 4. kill -9 of the agent under ping
before=$(dump)
monitor_start "$E3_SRV" "$T/monitor-kill.txt"
e3_bg_ping_start k_cu CU "$E3_INET4"
e3_bg_ping_start k_wp WP "$E3_INET6"
e3_bg_ping_start k_cg CG "$E3_INET4"
wait_until 5000 e3_bg_pings_answered k_cu k_wp k_cg || die "the pings before kill -9 got no answer"
sleep 0.5       # pings before the kill, to have something to lose
agent_kill9
check "4. kill -9: the agent is gone" test -n "$AGENT_RC"
sleep 1         # 20 pings with no agent
check "4. kill -9: the rules and both tables unchanged with the agent dead" test "$(dump)" = "$before"
agent_start "$E3_SRV" "$ETC/etc/vpnpolicy/vpnpolicy.conf" || die "vpnpolicyd did not start again after kill -9"
figure eduvpn3_agent_ready_after_kill "$AGENT_READY_MS" ms
sleep 0.5
check "4. after the restart (adoption): the rules and both tables as before" test "$(dump)" = "$before"
check "4. after the restart: status healthy" bash -c "'$VPNPOLICYCTL' --runtime-dir '$T/run-$E3_SRV' status --json |
        jq -e '.health == \"healthy\"'"
for n in k_cu k_wp k_cg; do
        e3_bg_ping_stop "$n"
        check "4. kill -9 and restart: ping $n (20/s): $E3_BG_TX sent, $E3_BG_LOST lost (at most 1)" \
                test "$E3_BG_TX" -gt 20 -a "$E3_BG_LOST" -le 1
        figure "eduvpn3_kill9_lost_$n" "$E3_BG_LOST" pings
done
monitor_stop
check "4. kill -9 and restart: no rule or route deleted (ip monitor)" bash -c "! grep -q Deleted '$T/monitor-kill.txt'"

# --- 5. restart of one OpenVPN process: staff-1 (tcp, tun1)
before_others=$(dump | jq -c '[.[] | select((.dev // "") != "tun1" and ((.iif // "") != "tun1"))]')
before_tun1=$(dump | jq -c '[.[] | select(.dev == "tun1" or .iif == "tun1")]')
monitor_start "$E3_SRV" "$T/monitor-restart.txt"
e3_bg_ping_start r_cu CU "$E3_INET4"
e3_bg_ping_start r_cu6 CU "$E3_INET6"
e3_bg_ping_start r_wp WP "${E3_ADDR4[CU]}"
e3_bg_ping_start r_cg CG "$E3_INET4"
wait_until 5000 e3_bg_pings_answered r_cu r_cu6 r_wp r_cg || die "the pings before the restart got no answer"
sleep 0.5
t_stop=$(now_us)
e3_server_stop staff-1 || die "openvpn staff-1 did not stop, or tun1 stayed"
check "5. tun1 gone: its routes are gone from table 200 (v4 and v6)" bash -c \
        "! ip -n '$E3_SRV' route show table 200 | grep_q tun1 && ! ip -n '$E3_SRV' -6 route show table 200 | grep_q tun1"
t_start=$(now_us)
e3_server_start staff-1 || die "openvpn staff-1 did not start again"
check "5. tun1 back: its routes are back in table 200 (v4 and v6)" wait_until 10000 bash -c \
        "ip -n '$E3_SRV' -4 route show table 200 | grep_q '^10.10.10.128/25 dev tun1' &&
         ip -n '$E3_SRV' -6 route show table 200 | grep_q '^fd00:4242:4242:4242::1:0/112 dev tun1'"
t_route=$(now_us)
# the TCP client notices the closed connection and comes back by itself (connect-retry 1)
e3_client_wait CT 30000 || die "client CT did not come back after the restart of staff-1"
wait_until 10000 e3_ping CT "$E3_INET4" 1 || true
t_client=$(now_us)
sleep 0.5
for n in r_cu r_cu6 r_wp r_cg; do
        e3_bg_ping_stop "$n"
        check "5. restart of staff-1: ping $n (20/s): $E3_BG_TX sent, $E3_BG_LOST lost (none)" \
                test "$E3_BG_TX" -gt 20 -a "$E3_BG_LOST" -eq 0
        figure "eduvpn3_restart_lost_$n" "$E3_BG_LOST" pings
done
monitor_stop
others=$(grep -v tun1 "$T/monitor-restart.txt" || true)
check "5. restart of staff-1: every rule and route event was about tun1 ($(grep -c . "$T/monitor-restart.txt" || true) events)" \
        test -z "$others"
[[ -z $others ]] || while IFS= read -r line; do echo "#   $line"; done <<<"$others"
check "5. the other devices' routes and rules did not change" \
        test "$(dump | jq -c '[.[] | select((.dev // "") != "tun1" and ((.iif // "") != "tun1"))]')" = "$before_others"
check "5. tun1's routes and rules are as before the restart" \
        test "$(dump | jq -c '[.[] | select(.dev == "tun1" or .iif == "tun1")]')" = "$before_tun1"
e3_path CT "$E3_INET4" GWS staff4 "5. after the restart: CT to the outside, v4"
e3_path CT "$E3_INET6" GWS staff6 "5. after the restart: CT to the outside, v6"
e3_path CT "${E3_ADDR4[CU]}" none staff4 "5. after the restart: CT to CU, v4"
a=$(mon_time "$T/monitor-restart.txt" '^local 10\.10\.10\.129 dev tun1 table local')
r=$(mon_time "$T/monitor-restart.txt" '^10\.10\.10\.128/25 dev tun1 table (200|staff) ')
figure eduvpn3_restart_tun_gone "$(ms $((t_start - t_stop)))" ms
figure eduvpn3_restart_stop_to_routes_back "$(ms $((t_route - t_stop)))" ms
figure eduvpn3_restart_stop_to_client_back "$(ms $((t_client - t_stop)))" ms
if [[ -n $a && -n $r ]]; then
        figure eduvpn3_restart_tun1_address_to_table_route "$(ms $((r - a)))" ms
fi

# --- the default router saw no pool packet, from the start
check "the default router saw no pool packet at all ($(e3_counters))" \
        test "$(counter RTR pool4)" = 0 -a "$(counter RTR pool6)" = 0
figure eduvpn3_total $(($(now_ms) - T0)) ms
finish
