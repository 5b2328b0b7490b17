/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "failover.h"
#include "macro.h"

static const char *const failover_why_table[_FAILOVER_WHY_MAX] = {
        [FAILOVER_KEEP] = "kept",
        [FAILOVER_PENDING] = "kept while its probes decide",
        [FAILOVER_FIRST] = "the best usable gateway",
        [FAILOVER_FAILED] = "the previous gateway is not usable",
        [FAILOVER_PREEMPT] = "a better gateway has been up for the hold time",
        [FAILOVER_WAIT] = "waiting for the probes of a better gateway",
        [FAILOVER_STATIC] = "no usable gateway, keeping the unprobed one",
        [FAILOVER_NONE] = "no usable gateway",
};

const char *failover_why_to_string(FailoverWhy w) {
        return w < _FAILOVER_WHY_MAX ? failover_why_table[w] : NULL;
}

bool failover_usable(const FailoverCandidate *c) {
        return c->present && c->link_ok && (!c->probed || c->state == HEALTH_UP);
}

static bool verdict_pending(const FailoverCandidate *c) {
        return c->present && c->probed && c->state == HEALTH_PROBING && c->link_ok;
}

static uint64_t earliest(uint64_t a, uint64_t b) {
        return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

/* A better gateway than the current one that has been usable for the hold time takes over; until one has,
 * next_at says when to look again. */
static FailoverChoice preempt_or_keep(const FailoverCandidate *c, int current, FailoverWhy keep, bool preempt,
                                      uint64_t hold, uint64_t now) {
        FailoverChoice k = { .gateway = current, .usable = keep == FAILOVER_KEEP, .why = keep };

        for (int i = 0; preempt && i < current; i++) {
                uint64_t at;

                if (!failover_usable(&c[i]))
                        continue;
                at = c[i].usable_since + hold;
                if (now >= at)
                        return (FailoverChoice) { .gateway = i, .usable = true, .why = FAILOVER_PREEMPT };
                k.next_at = earliest(k.next_at, at);
        }
        return k;
}

/* Nothing usable: a gateway without probes keeps the route as it was before there were probes (its device
 * there, or else wanted and blocked until it appears). */
static FailoverChoice static_choice(const FailoverCandidate *c, size_t n) {
        int first = -1;

        for (size_t i = 0; i < n; i++) {
                if (!c[i].present || c[i].probed)
                        continue;
                if (c[i].device_exists)
                        return (FailoverChoice) { .gateway = (int) i, .why = FAILOVER_STATIC };
                if (first < 0)
                        first = (int) i;
        }
        if (first >= 0)
                return (FailoverChoice) { .gateway = first, .blocked = true, .why = FAILOVER_STATIC };
        return (FailoverChoice) { .gateway = -1, .why = FAILOVER_NONE };
}

FailoverChoice failover_choose(const FailoverCandidate *c, size_t n, int current, bool fresh, bool preempt,
                               uint64_t hold_usec, uint64_t now) {
        int best = -1;

        for (size_t i = 0; i < n && best < 0; i++)
                if (failover_usable(&c[i]))
                        best = (int) i;
        if (current >= (int) n)
                current = -1;
        if (current >= 0 && failover_usable(&c[current]))
                return preempt_or_keep(c, current, FAILOVER_KEEP, preempt, hold_usec, now);
        if (current >= 0 && verdict_pending(&c[current]))
                return preempt_or_keep(c, current, FAILOVER_PENDING, preempt, hold_usec, now);
        /* After a start, a better gateway gets its verdict before traffic goes by a worse one, which it would
         * otherwise only win back after the hold time; and fail-closed is no verdict. */
        for (int i = 0; fresh && current < 0 && i < (best < 0 ? (int) n : best); i++)
                if (verdict_pending(&c[i]))
                        return (FailoverChoice) { .gateway = -1, .why = FAILOVER_WAIT };
        if (best < 0)
                return static_choice(c, n);
        return (FailoverChoice) { .gateway = best, .usable = true, .why = current < 0 ? FAILOVER_FIRST : FAILOVER_FAILED };
}
