/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "manager.h"
#include "sysctl-link.h"
#include "sysctl.h"

/* ICMP redirects (seed 002): a router that forwards back out of the interface a packet came in on
 * tells the sender to go direct, and neighbours cache that. The kernel sends them when the device's
 * OR the "all" setting is on (IN_DEV_TX_REDIRECTS is IN_DEV_ORCONF in include/linux/inetdevice.h),
 * so "all" must be 0 too; devices that are not ours keep their own value. */
static int sysctl_redirects_off(const char *ifname) {
        char path[128];
        int r;

        r = sysctl_net_ensure("ipv4/conf/all/send_redirects", "0");
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "ipv4/conf/%s/send_redirects", ifname);
        return sysctl_net_ensure(path, "0");
}

void sysctl_link_setup(Manager *m, Link *l) {
        SysctlDone *d;
        int r;

        if (m->config->send_redirects)
                return;
        HASH_FIND_INT(m->sysctls, &l->info.ifindex, d);
        if (d)
                return;
        r = sysctl_redirects_off(l->info.name);
        if (r < 0) {
                log_warning_errno(r, "Failed to turn off ICMP redirects on %s, ignoring: %m", l->info.name);
                return;
        }
        if (r > 0)
                log_info("Turned off ICMP redirects on %s.", l->info.name);
        d = calloc(1, sizeof(SysctlDone));
        if (!d)
                return;
        d->ifindex = l->info.ifindex;
        HASH_ADD_INT(m->sysctls, ifindex, d);
}

void sysctl_link_forget(Manager *m, int ifindex) {
        SysctlDone *d;

        HASH_FIND_INT(m->sysctls, &ifindex, d);
        if (!d)
                return;
        HASH_DEL(m->sysctls, d);
        free(d);
}

void sysctl_link_done(Manager *m) {
        SysctlDone *d, *tmp;

        HASH_ITER(hh, m->sysctls, d, tmp) {
                HASH_DEL(m->sysctls, d);
                free(d);
        }
}

static bool any_policy_has_family(const Config *c, int family) {
        for (size_t i = 0; i < c->n_policies; i++)
                if (policy_has_family(&c->policies[i], family))
                        return true;
        return false;
}

static const struct {
        int family;
        const char *path;
} forwarding_sysctls[] = {
        { AF_INET, "ipv4/ip_forward" },
        { AF_INET6, "ipv6/conf/all/forwarding" },
};

void sysctl_check_forwarding(Manager *m) {
        for (size_t i = 0; i < ELEMENTSOF(forwarding_sysctls); i++) {
                const char *path = forwarding_sysctls[i].path;
                int family = forwarding_sysctls[i].family, v = 0, r;

                if (!any_policy_has_family(m->config, family))
                        continue;
                if (m->config->forwarding == FORWARDING_ENABLE) {
                        r = sysctl_net_ensure(path, "1");
                        if (r < 0)
                                log_warning_errno(r, "Failed to enable %s forwarding, ignoring: %m", family_to_string(family));
                        else if (r > 0)
                                log_info("Enabled %s forwarding (net.%s).", family_to_string(family), path);
                }
                r = sysctl_net_read_int(path, &v);
                m->forwarding[i] = r >= 0 && v > 0;
                if (!m->forwarding[i])
                        log_warning("%s forwarding is off (net.%s): pool traffic is not forwarded. Set [Kernel] "
                                    "Forwarding=enable or turn it on.", family_to_string(family), path);
        }
}
