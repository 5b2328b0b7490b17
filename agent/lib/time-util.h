/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL

static inline uint64_t now_clock(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000U;
}

/* Microseconds. */
static inline uint64_t now_monotonic(void) {
        return now_clock(CLOCK_MONOTONIC);
}

static inline uint64_t now_realtime(void) {
        return now_clock(CLOCK_REALTIME);
}
