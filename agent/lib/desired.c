/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <string.h>

#include "desired.h"
#include "parse-util.h"
#include "strv.h"

static const int families[] = { AF_INET, AF_INET6 };

size_t desired_base_max(const Config *c) {
        return c->policies[0].n_pools + 2 * ELEMENTSOF(families);
}

static Object source_rule(const Config *c, const Prefix *pool, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_RULE,
                .family = pool->family,
                .table = c->policies[0].table_id,
                .priority = c->policies[0].priority,
                .prefix = *pool,
                .protocol = protocol,
        };
}

static Object default_route(const Config *c, int family, int gateway_ifindex, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = c->policies[0].table_id,
                .priority = family == AF_INET6 ? IPV6_DEFAULT_METRIC : 0,
                .prefix = { .family = family },
                .protocol = protocol,
                .type = RTN_UNICAST,
                .scope = RT_SCOPE_UNIVERSE,
                .oif = MAX(gateway_ifindex, 0),
                .has_gateway = true,
                .gateway = *config_gateway(c, family),
        };
}

static Object fail_closed_route(const Config *c, int family, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = c->policies[0].table_id,
                .priority = FAIL_CLOSED_METRIC,
                .prefix = { .family = family },
                .protocol = protocol,
                .type = RTN_UNREACHABLE,
                .scope = RT_SCOPE_UNIVERSE,
        };
}

size_t desired_base(const Config *c, int gateway_ifindex, uint8_t protocol, DesiredObject *ret) {
        size_t n = 0;

        for (size_t i = 0; i < c->policies[0].n_pools; i++)
                ret[n++] = (DesiredObject) { source_rule(c, &c->policies[0].pools[i], protocol),
                                             ROLE_SOURCE_RULE, NULL };

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                int family = families[i];

                /* A gateway without pools of its family still gets its route: it costs nothing and a
                 * pool added by a reload finds the table ready. */
                if (config_gateway(c, family))
                        ret[n++] = (DesiredObject) {
                                default_route(c, family, gateway_ifindex, protocol), ROLE_DEFAULT_ROUTE,
                                gateway_ifindex < 0 ? "the gateway device does not exist" : NULL,
                        };
                if (c->fail_closed && config_has_family(c, family))
                        ret[n++] = (DesiredObject) { fail_closed_route(c, family, protocol), ROLE_FAIL_CLOSED,
                                                     NULL };
        }
        return n;
}

static const char *const tunnel_kinds[] = { "tun", "ovpn-dco", "ovpn" };

bool desired_kind_is_tunnel(const char *kind) {
        for (size_t i = 0; i < ELEMENTSOF(tunnel_kinds); i++)
                if (streq(kind, tunnel_kinds[i]))
                        return true;
        return false;
}

bool desired_link_matches(const Config *c, const char *kind, const char *name) {
        if (!desired_kind_is_tunnel(kind))
                return false;
        STRV_FOREACH(p, c->tunnel_match)
                if (glob_match(*p, name))
                        return true;
        return false;
}

static bool prefix_is_link_local_or_multicast(const Prefix *p) {
        if (p->family != AF_INET6)
                return false;
        return (p->addr.bytes[0] == 0xfe && (p->addr.bytes[1] & 0xc0) == 0x80) || p->addr.bytes[0] == 0xff;
}

bool desired_tun_route(const Config *c, int ifindex, int family, const Prefix *subnet, bool has_peer,
                       uint8_t protocol, Object *ret) {
        if (prefix_is_link_local_or_multicast(subnet))
                return false;
        if (subnet->prefixlen == family_max_prefixlen(family) && !has_peer)
                return false;
        *ret = (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = c->policies[0].table_id,
                .priority = family == AF_INET6 ? IPV6_CONNECTED_METRIC : 0,
                .prefix = *subnet,
                .protocol = protocol,
                .type = RTN_UNICAST,
                .scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
                .oif = ifindex,
        };
        return true;
}

bool desired_mirror_route(const Config *c, const Object *main_route, uint8_t protocol, Object *ret) {
        Object o = *main_route;

        if (!c->mirror_routes || main_route->protocol == RTPROT_KERNEL || main_route->type != RTN_UNICAST ||
            main_route->oif <= 0 || prefix_is_link_local_or_multicast(&main_route->prefix))
                return false;
        o.table = c->policies[0].table_id;
        o.protocol = protocol;
        /* The source address only matters for traffic the host itself sends, which never uses this
         * table; without it the copy does not vanish with an address. */
        o.has_prefsrc = false;
        memset(&o.prefsrc, 0, sizeof(o.prefsrc));
        *ret = o;
        return true;
}
