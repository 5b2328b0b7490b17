/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A duration histogram with fixed buckets, 100 us .. 1 s, in the 1-2.5-5 steps Prometheus' client
 * libraries use: cheap to keep (an array walk per observation), and the buckets never change, so the
 * series of a fleet aggregate. Observations above the last bound count only in count and sum. */
#define HISTOGRAM_BUCKETS 13

typedef struct Histogram {
        uint64_t counts[HISTOGRAM_BUCKETS];     /* per bucket, not cumulative */
        uint64_t count;
        uint64_t sum_usec;
} Histogram;

/* The upper bounds (inclusive), microseconds. */
extern const uint64_t histogram_bounds_usec[HISTOGRAM_BUCKETS];

void histogram_observe(Histogram *h, uint64_t usec);
