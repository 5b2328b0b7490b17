/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>

#include "object.h"

int route_to_netlink(const Object *route, struct nlmsghdr *nlh);
/* Parses RTM_NEWROUTE/RTM_DELROUTE. -EOPNOTSUPP for what we never create or mirror: multipath, cloned
 * (cache) routes, source-specific v6 routes, routes with a tos, and non-unicast types other than
 * unreachable. */
int route_from_netlink(const struct nlmsghdr *nlh, Object *ret);
