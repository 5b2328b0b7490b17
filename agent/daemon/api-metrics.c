/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.vpnpolicy.GetMetrics: what Prometheus needs, aggregated. GetStatus lists every object (about 30 MB
 * at 100,000 routes); this reply is a few counts per policy, role and family, the counters, the tunnels,
 * the firewall's counters and the pass-duration histogram, so a scrape every second costs little. The
 * exposition format is written by the clients (lib/metrics.c). docs/monitoring.md describes the reply. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "firewall.h"
#include "gateways.h"
#include "health.h"
#include "log.h"
#include "manager.h"
#include "vpnpolicy-commit.h"
#include "vpnpolicy-defs.h"

/* The wanted records of one policy, role and family. */
typedef struct ObjectCounts {
        uint64_t wanted, present, waiting;
} ObjectCounts;

#define FAMILIES 2

static int family_index(int family) {
        return family == AF_INET6 ? 1 : 0;
}

static int policy_of_table(const Config *c, uint32_t table) {
        for (size_t i = 0; i < c->n_policies; i++)
                if (c->policies[i].table_id == table)
                        return (int) i;
        return -1;
}

/* The same rule as status's health (api.c): a tunnel's routes wait while its device is down, the kernel
 * refuses them then; that alone is no fault. */
static bool record_waiting(const Record *r) {
        return !record_present(r) && r->block == BLOCK_DEVICE_DOWN &&
               (r->role == ROLE_TUN_ROUTE || r->role == ROLE_MIRROR_ROUTE);
}

/* One walk over the records: counts[policy][role][family], and the stale ones (held, no longer wanted). */
static void objects_count(Manager *m, ObjectCounts *counts, uint64_t *ret_stale, bool *ret_healthy) {
        uint64_t stale = 0;
        bool healthy = true;

        for (const Record *r = m->records.records; r; r = r->hh.next) {
                int p = policy_of_table(m->config, r->key.table);
                ObjectCounts *oc;

                if (!record_wanted(r) || p < 0 || r->role >= _ROLE_MAX) {
                        stale += !record_wanted(r) && (r->flags & RECORD_HELD);
                        continue;
                }
                oc = &counts[((size_t) p * _ROLE_MAX + r->role) * FAMILIES + family_index(r->key.family)];
                oc->wanted++;
                oc->present += record_present(r);
                oc->waiting += record_waiting(r);
                healthy = healthy && (record_present(r) || record_waiting(r));
        }
        *ret_stale = stale;
        *ret_healthy = healthy;
}

static json_t *metrics_objects(Manager *m, uint64_t *ret_stale, bool *ret_healthy) {
        const Config *c = m->config;
        _cleanup_(freep) ObjectCounts *counts = calloc(c->n_policies * _ROLE_MAX * FAMILIES,
                                                       sizeof(ObjectCounts));
        json_t *a;

        if (!counts)
                return NULL;
        objects_count(m, counts, ret_stale, ret_healthy);
        a = json_array();
        for (size_t p = 0; p < c->n_policies; p++)
                for (int role = 0; role < _ROLE_MAX; role++)
                        for (int f = 0; f < FAMILIES; f++) {
                                const ObjectCounts *oc = &counts[(p * _ROLE_MAX + role) * FAMILIES + f];

                                if (oc->wanted == 0)
                                        continue;
                                json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}",
                                        "policy", c->policies[p].name, "role", object_role_to_string(role),
                                        "family", f ? "ipv6" : "ipv4", "wanted", (json_int_t) oc->wanted,
                                        "present", (json_int_t) oc->present,
                                        "waiting", (json_int_t) oc->waiting));
                        }
        return a;
}

static json_t *metrics_tunnels(Manager *m, size_t *per_policy) {
        json_t *a = json_array();

        for (const Tunnel *t = m->tunnels.by_ifindex; t; t = t->hh.next) {
                if (t->policy < 0 || (size_t) t->policy >= m->config->n_policies)
                        continue;
                per_policy[t->policy]++;
                json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "device", t->name, "policy",
                                                   m->config->policies[t->policy].name, "up", t->up));
        }
        return a;
}

/* Changes of the policy's active gateway, both families (as the status' policies[].failovers). */
static uint64_t policy_failovers(const Manager *m, size_t policy) {
        const PolicyFamily *f4 = policy_family(m, policy, AF_INET), *f6 = policy_family(m, policy, AF_INET6);

        return (f4 ? f4->switches : 0) + (f6 ? f6->switches : 0);
}

static json_t *metrics_policies(Manager *m, const size_t *tunnels) {
        json_t *a = json_array();

        for (size_t p = 0; p < m->config->n_policies; p++)
                json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I}", "name", m->config->policies[p].name,
                                                   "table", (json_int_t) m->config->policies[p].table_id,
                                                   "tunnels", (json_int_t) tunnels[p],
                                                   "failovers", (json_int_t) policy_failovers(m, p)));
        return a;
}

static bool gateway_active(Manager *m, size_t policy, size_t gateway, int family) {
        for (size_t i = 0; i < m->policy.n; i++) {
                const BaseWant *w = &m->policy.wants[i];

                if (w->role == ROLE_DEFAULT_ROUTE && w->policy == (int) policy && w->gateway == (int) gateway &&
                    w->obj.family == family)
                        return true;
        }
        return false;
}

/* What the probes of a probed gateway found (gateways.c's verdict, as the status shows it): "up" once
 * there is a verdict (not while the first is pending), the round trip of the latest probe when it was
 * answered, the share lost of the recent ones. Unprobed gateways (Probe=none) have none of these. */
static void metrics_gateway_health(Manager *m, size_t p, size_t g, int family, json_t *o) {
        const GatewayHealth *h = gateways_get(&m->gateways, p, g, family);

        if (!h || !h->probed)
                return;
        if (IN_SET(h->health.state, HEALTH_UP, HEALTH_DOWN))
                json_object_set_new(o, "up", json_boolean(h->health.state == HEALTH_UP));
        if (health_last_answered(&h->health))
                json_object_set_new(o, "probe_rtt_usec", json_integer((json_int_t) h->health.rtt_last));
        if (h->health.history_len > 0)
                json_object_set_new(o, "probe_loss_ratio", json_real(health_loss_ratio(&h->health)));
}

/* Each gateway of each policy, per family it has an address of: whether the policy's default route
 * goes via it now, and its probes' verdict and figures. */
static json_t *metrics_gateways(Manager *m) {
        json_t *a = json_array();

        for (size_t p = 0; p < m->config->n_policies; p++) {
                const PolicyConfig *pc = &m->config->policies[p];

                for (size_t g = 0; g < pc->n_gateways; g++)
                        for (int f = 0; f < FAMILIES; f++) {
                                int family = f ? AF_INET6 : AF_INET;

                                if (!(f ? pc->gateways[g].has_ipv6 : pc->gateways[g].has_ipv4))
                                        continue;
                                json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "policy", pc->name,
                                        "gateway", pc->gateways[g].name, "family", family_to_string(family),
                                        "active", gateway_active(m, p, g, family));

                                if (!o)
                                        continue;
                                metrics_gateway_health(m, p, g, family, o);
                                json_array_append_new(a, o);
                        }
        }
        return a;
}

static const char *pool_policy(const Config *c, const char *prefix) {
        char buf[PREFIX_STRLEN];

        for (size_t p = 0; p < c->n_policies; p++)
                for (size_t i = 0; i < c->policies[p].n_pools; i++)
                        if (streq(prefix_to_string(&c->policies[p].pools[i], buf), prefix))
                                return c->policies[p].name;
        return NULL;
}

/* firewall_status() (nft_counters() underneath: one dump of our table's counter objects), each pool
 * named with its policy. */
static json_t *metrics_firewall(Manager *m) {
        json_t *fw = firewall_status(m), *pool;
        size_t i;

        json_array_foreach(json_object_get(fw, "pools"), i, pool) {
                json_t *prefix = json_object_get(pool, "prefix");
                const char *name = json_is_string(prefix) ?
                                   pool_policy(m->config, json_string_value(prefix)) : NULL;

                if (name && !json_object_get(pool, "policy"))
                        json_object_set_new(pool, "policy", json_string(name));
        }
        return fw;
}

static json_t *metrics_histogram(const Histogram *h) {
        json_t *bounds = json_array(), *counts = json_array();

        for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
                json_array_append_new(bounds, json_integer((json_int_t) histogram_bounds_usec[i]));
                json_array_append_new(counts, json_integer((json_int_t) h->counts[i]));
        }
        return json_pack("{s:o, s:o, s:I, s:I}", "bounds_usec", bounds, "counts", counts, "count",
                         (json_int_t) h->count, "sum_usec", (json_int_t) h->sum_usec);
}

static json_t *metrics_counters(const Manager *m) {
        const Counters *c = &m->counters;

        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                         "restores", (json_int_t) c->restores,
                         "restore_throttled", (json_int_t) c->restore_throttled,
                         "resyncs", (json_int_t) c->resyncs,
                         "overruns", (json_int_t) c->overruns,
                         "netlink_errors", (json_int_t) c->netlink_errors,
                         "failed_operations", (json_int_t) c->failed_operations,
                         "operations", (json_int_t) c->operations,
                         "reconcile_passes", (json_int_t) c->reconcile_passes,
                         "reloads", (json_int_t) c->reloads,
                         "reload_failures", (json_int_t) c->reload_failures,
                         "firewall_restores", (json_int_t) c->firewall_restores,
                         "firewall_errors", (json_int_t) c->firewall_errors,
                         "verifications", (json_int_t) c->verifications,
                         "verify_repairs", (json_int_t) c->verify_repairs,
                         "confirms", (json_int_t) c->confirms,
                         "clashes", (json_int_t) m->records.clashes);
}

static json_t *json_usec_or_null(uint64_t usec) {
        return usec > 0 ? json_integer((json_int_t) usec) : json_null();
}

static json_t *metrics_build(Manager *m) {
        _cleanup_(freep) size_t *tunnels = calloc(m->config->n_policies, sizeof(size_t));
        json_t *objects, *devices;
        uint64_t stale;
        bool healthy;

        if (!tunnels)
                return NULL;
        objects = metrics_objects(m, &stale, &healthy);
        if (!objects)
                return NULL;
        devices = metrics_tunnels(m, tunnels);
        return json_pack("{s:i, s:s, s:s, s:I, s:b, s:b, s:o, s:o, s:{s:b, s:b}, s:o, s:I, s:I, s:o, s:o, s:o, "
                         "s:o, s:o, s:o}",
                         "schema", METRICS_SCHEMA_VERSION,
                         "version", VERSION,
                         "commit", GIT_COMMIT,
                         "started_usec", (json_int_t) m->started_realtime,
                         "healthy", healthy && api_policies_healthy(m),
                         "resync_pending", m->need_resync,
                         "last_verify_usec", json_usec_or_null(m->last_verify_realtime),
                         "last_verify_duration_usec",
                         m->last_verify_realtime > 0 ? json_integer((json_int_t) m->last_verify_usec) :
                                                       json_null(),
                         "forwarding", "ipv4", m->forwarding[0], "ipv6", m->forwarding[1],
                         "objects", objects,
                         "stale_objects", (json_int_t) stale,
                         "failing_objects", (json_int_t) m->records.n_failing,
                         "policies", metrics_policies(m, tunnels),
                         "tunnels", devices,
                         "gateways", metrics_gateways(m),
                         "counters", metrics_counters(m),
                         "firewall", metrics_firewall(m),
                         "reconcile_duration", metrics_histogram(&m->pass_duration));
}

void api_get_metrics(Manager *m, VarlinkCall *call, json_t *parameters) {
        json_t *reply = metrics_build(m);

        if (!reply) {
                (void) varlink_call_errorf(call, "io.vpnpolicy.InternalError", "Out of memory");
                return;
        }
        (void) varlink_call_reply(call, reply);
}
