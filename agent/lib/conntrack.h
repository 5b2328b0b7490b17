/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "addr.h"

/* Connection tracking entries this host source-NATed (masquerade): after a switch of gateways, the flows
 * a pool had through the old one are dead (the old NAT box holds their state, and the address this host
 * masqueraded them to may be the old device's), but their entries would keep steering every further packet
 * into that translation until they time out (up to 5 days for an established TCP flow). Deleting them lets
 * the next packet of each flow create a fresh entry, masqueraded to the new device's address, so the
 * endpoints notice at once (a reset, a timeout) and reconnect. Via libnetfilter_conntrack (ctnetlink,
 * CAP_NET_ADMIN). */

/* Deletes the entries of the family whose original source lies in one of the prefixes and whose reply is
 * addressed to one of the NAT addresses (status SRC_NAT). Returns the number deleted, or -errno. */
int conntrack_flush_snat(int family, const Prefix *sources, size_t n_sources, const InAddrUnion *nat, size_t n_nat);
