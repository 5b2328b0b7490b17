#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# The real systemd-networkd on the gateway link (issue 11, item 2). This machine's OS boots in
# systemd-nspawn (tests/lib/nspawn.sh) inside a namespace of the test, with vpnpolicyd's units and
# systemd-networkd enabled; networkd manages the gateway link eth1 (a .network file with static v4 and v6
# addresses) and the main default route's link eth9. networkd removes and re-adds its static addresses
# on `networkctl reconfigure` and on `networkctl reload` after an edit (a restart of networkd 252 sets them
# again without removing them first), and the kernel then flushes the IPv4 routes via eth1, our default
# route in table vpn too, silently.
# Twice: first with networkd's defaults (it also deletes every rule and route it did not make, ours
# included: vpnpolicyd with its defaults, the nftables leak guard on, must restore them), then with the
# drop-in that `vpnpolicyctl doctor` recommends (ManageForeignRoutingPolicyRules=no, ManageForeignRoutes=no;
# [Firewall] Manage=no: the routing alone must hold). Each time OPS_EACH (default 3) reconfigures, reloads
# after an edit and restarts; after each one:
#   - networkd has removed and re-added (restart: set) eth1's address (seen by `ip monitor`) and says
#     eth1 is configured;
#   - our rules and routes are back, exactly, within BACK_MS (default 3000);
#   - `vpnpolicyctl status --json` agrees with the kernel (tests/lib/status-truth.sh) within TRUTH_MS;
#   - no pool packet reached the main default router (an nftables counter there), while a client behind
#     the server pings from the pools all along (v4 and v6, 20 per second) and the gateway sees them.
# eth1 also carries UPLINK_ROUTES (default 1000) routes of table 100 (put back after each operation), so
# the kernel's flush takes milliseconds and the race of the issue shows on any machine (see
# test-core-addrflap.sh). doctor is checked to see networkd's defaults, and not the drop-in.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"
# shellcheck source=../lib/status-truth.sh
source "$(dirname "$0")/../lib/status-truth.sh"
# shellcheck source=../lib/nspawn.sh
source "$(dirname "$0")/../lib/nspawn.sh"

[[ -x /lib/systemd/systemd-networkd || -x /usr/lib/systemd/systemd-networkd ]] ||
        skip_test "no systemd-networkd (Debian's systemd package has it)"
for tool in nft ping; do command -v "$tool" >/dev/null || skip_test "$tool is missing"; done
OPS_EACH=${OPS_EACH:-3}
BACK_MS=${BACK_MS:-3000}
TRUTH_MS=${TRUTH_MS:-2000}
UPLINK_ROUTES=${UPLINK_ROUTES:-1000}
TARGET4=203.0.113.1
TARGET6=2001:db8:203::1

# ---------------------------------------------------------------------------------------------------------
# around the container: the gateway (GW), the main default router (DEF), a client with pool addresses (CL)
ns_new SRV
ns_new GW
ns_new DEF
ns_new CL
veth_add "$SRV" eth1 "$GW" eth0
veth_add "$SRV" eth9 "$DEF" eth0
veth_add "$SRV" pool0 "$CL" eth0
seed003_gateway_addrs "$GW"
ip -n "$DEF" addr add 172.16.0.254/24 dev eth0
ip -n "$DEF" addr add fd00:9::fe/64 dev eth0 nodad
# pool0: a link networkd does not manage (no .network matches it), configured before the boot
ip -n "$SRV" addr add 10.10.10.1/24 dev pool0
ip -n "$SRV" addr add fd00:4242:4242:4242::1/64 dev pool0 nodad
ip -n "$CL" addr add 10.10.10.2/24 dev eth0
ip -n "$CL" addr add fd00:4242:4242:4242::2/64 dev eth0 nodad
ip -n "$CL" route add default via 10.10.10.1
ip -n "$CL" -6 route add default via fd00:4242:4242:4242::1
for ns in "$GW" "$DEF"; do
        ip -n "$ns" addr add "$TARGET4/32" dev lo
        ip -n "$ns" addr add "$TARGET6/128" dev lo
        ns_exec "$ns" nft -f - <<'EOF'
table inet vpt {
        counter pool4 {}
        counter pool6 {}
        chain count {
                type filter hook prerouting priority filter; policy accept;
                ip saddr 10.10.10.0/24 counter name pool4
                ip6 saddr fd00:4242:4242:4242::/64 counter name pool6
        }
}
EOF
done
ip -n "$GW" route add 10.10.10.0/24 via 192.168.1.100
ip -n "$GW" -6 route add fd00:4242:4242:4242::/64 via fd00:1010:1010:1010::100
ip -n "$DEF" route add 10.10.10.0/24 via 172.16.0.1
ip -n "$DEF" -6 route add fd00:4242:4242:4242::/64 via fd00:9::1
counter() { # NS NAME
        local out
        out=$(ns_exec "$1" nft list counter inet vpt "$2")
        out=${out#*packets }
        echo "${out%% *}"
}
for ((i = 0; i < UPLINK_ROUTES; i++)); do
        printf 'route replace 10.%d.%d.0/24 via 192.168.1.1 dev eth1 table 100\n' $((100 + i / 256)) $((i % 256))
done >"$T/uplink-routes"
uplink_routes() { [[ ! -s $T/uplink-routes ]] || ip -n "$SRV" -batch "$T/uplink-routes"; }

# ---------------------------------------------------------------------------------------------------------
# the container
nspawn_prepare
mkdir -p "$T/network" "$T/networkd.conf.d" "$T/vpnpolicy"
nspawn_unit vpnpolicyd.service
nspawn_unit vpnpolicyd.socket
nspawn_enable multi-user.target vpnpolicyd.service
nspawn_enable sockets.target vpnpolicyd.socket
nspawn_enable multi-user.target systemd-networkd.service
nspawn_enable sockets.target systemd-networkd.socket
ln -s /usr/lib/systemd/system/systemd-networkd.service "$T/sys/dbus-org.freedesktop.network1.service"
eth1_network() { # EDIT: the gateway link's .network; EDIT changes its Description= (a reload then applies it)
        cat >"$T/network/10-eth1.network" <<EOF
[Match]
Name=eth1

[Network]
Description=uplink to the NAT gateway (edit $1)
Address=192.168.1.100/24
Address=fd00:1010:1010:1010::100/64
IPv6AcceptRA=no
IPv6DuplicateAddressDetection=0
EOF
}
eth1_network 0
cat >"$T/network/20-eth9.network" <<EOF
[Match]
Name=eth9

[Network]
Address=172.16.0.1/24
Address=fd00:9::1/64
Gateway=172.16.0.254
Gateway=fd00:9::fe
IPv6AcceptRA=no
IPv6DuplicateAddressDetection=0
EOF
agent_conf() { # FIREWALL: yes | no
        seed003_config "$T/vpnpolicy/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Firewall]' "Manage=$1" \
                '[Kernel]' 'Forwarding=enable' 'FailClosed=yes'
}
agent_conf yes
chmod -R go+rX "$T/network" "$T/networkd.conf.d" "$T/vpnpolicy"

nspawn_boot "$SRV" --bind="$T/vpnpolicy:/etc/vpnpolicy" --bind="$T/network:/etc/systemd/network" \
        --bind="$T/networkd.conf.d:/etc/systemd/networkd.conf.d"
# vpnpolicyctl from outside, through the container's root (status_truth and ctl use $T/run-NS)
ln -s "/proc/$CPID/root/run/vpnpolicy" "$T/run-$SRV"
configured() { [[ $(cin networkctl list --no-legend --no-pager 2>/dev/null | awk '$2 == "eth1" { print $5 }') == configured ]]; }
check "networkd configures eth1" wait_until 20000 configured
check "vpnpolicyd is active" wait_until 10000 eval '[[ $(cshow vpnpolicyd.service ActiveState) == active ]]'
check "networkd is active" test "$(cshow systemd-networkd.service ActiveState)" = active
info "$(cin networkctl --version | head -n1); eth1: $(ip -n "$SRV" -br addr show eth1)"
# our names, as the agent wrote them in the container, for rules_json/routes_json out here
cp "$T/iproute2/rt_tables.d/"* "/etc/netns/$SRV/iproute2/rt_tables.d/"
cp "$T/iproute2/rt_protos.d/"* "/etc/netns/$SRV/iproute2/rt_protos.d/"
uplink_routes

exact() { # everything of ours in place, exactly
        [[ $(rules_json "$SRV" 4 vpnpolicy) == "$(json_norm <<<"$RULES4")" &&
                $(rules_json "$SRV" 6 vpnpolicy) == "$(json_norm <<<"$RULES6")" &&
                $(routes_json "$SRV" 4 200) == "$(json_norm <<<"$ROUTES4")" &&
                $(routes_json "$SRV" 6 200) == "$(json_norm <<<"$ROUTES6")" ]]
}
check "boot: our rules and routes are in" wait_until "$BACK_MS" exact
check "boot: status agrees with the kernel" status_truthful_within "$TRUTH_MS" "$SRV"

ip netns exec "$CL" ping -n -q -i 0.05 "$TARGET4" </dev/null >"$T/ping4.out" 2>&1 &
ping4=$!        # ip netns exec execs ping: this is ping's pid
register_pid "$ping4"
ip netns exec "$CL" ping -n -q -i 0.05 "$TARGET6" </dev/null >"$T/ping6.out" 2>&1 &
ping6=$!
register_pid "$ping6"
mon=$T/addr.mon
ip netns exec "$SRV" ip monitor address dev eth1 </dev/null >"$mon" 2>&1 &
register_pid $!
sleep 0.2       # (the monitor subscribes; a missed first event only makes "flapped" below wait longer)

# flapped MARK: since line MARK of the monitor, eth1's v4 address was deleted and then added again
flapped() {
        tail -n "+$(($1 + 1))" "$mon" | awk '/^Deleted .* inet 192\.168\.1\.100\// { d = 1 } d && /^[0-9]+: eth1 +inet 192\.168\.1\.100\// { a = 1 } END { exit !a }'
}
# set_again MARK: since line MARK, eth1's v4 address was set (added or updated)
set_again() { tail -n "+$(($1 + 1))" "$mon" | grep -E '^[0-9]+: eth1 +inet 192\.168\.1\.100/' >/dev/null; }

# op WHAT LABEL: one networkd operation and everything checked after it
EDITS=0
FLAPPED=0
op() {
        local what=$1 label=$2 mark t0 ms out
        mark=$(wc -l <"$mon")
        case $what in
        reconfigure) check "$label: networkctl reconfigure eth1" cin networkctl reconfigure eth1 ;;
        reload)
                EDITS=$((EDITS + 1))
                eth1_network "$EDITS"
                check "$label: networkctl reload" cin networkctl reload
                ;;
        restart)
                # (restarts this close together would hit networkd's start limit, 5 in 10 s)
                cin systemctl reset-failed systemd-networkd.service
                check "$label: systemctl restart systemd-networkd" cin systemctl restart systemd-networkd.service
                ;;
        esac
        t0=$(now_ms)
        # networkd 252 removes and re-adds the address on reconfigure and reload; a restart sets it again
        if [[ $what == restart ]]; then
                wait_until 5000 set_again "$mark" || info "$label: networkd did not set eth1's address again"
        elif wait_until 5000 flapped "$mark"; then
                FLAPPED=$((FLAPPED + 1))
        else
                info "$label: networkd did not remove and re-add eth1's address"
        fi
        check "$label: networkd says eth1 is configured" wait_until 10000 configured
        uplink_routes
        check "$label: our rules and routes are back within $BACK_MS ms" wait_until "$BACK_MS" exact
        ms=$(($(now_ms) - t0))
        if ! exact; then
                info "$label: v4 table 200: $(routes_json "$SRV" 4 200); rules: $(rules_json "$SRV" 4)"
        fi
        out=$(status_truthful_within "$TRUTH_MS" "$SRV") || true
        check "$label: status agrees with the kernel" test -z "$out"
        [[ -z $out ]] || sed 's/^/#   /' <<<"$out"
        assert_eq "$label: no pool packet at the main default router (v4, v6)" "0 0" "$(counter "$DEF" pool4) $(counter "$DEF" pool6)"
        echo "# METRIC $label: back and checked ${ms} ms after the command"
}

run_ops() { # MODE
        local i what
        for ((i = 1; i <= OPS_EACH; i++)); do
                for what in reconfigure reload restart; do
                        op "$what" "$1: $what $i"
                done
        done
}

# ---------------------------------------------------------------------------------------------------------
info "networkd's defaults (it deletes foreign rules and routes), vpnpolicyd's defaults (leak guard on)"
cin vpnpolicyctl doctor --json >"$T/d.json" 2>"$T/d.err" || true
check "doctor warns about networkd deleting foreign rules and routes" \
        jq -e 'any(.findings[]; .check == "networkd" and .severity == "warning")' "$T/d.json"
restores0=$(ctl "$SRV" status --json | jq .counters.restores)
run_ops "defaults"
info "defaults: the agent restored $(($(ctl "$SRV" status --json | jq .counters.restores) - restores0)) objects networkd deleted; leak guard dropped $(ctl "$SRV" status --json | jq .firewall.leak_guard_drops.packets) packets"

# ---------------------------------------------------------------------------------------------------------
info "the drop-in doctor recommends, [Firewall] Manage=no"
printf '[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n' >"$T/networkd.conf.d/90-vpnpolicy.conf"
chmod go+r "$T/networkd.conf.d/90-vpnpolicy.conf"
agent_conf no
check "the agent restarted without its nftables table" cin systemctl restart vpnpolicyd.service
check "... and is back in place" wait_until "$BACK_MS" exact
op restart "drop-in: restart 0 (reads the drop-in)"
cin vpnpolicyctl doctor --json >"$T/d.json" 2>"$T/d.err" || true
check "doctor is content with networkd now" jq -e 'all(.findings[]; .check != "networkd")' "$T/d.json"
restores0=$(ctl "$SRV" status --json | jq .counters.restores)
run_ops "drop-in"
assert_eq "drop-in: networkd deleted nothing of ours (no restores)" 0 \
        "$(($(ctl "$SRV" status --json | jq .counters.restores) - restores0))"

# ---------------------------------------------------------------------------------------------------------
kill -INT "$ping4" "$ping6" 2>/dev/null || true
wait "$ping4" "$ping6" 2>/dev/null || true
info "pings: v4 $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$T/ping4.out"), v6 $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$T/ping6.out")"
info "networkd removed and re-added eth1's address in $FLAPPED of $((4 * OPS_EACH)) reconfigures and reloads"
check "the scenario happened: networkd removed and re-added the address in most reconfigures and reloads ($FLAPPED)" \
        test "$FLAPPED" -ge $((3 * OPS_EACH))
check "the pings went through the gateway (v4 $(counter "$GW" pool4), v6 $(counter "$GW" pool6))" \
        test "$(counter "$GW" pool4)" -gt 0 -a "$(counter "$GW" pool6)" -gt 0
assert_eq "no pool packet at the main default router, all along (v4, v6)" "0 0" "$(counter "$DEF" pool4) $(counter "$DEF" pool6)"
finish
