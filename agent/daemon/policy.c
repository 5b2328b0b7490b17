/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "desired.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "sysctl-link.h"

static const int families[] = { AF_INET, AF_INET6 };

void policy_done(PolicyWants *p) {
        free(p->wants);
        *p = (PolicyWants) {};
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

/* The gateway a family's default route uses: the first by priority with an address of the family whose
 * device exists (or that names none). *ret_block says why none is usable. */
static int policy_choose_gateway(Manager *m, const PolicyConfig *p, int family, int *ret_oif, BlockReason *ret_block) {
        int first = -1;

        for (size_t i = 0; i < p->n_gateways; i++) {
                const GatewayConfig *g = &p->gateways[i];
                Link *l;

                if (!gateway_address(g, family))
                        continue;
                if (first < 0)
                        first = (int) i;
                if (!g->device[0]) {
                        *ret_oif = 0;
                        *ret_block = BLOCK_NONE;
                        return (int) i;
                }
                l = links_by_name(&m->links, g->device);
                if (l) {
                        *ret_oif = l->info.ifindex;
                        *ret_block = BLOCK_NONE;
                        return (int) i;
                }
        }
        *ret_oif = 0;
        *ret_block = first >= 0 ? BLOCK_DEVICE_MISSING : BLOCK_NO_GATEWAY;
        return first;
}

static int derive_family(Manager *m, int index, int family, WantList *l) {
        const PolicyConfig *p = &m->config->policies[index];
        BlockReason block;
        int oif, g, r;

        g = policy_choose_gateway(m, p, family, &oif, &block);
        /* A gateway without pools of its family still gets its route: it costs nothing and a pool added
         * by a reload finds the table ready. */
        if (g >= 0) {
                BaseWant w = {
                        .obj = desired_default_route(p, family, gateway_address(&p->gateways[g], family), oif,
                                                     VPNPOLICY_PROTO),
                        .role = ROLE_DEFAULT_ROUTE,
                        .block = (uint8_t) block,
                        .policy = index,
                        .gateway = g,
                };
                r = list_push(l, &w);
                if (r < 0)
                        return r;
        }
        if (!m->config->fail_closed || !policy_has_family(p, family))
                return 0;
        return list_push(l, &(BaseWant) { desired_fail_closed(p, family, VPNPOLICY_PROTO), ROLE_FAIL_CLOSED,
                                          BLOCK_NONE, index, -1 });
}

static int derive_policy(Manager *m, int index, WantList *l) {
        const PolicyConfig *p = &m->config->policies[index];
        int r;

        for (size_t i = 0; i < p->n_pools; i++) {
                r = list_push(l, &(BaseWant) { desired_source_rule(p, &p->pools[i], VPNPOLICY_PROTO),
                                               ROLE_SOURCE_RULE, BLOCK_NONE, index, -1 });
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                r = derive_family(m, index, families[i], l);
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

void policy_update(Manager *m) {
        WantList next = {};

        /* Devices appearing, going, renamed or up/down change which gateway is usable; addresses do not. */
        if (!m->config_changed && m->links.generation == m->policy.links_generation)
                return;
        m->policy.links_generation = m->links.generation;
        for (size_t i = 0; i < m->config->n_policies; i++)
                if (derive_policy(m, (int) i, &next) < 0) {
                        free(next.wants);
                        log_error("Out of memory deriving the policy's objects, keeping the previous ones.");
                        return;
                }
        policy_apply(m, &next);
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
