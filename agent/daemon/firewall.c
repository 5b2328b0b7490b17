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
#include "manager.h"
#include "nft.h"

#define FIREWALL_RETRY_USEC (1000U * 1000U)

static void on_nft_changed(void *userdata) {
        Manager *m = userdata;

        m->firewall_force = true;
        manager_schedule_reconcile(m);
}

int firewall_setup(Manager *m) {
        int r;

        if (!m->config->firewall_manage || m->nft)
                return 0;
        r = nft_new(m->event, on_nft_changed, m, &m->nft);
        if (r < 0)
                return log_error_errno(r, "Failed to open nfnetlink for the nftables table: %m");
        m->firewall_force = true;
        return 0;
}

/* [Firewall] Manage=no: we stop touching nftables; a table of ours from before stays until teardown. */
void firewall_disable(Manager *m) {
        m->nft = nft_free(m->nft);
        free(m->firewall_applied);
        m->firewall_applied = NULL;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(a, b);
}

/* The device our default route leaves by: the configured one, or the one the kernel chose. */
static void gateway_device(Manager *m, char ret[static IFNAMSIZ]) {
        snprintf(ret, IFNAMSIZ, "%s", m->config->policies[0].gateways[0].device);
        for (Have *h = m->have; !ret[0] && h; h = h->hh.next)
                if (h->obj.kind == OBJECT_ROUTE && h->obj.prefix.prefixlen == 0 && h->obj.has_gateway &&
                    h->obj.table == m->config->policies[0].table_id && object_ifname(m, &h->obj))
                        snprintf(ret, IFNAMSIZ, "%s", object_ifname(m, &h->obj));
}

static int spec_build(Manager *m, NftSpec *spec) {
        size_t n = 0;

        for (Link *l = m->links; l; l = l->hh.next)
                n += l->managed;
        *spec = (NftSpec) {
                .pools = m->config->policies[0].pools,
                .n_pools = m->config->policies[0].n_pools,
                .tunnels = calloc(MAX(n, (size_t) 1), IFNAMSIZ),
                .leak_guard = m->config->firewall_leak_guard,
                .masquerade = m->config->firewall_masquerade,
        };
        if (!spec->tunnels)
                return -ENOMEM;
        for (Link *l = m->links; l; l = l->hh.next)
                if (l->managed)
                        snprintf(spec->tunnels[spec->n_tunnels++], IFNAMSIZ, "%s", l->info.name);
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

/* Returns the time to try again at (CLOCK_MONOTONIC), 0 when nothing is left to do. */
uint64_t firewall_sync(Manager *m) {
        _cleanup_(freep) char *signature = NULL;
        NftSpec spec;
        int r;

        if (!m->nft || (!m->firewall_dirty && !m->firewall_force) || spec_build(m, &spec) < 0)
                return 0;
        signature = spec_signature(&spec);
        if (signature && !m->firewall_force && streq_ptr(signature, m->firewall_applied)) {
                free(spec.tunnels);
                m->firewall_dirty = false;
                return 0;
        }
        r = nft_apply(m->nft, &spec);
        free(spec.tunnels);
        if (r < 0) {
                m->counters.firewall_errors++;
                log_warning_errno(r, "Failed to update the nftables table inet %s (%s), retrying in 1s: %m",
                                  NFT_TABLE_NAME, nft_last_error(m->nft) ?: "no detail");
                return now_monotonic() + FIREWALL_RETRY_USEC;
        }
        if (r > 0 && m->ready)
                log_info("Updated the nftables table inet %s.", NFT_TABLE_NAME);
        /* Changed although the spec was not: someone else touched our table and we put it back. */
        if (r > 0 && streq_ptr(signature, m->firewall_applied))
                m->counters.firewall_restores++;
        free(m->firewall_applied);
        m->firewall_applied = TAKE_PTR(signature);
        m->firewall_force = m->firewall_dirty = false;
        return 0;
}

/* "Rising": the leak guard's drop counter grew since the previous look, or within the window before. */
#define LEAK_RISING_WINDOW_USEC (5ULL * 60U * 1000000U)

static void firewall_note_drops(Manager *m, json_t *j) {
        json_t *drops = json_object_get(json_object_get(j, "leak_guard_drops"), "packets");
        uint64_t now = now_realtime(), packets;

        if (!json_is_integer(drops))
                return;
        packets = (uint64_t) json_integer_value(drops);
        if (packets > m->leak_drops_seen)
                m->leak_drops_rose_at = now;
        m->leak_drops_seen = packets;
        json_object_set_new(j, "leak_guard_rising",
                            json_boolean(m->leak_drops_rose_at > 0 && now - m->leak_drops_rose_at < LEAK_RISING_WINDOW_USEC));
        json_object_set_new(j, "leak_guard_last_rise_usec",
                            m->leak_drops_rose_at > 0 ? json_integer((json_int_t) m->leak_drops_rose_at) : json_null());
}

json_t *firewall_status(Manager *m) {
        json_t *j = NULL;

        if (!m->nft || nft_counters(m->nft, &j) < 0)
                return json_null();
        firewall_note_drops(m, j);
        return j;
}
