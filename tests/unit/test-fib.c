/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fib.c: the rule walk of `vpnpolicyctl explain` and `doctor`, and the table lookup, against rule lists
 * and tables built here. What each case expects is the kernel's behaviour (net/core/fib_rules.c,
 * net/ipv4/fib_trie.c, net/ipv6/ip6_fib.c); tests/integration/test-ctl-explain.sh checks the same walk
 * against the real kernel's RTM_GETROUTE answer. */

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <sys/socket.h>

#include "fib.h"
#include "macro.h"
#include "tests.h"

#define TABLE_VPN 200U
#define TABLE_OTHER 300U

static Prefix P(const char *s) {
        Prefix p;

        ASSERT(prefix_parse(s, &p) == 0);
        return p;
}

static FibRule rule_lookup(uint32_t priority, const char *from, uint32_t table) {
        FibRule r = {
                .priority = priority, .table = table, .action = FR_ACT_TO_TBL,
                .suppress_prefixlen = -1, .suppress_ifgroup = -1,
        };

        r.src = P(from);
        r.family = r.src.family;
        r.dst = (Prefix) { .family = r.family };
        return r;
}

static FibRule rule_action(uint32_t priority, const char *from, uint8_t action) {
        FibRule r = rule_lookup(priority, from, 0);

        r.action = action;
        return r;
}

static FibRoute route(uint32_t table, uint8_t type, const char *dst, uint32_t metric) {
        FibRoute rt = { .table = table, .type = type, .priority = metric, .protocol = RTPROT_STATIC };

        rt.dst = P(dst);
        rt.family = rt.dst.family;
        rt.src = (Prefix) { .family = rt.family };
        return rt;
}

static FibRoute unicast(uint32_t table, const char *dst, uint32_t metric, int oif) {
        FibRoute rt = route(table, RTN_UNICAST, dst, metric);

        rt.oif = oif;
        return rt;
}

/* The kernel's three default rules of a family. */
#define DEFAULT_RULES(from)                                                                             \
        rule_lookup(0, from, RT_TABLE_LOCAL), rule_lookup(32766, from, RT_TABLE_MAIN),                 \
                rule_lookup(32767, from, RT_TABLE_DEFAULT)

static FibPacket packet(const char *src, const char *dst, const char *iif) {
        FibPacket p = {};
        int f2;

        ASSERT(addr_parse(AF_UNSPEC, src, &p.family, &p.src) == 0);
        ASSERT(addr_parse(AF_UNSPEC, dst, &f2, &p.dst) == 0);
        ASSERT(f2 == p.family);
        snprintf(p.iif, sizeof(p.iif), "%s", iif);
        return p;
}

#define FIB(rules_, routes_)                                                                            \
        ((Fib) { .rules = rules_, .n_rules = ELEMENTSOF(rules_), .routes = routes_,                     \
                 .n_routes = ELEMENTSOF(routes_) })

/* The walk for p: the deciding rule's priority (-1: none) and route index (-1: none). */
static void expect(const Fib *f, const FibPacket *p, long long priority, long long route_index) {
        FibVerdict v;

        fib_walk(f, p, &v);
        ASSERT_INT(v.rule ? (long long) v.rule->priority : -1, priority);
        ASSERT_INT(v.route ? (long long) (v.route - f->routes) : -1, route_index);
}

/* seed 003: ours at 32765 before main; main has the host's default route, ours the gateway's. */
static void test_seed003(void) {
        FibRule rules[] = { DEFAULT_RULES("0.0.0.0/0"), rule_lookup(32765, "10.10.10.0/24", TABLE_VPN) };
        FibRoute routes[] = {
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 2),              /* 0: host's default */
                unicast(RT_TABLE_MAIN, "10.10.10.0/24", 0, 5),          /* 1: the tun subnet */
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 3),                  /* 2: the gateway */
                unicast(TABLE_VPN, "10.10.10.0/24", 0, 5),              /* 3: tun route in ours */
                route(RT_TABLE_LOCAL, RTN_LOCAL, "10.10.10.1/32", 0),   /* 4: the server's tun address */
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        fib_rules_sort(&f);     /* given out of order: 0, 32766, 32767, 32765 */
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 32765, 2);
        p = packet("10.10.10.2", "10.10.10.3", "tun0");         /* client to client */
        expect(&f, &p, 32765, 3);
        p = packet("10.10.10.2", "10.10.10.1", "tun0");         /* the local table comes first */
        expect(&f, &p, 0, 4);
        p = packet("192.168.7.5", "203.0.113.1", "eth0");       /* not from the pool: main */
        expect(&f, &p, 32766, 0);
        p = packet("fd00::2", "2001:db8::1", "tun0");           /* no IPv6 rule, no IPv6 route */
        expect(&f, &p, -1, -1);
}

/* Equal preferences keep their order; a lower one that does not match, or whose table has no route,
 * passes the packet on. */
static void test_priority_order(void) {
        FibRule rules[] = {
                rule_lookup(100, "10.0.0.0/8", TABLE_OTHER),            /* no route for the packet */
                rule_lookup(200, "10.1.0.0/16", TABLE_VPN),
                rule_lookup(200, "10.0.0.0/8", RT_TABLE_MAIN),          /* same preference, later */
                rule_lookup(50, "192.0.2.0/24", TABLE_VPN),             /* does not match */
        };
        FibRoute routes[] = {
                unicast(TABLE_OTHER, "198.51.100.0/24", 0, 1),
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 2),
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 3),
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        fib_rules_sort(&f);
        ASSERT(f.rules[0].priority == 50 && f.rules[1].priority == 100);
        ASSERT(f.rules[2].table == TABLE_VPN && f.rules[3].table == RT_TABLE_MAIN);   /* stable */
        p = packet("10.1.2.3", "203.0.113.1", "eth0");
        expect(&f, &p, 200, 1);
        ASSERT(f.rules[2].table == TABLE_VPN);
        p = packet("10.2.2.3", "203.0.113.1", "eth0");
        expect(&f, &p, 200, 2);
        p = packet("10.2.2.3", "198.51.100.7", "eth0");
        expect(&f, &p, 100, 0);
}

static void test_from_to_prefixes(void) {
        FibRule rules[] = {
                rule_lookup(10, "10.10.10.128/25", TABLE_OTHER),
                rule_lookup(20, "10.10.10.0/24", TABLE_VPN),
                rule_lookup(30, "0.0.0.0/0", RT_TABLE_MAIN),
                rule_lookup(5, "0.0.0.0/0", TABLE_OTHER),
                rule_lookup(40, "fd00:4242::/32", TABLE_VPN),
        };
        FibRoute routes[] = {
                unicast(TABLE_OTHER, "0.0.0.0/0", 0, 1),
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 2),
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 3),
                unicast(TABLE_VPN, "::/0", 0, 2),
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        rules[3].dst = P("198.51.100.0/24");    /* "to": only that destination */
        fib_rules_sort(&f);
        p = packet("10.10.10.200", "203.0.113.1", "tun0");
        expect(&f, &p, 10, 0);
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 20, 1);
        p = packet("10.10.11.2", "203.0.113.1", "tun0");
        expect(&f, &p, 30, 2);
        p = packet("10.10.11.2", "198.51.100.9", "tun0");
        expect(&f, &p, 5, 0);
        p = packet("fd00:4242:1::2", "2001:db8::1", "tun0");   /* an IPv4 rule never takes IPv6 */
        expect(&f, &p, 40, 3);
        p = packet("fd00:4243::2", "2001:db8::1", "tun0");
        expect(&f, &p, -1, -1);

        /* "not from 10.10.10.0/24": everything else. */
        f.rules[2].flags |= FIB_RULE_INVERT;
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 30, 2);
        p = packet("10.10.11.2", "203.0.113.1", "tun0");
        expect(&f, &p, 20, 1);
}

static void test_iif_oif(void) {
        FibRule rules[] = {
                rule_lookup(10, "0.0.0.0/0", TABLE_VPN),
                rule_lookup(20, "0.0.0.0/0", TABLE_OTHER),
                rule_lookup(30, "0.0.0.0/0", RT_TABLE_MAIN),
        };
        FibRoute routes[] = {
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 1),
                unicast(TABLE_OTHER, "0.0.0.0/0", 0, 2),
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 3),
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        snprintf(rules[0].iif, IFNAMSIZ, "tun0");
        snprintf(rules[1].oif, IFNAMSIZ, "eth1");
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 10, 0);
        p = packet("10.10.10.2", "203.0.113.1", "tun1");
        expect(&f, &p, 30, 2);
        /* Locally generated: iif lo. "iif lo" rules take exactly those. */
        p = packet("192.0.2.1", "203.0.113.1", "lo");
        expect(&f, &p, 30, 2);
        snprintf(p.oif, sizeof(p.oif), "eth1");                /* a socket bound to eth1 */
        expect(&f, &p, 20, 1);
        /* A rule whose device is gone is detached: it matches nothing, not even that name. */
        rules[0].flags |= FIB_RULE_IIF_DETACHED;
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 30, 2);
        rules[1].flags |= FIB_RULE_OIF_DETACHED;
        p = packet("192.0.2.1", "203.0.113.1", "lo");
        snprintf(p.oif, sizeof(p.oif), "eth1");
        expect(&f, &p, 30, 2);
        /* Inverted: every packet that does not come in on tun0 (the detached flag cleared). */
        rules[0].flags = FIB_RULE_INVERT;
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 30, 2);
        p = packet("10.10.10.2", "203.0.113.1", "eth0");
        expect(&f, &p, 10, 0);
}

static void test_fwmark(void) {
        FibRule rules[] = {
                rule_lookup(10, "0.0.0.0/0", TABLE_VPN),
                rule_lookup(20, "0.0.0.0/0", TABLE_OTHER),
                rule_lookup(30, "0.0.0.0/0", RT_TABLE_MAIN),
        };
        FibRoute routes[] = {
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 1),
                unicast(TABLE_OTHER, "0.0.0.0/0", 0, 2),
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 3),
        };
        Fib f = FIB(rules, routes);
        FibPacket p = packet("10.10.10.2", "203.0.113.1", "tun0");

        rules[0].fwmark = 0x1;
        rules[0].fwmask = UINT32_MAX;           /* "fwmark 0x1": the whole mark */
        rules[1].fwmark = 0x100;
        rules[1].fwmask = 0xff00;               /* "fwmark 0x100/0xff00" */
        expect(&f, &p, 30, 2);                  /* mark 0, what explain looks up */
        p.mark = 0x1;
        expect(&f, &p, 10, 0);
        p.mark = 0x101;
        expect(&f, &p, 20, 1);
        p.mark = 0x201;
        expect(&f, &p, 30, 2);
        /* "fwmark 0/0xff": mark 0 in the low byte, as a packet without a mark has. */
        rules[1].fwmark = 0;
        rules[1].fwmask = 0xff;
        p.mark = 0x300;
        expect(&f, &p, 20, 1);
}

static void test_goto_and_actions(void) {
        FibRule rules[] = {
                rule_action(10, "10.10.10.0/24", FR_ACT_GOTO),          /* goto 40 */
                rule_action(20, "10.10.10.0/24", FR_ACT_UNREACHABLE),   /* skipped by the goto */
                rule_action(30, "0.0.0.0/0", FR_ACT_NOP),
                rule_lookup(40, "10.10.10.0/24", TABLE_VPN),            /* no route in it */
                rule_action(50, "10.10.10.0/25", FR_ACT_PROHIBIT),
                rule_action(60, "10.10.10.128/26", FR_ACT_BLACKHOLE),
                rule_action(70, "10.10.10.192/26", FR_ACT_UNREACHABLE),
                rule_action(80, "0.0.0.0/0", FR_ACT_GOTO),              /* goto 75: nothing has it */
                rule_lookup(90, "0.0.0.0/0", RT_TABLE_MAIN),
        };
        FibRoute routes[] = { unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 3) };
        Fib f = FIB(rules, routes);
        FibPacket p;

        rules[0].goto_target = 40;
        rules[7].goto_target = 75;
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 50, -1);                 /* prohibit: the rule decides, no route */
        p = packet("10.10.10.130", "203.0.113.1", "tun0");
        expect(&f, &p, 60, -1);
        p = packet("10.10.10.200", "203.0.113.1", "tun0");
        expect(&f, &p, 70, -1);
        p = packet("192.0.2.2", "203.0.113.1", "eth0");         /* the unresolved goto goes on */
        expect(&f, &p, 90, 0);
        /* Without the first goto, rule 20 decides. */
        rules[0].src = P("10.10.11.0/24");
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 20, -1);

        /* A goto backwards (the kernel refuses one) or onto itself still ends. */
        rules[0] = rule_action(10, "0.0.0.0/0", FR_ACT_GOTO);
        rules[0].goto_target = 10;
        rules[7].goto_target = 10;
        p = packet("192.0.2.2", "203.0.113.1", "eth0");
        expect(&f, &p, -1, -1);
}

static void test_suppress_prefixlength(void) {
        /* wg-quick's pair: "lookup main suppress_prefixlength 0" before the policy table, so main's
         * specific routes win and its default does not. */
        FibRule rules[] = {
                rule_lookup(100, "0.0.0.0/0", RT_TABLE_MAIN),
                rule_lookup(200, "0.0.0.0/0", TABLE_VPN),
        };
        FibRoute routes[] = {
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 2),
                unicast(RT_TABLE_MAIN, "192.168.1.0/24", 0, 2),
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 9),
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        rules[0].suppress_prefixlen = 0;
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 200, 2);
        p = packet("10.10.10.2", "192.168.1.7", "tun0");
        expect(&f, &p, 100, 1);
        rules[0].suppress_prefixlen = 24;       /* a /24 does not count either */
        expect(&f, &p, 200, 2);
        /* A failed lookup is never suppressed (fib_rules_lookup() asks only after a success): an
         * unreachable default in main decides. */
        rules[0].suppress_prefixlen = 0;
        routes[0] = route(RT_TABLE_MAIN, RTN_UNREACHABLE, "0.0.0.0/0", 0);
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 100, 0);
}

/* No route in main: the default table's rule takes over; none there either: no verdict. */
static void test_main_default_fallthrough(void) {
        FibRule rules[] = { DEFAULT_RULES("::/0") };
        FibRoute routes[] = {
                unicast(RT_TABLE_MAIN, "fd00:1010::/64", 0, 2),
                unicast(RT_TABLE_DEFAULT, "::/0", 1024, 3),
                route(RT_TABLE_LOCAL, RTN_LOCAL, "fd00:1010::1/128", 0),
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        p = packet("fd00:1010::1", "fd00:1010::9", "lo");
        expect(&f, &p, 32766, 0);
        p = packet("fd00:1010::1", "2001:db8::1", "lo");
        expect(&f, &p, 32767, 1);
        p = packet("2001:db8::5", "fd00:1010::1", "eth1");
        expect(&f, &p, 0, 2);
        f.n_routes = 1;
        p = packet("fd00:1010::1", "2001:db8::1", "lo");
        expect(&f, &p, -1, -1);
}

/* FailClosed=yes with the gateway's device down: the kernel deleted the default route, only the
 * unreachable default (metric 4294967295) is left, and it decides: no fall-through to main. */
static void test_fail_closed(void) {
        FibRule rules[] = { DEFAULT_RULES("0.0.0.0/0"), rule_lookup(32765, "10.10.10.0/24", TABLE_VPN) };
        FibRoute routes[] = {
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 2),
                route(TABLE_VPN, RTN_UNREACHABLE, "0.0.0.0/0", UINT32_MAX),
                unicast(TABLE_VPN, "10.10.10.0/24", 0, 5),
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 3),                  /* the gateway's, once back */
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        fib_rules_sort(&f);
        f.n_routes = 3;
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 32765, 1);
        ASSERT(f.routes[1].type == RTN_UNREACHABLE);
        p = packet("10.10.10.2", "10.10.10.3", "tun0");         /* client to client still works */
        expect(&f, &p, 32765, 2);
        f.n_routes = 4;                                          /* the gateway's route wins on metric */
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 32765, 3);
}

static void test_table_lookup(void) {
        FibRule rules[] = {
                rule_lookup(10, "0.0.0.0/0", TABLE_VPN), rule_lookup(20, "0.0.0.0/0", RT_TABLE_MAIN),
        };
        FibRoute routes[] = {
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 1),                  /* 0 */
                unicast(TABLE_VPN, "198.51.0.0/16", 0, 2),              /* 1 */
                unicast(TABLE_VPN, "198.51.100.0/24", 200, 3),          /* 2 */
                unicast(TABLE_VPN, "198.51.100.0/24", 100, 4),          /* 3: lower metric */
                unicast(TABLE_VPN, "198.51.100.0/24", 50, 5),           /* 4: cloned: not a table entry */
                unicast(TABLE_OTHER, "198.51.100.7/32", 0, 6),          /* 5: another table */
                route(TABLE_VPN, RTN_THROW, "192.0.2.0/24", 0),         /* 6: back to the rule list */
                unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 7),              /* 7 */
                unicast(TABLE_VPN, "198.51.100.128/25", 0, 8),          /* 8: dead nexthop */
                unicast(TABLE_VPN, "198.51.100.0/25", 0, 9),            /* 9: tos 0x10 only */
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        routes[4].flags = RTM_F_CLONED;
        routes[8].flags = RTNH_F_DEAD;
        routes[9].tos = 0x10;
        p = packet("10.10.10.2", "198.51.100.7", "tun0");
        ASSERT(fib_table_lookup(&f, TABLE_VPN, &p) == &routes[3]);
        expect(&f, &p, 10, 3);
        p = packet("10.10.10.2", "198.51.100.200", "tun0");
        expect(&f, &p, 10, 3);
        p = packet("10.10.10.2", "198.51.7.7", "tun0");
        expect(&f, &p, 10, 1);
        p = packet("10.10.10.2", "203.0.113.1", "tun0");
        expect(&f, &p, 10, 0);
        p = packet("10.10.10.2", "192.0.2.9", "tun0");
        ASSERT(fib_table_lookup(&f, TABLE_VPN, &p) == &routes[6]);
        expect(&f, &p, 20, 7);
        ASSERT(!fib_table_lookup(&f, 999, &p));
}

/* IPv6 source-specific routes: the longest destination first, then the more specific source. */
static void test_ipv6_source_routes(void) {
        FibRule rules[] = { rule_lookup(10, "::/0", RT_TABLE_MAIN) };
        FibRoute routes[] = {
                unicast(RT_TABLE_MAIN, "::/0", 1024, 1),
                unicast(RT_TABLE_MAIN, "::/0", 1024, 2),
                unicast(RT_TABLE_MAIN, "2001:db8::/32", 1024, 3),
        };
        Fib f = FIB(rules, routes);
        FibPacket p;

        routes[1].src = P("fd00:4242::/32");
        p = packet("fd00:4242::2", "2001:db9::1", "tun0");
        expect(&f, &p, 10, 1);
        p = packet("fd00:4243::2", "2001:db9::1", "tun0");
        expect(&f, &p, 10, 0);
        p = packet("fd00:4242::2", "2001:db8::1", "tun0");
        expect(&f, &p, 10, 2);
}

/* Selectors explain does not evaluate never match by accident. */
static void test_unevaluated_selectors(void) {
        FibRule rules[] = {
                rule_lookup(1, "0.0.0.0/0", TABLE_VPN), rule_lookup(2, "0.0.0.0/0", TABLE_VPN),
                rule_lookup(3, "0.0.0.0/0", TABLE_VPN), rule_lookup(4, "0.0.0.0/0", TABLE_VPN),
                rule_lookup(5, "0.0.0.0/0", TABLE_VPN), rule_lookup(6, "0.0.0.0/0", TABLE_VPN),
                rule_lookup(7, "0.0.0.0/0", TABLE_VPN), rule_lookup(8, "0.0.0.0/0", RT_TABLE_MAIN),
        };
        FibRoute routes[] = {
                unicast(TABLE_VPN, "0.0.0.0/0", 0, 1), unicast(RT_TABLE_MAIN, "0.0.0.0/0", 0, 2),
        };
        Fib f = FIB(rules, routes);
        FibPacket p = packet("10.10.10.2", "203.0.113.1", "tun0");

        rules[0].unknown_selector = true;
        rules[1].l3mdev = true;
        rules[2].tun_id = 7;
        rules[3].ip_proto = IPPROTO_TCP;
        rules[4].tos = 0x10;
        rules[5].has_uid_range = true;
        rules[5].uid_range = (struct fib_rule_uid_range) { 1000, 2000 };
        rules[6].has_dport = true;
        rules[6].dport = (struct fib_rule_port_range) { 53, 53 };
        expect(&f, &p, 8, 1);
        /* uid 0 and port 0 are in these ranges. */
        rules[5].uid_range = (struct fib_rule_uid_range) { 0, 0 };
        expect(&f, &p, 6, 0);
}

int main(void) {
        RUN(test_seed003);
        RUN(test_priority_order);
        RUN(test_from_to_prefixes);
        RUN(test_iif_oif);
        RUN(test_fwmark);
        RUN(test_goto_and_actions);
        RUN(test_suppress_prefixlength);
        RUN(test_main_default_fallthrough);
        RUN(test_fail_closed);
        RUN(test_table_lookup);
        RUN(test_ipv6_source_routes);
        RUN(test_unevaluated_selectors);
        TESTS_DONE();
}
