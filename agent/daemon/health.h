/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* The verdict on one gateway and family from its probes and the kernel's evidence, with the hysteresis of
 * vpnpolicy.conf(5): FailCount= lost probes in a row, or more than MaxLossPercent= of the last PROBE_WINDOW,
 * take it down; RiseCount= answered in a row bring it back, but only while no more than MaxLossPercent= of
 * the last PROBE_WINDOW are lost, so that a lossy gateway stays down. Losses in a run of FailCount= or more
 * are an outage, which the run itself judges: the share counts only the losses outside such runs, so that
 * a gateway back from an outage is not held down, or taken down again, by the outage. Pure: gateways.c
 * keeps one per gateway and family and feeds it. */

typedef enum HealthState {
        HEALTH_PROBING,         /* probes run, no verdict yet: after a start or a change of its probe */
        HEALTH_UP,
        HEALTH_DOWN,
        HEALTH_UNPROBED,        /* Probe=none: usable while its device is there and has carrier */
        _HEALTH_STATE_MAX,
        _HEALTH_STATE_INVALID = -EINVAL,
} HealthState;

const char *health_state_to_string(HealthState s);

typedef struct Health {
        HealthState state;
        unsigned fail_streak;   /* lost in a row */
        unsigned rise_streak;   /* answered in a row */
        uint16_t history;       /* bit i set when the i-th latest probe was lost */
        uint16_t outage;        /* ... and it was in a run of FailCount= or more losses */
        uint8_t history_len;    /* probes in it, up to PROBE_WINDOW */
        uint64_t rtt_last;      /* microseconds, of the latest answer */
        uint64_t rtt_avg;       /* smoothed (7/8 old, 1/8 new, as TCP's SRTT) */
        uint64_t sent, lost;    /* probes judged */
} Health;

#define HEALTH_REASON_MAX 160

/* A fresh verdict (probing, or unprobed for Probe=none). */
void health_init(Health *h, bool probed);
/* One probe judged: answered within its timeout (rtt in microseconds) or lost; an answer slower than
 * MaxRTTSec= counts as lost. Returns true when the state changed, and why in reason. */
bool health_probe(Health *h, const ProbeConfig *c, bool answered, uint64_t rtt, char reason[static HEALTH_REASON_MAX]);
/* The kernel says the gateway cannot be reached now (its device is gone or down, its neighbour entry
 * failed): down at once, whatever the probes said; it comes back through RiseCount= answers. */
bool health_evidence_down(Health *h, const char *why, char reason[static HEALTH_REASON_MAX]);
/* Of the probes in the history (up to PROBE_WINDOW), the share lost, 0..100. */
unsigned health_loss_percent(const Health *h);
/* The same share, 0 to 1, unrounded. */
double health_loss_ratio(const Health *h);
/* The latest probe judged was answered (its round trip is rtt_last). */
bool health_last_answered(const Health *h);
