/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <utlist.h>

#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"
#include "rtnl-route.h"
#include "rtnl-rule.h"
#include "rtnl.h"

static Link *link_get(Manager *m, int ifindex) {
        Link *l;

        HASH_FIND_INT(m->links, &ifindex, l);
        return l;
}

Link *link_by_name(Manager *m, const char *name) {
        for (Link *l = m->links; l; l = l->hh.next)
                if (streq(l->info.name, name))
                        return l;
        return NULL;
}

const char *object_ifname(Manager *m, const Object *o) {
        Link *l = o->kind == OBJECT_ROUTE && o->oif > 0 ? link_get(m, o->oif) : NULL;

        return l ? l->info.name : NULL;
}

static void link_remove(Manager *m, int ifindex) {
        Link *l = link_get(m, ifindex);

        if (!l)
                return;
        tunnels_link_removed(m, l);
        HASH_DEL(m->links, l);
        free(l);
        /* The kernel removed every route via the device; for IPv4 it says nothing about it. */
        have_drop_oif(m, AF_UNSPEC, ifindex);
}

/* Forgets links, addresses and main-table routes, leaving the wants alone: a resync rebuilds them
 * and keeps the history of those that stay. */
static void links_clear(Manager *m) {
        Link *l, *tmp;
        MainRoute *r, *rtmp;
        Address *a, *atmp;

        HASH_ITER(hh, m->links, l, tmp) {
                DL_FOREACH_SAFE(l->routes, r, rtmp) {
                        HASH_DEL(m->mains, r);
                        free(r);
                }
                DL_FOREACH_SAFE(l->addresses, a, atmp)
                        free(a);
                HASH_DEL(m->links, l);
                free(l);
        }
}

static void link_update(Manager *m, const LinkInfo *info) {
        Link *l = link_get(m, info->ifindex);
        bool was_up;

        if (!l) {
                l = calloc(1, sizeof(Link));
                if (!l)
                        return;
                l->info.ifindex = info->ifindex;
                /* A device we learn of by its event was just made: it has no routes to dump yet. */
                l->fresh = !m->enumerating;
                HASH_ADD_INT(m->links, info.ifindex, l);
        }
        was_up = l->info.flags & IFF_UP;
        if (l->managed && !streq(l->info.name, info->name))
                m->firewall_dirty = true;       /* the tunnels set is by name */
        l->info = *info;
        /* Taking a device down flushes the IPv4 routes via it without a notification
         * (fib_disable_ip() in net/ipv4/fib_frontend.c): ask the kernel what is left. */
        if (was_up && !(info->flags & IFF_UP))
                l->resync4 = true;
        tunnels_link_updated(m, l, was_up != !!(info->flags & IFF_UP));
        l->fresh = false;
}

/* Both return whether the set changed. */
bool have_put(Manager *m, const Object *o) {
        ObjectKey key = object_key(o);
        Have *h;

        HASH_FIND(hh, m->have, &key, sizeof(key), h);
        if (h) {
                if (object_content_equal(&h->obj, o))
                        return false;
                h->obj = *o;
                return true;
        }
        h = calloc(1, sizeof(Have));
        if (!h) {
                m->need_resync = true;  /* we no longer know what the kernel holds */
                return false;
        }
        h->key = key;
        h->obj = *o;
        HASH_ADD(hh, m->have, key, sizeof(h->key), h);
        return true;
}

bool have_remove(Manager *m, const ObjectKey *key) {
        Have *h;

        HASH_FIND(hh, m->have, key, sizeof(*key), h);
        if (!h)
                return false;
        HASH_DEL(m->have, h);
        free(h);
        return true;
}

void have_drop_oif(Manager *m, int family, int ifindex) {
        Have *h, *tmp;

        HASH_ITER(hh, m->have, h, tmp)
                if (h->obj.kind == OBJECT_ROUTE && h->obj.oif == ifindex &&
                    (family == AF_UNSPEC || h->obj.family == family)) {
                        manager_mark_dirty(m, &h->key);
                        have_remove(m, &h->key);
                }
}

void have_clear(Manager *m) {
        Have *h, *tmp;

        HASH_ITER(hh, m->have, h, tmp) {
                HASH_DEL(m->have, h);
                free(h);
        }
}

static void handle_object(Manager *m, const Object *o, bool deleted) {
        ObjectKey key;

        if (o->protocol != VPNPOLICY_PROTO)
                return;
        key = object_key(o);
        if (deleted ? have_remove(m, &key) : have_put(m, o))
                manager_mark_dirty(m, &key);
}

static int handle_link(Manager *m, const struct nlmsghdr *nlh) {
        LinkInfo info;
        int r;

        r = link_from_netlink(nlh, &info);
        if (r < 0)
                return r;
        if (nlh->nlmsg_type == RTM_DELLINK)
                link_remove(m, info.ifindex);
        else
                link_update(m, &info);
        /* The gateway's device may have appeared or gone; failed adds may succeed now. */
        m->refresh_base = true;
        manager_mark_failing_dirty(m);
        return 0;
}

static int handle_address(Manager *m, const struct nlmsghdr *nlh) {
        bool deleted = nlh->nlmsg_type == RTM_DELADDR;
        AddressInfo a;
        Link *l;
        int r;

        r = address_from_netlink(nlh, &a);
        if (r < 0)
                return r;
        /* Removing an IPv4 address flushes routes using it, and all IPv4 routes via the device when it
         * was the last one, without notifications (fib_del_ifaddr() in net/ipv4/fib_frontend.c). */
        l = link_get(m, a.ifindex);
        if (l && deleted && a.family == AF_INET)
                l->resync4 = true;
        tunnels_address(m, &a, deleted);
        manager_mark_failing_dirty(m);
        return 0;
}

/* The device our default route leaves by gets the same ICMP redirect treatment as the tunnels. */
static void gateway_link_setup(Manager *m, const Object *o) {
        Link *l;

        if (o->prefix.prefixlen != 0 || !o->has_gateway || o->table != m->config->policies[0].table_id)
                return;
        m->firewall_dirty = true;       /* the leak guard lets pool traffic out by this device */
        l = link_get(m, o->oif);
        if (l && !l->sysctl_done)
                l->sysctl_done = sysctl_link_setup(m, l) >= 0;
}

static int handle_route(Manager *m, const struct nlmsghdr *nlh) {
        Object o;
        int r;

        r = route_from_netlink(nlh, &o);
        if (r < 0)
                return r;
        if (o.protocol != VPNPOLICY_PROTO) {
                if (o.table == RT_TABLE_MAIN)
                        tunnels_main_route(m, &o, nlh->nlmsg_type == RTM_DELROUTE);
                return 0;
        }
        handle_object(m, &o, nlh->nlmsg_type == RTM_DELROUTE);
        gateway_link_setup(m, &o);
        return 0;
}

static int handle_rule(Manager *m, const struct nlmsghdr *nlh) {
        Object o;
        int r;

        r = rule_from_netlink(nlh, &o);
        if (r < 0)
                return r;
        handle_object(m, &o, nlh->nlmsg_type == RTM_DELRULE);
        return 0;
}

static int state_apply(Manager *m, const struct nlmsghdr *nlh) {
        switch (nlh->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
                return handle_link(m, nlh);
        case RTM_NEWADDR:
        case RTM_DELADDR:
                return handle_address(m, nlh);
        case RTM_NEWROUTE:
        case RTM_DELROUTE:
                return handle_route(m, nlh);
        case RTM_NEWRULE:
        case RTM_DELRULE:
                return handle_rule(m, nlh);
        default:
                return 0;
        }
}

int state_handle_message(const struct nlmsghdr *nlh, void *userdata) {
        Manager *m = userdata;
        int r;

        r = state_apply(m, nlh);
        if (r < 0 && r != -EOPNOTSUPP && r != -EAFNOSUPPORT)
                log_debug_errno(r, "Ignoring netlink message of type %u: %m", nlh->nlmsg_type);
        manager_schedule_reconcile(m);
        return 0;
}

void state_handle_overrun(void *userdata) {
        Manager *m = userdata;

        m->counters.overruns++;
        if (!m->need_resync)
                log_warning("Netlink event socket overran (events lost), resyncing with the kernel.");
        m->need_resync = true;
        manager_schedule_reconcile(m);
}

static int dump_cb(const struct nlmsghdr *nlh, void *userdata) {
        return state_apply(userdata, nlh);
}

/* Routes via one device, ours and main-table ones, as the kernel holds them now: forget, dump. */
static int state_resync_oif(Manager *m, Link *l, int family) {
        Have *h, *tmp;
        int r;

        HASH_ITER(hh, m->have, h, tmp)
                if (h->obj.kind == OBJECT_ROUTE && h->obj.family == family && h->obj.oif == l->info.ifindex) {
                        manager_mark_dirty(m, &h->key);
                        have_remove(m, &h->key);
                }
        tunnels_forget_routes(m, l, family);
        r = rtnl_dump(m->rtnl, RTM_GETROUTE, family, l->info.ifindex, dump_cb, m);
        return r == -ENODEV ? 0 : r;
}

int state_resync_links(Manager *m) {
        for (Link *l = m->links, *next; l; l = next) {
                int r = 0;

                /* A dump may report the link gone; take the next one first. */
                next = l->hh.next;
                if (l->resync4) {
                        l->resync4 = false;
                        r = state_resync_oif(m, l, AF_INET);
                }
                if (r >= 0 && l->resync6) {
                        l->resync6 = false;
                        r = state_resync_oif(m, l, AF_INET6);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Everything from scratch: links, then our rules and routes of both families. */
int state_enumerate(Manager *m) {
        static const struct {
                uint16_t type;
                int family;
        } dumps[] = {
                { RTM_GETLINK, AF_UNSPEC }, { RTM_GETADDR, AF_INET },   { RTM_GETADDR, AF_INET6 },
                { RTM_GETRULE, AF_INET },   { RTM_GETRULE, AF_INET6 },  { RTM_GETROUTE, AF_INET },
                { RTM_GETROUTE, AF_INET6 },
        };
        int r;

        /* Everything is looked at after a full dump: no need to remember each object as it comes. */
        m->dirty_all = true;
        m->enumerating = true;
        links_clear(m);
        have_clear(m);
        for (size_t i = 0; i < ELEMENTSOF(dumps); i++) {
                r = rtnl_dump(m->rtnl, dumps[i].type, dumps[i].family, 0, dump_cb, m);
                if (r < 0) {
                        m->enumerating = false;
                        return r;
                }
        }
        m->enumerating = false;
        m->firewall_dirty = true;
        for (Link *l = m->links; l; l = l->hh.next)
                l->resync4 = l->resync6 = false;
        tunnels_rebuild(m);
        m->dirty_all = true;
        m->refresh_base = true;
        return 0;
}

void state_free(Manager *m) {
        Registration *reg, *tmp;

        links_clear(m);
        have_clear(m);
        HASH_ITER(hh, m->registrations, reg, tmp) {
                HASH_DEL(m->registrations, reg);
                free(reg->config);
                free(reg);
        }
}
