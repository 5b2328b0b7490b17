/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "ctl-doctor.h"
#include "desired.h"
#include "strv.h"

/* The doctor's WireGuard check (eduVPN 3.x runs one wg0 beside its OpenVPN processes): each WireGuard
 * device with its addresses, and a warning when the agent does not manage it, for then its clients'
 * traffic takes the main table. Read-only: the kernel snapshot. */

/* Kernel WireGuard (link kind wireguard), or wireguard-go's tun, named wg* by its convention. */
static bool link_is_wireguard(const LinkInfo *l) {
        return streq(l->kind, "wireguard") || (streq(l->kind, "tun") && strncmp(l->name, "wg", 2) == 0);
}

static void link_addresses(const Doctor *d, int ifindex, char *buf, size_t size) {
        char a[ADDR_STRLEN];
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < d->kernel->n_addresses && n < size; i++) {
                const AddressInfo *x = &d->kernel->addresses[i];

                if (x->ifindex == ifindex)
                        n += (size_t) snprintf(buf + n, size - n, "%s%s/%u", n > 0 ? ", " : "",
                                               addr_to_string(x->family, &x->local, a), x->prefixlen);
        }
}

/* Why the agent leaves l alone, NULL when it manages it (or the tunnels check says why it does not). */
static const char *unmanaged_reason(const Doctor *d, const LinkInfo *l, char **managed) {
        if (!d->config || strv_contains(managed, l->name))
                return NULL;
        if (!desired_link_matches(d->config, l->kind, l->name))
                return "it does not match [Tunnels] Match=";
        if (!doctor_link_has_pool_address(d, l->ifindex))
                return "it carries no address inside any policy's [Pool] Prefix=";
        return NULL;
}

static void unmanaged_wireguard(Doctor *d, const LinkInfo *l, const char *why) {
        const Prefix *pool = &d->config->policies[0].pools[0];
        char host[ADDR_STRLEN];
        InAddrUnion a;
        json_t *f;

        f = doctor_add(d, SEVERITY_WARNING, "wireguard", "vpnpolicyd does not manage the WireGuard device "
                       "%s: %s, so its clients' traffic leaves by the main table", l->name, why);
        if (f && prefix_host(pool, 1, &a))
                finding_fix(f, "Address = %s/%u  # in %s's WireGuard configuration (eduVPN: the profile's "
                            "range), an address inside a pool makes it ours",
                            addr_to_string(pool->family, &a, host), pool->prefixlen, l->name);
}

int check_wireguard(Doctor *d) {
        _cleanup_strv_free_ char **managed = doctor_tunnels(d);

        for (size_t i = 0; i < d->kernel->n_links; i++) {
                const LinkInfo *l = &d->kernel->links[i];
                char addrs[512];
                const char *why;

                if (!link_is_wireguard(l))
                        continue;
                link_addresses(d, l->ifindex, addrs, sizeof(addrs));
                doctor_add(d, SEVERITY_INFO, "wireguard", "WireGuard device %s (%s): %s", l->name,
                           streq(l->kind, "tun") ? "wireguard-go's tun" : "link kind wireguard",
                           addrs[0] ? addrs : "no address");
                why = unmanaged_reason(d, l, managed);
                if (why)
                        unmanaged_wireguard(d, l, why);
        }
        return 0;
}
