/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "desired.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "rtnl-route.h"
#include "rtnl-rule.h"
#include "rtnl.h"

#define RETRY_MIN_USEC (100U * 1000U)
#define RETRY_MAX_USEC (30U * 1000000U)
#define RESYNC_INTERVAL_USEC (1000U * 1000U)

typedef enum OpAction {
        OP_ADD,
        OP_REPLACE,
        OP_DELETE,
} OpAction;

typedef struct Op {
        OpAction action;
        Object obj;
} Op;

typedef struct Plan {
        Op *ops;
        size_t n, allocated;
        uint64_t now;
        uint64_t next_retry;    /* earliest retry_at of what had to wait; 0: none */
} Plan;

static const char *const op_verbs[] = {
        [OP_ADD] = "add",
        [OP_REPLACE] = "replace",
        [OP_DELETE] = "delete",
};

_printf_(5, 6) static int log_object(Manager *m, int level, int error, const Object *o, const char *format, ...) {
        char text[OBJECT_STRLEN], object[OBJECT_STRLEN + 32], table[48], family[32], msg[512];
        va_list ap;

        object_to_string(o, object_ifname(m, o), text);
        snprintf(object, sizeof(object), "VPNPOLICY_OBJECT=%s", text);
        snprintf(table, sizeof(table), "VPNPOLICY_TABLE=%u", o->table);
        snprintf(family, sizeof(family), "VPNPOLICY_FAMILY=%s", family_to_string(o->family));
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        return log_fields(level, error, FIELDS(object, table, family), "%s: %s", msg, text);
}

void manager_mark_dirty(Manager *m, const ObjectKey *key) {
        Dirty *d;

        if (m->dirty_all)
                return;
        HASH_FIND(hh, m->dirty, key, sizeof(*key), d);
        if (d)
                return;
        d = malloc(sizeof(Dirty));
        if (!d) {
                m->dirty_all = true;    /* cannot remember what changed: look at everything */
                return;
        }
        d->key = *key;
        HASH_ADD(hh, m->dirty, key, sizeof(d->key), d);
}

static void dirty_clear(Manager *m) {
        Dirty *d, *tmp;

        HASH_ITER(hh, m->dirty, d, tmp) {
                HASH_DEL(m->dirty, d);
                free(d);
        }
        m->dirty_all = false;
}

void manager_mark_failing_dirty(Manager *m) {
        if (m->n_failing == 0)
                return;
        for (Want *w = m->want; w; w = w->hh.next)
                if (w->failures > 0) {
                        w->retry_at = 0;
                        manager_mark_dirty(m, &w->key);
                }
}

void manager_refresh_desired(Manager *m) {
        static const ObjectRole base_roles[] = { ROLE_SOURCE_RULE, ROLE_DEFAULT_ROUTE, ROLE_FAIL_CLOSED };
        _cleanup_(freep) DesiredObject *objects = NULL;
        int gateway_ifindex = 0;
        size_t n;

        if (!m->refresh_base)
                return;
        objects = calloc(desired_base_max(m->config), sizeof(DesiredObject));
        if (!objects)
                return;
        if (m->config->policies[0].gateways[0].device[0]) {
                Link *l = link_by_name(m, m->config->policies[0].gateways[0].device);
                gateway_ifindex = l ? l->info.ifindex : -1;
        }
        n = desired_base(m->config, gateway_ifindex, VPNPOLICY_PROTO, objects);
        for (size_t i = 0; i < ELEMENTSOF(base_roles); i++)
                want_begin_role(m, base_roles[i]);
        for (size_t i = 0; i < n; i++)
                want_set(m, &objects[i].obj, objects[i].role, objects[i].blocked);
        for (size_t i = 0; i < ELEMENTSOF(base_roles); i++)
                want_sweep_role(m, base_roles[i]);
        m->refresh_base = false;
}

static int plan_push(Plan *p, OpAction action, const Object *o) {
        if (p->n == p->allocated) {
                size_t a = MAX(p->allocated * 2, (size_t) 64);
                Op *ops = reallocarray(p->ops, a, sizeof(Op));
                if (!ops)
                        return -ENOMEM;
                p->ops = ops;
                p->allocated = a;
        }
        p->ops[p->n++] = (Op) { action, *o };
        return 0;
}

static void plan_wait(Plan *p, uint64_t at) {
        if (p->next_retry == 0 || at < p->next_retry)
                p->next_retry = at;
}

static void plan_wait_optional(Plan *p, uint64_t at) {
        if (at > 0)
                plan_wait(p, at);
}

/* An add of an object that we had before is a restore: rate-limited per object. */
static bool plan_may_add(Manager *m, Plan *p, Want *w) {
        uint64_t wait;

        if (w->retry_at > p->now) {
                plan_wait(p, w->retry_at);
                return false;
        }
        /* Only a first try after an unexplained disappearance is a restore; retries have their backoff. */
        if (!w->seen || w->failures > 0 || want_take_restore_token(w, p->now, &wait))
                return true;
        w->retry_at = p->now + wait;
        plan_wait(p, w->retry_at);
        m->counters.restore_throttled++;
        if (!w->throttle_logged)
                log_object(m, LOG_WARNING, 0, &w->obj,
                           "Object keeps being deleted by another process, restoring it at most twice a second");
        w->throttle_logged = true;
        return false;
}

static void mark_present(Want *w, uint64_t now_rt) {
        if (w->present_since == 0)
                w->present_since = now_rt;
        w->seen = true;
}

static int plan_key(Manager *m, Plan *p, const ObjectKey *key) {
        Want *w = want_get(m, key);
        Have *h;

        HASH_FIND(hh, m->have, key, sizeof(*key), h);
        if (w && !w->blocked) {
                if (h && object_satisfies(&h->obj, &w->obj)) {
                        mark_present(w, now_realtime());
                        return 0;
                }
                w->present_since = 0;
                if (!plan_may_add(m, p, w))
                        return 0;
                return plan_push(p, h ? OP_REPLACE : OP_ADD, &w->obj);
        }
        if (w) {
                /* Blocked (its device is down): when it comes back, adding it is no restore. */
                w->present_since = 0;
                w->seen = false;
                return 0;
        }
        return h ? plan_push(p, OP_DELETE, &h->obj) : 0;
}

static int plan_build(Manager *m, Plan *p) {
        int r;

        if (!m->dirty_all) {
                for (Dirty *d = m->dirty; d; d = d->hh.next) {
                        r = plan_key(m, p, &d->key);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        for (Want *w = m->want; w; w = w->hh.next) {
                r = plan_key(m, p, &w->key);
                if (r < 0)
                        return r;
        }
        for (Have *h = m->have; h; h = h->hh.next)
                if (!want_get(m, &h->key)) {
                        r = plan_push(p, OP_DELETE, &h->obj);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int batch_build(const Plan *p, RtnlBatch *b) {
        static const uint16_t types[_OBJECT_KIND_MAX][3] = {
                [OBJECT_RULE] = { RTM_NEWRULE, RTM_NEWRULE, RTM_DELRULE },
                [OBJECT_ROUTE] = { RTM_NEWROUTE, RTM_NEWROUTE, RTM_DELROUTE },
        };
        /* EXCL on add: never take over, or duplicate, an equal object someone else made
         * (fib_nl_newrule() adds duplicate rules unless asked not to). */
        static const uint16_t flags[3] = {
                [OP_ADD] = NLM_F_CREATE | NLM_F_EXCL,
                [OP_REPLACE] = NLM_F_REPLACE,
                [OP_DELETE] = 0,
        };

        for (size_t i = 0; i < p->n; i++) {
                const Op *op = &p->ops[i];
                struct nlmsghdr *nlh = rtnl_batch_add(b, types[op->obj.kind][op->action], flags[op->action]);
                int r;

                if (!nlh)
                        return -ENOMEM;
                r = op->obj.kind == OBJECT_RULE ? rule_to_netlink(&op->obj, nlh) : route_to_netlink(&op->obj, nlh);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct AckContext {
        Manager *m;
        Plan *plan;
} AckContext;

static uint64_t retry_delay(unsigned failures) {
        uint64_t d = RETRY_MIN_USEC;

        for (unsigned i = 1; i < failures && d < RETRY_MAX_USEC; i++)
                d *= 2;
        return MIN(d, (uint64_t) RETRY_MAX_USEC);
}

static void ack_success(Manager *m, const Op *op, Want *w) {
        ObjectKey key = object_key(&op->obj);

        m->counters.operations++;
        if (op->action == OP_DELETE) {
                have_remove(m, &key);
                log_object(m, LOG_DEBUG, 0, &op->obj, "Removed stale object");
                return;
        }
        have_put(m, &op->obj);
        if (!w)
                return;
        if (w->seen && w->failures == 0 && op->action == OP_ADD) {
                w->restores++;
                m->counters.restores++;
                log_object(m, LOG_NOTICE, 0, &op->obj, "Restored %s that disappeared from the kernel",
                           object_role_to_string(w->role));
        } else if (op->action == OP_ADD && m->ready)
                log_object(m, LOG_DEBUG, 0, &op->obj, "Added %s", object_role_to_string(w->role));
        if (w->failures > 0)
                m->n_failing--;
        w->failures = 0;
        w->last_error = 0;
        w->retry_at = 0;
        mark_present(w, now_realtime());
}

static void ack_failure(Manager *m, Plan *p, const Op *op, Want *w, int error, const char *ext_ack) {
        char text[256];

        m->counters.failed_operations++;
        if (error == -EEXIST)
                /* Our cache follows every event and resyncs after lost ones, so this is an equal object
                 * that is not ours (another protocol tag): we neither take it over nor remove it. */
                snprintf(text, sizeof(text), "add: an equal object that is not ours is in the way");
        else
                snprintf(text, sizeof(text), "%s: %s%s%s", op_verbs[op->action], strerror(-error),
                         ext_ack ? ": " : "", ext_ack ?: "");
        free(m->last_error_text);
        m->last_error_text = strdup(text);
        if (!w) {
                log_object(m, LOG_WARNING, error, &op->obj, "Failed to %s (%s), ignoring", op_verbs[op->action], text);
                return;
        }
        if (w->failures++ == 0) {
                m->n_failing++;
                log_object(m, LOG_WARNING, error, &op->obj, "Failed to %s %s (%s), retrying",
                           op_verbs[op->action], object_role_to_string(w->role), text);
        }
        w->last_error = error;
        free(w->last_error_text);
        w->last_error_text = strdup(text);
        w->retry_at = p->now + retry_delay(w->failures);
        plan_wait(p, w->retry_at);
}

static void on_ack(size_t index, int error, const char *ext_ack, void *userdata) {
        AckContext *c = userdata;
        const Op *op = &c->plan->ops[index];
        ObjectKey key = object_key(&op->obj);
        Want *w = want_get(c->m, &key);

        /* Gone already is what a delete wants. */
        if (op->action == OP_DELETE && (error == -ENOENT || error == -ESRCH))
                error = 0;
        if (error == 0)
                ack_success(c->m, op, w);
        else
                ack_failure(c->m, c->plan, op, w, error, ext_ack);
}

/* Deletes first, then rules and device routes, then routes via a gateway: a gateway on a tunnel is
 * only accepted once the device route that reaches it is in the table (fib_check_nh() in
 * net/ipv4/fib_semantics.c looks the gateway up in the route's own table). */
static int op_rank(const Op *op) {
        if (op->action == OP_DELETE)
                return 0;
        return op->obj.has_gateway ? 2 : 1;
}

static int op_compare(const void *a, const void *b) {
        return op_rank(a) - op_rank(b);
}

static int plan_execute(Manager *m, Plan *p) {
        _cleanup_(rtnl_batch_freep) RtnlBatch *b = NULL;
        AckContext c = { m, p };
        int r;

        if (p->n == 0)
                return 0;
        qsort(p->ops, p->n, sizeof(Op), op_compare);
        b = rtnl_batch_new();
        if (!b)
                return -ENOMEM;
        r = batch_build(p, b);
        if (r < 0)
                return r;
        r = rtnl_batch_send(m->rtnl, b, on_ack, &c);
        if (r < 0) {
                m->counters.netlink_errors++;
                m->need_resync = true;
                plan_wait(p, p->now + RESYNC_INTERVAL_USEC);
                return log_error_errno(r, "Failed to send %zu changes to the kernel, resyncing: %m", p->n);
        }
        return 0;
}

/* Only ever earlier: a pass that looked at other objects must not cancel the retry another one waits
 * for. When the timer fires, every waiting object is looked at again. */
/* One line per pass at info level; each object at debug level (a burst of 100,000 routes is one line). */
static void plan_log_summary(Manager *m, const Plan *p) {
        size_t added = 0, replaced = 0, removed = 0;

        if (!m->ready || p->n == 0)
                return;
        for (size_t i = 0; i < p->n; i++)
                switch (p->ops[i].action) {
                case OP_ADD:
                        added++;
                        break;
                case OP_REPLACE:
                        replaced++;
                        break;
                case OP_DELETE:
                        removed++;
                        break;
                }
        log_info("Sent %zu change(s) to the kernel: %zu added, %zu replaced, %zu removed.", p->n, added, replaced,
                 removed);
}

static void retry_timer_arm(Manager *m, uint64_t at) {
        uint64_t armed;
        int enabled;

        if (at == 0)
                return;
        if (sd_event_source_get_enabled(m->retry_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
            sd_event_source_get_time(m->retry_timer, &armed) >= 0 && armed <= at)
                return;
        (void) sd_event_source_set_time(m->retry_timer, at);
        (void) sd_event_source_set_enabled(m->retry_timer, SD_EVENT_ONESHOT);
}

/* Full dumps are rate-limited: under a storm of overruns we resync once a second at most. */
static int maybe_resync(Manager *m, Plan *p) {
        int r;

        if (!m->need_resync)
                return 0;
        if (m->last_resync > 0 && p->now < m->last_resync + RESYNC_INTERVAL_USEC) {
                plan_wait(p, m->last_resync + RESYNC_INTERVAL_USEC);
                return 0;
        }
        m->need_resync = false;
        m->last_resync = p->now;
        m->counters.resyncs++;
        r = state_enumerate(m);
        if (r < 0) {
                m->need_resync = true;
                m->counters.netlink_errors++;
                return log_error_errno(r, "Failed to read the kernel's state, retrying: %m");
        }
        log_info("Resynced with the kernel.");
        return 0;
}

int manager_reconcile(Manager *m) {
        _cleanup_(freep) Op *ops = NULL;
        Plan p = { .now = now_monotonic() };
        int r;

        m->counters.reconcile_passes++;
        r = maybe_resync(m, &p);
        if (r >= 0 && state_resync_links(m) < 0)
                m->need_resync = true;
        manager_refresh_desired(m);
        r = plan_build(m, &p);
        ops = p.ops;
        if (r < 0)
                return log_error_errno(r, "Failed to plan changes: %m");
        dirty_clear(m);
        r = plan_execute(m, &p);
        plan_log_summary(m, &p);
        plan_wait_optional(&p, firewall_sync(m));
        if (m->need_resync && p.next_retry == 0)
                plan_wait(&p, p.now + 1);
        retry_timer_arm(m, p.next_retry);
        api_pending_check(m);
        return r;
}

void manager_schedule_reconcile(Manager *m) {
        (void) sd_event_source_set_enabled(m->reconcile_source, SD_EVENT_ONESHOT);
}
