/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "varlink.h"

/* The io.vpnpolicy varlink methods. userdata is the Manager. */
void api_dispatch(VarlinkCall *call, const char *method, json_t *parameters, const VarlinkPeer *peer,
                  void *userdata);
/* Whether a peer may call a method at all (read or register): the control socket keeps room for them. */
bool api_peer_privileged(const VarlinkPeer *peer, void *userdata);

typedef struct Manager Manager;

/* Every family a policy has pools of has a gateway that carries it, and every probe that should run can:
 * the policies' part of GetStatus' "health" and of GetMetrics' "healthy". */
bool api_policies_healthy(Manager *m);

/* api-tunnel.c: io.vpnpolicy.RegisterTunnel, and answering the calls that wait for their routes. */
void api_register_tunnel(Manager *m, VarlinkCall *call, json_t *parameters, const VarlinkPeer *peer);
bool api_peer_may_register(const Manager *m, const VarlinkPeer *peer);
void api_pending_check(Manager *m);
void api_pending_free_all(Manager *m);

/* api-metrics.c: io.vpnpolicy.GetMetrics, the aggregated figures behind `vpnpolicyctl metrics`. */
void api_get_metrics(Manager *m, VarlinkCall *call, json_t *parameters);
/* The version of the GetMetrics reply's layout (docs/monitoring.md). */
#define METRICS_SCHEMA_VERSION 1

/* The version of the GetStatus reply's layout (docs/status-schema.md). */
#define STATUS_SCHEMA_VERSION 1
