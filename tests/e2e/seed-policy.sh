#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# seed-policy.sh NS: seed 003's "Source Routing" recipe, applied by hand inside network namespace NS:
#
#     200 vpn                                    in rt_tables (here /etc/netns/NS/iproute2/rt_tables,
#                                                which `ip netns exec NS` shows as /etc/iproute2)
#     ip -4 rule add from 10.10.10.0/24 lookup vpn
#     ip -6 rule add from fd00:4242:4242:4242::/64 lookup vpn
#     ip -4 ro add default via 192.168.1.1 table vpn
#     ip -6 ro add default via fd00:1010:1010:1010::1 table vpn
#
# Nothing else (no tun routes: that is seed-up.sh, OpenVPN's `up`; no client-LAN routes: the seed has
# none). Never touches the host's /etc/iproute2. Overridable for benchmarks: SEED_POOL4 SEED_POOL6
# SEED_GW4 SEED_GW6 SEED_TABLE_ID SEED_TABLE.
set -euo pipefail

NS=${1:?usage: seed-policy.sh NETNS}
POOL4=${SEED_POOL4:-10.10.10.0/24}
POOL6=${SEED_POOL6:-fd00:4242:4242:4242::/64}
GW4=${SEED_GW4:-192.168.1.1}
GW6=${SEED_GW6:-fd00:1010:1010:1010::1}
TABLE_ID=${SEED_TABLE_ID:-200}
TABLE=${SEED_TABLE:-vpn}

[ -e "/run/netns/$NS" ] || { echo "seed-policy: no network namespace $NS" >&2; exit 1; }

dir=/etc/netns/$NS/iproute2
if [ ! -d "$dir" ]; then
        mkdir -p "/etc/netns/$NS"
        cp -a /etc/iproute2 "$dir"
fi
if ! grep -Eq "^[[:space:]]*${TABLE_ID}[[:space:]]+${TABLE}([[:space:]]|\$)" "$dir/rt_tables"; then
        printf '%s\t%s\n' "$TABLE_ID" "$TABLE" >>"$dir/rt_tables"
fi

in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip -4 rule add from "$POOL4" lookup "$TABLE"
in_ns ip -6 rule add from "$POOL6" lookup "$TABLE"
in_ns ip -4 route add default via "$GW4" table "$TABLE"
in_ns ip -6 route add default via "$GW6" table "$TABLE"
