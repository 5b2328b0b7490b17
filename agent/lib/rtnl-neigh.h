/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* A neighbour (ARP or NDP) entry as the kernel reports it (neigh_fill_info() in net/core/neighbour.c): of
 * interest here only for the gateways, whose entry in state FAILED says the kernel itself got no answer. */
typedef struct NeighInfo {
        int ifindex;
        int family;
        InAddrUnion addr;       /* NDA_DST */
        uint16_t state;         /* NUD_* */
        uint8_t flags;          /* NTF_* */
} NeighInfo;

/* Parses RTM_NEWNEIGH/RTM_DELNEIGH of IPv4 and IPv6 entries (-EAFNOSUPPORT for bridge and other families). */
int neigh_from_netlink(const struct nlmsghdr *nlh, NeighInfo *ret);
/* "failed", "incomplete", "reachable", ... for logs and status. */
const char *neigh_state_to_string(uint16_t state);
/* The kernel got no answer: FAILED (its probes ran out) or INCOMPLETE (it is still asking). */
bool neigh_state_unresolved(uint16_t state);
