/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

typedef struct Manager Manager;

/* Plans what the dirty records need and sends it. Returns when something waits (retry backoff, restore
 * rate limit), CLOCK_MONOTONIC, 0 for nothing. */
uint64_t reconcile_run(Manager *m);
