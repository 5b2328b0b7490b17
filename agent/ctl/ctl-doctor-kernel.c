/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl-doctor.h"
#include "ctl-notation.h"
#include "desired.h"
#include "rt-files.h"
#include "rtnl.h"
#include "strv.h"

/* The doctor's kernel checks: sysctls, rules, each policy's table. Read-only: netlink requests and
 * /proc/sys reads. The gateways' own checks are in ctl-doctor-gateways.c. */

static const int families[] = { AF_INET, AF_INET6 };

/* sysctl(8) writes a '.' in a device name as '/' (eth0.100 -> net.ipv4.conf.eth0/100.forwarding). */
static const char *sysctl_dev(const char *dev, char buf[static IFNAMSIZ]) {
        snprintf(buf, IFNAMSIZ, "%s", dev);
        for (char *p = buf; *p; p++)
                if (*p == '.')
                        *p = '/';
        return buf;
}

/* The address of the policy's first gateway of that family (one exists where this is called). */
static const char *gateway_string(const PolicyConfig *p, int family, char buf[static ADDR_STRLEN]) {
        return addr_to_string(family, gateway_address(policy_gateway(p, family), family), buf);
}

/* A gateway the kernel forwards pool traffic to now: the active one of a family per the agent, else (no
 * agent) the first of its policy. */
static bool gateway_carries(const Doctor *d, size_t policy, size_t gateway) {
        const PolicyConfig *p = &d->config->policies[policy];
        json_t *sg = doctor_status_gateway(d, p, &p->gateways[gateway]);

        if (!d->status)
                return gateway == 0;
        return json_is_true(json_object_get(json_object_get(json_object_get(sg, "health"), "ipv4"), "active")) ||
               json_is_true(json_object_get(json_object_get(json_object_get(sg, "health"), "ipv6"), "active"));
}

/* Managed tuns and the devices of the policies' IPv4 gateways, all of them (a backup forwards once it takes
 * over) or only those that carry traffic now: where the kernel forwards pool traffic. */
static char **forwarding_devices(Doctor *d, bool carrying_only) {
        char **l = doctor_tunnels(d);
        char name[IFNAMSIZ];

        for (size_t i = 0; i < d->config->n_policies; i++)
                for (size_t j = 0; j < d->config->policies[i].n_gateways; j++) {
                        int ifindex = doctor_gateway_ifindex(d, &d->config->policies[i].gateways[j], AF_INET);
                        const char *dev;

                        if (ifindex <= 0 || (carrying_only && !gateway_carries(d, i, j)))
                                continue;
                        dev = ctl_ifname(d->kernel, ifindex, name);
                        if (!strv_contains(l, dev))
                                (void) strv_extend(&l, dev);
                }
        return l;
}

static void fix_start_agent(const Doctor *d, json_t *f, const char *what) {
        if (d->status)
                finding_fix(f, "vpnpolicyctl status (vpnpolicyd wants %s: the status says why it is missing)", what);
        else
                finding_fix(f, "systemctl enable --now vpnpolicyd (it adds %s)", what);
}

static void forwarding_family(Doctor *d, int family) {
        const char *key = family == AF_INET ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding";
        int v = doctor_sysctl(family == AF_INET ? "ipv4/ip_forward" : "ipv6/conf/all/forwarding");
        json_t *f;

        if (v != 0)
                return;
        f = doctor_add(d, SEVERITY_ERROR, "forwarding", "%s forwarding is off (%s = 0) and [Pool] has %s pools: "
                       "the kernel drops their traffic", family_name(family), key, family_name(family));
        finding_fix(f, "sysctl -w %s=1", key);
        finding_fix(f, "[Kernel] Forwarding=enable in %s (vpnpolicyd then turns it on)", d->config_path);
}

int check_forwarding(Doctor *d) {
        _cleanup_strv_free_ char **devs = NULL;
        char key[IFNAMSIZ];

        for (size_t i = 0; i < ELEMENTSOF(families); i++)
                if (doctor_has_family(d, families[i]))
                        forwarding_family(d, families[i]);
        if (!doctor_has_family(d, AF_INET) || doctor_sysctl("ipv4/ip_forward") != 1)
                return 0;
        /* IPv4 also decides per input device (IN_DEV_FORWARD() in include/linux/inetdevice.h). */
        devs = forwarding_devices(d, false);
        STRV_FOREACH(dev, devs)
                if (doctor_sysctl("ipv4/conf/%s/forwarding", *dev) == 0) {
                        json_t *f = doctor_add(d, SEVERITY_ERROR, "forwarding", "IPv4 forwarding is off on %s "
                                               "(net.ipv4.conf.%s.forwarding = 0): the kernel drops pool traffic "
                                               "that comes in there", *dev, sysctl_dev(*dev, key));
                        finding_fix(f, "sysctl -w net.ipv4.conf.%s.forwarding=1", key);
                }
        return 0;
}

static void append(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t n = strlen(buf);
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf + n, size - n, fmt, ap);
        va_end(ap);
}

int check_send_redirects(Doctor *d) {
        _cleanup_strv_free_ char **devs = NULL;
        char cmd[1024] = "sysctl -w", key[IFNAMSIZ];
        int all = doctor_sysctl("ipv4/conf/all/send_redirects");
        const char *first = NULL;
        unsigned n = 0;
        json_t *f;

        if (d->config->send_redirects)
                return 0;       /* [Kernel] SendRedirects=yes: wanted */
        if (all == 1)
                append(cmd, sizeof(cmd), " net.ipv4.conf.all.send_redirects=0");
        /* Redirects go out when "all" or the device says so (IN_DEV_TX_REDIRECTS() is an OR). vpnpolicyd
         * turns them off on a gateway's device when it starts carrying traffic. */
        devs = forwarding_devices(d, true);
        STRV_FOREACH(dev, devs) {
                bool on = doctor_sysctl("ipv4/conf/%s/send_redirects", *dev) == 1;

                if (on)
                        append(cmd, sizeof(cmd), " net.ipv4.conf.%s.send_redirects=0", sysctl_dev(*dev, key));
                if (on || all == 1) {
                        first = first ?: *dev;
                        n++;
                }
        }
        if (n == 0)
                return 0;
        f = doctor_add(d, SEVERITY_WARNING, "send-redirects", "the kernel sends ICMP redirects from %s%s "
                       "(net.ipv4.conf.all.send_redirects = %d): a redirect makes neighbours cache a next hop "
                       "that bypasses the policy (seed 002)", first, n > 1 ? " and other devices" : "", all);
        finding_fix(f, "%s", cmd);
        finding_fix(f, "[Kernel] SendRedirects=no in %s (the default: vpnpolicyd turns them off while it runs)",
                    d->config_path);
        return 0;
}

/* A client address on a subnet of a tun: its peer for a point-to-point /32, else the second host. */
static bool tun_client(const AddressInfo *a, unsigned n, InAddrUnion *ret) {
        Prefix subnet = address_subnet(a);
        InAddrUnion c;

        if (subnet.prefixlen >= 31)
                return n == 0 && prefix_host(&subnet, 0, ret);
        for (unsigned i = 1; prefix_host(&subnet, i, &c); i++)
                if (!addr_equal(AF_INET, &c, &a->local) && n-- == 0) {
                        *ret = c;
                        return true;
                }
        return false;
}

static void rp_filter_finding(Doctor *d, const LinkInfo *tun, const InAddrUnion *c, const InAddrUnion *dst) {
        FibPacket back = { .family = AF_INET, .src = *dst, .dst = *c, .iif = "lo" };
        char a[ADDR_STRLEN], b[ADDR_STRLEN], s[NOTATION_STRLEN], name[RT_NAME_STRLEN], key[IFNAMSIZ];
        FibVerdict v;
        json_t *f;

        /* The reverse lookup of fib_validate_source() (net/ipv4/fib_frontend.c): the packet's source as
         * destination, its destination as source, as a local lookup. */
        fib_walk(&d->kernel->fib, &back, &v);
        f = doctor_add(d, SEVERITY_ERROR, "rp-filter", "strict reverse-path filtering on %s (rp_filter = 1) drops "
                       "pool traffic from %s to %s: the route back to %s is %s%s%s, not via %s", tun->name,
                       addr_to_string(AF_INET, c, a), addr_to_string(AF_INET, dst, b), a,
                       v.route ? notation_route(d->kernel, v.route, s) : "missing",
                       v.route ? " in table " : "", v.route ? ctl_table_name(d->kernel, v.route->table, name) : "",
                       tun->name);
        finding_fix(f, "sysctl -w net.ipv4.conf.%s.rp_filter=2", sysctl_dev(tun->name, key));
        finding_fix(f, "net.ipv4.conf.default.rp_filter = 2 in /etc/sysctl.d/90-vpnpolicy.conf (tun devices made later)");
        finding_fix(f, "or route the tun subnet back in table %s: vpnpolicyd keeps that route while it runs",
                    (config_policy_by_address(d->config, AF_INET, c) ?: &d->config->policies[0])->table_name);
}

/* Asks the kernel for the input lookup of c -> dst on tun, which runs the reverse-path check: -EINVAL is
 * its verdict on a martian or reverse-path-filtered source (ip_route_input_slow(), net/ipv4/route.c). */
static bool rp_filter_probe(Doctor *d, const LinkInfo *tun, const InAddrUnion *c, const InAddrUnion *dst) {
        RtnlRouteQuery q = { .family = AF_INET, .src = c->bytes, .dst = dst->bytes, .iif = tun->ifindex };
        FibRoute rt;

        if (ctl_route_get(d->kernel, &q, &rt) != -EINVAL)
                return false;
        rp_filter_finding(d, tun, c, dst);
        return true;
}

static void rp_filter_tun(Doctor *d, const LinkInfo *tun) {
        for (size_t i = 0; i < d->kernel->n_addresses; i++) {
                const AddressInfo *a = &d->kernel->addresses[i];
                InAddrUnion c, other;

                if (a->family != AF_INET || a->ifindex != tun->ifindex || !tun_client(a, 0, &c))
                        continue;
                /* Client to client (the reverse path from a pool address takes table vpn), and to the
                 * Internet (the reverse path takes the main table). */
                if (tun_client(a, 1, &other) && rp_filter_probe(d, tun, &c, &other))
                        return;
                if (rp_filter_probe(d, tun, &c, doctor_outside(AF_INET)))
                        return;
        }
}

int check_rp_filter(Doctor *d) {
        _cleanup_strv_free_ char **tuns = NULL;
        int all = doctor_sysctl("ipv4/conf/all/rp_filter");

        if (!doctor_has_family(d, AF_INET))
                return 0;
        tuns = doctor_tunnels(d);
        STRV_FOREACH(t, tuns) {
                const LinkInfo *l = ctl_link_by_name(d->kernel, *t);

                /* The device's value and "all": the larger one counts (IN_DEV_RPFILTER()). */
                if (l && MAX(all, doctor_sysctl("ipv4/conf/%s/rp_filter", *t)) == 1)
                        rp_filter_tun(d, l);
        }
        return 0;
}

/* A rule sending exactly the pool to its policy's table, ours preferred. */
static const FibRule *pool_rule(const Doctor *d, const PolicyConfig *policy, const Prefix *pool) {
        const FibRule *found = NULL;

        for (size_t i = 0; i < d->kernel->fib.n_rules; i++) {
                const FibRule *r = &d->kernel->fib.rules[i];

                if (r->action == FR_ACT_TO_TBL && r->table == policy->table_id && prefix_equal(&r->src, pool) &&
                    (!found || r->protocol == VPNPOLICY_PROTO))
                        found = r;
        }
        return found;
}

/* A packet from the pool to the Internet, coming in on the first managed tun. */
static void pool_packet(const Doctor *d, const Prefix *pool, FibPacket *ret) {
        _cleanup_strv_free_ char **tuns = doctor_tunnels(d);

        *ret = (FibPacket) { .family = pool->family, .dst = *doctor_outside(pool->family) };
        snprintf(ret->iif, sizeof(ret->iif), "%s", tuns ? tuns[0] : "");
        if (!prefix_host(pool, 2, &ret->src))
                ret->src = pool->addr;
}

static void shadow_finding(Doctor *d, const PolicyConfig *policy, const Prefix *pool, const FibPacket *p,
                           const FibVerdict *v) {
        char s[NOTATION_STRLEN], full[NOTATION_STRLEN], pfx[PREFIX_STRLEN], src[ADDR_STRLEN], dst[ADDR_STRLEN];
        bool ours_table = v->rule->action == FR_ACT_TO_TBL && v->rule->table == policy->table_id;
        json_t *f;

        f = doctor_add(d, ours_table ? SEVERITY_INFO : SEVERITY_ERROR, "source-rule",
                       "the foreign rule %u: %s comes before ours (preference %u) and %s traffic of pool %s "
                       "(%s to %s)", v->rule->priority, notation_rule(d->kernel, v->rule, false, s),
                       policy->priority, ours_table ? "also sends to our table the" : "takes the",
                       prefix_to_string(pool, pfx), addr_to_string(p->family, &p->src, src),
                       addr_to_string(p->family, &p->dst, dst));
        finding_fix(f, "ip %s rule del %s", ip_family_flag(pool->family),
                    notation_rule(d->kernel, v->rule, true, full));
        if (!ours_table && v->rule->priority > 1)
                finding_fix(f, "or put ours first: [Table] Priority=%u in %s", v->rule->priority - 1, d->config_path);
}

static void source_rule_pool(Doctor *d, const PolicyConfig *policy, const Prefix *pool) {
        char pfx[PREFIX_STRLEN], what[256];
        FibPacket p;
        FibVerdict v;
        json_t *f;

        if (!pool_rule(d, policy, pool)) {
                f = doctor_add(d, SEVERITY_ERROR, "source-rule", "no rule sends pool %s to table %s: its traffic "
                               "takes the main table and leaves by this host's default route",
                               prefix_to_string(pool, pfx), policy->table_name);
                snprintf(what, sizeof(what), "`ip %s rule add pref %u from %s lookup %s proto %s`",
                         ip_family_flag(pool->family), policy->priority, pfx, policy->table_name,
                         VPNPOLICY_PROTO_NAME);
                fix_start_agent(d, f, what);
        }
        pool_packet(d, pool, &p);
        fib_walk(&d->kernel->fib, &p, &v);
        if (v.rule && v.rule->protocol != VPNPOLICY_PROTO && v.rule->protocol != RTPROT_KERNEL &&
            v.rule->priority <= policy->priority)
                shadow_finding(d, policy, pool, &p, &v);
}

int check_source_rules(Doctor *d) {
        for (size_t i = 0; i < d->config->n_policies; i++)
                for (size_t j = 0; j < d->config->policies[i].n_pools; j++)
                        source_rule_pool(d, &d->config->policies[i], &d->config->policies[i].pools[j]);
        return 0;
}

static const Prefix *first_pool(const PolicyConfig *p, int family) {
        for (size_t i = 0; i < p->n_pools; i++)
                if (p->pools[i].family == family)
                        return &p->pools[i];
        return NULL;
}

static bool policy_has_gateway(const PolicyConfig *p, int family, const InAddrUnion *a) {
        for (size_t i = 0; i < p->n_gateways; i++) {
                const InAddrUnion *g = gateway_address(&p->gateways[i], family);

                if (g && addr_equal(family, g, a))
                        return true;
        }
        return false;
}

static void default_route_missing(Doctor *d, const PolicyConfig *policy, int family, const FibRoute *rt) {
        char s[NOTATION_STRLEN], gw[ADDR_STRLEN], what[256];
        json_t *f;

        snprintf(what, sizeof(what), "`ip %s route add default via %s table %s proto %s`", ip_family_flag(family),
                 gateway_string(policy, family, gw), policy->table_name, VPNPOLICY_PROTO_NAME);
        if (rt) {
                f = doctor_add(d, SEVERITY_ERROR, "default-route", "table %s has no %s default route via %s, "
                               "only %s: pool traffic is dropped", policy->table_name,
                               family_name(family), policy->n_gateways > 1 ? "a gateway" : "the gateway",
                               notation_route(d->kernel, rt, s));
                finding_fix(f, "ip link show (is the gateway's device up?); vpnpolicyctl doctor lists the gateway's state");
        } else
                f = doctor_add(d, SEVERITY_ERROR, "default-route", "table %s has no %s route for pool traffic: "
                               "it falls through to the main table and leaves by this host's default route",
                               policy->table_name, family_name(family));
        fix_start_agent(d, f, what);
}

static void default_route_family(Doctor *d, const PolicyConfig *policy, int family) {
        char gw[ADDR_STRLEN], have[ADDR_STRLEN];
        const Prefix *pool = first_pool(policy, family);
        const FibRoute *rt;
        FibPacket p;
        json_t *f;

        if (!pool || !policy_gateway(policy, family))
                return;
        pool_packet(d, pool, &p);
        rt = fib_table_lookup(&d->kernel->fib, policy->table_id, &p);
        if (!rt || rt->type == RTN_THROW || (rt->type != RTN_UNICAST && rt->dst.prefixlen == 0)) {
                default_route_missing(d, policy, family, rt && rt->type != RTN_THROW ? rt : NULL);
                return;
        }
        if (rt->type == RTN_UNICAST && rt->dst.prefixlen == 0 && rt->has_gateway &&
            !policy_has_gateway(policy, family, &rt->gateway)) {
                f = doctor_add(d, SEVERITY_WARNING, "default-route", "the %s default route of table %s goes via %s, "
                               "[Gateway] says %s%s", family_name(family), policy->table_name,
                               addr_to_string(family, &rt->gateway, have), gateway_string(policy, family, gw),
                               policy->n_gateways > 1 ? " (or another of the policy's gateways)" : "");
                finding_fix(f, "ip %s route del default via %s table %s", ip_family_flag(family), have,
                            policy->table_name);
        }
}

int check_default_routes(Doctor *d) {
        for (size_t i = 0; i < d->config->n_policies; i++)
                for (size_t j = 0; j < ELEMENTSOF(families); j++)
                        default_route_family(d, &d->config->policies[i], families[j]);
        return 0;
}

/* Whether rt is where a tun route of the agent belongs: the connected subnet of an address on a managed
 * device, via that device, at the connected-route metric (desired_tun_route()). */
static bool route_is_tun_route(Doctor *d, const FibRoute *rt, char **tuns) {
        const LinkInfo *l = ctl_link_by_index(d->kernel, rt->oif);

        if (!l || !strv_contains(tuns, l->name) || rt->has_gateway ||
            rt->priority != (rt->family == AF_INET6 ? IPV6_CONNECTED_METRIC : 0))
                return false;
        for (size_t i = 0; i < d->kernel->n_addresses; i++) {
                const AddressInfo *a = &d->kernel->addresses[i];
                Prefix subnet = address_subnet(a);

                if (a->ifindex == l->ifindex && prefix_equal(&subnet, &rt->dst))
                        return true;
        }
        return false;
}

static bool route_is_default_route(const PolicyConfig *policy, const FibRoute *rt) {
        return rt->dst.prefixlen == 0 && rt->src.prefixlen == 0 && rt->has_gateway &&
               policy_has_gateway(policy, rt->family, &rt->gateway) &&
               rt->priority == (rt->family == AF_INET6 ? IPV6_DEFAULT_METRIC : 0);
}

static void conflict_finding(Doctor *d, const PolicyConfig *policy, const FibRoute *rt) {
        char s[NOTATION_STRLEN], a[PREFIX_STRLEN], dev[IFNAMSIZ];
        json_t *f;

        f = doctor_add(d, SEVERITY_WARNING, "conflict", "the foreign route %s in table %s takes the place of "
                       "vpnpolicyd's own (same destination and metric, the kernel refuses a second): it works, "
                       "but nothing restores it", notation_route(d->kernel, rt, s), policy->table_name);
        /* NLM_F_REPLACE swaps it in place: no moment without a route, and from then on it is ours. */
        finding_fix(f, "ip %s route replace %s%s%s%s%s table %s metric %u proto %s", ip_family_flag(rt->family),
                    rt->dst.prefixlen == 0 ? "default" : prefix_to_string(&rt->dst, a),
                    rt->has_gateway ? " via " : "", rt->has_gateway ? addr_to_string(rt->family, &rt->gateway, a) : "",
                    rt->oif > 0 ? " dev " : "", rt->oif > 0 ? ctl_ifname(d->kernel, rt->oif, dev) : "",
                    policy->table_name, rt->priority, VPNPOLICY_PROTO_NAME);
}

/* The hand-made recipe's routes (seed 003): in a policy's table, with the key of a route the agent wants. */
int check_conflicts(Doctor *d) {
        _cleanup_strv_free_ char **tuns = doctor_tunnels(d);

        for (size_t i = 0; i < d->kernel->fib.n_routes; i++) {
                const FibRoute *rt = &d->kernel->fib.routes[i];
                const PolicyConfig *policy = config_policy_by_table(d->config, rt->table);

                if (!policy || rt->protocol == VPNPOLICY_PROTO || rt->type != RTN_UNICAST)
                        continue;
                if (route_is_default_route(policy, rt) || route_is_tun_route(d, rt, tuns))
                        conflict_finding(d, policy, rt);
        }
        return 0;
}
