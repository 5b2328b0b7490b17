/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <inttypes.h>
#include <sys/socket.h>

#include "config.h"
#include "parse-util.h"
#include "strv.h"

/* Every key is printed, defaults included, so the output documents what is in force. An empty assignment
 * is how an unset key or an empty list reads back (config.c resets on ""), hence "IPv4=" and "Match=". */

static void print_gateway(FILE *f, const char *key, int family, const InAddrUnion *a) {
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

static void print_table_pool_gateway(const Config *c, FILE *f) {
        fprintf(f, "[Table]\nName=%s\nId=%" PRIu32 "\nPriority=%" PRIu32 "\n\n", c->table_name, c->table_id,
                c->priority);

        fprintf(f, "[Pool]\n");
        for (size_t i = 0; i < c->n_pools; i++) {
                char s[PREFIX_STRLEN];

                fprintf(f, "Prefix=%s\n", prefix_to_string(&c->pools[i], s));
        }

        fprintf(f, "\n[Gateway]\n");
        print_gateway(f, "IPv4", AF_INET, config_gateway(c, AF_INET));
        print_gateway(f, "IPv6", AF_INET6, config_gateway(c, AF_INET6));
        fprintf(f, "Device=%s\n", c->gateway_device);
}

int config_print(const Config *c, FILE *f) {
        assert(c);
        assert(f);

        print_table_pool_gateway(c, f);

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

        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

static bool pools_equal(const Config *a, const Config *b) {
        if (a->n_pools != b->n_pools)
                return false;
        for (size_t i = 0; i < a->n_pools; i++)
                if (!prefix_equal(&a->pools[i], &b->pools[i]))
                        return false;
        return true;
}

static bool gateway_equal(const Config *a, const Config *b, int family) {
        const InAddrUnion *x = config_gateway(a, family), *y = config_gateway(b, family);

        if (!x || !y)
                return x == y;
        return addr_equal(family, x, y);
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

        return streq_ptr(a->table_name, b->table_name) && a->table_id == b->table_id &&
                a->priority == b->priority && pools_equal(a, b) && gateway_equal(a, b, AF_INET) &&
                gateway_equal(a, b, AF_INET6) && streq(a->gateway_device, b->gateway_device) &&
                strv_equal(a->tunnel_match, b->tunnel_match) && a->mirror_routes == b->mirror_routes &&
                a->firewall_manage == b->firewall_manage &&
                a->firewall_leak_guard == b->firewall_leak_guard &&
                a->firewall_masquerade == b->firewall_masquerade &&
                a->send_redirects == b->send_redirects && a->forwarding == b->forwarding &&
                a->fail_closed == b->fail_closed && control_equal(a, b);
}
