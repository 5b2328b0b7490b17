# shellcheck shell=bash disable=SC2034,SC2153,SC2016
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/e2e/world-eduvpn3.sh: an eduVPN 3.x-shaped VPN node in network namespaces, with real OpenVPN 2.6
# and real WireGuard (wireguard-go and wg). Source it after tests/lib/common.sh (its namespaces, processes
# and files go with common.sh's cleanup), then:
#
#     e3_net_up                 # namespaces, links, addresses, counters
#     e3_vpn_up                 # PKI, three OpenVPN servers, wg0, the clients and the WireGuard peer
#     e3_ping CU 203.0.113.1
#
# e3_backups_up (after e3_net_up) gives each profile a second NAT box, for failover: E3_GWSB on the node's
# eth3 (192.168.3.1, fd00:1010:1010:1013::1) for staff, E3_GWGB on eth4 (192.168.4.1, ...:1014::1) for
# guest, built and counting like the first ones, their wan to E3_INET (w3, w4).
#
# The node (E3_SRV) runs what vpn-server-node 3.x generates for two profiles, and no `up` script:
#
#   profile staff: openvpn staff-0 (udp/1194, dev tun0, 10.10.10.0/25, fd00:4242:4242:4242::/112)
#                  openvpn staff-1 (tcp/1194, dev tun1, 10.10.10.128/25, fd00:4242:4242:4242::1:0/112)
#                  WireGuard wg0 (udp/51820, 10.10.11.1/24, fd00:4242:4242:4243::1/64)
#   profile guest: openvpn guest-0 (udp/1195, dev tun2, 10.20.20.0/24, fd00:4343:4343:4343::/112)
#
# Every server is `topology subnet`, `user nobody`, `group nogroup`, `persist-tun`, `persist-key`.
# Around it:
#
#      CU (staff, udp) --\                      /-- E3_GWS staff NAT box 192.168.1.1 (srv eth1) --\
#      CT (staff, tcp) ---+-- E3_RTR --- srv --+                                                   +-- E3_INET
#      CG (guest, udp) ---+   192.0.2.1  eth0   \-- E3_GWG guest NAT box 192.168.2.1 (srv eth2) --/  203.0.113.1
#      WP (WireGuard) ---/   (srv's default router; it also routes to E3_INET)                       2001:db8:203::1
#
# The clients' underlay is IPv4 only, through E3_RTR. E3_RTR, E3_GWS and E3_GWG count, in prerouting, every
# packet by source (table inet e3): pool4/pool6 (any pool, 10.0.0.0/8 and fd00:4200::/23), staff4/staff6,
# guest4/guest6 (the profiles' ranges). The NAT boxes route the pools back via the node and masquerade
# towards E3_INET; so does E3_RTR, so a leak through it would work and be counted, not lost.
#
# wireguard-go keeps its control socket in /var/run/wireguard/IFNAME.sock, one directory for the whole
# machine: each instance runs in a mount namespace of its own with a directory of this test bound over /run,
# and `wg` runs inside that mount namespace (e3_wg), so that wg0 here and a wg0 of another test never meet.
#
# Outside a test (tests/lab/lab-eduvpn3.sh), the caller provides what it uses of common.sh: ns_new, ns_exec,
# veth_add, register_pid, wait_until, _vpt_dead, and $T.
#
# Set by e3_net_up: E3_SRV E3_RTR E3_GWS E3_GWG E3_INET E3_CU E3_CT E3_CG E3_WP (namespace names), E3_DIR.
# Set by e3_backups_up: E3_GWSB E3_GWGB, and E3_ROUTERS (the routers e3_counters shows) with them.
# Set by e3_vpn_up: E3_ADDR4[CU] E3_ADDR6[CU] ... (each client's tunnel addresses), E3_WG_PID[SRV|WP].

E3_INET4=203.0.113.1
E3_INET6=2001:db8:203::1
E3_SRV_UPLINK4=192.0.2.100
E3_WG_PORT=51820

# The OpenVPN server processes: NAME -> "DEV PROTO PORT NETWORK4 NETMASK4 NETWORK6/112"
declare -gA E3_OVPN=(
        [staff-0]="tun0 udp4 1194 10.10.10.0 255.255.255.128 fd00:4242:4242:4242::/112"
        [staff-1]="tun1 tcp4 1194 10.10.10.128 255.255.255.128 fd00:4242:4242:4242::1:0/112"
        [guest-0]="tun2 udp4 1195 10.20.20.0 255.255.255.0 fd00:4343:4343:4343::/112"
)
# The server's own tunnel addresses, by device
declare -gA E3_SRV_ADDR4=([tun0]=10.10.10.1 [tun1]=10.10.10.129 [tun2]=10.20.20.1 [wg0]=10.10.11.1)
declare -gA E3_SRV_ADDR6=([tun0]=fd00:4242:4242:4242::1 [tun1]=fd00:4242:4242:4242::1:1
        [tun2]=fd00:4343:4343:4343::1 [wg0]=fd00:4242:4242:4243::1)
# The clients: NS variable -> "CERT_NAME SERVER_PROCESS UNDERLAY_N"
declare -gA E3_CLIENT=([CU]="cu staff-0 1" [CT]="ct staff-1 2" [CG]="cg guest-0 3")
declare -gA E3_ADDR4=() E3_ADDR6=() E3_WG_PID=()
E3_ROUTERS="RTR GWS GWG"

_e3_err() { echo "world-eduvpn3: $*" >&2; }

# ---------------------------------------------------------------------------------------------------------
# the network

# _e3_counters NS: the counting table of a router
_e3_counters() {
        ns_exec "$1" nft -f - <<'EOF'
table inet e3 {
        counter pool4 {}
        counter pool6 {}
        counter staff4 {}
        counter staff6 {}
        counter guest4 {}
        counter guest6 {}
        chain count {
                type filter hook prerouting priority filter; policy accept;
                icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept
                ip saddr 10.0.0.0/8 counter name pool4
                ip6 saddr fd00:4200::/23 counter name pool6
                ip saddr { 10.10.10.0/24, 10.10.11.0/24 } counter name staff4
                ip6 saddr { fd00:4242:4242:4242::/64, fd00:4242:4242:4243::/64 } counter name staff6
                ip saddr 10.20.20.0/24 counter name guest4
                ip6 saddr fd00:4343:4343:4343::/64 counter name guest6
        }
        chain masq {
                type nat hook postrouting priority srcnat; policy accept;
                oifname { "to-inet", "wan" } masquerade
        }
}
EOF
}

# _e3_forwarding NS: a router
_e3_forwarding() {
        ns_exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

# _e3_gateway NS N: NAT box N (1 staff, 2 guest, 3 and 4 their backups) on the node's ethN, its wan to
# E3_INET
_e3_gateway() {
        local g=$1 n=$2
        _e3_forwarding "$g" || return 1
        veth_add "$E3_SRV" "eth$n" "$g" eth0 &&
                ip -n "$E3_SRV" addr add "192.168.$n.100/24" dev "eth$n" &&
                ip -n "$E3_SRV" addr add "fd00:1010:1010:101$n::100/64" dev "eth$n" nodad &&
                ip -n "$g" addr add "192.168.$n.1/24" dev eth0 &&
                ip -n "$g" addr add "fd00:1010:1010:101$n::1/64" dev eth0 nodad || return 1
        veth_add "$g" wan "$E3_INET" "w$n" &&
                ip -n "$g" addr add "100.64.$n.2/24" dev wan &&
                ip -n "$g" addr add "2001:db8:1$n::2/64" dev wan nodad &&
                ip -n "$E3_INET" addr add "100.64.$n.1/24" dev "w$n" &&
                ip -n "$E3_INET" addr add "2001:db8:1$n::1/64" dev "w$n" nodad &&
                ip -n "$g" route add default via "100.64.$n.1" &&
                ip -n "$g" -6 route add default via "2001:db8:1$n::1" &&
                ip -n "$g" route add 10.0.0.0/8 via "192.168.$n.100" &&
                ip -n "$g" -6 route add fd00:4200::/23 via "fd00:1010:1010:101$n::100" || return 1
        _e3_counters "$g"
}

# _e3_underlay NS N: a client's link to E3_RTR, 198.18.N.2/24, a route to the node only
_e3_underlay() {
        veth_add "$E3_RTR" "c$2" "$1" eth0 &&
                ip -n "$E3_RTR" addr add "198.18.$2.1/24" dev "c$2" &&
                ip -n "$1" addr add "198.18.$2.2/24" dev eth0 &&
                ip -n "$1" route add 192.0.2.0/24 via "198.18.$2.1"
}

# e3_require_tools: skip the test (77) unless the world's programs are installed
e3_require_tools() {
        local tool
        for tool in openvpn wireguard-go wg nft openssl nsenter unshare; do
                command -v "$tool" >/dev/null || skip_test "$tool is missing (tests/run.sh installs it)"
        done
}

# e3_net_up: every namespace and link, in the main shell (ns_new registers them for cleanup)
e3_net_up() {
        local v
        for v in E3_SRV E3_RTR E3_GWS E3_GWG E3_INET E3_CU E3_CT E3_CG E3_WP; do
                ns_new "$v" || return 1
        done
        E3_DIR=$T/e3
        mkdir -p "$E3_DIR"/{pki,server,client,log,pid,wg} || return 1
        _e3_forwarding "$E3_SRV" && _e3_forwarding "$E3_RTR" || return 1
        veth_add "$E3_SRV" eth0 "$E3_RTR" to-srv &&
                ip -n "$E3_SRV" addr add "$E3_SRV_UPLINK4/24" dev eth0 &&
                ip -n "$E3_SRV" addr add fd00:192:0:2::100/64 dev eth0 nodad &&
                ip -n "$E3_RTR" addr add 192.0.2.1/24 dev to-srv &&
                ip -n "$E3_RTR" addr add fd00:192:0:2::1/64 dev to-srv nodad &&
                ip -n "$E3_SRV" route add default via 192.0.2.1 &&
                ip -n "$E3_SRV" -6 route add default via fd00:192:0:2::1 || return 1
        veth_add "$E3_RTR" to-inet "$E3_INET" to-rtr &&
                ip -n "$E3_RTR" addr add 198.51.100.1/30 dev to-inet &&
                ip -n "$E3_RTR" addr add 2001:db8:1::1/64 dev to-inet nodad &&
                ip -n "$E3_INET" addr add 198.51.100.2/30 dev to-rtr &&
                ip -n "$E3_INET" addr add 2001:db8:1::2/64 dev to-rtr nodad &&
                ip -n "$E3_INET" addr add "$E3_INET4/32" dev lo &&
                ip -n "$E3_INET" addr add "$E3_INET6/128" dev lo &&
                ip -n "$E3_RTR" route add 203.0.113.0/24 via 198.51.100.2 &&
                ip -n "$E3_RTR" -6 route add 2001:db8:203::/64 via 2001:db8:1::2 &&
                ip -n "$E3_RTR" route add 10.0.0.0/8 via "$E3_SRV_UPLINK4" &&
                ip -n "$E3_RTR" -6 route add fd00:4200::/23 via fd00:192:0:2::100 || return 1
        _e3_counters "$E3_RTR" || return 1
        _e3_gateway "$E3_GWS" 1 && _e3_gateway "$E3_GWG" 2 || return 1
        _e3_underlay "$E3_CU" 1 && _e3_underlay "$E3_CT" 2 && _e3_underlay "$E3_CG" 3 &&
                _e3_underlay "$E3_WP" 4
}

# e3_backups_up: the second NAT box of each profile (see the top), in the main shell
e3_backups_up() {
        ns_new E3_GWSB && ns_new E3_GWGB || return 1
        _e3_gateway "$E3_GWSB" 3 && _e3_gateway "$E3_GWGB" 4 || return 1
        E3_ROUTERS="RTR GWS GWG GWSB GWGB"
}

# ---------------------------------------------------------------------------------------------------------
# OpenVPN

# _e3_pki: a CA, the server's certificate and one per client, all EC P-256; the tls-crypt key
_e3_pki() {
        local d=$E3_DIR/pki n ext
        cat >"$d/ext.cnf" <<'EOF'
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = clientAuth
EOF
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
                -out "$d/ca.crt" -days 2 -subj "/CN=vpnpolicy e2e eduvpn3 CA" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
                2>/dev/null || return 1
        for n in server cu ct cg; do
                ext=client
                [[ $n != server ]] || ext=server
                openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$n.key" \
                        -out "$d/$n.csr" -subj "/CN=$n" 2>/dev/null &&
                        openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -days 2 \
                                -set_serial "0x$(openssl rand -hex 8)" -extfile "$d/ext.cnf" -extensions "$ext" \
                                -out "$d/$n.crt" 2>/dev/null || return 1
        done
        chmod 0644 "$d"/*.key
        openvpn --genkey secret "$d/ta.key" >/dev/null
}

# e3_server_conf NAME: the config of server process NAME, as vpn-server-node 3.x writes it (the parts that
# matter here: no `up`, `user nobody`, `persist-tun`, one slice of the profile's ranges), then this
# world's files
e3_server_conf() {
        local name=$1 dev proto port net4 mask4 net6 d=$E3_DIR
        read -r dev proto port net4 mask4 net6 <<<"${E3_OVPN[$name]}"
        cat <<EOF
# ******************************************
# * THIS FILE IS GENERATED, DO NOT MODIFY! *
# ******************************************
verb 3
dev-type tun
user nobody
group nogroup
topology subnet
persist-key
persist-tun
remote-cert-tls client
dh none
tls-version-min 1.3
server $net4 $mask4
server-ipv6 $net6
max-clients 124
keepalive 10 60
script-security 2
dev $dev
port $port
setenv PROFILE_ID ${name%-*}
proto $proto
local $E3_SRV_UPLINK4
ca $d/pki/ca.crt
cert $d/pki/server.crt
key $d/pki/server.key
tls-crypt $d/pki/ta.key
disable-dco
log $d/log/$name.log
writepid $d/pid/$name.pid
daemon e3-$name
EOF
}

# _e3_client_conf CERT PROCESS: a client of server PROCESS; routes the outside and every range into the
# tunnel
_e3_client_conf() {
        local c=$1 dev proto port d=$E3_DIR
        read -r dev proto port _ <<<"${E3_OVPN[$2]}"
        cat <<EOF
client
dev tun0
dev-type tun
proto $proto
remote $E3_SRV_UPLINK4 $port
nobind
connect-retry 1 1
server-poll-timeout 5
ca $d/pki/ca.crt
cert $d/pki/$c.crt
key $d/pki/$c.key
tls-crypt $d/pki/ta.key
remote-cert-tls server
disable-dco
route 203.0.113.0 255.255.255.0
route 10.0.0.0 255.0.0.0
route-ipv6 2001:db8:203::/64
route-ipv6 fd00:4200::/23
log $d/log/$c.log
writepid $d/pid/$c.pid
verb 3
daemon e3-$c
EOF
}

_e3_log_up() { grep -q 'Initialization Sequence Completed' "$1" 2>/dev/null; }

# _e3_openvpn_start NS CONF LOG: start OpenVPN (it daemonizes; its pid file is registered for cleanup)
_e3_openvpn_start() {
        : >"$3"
        ns_exec "$1" openvpn --config "$2" || { _e3_err "openvpn $2 did not start"; tail -n 20 "$3" >&2; return 1; }
}

# e3_pid NAME: the pid of OpenVPN process NAME (server or client certificate name)
e3_pid() { cat "$E3_DIR/pid/$1.pid" 2>/dev/null; }

# e3_server_start NAME: start server process NAME and wait for it to be up
e3_server_start() {
        local name=$1 log=$E3_DIR/log/$1.log
        rm -f "$E3_DIR/pid/$name.pid"
        _e3_openvpn_start "$E3_SRV" "$E3_DIR/server/$name.conf" "$log" || return 1
        if ! wait_until 20000 _e3_log_up "$log"; then
                _e3_err "openvpn $name not up in 20 s:"
                tail -n 20 "$log" >&2
                return 1
        fi
        register_pid "$(e3_pid "$name")"
}

# e3_server_stop NAME: SIGTERM server process NAME and wait until it and its tun device are gone
e3_server_stop() {
        local pid dev
        pid=$(e3_pid "$1") || return 1
        read -r dev _ <<<"${E3_OVPN[$1]}"
        kill -TERM "$pid" && wait_until 10000 _vpt_dead "$pid" &&
                wait_until 5000 _e3_no_link "$E3_SRV" "$dev"
}
_e3_no_link() { ! ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# e3_ns ROLE: the namespace of ROLE (SRV RTR GWS GWG GWSB GWGB INET CU CT CG WP)
e3_ns() {
        local v=E3_$1
        echo "${!v:?no namespace for role $1}"
}

# _e3_client_addrs ROLE: the client's tunnel addresses from the kernel, into E3_ADDR4/6[ROLE]
_e3_client_addrs() {
        local ns a4 a6
        ns=$(e3_ns "$1") || return 1
        a4=$(ip -n "$ns" -4 -j addr show dev tun0 | jq -r '.[0].addr_info[0].local // empty')
        a6=$(ip -n "$ns" -6 -j addr show dev tun0 scope global | jq -r '.[0].addr_info[0].local // empty')
        [[ -n $a4 && -n $a6 ]] || return 1
        E3_ADDR4[$1]=$a4
        E3_ADDR6[$1]=$a6
}
_e3_client_ready() { _e3_log_up "$E3_DIR/log/$2.log" && _e3_client_addrs "$1"; }

# e3_client_wait ROLE [TIMEOUT_MS]: wait until client VAR (CU CT CG) is connected and has its addresses
e3_client_wait() {
        local cert
        read -r cert _ <<<"${E3_CLIENT[$1]}"
        if ! wait_until "${2:-20000}" _e3_client_ready "$1" "$cert"; then
                _e3_err "client $1 ($cert) not connected:"
                tail -n 15 "$E3_DIR/log/$cert.log" >&2
                return 1
        fi
        _e3_client_ready "$1" "$cert"
}

# e3_client_start ROLE: start the OpenVPN client ROLE (CU CT CG)
e3_client_start() {
        local cert proc
        read -r cert proc _ <<<"${E3_CLIENT[$1]}"
        _e3_client_conf "$cert" "$proc" >"$E3_DIR/client/$cert.conf" &&
                _e3_openvpn_start "$(e3_ns "$1")" "$E3_DIR/client/$cert.conf" "$E3_DIR/log/$cert.log" &&
                register_pid "$(e3_pid "$cert")"
}

# ---------------------------------------------------------------------------------------------------------
# WireGuard (wireguard-go)

# _e3_wg_go WHO NS: wireguard-go for wg0 in NS, in the foreground, its socket directory private (see the
# top); sets E3_WG_PID[WHO] once the device exists
_e3_wg_go() {
        local who=$1 ns=$2 dir=$E3_DIR/wg/$1
        mkdir -p "$dir/wireguard" || return 1
        # setsid (no fork: a background job is no group leader): out of the caller's terminal session,
        # for the long-lived lab. $dir over /run, so /var/run/wireguard is $dir/wireguard and nothing is
        # made in the host's /run.
        ip netns exec "$ns" setsid unshare --mount --propagation private sh -c \
                'mount --bind "$1" /run && exec env WG_PROCESS_FOREGROUND=1 wireguard-go -f wg0' \
                sh "$dir" </dev/null >"$E3_DIR/log/wg-$who.log" 2>&1 &
        E3_WG_PID[$who]=$!
        register_pid "${E3_WG_PID[$who]}"
        if ! wait_until 10000 test -S "$dir/wireguard/wg0.sock"; then
                _e3_err "wireguard-go ($who) did not create wg0:"
                cat "$E3_DIR/log/wg-$who.log" >&2
                return 1
        fi
}

# e3_wg WHO ARGS...: `wg ARGS` for the wg0 of WHO (SRV or WP), in its wireguard-go's mount namespace
e3_wg() {
        local who=$1
        shift
        nsenter --target "${E3_WG_PID[$who]}" --mount --net wg "$@"
}

# _e3_wg_up: the node's wg0 and the peer's
_e3_wg_up() {
        local d=$E3_DIR/wg s=${E3_SRV_ADDR4[wg0]} s6=${E3_SRV_ADDR6[wg0]}
        (umask 077 && wg genkey >"$d/srv.key" && wg genkey >"$d/wp.key") || return 1
        wg pubkey <"$d/srv.key" >"$d/srv.pub" && wg pubkey <"$d/wp.key" >"$d/wp.pub" || return 1
        _e3_wg_go SRV "$E3_SRV" && _e3_wg_go WP "$E3_WP" || return 1
        # keys on stdin: inside wireguard-go's mount namespace, /run is another directory (the lab's files
        # live under /run)
        e3_wg SRV set wg0 private-key /dev/stdin listen-port "$E3_WG_PORT" \
                peer "$(cat "$d/wp.pub")" allowed-ips 10.10.11.2/32,fd00:4242:4242:4243::2/128 <"$d/srv.key" || return 1
        e3_wg WP set wg0 private-key /dev/stdin \
                peer "$(cat "$d/srv.pub")" endpoint "$E3_SRV_UPLINK4:$E3_WG_PORT" allowed-ips 0.0.0.0/0,::/0 \
                <"$d/wp.key" || return 1
        ip -n "$E3_SRV" addr add "$s/24" dev wg0 &&
                ip -n "$E3_SRV" addr add "$s6/64" dev wg0 nodad &&
                ip -n "$E3_SRV" link set wg0 up || return 1
        ip -n "$E3_WP" addr add 10.10.11.2/32 dev wg0 &&
                ip -n "$E3_WP" addr add fd00:4242:4242:4243::2/128 dev wg0 nodad &&
                ip -n "$E3_WP" link set wg0 up &&
                ip -n "$E3_WP" route add 203.0.113.0/24 dev wg0 &&
                ip -n "$E3_WP" route add 10.0.0.0/8 dev wg0 &&
                ip -n "$E3_WP" -6 route add 2001:db8:203::/64 dev wg0 &&
                ip -n "$E3_WP" -6 route add fd00:4200::/23 dev wg0 || return 1
        E3_ADDR4[WP]=10.10.11.2
        E3_ADDR6[WP]=fd00:4242:4242:4243::2
}

# ---------------------------------------------------------------------------------------------------------
# public

# e3_vpn_up: the PKI, the three OpenVPN servers, wg0, then the clients, connected
e3_vpn_up() {
        local name v
        _e3_pki || { _e3_err "PKI generation failed"; return 1; }
        for name in "${!E3_OVPN[@]}"; do
                e3_server_conf "$name" >"$E3_DIR/server/$name.conf" || return 1
        done
        for name in staff-0 staff-1 guest-0; do
                e3_server_start "$name" || return 1
        done
        _e3_wg_up || return 1
        for v in CU CT CG; do e3_client_start "$v" || return 1; done
        for v in CU CT CG; do e3_client_wait "$v" || return 1; done
}

# e3_ping ROLE DEST [COUNT]: ping DEST from ROLE's namespace; success if any reply
e3_ping() {
        ns_exec "$(e3_ns "$1")" ping -q -n -c "${3:-3}" -i 0.2 -W 1 "$2" >/dev/null 2>&1
}

# e3_counter NS COUNTER: packets counted so far
e3_counter() {
        ns_exec "$1" nft -j list counter inet e3 "$2" | jq -r '.nftables[] | select(.counter) | .counter.packets'
}

# e3_counters: "ROLE.COUNTER=N ..." of every router, for logs
e3_counters() {
        local r c line=
        for r in $E3_ROUTERS; do
                for c in pool4 pool6 staff4 staff6 guest4 guest6; do
                        line+="$r.$c=$(e3_counter "$(e3_ns "$r")" "$c") "
                done
        done
        echo "$line"
}

# ---------------------------------------------------------------------------------------------------------
# for tests (they use common.sh's _vpt_pass and _vpt_fail)

# e3_path ROLE DEST VIA COUNTER NAME: DEST answers ROLE's ping; COUNTER rose at the router VIA (a role of
# E3_ROUTERS, or none) and at no other of E3_ROUTERS
e3_path() {
        local from=$1 dest=$2 via=$3 ctr=$4 name=$5 r ok=1 c0=() i=0 got=ok deltas='' d
        for r in $E3_ROUTERS; do c0+=("$(e3_counter "$(e3_ns "$r")" "$ctr")"); done
        e3_ping "$from" "$dest" || got=failed
        for r in $E3_ROUTERS; do
                d=$(($(e3_counter "$(e3_ns "$r")" "$ctr") - c0[i]))
                deltas+="$r +$d "
                if [[ $r == "$via" ]]; then ((d > 0)) || ok=; else ((d == 0)) || ok=; fi
                i=$((i + 1))
        done
        [[ $got == ok ]] || ok=
        local what="$name: $from -> $dest answers"
        [[ $via == none ]] && what+=", crossing no router" || what+=", by $via only"
        if [[ -n $ok ]]; then
                _vpt_pass "$what"
        else
                _vpt_fail "$what" "ping $got; $ctr: $deltas"
        fi
}

# e3_bg_ping_start NAME ROLE DEST: a continuous ping, 20/s, its output in $T/ping-NAME.log
e3_bg_ping_start() {
        ip netns exec "$(e3_ns "$2")" ping -n -D -O -i 0.05 -W 1 "$3" >"$T/ping-$1.log" 2>&1 &
        register_pid $!
        eval "E3_BG_PING_$1=$!"
}
# e3_bg_ping_stop NAME: stop it; E3_BG_TX is the last sequence number answered, E3_BG_LOST the requests
# before it that got no answer (the one in flight when ping is stopped is not a loss)
e3_bg_ping_stop() {
        local v=E3_BG_PING_$1 counts
        kill -INT "${!v}" 2>/dev/null || true
        wait "${!v}" 2>/dev/null || true
        counts=$(awk 'match($0, /icmp_seq=[0-9]+ /) && /bytes from/ {
                        s = substr($0, RSTART + 9, RLENGTH - 10) + 0
                        if (!(s in seen)) { seen[s] = 1; n++ }
                        if (s > max) max = s
                }
                END { print max + 0, max - n }' "$T/ping-$1.log")
        read -r E3_BG_TX E3_BG_LOST <<<"$counts"
}
# e3_bg_answers NAME: the answers to ping NAME so far
e3_bg_answers() { grep -c 'bytes from' "$T/ping-$1.log" || true; }
# e3_bg_pings_answered NAME...: each has had at least one answer
e3_bg_pings_answered() {
        local n
        for n; do grep -q 'bytes from' "$T/ping-$n.log" || return 1; done
}

# e3_blackhole ROLE on|off: the router ROLE answers nothing and forwards nothing (ARP aside), or again
# does both
e3_blackhole() {
        local ns
        ns=$(e3_ns "$1") || return 1
        ns_exec "$ns" nft delete table inet e3fault 2>/dev/null || true
        [[ $2 == on ]] || return 0
        ns_exec "$ns" nft -f - <<'EOF2'
table inet e3fault {
        chain input_drop { type filter hook input priority -300; policy drop; }
        chain forward_drop { type filter hook forward priority -300; policy drop; }
}
EOF2
}
