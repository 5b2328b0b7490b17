/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* The routing protocol number every rule and route of ours carries (RTA_PROTOCOL / FRA_PROTOCOL), so we
 * can find, adopt and clean up our objects and never touch foreign ones. Why 211: the kernel and iproute2
 * reserve 0-4 (unspec, redirect, kernel, boot, static); iproute2's rt_protos lists gated 8, ra 9, mrt 10,
 * zebra 11, bird 12, dnrouted 13, xorp 14, ntk 15, dhcp 16, keepalived 18, babel 42, openr 99 and
 * bgp/isis/ospf/rip/eigrp 186-192; FRR uses 186-199 for its daemons; Calico uses 80. None uses 211. */
#define VPNPOLICY_PROTO 211
#define VPNPOLICY_PROTO_NAME "vpnpolicy"

/* Inside `ip netns exec NS`, /etc/netns/NS/iproute2 is bind-mounted over this. */
#define IPROUTE2_DIR_DEFAULT "/etc/iproute2"

/* The name of our file in rt_tables.d/ and rt_protos.d/. */
#define RT_FILES_OURS "vpnpolicy.conf"

/* One entry of an iproute2 name map ("ID NAME" lines) and where it was found. */
typedef struct RtNameEntry {
        uint32_t id;
        char *name;
        char *path;
        unsigned line;
} RtNameEntry;

RtNameEntry *rt_name_entry_free(RtNameEntry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(RtNameEntry *, rt_name_entry_free);

/* Looks through DIR/MAP and then DIR/MAP.d/\*.conf, MAP being "rt_tables" or "rt_protos", for the first
 * entry that gives ID another name (*ret_by_id) and the first that gives NAME another id (*ret_by_name);
 * either is NULL when there is none. Our own MAP.d/vpnpolicy.conf is skipped, and so are missing files and
 * lines iproute2 would not read. Returns 1 if a clash was found, 0 if not, -errno if a file is
 * unreadable. */
int rt_names_find_clash(const char *dir, const char *map, uint32_t id, const char *name,
                        RtNameEntry **ret_by_id, RtNameEntry **ret_by_name);

/* Writes DIR/rt_tables.d/vpnpolicy.conf and DIR/rt_protos.d/vpnpolicy.conf atomically, each only if its
 * content differs, creating the .d directories if needed. -EEXIST if an entry elsewhere clashes with ours
 * or our file there was not written by us. Returns 1 if a file was written, 0 if both were up to date. */
int rt_files_install(const char *dir, uint32_t table_id, const char *table_name, uint32_t proto_id,
                     const char *proto_name);

/* The table id in DIR/rt_tables.d/vpnpolicy.conf, if that file is ours and names one: 1 and *ret_id; 0
 * when there is none. */
int rt_files_our_table(const char *dir, uint32_t *ret_id);

/* Removes our two files; missing ones are fine. A file of that name that we did not write is left in
 * place and gives -EEXIST, after the other one was handled. */
int rt_files_remove(const char *dir);
