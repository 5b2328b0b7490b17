/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>

#include "ctl-notation.h"

/* Rules and routes in iproute2's notation, with the names of the snapshot (tables, protocols, devices). */

/* A small appender: never overflows, truncates at the end. */
typedef struct Text {
        char *buf;
        size_t size, len;
} Text;

_printf_(2, 3) static void text_add(Text *t, const char *fmt, ...) {
        va_list ap;
        int n;

        if (t->len >= t->size)
                return;
        va_start(ap, fmt);
        n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
        va_end(ap);
        if (n > 0)
                t->len = MIN(t->len + (size_t) n, t->size);
}

static const char *prefix_or_all(const Prefix *p, char buf[static PREFIX_STRLEN]) {
        if (p->prefixlen == 0)
                return "all";
        if (p->prefixlen == family_max_prefixlen(p->family))
                return addr_to_string(p->family, &p->addr, buf);
        return prefix_to_string(p, buf);
}

static void rule_add_selectors(Text *t, const FibRule *r) {
        char a[PREFIX_STRLEN];

        text_add(t, "%sfrom %s", r->flags & FIB_RULE_INVERT ? "not " : "", prefix_or_all(&r->src, a));
        if (r->dst.prefixlen > 0)
                text_add(t, " to %s", prefix_or_all(&r->dst, a));
        if (r->tos)
                text_add(t, " tos 0x%x", r->tos);
        if (r->fwmark || r->fwmask)
                text_add(t, r->fwmask == UINT32_MAX ? " fwmark 0x%x" : " fwmark 0x%x/0x%x", r->fwmark, r->fwmask);
        if (r->iif[0])
                text_add(t, " iif %s", r->iif);
        if (r->oif[0])
                text_add(t, " oif %s", r->oif);
        if (r->l3mdev)
                text_add(t, " lookup [l3mdev-table]");
        if (r->has_uid_range)
                text_add(t, " uidrange %u-%u", r->uid_range.start, r->uid_range.end);
        if (r->ip_proto)
                text_add(t, " ipproto %u", r->ip_proto);
        if (r->has_sport)
                text_add(t, " sport %u-%u", r->sport.start, r->sport.end);
        if (r->has_dport)
                text_add(t, " dport %u-%u", r->dport.start, r->dport.end);
        if (r->tun_id)
                text_add(t, " tun_id %" PRIu64, r->tun_id);
}

static void rule_add_action(Text *t, const CtlKernel *k, const FibRule *r) {
        char name[RT_NAME_STRLEN];

        switch (r->action) {
        case FR_ACT_TO_TBL:
                if (!r->l3mdev)
                        text_add(t, " lookup %s", ctl_table_name(k, r->table, name));
                break;
        case FR_ACT_GOTO:
                text_add(t, " goto %u", r->goto_target);
                break;
        case FR_ACT_NOP:
                text_add(t, " nop");
                break;
        default:
                text_add(t, " %s", r->action == FR_ACT_BLACKHOLE ? "blackhole" :
                                   r->action == FR_ACT_UNREACHABLE ? "unreachable" :
                                   r->action == FR_ACT_PROHIBIT ? "prohibit" : "unknown-action");
                break;
        }
        if (r->suppress_prefixlen >= 0)
                text_add(t, " suppress_prefixlength %d", r->suppress_prefixlen);
        if (r->suppress_ifgroup >= 0)
                text_add(t, " suppress_ifgroup %d", r->suppress_ifgroup);
}

const char *notation_rule(const CtlKernel *k, const FibRule *r, bool full, char buf[static NOTATION_STRLEN]) {
        Text t = { .buf = buf, .size = NOTATION_STRLEN };
        char name[RT_NAME_STRLEN];

        buf[0] = 0;
        if (full)
                text_add(&t, "pref %u ", r->priority);
        rule_add_selectors(&t, r);
        rule_add_action(&t, k, r);
        if (full)
                text_add(&t, " proto %s", ctl_proto_name(k, r->protocol, name));
        return buf;
}

const char *notation_route(const CtlKernel *k, const FibRoute *r, char buf[static NOTATION_STRLEN]) {
        Text t = { .buf = buf, .size = NOTATION_STRLEN };
        char a[PREFIX_STRLEN], dev[IFNAMSIZ], name[RT_NAME_STRLEN];

        buf[0] = 0;
        if (r->type != RTN_UNICAST)
                text_add(&t, "%s ", fib_route_type_name(r->type));
        text_add(&t, "%s", r->dst.prefixlen == 0 ? "default" : prefix_or_all(&r->dst, a));
        if (r->src.prefixlen > 0)
                text_add(&t, " from %s", prefix_or_all(&r->src, a));
        if (r->has_gateway)
                text_add(&t, " via %s", addr_to_string(r->family, &r->gateway, a));
        /* IPv6 reject routes sit on lo; iproute2 shows that, we leave it out as the agent does. */
        if (r->oif > 0 && (r->type == RTN_UNICAST || r->type == RTN_LOCAL || r->type == RTN_BROADCAST))
                text_add(&t, " dev %s", ctl_ifname(k, r->oif, dev));
        if (r->nexthop_object)
                text_add(&t, " (nexthop object)");
        if (r->multipath)
                text_add(&t, " (first of several nexthops)");
        text_add(&t, " proto %s", ctl_proto_name(k, r->protocol, name));
        if (r->has_prefsrc)
                text_add(&t, " src %s", addr_to_string(r->family, &r->prefsrc, a));
        if (r->priority > 0)
                text_add(&t, " metric %u", r->priority);
        return buf;
}
