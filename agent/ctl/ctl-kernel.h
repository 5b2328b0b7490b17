/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "macro.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"

/* The CLI's read-only view of the kernel (explain, doctor, teardown): one snapshot of links, addresses,
 * rules and routes of both families, dumped once per command. Rules and routes are parsed in full, every
 * selector and route type, unlike rtnl-rule.c and rtnl-route.c, which accept only what the agent makes. */

typedef struct Rtnl Rtnl;
typedef struct RtnlRouteQuery RtnlRouteQuery;

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

typedef struct RtName {
        uint32_t id;
        char name[64];
} RtName;

typedef struct CtlKernel {
        Rtnl *rtnl;
        LinkInfo *links;
        size_t n_links;
        AddressInfo *addresses;
        size_t n_addresses;
        FibRule *rules;                 /* both families, each in the kernel's evaluation order */
        size_t n_rules;
        FibRoute *routes;               /* every table of both families */
        size_t n_routes;
        RtName *tables, *protos;        /* iproute2's names */
        size_t n_tables, n_protos;
} CtlKernel;

/* Opens a request-only rtnetlink socket and takes the snapshot; names come from IPROUTE2_DIR's rt_tables
 * and rt_protos (and their .d directories). */
int ctl_kernel_open(const char *iproute2_dir, CtlKernel **ret);
CtlKernel *ctl_kernel_free(CtlKernel *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(CtlKernel *, ctl_kernel_free);

const LinkInfo *ctl_link_by_index(const CtlKernel *k, int ifindex);
const LinkInfo *ctl_link_by_name(const CtlKernel *k, const char *name);
/* A name to print: the device's, or "#N" for an index we did not see. */
const char *ctl_ifname(const CtlKernel *k, int ifindex, char buf[static IFNAMSIZ]);
/* An address of ours on ifindex in the same subnet as a (the address the neighbours there know us by). */
const AddressInfo *ctl_address_on_subnet(const CtlKernel *k, int ifindex, int family, const InAddrUnion *a);

#define RT_NAME_STRLEN 64
const char *ctl_table_name(const CtlKernel *k, uint32_t id, char buf[static RT_NAME_STRLEN]);
const char *ctl_proto_name(const CtlKernel *k, uint8_t id, char buf[static RT_NAME_STRLEN]);

#define FIB_STRLEN 512
/* iproute2 notation: "from 10.10.10.0/24 lookup vpn"; with full, as `ip rule del` takes it:
 * "pref 32765 from 10.10.10.0/24 lookup vpn proto vpnpolicy". */
const char *fib_rule_to_string(const CtlKernel *k, const FibRule *r, bool full, char buf[static FIB_STRLEN]);
/* "default via 192.168.1.1 dev eth1 proto vpnpolicy", as `ip route` shows it within a table. */
const char *fib_route_to_string(const CtlKernel *k, const FibRoute *r, char buf[static FIB_STRLEN]);
int fib_rule_from_netlink(const struct nlmsghdr *nlh, FibRule *ret);
int fib_route_from_netlink(const struct nlmsghdr *nlh, FibRoute *ret);
const char *route_type_name(uint8_t type);

/* A packet, as the kernel's rule lookup sees it: mark, tos, ports, protocol 0 and uid 0, like
 * RTM_GETROUTE without those attributes. iif "lo" is a locally generated packet. */
typedef struct FibPacket {
        int family;
        InAddrUnion src, dst;
        char iif[IFNAMSIZ];             /* "" matches no iif selector */
} FibPacket;

/* What the rule list does with a packet, walked as fib_rules_lookup() (net/core/fib_rules.c) does. */
typedef struct FibVerdict {
        const FibRule *rule;            /* the rule that decided; NULL: none (no route) */
        const FibRoute *route;          /* the route of its table; NULL when the rule's own action decided */
} FibVerdict;

void fib_walk(const CtlKernel *k, const FibPacket *p, FibVerdict *ret);
/* The route of table that the kernel would pick for p (longest prefix, then lowest metric); NULL if none.
 * A throw route is returned as such: the walk goes on after it. */
const FibRoute *fib_table_lookup(const CtlKernel *k, uint32_t table, const FibPacket *p);

/* The kernel's own lookup (rtnl_route_get()), parsed. */
int ctl_route_get(CtlKernel *k, const RtnlRouteQuery *q, FibRoute *ret);
/* The neighbour entry of a on ifindex: its NUD_* state, -ENOENT when there is none. */
int ctl_neigh_state(CtlKernel *k, int family, int ifindex, const InAddrUnion *a, uint16_t *ret);
const char *neigh_state_name(uint16_t state);

/* A process whose argv[0] has this basename and that runs in our network namespace (a daemon in another
 * namespace does not touch our links). Returns its pid, 0 if none. */
pid_t ctl_find_process(const char *name);
