/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keeps our nftables table (nft.c) in step with the configuration and the managed devices. A pass in
 * which something the table depends on changed (managed devices, the gateway's device, the
 * configuration) derives the spec, and nft_apply() runs only when it differs from the one last applied,
 * or when someone touched our table. */
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "firewall.h"
#include "manager.h"
#include "nft.h"

#define FIREWALL_RETRY_USEC (1000U * 1000U)

static void on_nft_changed(void *userdata) {
        Manager *m = userdata;

        m->firewall.force = true;
}

int firewall_setup(Manager *m) {
        int r;

        if (!m->config->firewall_manage || m->firewall.nft)
                return 0;
        r = nft_new(m->event, on_nft_changed, m, &m->firewall.nft);
        if (r < 0)
                return log_error_errno(r, "Failed to open nfnetlink for the nftables table: %m");
        m->firewall.force = true;
        return 0;
}

/* [Firewall] Manage=no: we stop touching nftables; a table of ours from before stays until teardown. */
void firewall_disable(Manager *m) {
        m->firewall.nft = nft_free(m->firewall.nft);
        free(m->firewall.applied);
        m->firewall.applied = NULL;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(a, b);
}

/* The device the main policy's default route leaves by: the configured one, or the one the kernel chose. */
static void gateway_device(Manager *m, char ret[static IFNAMSIZ]) {
        const char *name = NULL;

        for (int i = 0; !name && i < 2; i++) {
                int ifindex = policy_gateway_ifindex(m, 0, i == 0 ? AF_INET : AF_INET6);

                name = ifindex > 0 ? manager_ifname(m, ifindex) : NULL;
        }
        snprintf(ret, IFNAMSIZ, "%s", name ?: m->config->policies[0].n_gateways > 0 ?
                 m->config->policies[0].gateways[0].device : "");
}

static int spec_build(Manager *m, NftSpec *spec) {
        const PolicyConfig *p = &m->config->policies[0];

        *spec = (NftSpec) {
                .pools = p->pools,
                .n_pools = p->n_pools,
                .tunnels = calloc(MAX(m->tunnels.n, (size_t) 1), IFNAMSIZ),
                .leak_guard = m->config->firewall_leak_guard,
                .masquerade = m->config->firewall_masquerade,
        };
        if (!spec->tunnels)
                return -ENOMEM;
        for (Tunnel *t = m->tunnels.by_ifindex; t; t = t->hh.next)
                snprintf(spec->tunnels[spec->n_tunnels++], IFNAMSIZ, "%s", t->name);
        qsort(spec->tunnels, spec->n_tunnels, IFNAMSIZ, name_compare);
        gateway_device(m, spec->gateway_device);
        return 0;
}

/* A text form of everything nft_apply() looks at, to tell whether anything changed since. */
static char *spec_signature(const NftSpec *spec) {
        char *buf = NULL, p[PREFIX_STRLEN];
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fprintf(f, "gw=%s lg=%d masq=%d prio=%d", spec->gateway_device, spec->leak_guard, spec->masquerade,
                spec->priority);
        for (size_t i = 0; i < spec->n_pools; i++)
                fprintf(f, " pool=%s", prefix_to_string(&spec->pools[i], p));
        for (size_t i = 0; i < spec->n_tunnels; i++)
                fprintf(f, " tun=%s", spec->tunnels[i]);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Cheap: whether any input of the table may have changed since it was applied. */
static bool firewall_inputs_changed(Manager *m) {
        char gw[IFNAMSIZ];

        gateway_device(m, gw);
        if (m->firewall.force || m->config_changed || m->firewall.tunnels_generation != m->tunnels.generation ||
            !streq(gw, m->firewall.gateway_device))
                return true;
        return false;
}

static uint64_t firewall_failed(Manager *m, int r) {
        m->counters.firewall_errors++;
        log_warning_errno(r, "Failed to update the nftables table inet %s (%s), retrying in 1s: %m", NFT_TABLE_NAME,
                          nft_last_error(m->firewall.nft) ?: "no detail");
        return m->firewall.retry_at = now_monotonic() + FIREWALL_RETRY_USEC;
}

uint64_t firewall_sync(Manager *m) {
        _cleanup_(freep) char *signature = NULL;
        Firewall *f = &m->firewall;
        NftSpec spec;
        int r;

        if (!f->nft)
                return 0;
        if (f->retry_at > now_monotonic())
                return f->retry_at;
        if (!firewall_inputs_changed(m) || spec_build(m, &spec) < 0)
                return 0;
        f->tunnels_generation = m->tunnels.generation;
        snprintf(f->gateway_device, sizeof(f->gateway_device), "%s", spec.gateway_device);
        signature = spec_signature(&spec);
        if (signature && !f->force && streq_ptr(signature, f->applied)) {
                free(spec.tunnels);
                return 0;
        }
        r = nft_apply(f->nft, &spec);
        free(spec.tunnels);
        if (r < 0)
                return firewall_failed(m, r);
        f->retry_at = 0;
        if (r > 0 && m->ready)
                log_info("Updated the nftables table inet %s.", NFT_TABLE_NAME);
        /* Changed although the spec was not: someone else touched our table and we put it back. */
        if (r > 0 && streq_ptr(signature, f->applied))
                m->counters.firewall_restores++;
        free(f->applied);
        f->applied = TAKE_PTR(signature);
        f->force = false;
        return 0;
}

/* "Rising": the leak guard's drop counter grew since the previous look, or within the window before. */
#define LEAK_RISING_WINDOW_USEC (5ULL * 60U * 1000000U)

static void firewall_note_drops(Manager *m, json_t *j) {
        json_t *drops = json_object_get(json_object_get(j, "leak_guard_drops"), "packets");
        uint64_t now = now_realtime(), packets;
        Firewall *f = &m->firewall;

        if (!json_is_integer(drops))
                return;
        packets = (uint64_t) json_integer_value(drops);
        if (packets > f->leak_drops_seen)
                f->leak_drops_rose_at = now;
        f->leak_drops_seen = packets;
        json_object_set_new(j, "leak_guard_rising",
                            json_boolean(f->leak_drops_rose_at > 0 && now - f->leak_drops_rose_at < LEAK_RISING_WINDOW_USEC));
        json_object_set_new(j, "leak_guard_last_rise_usec",
                            f->leak_drops_rose_at > 0 ? json_integer((json_int_t) f->leak_drops_rose_at) : json_null());
}

json_t *firewall_status(Manager *m) {
        json_t *j = NULL;

        if (!m->firewall.nft || nft_counters(m->firewall.nft, &j) < 0)
                return json_null();
        firewall_note_drops(m, j);
        return j;
}
