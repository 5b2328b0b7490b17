/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "addr.h"
#include "macro.h"

/* The only code that touches nfnetlink. We own exactly one table, "inet vpnpolicy", and never read or
 * change anyone else's. Changes go in nftables transactions (batches), all or nothing, every ack checked. */

#define NFT_TABLE_NAME "vpnpolicy"

/* What the table must hold. */
typedef struct NftSpec {
        const Prefix *pools;
        size_t n_pools;
        char (*tunnels)[IFNAMSIZ];      /* managed devices, by name */
        size_t n_tunnels;
        char gateway_device[IFNAMSIZ];  /* "" while unknown: then the leak guard drops all pool traffic
                                         * leaving by anything but a tunnel */
        bool leak_guard;
        bool masquerade;
        int32_t priority;               /* of the base chains; default 0 (filter) and 100 (srcnat) */
} NftSpec;

typedef struct Nft Nft;

/* Called when our table (or part of it) changed behind our back: deleted, flushed, "nft flush ruleset". */
typedef void (*nft_changed_handler_t)(void *userdata);

int nft_new(sd_event *e, nft_changed_handler_t on_changed, void *userdata, Nft **ret);
Nft *nft_free(Nft *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Nft *, nft_free);

/* Makes the kernel's table equal to spec: adopts a table that is already right (its counters kept);
 * builds or rebuilds it in one transaction when its structure differs or it is missing; otherwise only
 * updates set elements (pools, tunnels, gateway device). Returns 1 if it changed anything. */
int nft_apply(Nft *n, const NftSpec *spec);

/* Counters per pool and direction and the leak-guard drops, as JSON for status:
 * {"pools": [{"prefix": "10.10.10.0/24", "out_packets": N, "out_bytes": N, "in_packets": N,
 *   "in_bytes": N}], "leak_guard_drops": {"packets": N, "bytes": N}, "present": true} */
int nft_counters(Nft *n, json_t **ret);

/* Deletes our table (teardown); absent is fine. */
int nft_remove(Nft *n);
