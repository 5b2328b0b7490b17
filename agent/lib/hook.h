/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>

#include "addr.h"

/* What OpenVPN passes to its up script, validated. Both the hook (from its environment) and the agent
 * (from the RegisterTunnel parameters) parse it with the same code: neither trusts the other. */
typedef struct HookRequest {
        char dev[IFNAMSIZ];
        char dev_type[8];               /* "tun"; "" when OpenVPN did not say */
        bool has_local4, has_remote4, has_local6;
        InAddrUnion local4, remote4, local6;
        uint8_t prefixlen4, prefixlen6; /* from ifconfig_netmask / ifconfig_ipv6_netbits */
        char config[4096];              /* OpenVPN's config file; "" when absent */
        int daemon_pid;                 /* 0 when absent */
        char script_type[16];           /* "up" */
} HookRequest;

#define HOOK_ERROR_MAX 256

/* lookup(name) returns a variable's value or NULL: getenv for the hook, a JSON object for the agent.
 * On a bad or missing value returns -EINVAL with one line in error naming the variable. */
typedef const char *(*hook_lookup_t)(const char *name, void *userdata);
int hook_request_parse(hook_lookup_t lookup, void *userdata, HookRequest *ret, char error[static HOOK_ERROR_MAX]);

/* The parameters of io.vpnpolicy.RegisterTunnel, and the lookup that reads them back. */
json_t *hook_request_to_json(const HookRequest *h);
const char *hook_json_lookup(const char *name, void *userdata);

/* The tun-route subnets the request implies (at most 2). */
size_t hook_request_subnets(const HookRequest *h, Prefix ret[static 2]);
