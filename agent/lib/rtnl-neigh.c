/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "rtnl-neigh.h"

static int neigh_attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;

        if (mnl_attr_type_valid(attr, NDA_MAX) < 0)
                return MNL_CB_OK;       /* newer than us: skip */
        tb[mnl_attr_get_type(attr)] = attr;
        return MNL_CB_OK;
}

int neigh_from_netlink(const struct nlmsghdr *nlh, NeighInfo *ret) {
        const struct nlattr *tb[NDA_MAX + 1] = {};
        const struct ndmsg *ndm;
        NeighInfo n = {};

        if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH)
                return -EBADMSG;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ndm))
                return -EBADMSG;
        ndm = mnl_nlmsg_get_payload(nlh);
        if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6)
                return -EAFNOSUPPORT;
        if (mnl_attr_parse(nlh, sizeof(*ndm), neigh_attr_cb, tb) < 0)
                return -EBADMSG;
        if (ndm->ndm_ifindex <= 0 || !tb[NDA_DST] ||
            mnl_attr_get_payload_len(tb[NDA_DST]) != family_addr_size(ndm->ndm_family))
                return -EBADMSG;

        n.ifindex = ndm->ndm_ifindex;
        n.family = ndm->ndm_family;
        memcpy(n.addr.bytes, mnl_attr_get_payload(tb[NDA_DST]), family_addr_size(n.family));
        n.state = ndm->ndm_state;
        n.flags = ndm->ndm_flags;
        *ret = n;
        return 0;
}

const char *neigh_state_to_string(uint16_t state) {
        static const struct {
                uint16_t state;
                const char *name;
        } names[] = {
                { NUD_INCOMPLETE, "incomplete" }, { NUD_REACHABLE, "reachable" }, { NUD_STALE, "stale" },
                { NUD_DELAY, "delay" },           { NUD_PROBE, "probe" },         { NUD_FAILED, "failed" },
                { NUD_NOARP, "noarp" },           { NUD_PERMANENT, "permanent" }, { NUD_NONE, "none" },
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (state == names[i].state)
                        return names[i].name;
        return "other";
}

bool neigh_state_unresolved(uint16_t state) {
        return state == NUD_FAILED || state == NUD_INCOMPLETE;
}
