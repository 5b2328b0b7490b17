/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure desired-state functions: configuration and observed facts in, objects out. */

#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "desired.h"
#include "macro.h"
#include "strv.h"
#include "tests.h"

static Prefix P(const char *s) {
        Prefix p;

        ASSERT(prefix_parse(s, &p) >= 0);
        return p;
}

static GatewayConfig gateways[1];
static Prefix pools[2];

static PolicyConfig policy(void) {
        PolicyConfig p = {
                .name = (char *) "vpn",
                .table_name = (char *) "vpn",
                .table_id = 200,
                .priority = 32765,
                .pools = pools,
                .n_pools = 2,
                .gateways = gateways,
                .n_gateways = 1,
        };

        pools[0] = P("10.10.10.0/24");
        pools[1] = P("fd00:4242:4242:4242::/64");
        gateways[0] = (GatewayConfig) { .name = (char *) "gateway", .has_ipv4 = true, .has_ipv6 = true };
        ASSERT(addr_parse(AF_INET, "192.168.1.1", NULL, &gateways[0].ipv4) >= 0);
        ASSERT(addr_parse(AF_INET6, "fd00:1010:1010:1010::1", NULL, &gateways[0].ipv6) >= 0);
        return p;
}

static Config config(PolicyConfig *p) {
        static char *match[] = { (char *) "tun*", NULL };

        return (Config) {
                .tunnel_match = match,
                .mirror_routes = true,
                .fail_closed = true,
                .policies = p,
                .n_policies = 1,
        };
}

static void test_base(void) {
        PolicyConfig p = policy();
        Object o;

        o = desired_source_rule(&p, &pools[0], 211);
        ASSERT(o.kind == OBJECT_RULE && o.table == 200 && o.priority == 32765 && o.protocol == 211);
        ASSERT(prefix_equal(&o.prefix, &pools[0]) && !o.iifname[0]);

        o = desired_default_route(&p, AF_INET6, &gateways[0].ipv6, 0, 211);
        ASSERT(o.priority == 1024U && o.has_gateway && o.oif == 0 && o.type == RTN_UNICAST);
        o = desired_default_route(&p, AF_INET, &gateways[0].ipv4, 7, 211);
        ASSERT(o.priority == 0 && o.oif == 7 && o.table == 200 && o.prefix.prefixlen == 0);

        o = desired_fail_closed(&p, AF_INET, 211);
        ASSERT(o.type == RTN_UNREACHABLE && o.priority == UINT32_MAX && !o.has_gateway);
}

/* One rule per tunnel and family, keyed by the device name: two tunnels never share a key, and a rule
 * with a device is never the same object as a source rule. */
static void test_iif_rule(void) {
        PolicyConfig p = policy();
        Object a = desired_iif_rule(&p, AF_INET, "tun0", 211), b = desired_iif_rule(&p, AF_INET, "tun1", 211);
        Object all = { .kind = OBJECT_RULE, .family = AF_INET, .table = 200, .priority = 32765, .protocol = 211,
                       .prefix = { .family = AF_INET } };
        ObjectKey ka = object_key(&a), kb = object_key(&b), kall = object_key(&all);
        char text[OBJECT_STRLEN];

        ASSERT(streq(a.iifname, "tun0") && a.prefix.prefixlen == 0 && a.table == 200);
        ASSERT(memcmp(&ka, &kb, sizeof(ka)) != 0);
        ASSERT(memcmp(&ka, &kall, sizeof(ka)) != 0);
        ASSERT_STREQ(object_to_string(&a, NULL, text), "from all iif tun0 lookup 200 pref 32765 proto 211");
}

static void test_tunnel_match(void) {
        PolicyConfig p = policy();
        Config c = config(&p);

        ASSERT(desired_link_matches(&c, "tun", "tun0"));
        ASSERT(desired_link_matches(&c, "ovpn-dco", "tun12"));
        ASSERT(!desired_link_matches(&c, "veth", "tun0"));      /* kind matters, not only the name */
        ASSERT(!desired_link_matches(&c, "tun", "vpn0"));
        ASSERT(!desired_link_matches(&c, "", "tun0"));
        ASSERT(desired_link_matches(&c, "wireguard", "tun3"));
}

static void test_tun_route(void) {
        Prefix s4 = P("10.10.10.0/24"), s6 = P("fd00:4242:4242:4242::/64"), ll = P("fe80::/64");
        Prefix host = P("10.10.10.1/32"), peer = P("10.8.0.2/32");
        Object o;

        ASSERT(desired_tun_route(200, 4, AF_INET, &s4, false, 211, &o));
        ASSERT(o.oif == 4 && o.scope == RT_SCOPE_LINK && !o.has_gateway && o.priority == 0 && o.table == 200);
        ASSERT(desired_tun_route(200, 4, AF_INET6, &s6, false, 211, &o));
        ASSERT(o.priority == IPV6_CONNECTED_METRIC && o.scope == RT_SCOPE_UNIVERSE);
        ASSERT(!desired_tun_route(200, 4, AF_INET6, &ll, false, 211, &o));
        ASSERT(!desired_tun_route(200, 4, AF_INET, &host, false, 211, &o));
        ASSERT(desired_tun_route(200, 4, AF_INET, &peer, true, 211, &o));
}

static void test_mirror(void) {
        PolicyConfig p = policy();
        Config c = config(&p);
        Object main_route = {
                .kind = OBJECT_ROUTE, .family = AF_INET, .table = RT_TABLE_MAIN, .prefix = P("172.16.1.0/24"),
                .protocol = RTPROT_BOOT, .type = RTN_UNICAST, .oif = 4, .has_gateway = true, .has_prefsrc = true,
        };
        Object o;

        ASSERT(addr_parse(AF_INET, "10.10.10.2", NULL, &main_route.gateway) >= 0);
        ASSERT(desired_mirror_route(&c, &p, &main_route, 211, &o));
        ASSERT(o.table == 200 && o.protocol == 211 && o.oif == 4 && o.has_gateway && !o.has_prefsrc);
        ASSERT(memcmp(&o.gateway, &main_route.gateway, sizeof(o.gateway)) == 0);

        main_route.protocol = RTPROT_KERNEL;
        ASSERT(!desired_mirror_route(&c, &p, &main_route, 211, &o));
        main_route.protocol = RTPROT_STATIC;
        c.mirror_routes = false;
        ASSERT(!desired_mirror_route(&c, &p, &main_route, 211, &o));
        c.mirror_routes = true;
        main_route.family = AF_INET6;
        main_route.prefix = P("fe80::/64");
        ASSERT(!desired_mirror_route(&c, &p, &main_route, 211, &o));
}

/* OpenVPN with DCO: the iroute "via CLIENT metric 100" and the route statement "via SERVER+2 metric 200"
 * for one prefix are two copies (two identities), each with its own gateway and metric; a client that
 * floats changes the copy's content (the via), not its identity, so the copy is replaced, not doubled. */
static void test_mirror_dco(void) {
        PolicyConfig p = policy();
        Config c = config(&p);
        Object iroute = {
                .kind = OBJECT_ROUTE, .family = AF_INET6, .table = RT_TABLE_MAIN, .priority = 100,
                .prefix = P("fd00:aaaa::/64"), .protocol = RTPROT_BOOT, .type = RTN_UNICAST, .oif = 5,
                .has_gateway = true, .onlink = true,
        };
        Object route = iroute, a, b, floated;
        ObjectKey ka, kb, kf;

        ASSERT(addr_parse(AF_INET6, "fd00:4242:4242:4242::1000", NULL, &iroute.gateway) >= 0);
        route.priority = 200;
        route.onlink = false;
        ASSERT(addr_parse(AF_INET6, "fd00:4242:4242:4242::2", NULL, &route.gateway) >= 0);
        ASSERT(desired_mirror_route(&c, &p, &iroute, 211, &a));
        ASSERT(desired_mirror_route(&c, &p, &route, 211, &b));
        ASSERT(a.priority == 100 && b.priority == 200 && a.onlink && !b.onlink && a.oif == 5 && b.oif == 5);
        ASSERT(addr_equal(AF_INET6, &a.gateway, &iroute.gateway) && addr_equal(AF_INET6, &b.gateway, &route.gateway));
        ka = object_key(&a);
        kb = object_key(&b);
        ASSERT(memcmp(&ka, &kb, sizeof(ka)) != 0);

        ASSERT(addr_parse(AF_INET6, "fd00:4242:4242:4242::1005", NULL, &iroute.gateway) >= 0);
        ASSERT(desired_mirror_route(&c, &p, &iroute, 211, &floated));
        kf = object_key(&floated);
        ASSERT(memcmp(&ka, &kf, sizeof(ka)) == 0 && !object_content_equal(&a, &floated));
}

/* The default Match= list (config.c) covers OpenVPN's and WireGuard's names, whatever the kind. */
static void test_match_kinds(void) {
        PolicyConfig p = policy();
        Config c = config(&p);
        char *match[] = { (char *) "tun*", (char *) "wg*", NULL };

        c.tunnel_match = match;
        ASSERT(desired_link_matches(&c, "ovpn-dco", "tun0") && desired_link_matches(&c, "ovpn", "tun12"));
        ASSERT(desired_link_matches(&c, "wireguard", "wg0") && desired_link_matches(&c, "tun", "wg0"));
        ASSERT(!desired_link_matches(&c, "veth", "wg1") && !desired_link_matches(&c, "tun", "eth0"));
}

/* What covers the default route or the gateway is a client tunnel's redirect-gateway: never copied. */
static void test_mirror_never_default(void) {
        static const char *const refused[] = {
                "0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "192.168.0.0/16", "192.168.1.1/32",
                "::/0", "::/3", "2000::/4", "3000::/4", "fc00::/7", "fd00:1010:1010:1010::/64",
        };
        static const char *const copied[] = { "10.0.0.0/8", "64.0.0.0/2", "2001:db8::/32", "fd00:9::/48" };
        PolicyConfig p = policy();
        Config c = config(&p);
        Object main_route = { .kind = OBJECT_ROUTE, .table = RT_TABLE_MAIN, .protocol = RTPROT_STATIC,
                              .type = RTN_UNICAST, .oif = 4 };
        Object o;

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                main_route.prefix = P(refused[i]);
                main_route.family = main_route.prefix.family;
                if (desired_mirror_route(&c, &p, &main_route, 211, &o)) {
                        fprintf(stderr, "%s was copied\n", refused[i]);
                        ASSERT(false);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(copied); i++) {
                main_route.prefix = P(copied[i]);
                main_route.family = main_route.prefix.family;
                ASSERT(desired_mirror_route(&c, &p, &main_route, 211, &o));
        }
}

static void test_keys(void) {
        Object a = { .kind = OBJECT_ROUTE, .family = AF_INET, .table = 200, .prefix = P("10.0.0.0/8") };
        Object b = a;
        ObjectKey ka, kb;

        b.has_gateway = true;           /* content, not identity */
        ka = object_key(&a);
        kb = object_key(&b);
        ASSERT(memcmp(&ka, &kb, sizeof(ka)) == 0);
        ASSERT(!object_content_equal(&a, &b));
        b = a;
        b.priority = 5;                 /* the metric is identity (fib_table_insert()) */
        kb = object_key(&b);
        ASSERT(memcmp(&ka, &kb, sizeof(ka)) != 0);
        b = a;
        b.oif = 3;                      /* a device we left to the kernel satisfies what we asked */
        ASSERT(object_satisfies(&b, &a) && !object_satisfies(&a, &b));
}

/* Probe objects: one table and mark per gateway, counted over every policy, never a policy's. */
static void test_probe_objects(void) {
        PolicyConfig ps[2];
        Config c = { .policies = ps, .n_policies = 2 };
        InAddrUnion gw;
        char s[OBJECT_STRLEN];
        Object rule, route;
        ObjectKey k1, k2;

        ps[0] = policy();
        ps[0].n_gateways = 2;
        ps[1] = policy();
        ps[1].n_gateways = 3;
        ASSERT_INT(desired_probe_index(&c, 0, 0), 0);
        ASSERT_INT(desired_probe_index(&c, 0, 1), 1);
        ASSERT_INT(desired_probe_index(&c, 1, 0), 2);
        ASSERT_INT(desired_probe_index(&c, 1, 2), 4);
        ASSERT(desired_table_is_probe(desired_probe_table(4)));
        ASSERT(!desired_table_is_probe(200) && !desired_table_is_probe(PROBE_TABLE_BASE - 1));
        ASSERT(!desired_table_is_probe(PROBE_TABLE_BASE + PROBE_TABLES_MAX));

        rule = desired_probe_rule(AF_INET, 2, 211);
        ASSERT_STREQ(object_to_string(&rule, NULL, s), "from all fwmark 0x76700002/0xffffffff lookup 1987051522 pref 1000 proto 211");
        ASSERT(addr_parse(AF_INET6, "fe80::1", NULL, &gw) >= 0);
        route = desired_probe_route(AF_INET6, 2, &gw, 5, 211);
        ASSERT_STREQ(object_to_string(&route, "eth1", s), "default via fe80::1 dev eth1 table 1987051522 metric 1024 proto 211");
        /* The two gateways' rules are distinct objects. */
        k1 = object_key(&rule);
        rule = desired_probe_rule(AF_INET, 3, 211);
        k2 = object_key(&rule);
        ASSERT(memcmp(&k1, &k2, sizeof(k1)) != 0);
}

int main(void) {
        RUN(test_base);
        RUN(test_probe_objects);
        RUN(test_iif_rule);
        RUN(test_tunnel_match);
        RUN(test_tun_route);
        RUN(test_mirror);
        RUN(test_mirror_never_default);
        RUN(test_mirror_dco);
        RUN(test_match_kinds);
        RUN(test_keys);
        TESTS_DONE();
}
