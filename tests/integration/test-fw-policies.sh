#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# The nftables table per policy, with the real daemon and traffic, v4 and v6, all inside namespaces:
#
#   CA (staff pool 10.1.0.0/24, fd00:1::/64) --cA|   |gwa  -- GA (staff's gateway nat-a, Device=gwa)
#                                                |   |gwa2 -- GA (staff's second gateway nat-a2, Device=gwa2)
#   CB (guest pool 10.2.0.0/24, fd00:2::/64) --cB| S |gwb  -- GB (guest's gateway nat-b, no Device=)
#                                                |   |eth0 -- L  (S's main default route)
#
# GA, GB and L all hold 203.0.113.1 and 2001:db8::1 (on lo) and count the echo requests they receive by
# source pool, so the counters say which way a packet went. tunA, tunB and tunAB are tun devices in S
# with pool addresses (staff, guest, both): they carry no traffic, they only fill the tunnel sets.
#   - each pool's traffic leaves by its own gateway, counted on that gateway's counter in status;
#   - pushed (by a foreign rule) towards the other policy's gateway device or the main default route, it is
#     dropped and counted in its own policy's leak_guard_drops; with LeakGuard=no the same traffic leaks
#     (so the test can fail); via staff's second gateway device it passes, counted on nat-a2 (next hop);
#   - the sets per policy: gateway devices (configured, and the kernel's choice for guest's), tunnels
#     (a device with addresses in both pools in both sets);
#   - a tunnel added changes elements only: counters and handles kept; a restart adopts the table as it
#     is; an element or rule deleted by someone else is put back (a rule: rebuilt, counters carried over).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
command -v ping >/dev/null || skip_test "ping(8) is missing (Debian: iputils-ping)"

ns_new S
ns_new CA
ns_new CB
ns_new GA
ns_new GB
ns_new L
# The replies to traffic pushed out by gwa2 come back by gwa: no reverse-path filter in S.
ns_exec "$S" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
veth_add "$S" cA "$CA" eth0
veth_add "$S" cB "$CB" eth0
veth_add "$S" gwa "$GA" eth0
veth_add "$S" gwa2 "$GA" eth1
veth_add "$S" gwb "$GB" eth0
veth_add "$S" eth0 "$L" eth0

ip -n "$S" -batch - <<'EOF'
addr add 10.1.0.1/24 dev cA
addr add fd00:1::1/64 dev cA nodad
addr add 10.2.0.1/24 dev cB
addr add fd00:2::1/64 dev cB nodad
addr add 192.168.10.2/24 dev gwa
addr add fd00:a::2/64 dev gwa nodad
addr add 192.168.11.2/24 dev gwa2
addr add 192.168.20.2/24 dev gwb
addr add fd00:b::2/64 dev gwb nodad
addr add 192.168.30.2/24 dev eth0
addr add fd00:c::2/64 dev eth0 nodad
route add default via 192.168.30.1
route add default via fd00:c::1
EOF
for c in "$CA:1" "$CB:2"; do
        ns=${c%:*} i=${c#*:}
        ip -n "$ns" addr add "10.$i.0.2/24" dev eth0
        ip -n "$ns" addr add "fd00:$i::2/64" dev eth0 nodad
        ip -n "$ns" route add default via "10.$i.0.1"
        ip -n "$ns" -6 route add default via "fd00:$i::1"
done
ip -n "$GA" addr add 192.168.10.1/24 dev eth0
ip -n "$GA" addr add fd00:a::1/64 dev eth0 nodad
ip -n "$GA" addr add 192.168.11.1/24 dev eth1
ip -n "$GB" addr add 192.168.20.1/24 dev eth0
ip -n "$GB" addr add fd00:b::1/64 dev eth0 nodad
ip -n "$L" addr add 192.168.30.1/24 dev eth0
ip -n "$L" addr add fd00:c::1/64 dev eth0 nodad
# Every far side holds the target and routes every pool back to S (so a leak gets its answer).
for g in "$GA 192.168.10.2 fd00:a::2" "$GB 192.168.20.2 fd00:b::2" "$L 192.168.30.2 fd00:c::2"; do
        read -r ns v4 v6 <<<"$g"
        ip -n "$ns" addr add 203.0.113.1/32 dev lo
        ip -n "$ns" addr add 2001:db8::1/128 dev lo
        ip -n "$ns" route add 10.1.0.0/24 via "$v4"
        ip -n "$ns" route add 10.2.0.0/24 via "$v4"
        ip -n "$ns" -6 route add fd00:1::/64 via "$v6"
        ip -n "$ns" -6 route add fd00:2::/64 via "$v6"
        ns_exec "$ns" nft -f - <<'NFT'
table inet probe {
        counter staff {}
        counter guest {}
        chain in {
                type filter hook input priority 0; policy accept;
                ip saddr 10.1.0.0/24 icmp type echo-request counter name staff
                ip6 saddr fd00:1::/64 icmpv6 type echo-request counter name staff
                ip saddr 10.2.0.0/24 icmp type echo-request counter name guest
                ip6 saddr fd00:2::/64 icmpv6 type echo-request counter name guest
        }
}
NFT
done
# probe NS POOL: echo requests from that pool NS received
probe() { ns_exec "$1" nft -j list counter inet probe "$2" | jq '.nftables[1].counter.packets'; }

tun_add "$S" tunA
tun_add "$S" tunB
tun_add "$S" tunAB
ip -n "$S" addr add 10.1.0.201/32 dev tunA
ip -n "$S" addr add 10.2.0.201/32 dev tunB
ip -n "$S" addr add 10.1.0.202/32 dev tunAB
ip -n "$S" addr add 10.2.0.202/32 dev tunAB

mkdir -p "$T/policies.d" "$T/vpnpolicy.conf.d"
cat >"$T/vpnpolicy.conf" <<'EOF'
[Table]
Name=staff
Id=201
Priority=32001

[Pool]
Prefix=10.1.0.0/24
Prefix=fd00:1::/64

[Gateway]
Name=nat-a
IPv4=192.168.10.1
IPv6=fd00:a::1
Device=gwa
Priority=10

[Gateway]
Name=nat-a2
IPv4=192.168.11.1
Device=gwa2
Priority=20
Probe=none

[Kernel]
Forwarding=enable
EOF
cat >"$T/policies.d/guest.conf" <<'EOF'
[Table]
Id=202
Priority=32002

[Pool]
Prefix=10.2.0.0/24
Prefix=fd00:2::/64

[Gateway]
Name=nat-b
IPv4=192.168.20.1
IPv6=fd00:b::1
EOF
agent_start "$S" "$T/vpnpolicy.conf"

nftn() { ns_exec "$S" nft "$@"; }
elements() {
        nftn -j list set inet vpnpolicy "$1" |
                jq -c '[.nftables[1].set.elem // [] | .[] | if type == "object" then "\(.prefix.addr)/\(.prefix.len)" else . end] | sort'
}
# (status exits 3 while degraded, e.g. before the probes of staff's two gateways decide)
fw() { { ctl "$S" status --json || true; } | jq -c .firewall; }
staff_active() { [[ $({ ctl "$S" status --json || true; } | jq -r '.policies[0].active | "\(.ipv4) \(.ipv6)"') == "nat-a nat-a" ]]; }
# gw POLICY GATEWAY / drops POLICY / pool POLICY PREFIX: packets, from status
gw() { fw | jq --arg p "$1" --arg g "$2" '.policies[] | select(.name == $p) | .gateways[] | select(.name == $g) | .out_packets'; }
drops() { fw | jq --arg p "$1" '.policies[] | select(.name == $p) | .leak_guard_drops.packets'; }
pool_out() { fw | jq --arg p "$1" --arg x "$2" '.pools[] | select(.policy == $p and .prefix == $x) | .out_packets'; }
ping4() { ns_exec "$1" ping -n -q -c 1 -W 1 203.0.113.1; }
ping6() { ns_exec "$1" ping -6 -n -q -c 1 -W 1 2001:db8::1; }
handles() {
        nftn -j list table inet vpnpolicy | jq -cS '[.nftables[] | to_entries[] | select(.key != "metainfo")
                | {kind: .key, name: (.value.name // null), handle: .value.handle}]'
}
guest_gw_device() { [[ $(elements guest/gateways) == '["gwb"]' ]]; }

info "the sets per policy"
check "guest's gateway device: the one the kernel chose for its default route" wait_until 3000 guest_gw_device
assert_eq "staff's gateway devices: both gateways' Device=" '["gwa","gwa2"]' "$(elements staff/gateways)"
assert_eq "staff's tunnels: its own and the device of both" '["tunA","tunAB"]' "$(elements staff/tunnels)"
assert_eq "guest's tunnels: its own and the device of both" '["tunAB","tunB"]' "$(elements guest/tunnels)"
assert_eq "every pool, v4" '["10.1.0.0/24","10.2.0.0/24"]' "$(elements pools4)"
assert_eq "status: the policies in order, with their gateways" \
        '[{"name":"staff","gateway_devices":["gwa","gwa2"],"gateways":["nat-a","nat-a2"]},{"name":"guest","gateway_devices":["gwb"],"gateways":["nat-b"]}]' \
        "$(fw | jq -c '[.policies[] | {name, gateway_devices, gateways: [.gateways[].name]}]')"

info "each pool's traffic leaves by its own gateway"
check "staff: nat-a carries both families once its probes answered" wait_until 5000 staff_active
a0=$(probe "$GA" staff) b0=$(probe "$GB" staff) l0=$(probe "$L" staff) n0=$(gw staff nat-a)
check "staff v4 answers" ping4 "$CA"
check "staff v6 answers" ping6 "$CA"
assert_eq "staff: both at nat-a" "$((a0 + 2))" "$(probe "$GA" staff)"
assert_eq "staff: none at nat-b nor by the main default route" "$b0 $l0" "$(probe "$GB" staff) $(probe "$L" staff)"
assert_eq "staff: counted on nat-a's counter" "$((n0 + 2))" "$(gw staff nat-a)"
check "staff: the pool's out counter" test "$(pool_out staff 10.1.0.0/24)" -ge 1
a0=$(probe "$GA" guest) b0=$(probe "$GB" guest) l0=$(probe "$L" guest) n0=$(gw guest nat-b) na=$(gw staff nat-a)
check "guest v4 answers" ping4 "$CB"
check "guest v6 answers" ping6 "$CB"
assert_eq "guest: both at nat-b" "$((b0 + 2))" "$(probe "$GB" guest)"
assert_eq "guest: none at nat-a nor by the main default route" "$a0 $l0" "$(probe "$GA" guest) $(probe "$L" guest)"
assert_eq "guest: counted on nat-b's counter, not on nat-a's" "$((n0 + 2)) $na" "$(gw guest nat-b) $(gw staff nat-a)"

# push POOL4 POOL6 TABLE V4 V6: a foreign rule sends the pool to table 300, whose default routes lead
# there (V6 "-": no v6 route); unpush undoes it.
push() {
        ip -n "$S" rule add from "$1" lookup 300 pref 100
        ip -n "$S" -6 rule add from "$2" lookup 300 pref 100
        ip -n "$S" route add default via "$3" table 300
        [[ $4 == - ]] || ip -n "$S" -6 route add default via "$4" table 300
}
unpush() {
        ip -n "$S" rule del pref 100
        ip -n "$S" -6 rule del pref 100
        ip -n "$S" route flush table 300
        ip -n "$S" -6 route flush table 300 2>/dev/null || true
}
# guarded WHO NS POOL POLICY LABEL: both families from NS are dropped, counted in POLICY's drops, and
# none arrives at WHO (the far side they were pushed to)
guarded() {
        local who=$1 ns=$2 pool=$3 policy=$4 label=$5 d0 w0
        d0=$(drops "$policy") w0=$(probe "$who" "$pool")
        check_fail "$label: v4 dropped" ping4 "$ns"
        check_fail "$label: v6 dropped" ping6 "$ns"
        assert_eq "$label: counted in $policy's leak_guard_drops" "$((d0 + 2))" "$(drops "$policy")"
        assert_eq "$label: nothing arrived" "$w0" "$(probe "$who" "$pool")"
}

info "pushed towards the other policy's gateway device or the main default route: dropped and counted"
push 10.1.0.0/24 fd00:1::/64 192.168.20.1 fd00:b::1
g0=$(drops guest)
guarded "$GB" "$CA" staff staff "staff by guest's gateway device"
assert_eq "staff by guest's gateway: not guest's drops" "$g0" "$(drops guest)"
unpush
push 10.1.0.0/24 fd00:1::/64 192.168.30.1 fd00:c::1
guarded "$L" "$CA" staff staff "staff by the main default route"
unpush
push 10.2.0.0/24 fd00:2::/64 192.168.10.1 fd00:a::1
guarded "$GA" "$CB" guest guest "guest by staff's gateway device"
unpush
push 10.2.0.0/24 fd00:2::/64 192.168.30.1 fd00:c::1
guarded "$L" "$CB" guest guest "guest by the main default route"
unpush

info "staff by its second gateway's device: allowed, counted on that gateway by its next hop"
push 10.1.0.0/24 fd00:1::/64 192.168.11.1 -
a0=$(probe "$GA" staff) n1=$(gw staff nat-a) n2=$(gw staff nat-a2) d0=$(drops staff)
check "staff v4 by gwa2 answers" ping4 "$CA"
assert_eq "staff by gwa2: arrived at nat-a2's side" "$((a0 + 1))" "$(probe "$GA" staff)"
assert_eq "staff by gwa2: nat-a2's counter, not nat-a's; no drop" "$n1 $((n2 + 1)) $d0" \
        "$(gw staff nat-a) $(gw staff nat-a2) $(drops staff)"
unpush

info "control: with LeakGuard=no the pushed traffic leaks (so the test can fail)"
printf '[Firewall]\nLeakGuard=no\n' >"$T/vpnpolicy.conf.d/50-noguard.conf"
check "reload with LeakGuard=no" ctl "$S" reload
push 10.1.0.0/24 fd00:1::/64 192.168.20.1 fd00:b::1
b0=$(probe "$GB" staff)
check "no guard: staff v4 by guest's gateway answers" ping4 "$CA"
check "no guard: staff v6 by guest's gateway answers" ping6 "$CA"
assert_eq "no guard: it arrived at nat-b" "$((b0 + 2))" "$(probe "$GB" staff)"
assert_eq "no guard: no drops reported" null "$(fw | jq -c .leak_guard_drops)"
unpush
rm "$T/vpnpolicy.conf.d/50-noguard.conf"
check "reload with the guard again" ctl "$S" reload
push 10.1.0.0/24 fd00:1::/64 192.168.30.1 fd00:c::1
guarded "$L" "$CA" staff staff "guard again: staff by the main default route"
unpush

info "counters and handles survive a change of the tunnels; a restart adopts the table"
check "traffic for the counters" ping4 "$CB"
before=$(handles) c0=$(fw | jq -c '[.policies[] | .gateways, .leak_guard_drops]')
tun_add "$S" tunB2
ip -n "$S" addr add 10.2.0.203/32 dev tunB2
guest_tunnels3() { [[ $(elements guest/tunnels) == '["tunAB","tunB","tunB2"]' ]]; }
check "a tunnel added to guest's set" wait_until 3000 guest_tunnels3
assert_eq "... and to guest's only" '["tunA","tunAB"]' "$(elements staff/tunnels)"
assert_eq "tunnel added: same handles" "$before" "$(handles)"
assert_eq "tunnel added: counters kept" "$c0" "$(fw | jq -c '[.policies[] | .gateways, .leak_guard_drops]')"
before=$(handles) c0=$(nftn -j list counters table inet vpnpolicy | jq -c .)
agent_stop TERM
agent_start "$S" "$T/vpnpolicy.conf"
assert_eq "restart: same handles (adopted)" "$before" "$(handles)"
assert_eq "restart: counters as they were" "$c0" "$(nftn -j list counters table inet vpnpolicy | jq -c .)"

info "someone else's change is put back, the counters carried over the rebuild"
r0=$(ctl "$S" status --json | jq .counters.firewall_restores)
nftn delete element inet vpnpolicy guest/gateways '{ "gwb" }'
check "guest's gateway device put back" wait_until 3000 guest_gw_device
h=$(nftn -a list chain inet vpnpolicy forward | awk '/ip6 saddr @staff\/pools6 oifname != / { print $NF }')
nftn delete rule inet vpnpolicy forward handle "$h"
guard_back() { nftn list chain inet vpnpolicy forward | grep_q 'ip6 saddr @staff/pools6 oifname != '; }
check "staff's v6 guard put back" wait_until 3000 guard_back
check "status counts the restores" test "$(ctl "$S" status --json | jq .counters.firewall_restores)" -ge "$((r0 + 2))"
assert_eq "rebuilt: the counters as they were" "$c0" "$(nftn -j list counters table inet vpnpolicy | jq -c .)"
push 10.1.0.0/24 fd00:1::/64 192.168.30.1 fd00:c::1
guarded "$L" "$CA" staff staff "after the restores: staff by the main default route"
unpush

info "the text status shows each policy"
ctl "$S" status >"$T/status.txt" || true
check "status: staff's line" grep -q '^  Policy staff: out by gwa, gwa2 and its tunnels, leak guard dropped [1-9]' "$T/status.txt"
check "status: guest's line" grep -q '^  Policy guest: out by gwb and its tunnels' "$T/status.txt"
check "status: nat-b's counter" grep -Eq '^    gateway nat-b +out [1-9][0-9]* packets' "$T/status.txt"
check "status: guest's pool" grep -q '^    pool 10.2.0.0/24 ' "$T/status.txt"
sed 's/^/#   /' "$T/status.txt" | sed -n '/^#   Firewall/,/^#   Counters/p' | head -n 12

finish
