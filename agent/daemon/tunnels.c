/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "desired.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "sysctl-link.h"

static const int families[] = { AF_INET, AF_INET6 };

_printf_(3, 4) static void log_device(int level, const char *ifname, const char *format, ...) {
        char field[64], msg[256];
        va_list ap;

        snprintf(field, sizeof(field), "VPNPOLICY_DEVICE=%s", ifname);
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        log_fields(level, 0, FIELDS(field), "%s", msg);
}

Tunnel *tunnels_get(Manager *m, int ifindex) {
        Tunnel *t;

        HASH_FIND_INT(m->tunnels.by_ifindex, &ifindex, t);
        return t;
}

static const PolicyConfig *tunnel_policy(Manager *m, int index) {
        return index >= 0 && (size_t) index < m->config->n_policies ? &m->config->policies[index] : NULL;
}

/* The policy whose pool holds the address, or -1. */
static int address_policy(Manager *m, int family, const InAddrUnion *a) {
        const PolicyConfig *p = config_policy_by_address(m->config, family, a);

        return p ? (int) (p - m->config->policies) : -1;
}

static void log_clash(const Object *o, const char *ifname, ObjectRole role) {
        char text[OBJECT_STRLEN];

        log_device(LOG_WARNING, ifname, "Not adding %s for %s: %s; another object of ours holds that place.",
                   object_role_to_string(role), ifname, object_to_string(o, ifname, text));
}

/* A refused claim is remembered on the tunnel: the identity may be given up later (one tun route per
 * subnet: the second device's waits for the first's to go), and nothing else would make it claim again. */
static void want_derived(Manager *m, Tunnel *t, const Object *o, ObjectRole role, BlockReason block) {
        if (records_want(&m->records, o, role, block, NULL) == -EBUSY) {
                log_clash(o, t->name, role);
                t->clashed = true;
        }
}

/* ---- which links are ours ---- */

static bool tunnel_should_manage(Manager *m, const Link *l, int *ret_policy, bool *ret_single) {
        Registration *reg;
        int policy = -1;
        bool single = true;

        if (!desired_kind_is_tunnel(l->info.kind))
                return false;
        for (const Address *a = l->addresses; a; a = a->next) {
                int p = address_policy(m, a->info.family, &a->info.local);

                if (p < 0)
                        continue;
                if (policy < 0)
                        policy = p;
                else if (p != policy)
                        single = false;
        }
        reg = registrations_get_link(&m->registrations, l->info.name, l->info.ifindex);
        if (!(reg && reg->registered_by_uid == 0) && !(policy >= 0 && desired_link_matches(m->config, l->info.kind, l->info.name)))
                return false;
        *ret_policy = MAX(policy, 0);
        *ret_single = single;
        return true;
}

/* ---- what a tunnel wants ---- */

static void tunnel_want_rules(Manager *m, Tunnel *t, bool want) {
        PolicyConfig p = { .table_id = t->rule_table, .priority = t->rule_priority };

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                Object o;

                if (!(t->rule_families & (1U << i)))
                        continue;
                o = desired_iif_rule(&p, families[i], t->name, VPNPOLICY_PROTO);
                if (want)
                        want_derived(m, t, &o, ROLE_IIF_RULE, BLOCK_NONE);
                else
                        records_unwant(&m->records, &o, ROLE_IIF_RULE);
        }
}

/* The rules of a tunnel whose pool addresses are all in one policy: one per family that the policy has
 * and the tunnel carries an address of (without one, the tunnel carries none of that family's traffic). A
 * device serving several policies (one WireGuard device for several profiles) gets none: its traffic
 * follows the pools' source rules. */
static void tunnel_update_rules(Manager *m, Tunnel *t, const Link *l, int policy, bool single) {
        const PolicyConfig *p = tunnel_policy(m, policy);
        const char *name = l->info.name;
        uint8_t fam = 0;

        for (size_t i = 0; single && p && i < ELEMENTSOF(families); i++)
                if (policy_has_family(p, families[i]) && link_has_address_in(l, families[i]))
                        fam |= (uint8_t) (1U << i);
        if (fam == t->rule_families && policy == t->rule_policy && streq(name, t->name) && p &&
            p->table_id == t->rule_table && p->priority == t->rule_priority)
                return;
        tunnel_want_rules(m, t, false);
        snprintf(t->name, sizeof(t->name), "%s", name);
        t->rule_families = fam;
        t->rule_policy = policy;
        t->rule_table = p ? p->table_id : 0;
        t->rule_priority = p ? p->priority : 0;
        tunnel_want_rules(m, t, true);
}

static void tunnel_want_tun_routes(Manager *m, Tunnel *t, const Link *l) {
        BlockReason block = t->up ? BLOCK_NONE : BLOCK_DEVICE_DOWN;

        for (const Address *a = l->addresses; a; a = a->next) {
                const PolicyConfig *p = tunnel_policy(m, address_policy(m, a->info.family, &a->info.local));
                Prefix subnet = address_subnet(&a->info);
                bool has_peer = !addr_equal(a->info.family, &a->info.local, &a->info.peer);
                Object o;

                if (!p)
                        p = tunnel_policy(m, t->policy);
                if (desired_tun_route(p->table_id, l->info.ifindex, a->info.family, &subnet, has_peer,
                                      VPNPOLICY_PROTO, &o))
                        want_derived(m, t, &o, ROLE_TUN_ROUTE, block);
        }
}

/* Tun routes follow the addresses (mark, want, sweep); copies only learn whether they can be sent. */
static void tunnel_derive(Manager *m, Tunnel *t, const Link *l) {
        BlockReason block = t->up ? BLOCK_NONE : BLOCK_DEVICE_DOWN;
        Record *r, *next;

        for (r = records_oif_first(&m->records, t->ifindex); r; r = r->oif_next)
                if (r->role == ROLE_TUN_ROUTE)
                        r->flags &= (uint16_t) ~RECORD_SOURCE_SEEN;
        tunnel_want_tun_routes(m, t, l);
        for (r = records_oif_first(&m->records, t->ifindex); r; r = next) {
                next = r->oif_next;
                if (!record_wanted(r) || r->oif != t->ifindex)
                        continue;
                if (r->role == ROLE_TUN_ROUTE && !(r->flags & RECORD_SOURCE_SEEN)) {
                        records_unwant_record(&m->records, r);
                        m->tunnels.released = true;
                } else if (r->role == ROLE_MIRROR_ROUTE)
                        records_set_block(&m->records, r, block);
        }
}

/* Gives up every claim of the device: tun routes, copies, rules. */
static void tunnel_release(Manager *m, Tunnel *t) {
        Record *r, *next;

        for (r = records_oif_first(&m->records, t->ifindex); r; r = next) {
                next = r->oif_next;
                if (record_wanted(r) && r->oif == t->ifindex &&
                    (r->role == ROLE_TUN_ROUTE || r->role == ROLE_MIRROR_ROUTE))
                        records_unwant_record(&m->records, r);
        }
        tunnel_want_rules(m, t, false);
        m->tunnels.released = true;
        HASH_DEL(m->tunnels.by_ifindex, t);
        m->tunnels.n--;
        m->tunnels.generation++;
        free(t);
}

static Tunnel *tunnel_new(Manager *m, Link *l) {
        Tunnel *t = calloc(1, sizeof(Tunnel));

        if (!t)
                return NULL;
        t->ifindex = l->info.ifindex;
        t->rule_policy = -1;
        snprintf(t->name, sizeof(t->name), "%s", l->info.name);
        HASH_ADD_INT(m->tunnels.by_ifindex, ifindex, t);
        m->tunnels.n++;
        m->tunnels.generation++;
        log_device(LOG_INFO, l->info.name, "Managing %s device %s.", l->info.kind, l->info.name);
        /* Main-table routes via it were not kept while it was not ours: ask the kernel for them, unless it
         * was made while we watched and none came, or a full dump is on its way. */
        if (!m->enumerating && (!l->fresh || l->routes_missed))
                links_request_routes(&m->links, l);
        return t;
}

static void tunnel_evaluate(Link *l, void *userdata) {
        Manager *m = userdata;
        Tunnel *t = tunnels_get(m, l->info.ifindex);
        int policy;
        bool single;

        if (!tunnel_should_manage(m, l, &policy, &single)) {
                if (t) {
                        log_device(LOG_INFO, t->name, "No longer managing %s.", t->name);
                        tunnel_release(m, t);
                }
                return;
        }
        if (!t && !(t = tunnel_new(m, l)))
                return;
        /* The firewall's tunnel sets are by name and policy; a device of several policies may change
         * them with any address. */
        if (!streq(t->name, l->info.name) || policy != t->policy || single != t->single_policy || !single)
                m->tunnels.generation++;
        t->policy = policy;
        t->single_policy = single;
        t->up = l->info.flags & IFF_UP;
        tunnel_update_rules(m, t, l, policy, single);
        tunnel_derive(m, t, l);
        if (t->up) {
                t->sysctl_pending = true;
                m->tunnels.sysctl_pending = true;
        }
}

/* After a reload the copies may belong elsewhere (another table, MirrorRoutes=no): the main-table
 * routes are not kept, so each tunnel's are read again and the copies swept. */
void tunnels_reread_routes(Manager *m) {
        for (Tunnel *t = m->tunnels.by_ifindex; t; t = t->hh.next) {
                Link *l = links_get(&m->links, t->ifindex);
                if (l)
                        links_request_routes(&m->links, l);
        }
}

/* Tunnels whose claims were refused claim again once another gave something up: their tun routes here,
 * their copies from a fresh read of the main-table routes via them. */
static void tunnels_retry_clashed(Manager *m) {
        Tunnel *t, *tmp;

        if (!m->tunnels.released)
                return;
        m->tunnels.released = false;
        HASH_ITER(hh, m->tunnels.by_ifindex, t, tmp) {
                Link *l = links_get(&m->links, t->ifindex);

                if (!t->clashed || !l)
                        continue;
                t->clashed = false;
                links_request_routes(&m->links, l);
                tunnel_evaluate(l, m);
        }
}

static void tunnel_registration_changed(const char *name, void *userdata) {
        Manager *m = userdata;
        Link *l = links_by_name(&m->links, name);

        if (l)
                tunnel_evaluate(l, m);
}

void tunnels_update(Manager *m) {
        if (m->config_changed) {
                /* Whether a link is ours depends on the pools: look at all. */
                for (Link *l = m->links.links; l; l = l->hh.next)
                        tunnel_evaluate(l, m);
                links_take_changed(&m->links, NULL, NULL);
                registrations_take_changed(&m->registrations, NULL, NULL);
        } else {
                registrations_take_changed(&m->registrations, tunnel_registration_changed, m);
                links_take_changed(&m->links, tunnel_evaluate, m);
        }
        tunnels_retry_clashed(m);
}

/* ---- copies of main-table routes ---- */

/* A copy goes to the table of the policy whose pool holds its gateway (OpenVPN with DCO routes a client's
 * iroute via the client's VPN address), else to the tunnel's. */
static const PolicyConfig *mirror_policy(Manager *m, const Tunnel *t, const Object *o) {
        int p = o->has_gateway ? address_policy(m, o->family, &o->gateway) : -1;

        return tunnel_policy(m, p >= 0 ? p : t->policy);
}

/* The main table holds one route per identity, so a copy with the route's identity is its copy, whatever
 * device it was via: a route replaced by one via another device, or by one that is not copied, or moved
 * to another policy's table, gives up its old copy. */
static void mirror_unwant_others(Manager *m, const Object *o, uint32_t keep_table) {
        for (size_t i = 0; i < m->config->n_policies; i++) {
                Object copy = *o;
                ObjectKey key;
                Record *r;

                if (m->config->policies[i].table_id == keep_table)
                        continue;
                copy.table = m->config->policies[i].table_id;
                copy.protocol = VPNPOLICY_PROTO;
                key = object_key(&copy);
                r = records_get(&m->records, &key);
                if (r && r->role == ROLE_MIRROR_ROUTE)
                        records_unwant_record(&m->records, r);
        }
}

void tunnels_main_route(Manager *m, const Object *o, bool deleted) {
        Tunnel *t = o->oif > 0 ? tunnels_get(m, o->oif) : NULL;
        const PolicyConfig *p = t ? mirror_policy(m, t, o) : NULL;
        Object copy;

        if (!t && !deleted) {
                Link *l = o->oif > 0 ? links_get(&m->links, o->oif) : NULL;

                if (l && desired_kind_is_tunnel(l->info.kind))
                        links_note_route_missed(&m->links, l);
        }
        if (!t || deleted || !p || !desired_mirror_route(m->config, p, o, VPNPOLICY_PROTO, &copy)) {
                mirror_unwant_others(m, o, 0);
                return;
        }
        if (m->config->n_policies > 1)
                mirror_unwant_others(m, o, copy.table);
        want_derived(m, t, &copy, ROLE_MIRROR_ROUTE, t->up ? BLOCK_NONE : BLOCK_DEVICE_DOWN);
}

void tunnels_forget_routes(Manager *m, int ifindex, int family) {
        Record *r, *next;

        for (r = records_oif_first(&m->records, ifindex); r; r = next) {
                next = r->oif_next;
                if (r->role == ROLE_MIRROR_ROUTE && record_wanted(r) && r->oif == ifindex &&
                    (family == AF_UNSPEC || r->key.family == family))
                        records_unwant_record(&m->records, r);
        }
}

void tunnels_link_removed(Manager *m, Link *l) {
        Tunnel *t = tunnels_get(m, l->info.ifindex);

        if (t)
                tunnel_release(m, t);
        if (registrations_drop(&m->registrations, l->info.name, l->info.ifindex))
                (void) registrations_save(&m->registrations, m->runtime_dir);
        sysctl_link_forget(m, l->info.ifindex);
}

static void sweep_clear(Record *r) {
        if (r->role == ROLE_MIRROR_ROUTE)
                r->flags &= (uint16_t) ~RECORD_SOURCE_SEEN;
}

static void sweep_check(Manager *m, Record *r) {
        if (r->role == ROLE_MIRROR_ROUTE && record_wanted(r) && !(r->flags & RECORD_SOURCE_SEEN))
                records_unwant_record(&m->records, r);
}

void tunnels_begin_sweep(Manager *m, int ifindex) {
        Record *r = ifindex > 0 ? records_oif_first(&m->records, ifindex) : m->records.records;

        for (; r; r = ifindex > 0 ? r->oif_next : r->hh.next)
                sweep_clear(r);
}

void tunnels_end_sweep(Manager *m, int ifindex) {
        Record *r, *next;

        if (ifindex > 0) {
                for (r = records_oif_first(&m->records, ifindex); r; r = next) {
                        next = r->oif_next;
                        sweep_check(m, r);
                }
                return;
        }
        HASH_ITER(hh, m->records.records, r, next)
                sweep_check(m, r);
}

/* After the routes went out (a hook waiting for them is answered first): ICMP redirects off on the tunnels
 * that came up. */
void tunnels_sysctls(Manager *m) {
        if (!m->tunnels.sysctl_pending)
                return;
        m->tunnels.sysctl_pending = false;
        for (Tunnel *t = m->tunnels.by_ifindex; t; t = t->hh.next) {
                Link *l;

                if (!t->sysctl_pending)
                        continue;
                t->sysctl_pending = false;
                l = links_get(&m->links, t->ifindex);
                if (l)
                        sysctl_link_setup(m, l);        /* once per device: it remembers */
        }
}

void tunnels_done(Manager *m) {
        Tunnel *t, *tmp;

        HASH_ITER(hh, m->tunnels.by_ifindex, t, tmp) {
                HASH_DEL(m->tunnels.by_ifindex, t);
                free(t);
        }
        m->tunnels = (Tunnels) {};
}
