/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <jansson.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "ctl-kernel.h"
#include "ctl-notation.h"
#include "ctl.h"
#include "parse-util.h"
#include "rt-files.h"
#include "rtnl.h"
#include "strv.h"
#include "sysctl.h"
#include "varlink.h"

/* explain SRC DST [--iif DEV] [--config FILE]: which rule, table and route a packet takes, and which policy
 * and gateway that is. The kernel answers the lookup itself (RTM_GETROUTE for the packet, and again with
 * RTM_F_FIB_MATCH for the route entry); the rule is found by walking the rule list as the kernel does,
 * since no kernel interface names it. The policies come from the agent's status (with each gateway's
 * health), else from the configuration file. Read-only: no agent needed. */

typedef struct Explain {
        CtlKernel *k;
        FibPacket packet;               /* iif "lo" for a locally generated packet */
        int iifindex;                   /* 0: local output lookup */
        bool iif_inferred;
        FibVerdict verdict;
        int error;                      /* the kernel's answer: 0 or -errno */
        FibRoute result;                /* when error == 0 */
        bool has_entry;
        FibRoute entry;                 /* the route entry the kernel matched (RTM_F_FIB_MATCH) */
        const char *config_path;        /* --config; NULL: the default, if it loads */
        json_t *policies;               /* the status' policies[], or their names, tables and gateways from
                                         * the configuration; NULL: neither */
        json_t *policy, *gateway;       /* the policy whose table decided, and the gateway the route goes by */
        char **notes;
} Explain;

static int explain_parse_addresses(Explain *e, const char *src, const char *dst) {
        int fs, fd;

        if (addr_parse(AF_UNSPEC, src, &fs, &e->packet.src) < 0) {
                fprintf(stderr, "explain: '%s' is not an IPv4 or IPv6 address.\n", src);
                return -EINVAL;
        }
        if (addr_parse(AF_UNSPEC, dst, &fd, &e->packet.dst) < 0) {
                fprintf(stderr, "explain: '%s' is not an IPv4 or IPv6 address.\n", dst);
                return -EINVAL;
        }
        if (fs != fd) {
                fprintf(stderr, "explain: %s and %s are of different address families.\n", src, dst);
                return -EINVAL;
        }
        e->packet.family = fs;
        return 0;
}

static int explain_parse_argv(int argc, char *argv[], CtlContext *c, Explain *e) {
        static const struct option options[] = {
                { "iif", required_argument, NULL, 'i' },
                { "config", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, 'j' },
                {}
        };
        int opt;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'i':
                        if (!ifname_valid(optarg)) {
                                fprintf(stderr, "explain: '%s' is not a device name.\n", optarg);
                                return -EINVAL;
                        }
                        snprintf(e->packet.iif, sizeof(e->packet.iif), "%s", optarg);
                        break;
                case 'c':
                        e->config_path = optarg;
                        break;
                case 'j':
                        c->json = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (argc - optind != 2) {
                fprintf(stderr, "explain: needs SRC and DST addresses, e.g. explain 10.10.10.2 203.0.113.1 --iif tun0.\n");
                return -EINVAL;
        }
        return explain_parse_addresses(e, argv[optind], argv[optind + 1]);
}

static void explain_note(Explain *e, const char *fmt, ...) _printf_(2, 3);
static void explain_note(Explain *e, const char *fmt, ...) {
        _cleanup_(freep) char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n >= 0)
                (void) strv_extend(&e->notes, s);
}

/* Without --iif: a packet from a local address is sent by this host (output lookup); from any other
 * address it comes in on the device that routes that address back (a tun for the pools). */
static void explain_infer_iif(Explain *e) {
        RtnlRouteQuery q = { .family = e->packet.family, .dst = e->packet.src.bytes };
        FibRoute back;

        if (ctl_route_get(e->k, &q, &back) < 0 || back.type == RTN_LOCAL || back.oif <= 0 ||
            !ctl_link_by_index(e->k, back.oif)) {
                snprintf(e->packet.iif, sizeof(e->packet.iif), "lo");
                return;
        }
        snprintf(e->packet.iif, sizeof(e->packet.iif), "%s", ctl_link_by_index(e->k, back.oif)->name);
        e->iifindex = back.oif;
        e->iif_inferred = true;
}

static int explain_resolve_iif(Explain *e) {
        const LinkInfo *l;

        if (!e->packet.iif[0]) {
                explain_infer_iif(e);
                return 0;
        }
        l = ctl_link_by_name(e->k, e->packet.iif);
        if (!l) {
                fprintf(stderr, "explain: no device '%s'.\n", e->packet.iif);
                return -ENODEV;
        }
        e->iifindex = streq(e->packet.iif, "lo") ? 0 : l->ifindex;
        return 0;
}

static bool forwarding_on(const Explain *e) {
        char path[128];
        int v;

        if (e->packet.family == AF_INET)
                snprintf(path, sizeof(path), "ipv4/conf/%s/forwarding", e->packet.iif);
        else
                snprintf(path, sizeof(path), "ipv6/conf/all/forwarding");
        return sysctl_net_read_int(path, &v) < 0 || v != 0;
}

static void explain_kernel(Explain *e) {
        RtnlRouteQuery q = {
                .family = e->packet.family, .src = e->packet.src.bytes, .dst = e->packet.dst.bytes,
                .iif = e->iifindex,
        };

        e->error = ctl_route_get(e->k, &q, &e->result);
        q.fib_match = true;
        e->has_entry = e->error >= 0 && ctl_route_get(e->k, &q, &e->entry) >= 0;
}

/* One of our rules that would have taken the packet, after the foreign rule that did. */
static const FibRule *ours_shadowed(const Explain *e) {
        const FibRule *decided = e->verdict.rule;

        if (!decided || decided->protocol == VPNPOLICY_PROTO || !e->verdict.route ||
            e->verdict.route->table == RT_TABLE_LOCAL)
                return NULL;
        for (size_t i = 0; i < e->k->fib.n_rules; i++) {
                const FibRule *r = &e->k->fib.rules[i];

                if (r->family == e->packet.family && r->protocol == VPNPOLICY_PROTO &&
                    r->priority >= decided->priority && prefix_contains(&r->src, r->family, &e->packet.src))
                        return r;
        }
        return NULL;
}

static bool route_is_fail_closed(const FibRoute *r) {
        return r->protocol == VPNPOLICY_PROTO && r->type == RTN_UNREACHABLE && r->priority == UINT32_MAX;
}

/* The status' shape, without health: {name, table: {id}, gateways: [{name, ipv4, ipv6}]}. */
static json_t *policies_from_config(const Config *c) {
        json_t *a = json_array();
        char b4[ADDR_STRLEN], b6[ADDR_STRLEN];

        for (size_t i = 0; i < c->n_policies; i++) {
                const PolicyConfig *p = &c->policies[i];
                json_t *gws = json_array();

                for (size_t j = 0; j < p->n_gateways; j++) {
                        const InAddrUnion *a4 = gateway_address(&p->gateways[j], AF_INET);
                        const InAddrUnion *a6 = gateway_address(&p->gateways[j], AF_INET6);

                        json_array_append_new(gws, json_pack("{s:s, s:o, s:o}", "name", p->gateways[j].name,
                                "ipv4", a4 ? json_string(addr_to_string(AF_INET, a4, b4)) : json_null(),
                                "ipv6", a6 ? json_string(addr_to_string(AF_INET6, a6, b6)) : json_null()));
                }
                json_array_append_new(a, json_pack("{s:s, s:{s:I}, s:o}", "name", p->name, "table", "id",
                                                   (json_int_t) p->table_id, "gateways", gws));
        }
        return a;
}

static void explain_load_policies(Explain *e, const CtlContext *c) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        ConfigSource src = { .path = e->config_path };
        json_t *reply = NULL;

        if (!e->config_path && asprintf(&path, "%s/io.vpnpolicy", c->runtime_dir) >= 0 &&
            varlink_call(path, "io.vpnpolicy.GetStatus", NULL, CTL_TIMEOUT_USEC, &reply, &error) == 0 &&
            json_is_array(json_object_get(reply, "policies"))) {
                e->policies = json_incref(json_object_get(reply, "policies"));
                json_decref(reply);
                return;
        }
        json_decref(reply);
        if (config_load(&src, &config, &errors) >= 0)
                e->policies = policies_from_config(config);
        else if (e->config_path)
                explain_note(e, "%s does not load (%s): the policy and gateway are not named; see `vpnpolicyctl "
                             "doctor`", e->config_path, errors ? errors[0] : "unreadable");
}

/* The policy whose table the deciding rule points to, and the gateway the kernel's route goes via. */
static void explain_find_policy(Explain *e) {
        const char *fam = e->packet.family == AF_INET ? "ipv4" : "ipv6";
        char a[ADDR_STRLEN];
        json_t *p, *g;
        size_t i;

        if (!e->verdict.rule || !e->verdict.route)
                return;
        json_array_foreach(e->policies, i, p)
                if (json_integer_value(json_object_get(json_object_get(p, "table"), "id")) == e->verdict.rule->table)
                        e->policy = p;
        if (!e->policy || e->error < 0 || !e->result.has_gateway)
                return;
        addr_to_string(e->packet.family, &e->result.gateway, a);
        json_array_foreach(json_object_get(e->policy, "gateways"), i, g)
                if (streq_ptr(json_string_value(json_object_get(g, fam)), a))
                        e->gateway = g;
}

static bool explain_fail_closed(const Explain *e) {
        return e->verdict.route && route_is_fail_closed(e->verdict.route);
}

static void explain_notes(Explain *e) {
        const FibVerdict *v = &e->verdict;

        if (e->iifindex > 0 && !forwarding_on(e))
                explain_note(e, "forwarding is off for %s on %s: the kernel drops packets it would forward; "
                             "fix: sysctl -w %s", e->packet.family == AF_INET ? "IPv4" : "IPv6", e->packet.iif,
                             e->packet.family == AF_INET ? "net.ipv4.ip_forward=1" : "net.ipv6.conf.all.forwarding=1");
        if (e->iifindex == 0 && e->error == -ENETUNREACH && e->packet.family == AF_INET)
                explain_note(e, "the kernel only looks up local packets from this host's own addresses: "
                             "say where the packet comes in with --iif DEV");
        if (e->iifindex > 0 && e->error == -EINVAL)
                explain_note(e, "the kernel refuses this source on %s: reverse-path filtering (rp_filter) "
                             "or a martian source; see `vpnpolicyctl doctor`", e->packet.iif);
        if (e->error >= 0 && (!v->route || e->result.table != v->rule->table))
                explain_note(e, "the kernel took table %u, the rule list walk %s: a selector explain does not "
                             "evaluate (mark, uid, ports) decided", e->result.table,
                             v->route ? "another" : "none");
        if (ours_shadowed(e))
                explain_note(e, "a foreign rule at preference %u comes before ours at %u and decides this packet",
                             v->rule->priority, ours_shadowed(e)->priority);
}

static const char *owner(const CtlKernel *k, uint8_t protocol, char buf[static RT_NAME_STRLEN + 16]) {
        char name[RT_NAME_STRLEN];

        if (protocol == VPNPOLICY_PROTO)
                return "ours";
        if (protocol == RTPROT_KERNEL)
                return "kernel";
        snprintf(buf, RT_NAME_STRLEN + 16, "foreign, proto %s", ctl_proto_name(k, protocol, name));
        return buf;
}

static void print_result(const Explain *e) {
        char a[ADDR_STRLEN], dev[IFNAMSIZ];
        const FibRoute *r = &e->result;

        if (e->error < 0) {
                printf("result: dropped: %s%s\n", strerror(-e->error),
                       e->verdict.route && route_is_fail_closed(e->verdict.route) ?
                       " (fail-closed: the policy table has no gateway route)" : "");
                return;
        }
        printf("result: %s", r->type == RTN_LOCAL ? "delivered locally" :
                             r->type == RTN_UNICAST ? (e->iifindex > 0 ? "forwarded" : "sent") : fib_route_type_name(r->type));
        if (r->has_gateway)
                printf(" via %s", addr_to_string(r->family, &r->gateway, a));
        if (r->oif > 0)
                printf(" dev %s", ctl_ifname(e->k, r->oif, dev));
        if (r->has_prefsrc && e->iifindex == 0)
                printf(" src %s", addr_to_string(r->family, &r->prefsrc, a));
        putchar('\n');
}

/* "nat1 (192.168.1.1, up, active)": the gateway's health when the agent said it. */
static void print_gateway(const Explain *e) {
        const char *fam = e->packet.family == AF_INET ? "ipv4" : "ipv6";
        json_t *h = json_object_get(json_object_get(e->gateway, "health"), fam);

        printf("gateway: %s (%s", json_string_value(json_object_get(e->gateway, "name")),
               json_string_value(json_object_get(e->gateway, fam)));
        if (json_is_object(h))
                printf(", %s%s", json_string_value(json_object_get(h, "state")),
                       json_is_true(json_object_get(h, "active")) ? ", active" : ", NOT the active one");
        printf(")\n");
}

static void print_policy(const Explain *e) {
        const char *name = json_string_value(json_object_get(e->policy, "name"));

        if (!e->policies)
                return;
        if (!e->policy) {
                printf("policy: none (the table that decides is no policy's)\n");
                return;
        }
        printf("policy: %s\n", name);
        if (explain_fail_closed(e))
                printf("gateway: none: fail-closed: dropped (no gateway of policy %s is up)\n", name);
        else if (e->gateway)
                print_gateway(e);
}

static void explain_print(const Explain *e) {
        char s[NOTATION_STRLEN], src[ADDR_STRLEN], dst[ADDR_STRLEN], own[RT_NAME_STRLEN + 16], name[RT_NAME_STRLEN];
        const FibVerdict *v = &e->verdict;

        printf("packet: %s -> %s, %s%s%s (%s)\n", addr_to_string(e->packet.family, &e->packet.src, src),
               addr_to_string(e->packet.family, &e->packet.dst, dst), e->iifindex > 0 ? "in on " : "sent by this host",
               e->iifindex > 0 ? e->packet.iif : "", e->iif_inferred ? ", the device that routes the source" : "",
               e->packet.family == AF_INET ? "IPv4" : "IPv6");
        if (v->rule)
                printf("rule %u: %s (%s)\n", v->rule->priority, notation_rule(e->k, v->rule, false, s),
                       owner(e->k, v->rule->protocol, own));
        else
                printf("rule: none matched with a route\n");
        if (v->route) {
                const char *t = ctl_table_name(e->k, v->rule->table, name);

                if (t == name)          /* no name: the number */
                        printf("table %u\n", v->rule->table);
                else
                        printf("table %s (%u)\n", t, v->rule->table);
                printf("route: %s (%s%s)\n", notation_route(e->k, v->route, s), owner(e->k, v->route->protocol, own),
                       route_is_fail_closed(v->route) ? ", fail-closed" : "");
        }
        print_result(e);
        print_policy(e);
        STRV_FOREACH(n, e->notes)
                printf("note: %s\n", *n);
}

static json_t *json_route(const Explain *e, const FibRoute *r) {
        char s[NOTATION_STRLEN], a[ADDR_STRLEN], dev[IFNAMSIZ], name[RT_NAME_STRLEN];

        if (!r)
                return json_null();
        return json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:b, s:b}",
                         "route", notation_route(e->k, r, s),
                         "type", fib_route_type_name(r->type),
                         "table", (json_int_t) r->table,
                         "protocol", ctl_proto_name(e->k, r->protocol, name),
                         "metric", (json_int_t) r->priority,
                         "gateway", r->has_gateway ? json_string(addr_to_string(r->family, &r->gateway, a)) : json_null(),
                         "dev", r->oif > 0 ? json_string(ctl_ifname(e->k, r->oif, dev)) : json_null(),
                         "ours", r->protocol == VPNPOLICY_PROTO,
                         "fail_closed", route_is_fail_closed(r));
}

static json_t *json_rule(const Explain *e, const FibRule *r) {
        char s[NOTATION_STRLEN], name[RT_NAME_STRLEN], tname[RT_NAME_STRLEN];

        if (!r)
                return json_null();
        return json_pack("{s:I, s:s, s:s, s:b, s:o}",
                         "priority", (json_int_t) r->priority,
                         "rule", notation_rule(e->k, r, false, s),
                         "protocol", ctl_proto_name(e->k, r->protocol, name),
                         "ours", r->protocol == VPNPOLICY_PROTO,
                         "table", e->verdict.route ? json_pack("{s:I, s:s}", "id", (json_int_t) r->table, "name",
                                                               ctl_table_name(e->k, r->table, tname)) : json_null());
}

static json_t *json_notes(const Explain *e) {
        json_t *a = json_array();

        STRV_FOREACH(n, e->notes)
                json_array_append_new(a, json_string(*n));
        return a;
}

static json_t *json_gateway(const Explain *e) {
        const char *fam = e->packet.family == AF_INET ? "ipv4" : "ipv6";
        json_t *h = json_object_get(json_object_get(e->gateway, "health"), fam);

        if (!e->gateway)
                return json_null();
        return json_pack("{s:O, s:O, s:o, s:o}", "name", json_object_get(e->gateway, "name"),
                         "address", json_object_get(e->gateway, fam),
                         "state", json_is_object(h) ? json_incref(json_object_get(h, "state")) : json_null(),
                         "active", json_is_object(h) ? json_incref(json_object_get(h, "active")) : json_null());
}

static void explain_print_json(const Explain *e) {
        char src[ADDR_STRLEN], dst[ADDR_STRLEN];
        json_t *j;

        j = json_pack("{s:{s:s, s:s, s:s, s:s, s:b}, s:o, s:o, s:{s:b, s:o, s:o, s:o}, s:o}",
                      "packet", "family", family_to_string(e->packet.family),
                      "src", addr_to_string(e->packet.family, &e->packet.src, src),
                      "dst", addr_to_string(e->packet.family, &e->packet.dst, dst),
                      "iif", e->packet.iif, "iif_inferred", e->iif_inferred,
                      "rule", json_rule(e, e->verdict.rule),
                      "route", json_route(e, e->verdict.route),
                      "kernel", "routed", e->error >= 0,
                      "error", e->error < 0 ? json_string(strerror(-e->error)) : json_null(),
                      "result", json_route(e, e->error >= 0 ? &e->result : NULL),
                      "entry", json_route(e, e->has_entry ? &e->entry : NULL),
                      "notes", json_notes(e));
        json_object_set_new(j, "policy", e->policy ? json_incref(json_object_get(e->policy, "name")) : json_null());
        json_object_set_new(j, "gateway", json_gateway(e));
        json_object_set_new(j, "fail_closed", json_boolean(explain_fail_closed(e)));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(j);
}

int ctl_explain(const CtlContext *c, int argc, char *argv[]) {
        _cleanup_(ctl_kernel_freep) CtlKernel *k = NULL;
        CtlContext local = *c;
        Explain e = {};
        int r;

        if (explain_parse_argv(argc, argv, &local, &e) < 0)
                return CTL_EXIT_USAGE;
        r = ctl_kernel_open(IPROUTE2_DIR_DEFAULT, &k);
        if (r < 0) {
                fprintf(stderr, "explain: cannot read the kernel's routing state: %s\n", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        e.k = k;
        if (explain_resolve_iif(&e) < 0)
                return CTL_EXIT_FAILURE;
        explain_kernel(&e);
        fib_walk(&k->fib, &e.packet, &e.verdict);
        explain_load_policies(&e, &local);
        explain_find_policy(&e);
        explain_notes(&e);
        if (local.json)
                explain_print_json(&e);
        else
                explain_print(&e);
        strv_free(e.notes);
        json_decref(e.policies);
        return CTL_EXIT_OK;
}
