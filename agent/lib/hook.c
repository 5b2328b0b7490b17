/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hook.h"
#include "macro.h"
#include "parse-util.h"

_printf_(2, 3) static int hook_error(char error[static HOOK_ERROR_MAX], const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(error, HOOK_ERROR_MAX, format, ap);
        va_end(ap);
        return -EINVAL;
}

/* Printable ASCII only, so a value can be logged and shown without escaping games. */
static bool printable(const char *s) {
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        return false;
        return true;
}

static int parse_addr_var(hook_lookup_t lookup, void *userdata, const char *name, int family, bool *has,
                          InAddrUnion *ret, char error[static HOOK_ERROR_MAX]) {
        const char *v = lookup(name, userdata);

        if (!v || !*v)
                return 0;
        if (addr_parse(family, v, NULL, ret) < 0)
                return hook_error(error, "%s is not an %s address", name, family == AF_INET ? "IPv4" : "IPv6");
        *has = true;
        return 0;
}

static int parse_dev(hook_lookup_t lookup, void *userdata, HookRequest *h, char error[static HOOK_ERROR_MAX]) {
        const char *dev = lookup("dev", userdata), *type = lookup("dev_type", userdata);

        if (!dev)
                return hook_error(error, "dev is missing");
        if (!ifname_valid(dev))
                return hook_error(error, "dev is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -)");
        snprintf(h->dev, sizeof(h->dev), "%s", dev);
        if (type && *type) {
                if (!streq(type, "tun") && !streq(type, "tap") && !streq(type, "null"))
                        return hook_error(error, "dev_type must be tun, tap or null");
                snprintf(h->dev_type, sizeof(h->dev_type), "%s", type);
        }
        return 0;
}

static int parse_ipv4(hook_lookup_t lookup, void *userdata, HookRequest *h, char error[static HOOK_ERROR_MAX]) {
        const char *mask = lookup("ifconfig_netmask", userdata);
        struct in_addr m;

        if (parse_addr_var(lookup, userdata, "ifconfig_local", AF_INET, &h->has_local4, &h->local4, error) < 0 ||
            parse_addr_var(lookup, userdata, "ifconfig_remote", AF_INET, &h->has_remote4, &h->remote4, error) < 0)
                return -EINVAL;
        h->prefixlen4 = 32;
        if (mask && *mask) {
                if (inet_pton(AF_INET, mask, &m) != 1 || netmask_to_prefixlen(&m, &h->prefixlen4) < 0)
                        return hook_error(error, "ifconfig_netmask is not a contiguous IPv4 netmask");
        }
        if ((mask && *mask) && !h->has_local4)
                return hook_error(error, "ifconfig_netmask given without ifconfig_local");
        return 0;
}

static int parse_ipv6(hook_lookup_t lookup, void *userdata, HookRequest *h, char error[static HOOK_ERROR_MAX]) {
        const char *bits = lookup("ifconfig_ipv6_netbits", userdata);
        uint32_t n;

        if (parse_addr_var(lookup, userdata, "ifconfig_ipv6_local", AF_INET6, &h->has_local6, &h->local6, error) < 0)
                return -EINVAL;
        if (!h->has_local6)
                return 0;
        if (!bits || parse_u32(bits, &n) < 0 || n > 128)
                return hook_error(error, "ifconfig_ipv6_netbits must be a number from 0 to 128");
        h->prefixlen6 = (uint8_t) n;
        return 0;
}

static int parse_misc(hook_lookup_t lookup, void *userdata, HookRequest *h, char error[static HOOK_ERROR_MAX]) {
        const char *config = lookup("config", userdata), *pid = lookup("daemon_pid", userdata);
        const char *type = lookup("script_type", userdata);
        uint32_t n;

        if (config && *config) {
                if (strlen(config) >= sizeof(h->config) || !printable(config))
                        return hook_error(error, "config is not a printable path of at most 4095 characters");
                snprintf(h->config, sizeof(h->config), "%s", config);
        }
        if (pid && *pid) {
                if (parse_u32(pid, &n) < 0 || n == 0 || n > INT32_MAX)
                        return hook_error(error, "daemon_pid is not a process id");
                h->daemon_pid = (int) n;
        }
        if (type && *type) {
                if (!streq(type, "up"))
                        return hook_error(error, "script_type is '%.15s': only the up hook registers a tunnel",
                                          printable(type) ? type : "?");
                snprintf(h->script_type, sizeof(h->script_type), "%s", type);
        }
        return 0;
}

int hook_request_parse(hook_lookup_t lookup, void *userdata, HookRequest *ret, char error[static HOOK_ERROR_MAX]) {
        HookRequest h = {};

        error[0] = 0;
        if (parse_dev(lookup, userdata, &h, error) < 0 || parse_ipv4(lookup, userdata, &h, error) < 0 ||
            parse_ipv6(lookup, userdata, &h, error) < 0 || parse_misc(lookup, userdata, &h, error) < 0)
                return -EINVAL;
        *ret = h;
        return 0;
}

/* Only the members that have a value, each a string as OpenVPN's environment has it: the agent reads
 * them back with hook_request_parse() (hook-json.c), through the same checks. */
void hook_request_write(const HookRequest *h, JsonWriter *w) {
        char a[ADDR_STRLEN], r[ADDR_STRLEN], l6[ADDR_STRLEN], mask[ADDR_STRLEN], bits[8], pid[16];
        struct in_addr m = { .s_addr = h->prefixlen4 == 0 ? 0 : htonl(~0U << (32 - h->prefixlen4)) };

        json_writer_member_string(w, "dev", h->dev);
        if (h->dev_type[0])
                json_writer_member_string(w, "dev_type", h->dev_type);
        if (h->has_local4) {
                json_writer_member_string(w, "ifconfig_local", addr_to_string(AF_INET, &h->local4, a));
                json_writer_member_string(w, "ifconfig_netmask", inet_ntop(AF_INET, &m, mask, sizeof(mask)));
        }
        if (h->has_remote4)
                json_writer_member_string(w, "ifconfig_remote", addr_to_string(AF_INET, &h->remote4, r));
        if (h->has_local6) {
                snprintf(bits, sizeof(bits), "%u", h->prefixlen6);
                json_writer_member_string(w, "ifconfig_ipv6_local", addr_to_string(AF_INET6, &h->local6, l6));
                json_writer_member_string(w, "ifconfig_ipv6_netbits", bits);
        }
        if (h->config[0])
                json_writer_member_string(w, "config", h->config);
        if (h->daemon_pid > 0) {
                snprintf(pid, sizeof(pid), "%d", h->daemon_pid);
                json_writer_member_string(w, "daemon_pid", pid);
        }
        if (h->script_type[0])
                json_writer_member_string(w, "script_type", h->script_type);
}

size_t hook_request_subnets(const HookRequest *h, Prefix ret[static 2]) {
        size_t n = 0;

        if (h->has_remote4)
                ret[n++] = (Prefix) { .family = AF_INET, .prefixlen = 32, .addr = h->remote4 };
        else if (h->has_local4 && h->prefixlen4 < 32)
                ret[n++] = (Prefix) { .family = AF_INET, .prefixlen = h->prefixlen4, .addr = h->local4 };
        if (h->has_local6 && h->prefixlen6 < 128)
                ret[n++] = (Prefix) { .family = AF_INET6, .prefixlen = h->prefixlen6, .addr = h->local6 };
        for (size_t i = 0; i < n; i++)
                prefix_mask(&ret[i]);
        return n;
}
