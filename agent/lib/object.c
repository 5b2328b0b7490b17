/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "object.h"

static const char *const object_kind_table[_OBJECT_KIND_MAX] = {
        [OBJECT_RULE] = "rule",
        [OBJECT_ROUTE] = "route",
};

static const char *const object_role_table[_ROLE_MAX] = {
        [ROLE_SOURCE_RULE] = "source-rule",
        [ROLE_DEFAULT_ROUTE] = "default-route",
        [ROLE_FAIL_CLOSED] = "fail-closed",
        [ROLE_PROBE_RULE] = "probe-rule",
        [ROLE_PROBE_ROUTE] = "probe-route",
        [ROLE_IIF_RULE] = "tunnel-rule",
        [ROLE_TUN_ROUTE] = "tun-route",
        [ROLE_MIRROR_ROUTE] = "mirror-route",
        [ROLE_STALE] = "stale",
};

const char *object_kind_to_string(ObjectKind k) {
        return k >= 0 && k < _OBJECT_KIND_MAX ? object_kind_table[k] : NULL;
}

const char *object_role_to_string(ObjectRole r) {
        return r >= 0 && r < _ROLE_MAX ? object_role_table[r] : NULL;
}

int object_role_precedence(ObjectRole r) {
        switch (r) {
        case ROLE_SOURCE_RULE:
        case ROLE_DEFAULT_ROUTE:
        case ROLE_FAIL_CLOSED:
        case ROLE_PROBE_RULE:
        case ROLE_PROBE_ROUTE:
                return 3;
        case ROLE_IIF_RULE:
                return 2;
        case ROLE_TUN_ROUTE:
                return 1;
        default:
                return 0;
        }
}

ObjectKey object_key(const Object *o) {
        ObjectKey k;

        memset(&k, 0, sizeof(k));
        k.kind = (uint8_t) o->kind;
        k.family = (uint8_t) o->family;
        k.prefixlen = o->prefix.prefixlen;
        k.table = o->table;
        k.priority = o->priority;
        if (o->kind == OBJECT_RULE && o->iifname[0]) {
                k.flags = OBJECT_KEY_IIF;
                strncpy((char *) k.addr, o->iifname, sizeof(k.addr));
        } else if (o->kind == OBJECT_RULE && o->fwmask != 0) {
                k.flags = OBJECT_KEY_FWMARK;
                memcpy(k.addr, &o->fwmark, sizeof(o->fwmark));
                memcpy(k.addr + sizeof(o->fwmark), &o->fwmask, sizeof(o->fwmask));
        } else
                memcpy(k.addr, o->prefix.addr.bytes, family_addr_size(o->family));
        return k;
}

static bool optional_addr_equal(int family, bool has_a, const InAddrUnion *a, bool has_b,
                                const InAddrUnion *b) {
        if (has_a != has_b)
                return false;
        return !has_a || addr_equal(family, a, b);
}

bool object_content_equal(const Object *a, const Object *b) {
        ObjectKey ka = object_key(a), kb = object_key(b);

        if (memcmp(&ka, &kb, sizeof(ka)) != 0 || a->protocol != b->protocol)
                return false;
        if (a->kind == OBJECT_RULE)
                return true;
        return a->type == b->type && a->scope == b->scope && a->oif == b->oif && a->onlink == b->onlink &&
               optional_addr_equal(a->family, a->has_gateway, &a->gateway, b->has_gateway, &b->gateway) &&
               optional_addr_equal(a->family, a->has_prefsrc, &a->prefsrc, b->has_prefsrc, &b->prefsrc);
}

static const char *route_type_to_string(uint8_t type) {
        switch (type) {
        case RTN_UNICAST:
                return "";
        case RTN_UNREACHABLE:
                return "unreachable ";
        case RTN_BLACKHOLE:
                return "blackhole ";
        case RTN_PROHIBIT:
                return "prohibit ";
        default:
                return "other ";
        }
}

static void route_to_string(const Object *o, const char *ifname, char *buf, size_t size) {
        char dst[PREFIX_STRLEN], gw[ADDR_STRLEN], src[ADDR_STRLEN], dev[IFNAMSIZ + 16] = "";

        if (ifname)
                snprintf(dev, sizeof(dev), " dev %s", ifname);
        else if (o->oif > 0)
                snprintf(dev, sizeof(dev), " dev #%d", o->oif);
        snprintf(buf, size, "%s%s%s%s%s%s%s%s table %u metric %u proto %u", route_type_to_string(o->type),
                 o->prefix.prefixlen == 0 ? "default" : prefix_to_string(&o->prefix, dst),
                 o->has_gateway ? " via " : "", o->has_gateway ? addr_to_string(o->family, &o->gateway, gw) : "",
                 o->has_prefsrc ? " src " : "", o->has_prefsrc ? addr_to_string(o->family, &o->prefsrc, src) : "",
                 dev, o->onlink ? " onlink" : "", o->table, o->priority, o->protocol);
}

const char *object_to_string(const Object *o, const char *ifname, char buf[static OBJECT_STRLEN]) {
        char src[PREFIX_STRLEN];

        if (o->kind == OBJECT_ROUTE)
                route_to_string(o, ifname, buf, OBJECT_STRLEN);
        else if (o->iifname[0])
                snprintf(buf, OBJECT_STRLEN, "from all iif %s lookup %u pref %u proto %u", o->iifname, o->table,
                         o->priority, o->protocol);
        else if (o->fwmask != 0)
                snprintf(buf, OBJECT_STRLEN, "from all fwmark 0x%x/0x%x lookup %u pref %u proto %u", o->fwmark,
                         o->fwmask, o->table, o->priority, o->protocol);
        else
                snprintf(buf, OBJECT_STRLEN, "from %s lookup %u pref %u proto %u",
                         o->prefix.prefixlen == 0 ? "all" : prefix_to_string(&o->prefix, src), o->table,
                         o->priority, o->protocol);
        return buf;
}

bool object_satisfies(const Object *have, const Object *want) {
        Object h = *have;

        /* A route we add without a device gets the one the kernel resolves for the gateway. */
        if (want->kind == OBJECT_ROUTE && want->oif == 0)
                h.oif = 0;
        return object_content_equal(&h, want);
}
