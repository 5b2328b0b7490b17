/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "rtnl-route.h"

int route_to_netlink(const Object *route, struct nlmsghdr *nlh) {
        size_t size = family_addr_size(route->family);
        struct rtmsg *rtm;

        assert(route->kind == OBJECT_ROUTE);
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t) route->family;
        rtm->rtm_dst_len = route->prefix.prefixlen;
        rtm->rtm_table = route->table < 256 ? (uint8_t) route->table : RT_TABLE_UNSPEC;
        rtm->rtm_protocol = route->protocol;
        rtm->rtm_type = route->type;
        /* A delete with RT_SCOPE_NOWHERE matches any scope (fib_table_delete() in net/ipv4/fib_trie.c). */
        rtm->rtm_scope = nlh->nlmsg_type == RTM_DELROUTE ? RT_SCOPE_NOWHERE : route->scope;
        if (route->onlink)
                rtm->rtm_flags |= RTNH_F_ONLINK;

        mnl_attr_put_u32(nlh, RTA_TABLE, route->table);
        if (route->prefix.prefixlen > 0)
                mnl_attr_put(nlh, RTA_DST, size, route->prefix.addr.bytes);
        mnl_attr_put_u32(nlh, RTA_PRIORITY, route->priority);
        if (route->has_gateway)
                mnl_attr_put(nlh, RTA_GATEWAY, size, route->gateway.bytes);
        if (route->has_prefsrc)
                mnl_attr_put(nlh, RTA_PREFSRC, size, route->prefsrc.bytes);
        if (route->oif > 0)
                mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) route->oif);
        return 0;
}

/* What we cannot copy faithfully: a route with one of these is never ours and never mirrored. */
static const uint16_t unsupported_attrs[] = {
        RTA_MULTIPATH, RTA_VIA, RTA_NH_ID, RTA_ENCAP, RTA_SRC, RTA_IIF,
};

static int route_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
                return MNL_CB_OK;
        switch (type) {
        case RTA_TABLE:
        case RTA_PRIORITY:
        case RTA_OIF:
                if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                        return MNL_CB_OK;
                break;
        default:
                break;
        }
        tb[type] = attr;
        return MNL_CB_OK;
}

static int route_addr_attr(const struct nlattr *attr, int family, bool *has, InAddrUnion *ret) {
        if (!attr)
                return 0;
        if (mnl_attr_get_payload_len(attr) != family_addr_size(family))
                return -EBADMSG;
        memcpy(ret->bytes, mnl_attr_get_payload(attr), family_addr_size(family));
        if (has)
                *has = true;
        return 0;
}

static int route_check_supported(const struct rtmsg *rtm, const struct nlattr **tb) {
        if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
                return -EAFNOSUPPORT;
        if (rtm->rtm_type != RTN_UNICAST && rtm->rtm_type != RTN_UNREACHABLE)
                return -EOPNOTSUPP;
        if ((rtm->rtm_flags & RTM_F_CLONED) || rtm->rtm_tos != 0 || rtm->rtm_src_len != 0)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < ELEMENTSOF(unsupported_attrs); i++)
                if (tb[unsupported_attrs[i]])
                        return -EOPNOTSUPP;
        if (rtm->rtm_dst_len > family_max_prefixlen(rtm->rtm_family))
                return -EBADMSG;
        return 0;
}

int route_from_netlink(const struct nlmsghdr *nlh, Object *ret) {
        const struct nlattr *tb[RTA_MAX + 1] = {};
        const struct rtmsg *rtm;
        Object o = { .kind = OBJECT_ROUTE };
        int r;

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
                return -EBADMSG;
        rtm = mnl_nlmsg_get_payload(nlh);
        if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
                return -EBADMSG;
        r = route_check_supported(rtm, tb);
        if (r < 0)
                return r;

        o.family = rtm->rtm_family;
        o.prefix.family = rtm->rtm_family;
        o.prefix.prefixlen = rtm->rtm_dst_len;
        o.table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        o.priority = tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
        o.protocol = rtm->rtm_protocol;
        o.type = rtm->rtm_type;
        o.scope = rtm->rtm_scope;
        o.onlink = rtm->rtm_flags & RTNH_F_ONLINK;
        /* The kernel reports unreachable v6 routes on the loopback device; the device means nothing there. */
        o.oif = tb[RTA_OIF] && o.type == RTN_UNICAST ? (int) mnl_attr_get_u32(tb[RTA_OIF]) : 0;
        if (route_addr_attr(tb[RTA_DST], o.family, NULL, &o.prefix.addr) < 0 ||
            route_addr_attr(tb[RTA_GATEWAY], o.family, &o.has_gateway, &o.gateway) < 0 ||
            route_addr_attr(tb[RTA_PREFSRC], o.family, &o.has_prefsrc, &o.prefsrc) < 0)
                return -EBADMSG;
        if (o.prefix.prefixlen > 0 && !tb[RTA_DST])
                return -EBADMSG;
        *ret = o;
        return 0;
}
