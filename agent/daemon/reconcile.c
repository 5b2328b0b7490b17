/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sends the planner's operations (plan.c) to the kernel in one stream of batched requests, every ack
 * checked, and feeds the acks back. Each operation carries its record: acks look nothing up. */
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "manager.h"
#include "plan.h"
#include "reconcile.h"
#include "rt-files.h"
#include "rtnl-route.h"
#include "rtnl-rule.h"
#include "rtnl.h"

/* Per pass, at most this many objects get a line of their own at notice level or above; the rest are
 * counted in the pass's summary line. */
#define RECONCILE_LOG_OBJECTS 10

typedef struct Reconcile {
        Manager *m;
        Plan plan;
        unsigned logged;
        size_t restored, failed;
} Reconcile;

_printf_(5, 6) static void log_object(Manager *m, int level, int error, const Object *o, const char *format, ...) {
        char text[OBJECT_STRLEN], object[OBJECT_STRLEN + 32], table[48], family[32], msg[512];
        va_list ap;

        object_to_string(o, manager_ifname(m, o->oif), text);
        snprintf(object, sizeof(object), "VPNPOLICY_OBJECT=%s", text);
        snprintf(table, sizeof(table), "VPNPOLICY_TABLE=%u", o->table);
        snprintf(family, sizeof(family), "VPNPOLICY_FAMILY=%s", family_to_string(o->family));
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        (void) log_fields(level, error, FIELDS(object, table, family), "%s: %s", msg, text);
}

static bool may_log(Reconcile *c) {
        return c->logged++ < RECONCILE_LOG_OBJECTS;
}

static void on_throttle(Record *r, void *userdata) {
        Manager *m = userdata;
        Object o;

        record_to_object(r, VPNPOLICY_PROTO, &o);
        log_object(m, LOG_WARNING, 0, &o,
                   "Object keeps being deleted by another process, restoring it at most twice a second");
}

static int build_op(size_t index, struct nlmsghdr *nlh, void *userdata) {
        static const uint16_t types[_OBJECT_KIND_MAX][_OP_MAX] = {
                [OBJECT_RULE] = { RTM_NEWRULE, RTM_NEWRULE, RTM_DELRULE },
                [OBJECT_ROUTE] = { RTM_NEWROUTE, RTM_NEWROUTE, RTM_DELROUTE },
        };
        /* EXCL on add: never take over, or duplicate, an equal object someone else made
         * (fib_nl_newrule() adds duplicate rules unless asked not to). */
        static const uint16_t flags[_OP_MAX] = {
                [OP_ADD] = NLM_F_CREATE | NLM_F_EXCL,
                [OP_REPLACE] = NLM_F_REPLACE,
                [OP_DELETE] = 0,
        };
        Reconcile *c = userdata;
        const Op *op = &c->plan.ops[index];
        Object o;

        record_to_object(op->record, VPNPOLICY_PROTO, &o);
        /* A delete names the identity and our protocol only: the kernel matches every attribute a delete
         * gives (fib_table_delete() in net/ipv4/fib_trie.c, ip6_route_del() in net/ipv6/route.c), and what
         * it holds may not be the record's content (unwanted while the kernel held something else). */
        if (op->action == OP_DELETE && o.kind == OBJECT_ROUTE) {
                o.type = RTN_UNSPEC;
                o.oif = 0;
                o.onlink = o.has_gateway = o.has_prefsrc = false;
        }
        nlh->nlmsg_type = types[o.kind][op->action];
        nlh->nlmsg_flags = flags[op->action];
        return o.kind == OBJECT_RULE ? rule_to_netlink(&o, nlh) : route_to_netlink(&o, nlh);
}

static void ack_text(const Op *op, int error, const char *ext_ack, char text[static 256]) {
        if (error == -EEXIST)
                /* Our cache follows every event and is re-read, so this is an equal object that is not ours
                 * (another protocol tag): we neither take it over nor remove it. */
                snprintf(text, 256, "add: an equal object that is not ours is in the way");
        else
                snprintf(text, 256, "%s: %s%s%s", op_action_to_string(op->action), strerror(-error),
                         ext_ack ? ": " : "", ext_ack ?: "");
}

static void ack_log(Reconcile *c, const Op *op, AckResult result, int error, const char *text) {
        Object o;

        record_to_object(op->record, VPNPOLICY_PROTO, &o);
        switch (result) {
        case ACK_RESTORED:
                if (may_log(c))
                        log_object(c->m, LOG_NOTICE, 0, &o, "Restored %s that disappeared from the kernel",
                                   object_role_to_string(op->record->role));
                break;
        case ACK_FAILED_FIRST:
                if (may_log(c))
                        log_object(c->m, LOG_WARNING, error, &o, "Failed to %s %s (%s), %s",
                                   op_action_to_string(op->action), object_role_to_string(op->record->role), text,
                                   record_wanted(op->record) ? "retrying" : "ignoring");
                break;
        default:
                break;
        }
}

static void on_ack(size_t index, int error, const char *ext_ack, void *userdata) {
        Reconcile *c = userdata;
        Manager *m = c->m;
        const Op *op = &c->plan.ops[index];
        char text[256] = "";
        AckResult result;

        if (error < 0 && !(op->action == OP_DELETE && (error == -ENOENT || error == -ESRCH)))
                ack_text(op, error, ext_ack, text);
        result = plan_ack(&m->records, &c->plan, index, error, text[0] ? text : NULL);
        m->counters.operations++;
        if (result == ACK_RESTORED) {
                m->counters.restores++;
                c->restored++;
        } else if (result == ACK_FAILED_FIRST || result == ACK_FAILED) {
                m->counters.failed_operations++;
                c->failed++;
                free(m->last_error_text);
                m->last_error_text = strdup(text);
                /* Either someone else's object is in the way or our picture is wrong: have it checked. */
                if (error == -EEXIST)
                        m->verify_soon = true;
        }
        ack_log(c, op, result, error, text);
}

/* One line per pass (a burst of 100,000 routes is one line): at debug level, as routine changes (a tun
 * route when OpenVPN starts, a copy when a client connects) would flood the journal of a busy server; what
 * an operator must see (restores, failures, throttling) has its own lines above. */
static void log_summary(Manager *m, const Reconcile *c) {
        size_t n[_OP_MAX] = {};

        if (!m->ready || c->plan.n == 0 || log_get_max_level() < LOG_DEBUG)
                return;
        for (size_t i = 0; i < c->plan.n; i++)
                n[c->plan.ops[i].action]++;
        log_debug("Sent %zu change(s) to the kernel: %zu added (%zu restored), %zu replaced, %zu removed, %zu failed.",
                  c->plan.n, n[OP_ADD], c->restored, n[OP_REPLACE], n[OP_DELETE], c->failed);
}

uint64_t reconcile_run(Manager *m) {
        Reconcile c = {
                .m = m,
                .plan = { .now = now_monotonic(), .now_realtime = now_realtime(), .on_throttle = on_throttle, .userdata = m },
        };
        uint64_t next;
        int r;

        r = plan_build(&m->records, &c.plan);
        if (r < 0)
                log_error_errno(r, "Failed to plan changes, retrying: %m");
        if (c.plan.n > 0) {
                r = rtnl_send(m->rtnl, c.plan.n, build_op, on_ack, &c);
                if (r < 0) {
                        m->counters.netlink_errors++;
                        m->need_resync = true;
                        log_error_errno(r, "Failed to send %zu changes to the kernel, resyncing: %m", c.plan.n);
                }
        }
        log_summary(m, &c);
        m->counters.restore_throttled += c.plan.throttled;
        next = c.plan.next_retry;
        plan_done(&m->records, &c.plan);
        return next;
}
