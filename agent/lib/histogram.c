/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "histogram.h"

const uint64_t histogram_bounds_usec[HISTOGRAM_BUCKETS] = {
        100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

void histogram_observe(Histogram *h, uint64_t usec) {
        for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++)
                if (usec <= histogram_bounds_usec[i]) {
                        h->counts[i]++;
                        break;
                }
        h->count++;
        h->sum_usec += usec;
}
