/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ctl-doctor.h"
#include "desired.h"
#include "rtnl-addr.h"

/* OpenVPN's data-channel offload (ovpn-dco out of tree, ovpn since Linux 6.16) picks the client a packet
 * goes to from the route's gateway: a client's iroute is "via CLIENT dev tunN metric 100". A route into
 * such a device without a gateway, beyond the device's own connected subnets, reaches no client (the
 * driver drops what it cannot map to a peer). Read-only: the kernel snapshot. */

bool doctor_link_is_dco(const Doctor *d, const LinkInfo *l) {
        if (streq(l->kind, "ovpn-dco") || streq(l->kind, "ovpn"))
                return true;
        /* --assume-dco: treat the managed tun devices as DCO ones (a test host without the module) */
        return d->assume_dco && d->config && desired_link_matches(d->config, l->kind, l->name) &&
               streq(l->kind, "tun");
}

static bool route_is_connected(const Doctor *d, const FibRoute *r) {
        for (size_t i = 0; i < d->kernel->n_addresses; i++) {
                const AddressInfo *a = &d->kernel->addresses[i];
                Prefix subnet;

                if (a->ifindex != r->oif || a->family != r->family)
                        continue;
                subnet = address_subnet(a);
                if (prefix_equal(&subnet, &r->dst) || (r->dst.prefixlen == family_max_prefixlen(r->family) &&
                                                       prefix_contains(&subnet, r->family, &r->dst.addr)))
                        return true;
        }
        return false;
}

static void dco_route_finding(Doctor *d, const FibRoute *r, const LinkInfo *l) {
        char pfx[PREFIX_STRLEN], table[RT_NAME_STRLEN];
        json_t *f;

        f = doctor_add(d, SEVERITY_WARNING, "dco", "%s dev %s table %s metric %u has no gateway, and %s is a "
                       "data-channel offload device (%s): the driver finds no client for it",
                       prefix_to_string(&r->dst, pfx), l->name, ctl_table_name(d->kernel, r->table, table),
                       r->priority, l->name, streq(l->kind, "tun") ? "assumed" : l->kind);
        finding_fix(f, "iroute%s %s in the client's client-config-dir file (OpenVPN then routes it via the "
                    "client, and vpnpolicyd copies that)", r->family == AF_INET6 ? "-ipv6" : "", pfx);
}

int check_dco_routes(Doctor *d) {
        for (size_t i = 0; i < d->kernel->fib.n_routes; i++) {
                const FibRoute *r = &d->kernel->fib.routes[i];
                const LinkInfo *l = r->oif > 0 ? ctl_link_by_index(d->kernel, r->oif) : NULL;

                if (!l || r->type != RTN_UNICAST || r->has_gateway || r->multipath || r->nexthop_object ||
                    r->table == RT_TABLE_LOCAL || r->protocol == RTPROT_KERNEL || !doctor_link_is_dco(d, l))
                        continue;
                if (r->family == AF_INET6 && addr_is_link_local(AF_INET6, &r->dst.addr))
                        continue;
                if (r->family == AF_INET6 && r->dst.addr.bytes[0] == 0xff)
                        continue;
                if (!route_is_connected(d, r))
                        dco_route_finding(d, r, l);
        }
        return 0;
}
