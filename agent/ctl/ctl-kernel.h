/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "fib.h"
#include "macro.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"

/* The CLI's read-only view of the kernel (explain, doctor, teardown): one snapshot of links, addresses,
 * rules and routes of both families, dumped once per command. Rules and routes are parsed in full by
 * fib.c, which also decides what the kernel does with a packet (fib_walk(&k->fib, ...)). */

typedef struct Rtnl Rtnl;
typedef struct RtnlRouteQuery RtnlRouteQuery;

typedef struct RtName {
        uint32_t id;
        char name[64];
} RtName;

typedef struct CtlKernel {
        Rtnl *rtnl;
        LinkInfo *links;
        size_t n_links;
        AddressInfo *addresses;
        size_t n_addresses;
        Fib fib;                        /* rules and routes of both families, every table */
        RtName *tables, *protos;        /* iproute2's names */
        size_t n_tables, n_protos;
} CtlKernel;

/* Opens a request-only rtnetlink socket and takes the snapshot; names come from IPROUTE2_DIR's rt_tables
 * and rt_protos (and their .d directories). */
int ctl_kernel_open(const char *iproute2_dir, CtlKernel **ret);
CtlKernel *ctl_kernel_free(CtlKernel *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(CtlKernel *, ctl_kernel_free);

const LinkInfo *ctl_link_by_index(const CtlKernel *k, int ifindex);
const LinkInfo *ctl_link_by_name(const CtlKernel *k, const char *name);
/* A name to print: the device's, or "#N" for an index we did not see. */
const char *ctl_ifname(const CtlKernel *k, int ifindex, char buf[static IFNAMSIZ]);
/* An address of ours on ifindex in the same subnet as a (the address the neighbours there know us by). */
const AddressInfo *ctl_address_on_subnet(const CtlKernel *k, int ifindex, int family, const InAddrUnion *a);

#define RT_NAME_STRLEN 64
const char *ctl_table_name(const CtlKernel *k, uint32_t id, char buf[static RT_NAME_STRLEN]);
const char *ctl_proto_name(const CtlKernel *k, uint8_t id, char buf[static RT_NAME_STRLEN]);

/* The kernel's own lookup (rtnl_route_get()), parsed. */
int ctl_route_get(CtlKernel *k, const RtnlRouteQuery *q, FibRoute *ret);
/* The neighbour entry of a on ifindex: its NUD_* state, -ENOENT when there is none. */
int ctl_neigh_state(CtlKernel *k, int family, int ifindex, const InAddrUnion *a, uint16_t *ret);
const char *neigh_state_name(uint16_t state);

/* A process whose argv[0] has this basename and that runs in our network namespace (a daemon in another
 * namespace does not touch our links). Returns its pid, 0 if none. */
pid_t ctl_find_process(const char *name);
