/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "rtnl-rule.h"

int rule_to_netlink(const Object *rule, struct nlmsghdr *nlh) {
        struct fib_rule_hdr *frh;

        assert(rule->kind == OBJECT_RULE);
        frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
        frh->family = (uint8_t) rule->family;
        frh->action = FR_ACT_TO_TBL;
        frh->src_len = rule->prefix.prefixlen;
        /* Tables above 255 only fit FRA_TABLE; the header field then says RT_TABLE_UNSPEC. */
        frh->table = rule->table < 256 ? (uint8_t) rule->table : RT_TABLE_UNSPEC;
        mnl_attr_put_u32(nlh, FRA_TABLE, rule->table);
        mnl_attr_put_u32(nlh, FRA_PRIORITY, rule->priority);
        mnl_attr_put_u8(nlh, FRA_PROTOCOL, rule->protocol);
        if (rule->iifname[0])
                mnl_attr_put_strz(nlh, FRA_IIFNAME, rule->iifname);
        if (rule->fwmask != 0) {
                mnl_attr_put_u32(nlh, FRA_FWMARK, rule->fwmark);
                mnl_attr_put_u32(nlh, FRA_FWMASK, rule->fwmask);
        }
        if (rule->prefix.prefixlen > 0)
                mnl_attr_put(nlh, FRA_SRC, family_addr_size(rule->family), rule->prefix.addr.bytes);
        return 0;
}

/* The selectors beyond a source prefix, an input device or a firewall mark: a rule carrying any of these is
 * not one of ours. */
static const uint16_t foreign_selectors[] = {
        FRA_DST, FRA_OIFNAME, FRA_TUN_ID, FRA_L3MDEV,
        FRA_UID_RANGE, FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE, FRA_GOTO,
};

static const uint16_t unset_when_minus_one[] = { FRA_SUPPRESS_PREFIXLEN, FRA_SUPPRESS_IFGROUP };

static int rule_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, FRA_MAX) < 0)
                return MNL_CB_OK;       /* newer than us: skip */
        switch (type) {
        case FRA_TABLE:
        case FRA_PRIORITY:
        case FRA_FWMARK:
        case FRA_FWMASK:
                if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                        return MNL_CB_OK;
                break;
        case FRA_PROTOCOL:
                if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
                        return MNL_CB_OK;
                break;

        default:
                break;
        }
        tb[type] = attr;
        return MNL_CB_OK;
}

static bool rule_has_foreign_selectors(const struct fib_rule_hdr *frh, const struct nlattr **tb) {
        if (frh->action != FR_ACT_TO_TBL || frh->dst_len != 0 || frh->tos != 0 || frh->flags != 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(foreign_selectors); i++)
                if (tb[foreign_selectors[i]])
                        return true;
        /* fib_nl_fill_rule() (net/core/fib_rules.c) always reports these; -1 means unset. */
        for (size_t i = 0; i < ELEMENTSOF(unset_when_minus_one); i++) {
                const struct nlattr *a = tb[unset_when_minus_one[i]];
                if (a && (mnl_attr_validate(a, MNL_TYPE_U32) < 0 || mnl_attr_get_u32(a) != UINT32_MAX))
                        return true;
        }
        return false;
}

/* The kernel reports FRA_FWMARK when the mark is set and FRA_FWMASK when either is (fib_nl_fill_rule()); a
 * mark given without a mask has the mask 0xffffffff (fib_nl2rule() in net/core/fib_rules.c). */
static int rule_fwmark_from_netlink(const struct nlattr **tb, Object *o) {
        o->fwmark = tb[FRA_FWMARK] ? mnl_attr_get_u32(tb[FRA_FWMARK]) : 0;
        o->fwmask = tb[FRA_FWMASK] ? mnl_attr_get_u32(tb[FRA_FWMASK]) : o->fwmark ? UINT32_MAX : 0;
        if (o->fwmask == 0)
                return o->fwmark == 0 ? 0 : -EBADMSG;
        /* We never combine a mark with a source prefix or an input device. */
        return o->prefix.prefixlen > 0 || o->iifname[0] ? -EOPNOTSUPP : 0;
}

int rule_from_netlink(const struct nlmsghdr *nlh, Object *ret) {
        const struct nlattr *tb[FRA_MAX + 1] = {};
        const struct fib_rule_hdr *frh;
        Object o = { .kind = OBJECT_RULE };
        int r;

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*frh))
                return -EBADMSG;
        frh = mnl_nlmsg_get_payload(nlh);
        if (frh->family != AF_INET && frh->family != AF_INET6)
                return -EAFNOSUPPORT;
        if (mnl_attr_parse(nlh, sizeof(*frh), rule_attr_cb, tb) < 0)
                return -EBADMSG;
        if (rule_has_foreign_selectors(frh, tb))
                return -EOPNOTSUPP;

        o.family = frh->family;
        o.prefix.family = frh->family;
        o.prefix.prefixlen = frh->src_len;
        if (frh->src_len > family_max_prefixlen(frh->family))
                return -EBADMSG;
        if (frh->src_len > 0) {
                if (!tb[FRA_SRC] || mnl_attr_get_payload_len(tb[FRA_SRC]) != family_addr_size(frh->family))
                        return -EBADMSG;
                memcpy(o.prefix.addr.bytes, mnl_attr_get_payload(tb[FRA_SRC]), family_addr_size(frh->family));
        }
        o.table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
        o.priority = tb[FRA_PRIORITY] ? mnl_attr_get_u32(tb[FRA_PRIORITY]) : 0;
        o.protocol = tb[FRA_PROTOCOL] ? mnl_attr_get_u8(tb[FRA_PROTOCOL]) : 0;
        if (tb[FRA_IIFNAME]) {
                if (mnl_attr_validate(tb[FRA_IIFNAME], MNL_TYPE_NUL_STRING) < 0 ||
                    mnl_attr_get_payload_len(tb[FRA_IIFNAME]) > IFNAMSIZ)
                        return -EBADMSG;
                if (frh->src_len > 0)
                        return -EOPNOTSUPP;     /* we never combine the two */
                snprintf(o.iifname, sizeof(o.iifname), "%s", mnl_attr_get_str(tb[FRA_IIFNAME]));
                if (!o.iifname[0])
                        return -EOPNOTSUPP;
        }
        r = rule_fwmark_from_netlink(tb, &o);
        if (r < 0)
                return r;
        *ret = o;
        return 0;
}
