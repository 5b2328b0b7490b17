/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "addr.h"
#include "macro.h"

typedef enum ForwardingMode {
        FORWARDING_CHECK,
        FORWARDING_ENABLE,
        _FORWARDING_MAX,
        _FORWARDING_INVALID = -EINVAL,
} ForwardingMode;

const char *forwarding_mode_to_string(ForwardingMode m);
ForwardingMode forwarding_mode_from_string(const char *s);

/* A gateway's health probe ([Gateway] Probe= and friends, vpnpolicy.conf(5)). */
typedef struct ProbeConfig {
        bool enabled;                   /* Probe=icmp; default: icmp when the policy has two or more
                                         * gateways, none otherwise (a lone gateway keeps today's meaning) */
        uint64_t interval_usec;         /* ProbeIntervalSec=, 100ms..1h, default 1 s */
        uint64_t timeout_usec;          /* ProbeTimeoutSec=, 10ms..interval, default 1 s */
        unsigned fall;                  /* FailCount=: failed probes in a row to go down; 1..100, 3 */
        unsigned rise;                  /* RiseCount=: good probes in a row to come back; 1..100, 3 */
        unsigned loss_max_percent;      /* MaxLossPercent=: down when more than this share of the last
                                         * PROBE_WINDOW probes was lost; 0..100, default 20; 100: off */
        uint64_t rtt_max_usec;          /* MaxRTTSec=: a reply slower than this counts as lost, at most
                                         * the timeout; default 0: no limit but the timeout */
        bool has_target4, has_target6;  /* ProbeTarget=: a host behind the gateway, probed through it */
        InAddrUnion target4, target6;
} ProbeConfig;

#define PROBE_WINDOW 10

/* How probes go through their gateway whatever the policy's default route is (vpnpolicyd(8), PROBES): the
 * k-th gateway (from 0, counted over the policies in order and their gateways by priority) marks its
 * requests PROBE_MARK_BASE + k, and the rule "fwmark MARK lookup PROBE_TABLE_BASE + k" at
 * PROBE_RULE_PRIORITY sends them to a table that holds one route, "default via GATEWAY". Fixed values, in a
 * range no one else is likely to use; a policy's [Table] Id= may not lie in it. */
#define PROBE_TABLE_BASE 0x76700000U    /* 1987051520, "vp" */
#define PROBE_MARK_BASE 0x76700000U
#define PROBE_TABLES_MAX 65536U
#define PROBE_RULE_PRIORITY 1000U

typedef struct GatewayConfig {
        char *name;                     /* Name=; a [Gateway] section without Name= is "gateway" */
        bool has_ipv4, has_ipv6;
        InAddrUnion ipv4, ipv6;
        char device[IFNAMSIZ];          /* "" when unset */
        uint32_t priority;              /* Priority=: lower is preferred; default 100 */
        ProbeConfig probe;
} GatewayConfig;

/* Defaults of the keys above that config-print.c leaves out when they are in force (see there). */
#define GATEWAY_NAME_DEFAULT "gateway"
#define GATEWAY_PRIORITY_DEFAULT 100
#define PROBE_INTERVAL_DEFAULT_USEC (1000ULL * 1000ULL)
#define PROBE_TIMEOUT_DEFAULT_USEC (1000ULL * 1000ULL)
#define PROBE_FALL_DEFAULT 3
#define PROBE_RISE_DEFAULT 3
#define PROBE_LOSS_MAX_DEFAULT 20
#define PROBE_RTT_MAX_DEFAULT_USEC 0
#define PREEMPT_DEFAULT true
#define PREEMPT_HOLD_DEFAULT_USEC (30ULL * 1000ULL * 1000ULL)

/* A policy: pools, the table their traffic looks up (with the rules' priority), and its gateways. The main
 * file's [Table]/[Pool]/[Gateway]/[Failover] are policies[0], named after its table; further policies come
 * from policies.d/NAME.conf or [Policy] Name= sections. */
typedef struct PolicyConfig {
        char *name;
        char *table_name;               /* default: "vpn" for policies[0], the policy's name for others */
        uint32_t table_id;              /* default 200 for policies[0]; required for others */
        uint32_t priority;              /* of the source rules; default 32765 for policies[0]; required for
                                         * others. No two policies share a name, table name, id or
                                         * priority, and no two pools of any policies overlap. */
        Prefix *pools;                  /* at least one */
        size_t n_pools;
        GatewayConfig *gateways;        /* at least one; sorted by priority, ties in the order written */
        size_t n_gateways;
        bool preempt;                   /* [Failover] Preempt=, default yes */
        uint64_t preempt_hold_usec;     /* [Failover] PreemptHoldSec=, 0..1d, default 30 s */
} PolicyConfig;

typedef struct Config {
        char **files;                   /* every file read, in order: main file, policies.d, drop-ins */

        /* [Table], [Pool], [Gateway], [Failover] of every policy; policies[0] is the main file's. */
        PolicyConfig *policies;
        size_t n_policies;              /* >= 1 */

        /* [Tunnels] */
        char **tunnel_match;            /* globs; default { "tun*", "wg*" }; NULL after an empty Match= */
        bool mirror_routes;             /* default yes */

        /* [Firewall] */
        bool firewall_manage;           /* default yes: keep our nftables table */
        bool firewall_leak_guard;       /* default yes */
        bool firewall_masquerade;       /* default no */

        /* [Kernel] */
        bool send_redirects;            /* default no: we set send_redirects=0 */
        ForwardingMode forwarding;      /* default check */
        bool fail_closed;               /* default yes */

        /* [Control] */
        char *read_group;               /* may call read methods; NULL: root only */
        gid_t read_gid;                 /* (gid_t) -1 when read_group is NULL */
        char **register_users;          /* may call RegisterTunnel besides root */
        uid_t *register_uids;
        char **register_groups;
        gid_t *register_gids;
} Config;

#define CONFIG_PATH_DEFAULT "/etc/vpnpolicy/vpnpolicy.conf"
/* Each file is read only if it is a regular file of at most this size. */
#define CONFIG_FILE_SIZE_MAX (1024 * 1024)

typedef struct ConfigSource {
        const char *path;               /* NULL: /etc/vpnpolicy/vpnpolicy.conf */
        const char *dropin_dir;         /* NULL: PATH + ".d" */
        const char *policies_dir;       /* NULL: dirname(PATH) + "/policies.d" */
        const char *iproute2_dir;       /* NULL: /etc/iproute2; read for the rt_tables clash check */
} ConfigSource;

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Reads and verifies: the main file, policies_dir/NAME.conf (one policy each), then the drop-ins, each
 * directory in the byte order of the names; only regular files of at most CONFIG_FILE_SIZE_MAX bytes. On
 * failure returns -EINVAL (or -errno for I/O) and appends one line per problem to *errors, each
 * "FILE:LINE: [Section] Key: reason" ("FILE: [Section] Key: reason" for problems with no line, such as a
 * missing required key). Never touches the kernel. */
int config_load(const ConfigSource *src, Config **ret, char ***errors);

/* Normalized form; config_load() of it gives a config_equal() Config. */
int config_print(const Config *c, FILE *f);
bool config_equal(const Config *a, const Config *b);

bool policy_has_family(const PolicyConfig *p, int family);     /* any pool of that family */
/* The policy whose pool contains the address, or NULL. */
const PolicyConfig *config_policy_by_address(const Config *c, int family, const InAddrUnion *a);
const PolicyConfig *config_policy_by_table(const Config *c, uint32_t table_id);
const InAddrUnion *gateway_address(const GatewayConfig *g, int family);      /* NULL if none */
/* The policy's first gateway (by priority) with an address of that family, or NULL. */
const GatewayConfig *policy_gateway(const PolicyConfig *p, int family);

/* The main policy's (policies[0]): any pool of that family; the address of its first gateway (by priority)
 * that has one, or NULL. For code that knows one policy only. */
bool config_has_family(const Config *c, int family);
const InAddrUnion *config_gateway(const Config *c, int family);
