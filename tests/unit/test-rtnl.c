/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Encode-then-parse round trips of every netlink builder, and the parsers against messages shaped like
 * the kernel's (fib_nl_fill_rule(), rtm_fill_info(), rtnl_fill_ifinfo(), inet_fill_ifaddr()). */

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"
#include "rtnl-neigh.h"
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
        /* A probe rule: "fwmark MARK/MASK lookup TABLE", the mark part of its identity. */
        r = (Object) { .kind = OBJECT_RULE, .family = AF_INET, .table = 1987051520, .priority = 1000,
                       .prefix = { .family = AF_INET }, .protocol = 211, .fwmark = 0x76700001,
                       .fwmask = UINT32_MAX };
        round_trip(&r);
        r.family = r.prefix.family = AF_INET6;
        round_trip(&r);
}

static void test_rule_fwmark_identity(void) {
        Object a = { .kind = OBJECT_RULE, .family = AF_INET, .table = 300, .priority = 1000,
                     .prefix = { .family = AF_INET }, .protocol = 211, .fwmark = 1, .fwmask = UINT32_MAX };
        Object b = a, plain = a;
        ObjectKey ka, kb, kp;
        char s[OBJECT_STRLEN];

        b.fwmark = 2;
        plain.fwmark = plain.fwmask = 0;
        ka = object_key(&a);
        kb = object_key(&b);
        kp = object_key(&plain);
        /* rule_exists() (net/core/fib_rules.c) compares mark and mask: three distinct rules. */
        ASSERT(memcmp(&ka, &kb, sizeof(ka)) != 0);
        ASSERT(memcmp(&ka, &kp, sizeof(ka)) != 0);
        ASSERT(!object_content_equal(&a, &b));
        ASSERT_STREQ(object_to_string(&a, NULL, s), "from all fwmark 0x1/0xffffffff lookup 300 pref 1000 proto 211");
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

static struct nlmsghdr *fwmark_rule(bool with_mask, uint32_t mask) {
        struct nlmsghdr *nlh = header(RTM_NEWRULE);
        struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

        frh->family = AF_INET;
        frh->action = FR_ACT_TO_TBL;
        mnl_attr_put_u32(nlh, FRA_TABLE, 1987051520);
        mnl_attr_put_u32(nlh, FRA_PRIORITY, 1000);
        mnl_attr_put_u8(nlh, FRA_PROTOCOL, 211);
        mnl_attr_put_u32(nlh, FRA_FWMARK, 0x76700000);
        if (with_mask)
                mnl_attr_put_u32(nlh, FRA_FWMASK, mask);
        return nlh;
}

static void test_rule_fwmark_kernel_shape(void) {
        struct nlmsghdr *nlh;
        uint8_t src[4] = { 10, 10, 10, 0 };
        Object o;

        /* As fib_nl_fill_rule() reports "fwmark 0x76700000": mark and mask. */
        ASSERT(rule_from_netlink(fwmark_rule(true, UINT32_MAX), &o) >= 0);
        ASSERT(o.fwmark == 0x76700000 && o.fwmask == UINT32_MAX && o.table == 1987051520);
        /* A mark without a mask means the whole mark (fib_nl2rule()). */
        ASSERT(rule_from_netlink(fwmark_rule(false, 0), &o) >= 0);
        ASSERT(o.fwmask == UINT32_MAX);
        ASSERT(rule_from_netlink(fwmark_rule(true, 0xff00), &o) >= 0);
        ASSERT(o.fwmask == 0xff00);
        /* A mark with a source prefix is not a shape of ours. */
        nlh = fwmark_rule(true, UINT32_MAX);
        ((struct fib_rule_hdr *) mnl_nlmsg_get_payload(nlh))->src_len = 24;
        mnl_attr_put(nlh, FRA_SRC, sizeof(src), src);
        ASSERT(rule_from_netlink(nlh, &o) == -EOPNOTSUPP);
        /* ... nor with an input device. */
        nlh = fwmark_rule(true, UINT32_MAX);
        mnl_attr_put_strz(nlh, FRA_IIFNAME, "tun0");
        ASSERT(rule_from_netlink(nlh, &o) == -EOPNOTSUPP);
}

static struct nlmsghdr *neigh_msg(uint16_t type, int family, int ifindex, const void *dst, size_t len,
                                  uint16_t state) {
        struct nlmsghdr *nlh = header(type);
        struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
        uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };

        ndm->ndm_family = (uint8_t) family;
        ndm->ndm_ifindex = ifindex;
        ndm->ndm_state = state;
        ndm->ndm_type = RTN_UNICAST;
        if (dst)
                mnl_attr_put(nlh, NDA_DST, len, dst);
        mnl_attr_put(nlh, NDA_LLADDR, sizeof(mac), mac);
        mnl_attr_put_u32(nlh, NDA_PROBES, 3);
        return nlh;
}

static void test_neigh(void) {
        InAddrUnion gw4 = A(AF_INET, "192.168.1.1"), gw6 = A(AF_INET6, "fe80::1");
        NeighInfo n;

        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWNEIGH, AF_INET, 3, gw4.bytes, 4, NUD_FAILED), &n) >= 0);
        ASSERT(n.ifindex == 3 && n.family == AF_INET && addr_equal(AF_INET, &n.addr, &gw4));
        ASSERT(n.state == NUD_FAILED && neigh_state_unresolved(n.state));
        ASSERT_STREQ(neigh_state_to_string(n.state), "failed");
        ASSERT(neigh_from_netlink(neigh_msg(RTM_DELNEIGH, AF_INET6, 7, gw6.bytes, 16, NUD_REACHABLE), &n) >= 0);
        ASSERT(n.family == AF_INET6 && addr_equal(AF_INET6, &n.addr, &gw6) && !neigh_state_unresolved(n.state));
        ASSERT(neigh_state_unresolved(NUD_INCOMPLETE) && !neigh_state_unresolved(NUD_STALE));

        /* Never trusted: a bridge FDB entry, no destination, a destination of the wrong size, no device. */
        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWNEIGH, AF_BRIDGE, 3, gw4.bytes, 4, NUD_FAILED), &n) == -EAFNOSUPPORT);
        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWNEIGH, AF_INET, 3, NULL, 0, NUD_FAILED), &n) == -EBADMSG);
        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWNEIGH, AF_INET, 3, gw6.bytes, 16, NUD_FAILED), &n) == -EBADMSG);
        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWNEIGH, AF_INET6, 3, gw4.bytes, 4, NUD_FAILED), &n) == -EBADMSG);
        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWNEIGH, AF_INET, 0, gw4.bytes, 4, NUD_FAILED), &n) == -EBADMSG);
        ASSERT(neigh_from_netlink(neigh_msg(RTM_NEWROUTE, AF_INET, 3, gw4.bytes, 4, NUD_FAILED), &n) == -EBADMSG);
        ASSERT(neigh_from_netlink(header(RTM_NEWNEIGH), &n) == -EBADMSG);        /* no ndmsg */
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
        RUN(test_rule_fwmark_identity);
        RUN(test_rule_fwmark_kernel_shape);
        RUN(test_neigh);
        RUN(test_malformed);
        RUN(test_link);
        RUN(test_address);
        TESTS_DONE();
}
