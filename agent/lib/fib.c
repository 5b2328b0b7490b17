/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fib.h"
#include "macro.h"

/* The walk follows fib_rules_lookup() and fib_rule_match() in net/core/fib_rules.c, fib4_rule_match() and
 * fib4_rule_action() in net/ipv4/fib_rules.c and fib6_rule_match() in net/ipv6/fib6_rules.c, for a packet
 * with tos, ports, protocol and uid 0. */

static int fib_addr_attr(const struct nlattr *attr, int family, uint8_t prefixlen, Prefix *ret) {
        ret->family = family;
        ret->prefixlen = prefixlen;
        if (prefixlen > family_max_prefixlen(family))
                return -EBADMSG;
        if (!attr)
                return prefixlen == 0 ? 0 : -EBADMSG;
        if (mnl_attr_get_payload_len(attr) != family_addr_size(family))
                return -EBADMSG;
        memcpy(ret->addr.bytes, mnl_attr_get_payload(attr), family_addr_size(family));
        return 0;
}

static int rule_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, FRA_MAX) < 0) {
                tb[0] = attr;   /* newer than our headers: remembered as unknown */
                return MNL_CB_OK;
        }
        tb[type] = attr;
        return MNL_CB_OK;
}

static void rule_copy_str(const struct nlattr *a, char ifname[static IFNAMSIZ]) {
        ifname[0] = 0;
        if (a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                snprintf(ifname, IFNAMSIZ, "%s", mnl_attr_get_str(a));
}

static uint32_t attr_u32(const struct nlattr *a, uint32_t def) {
        return a && mnl_attr_get_payload_len(a) == 4 ? mnl_attr_get_u32(a) : def;
}

static uint8_t attr_u8(const struct nlattr *a) {
        return a && mnl_attr_get_payload_len(a) == 1 ? mnl_attr_get_u8(a) : 0;
}

static bool attr_copy(const struct nlattr *a, void *dest, size_t size) {
        if (!a || mnl_attr_get_payload_len(a) != size)
                return false;
        memcpy(dest, mnl_attr_get_payload(a), size);
        return true;
}

static void rule_selectors(const struct nlattr **tb, FibRule *r) {
        rule_copy_str(tb[FRA_IIFNAME], r->iif);
        rule_copy_str(tb[FRA_OIFNAME], r->oif);
        r->fwmark = attr_u32(tb[FRA_FWMARK], 0);
        /* A mark without a mask means all bits (fib_nl2rule()). */
        r->fwmask = attr_u32(tb[FRA_FWMASK], tb[FRA_FWMARK] ? UINT32_MAX : 0);
        r->has_uid_range = attr_copy(tb[FRA_UID_RANGE], &r->uid_range, sizeof(r->uid_range));
        r->ip_proto = attr_u8(tb[FRA_IP_PROTO]);
        r->has_sport = attr_copy(tb[FRA_SPORT_RANGE], &r->sport, sizeof(r->sport));
        r->has_dport = attr_copy(tb[FRA_DPORT_RANGE], &r->dport, sizeof(r->dport));
        r->l3mdev = attr_u8(tb[FRA_L3MDEV]) != 0;
        if (tb[FRA_TUN_ID] && mnl_attr_get_payload_len(tb[FRA_TUN_ID]) == 8)
                r->tun_id = be64toh(mnl_attr_get_u64(tb[FRA_TUN_ID]));
        r->suppress_prefixlen = (int32_t) attr_u32(tb[FRA_SUPPRESS_PREFIXLEN], UINT32_MAX);
        r->suppress_ifgroup = (int32_t) attr_u32(tb[FRA_SUPPRESS_IFGROUP], UINT32_MAX);
        r->unknown_selector = tb[0] != NULL;
}

int fib_rule_from_netlink(const struct nlmsghdr *nlh, FibRule *ret) {
        const struct nlattr *tb[FRA_MAX + 1] = {};
        const struct fib_rule_hdr *frh;
        FibRule r = {};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*frh))
                return -EBADMSG;
        frh = mnl_nlmsg_get_payload(nlh);
        if (frh->family != AF_INET && frh->family != AF_INET6)
                return -EAFNOSUPPORT;
        if (mnl_attr_parse(nlh, sizeof(*frh), rule_attr_cb, tb) < 0)
                return -EBADMSG;
        r.family = frh->family;
        if (fib_addr_attr(tb[FRA_SRC], r.family, frh->src_len, &r.src) < 0 ||
            fib_addr_attr(tb[FRA_DST], r.family, frh->dst_len, &r.dst) < 0)
                return -EBADMSG;
        r.priority = attr_u32(tb[FRA_PRIORITY], 0);
        r.table = attr_u32(tb[FRA_TABLE], frh->table);
        r.action = frh->action;
        r.goto_target = attr_u32(tb[FRA_GOTO], 0);
        r.protocol = attr_u8(tb[FRA_PROTOCOL]);
        r.flags = frh->flags;
        r.tos = frh->tos;
        rule_selectors(tb, &r);
        *ret = r;
        return 0;
}

static int route_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;

        if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
                return MNL_CB_OK;
        tb[mnl_attr_get_type(attr)] = attr;
        return MNL_CB_OK;
}

/* The first hop of a multipath route (struct rtnexthop, then its attributes). */
static void route_first_hop(const struct nlattr *mp, FibRoute *r) {
        const struct rtnexthop *nh = mnl_attr_get_payload(mp);
        const struct nlattr *a;

        r->multipath = true;
        if (mnl_attr_get_payload_len(mp) < sizeof(*nh) || nh->rtnh_len < sizeof(*nh) ||
            nh->rtnh_len > mnl_attr_get_payload_len(mp))
                return;
        r->oif = nh->rtnh_ifindex;
        for (a = (const struct nlattr *) ((const uint8_t *) nh + RTNH_ALIGN(sizeof(*nh)));
             mnl_attr_ok(a, (int) ((const uint8_t *) nh + nh->rtnh_len - (const uint8_t *) a));
             a = mnl_attr_next(a))
                if (mnl_attr_get_type(a) == RTA_GATEWAY)
                        r->has_gateway = attr_copy(a, r->gateway.bytes, family_addr_size(r->family));
}

static void route_hops(const struct nlattr **tb, FibRoute *r) {
        size_t size = family_addr_size(r->family);

        r->oif = (int) attr_u32(tb[RTA_OIF], 0);
        r->has_gateway = attr_copy(tb[RTA_GATEWAY], r->gateway.bytes, size);
        r->has_prefsrc = attr_copy(tb[RTA_PREFSRC], r->prefsrc.bytes, size);
        r->nexthop_object = tb[RTA_NH_ID] != NULL;
        if (tb[RTA_MULTIPATH])
                route_first_hop(tb[RTA_MULTIPATH], r);
}

int fib_route_from_netlink(const struct nlmsghdr *nlh, FibRoute *ret) {
        const struct nlattr *tb[RTA_MAX + 1] = {};
        const struct rtmsg *rtm;
        FibRoute r = {};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
                return -EBADMSG;
        rtm = mnl_nlmsg_get_payload(nlh);
        if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
                return -EAFNOSUPPORT;
        if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
                return -EBADMSG;
        r.family = rtm->rtm_family;
        if (fib_addr_attr(tb[RTA_DST], r.family, rtm->rtm_dst_len, &r.dst) < 0 ||
            fib_addr_attr(tb[RTA_SRC], r.family, rtm->rtm_src_len, &r.src) < 0)
                return -EBADMSG;
        r.table = attr_u32(tb[RTA_TABLE], rtm->rtm_table);
        r.type = rtm->rtm_type;
        r.protocol = rtm->rtm_protocol;
        r.scope = rtm->rtm_scope;
        r.tos = rtm->rtm_tos;
        r.flags = rtm->rtm_flags;
        r.priority = attr_u32(tb[RTA_PRIORITY], 0);
        route_hops(tb, &r);
        *ret = r;
        return 0;
}

const char *fib_route_type_name(uint8_t type) {
        static const char *const names[] = {
                [RTN_UNSPEC] = "none",          [RTN_UNICAST] = "unicast",
                [RTN_LOCAL] = "local",          [RTN_BROADCAST] = "broadcast",
                [RTN_ANYCAST] = "anycast",      [RTN_MULTICAST] = "multicast",
                [RTN_BLACKHOLE] = "blackhole",  [RTN_UNREACHABLE] = "unreachable",
                [RTN_PROHIBIT] = "prohibit",    [RTN_THROW] = "throw",
                [RTN_NAT] = "nat",              [RTN_XRESOLVE] = "xresolve",
        };

        return type < ELEMENTSOF(names) && names[type] ? names[type] : "unknown";
}

static bool port_in_range(const struct fib_rule_port_range *range, uint16_t port) {
        return port >= range->start && port <= range->end;
}

/* A device selector: the rule's device must be there (else the kernel flags it detached) and be the
 * packet's. */
static bool device_matches(const char *rule_dev, bool detached, const char *packet_dev) {
        return !rule_dev[0] || (!detached && streq(rule_dev, packet_dev));
}

/* fib_rule_match() without the invert flag. */
static bool rule_selectors_match(const FibRule *r, const FibPacket *p) {
        if (r->unknown_selector || r->l3mdev || r->tun_id != 0)
                return false;   /* no VRF and no tunnel key in our lookups */
        if (!device_matches(r->iif, r->flags & FIB_RULE_IIF_DETACHED, p->iif) ||
            !device_matches(r->oif, r->flags & FIB_RULE_OIF_DETACHED, p->oif))
                return false;
        if ((r->fwmark ^ p->mark) & r->fwmask)
                return false;
        if (r->has_uid_range && r->uid_range.start > 0)
                return false;
        if (r->ip_proto != 0 || (r->has_sport && !port_in_range(&r->sport, 0)) ||
            (r->has_dport && !port_in_range(&r->dport, 0)))
                return false;
        if (r->tos != 0)
                return false;
        if (r->src.prefixlen > 0 && !prefix_contains(&r->src, p->family, &p->src))
                return false;
        return r->dst.prefixlen == 0 || prefix_contains(&r->dst, p->family, &p->dst);
}

static bool rule_matches(const FibRule *r, const FibPacket *p) {
        bool m = rule_selectors_match(r, p);

        return r->family == p->family && ((r->flags & FIB_RULE_INVERT) ? !m : m);
}

static bool route_matches(const FibRoute *rt, uint32_t table, const FibPacket *p) {
        if (rt->family != p->family || rt->table != table || (rt->flags & (RTM_F_CLONED | RTNH_F_DEAD)))
                return false;
        if (rt->tos != 0)
                return false;   /* packets are looked up with tos 0 */
        if (rt->src.prefixlen > 0 && !prefix_contains(&rt->src, p->family, &p->src))
                return false;
        return prefix_contains(&rt->dst, p->family, &p->dst);
}

/* Longest prefix first (fib_table_lookup() in net/ipv4/fib_trie.c, fib6_node_lookup() in
 * net/ipv6/ip6_fib.c), then the more specific source, then the lowest metric. */
static bool route_better(const FibRoute *a, const FibRoute *b) {
        if (a->dst.prefixlen != b->dst.prefixlen)
                return a->dst.prefixlen > b->dst.prefixlen;
        if (a->src.prefixlen != b->src.prefixlen)
                return a->src.prefixlen > b->src.prefixlen;
        return a->priority < b->priority;
}

const FibRoute *fib_table_lookup(const Fib *f, uint32_t table, const FibPacket *p) {
        const FibRoute *best = NULL;

        for (size_t i = 0; i < f->n_routes; i++) {
                const FibRoute *rt = &f->routes[i];

                if (route_matches(rt, table, p) && (!best || route_better(rt, best)))
                        best = rt;
        }
        return best;
}

/* The route types whose lookup fails (fib_props[] in net/ipv4/fib_semantics.c, ip6_rt_type_to_error() in
 * net/ipv6/route.c): the rule decides with them, and only a successful lookup can be suppressed. */
static bool route_type_rejects(uint8_t type) {
        return IN_SET(type, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT, RTN_NAT, RTN_XRESOLVE);
}

/* fib4_rule_suppress(), fib6_rule_suppress(): a result this unspecific does not count. fib_rules_lookup()
 * asks only after a lookup that succeeded, so an unreachable default is never suppressed. */
static bool route_suppressed(const FibRule *r, const FibRoute *rt) {
        return !route_type_rejects(rt->type) && (int32_t) rt->dst.prefixlen <= r->suppress_prefixlen;
}

static size_t rule_goto(const Fib *f, const FibRule *r, size_t at) {
        /* The target is the first rule with exactly that preference (fib_nl_newrule()); without one the
         * goto is unresolved and the walk goes on with the next rule. */
        for (size_t j = 0; j < f->n_rules; j++)
                if (f->rules[j].family == r->family && f->rules[j].priority == r->goto_target)
                        return j;
        return at + 1;
}

void fib_walk(const Fib *f, const FibPacket *p, FibVerdict *ret) {
        size_t steps = 0;

        *ret = (FibVerdict) {};
        /* The kernel refuses a goto backwards (fib_nl_newrule(): EINVAL), so its walk ends; the step
         * bound ends ours on any input. */
        for (size_t i = 0; i < f->n_rules && steps++ <= 2 * f->n_rules;) {
                const FibRule *r = &f->rules[i];
                const FibRoute *rt;

                if (!rule_matches(r, p) || r->action == FR_ACT_NOP) {
                        i++;
                        continue;
                }
                if (r->action == FR_ACT_GOTO) {
                        i = rule_goto(f, r, i);
                        continue;
                }
                if (r->action != FR_ACT_TO_TBL) {
                        *ret = (FibVerdict) { .rule = r };
                        return;
                }
                rt = fib_table_lookup(f, r->table, p);
                if (rt && rt->type != RTN_THROW && !route_suppressed(r, rt)) {
                        *ret = (FibVerdict) { .rule = r, .route = rt };
                        return;
                }
                i++;
        }
}

void fib_rules_sort(Fib *f) {
        /* Insertion sort: stable, and linear on a kernel dump, which is in order already. */
        for (size_t i = 1; i < f->n_rules; i++) {
                FibRule r = f->rules[i];
                size_t j = i;

                for (; j > 0 && f->rules[j - 1].priority > r.priority; j--)
                        f->rules[j] = f->rules[j - 1];
                f->rules[j] = r;
        }
}
