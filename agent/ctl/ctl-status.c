/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "macro.h"

static const char *str(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        return json_is_string(v) ? json_string_value(v) : "-";
}

static long long num(json_t *o, const char *key) {
        return (long long) json_integer_value(json_object_get(o, key));
}

static bool colour(void) {
        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
}

static void print_uptime(long long usec) {
        long long s = usec / 1000000;

        if (s >= 86400)
                printf("%lldd %lldh", s / 86400, s % 86400 / 3600);
        else if (s >= 3600)
                printf("%lldh %lldm", s / 3600, s % 3600 / 60);
        else
                printf("%lldm %llds", s / 60, s % 60);
}

static void print_header(json_t *s) {
        json_t *config = json_object_get(s, "config"), *v;
        bool healthy = streq(str(s, "health"), "healthy");
        size_t i;

        printf("%s%s%s vpnpolicyd %s: %s (pid %lld, up ", colour() ? (healthy ? "\033[32m" : "\033[33m") : "",
               healthy ? "●" : "▲", colour() ? "\033[0m" : "", str(s, "version"), str(s, "health"), num(s, "pid"));
        print_uptime(num(s, "uptime_usec"));
        printf(")\n  Config:   ");
        json_array_foreach(json_object_get(config, "files"), i, v)
                printf("%s%s", i > 0 ? ", " : "", json_string_value(v));
        putchar('\n');
}

/* An agent of schema 1 without "policies": its one policy, from "config". */
static void print_config_policy(json_t *s) {
        json_t *config = json_object_get(s, "config"), *table = json_object_get(config, "table");
        json_t *gw = json_object_get(config, "gateway"), *v;
        size_t i;

        printf("  Table:    %s (%lld), source rules at priority %lld\n  Pools:   ", str(table, "name"),
               num(table, "id"), num(table, "priority"));
        json_array_foreach(json_object_get(config, "pools"), i, v)
                printf(" %s", json_string_value(v));
        printf("\n  Gateway:  %s, %s%s%s\n\n", str(gw, "ipv4"), str(gw, "ipv6"),
               json_is_string(json_object_get(gw, "device")) ? " dev " : "",
               json_is_string(json_object_get(gw, "device")) ? str(gw, "device") : "");
}

static void print_usec(long long usec) {
        if (usec >= 1000000)
                printf("%.1fs", (double) usec / 1e6);
        else
                printf("%.2fms", (double) usec / 1e3);
}

static const char *const families[] = { "ipv4", "ipv6" };

/* "IPv4 by nat1 (since ..., why)", or the fail-closed drop. */
static void print_traffic(json_t *policy, const char *family) {
        json_t *choice = json_object_get(json_object_get(policy, "choice"), family);
        json_t *active = json_object_get(json_object_get(policy, "active"), family);
        bool has = false, red;
        json_t *g;
        size_t i;

        json_array_foreach(json_object_get(policy, "gateways"), i, g)
                has = has || json_is_string(json_object_get(g, family));
        if (!has)
                return;
        red = colour() && !json_is_string(active);
        printf("  Traffic:  %s %s%s%s", streq(family, "ipv4") ? "IPv4" : "IPv6", red ? "\033[31m" : "",
               json_is_string(active) ? "by " : "fail-closed: DROPPED, no usable gateway", red ? "\033[0m" : "");
        if (json_is_string(active))
                printf("%s", json_string_value(active));
        if (json_is_object(choice))
                printf(" (since %s: %s%s)", str(choice, "since"), str(choice, "why"),
                       json_is_true(json_object_get(choice, "adopted")) ? ", adopted from the previous run" : "");
        putchar('\n');
}

static void print_health(json_t *h, const char *family) {
        json_t *rtt = json_object_get(h, "rtt_usec");
        const char *state = str(h, "state");
        bool bad = streq(state, "down") || !json_is_true(json_object_get(h, "usable"));

        printf("    %s %s%-8s%s since %s", streq(family, "ipv4") ? "IPv4" : "IPv6",
               colour() && bad ? "\033[31m" : "", state, colour() && bad ? "\033[0m" : "", str(h, "since"));
        if (json_is_integer(json_object_get(rtt, "last"))) {
                printf(", rtt ");
                print_usec(num(rtt, "last"));
                printf(" (avg ");
                print_usec(num(rtt, "average"));
                putchar(')');
        }
        printf(", loss %lld%%", num(h, "loss_percent"));
        if (json_is_true(json_object_get(h, "active")))
                printf(", ACTIVE");
        if (json_is_string(json_object_get(h, "neighbour")))
                printf(", neighbour %s", str(h, "neighbour"));
        printf("\n      last change %s: %s", json_is_string(json_object_get(h, "last_change")) ?
               str(h, "last_change") : "none since the start", str(h, "reason"));
        if (json_is_string(json_object_get(json_object_get(h, "link"), "reason")))
                printf("; link: %s", str(json_object_get(h, "link"), "reason"));
        putchar('\n');
}

static void print_gateway(json_t *g) {
        json_t *probe = json_object_get(g, "probe"), *targets = json_object_get(probe, "targets");

        printf("  Gateway %s (priority %lld): %s, %s%s%s, probe %s", str(g, "name"), num(g, "priority"),
               str(g, "ipv4"), str(g, "ipv6"), json_is_string(json_object_get(g, "device")) ? " dev " : "",
               json_is_string(json_object_get(g, "device")) ? str(g, "device") : "", str(probe, "type"));
        if (streq(str(probe, "type"), "icmp")) {
                printf(" every ");
                print_usec(num(probe, "interval_usec"));
                if (json_is_string(json_object_get(targets, "ipv4")) || json_is_string(json_object_get(targets, "ipv6")))
                        printf(" through it to %s, %s", str(targets, "ipv4"), str(targets, "ipv6"));
        }
        putchar('\n');
        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                json_t *h = json_object_get(json_object_get(g, "health"), families[i]);

                if (json_is_object(h))
                        print_health(h, families[i]);
        }
}

static void print_policy(json_t *p) {
        json_t *table = json_object_get(p, "table"), *v;
        size_t i;

        printf("\nPolicy %s: table %s (%lld), source rules at priority %lld, %s", str(p, "name"),
               str(table, "name"), num(table, "id"), num(table, "priority"),
               json_is_true(json_object_get(p, "preempt")) ? "preempt" : "no preempt");
        if (json_is_true(json_object_get(p, "preempt"))) {
                printf(" after ");
                print_usec(num(p, "preempt_hold_usec"));
        }
        printf(", %lld failovers\n  Pools:   ", num(p, "failovers"));
        json_array_foreach(json_object_get(p, "pools"), i, v)
                printf(" %s", json_string_value(v));
        putchar('\n');
        for (i = 0; i < ELEMENTSOF(families); i++)
                print_traffic(p, families[i]);
        json_array_foreach(json_object_get(p, "gateways"), i, v)
                print_gateway(v);
}

static void print_policies(json_t *s) {
        json_t *policies = json_object_get(s, "policies"), *p;
        size_t i;

        if (!json_is_array(policies)) {
                print_config_policy(s);
                return;
        }
        printf("  Policies: %zu\n", json_array_size(policies));
        json_array_foreach(policies, i, p)
                print_policy(p);
        putchar('\n');
}

static void print_objects(json_t *s) {
        json_t *o;
        size_t i;

        printf("%-14s %-4s %-7s %-20s %-8s %s\n", "ROLE", "FAM", "PRESENT", "SINCE", "RESTORES", "OBJECT");
        json_array_foreach(json_object_get(s, "objects"), i, o) {
                bool present = json_is_true(json_object_get(o, "present"));

                printf("%-14s %-4s %s%-7s%s %-20s %-8lld %s\n", str(o, "role"),
                       streq(str(o, "family"), "ipv6") ? "v6" : "v4",
                       colour() && !present ? "\033[31m" : "", present ? "yes" : "NO",
                       colour() && !present ? "\033[0m" : "", str(o, "since"), num(o, "restores"), str(o, "object"));
                if (json_is_string(json_object_get(o, "blocked")))
                        printf("%16s blocked: %s\n", "", str(o, "blocked"));
                if (json_is_string(json_object_get(o, "last_error")))
                        printf("%16s last error: %s (%lld failures)\n", "", str(o, "last_error"), num(o, "failures"));
        }
}

static void print_devices(json_t *s) {
        json_t *devices = json_object_get(s, "devices"), *d, *a;
        size_t i, j;

        if (json_array_size(devices) == 0) {
                printf("\nManaged devices: none\n");
                return;
        }
        printf("\nManaged devices:\n");
        json_array_foreach(devices, i, d) {
                printf("  %-15s %-8s %-4s", str(d, "name"), str(d, "kind"),
                       json_is_true(json_object_get(d, "up")) ? "up" : "down");
                json_array_foreach(json_object_get(d, "addresses"), j, a)
                        printf(" %s", json_string_value(a));
                if (json_is_true(json_object_get(d, "registered")))
                        printf("  (OpenVPN pid %lld, %s)", num(d, "daemon_pid"), str(d, "config"));
                putchar('\n');
        }
}

static void print_kernel(json_t *s) {
        json_t *k = json_object_get(s, "kernel");

        printf("Kernel: IPv4 forwarding %s, IPv6 forwarding %s, ICMP redirects %s\n",
               json_is_true(json_object_get(k, "ipv4_forwarding")) ? "on" : "OFF",
               json_is_true(json_object_get(k, "ipv6_forwarding")) ? "on" : "OFF",
               json_is_true(json_object_get(k, "send_redirects")) ? "left as they are" : "off on our devices");
}

static void print_pool(json_t *p) {
        printf("    pool %-23s out %lld packets %lld bytes, in %lld packets %lld bytes\n", str(p, "prefix"),
               num(p, "out_packets"), num(p, "out_bytes"), num(p, "in_packets"), num(p, "in_bytes"));
}

/* A policy's devices, gateways and pools; older agents report pools only (policy NULL: all of them). */
static void print_firewall_policy(json_t *fw, json_t *policy) {
        json_t *v, *drops = json_object_get(policy, "leak_guard_drops");
        size_t i;

        if (policy) {
                printf("  Policy %s: out by", str(policy, "name"));
                json_array_foreach(json_object_get(policy, "gateway_devices"), i, v)
                        printf("%s %s", i > 0 ? "," : "", json_string_value(v));
                printf("%s its tunnels", json_array_size(json_object_get(policy, "gateway_devices")) > 0 ?
                       " and" : " (no gateway device known)");
                if (json_is_object(drops))
                        printf(", leak guard dropped %lld packets", num(drops, "packets"));
                putchar('\n');
        }
        json_array_foreach(json_object_get(policy, "gateways"), i, v)
                printf("    gateway %-20s out %lld packets %lld bytes\n", str(v, "name"), num(v, "out_packets"),
                       num(v, "out_bytes"));
        json_array_foreach(json_object_get(fw, "pools"), i, v)
                if (!policy || streq(str(v, "policy"), str(policy, "name")))
                        print_pool(v);
}

static void print_firewall(json_t *s) {
        json_t *fw = json_object_get(s, "firewall"), *drops = json_object_get(fw, "leak_guard_drops"), *p;
        size_t i;

        if (!json_is_object(fw)) {
                printf("Firewall: not managed ([Firewall] Manage=no)\n");
                return;
        }
        printf("Firewall: table inet vpnpolicy %s", json_is_true(json_object_get(fw, "present")) ? "present" : "MISSING");
        if (json_is_object(drops))
                printf(", leak guard dropped %lld packets%s", num(drops, "packets"),
                       json_is_true(json_object_get(fw, "leak_guard_rising")) ? " and RISING: VPN traffic tries to "
                       "leave by a wrong device (see vpnpolicyctl doctor)" : "");
        putchar('\n');
        if (!json_is_array(json_object_get(fw, "policies")))
                print_firewall_policy(fw, NULL);
        json_array_foreach(json_object_get(fw, "policies"), i, p)
                print_firewall_policy(fw, p);
}

static void print_counters(json_t *s) {
        json_t *c = json_object_get(s, "counters");

        printf("\nCounters: %lld restores (%lld throttled), %lld resyncs, %lld overruns, %lld netlink errors, "
               "%lld failed operations, %lld firewall restores\n",
               num(c, "restores"), num(c, "restore_throttled"), num(c, "resyncs"), num(c, "overruns"),
               num(c, "netlink_errors"), num(c, "failed_operations"), num(c, "firewall_restores"));
        if (json_is_string(json_object_get(s, "last_error")))
                printf("Last error: %s\n", str(s, "last_error"));
}

int ctl_status(const CtlContext *c, int argc, char *argv[]) {
        CtlContext local = *c;
        json_t *reply = NULL;
        int r;

        for (int i = 1; i < argc; i++) {
                if (!streq(argv[i], "--json")) {
                        fprintf(stderr, "status: unknown argument '%s' (only --json).\n", argv[i]);
                        return CTL_EXIT_USAGE;
                }
                local.json = true;
        }
        r = ctl_call(&local, "io.vpnpolicy.GetStatus", NULL, &reply);
        if (r != CTL_EXIT_OK) {
                json_decref(reply);
                return r;
        }
        if (local.json)
                json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS), putchar('\n');
        else {
                print_header(reply);
                print_policies(reply);
                print_objects(reply);
                print_devices(reply);
                print_kernel(reply);
                print_firewall(reply);
                print_counters(reply);
        }
        r = streq(str(reply, "health"), "healthy") ? CTL_EXIT_OK : CTL_EXIT_DEGRADED;
        json_decref(reply);
        return r;
}
