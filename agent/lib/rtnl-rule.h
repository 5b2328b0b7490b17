/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>

#include "object.h"

/* Appends RTM_NEWRULE or RTM_DELRULE for the rule to nlh (a header from rtnl_batch_add()). */
int rule_to_netlink(const Object *rule, struct nlmsghdr *nlh);
/* Parses RTM_NEWRULE/RTM_DELRULE. -EOPNOTSUPP for rules we never create (other actions or selectors
 * beyond a source prefix), so they can never be mistaken for ours. */
int rule_from_netlink(const struct nlmsghdr *nlh, Object *ret);
