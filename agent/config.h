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

typedef struct Config {
        char **files;                   /* every file read, in order: main file first, then drop-ins */

        /* [Table] */
        char *table_name;               /* default "vpn" */
        uint32_t table_id;              /* default 200 */
        uint32_t priority;              /* default 32765: before the main rule at 32766 */

        /* [Pool] */
        Prefix *pools;
        size_t n_pools;

        /* [Gateway] */
        bool has_gateway4, has_gateway6;
        InAddrUnion gateway4, gateway6;
        char gateway_device[IFNAMSIZ];  /* "" when unset */

        /* [Tunnels] */
        char **tunnel_match;            /* globs; default { "tun*" }; NULL after an empty Match= */
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

typedef struct ConfigSource {
        const char *path;               /* NULL: /etc/vpnpolicy/vpnpolicy.conf */
        const char *dropin_dir;         /* NULL: PATH + ".d" */
        const char *iproute2_dir;       /* NULL: /etc/iproute2; read for the rt_tables clash check */
} ConfigSource;

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Reads and verifies. On failure returns -EINVAL (or -errno for I/O) and appends one line per problem to
 * *errors, each "FILE:LINE: [Section] Key: reason" (FILE: [Section] Key: reason for problems with no line,
 * such as a missing required key). Never touches the kernel. */
int config_load(const ConfigSource *src, Config **ret, char ***errors);

/* Normalized form; config_load() of it gives a config_equal() Config. */
int config_print(const Config *c, FILE *f);
bool config_equal(const Config *a, const Config *b);

bool config_has_family(const Config *c, int family);    /* any pool of that family */
const InAddrUnion *config_gateway(const Config *c, int family); /* NULL if none */
