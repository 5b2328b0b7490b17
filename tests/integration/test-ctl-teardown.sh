#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vpnpolicyctl teardown (issue "vpnpolicyctl"): refuses while the agent runs (found by its socket, or as a
# process in this network namespace when its socket is elsewhere) and changes nothing; without --yes and
# without a terminal it refuses too, and on a terminal it asks (answer "n": nothing removed). With --yes it
# removes every rule and route of ours (protocol 211 in our table, or pointing at it), v4 and v6, our
# nftables table (inet vpnpolicy, listed before it asks), and our two iproute2 files, and nothing else:
# foreign rules and routes (also with our selector or in our table), objects with protocol 211 in another
# table or pointing at one (someone else's: issue 11), a foreign nftables table and a foreign rt_tables.d
# file survive, compared before and after. It prints what it removed; a second run finds nothing. A file of our
# name that we did not write is left in place (exit 1).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink --no-forwarding NS GW
seed003_tun "$NS"
IPR=/etc/netns/$NS/iproute2

conf=$T/vpnpolicy.conf
seed003_config "$conf" '[Kernel]' 'Forwarding=enable'

# foreign objects, before the agent: with our selector, in our table, elsewhere
ip -n "$NS" rule add pref 100 from 10.20.0.0/16 lookup 200 proto static
ip -n "$NS" rule add pref 32765 from 10.10.10.0/24 lookup 200 proto static
ip -n "$NS" -6 rule add pref 100 from fd00:99::/64 lookup 200 proto static
ip -n "$NS" route add 10.30.0.0/16 via 192.168.1.1 table 200 proto static
ip -n "$NS" route add 10.40.0.0/16 dev eth1 table 200
ip -n "$NS" route add 10.41.0.0/16 via 192.168.1.1 proto static
ip -n "$NS" -6 route add fd00:30::/64 via fd00:1010:1010:1010::1 table 200 proto static
printf '300\tother\n' >"$IPR/rt_tables.d/other.conf"
ip netns exec "$NS" nft add table inet other
ip netns exec "$NS" nft add chain inet other input '{ type filter hook input priority 0; }'

agent_start "$NS" "$conf"
wait_until 3000 test -n "$(ip -n "$NS" -6 route show table 200 default via fd00:1010:1010:1010::1)" ||
        die "no v6 default route"

# every rule and route of NS (numbers for names), both families
everything() {
        {
                ip -n "$1" -j -N -4 rule show; ip -n "$1" -j -N -6 rule show
                ip -n "$1" -j -N -4 route show table all; ip -n "$1" -j -N -6 route show table all
        } | jq -cs '[.[][] | del(.flags)]'
}
# ours NS: how many rules and routes are ours (protocol 211, in table 200 or pointing at it)
ours() { everything "$1" | jq '[.[] | select(.protocol == "211" and .table == "200")] | length'; }
# foreign NS: everything else, sorted (protocol 211 elsewhere included: it is not ours)
foreign() { everything "$1" | jq -cS '[.[] | select(.protocol != "211" or .table != "200")] | sort'; }
teardown() {
        TRC=0
        ctl "$NS" teardown "$@" >"$T/t.out" 2>"$T/t.err" || TRC=$?
}

# nft_tables NS: the nftables tables, "FAMILY NAME" per line, sorted
nft_tables() { ip netns exec "$1" nft -j list tables | jq -r '.nftables[] | .table // empty | "\(.family) \(.name)"' | sort; }

n_ours=$(ours "$NS")
check "the agent made its objects" test "$n_ours" -ge 8
check "the agent made its nftables table" grep -qx 'inet vpnpolicy' <<<"$(nft_tables "$NS")"
before=$(foreign "$NS")

# ---- refused while the agent runs
teardown --yes
assert_eq "agent running: exit 1" 1 "$TRC"
check "agent running: says to stop it" grep -q 'stop it first: systemctl stop vpnpolicyd' "$T/t.err"
assert_eq "agent running: nothing removed" "$n_ours" "$(ours "$NS")"
TRC=0
ip netns exec "$NS" "$VPNPOLICYCTL" --runtime-dir "$T/elsewhere" teardown --yes >/dev/null 2>"$T/t.err" || TRC=$?
assert_eq "agent running, socket elsewhere: exit 1" 1 "$TRC"
check "agent running, socket elsewhere: found as a process" grep -q "vpnpolicyd runs as pid $AGENT_PID" "$T/t.err"
assert_eq "agent running, socket elsewhere: nothing removed" "$n_ours" "$(ours "$NS")"

agent_stop
assert_eq "SIGTERM leaves the objects" "$n_ours" "$(ours "$NS")"
check "SIGTERM leaves the nftables table" grep -qx 'inet vpnpolicy' <<<"$(nft_tables "$NS")"
# our protocol in another table, and a rule of our protocol pointing at it: not ours
ip -n "$NS" route add 10.50.0.0/16 dev eth1 table 300 proto 211
ip -n "$NS" -6 rule add pref 5000 from fd00:50::/64 lookup 300 proto 211
# a route and a rule of ours the agent never made, in our table
ip -n "$NS" route add 10.51.0.0/16 dev eth1 table 200 proto 211
ip -n "$NS" rule add pref 5001 from 10.51.0.0/16 lookup 200 proto 211
n_ours=$((n_ours + 2))
before=$(foreign "$NS")

# ---- no terminal, no --yes: refused
teardown </dev/null
assert_eq "no terminal: usage error" 2 "$TRC"
check "no terminal: says --yes" grep -q 'pass --yes' "$T/t.err"
assert_eq "no terminal: nothing removed" "$n_ours" "$(ours "$NS")"

# ---- on a terminal it asks; "n" keeps everything
if command -v script >/dev/null; then
        printf 'n\n' | ip netns exec "$NS" script -qec "$VPNPOLICYCTL --runtime-dir $T/run-$NS teardown" /dev/null \
                >"$T/t.out" 2>&1 || true
        check "terminal: asks" grep -q "Remove these $((n_ours + 1)) objects and vpnpolicy.s iproute2 names? \\[y/N\\]" "$T/t.out"
        check "terminal: lists the nftables table before asking" grep -q '^nftables table inet vpnpolicy' "$T/t.out"
        assert_eq "terminal, answer n: nothing removed" "$n_ours" "$(ours "$NS")"
        check "terminal, answer n: the nftables table kept" grep -qx 'inet vpnpolicy' <<<"$(nft_tables "$NS")"
fi

# ---- --yes: exactly ours
teardown --yes
assert_eq "teardown: exit 0" 0 "$TRC"
assert_eq "teardown: none of ours left" 0 "$(ours "$NS")"
assert_eq "teardown: every foreign rule and route kept" "$before" "$(foreign "$NS")"
check "teardown: lists the source rule" grep -qx 'removed rule ipv4 pref 32765 from 10.10.10.0/24 lookup vpn proto vpnpolicy' "$T/t.out"
check "teardown: lists the default route" grep -qx 'removed route ipv4 default via 192.168.1.1 dev eth1 proto vpnpolicy table vpn' "$T/t.out"
check "teardown: lists the v6 fail-closed route" \
        grep -qx 'removed route ipv6 unreachable default proto vpnpolicy metric 4294967295 table vpn' "$T/t.out"
check "teardown: lists the route of ours it never made" grep -qx 'removed route ipv4 10.51.0.0/16 dev eth1 proto vpnpolicy table vpn' "$T/t.out"
check "teardown: keeps the route of our protocol in table 300" test -n "$(ip -n "$NS" route show table 300 10.50.0.0/16 proto 211)"
check "teardown: keeps the rule of our protocol pointing at table 300" \
        test -n "$(ip -n "$NS" -6 rule show pref 5000 from fd00:50::/64 lookup 300)"
check_fail "teardown: does not list them" grep -E '10\.50\.0\.0|fd00:50::' "$T/t.out"
check "teardown: lists the nftables table" grep -qx 'nftables table inet vpnpolicy' "$T/t.out"
check "teardown: says it removed the nftables table" grep -qx 'removed nftables table inet vpnpolicy' "$T/t.out"
assert_eq "teardown: nftables table inet vpnpolicy gone, the foreign one kept" "inet other" "$(nft_tables "$NS")"
assert_eq "teardown: one line per object and the nftables table, and the files" "$((n_ours * 2 + 3))" \
        "$(wc -l <"$T/t.out")"
check "teardown: rt_tables.d file gone" test ! -e "$IPR/rt_tables.d/vpnpolicy.conf"
check "teardown: rt_protos.d file gone" test ! -e "$IPR/rt_protos.d/vpnpolicy.conf"
check "teardown: foreign rt_tables.d file kept" test -e "$IPR/rt_tables.d/other.conf"

teardown --yes
assert_eq "again: exit 0" 0 "$TRC"
check "again: nothing to do" \
        grep -qx 'No rule or route of vpnpolicy.s (proto 211) in the kernel, and no nftables table inet vpnpolicy.' "$T/t.out"
check "again: nothing removed, nftables neither" test "$(grep -c '^removed' "$T/t.out")" = 1

# ---- a file of our name we did not write stays
printf '200\tvpn\n' >"$IPR/rt_tables.d/vpnpolicy.conf"
teardown --yes
assert_eq "foreign file of our name: exit 1" 1 "$TRC"
check "foreign file of our name: kept" test -e "$IPR/rt_tables.d/vpnpolicy.conf"
check "foreign file of our name: said" grep -q 'was not written by vpnpolicyd, left in place' "$T/t.err"

rc=0; ctl "$NS" teardown --bogus >/dev/null 2>&1 || rc=$?
assert_eq "unknown option: usage error" 2 "$rc"

finish
