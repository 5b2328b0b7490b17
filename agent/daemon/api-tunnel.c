/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "api.h"
#include "desired.h"
#include "hook-json.h"
#include "hook.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"

#define REGISTER_TIMEOUT_DEFAULT_USEC (2U * 1000000U)
#define REGISTER_TIMEOUT_MAX_USEC (10U * 1000000U)

/* A RegisterTunnel call waiting until the kernel holds the device's tun routes. */
typedef struct PendingCall {
        Manager *manager;
        VarlinkCall *call;
        HookRequest request;
        sd_event_source *timer;
        struct PendingCall *prev, *next;
} PendingCall;

static void pending_free(Manager *m, PendingCall *p) {
        DL_DELETE(m->pending, p);
        sd_event_source_disable_unref(p->timer);
        free(p);
}

static bool peer_may_register(const Manager *m, const VarlinkPeer *peer) {
        const Config *c = m->config;

        if (peer->uid == 0)
                return true;
        for (size_t i = 0; c->register_users && c->register_users[i]; i++)
                if (c->register_uids[i] == peer->uid)
                        return true;
        for (size_t i = 0; c->register_groups && c->register_groups[i]; i++)
                if (varlink_peer_in_group(peer, c->register_gids[i]))
                        return true;
        return false;
}

/* The tun route wanted for a subnet of the device, if it is in the kernel. */
static bool subnet_route_present(Manager *m, const Link *l, const Prefix *subnet) {
        Object o;
        ObjectKey key;
        Want *w;

        if (!desired_tun_route(m->config, l->info.ifindex, subnet->family, subnet, subnet->prefixlen == 32,
                               VPNPOLICY_PROTO, &o))
                return true;    /* nothing to wait for */
        key = object_key(&o);
        w = want_get(m, &key);
        return w && want_is_present(m, w);
}

static int registration_record(Manager *m, const HookRequest *h, const Link *l) {
        Registration *reg;

        HASH_FIND_STR(m->registrations, h->dev, reg);
        /* A call waiting for its routes comes here on every pass: write the file once per change. */
        if (reg && reg->ifindex == l->info.ifindex && reg->daemon_pid == h->daemon_pid &&
            streq_ptr(reg->config, h->config[0] ? h->config : NULL))
                return 0;
        if (!reg) {
                reg = calloc(1, sizeof(Registration));
                if (!reg)
                        return -ENOMEM;
                snprintf(reg->name, sizeof(reg->name), "%s", h->dev);
                HASH_ADD_STR(m->registrations, name, reg);
        }
        free(reg->config);
        reg->config = h->config[0] ? strdup(h->config) : NULL;
        reg->ifindex = l->info.ifindex;
        reg->daemon_pid = h->daemon_pid;
        reg->registered_at = now_realtime();
        (void) registrations_save(m);
        return 0;
}

static json_t *routes_json(Manager *m, const Prefix *subnets, size_t n) {
        json_t *a = json_array();
        char buf[PREFIX_STRLEN];

        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(prefix_to_string(&subnets[i], buf)));
        return a;
}

/* Answers the call if its device is there and its routes are in. Returns true when answered. */
static bool pending_try(Manager *m, PendingCall *p) {
        Link *l = link_by_name(m, p->request.dev);
        Prefix subnets[2];
        size_t n = hook_request_subnets(&p->request, subnets);

        if (!l)
                return false;
        if (!desired_kind_is_tunnel(l->info.kind)) {
                (void) varlink_call_errorf(p->call, VARLINK_ERROR_INVALID_PARAMETER,
                                           "%s is a %s device, not a tunnel", l->info.name,
                                           l->info.kind[0] ? l->info.kind : "plain");
                return true;
        }
        if (registration_record(m, &p->request, l) < 0)
                return false;
        if (!l->managed) {
                tunnels_link_updated(m, l, false);
                manager_schedule_reconcile(m);
                return false;
        }
        for (size_t i = 0; i < n; i++)
                if (!subnet_route_present(m, l, &subnets[i]))
                        return false;
        log_info("Tunnel %s registered by OpenVPN (pid %d, %s), its routes are in table %s.", l->info.name,
                 p->request.daemon_pid, p->request.config[0] ? p->request.config : "no config path",
                 m->config->table_name);
        (void) varlink_call_reply(p->call, json_pack("{s:s, s:o}", "dev", l->info.name, "routes",
                                                     routes_json(m, subnets, n)));
        return true;
}

void api_pending_check(Manager *m) {
        PendingCall *p, *tmp;

        DL_FOREACH_SAFE(m->pending, p, tmp)
                if (pending_try(m, p))
                        pending_free(m, p);
}

static int on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        PendingCall *p = userdata;

        log_warning("Tunnel %s: routes not confirmed in time, telling the hook.", p->request.dev);
        (void) varlink_call_errorf(p->call, "io.vpnpolicy.Timeout",
                                   "device %s or its routes did not appear in time", p->request.dev);
        pending_free(p->manager, p);
        return 0;
}

static uint64_t request_timeout(json_t *parameters) {
        json_t *t = json_object_get(parameters, "timeout_usec");

        if (!json_is_integer(t) || json_integer_value(t) <= 0)
                return REGISTER_TIMEOUT_DEFAULT_USEC;
        return MIN((uint64_t) json_integer_value(t), (uint64_t) REGISTER_TIMEOUT_MAX_USEC);
}

void api_register_tunnel(Manager *m, VarlinkCall *call, json_t *parameters, const VarlinkPeer *peer) {
        char error[HOOK_ERROR_MAX];
        PendingCall *p;

        if (!peer_may_register(m, peer)) {
                log_notice("Refused RegisterTunnel from uid %u gid %u (pid %d): not root and not allowed by "
                           "[Control] RegisterUser=/RegisterGroup=.", peer->uid, peer->gid, peer->pid);
                (void) varlink_call_errorf(call, VARLINK_ERROR_PERMISSION_DENIED,
                                           "uid %u may not register tunnels (see [Control] RegisterUser=)", peer->uid);
                return;
        }
        p = calloc(1, sizeof(PendingCall));
        if (!p || hook_request_parse(hook_json_lookup, parameters, &p->request, error) < 0) {
                log_notice("Refused RegisterTunnel from pid %d: %s", peer->pid, p ? error : "out of memory");
                (void) varlink_call_errorf(call, VARLINK_ERROR_INVALID_PARAMETER, "%s", p ? error : "out of memory");
                free(p);
                return;
        }
        p->manager = m;
        p->call = call;
        DL_APPEND(m->pending, p);
        if (pending_try(m, p)) {
                pending_free(m, p);
                return;
        }
        (void) sd_event_add_time_relative(m->event, &p->timer, CLOCK_MONOTONIC, request_timeout(parameters), 0,
                                          on_pending_timeout, p);
}

void api_pending_free_all(Manager *m) {
        PendingCall *p, *tmp;

        DL_FOREACH_SAFE(m->pending, p, tmp) {
                (void) varlink_call_errorf(p->call, "io.vpnpolicy.ShuttingDown", "vpnpolicyd is stopping");
                pending_free(m, p);
        }
}
