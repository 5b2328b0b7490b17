/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure desired-state functions: configuration and observed facts in, objects out. */

#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "desired.h"
#include "strv.h"
#include "tests.h"

static Prefix P(const char *s) {
        Prefix p;

        ASSERT(prefix_parse(s, &p) >= 0);
        return p;
}

static Config config(void) {
        static Prefix pools[2];
        static GatewayConfig gateway = { .name = (char *) "gateway", .has_ipv4 = true, .has_ipv6 = true };
        static PolicyConfig policy = {
                .name = (char *) "vpn",
                .table_name = (char *) "vpn",
                .table_id = 200,
                .priority = 32765,
                .pools = pools,
                .n_pools = 2,
                .gateways = &gateway,
                .n_gateways = 1,
        };
        static char *match[] = { (char *) "tun*", NULL };
        Config c = {
                .policies = &policy,
                .n_policies = 1,
                .tunnel_match = match,
                .mirror_routes = true,
                .fail_closed = true,
        };

        policy.n_pools = 2;
        pools[0] = P("10.10.10.0/24");
        pools[1] = P("fd00:4242:4242:4242::/64");
        ASSERT(addr_parse(AF_INET, "192.168.1.1", NULL, &gateway.ipv4) >= 0);
        ASSERT(addr_parse(AF_INET6, "fd00:1010:1010:1010::1", NULL, &gateway.ipv6) >= 0);
        return c;
}

static size_t count_role(const DesiredObject *d, size_t n, ObjectRole role, int family) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (d[i].role == role && d[i].obj.family == family)
                        k++;
        return k;
}

static void test_base(void) {
        Config c = config();
        DesiredObject d[16];
        size_t n;

        ASSERT(desired_base_max(&c) <= 16);
        n = desired_base(&c, 0, 211, d);
        ASSERT(n == 6);
        for (int f = AF_INET; f <= AF_INET6; f += AF_INET6 - AF_INET) {
                ASSERT(count_role(d, n, ROLE_SOURCE_RULE, f) == 1);
                ASSERT(count_role(d, n, ROLE_DEFAULT_ROUTE, f) == 1);
                ASSERT(count_role(d, n, ROLE_FAIL_CLOSED, f) == 1);
        }
        for (size_t i = 0; i < n; i++) {
                ASSERT(d[i].obj.protocol == 211 && d[i].obj.table == 200 && !d[i].blocked);
                if (d[i].role == ROLE_FAIL_CLOSED)
                        ASSERT(d[i].obj.type == RTN_UNREACHABLE && d[i].obj.priority == UINT32_MAX);
                if (d[i].role == ROLE_DEFAULT_ROUTE)
                        ASSERT(d[i].obj.priority == (d[i].obj.family == AF_INET6 ? 1024U : 0U));
                if (d[i].role == ROLE_SOURCE_RULE)
                        ASSERT(d[i].obj.priority == 32765);
        }
}

static void test_base_variants(void) {
        Config c = config();
        DesiredObject d[16];
        size_t n;

        c.fail_closed = false;
        n = desired_base(&c, 0, 211, d);
        ASSERT(n == 4 && count_role(d, n, ROLE_FAIL_CLOSED, AF_INET) == 0);

        /* Device= configured but absent: wanted, and blocked with a reason. */
        n = desired_base(&c, -1, 211, d);
        for (size_t i = 0; i < n; i++)
                ASSERT((d[i].role == ROLE_DEFAULT_ROUTE) == (d[i].blocked != NULL));
        n = desired_base(&c, 7, 211, d);
        for (size_t i = 0; i < n; i++)
                if (d[i].role == ROLE_DEFAULT_ROUTE)
                        ASSERT(d[i].obj.oif == 7);

        /* A v4-only setup: no v6 fail-closed route; the v6 gateway's route is kept. */
        c = config();
        c.policies[0].n_pools = 1;
        n = desired_base(&c, 0, 211, d);
        ASSERT(count_role(d, n, ROLE_FAIL_CLOSED, AF_INET6) == 0);
        ASSERT(count_role(d, n, ROLE_FAIL_CLOSED, AF_INET) == 1);
        ASSERT(count_role(d, n, ROLE_SOURCE_RULE, AF_INET6) == 0);
}

static void test_tunnel_match(void) {
        Config c = config();

        ASSERT(desired_link_matches(&c, "tun", "tun0"));
        ASSERT(desired_link_matches(&c, "ovpn-dco", "tun12"));
        ASSERT(!desired_link_matches(&c, "veth", "tun0"));      /* kind matters, not only the name */
        ASSERT(!desired_link_matches(&c, "tun", "vpn0"));
        ASSERT(!desired_link_matches(&c, "", "tun0"));
}

static void test_tun_route(void) {
        Config c = config();
        Prefix s4 = P("10.10.10.0/24"), s6 = P("fd00:4242:4242:4242::/64"), ll = P("fe80::/64");
        Prefix host = P("10.10.10.1/32"), peer = P("10.8.0.2/32");
        Object o;

        ASSERT(desired_tun_route(&c, 4, AF_INET, &s4, false, 211, &o));
        ASSERT(o.oif == 4 && o.scope == RT_SCOPE_LINK && !o.has_gateway && o.priority == 0 && o.table == 200);
        ASSERT(desired_tun_route(&c, 4, AF_INET6, &s6, false, 211, &o));
        ASSERT(o.priority == IPV6_CONNECTED_METRIC && o.scope == RT_SCOPE_UNIVERSE);
        ASSERT(!desired_tun_route(&c, 4, AF_INET6, &ll, false, 211, &o));
        ASSERT(!desired_tun_route(&c, 4, AF_INET, &host, false, 211, &o));
        ASSERT(desired_tun_route(&c, 4, AF_INET, &peer, true, 211, &o));
}

static void test_mirror(void) {
        Config c = config();
        Object main_route = {
                .kind = OBJECT_ROUTE, .family = AF_INET, .table = RT_TABLE_MAIN, .prefix = P("172.16.1.0/24"),
                .protocol = RTPROT_BOOT, .type = RTN_UNICAST, .oif = 4, .has_gateway = true, .has_prefsrc = true,
        };
        Object o;

        ASSERT(addr_parse(AF_INET, "10.10.10.2", NULL, &main_route.gateway) >= 0);
        ASSERT(desired_mirror_route(&c, &main_route, 211, &o));
        ASSERT(o.table == 200 && o.protocol == 211 && o.oif == 4 && o.has_gateway && !o.has_prefsrc);
        ASSERT(memcmp(&o.gateway, &main_route.gateway, sizeof(o.gateway)) == 0);

        main_route.protocol = RTPROT_KERNEL;
        ASSERT(!desired_mirror_route(&c, &main_route, 211, &o));
        main_route.protocol = RTPROT_STATIC;
        c.mirror_routes = false;
        ASSERT(!desired_mirror_route(&c, &main_route, 211, &o));
        c.mirror_routes = true;
        main_route.family = AF_INET6;
        main_route.prefix = P("fe80::/64");
        ASSERT(!desired_mirror_route(&c, &main_route, 211, &o));
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

int main(void) {
        RUN(test_base);
        RUN(test_base_variants);
        RUN(test_tunnel_match);
        RUN(test_tun_route);
        RUN(test_mirror);
        RUN(test_keys);
        TESTS_DONE();
}
