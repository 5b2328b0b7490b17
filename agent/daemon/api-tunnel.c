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
#include "time-util.h"

#define REGISTER_TIMEOUT_DEFAULT_USEC (2U * 1000000U)
#define REGISTER_TIMEOUT_MAX_USEC (10U * 1000000U)

/* A RegisterTunnel call waiting until the kernel holds the device's tun routes. */
typedef struct PendingCall {
        Manager *manager;
        VarlinkCall *call;
        HookRequest request;
        uid_t uid;                      /* the caller's */
        sd_event_source *timer;
        struct PendingCall *prev, *next;
} PendingCall;

static void pending_free(Manager *m, PendingCall *p) {
        DL_DELETE(m->pending, p);
        sd_event_source_disable_unref(p->timer);
        free(p);
}

bool api_peer_may_register(const Manager *m, const VarlinkPeer *peer) {
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

/* The tun route wanted for a subnet of the device: in the kernel, or nothing to wait for. */
static bool subnet_route_present(Manager *m, const Link *l, const Prefix *subnet) {
        const PolicyConfig *p = config_policy_by_address(m->config, subnet->family, &subnet->addr);
        const Tunnel *t = tunnels_get(m, l->info.ifindex);
        ObjectKey key;
        Record *r;
        Object o;

        if (!p && t)
                p = &m->config->policies[t->policy];
        if (!p || !desired_tun_route(p->table_id, l->info.ifindex, subnet->family, subnet,
                                     subnet->prefixlen == 32, VPNPOLICY_PROTO, &o))
                return true;
        key = object_key(&o);
        r = records_get(&m->records, &key);
        return r && record_present(r);
}

static void refuse_unregistered(VarlinkCall *call, const char *dev, uid_t uid) {
        log_notice("Refused RegisterTunnel of %s from uid %u: root registered no such device, and non-root "
                   "callers may only confirm root's registration.", dev, (unsigned) uid);
        (void) varlink_call_errorf(call, VARLINK_ERROR_PERMISSION_DENIED,
                                   "%s was not registered by root: uid %u may only confirm a registration that "
                                   "root made for this very device (OpenVPN's up hook runs as root at start)",
                                   dev, (unsigned) uid);
}

/* Root's word, recorded (a change once: a call waiting for its routes comes here on every pass). */
static int registration_record(Manager *m, const HookRequest *h, const Link *l) {
        int r = registrations_record(&m->registrations, h->dev, l->info.ifindex, h->config[0] ? h->config : NULL,
                                     h->daemon_pid, 0, now_realtime());

        if (r > 0) {
                int k = registrations_save(&m->registrations, m->runtime_dir);
                if (k < 0)
                        log_warning_errno(k, "Failed to save %s/registrations.json, ignoring: %m. A restarted agent "
                                          "will not know which OpenVPN registered which tunnel.", m->runtime_dir);
        }
        return r;
}

static json_t *routes_json(const Prefix *subnets, size_t n) {
        json_t *a = json_array();
        char buf[PREFIX_STRLEN];

        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(prefix_to_string(&subnets[i], buf)));
        return a;
}

static void pending_answer(Manager *m, PendingCall *p, const Link *l, const Prefix *subnets, size_t n) {
        const Registration *reg = registrations_get_root(&m->registrations, l->info.name, l->info.ifindex);

        log_info("Tunnel %s registered by OpenVPN (pid %d, %s%s), its routes are in.", l->info.name,
                 reg ? reg->daemon_pid : 0, reg && reg->config ? reg->config : "no config path",
                 p->uid != 0 ? "; root's registration, confirmed by a non-root caller" : "");
        (void) varlink_call_reply(p->call, json_pack("{s:s, s:o}", "dev", l->info.name, "routes",
                                                     routes_json(subnets, n)));
}

/* Answers the call if its device is there and its routes are in. Returns true when answered. */
static bool pending_try(Manager *m, PendingCall *p) {
        Link *l = links_by_name(&m->links, p->request.dev);
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
        /* What a non-root caller says (config, daemon_pid) is not recorded: root's registration stands. */
        if (p->uid != 0 && !registrations_get_root(&m->registrations, p->request.dev, l->info.ifindex)) {
                refuse_unregistered(p->call, p->request.dev, p->uid);
                return true;
        }
        if (p->uid == 0 && registration_record(m, &p->request, l) < 0)
                return false;
        if (!tunnels_get(m, l->info.ifindex))
                return false;   /* the pass looks at the registration and takes the device over */
        for (size_t i = 0; i < n; i++)
                if (!subnet_route_present(m, l, &subnets[i]))
                        return false;
        pending_answer(m, p, l, subnets, n);
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

        if (!api_peer_may_register(m, peer)) {
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
        if (peer->uid != 0 && !registrations_get_root(&m->registrations, p->request.dev, 0)) {
                refuse_unregistered(call, p->request.dev, peer->uid);
                free(p);
                return;
        }
        p->manager = m;
        p->call = call;
        p->uid = peer->uid;
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
