/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>

#include "addr.h"
#include "json-writer.h"

/* What OpenVPN passes to its up script, validated. Both the hook (from its environment) and the agent
 * (from the RegisterTunnel parameters) parse it with the same code: neither trusts the other. libc only:
 * this is part of the hook, which links nothing else. */
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

/* The members of the parameters of io.vpnpolicy.RegisterTunnel, into the object w has open. The agent's
 * side, which reads them back, is hook_json_lookup() (hook-json.h). */
void hook_request_write(const HookRequest *h, JsonWriter *w);

/* The tun-route subnets the request implies (at most 2). */
size_t hook_request_subnets(const HookRequest *h, Prefix ret[static 2]);
