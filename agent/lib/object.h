/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "macro.h"

/* The kernel objects we create: policy rules and routes. Both live in one keyed set so that the
 * reconciler diffs them the same way. */

typedef enum ObjectKind {
        OBJECT_RULE,
        OBJECT_ROUTE,
        _OBJECT_KIND_MAX,
        _OBJECT_KIND_INVALID = -EINVAL,
} ObjectKind;

/* Why we want an object; shown by status. The order is the precedence when two roles claim one kernel
 * identity (object_role_precedence()): the policy's own objects before what tunnels derive. */
typedef enum ObjectRole {
        ROLE_SOURCE_RULE,
        ROLE_DEFAULT_ROUTE,
        ROLE_FAIL_CLOSED,
        ROLE_PROBE_RULE,        /* "fwmark MARK lookup PROBE_TABLE": a gateway's probes leave by it */
        ROLE_PROBE_ROUTE,       /* "default via GW table PROBE_TABLE" */
        ROLE_IIF_RULE,          /* traffic arriving from a pool tunnel, whatever its source */
        ROLE_TUN_ROUTE,
        ROLE_MIRROR_ROUTE,
        ROLE_STALE,             /* ours in the kernel, no longer wanted */
        _ROLE_MAX,
        _ROLE_INVALID = -EINVAL,
} ObjectRole;

const char *object_kind_to_string(ObjectKind k);
const char *object_role_to_string(ObjectRole r);
/* Higher wins a clash: 3 for the policy's rules and routes (its probe objects included), 2 for tunnel rules, 1 for tun routes, 0 for
 * mirrored routes (and stale objects). */
int object_role_precedence(ObjectRole r);

/* Identity. Byte-compared by the hash table, so always built with object_key() on zeroed memory.
 * Rules: what rule_exists() in net/core/fib_rules.c compares for the selectors we use (family,
 * preference, source prefix, input device or firewall mark, table). Routes: what fib_table_insert()
 * (net/ipv4/fib_trie.c) and fib6_add_rt2node() (net/ipv6/ip6_fib.c) compare (family, table,
 * destination, metric; tos and the v6 source prefix are always 0 for us). Everything else is content
 * that an update replaces. */
typedef struct ObjectKey {
        uint8_t kind;
        uint8_t family;
        uint8_t prefixlen;
        uint8_t flags;          /* OBJECT_KEY_IIF: addr holds the rule's input device name;
                                 * OBJECT_KEY_FWMARK: addr holds the rule's mark and mask */
        uint32_t table;
        uint32_t priority;      /* rule preference or route metric */
        uint8_t addr[16];       /* rule source, route destination, or the iif name (IFNAMSIZ bytes) */
} ObjectKey;

#define OBJECT_KEY_IIF 0x01
#define OBJECT_KEY_FWMARK 0x02
_Static_assert(IFNAMSIZ == 16, "ObjectKey.addr holds an interface name");

typedef struct Object {
        ObjectKind kind;
        int family;
        uint32_t table;
        uint32_t priority;      /* FRA_PRIORITY or RTA_PRIORITY */
        Prefix prefix;          /* rule source, or route destination */
        uint8_t protocol;

        /* rules only: "iif NAME" ("" for none), or "fwmark MARK/MASK" (mask 0 for none); a rule with
         * either has no source prefix, and none has both */
        char iifname[IFNAMSIZ];
        uint32_t fwmark, fwmask;

        /* routes only */
        uint8_t type;           /* RTN_UNICAST, RTN_UNREACHABLE */
        uint8_t scope;
        int oif;                /* 0: none */
        bool onlink;            /* RTNH_F_ONLINK: the gateway is on the link, whatever the table says */
        bool has_gateway;
        InAddrUnion gateway;
        bool has_prefsrc;
        InAddrUnion prefsrc;
} Object;

ObjectKey object_key(const Object *o);
bool object_content_equal(const Object *a, const Object *b);
/* Whether what the kernel holds is what we asked for (content_equal, but a device we left to the
 * kernel may be any). */
bool object_satisfies(const Object *have, const Object *want);

#define OBJECT_STRLEN 256
/* One line in iproute2 notation, e.g. "from 10.10.10.0/24 lookup 200 pref 32765 proto 211" or
 * "10.10.10.0/24 dev tun0 table 200 metric 0 proto 211"; ifname NULL prints the index. */
const char *object_to_string(const Object *o, const char *ifname, char buf[static OBJECT_STRLEN]);
