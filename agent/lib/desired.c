/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "desired.h"
#include "parse-util.h"
#include "strv.h"

Object desired_source_rule(const PolicyConfig *p, const Prefix *pool, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_RULE,
                .family = pool->family,
                .table = p->table_id,
                .priority = p->priority,
                .prefix = *pool,
                .protocol = protocol,
        };
}

Object desired_iif_rule(const PolicyConfig *p, int family, const char *ifname, uint8_t protocol) {
        Object o = {
                .kind = OBJECT_RULE,
                .family = family,
                .table = p->table_id,
                .priority = p->priority,
                .prefix = { .family = family },
                .protocol = protocol,
        };

        snprintf(o.iifname, sizeof(o.iifname), "%s", ifname);
        return o;
}

Object desired_default_route(const PolicyConfig *p, int family, const InAddrUnion *gateway, int oif,
                             uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = p->table_id,
                .priority = family == AF_INET6 ? IPV6_DEFAULT_METRIC : 0,
                .prefix = { .family = family },
                .protocol = protocol,
                .type = RTN_UNICAST,
                .scope = RT_SCOPE_UNIVERSE,
                .oif = MAX(oif, 0),
                .has_gateway = true,
                .gateway = *gateway,
        };
}

Object desired_fail_closed(const PolicyConfig *p, int family, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = p->table_id,
                .priority = FAIL_CLOSED_METRIC,
                .prefix = { .family = family },
                .protocol = protocol,
                .type = RTN_UNREACHABLE,
                .scope = RT_SCOPE_UNIVERSE,
        };
}

uint32_t desired_probe_index(const Config *c, size_t policy, size_t gateway) {
        size_t k = gateway;

        for (size_t i = 0; i < policy && i < c->n_policies; i++)
                k += c->policies[i].n_gateways;
        return (uint32_t) MIN(k, (size_t) UINT32_MAX);
}

uint32_t desired_probe_table(uint32_t index) {
        return PROBE_TABLE_BASE + index;
}

uint32_t desired_probe_mark(uint32_t index) {
        return PROBE_MARK_BASE + index;
}

bool desired_table_is_probe(uint32_t table) {
        return table >= PROBE_TABLE_BASE && table - PROBE_TABLE_BASE < PROBE_TABLES_MAX;
}

Object desired_probe_rule(int family, uint32_t index, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_RULE,
                .family = family,
                .table = desired_probe_table(index),
                .priority = PROBE_RULE_PRIORITY,
                .prefix = { .family = family },
                .protocol = protocol,
                .fwmark = desired_probe_mark(index),
                .fwmask = UINT32_MAX,
        };
}

Object desired_probe_route(int family, uint32_t index, const InAddrUnion *gateway, int oif, uint8_t protocol) {
        return (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = desired_probe_table(index),
                .priority = family == AF_INET6 ? IPV6_DEFAULT_METRIC : 0,
                .prefix = { .family = family },
                .protocol = protocol,
                .type = RTN_UNICAST,
                .scope = RT_SCOPE_UNIVERSE,
                .oif = MAX(oif, 0),
                .has_gateway = true,
                .gateway = *gateway,
        };
}

static const char *const tunnel_kinds[] = { "tun", "ovpn-dco", "ovpn", "wireguard" };

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

bool desired_tun_route(uint32_t table, int ifindex, int family, const Prefix *subnet, bool has_peer,
                       uint8_t protocol, Object *ret) {
        if (prefix_is_link_local_or_multicast(subnet))
                return false;
        if (subnet->prefixlen == family_max_prefixlen(family) && !has_peer)
                return false;
        *ret = (Object) {
                .kind = OBJECT_ROUTE,
                .family = family,
                .table = table,
                .priority = family == AF_INET6 ? IPV6_CONNECTED_METRIC : 0,
                .prefix = *subnet,
                .protocol = protocol,
                .type = RTN_UNICAST,
                .scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
                .oif = ifindex,
        };
        return true;
}

static bool prefix_covers_gateway(const PolicyConfig *p, const Prefix *pfx) {
        for (size_t i = 0; i < p->n_gateways; i++) {
                const InAddrUnion *gw = gateway_address(&p->gateways[i], pfx->family);

                if (gw && prefix_contains(pfx, pfx->family, gw))
                        return true;
        }
        return false;
}

static bool mirror_prefix_allowed(const PolicyConfig *p, const Prefix *pfx) {
        uint8_t min = pfx->family == AF_INET ? MIRROR_MIN_PREFIXLEN4 : MIRROR_MIN_PREFIXLEN6;

        return pfx->prefixlen >= min && !prefix_is_link_local_or_multicast(pfx) && !prefix_covers_gateway(p, pfx);
}

bool desired_mirror_route(const Config *c, const PolicyConfig *p, const Object *main_route, uint8_t protocol,
                          Object *ret) {
        Object o = *main_route;

        if (!c->mirror_routes || main_route->protocol == RTPROT_KERNEL || main_route->type != RTN_UNICAST ||
            main_route->oif <= 0 || !mirror_prefix_allowed(p, &main_route->prefix))
                return false;
        o.table = p->table_id;
        o.protocol = protocol;
        /* The source address only matters for traffic the host itself sends, which never uses this
         * table; without it the copy does not vanish with an address. */
        o.has_prefsrc = false;
        memset(&o.prefsrc, 0, sizeof(o.prefsrc));
        *ret = o;
        return true;
}
