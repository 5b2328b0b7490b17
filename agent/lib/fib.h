/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/fib_rules.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* Rules and routes in full, as the kernel reports them (every selector, every route type, unlike
 * rtnl-rule.c and rtnl-route.c, which accept only what the agent makes), and the kernel's decision for a
 * packet, computed from them: the rule walk of fib_rules_lookup() (net/core/fib_rules.c) and the table
 * lookups of fib_table_lookup() (net/ipv4/fib_trie.c) and fib6_lookup() (net/ipv6/ip6_fib.c). Pure: no
 * I/O, so every case is unit-tested (tests/unit/test-fib.c). */

struct nlmsghdr;

typedef struct FibRule {
        int family;
        uint32_t priority;
        uint32_t table;
        uint8_t action;                 /* FR_ACT_* */
        uint32_t goto_target;
        uint8_t protocol;
        uint32_t flags;                 /* FIB_RULE_INVERT, FIB_RULE_IIF_DETACHED, ... */
        Prefix src, dst;                /* prefixlen 0: any */
        uint8_t tos;
        char iif[IFNAMSIZ], oif[IFNAMSIZ];      /* "" when none */
        uint32_t fwmark, fwmask;
        bool has_uid_range;
        struct fib_rule_uid_range uid_range;
        uint8_t ip_proto;
        bool has_sport, has_dport;
        struct fib_rule_port_range sport, dport;
        bool l3mdev;
        uint64_t tun_id;
        int32_t suppress_prefixlen;     /* -1: none */
        int32_t suppress_ifgroup;       /* -1: none */
        bool unknown_selector;          /* an attribute newer than our headers: never assumed to match */
} FibRule;

typedef struct FibRoute {
        int family;
        uint32_t table;
        uint8_t type;                   /* RTN_* */
        uint8_t protocol;
        uint8_t scope;
        uint8_t tos;
        uint32_t flags;                 /* rtm_flags */
        uint32_t priority;              /* metric */
        Prefix dst;
        Prefix src;                     /* IPv6 source-specific routes; prefixlen 0 otherwise */
        bool has_gateway;
        InAddrUnion gateway;
        int oif;
        bool has_prefsrc;
        InAddrUnion prefsrc;
        bool multipath;                 /* the first hop is shown */
        bool nexthop_object;            /* RTA_NH_ID: gateway and device live in a nexthop object */
} FibRoute;

/* The routing state a decision is made from: rules of both families in the kernel's evaluation order
 * (fib_rules_sort() establishes it), routes of every table of both families. Borrowed by the walk. */
typedef struct Fib {
        FibRule *rules;
        size_t n_rules;
        FibRoute *routes;
        size_t n_routes;
} Fib;

int fib_rule_from_netlink(const struct nlmsghdr *nlh, FibRule *ret);
int fib_route_from_netlink(const struct nlmsghdr *nlh, FibRoute *ret);
/* "unicast", "unreachable", ... as iproute2 names RTN_*; "unknown" for others. */
const char *fib_route_type_name(uint8_t type);

/* Orders the rules as the kernel evaluates them: by preference, rules of equal preference in the order
 * given (fib_nl_newrule() inserts a rule after the last one of its preference). A kernel dump is already
 * in this order. */
void fib_rules_sort(Fib *f);

/* A packet, as the kernel's rule lookup sees it: tos, ports, protocol 0 and uid 0, like RTM_GETROUTE
 * without those attributes. */
typedef struct FibPacket {
        int family;
        InAddrUnion src, dst;
        char iif[IFNAMSIZ];             /* "lo" for a locally generated packet; "" matches no iif selector */
        char oif[IFNAMSIZ];             /* "" unless the sender chose one (SO_BINDTODEVICE, RTA_OIF) */
        uint32_t mark;
} FibPacket;

/* What the rule list does with a packet. */
typedef struct FibVerdict {
        const FibRule *rule;            /* the rule that decided; NULL: none (no route, -ENETUNREACH) */
        const FibRoute *route;          /* the route of its table; NULL when the rule's own action decided
                                         * (unreachable, prohibit, blackhole) */
} FibVerdict;

void fib_walk(const Fib *f, const FibPacket *p, FibVerdict *ret);
/* The route of table that the kernel would pick for p (longest prefix, then the more specific source,
 * then the lowest metric); NULL if none. A throw route is returned as such: the walk goes on after it. */
const FibRoute *fib_table_lookup(const Fib *f, uint32_t table, const FibPacket *p);
