#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# No agent, no VPN (issue 11, item 5): the shipped units fail closed. This machine's OS boots in
# systemd-nspawn (--volatile=yes: tmpfs root, the host's /usr read-only) inside a network namespace the
# test made (--network-namespace-path=), with the units where the package puts them (an overlay on
# /usr/lib/systemd/system: vpnpolicyd.{service,socket}, the drop-ins for openvpn-server@ and wg-quick@;
# binary paths pointed at the build), Debian's own openvpn-server@.service, and an invalid
# /etc/vpnpolicy/vpnpolicy.conf. vpnpolicyd.socket, vpnpolicyd.service, openvpn-server@srv and wg-quick@wg0
# are enabled (wg-quick@ only for its gate: this kernel may lack WireGuard).
# Around the container, in namespaces: a real OpenVPN client (cl1, and cl2 for the control), the main
# default router (rtr: the server's default route, and the clients' underlay) and the NAT gateway (nat),
# both counting packets from the pool with nftables (prerouting, so even one they could not route counts);
# the target 203.0.113.1 sits on both routers.
#   A  the boot: vpnpolicyd exits 78 and is not restarted; openvpn-server@srv does not come up (its
#      ExecStartPre=vpnpolicyctl wait-ready fails, one line in its journal); cl1 keeps trying to connect
#      and to ping the target: 0 pool packets at rtr (and at nat), no tun device on the server.
#   B  the hole the gate closes (control): openvpn-server@leak, the same server on another port with the
#      drop-in masked for that instance as docs/openvpn.md says, starts with the agent still down; cl2
#      connects and its pings from the pool reach rtr, the main default router.
#   C  the configuration fixed, the agent restarted: openvpn-server@srv comes up by itself (Debian's
#      Restart=on-failure retries, the gate now passes), cl1 connects, its pings leave by nat, and rtr
#      counts nothing more.
#   D  Wants=, not Requires=: restarting and stopping vpnpolicyd leave OpenVPN running (same pid), and the
#      routing stays (cl1's pings still leave by nat).
# Skipped when systemd-nspawn or OpenVPN is missing or the container cannot boot here.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

# shellcheck source=../lib/nspawn.sh
source "$(dirname "$0")/../lib/nspawn.sh"

[[ -x /usr/sbin/openvpn ]] || skip_test "openvpn is missing"
[[ -f /usr/lib/systemd/system/openvpn-server@.service ]] || skip_test "no openvpn-server@.service (Debian's openvpn)"
for tool in nft openssl ping; do command -v "$tool" >/dev/null || skip_test "$tool is missing"; done
HOOK=${HOOK:-$BUILD/hooks/vpnpolicy-openvpn-up}
[[ -x $HOOK ]] || die "no hook binary at $HOOK (ninja -C $BUILD)"

POOL=10.10.10.0/24
TARGET=203.0.113.1

# ---------------------------------------------------------------------------------------------------------
# the network around the container
ns_new SRV
ns_new RTR
ns_new NAT
ns_new CL1
ns_new CL2
veth_add "$SRV" eth0 "$RTR" to-srv
veth_add "$SRV" eth1 "$NAT" to-srv
veth_add "$CL1" eth0 "$RTR" to-cl1
veth_add "$CL2" eth0 "$RTR" to-cl2
ip -n "$SRV" addr add 192.0.2.100/24 dev eth0
ip -n "$SRV" addr add 192.168.1.100/24 dev eth1
ip -n "$SRV" route add default via 192.0.2.1
# a VPN server forwards: without the agent, the main table's default route is where pool traffic goes
ns_exec "$SRV" sysctl -qw net.ipv4.ip_forward=1
ip -n "$RTR" addr add 192.0.2.1/24 dev to-srv
ip -n "$RTR" addr add 198.18.1.1/24 dev to-cl1
ip -n "$RTR" addr add 198.18.2.1/24 dev to-cl2
ns_exec "$RTR" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NAT" addr add 192.168.1.1/24 dev to-srv
for ns in "$RTR" "$NAT"; do
        ip -n "$ns" addr add "$TARGET/32" dev lo
        ip -n "$ns" route add "$POOL" via "$([[ $ns == "$RTR" ]] && echo 192.0.2.100 || echo 192.168.1.100)"
        ns_exec "$ns" nft -f - <<EOF
table inet vpt {
        counter pool4 {}
        chain count {
                type filter hook prerouting priority filter; policy accept;
                ip saddr $POOL counter name pool4
        }
}
EOF
done
ip -n "$CL1" addr add 198.18.1.2/24 dev eth0
ip -n "$CL1" route add 192.0.2.0/24 via 198.18.1.1
ip -n "$CL2" addr add 198.18.2.2/24 dev eth0
ip -n "$CL2" route add 192.0.2.0/24 via 198.18.2.1
pool_at() { # rtr|nat: pool packets counted there
        local ns=$RTR out
        [[ $1 == nat ]] && ns=$NAT
        out=$(ns_exec "$ns" nft list counter inet vpt pool4)
        out=${out#*packets }
        echo "${out%% *}"
}

# ---------------------------------------------------------------------------------------------------------
# OpenVPN: a PKI, two server instances (srv: gated; leak: the drop-in masked), two clients
O=$T/openvpn
mkdir -p "$O"
(
        cd "$O"
        printf '[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n[srv]\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth\n[cli]\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=clientAuth\n' >x509.cnf
        openssl req -config x509.cnf -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
                -out ca.crt -days 2 -subj /CN=vpt-ca -extensions ca 2>/dev/null
        for n in server:srv cl1:cli cl2:cli; do
                openssl req -config x509.cnf -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                        -keyout "${n%:*}.key" -out "${n%:*}.csr" -subj "/CN=${n%:*}" 2>/dev/null
                openssl x509 -req -in "${n%:*}.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                        -extfile x509.cnf -extensions "${n#*:}" -out "${n%:*}.crt" 2>/dev/null
        done
        chmod 600 ./*.key
)
server_conf() { # NAME PORT DEV: as in /etc/openvpn/server/NAME.conf (Debian's unit runs it from there)
        cat >"$O/$1.conf" <<EOF
dev $3
dev-type tun
topology subnet
local 192.0.2.100
port $2
proto udp4
server ${POOL%/*} 255.255.255.0
ca ca.crt
cert server.crt
key server.key
dh none
disable-dco
keepalive 10 60
script-security 2
up /opt/vpt/hooks/vpnpolicy-openvpn-up
verb 3
EOF
}
server_conf srv 1194 tun0
server_conf leak 1195 tun1
client_start() { # CLn PORT: a client that keeps trying to connect, log in $T/CLn.log
        local ns=${!1}
        cat >"$O/$1.conf" <<EOF
client
dev tun0
dev-type tun
proto udp4
remote 192.0.2.100 $2
nobind
connect-retry 1 1
# a new handshake every 4 s: connected soon after the server appears (not after TLS's retransmit backoff)
hand-window 4
ca $O/ca.crt
cert $O/${1,,}.crt
key $O/${1,,}.key
remote-cert-tls server
disable-dco
route $TARGET 255.255.255.255
verb 3
EOF
        ns_exec "$ns" /usr/sbin/openvpn --config "$O/$1.conf" </dev/null >"$T/$1.log" 2>&1 &
        register_pid $!
        eval "${1}_PID=\$!"
}
connected() { grep -q 'Initialization Sequence Completed' "$T/$1.log"; }
# pings NS COUNT: COUNT pings to the target, 0.2 s apart; prints how many were answered
pings() {
        local out
        out=$(ns_exec "$1" ping -n -q -c "$2" -i 0.2 -W 1 "$TARGET" 2>&1) || true
        [[ $out =~ ([0-9]+)\ received ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# ---------------------------------------------------------------------------------------------------------
# the container's files
nspawn_prepare
mkdir -p "$T/sys/openvpn-server@leak.service.d" "$T/vpnpolicy"
# The units and the drop-ins as the package installs them into /lib/systemd/system.
nspawn_unit vpnpolicyd.service
nspawn_unit vpnpolicyd.socket
nspawn_unit openvpn-server@.service.d/vpnpolicy.conf
# Enabled as the admin would: systemctl enable vpnpolicyd.socket vpnpolicyd.service openvpn-server@srv
nspawn_enable multi-user.target vpnpolicyd.service
nspawn_enable sockets.target vpnpolicyd.socket
nspawn_enable multi-user.target openvpn-server@.service openvpn-server@srv.service
# wg-quick@ (this kernel may have no WireGuard: only its gate is checked)
WG=
if [[ -f /usr/lib/systemd/system/wg-quick@.service ]]; then
        WG=1
        nspawn_unit wg-quick@.service.d/vpnpolicy.conf
        nspawn_enable multi-user.target wg-quick@.service wg-quick@wg0.service
fi
# The instance that runs without vpnpolicy (control B): the drop-in masked for it (docs/openvpn.md).
ln -s /dev/null "$T/sys/openvpn-server@leak.service.d/vpnpolicy.conf"
good_conf() {
        printf '[Pool]\nPrefix=%s\n[Gateway]\nIPv4=192.168.1.1\nDevice=eth1\n[Kernel]\nForwarding=enable\n' "$POOL"
}
{ good_conf; printf 'Bogus=1\n'; } >"$T/vpnpolicy/vpnpolicy.conf"
rc=0
"$VPNPOLICYD" --check-config --config "$T/vpnpolicy/vpnpolicy.conf" >/dev/null 2>&1 || rc=$?
check "the configuration the box boots with is invalid (exit 78)" test "$rc" = 78
chmod -R go+rX "$T/vpnpolicy" "$O"
chmod 600 "$O"/*.key

# ---------------------------------------------------------------------------------------------------------
# boot
client_start CL1 1194           # trying from before the boot, as clients do
t0=$(now_ms)
nspawn_boot "$SRV" --bind="$T/vpnpolicy:/etc/vpnpolicy" --bind-ro="$O:/etc/openvpn/server"

# ---------------------------------------------------------------------------------------------------------
info "A: the boot with an invalid configuration"
show() { cshow "$@"; }
agent_failed() { [[ $(show vpnpolicyd.service ActiveState) == failed ]]; }
check "vpnpolicyd fails at the boot" wait_until 10000 agent_failed
# (the socket tries it again for each queued call until the start limit: each exits 78 too)
check "vpnpolicyd exited 78" wait_until 5000 eval '[[ $(show vpnpolicyd.service ExecMainStatus) == 78 ]]'
check "... on the invalid configuration, says its journal" eval \
        'cin journalctl -q -b -u vpnpolicyd.service --no-pager | grep "vpnpolicy.conf:[0-9]*: \[Kernel\] Bogus: unknown key" >/dev/null'
check "... and is not restarted by Restart= (NRestarts=0)" test "$(show vpnpolicyd.service NRestarts)" = 0
check "openvpn-server@srv has the drop-in" eval 'show openvpn-server@srv.service DropInPaths | grep /usr/lib/systemd/system/openvpn-server@.service.d/vpnpolicy.conf >/dev/null'
check "openvpn-server@srv wants and is ordered after vpnpolicyd" eval \
        '[[ " $(show openvpn-server@srv.service Wants) " == *" vpnpolicyd.service "* && " $(show openvpn-server@srv.service After) " == *" vpnpolicyd.service "* ]]'
check_fail "openvpn-server@srv does not require or bind to vpnpolicyd" eval \
        'cin systemctl show -p Requires -p BindsTo -p Requisite -p PartOf --value openvpn-server@srv.service | grep vpnpolicyd >/dev/null'
gate_failed() { cin journalctl -q -b -u openvpn-server@srv.service --no-pager | grep 'wait-ready: vpnpolicyd did not answer' >/dev/null; }
t1=$(now_ms)
# pool traffic tried all along: cl1 keeps connecting and pinging until the gate has failed
: >"$T/pings-a"
while ! gate_failed && (($(now_ms) - t1 < 30000)); do
        pings "$CL1" 3 >>"$T/pings-a"
        sleep 0.5       # no route into a tunnel yet: ping fails at once
done
info "the gate failed $(($(now_ms) - t0)) ms after the boot began: $(cin journalctl -q -b -u openvpn-server@srv.service --no-pager | grep -m1 wait-ready || true)"
check "openvpn-server@srv's ExecStartPre (wait-ready) failed, saying so in its journal" gate_failed
state=$(show openvpn-server@srv.service ActiveState)/$(show openvpn-server@srv.service SubState)
info "openvpn-server@srv: $state, Result=$(show openvpn-server@srv.service Result); vpnpolicyd: $(show vpnpolicyd.service ActiveState)/$(show vpnpolicyd.service Result), NRestarts=$(show vpnpolicyd.service NRestarts); socket: $(show vpnpolicyd.socket ActiveState)/$(show vpnpolicyd.socket Result)"
check "openvpn-server@srv is not active ($state)" test "${state%/*}" != active
check "openvpn-server@srv never ran OpenVPN (no main pid ever)" test "$(show openvpn-server@srv.service ExecMainStartTimestampMonotonic)" = 0
check_fail "no tun device on the server" ip -n "$SRV" link show tun0
check_fail "cl1 never connected" connected CL1
check "cl1 is still trying to connect" _vpt_alive "$CL1_PID"
if [[ -n $WG ]]; then
        wg_journal() { cin journalctl -q -b -u wg-quick@wg0.service --no-pager; }
        check "wg-quick@wg0: its gate failed too" wait_until 5000 eval 'wg_journal | grep "wait-ready: vpnpolicyd did not answer" >/dev/null'
        check "wg-quick@wg0: wg-quick never ran" test "$(show wg-quick@wg0.service ExecMainStartTimestampMonotonic)" = 0
fi
assert_eq "A: 0 pool packets at the main default router" 0 "$(pool_at rtr)"
assert_eq "A: 0 pool packets at nat" 0 "$(pool_at nat)"
assert_eq "A: cl1's pings were not answered" 0 "$(awk '{ s += $1 } END { print s + 0 }' "$T/pings-a")"

# ---------------------------------------------------------------------------------------------------------
info "B (control): the same server without the gate leaks by the main default route"
check "openvpn-server@leak (drop-in masked) starts with the agent down" cin systemctl start openvpn-server@leak.service
check_fail "openvpn-server@leak has no vpnpolicy drop-in in force" eval \
        'show openvpn-server@leak.service DropInPaths | grep "openvpn-server@.service.d/vpnpolicy.conf" >/dev/null'
client_start CL2 1195
check "cl2 connects to it" wait_until 15000 connected CL2
n=$(pings "$CL2" 5)
info "B: cl2 $n of 5 pings answered; pool packets at rtr $(pool_at rtr), at nat $(pool_at nat)"
check "B: pool packets reach the main default router ($(pool_at rtr) > 0): the hole" test "$(pool_at rtr)" -gt 0
assert_eq "B: none at nat (the agent is down)" 0 "$(pool_at nat)"
kill -TERM "$CL2_PID"
cin systemctl stop openvpn-server@leak.service
RTR_B=$(pool_at rtr)

# ---------------------------------------------------------------------------------------------------------
info "C: the configuration fixed, the agent started: the same instance comes up by itself"
good_conf >"$T/vpnpolicy/vpnpolicy.conf"
t1=$(now_ms)
cin systemctl reset-failed vpnpolicyd.service vpnpolicyd.socket
check "systemctl restart vpnpolicyd" cin systemctl restart vpnpolicyd.service
check "vpnpolicyd is active" test "$(show vpnpolicyd.service ActiveState)" = active
srv_active() { [[ $(show openvpn-server@srv.service ActiveState) == active ]]; }
check "openvpn-server@srv becomes active on its own (Restart=on-failure, the gate passes) within 25 s" \
        wait_until 25000 srv_active
info "openvpn-server@srv active $(($(now_ms) - t1)) ms after the agent's restart; $(show openvpn-server@srv.service NRestarts) restarts"
check "its gate said ready" eval 'cin journalctl -q -b -u openvpn-server@srv.service --no-pager | grep "vpnpolicyd is ready" >/dev/null'
check "cl1 connects" wait_until 15000 connected CL1
check "the agent has tun0 (healthy)" wait_until 5000 cin vpnpolicyctl status
if [[ -n $WG ]]; then
        cin systemctl start wg-quick@wg0.service >/dev/null 2>&1 || true      # wg-quick itself may fail here
        check "wg-quick@wg0 started again: its gate passes" eval 'wg_journal | grep "vpnpolicyd is ready" >/dev/null'
        check "wg-quick@wg0: wg-quick ran" test "$(show wg-quick@wg0.service ExecMainStartTimestampMonotonic)" != 0
fi
n=$(pings "$CL1" 5)
info "C: cl1 $n of 5 pings answered; pool packets at rtr $(pool_at rtr), at nat $(pool_at nat)"
check "C: cl1's pings are answered ($n of 5)" test "$n" -ge 4
check "C: they left by nat ($(pool_at nat) >= 5)" test "$(pool_at nat)" -ge 5
assert_eq "C: no pool packet more at the main default router" "$RTR_B" "$(pool_at rtr)"

# ---------------------------------------------------------------------------------------------------------
info "D: restarting and stopping the agent leave OpenVPN alone"
# shellcheck disable=SC2034 # used in the evals below
srv_pid=$(show openvpn-server@srv.service MainPID)
check "systemctl restart vpnpolicyd" cin systemctl restart vpnpolicyd.service
check "OpenVPN still active, same pid" eval '[[ $(show openvpn-server@srv.service ActiveState) == active && $(show openvpn-server@srv.service MainPID) == "$srv_pid" ]]'
check "systemctl stop vpnpolicyd" cin systemctl stop vpnpolicyd.service
check "OpenVPN still active after the stop, same pid" eval '[[ $(show openvpn-server@srv.service ActiveState) == active && $(show openvpn-server@srv.service MainPID) == "$srv_pid" ]]'
nat0=$(pool_at nat)
n=$(pings "$CL1" 5)
check "D: with the agent stopped, cl1's pings still leave by nat ($n of 5)" test "$n" -ge 4 -a "$(pool_at nat)" -ge $((nat0 + 5))
assert_eq "D: still no pool packet more at the main default router" "$RTR_B" "$(pool_at rtr)"

info "total $(($(now_ms) - t0)) ms since the boot began"
finish
