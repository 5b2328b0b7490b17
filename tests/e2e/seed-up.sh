#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Seed 003's /etc/openvpn/up ("Finishing Touches"), ported to Debian: the seed computes the tun
# networks with /usr/bin/ipcalc (RHEL's); this does the same arithmetic in bash, so it needs nothing
# but bash and /usr/sbin/ip. OpenVPN runs it with no PATH: only builtins and absolute paths here.
# It is the baseline the benchmarks compare vpnpolicy with, so it stays as close to the seed as it can:
#
#     NETWORK4=$(/usr/bin/ipcalc -n $ifconfig_local $ifconfig_netmask | cut -d '=' -f 2)
#     PREFIX4=$(/usr/bin/ipcalc -p $4 $5 | cut -d '=' -f 2)
#     NETWORK6=$(/usr/bin/ipcalc -n $ifconfig_ipv6_local/$ifconfig_ipv6_netbits | cut -d '=' -f 2)
#     PREFIX6=$ifconfig_ipv6_netbits
#     echo /usr/sbin/ip -4 ro add $NETWORK4/$PREFIX4 dev $dev table vpn
#     echo /usr/sbin/ip -6 ro add $NETWORK6/$PREFIX6 dev $dev table vpn
#     /usr/sbin/ip -4 ro add $NETWORK4/$PREFIX4 dev $dev table vpn
#     /usr/sbin/ip -6 ro add $NETWORK6/$PREFIX6 dev $dev table vpn
#
# Same behaviour as the seed's, gaps included:
# - OpenVPN calls it as: up DEV TUN_MTU LINK_MTU IFCONFIG_LOCAL IFCONFIG_NETMASK|IFCONFIG_REMOTE init|restart
#   (2.6 passes LINK_MTU as 0). With `topology net30` there is no ifconfig_netmask and $5 is the
#   peer address, so the IPv4 network cannot be computed (the seed's ipcalc fails too): no IPv4 route.
# - Routes OpenVPN adds after `up` (`route` lines for client LANs, net30's pool route) never reach
#   table vpn.
# - The exit status is the IPv6 `ip` command's, as in the seed: if that fails (route already there,
#   no table vpn, no IPv6 on the tun), OpenVPN refuses to start.
# VPNPOLICY_SEED_TABLE (default vpn) overrides the table, for benchmarks only.

IP=/usr/sbin/ip
TABLE=${VPNPOLICY_SEED_TABLE:-vpn}

# dotted quad -> integer; fails on anything else
ip4_to_int() {
        local IFS=. o n=0
        [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
        for o in $1; do
                (( 10#$o <= 255 )) || return 1
                n=$(( (n << 8) | 10#$o ))
        done
        echo "$n"
}

int_to_ip4() { echo "$(( ($1 >> 24) & 255 )).$(( ($1 >> 16) & 255 )).$(( ($1 >> 8) & 255 )).$(( $1 & 255 ))"; }

# netmask -> prefix length (ipcalc -p); fails unless the mask is contiguous
mask_to_prefix() {
        local m p=0
        m=$(ip4_to_int "$1") || return 1
        while (( p < 32 && (m >> (31 - p)) & 1 )); do p=$((p + 1)); done
        (( ((m << p) & 0xffffffff) == 0 )) || return 1
        echo "$p"
}

# ipcalc -n ADDR MASK
network4() {
        local a m
        a=$(ip4_to_int "$1") || return 1
        m=$(ip4_to_int "$2") || return 1
        mask_to_prefix "$2" >/dev/null || return 1
        int_to_ip4 $(( a & m ))
}

# ipcalc -n ADDR/BITS for IPv6: expand, mask, print compressed
network6() {
        local addr=${1%/*} bits=${1##*/} head tail i n b out=() h=() t=()
        [[ $1 == */* && $bits =~ ^[0-9]+$ ]] && (( bits <= 128 )) || return 1
        [[ $addr =~ ^[0-9a-fA-F:]+$ ]] || return 1
        if [[ $addr == *::* ]]; then
                head=${addr%%::*}; tail=${addr#*::}
                [[ $tail == *::* ]] && return 1
                IFS=: read -r -a h <<<"$head"
                IFS=: read -r -a t <<<"$tail"
                n=$(( 8 - ${#h[@]} - ${#t[@]} ))
                (( n >= 1 )) || return 1
                out=("${h[@]}")
                for (( i = 0; i < n; i++ )); do out+=(0); done
                out+=("${t[@]}")
        else
                IFS=: read -r -a out <<<"$addr"
        fi
        (( ${#out[@]} == 8 )) || return 1
        for (( i = 0; i < 8; i++ )); do
                [[ ${out[i]} =~ ^[0-9a-fA-F]{1,4}$ ]] || return 1
                b=$(( bits - 16 * i ))
                (( b < 0 )) && b=0
                (( b > 16 )) && b=16
                out[i]=$(( 16#${out[i]} & ((0xffff << (16 - b)) & 0xffff) ))
        done
        # compress the longest run of zero groups (RFC 5952)
        local best=-1 bestlen=0 run=-1 len=0 s=
        for (( i = 0; i < 8; i++ )); do
                if (( out[i] == 0 )); then
                        (( run < 0 )) && { run=$i; len=0; }
                        len=$((len + 1))
                        (( len > bestlen )) && { best=$run; bestlen=$len; }
                else
                        run=-1
                fi
        done
        (( bestlen < 2 )) && best=-1
        for (( i = 0; i < 8; i++ )); do
                if (( i == best )); then
                        s+="::"; i=$(( i + bestlen - 1 )); continue
                fi
                [[ -n $s && $s != *:: ]] && s+=":"
                s+=$(printf '%x' "${out[i]}")
        done
        echo "$s"
}

if [ -z "${dev:-}" ]; then dev=$1; fi

NETWORK4=$(network4 "${ifconfig_local:-}" "${ifconfig_netmask:-}")
PREFIX4=$(mask_to_prefix "${5:-}")
NETWORK6=$(network6 "${ifconfig_ipv6_local:-}/${ifconfig_ipv6_netbits:-}")
PREFIX6=${ifconfig_ipv6_netbits:-}

echo /usr/sbin/ip -4 ro add "$NETWORK4/$PREFIX4" dev "$dev" table "$TABLE"
echo /usr/sbin/ip -6 ro add "$NETWORK6/$PREFIX6" dev "$dev" table "$TABLE"

if [ -n "$NETWORK4" ] && [ -n "$PREFIX4" ]; then
        $IP -4 ro add "$NETWORK4/$PREFIX4" dev "$dev" table "$TABLE"
else
        echo "seed-up: cannot compute the IPv4 network of $dev (ifconfig_netmask='${ifconfig_netmask:-}'," \
                "\$5='${5:-}'; topology net30?): no IPv4 route added" >&2
fi
if [ -n "$NETWORK6" ]; then
        $IP -6 ro add "$NETWORK6/$PREFIX6" dev "$dev" table "$TABLE"
else
        echo "seed-up: cannot compute the IPv6 network of $dev: no IPv6 route added" >&2
        exit 1
fi
