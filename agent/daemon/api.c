/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "desired.h"
#include "log.h"
#include "firewall.h"
#include "manager.h"
#include "rt-files.h"
#include "rtnl-neigh.h"
#include "strv.h"
#include "vpnpolicy-defs.h"

#define VARLINK_ERROR_CONFIG_INVALID "io.vpnpolicy.ConfigInvalid"

static bool peer_may_read(const Manager *m, const VarlinkPeer *peer) {
        return peer->uid == 0 || (m->config->read_group && varlink_peer_in_group(peer, m->config->read_gid));
}

static json_t *json_time(uint64_t usec) {
        char buf[64];
        time_t t = (time_t) (usec / 1000000U);
        struct tm tm;

        if (usec == 0 || !gmtime_r(&t, &tm))
                return json_null();
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return json_string(buf);
}

static json_t *json_string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *status_record(Manager *m, const Record *r) {
        const RecordTrouble *tr = r->trouble;
        char text[OBJECT_STRLEN];
        Object o;

        record_to_object(r, VPNPOLICY_PROTO, &o);
        if (!record_wanted(r))
                o.oif = r->held_oif;
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:o, s:o}",
                         "kind", object_kind_to_string(r->key.kind),
                         "role", object_role_to_string(r->role),
                         "family", family_to_string(r->key.family),
                         "object", object_to_string(&o, manager_ifname(m, o.oif ?: r->held_oif), text),
                         "present", record_wanted(r) ? record_present(r) : (bool) (r->flags & RECORD_HELD),
                         "since", json_time(r->present_since),
                         "restores", (json_int_t) r->restores,
                         "failures", (json_int_t) record_failures(r),
                         "last_error", json_string_or_null(tr && tr->failures > 0 ? tr->last_error_text : NULL),
                         "blocked", json_string_or_null(block_reason_to_string(r->block)));
}

/* Health is what the kernel holds: every wanted object present. A tunnel's routes wait while its device
 * is down (the kernel refuses them then): that alone is no fault. Anything else absent, a policy object
 * that cannot be sent included, is. */
static bool record_healthy(const Record *r) {
        if (!record_wanted(r) || record_present(r))
                return true;
        /* A probe route waits for its gateway's device like a tun route; the gateway's verdict says it. */
        if (r->role == ROLE_PROBE_ROUTE)
                return r->block == BLOCK_DEVICE_DOWN || r->block == BLOCK_DEVICE_MISSING;
        return r->block == BLOCK_DEVICE_DOWN && (r->role == ROLE_TUN_ROUTE || r->role == ROLE_MIRROR_ROUTE);
}

static json_t *status_objects(Manager *m, bool *ret_healthy) {
        json_t *a = json_array();
        bool healthy = true;

        for (const Record *r = m->records.records; r; r = r->hh.next) {
                if (!record_wanted(r) && !(r->flags & RECORD_HELD))
                        continue;
                healthy = healthy && record_healthy(r);
                json_array_append_new(a, status_record(m, r));
        }
        *ret_healthy = healthy;
        return a;
}

static json_t *status_config(const Config *c) {
        const InAddrUnion *gw4 = config_gateway(c, AF_INET), *gw6 = config_gateway(c, AF_INET6);
        const char *dev = c->policies[0].gateways[0].device;
        char buf[PREFIX_STRLEN];
        json_t *files = json_array(), *pools = json_array();

        STRV_FOREACH(f, c->files)
                json_array_append_new(files, json_string(*f));
        for (size_t i = 0; i < c->policies[0].n_pools; i++)
                json_array_append_new(pools, json_string(prefix_to_string(&c->policies[0].pools[i], buf)));
        return json_pack("{s:o, s:{s:s, s:I, s:I}, s:o, s:{s:o, s:o, s:o}, s:b}",
                         "files", files,
                         "table", "name", c->policies[0].table_name, "id", (json_int_t) c->policies[0].table_id,
                         "priority", (json_int_t) c->policies[0].priority,
                         "pools", pools,
                         "gateway",
                         "ipv4", gw4 ? json_string(addr_to_string(AF_INET, gw4, buf)) : json_null(),
                         "ipv6", gw6 ? json_string(addr_to_string(AF_INET6, gw6, buf)) : json_null(),
                         "device", dev[0] ? json_string(dev) : json_null(),
                         "fail_closed", c->fail_closed);
}

static void status_counters_gateways(const Manager *m, json_t *j) {
        const Gateways *g = &m->gateways;

        json_object_set_new(j, "failovers", json_integer((json_int_t) m->policy.failovers));
        json_object_set_new(j, "gateway_changes", json_integer((json_int_t) g->changes));
        json_object_set_new(j, "conntrack_flushed", json_integer((json_int_t) m->policy.conntrack_flushed));
        json_object_set_new(j, "probes_sent", json_integer((json_int_t) g->sent));
        json_object_set_new(j, "probe_replies", json_integer((json_int_t) g->replies));
        json_object_set_new(j, "probe_late", json_integer((json_int_t) g->late));
        json_object_set_new(j, "probe_rejected", json_integer((json_int_t) g->rejected));
        json_object_set_new(j, "probe_send_errors", json_integer((json_int_t) g->send_errors));
        json_object_set_new(j, "probe_wakeups", json_integer((json_int_t) g->wakeups));
}

static json_t *status_counters(const Manager *m) {
        const Counters *c = &m->counters;
        json_t *j;

        j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
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
        if (j)
                status_counters_gateways(m, j);
        return j;
}

static json_t *status_addresses(const Link *l) {
        json_t *a = json_array();
        char buf[PREFIX_STRLEN];

        for (const Address *i = l->addresses; i; i = i->next) {
                Prefix p = { .family = i->info.family, .prefixlen = i->info.prefixlen, .addr = i->info.local };
                json_array_append_new(a, json_string(prefix_to_string(&p, buf)));
        }
        return a;
}

static size_t tunnel_copies(Manager *m, int ifindex) {
        size_t n = 0;

        for (const Record *r = records_oif_first(&m->records, ifindex); r; r = r->oif_next)
                n += r->role == ROLE_MIRROR_ROUTE && record_wanted(r);
        return n;
}

static json_t *status_device(Manager *m, const Tunnel *t) {
        const Link *l = links_get(&m->links, t->ifindex);
        Registration *reg = l ? registrations_get_link(&m->registrations, l->info.name, l->info.ifindex) : NULL;

        if (!l)
                return NULL;
        return json_pack("{s:s, s:s, s:i, s:b, s:o, s:I, s:s, s:b, s:o, s:o, s:o, s:o}",
                         "name", l->info.name,
                         "kind", l->info.kind,
                         "ifindex", l->info.ifindex,
                         "up", (bool) (l->info.flags & IFF_UP),
                         "addresses", status_addresses(l),
                         "main_routes", (json_int_t) tunnel_copies(m, t->ifindex),
                         "policy", m->config->policies[t->policy].name,
                         "registered", reg != NULL,
                         "config", json_string_or_null(reg ? reg->config : NULL),
                         "daemon_pid", reg && reg->daemon_pid > 0 ? json_integer(reg->daemon_pid) : json_null(),
                         "registered_at", json_time(reg ? reg->registered_at : 0),
                         "registered_by_uid", reg && reg->registered_by_uid != REGISTRATION_UID_UNKNOWN ?
                         json_integer((json_int_t) reg->registered_by_uid) : json_null());
}

static json_t *status_devices(Manager *m) {
        json_t *a = json_array();

        for (const Tunnel *t = m->tunnels.by_ifindex; t; t = t->hh.next) {
                json_t *d = status_device(m, t);
                if (d)
                        json_array_append_new(a, d);
        }
        return a;
}

static json_t *status_kernel(const Manager *m) {
        return json_pack("{s:b, s:b, s:b}",
                         "ipv4_forwarding", m->forwarding[0],
                         "ipv6_forwarding", m->forwarding[1],
                         "send_redirects", m->config->send_redirects);
}

static json_t *status_verification(const Manager *m) {
        return json_pack("{s:o, s:o, s:I}",
                         "last", json_time(m->last_verify_realtime),
                         "duration_usec", m->last_verify_realtime > 0 ? json_integer((json_int_t) m->last_verify_usec) : json_null(),
                         "interval_usec", (json_int_t) m->verify_interval_usec);
}

/* ---- policies and gateways ---- */

static const int status_families[] = { AF_INET, AF_INET6 };

static json_t *json_addr(int family, const InAddrUnion *a) {
        char buf[ADDR_STRLEN];

        return a ? json_string(addr_to_string(family, a, buf)) : json_null();
}

static json_t *json_usec_or_null(uint64_t v) {
        return v > 0 ? json_integer((json_int_t) v) : json_null();
}

static json_t *status_probe(const Config *c, size_t policy, size_t gateway) {
        const GatewayConfig *g = &c->policies[policy].gateways[gateway];
        const ProbeConfig *p = &g->probe;
        uint32_t k = desired_probe_index(c, policy, gateway);
        bool tables = p->enabled && k < PROBE_TABLES_MAX;

        return json_pack("{s:s, s:{s:o, s:o}, s:I, s:I, s:i, s:i, s:i, s:I, s:o, s:o}",
                         "type", p->enabled ? "icmp" : "none",
                         "targets",
                         "ipv4", json_addr(AF_INET, p->has_target4 ? &p->target4 : NULL),
                         "ipv6", json_addr(AF_INET6, p->has_target6 ? &p->target6 : NULL),
                         "interval_usec", (json_int_t) p->interval_usec,
                         "timeout_usec", (json_int_t) p->timeout_usec,
                         "fail_count", (int) p->fall,
                         "rise_count", (int) p->rise,
                         "max_loss_percent", (int) p->loss_max_percent,
                         "max_rtt_usec", (json_int_t) p->rtt_max_usec,
                         "mark", tables ? json_integer(desired_probe_mark(k)) : json_null(),
                         "table", tables ? json_integer(desired_probe_table(k)) : json_null());
}

static json_t *status_health(Manager *m, size_t policy, size_t gateway, int family) {
        const GatewayHealth *h = gateways_get(&m->gateways, policy, gateway, family);
        const PolicyFamily *st = policy_family(m, policy, family);
        bool usable;

        if (!h)
                return json_null();
        usable = h->link_ok && (!h->probed || h->health.state == HEALTH_UP);
        return json_pack("{s:s, s:o, s:o, s:s, s:b, s:b, s:{s:o, s:o}, s:i, s:{s:I, s:I}, s:{s:b, s:o}, s:o, s:o, s:I}",
                         "state", health_state_to_string(h->health.state),
                         "since", json_time(h->since),
                         "last_change", json_time(h->changed_at),
                         "reason", h->reason,
                         "usable", usable,
                         "active", st && st->active == (int) gateway,
                         "rtt_usec", "last", json_usec_or_null(h->health.rtt_last),
                         "average", json_usec_or_null(h->health.rtt_avg),
                         "loss_percent", (int) health_loss_percent(&h->health),
                         "probes", "sent", (json_int_t) h->health.sent, "lost", (json_int_t) h->health.lost,
                         "link", "ok", h->link_ok, "reason", json_string_or_null(h->link_ok ? NULL : h->link_why),
                         "neighbour", h->neigh_state ? json_string(neigh_state_to_string(h->neigh_state)) : json_null(),
                         "gateway_answers", h->n_dest == 2 && h->probed ? json_boolean(h->gateway_answers) : json_null(),
                         "changes", (json_int_t) h->changes);
}

static json_t *status_gateway(Manager *m, size_t policy, size_t gateway) {
        const GatewayConfig *g = &m->config->policies[policy].gateways[gateway];

        return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:{s:o, s:o}}",
                         "name", g->name,
                         "priority", (json_int_t) g->priority,
                         "ipv4", json_addr(AF_INET, gateway_address(g, AF_INET)),
                         "ipv6", json_addr(AF_INET6, gateway_address(g, AF_INET6)),
                         "device", g->device[0] ? json_string(g->device) : json_null(),
                         "probe", status_probe(m->config, policy, gateway),
                         "health",
                         "ipv4", status_health(m, policy, gateway, AF_INET),
                         "ipv6", status_health(m, policy, gateway, AF_INET6));
}

static json_t *status_choice(Manager *m, size_t policy, int family) {
        const PolicyFamily *st = policy_family(m, policy, family);
        const PolicyConfig *p = &m->config->policies[policy];

        if (!st || !st->decided)
                return json_null();
        return json_pack("{s:o, s:b, s:s, s:o, s:I, s:b}",
                         "gateway", st->active >= 0 ? json_string(p->gateways[st->active].name) : json_null(),
                         "usable", st->usable,
                         "why", failover_why_to_string(st->why),
                         "since", json_time(st->since),
                         "switches", (json_int_t) st->switches,
                         "adopted", st->adopted);
}

static json_t *status_policy(Manager *m, size_t policy) {
        const PolicyConfig *p = &m->config->policies[policy];
        const PolicyFamily *f4 = policy_family(m, policy, AF_INET), *f6 = policy_family(m, policy, AF_INET6);
        json_t *pools = json_array(), *gateways = json_array();
        char buf[PREFIX_STRLEN];

        for (size_t i = 0; i < p->n_pools; i++)
                json_array_append_new(pools, json_string(prefix_to_string(&p->pools[i], buf)));
        for (size_t i = 0; i < p->n_gateways; i++)
                json_array_append_new(gateways, status_gateway(m, policy, i));
        return json_pack("{s:s, s:{s:s, s:I, s:I}, s:o, s:b, s:I, s:{s:o, s:o}, s:{s:o, s:o}, s:I, s:o}",
                         "name", p->name,
                         "table", "name", p->table_name, "id", (json_int_t) p->table_id,
                         "priority", (json_int_t) p->priority,
                         "pools", pools,
                         "preempt", p->preempt,
                         "preempt_hold_usec", (json_int_t) p->preempt_hold_usec,
                         "active",
                         "ipv4", f4 && f4->active >= 0 ? json_string(p->gateways[f4->active].name) : json_null(),
                         "ipv6", f6 && f6->active >= 0 ? json_string(p->gateways[f6->active].name) : json_null(),
                         "choice",
                         "ipv4", status_choice(m, policy, AF_INET),
                         "ipv6", status_choice(m, policy, AF_INET6),
                         "failovers", (json_int_t) ((f4 ? f4->switches : 0) + (f6 ? f6->switches : 0)),
                         "gateways", gateways);
}

static json_t *status_policies(Manager *m) {
        json_t *a = json_array();

        for (size_t i = 0; i < m->config->n_policies; i++)
                json_array_append_new(a, status_policy(m, i));
        return a;
}

bool api_policies_healthy(Manager *m) {
        for (size_t i = 0; i < m->config->n_policies; i++)
                for (size_t f = 0; f < ELEMENTSOF(status_families); f++) {
                        const PolicyFamily *st = policy_family(m, i, status_families[f]);

                        if (policy_has_family(&m->config->policies[i], status_families[f]) && (!st || st->active < 0))
                                return false;
                }
        return m->gateways.socket_error[0] == 0 && m->gateways.socket_error[1] == 0;
}

static json_t *status_build(Manager *m) {
        bool healthy;
        json_t *objects = status_objects(m, &healthy), *j;

        healthy = healthy && api_policies_healthy(m);
        j = json_pack("{s:i, s:s, s:i, s:o, s:I, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                         "schema", STATUS_SCHEMA_VERSION,
                         "version", VERSION,
                         "pid", (int) getpid(),
                         "started", json_time(m->started_realtime),
                         "uptime_usec", (json_int_t) (now_monotonic() - m->started_monotonic),
                         "health", healthy ? "healthy" : "degraded",
                         "resync_pending", m->need_resync,
                         "verification", status_verification(m),
                         "config", status_config(m->config),
                         "objects", objects,
                         "devices", status_devices(m),
                         "kernel", status_kernel(m),
                         "firewall", firewall_status(m),
                         "counters", status_counters(m),
                         "last_error", json_string_or_null(m->last_error_text));
        if (j)
                json_object_set_new(j, "policies", status_policies(m));
        return j;
}

static void method_get_status(Manager *m, VarlinkCall *call, json_t *parameters) {
        json_t *status = status_build(m);

        if (!status) {
                (void) varlink_call_errorf(call, "io.vpnpolicy.InternalError", "Out of memory");
                return;
        }
        (void) varlink_call_reply(call, status);
}

static void method_reload(Manager *m, VarlinkCall *call, json_t *parameters) {
        _cleanup_strv_free_ char **errors = NULL;
        json_t *list;

        if (manager_reload(m, &errors) >= 0) {
                (void) varlink_call_reply(call, NULL);
                return;
        }
        list = json_array();
        STRV_FOREACH(e, errors)
                json_array_append_new(list, json_string(*e));
        (void) varlink_call_error(call, VARLINK_ERROR_CONFIG_INVALID, json_pack("{s:o}", "errors", list));
}

typedef struct Method {
        const char *name;
        void (*fn)(Manager *m, VarlinkCall *call, json_t *parameters);
        bool root_only;
} Method;

static const Method methods[] = {
        { "io.vpnpolicy.GetStatus", method_get_status, false },
        { "io.vpnpolicy.GetMetrics", api_get_metrics, false },
        { "io.vpnpolicy.Reload", method_reload, true },
};

bool api_peer_privileged(const VarlinkPeer *peer, void *userdata) {
        Manager *m = userdata;

        return peer_may_read(m, peer) || api_peer_may_register(m, peer);
}

void api_dispatch(VarlinkCall *call, const char *method, json_t *parameters, const VarlinkPeer *peer,
                  void *userdata) {
        Manager *m = userdata;

        if (streq(method, "io.vpnpolicy.RegisterTunnel")) {
                api_register_tunnel(m, call, parameters, peer);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                if (!streq(methods[i].name, method))
                        continue;
                if (methods[i].root_only ? peer->uid != 0 : !peer_may_read(m, peer)) {
                        log_notice("Refused %s from uid %u (pid %d): not permitted.", method, (unsigned) peer->uid,
                                   (int) peer->pid);
                        (void) varlink_call_errorf(call, VARLINK_ERROR_PERMISSION_DENIED,
                                                   "%s is not permitted for uid %u", method, (unsigned) peer->uid);
                        return;
                }
                methods[i].fn(m, call, parameters);
                return;
        }
        (void) varlink_call_error(call, VARLINK_ERROR_METHOD_NOT_FOUND, json_pack("{s:s}", "method", method));
}
