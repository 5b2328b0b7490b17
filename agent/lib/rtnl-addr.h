/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>
#include <stdint.h>

#include "addr.h"

typedef struct AddressInfo {
        int ifindex;
        int family;
        uint8_t prefixlen;
        uint8_t scope;
        uint32_t flags;         /* IFA_F_* */
        InAddrUnion local;      /* our address (IFA_LOCAL, or IFA_ADDRESS when there is no peer) */
        InAddrUnion peer;       /* IFA_ADDRESS: the peer on point-to-point links, else equal to local */
} AddressInfo;

/* Parses RTM_NEWADDR/RTM_DELADDR. */
int address_from_netlink(const struct nlmsghdr *nlh, AddressInfo *ret);
/* The connected subnet the kernel routes for this address (the peer's on point-to-point links). */
Prefix address_subnet(const AddressInfo *a);
