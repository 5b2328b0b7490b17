/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The gateway-health table (gateways.h): entries per gateway and family, their probes and their evidence.
 * The verdict's rules are in health.c; what the routes do with it is policy.c's. */
#include <linux/neighbour.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "desired.h"
#include "gateways.h"
#include "icmp-socket.h"
#include "log.h"
#include "manager.h"
#include "rtnl-neigh.h"

/* The sockets' queues hold a round's replies until its deadline: at least this, or 2 KiB per request. */
#define PROBE_RCVBUF_MIN (256U * 1024U)
#define PROBE_RCVBUF_PER_DEST 2048U
/* The probe timer may fire this much late, so that the loop can fold it into another wakeup. Replies are
 * judged by the kernel's receive stamps, so lateness only delays a verdict. */
#define PROBE_TIMER_ACCURACY_USEC (5U * 1000U)
#define ITEMS_MAX 32768U        /* two destinations each in the 16 bits of a cookie's slot */

static int family_slot(int family) {
        return family == AF_INET6 ? 1 : 0;
}

static const GatewayConfig *item_config(Manager *m, const GatewayHealth *h) {
        return &m->config->policies[h->policy].gateways[h->gateway];
}

static void items_free(GatewayHealth *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].policy_name);
                free(items[i].gateway_name);
        }
        free(items);
}

void gateways_done(Gateways *g) {
        items_free(g->items, g->n);
        for (size_t i = 0; i < ELEMENTSOF(g->fd); i++)
                safe_close(g->fd[i]);
        sd_event_source_disable_unref(g->timer);
        *g = (Gateways) { .fd = { -EBADF, -EBADF } };
}

const GatewayHealth *gateways_get(const Gateways *g, size_t policy, size_t gateway, int family) {
        for (size_t i = 0; i < g->n; i++)
                if (g->items[i].policy == policy && g->items[i].gateway == gateway && g->items[i].family == family)
                        return &g->items[i];
        return NULL;
}

bool gateways_take_changed(Gateways *g) {
        bool changed = g->changed;

        g->changed = false;
        return changed;
}

/* ---- logging ---- */

_printf_(4, 5) static void item_log(Manager *m, int level, const GatewayHealth *h, const char *format, ...) {
        char policy[96], gateway[96], family[32], state[48], reason[HEALTH_REASON_MAX + 24], msg[512];
        va_list ap;

        snprintf(policy, sizeof(policy), "VPNPOLICY_POLICY=%s", h->policy_name);
        snprintf(gateway, sizeof(gateway), "VPNPOLICY_GATEWAY=%s", h->gateway_name);
        snprintf(family, sizeof(family), "VPNPOLICY_FAMILY=%s", family_to_string(h->family));
        snprintf(state, sizeof(state), "VPNPOLICY_GATEWAY_STATE=%s", health_state_to_string(h->health.state));
        snprintf(reason, sizeof(reason), "VPNPOLICY_REASON=%s", h->reason);
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        (void) log_fields(level, 0, FIELDS(policy, gateway, family, state, reason), "Gateway %s of policy %s (%s): %s",
                          h->gateway_name, h->policy_name, family_to_string(h->family), msg);
}

/* A verdict changed: remembered, logged once, and the pass told. */
static void item_changed(Manager *m, GatewayHealth *h, const char *reason, bool first) {
        Gateways *g = &m->gateways;
        int level;

        h->changes++;
        g->changes++;
        g->changed = true;
        h->since = h->changed_at = now_realtime();
        h->usable_since = h->health.state == HEALTH_UP ? now_monotonic() : 0;
        snprintf(h->reason, sizeof(h->reason), "%s", reason);
        level = h->health.state == HEALTH_DOWN ? LOG_WARNING : first ? LOG_INFO : LOG_NOTICE;
        item_log(m, level, h, "%s (%s).", health_state_to_string(h->health.state), reason);
}

/* ---- the table follows the configuration ---- */

static bool probe_equal(const GatewayHealth *old, const GatewayHealth *new) {
        if (old->family != new->family || old->n_dest != new->n_dest ||
            memcmp(&old->probe, &new->probe, sizeof(old->probe)) != 0)
                return false;
        for (size_t d = 0; d < new->n_dest; d++)
                if (!addr_equal(new->family, &old->dest[d].addr, &new->dest[d].addr))
                        return false;
        return streq(old->policy_name, new->policy_name) && streq(old->gateway_name, new->gateway_name);
}

/* A gateway whose probe is unchanged keeps its verdict and history; its round out is dropped (the
 * cookies change with the layout) and it probes again at once. */
static void item_carry_over(GatewayHealth *h, const GatewayHealth *old, size_t n_old) {
        for (size_t i = 0; i < n_old; i++) {
                const GatewayHealth *o = &old[i];

                if (!probe_equal(o, h))
                        continue;
                h->health = o->health;
                h->since = o->since;
                h->changed_at = o->changed_at;
                h->usable_since = o->usable_since;
                h->changes = o->changes;
                h->neigh_state = o->neigh_state;
                h->link_ok = o->link_ok;
                h->device_exists = o->device_exists;
                h->gateway_answers = o->gateway_answers;
                memcpy(h->reason, o->reason, sizeof(h->reason));
                for (size_t d = 0; d < h->n_dest; d++)
                        h->dest[d].seq = o->dest[d].seq;
                return;
        }
}

static int item_new(Manager *m, size_t policy, size_t gateway, int family, GatewayHealth *h) {
        const PolicyConfig *p = &m->config->policies[policy];
        const GatewayConfig *gc = &p->gateways[gateway];
        bool has_target = family == AF_INET ? gc->probe.has_target4 : gc->probe.has_target6;

        *h = (GatewayHealth) {
                .policy = policy,
                .gateway = gateway,
                .policy_name = strdup(p->name),
                .gateway_name = strdup(gc->name),
                .probe = gc->probe,
                .family = family,
                .mark = desired_probe_mark(desired_probe_index(m->config, policy, gateway)),
                .n_dest = has_target ? 2 : 1,
                .link_ok = true,
                .device_exists = true,
                .since = now_realtime(),
                .next_send = now_monotonic(),
        };
        if (!h->policy_name || !h->gateway_name)
                return -ENOMEM;
        h->dest[0].addr = *gateway_address(gc, family);
        if (has_target)
                h->dest[1].addr = family == AF_INET ? gc->probe.target4 : gc->probe.target6;
        health_init(&h->health, gc->probe.enabled);
        h->probed = gc->probe.enabled;
        snprintf(h->reason, sizeof(h->reason), "%s", h->probed ? "no verdict yet" : "Probe=none");
        return 0;
}

static size_t items_count(const Config *c) {
        size_t n = 0;

        for (size_t i = 0; i < c->n_policies; i++)
                for (size_t j = 0; j < c->policies[i].n_gateways; j++)
                        n += c->policies[i].gateways[j].has_ipv4 + c->policies[i].gateways[j].has_ipv6;
        return n;
}

static int items_build(Manager *m, GatewayHealth **ret, size_t *ret_n) {
        static const int families[] = { AF_INET, AF_INET6 };
        size_t n = items_count(m->config), k = 0;
        GatewayHealth *items = calloc(MAX(n, (size_t) 1), sizeof(GatewayHealth));
        int r;

        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < m->config->n_policies; i++)
                for (size_t j = 0; j < m->config->policies[i].n_gateways; j++)
                        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                                if (!gateway_address(&m->config->policies[i].gateways[j], families[f]))
                                        continue;
                                r = item_new(m, i, j, families[f], &items[k++]);
                                if (r < 0) {
                                        items_free(items, k);
                                        return r;
                                }
                        }
        *ret = items;
        *ret_n = k;
        return 0;
}

static void items_set_cookies(Gateways *g) {
        g->generation++;
        for (size_t i = 0; i < g->n; i++)
                for (size_t d = 0; d < g->items[i].n_dest; d++)
                        g->items[i].dest[d].cookie = (uint32_t) g->generation << 16 | (uint32_t) (i * 2 + d);
}

static void gateways_rebuild(Manager *m) {
        Gateways *g = &m->gateways;
        GatewayHealth *items;
        size_t n;

        if (items_build(m, &items, &n) < 0) {
                log_error("Out of memory rebuilding the gateway table, keeping the previous one.");
                return;
        }
        if (n > ITEMS_MAX) {
                log_error("%zu gateway addresses configured, at most %u can be probed: not probing the rest.", n,
                          ITEMS_MAX);
                for (size_t i = ITEMS_MAX; i < n; i++)
                        items[i].probed = false;
        }
        for (size_t i = 0; i < n; i++)
                item_carry_over(&items[i], g->items, g->n);
        items_free(g->items, g->n);
        g->items = items;
        g->n = n;
        items_set_cookies(g);
        g->changed = true;
}

/* ---- sockets ---- */

static void sockets_sync(Manager *m) {
        static const int families[] = { AF_INET, AF_INET6 };
        Gateways *g = &m->gateways;

        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                size_t dests = 0;
                int fd;

                for (size_t i = 0; i < g->n; i++)
                        if (g->items[i].family == families[f] && g->items[i].probe.enabled)
                                dests += g->items[i].n_dest;
                if (dests == 0) {
                        g->fd[f] = safe_close(g->fd[f]);
                        g->socket_error[f] = 0;
                        continue;
                }
                if (g->fd[f] >= 0)
                        continue;
                fd = icmp_socket_open(families[f], g->id, MAX(PROBE_RCVBUF_MIN, (uint32_t) dests * PROBE_RCVBUF_PER_DEST));
                if (fd < 0 && g->socket_error[f] != fd)
                        log_error_errno(fd, "Failed to open the %s probe socket, judging those gateways by their "
                                        "links alone%s: %m", family_to_string(families[f]),
                                        fd == -EPERM ? " (probes need CAP_NET_RAW)" : "");
                g->fd[f] = fd < 0 ? -EBADF : fd;
                g->socket_error[f] = fd < 0 ? fd : 0;
        }
}

/* Gateways whose socket cannot be had are judged like Probe=none ones, and say why. */
static void items_apply_sockets(Manager *m) {
        Gateways *g = &m->gateways;

        for (size_t i = 0; i < g->n && i < ITEMS_MAX; i++) {
                GatewayHealth *h = &g->items[i];
                int err = g->socket_error[family_slot(h->family)];
                bool probed = h->probe.enabled && err == 0;

                if (probed == h->probed)
                        continue;
                h->probed = probed;
                health_init(&h->health, probed);
                h->since = now_realtime();
                snprintf(h->reason, sizeof(h->reason), probed ? "no verdict yet" : "probes cannot run: %s",
                         strerror(-err));
                g->changed = true;
        }
}

/* ---- links ---- */

static void item_link_state(Manager *m, const GatewayHealth *h, bool *ret_exists, bool *ret_ok, int *ret_ifindex,
                            char why[static 64]) {
        const GatewayConfig *gc = item_config(m, h);
        Link *l;

        *ret_exists = *ret_ok = true;
        *ret_ifindex = 0;
        why[0] = 0;
        if (!gc->device[0])
                return;
        l = links_by_name(&m->links, gc->device);
        *ret_exists = l;
        *ret_ok = l && link_info_is_operational(&l->info);
        *ret_ifindex = l ? l->info.ifindex : 0;
        if (!l)
                snprintf(why, 64, "device %s does not exist", gc->device);
        else if (!(l->info.flags & IFF_UP))
                snprintf(why, 64, "device %s is down", gc->device);
        else if (!*ret_ok)
                snprintf(why, 64, "device %s has no carrier", gc->device);
}

static void item_link(Manager *m, GatewayHealth *h) {
        bool exists, ok, was_ok = h->link_ok;
        char why[64], reason[HEALTH_REASON_MAX];
        int ifindex;

        item_link_state(m, h, &exists, &ok, &ifindex, why);
        h->device_exists = exists;
        h->ifindex = ifindex;
        h->link_ok = ok;
        snprintf(h->link_why, sizeof(h->link_why), "%s", why);
        if (ok == was_ok)
                return;
        m->gateways.changed = true;
        if (ok)
                h->next_send = now_monotonic();         /* probe at once */
        if (!h->probed) {
                h->usable_since = ok ? now_monotonic() : 0;
                h->changed_at = now_realtime();
                if (m->gateways.socket_error[family_slot(h->family)] == 0)
                        snprintf(h->reason, sizeof(h->reason), "%s", ok ? "Probe=none" : why);
                item_log(m, ok ? LOG_NOTICE : LOG_WARNING, h, "%s.", ok ? "its device is usable again" : why);
                return;
        }
        if (!ok && health_evidence_down(&h->health, why, reason))
                item_changed(m, h, reason, false);
}

/* ---- neighbours ---- */

void gateways_neighbour(Manager *m, const NeighInfo *n, bool deleted) {
        Gateways *g = &m->gateways;

        for (size_t i = 0; i < g->n; i++) {
                GatewayHealth *h = &g->items[i];

                if (h->family != n->family || !addr_equal(n->family, &h->dest[0].addr, &n->addr) ||
                    (h->ifindex > 0 && h->ifindex != n->ifindex))
                        continue;
                h->neigh_state = deleted ? 0 : n->state;
                /* FAILED: the kernel's own solicitations went unanswered (neigh_timer_handler() in
                 * net/core/neighbour.c), as good as lost probes, and it may come first. But "ip neigh
                 * del" and "flush" report FAILED too, just before deleting the entry (neigh_delete()): the
                 * verdict waits for the pass, by when such a deletion has been read as well. */
                h->neigh_failed = !deleted && n->state == NUD_FAILED && h->probed;
                if (h->neigh_failed)
                        g->changed = true;
        }
}

static void items_neighbours(Manager *m) {
        Gateways *g = &m->gateways;

        for (size_t i = 0; i < g->n; i++) {
                GatewayHealth *h = &g->items[i];
                char why[HEALTH_REASON_MAX], reason[HEALTH_REASON_MAX];

                if (!h->neigh_failed)
                        continue;
                h->neigh_failed = false;
                snprintf(why, sizeof(why), "its %s entry is FAILED (no answer to the kernel's solicitations)",
                         h->family == AF_INET ? "ARP" : "neighbour");
                if (health_evidence_down(&h->health, why, reason))
                        item_changed(m, h, reason, false);
        }
}

void gateways_update(Manager *m) {
        Gateways *g = &m->gateways;

        if (m->config_changed) {
                gateways_rebuild(m);
                sockets_sync(m);
                items_apply_sockets(m);
        }
        if (m->config_changed || m->links.changed)
                for (size_t i = 0; i < g->n; i++)
                        item_link(m, &g->items[i]);
        if (m->config_changed)
                for (size_t i = 0; i < g->n; i++)
                        if (!g->items[i].probed && g->items[i].link_ok && g->items[i].usable_since == 0)
                                g->items[i].usable_since = now_monotonic();
        items_neighbours(m);
        gateways_arm(m);
}

/* ---- rounds ---- */

static bool item_probes(const Gateways *g, const GatewayHealth *h) {
        return h->probed && g->fd[family_slot(h->family)] >= 0;
}

/* The next instant of the interval's grid after now: entries with one interval share their wakeups. */
static uint64_t next_tick(const Gateways *g, uint64_t now, uint64_t interval) {
        uint64_t since = now > g->epoch ? now - g->epoch : 0;

        return g->epoch + (since / interval + 1) * interval;
}

static void item_send(Gateways *g, GatewayHealth *h, uint64_t now) {
        int fd = g->fd[family_slot(h->family)];
        /* The round is due at next_send (a tick of the grid, unless it is the first): the deadline is on the
         * grid too, so that it falls on the next round's wakeup. */
        uint64_t at = MIN(h->next_send, now);

        for (size_t d = 0; d < h->n_dest; d++) {
                ProbeDest *dest = &h->dest[d];
                IcmpEcho e = { .id = g->id, .seq = ++dest->seq, .cookie = dest->cookie };

                e.nonce = icmp_nonce(g->secret, dest->cookie, dest->seq);
                dest->answered = false;
                dest->rtt = 0;
                dest->sent_realtime = now_realtime();
                dest->send_error = icmp_socket_send(fd, h->family, &dest->addr, h->ifindex, h->mark, &e);
                dest->outstanding = dest->send_error >= 0;
                if (dest->send_error < 0)
                        g->send_errors++;
                else
                        g->sent++;
        }
        h->deadline = at + h->probe.timeout_usec;
        /* The first tick at or after the deadline (the timeout is at most the interval): one round out at a
         * time. */
        h->next_send = next_tick(g, h->deadline - 1, h->probe.interval_usec);
}

static GatewayHealth *reply_item(Gateways *g, int family, const IcmpReceived *rx, ProbeDest **ret_dest) {
        uint32_t slot = rx->echo.cookie & 0xffff;
        GatewayHealth *h;
        ProbeDest *dest;

        if (rx->echo.cookie >> 16 != g->generation || slot / 2 >= g->n)
                return NULL;
        h = &g->items[slot / 2];
        if (h->family != family || slot % 2 >= h->n_dest)
                return NULL;
        dest = &h->dest[slot % 2];
        if (!dest->outstanding || !addr_equal(family, &rx->source, &dest->addr) ||
            !icmp_echo_matches(&rx->echo, g->secret, g->id, dest->seq, dest->cookie))
                return NULL;
        *ret_dest = dest;
        return h;
}

static void reply_take(Gateways *g, int family, const IcmpReceived *rx) {
        ProbeDest *dest = NULL;
        GatewayHealth *h = reply_item(g, family, rx, &dest);
        uint64_t rtt;

        if (!h) {
                g->rejected++;
                return;
        }
        dest->outstanding = false;
        rtt = rx->stamp_usec > dest->sent_realtime ? rx->stamp_usec - dest->sent_realtime : 0;
        if (rtt > h->probe.timeout_usec) {
                g->late++;
                return;
        }
        dest->answered = true;
        dest->rtt = rtt;
        g->replies++;
}

static void probes_drain(Gateways *g, int family) {
        int fd = g->fd[family_slot(family)];

        for (unsigned i = 0; fd >= 0 && i < 4 * ITEMS_MAX; i++) {
                IcmpReceived rx;
                int r = icmp_socket_recv(fd, family, &rx);

                if (r == -EAGAIN)
                        return;
                if (r == -EBADMSG || r == -ENOMSG) {
                        g->rejected++;
                        continue;
                }
                if (r < 0) {
                        log_debug_errno(r, "Failed to read the %s probe socket, ignoring: %m", family_to_string(family));
                        return;
                }
                reply_take(g, family, &rx);
        }
}

/* Why a round was lost, beyond the count: what the kernel and the gateway itself said. */
static void lost_details(const GatewayHealth *h, char *reason, size_t size) {
        size_t len = strlen(reason);
        const ProbeDest *dec = &h->dest[h->n_dest - 1];

        if (h->n_dest == 2 && h->gateway_answers)
                snprintf(reason + len, size - len, "; the gateway answers but %s does not through it",
                         "its ProbeTarget=");
        else if (dec->send_error < 0)
                snprintf(reason + len, size - len, "; sending: %s", strerror(-dec->send_error));
        else if (neigh_state_unresolved(h->neigh_state))
                snprintf(reason + len, size - len, "; its neighbour entry is %s", neigh_state_to_string(h->neigh_state));
}

static void item_judge(Manager *m, GatewayHealth *h) {
        const ProbeDest *dec = &h->dest[h->n_dest - 1];
        char reason[HEALTH_REASON_MAX];
        bool first = h->health.state == HEALTH_PROBING;

        if (h->n_dest == 2)
                h->gateway_answers = h->dest[0].answered;
        h->deadline = 0;
        for (size_t d = 0; d < h->n_dest; d++)
                h->dest[d].outstanding = false;
        if (!health_probe(&h->health, &h->probe, dec->answered, dec->rtt, reason))
                return;
        if (h->health.state == HEALTH_DOWN)
                lost_details(h, reason, sizeof(reason));
        item_changed(m, h, reason, first && h->health.state == HEALTH_UP);
}

static void gateways_run(Manager *m, uint64_t now) {
        Gateways *g = &m->gateways;

        probes_drain(g, AF_INET);
        probes_drain(g, AF_INET6);
        for (size_t i = 0; i < g->n; i++) {
                GatewayHealth *h = &g->items[i];

                if (h->deadline > 0 && h->deadline <= now)
                        item_judge(m, h);
                /* A device that is down or gone cannot carry probes: no rounds (the link took the gateway
                 * down already), until it is back (item_link()). */
                if (!item_probes(g, h) || !h->link_ok || h->next_send > now)
                        continue;
                if (h->deadline == 0)
                        item_send(g, h, now);
                else
                        h->next_send = next_tick(g, h->deadline - 1, h->probe.interval_usec);
        }
}

void gateways_arm(Manager *m) {
        Gateways *g = &m->gateways;
        uint64_t next = 0;

        for (size_t i = 0; i < g->n; i++) {
                const GatewayHealth *h = &g->items[i];

                if (h->deadline > 0 && (next == 0 || h->deadline < next))
                        next = h->deadline;
                if (item_probes(g, h) && h->link_ok && (next == 0 || h->next_send < next))
                        next = h->next_send;
        }
        if (!g->timer)
                return;
        if (next == 0) {
                (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(g->timer, next);
        (void) sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->gateways.wakeups++;
        gateways_run(m, now_monotonic());
        gateways_arm(m);
        return 0;
}

int gateways_init(Manager *m) {
        Gateways *g = &m->gateways;
        int r;

        g->fd[0] = g->fd[1] = -EBADF;
        if (getrandom(&g->id, sizeof(g->id), 0) != sizeof(g->id) ||
            getrandom(&g->secret, sizeof(g->secret), 0) != sizeof(g->secret))
                return negative_errno();
        g->epoch = now_monotonic();
        r = sd_event_add_time(m->event, &g->timer, CLOCK_MONOTONIC, 0, PROBE_TIMER_ACCURACY_USEC, on_probe_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(g->timer, "probes");
        return 0;
}
