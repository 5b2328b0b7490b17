/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl-doctor-openvpn.h"

/* The doctor's OpenVPN checks that hold with data-channel offload: OpenVPN 2.6 uses it unless the
 * configuration says disable-dco (or the module is missing, or an option is incompatible with it). With
 * DCO each client's iroute is a kernel route "NET via CLIENT dev tunN", the driver's only way to pick the
 * client (ovpn-dco, ovpn since Linux 6.16). */

static const char *iroute_keyword(const Prefix *p) {
        return p->family == AF_INET6 ? "iroute-ipv6" : "iroute";
}

/* "FILE:LINE" of the same FILE: one client's file. */
static bool same_file(const char *a, const char *b) {
        size_t n = (size_t) (strrchr(a, ':') - a);

        return strncmp(a, b, n) == 0 && b[n] == ':';
}

static void client_overlap(Doctor *d, const Ovpn *o, const OvpnPrefix *a, const OvpnPrefix *b) {
        char pa[PREFIX_STRLEN], pb[PREFIX_STRLEN];
        json_t *f;

        f = doctor_add(d, SEVERITY_WARNING, "openvpn", "%s %s (%s) and %s (%s) overlap: with data-channel "
                       "offload each iroute is a kernel route via its client in %s, and only one of them "
                       "can hold %s", iroute_keyword(&a->prefix), prefix_to_string(&a->prefix, pa), a->where,
                       prefix_to_string(&b->prefix, pb), b->where, o->dev[0] ? o->dev : "the tun device",
                       a->prefix.prefixlen >= b->prefix.prefixlen ? pa : pb);
        finding_fix(f, "give each client a network of its own: delete the %s line %s or %s",
                    iroute_keyword(&a->prefix), a->where, b->where);
}

static void pool_overlap(Doctor *d, const OvpnPrefix *ir, const OvpnPrefix *server) {
        char pi[PREFIX_STRLEN], ps[PREFIX_STRLEN];
        json_t *f;

        f = doctor_add(d, SEVERITY_WARNING, "openvpn", "%s %s (%s) is inside the server's range %s (%s): "
                       "with data-channel offload it becomes a kernel route via one client that shadows the "
                       "addresses of the others", iroute_keyword(&ir->prefix),
                       prefix_to_string(&ir->prefix, pi), ir->where, prefix_to_string(&server->prefix, ps),
                       server->where);
        finding_fix(f, "delete the %s line %s (the server's range needs no iroute)",
                    iroute_keyword(&ir->prefix), ir->where);
}

static void iroute_in_servers(Doctor *d, const Ovpn *o, const OvpnPrefix *ir) {
        for (size_t j = 0; j < o->n_servers; j++) {
                const Prefix *s = &o->servers[j].prefix;

                if (prefix_overlaps(s, &ir->prefix) && s->prefixlen <= ir->prefix.prefixlen) {
                        pool_overlap(d, ir, &o->servers[j]);
                        return;
                }
        }
}

void check_iroute_overlaps(Doctor *d, const Ovpn *o) {
        if (o->no_dco[0])
                return;         /* without DCO OpenVPN picks the client itself, longest iroute first */
        for (size_t i = 0; i < o->n_iroutes; i++) {
                const OvpnPrefix *a = &o->iroutes[i];

                iroute_in_servers(d, o, a);
                for (size_t j = i + 1; j < o->n_iroutes; j++)
                        if (prefix_overlaps(&a->prefix, &o->iroutes[j].prefix) &&
                            !same_file(a->where, o->iroutes[j].where))
                                client_overlap(d, o, a, &o->iroutes[j]);
        }
}

void check_dco_off(Doctor *d, const Ovpn *o) {
        const LinkInfo *l = o->dev[0] ? ctl_link_by_name(d->kernel, o->dev) : NULL;
        json_t *f;

        if (o->no_dco[0] || !l || !streq(l->kind, "tun") || doctor_link_is_dco(d, l))
                return;
        f = doctor_add(d, SEVERITY_INFO, "openvpn", "DCO is not in use on %s although %s does not disable "
                       "it (module missing or an option incompatible with DCO): OpenVPN carries its traffic "
                       "in user space", l->name, o->path);
        finding_fix(f, "modprobe ovpn-dco-v2  # or ovpn (Linux 6.16 and later); install ovpn-dco-dkms if it "
                    "is missing");
        finding_fix(f, "journalctl -b | grep -i dco  # OpenVPN's log says which option keeps DCO off");
}
