# shellcheck shell=bash disable=SC2119,SC2120
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/e2e/world.sh: the seed-003 world with the real OpenVPN, in network namespaces.
# Source it (safe under `set -euo pipefail`), then:
#
#     trap world_down EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
#     world_up subnet                 # or net30; = world_net_up + $WORLD_PRE_VPN_HOOK + world_vpn_up
#     world_ping cl1 203.0.113.1
#     world_counter nat 4
#
# Topology (every link a veth pair created directly inside the namespaces; nothing in the host's
# namespace, no traffic leaves the world):
#
#                                  inet  203.0.113.1, 2001:db8:203::1 (on lo)
#                         to-rtr /      \ to-nat
#     198.51.100.0/25  2001:db8:1::/64  198.51.100.128/25  2001:db8:2::/64
#                        to-inet /        \ to-inet          (both routers masquerade towards inet,
#      cl1 --- to-cl1 [ rtr ]              [ nat ]            so replies return the way they left)
#      cl2 --- to-cl2   | to-srv            | to-srv
#        192.0.2.0/24   |                   |  192.168.1.0/24
#        fd00:192:0:2::/64                  |  fd00:1010:1010:1010::/64
#                  eth0 |                   | eth1
#                      [ srv ] ------------'        OpenVPN server on 192.0.2.100 udp/1194, dev tun0
#
#   rtr: the default router (srv's default routes point to it, v4 and v6); also the clients' underlay
#        (cl1 198.18.1.2/24, cl2 198.18.2.2/24, each with a route to 192.0.2.0/24 only).
#   nat: the NAT/CGNAT router of seed 003: 192.168.1.1 / fd00:1010:1010:1010::1.
#   rtr and nat both have static return routes for the pools via srv (seed 003 assumption 4) and
#   nftables counters (table inet vpw, hook prerouting) on every packet arriving at the router,
#   forwardable or not, by source: pool4/pool6 (source in the pools),
#   lan4/lan6 (source in cl1's LAN), srv4/srv6 (source = one of srv's own link addresses, except
#   its OpenVPN packets from udp/1194 to the clients, which always cross rtr).
#   cl1 has a LAN behind it: lan1 172.16.1.10/24, fd00:172:16:1::10/64 (cl1 is .1 / ::1), announced
#   with `route`/`route-ipv6` in the server config and `iroute`/`iroute-ipv6` in ccd/cl1; ccd/cl2
#   pushes routes to it. Clients route 203.0.113.0/24 and 2001:db8:203::/64 into the tunnel
#   (client-side `route`), and in net30 also 10.10.10.0/24.
#
# Namespaces are "$WORLD_PREFIX-ROLE" with ROLE in srv rtr nat inet cl1 cl2 lan1; WORLD_PREFIX defaults
# to "vpw$$" (the sourcing shell's PID). Inside them interface names are fixed (srv: eth0, eth1, tun0).
#
# Variables a caller may set before world_up (all optional):
#   WORLD_UP_HOOK        OpenVPN `up` command of the server (default: tests/e2e/seed-up.sh;
#                        set to "" for no up script)
#   WORLD_PRE_VPN_HOOK   command run by world_up after the network is built and before OpenVPN
#                        starts, with the server namespace as its argument (e.g. seed-policy.sh;
#                        default: seed-policy.sh if WORLD_UP_HOOK is unset, so a bare world_up
#                        builds the complete seed recipe; else nothing). It is word-split and run in
#                        the calling shell, so it may name a shell function (test-e2e-agent.sh starts
#                        the agent that way and keeps its pid)
#   WORLD_SERVER_EXTRA   extra lines appended to the server config
#   WORLD_CLIENT_EXTRA   extra lines appended to both client configs
#   WORLD_PREFIX         namespace name prefix (default vpw$$)
#   WORLD_DIR            the world's directory (default: mktemp -d under ${TMPDIR:-/tmp}); must not exist
#   WORLD_TIMEOUT        seconds to wait for OpenVPN to come up (default 20)
#   WORLD_OPENVPN        the openvpn binary (default: /usr/sbin/openvpn)
#   WORLD_DCO            1 to let OpenVPN use data channel offload (default 0: `disable-dco`, so the
#                        server's tun0 is a plain tun device and iroutes live inside OpenVPN)
#
# Set by world_up (exported; world_save/world_load carry them across processes):
#   WORLD_SRV WORLD_RTR WORLD_NAT WORLD_INET WORLD_CL1 WORLD_CL2 WORLD_LAN1   namespace names
#   WORLD_DIR WORLD_RUNTIME_DIR WORLD_TOPOLOGY
#   WORLD_CL1_TUN4 WORLD_CL1_TUN6 WORLD_CL2_TUN4 WORLD_CL2_TUN6   the clients' tunnel addresses
#   constants: WORLD_POOL4 WORLD_POOL6 WORLD_SRV_TUN4 WORLD_SRV_TUN6 WORLD_GW4 WORLD_GW6
#              WORLD_INET4 WORLD_INET6 WORLD_LAN1_4 WORLD_LAN1_6 WORLD_LAN4 WORLD_LAN6
#              WORLD_SRV_UPLINK4 WORLD_SRV_UPLINK6 WORLD_DEFGW4 WORLD_DEFGW6
#
# Functions: see the "public" section at the end.

WORLD_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WORLD_E2E_DIR

export WORLD_POOL4=10.10.10.0/24
export WORLD_POOL6=fd00:4242:4242:4242::/64
export WORLD_SRV_TUN4=10.10.10.1
export WORLD_SRV_TUN6=fd00:4242:4242:4242::1
export WORLD_GW4=192.168.1.1
export WORLD_GW6=fd00:1010:1010:1010::1
export WORLD_SRV_GWSIDE4=192.168.1.100
export WORLD_SRV_GWSIDE6=fd00:1010:1010:1010::100
export WORLD_SRV_UPLINK4=192.0.2.100
export WORLD_SRV_UPLINK6=fd00:192:0:2::100
export WORLD_DEFGW4=192.0.2.1
export WORLD_DEFGW6=fd00:192:0:2::1
export WORLD_INET4=203.0.113.1
export WORLD_INET6=2001:db8:203::1
export WORLD_LAN4=172.16.1.0/24
export WORLD_LAN6=fd00:172:16:1::/64
export WORLD_LAN1_4=172.16.1.10
export WORLD_LAN1_6=fd00:172:16:1::10

WORLD_ROLES="srv rtr nat inet cl1 cl2 lan1"

_world_err() { echo "world: $*" >&2; }
# grep -q that reads its input to the end, as tests/lib/common.sh has it (scripts of the world source only
# this file): under pipefail `ip ... | grep -q X` fails with 141 when grep exits while ip still writes
declare -F grep_q >/dev/null || { grep_q() { grep "$@" >/dev/null; }; export -f grep_q; }

# Poll "$@" every 50 ms for at most $1 seconds.
_world_wait() {
        local n=$(( $1 * 20 ))
        shift
        while (( n-- > 0 )); do
                "$@" && return 0
                sleep 0.05
        done
        "$@"
}

_world_alive() {        # pid: running and not a zombie
        local st
        [ -r "/proc/$1/stat" ] || return 1
        st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
        [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_world_ns_exists() { [ -e "/run/netns/$1" ]; }

_world_sysctl() {       # ns key=value...
        local ns=$1
        shift
        ip netns exec "$ns" sysctl -qw "$@" >/dev/null
}

_world_nft_counters() { # ns: the counting (and masquerading) table of a router
        ip netns exec "$1" nft -f - <<EOF
table inet vpw {
        counter pool4 {}
        counter pool6 {}
        counter lan4 {}
        counter lan6 {}
        counter srv4 {}
        counter srv6 {}
        # prerouting, not forward: a packet the router cannot route (no route, so it never reaches
        # the forward hook) still counts as having gone that way.
        chain count {
                type filter hook prerouting priority filter; policy accept;
                icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept
                ip saddr $WORLD_POOL4 counter name pool4
                ip6 saddr $WORLD_POOL6 counter name pool6
                ip saddr $WORLD_LAN4 counter name lan4
                ip6 saddr $WORLD_LAN6 counter name lan6
                ip saddr { $WORLD_SRV_UPLINK4, $WORLD_SRV_GWSIDE4 } udp sport 1194 accept
                ip saddr { $WORLD_SRV_UPLINK4, $WORLD_SRV_GWSIDE4 } counter name srv4
                ip6 saddr { $WORLD_SRV_UPLINK6, $WORLD_SRV_GWSIDE6 } counter name srv6
        }
        chain masq {
                type nat hook postrouting priority srcnat; policy accept;
                oifname "to-inet" masquerade
        }
}
EOF
}

# Builds the namespaces, links, addresses, routes, counters and /etc/netns/SRV/iproute2.
world_net_up() {
        local topo=${1:-subnet} role ns
        case $topo in subnet|net30) ;; *) _world_err "topology must be subnet or net30, not '$topo'"; return 1;; esac
        if [ -n "${WORLD_ACTIVE:-}" ]; then _world_err "a world is already up ($WORLD_PREFIX)"; return 1; fi

        export WORLD_PREFIX=${WORLD_PREFIX:-vpw$$}
        export WORLD_TOPOLOGY=$topo
        export WORLD_SRV=$WORLD_PREFIX-srv WORLD_RTR=$WORLD_PREFIX-rtr WORLD_NAT=$WORLD_PREFIX-nat
        export WORLD_INET=$WORLD_PREFIX-inet WORLD_CL1=$WORLD_PREFIX-cl1 WORLD_CL2=$WORLD_PREFIX-cl2
        export WORLD_LAN1=$WORLD_PREFIX-lan1
        for role in $WORLD_ROLES; do
                if _world_ns_exists "$WORLD_PREFIX-$role"; then
                        _world_err "namespace $WORLD_PREFIX-$role already exists (stale world? remove it or set WORLD_PREFIX)"
                        return 1
                fi
        done
        # From here on world_down knows what to remove.
        export WORLD_ACTIVE=1
        if [ -n "${WORLD_DIR:-}" ]; then
                mkdir "$WORLD_DIR" || { _world_err "cannot create WORLD_DIR $WORLD_DIR"; return 1; }
                WORLD_DIR_AUTO=
        else
                WORLD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vpw.XXXXXX") || return 1
                WORLD_DIR_AUTO=1
        fi
        export WORLD_DIR_AUTO
        export WORLD_DIR
        export WORLD_RUNTIME_DIR=$WORLD_DIR/run
        mkdir -p "$WORLD_DIR"/{pki,ccd,log,pid,run} || return 1

        for role in $WORLD_ROLES; do
                ns=$WORLD_PREFIX-$role
                ip netns add "$ns" || { _world_err "ip netns add $ns failed"; return 1; }
                # No DAD: addresses are usable at once (no 1-2 s tentative phase).
                _world_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 || return 1
                ip -n "$ns" link set lo up || return 1
        done
        for ns in "$WORLD_SRV" "$WORLD_RTR" "$WORLD_NAT" "$WORLD_CL1"; do
                _world_sysctl "$ns" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
        done

        # Links: created directly in the namespaces, so no name ever exists in the host's namespace.
        ip -batch - <<EOF || { _world_err "creating veth links failed"; return 1; }
link add eth0 netns $WORLD_SRV type veth peer name to-srv netns $WORLD_RTR
link add eth1 netns $WORLD_SRV type veth peer name to-srv netns $WORLD_NAT
link add to-inet netns $WORLD_RTR type veth peer name to-rtr netns $WORLD_INET
link add to-inet netns $WORLD_NAT type veth peer name to-nat netns $WORLD_INET
link add to-cl1 netns $WORLD_RTR type veth peer name eth0 netns $WORLD_CL1
link add to-cl2 netns $WORLD_RTR type veth peer name eth0 netns $WORLD_CL2
link add lan netns $WORLD_CL1 type veth peer name eth0 netns $WORLD_LAN1
EOF
        ip -n "$WORLD_SRV" -batch - <<EOF || { _world_err "configuring $WORLD_SRV failed"; return 1; }
addr add $WORLD_SRV_UPLINK4/24 dev eth0
addr add $WORLD_SRV_UPLINK6/64 dev eth0 nodad
addr add $WORLD_SRV_GWSIDE4/24 dev eth1
addr add $WORLD_SRV_GWSIDE6/64 dev eth1 nodad
link set eth0 up
link set eth1 up
route add default via $WORLD_DEFGW4
route add default via $WORLD_DEFGW6
EOF
        ip -n "$WORLD_RTR" -batch - <<EOF || { _world_err "configuring $WORLD_RTR failed"; return 1; }
addr add $WORLD_DEFGW4/24 dev to-srv
addr add $WORLD_DEFGW6/64 dev to-srv nodad
addr add 198.51.100.1/25 dev to-inet
addr add 2001:db8:1::1/64 dev to-inet nodad
addr add 198.18.1.1/24 dev to-cl1
addr add 198.18.2.1/24 dev to-cl2
link set to-srv up
link set to-inet up
link set to-cl1 up
link set to-cl2 up
route add 203.0.113.0/24 via 198.51.100.2
route add 2001:db8:203::/64 via 2001:db8:1::2
route add $WORLD_POOL4 via $WORLD_SRV_UPLINK4
route add $WORLD_POOL6 via $WORLD_SRV_UPLINK6
EOF
        ip -n "$WORLD_NAT" -batch - <<EOF || { _world_err "configuring $WORLD_NAT failed"; return 1; }
addr add $WORLD_GW4/24 dev to-srv
addr add $WORLD_GW6/64 dev to-srv nodad
addr add 198.51.100.129/25 dev to-inet
addr add 2001:db8:2::1/64 dev to-inet nodad
link set to-srv up
link set to-inet up
route add 203.0.113.0/24 via 198.51.100.130
route add 2001:db8:203::/64 via 2001:db8:2::2
route add $WORLD_POOL4 via $WORLD_SRV_GWSIDE4
route add $WORLD_POOL6 via $WORLD_SRV_GWSIDE6
EOF
        ip -n "$WORLD_INET" -batch - <<EOF || { _world_err "configuring $WORLD_INET failed"; return 1; }
addr add $WORLD_INET4/32 dev lo
addr add $WORLD_INET6/128 dev lo
addr add 198.51.100.2/25 dev to-rtr
addr add 2001:db8:1::2/64 dev to-rtr nodad
addr add 198.51.100.130/25 dev to-nat
addr add 2001:db8:2::2/64 dev to-nat nodad
link set to-rtr up
link set to-nat up
EOF
        ip -n "$WORLD_CL1" -batch - <<EOF || { _world_err "configuring $WORLD_CL1 failed"; return 1; }
addr add 198.18.1.2/24 dev eth0
addr add 172.16.1.1/24 dev lan
addr add fd00:172:16:1::1/64 dev lan nodad
link set eth0 up
link set lan up
route add 192.0.2.0/24 via 198.18.1.1
EOF
        ip -n "$WORLD_CL2" -batch - <<EOF || { _world_err "configuring $WORLD_CL2 failed"; return 1; }
addr add 198.18.2.2/24 dev eth0
link set eth0 up
route add 192.0.2.0/24 via 198.18.2.1
EOF
        ip -n "$WORLD_LAN1" -batch - <<EOF || { _world_err "configuring $WORLD_LAN1 failed"; return 1; }
addr add $WORLD_LAN1_4/24 dev eth0
addr add $WORLD_LAN1_6/64 dev eth0 nodad
link set eth0 up
route add default via 172.16.1.1
route add default via fd00:172:16:1::1
EOF
        _world_nft_counters "$WORLD_RTR" || { _world_err "nft on $WORLD_RTR failed"; return 1; }
        _world_nft_counters "$WORLD_NAT" || { _world_err "nft on $WORLD_NAT failed"; return 1; }

        # A private /etc/iproute2 for the server namespace (`ip netns exec` bind-mounts it over
        # /etc/iproute2), so table names (seed-policy.sh, the agent) never touch the host's files.
        # It must exist before any process enters the namespace.
        if ! { mkdir -p "/etc/netns/$WORLD_SRV" && cp -a /etc/iproute2 "/etc/netns/$WORLD_SRV/iproute2"; }; then
                _world_err "cannot create /etc/netns/$WORLD_SRV/iproute2"
                return 1
        fi
        world_save
}

_world_pki() {
        local d=$WORLD_DIR/pki n
        cat >"$d/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
        (
                cd "$d" || exit 1
                export OPENSSL_CONF=$d/openssl.cnf
                openssl req -config openssl.cnf -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                        -keyout ca.key -out ca.crt -days 3 -subj "/CN=vpnpolicy e2e CA" -extensions v3_ca \
                        2>/dev/null || exit 1
                for n in server cl1 cl2; do
                        openssl req -config openssl.cnf -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                                -keyout "$n.key" -out "$n.csr" -subj "/CN=$n" 2>/dev/null || exit 1
                        openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
                                -days 3 -extfile openssl.cnf \
                                -extensions "$([ "$n" = server ] && echo v3_server || echo v3_client)" \
                                -out "$n.crt" 2>/dev/null || exit 1
                done
                chmod 600 ./*.key
                "$WORLD_OPENVPN" --genkey secret ta.key || exit 1
        ) || { _world_err "PKI generation failed"; return 1; }
}

_world_server_conf() {
        local d=$WORLD_DIR
        {
                cat <<EOF
# vpnpolicy e2e world: seed 003 server ($WORLD_TOPOLOGY)
dev tun0
dev-type tun
topology $WORLD_TOPOLOGY
local $WORLD_SRV_UPLINK4
port 1194
proto udp4
server ${WORLD_POOL4%/*} 255.255.255.0
server-ipv6 $WORLD_POOL6
client-config-dir $d/ccd
route 172.16.1.0 255.255.255.0
route-ipv6 $WORLD_LAN6
ca $d/pki/ca.crt
cert $d/pki/server.crt
key $d/pki/server.key
dh none
tls-crypt $d/pki/ta.key
keepalive 10 60
script-security 2
setenv VPNPOLICY_RUNTIME_DIR $WORLD_RUNTIME_DIR
status $d/log/srv.status 1
log $d/log/srv.log
writepid $d/pid/srv.pid
verb 3
daemon vpw-srv
EOF
                [ "${WORLD_DCO:-0}" = 1 ] || echo disable-dco
                if [ -n "${WORLD_UP_HOOK-$WORLD_E2E_DIR/seed-up.sh}" ]; then
                        echo "up \"${WORLD_UP_HOOK-$WORLD_E2E_DIR/seed-up.sh}\""
                fi
                printf '%s\n' "${WORLD_SERVER_EXTRA:-}"
        } >"$d/srv.conf"
        printf 'iroute 172.16.1.0 255.255.255.0\niroute-ipv6 %s\n' "$WORLD_LAN6" >"$d/ccd/cl1"
        printf 'push "route 172.16.1.0 255.255.255.0"\npush "route-ipv6 %s"\n' "$WORLD_LAN6" >"$d/ccd/cl2"
}

_world_client_conf() {  # cl1|cl2
        local d=$WORLD_DIR c=$1
        {
                cat <<EOF
# vpnpolicy e2e world: client $c
client
dev tun0
dev-type tun
proto udp4
remote $WORLD_SRV_UPLINK4 1194
nobind
connect-retry 1 2
ca $d/pki/ca.crt
cert $d/pki/$c.crt
key $d/pki/$c.key
tls-crypt $d/pki/ta.key
remote-cert-tls server
route 203.0.113.0 255.255.255.0
route-ipv6 2001:db8:203::/64
log $d/log/$c.log
writepid $d/pid/$c.pid
verb 3
daemon vpw-$c
EOF
                [ "${WORLD_DCO:-0}" = 1 ] || echo disable-dco
                # net30 pushes only a route to the server's address; clients reach each other by this.
                [ "$WORLD_TOPOLOGY" = net30 ] && echo "route ${WORLD_POOL4%/*} 255.255.255.0"
                printf '%s\n' "${WORLD_CLIENT_EXTRA:-}"
        } >"$d/$c.conf"
}

_world_log_says_up() { grep -q 'Initialization Sequence Completed' "$1" 2>/dev/null; }
_world_log_says_dead() { grep -Eq 'Exiting due to fatal error|process exiting' "$1" 2>/dev/null; }

_world_pid_of() {       # srv|cl1|cl2
        local f=$WORLD_DIR/pid/$1.pid
        [ -s "$f" ] && cat "$f"
}

_world_start_openvpn() {        # srv|cl1|cl2: start and wait for "Initialization Sequence Completed"
        local who=$1 ns log pid n
        ns=$(world_ns "$who") || return 1
        log=$WORLD_DIR/log/$who.log
        rm -f "$WORLD_DIR/pid/$who.pid"
        : >"$log"
        ip netns exec "$ns" "$WORLD_OPENVPN" --config "$WORLD_DIR/$who.conf" ||
                { _world_err "openvpn ($who) failed to start"; tail -n 20 "$log" >&2; return 1; }
        n=$(( ${WORLD_TIMEOUT:-20} * 20 ))
        while (( n-- > 0 )); do
                _world_log_says_up "$log" && return 0
                pid=$(_world_pid_of "$who") || pid=
                if _world_log_says_dead "$log" || { [ -n "$pid" ] && ! _world_alive "$pid"; }; then
                        _world_err "openvpn ($who) exited; last lines of $log:"
                        tail -n 25 "$log" >&2
                        return 1
                fi
                sleep 0.05
        done
        _world_err "openvpn ($who) not up after ${WORLD_TIMEOUT:-20} s; last lines of $log:"
        tail -n 25 "$log" >&2
        return 1
}

_world_tun_addrs() {    # cl1|cl2: sets WORLD_CLn_TUN4/6 from the kernel
        local who=$1 ns a4 a6 v
        ns=$(world_ns "$who") || return 1
        a4=$(ip -n "$ns" -4 -o addr show dev tun0 2>/dev/null | sed -n 's/.* inet \([0-9.]*\).*/\1/p' | head -n1)
        a6=$(ip -n "$ns" -6 -o addr show dev tun0 scope global 2>/dev/null | sed -n 's/.* inet6 \([0-9a-f:]*\).*/\1/p' | head -n1)
        [ -n "$a4" ] && [ -n "$a6" ] || return 1
        v=WORLD_${who^^}_TUN4; export "$v=$a4"
        v=WORLD_${who^^}_TUN6; export "$v=$a6"
}

# Generates the PKI and configs, starts the server, then the clients, and waits until both are up.
world_vpn_up() {
        [ -n "${WORLD_ACTIVE:-}" ] || { _world_err "world_vpn_up before world_net_up"; return 1; }
        local c
        export WORLD_OPENVPN=${WORLD_OPENVPN:-/usr/sbin/openvpn}
        _world_pki || return 1
        _world_server_conf || return 1
        _world_client_conf cl1 || return 1
        _world_client_conf cl2 || return 1
        _world_start_openvpn srv || return 1
        # Both clients at once, then wait for each.
        for c in cl1 cl2; do
                : >"$WORLD_DIR/log/$c.log"
                ip netns exec "$(world_ns $c)" "$WORLD_OPENVPN" --config "$WORLD_DIR/$c.conf" ||
                        { _world_err "openvpn ($c) failed to start"; tail -n 20 "$WORLD_DIR/log/$c.log" >&2; return 1; }
        done
        for c in cl1 cl2; do
                _world_wait_client "$c" || return 1
        done
        world_save
}

_world_wait_client() {  # cl1|cl2: wait for the log line and the tun addresses
        local c=$1 n pid log=$WORLD_DIR/log/$1.log
        n=$(( ${WORLD_TIMEOUT:-20} * 20 ))
        while (( n-- > 0 )); do
                if _world_log_says_up "$log" && _world_tun_addrs "$c"; then
                        return 0
                fi
                pid=$(_world_pid_of "$c") || pid=
                if _world_log_says_dead "$log" || { [ -n "$pid" ] && ! _world_alive "$pid"; }; then
                        _world_err "openvpn ($c) exited; last lines of $log:"
                        tail -n 25 "$log" >&2
                        return 1
                fi
                sleep 0.05
        done
        _world_err "client $c not connected after ${WORLD_TIMEOUT:-20} s; last lines of $log:"
        tail -n 25 "$log" >&2
        _world_err "last lines of the server log:"
        tail -n 15 "$WORLD_DIR/log/srv.log" >&2
        return 1
}

# ---------------------------------------------------------------------------------------------------
# public

# world_up [subnet|net30]: network, then $WORLD_PRE_VPN_HOOK SRV_NS (if set), then OpenVPN.
# Returns non-zero (after printing why) on failure; the caller's trap runs world_down.
world_up() {
        local t0=${EPOCHREALTIME/./}
        local pre
        if [ -z "${WORLD_UP_HOOK+set}" ]; then
                pre=${WORLD_PRE_VPN_HOOK-$WORLD_E2E_DIR/seed-policy.sh}
        else
                pre=${WORLD_PRE_VPN_HOOK:-}
        fi
        world_net_up "${1:-subnet}" || return 1
        if [ -n "$pre" ]; then
                # shellcheck disable=SC2086  # a command line
                $pre "$WORLD_SRV" || { _world_err "WORLD_PRE_VPN_HOOK failed: $pre"; return 1; }
        fi
        world_vpn_up || return 1
        WORLD_UP_MS=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
        export WORLD_UP_MS
        world_save
}

# world_down: removes everything world_up made (processes, namespaces with their veths and tuns,
# /etc/netns/NS, WORLD_DIR). Idempotent; never fails; safe from any trap, also after a partial world_up.
world_down() {
        local role ns pid pids=() n f
        [ -n "${WORLD_ACTIVE:-}" ] || return 0
        # Processes: the ones we recorded, and anything else living in our namespaces.
        if [ -n "${WORLD_DIR:-}" ] && [ -d "$WORLD_DIR/pid" ]; then
                for f in "$WORLD_DIR"/pid/*.pid; do
                        [ -s "$f" ] || continue
                        pid=$(cat "$f" 2>/dev/null) || continue
                        [[ $pid =~ ^[0-9]+$ ]] && _world_pid_in_world "$pid" && pids+=("$pid")
                done
        fi
        for role in $WORLD_ROLES; do
                ns=$WORLD_PREFIX-$role
                _world_ns_exists "$ns" || continue
                for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
        done
        if (( ${#pids[@]} )); then
                kill -TERM "${pids[@]}" 2>/dev/null || true
                n=100           # 5 s
                while (( n-- > 0 )); do
                        local any=
                        for pid in "${pids[@]}"; do _world_alive "$pid" && any=1; done
                        [ -z "$any" ] && break
                        sleep 0.05
                done
                for pid in "${pids[@]}"; do
                        if _world_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
                done
        fi
        for role in $WORLD_ROLES; do
                ns=$WORLD_PREFIX-$role
                if _world_ns_exists "$ns"; then ip netns del "$ns" 2>/dev/null || _world_err "ip netns del $ns failed"; fi
                if [ -d "/etc/netns/$ns" ]; then rm -rf "/etc/netns/$ns" || true; fi
        done
        rmdir /etc/netns 2>/dev/null || true
        if [ -n "${WORLD_DIR:-}" ] && [ -d "$WORLD_DIR" ]; then rm -rf "$WORLD_DIR" || true; fi
        [ -n "${WORLD_DIR_AUTO:-}" ] && unset WORLD_DIR
        unset WORLD_ACTIVE WORLD_DIR_AUTO WORLD_CL1_TUN4 WORLD_CL1_TUN6 WORLD_CL2_TUN4 WORLD_CL2_TUN6 WORLD_UP_MS
        return 0
}

_world_pid_in_world() { # pid: its network namespace is one of ours (guards against PID reuse)
        local mine role ns
        mine=$(readlink "/proc/$1/ns/net" 2>/dev/null) || return 1
        for role in $WORLD_ROLES; do
                ns=/run/netns/$WORLD_PREFIX-$role
                [ -e "$ns" ] || continue
                [ "$mine" = "net:[$(stat -L -c %i "$ns" 2>/dev/null)]" ] && return 0
        done
        return 1
}

# world_ns ROLE: prints the namespace name of ROLE (srv rtr nat inet cl1 cl2 lan1).
world_ns() {
        case " $WORLD_ROLES " in
                *" $1 "*) echo "${WORLD_PREFIX:?no world}-$1" ;;
                *) _world_err "unknown role '$1' (one of: $WORLD_ROLES)"; return 1 ;;
        esac
}

# world_exec ROLE CMD...: runs CMD inside ROLE's namespace (ip netns exec).
world_exec() {
        local ns
        ns=$(world_ns "$1") || return 1
        shift
        ip netns exec "$ns" "$@"
}

# world_ping ROLE DEST [COUNT]: quiet ping from inside ROLE; success if any reply (1 s per probe).
# Extra ping options may go in WORLD_PING_OPTS (e.g. "-I 10.10.10.1").
world_ping() {
        local ns
        ns=$(world_ns "$1") || return 1
        # shellcheck disable=SC2086
        ip netns exec "$ns" ping -q -n -c "${3:-2}" -i 0.2 -W 1 ${WORLD_PING_OPTS:-} "$2" >/dev/null 2>&1
}

# world_counter rtr|nat [4|6|pool4|pool6|lan4|lan6|srv4|srv6]: prints the packet count of that
# counter (packets that arrived at the router, by source; 4 = pool4, 6 = pool6).
world_counter() {
        local ns what=${2:-4} out
        case $1 in rtr|nat) ;; *) _world_err "world_counter: rtr or nat, not '$1'"; return 1;; esac
        case $what in 4) what=pool4;; 6) what=pool6;; pool4|pool6|lan4|lan6|srv4|srv6) ;;
                *) _world_err "world_counter: unknown counter '$what'"; return 1;; esac
        ns=$(world_ns "$1") || return 1
        out=$(ip netns exec "$ns" nft list counter inet vpw "$what") || return 1
        out=${out#*packets }
        echo "${out%% *}"
}

# world_counters: one line per router with every counter (for logs and the lab).
world_counters() {
        local r c line
        for r in rtr nat; do
                line="$r:"
                for c in pool4 pool6 lan4 lan6 srv4 srv6; do line+=" $c=$(world_counter "$r" "$c")"; done
                echo "$line"
        done
}

# world_log srv|cl1|cl2: prints the path of that OpenVPN log.
world_log() { echo "$WORLD_DIR/log/$1.log"; }

# world_openvpn_pid srv|cl1|cl2: prints the pid of that OpenVPN (fails if not running).
world_openvpn_pid() {
        local pid
        pid=$(_world_pid_of "$1") && _world_alive "$pid" && echo "$pid"
}

# world_client_stop cl1|cl2 / world_client_start cl1|cl2: stop (SIGTERM, wait) or (re)start a client
# and wait until it is connected again (WORLD_CLn_TUN4/6 are refreshed).
world_client_stop() {
        local pid n=100
        pid=$(world_openvpn_pid "$1") || return 0
        kill -TERM "$pid" 2>/dev/null
        while (( n-- > 0 )) && _world_alive "$pid"; do sleep 0.05; done
        ! _world_alive "$pid"
}
world_client_start() {
        case $1 in cl1|cl2) ;; *) _world_err "world_client_start: cl1 or cl2"; return 1;; esac
        world_openvpn_pid "$1" >/dev/null && return 0
        : >"$WORLD_DIR/log/$1.log"
        rm -f "$WORLD_DIR/pid/$1.pid"
        ip netns exec "$(world_ns "$1")" "$WORLD_OPENVPN" --config "$WORLD_DIR/$1.conf" || return 1
        _world_wait_client "$1" || return 1
        world_save
}

# world_save [FILE]: writes the world's variables (default $WORLD_DIR/world.env); world_load FILE
# reads them back in another shell, after which world_* functions (world_down too) work there.
world_save() {
        local f=${1:-$WORLD_DIR/world.env} v
        {
                for v in $(compgen -v WORLD_); do
                        case $v in WORLD_E2E_DIR) continue;; esac
                        printf 'export %s=%q\n' "$v" "${!v}"
                done
        } >"$f.tmp" && mv "$f.tmp" "$f"
}
world_load() {
        # shellcheck disable=SC1090
        source "$1"
}

# world_describe: human summary of the world (namespaces, addresses, logs).
world_describe() {
        cat <<EOF
world $WORLD_PREFIX (topology $WORLD_TOPOLOGY), files in $WORLD_DIR
  namespaces: $WORLD_SRV $WORLD_RTR $WORLD_NAT $WORLD_INET $WORLD_CL1 $WORLD_CL2 $WORLD_LAN1
  srv  eth0 $WORLD_SRV_UPLINK4 $WORLD_SRV_UPLINK6 (default via rtr $WORLD_DEFGW4 / $WORLD_DEFGW6)
       eth1 $WORLD_SRV_GWSIDE4 $WORLD_SRV_GWSIDE6 (nat $WORLD_GW4 / $WORLD_GW6)
       tun0 $WORLD_SRV_TUN4 $WORLD_SRV_TUN6, OpenVPN on $WORLD_SRV_UPLINK4 udp/1194
  cl1  tun0 ${WORLD_CL1_TUN4:-?} ${WORLD_CL1_TUN6:-?}, LAN behind it: lan1 $WORLD_LAN1_4 $WORLD_LAN1_6
  cl2  tun0 ${WORLD_CL2_TUN4:-?} ${WORLD_CL2_TUN6:-?}
  inet $WORLD_INET4 $WORLD_INET6 (reached via rtr or via nat)
  logs: $WORLD_DIR/log/{srv,cl1,cl2}.log   server config: $WORLD_DIR/srv.conf
EOF
}
