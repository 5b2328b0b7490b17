/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The failover choice (agent/daemon/failover.c): the best usable gateway, preemption after the hold time,
 * the gateway adopted after a restart kept while probes decide, fail-closed with none. */
#include "failover.h"
#include "tests.h"

#define SEC 1000000ULL
#define HOLD (30 * SEC)

static FailoverCandidate up(uint64_t since) {
        return (FailoverCandidate) { .present = true, .probed = true, .state = HEALTH_UP, .link_ok = true,
                                     .device_exists = true, .usable_since = since };
}

static FailoverCandidate with(HealthState s) {
        FailoverCandidate c = up(0);

        c.state = s;
        return c;
}

static void test_best(void) {
        FailoverCandidate c[3] = { up(0), up(0), up(0) };
        FailoverChoice ch;

        ch = failover_choose(c, 3, -1, true, true, HOLD, 100 * SEC);
        ASSERT(ch.gateway == 0 && ch.usable && ch.why == FAILOVER_FIRST);
        c[0] = with(HEALTH_DOWN);
        ch = failover_choose(c, 3, 0, false, true, HOLD, 100 * SEC);
        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_FAILED);
        /* No address of the family, or no carrier: not a candidate. */
        c[1].present = false;
        c[2].link_ok = false;
        ch = failover_choose(c, 3, 0, false, true, HOLD, 100 * SEC);
        ASSERT(ch.gateway == -1 && ch.why == FAILOVER_NONE && !ch.usable);
}

static void test_preempt(void) {
        FailoverCandidate c[2] = { up(90 * SEC), up(0) };
        FailoverChoice ch;

        /* The primary came back at 90 s: the backup keeps the traffic until 120 s. */
        ch = failover_choose(c, 2, 1, false, true, HOLD, 100 * SEC);
        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_KEEP && ch.next_at == 120 * SEC);
        ch = failover_choose(c, 2, 1, false, true, HOLD, 120 * SEC);
        ASSERT(ch.gateway == 0 && ch.why == FAILOVER_PREEMPT);
        /* Preempt=no: the backup stays while it is healthy ... */
        ch = failover_choose(c, 2, 1, false, false, HOLD, 500 * SEC);
        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_KEEP && ch.next_at == 0);
        /* ... and when it fails, the primary takes over at once, hold or not. */
        c[1] = with(HEALTH_DOWN);
        c[0].usable_since = 499 * SEC;
        ch = failover_choose(c, 2, 1, false, false, HOLD, 500 * SEC);
        ASSERT(ch.gateway == 0 && ch.why == FAILOVER_FAILED);
        ch = failover_choose(c, 2, 1, false, true, HOLD, 500 * SEC);
        ASSERT(ch.gateway == 0 && ch.why == FAILOVER_FAILED);
        /* PreemptHoldSec=0: back at once. */
        c[1] = up(0);
        ch = failover_choose(c, 2, 1, false, true, 0, 499 * SEC);
        ASSERT(ch.gateway == 0 && ch.why == FAILOVER_PREEMPT);
}

static void test_preempt_middle(void) {
        /* The third carries; the second has been up long enough, the first not yet: the second now, the
         * first when its hold runs out. */
        FailoverCandidate c[3] = { up(95 * SEC), up(10 * SEC), up(0) };
        FailoverChoice ch = failover_choose(c, 3, 2, false, true, HOLD, 100 * SEC);

        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_PREEMPT);
        ch = failover_choose(c, 3, 1, false, true, HOLD, 100 * SEC);
        ASSERT(ch.gateway == 1 && ch.next_at == 125 * SEC);
}

static void test_restart(void) {
        /* After a restart everything is probing; the backup that the kernel's route names is kept. */
        FailoverCandidate c[2] = { with(HEALTH_PROBING), with(HEALTH_PROBING) };
        FailoverChoice ch = failover_choose(c, 2, 1, false, true, HOLD, 10 * SEC);

        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_PENDING && !ch.usable);
        /* The primary answers first: up since now, so the hold applies as to any comeback. */
        c[0] = up(10 * SEC);
        ch = failover_choose(c, 2, 1, false, true, HOLD, 10 * SEC);
        ASSERT(ch.gateway == 1 && ch.next_at == 40 * SEC);
        /* The backup turns out dead: the primary at once. */
        c[1] = with(HEALTH_DOWN);
        ch = failover_choose(c, 2, 1, false, true, HOLD, 12 * SEC);
        ASSERT(ch.gateway == 0 && ch.why == FAILOVER_FAILED);
        /* A held gateway whose device is down is not kept for its verdict. */
        c[1] = with(HEALTH_PROBING);
        c[1].link_ok = false;
        ch = failover_choose(c, 2, 1, false, true, HOLD, 12 * SEC);
        ASSERT(ch.gateway == 0);
}

static void test_fresh_start(void) {
        /* Nothing held: the backup answered first, but the primary's verdict is awaited. */
        FailoverCandidate c[2] = { with(HEALTH_PROBING), up(1 * SEC) };
        FailoverChoice ch = failover_choose(c, 2, -1, true, true, HOLD, 1 * SEC);

        ASSERT(ch.gateway == -1 && ch.why == FAILOVER_WAIT);
        /* Before any verdict: waiting, not "none usable". */
        c[1] = with(HEALTH_PROBING);
        ch = failover_choose(c, 2, -1, true, true, HOLD, 0);
        ASSERT(ch.gateway == -1 && ch.why == FAILOVER_WAIT);
        ch = failover_choose(c, 2, -1, false, true, HOLD, 0);
        ASSERT(ch.gateway == -1 && ch.why == FAILOVER_NONE);
        c[1] = up(1 * SEC);
        ch = failover_choose(c, 2, -1, true, true, HOLD, 1 * SEC);

        ASSERT(ch.gateway == -1 && ch.why == FAILOVER_WAIT);
        c[0] = up(1 * SEC);
        ch = failover_choose(c, 2, -1, true, true, HOLD, 1 * SEC);
        ASSERT(ch.gateway == 0 && ch.why == FAILOVER_FIRST);
        c[0] = with(HEALTH_DOWN);
        ch = failover_choose(c, 2, -1, true, true, HOLD, 3 * SEC);
        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_FIRST);
        /* Not fresh (a reload changed the gateway the route went by): no waiting, the backup now. */
        c[0] = with(HEALTH_PROBING);
        ch = failover_choose(c, 2, -1, false, true, HOLD, 3 * SEC);
        ASSERT(ch.gateway == 1 && ch.why == FAILOVER_FIRST);
}

static void test_unprobed(void) {
        /* A lone gateway with Probe=none: usable while its link is; without carrier it keeps the route as
         * before there were probes; with its Device= missing, the route is wanted but blocked. */
        FailoverCandidate c[1] = { { .present = true, .state = HEALTH_UNPROBED, .link_ok = true, .device_exists = true } };
        FailoverChoice ch = failover_choose(c, 1, -1, true, true, HOLD, 0);

        ASSERT(ch.gateway == 0 && ch.usable);
        c[0].link_ok = false;
        ch = failover_choose(c, 1, 0, false, true, HOLD, 0);
        ASSERT(ch.gateway == 0 && !ch.usable && !ch.blocked && ch.why == FAILOVER_STATIC);
        c[0].device_exists = false;
        ch = failover_choose(c, 1, 0, false, true, HOLD, 0);
        ASSERT(ch.gateway == 0 && ch.blocked && ch.why == FAILOVER_STATIC);
        /* Probed gateways never get the static fallback: with all of them down, fail-closed. */
        c[0] = with(HEALTH_DOWN);
        ch = failover_choose(c, 1, 0, false, true, HOLD, 0);
        ASSERT(ch.gateway == -1 && ch.why == FAILOVER_NONE);
        ASSERT(failover_why_to_string(FAILOVER_NONE) && !failover_why_to_string(_FAILOVER_WHY_MAX));
}

int main(void) {
        RUN(test_best);
        RUN(test_preempt);
        RUN(test_preempt_middle);
        RUN(test_restart);
        RUN(test_fresh_start);
        RUN(test_unprobed);
        TESTS_DONE();
}
