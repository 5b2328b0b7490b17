/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#include "object.h"

/* Which links are pool tunnels, and what each one wants: its tun routes, its rules (traffic arriving from
 * it follows the policy whatever its source) and the copies of main-table routes via it. The sole writer
 * of the tunnel table.
 *
 * A link is a pool tunnel when its kind is a tunnel kind and either it matches [Tunnels] Match= and
 * carries an address inside one of the pools (an OpenVPN server's tun holds its pool's first address, in
 * subnet and net30 topology alike; a WireGuard server's device too), or root registered it through the
 * hook. An OpenVPN client tunnel or another VPN on the same host matches tun* but holds no pool address:
 * it is left alone. */

typedef struct Tunnel {
        int ifindex;
        char name[IFNAMSIZ];
        int policy;             /* the policy of its first pool address (index in Config.policies) */
        bool single_policy;     /* all its pool addresses are in that policy: it gets its rules */
        uint8_t rule_families;  /* bit 0 IPv4, bit 1 IPv6: the rules claimed, exactly as claimed (a reload may */
        int rule_policy;        /* change the policy's table or priority: the old ones are given up) */
        uint32_t rule_table, rule_priority;
        bool up;
        bool clashed;           /* a claim of it was refused: it tries again when another tunnel gives way */
        bool sysctl_pending;    /* came up: its sysctls are set after the pass's routes went out */
        UT_hash_handle hh;      /* by ifindex */
} Tunnel;

typedef struct Tunnels {
        Tunnel *by_ifindex;
        size_t n;
        uint64_t generation;    /* counts changes of the set, names and policies: the firewall follows it */
        bool released;          /* a tunnel gave up tun routes: the clashed ones claim again */
        bool sysctl_pending;    /* some tunnel's sysctls are still to be set */
} Tunnels;

typedef struct Manager Manager;
typedef struct Link Link;

Tunnel *tunnels_get(Manager *m, int ifindex);
void tunnels_done(Manager *m);
/* The sysctls of tunnels that came up, once the routes went out. */
void tunnels_sysctls(Manager *m);

/* Looks at the links that changed (every link after a reload or a registration), decides which are ours
 * and derives what they want. */
void tunnels_update(Manager *m);
/* After a reload: each tunnel's main-table routes are read again and their copies swept (they may
 * belong elsewhere now, or nowhere). */
void tunnels_reread_routes(Manager *m);
/* A main-table route via a device. */
void tunnels_main_route(Manager *m, const Object *o, bool deleted);
/* The kernel dropped the main-table routes of this family via the device without telling (IPv4 on link
 * down or when its last address went): their copies go too. */
void tunnels_forget_routes(Manager *m, int ifindex, int family);
/* Before the link goes from the links table. */
void tunnels_link_removed(Manager *m, Link *l);
/* Around a dump that reports every main-table route via the device again (or via every device, ifindex
 * 0): copies whose source was not reported go. */
void tunnels_begin_sweep(Manager *m, int ifindex);
void tunnels_end_sweep(Manager *m, int ifindex);
