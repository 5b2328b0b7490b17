/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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
/* iproute2 >= 6.7 ships its own maps here and lets IPROUTE2_DIR_DEFAULT override them. */
#define IPROUTE2_DIR_VENDOR "/usr/share/iproute2"

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

/* One line of a name map, read the way iproute2 reads it (fread_id_name() in lib/rt_names.c; checked
 * against iproute2 6.1): leading blanks skipped, a '#' there starts a comment; then a number (decimal, or
 * hex after "0x") and the name, which is everything up to the next white space, '#' included: "200 vpn#x"
 * names table 200 "vpn#x". The rest of the line is ignored. Returns 1 with *ret_id and *ret_name
 * (pointing into line, which is modified), 0 for a line that names nothing (a comment, a blank line, a
 * negative id), -EBADMSG for one iproute2 calls corrupt: it reads nothing after it in that file. */
int rt_name_line_parse(char *line, uint32_t *ret_id, char **ret_name);

/* Called for each entry in the order iproute2 reads them; a later entry for an id overrides an earlier
 * one. A negative return stops the walk and is returned. */
typedef int (*rt_name_cb_t)(const char *path, unsigned line, uint32_t id, const char *name, void *userdata);

/* The one reader of the name maps: DIR/MAP, then DIR/MAP.d/\*.conf in strcmp() order (iproute2 takes
 * readdir() order; sorted, what we report is stable), MAP being "rt_tables" or "rt_protos"; with
 * skip_ours, without our own MAP.d/vpnpolicy.conf. Missing files are fine; -errno if one is unreadable
 * or not a regular file (read_file_regular(): -EBADFD for a FIFO, device or socket, -EFBIG beyond 1 MiB). */
int rt_names_foreach(const char *dir, const char *map, bool skip_ours, rt_name_cb_t cb, void *userdata);

/* Looks through DIR/MAP and then DIR/MAP.d/\*.conf, MAP being "rt_tables" or "rt_protos", for the first
 * entry that gives ID another name (*ret_by_id) and the first that gives NAME another id (*ret_by_name);
 * either is NULL when there is none. Reads with rt_names_foreach(), without our own file. Returns 1 if a
 * clash was found, 0 if not, -errno if a file is unreadable. */
int rt_names_find_clash(const char *dir, const char *map, uint32_t id, const char *name,
                        RtNameEntry **ret_by_id, RtNameEntry **ret_by_name);

/* A table to name: one per policy. */
typedef struct RtTableName {
        uint32_t id;
        const char *name;
} RtTableName;

/* Writes DIR/rt_tables.d/vpnpolicy.conf (one line per table, in the order given) and
 * DIR/rt_protos.d/vpnpolicy.conf atomically, each only if its content differs, creating the .d
 * directories if needed. -EEXIST if an entry elsewhere clashes with one of ours or our file there was not
 * written by us. Returns 1 if a file was written, 0 if both were up to date. */
int rt_files_install(const char *dir, const RtTableName *tables, size_t n_tables, uint32_t proto_id,
                     const char *proto_name);

typedef struct Config Config;

/* rt_files_install() with the tables of every policy of c, in order, and our protocol. */
int rt_files_install_policies(const char *dir, const Config *c);

/* Calls cb for each table id in DIR/rt_tables.d/vpnpolicy.conf, if that file is ours. Returns how many
 * there were (0 when there is none), or -errno. */
int rt_files_our_tables(const char *dir, void (*cb)(uint32_t id, void *userdata), void *userdata);

/* Removes our two files; missing ones are fine. A file of that name that we did not write is left in
 * place and gives -EEXIST, after the other one was handled. */
int rt_files_remove(const char *dir);
