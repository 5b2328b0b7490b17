/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#include "rtnl-addr.h"
#include "rtnl-link.h"

/* The links and addresses the kernel reports, as observed.c feeds them in. Only this file writes them;
 * what changed is flagged here for the pass to read (links_take_changed()). */

typedef struct Address {
        AddressInfo info;
        struct Address *next;
} Address;

typedef struct Link {
        LinkInfo info;
        Address *addresses;
        bool fresh;             /* created while we watched: no route via it can have been missed */
        bool routes_missed;     /* main-table routes via it were reported while they were not kept */
        bool changed;           /* name, kind, flags or addresses changed since the pass looked */
        bool confirm;           /* its routes are to be confirmed by a dump */
        bool synced;            /* reported by the full dump under way */
        UT_hash_handle hh;      /* by info.ifindex */
} Link;

typedef struct Links {
        Link *links;
        bool changed;           /* some link has changed set */
        uint64_t generation;    /* counts links appearing, going, renamed and up/down: what policies look at */
        uint64_t confirm_at;    /* CLOCK_MONOTONIC when the confirming dumps are due; 0: none */
} Links;

/* What links_update() found. */
typedef enum LinkChange {
        LINK_CREATED = 1 << 0,
        LINK_WENT_UP = 1 << 1,
        LINK_WENT_DOWN = 1 << 2,
        LINK_RENAMED = 1 << 3,
} LinkChange;

/* After a link or address change, the routes via the device are confirmed by a dump this much later, once
 * the kernel is done (it flushes IPv4 routes silently after announcing the change). */
#define LINKS_CONFIRM_DELAY_USEC (100U * 1000U)

void links_done(Links *ls);
Link *links_get(Links *ls, int ifindex);
Link *links_by_name(Links *ls, const char *name);

/* enumerating: during a full dump, when a new link is not "fresh". Returns LinkChange flags. */
unsigned links_update(Links *ls, const LinkInfo *info, bool enumerating, uint64_t now);
void links_remove(Links *ls, int ifindex);

/* Returns the link, or NULL when it is unknown. *ret_last4 tells whether an IPv4 delete removed the
 * link's last IPv4 address (the kernel then flushes every IPv4 route via it: fib_disable_ip()). */
Link *links_address(Links *ls, const AddressInfo *a, bool deleted, uint64_t now, bool *ret_last4);

bool link_has_address_in(const Link *l, int family);
void links_note_route_missed(Links *ls, Link *l);
/* The routes via the device are to be read again: after a delay (links_request_confirm: the kernel may
 * still be at work), or at once (links_request_routes: a device that just became ours). */
void links_request_confirm(Links *ls, Link *l, uint64_t now);
void links_request_routes(Links *ls, Link *l);

/* Hands each changed link to fn (may be NULL) once and clears its flag. */
void links_take_changed(Links *ls, void (*fn)(Link *l, void *userdata), void *userdata);
/* Hands each link whose confirming dump is due to fn and clears its flag. */
void links_take_confirm(Links *ls, void (*fn)(Link *l, void *userdata), void *userdata);

/* Mark and sweep around a full dump: links and addresses not reported again are removed (fn is told
 * first). */
void links_begin_sync(Links *ls);
void links_end_sync(Links *ls, void (*removed)(Link *l, void *userdata), void *userdata);
