/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "rtnl-addr.h"

static int addr_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
                return MNL_CB_OK;
        if (type == IFA_FLAGS && mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                return MNL_CB_OK;
        tb[type] = attr;
        return MNL_CB_OK;
}

static int addr_copy(const struct nlattr *attr, int family, InAddrUnion *ret) {
        if (mnl_attr_get_payload_len(attr) != family_addr_size(family))
                return -EBADMSG;
        memcpy(ret->bytes, mnl_attr_get_payload(attr), family_addr_size(family));
        return 0;
}

int address_from_netlink(const struct nlmsghdr *nlh, AddressInfo *ret) {
        const struct nlattr *tb[IFA_MAX + 1] = {};
        const struct ifaddrmsg *ifa;
        AddressInfo a = {};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
                return -EBADMSG;
        ifa = mnl_nlmsg_get_payload(nlh);
        if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
                return -EAFNOSUPPORT;
        if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
                return -EBADMSG;
        if (ifa->ifa_prefixlen > family_max_prefixlen(ifa->ifa_family) || ifa->ifa_index == 0)
                return -EBADMSG;

        a.ifindex = (int) ifa->ifa_index;
        a.family = ifa->ifa_family;
        a.prefixlen = ifa->ifa_prefixlen;
        a.scope = ifa->ifa_scope;
        a.flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
        if (!tb[IFA_ADDRESS] && !tb[IFA_LOCAL])
                return -EBADMSG;
        if (addr_copy(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], a.family, &a.local) < 0 ||
            addr_copy(tb[IFA_ADDRESS] ? tb[IFA_ADDRESS] : tb[IFA_LOCAL], a.family, &a.peer) < 0)
                return -EBADMSG;
        *ret = a;
        return 0;
}

Prefix address_subnet(const AddressInfo *a) {
        Prefix p = { .family = a->family, .prefixlen = a->prefixlen, .addr = a->peer };

        prefix_mask(&p);
        return p;
}
