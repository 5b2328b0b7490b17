/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "manager.h"
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

static json_t *status_want(Manager *m, const Want *w) {
        char text[OBJECT_STRLEN];

        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:o, s:o}",
                         "kind", object_kind_to_string(w->obj.kind),
                         "role", object_role_to_string(w->role),
                         "family", family_to_string(w->obj.family),
                         "object", object_to_string(&w->obj, object_ifname(m, &w->obj), text),
                         "present", want_is_present(m, w),
                         "since", json_time(w->present_since),
                         "restores", (json_int_t) w->restores,
                         "failures", (json_int_t) w->failures,
                         "last_error", json_string_or_null(w->failures > 0 ? w->last_error_text : NULL),
                         "blocked", json_string_or_null(w->blocked));
}

static json_t *status_objects(Manager *m, bool *ret_healthy) {
        json_t *a = json_array();
        bool healthy = true;

        for (Want *w = m->want; w; w = w->hh.next) {
                /* A tunnel's routes wait while its device is down: that is how it should be. */
                bool expected_absent = w->blocked && (w->role == ROLE_TUN_ROUTE || w->role == ROLE_MIRROR_ROUTE);

                healthy = healthy && (want_is_present(m, w) || expected_absent);
                json_array_append_new(a, status_want(m, w));
        }
        for (Have *h = m->have; h; h = h->hh.next) {
                char text[OBJECT_STRLEN];

                if (want_get(m, &h->key))
                        continue;
                json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:b}",
                                                   "kind", object_kind_to_string(h->obj.kind),
                                                   "role", object_role_to_string(ROLE_STALE),
                                                   "family", family_to_string(h->obj.family),
                                                   "object", object_to_string(&h->obj, object_ifname(m, &h->obj), text),
                                                   "present", true));
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

static json_t *status_counters(const Manager *m) {
        const Counters *c = &m->counters;

        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
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
                         "firewall_errors", (json_int_t) c->firewall_errors);
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

static size_t link_main_routes(const Link *l) {
        size_t n = 0;

        for (const MainRoute *r = l->routes; r; r = r->next)
                n++;
        return n;
}

static json_t *status_device(Manager *m, const Link *l) {
        Registration *reg;

        HASH_FIND_STR(m->registrations, l->info.name, reg);
        if (reg && reg->ifindex != l->info.ifindex)
                reg = NULL;
        return json_pack("{s:s, s:s, s:i, s:b, s:o, s:I, s:b, s:o, s:o, s:o, s:o}",
                         "name", l->info.name,
                         "kind", l->info.kind,
                         "ifindex", l->info.ifindex,
                         "up", (bool) (l->info.flags & IFF_UP),
                         "addresses", status_addresses(l),
                         "main_routes", (json_int_t) link_main_routes(l),
                         "registered", reg != NULL,
                         "config", json_string_or_null(reg ? reg->config : NULL),
                         "daemon_pid", reg && reg->daemon_pid > 0 ? json_integer(reg->daemon_pid) : json_null(),
                         "registered_at", json_time(reg ? reg->registered_at : 0),
                         "registered_by_uid", reg && reg->registered_by_uid != REGISTRATION_UID_UNKNOWN ?
                         json_integer((json_int_t) reg->registered_by_uid) : json_null());
}

static json_t *status_devices(Manager *m) {
        json_t *a = json_array();

        for (Link *l = m->links; l; l = l->hh.next)
                if (l->managed)
                        json_array_append_new(a, status_device(m, l));
        return a;
}

static json_t *status_kernel(const Manager *m) {
        return json_pack("{s:b, s:b, s:b}",
                         "ipv4_forwarding", m->forwarding[0],
                         "ipv6_forwarding", m->forwarding[1],
                         "send_redirects", m->config->send_redirects);
}

static json_t *status_build(Manager *m) {
        bool healthy;
        json_t *objects = status_objects(m, &healthy);

        return json_pack("{s:i, s:s, s:i, s:o, s:I, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                         "schema", STATUS_SCHEMA_VERSION,
                         "version", VERSION,
                         "pid", (int) getpid(),
                         "started", json_time(m->started_realtime),
                         "uptime_usec", (json_int_t) (now_monotonic() - m->started_monotonic),
                         "health", healthy ? "healthy" : "degraded",
                         "resync_pending", m->need_resync,
                         "config", status_config(m->config),
                         "objects", objects,
                         "devices", status_devices(m),
                         "kernel", status_kernel(m),
                         "firewall", firewall_status(m),
                         "counters", status_counters(m),
                         "last_error", json_string_or_null(m->last_error_text));
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
