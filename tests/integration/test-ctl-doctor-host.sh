#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vpnpolicyctl doctor, host checks (issue "vpnpolicyctl"), each fault asserted with its finding and fix:
# the table's rt_tables name missing (and the fix run), an rt_tables entry clashing by id and by name
# (doctor still runs every other check), systemd-networkd enabled with its defaults that delete foreign
# rules and routes (gone once networkd.conf.d says no), NetworkManager managing the gateway's device (gone
# once unmanaged-devices names it), and OpenVPN server configurations, given with --openvpn-config and
# found through the agent from a hook registration with a path relative to OpenVPN's working directory:
# client-to-client, a route without iroute (seed 000), an iroute without route, an up line that is not
# our hook, the hook without script-security 2, a server pool outside [Pool]; a good configuration gives
# no OpenVPN finding. Files under /etc are the namespace's (/etc/netns/NS/..., mounted by ip netns exec).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink --no-forwarding NS GW
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/24 dev tun0
ETC=/etc/netns/$NS
mkdir -p "$ETC/systemd"

conf=$T/vpnpolicy.conf
printf '[Pool]\nPrefix=10.10.10.0/24\n[Gateway]\nIPv4=192.168.1.1\n[Kernel]\nForwarding=enable\n' >"$conf"

# etc_exec CMD...: CMD in NS with /etc an overlay whose upper layer is $T/etc: what the test puts there is
# seen under /etc (even /etc/NetworkManager, which the host lacks, so /etc/netns cannot provide it), the
# host's /etc stays as it is (a private mount namespace; ip netns exec then adds /etc/netns/NS/...).
mkdir -p "$T/etc" "$T/etc-work"
etc_exec() {
        unshare -m sh -c 'mount --make-rprivate / && mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc &&
                shift 2 && exec ip netns exec "$@"' sh "$T/etc" "$T/etc-work" "$NS" "$@"
}
etc_exec true || skip_test "no overlayfs for a private /etc"

doctor() {
        DRC=0
        etc_exec "$VPNPOLICYCTL" --runtime-dir "$T/run-$NS" doctor --json --config "$conf" "$@" >"$T/d.json" \
                2>"$T/d.err" || DRC=$?
        doctor_output_ok
}
count() { jq --arg c "$1" '[.findings[] | select(.check == $c)] | length' "$T/d.json"; }
# openvpn_but_dco: the openvpn findings but the note that tun0, a plain tun here, runs without DCO
openvpn_but_dco() {
        jq '[.findings[] | select(.check == "openvpn" and (.message | test("^DCO is not in use on tun0 ") | not))] | length' \
                "$T/d.json"
}

# ---- rt_tables: no name for table 200 yet (the agent never ran here); the fix as given
doctor
check "rt_tables missing: warning" finding warning rt-tables '^table 200 has no name in /etc/iproute2/rt_tables'
check "rt_tables missing: fix" fix rt-tables "or by hand: echo '200 vpn' >>/etc/iproute2/rt_tables"
ns_exec "$NS" sh -c "echo '200 vpn' >>/etc/iproute2/rt_tables"
doctor
check "rt_tables: named after the fix" no_check rt-tables

# ---- rt_tables clashes: the configuration does not load as is, doctor still checks everything else
line=$(($(wc -l <"$ETC/iproute2/rt_tables") + 1))
echo "200 other" >>"$ETC/iproute2/rt_tables"
sed -i '/^200 vpn$/d' "$ETC/iproute2/rt_tables"
line=$((line - 1))
doctor
check "clash by id: error" finding error rt-tables "^table 200 is already named \"other\" in /etc/iproute2/rt_tables:$line"
check "clash by id: fix" fix rt-tables "sed -i '${line}d' /etc/iproute2/rt_tables (if nothing else uses that name)"
check "clash by id: other fix" fix rt-tables "or choose another: [Table] Id=N in $conf"
check "clash: the other checks ran" finding error source-rule 'no rule sends pool 10.10.10.0/24'
check "clash: nothing skipped for the config" jq -e 'all(.skipped[]; .check == "openvpn")' "$T/d.json"
sed -i '/^200 other$/d' "$ETC/iproute2/rt_tables"
echo "201 vpn" >>"$ETC/iproute2/rt_tables"
doctor
check "clash by name: error" finding error rt-tables '^the name "vpn" already means table 201 in /etc/iproute2/rt_tables:'
sed -i '/^201 vpn$/d' "$ETC/iproute2/rt_tables"
echo "200 vpn" >>"$ETC/iproute2/rt_tables"

# ---- broken configuration: its errors are findings, the checks that need it are skipped
printf '[Pool]\nPrefix=10.10.10.1/24\n' >"$T/bad.conf"
DRC=0
ctl "$NS" doctor --json --config "$T/bad.conf" >"$T/d.json" || DRC=$?
check "bad config: error names the line" finding error config "^$T/bad.conf:2: \\[Pool\\] Prefix: "
check "bad config: checks skipped" jq -e 'any(.skipped[]; .check == "forwarding")' "$T/d.json"
assert_eq "bad config: exit 1" 1 "$DRC"

# ---- systemd-networkd enabled, with its defaults
mkdir -p "$ETC/systemd/system/multi-user.target.wants"
ln -s /lib/systemd/system/systemd-networkd.service "$ETC/systemd/system/multi-user.target.wants/"
doctor
check "networkd: warning" finding warning networkd '^systemd-networkd is enabled and deletes routing policy rules and routes'
check "networkd: fix" fix networkd "mkdir -p /etc/systemd/networkd.conf.d && printf '[Network]\\nManageForeignRoutingPolicyRules=no\\nManageForeignRoutes=no\\n' >/etc/systemd/networkd.conf.d/90-vpnpolicy.conf"
mkdir -p "$ETC/systemd/networkd.conf.d"
printf '[Network]\nManageForeignRoutingPolicyRules=no\n' >"$ETC/systemd/networkd.conf.d/50-rules.conf"
doctor
check "networkd: routes only" finding warning networkd 'deletes routes it did not create'
check "networkd: fix for routes only" fix networkd "mkdir -p /etc/systemd/networkd.conf.d && printf '[Network]\\nManageForeignRoutes=no\\n' >/etc/systemd/networkd.conf.d/90-vpnpolicy.conf"
ns_exec "$NS" sh -c "mkdir -p /etc/systemd/networkd.conf.d && printf '[Network]\\nManageForeignRoutes=no\\n' >/etc/systemd/networkd.conf.d/90-vpnpolicy.conf"
doctor
check "networkd: fine once told" no_check networkd
# a later drop-in that says yes again wins
printf '[Network]\nManageForeignRoutes=yes\n' >"$ETC/systemd/networkd.conf.d/99-late.conf"
doctor
check "networkd: the last drop-in wins" finding warning networkd 'deletes routes'
rm -rf "$ETC/systemd/networkd.conf.d" "$ETC/systemd/system/multi-user.target.wants/systemd-networkd.service"

# ---- NetworkManager enabled, managing the gateway's device
ln -s /lib/systemd/system/NetworkManager.service "$ETC/systemd/system/multi-user.target.wants/"
WANTS=$ETC/systemd/system/multi-user.target.wants
ETC=$T/etc      # /etc/NetworkManager: from the overlay
mkdir -p "$ETC/NetworkManager/conf.d"
doctor
check "NetworkManager: warning" finding warning networkmanager '^NetworkManager is enabled and would manage eth1'
check "NetworkManager: fix" fix networkmanager "printf '[keyfile]\\nunmanaged-devices=interface-name:eth1\\n' >/etc/NetworkManager/conf.d/90-vpnpolicy.conf"
etc_exec sh -c "printf '[keyfile]\\nunmanaged-devices=interface-name:eth1\\n' >/etc/NetworkManager/conf.d/90-vpnpolicy.conf"
doctor
check "NetworkManager: fine once unmanaged" no_check networkmanager
printf '[keyfile]\nunmanaged-devices=mac:00:11:22:33:44:55;interface-name:eth*\n' >"$ETC/NetworkManager/conf.d/90-vpnpolicy.conf"
doctor
check "NetworkManager: globs in the device list" no_check networkmanager
# installed only (not enabled): a profile bound to eth1 is a note
rm -f "$ETC/NetworkManager/conf.d/90-vpnpolicy.conf" "$WANTS/NetworkManager.service"
mkdir -p "$ETC/NetworkManager/system-connections"
printf '[connection]\nid=uplink\ntype=ethernet\ninterface-name=eth1\n' >"$ETC/NetworkManager/system-connections/uplink.nmconnection"
doctor
check "NetworkManager installed, profile: a note" finding info networkmanager 'is installed and has a profile for eth1'
rm -rf "$ETC/NetworkManager"
doctor
check "NetworkManager absent: nothing" no_check networkmanager

# ---- OpenVPN: a configuration with every pitfall
mkdir -p "$T/ovpn/ccd"
cat >"$T/ovpn/server.conf" <<'EOF'
# seed 000 and friends
dev tun0
server 10.10.10.0 255.255.255.0
server 10.8.0.0 255.255.255.0
client-to-client
client-config-dir ccd
route 192.168.2.0 255.255.255.0
push "route 192.168.1.0 255.255.255.0"
push "route 192.168.3.0 255.255.255.0"
script-security 2
up "/etc/openvpn/up arg"
<ca>
route 10.99.0.0 255.255.0.0
</ca>
EOF
printf 'iroute 192.168.4.0 255.255.255.0\n' >"$T/ovpn/ccd/client2"
doctor --openvpn-config "$T/ovpn/server.conf"
check "openvpn: client-to-client" finding warning openvpn "^client-to-client \\($T/ovpn/server.conf:5\\)"
check "openvpn: client-to-client fix" fix openvpn "delete the client-to-client line ($T/ovpn/server.conf:5), then restart that OpenVPN server"
check "openvpn: route without iroute" finding warning openvpn "^route 192.168.2.0 255.255.255.0 \\($T/ovpn/server.conf:7\\) has no iroute in ccd"
check "openvpn: iroute fix" fix openvpn "iroute 192.168.2.0 255.255.255.0 in ccd/COMMON_NAME of the client whose LAN it is"
check "openvpn: pushed LAN of this host needs no iroute" \
        jq -e 'all(.findings[]; (.message | test("192.168.1.0")) | not)' "$T/d.json"
check "openvpn: iroute without route" finding warning openvpn '^iroute 192.168.4.0 255.255.255.0 .* has no route in'
check "openvpn: up not ours" finding warning openvpn "^up /etc/openvpn/up arg \\($T/ovpn/server.conf:11\\) is not vpnpolicy's hook"
check "openvpn: server pool outside [Pool]" finding warning openvpn "^the server's range 10.8.0.0/24 \\($T/ovpn/server.conf:4\\) is in no \\[Pool\\]"
check "openvpn: server pool fix" fix openvpn "[Pool] Prefix=10.8.0.0/24 in $conf"
check "openvpn: inline blocks skipped" jq -e 'all(.findings[]; (.message | test("10.99.0.0")) | not)' "$T/d.json"
# Given relatively, from where it lies: the iroute for 192.168.2.0 in the (relative) ccd satisfies the route
printf 'iroute 192.168.2.0 255.255.255.0\n' >"$T/ovpn/ccd/client1"
(cd "$T/ovpn" && ip netns exec "$NS" "$VPNPOLICYCTL" --runtime-dir "$T/run-$NS" doctor --json --config "$conf" \
        --openvpn-config server.conf >"$T/d.json") || true
check "openvpn: iroute found in a relative ccd" \
        jq -e 'all(.findings[]; (.message | test("^route 192.168.2.0")) | not)' "$T/d.json"

# ---- a good configuration, found through the agent's registration (relative path, OpenVPN's cwd)
cat >"$T/ovpn/good.conf" <<EOF
dev tun0
server 10.10.10.0 255.255.255.0
client-config-dir ccd
route 192.168.2.0 255.255.255.0
push "route 192.168.1.0 255.255.255.0"
script-security 2
up $BUILD/hooks/vpnpolicy-openvpn-up
EOF
rm -f "$T/ovpn/ccd/client2"
agent_start "$NS" "$conf"
bash -c "cd '$T/ovpn' && exec sleep 300" </dev/null >/dev/null 2>&1 &
opid=$!
register_pid "$opid"
ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$T/run-$NS" dev=tun0 ifconfig_local=10.10.10.1 \
        ifconfig_netmask=255.255.255.0 config=good.conf daemon_pid="$opid" script_type=up \
        "$VPNPOLICYCTL" openvpn-hook tun0 1500 1500 10.10.10.1 255.255.255.0 init
check "registered with its config" test "$(ctl "$NS" status --json | jq -r '.devices[0].config')" = good.conf
doctor
assert_eq "good OpenVPN config: no finding" 0 "$(openvpn_but_dco)"
check "... but the note that tun0 (a plain tun) has no DCO" finding info openvpn "^DCO is not in use on tun0 although"
check "good OpenVPN config: not skipped" jq -e 'all(.skipped[]; .check != "openvpn")' "$T/d.json"
sed -i 's/^script-security 2$/script-security 1/' "$T/ovpn/good.conf"
doctor
check "hook without script-security 2: error" finding error openvpn 'without script-security 2'
check "hook without script-security 2: fix" fix openvpn "script-security 2 in $T/ovpn/good.conf"
sed -i '/^up /d' "$T/ovpn/good.conf"
doctor
assert_eq "no up hook (eduVPN 3.x): nothing demanded" 0 "$(openvpn_but_dco)"

finish
