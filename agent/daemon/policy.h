/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failover.h"
#include "health.h"
#include "object.h"

/* Each policy's own objects: its source rules, its default routes (via the gateway failover.c chooses from
 * the health gateways.c keeps), its fail-closed routes, and its gateways' probe rules and routes. The sole
 * writer of the list below, which remembers exactly what was claimed so that a change gives up only what is
 * no longer wanted, and of each policy's failover state. */

typedef struct BaseWant {
        Object obj;
        ObjectRole role;
        uint8_t block;          /* BlockReason */
        int policy;             /* index in Config.policies */
        int gateway;            /* index in the policy's gateways, -1: none */
} BaseWant;

/* Which gateway carries a policy's traffic of one family, and how it came to. */
typedef struct PolicyFamily {
        int active;             /* the gateway the default route goes by, -1: none (fail-closed) */
        bool decided;           /* chosen at least once (else: adopt what the kernel's route says) */
        bool adopted;           /* the first choice kept the kernel's route of an earlier run */
        bool usable;            /* active and usable, not merely kept (pending verdict, static) */
        FailoverWhy why;
        uint64_t since;         /* CLOCK_REALTIME: active since */
        uint64_t switches;      /* changes of the active gateway, giving up the route included */
        int carrier;            /* the last gateway that carried traffic, -1: none yet */
        int carrier_oif;        /* ... and the device it left by */
        bool flush;             /* its masqueraded flows are to be flushed once the new route is in */
} PolicyFamily;

typedef struct PolicyState {
        char *name;
        PolicyFamily family[2]; /* IPv4, IPv6 */
} PolicyState;

typedef struct PolicyWants {
        BaseWant *wants;
        size_t n;
        uint64_t links_generation;      /* of the links the wants were derived from */
        PolicyState *states;    /* one per policy, by index, following the configuration */
        size_t n_states;
        uint64_t next_at;       /* CLOCK_MONOTONIC: decide again then (a preemption hold runs out); 0: no */
        uint64_t failovers;     /* switches of all policies and families */
        uint64_t conntrack_flushed;
} PolicyWants;

typedef struct Manager Manager;

/* Derives the base objects again when the configuration, the links or a gateway's verdict changed, or a hold
 * time ran out. Returns when to decide again (CLOCK_MONOTONIC), 0 when nothing waits. */
uint64_t policy_update(Manager *m);
/* Whether a hold time ran out: the pass has work. */
bool policy_due(const Manager *m, uint64_t now);
/* After the routes and the nftables table went to the kernel: the conntrack flushes of the switches
 * (Masquerade=yes). After the table, so that the next packet of a flushed flow is masqueraded on the new
 * device, not passed through untranslated by the old rule. */
void policy_after_reconcile(Manager *m);
void policy_done(PolicyWants *p);
/* ICMP redirects off on the devices the default routes leave by (cheap when done already). */
void policy_gateway_sysctls(Manager *m);
/* The device the policy's default route of this family leaves by now: configured, or the kernel's. */
int policy_gateway_ifindex(Manager *m, int policy, int family);
const PolicyFamily *policy_family(const Manager *m, size_t policy, int family);
