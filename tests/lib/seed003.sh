# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034
#
# tests/lib/seed003.sh: the seed 003 topology, configuration and expected objects, shared by the
# integration tests. Source it after common.sh (whose rules apply: seed003_uplink creates namespaces,
# so call it in the main shell, not in a subshell or $(...)).
#
#   source "$(dirname "$0")/../lib/common.sh"
#   source "$(dirname "$0")/../lib/seed003.sh"
#   seed003_uplink NS GW
#   seed003_config "$T/vpnpolicy.conf" '[Kernel]' 'FailClosed=yes'
#   agent_start "$NS" "$T/vpnpolicy.conf"
#   seed003_exact "$NS" "start"
#   finish
#
# The server: eth1 192.168.1.100/24, fd00:1010:1010:1010::100/64; the gateway (NAT router) on the other
# end of the veth, eth0 192.168.1.1/24, fd00:1010:1010:1010::1/64. Pools 10.10.10.0/24 and
# fd00:4242:4242:4242::/64, on tun devices at .1/::1. Table vpn (200), rules at 32765, protocol 211.

[[ -n ${_VPT_SOURCED:-} ]] || { echo "seed003.sh: source common.sh first" >&2; exit 1; }
[[ -n ${_SEED003_SOURCED:-} ]] && return 0
_SEED003_SOURCED=1

# What the agent holds for seed 003 with FailClosed=yes, as rules_json/routes_json give it (table and
# protocol by name: the agent wrote its rt_tables.d and rt_protos.d entries).
RULES4='[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"}]'
RULES6='[{"priority":32765,"src":"fd00:4242:4242:4242::","srclen":64,"table":"vpn","protocol":"vpnpolicy"}]'
ROUTES4='[{"dst":"default","gateway":"192.168.1.1","dev":"eth1","type":"unicast","metric":0,"protocol":"vpnpolicy"},
          {"dst":"default","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]'
ROUTES6='[{"dst":"default","gateway":"fd00:1010:1010:1010::1","dev":"eth1","type":"unicast","metric":1024,"protocol":"vpnpolicy"},
          {"dst":"default","dev":"lo","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]'

# ---------------------------------------------------------------------------------------------------------
# topology

# seed003_uplink [--no-forwarding] NS_VAR GW_VAR: new namespaces (names into NS_VAR and GW_VAR), the
# server's eth1 joined to the gateway's eth0, both with their seed 003 addresses; IPv4 and IPv6
# forwarding on in the server (left off with --no-forwarding, e.g. for Forwarding=enable to turn on).
seed003_uplink() {
        local __seed003_fwd=1
        if [[ ${1:-} == --no-forwarding ]]; then
                __seed003_fwd=
                shift
        fi
        ns_new "$1" || return 1
        ns_new "$2" || return 1
        local __seed003_ns=${!1} __seed003_gw=${!2}
        veth_add "$__seed003_ns" eth1 "$__seed003_gw" eth0 || return 1
        ip -n "$__seed003_ns" addr add 192.168.1.100/24 dev eth1 || return 1
        ip -n "$__seed003_ns" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad || return 1
        seed003_gateway_addrs "$__seed003_gw" || return 1
        if [[ -n $__seed003_fwd ]]; then
                ns_exec "$__seed003_ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null ||
                        return 1
        fi
}

# seed003_gateway_addrs GW: the gateway's addresses on its eth0.
seed003_gateway_addrs() {
        ip -n "$1" addr add 192.168.1.1/24 dev eth0 &&
                ip -n "$1" addr add fd00:1010:1010:1010::1/64 dev eth0 nodad
}

# seed003_tun NS [DEV]: a tun device (default tun0), up, with the pools' first addresses as OpenVPN gives
# them (10.10.10.1/24, fd00:4242:4242:4242::1/64).
seed003_tun() {
        local dev=${2:-tun0}
        tun_add "$1" "$dev" &&
                ip -n "$1" addr add 10.10.10.1/24 dev "$dev" &&
                ip -n "$1" addr add fd00:4242:4242:4242::1/64 dev "$dev" nodad
}

# ---------------------------------------------------------------------------------------------------------
# configuration

# seed003_config [--pool PREFIX]... FILE [LINE...]: the seed 003 configuration into FILE: [Table] vpn, 200,
# 32765; [Pool] 10.10.10.0/24 and fd00:4242:4242:4242::/64 (or the --pool ones, in their order); [Gateway]
# 192.168.1.1 and fd00:1010:1010:1010::1. Then the LINEs, an empty line before each section header:
#   seed003_config "$T/c.conf" '[Gateway]' 'Device=eth1' '[Kernel]' 'Forwarding=enable'
# Line numbers for error messages: Id= is line 3, Priority= 4, the pools' Prefix= lines 7 on.
seed003_config() {
        local pools=() file line
        while [[ ${1:-} == --pool ]]; do
                pools+=("$2")
                shift 2
        done
        ((${#pools[@]})) || pools=(10.10.10.0/24 fd00:4242:4242:4242::/64)
        file=$1
        shift
        {
                printf '[Table]\nName=vpn\nId=200\nPriority=32765\n\n[Pool]\n'
                printf 'Prefix=%s\n' "${pools[@]}"
                printf '\n[Gateway]\nIPv4=192.168.1.1\nIPv6=fd00:1010:1010:1010::1\n'
                for line; do
                        [[ $line != \[* ]] || echo
                        printf '%s\n' "$line"
                done
        } >"$file"
}

# ---------------------------------------------------------------------------------------------------------
# expected state

# seed003_exact NS WHAT [EXTRA_RULES4 [EXTRA_ROUTES4]]: the rules and the routes of table 200 in NS are
# exactly RULES4, RULES6, ROUTES4, ROUTES6 (plus the JSON arrays EXTRA_RULES4, EXTRA_ROUTES4, e.g. foreign
# objects); four checks named "WHAT: v4 rules exact" and so on.
seed003_exact() {
        local ns=$1 what=$2 r4=$RULES4 t4=$ROUTES4
        [[ -z ${3:-} ]] || r4=$(jq -cn --argjson a "$RULES4" --argjson b "$3" '$a + $b')
        [[ -z ${4:-} ]] || t4=$(jq -cn --argjson a "$ROUTES4" --argjson b "$4" '$a + $b')
        assert_eq "$what: v4 rules exact" "$r4" "$(rules_json "$ns" 4)"
        assert_eq "$what: v6 rules exact" "$RULES6" "$(rules_json "$ns" 6)"
        assert_eq "$what: v4 routes in table 200 exact" "$t4" "$(routes_json "$ns" 4 200)"
        assert_eq "$what: v6 routes in table 200 exact" "$ROUTES6" "$(routes_json "$ns" 6 200)"
}

# ---------------------------------------------------------------------------------------------------------
# tun routes (the tests of issue "tunnels"); waits are CONVERGE_MS long (default 3000)

# tun_routes NS FAMILY: our routes in table 200 other than the default ones, sorted JSON.
tun_routes() {
        routes_json "$1" "$2" 200 vpnpolicy | jq -cS '[.[] | select(.dst != "default")] | sort'
}
_seed003_routes_are() { [[ $(tun_routes "$1" "$2" | json_norm) == "$(json_norm <<<"$3")" ]]; }

# expect_routes NAME NS FAMILY EXPECTED: wait until table 200 holds exactly the tun routes EXPECTED, then
# compare (one check, NAME).
expect_routes() {
        wait_until "${CONVERGE_MS:-3000}" _seed003_routes_are "$2" "$3" "$4" || true
        assert_eq "$1" "$4" "$(tun_routes "$2" "$3")"
}

# table200_has NS DST / table200_lacks NS DST: a route to DST is (is not) in table 200.
table200_has() { [[ -n $(ip -n "$1" route show table 200 "$2") ]]; }
table200_lacks() { [[ -z $(ip -n "$1" route show table 200 "$2") ]]; }

# barrier_tun_add NS: the tun "tunb" for barrier: a pool host address (no route of its own) makes it one of
# the agent's tunnels.
barrier_tun_add() {
        tun_add "$1" tunb && ip -n "$1" addr add 10.10.10.254/32 dev tunb
}

# barrier NS: prove the agent has handled every event so far (it handles them in order): an address on the
# managed tun "tunb" (barrier_tun_add made it) gets its route in table 200, and loses it again.
barrier() {
        local ns=$1
        ip -n "$ns" addr add 10.254.254.1/30 dev tunb
        wait_until "${CONVERGE_MS:-3000}" table200_has "$ns" 10.254.254.0/30 ||
                { echo "barrier route missing" >&2; return 1; }
        ip -n "$ns" addr del 10.254.254.1/30 dev tunb
        wait_until "${CONVERGE_MS:-3000}" table200_lacks "$ns" 10.254.254.0/30
}

# ---------------------------------------------------------------------------------------------------------
# vpnpolicyctl doctor --json, its output in $T/d.json (and stderr in $T/d.err)

# doctor_output_ok: $T/d.json is doctor's JSON; else print it and $T/d.err, and fail.
doctor_output_ok() {
        jq -e .findings "$T/d.json" >/dev/null || { cat "$T/d.json" "$T/d.err" >&2; return 1; }
}
# finding SEVERITY CHECK REGEX: a finding of that severity and check whose message matches
finding() {
        jq -e --arg s "$1" --arg c "$2" --arg r "$3" \
                'any(.findings[]; .severity == $s and .check == $c and (.message | test($r)))' "$T/d.json" >/dev/null
}
# fix CHECK TEXT: a fix of that check is exactly TEXT
fix() { jq -e --arg c "$1" --arg f "$2" 'any(.findings[] | select(.check == $c) | .fix[]; . == $f)' "$T/d.json" >/dev/null; }
# no_check CHECK: no finding of that check
no_check() { jq -e --arg c "$1" 'all(.findings[]; .check != $c)' "$T/d.json" >/dev/null; }
