/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl-doctor.h"
#include "desired.h"
#include "rt-files.h"
#include "rtnl.h"
#include "strv.h"
#include "sysctl.h"
#include "varlink.h"
#include "vpnpolicy-defs.h"

#define DOCTOR_SCHEMA_VERSION 1

/* config_load() refuses a configuration whose table clashes with an rt_tables entry. To diagnose the rest,
 * doctor loads it again with the clash check pointed at a directory that never exists (Debian Policy
 * 9.2.1 reserves /nonexistent for that) and reports the clash as a finding of its own, with its fix. */
#define IPROUTE2_DIR_NONE "/nonexistent"

static const char *const severity_table[_SEVERITY_MAX] = {
        [SEVERITY_INFO] = "info",
        [SEVERITY_WARNING] = "warning",
        [SEVERITY_ERROR] = "error",
};

json_t *doctor_add(Doctor *d, Severity s, const char *check, const char *fmt, ...) {
        _cleanup_(freep) char *message = NULL;
        va_list ap;
        json_t *f;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&message, fmt, ap);
        va_end(ap);
        if (n < 0)
                return NULL;
        f = json_pack("{s:s, s:s, s:s, s:[]}", "severity", severity_table[s], "check", check, "message", message,
                      "fix");
        if (f)
                json_array_append_new(d->findings, f);
        return f;
}

void finding_fix(json_t *f, const char *fmt, ...) {
        _cleanup_(freep) char *s = NULL;
        va_list ap;
        int n;

        if (!f)
                return;
        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n >= 0)
                json_array_append_new(json_object_get(f, "fix"), json_string(s));
}

void doctor_skip(Doctor *d, const char *check, const char *fmt, ...) {
        _cleanup_(freep) char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n >= 0)
                json_array_append_new(d->skipped, json_pack("{s:s, s:s}", "check", check, "reason", s));
}

int doctor_sysctl(const char *fmt, ...) {
        char path[256];
        va_list ap;
        int v, r;

        va_start(ap, fmt);
        r = vsnprintf(path, sizeof(path), fmt, ap);
        va_end(ap);
        if (r < 0 || (size_t) r >= sizeof(path))
                return -ENAMETOOLONG;
        r = sysctl_net_read_int(path, &v);
        return r < 0 ? r : v;
}

/* The agent's rule (tunnels.c): a device matching Match= is a pool tunnel only with an address inside one of
 * the pools (an OpenVPN server's tun holds its pool's first address); an OpenVPN client tunnel or another
 * VPN holds none. */
bool doctor_link_has_pool_address(const Doctor *d, int ifindex) {
        for (size_t i = 0; i < d->kernel->n_addresses; i++) {
                const AddressInfo *a = &d->kernel->addresses[i];

                if (a->ifindex == ifindex && config_policy_by_address(d->config, a->family, &a->local))
                        return true;
        }
        return false;
}

static bool status_manages(const Doctor *d, const char *name) {
        json_t *dev;
        size_t i;

        json_array_foreach(json_object_get(d->status, "devices"), i, dev)
                if (streq_ptr(json_string_value(json_object_get(dev, "name")), name))
                        return true;
        return false;
}

char **doctor_tunnels(const Doctor *d) {
        char **l = NULL;
        json_t *dev;
        size_t i;

        json_array_foreach(json_object_get(d->status, "devices"), i, dev) {
                const char *name = json_string_value(json_object_get(dev, "name"));

                if (name && !strv_contains(l, name))
                        (void) strv_extend(&l, name);
        }
        /* Without the agent, its rule stands in for its answer (registrations aside). */
        for (size_t j = 0; !d->status && d->config && j < d->kernel->n_links; j++) {
                const LinkInfo *li = &d->kernel->links[j];

                if (desired_link_matches(d->config, li->kind, li->name) &&
                    doctor_link_has_pool_address(d, li->ifindex) && !strv_contains(l, li->name))
                        (void) strv_extend(&l, li->name);
        }
        return l;
}

static void tunnel_pools(const Doctor *d, char *buf, size_t size) {
        char p[PREFIX_STRLEN];
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < d->config->n_policies; i++)
                for (size_t j = 0; j < d->config->policies[i].n_pools && n < size; j++)
                        n += (size_t) snprintf(buf + n, size - n, "%s%s", n > 0 ? ", " : "",
                                               prefix_to_string(&d->config->policies[i].pools[j], p));
}

/* A tunnel device that matches Match= and is not ours: say why, and what would make it ours. */
static void unmanaged_tunnel(Doctor *d, const LinkInfo *li) {
        const Prefix *pool = &d->config->policies[0].pools[0];
        char pools[512], host[ADDR_STRLEN];
        InAddrUnion a;
        json_t *f;

        tunnel_pools(d, pools, sizeof(pools));
        if (doctor_link_has_pool_address(d, li->ifindex))
                /* The agent's rule says ours, its status says not: it has not seen it yet, or is stuck. */
                f = doctor_add(d, SEVERITY_WARNING, "tunnels",
                               "%s matches [Tunnels] Match= and carries an address inside a pool (%s), but "
                               "vpnpolicyd does not manage it", li->name, pools);
        else
                f = doctor_add(d, SEVERITY_INFO, "tunnels",
                               "%s matches [Tunnels] Match= but is not managed: it carries no address "
                               "inside a pool (%s) and root did not register it%s (an OpenVPN client tunnel "
                               "or another VPN is left alone on purpose)", li->name, pools,
                               d->status ? "" : " (unknown: vpnpolicyd is not reachable)");
        if (!f)
                return;
        if (doctor_link_has_pool_address(d, li->ifindex)) {
                finding_fix(f, "vpnpolicyctl status");
                return;
        }
        if (prefix_host(pool, 1, &a))
                finding_fix(f, "ip address add %s/%u dev %s  # an address inside a pool makes it ours "
                            "(OpenVPN's server directive gives its tun the pool's first address)",
                            addr_to_string(pool->family, &a, host), pool->prefixlen, li->name);
        finding_fix(f, "up %s  # in the OpenVPN configuration that makes %s: root's registration makes "
                    "it ours", HOOK_PATH, li->name);
}

int check_tunnels(Doctor *d) {
        for (size_t i = 0; i < d->kernel->n_links; i++) {
                const LinkInfo *li = &d->kernel->links[i];

                if (!desired_link_matches(d->config, li->kind, li->name) || status_manages(d, li->name))
                        continue;
                if (!d->status && doctor_link_has_pool_address(d, li->ifindex))
                        continue;       /* ours by the rule; the agent's check says it is not running */
                unmanaged_tunnel(d, li);
        }
        return 0;
}

int doctor_gateway_ifindex(Doctor *d, const GatewayConfig *g, int family) {
        const InAddrUnion *gw = gateway_address(g, family);
        RtnlRouteQuery q = { .family = family };
        const LinkInfo *l;
        FibRoute rt;

        if (!gw)
                return -ENOENT;
        if (g->device[0]) {
                l = ctl_link_by_name(d->kernel, g->device);
                return l ? l->ifindex : -ENODEV;
        }
        q.dst = gw->bytes;
        if (ctl_route_get(d->kernel, &q, &rt) < 0 || rt.oif <= 0)
                return -ENETUNREACH;
        return rt.oif;
}

bool doctor_has_family(const Doctor *d, int family) {
        for (size_t i = 0; i < d->config->n_policies; i++)
                if (policy_has_family(&d->config->policies[i], family))
                        return true;
        return false;
}

static json_t *status_find(json_t *array, const char *name) {
        json_t *v;
        size_t i;

        json_array_foreach(array, i, v)
                if (streq_ptr(json_string_value(json_object_get(v, "name")), name))
                        return v;
        return NULL;
}

json_t *doctor_status_policy(const Doctor *d, const PolicyConfig *p) {
        return status_find(json_object_get(d->status, "policies"), p->name);
}

json_t *doctor_status_gateway(const Doctor *d, const PolicyConfig *p, const GatewayConfig *g) {
        return status_find(json_object_get(doctor_status_policy(d, p), "gateways"), g->name);
}

json_t *doctor_status_health(const Doctor *d, const PolicyConfig *p, const GatewayConfig *g, int family) {
        json_t *h = json_object_get(json_object_get(doctor_status_gateway(d, p, g), "health"),
                                    family == AF_INET ? "ipv4" : "ipv6");

        return json_is_object(h) ? h : NULL;
}

bool prefix_host(const Prefix *p, unsigned n, InAddrUnion *ret) {
        InAddrUnion a = p->addr;
        size_t i = family_addr_size(p->family);

        for (unsigned carry = n; carry > 0 && i > 0; i--) {
                unsigned v = a.bytes[i - 1] + carry;

                a.bytes[i - 1] = (uint8_t) v;
                carry = v >> 8;
        }
        if (!prefix_contains(p, p->family, &a))
                return false;
        *ret = a;
        return true;
}

const InAddrUnion *doctor_outside(int family) {
        static InAddrUnion v4, v6;

        if (family == AF_INET) {
                (void) inet_pton(AF_INET, "198.51.100.1", &v4.in);
                return &v4;
        }
        (void) inet_pton(AF_INET6, "2001:db8::1", &v6.in6);
        return &v6;
}

const char *family_name(int family) {
        return family == AF_INET ? "IPv4" : "IPv6";
}

const char *ip_family_flag(int family) {
        return family == AF_INET ? "-4" : "-6";
}

/* Objects the agent wants and the kernel lacks; tunnel routes blocked while their device is down are
 * expected to be absent (as status_objects() in api.c counts them). */
static size_t agent_missing_objects(Doctor *d) {
        json_t *o;
        size_t i, n = 0;

        json_array_foreach(json_object_get(d->status, "objects"), i, o) {
                const char *role = json_string_value(json_object_get(o, "role")) ?: "";
                const char *blocked = json_string_value(json_object_get(o, "blocked"));
                const char *error = json_string_value(json_object_get(o, "last_error"));
                json_t *f;

                if (json_is_true(json_object_get(o, "present")) ||
                    (blocked && (streq(role, "tun-route") || streq(role, "mirror-route"))))
                        continue;
                f = doctor_add(d, SEVERITY_WARNING, "agent", "vpnpolicyd wants %s (%s) in the kernel, it is not there: %s",
                               json_string_value(json_object_get(o, "object")), role,
                               blocked ?: error ?: "not added yet");
                finding_fix(f, "vpnpolicyctl status");
                n++;
        }
        return n;
}

int check_agent(Doctor *d) {
        json_t *f;

        if (!d->status) {
                f = doctor_add(d, SEVERITY_WARNING, "agent", "%s: nothing keeps the policy in the kernel or restores "
                               "what others delete", d->status_error ?: "vpnpolicyd is not reachable");
                if (d->status_refused)
                        finding_fix(f, "run doctor as root, or add yourself to the group of [Control] ReadGroup=");
                else
                        finding_fix(f, "systemctl enable --now vpnpolicyd");
                return 0;
        }
        if (streq_ptr(json_string_value(json_object_get(d->status, "health")), "healthy"))
                return 0;
        if (agent_missing_objects(d) == 0) {
                f = doctor_add(d, SEVERITY_WARNING, "agent", "vpnpolicyd reports itself degraded (%s)",
                               json_string_value(json_object_get(d->status, "last_error")) ?: "a resync is pending");
                finding_fix(f, "vpnpolicyctl status");
        }
        return 0;
}

/* The leak guard only drops what routing got wrong: drops that keep coming mean a route sends pool traffic
 * out by a device that is neither the gateway's nor a tunnel. */
int check_leak_guard(Doctor *d) {
        json_t *fw = d->status ? json_object_get(d->status, "firewall") : NULL, *f;
        json_int_t drops = json_integer_value(json_object_get(json_object_get(fw, "leak_guard_drops"), "packets"));

        if (!json_is_true(json_object_get(fw, "leak_guard_rising")))
                return 0;
        f = doctor_add(d, SEVERITY_WARNING, "leak-guard",
                       "the leak guard is dropping pool traffic (%lld packets so far, rising): a route sends it "
                       "out by a device that is neither the gateway's nor a tunnel", (long long) drops);
        finding_fix(f, "vpnpolicyctl explain <a pool address> <the destination> --iif <its tun>  # shows the route "
                    "that leaks; then remove or fix it in table vpn");
        return 0;
}

/* -------------------------------------------------------------------------------------------------------- */

typedef struct DoctorArgs {
        const char *config_path;
        bool json;
} DoctorArgs;

static int doctor_parse_argv(int argc, char *argv[], Doctor *d, DoctorArgs *a) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "openvpn-config", required_argument, NULL, 'o' },
                { "openvpn-dir", required_argument, NULL, 'O' },
                { "assume-dco", no_argument, NULL, 'D' },
                { "iproute2-dir", required_argument, NULL, 'i' },
                { "json", no_argument, NULL, 'j' },
                {}
        };
        int opt;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        a->config_path = optarg;
                        break;
                case 'o':
                        if (strv_extend(&d->openvpn_configs, optarg) < 0)
                                return -ENOMEM;
                        break;
                case 'O':
                        d->openvpn_dir = optarg;
                        break;
                case 'D':
                        d->assume_dco = true;
                        break;
                case 'i':
                        d->iproute2_dir = optarg;
                        break;
                case 'j':
                        a->json = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "doctor: unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

static void doctor_fetch_status(Doctor *d) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        json_t *reply = NULL;
        int r;

        if (asprintf(&path, "%s/io.vpnpolicy", d->ctl->runtime_dir) < 0)
                return;
        r = varlink_call(path, "io.vpnpolicy.GetStatus", NULL, CTL_TIMEOUT_USEC, &reply, &error);
        if (r == 0) {
                d->status = reply;
                return;
        }
        d->status_refused = r > 0;
        if (r > 0)
                (void) asprintf(&d->status_error, "vpnpolicyd at %s refused GetStatus: %s", path, error);
        else
                (void) asprintf(&d->status_error, "vpnpolicyd is not reachable at %s: %s", path, strerror(-r));
        json_decref(reply);
}

/* --config, else the agent's own main file, else the default. */
static int doctor_config_path(Doctor *d, const DoctorArgs *a) {
        const char *agent = json_string_value(json_array_get(json_object_get(json_object_get(d->status, "config"),
                                                                               "files"), 0));

        d->config_path = strdup(a->config_path ?: agent ?: CONFIG_PATH_DEFAULT);
        return d->config_path ? 0 : -ENOMEM;
}

static void doctor_config_errors(Doctor *d, char **errors, int r) {
        json_t *f;

        if (!errors) {
                f = doctor_add(d, SEVERITY_ERROR, "config", "cannot read the configuration %s: %s", d->config_path,
                               strerror(-r));
                finding_fix(f, "vpnpolicyctl doctor --config FILE");
                return;
        }
        STRV_FOREACH(e, errors) {
                f = doctor_add(d, SEVERITY_ERROR, "config", "%s", *e);
                finding_fix(f, "correct the line named, then check it with: vpnpolicyd --check-config --config %s",
                            d->config_path);
        }
}

static void doctor_load_config(Doctor *d) {
        _cleanup_strv_free_ char **errors = NULL, **errors2 = NULL;
        ConfigSource src = { .path = d->config_path, .iproute2_dir = d->iproute2_dir };
        int r;

        r = config_load(&src, &d->config, &errors);
        if (r >= 0)
                return;
        src.iproute2_dir = IPROUTE2_DIR_NONE;
        if (config_load(&src, &d->config, &errors2) >= 0) {
                d->rt_tables_clash = true;      /* check_rt_tables() says which line and how to fix it */
                return;
        }
        doctor_config_errors(d, errors, r);
}

typedef struct DoctorCheck {
        const char *name;
        int (*fn)(Doctor *d);
        bool needs_config;
} DoctorCheck;

static const DoctorCheck checks[] = {
        { "agent", check_agent, false },
        { "leak-guard", check_leak_guard, false },
        { "tunnels", check_tunnels, true },
        { "rt-tables", check_rt_tables, true },
        { "forwarding", check_forwarding, true },
        { "send-redirects", check_send_redirects, true },
        { "rp-filter", check_rp_filter, true },
        { "source-rule", check_source_rules, true },
        { "default-route", check_default_routes, true },
        { "conflict", check_conflicts, true },
        { "gateway", check_gateways, true },
        { "return-route", check_return_routes, true },
        { "dco", check_dco_routes, false },
        { "wireguard", check_wireguard, false },
        { "networkd", check_networkd, false },
        { "networkmanager", check_network_manager, true },
        { "openvpn", check_openvpn, false },
};

static void doctor_run(Doctor *d) {
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                int r;

                if (checks[i].needs_config && !d->config) {
                        doctor_skip(d, checks[i].name, "needs a valid configuration (%s)", d->config_path);
                        continue;
                }
                r = checks[i].fn(d);
                if (r < 0)
                        doctor_skip(d, checks[i].name, "the check failed: %s", strerror(-r));
        }
}

static size_t doctor_count(const Doctor *d, Severity s) {
        size_t i, n = 0;
        json_t *f;

        json_array_foreach(d->findings, i, f)
                n += streq(json_string_value(json_object_get(f, "severity")), severity_table[s]);
        return n;
}

static bool colour(void) {
        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
}

static void print_findings(const Doctor *d, Severity s) {
        static const char *const colours[_SEVERITY_MAX] = { "\033[36m", "\033[33m", "\033[31m" };
        json_t *f, *fix;
        size_t i, j;

        json_array_foreach(d->findings, i, f) {
                if (!streq(json_string_value(json_object_get(f, "severity")), severity_table[s]))
                        continue;
                printf("%s%-7s%s %s: %s\n", colour() ? colours[s] : "", severity_table[s], colour() ? "\033[0m" : "",
                       json_string_value(json_object_get(f, "check")), json_string_value(json_object_get(f, "message")));
                json_array_foreach(json_object_get(f, "fix"), j, fix)
                        printf("        fix: %s\n", json_string_value(fix));
        }
}

static void doctor_print(const Doctor *d) {
        json_t *s;
        size_t i;

        for (int sev = SEVERITY_ERROR; sev >= SEVERITY_INFO; sev--)
                print_findings(d, (Severity) sev);
        json_array_foreach(d->skipped, i, s)
                printf("skipped %s: %s\n", json_string_value(json_object_get(s, "check")),
                       json_string_value(json_object_get(s, "reason")));
        printf("\n%zu error(s), %zu warning(s), %zu note(s).\n", doctor_count(d, SEVERITY_ERROR),
               doctor_count(d, SEVERITY_WARNING), doctor_count(d, SEVERITY_INFO));
}

static void doctor_print_json(const Doctor *d) {
        json_t *j;

        j = json_pack("{s:i, s:s, s:b, s:O, s:O, s:{s:I, s:I, s:I}}",
                      "schema", DOCTOR_SCHEMA_VERSION,
                      "config", d->config_path,
                      "agent", d->status != NULL,
                      "findings", d->findings,
                      "skipped", d->skipped,
                      "summary", "errors", (json_int_t) doctor_count(d, SEVERITY_ERROR),
                      "warnings", (json_int_t) doctor_count(d, SEVERITY_WARNING),
                      "info", (json_int_t) doctor_count(d, SEVERITY_INFO));
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
}

static void doctor_done(Doctor *d) {
        config_free(d->config);
        free(d->config_path);
        json_decref(d->status);
        free(d->status_error);
        ctl_kernel_free(d->kernel);
        strv_free(d->openvpn_configs);
        json_decref(d->findings);
        json_decref(d->skipped);
}

int ctl_doctor(const CtlContext *c, int argc, char *argv[]) {
        _cleanup_(doctor_done) Doctor d = { .ctl = c, .findings = json_array(), .skipped = json_array() };
        DoctorArgs a = { .json = c->json };
        int r;

        if (doctor_parse_argv(argc, argv, &d, &a) < 0)
                return CTL_EXIT_USAGE;
        r = ctl_kernel_open(d.iproute2_dir ?: IPROUTE2_DIR_DEFAULT, &d.kernel);
        if (r < 0) {
                fprintf(stderr, "doctor: cannot read the kernel's routing state: %s\n", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        doctor_fetch_status(&d);
        if (doctor_config_path(&d, &a) < 0)
                return CTL_EXIT_FAILURE;
        doctor_load_config(&d);
        doctor_run(&d);
        if (a.json)
                doctor_print_json(&d);
        else
                doctor_print(&d);
        if (doctor_count(&d, SEVERITY_ERROR) > 0)
                return CTL_EXIT_FAILURE;
        return doctor_count(&d, SEVERITY_WARNING) > 0 ? CTL_EXIT_DEGRADED : CTL_EXIT_OK;
}
