/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "desired.h"

static const int families[] = { AF_INET, AF_INET6 };

size_t desired_base_max(const Config *c) {
        return c->n_pools + 2 * ELEMENTSOF(families);
}

static Object source_rule(const Config *c, const Prefix *pool, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_RULE,
                .family = pool->family,
                .table = c->table_id,
                .priority = c->priority,
                .prefix = *pool,
                .protocol = protocol,
        };
}

static Object default_route(const Config *c, int family, int gateway_ifindex, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = c->table_id,
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
                .table = c->table_id,
                .priority = FAIL_CLOSED_METRIC,
                .prefix = { .family = family },
                .protocol = protocol,
                .type = RTN_UNREACHABLE,
                .scope = RT_SCOPE_UNIVERSE,
        };
}

size_t desired_base(const Config *c, int gateway_ifindex, uint8_t protocol, DesiredObject *ret) {
        size_t n = 0;

        for (size_t i = 0; i < c->n_pools; i++)
                ret[n++] = (DesiredObject) { source_rule(c, &c->pools[i], protocol), ROLE_SOURCE_RULE, NULL };

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
