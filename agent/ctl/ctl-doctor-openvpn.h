/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <net/if.h>

#include "ctl-doctor.h"

/* One OpenVPN server configuration as the doctor reads it (ctl-doctor-openvpn.c); the checks on its
 * data-channel offload are in ctl-doctor-openvpn-dco.c. */

typedef struct OvpnPrefix {
        Prefix prefix;
        char where[PATH_MAX + 16];      /* FILE:LINE */
        bool pushed;
} OvpnPrefix;

typedef struct Ovpn {
        const char *path;
        char dir[PATH_MAX];             /* relative paths start here: `cd`, else OpenVPN's cwd */
        char c2c[PATH_MAX + 16];        /* where client-to-client is, "" if not */
        char ccd[PATH_MAX];
        char up[PATH_MAX];
        char up_where[PATH_MAX + 16];
        char no_dco[PATH_MAX + 16];     /* where disable-dco is, "" if not */
        char dev[IFNAMSIZ];             /* dev: the device OpenVPN makes ("tun": the first free tunN) */
        int script_security;
        OvpnPrefix *routes;             /* route, route-ipv6, push "route ...", push "route-ipv6 ..." */
        size_t n_routes;
        OvpnPrefix *servers;            /* server, server-ipv6, ifconfig-pool (as its first address's /32) */
        size_t n_servers;
        OvpnPrefix *iroutes;            /* from the client-config-dir */
        size_t n_iroutes;
        char unreadable[PATH_MAX];      /* the file (main or included) that could not be read */
        char **skipped;                 /* client-config-dir files not read, "PATH: why" */
} Ovpn;

/* With data-channel offload each iroute is a kernel route via its client: two clients' overlapping
 * iroutes, or one inside the server's range, cannot all be. */
void check_iroute_overlaps(Doctor *d, const Ovpn *o);
/* The configuration does not disable DCO, but its device in the kernel is a plain tun. */
void check_dco_off(Doctor *d, const Ovpn *o);
