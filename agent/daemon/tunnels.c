/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <utlist.h>

#include "desired.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "sysctl.h"

_printf_(3, 4) static void log_device(int level, const char *ifname, const char *format, ...) {
        char field[64], msg[256];
        va_list ap;

        snprintf(field, sizeof(field), "VPNPOLICY_DEVICE=%s", ifname);
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        log_fields(level, 0, FIELDS(field), "%s", msg);
}

static Link *link_get(Manager *m, int ifindex) {
        Link *l;

        HASH_FIND_INT(m->links, &ifindex, l);
        return l;
}

static bool link_should_be_managed(Manager *m, const Link *l) {
        Registration *reg;

        if (desired_link_matches(m->config, l->info.kind, l->info.name))
                return true;
        HASH_FIND_STR(m->registrations, l->info.name, reg);
        return reg && reg->ifindex == l->info.ifindex && desired_kind_is_tunnel(l->info.kind);
}

/* The kernel refuses routes via a device that is down (and flushes them when it goes down). */
static const char *link_blocked(const Link *l) {
        return l->info.flags & IFF_UP ? NULL : "the device is down";
}

static void want_tun_route(Manager *m, const Link *l, const AddressInfo *a, bool set) {
        Prefix subnet = address_subnet(a);
        bool has_peer = !addr_equal(a->family, &a->local, &a->peer);
        Object o;

        if (!desired_tun_route(m->config, l->info.ifindex, a->family, &subnet, has_peer, VPNPOLICY_PROTO, &o))
                return;
        if (set)
                want_set(m, &o, ROLE_TUN_ROUTE, link_blocked(l));
        else {
                ObjectKey key = object_key(&o);
                want_unset(m, &key);
        }
}

static void want_mirror(Manager *m, const Link *l, const MainRoute *r, bool set) {
        Object o;
        ObjectKey key;

        if (!desired_mirror_route(m->config, &r->obj, VPNPOLICY_PROTO, &o))
                return;
        if (set) {
                want_set(m, &o, ROLE_MIRROR_ROUTE, link_blocked(l));
                return;
        }
        key = object_key(&o);
        want_unset(m, &key);
}

static void link_wants(Manager *m, Link *l, bool set) {
        Address *a;
        MainRoute *r;

        DL_FOREACH(l->addresses, a)
                want_tun_route(m, l, &a->info, set);
        DL_FOREACH(l->routes, r)
                want_mirror(m, l, r, set);
}

static void main_route_free(Manager *m, Link *l, MainRoute *r) {
        HASH_DEL(m->mains, r);
        DL_DELETE(l->routes, r);
        free(r);
}

/* Forgets the main-table routes via the link (family AF_UNSPEC: all), with their mirrors. */
void tunnels_forget_routes(Manager *m, Link *l, int family) {
        MainRoute *r, *tmp;

        DL_FOREACH_SAFE(l->routes, r, tmp)
                if (family == AF_UNSPEC || r->obj.family == family) {
                        want_mirror(m, l, r, false);
                        main_route_free(m, l, r);
                }
}

static void link_set_managed(Manager *m, Link *l, bool managed) {
        l->managed = managed;
        m->firewall_dirty = true;
        if (managed) {
                /* We kept no main-table routes for an unmanaged device: ask the kernel for them, unless
                 * the device was just created and can have none yet. */
                l->resync4 = l->resync6 = !l->fresh;
                l->sysctl_done = false;
                link_wants(m, l, true);
                log_device(LOG_INFO, l->info.name, "Managing %s device %s.", l->info.kind, l->info.name);
                return;
        }
        link_wants(m, l, false);
        tunnels_forget_routes(m, l, AF_UNSPEC);
}

void tunnels_link_updated(Manager *m, Link *l, bool up_changed) {
        bool managed = link_should_be_managed(m, l);

        if (managed != l->managed)
                link_set_managed(m, l, managed);
        else if (managed && up_changed)
                link_wants(m, l, true);         /* blocked or not */
        if (l->managed && !l->sysctl_done && (l->info.flags & IFF_UP))
                l->sysctl_done = sysctl_link_setup(m, l) >= 0;
}

void tunnels_link_removed(Manager *m, Link *l) {
        Address *a, *tmp;
        Registration *reg;

        if (l->managed) {
                link_wants(m, l, false);
                m->firewall_dirty = true;
        }
        tunnels_forget_routes(m, l, AF_UNSPEC);
        DL_FOREACH_SAFE(l->addresses, a, tmp) {
                DL_DELETE(l->addresses, a);
                free(a);
        }
        HASH_FIND_STR(m->registrations, l->info.name, reg);
        if (reg && reg->ifindex == l->info.ifindex) {
                HASH_DEL(m->registrations, reg);
                free(reg->config);
                free(reg);
                (void) registrations_save(m);
        }
}

static Address *address_find(Link *l, const AddressInfo *a) {
        Address *i;

        DL_FOREACH(l->addresses, i)
                if (i->info.family == a->family && i->info.prefixlen == a->prefixlen &&
                    addr_equal(a->family, &i->info.local, &a->local) &&
                    addr_equal(a->family, &i->info.peer, &a->peer))
                        return i;
        return NULL;
}

void tunnels_address(Manager *m, const AddressInfo *a, bool deleted) {
        Link *l = link_get(m, a->ifindex);
        Address *i;

        if (!l)
                return;
        i = address_find(l, a);
        if (deleted) {
                if (!i)
                        return;
                if (l->managed)
                        want_tun_route(m, l, &i->info, false);
                DL_DELETE(l->addresses, i);
                free(i);
                return;
        }
        if (!i) {
                i = calloc(1, sizeof(Address));
                if (!i)
                        return;
                DL_APPEND(l->addresses, i);
        }
        i->info = *a;
        if (l->managed)
                want_tun_route(m, l, a, true);
}

void tunnels_main_route(Manager *m, const Object *o, bool deleted) {
        ObjectKey key = object_key(o);
        Link *l = o->oif > 0 ? link_get(m, o->oif) : NULL;
        MainRoute *r;

        HASH_FIND(hh, m->mains, &key, sizeof(key), r);
        if (r) {
                Link *owner = link_get(m, r->obj.oif);
                want_mirror(m, owner, r, false);
                main_route_free(m, owner, r);
        }
        if (deleted || !l || !l->managed)
                return;
        r = calloc(1, sizeof(MainRoute));
        if (!r)
                return;
        r->key = key;
        r->obj = *o;
        HASH_ADD(hh, m->mains, key, sizeof(r->key), r);
        DL_APPEND(l->routes, r);
        want_mirror(m, l, r, true);
}

/* After a reload: managed devices, tun routes and mirrors from scratch, keeping what is unchanged. */
void tunnels_rebuild(Manager *m) {
        want_begin_role(m, ROLE_TUN_ROUTE);
        want_begin_role(m, ROLE_MIRROR_ROUTE);
        for (Link *l = m->links; l; l = l->hh.next) {
                bool managed = link_should_be_managed(m, l);

                if (managed != l->managed)
                        link_set_managed(m, l, managed);
                else if (managed)
                        link_wants(m, l, true);
        }
        want_sweep_role(m, ROLE_TUN_ROUTE);
        want_sweep_role(m, ROLE_MIRROR_ROUTE);
}

/* ICMP redirects (seed 002): a router that forwards back out of the interface a packet came in on
 * tells the sender to go direct, and neighbours cache that. The kernel sends them when the device's
 * OR the "all" setting is on (IN_DEV_TX_REDIRECTS is IN_DEV_ORCONF in include/linux/inetdevice.h),
 * so "all" must be 0 too; devices that are not ours keep their own value. */
static int sysctl_redirects_off(const char *ifname) {
        char path[128];
        int r;

        r = sysctl_net_ensure("ipv4/conf/all/send_redirects", "0");
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "ipv4/conf/%s/send_redirects", ifname);
        return sysctl_net_ensure(path, "0");
}

int sysctl_link_setup(Manager *m, Link *l) {
        int r;

        if (m->config->send_redirects)
                return 0;
        r = sysctl_redirects_off(l->info.name);
        if (r < 0)
                return log_warning_errno(r, "Failed to turn off ICMP redirects on %s, ignoring: %m", l->info.name);
        if (r > 0)
                log_info("Turned off ICMP redirects on %s.", l->info.name);
        return 0;
}
