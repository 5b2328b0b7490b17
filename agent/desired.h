/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

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
