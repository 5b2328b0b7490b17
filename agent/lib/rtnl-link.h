/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>
#include <net/if.h>
#include <stdbool.h>

typedef struct LinkInfo {
        int ifindex;
        char name[IFNAMSIZ];
        char kind[16];          /* IFLA_INFO_KIND: "tun", "veth", "ovpn-dco"; "" when none */
        unsigned flags;         /* IFF_UP, IFF_LOWER_UP, ... */
} LinkInfo;

/* Parses RTM_NEWLINK/RTM_DELLINK. */
int link_from_netlink(const struct nlmsghdr *nlh, LinkInfo *ret);
/* Up and with carrier: routes via it work. */
bool link_info_is_operational(const LinkInfo *l);
