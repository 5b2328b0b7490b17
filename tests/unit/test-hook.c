/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parser of what OpenVPN passes to its up hook, used by the hook and the agent alike. */

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "hook.h"
#include "macro.h"
#include "tests.h"

/* The environment as a NULL-terminated list of "name=value". */
static const char *list_lookup(const char *name, void *userdata) {
        size_t len = strlen(name);

        for (const char *const *e = userdata; *e; e++)
                if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
                        return *e + len + 1;
        return NULL;
}

static int parse(const char *const *env, HookRequest *ret, char error[static HOOK_ERROR_MAX]) {
        return hook_request_parse(list_lookup, (void *) (uintptr_t) env, ret, error);
}

#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_subnet(void) {
        char error[HOOK_ERROR_MAX], s[PREFIX_STRLEN];
        HookRequest h;
        Prefix p[2];

        ASSERT(parse(ENV("dev=tun0", "dev_type=tun", "ifconfig_local=10.10.10.1", "ifconfig_netmask=255.255.255.0",
                         "ifconfig_ipv6_local=fd00:4242:4242:4242::1", "ifconfig_ipv6_netbits=64",
                         "config=/etc/openvpn/server/udp.conf", "daemon_pid=4242", "script_type=up"),
                     &h, error) == 0);
        ASSERT(streq(h.dev, "tun0") && h.daemon_pid == 4242 && h.prefixlen4 == 24 && h.prefixlen6 == 64);
        ASSERT(hook_request_subnets(&h, p) == 2);
        ASSERT(streq(prefix_to_string(&p[0], s), "10.10.10.0/24"));
        ASSERT(streq(prefix_to_string(&p[1], s), "fd00:4242:4242:4242::/64"));
}

static void test_net30(void) {
        char error[HOOK_ERROR_MAX], s[PREFIX_STRLEN];
        HookRequest h;
        Prefix p[2];

        ASSERT(parse(ENV("dev=tun1", "ifconfig_local=10.8.0.1", "ifconfig_remote=10.8.0.2"), &h, error) == 0);
        ASSERT(hook_request_subnets(&h, p) == 1);
        ASSERT(streq(prefix_to_string(&p[0], s), "10.8.0.2/32"));
}

/* What the agent receives is what the hook sent: to JSON and back. */
static void test_json_round_trip(void) {
        char error[HOOK_ERROR_MAX];
        HookRequest h, back;
        json_t *j;

        ASSERT(parse(ENV("dev=tun0", "ifconfig_local=10.10.10.1", "ifconfig_netmask=255.255.255.0",
                         "ifconfig_ipv6_local=fd00::1", "ifconfig_ipv6_netbits=64", "config=/x y/z.conf",
                         "daemon_pid=1", "script_type=up"), &h, error) == 0);
        j = hook_request_to_json(&h);
        ASSERT(j);
        ASSERT(hook_request_parse(hook_json_lookup, j, &back, error) == 0);
        ASSERT(memcmp(&h, &back, sizeof(h)) == 0);
        json_decref(j);
}

static void test_hostile(void) {
        const char *const *bad[] = {
                ENV("dev=tun0;reboot"),
                ENV("dev=$(reboot)"),
                ENV("dev=tun 0"),
                ENV("dev=tun0\nx"),
                ENV("dev=tun0123456789abc"),            /* 16 characters */
                ENV("dev="),
                ENV("dev=.."),
                ENV("dev=../etc"),
                ENV("dev_type=tun"),                    /* no dev */
                ENV("dev=tun0", "ifconfig_local=10.10.10.1", "ifconfig_netmask=255.0.255.0"),
                ENV("dev=tun0", "ifconfig_local=10.10.10.300"),
                ENV("dev=tun0", "ifconfig_local=10.10.10.1 ", "ifconfig_netmask=255.255.255.0"),
                ENV("dev=tun0", "ifconfig_netmask=255.255.255.0"),
                ENV("dev=tun0", "ifconfig_ipv6_local=fd00::1", "ifconfig_ipv6_netbits=129"),
                ENV("dev=tun0", "ifconfig_ipv6_local=fd00::1"),
                ENV("dev=tun0", "ifconfig_ipv6_local=fd00::1%eth0", "ifconfig_ipv6_netbits=64"),
                ENV("dev=tun0", "ifconfig_ipv6_local=10.0.0.1", "ifconfig_ipv6_netbits=64"),
                ENV("dev=tun0", "daemon_pid=-1"),
                ENV("dev=tun0", "daemon_pid=0x10"),
                ENV("dev=tun0", "script_type=down"),
                ENV("dev=tun0", "config=/etc/x\x1b[31m"),
                ENV("dev=tun0", "dev_type=ether"),
        };
        char error[HOOK_ERROR_MAX];
        HookRequest h;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ASSERT(parse(bad[i], &h, error) == -EINVAL);
                ASSERT(error[0] != 0);
        }
}

static void test_json_types(void) {
        char error[HOOK_ERROR_MAX];
        HookRequest h;
        json_t *j = json_pack("{s:s, s:i}", "dev", "tun0", "daemon_pid", 5);

        ASSERT(hook_request_parse(hook_json_lookup, j, &h, error) == -EINVAL);   /* a number, not a string */
        json_decref(j);
        j = json_pack("{s:[s]}", "dev", "tun0");
        ASSERT(hook_request_parse(hook_json_lookup, j, &h, error) == -EINVAL);
        json_decref(j);
}

int main(void) {
        RUN(test_subnet);
        RUN(test_net30);
        RUN(test_json_round_trip);
        RUN(test_hostile);
        RUN(test_json_types);
        TESTS_DONE();
}
