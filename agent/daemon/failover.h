/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"

/* Which gateway a policy's default route of one family goes by: the best usable one by priority, with the
 * preemption of vpnpolicy.conf(5) [Failover]. Pure: policy.c calls it with what gateways.c and the links
 * say. */

typedef struct FailoverCandidate {
        bool present;           /* has an address of the family */
        bool probed;            /* Probe=icmp */
        HealthState state;      /* its verdict (HEALTH_UNPROBED when not probed) */
        bool link_ok;           /* its Device= exists, is up and has carrier; true without Device= */
        bool device_exists;     /* its Device= exists; true without Device= */
        uint64_t usable_since;  /* CLOCK_MONOTONIC: since when it is usable (up, or its link ok) */
} FailoverCandidate;

typedef enum FailoverWhy {
        FAILOVER_KEEP,          /* the current one is usable and nothing better may take over */
        FAILOVER_PENDING,       /* the current one awaits its first verdict (after a restart): kept */
        FAILOVER_FIRST,         /* nothing carried the traffic: the best usable one */
        FAILOVER_FAILED,        /* the current one is not usable: the best usable one */
        FAILOVER_PREEMPT,       /* a better one has been usable for the hold time */
        FAILOVER_WAIT,          /* fresh, nothing carries the traffic, and a better one than the best usable
                                 * awaits its first verdict: none until it has one */
        FAILOVER_STATIC,        /* none is usable, but one is not probed: it keeps the route as before probes */
        FAILOVER_NONE,          /* none is usable: no default route, fail-closed holds */
        _FAILOVER_WHY_MAX,
} FailoverWhy;

const char *failover_why_to_string(FailoverWhy w);

typedef struct FailoverChoice {
        int gateway;            /* index into the candidates, -1: none */
        bool usable;            /* the chosen one is usable (not merely kept) */
        bool blocked;           /* FAILOVER_STATIC: its Device= does not exist, the route cannot be sent */
        FailoverWhy why;
        uint64_t next_at;       /* CLOCK_MONOTONIC: decide again then (a hold time runs out); 0: no need */
} FailoverChoice;

bool failover_usable(const FailoverCandidate *c);

/* c: the policy's gateways by priority (best first); current: the one the route goes by now, -1 for none;
 * fresh: nothing was decided before (a start without a route to adopt), so nothing is lost by waiting for
 * a better gateway's first verdict. */
FailoverChoice failover_choose(const FailoverCandidate *c, size_t n, int current, bool fresh, bool preempt,
                               uint64_t hold_usec, uint64_t now);
