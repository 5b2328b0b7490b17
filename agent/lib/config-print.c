/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <inttypes.h>
#include <sys/socket.h>

#include "config.h"
#include "parse-util.h"
#include "strv.h"

/* Every key in force is printed, defaults included, so the output documents what is in force. An empty
 * assignment is how an unset key or an empty list reads back (config.c resets on ""), hence "IPv4=" and
 * "Match=".
 *
 * The one exception keeps the output of a configuration with one gateway per policy what it was before
 * there were several: a [Gateway] section is printed in full (Name= first, then every key) when its policy
 * has two or more gateways or the gateway probes; otherwise it shows IPv4=, IPv6= and Device= as always,
 * and a key added for failover only when it differs from its default (where it would change nothing but
 * must still read back the same). [Failover] likewise: in full from two gateways on, else only the keys
 * that differ. The main policy comes first, in today's sections; further policies follow the global
 * sections, each after a [Policy] Name= line, so the output is one file that loads to the same Config. */

static void print_address(FILE *f, const char *key, int family, const InAddrUnion *a) {
        char s[ADDR_STRLEN];

        fprintf(f, "%s=%s\n", key, a ? addr_to_string(family, a, s) : "");
}

/* "Key=" once for an empty list, else one "Key=entry" line per entry. */
static void print_list(FILE *f, const char *key, char *const *l) {
        if (strv_length(l) == 0)
                fprintf(f, "%s=\n", key);
        STRV_FOREACH(s, l)
                fprintf(f, "%s=%s\n", key, *s);
}

static void print_timespan(FILE *f, const char *key, uint64_t usec) {
        char s[TIMESPAN_STRLEN];

        fprintf(f, "%s=%s\n", key, format_timespan(usec, s));
}

static void print_probe_targets(FILE *f, const ProbeConfig *pr) {
        char s[ADDR_STRLEN];

        if (!pr->has_target4 && !pr->has_target6)
                fprintf(f, "ProbeTarget=\n");
        if (pr->has_target4)
                fprintf(f, "ProbeTarget=%s\n", addr_to_string(AF_INET, &pr->target4, s));
        if (pr->has_target6)
                fprintf(f, "ProbeTarget=%s\n", addr_to_string(AF_INET6, &pr->target6, s));
}

/* The probe keys, each when full or away from its default. */
static void print_probe(FILE *f, const ProbeConfig *pr, bool full) {
        if (full)
                fprintf(f, "Probe=%s\n", pr->enabled ? "icmp" : "none");
        if (full || pr->has_target4 || pr->has_target6)
                print_probe_targets(f, pr);
        if (full || pr->interval_usec != PROBE_INTERVAL_DEFAULT_USEC)
                print_timespan(f, "ProbeIntervalSec", pr->interval_usec);
        if (full || pr->timeout_usec != PROBE_TIMEOUT_DEFAULT_USEC)
                print_timespan(f, "ProbeTimeoutSec", pr->timeout_usec);
        if (full || pr->fall != PROBE_FALL_DEFAULT)
                fprintf(f, "FailCount=%u\n", pr->fall);
        if (full || pr->rise != PROBE_RISE_DEFAULT)
                fprintf(f, "RiseCount=%u\n", pr->rise);
        if (full || pr->loss_max_percent != PROBE_LOSS_MAX_DEFAULT)
                fprintf(f, "MaxLossPercent=%u\n", pr->loss_max_percent);
        if (full || pr->rtt_max_usec != PROBE_RTT_MAX_DEFAULT_USEC)
                print_timespan(f, "MaxRTTSec", pr->rtt_max_usec);
}

static void print_gateway(FILE *f, const PolicyConfig *pol, const GatewayConfig *g) {
        /* In short form (one gateway, no probe) Probe= is at its default, none, by construction. */
        bool full = pol->n_gateways > 1 || g->probe.enabled;

        fprintf(f, "\n[Gateway]\n");
        if (full || !streq(g->name, GATEWAY_NAME_DEFAULT))
                fprintf(f, "Name=%s\n", g->name);
        print_address(f, "IPv4", AF_INET, gateway_address(g, AF_INET));
        print_address(f, "IPv6", AF_INET6, gateway_address(g, AF_INET6));
        fprintf(f, "Device=%s\n", g->device);
        if (full || g->priority != GATEWAY_PRIORITY_DEFAULT)
                fprintf(f, "Priority=%" PRIu32 "\n", g->priority);
        print_probe(f, &g->probe, full);
}

static void print_failover(FILE *f, const PolicyConfig *pol) {
        bool full = pol->n_gateways > 1;
        bool preempt = full || pol->preempt != PREEMPT_DEFAULT;
        bool hold = full || pol->preempt_hold_usec != PREEMPT_HOLD_DEFAULT_USEC;

        if (!preempt && !hold)
                return;
        fprintf(f, "\n[Failover]\n");
        if (preempt)
                fprintf(f, "Preempt=%s\n", yes_no(pol->preempt));
        if (hold)
                print_timespan(f, "PreemptHoldSec", pol->preempt_hold_usec);
}

static void print_policy(FILE *f, const PolicyConfig *pol) {
        fprintf(f, "[Table]\nName=%s\nId=%" PRIu32 "\nPriority=%" PRIu32 "\n\n", pol->table_name,
                pol->table_id, pol->priority);

        fprintf(f, "[Pool]\n");
        for (size_t i = 0; i < pol->n_pools; i++) {
                char s[PREFIX_STRLEN];

                fprintf(f, "Prefix=%s\n", prefix_to_string(&pol->pools[i], s));
        }
        for (size_t i = 0; i < pol->n_gateways; i++)
                print_gateway(f, pol, &pol->gateways[i]);
        print_failover(f, pol);
}

int config_print(const Config *c, FILE *f) {
        assert(c && c->n_policies > 0);
        assert(f);

        print_policy(f, &c->policies[0]);

        fprintf(f, "\n[Tunnels]\n");
        print_list(f, "Match", c->tunnel_match);
        fprintf(f, "MirrorRoutes=%s\n", yes_no(c->mirror_routes));

        fprintf(f, "\n[Firewall]\nManage=%s\nLeakGuard=%s\nMasquerade=%s\n", yes_no(c->firewall_manage),
                yes_no(c->firewall_leak_guard), yes_no(c->firewall_masquerade));

        fprintf(f, "\n[Kernel]\nSendRedirects=%s\nForwarding=%s\nFailClosed=%s\n", yes_no(c->send_redirects),
                forwarding_mode_to_string(c->forwarding), yes_no(c->fail_closed));

        fprintf(f, "\n[Control]\nReadGroup=%s\n", c->read_group ?: "");
        print_list(f, "RegisterUser", c->register_users);
        print_list(f, "RegisterGroup", c->register_groups);

        for (size_t i = 1; i < c->n_policies; i++) {
                fprintf(f, "\n[Policy]\nName=%s\n\n", c->policies[i].name);
                print_policy(f, &c->policies[i]);
        }

        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

static bool address_equal(int family, bool has_a, const InAddrUnion *a, bool has_b, const InAddrUnion *b) {
        return has_a == has_b && (!has_a || addr_equal(family, a, b));
}

static bool probe_equal(const ProbeConfig *a, const ProbeConfig *b) {
        return a->enabled == b->enabled && a->interval_usec == b->interval_usec &&
                a->timeout_usec == b->timeout_usec && a->fall == b->fall && a->rise == b->rise &&
                a->loss_max_percent == b->loss_max_percent && a->rtt_max_usec == b->rtt_max_usec &&
                address_equal(AF_INET, a->has_target4, &a->target4, b->has_target4, &b->target4) &&
                address_equal(AF_INET6, a->has_target6, &a->target6, b->has_target6, &b->target6);
}

static bool gateway_equal(const GatewayConfig *a, const GatewayConfig *b) {
        return streq_ptr(a->name, b->name) &&
                address_equal(AF_INET, a->has_ipv4, &a->ipv4, b->has_ipv4, &b->ipv4) &&
                address_equal(AF_INET6, a->has_ipv6, &a->ipv6, b->has_ipv6, &b->ipv6) &&
                streq(a->device, b->device) && a->priority == b->priority &&
                probe_equal(&a->probe, &b->probe);
}

static bool policy_equal(const PolicyConfig *a, const PolicyConfig *b) {
        if (!streq_ptr(a->name, b->name) || !streq_ptr(a->table_name, b->table_name) ||
            a->table_id != b->table_id || a->priority != b->priority || a->n_pools != b->n_pools ||
            a->n_gateways != b->n_gateways || a->preempt != b->preempt ||
            a->preempt_hold_usec != b->preempt_hold_usec)
                return false;
        for (size_t i = 0; i < a->n_pools; i++)
                if (!prefix_equal(&a->pools[i], &b->pools[i]))
                        return false;
        for (size_t i = 0; i < a->n_gateways; i++)
                if (!gateway_equal(&a->gateways[i], &b->gateways[i]))
                        return false;
        return true;
}

static bool policies_equal(const Config *a, const Config *b) {
        if (a->n_policies != b->n_policies)
                return false;
        for (size_t i = 0; i < a->n_policies; i++)
                if (!policy_equal(&a->policies[i], &b->policies[i]))
                        return false;
        return true;
}

/* The names come from the same lookups as the ids, so equal names mean equal ids; both are compared anyway
 * since a Config can be built by hand. */
static bool control_equal(const Config *a, const Config *b) {
        size_t nu = strv_length(a->register_users), ng = strv_length(a->register_groups);

        if (!streq_ptr(a->read_group, b->read_group) || (a->read_group && a->read_gid != b->read_gid))
                return false;
        if (!strv_equal(a->register_users, b->register_users) ||
            !strv_equal(a->register_groups, b->register_groups))
                return false;
        if (nu > 0 && memcmp(a->register_uids, b->register_uids, nu * sizeof(uid_t)) != 0)
                return false;
        if (ng > 0 && memcmp(a->register_gids, b->register_gids, ng * sizeof(gid_t)) != 0)
                return false;
        return true;
}

/* Every field but files. */
bool config_equal(const Config *a, const Config *b) {
        assert(a);
        assert(b);

        return policies_equal(a, b) && strv_equal(a->tunnel_match, b->tunnel_match) &&
                a->mirror_routes == b->mirror_routes && a->firewall_manage == b->firewall_manage &&
                a->firewall_leak_guard == b->firewall_leak_guard &&
                a->firewall_masquerade == b->firewall_masquerade &&
                a->send_redirects == b->send_redirects && a->forwarding == b->forwarding &&
                a->fail_closed == b->fail_closed && control_equal(a, b);
}
