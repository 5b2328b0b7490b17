/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/neighbour.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl-doctor.h"

/* The doctor's gateway checks, for every gateway of every policy: its device, its link, its neighbour
 * entry, what its probes say (the agent's status), and the return route it needs; and, per policy, a
 * family left without a usable gateway (fail-closed drops the pools' traffic). Read-only. */

static const int families[] = { AF_INET, AF_INET6 };

typedef struct GatewayCheck {
        Doctor *d;
        const PolicyConfig *p;
        const GatewayConfig *g;
        char where[IFNAMSIZ + 256];     /* "" or " (gateway NAME of policy NAME)", after a message */
} GatewayCheck;

static void gateway_check_init(GatewayCheck *c, Doctor *d, const PolicyConfig *p, const GatewayConfig *g) {
        *c = (GatewayCheck) { .d = d, .p = p, .g = g };
        /* One policy with one gateway reads as it always did: "the gateway". */
        if (d->config->n_policies > 1 || p->n_gateways > 1)
                snprintf(c->where, sizeof(c->where), " (gateway %s of policy %s)", g->name, p->name);
}

static const char *gateway_string(const GatewayCheck *c, int family, char buf[static ADDR_STRLEN]) {
        return addr_to_string(family, gateway_address(c->g, family), buf);
}

/* Another gateway of the policy carries that family now (the agent's status): a fault of this one is a
 * warning, not an outage. */
static bool other_carries(const GatewayCheck *c, int family) {
        json_t *sp = doctor_status_policy(c->d, c->p);
        const char *active = json_string_value(json_object_get(json_object_get(sp, "active"),
                                                                family == AF_INET ? "ipv4" : "ipv6"));

        return active && !streq(active, c->g->name);
}

static Severity outage(const GatewayCheck *c, int family, Severity s) {
        return s == SEVERITY_ERROR && other_carries(c, family) ? SEVERITY_WARNING : s;
}

static void gateway_neighbour(GatewayCheck *c, int family, const LinkInfo *l) {
        char gw[ADDR_STRLEN];
        uint16_t state;
        json_t *f;
        int r;

        gateway_string(c, family, gw);
        r = ctl_neigh_state(c->d->kernel, family, l->ifindex, gateway_address(c->g, family), &state);
        if (r == -ENOENT) {
                f = doctor_add(c->d, SEVERITY_INFO, "gateway", "no neighbour entry for the gateway %s on %s yet: "
                               "nothing was sent to it lately, so whether it answers is unknown%s", gw, l->name,
                               c->where);
                finding_fix(f, "ping -c 1 -I %s %s", l->name, gw);
                return;
        }
        if (r < 0 || !(state & (NUD_FAILED | NUD_INCOMPLETE)))
                return;
        f = doctor_add(c->d, outage(c, family, state & NUD_FAILED ? SEVERITY_ERROR : SEVERITY_WARNING), "gateway",
                       "the gateway %s cannot be reached on %s: it does not answer %s (neighbour entry %s), %s%s",
                       gw, l->name, family == AF_INET ? "ARP" : "neighbour solicitations", neigh_state_name(state),
                       other_carries(c, family) ? "another gateway of the policy carries its traffic" :
                       "pool traffic is dropped", c->where);
        finding_fix(f, "ping -c 1 -I %s %s; ip neigh show %s dev %s (check the link and the router at %s)", l->name,
                    gw, gw, l->name, gw);
}

static void gateway_link(GatewayCheck *c, int family) {
        char gw[ADDR_STRLEN];
        int ifindex = doctor_gateway_ifindex(c->d, c->g, family);
        const LinkInfo *l = ifindex > 0 ? ctl_link_by_index(c->d->kernel, ifindex) : NULL;
        json_t *f;

        gateway_string(c, family, gw);
        if (ifindex == -ENODEV)
                return;         /* said once, by gateway_device() */
        if (!l) {
                f = doctor_add(c->d, outage(c, family, SEVERITY_ERROR), "gateway",
                               "this host has no route to the gateway %s%s", gw, c->where);
                finding_fix(f, "ip addr add ADDRESS/LEN dev DEV (an address of this host on %s's subnet)", gw);
                return;
        }
        if (!link_info_is_operational(l)) {
                f = doctor_add(c->d, outage(c, family, SEVERITY_ERROR), "gateway", "%s, the gateway's device, is %s: "
                               "the default routes via it are gone%s", l->name,
                               l->flags & IFF_UP ? "without carrier" : "down", c->where);
                finding_fix(f, l->flags & IFF_UP ? "check the cable or the peer of %s" : "ip link set %s up", l->name);
                return;
        }
        gateway_neighbour(c, family, l);
}

static void gateway_device(GatewayCheck *c) {
        int family = gateway_address(c->g, AF_INET) ? AF_INET : AF_INET6;
        char gw[ADDR_STRLEN];
        json_t *f;

        if (!c->g->device[0] || ctl_link_by_name(c->d->kernel, c->g->device))
                return;
        f = doctor_add(c->d, outage(c, family, SEVERITY_ERROR), "gateway", "[Gateway] Device=%s: no such device, "
                       "the default routes cannot be added%s", c->g->device, c->where);
        finding_fix(f, "ip link show; then [Gateway] Device=DEV (the device on %s's subnet) in %s",
                    gateway_string(c, family, gw), c->d->config_path);
}

/* What the probes found, as the agent reports it: a gateway that answers its own address but forwards
 * nothing to its ProbeTarget= is down, and only the probe can tell. */
static void gateway_probe(GatewayCheck *c, int family) {
        json_t *h = doctor_status_health(c->d, c->p, c->g, family), *sg = doctor_status_gateway(c->d, c->p, c->g);
        json_t *probe = json_object_get(sg, "probe"), *f;
        const char *fam = family == AF_INET ? "ipv4" : "ipv6";
        const char *target = json_string_value(json_object_get(json_object_get(probe, "targets"), fam));
        char gw[ADDR_STRLEN];

        if (!streq_ptr(json_string_value(json_object_get(h, "state")), "down"))
                return;
        gateway_string(c, family, gw);
        f = doctor_add(c->d, outage(c, family, SEVERITY_ERROR), "gateway", "the %s probes of the gateway %s fail "
                       "(%s)%s: %s%s", family_name(family), gw, json_string_value(json_object_get(h, "reason")),
                       json_is_true(json_object_get(h, "gateway_answers")) ?
                       ", the gateway answers but forwards nothing" : "",
                       other_carries(c, family) ? "another gateway of the policy carries its traffic" :
                       "it carries no traffic", c->where);
        if (target && json_is_integer(json_object_get(probe, "mark")))
                finding_fix(f, "ping %s -c 3 -m %lld %s  # the probe's way: through %s only", ip_family_flag(family),
                            (long long) json_integer_value(json_object_get(probe, "mark")), target, gw);
        finding_fix(f, "on the gateway %s: does it forward and NAT (nft list ruleset; sysctl net.ipv4.ip_forward), "
                    "has it a way out?", gw);
}

/* Seed 003 assumption 4 and seed 001: without NAT here, the gateway must know that the pools are behind
 * this host, by this host's address on the gateway's subnet. We cannot see the router: a note. */
static void gateway_return_route(GatewayCheck *c, int family) {
        char gw[ADDR_STRLEN], up[ADDR_STRLEN], pfx[PREFIX_STRLEN];
        int ifindex = doctor_gateway_ifindex(c->d, c->g, family);
        const AddressInfo *a;
        json_t *f;

        if (ifindex <= 0 || !policy_has_family(c->p, family))
                return;
        a = ctl_address_on_subnet(c->d->kernel, ifindex, family, gateway_address(c->g, family));
        if (!a)
                return;
        f = doctor_add(c->d, SEVERITY_INFO, "return-route", "the gateway %s must route the %s pools back to this "
                       "host's %s, or replies to pool clients never arrive (run this on the gateway)%s",
                       gateway_string(c, family, gw), family_name(family), addr_to_string(family, &a->local, up),
                       c->where);
        for (size_t i = 0; i < c->p->n_pools; i++)
                if (c->p->pools[i].family == family)
                        finding_fix(f, "ip %sroute add %s via %s", family == AF_INET6 ? "-6 " : "",
                                    prefix_to_string(&c->p->pools[i], pfx), up);
}

/* The agent says no gateway of the family is usable: fail-closed holds, the pools' traffic is dropped. */
static void policy_fail_closed(Doctor *d, const PolicyConfig *p, int family) {
        json_t *sp = doctor_status_policy(d, p), *f;
        const char *fam = family == AF_INET ? "ipv4" : "ipv6";

        if (!sp || !policy_has_family(p, family) || !policy_gateway(p, family) ||
            !json_is_null(json_object_get(json_object_get(sp, "active"), fam)))
                return;
        f = doctor_add(d, SEVERITY_ERROR, "gateway", "policy %s has no usable %s gateway: fail-closed drops the "
                       "traffic of its %s pools until one comes back", p->name, family_name(family),
                       family_name(family));
        finding_fix(f, "vpnpolicyctl status  # each gateway's state and why");
}

int check_gateways(Doctor *d) {
        for (size_t i = 0; i < d->config->n_policies; i++) {
                const PolicyConfig *p = &d->config->policies[i];

                for (size_t j = 0; j < p->n_gateways; j++) {
                        GatewayCheck c;

                        gateway_check_init(&c, d, p, &p->gateways[j]);
                        gateway_device(&c);
                        for (size_t k = 0; k < ELEMENTSOF(families); k++)
                                if (policy_has_family(p, families[k]) && gateway_address(c.g, families[k])) {
                                        gateway_link(&c, families[k]);
                                        gateway_probe(&c, families[k]);
                                }
                }
                for (size_t k = 0; k < ELEMENTSOF(families); k++)
                        policy_fail_closed(d, p, families[k]);
        }
        return 0;
}

int check_return_routes(Doctor *d) {
        if (d->config->firewall_masquerade)
                return 0;       /* NAT here: the gateway sees this host's address */
        for (size_t i = 0; i < d->config->n_policies; i++) {
                const PolicyConfig *p = &d->config->policies[i];

                for (size_t j = 0; j < p->n_gateways; j++) {
                        GatewayCheck c;

                        gateway_check_init(&c, d, p, &p->gateways[j]);
                        for (size_t k = 0; k < ELEMENTSOF(families); k++)
                                gateway_return_route(&c, families[k]);
                }
        }
        return 0;
}
