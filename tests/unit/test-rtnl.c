/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Encode-then-parse round trips of every netlink builder, and the parsers against messages shaped like
 * the kernel's (fib_nl_fill_rule(), rtm_fill_info(), rtnl_fill_ifinfo(), inet_fill_ifaddr()). */

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"
#include "rtnl-route.h"
#include "rtnl-rule.h"
#include "tests.h"

static uint8_t buf[4096];

static Prefix P(const char *s) {
        Prefix p;

        ASSERT(prefix_parse(s, &p) >= 0);
        return p;
}

static InAddrUnion A(int family, const char *s) {
        InAddrUnion a;

        ASSERT(addr_parse(family, s, NULL, &a) >= 0);
        return a;
}

static struct nlmsghdr *header(uint16_t type) {
        struct nlmsghdr *nlh;

        memset(buf, 0, sizeof(buf));
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        return nlh;
}

static void round_trip(const Object *o) {
        struct nlmsghdr *nlh = header(o->kind == OBJECT_RULE ? RTM_NEWRULE : RTM_NEWROUTE);
        Object back;

        if (o->kind == OBJECT_RULE) {
                ASSERT(rule_to_netlink(o, nlh) >= 0);
                ASSERT(rule_from_netlink(nlh, &back) >= 0);
        } else {
                ASSERT(route_to_netlink(o, nlh) >= 0);
                ASSERT(route_from_netlink(nlh, &back) >= 0);
        }
        ASSERT(object_content_equal(o, &back));
}

static void test_rule_round_trip(void) {
        Object r = { .kind = OBJECT_RULE, .family = AF_INET, .table = 200, .priority = 32765,
                     .prefix = P("10.10.10.0/24"), .protocol = 211 };

        round_trip(&r);
        r.table = 100000;       /* above 255: only FRA_TABLE can say it */
        round_trip(&r);
        r = (Object) { .kind = OBJECT_RULE, .family = AF_INET6, .table = 200, .priority = 1,
                       .prefix = P("fd00:4242:4242:4242::/64"), .protocol = 211 };
        round_trip(&r);
        r = (Object) { .kind = OBJECT_RULE, .family = AF_INET6, .table = 200, .priority = 32765,
                       .prefix = { .family = AF_INET6 }, .protocol = 211, .iifname = "tun15" };
        round_trip(&r);
}

static void test_route_round_trip(void) {
        Object r = { .kind = OBJECT_ROUTE, .family = AF_INET, .table = 200, .prefix = P("0.0.0.0/0"),
                     .protocol = 211, .type = RTN_UNICAST, .has_gateway = true,
                     .gateway = A(AF_INET, "192.168.1.1"), .oif = 3 };

        round_trip(&r);
        r = (Object) { .kind = OBJECT_ROUTE, .family = AF_INET6, .table = 200, .priority = UINT32_MAX,
                       .prefix = P("::/0"), .protocol = 211, .type = RTN_UNREACHABLE };
        round_trip(&r);
        r = (Object) { .kind = OBJECT_ROUTE, .family = AF_INET, .table = 200, .prefix = P("10.10.10.0/24"),
                       .protocol = 211, .type = RTN_UNICAST, .scope = RT_SCOPE_LINK, .oif = 7,
                       .has_prefsrc = true, .prefsrc = A(AF_INET, "10.10.10.1") };
        round_trip(&r);
}

static void test_rule_kernel_shape(void) {
        struct nlmsghdr *nlh = header(RTM_NEWRULE);
        struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
        Object o;

        frh->family = AF_INET;
        frh->action = FR_ACT_TO_TBL;
        frh->table = RT_TABLE_MAIN;
        mnl_attr_put_u32(nlh, FRA_TABLE, RT_TABLE_MAIN);
        mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, UINT32_MAX);     /* always there, -1 = unset */
        mnl_attr_put_u32(nlh, FRA_PRIORITY, 32766);
        mnl_attr_put_u8(nlh, FRA_PROTOCOL, RTPROT_KERNEL);
        ASSERT(rule_from_netlink(nlh, &o) >= 0);
        ASSERT(o.priority == 32766 && o.table == RT_TABLE_MAIN && o.prefix.prefixlen == 0);

        /* "iif tun0": a rule of the kind we make for tunnels, its device part of its identity. */
        mnl_attr_put_strz(nlh, FRA_IIFNAME, "tun0");
        ASSERT(rule_from_netlink(nlh, &o) >= 0);
        ASSERT(streq(o.iifname, "tun0") && o.prefix.prefixlen == 0);
        /* ... but never together with an output device. */
        mnl_attr_put_strz(nlh, FRA_OIFNAME, "eth0");
        ASSERT(rule_from_netlink(nlh, &o) == -EOPNOTSUPP);

        nlh = header(RTM_NEWRULE);
        frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
        frh->family = AF_INET;
        frh->action = FR_ACT_TO_TBL;
        mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);              /* "suppress_prefixlength 0" */
        ASSERT(rule_from_netlink(nlh, &o) == -EOPNOTSUPP);
}

static void test_malformed(void) {
        struct nlmsghdr *nlh = header(RTM_NEWROUTE);
        struct rtmsg *rtm;
        uint8_t shortaddr[3] = {};
        Object o;
        LinkInfo l;
        AddressInfo a;

        ASSERT(route_from_netlink(nlh, &o) == -EBADMSG);                /* no rtmsg */
        ASSERT(rule_from_netlink(nlh, &o) == -EBADMSG);
        ASSERT(link_from_netlink(nlh, &l) == -EBADMSG);
        ASSERT(address_from_netlink(nlh, &a) == -EBADMSG);

        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = AF_INET;
        rtm->rtm_type = RTN_UNICAST;
        rtm->rtm_dst_len = 24;
        ASSERT(route_from_netlink(nlh, &o) == -EBADMSG);                /* dst_len without RTA_DST */
        mnl_attr_put(nlh, RTA_DST, sizeof(shortaddr), shortaddr);
        ASSERT(route_from_netlink(nlh, &o) == -EBADMSG);                /* RTA_DST of the wrong size */

        nlh = header(RTM_NEWROUTE);
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = AF_INET;
        rtm->rtm_type = RTN_UNICAST;
        rtm->rtm_dst_len = 33;
        ASSERT(route_from_netlink(nlh, &o) == -EBADMSG);
        rtm->rtm_dst_len = 0;
        rtm->rtm_type = RTN_LOCAL;
        ASSERT(route_from_netlink(nlh, &o) == -EOPNOTSUPP);
        rtm->rtm_type = RTN_UNICAST;
        rtm->rtm_flags = RTM_F_CLONED;
        ASSERT(route_from_netlink(nlh, &o) == -EOPNOTSUPP);
}

static void test_link(void) {
        struct nlmsghdr *nlh = header(RTM_NEWLINK);
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        struct nlattr *info;
        LinkInfo l;

        ifi->ifi_index = 4;
        ifi->ifi_flags = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, "tun0");
        info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "tun");
        mnl_attr_nest_end(nlh, info);
        ASSERT(link_from_netlink(nlh, &l) >= 0);
        ASSERT(l.ifindex == 4 && streq(l.name, "tun0") && streq(l.kind, "tun") && (l.flags & IFF_UP));

        nlh = header(RTM_NEWLINK);
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_index = 5;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, "averyveryverylongname");
        ASSERT(link_from_netlink(nlh, &l) == -EBADMSG);
}

static void test_address(void) {
        struct nlmsghdr *nlh = header(RTM_NEWADDR);
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        InAddrUnion local = A(AF_INET, "10.8.0.1"), peer = A(AF_INET, "10.8.0.2");
        char s[PREFIX_STRLEN];
        AddressInfo a;
        Prefix p;

        ifa->ifa_family = AF_INET;
        ifa->ifa_index = 4;
        ifa->ifa_prefixlen = 32;
        mnl_attr_put(nlh, IFA_LOCAL, 4, local.bytes);
        mnl_attr_put(nlh, IFA_ADDRESS, 4, peer.bytes);
        ASSERT(address_from_netlink(nlh, &a) >= 0);
        p = address_subnet(&a);
        ASSERT(streq(prefix_to_string(&p, s), "10.8.0.2/32"));          /* net30: the peer */

        nlh = header(RTM_NEWADDR);
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_INET6;
        ifa->ifa_index = 4;
        ifa->ifa_prefixlen = 64;
        local = A(AF_INET6, "fd00:4242:4242:4242::1");
        mnl_attr_put(nlh, IFA_ADDRESS, 16, local.bytes);
        ASSERT(address_from_netlink(nlh, &a) >= 0);
        p = address_subnet(&a);
        ASSERT(streq(prefix_to_string(&p, s), "fd00:4242:4242:4242::/64"));
}

int main(void) {
        RUN(test_rule_round_trip);
        RUN(test_route_round_trip);
        RUN(test_rule_kernel_shape);
        RUN(test_malformed);
        RUN(test_link);
        RUN(test_address);
        TESTS_DONE();
}
