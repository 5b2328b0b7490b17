/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl-doctor-openvpn.h"
#include "desired.h"
#include "fs-util.h"
#include "parse-util.h"
#include "rtnl.h"
#include "strv.h"
#include "vpnpolicy-defs.h"

/* The doctor's OpenVPN checks, on the server configurations the agent's registered tunnels name (status
 * devices[].config) and those given with --openvpn-config. Only what bears on routing is read: routes
 * and their iroutes (seed 000), client-to-client, the up hook, the server's pools, dev and disable-dco. */

#define OVPN_TOKENS_MAX 8
#define OVPN_INCLUDE_DEPTH 4
/* The doctor reads no file larger than this: OpenVPN configurations are a few KiB, and a path may name
 * anything (/dev/zero made an unbounded reader grow to 265 MB). */
#define OVPN_FILE_MAX (1024U * 1024U)
#define OVPN_FILE_MAX_TEXT "1 MiB"

/* OpenVPN's parse_line() (src/openvpn/options.c): blanks separate tokens, "..." and '...' group them, a
 * backslash escapes the next character outside '...', and # or ; where a token starts ends the line. */
static size_t ovpn_tokenize(char *line, char *tokens[static OVPN_TOKENS_MAX]) {
        size_t n = 0;
        char *in = line, *out = line;

        while (*in && n < OVPN_TOKENS_MAX) {
                char quote = 0;

                in += strspn(in, " \t\r\n");
                if (!*in || *in == '#' || *in == ';')
                        break;
                tokens[n++] = out;
                for (; *in && (quote || !strchr(" \t\r\n", *in)); in++) {
                        if (!quote && (*in == '"' || *in == '\'')) {
                                quote = *in;
                        } else if (quote && *in == quote) {
                                quote = 0;
                        } else if (*in == '\\' && quote != '\'' && in[1]) {
                                *out++ = *++in;
                        } else
                                *out++ = *in;
                }
                if (*in)
                        in++;
                *out++ = 0;
        }
        return n;
}

static int ovpn_add(OvpnPrefix **a, size_t *n, const Prefix *p, const char *file, unsigned line, bool pushed) {
        OvpnPrefix *x = reallocarray(*a, *n + 1, sizeof(OvpnPrefix));

        if (!x)
                return -ENOMEM;
        *a = x;
        x[*n] = (OvpnPrefix) { .prefix = *p, .pushed = pushed };
        snprintf(x[*n].where, sizeof(x[*n].where), "%s:%u", file, line);
        (*n)++;
        return 0;
}

/* "NET [MASK]" (IPv4, MASK defaults to a host) or "PREFIX/LEN" (IPv6); names to resolve are skipped. */
static bool ovpn_prefix(char **t, size_t n, bool v6, Prefix *ret) {
        struct in_addr mask = { .s_addr = INADDR_NONE };

        if (n < 1)
                return false;
        if (v6) {
                if (prefix_parse(t[0], ret) >= 0)
                        return true;
                if (addr_parse(AF_INET6, t[0], NULL, &ret->addr) < 0)
                        return false;
                ret->family = AF_INET6;
                ret->prefixlen = 128;
                return true;
        }
        if (addr_parse(AF_INET, t[0], NULL, &ret->addr) < 0 || (n > 1 && inet_pton(AF_INET, t[1], &mask) != 1))
                return false;
        ret->family = AF_INET;
        if (netmask_to_prefixlen(&mask, &ret->prefixlen) < 0)
                return false;
        prefix_mask(ret);
        return true;
}

/* route/route-ipv6 (also inside push "..."): ARGS start after the keyword. A route with a gateway outside
 * the VPN (net_gateway, remote_host) does not go into the tunnel. */
static int ovpn_route(Ovpn *o, char **t, size_t n, const char *file, unsigned line, bool pushed) {
        bool v6 = streq(t[0], "route-ipv6");
        size_t gw = v6 ? 2 : 3;         /* where the gateway argument is */
        Prefix p;

        if (!streq(t[0], "route") && !v6)
                return 0;
        if (n > gw && (streq(t[gw], "net_gateway") || streq(t[gw], "remote_host")))
                return 0;
        if (!ovpn_prefix(t + 1, MIN(n - 1, v6 ? 1U : 2U), v6, &p))
                return 0;
        return ovpn_add(&o->routes, &o->n_routes, &p, file, line, pushed);
}

static int ovpn_push(Ovpn *o, const char *arg, const char *file, unsigned line) {
        _cleanup_(freep) char *copy = strdup(arg);
        char *t[OVPN_TOKENS_MAX];
        size_t n;

        if (!copy)
                return -ENOMEM;
        n = ovpn_tokenize(copy, t);
        return n > 0 ? ovpn_route(o, t, n, file, line, true) : 0;
}

static int ovpn_server(Ovpn *o, char **t, size_t n, const char *file, unsigned line) {
        bool v6 = streq(t[0], "server-ipv6");
        Prefix p;

        if (n < 2 || !ovpn_prefix(t + 1, MIN(n - 1, 2U), v6, &p))
                return 0;
        return ovpn_add(&o->servers, &o->n_servers, &p, file, line, false);
}

/* "ifconfig-pool START END": both ends must be in the pools; each is checked as a host prefix. */
static int ovpn_ifconfig_pool(Ovpn *o, char **t, const char *file, unsigned line) {
        for (size_t i = 1; i <= 2; i++) {
                Prefix p = { .family = AF_INET, .prefixlen = 32 };
                int r;

                if (addr_parse(AF_INET, t[i], NULL, &p.addr) < 0)
                        return 0;
                r = ovpn_add(&o->servers, &o->n_servers, &p, file, line, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void ovpn_copy(char *dest, size_t size, const char *value) {
        snprintf(dest, size, "%s", value);
}

static int ovpn_read(Ovpn *o, const char *path, unsigned depth);

static int ovpn_option(Ovpn *o, char **t, size_t n, const char *file, unsigned line, unsigned depth) {
        uint32_t u;

        if (streq(t[0], "client-to-client"))
                snprintf(o->c2c, sizeof(o->c2c), "%s:%u", file, line);
        else if (streq(t[0], "client-config-dir") && n > 1)
                ovpn_copy(o->ccd, sizeof(o->ccd), t[1]);
        else if (streq(t[0], "cd") && n > 1)
                ovpn_copy(o->dir, sizeof(o->dir), t[1]);
        else if (streq(t[0], "up") && n > 1) {
                ovpn_copy(o->up, sizeof(o->up), t[1]);
                snprintf(o->up_where, sizeof(o->up_where), "%s:%u", file, line);
        } else if (streq(t[0], "script-security") && n > 1 && parse_u32(t[1], &u) >= 0)
                o->script_security = (int) MIN(u, 3U);
        else if (streq(t[0], "push") && n > 1)
                return ovpn_push(o, t[1], file, line);
        else if ((streq(t[0], "server") || streq(t[0], "server-ipv6")))
                return ovpn_server(o, t, n, file, line);
        else if (streq(t[0], "ifconfig-pool") && n > 2)
                return ovpn_ifconfig_pool(o, t, file, line);
        else if (streq(t[0], "dev") && n > 1 && strlen(t[1]) < IFNAMSIZ)
                ovpn_copy(o->dev, sizeof(o->dev), t[1]);
        else if (streq(t[0], "disable-dco"))
                snprintf(o->no_dco, sizeof(o->no_dco), "%s:%u", file, line);
        else if (streq(t[0], "config") && n > 1 && depth < OVPN_INCLUDE_DEPTH)
                return ovpn_read(o, t[1], depth + 1);
        else
                return ovpn_route(o, t, n, file, line, false);
        return 0;
}

/* A relative path is OpenVPN's, from its working directory (`cd`). */
static char *ovpn_path(const Ovpn *o, const char *p) {
        char *s = NULL;

        if (p[0] == '/' || !o->dir[0])
                return strdup(p);
        return asprintf(&s, "%s/%s", o->dir, p) < 0 ? NULL : s;
}

static const char *ovpn_strerror(int r) {
        return r == -EFBIG ? "larger than " OVPN_FILE_MAX_TEXT ", skipped" : read_file_strerror(r);
}

/* Only regular files, non-blocking, at most OVPN_FILE_MAX: a FIFO or /dev/zero must not hang the doctor
 * or eat its memory. */
static int ovpn_read(Ovpn *o, const char *name, unsigned depth) {
        _cleanup_(freep) char *path = ovpn_path(o, name), *text = NULL, *block = NULL;
        unsigned nr = 0;
        char *next, *line;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_regular(path, OVPN_FILE_MAX, &text, NULL);
        if (r < 0) {
                ovpn_copy(o->unreadable, sizeof(o->unreadable), path);
                return r;
        }
        next = text;
        while (r >= 0 && (line = strsep(&next, "\n"))) {
                char *t[OVPN_TOKENS_MAX];
                size_t n;

                nr++;
                n = ovpn_tokenize(line, t);
                if (n == 0)
                        continue;
                /* Inline files (<ca> ... </ca>) are skipped whole. */
                if (block) {
                        if (t[0][0] == '<' && t[0][1] == '/' && strncmp(t[0] + 2, block + 1, strlen(block + 1)) == 0)
                                block = (free(block), NULL);
                        continue;
                }
                if (t[0][0] == '<') {
                        block = strdup(t[0]);
                        continue;
                }
                if (strncmp(t[0], "--", 2) == 0)
                        t[0] += 2;
                r = ovpn_option(o, t, n, path, nr, depth);
        }
        return r;
}

static int ovpn_read_ccd_file(Ovpn *o, const char *path) {
        _cleanup_(freep) char *text = NULL;
        unsigned nr = 0;
        char *next, *line;
        int r;

        r = read_file_regular(path, OVPN_FILE_MAX, &text, NULL);
        if (r == -EISDIR)
                return 0;       /* not a client's file */
        if (r < 0)
                return strv_extendf(&o->skipped, "%s: %s", path, ovpn_strerror(r));
        next = text;
        while (r >= 0 && (line = strsep(&next, "\n"))) {
                char *t[OVPN_TOKENS_MAX];
                size_t n = ovpn_tokenize(line, t);
                Prefix p;

                nr++;
                if (n >= 2 && (streq(t[0], "iroute") || streq(t[0], "iroute-ipv6")) &&
                    ovpn_prefix(t + 1, MIN(n - 1, 2U), streq(t[0], "iroute-ipv6"), &p))
                        r = ovpn_add(&o->iroutes, &o->n_iroutes, &p, path, nr, false);
        }
        return r;
}

/* One file per client, named by its common name (openvpn(8), --client-config-dir). */
static int ovpn_read_ccd(Ovpn *o) {
        _cleanup_(freep) char *dir = NULL;
        struct dirent **des = NULL;
        int n, r = 0;

        if (!o->ccd[0])
                return 0;
        dir = ovpn_path(o, o->ccd);
        if (!dir)
                return -ENOMEM;
        n = scandir(dir, &des, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *p = NULL;

                if (r >= 0 && des[i]->d_name[0] != '.' && asprintf(&p, "%s/%s", dir, des[i]->d_name) >= 0)
                        r = ovpn_read_ccd_file(o, p);
                free(des[i]);
        }
        free(des);
        return r;
}

static void ovpn_done(Ovpn *o) {
        free(o->routes);
        free(o->servers);
        free(o->iroutes);
        strv_free(o->skipped);
}

static bool prefix_in_list(const OvpnPrefix *a, size_t n, const Prefix *p, bool pushed_too) {
        for (size_t i = 0; i < n; i++)
                if ((pushed_too || !a[i].pushed) && prefix_overlaps(&a[i].prefix, p))
                        return true;
        return false;
}

/* Whether the kernel sends traffic for p into a tunnel (OpenVPN's routes go into the main table). */
static bool prefix_via_tunnel(Doctor *d, const Prefix *p) {
        RtnlRouteQuery q = { .family = p->family, .dst = p->addr.bytes };
        const LinkInfo *l;
        FibRoute rt;

        if (ctl_route_get(d->kernel, &q, &rt) < 0 || rt.oif <= 0)
                return false;
        l = ctl_link_by_index(d->kernel, rt.oif);
        return l && desired_kind_is_tunnel(l->kind);
}

static void ovpn_iroute_text(const Prefix *p, char buf[static 128]) {
        char a[ADDR_STRLEN], m[ADDR_STRLEN], pfx[PREFIX_STRLEN];
        struct in_addr mask = { .s_addr = htonl(p->prefixlen == 0 ? 0 : UINT32_MAX << (32 - p->prefixlen)) };

        if (p->family == AF_INET)
                snprintf(buf, 128, "%s %s", addr_to_string(AF_INET, &p->addr, a),
                         inet_ntop(AF_INET, &mask, m, sizeof(m)) ?: "?");
        else
                snprintf(buf, 128, "%s", prefix_to_string(p, pfx));
}

/* Seed 000: a route into the tunnel with no client owning it: OpenVPN drops the packets ("MULTI: bad
 * source address") or has nowhere to send them. */
static void check_iroutes(Doctor *d, const Ovpn *o) {
        char net[128];

        for (size_t i = 0; i < o->n_routes; i++) {
                const OvpnPrefix *r = &o->routes[i];
                json_t *f;

                if (prefix_in_list(o->iroutes, o->n_iroutes, &r->prefix, true) ||
                    prefix_in_list(o->servers, o->n_servers, &r->prefix, true) ||
                    (r->pushed && (prefix_in_list(o->routes, o->n_routes, &r->prefix, false) ||
                                   !prefix_via_tunnel(d, &r->prefix))))
                        continue;       /* owned by a client, the pool itself, reported already, or a LAN here */
                ovpn_iroute_text(&r->prefix, net);
                f = doctor_add(d, SEVERITY_WARNING, "openvpn", "%s %s (%s) has no iroute in %s: OpenVPN does not "
                               "know which client owns it and drops its packets (seed 000)",
                               r->pushed ? "push route" : "route", net, r->where,
                               o->ccd[0] ? o->ccd : "a client-config-dir (there is none)");
                if (!o->ccd[0])
                        finding_fix(f, "client-config-dir /etc/openvpn/ccd in %s", o->path);
                finding_fix(f, "iroute%s %s in %s/COMMON_NAME of the client whose LAN it is",
                            r->prefix.family == AF_INET6 ? "-ipv6" : "", net, o->ccd[0] ? o->ccd : "/etc/openvpn/ccd");
        }
        for (size_t i = 0; i < o->n_iroutes; i++) {
                const OvpnPrefix *ir = &o->iroutes[i];
                json_t *f;

                if (prefix_in_list(o->routes, o->n_routes, &ir->prefix, false) || prefix_via_tunnel(d, &ir->prefix))
                        continue;
                ovpn_iroute_text(&ir->prefix, net);
                f = doctor_add(d, SEVERITY_WARNING, "openvpn", "iroute %s (%s) has no route in %s: the kernel "
                               "never sends that network into the tunnel", net, ir->where, o->path);
                finding_fix(f, "route%s %s in %s", ir->prefix.family == AF_INET6 ? "-ipv6" : "", net, o->path);
        }
}

static void check_c2c(Doctor *d, const Ovpn *o) {
        json_t *f;

        if (!o->c2c[0])
                return;
        f = doctor_add(d, SEVERITY_WARNING, "openvpn", "client-to-client (%s): OpenVPN passes traffic between "
                       "its clients itself, the kernel never sees it, so table %s, its tun routes and any firewall "
                       "do not apply to it", o->c2c, d->config ? d->config->policies[0].table_name : "vpn");
        finding_fix(f, "delete the client-to-client line (%s), then restart that OpenVPN server", o->c2c);
}

static bool hook_is_ours(const char *cmd) {
        _cleanup_(freep) char *copy = strdup(cmd), *real = NULL;
        char *t[OVPN_TOKENS_MAX];
        const char *base;
        size_t n;

        if (!copy || (n = ovpn_tokenize(copy, t)) == 0)
                return false;
        real = realpath(t[0], NULL);    /* /etc/openvpn/up may be a symlink to the hook */
        base = strrchr(real ?: t[0], '/');
        base = base ? base + 1 : real ?: t[0];
        return streq(base, "vpnpolicy-openvpn-up") || (streq(base, "vpnpolicyctl") && n > 1 && streq(t[1], "openvpn-hook"));
}

static void check_up(Doctor *d, const Ovpn *o) {
        json_t *f;

        /* No hook is a setup of its own (eduVPN 3.x generates none and says not to edit): the agent adopts
         * the device from netlink by [Tunnels] Match= and its pool address. */
        if (!o->up[0])
                return;
        if (!hook_is_ours(o->up)) {
                f = doctor_add(d, SEVERITY_WARNING, "openvpn", "up %s (%s) is not vpnpolicy's hook: a hand-made "
                               "script adding routes to the policy table competes with vpnpolicyd's own",
                               o->up, o->up_where);
                finding_fix(f, "up %s in %s, instead of line %s", HOOK_PATH, o->path, strrchr(o->up_where, ':') + 1);
                return;
        }
        if (o->script_security < 2) {
                f = doctor_add(d, SEVERITY_ERROR, "openvpn", "%s runs the up hook (%s) without script-security 2: "
                               "OpenVPN refuses to call it", o->path, o->up_where);
                finding_fix(f, "script-security 2 in %s", o->path);
        }
}

static bool prefix_in_some_pool(const Config *c, const Prefix *p) {
        for (size_t i = 0; i < c->n_policies; i++)
                for (size_t j = 0; j < c->policies[i].n_pools; j++)
                        if (prefix_overlaps(&c->policies[i].pools[j], p) &&
                            c->policies[i].pools[j].prefixlen <= p->prefixlen)
                                return true;
        return false;
}

/* Each process's slice (eduVPN splits a profile's range between its processes: a /25 each of a /24, a
 * /112 each) must lie in some policy's pool, or its clients' traffic takes the main table. */
static void check_servers(Doctor *d, const Ovpn *o) {
        char pfx[PREFIX_STRLEN];

        for (size_t i = 0; d->config && i < o->n_servers; i++) {
                const Prefix *p = &o->servers[i].prefix;
                json_t *f;

                if (prefix_in_some_pool(d->config, p))
                        continue;
                f = doctor_add(d, SEVERITY_WARNING, "openvpn", "the server's range %s (%s) is in no [Pool] Prefix=: "
                               "its clients' traffic takes no policy's table", prefix_to_string(p, pfx),
                               o->servers[i].where);
                finding_fix(f, "[Pool] Prefix=%s in %s", pfx, d->config_path);
        }
}

/* With disable-dco the data channel runs in user space: slower, and iroutes are not kernel routes. */
static void check_dco(Doctor *d, const Ovpn *o) {
        json_t *f;

        if (!o->no_dco[0])
                return;
        f = doctor_add(d, SEVERITY_INFO, "openvpn", "%s turns data-channel offload off (disable-dco, %s): its "
                       "traffic is carried by OpenVPN in user space", o->path, o->no_dco);
        finding_fix(f, "remove disable-dco from %s (needs the ovpn-dco or ovpn module)", o->path);
}

/* Where OpenVPN resolves relative paths: its working directory when we know it, else the configuration's
 * own directory (Debian's openvpn-server@ and openvpn-client@ units run there). */
static int ovpn_locate(const char *path, const char *cwd, Ovpn *o, char abs[static PATH_MAX]) {
        char here[PATH_MAX];
        char *slash;

        if (path[0] != '/' && !cwd && !getcwd(here, sizeof(here)))
                return negative_errno();
        if (path[0] == '/')
                snprintf(abs, PATH_MAX, "%s", path);
        else if (snprintf(abs, PATH_MAX, "%s/%s", cwd ?: here, path) >= PATH_MAX)
                return -ENAMETOOLONG;
        ovpn_copy(o->dir, sizeof(o->dir), cwd ?: abs);
        slash = cwd ? NULL : strrchr(o->dir, '/');
        if (slash)
                *slash = 0;
        o->path = abs;
        return 0;
}

static void check_one(Doctor *d, const char *path, const char *cwd) {
        _cleanup_(ovpn_done) Ovpn o = { .script_security = 1 };
        char abs[PATH_MAX];
        json_t *f;
        int r;

        r = ovpn_locate(path, cwd, &o, abs);
        if (r >= 0)
                r = ovpn_read(&o, abs, 0);
        if (r >= 0)
                r = ovpn_read_ccd(&o);
        if (r < 0) {
                f = doctor_add(d, SEVERITY_WARNING, "openvpn", "cannot read the OpenVPN configuration %s%s%s: %s",
                               o.unreadable[0] ? o.unreadable : path, !o.unreadable[0] && cwd ? " in " : "",
                               !o.unreadable[0] && cwd ? cwd : "", ovpn_strerror(r));
                finding_fix(f, "vpnpolicyctl doctor --openvpn-config /etc/openvpn/server/NAME.conf");
                return;
        }
        STRV_FOREACH(s, o.skipped)
                doctor_skip(d, "openvpn", "client-config-dir file %s", *s);
        check_c2c(d, &o);
        check_iroutes(d, &o);
        check_up(d, &o);
        check_servers(d, &o);
        check_dco(d, &o);
        check_dco_off(d, &o);
        check_iroute_overlaps(d, &o);
}

/* OpenVPN passes its config path as given on its command line: relative to its working directory,
 * which /proc/PID/cwd still shows while it runs (Debian's openvpn-server@ runs in /etc/openvpn/server). */
static char *daemon_cwd(json_t *dev) {
        json_t *pid = json_object_get(dev, "daemon_pid");
        char path[64];

        if (!json_is_integer(pid))
                return NULL;
        snprintf(path, sizeof(path), "/proc/%lld/cwd", (long long) json_integer_value(pid));
        return realpath(path, NULL);
}

/* A path is read only if root registered it: a registrant allowed by RegisterUser=/RegisterGroup= may
 * not have root's doctor open files of its choosing (an older agent does not say who registered). */
static bool registered_by_root(Doctor *d, json_t *dev, const char *config) {
        json_t *uid = json_object_get(dev, "registered_by_uid");
        const char *name = json_string_value(json_object_get(dev, "name"));

        if (json_is_integer(uid) && json_integer_value(uid) == 0)
                return true;
        if (json_is_integer(uid))
                doctor_skip(d, "openvpn", "%s's configuration %s was registered by uid %lld, not root: not read",
                            name ?: "?", config, (long long) json_integer_value(uid));
        else
                doctor_skip(d, "openvpn", "%s's configuration %s: the agent does not say who registered it, not "
                            "read (pass --openvpn-config FILE)", name ?: "?", config);
        return false;
}

static int conf_filter(const struct dirent *e) {
        size_t n = strlen(e->d_name);

        return e->d_name[0] != '.' && n > 5 && streq(e->d_name + n - 5, ".conf");
}

/* Every server configuration of Debian's openvpn-server@ units (eduVPN 3.x writes one per process there,
 * none of them with an up hook), unless a registration already named it. */
static void check_dir(Doctor *d, char ***seen) {
        const char *dir = d->openvpn_dir ?: OPENVPN_SERVER_DIR;
        struct dirent **list = NULL;
        int n = scandir(dir, &list, conf_filter, alphasort);

        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *key = NULL;

                /* a registration's key is "CWD/CONFIG", "/CONFIG" for an absolute one */
                if (asprintf(&key, "/%s/%s", dir, list[i]->d_name) >= 0 && !strv_contains(*seen, key)) {
                        (void) strv_extend(seen, key);
                        check_one(d, key + 1, NULL);
                }
                free(list[i]);
        }
        free(list);
}

int check_openvpn(Doctor *d) {
        _cleanup_strv_free_ char **seen = NULL;
        bool refused = false;
        json_t *dev;
        size_t i;

        json_array_foreach(json_object_get(d->status, "devices"), i, dev) {
                const char *config = json_string_value(json_object_get(dev, "config"));
                _cleanup_(freep) char *cwd = NULL, *key = NULL;

                if (!config)
                        continue;
                if (!registered_by_root(d, dev, config)) {
                        refused = true;
                        continue;
                }
                cwd = config[0] == '/' ? NULL : daemon_cwd(dev);
                if (asprintf(&key, "%s/%s", cwd ?: "", config) < 0 || strv_contains(seen, key))
                        continue;
                (void) strv_extend(&seen, key);
                check_one(d, config, cwd);
        }
        STRV_FOREACH(p, d->openvpn_configs)
                check_one(d, *p, NULL);
        check_dir(d, &seen);
        if (!seen && !d->openvpn_configs && !refused)
                doctor_skip(d, "openvpn", d->status ? "no registered tunnel names its OpenVPN configuration; pass "
                            "--openvpn-config FILE" : "needs vpnpolicyd (its registered tunnels name their OpenVPN "
                            "configurations) or --openvpn-config FILE");
        return 0;
}
