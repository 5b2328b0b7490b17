#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# The nftables table "inet vpnpolicy" as agent/nft.c builds it, driven by tests/integration/nft-driver in a
# namespace of its own and read back with `nft -j`:
#   - the structure for several specs (chains, rules, sets and their elements, named counters);
#   - a table already right is adopted untouched (no transaction, same handles); a dormant one is rebuilt;
#   - a tunnel or gateway device added or removed changes set elements only (chains, rules and counters
#     keep their handles), a new pool rebuilds the table in one transaction;
#   - two policies: each one's sets, guards and counters, a device serving both in both tunnel sets;
#   - a foreign table "inet foreign" is never touched;
#   - watch mode restores the table after `nft delete table`, `nft flush ruleset`, a deleted rule and
#     elements changed by others, ignores its own transactions and others' tables, and leaves the table
#     in place on SIGTERM; the time the table is absent after a flush is printed as a figure;
#   - remove deletes the table, and says whether it was there.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

NFT_DRIVER=${NFT_DRIVER:-$BUILD/tests/integration/nft-driver}
command -v nft >/dev/null || skip_test "nft(8) is missing (Debian: nftables)"
[[ -x $NFT_DRIVER ]] || die "no nft-driver at $NFT_DRIVER"

ns_new NS

drv() { ns_exec "$NS" "$NFT_DRIVER" "$@"; }
nftn() { ns_exec "$NS" nft "$@"; }

# table_json: our table, normalized: counters by name, sets with sorted elements, chains with their
# rules as short text ("ip saddr == 10.10.10.0/24 counter vpn/pool-10.10.10.0/24-out"). "null" when absent.
table_json() {
        local out
        out=$(nftn -j list table inet vpnpolicy 2>/dev/null) || { echo null; return 0; }
        jq -cS '
        def addr: if type == "object" and has("prefix") then "\(.prefix.addr)/\(.prefix.len)" else tostring end;
        def operand: if type == "string" then .
                elif has("payload") then "\(.payload.protocol) \(.payload.field)"
                elif has("meta") then .meta.key
                elif has("rt") then "rt \(.rt.family) \(.rt.key)"
                elif has("prefix") then addr
                else tojson end;
        def expr: if has("match") then "\(.match.left | operand) \(.match.op) \(.match.right | operand)"
                elif has("counter") then (if (.counter | type) == "string" then "counter \(.counter)" else "counter" end)
                elif has("drop") then "drop"
                elif has("masquerade") then "masquerade"
                else tojson end;
        [.nftables[] | select(has("metainfo") | not)] as $o
        | {table: ($o | map(.table // empty) | map({flags: (.flags // [])}) | first),
           counters: ($o | map(.counter.name // empty) | sort),
           sets: ($o | map(.set // empty)
                  | map({key: .name, value: {type, flags: (.flags // []), elem: ((.elem // []) | map(addr) | sort)}})
                  | from_entries),
           chains: ($o | map(.chain // empty) | map(. as $c | {key: .name, value: {type, hook, prio, policy,
                   rules: [$o[] | .rule // empty | select(.chain == $c.name) | [.expr[] | expr] | join(" ")]}})
                  | from_entries)}' <<<"$out"
}

# handles: the handles of everything but the sets' elements, to prove that objects were not recreated.
handles() {
        nftn -j list table inet vpnpolicy |
                jq -cS '[.nftables[] | to_entries[] | select(.key != "metainfo") | {kind: .key, name: (.value.name // null),
                        chain: (.value.chain // null), handle: .value.handle}]'
}

SEED=(--pool 10.10.10.0/24 --pool fd00:4242:4242:4242::/64 --tunnel tun0 --gateway eth1 --gw gateway=192.168.1.1
        --gw gateway=fd00:1010:1010:1010::1 --leak-guard yes
        --masquerade yes)
SEED_JSON='{"table":{"flags":[]},
 "counters":["vpn/gw-gateway","vpn/leak-drops","vpn/pool-10.10.10.0/24-in","vpn/pool-10.10.10.0/24-out",
             "vpn/pool-fd00:4242:4242:4242::/64-in","vpn/pool-fd00:4242:4242:4242::/64-out"],
 "sets":{"pools4":{"type":"ipv4_addr","flags":["interval"],"elem":["10.10.10.0/24"]},
         "pools6":{"type":"ipv6_addr","flags":["interval"],"elem":["fd00:4242:4242:4242::/64"]},
         "vpn/pools4":{"type":"ipv4_addr","flags":["interval"],"elem":["10.10.10.0/24"]},
         "vpn/pools6":{"type":"ipv6_addr","flags":["interval"],"elem":["fd00:4242:4242:4242::/64"]},
         "vpn/tunnels":{"type":"ifname","flags":[],"elem":["tun0"]},
         "vpn/gateways":{"type":"ifname","flags":[],"elem":["eth1"]}},
 "chains":{"forward":{"type":"filter","hook":"forward","prio":0,"policy":"accept","rules":[
   "ip saddr == 10.10.10.0/24 counter vpn/pool-10.10.10.0/24-out",
   "ip daddr == 10.10.10.0/24 counter vpn/pool-10.10.10.0/24-in",
   "ip6 saddr == fd00:4242:4242:4242::/64 counter vpn/pool-fd00:4242:4242:4242::/64-out",
   "ip6 daddr == fd00:4242:4242:4242::/64 counter vpn/pool-fd00:4242:4242:4242::/64-in",
   "ip saddr == @vpn/pools4 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "ip6 saddr == @vpn/pools6 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "iifname == @vpn/tunnels ip saddr != @pools4 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "iifname == @vpn/tunnels ip6 saddr != @pools6 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "ip saddr == @vpn/pools4 rt ip nexthop == 192.168.1.1 counter vpn/gw-gateway",
   "ip6 saddr == @vpn/pools6 rt ip6 nexthop == fd00:1010:1010:1010::1 counter vpn/gw-gateway"]},
  "postrouting":{"type":"nat","hook":"postrouting","prio":100,"policy":"accept","rules":[
   "ip saddr == @vpn/pools4 oifname == @vpn/gateways masquerade",
   "ip6 saddr == @vpn/pools6 oifname == @vpn/gateways masquerade"]}}}'

# A foreign table with its own drop rule, there all along; it must come out of every step as it went in.
foreign_add() {
        nftn -f - <<'NFT'
table inet foreign {
        chain guard {
                type filter hook forward priority 10; policy accept;
                ip daddr 198.51.100.2 counter drop
        }
}
NFT
}
foreign_add
FOREIGN=$(nftn -j list table inet foreign)

info "structure for the seed spec"
check "absent at first" test "$(table_json)" = null
assert_eq "seed spec: built" "changed=1" "$(drv apply "${SEED[@]}")"
assert_eq "seed spec: structure" "$SEED_JSON" "$(table_json)"
before=$(handles)
assert_eq "seed spec: adopted untouched" "changed=0" "$(drv apply "${SEED[@]}")"
assert_eq "seed spec: same handles" "$before" "$(handles)"

info "set updates change elements only"
assert_eq "tunnel added" "changed=1" "$(drv apply "${SEED[@]}" --tunnel tun1)"
assert_eq "tunnel added: elements" '["tun0","tun1"]' "$(table_json | jq -c '.sets["vpn/tunnels"].elem')"
assert_eq "tunnel added: same handles" "$before" "$(handles)"
assert_eq "tunnel removed" "changed=1" "$(drv apply "${SEED[@]/tun0/tun1}")"
assert_eq "tunnel removed: elements" '["tun1"]' "$(table_json | jq -c '.sets["vpn/tunnels"].elem')"
assert_eq "tunnel removed: same handles" "$before" "$(handles)"
assert_eq "gateway device added" "changed=1" "$(drv apply "${SEED[@]}" --gateway eth2)"
assert_eq "gateway device added: elements" '["eth1","eth2"]' "$(table_json | jq -c '.sets["vpn/gateways"].elem')"
assert_eq "gateway device added: same handles" "$before" "$(handles)"
nftn flush set inet vpnpolicy vpn/pools4
nftn add element inet vpnpolicy vpn/gateways '{ "evil0" }'
assert_eq "elements changed by others: repaired" "changed=1" "$(drv apply "${SEED[@]}")"
assert_eq "elements changed by others: structure" "$SEED_JSON" "$(table_json)"
assert_eq "elements changed by others: same handles" "$before" "$(handles)"

nftn add table inet vpnpolicy '{ flags dormant; }'
assert_eq "made dormant by others: rebuilt" "changed=1" "$(drv apply "${SEED[@]}")"
assert_eq "made dormant by others: structure" "$SEED_JSON" "$(table_json)"

info "other specs"
assert_eq "no leak guard, no masquerade, priority 10" "changed=1" \
        "$(drv apply --pool 10.10.10.0/24 --pool 10.10.20.0/23 --tunnel tun0 --gateway eth1 --leak-guard no \
                --masquerade no --priority 10)"
assert_eq "no leak guard: structure" '{"table":{"flags":[]},
 "counters":["vpn/pool-10.10.10.0/24-in","vpn/pool-10.10.10.0/24-out","vpn/pool-10.10.20.0/23-in",
             "vpn/pool-10.10.20.0/23-out"],
 "sets":{"pools4":{"type":"ipv4_addr","flags":["interval"],"elem":["10.10.10.0/24","10.10.20.0/23"]},
         "pools6":{"type":"ipv6_addr","flags":["interval"],"elem":[]},
         "vpn/pools4":{"type":"ipv4_addr","flags":["interval"],"elem":["10.10.10.0/24","10.10.20.0/23"]},
         "vpn/pools6":{"type":"ipv6_addr","flags":["interval"],"elem":[]},
         "vpn/tunnels":{"type":"ifname","flags":[],"elem":["tun0"]},
         "vpn/gateways":{"type":"ifname","flags":[],"elem":["eth1"]}},
 "chains":{"forward":{"type":"filter","hook":"forward","prio":10,"policy":"accept","rules":[
   "ip saddr == 10.10.10.0/24 counter vpn/pool-10.10.10.0/24-out",
   "ip daddr == 10.10.10.0/24 counter vpn/pool-10.10.10.0/24-in",
   "ip saddr == 10.10.20.0/23 counter vpn/pool-10.10.20.0/23-out",
   "ip daddr == 10.10.20.0/23 counter vpn/pool-10.10.20.0/23-in"]}}}' "$(table_json)"
assert_eq "gateway unknown, no pools" "changed=1" "$(drv apply --leak-guard yes --masquerade no)"
assert_eq "gateway unknown: structure" '{"table":{"flags":[]},"counters":["vpn/leak-drops"],
 "sets":{"pools4":{"type":"ipv4_addr","flags":["interval"],"elem":[]},
         "pools6":{"type":"ipv6_addr","flags":["interval"],"elem":[]},
         "vpn/pools4":{"type":"ipv4_addr","flags":["interval"],"elem":[]},
         "vpn/pools6":{"type":"ipv6_addr","flags":["interval"],"elem":[]},
         "vpn/tunnels":{"type":"ifname","flags":[],"elem":[]},"vpn/gateways":{"type":"ifname","flags":[],"elem":[]}},
 "chains":{"forward":{"type":"filter","hook":"forward","prio":0,"policy":"accept","rules":[
   "ip saddr == @vpn/pools4 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "ip6 saddr == @vpn/pools6 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "iifname == @vpn/tunnels ip saddr != @pools4 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop",
   "iifname == @vpn/tunnels ip6 saddr != @pools6 oifname != @vpn/tunnels oifname != @vpn/gateways counter vpn/leak-drops drop"]}}}' "$(table_json)"

info "two policies: each with its own sets and counters"
TWO=(--policy staff --pool 10.1.0.0/24 --tunnel tunA --tunnel tunAB --gateway gwa --gw nat-a=192.168.10.1
        --policy guest --pool 10.2.0.0/24 --pool fd00:2::/64 --tunnel tunB --tunnel tunAB --gw nat-b=192.168.20.1
        --gw nat-b=fd00:b::1 --leak-guard yes --masquerade no)
assert_eq "two policies: built" "changed=1" "$(drv apply "${TWO[@]}")"
two=$(table_json)
assert_eq "two policies: counters" '["guest/gw-nat-b","guest/leak-drops","guest/pool-10.2.0.0/24-in",
        "guest/pool-10.2.0.0/24-out","guest/pool-fd00:2::/64-in","guest/pool-fd00:2::/64-out","staff/gw-nat-a",
        "staff/leak-drops","staff/pool-10.1.0.0/24-in","staff/pool-10.1.0.0/24-out"]' \
        "$(jq -c .counters <<<"$two")"
assert_eq "two policies: every pool in pools4/pools6" '[["10.1.0.0/24","10.2.0.0/24"],["fd00:2::/64"]]' \
        "$(jq -c '[.sets.pools4.elem, .sets.pools6.elem]' <<<"$two")"
assert_eq "two policies: a device of both is in both tunnel sets" '[["tunA","tunAB"],["tunAB","tunB"]]' \
        "$(jq -c '[.sets["staff/tunnels"].elem, .sets["guest/tunnels"].elem]' <<<"$two")"
assert_eq "two policies: guest's gateway device unknown" '[["gwa"],[]]' \
        "$(jq -c '[.sets["staff/gateways"].elem, .sets["guest/gateways"].elem]' <<<"$two")"
assert_eq "two policies: 17 rules (pool counters 2+4, guards 4+4, gateway counters 1+2)" 17 "$(jq '.chains.forward.rules | length' <<<"$two")"
check "two policies: guest's guard names guest's sets" grep -qF \
        '"ip6 saddr == @guest/pools6 oifname != @guest/tunnels oifname != @guest/gateways counter guest/leak-drops drop"' <<<"$two"
check "two policies: guest's v6 gateway counter" grep -qF \
        '"ip6 saddr == @guest/pools6 rt ip6 nexthop == fd00:b::1 counter guest/gw-nat-b"' <<<"$two"
before=$(handles)
assert_eq "two policies: a gateway device found for guest" "changed=1" "$(drv apply "${TWO[@]}" --gateway gwb)"
assert_eq "two policies: ... elements only" "$before" "$(handles)"
assert_eq "two policies: ... in guest's set only" '[["gwa"],["gwb"]]' \
        "$(table_json | jq -c '[.sets["staff/gateways"].elem, .sets["guest/gateways"].elem]')"
check_fail "two policies: a policy name with '/' is refused" drv apply --policy a/b --pool 10.1.0.0/24
check_fail "two policies: a policy named twice is refused" drv apply --policy a --policy a
check_fail "a bad pool is a usage error" drv apply --pool 10.0.0.0/33
assert_eq "foreign table untouched by our rebuilds" "$FOREIGN" "$(nftn -j list table inet foreign)"

info "watch: the table comes back"
# Not through a shell function: $! must be the driver itself (`ip netns exec` execs it), to signal it.
ip netns exec "$NS" "$NFT_DRIVER" watch "${SEED[@]}" >"$T/watch.out" 2>&1 &
WATCH=$!
register_pid "$WATCH"
check "watch: ready" wait_until 5000 grep -q '^ready changed=1$' "$T/watch.out"
assert_eq "watch: seed structure" "$SEED_JSON" "$(table_json)"

reapplied() { grep -c '^reapplied ' "$T/watch.out" || true; }
reapplied_more_than() { (($(reapplied) > $1)); }
# restored WHAT CMD...: run CMD, then wait for one more re-apply and the seed structure.
restored() {
        local what=$1 n
        shift
        n=$(reapplied)
        "$@"
        check "$what: re-applied" wait_until 3000 reapplied_more_than "$n"
        assert_eq "$what: restored" "$SEED_JSON" "$(table_json)"
}
restored "delete table" nftn delete table inet vpnpolicy
h=$(nftn -a list chain inet vpnpolicy forward | awk '/counter name "vpn\/pool-10.10.10.0\/24-in"/ { print $NF }')
restored "delete rule" nftn delete rule inet vpnpolicy forward handle "$h"
restored "element added by others" nftn add element inet vpnpolicy vpn/tunnels '{ "evil0" }'
restored "element deleted by others" nftn delete element inet vpnpolicy vpn/gateways '{ "eth1" }'

# "nft flush ruleset" deletes every table, the foreign one too (recreated below).
gaps=()
for i in 1 2 3 4 5; do
        restored "flush ruleset #$i" nftn flush ruleset
        gaps+=("$(grep '^reapplied ' "$T/watch.out" | tail -n 1 | sed 's/.*gap_us=//')")
done
foreign_add
FOREIGN=$(nftn -j list table inet foreign)
sorted=$(printf '%s\n' "${gaps[@]}" | sort -n)
median=$(sed -n 3p <<<"$sorted")
info "table absent after flush ruleset (us, from the deletion event to the rebuilt table): ${gaps[*]}"
info "figure: nft-restore-after-flush-ms $(awk -v us="$median" 'BEGIN { printf "%.1f", us / 1000 }')"

n=$(reapplied)
nftn add table inet other
nftn add chain inet other c
assert_eq "their own table changed: structure" "$SEED_JSON" "$(table_json)"
sleep 0.3
assert_eq "no re-apply for others' tables nor for our own transactions" "$n" "$(reapplied)"

kill -TERM "$WATCH"
rc=0
wait "$WATCH" || rc=$?
assert_eq "watch: exits 0 on SIGTERM" 0 "$rc"
assert_eq "after SIGTERM: table left in place" "$SEED_JSON" "$(table_json)"

info "remove"
assert_eq "remove: was there" "removed=1" "$(drv remove)"
check "remove: gone" test "$(table_json)" = null
assert_eq "remove: absent is fine" "removed=0" "$(drv remove)"
assert_eq "foreign table still there" "$FOREIGN" "$(nftn -j list table inet foreign)"

finish
