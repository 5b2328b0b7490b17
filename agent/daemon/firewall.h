/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Manager Manager;

/* Our nftables table (nft.c), kept in step with the configuration and the tunnels. */
int firewall_setup(Manager *m);
void firewall_disable(Manager *m);
void firewall_reverify(Manager *m);
bool firewall_pending(const Manager *m);
/* Applies the table if an input changed or someone touched it. Returns when to try again after a
 * failure (CLOCK_MONOTONIC), 0 when nothing waits. */
uint64_t firewall_sync(Manager *m);
json_t *firewall_status(Manager *m);
