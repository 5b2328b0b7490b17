/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "object.h"

/* Pure functions: configuration and observed facts in, the objects we want out. No I/O. */

/* The kernel's metric for IPv6 routes added without one (IP6_RT_PRIO_USER, include/net/ip6_route.h):
 * we say it explicitly so that our objects compare equal to what the kernel reports back. */
#define IPV6_DEFAULT_METRIC 1024U
/* The largest metric: the fail-closed route only wins when nothing else is left in the table. */
#define FAIL_CLOSED_METRIC UINT32_MAX
/* The kernel's metric for IPv6 connected routes (IP6_RT_PRIO_ADDRCONF, include/net/ip6_route.h). */
#define IPV6_CONNECTED_METRIC 256U

/* "from POOL lookup TABLE": one per pool of the policy. */
Object desired_source_rule(const PolicyConfig *p, const Prefix *pool, uint8_t protocol);
/* "iif DEV lookup TABLE": traffic that arrives from a pool tunnel follows the policy whatever its source
 * (client LANs behind iroute, WireGuard AllowedIPs). */
Object desired_iif_rule(const PolicyConfig *p, int family, const char *ifname, uint8_t protocol);
/* "default via GW [dev DEV] table TABLE"; oif 0 leaves the device to the kernel. */
Object desired_default_route(const PolicyConfig *p, int family, const InAddrUnion *gateway, int oif,
                             uint8_t protocol);
/* "unreachable default metric MAX table TABLE": pool traffic never falls through to the main table. */
Object desired_fail_closed(const PolicyConfig *p, int family, uint8_t protocol);

/* The gateway probes' objects (config.h, PROBE_TABLE_BASE): the index k of a policy's gateway, the rule
 * "fwmark PROBE_MARK_BASE+k lookup PROBE_TABLE_BASE+k pref PROBE_RULE_PRIORITY", and the route "default via
 * GATEWAY [dev DEV]" in that table. */
uint32_t desired_probe_index(const Config *c, size_t policy, size_t gateway);
uint32_t desired_probe_table(uint32_t index);
uint32_t desired_probe_mark(uint32_t index);
bool desired_table_is_probe(uint32_t table);
Object desired_probe_rule(int family, uint32_t index, uint8_t protocol);
Object desired_probe_route(int family, uint32_t index, const InAddrUnion *gateway, int oif, uint8_t protocol);

/* Link kinds we manage: tun (OpenVPN, wireguard-go), OpenVPN's data channel offload devices (ovpn-dco
 * out of tree, ovpn since Linux 6.16) and WireGuard. */
bool desired_kind_is_tunnel(const char *kind);
bool desired_link_matches(const Config *c, const char *kind, const char *name);

/* The tun route for an address on a managed device: its connected subnet in the policy table. False
 * for addresses that have none worth copying (IPv6 link-local, a host address without a peer). */
bool desired_tun_route(uint32_t table, int ifindex, int family, const Prefix *subnet, bool has_peer,
                       uint8_t protocol, Object *ret);

/* The copy of a main-table route via a managed device into the policy's table. False for what is not
 * copied: routes the kernel derives from addresses (the tun routes cover them), IPv6 link-local and
 * multicast, and routes that cover the default route or a gateway of the policy (a client tunnel's
 * redirect-gateway routes, 0.0.0.0/1 and 128.0.0.0/1 style: copied, they would take the pool's traffic
 * away from the gateway). */
bool desired_mirror_route(const Config *c, const PolicyConfig *p, const Object *main_route, uint8_t protocol,
                          Object *ret);
/* Routes at least this short are never copied: /0 and /1 for IPv4, up to /4 for IPv6 (OpenVPN's
 * redirect-gateway ipv6 adds ::/3, 2000::/4 and 3000::/4). */
#define MIRROR_MIN_PREFIXLEN4 2
#define MIRROR_MIN_PREFIXLEN6 5
