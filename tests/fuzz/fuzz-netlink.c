/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every netlink parser over arbitrary messages: what a buggy or hostile kernel-side could send. The
 * input is walked as a stream of netlink messages, as the agent walks a datagram. */
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>

#include "rtnl-addr.h"
#include "rtnl-link.h"
#include "rtnl-neigh.h"
#include "rtnl-route.h"
#include "rtnl-rule.h"
#include "rtnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_one(const struct nlmsghdr *nlh) {
        Object o;
        LinkInfo l;
        AddressInfo a;
        NeighInfo n;
        char s[OBJECT_STRLEN];

        switch (nlh->nlmsg_type) {
        case RTM_NEWROUTE:
        case RTM_DELROUTE:
                if (route_from_netlink(nlh, &o) >= 0)
                        object_to_string(&o, NULL, s);
                break;
        case RTM_NEWRULE:
        case RTM_DELRULE:
                if (rule_from_netlink(nlh, &o) >= 0)
                        object_to_string(&o, NULL, s);
                break;
        case RTM_NEWLINK:
        case RTM_DELLINK:
                (void) link_from_netlink(nlh, &l);
                break;
        case RTM_NEWADDR:
        case RTM_DELADDR:
                if (address_from_netlink(nlh, &a) >= 0)
                        (void) address_subnet(&a);
                break;
        case RTM_NEWNEIGH:
        case RTM_DELNEIGH:
                if (neigh_from_netlink(nlh, &n) >= 0)
                        (void) neigh_state_to_string(n.state);
                break;
        default:
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Netlink messages are 4-byte aligned in the kernel's buffer: so in ours. */
        static uint32_t buf[16384];
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf;
        int remaining;

        if (size > sizeof(buf))
                return 0;
        memcpy(buf, data, size);
        remaining = (int) size;
        for (; rtnl_message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining))
                parse_one(nlh);
        return 0;
}
