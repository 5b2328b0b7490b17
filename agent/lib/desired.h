/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "object.h"

/* Pure functions: configuration and observed facts in, the objects we want out. No I/O. */

typedef struct DesiredObject {
        Object obj;
        ObjectRole role;
        const char *blocked;    /* set when the object cannot be sent now, and why */
} DesiredObject;

/* The kernel's metric for IPv6 routes added without one (IP6_RT_PRIO_USER, include/net/ip6_route.h):
 * we say it explicitly so that our objects compare equal to what the kernel reports back. */
#define IPV6_DEFAULT_METRIC 1024U
/* The largest metric: the fail-closed route only wins when nothing else is left in the table. */
#define FAIL_CLOSED_METRIC UINT32_MAX

/* Source rules, default routes and fail-closed routes. gateway_ifindex is the index of [Gateway]
 * Device=, 0 when no device is configured, -1 when it is configured but absent. Writes at most
 * desired_base_max() objects to ret and returns how many. */
size_t desired_base_max(const Config *c);
size_t desired_base(const Config *c, int gateway_ifindex, uint8_t protocol, DesiredObject *ret);

/* The kernel's metric for IPv6 connected routes (IP6_RT_PRIO_ADDRCONF, include/net/ip6_route.h). */
#define IPV6_CONNECTED_METRIC 256U

/* Link kinds we manage: tun, and OpenVPN's data channel offload devices (ovpn-dco out of tree, ovpn
 * since Linux 6.16). */
bool desired_kind_is_tunnel(const char *kind);
bool desired_link_matches(const Config *c, const char *kind, const char *name);

/* The tun route for an address on a managed device: its connected subnet in the policy table. False
 * for addresses that have none worth copying (IPv6 link-local, a host address without a peer). */
bool desired_tun_route(const Config *c, int ifindex, int family, const Prefix *subnet, bool has_peer,
                       uint8_t protocol, Object *ret);

/* The copy of a main-table route via a managed device. False for what is not copied: routes the
 * kernel derives from addresses (the tun routes cover them), IPv6 link-local and multicast. */
bool desired_mirror_route(const Config *c, const Object *main_route, uint8_t protocol, Object *ret);
