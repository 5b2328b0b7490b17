/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <linux/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "links.h"
#include "macro.h"

static void link_free_addresses(Link *l) {
        while (l->addresses) {
                Address *a = l->addresses;
                l->addresses = a->next;
                free(a);
        }
}

void links_done(Links *ls) {
        Link *l, *tmp;

        HASH_ITER(hh, ls->links, l, tmp) {
                HASH_DEL(ls->links, l);
                link_free_addresses(l);
                free(l);
        }
        *ls = (Links) {};
}

Link *links_get(Links *ls, int ifindex) {
        Link *l;

        HASH_FIND_INT(ls->links, &ifindex, l);
        return l;
}

Link *links_by_name(Links *ls, const char *name) {
        for (Link *l = ls->links; l; l = l->hh.next)
                if (streq(l->info.name, name))
                        return l;
        return NULL;
}

static void link_changed(Links *ls, Link *l) {
        l->changed = true;
        ls->changed = true;
}

void links_request_confirm(Links *ls, Link *l, uint64_t now) {
        l->confirm = true;
        /* Every further change pushes the dump back: a flapping device is read once it settles. */
        ls->confirm_at = now + LINKS_CONFIRM_DELAY_USEC;
}

void links_request_routes(Links *ls, Link *l) {
        l->confirm = true;
        ls->confirm_at = 1;     /* due now */
}

unsigned links_update(Links *ls, const LinkInfo *info, bool enumerating, uint64_t now) {
        Link *l = links_get(ls, info->ifindex);
        unsigned change = 0;
        bool was_up;

        if (!l) {
                l = calloc(1, sizeof(Link));
                if (!l)
                        return 0;
                l->info.ifindex = info->ifindex;
                l->fresh = !enumerating;
                HASH_ADD_INT(ls->links, info.ifindex, l);
                change |= LINK_CREATED;
        }
        l->synced = true;
        was_up = l->info.flags & IFF_UP;
        if (!(change & LINK_CREATED)) {
                /* A new link has no routes to confirm: what it has is reported with it. */
                if (!streq(l->info.name, info->name))
                        change |= LINK_RENAMED;
                if (!was_up && (info->flags & IFF_UP))
                        change |= LINK_WENT_UP;
                if (was_up && !(info->flags & IFF_UP))
                        change |= LINK_WENT_DOWN;
        }
        if (change || l->info.flags != info->flags || !streq(l->info.kind, info->kind))
                link_changed(ls, l);
        if (change || (l->info.flags ^ info->flags) & (IFF_UP | IFF_LOWER_UP))
                ls->generation++;
        /* Down is when the kernel flushes routes without telling (up adds none that it does not announce). */
        if (change & LINK_WENT_DOWN)
                links_request_confirm(ls, l, now);
        l->info = *info;
        return change;
}

void links_remove(Links *ls, int ifindex) {
        Link *l = links_get(ls, ifindex);

        if (!l)
                return;
        ls->changed = true;     /* what follows a device by name (a gateway's Device=) looks again */
        HASH_DEL(ls->links, l);
        link_free_addresses(l);
        free(l);
        ls->generation++;
}

static Address *address_find(Link *l, const AddressInfo *a, Address ***ret_prev) {
        for (Address **p = &l->addresses; *p; p = &(*p)->next) {
                const AddressInfo *i = &(*p)->info;

                if (i->family == a->family && i->prefixlen == a->prefixlen &&
                    addr_equal(a->family, &i->local, &a->local) && addr_equal(a->family, &i->peer, &a->peer)) {
                        if (ret_prev)
                                *ret_prev = p;
                        return *p;
                }
        }
        return NULL;
}

bool link_has_address_in(const Link *l, int family) {
        for (const Address *a = l->addresses; a; a = a->next)
                if (a->info.family == family)
                        return true;
        return false;
}

static void address_delete(Links *ls, Link *l, const AddressInfo *a, uint64_t now, bool *ret_last4) {
        Address **prev, *i = address_find(l, a, &prev);

        if (!i)
                return;
        *prev = i->next;
        free(i);
        link_changed(ls, l);
        /* Removing an IPv4 address flushes routes using it as source, and every IPv4 route via the device
         * when it was the last one, without notifications (fib_del_ifaddr() and fib_disable_ip() in
         * net/ipv4/fib_frontend.c): the routes via it are confirmed by a dump. */
        if (a->family == AF_INET) {
                *ret_last4 = !link_has_address_in(l, AF_INET);
                links_request_confirm(ls, l, now);
        }
}

Link *links_address(Links *ls, const AddressInfo *a, bool deleted, uint64_t now, bool *ret_last4) {
        Link *l = links_get(ls, a->ifindex);
        Address *i;

        *ret_last4 = false;
        if (!l)
                return NULL;
        if (deleted) {
                address_delete(ls, l, a, now, ret_last4);
                return l;
        }
        i = address_find(l, a, NULL);
        if (!i) {
                i = calloc(1, sizeof(Address));
                if (!i)
                        return l;
                i->next = l->addresses;
                l->addresses = i;
                link_changed(ls, l);
        } else if (memcmp(&i->info, a, sizeof(*a)) != 0)
                link_changed(ls, l);
        i->info = *a;
        i->info.scope = a->scope;
        return l;
}

void links_note_route_missed(Links *ls, Link *l) {
        l->routes_missed = true;
}

void links_take_changed(Links *ls, void (*fn)(Link *l, void *userdata), void *userdata) {
        if (!ls->changed)
                return;
        ls->changed = false;
        for (Link *l = ls->links; l; l = l->hh.next)
                if (l->changed) {
                        l->changed = false;
                        if (fn)
                                fn(l, userdata);
                }
}

void links_take_confirm(Links *ls, void (*fn)(Link *l, void *userdata), void *userdata) {
        ls->confirm_at = 0;
        for (Link *l = ls->links, *next; l; l = next) {
                next = l->hh.next;
                if (l->confirm) {
                        l->confirm = false;
                        fn(l, userdata);
                }
        }
}

void links_begin_sync(Links *ls) {
        for (Link *l = ls->links; l; l = l->hh.next) {
                l->synced = false;
                link_free_addresses(l);         /* the dump reports every address again */
                link_changed(ls, l);
        }
}

void links_end_sync(Links *ls, void (*removed)(Link *l, void *userdata), void *userdata) {
        Link *l, *tmp;

        HASH_ITER(hh, ls->links, l, tmp)
                if (!l->synced) {
                        removed(l, userdata);
                        links_remove(ls, l->info.ifindex);
                }
}
