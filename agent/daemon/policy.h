/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "object.h"

/* Each policy's own objects: its source rules, its default routes (via the chosen gateway) and its
 * fail-closed routes. The sole writer of the list below, which remembers exactly what was claimed so
 * that a change gives up only what is no longer wanted. */

typedef struct BaseWant {
        Object obj;
        ObjectRole role;
        uint8_t block;          /* BlockReason */
        int policy;             /* index in Config.policies */
        int gateway;            /* index in the policy's gateways, -1: none */
} BaseWant;

typedef struct PolicyWants {
        BaseWant *wants;
        size_t n;
        uint64_t links_generation;      /* of the links the wants were derived from */
} PolicyWants;

typedef struct Manager Manager;

/* Derives the base objects again when the configuration or the links changed. */
void policy_update(Manager *m);
void policy_done(PolicyWants *p);
/* ICMP redirects off on the devices the default routes leave by (cheap when done already). */
void policy_gateway_sysctls(Manager *m);
/* The device the policy's default route of this family leaves by now: configured, or the kernel's. */
int policy_gateway_ifindex(Manager *m, int policy, int family);
