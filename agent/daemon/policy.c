/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each policy's own objects and its failover (policy.h). The default route of a family goes by the gateway
 * failover_choose() picks from the verdicts in the gateway table: a switch changes the wanted content of
 * the one default-route record (its gateway and device), so the planner replaces it in one operation
 * (NLM_F_REPLACE on the identity table/destination/metric: no window without a route, none for a leak). With
 * no usable gateway the route is given up and the fail-closed route holds. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conntrack.h"
#include "desired.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "sysctl-link.h"

static const int families[] = { AF_INET, AF_INET6 };

static int family_index(int family) {
        return family == AF_INET6 ? 1 : 0;
}

static uint64_t earliest(uint64_t a, uint64_t b) {
        return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

static void states_free(PolicyState *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(s[i].name);
        free(s);
}

void policy_done(PolicyWants *p) {
        free(p->wants);
        states_free(p->states, p->n_states);
        *p = (PolicyWants) {};
}

const PolicyFamily *policy_family(const Manager *m, size_t policy, int family) {
        return policy < m->policy.n_states ? &m->policy.states[policy].family[family_index(family)] : NULL;
}

bool policy_due(const Manager *m, uint64_t now) {
        return m->policy.next_at > 0 && now >= m->policy.next_at;
}

typedef struct WantList {
        BaseWant *wants;
        size_t n, allocated;
} WantList;

static int list_push(WantList *l, const BaseWant *w) {
        if (l->n == l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 16);
                BaseWant *p = reallocarray(l->wants, a, sizeof(BaseWant));
                if (!p)
                        return -ENOMEM;
                l->wants = p;
                l->allocated = a;
        }
        l->wants[l->n++] = *w;
        return 0;
}

/* ---- the failover state follows the configuration ---- */

/* The gateway the policy's default route of the family goes by now: the wanted content of its record, or,
 * after a start, what the kernel holds from the earlier run. -1: none. */
static int route_gateway(Manager *m, size_t policy, int family) {
        const PolicyConfig *p = &m->config->policies[policy];
        InAddrUnion any = {};
        Object o = desired_default_route(p, family, &any, 0, VPNPOLICY_PROTO);
        ObjectKey key = object_key(&o);
        Record *r = records_get(&m->records, &key);

        if (!r || !(r->flags & RECORD_GATEWAY) || !(r->flags & (RECORD_WANTED | RECORD_HELD)))
                return -1;
        for (size_t j = 0; j < p->n_gateways; j++) {
                const InAddrUnion *a = gateway_address(&p->gateways[j], family);

                if (a && addr_equal(family, a, &r->gateway))
                        return (int) j;
        }
        return -1;
}


/* By policy name. Each family is decided afresh from what the route goes by now (its record), so a reload
 * that reorders or renames gateways keeps the traffic where it is. */
static int states_sync(Manager *m) {
        PolicyWants *pw = &m->policy;
        PolicyState *states = calloc(m->config->n_policies, sizeof(PolicyState));

        if (!states)
                return -ENOMEM;
        for (size_t i = 0; i < m->config->n_policies; i++) {
                PolicyState *s = &states[i];

                for (size_t j = 0; j < pw->n_states; j++)
                        if (streq_ptr(pw->states[j].name, m->config->policies[i].name)) {
                                *s = pw->states[j];
                                pw->states[j].name = NULL;
                                break;
                        }
                if (!s->name) {
                        s->name = strdup(m->config->policies[i].name);
                        if (!s->name) {
                                states_free(states, i);
                                return -ENOMEM;
                        }
                        for (size_t f = 0; f < 2; f++)
                                s->family[f] = (PolicyFamily) { .active = -1, .carrier = -1 };
                }
                /* Gateway indices were the old configuration's: what the routes go by says which it is now. */
                for (size_t f = 0; f < ELEMENTSOF(families); f++)
                        if (s->family[f].decided)
                                s->family[f].active = s->family[f].carrier = route_gateway(m, i, families[f]);
        }
        states_free(pw->states, pw->n_states);
        pw->states = states;
        pw->n_states = m->config->n_policies;
        return 0;
}

/* ---- the choice ---- */

static FailoverCandidate candidate(Manager *m, size_t policy, size_t gateway, int family) {
        const GatewayHealth *h = gateways_get(&m->gateways, policy, gateway, family);

        if (!h)
                return (FailoverCandidate) {};
        return (FailoverCandidate) {
                .present = true,
                .probed = h->probed,
                .state = h->health.state,
                .link_ok = h->link_ok,
                .device_exists = h->device_exists,
                .usable_since = h->usable_since,
        };
}

static const char *gateway_name(Manager *m, size_t policy, int gateway) {
        return gateway >= 0 ? m->config->policies[policy].gateways[gateway].name : "none";
}

/* Why the traffic moved, for the log: the failover rule and what the previous gateway's verdict said. */
static void switch_reason(Manager *m, size_t policy, int family, int old, const FailoverChoice *ch, char *buf,
                          size_t size) {
        const GatewayHealth *h = old >= 0 ? gateways_get(&m->gateways, policy, (size_t) old, family) : NULL;
        const PolicyConfig *p = &m->config->policies[policy];

        if (ch->why == FAILOVER_PREEMPT)
                snprintf(buf, size, "%s has been up for PreemptHoldSec=%.0fs", gateway_name(m, policy, ch->gateway),
                         (double) p->preempt_hold_usec / 1e6);
        else if (h && !h->link_ok && h->link_why[0])
                snprintf(buf, size, "%s: %s", gateway_name(m, policy, old), h->link_why);
        else if (h && h->health.state != HEALTH_UP)
                snprintf(buf, size, "%s is %s: %s", gateway_name(m, policy, old),
                         health_state_to_string(h->health.state), h->reason);
        else
                snprintf(buf, size, "%s", failover_why_to_string(ch->why));
}

_printf_(5, 6) static void choice_log(Manager *m, int level, size_t policy, int family, const char *format, ...) {
        const PolicyFamily *st = policy_family(m, policy, family);
        char pol[96], gw[96], fam[32], msg[512];
        va_list ap;

        snprintf(pol, sizeof(pol), "VPNPOLICY_POLICY=%s", m->config->policies[policy].name);
        snprintf(gw, sizeof(gw), "VPNPOLICY_GATEWAY=%s", gateway_name(m, policy, st->active));
        snprintf(fam, sizeof(fam), "VPNPOLICY_FAMILY=%s", family_to_string(family));
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        (void) log_fields(level, 0, FIELDS(pol, gw, fam), "Policy %s (%s): %s", m->config->policies[policy].name,
                          family_to_string(family), msg);
}

static void note_switch(Manager *m, size_t policy, int family, PolicyFamily *st, const FailoverChoice *ch) {
        int old = st->active;
        char why[HEALTH_REASON_MAX + 64];

        switch_reason(m, policy, family, old, ch, why, sizeof(why));
        st->active = ch->gateway;
        st->since = now_realtime();
        st->switches++;
        m->policy.failovers++;
        /* Flows masqueraded on the way out by the last gateway that carried them are flushed once the new
         * route is in (policy_after_reconcile()). */
        if (ch->gateway >= 0 && st->carrier >= 0 && ch->gateway != st->carrier)
                st->flush = true;
        if (ch->gateway < 0)
                choice_log(m, LOG_WARNING, policy, family, "no usable gateway (%s), fail-closed holds.", why);
        else
                choice_log(m, LOG_WARNING, policy, family, "traffic moves from gateway %s to %s (%s).",
                           gateway_name(m, policy, old), gateway_name(m, policy, ch->gateway), why);
}

/* The first choice: the route of an earlier run kept (adopted), or the first gateway. */
static void note_first(Manager *m, size_t policy, int family, PolicyFamily *st, int current, const FailoverChoice *ch) {
        st->active = ch->gateway;
        st->since = now_realtime();
        st->adopted = current >= 0 && ch->gateway == current && !m->ready;
        if (st->adopted)
                choice_log(m, LOG_INFO, policy, family, "kept the kernel's default route via gateway %s (%s).",
                           gateway_name(m, policy, ch->gateway), failover_why_to_string(ch->why));
        else if (ch->gateway >= 0 && ch->gateway != current)
                choice_log(m, LOG_INFO, policy, family, "traffic goes by gateway %s (%s).",
                           gateway_name(m, policy, ch->gateway), failover_why_to_string(ch->why));
        else if (ch->gateway < 0 && ch->why == FAILOVER_WAIT && st->why != FAILOVER_WAIT)
                choice_log(m, LOG_INFO, policy, family, "no default route until the probes decide.");
}

static FailoverChoice policy_choose(Manager *m, size_t policy, int family, uint64_t now) {
        const PolicyConfig *p = &m->config->policies[policy];
        PolicyFamily *st = &m->policy.states[policy].family[family_index(family)];
        _cleanup_(freep) FailoverCandidate *c = calloc(MAX(p->n_gateways, (size_t) 1), sizeof(FailoverCandidate));
        bool fresh = !st->decided;
        int current = st->decided ? st->active : route_gateway(m, policy, family);
        FailoverChoice ch;

        if (!c)
                return (FailoverChoice) { .gateway = current, .why = FAILOVER_KEEP };   /* keep what is */
        for (size_t j = 0; j < p->n_gateways; j++)
                c[j] = candidate(m, policy, j, family);
        ch = failover_choose(c, p->n_gateways, current, fresh, p->preempt, p->preempt_hold_usec, now);
        if (!st->decided)
                note_first(m, policy, family, st, current, &ch);
        else if (ch.gateway != st->active)
                note_switch(m, policy, family, st, &ch);
        /* Waiting for the first verdicts decides nothing yet. */
        st->decided = ch.why != FAILOVER_WAIT;
        st->usable = ch.usable;
        st->why = ch.why;
        return ch;
}

/* ---- the objects ---- */

static int gateway_oif(Manager *m, const GatewayConfig *g, BlockReason *ret_block) {
        Link *l;

        *ret_block = BLOCK_NONE;
        if (!g->device[0])
                return 0;
        l = links_by_name(&m->links, g->device);
        if (!l) {
                *ret_block = BLOCK_DEVICE_MISSING;
                return 0;
        }
        return l->info.ifindex;
}

/* Each probed gateway's rule and route, so that its probes go through it whatever the default route is. */
static int derive_probes(Manager *m, size_t policy, int family, WantList *l) {
        const PolicyConfig *p = &m->config->policies[policy];
        int r;

        for (size_t j = 0; j < p->n_gateways; j++) {
                const GatewayConfig *g = &p->gateways[j];
                uint32_t k = desired_probe_index(m->config, policy, j);
                BlockReason block;
                Link *link;
                int oif;

                if (!g->probe.enabled || !gateway_address(g, family) || k >= PROBE_TABLES_MAX)
                        continue;
                oif = gateway_oif(m, g, &block);
                link = oif > 0 ? links_get(&m->links, oif) : NULL;
                if (link && !(link->info.flags & IFF_UP))
                        block = BLOCK_DEVICE_DOWN;      /* the kernel refuses it until the device is up */
                r = list_push(l, &(BaseWant) { desired_probe_rule(family, k, VPNPOLICY_PROTO), ROLE_PROBE_RULE,
                                               BLOCK_NONE, (int) policy, (int) j });
                if (r >= 0)
                        r = list_push(l, &(BaseWant) {
                                desired_probe_route(family, k, gateway_address(g, family), oif, VPNPOLICY_PROTO),
                                ROLE_PROBE_ROUTE, (uint8_t) block, (int) policy, (int) j });
                if (r < 0)
                        return r;
        }
        return 0;
}

static int derive_family(Manager *m, size_t index, int family, WantList *l, uint64_t now, uint64_t *next_at) {
        const PolicyConfig *p = &m->config->policies[index];
        FailoverChoice ch = policy_choose(m, index, family, now);
        int r;

        *next_at = earliest(*next_at, ch.next_at);
        /* A gateway without pools of its family still gets its route: it costs nothing and a pool added
         * by a reload finds the table ready. */
        if (ch.gateway >= 0) {
                const GatewayConfig *g = &p->gateways[ch.gateway];
                BlockReason block;
                int oif = gateway_oif(m, g, &block);
                BaseWant w = {
                        .obj = desired_default_route(p, family, gateway_address(g, family), oif, VPNPOLICY_PROTO),
                        .role = ROLE_DEFAULT_ROUTE,
                        .block = (uint8_t) (ch.blocked ? BLOCK_DEVICE_MISSING : block),
                        .policy = (int) index,
                        .gateway = ch.gateway,
                };
                r = list_push(l, &w);
                if (r < 0)
                        return r;
        }
        r = derive_probes(m, index, family, l);
        if (r < 0)
                return r;
        if (!m->config->fail_closed || !policy_has_family(p, family))
                return 0;
        return list_push(l, &(BaseWant) { desired_fail_closed(p, family, VPNPOLICY_PROTO), ROLE_FAIL_CLOSED,
                                          BLOCK_NONE, (int) index, -1 });
}

static int derive_policy(Manager *m, size_t index, WantList *l, uint64_t now, uint64_t *next_at) {
        const PolicyConfig *p = &m->config->policies[index];
        int r;

        for (size_t i = 0; i < p->n_pools; i++) {
                r = list_push(l, &(BaseWant) { desired_source_rule(p, &p->pools[i], VPNPOLICY_PROTO),
                                               ROLE_SOURCE_RULE, BLOCK_NONE, (int) index, -1 });
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                r = derive_family(m, index, families[i], l, now, next_at);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool list_contains(const WantList *l, const BaseWant *w) {
        for (size_t i = 0; i < l->n; i++)
                if (l->wants[i].role == w->role && object_content_equal(&l->wants[i].obj, &w->obj))
                        return true;
        return false;
}

/* The device of a default route gets the same ICMP redirect treatment as the tunnels (seed 002): the
 * configured one, or the one the kernel chose once it holds the route. */
void policy_gateway_sysctls(Manager *m) {
        for (size_t i = 0; i < m->policy.n; i++) {
                const BaseWant *w = &m->policy.wants[i];
                int ifindex;
                Link *link;

                if (w->role != ROLE_DEFAULT_ROUTE)
                        continue;
                ifindex = policy_gateway_ifindex(m, w->policy, w->obj.family);
                link = ifindex > 0 ? links_get(&m->links, ifindex) : NULL;
                if (link)
                        sysctl_link_setup(m, link);
        }
}

static void policy_apply(Manager *m, WantList *next) {
        for (size_t i = 0; i < m->policy.n; i++)
                if (!list_contains(next, &m->policy.wants[i]))
                        records_unwant(&m->records, &m->policy.wants[i].obj, m->policy.wants[i].role);
        for (size_t i = 0; i < next->n; i++) {
                const BaseWant *w = &next->wants[i];
                char text[OBJECT_STRLEN];

                if (records_want(&m->records, &w->obj, w->role, w->block, NULL) == -EBUSY)
                        log_warning("Cannot claim %s for %s: another object of ours holds it.",
                                    object_to_string(&w->obj, NULL, text), object_role_to_string(w->role));
        }
        free(m->policy.wants);
        m->policy.wants = next->wants;
        m->policy.n = next->n;
}

uint64_t policy_update(Manager *m) {
        uint64_t now = now_monotonic(), next_at = 0;
        bool gateways_changed = gateways_take_changed(&m->gateways);
        WantList next = {};

        /* Devices appearing, going, renamed or up/down change which gateway is usable; addresses do not. */
        if (!m->config_changed && m->links.generation == m->policy.links_generation && !gateways_changed &&
            !policy_due(m, now))
                return m->policy.next_at;
        m->policy.links_generation = m->links.generation;
        if (m->config_changed && states_sync(m) < 0) {
                log_error("Out of memory following the configuration's policies, keeping the previous objects.");
                return m->policy.next_at;
        }
        for (size_t i = 0; i < m->config->n_policies; i++)
                if (derive_policy(m, i, &next, now, &next_at) < 0) {
                        free(next.wants);
                        log_error("Out of memory deriving the policy's objects, keeping the previous ones.");
                        return m->policy.next_at;
                }
        policy_apply(m, &next);
        m->policy.next_at = next_at;
        return next_at;
}

int policy_gateway_ifindex(Manager *m, int policy, int family) {
        for (size_t i = 0; i < m->policy.n; i++) {
                const BaseWant *w = &m->policy.wants[i];
                ObjectKey key;
                Record *r;

                if (w->policy != policy || w->role != ROLE_DEFAULT_ROUTE || w->obj.family != family)
                        continue;
                if (w->obj.oif > 0)
                        return w->obj.oif;
                key = object_key(&w->obj);
                r = records_get(&m->records, &key);
                return r && (r->flags & RECORD_HELD) ? r->held_oif : 0;
        }
        return 0;
}

/* ---- after the kernel took the routes ---- */

static bool default_route_present(Manager *m, size_t policy, int family) {
        for (size_t i = 0; i < m->policy.n; i++) {
                const BaseWant *w = &m->policy.wants[i];
                ObjectKey key;
                Record *r;

                if ((size_t) w->policy != policy || w->role != ROLE_DEFAULT_ROUTE || w->obj.family != family)
                        continue;
                key = object_key(&w->obj);
                r = records_get(&m->records, &key);
                return r && record_present(r);
        }
        return false;
}

/* The flows this host masqueraded (to the old device's addresses) for the policy's pools of the family. */
static void flush_conntrack(Manager *m, size_t policy, int family, int oif) {
        const PolicyConfig *p = &m->config->policies[policy];
        Link *l = oif > 0 ? links_get(&m->links, oif) : NULL;
        Prefix pools[64];
        InAddrUnion nat[64];
        size_t n_pools = 0, n_nat = 0;
        int r;

        if (!l)
                return;         /* the device is gone: the kernel flushed its masqueraded entries itself */
        for (size_t i = 0; i < p->n_pools && n_pools < ELEMENTSOF(pools); i++)
                if (p->pools[i].family == family)
                        pools[n_pools++] = p->pools[i];
        for (const Address *a = l->addresses; a && n_nat < ELEMENTSOF(nat); a = a->next)
                if (a->info.family == family)
                        nat[n_nat++] = a->info.local;
        r = conntrack_flush_snat(family, pools, n_pools, nat, n_nat);
        if (r < 0) {
                log_warning_errno(r, "Failed to flush the connection tracking entries of policy %s (%s) "
                                  "masqueraded on %s, ignoring: %m", p->name, family_to_string(family), l->info.name);
                return;
        }
        m->policy.conntrack_flushed += (uint64_t) r;
        choice_log(m, LOG_INFO, policy, family, "flushed %d connection tracking entr%s masqueraded on %s.", r,
                   r == 1 ? "y" : "ies", l->info.name);
}

void policy_after_reconcile(Manager *m) {
        for (size_t i = 0; i < m->policy.n_states && i < m->config->n_policies; i++)
                for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                        PolicyFamily *st = &m->policy.states[i].family[f];

                        if (st->active < 0 || !default_route_present(m, i, families[f]))
                                continue;
                        if (st->flush && m->config->firewall_masquerade)
                                flush_conntrack(m, i, families[f], st->carrier_oif);
                        st->flush = false;
                        st->carrier = st->active;
                        st->carrier_oif = policy_gateway_ifindex(m, (int) i, families[f]);
                }
}
