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

/* The table, for each policy P (by name; '/' is never in a policy or gateway name):
 *   counters     P/pool-PREFIX-out, P/pool-PREFIX-in  each pool's forwarded traffic, both ways
 *                P/gw-NAME       what P's pools sent by way of gateway NAME (the route's next hop)
 *                P/leak-drops    what P's guards dropped
 *   sets         P/pools4, P/pools6, P/tunnels, P/gateways (devices); pools4, pools6: every policy's pools
 *   forward      ip saddr PREFIX counter ... (each pool, both ways), then the guards
 *                  ip saddr @P/pools4 oifname != @P/tunnels oifname != @P/gateways counter drop
 *                  iifname @P/tunnels ip saddr != @pools4 oifname != @P/tunnels oifname != @P/gateways
 *                      counter drop
 *                and ip6 likewise, then ip saddr @P/pools4 rt ip nexthop GW counter (each gateway)
 *   postrouting  ip saddr @P/pools4 oifname @P/gateways masquerade ([Firewall] Masquerade=yes) */

/* A gateway of a policy. Its counter counts the policy's pool traffic whose route leads to one of its
 * addresses (the next hop), so two gateways on one device are told apart. */
typedef struct NftGateway {
        const char *name;               /* unique in its policy: letters, digits, '_', '.', '-' (rt_name_valid()) */
        bool has_ipv4, has_ipv6;
        InAddrUnion ipv4, ipv6;
} NftGateway;

/* One policy's part of the table: its pools may leave only by its tunnels and its gateways' devices,
 * and so may whatever arrives from its tunnels (a client's LAN behind an iroute). */
typedef struct NftPolicy {
        const char *name;               /* names its sets and counters; rt_name_valid(), unique */
        const Prefix *pools;
        size_t n_pools;
        const NftGateway *gateways;
        size_t n_gateways;
        char (*devices)[IFNAMSIZ];      /* the gateways' devices; none known: its pools leave by tunnels only */
        size_t n_devices;
        char (*tunnels)[IFNAMSIZ];      /* the managed devices serving it, by name */
        size_t n_tunnels;
} NftPolicy;

/* What the table must hold. */
typedef struct NftSpec {
        const NftPolicy *policies;
        size_t n_policies;
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
 * updates set elements (pools' intervals, tunnels, gateway devices). The structure follows the policies'
 * names, pools and gateways; tunnels and devices are elements only. Returns 1 if it changed anything.
 * Safe to call again at any time (idempotent); retried internally when the ruleset changes while it reads
 * it. -EINVAL for a bad spec (a pool of another family, an empty or unterminated device name, a policy or
 * gateway name that is invalid or used twice). */
int nft_apply(Nft *n, const NftSpec *spec);
/* The same, trusting that the table is still as the last apply left it (no foreign change was announced
 * since): only the sets whose elements differ are sent, flushed and filled in one transaction, with no
 * read of the kernel; nothing at all when none differs. A changed layout, or a refused transaction, takes
 * nft_apply()'s full way. */
int nft_apply_delta(Nft *n, const NftSpec *spec);

/* The counters, as JSON for status:
 * {"present": true,
 *  "pools": [{"policy": "vpn", "prefix": "10.10.10.0/24", "out_packets": N, "out_bytes": N,
 *             "in_packets": N, "in_bytes": N}],
 *  "leak_guard_drops": {"packets": N, "bytes": N},
 *  "policies": [{"name": "vpn", "gateway_devices": ["eth1"], "leak_guard_drops": {"packets": N, "bytes": N},
 *                "gateways": [{"name": "gateway", "out_packets": N, "out_bytes": N}]}]}
 * The policies and pools are those of the last nft_apply() (none before it); the top "leak_guard_drops"
 * is the sum over the policies. A counter missing from the kernel reads 0; "present" says whether our
 * table exists at all; "leak_guard_drops" is null without a leak guard. */
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
