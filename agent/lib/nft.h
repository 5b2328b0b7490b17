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
        int32_t priority;               /* of the forward chain (0: filter); the postrouting chain gets
                                         * priority + 100 (100: srcnat) */
} NftSpec;

typedef struct Nft Nft;

/* Called when our table (or part of it) changed behind our back: deleted, flushed, "nft flush ruleset",
 * elements added or removed by others; also when the event socket overflowed. At most once per burst
 * read from the socket; our own transactions never trigger it. */
typedef void (*nft_changed_handler_t)(void *userdata);

/* e == NULL: no event socket (one-shot tools, tests); on_changed is then never called. */
int nft_new(sd_event *e, nft_changed_handler_t on_changed, void *userdata, Nft **ret);
Nft *nft_free(Nft *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Nft *, nft_free);

/* Makes the kernel's table equal to spec: adopts a table that is already right (its counters kept);
 * builds or rebuilds it in one transaction when its structure differs or it is missing; otherwise only
 * updates set elements (pools, tunnels, gateway device). Returns 1 if it changed anything. Safe to call
 * again at any time (idempotent); retried internally when the ruleset changes while it reads it.
 * -EINVAL for a bad spec (a pool of another family, an empty or unterminated device name). */
int nft_apply(Nft *n, const NftSpec *spec);

/* Counters per pool and direction and the leak-guard drops, as JSON for status:
 * {"pools": [{"prefix": "10.10.10.0/24", "out_packets": N, "out_bytes": N, "in_packets": N,
 *   "in_bytes": N}], "leak_guard_drops": {"packets": N, "bytes": N}, "present": true}
 * The pools are those of the last nft_apply() (none before it). A counter missing from the kernel reads
 * 0; "present" says whether our table exists at all; "leak_guard_drops" is null without a leak guard. */
int nft_counters(Nft *n, json_t **ret);

/* Deletes our table (teardown). Returns 1 if it was there, 0 if it was absent already. */
int nft_remove(Nft *n);
/* Whether our table exists: 1 yes, 0 no. */
int nft_present(Nft *n);

/* The kernel's extended-ack text for the last failed transaction, or NULL; valid until the next call. */
const char *nft_last_error(const Nft *n);

/* For tests. The transaction that builds the table for spec (deleting the old one first if
 * delete_first): batch begin, NFT_MSG_* messages, batch end, sequence numbers from seq on. ret is
 * malloc'd. */
int nft_build_transaction(const NftSpec *spec, bool delete_first, uint32_t seq, void **ret, size_t *ret_size);

/* For tests and tools: whether an NFNLGRP_NFTABLES event is a change to our table made by a socket other
 * than own_portid. */
struct nlmsghdr;
bool nft_event_is_foreign_change(const struct nlmsghdr *nlh, uint32_t own_portid);
