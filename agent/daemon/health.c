/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "macro.h"

#define WINDOW_MASK ((uint16_t) ((1U << PROBE_WINDOW) - 1))
_Static_assert(PROBE_WINDOW <= 16, "the window is a uint16_t");

static const char *const health_state_table[_HEALTH_STATE_MAX] = {
        [HEALTH_PROBING] = "probing",
        [HEALTH_UP] = "up",
        [HEALTH_DOWN] = "down",
        [HEALTH_UNPROBED] = "unprobed",
};

const char *health_state_to_string(HealthState s) {
        return s >= 0 && s < _HEALTH_STATE_MAX ? health_state_table[s] : NULL;
}

void health_init(Health *h, bool probed) {
        *h = (Health) { .state = probed ? HEALTH_PROBING : HEALTH_UNPROBED };
}

unsigned health_loss_percent(const Health *h) {
        if (h->history_len == 0)
                return 0;
        return (unsigned) __builtin_popcount(h->history) * 100U / h->history_len;
}

double health_loss_ratio(const Health *h) {
        if (h->history_len == 0)
                return 0;
        return (double) __builtin_popcount(h->history) / h->history_len;
}

bool health_last_answered(const Health *h) {
        return h->history_len > 0 && !(h->history & 1U) && h->rtt_last > 0;
}

static void health_set(Health *h, HealthState s) {
        h->state = s;
        if (s == HEALTH_UP)
                h->fail_streak = 0;
        else if (s == HEALTH_DOWN)
                h->rise_streak = 0;
}

/* The losses in the window that were not part of an outage. */
static unsigned health_sporadic_lost(const Health *h) {
        return (unsigned) __builtin_popcount(h->history & ~h->outage & WINDOW_MASK);
}

static bool health_loss_over(const Health *h, const ProbeConfig *c) {
        return health_sporadic_lost(h) * 100U > c->loss_max_percent * PROBE_WINDOW;
}

static void health_note(Health *h, const ProbeConfig *c, bool lost, uint64_t rtt, bool answered) {
        h->sent++;
        h->lost += lost;
        h->history = (uint16_t) ((h->history << 1 | lost) & WINDOW_MASK);
        h->outage = (uint16_t) ((h->outage << 1) & WINDOW_MASK);
        h->history_len = (uint8_t) MIN(h->history_len + 1, PROBE_WINDOW);
        if (answered) {
                h->rtt_last = rtt;
                h->rtt_avg = h->rtt_avg == 0 ? rtt : (7 * h->rtt_avg + rtt) / 8;
        }
        if (lost) {
                h->fail_streak++;
                h->rise_streak = 0;
                /* The run is an outage now: all of its losses in the window, the earlier ones too. */
                if (h->fail_streak >= c->fall)
                        h->outage |= (uint16_t) ((1U << MIN(h->fail_streak, (unsigned) PROBE_WINDOW)) - 1);
        } else {
                h->rise_streak++;
                h->fail_streak = 0;
        }
}

static bool health_lost_too_many(const Health *h, const ProbeConfig *c, char reason[static HEALTH_REASON_MAX]) {
        unsigned lost = health_sporadic_lost(h);

        if (h->fail_streak >= c->fall) {
                snprintf(reason, HEALTH_REASON_MAX, "%u probe%s lost%s in a row", h->fail_streak,
                         h->fail_streak == 1 ? "" : "s", c->rtt_max_usec > 0 ? " or slower than MaxRTTSec=" : "");
                return true;
        }
        if (health_loss_over(h, c)) {
                snprintf(reason, HEALTH_REASON_MAX, "%u of the last %u probes lost, more than MaxLossPercent=%u",
                         lost, PROBE_WINDOW, c->loss_max_percent);
                return true;
        }
        return false;
}

bool health_probe(Health *h, const ProbeConfig *c, bool answered, uint64_t rtt, char reason[static HEALTH_REASON_MAX]) {
        bool lost = !answered || (c->rtt_max_usec > 0 && rtt > c->rtt_max_usec);

        if (h->state == HEALTH_UNPROBED)
                return false;
        health_note(h, c, lost, rtt, answered);
        switch (h->state) {
        case HEALTH_PROBING:
                /* The first verdict: one answer is enough (nothing was down), FailCount= losses too. */
                if (!lost) {
                        snprintf(reason, HEALTH_REASON_MAX, "probe answered in %.1f ms", (double) rtt / 1000.0);
                        health_set(h, HEALTH_UP);
                        return true;
                }
                if (!health_lost_too_many(h, c, reason))
                        return false;
                health_set(h, HEALTH_DOWN);
                return true;
        case HEALTH_UP:
                if (!lost || !health_lost_too_many(h, c, reason))
                        return false;
                health_set(h, HEALTH_DOWN);
                return true;
        case HEALTH_DOWN:
                if (lost || h->rise_streak < c->rise || health_loss_over(h, c))
                        return false;
                snprintf(reason, HEALTH_REASON_MAX, "%u probe%s answered in a row", h->rise_streak,
                         h->rise_streak == 1 ? "" : "s");
                health_set(h, HEALTH_UP);
                return true;
        default:
                return false;
        }
}

bool health_evidence_down(Health *h, const char *why, char reason[static HEALTH_REASON_MAX]) {
        if (h->state == HEALTH_UNPROBED)
                return false;
        h->rise_streak = 0;
        if (h->state == HEALTH_DOWN)
                return false;
        snprintf(reason, HEALTH_REASON_MAX, "%s", why);
        health_set(h, HEALTH_DOWN);
        return true;
}
