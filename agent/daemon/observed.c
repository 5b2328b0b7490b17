/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The inputs: netlink events and dumps into the links table (links.c), what the kernel holds of ours
 * into the records (records.c), main-table routes via tunnels into their copies (tunnels.c). The agent
 * never believes itself over the kernel: what the kernel does without telling is inferred where its
 * rules are known (IPv4 routes flushed silently on link down and when the last IPv4 address goes), and
 * confirmed by a dump of the device once it settled; and our own objects are re-read at a bounded rate
 * (observed_verify()). */
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "desired.h"
#include "log.h"
#include "manager.h"
#include "observed.h"
#include "plan.h"
#include "rt-files.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"
#include "rtnl-neigh.h"
#include "rtnl-route.h"
#include "rtnl-rule.h"
#include "rtnl.h"
#include "tunnels.h"

static const int families[] = { AF_INET, AF_INET6 };

/* The probe tables' range is ours by definition: no policy may use it (config.c). */
static bool object_is_ours(Manager *m, const Object *o) {
        return o->protocol == VPNPOLICY_PROTO &&
               (records_table_is_ours(&m->records, o->table) || desired_table_is_probe(o->table));
}

/* Every route of the family via the device is gone from the kernel (or of every family): flushed with
 * the device or its address, not deleted by anyone. */
static void routes_gone_via(Manager *m, int ifindex, int family) {
        Record *r, *next;

        for (r = records_oif_first(&m->records, ifindex); r; r = next) {
                next = r->oif_next;
                if (family == AF_UNSPEC || r->key.family == family)
                        records_flushed_record(&m->records, r);
        }
        tunnels_forget_routes(m, ifindex, family);
}

static void link_gone(Manager *m, int ifindex) {
        Link *l = links_get(&m->links, ifindex);

        if (!l)
                return;
        tunnels_link_removed(m, l);
        /* The kernel removed every route via the device; for IPv4 it says nothing about it. */
        routes_gone_via(m, ifindex, AF_UNSPEC);
        links_remove(&m->links, ifindex);
}

static void link_removed_cb(Link *l, void *userdata) {
        Manager *m = userdata;
        int ifindex = l->info.ifindex;

        tunnels_link_removed(m, l);
        routes_gone_via(m, ifindex, AF_UNSPEC);
}

static int handle_link(Manager *m, const struct nlmsghdr *nlh) {
        LinkInfo info;
        unsigned change;
        int r;

        r = link_from_netlink(nlh, &info);
        if (r < 0)
                return r;
        if (nlh->nlmsg_type == RTM_DELLINK) {
                link_gone(m, info.ifindex);
                return 0;
        }
        change = links_update(&m->links, &info, m->enumerating, now_monotonic());
        /* Taking a device down flushes the IPv4 routes via it without a notification, after this very
         * event (dev_close_many() sends RTM_NEWLINK before the NETDEV_DOWN notifiers run fib_disable_ip()
         * in net/ipv4/fib_frontend.c). */
        if (change & LINK_WENT_DOWN)
                routes_gone_via(m, info.ifindex, AF_INET);
        /* A device appeared or came up: failed adds may succeed now. */
        if (change & (LINK_CREATED | LINK_WENT_UP | LINK_RENAMED))
                plan_retry_failing(&m->records);
        return 0;
}

static int handle_address(Manager *m, const struct nlmsghdr *nlh) {
        bool deleted = nlh->nlmsg_type == RTM_DELADDR, last4;
        AddressInfo a;
        int r;

        r = address_from_netlink(nlh, &a);
        if (r < 0)
                return r;
        (void) links_address(&m->links, &a, deleted, now_monotonic(), &last4);
        /* The last IPv4 address gone: every IPv4 route via the device goes with it, silently
         * (fib_inetaddr_event() calls fib_disable_ip() when the device has no address left). */
        if (last4)
                routes_gone_via(m, a.ifindex, AF_INET);
        if (!deleted)
                plan_retry_failing(&m->records);
        return 0;
}

/* The kernel removes (and announces, for IPv6) the routes via a device that goes down or loses its last
 * address of the family: such a removal is a flush, nobody's deletion. */
static bool route_flushed(Manager *m, const Object *o) {
        Link *l = o->oif > 0 ? links_get(&m->links, o->oif) : NULL;

        return l && (!(l->info.flags & IFF_UP) || !link_has_address_in(l, o->family));
}

static void route_deleted(Manager *m, const Object *o) {
        ObjectKey key = object_key(o);
        Record *r = records_get(&m->records, &key);

        if (!r)
                return;
        if (route_flushed(m, o))
                records_flushed_record(&m->records, r);
        else
                records_gone_record(&m->records, r);
}

static int handle_route(Manager *m, const struct nlmsghdr *nlh) {
        bool deleted = nlh->nlmsg_type == RTM_DELROUTE;
        Object o;
        int r;

        r = route_from_netlink(nlh, &o);
        if (r < 0)
                return r;
        if (object_is_ours(m, &o)) {
                if (deleted)
                        route_deleted(m, &o);
                else
                        records_held(&m->records, &o);
        } else if (o.table == RT_TABLE_MAIN && o.protocol != VPNPOLICY_PROTO)
                tunnels_main_route(m, &o, deleted);
        return 0;
}

static int handle_rule(Manager *m, const struct nlmsghdr *nlh) {
        Object o;
        int r;

        r = rule_from_netlink(nlh, &o);
        if (r < 0)
                return r;
        if (!object_is_ours(m, &o))
                return 0;
        if (nlh->nlmsg_type == RTM_DELRULE) {
                ObjectKey key = object_key(&o);
                records_gone(&m->records, &key);
        } else
                records_held(&m->records, &o);
        return 0;
}

static int handle_neigh(Manager *m, const struct nlmsghdr *nlh) {
        NeighInfo n;
        int r = neigh_from_netlink(nlh, &n);

        if (r < 0)
                return r;
        gateways_neighbour(m, &n, nlh->nlmsg_type == RTM_DELNEIGH);
        return 0;
}

static int observed_apply(Manager *m, const struct nlmsghdr *nlh) {
        switch (nlh->nlmsg_type) {
        case RTM_NEWNEIGH:
        case RTM_DELNEIGH:
                return handle_neigh(m, nlh);
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

/* What the kernel announces of our own requests (the message carries our request socket's port id:
 * rtmsg_fib() in net/ipv4/fib_semantics.c, inet6_rt_notify() and notify_rule_change() put the requester's) is what their acks already said: skipped,
 * which halves the work of a large batch. Routes to "default" excepted: for those we may have left the
 * device to the kernel, and the announcement says which it chose. */
static bool own_echo(Manager *m, const struct nlmsghdr *nlh) {
        const struct rtmsg *rtm;

        if (nlh->nlmsg_pid == 0 || nlh->nlmsg_pid != rtnl_requests_portid(m->rtnl))
                return false;
        if (nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE)
                return true;
        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
                return false;
        rtm = NLMSG_DATA(nlh);
        return rtm->rtm_dst_len != 0;
}

int observed_handle_event(const struct nlmsghdr *nlh, void *userdata) {
        if (own_echo(userdata, nlh))
                return 0;
        return observed_handle_message(nlh, userdata);
}

int observed_handle_message(const struct nlmsghdr *nlh, void *userdata) {
        int r = observed_apply(userdata, nlh);

        if (r < 0 && r != -EOPNOTSUPP && r != -EAFNOSUPPORT)
                log_debug_errno(r, "Ignoring netlink message of type %u: %m", nlh->nlmsg_type);
        return 0;
}

void observed_handle_overrun(void *userdata) {
        Manager *m = userdata;

        m->counters.overruns++;
        if (!m->need_resync)
                log_warning("Netlink event socket overran (events lost), resyncing with the kernel.");
        m->need_resync = true;
}

static int dump_cb(const struct nlmsghdr *nlh, void *userdata) {
        (void) observed_handle_message(nlh, userdata);
        return 0;
}

static int dump(Manager *m, uint16_t type, int family, int oif, uint32_t table) {
        RtnlDumpFilter f = { .type = type, .family = family, .oif = oif, .table = table };
        int r = rtnl_dump_filtered(m->rtnl, &f, dump_cb, m);

        return r == -ENODEV ? 0 : r;
}

/* ---- verification: mark, dump, read what happened meanwhile, sweep ---- */

typedef bool (*record_filter_t)(Manager *m, const Record *r, int arg);

static void verify_mark(Manager *m, record_filter_t in_scope, int arg) {
        for (Record *r = m->records.records; r; r = r->hh.next)
                if (in_scope(m, r, arg))
                        r->flags &= (uint16_t) ~RECORD_VERIFIED;
}

/* What we believed held and the dump did not show vanished without an event. */
static unsigned verify_sweep(Manager *m, record_filter_t in_scope, int arg) {
        Record *r, *tmp;
        unsigned n = 0;

        HASH_ITER(hh, m->records.records, r, tmp)
                if (in_scope(m, r, arg) && (r->flags & RECORD_HELD) && !(r->flags & RECORD_VERIFIED)) {
                        records_gone_record(&m->records, r);
                        n++;
                }
        return n;
}

static bool in_all(Manager *m, const Record *r, int arg) {
        return true;
}

static bool in_our_tables(Manager *m, const Record *r, int arg) {
        return r->key.kind == OBJECT_RULE || config_policy_by_table(m->config, r->key.table) ||
               desired_table_is_probe(r->key.table);
}

/* Each probe table a record of ours is in (the probe routes, one per gateway and family), dumped as the
 * policy tables are. */
static int verify_probe_tables(Manager *m) {
        _cleanup_(freep) Record **probes = NULL;
        size_t n = 0, allocated = 0;
        int k;

        /* Collected first: the dumps write the records. */
        for (Record *r = m->records.records; r; r = r->hh.next) {
                if (r->key.kind != OBJECT_ROUTE || !desired_table_is_probe(r->key.table))
                        continue;
                if (n == allocated) {
                        Record **p = reallocarray(probes, allocated = MAX(allocated * 2, (size_t) 8), sizeof(Record *));
                        if (!p)
                                return -ENOMEM;
                        probes = p;
                }
                probes[n++] = r;
        }
        for (size_t i = 0; i < n; i++) {
                k = dump(m, RTM_GETROUTE, probes[i]->key.family, 0, probes[i]->key.table);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Events that came while a dump ran are newer than (or as new as) what it said: read them before the
 * sweep decides what is gone. */
static int drain_events(Manager *m) {
        return rtnl_drain_events(m->rtnl);
}

static int enumerate_links(Manager *m) {
        static const struct {
                uint16_t type;
                int family;
        } dumps[] = {
                { RTM_GETLINK, AF_UNSPEC }, { RTM_GETADDR, AF_INET }, { RTM_GETADDR, AF_INET6 },
        };
        int r;

        links_begin_sync(&m->links);
        for (size_t i = 0; i < ELEMENTSOF(dumps); i++) {
                r = dump(m, dumps[i].type, dumps[i].family, 0, 0);
                if (r < 0)
                        return r;
        }
        links_end_sync(&m->links, link_removed_cb, m);
        return 0;
}

static int enumerate_objects(Manager *m) {
        static const struct {
                uint16_t type;
                int family;
        } dumps[] = {
                { RTM_GETRULE, AF_INET },   { RTM_GETRULE, AF_INET6 },
                { RTM_GETROUTE, AF_INET },  { RTM_GETROUTE, AF_INET6 },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dumps); i++) {
                r = dump(m, dumps[i].type, dumps[i].family, 0, 0);
                if (r < 0)
                        return r;
        }
        return drain_events(m);
}

/* Everything from scratch: links and addresses, then (with the tunnels decided, so that main-table routes
 * stream straight into their copies) rules and routes. At start the table is empty and nothing needs a
 * sweep; after an overrun whatever was not reported again is gone. */
int observed_enumerate(Manager *m) {
        bool sweep = records_count(&m->records) > 0;
        int r;

        m->enumerating = true;
        r = enumerate_links(m);
        if (r >= 0) {
                tunnels_update(m);
                if (sweep) {
                        verify_mark(m, in_all, 0);
                        tunnels_begin_sweep(m, 0);
                }
                r = enumerate_objects(m);
        }
        m->enumerating = false;
        if (r < 0)
                return r;
        if (sweep) {
                tunnels_end_sweep(m, 0);
                (void) verify_sweep(m, in_all, 0);
        }
        return 0;
}

/* The periodic re-read of our own objects: our tables (filtered by the kernel) and the rules. Returns
 * how many differences it found. */
int observed_verify(Manager *m) {
        uint64_t changes = m->records.held_changes;
        unsigned gone;
        int r;

        verify_mark(m, in_our_tables, 0);
        for (size_t i = 0; i < m->config->n_policies; i++)
                for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                        r = dump(m, RTM_GETROUTE, families[f], 0, m->config->policies[i].table_id);
                        if (r < 0)
                                return r;
                }
        r = verify_probe_tables(m);
        if (r < 0)
                return r;
        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                r = dump(m, RTM_GETRULE, families[f], 0, 0);
                if (r < 0)
                        return r;
        }
        changes = m->records.held_changes - changes;
        r = drain_events(m);
        if (r < 0)
                return r;
        gone = verify_sweep(m, in_our_tables, 0);
        return (int) MIN(changes + gone, (uint64_t) INT32_MAX);
}

/* ---- confirming the routes via devices that changed ---- */

typedef struct ConfirmSet {
        int *ifindex;
        size_t n, allocated;
        bool failed;
} ConfirmSet;

static void confirm_collect(Link *l, void *userdata) {
        ConfirmSet *s = userdata;

        if (s->n == s->allocated) {
                size_t a = MAX(s->allocated * 2, (size_t) 16);
                int *p = reallocarray(s->ifindex, a, sizeof(int));
                if (!p) {
                        s->failed = true;
                        return;
                }
                s->ifindex = p;
                s->allocated = a;
        }
        s->ifindex[s->n++] = l->info.ifindex;
}

static bool in_oif(Manager *m, const Record *r, int ifindex) {
        return r->key.kind == OBJECT_ROUTE && (r->oif > 0 ? r->oif : r->held_oif) == ifindex;
}

static void confirm_mark(Manager *m, int ifindex) {
        for (Record *r = records_oif_first(&m->records, ifindex); r; r = r->oif_next)
                r->flags &= (uint16_t) ~RECORD_VERIFIED;
        tunnels_begin_sweep(m, ifindex);
}

static void confirm_sweep(Manager *m, int ifindex) {
        Record *r, *next;

        for (r = records_oif_first(&m->records, ifindex); r; r = next) {
                next = r->oif_next;
                if (in_oif(m, r, ifindex) && (r->flags & RECORD_HELD) && !(r->flags & RECORD_VERIFIED))
                        records_gone_record(&m->records, r);
        }
        tunnels_end_sweep(m, ifindex);
}

/* Dumps the routes via each device whose confirmation is due (all tables, both families: our copies and
 * the main-table routes they copy), then sweeps what the kernel no longer has. */
int observed_confirm(Manager *m) {
        _cleanup_(freep) int *ifindex = NULL;
        ConfirmSet s = {};
        int r = 0;

        links_take_confirm(&m->links, confirm_collect, &s);
        ifindex = s.ifindex;
        if (s.failed)
                m->need_resync = true;  /* cannot remember which: read everything */
        for (size_t i = 0; i < s.n; i++)
                confirm_mark(m, s.ifindex[i]);
        for (size_t i = 0; i < s.n && r >= 0; i++) {
                r = dump(m, RTM_GETROUTE, AF_INET, s.ifindex[i], 0);
                if (r >= 0)
                        r = dump(m, RTM_GETROUTE, AF_INET6, s.ifindex[i], 0);
        }
        if (r >= 0)
                r = drain_events(m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s.n; i++)
                if (links_get(&m->links, s.ifindex[i]))
                        confirm_sweep(m, s.ifindex[i]);
        m->counters.confirms += s.n;
        return 0;
}
