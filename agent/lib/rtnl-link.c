/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <net/if.h>
#include <linux/if.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "rtnl-link.h"

static int link_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
                return MNL_CB_OK;
        if (type == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
                return MNL_CB_OK;
        if (type == IFLA_LINKINFO && mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
                return MNL_CB_OK;
        tb[type] = attr;
        return MNL_CB_OK;
}

static int linkinfo_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;

        if (mnl_attr_type_valid(attr, IFLA_INFO_MAX) < 0)
                return MNL_CB_OK;
        if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
                return MNL_CB_OK;
        tb[mnl_attr_get_type(attr)] = attr;
        return MNL_CB_OK;
}

static void link_kind(const struct nlattr *linkinfo, char kind[static 16]) {
        const struct nlattr *tb[IFLA_INFO_MAX + 1] = {};

        kind[0] = 0;
        if (!linkinfo || mnl_attr_parse_nested(linkinfo, linkinfo_attr_cb, tb) < 0 || !tb[IFLA_INFO_KIND])
                return;
        snprintf(kind, 16, "%s", mnl_attr_get_str(tb[IFLA_INFO_KIND]));
}

int link_from_netlink(const struct nlmsghdr *nlh, LinkInfo *ret) {
        const struct nlattr *tb[IFLA_MAX + 1] = {};
        const struct ifinfomsg *ifi;
        LinkInfo l = {};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
                return -EBADMSG;
        ifi = mnl_nlmsg_get_payload(nlh);
        if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0 || ifi->ifi_index <= 0)
                return -EBADMSG;
        if (!tb[IFLA_IFNAME] || strlen(mnl_attr_get_str(tb[IFLA_IFNAME])) >= IFNAMSIZ)
                return -EBADMSG;

        l.ifindex = ifi->ifi_index;
        l.flags = ifi->ifi_flags;
        snprintf(l.name, sizeof(l.name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
        link_kind(tb[IFLA_LINKINFO], l.kind);
        *ret = l;
        return 0;
}

bool link_info_is_operational(const LinkInfo *l) {
        return (l->flags & IFF_UP) && (l->flags & IFF_LOWER_UP);
}
