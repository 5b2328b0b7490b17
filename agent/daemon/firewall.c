/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keeps our nftables table (nft.c) in step with the configuration and the managed devices, per policy:
 * its pools, its gateways (for their counters), the devices its traffic may leave by (each gateway's
 * Device=, and the devices the kernel chose for its default routes) and its tunnels. A pass in which
 * something the table depends on changed derives the spec, and nft_apply() runs only when it differs from
 * the one last applied, or when someone touched our table. */
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "firewall.h"
#include "manager.h"
#include "nft.h"

#define FIREWALL_RETRY_USEC (1000U * 1000U)

static void on_nft_changed(void *userdata) {
        Manager *m = userdata;

        m->firewall.force = true;
}

int firewall_setup(Manager *m) {
        int r;

        if (!m->config->firewall_manage || m->firewall.nft)
                return 0;
        r = nft_new(m->event, on_nft_changed, m, &m->firewall.nft);
        if (r < 0)
                return log_error_errno(r, "Failed to open nfnetlink for the nftables table: %m");
        m->firewall.force = true;
        return 0;
}

/* The periodic verification: the table is read back in full at the next sync. Without a table of ours
 * (Manage=no) there is nothing to read, and a flag set for nobody would keep the loop busy for ever. */
void firewall_reverify(Manager *m) {
        if (m->firewall.nft)
                m->firewall.force = true;
}

bool firewall_pending(const Manager *m) {
        return m->firewall.nft && m->firewall.force;
}

/* [Firewall] Manage=no: we stop touching nftables; a table of ours from before stays until teardown. */
void firewall_disable(Manager *m) {
        m->firewall.nft = nft_free(m->firewall.nft);
        free(m->firewall.applied);
        m->firewall.applied = NULL;
        free(m->firewall.gateway_devices);
        m->firewall.gateway_devices = NULL;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(a, b);
}

/* The spec with the arrays it owns: the policies, and their gateways in one array. */
typedef struct FirewallSpec {
        NftSpec nft;
        NftPolicy *policies;
        NftGateway *gateways;
} FirewallSpec;

static void spec_done(FirewallSpec *s) {
        for (size_t i = 0; s->policies && i < s->nft.n_policies; i++) {
                free(s->policies[i].devices);
                free(s->policies[i].tunnels);
        }
        free(s->policies);
        free(s->gateways);
        *s = (FirewallSpec) {};
}

static void names_add(char (*names)[IFNAMSIZ], size_t *n, const char *name) {
        for (size_t i = 0; i < *n; i++)
                if (streq(names[i], name))
                        return;
        snprintf(names[(*n)++], IFNAMSIZ, "%s", name);
}

/* The devices a policy's pools may leave by: each gateway's Device=, and the ones the kernel chose for
 * its default routes (a gateway without Device=). Every gateway's, not only the one in use: the choice
 * changes on failover, and the table must not be what makes it wait. */
static int policy_devices(Manager *m, size_t index, NftPolicy *p) {
        const PolicyConfig *c = &m->config->policies[index];
        static const int families[] = { AF_INET, AF_INET6 };

        p->devices = calloc(c->n_gateways + ELEMENTSOF(families), IFNAMSIZ);
        if (!p->devices)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_gateways; i++)
                if (c->gateways[i].device[0])
                        names_add(p->devices, &p->n_devices, c->gateways[i].device);
        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                const char *name = manager_ifname(m, policy_gateway_ifindex(m, (int) index, families[i]));

                if (name)
                        names_add(p->devices, &p->n_devices, name);
        }
        qsort(p->devices, p->n_devices, IFNAMSIZ, name_compare);
        return 0;
}

static void policy_gateways(const PolicyConfig *c, NftGateway *g) {
        for (size_t i = 0; i < c->n_gateways; i++)
                g[i] = (NftGateway) {
                        .name = c->gateways[i].name,
                        .has_ipv4 = c->gateways[i].has_ipv4,
                        .has_ipv6 = c->gateways[i].has_ipv6,
                        .ipv4 = c->gateways[i].ipv4,
                        .ipv6 = c->gateways[i].ipv6,
                };
}

static void tunnel_add(NftPolicy *p, const char *name) {
        /* A device serving a policy twice (two of its pool addresses) was just added: it is the last. */
        if (p->n_tunnels == 0 || !streq(p->tunnels[p->n_tunnels - 1], name))
                snprintf(p->tunnels[p->n_tunnels++], IFNAMSIZ, "%s", name);
}

/* Each tunnel serves its policy; a device serving several (pool addresses of several policies) serves
 * each of them. */
static void spec_tunnels(Manager *m, FirewallSpec *s) {
        for (Tunnel *t = m->tunnels.by_ifindex; t; t = t->hh.next) {
                Link *l = t->single_policy ? NULL : links_get(&m->links, t->ifindex);

                if (t->policy >= 0 && (size_t) t->policy < s->nft.n_policies)
                        tunnel_add(&s->policies[t->policy], t->name);
                for (const Address *a = l ? l->addresses : NULL; a; a = a->next) {
                        const PolicyConfig *p = config_policy_by_address(m->config, a->info.family, &a->info.local);

                        if (p)
                                tunnel_add(&s->policies[p - m->config->policies], t->name);
                }
        }
        for (size_t i = 0; i < s->nft.n_policies; i++)
                qsort(s->policies[i].tunnels, s->policies[i].n_tunnels, IFNAMSIZ, name_compare);
}

static int spec_policy(Manager *m, size_t index, FirewallSpec *s, NftGateway *gateways) {
        const PolicyConfig *c = &m->config->policies[index];
        NftPolicy *p = &s->policies[index];

        *p = (NftPolicy) {
                .name = c->name,
                .pools = c->pools,
                .n_pools = c->n_pools,
                .gateways = gateways,
                .n_gateways = c->n_gateways,
                .tunnels = calloc(MAX(m->tunnels.n, (size_t) 1), IFNAMSIZ),
        };
        policy_gateways(c, gateways);
        return p->tunnels ? policy_devices(m, index, p) : -ENOMEM;
}

static int spec_build(Manager *m, FirewallSpec *s) {
        const Config *c = m->config;
        size_t n_gateways = 0;
        int r = 0;

        for (size_t i = 0; i < c->n_policies; i++)
                n_gateways += c->policies[i].n_gateways;
        *s = (FirewallSpec) {
                .nft = { .n_policies = c->n_policies, .leak_guard = c->firewall_leak_guard,
                         .masquerade = c->firewall_masquerade },
                .policies = calloc(c->n_policies, sizeof(NftPolicy)),
                .gateways = calloc(MAX(n_gateways, (size_t) 1), sizeof(NftGateway)),
        };
        s->nft.policies = s->policies;
        if (!s->policies || !s->gateways)
                r = -ENOMEM;
        for (size_t i = 0, g = 0; r >= 0 && i < c->n_policies; g += c->policies[i++].n_gateways)
                r = spec_policy(m, i, s, s->gateways + g);
        if (r < 0) {
                spec_done(s);
                return r;
        }
        spec_tunnels(m, s);
        return 0;
}

static void signature_names(FILE *f, const char *what, char (*names)[IFNAMSIZ], size_t n) {
        for (size_t i = 0; i < n; i++)
                fprintf(f, " %s=%s", what, names[i]);
}

/* A text form of everything nft_apply() looks at, to tell whether anything changed since. */
static char *spec_signature(const NftSpec *spec) {
        char *buf = NULL, t[PREFIX_STRLEN];
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fprintf(f, "lg=%d masq=%d prio=%d", spec->leak_guard, spec->masquerade, spec->priority);
        for (size_t i = 0; i < spec->n_policies; i++) {
                const NftPolicy *p = &spec->policies[i];

                fprintf(f, " policy=%s", p->name);
                for (size_t j = 0; j < p->n_pools; j++)
                        fprintf(f, " pool=%s", prefix_to_string(&p->pools[j], t));
                for (size_t j = 0; j < p->n_gateways; j++) {
                        const NftGateway *g = &p->gateways[j];

                        fprintf(f, " gw=%s", g->name);
                        if (g->has_ipv4)
                                fprintf(f, ",%s", addr_to_string(AF_INET, &g->ipv4, t));
                        if (g->has_ipv6)
                                fprintf(f, ",%s", addr_to_string(AF_INET6, &g->ipv6, t));
                }
                signature_names(f, "dev", p->devices, p->n_devices);
                signature_names(f, "tun", p->tunnels, p->n_tunnels);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* The devices the kernel chose for each policy's default routes, as text: one input of the table that
 * changes without the configuration or the tunnels changing. Built on every pass, so without
 * open_memstream() (whose buffer glibc zeroes: most of a pass's instructions): each name with its
 * separator fits IFNAMSIZ + 1 bytes. */
static char *gateway_devices_key(Manager *m) {
        size_t size = m->config->n_policies * 2 * (IFNAMSIZ + 1) + 1, n = 0;
        char *buf = malloc(size);

        if (!buf)
                return NULL;
        buf[0] = '\0';
        for (size_t i = 0; i < m->config->n_policies; i++)
                for (int k = 0; k < 2; k++) {
                        const char *name = manager_ifname(m, policy_gateway_ifindex(m, (int) i, k ? AF_INET6 : AF_INET));

                        n += (size_t) snprintf(buf + n, size - n, "%s%c", name ?: "", k ? ';' : ',');
                }
        return buf;
}

/* Cheap: whether any input of the table may have changed since it was applied. Takes the devices' key. */
static bool firewall_inputs_changed(Manager *m) {
        _cleanup_(freep) char *key = gateway_devices_key(m);
        Firewall *f = &m->firewall;
        bool changed = f->force || m->config_changed || f->tunnels_generation != m->tunnels.generation ||
                       !key || !streq_ptr(key, f->gateway_devices);

        free(f->gateway_devices);
        f->gateway_devices = TAKE_PTR(key);
        return changed;
}

static uint64_t firewall_failed(Manager *m, int r) {
        m->counters.firewall_errors++;
        log_warning_errno(r, "Failed to update the nftables table inet %s (%s), retrying in 1s: %m", NFT_TABLE_NAME,
                          nft_last_error(m->firewall.nft) ?: "no detail");
        return m->firewall.retry_at = now_monotonic() + FIREWALL_RETRY_USEC;
}

uint64_t firewall_sync(Manager *m) {
        _cleanup_(freep) char *signature = NULL;
        _cleanup_(spec_done) FirewallSpec spec = {};
        Firewall *f = &m->firewall;
        int r;

        if (!f->nft)
                return 0;
        if (f->retry_at > now_monotonic())
                return f->retry_at;
        if (!firewall_inputs_changed(m))
                return 0;
        r = spec_build(m, &spec);
        if (r < 0) {
                f->force = true;
                return firewall_failed(m, r);
        }
        f->tunnels_generation = m->tunnels.generation;
        signature = spec_signature(&spec.nft);
        if (signature && !f->force && streq_ptr(signature, f->applied))
                return 0;
        /* Nobody touched the table since we applied it (the events would have said): only the sets that
         * changed go out, without reading the table back. The periodic verification reads it again. */
        r = f->force ? nft_apply(f->nft, &spec.nft) : nft_apply_delta(f->nft, &spec.nft);
        if (r < 0)
                return firewall_failed(m, r);
        f->retry_at = 0;
        if (r > 0 && m->ready)
                log_debug("Updated the nftables table inet %s.", NFT_TABLE_NAME);
        /* Changed although the spec was not: someone else touched our table and we put it back. */
        if (r > 0 && streq_ptr(signature, f->applied)) {
                m->counters.firewall_restores++;
                log_notice("Restored the nftables table inet %s, which was changed behind our back.", NFT_TABLE_NAME);
        }
        free(f->applied);
        f->applied = TAKE_PTR(signature);
        f->force = false;
        return 0;
}

/* "Rising": the leak guard's drop counter grew since the previous look, or within the window before. */
#define LEAK_RISING_WINDOW_USEC (5ULL * 60U * 1000000U)

static void firewall_note_drops(Manager *m, json_t *j) {
        json_t *drops = json_object_get(json_object_get(j, "leak_guard_drops"), "packets");
        uint64_t now = now_realtime(), packets;
        Firewall *f = &m->firewall;

        if (!json_is_integer(drops))
                return;
        packets = (uint64_t) json_integer_value(drops);
        if (packets > f->leak_drops_seen)
                f->leak_drops_rose_at = now;
        f->leak_drops_seen = packets;
        json_object_set_new(j, "leak_guard_rising",
                            json_boolean(f->leak_drops_rose_at > 0 && now - f->leak_drops_rose_at < LEAK_RISING_WINDOW_USEC));
        json_object_set_new(j, "leak_guard_last_rise_usec",
                            f->leak_drops_rose_at > 0 ? json_integer((json_int_t) f->leak_drops_rose_at) : json_null());
}

json_t *firewall_status(Manager *m) {
        json_t *j = NULL;

        if (!m->firewall.nft || nft_counters(m->firewall.nft, &j) < 0)
                return json_null();
        firewall_note_drops(m, j);
        return j;
}
