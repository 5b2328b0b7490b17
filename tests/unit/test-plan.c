/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The record table (agent/daemon/records.c) and the planner (agent/daemon/plan.c), on tables filled by
 * hand: what the kernel holds comes in as records_held()/records_gone(), what we want as records_want(),
 * and every plan is acked by the test as the kernel would. No root, no netlink. */

#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "plan.h"
#include "records.h"
#include "tests.h"

#define PROTO 211
#define TABLE 200
#define NOW (1000U * 1000000U) /* an arbitrary CLOCK_MONOTONIC time, far from 0 */
#define MSEC 1000U
#define SEC (1000U * 1000U)

enum { ETH1 = 2, TUN5 = 5, TUN6 = 6, TUN7 = 7 };

/* ---- objects ---- */

static InAddrUnion A(int family, const char *s) {
        InAddrUnion a;

        ASSERT(addr_parse(family, s, NULL, &a) >= 0);
        return a;
}

/* A route in iproute2's words: DST (v4 or v6), metric, device (0: left to the kernel), gateway or NULL. */
static Object route(const char *dst, uint32_t table, uint32_t metric, int oif, const char *gw) {
        Object o = {
                .kind = OBJECT_ROUTE,
                .table = table,
                .priority = metric,
                .protocol = PROTO,
                .type = RTN_UNICAST,
                .oif = oif,
        };

        ASSERT(prefix_parse(dst, &o.prefix) >= 0);
        o.family = o.prefix.family;
        o.scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        if (gw) {
                o.has_gateway = true;
                o.gateway = A(o.family, gw);
        }
        return o;
}

static Object default_route(const char *gw, int oif) {
        Object o = route("0.0.0.0/0", TABLE, 0, oif, gw);

        return o;
}

static Object fail_closed(void) {
        Object o = route("0.0.0.0/0", TABLE, UINT32_MAX, 0, NULL);

        o.type = RTN_UNREACHABLE;
        o.scope = RT_SCOPE_UNIVERSE;
        return o;
}

static Object source_rule(const char *src, uint32_t table) {
        Object o = { .kind = OBJECT_RULE, .table = table, .priority = 32765, .protocol = PROTO };

        ASSERT(prefix_parse(src, &o.prefix) >= 0);
        o.family = o.prefix.family;
        return o;
}

static Object iif_rule(const char *ifname) {
        Object o = {
                .kind = OBJECT_RULE,
                .family = AF_INET,
                .table = TABLE,
                .priority = 32765,
                .protocol = PROTO,
                .prefix.family = AF_INET,
        };

        snprintf(o.iifname, sizeof(o.iifname), "%s", ifname);
        return o;
}

/* What the kernel reports for a route we asked for without a device: the device it chose. */
static Object with_oif(Object o, int oif) {
        o.oif = oif;
        return o;
}

static Record *get(RecordTable *t, const Object *o) {
        ObjectKey k = object_key(o);

        return records_get(t, &k);
}

static Record *want(RecordTable *t, const Object *o, ObjectRole role) {
        Record *r = NULL;

        ASSERT_INT(records_want(t, o, role, BLOCK_NONE, &r), 0);
        ASSERT(r && r == get(t, o));
        return r;
}

static void held(RecordTable *t, Object o) {
        records_held(t, &o);
}

static void gone(RecordTable *t, Object o) {
        ObjectKey k = object_key(&o);

        records_gone(t, &k);
}

static Record *want_v(RecordTable *t, Object o, ObjectRole role) {
        return want(t, &o, role);
}

static int want_ret(RecordTable *t, Object o, ObjectRole role, BlockReason block, Record **ret) {
        return records_want(t, &o, role, block, ret);
}

static size_t dirty_count(const RecordTable *t) {
        size_t n = 0;

        for (const Record *r = t->dirty; r; r = r->dirty_next) {
                ASSERT(r->flags & RECORD_DIRTY);
                n++;
        }
        return n;
}

static bool on_oif_list(RecordTable *t, int ifindex, const Record *want_r) {
        for (const Record *r = records_oif_first(t, ifindex); r; r = r->oif_next)
                if (r == want_r)
                        return true;
        return false;
}

/* The record is on the list of ifindex and of no other device in `others` (0-terminated). */
static void assert_on_list_only(RecordTable *t, const Record *r, int ifindex) {
        static const int all[] = { ETH1, TUN5, TUN6, TUN7, 9, 0 };

        for (size_t i = 0; all[i]; i++)
                ASSERT_INT(on_oif_list(t, all[i], r), all[i] == ifindex);
}

/* ---- plans ---- */

static unsigned throttle_calls;

static void count_throttle(Record *r, void *userdata) {
        throttle_calls++;
}

static Plan plan_at(RecordTable *t, uint64_t now) {
        Plan p = { .now = now, .now_realtime = 1700000000ULL * SEC, .on_throttle = count_throttle };

        ASSERT_INT(plan_build(t, &p), 0);
        return p;
}

/* The op for record r in p, or -1. */
static int op_of(const Plan *p, const Record *r) {
        for (size_t i = 0; i < p->n; i++)
                if (p->ops[i].record == r)
                        return p->ops[i].action;
        return -1;
}

/* Acks every op with error (0: done), as the kernel does, and frees the plan. */
static void ack_all(RecordTable *t, Plan *p, int error) {
        for (size_t i = 0; i < p->n; i++)
                (void) plan_ack(t, p, i, error, error ? "test error" : NULL);
        plan_done(t, p);
}

/* One pass: plan at now, expect exactly one op of action for r, ack it with error; the ack's result. */
static AckResult pass_one(RecordTable *t, uint64_t now, Record *r, OpAction action, int error) {
        Plan p = plan_at(t, now);
        AckResult res;

        ASSERT_INT(p.n, 1);
        ASSERT(p.ops[0].record == r);
        ASSERT_INT(p.ops[0].action, action);
        ASSERT(r->flags & RECORD_INFLIGHT);
        res = plan_ack(t, &p, 0, error, error ? "test error" : NULL);
        plan_done(t, &p);       /* unpins r, and frees it if nothing refers to it any more */
        return res;
}

static void assert_no_ops(RecordTable *t, uint64_t now) {
        Plan p = plan_at(t, now);

        ASSERT_INT(p.n, 0);
        plan_done(t, &p);
}

/* ---- want, held, gone ---- */

static void test_want_held_gone(void) {
        RecordTable t;
        Object o = default_route("192.168.1.1", ETH1);
        Record *r;

        records_init(&t);
        r = want(&t, &o, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(t.n_wanted, 1);
        ASSERT(record_wanted(r) && !record_present(r));
        ASSERT_INT(r->role, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(pass_one(&t, NOW, r, OP_ADD, 0), ACK_DONE);
        ASSERT(record_present(r));
        ASSERT(r->present_since != 0);
        ASSERT_INT(r->held_oif, ETH1);
        ASSERT_INT(r->restores, 0);

        /* The echo of our own add changes nothing. */
        records_held(&t, &o);
        ASSERT(record_present(r));
        assert_no_ops(&t, NOW);

        /* Someone deletes it: absent, and the add that follows is a restore. */
        gone(&t, o);
        ASSERT(!record_present(r) && record_wanted(r));
        ASSERT_INT(r->present_since, 0);
        ASSERT_INT(pass_one(&t, NOW + SEC, r, OP_ADD, 0), ACK_RESTORED);
        ASSERT_INT(r->restores, 1);
        ASSERT(record_present(r));

        /* The kernel holds something else under its identity (someone replaced it): replaced back. */
        {
                Object other = default_route("192.168.1.2", ETH1);

                records_held(&t, &other);
                ASSERT(!record_present(r) && (r->flags & RECORD_HELD));
                ASSERT_INT(pass_one(&t, NOW + 2 * SEC, r, OP_REPLACE, 0), ACK_DONE);
                ASSERT(record_present(r));
                ASSERT_INT(r->restores, 1); /* a replace is no restore */
        }

        /* Unwanted: deleted, then freed once the kernel no longer holds it. */
        records_unwant(&t, &o, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(t.n_wanted, 0);
        ASSERT(get(&t, &o) == r);
        ASSERT_INT(pass_one(&t, NOW + 3 * SEC, r, OP_DELETE, 0), ACK_DONE);
        ASSERT(!get(&t, &o));
        ASSERT_INT(records_count(&t), 0);
        records_done(&t);
}

/* A rule by input device has its own identity: the device name, not a source prefix. */
static void test_iif_rule_identity(void) {
        RecordTable t;
        Object a = iif_rule("tun5"), b = iif_rule("tun6"), s = source_rule("0.0.0.0/0", TABLE), back;
        Record *ra, *rb, *rs;

        records_init(&t);
        ra = want(&t, &a, ROLE_IIF_RULE);
        rb = want(&t, &b, ROLE_IIF_RULE);
        rs = want(&t, &s, ROLE_SOURCE_RULE);
        ASSERT(ra != rb && ra != rs && rb != rs);
        record_to_object(ra, PROTO, &back);
        ASSERT_STREQ(back.iifname, "tun5");
        ASSERT(object_content_equal(&back, &a));
        records_done(&t);
}

/* ---- adoption: what the kernel held before we wanted it ---- */

static void test_adopt_equal(void) {
        RecordTable t;
        Object rule = source_rule("10.10.10.0/24", TABLE), dflt = default_route("192.168.1.1", 0);
        Record *rr, *rd;

        records_init(&t);
        /* At start the dump comes first: stale records, with the kernel's content. */
        records_held(&t, &rule);
        held(&t, with_oif(dflt, ETH1));
        rr = get(&t, &rule);
        rd = get(&t, &dflt);
        ASSERT(rr && rd);
        ASSERT_INT(rr->role, ROLE_STALE);
        ASSERT(!record_wanted(rr));
        ASSERT_INT(rd->held_oif, ETH1);
        assert_on_list_only(&t, rd, ETH1);

        /* Wanted with the content the kernel holds (a device left to the kernel may be any): no op. */
        want(&t, &rule, ROLE_SOURCE_RULE);
        want(&t, &dflt, ROLE_DEFAULT_ROUTE);
        ASSERT(record_present(rr) && record_present(rd));
        assert_no_ops(&t, NOW);
        ASSERT(rr->present_since != 0 && rd->present_since != 0);
        ASSERT_INT(rr->restores + rd->restores, 0);
        /* Adopted and then deleted by someone: that add is a restore. */
        gone(&t, rule);
        ASSERT_INT(pass_one(&t, NOW, rr, OP_ADD, 0), ACK_RESTORED);
        records_done(&t);
}

static void test_adopt_different(void) {
        RecordTable t;
        Object held = default_route("192.168.1.9", ETH1), wanted = default_route("192.168.1.1", ETH1);
        Object tun_held = route("10.8.0.0/24", TABLE, 0, TUN5, NULL), tun_wanted = tun_held;
        Record *r, *rt;

        records_init(&t);
        records_held(&t, &held);
        records_held(&t, &tun_held);
        r = want(&t, &wanted, ROLE_DEFAULT_ROUTE);
        /* The kernel holds it on another device than we want now. */
        tun_wanted.oif = TUN6;
        rt = want(&t, &tun_wanted, ROLE_TUN_ROUTE);
        ASSERT(!record_present(r) && (r->flags & RECORD_HELD));
        ASSERT(!record_present(rt));
        {
                Plan p = plan_at(&t, NOW);

                ASSERT_INT(p.n, 2);
                ASSERT_INT(op_of(&p, r), OP_REPLACE);
                ASSERT_INT(op_of(&p, rt), OP_REPLACE);
                ack_all(&t, &p, 0);
        }
        ASSERT(record_present(r) && record_present(rt));
        ASSERT_INT(r->restores + rt->restores, 0);
        ASSERT_INT(rt->held_oif, TUN6);
        assert_on_list_only(&t, rt, TUN6);
        records_done(&t);
}

/* Held and never wanted: deleted, and freed after the ack. */
static void test_stale_deleted(void) {
        RecordTable t;
        Object o = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.2");
        Record *r;

        records_init(&t);
        records_held(&t, &o);
        r = get(&t, &o);
        ASSERT_INT(pass_one(&t, NOW, r, OP_DELETE, 0), ACK_DONE);
        ASSERT_INT(records_count(&t), 0);
        /* Its delete failing because it is gone already is what we wanted. */
        records_held(&t, &o);
        r = get(&t, &o);
        ASSERT_INT(pass_one(&t, NOW, r, OP_DELETE, -ESRCH), ACK_DONE);
        ASSERT_INT(records_count(&t), 0);
        records_done(&t);
}

/* ---- clashes ---- */

/* A mirror cannot take a policy object's identity: refused, counted, nothing changes. */
static void test_clash_mirror_refused(void) {
        RecordTable t;
        Object base = default_route("192.168.1.1", ETH1);
        Object mirror = route("0.0.0.0/0", TABLE, 0, TUN5, "10.8.0.5");
        Object tun = route("10.8.0.0/24", TABLE, 0, TUN5, NULL);
        Object mirror_tun = route("10.8.0.0/24", TABLE, 0, TUN5, "10.8.0.5");
        Object fc = fail_closed(), fc_clash = fc;
        Record *r, *rt, *got = NULL;

        records_init(&t);
        r = want(&t, &base, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(pass_one(&t, NOW, r, OP_ADD, 0), ACK_DONE);

        ASSERT_INT(records_want(&t, &mirror, ROLE_MIRROR_ROUTE, BLOCK_NONE, &got), -EBUSY);
        ASSERT(got == NULL);
        ASSERT_INT(t.clashes, 1);
        ASSERT_INT(t.displaced, 0);
        ASSERT_INT(r->role, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(r->oif, ETH1);
        ASSERT(record_present(r));
        assert_on_list_only(&t, r, ETH1);
        assert_no_ops(&t, NOW);
        /* Nor can a tun route; nor the mirror's unwant remove it. */
        ASSERT_INT(want_ret(&t, route("0.0.0.0/0", TABLE, 0, TUN5, NULL), ROLE_TUN_ROUTE,
                                BLOCK_NONE, NULL), -EBUSY);
        ASSERT_INT(t.clashes, 2);
        records_unwant(&t, &mirror, ROLE_MIRROR_ROUTE);
        records_unwant(&t, &mirror, ROLE_TUN_ROUTE);
        ASSERT(record_wanted(r) && record_present(r));
        ASSERT_INT(t.n_wanted, 1);

        /* Equal precedence, another role: refused as well (one policy object never displaces another). */
        fc_clash.priority = 0;
        ASSERT_INT(records_want(&t, &fc_clash, ROLE_FAIL_CLOSED, BLOCK_NONE, NULL), -EBUSY);
        ASSERT_INT(t.clashes, 3);
        ASSERT_INT(r->role, ROLE_DEFAULT_ROUTE);
        want(&t, &fc, ROLE_FAIL_CLOSED);

        /* A mirror cannot take a tun route's identity either. */
        rt = want(&t, &tun, ROLE_TUN_ROUTE);
        ASSERT_INT(records_want(&t, &mirror_tun, ROLE_MIRROR_ROUTE, BLOCK_NONE, NULL), -EBUSY);
        ASSERT_INT(t.clashes, 4);
        ASSERT(!(rt->flags & RECORD_GATEWAY));
        records_done(&t);
}

/* A policy object takes over the identity a mirror holds: replaced with the policy's content. */
static void test_clash_policy_takes_over(void) {
        RecordTable t;
        Object mirror = route("0.0.0.0/0", TABLE, 0, TUN5, "10.8.0.5");
        Object base = default_route("192.168.1.1", ETH1);
        Record *r, *r2;

        records_init(&t);
        r = want(&t, &mirror, ROLE_MIRROR_ROUTE);
        ASSERT_INT(pass_one(&t, NOW, r, OP_ADD, 0), ACK_DONE);
        assert_on_list_only(&t, r, TUN5);

        r2 = want(&t, &base, ROLE_DEFAULT_ROUTE);
        ASSERT(r2 == r);
        ASSERT_INT(t.displaced, 1);
        ASSERT_INT(t.clashes, 0);
        ASSERT_INT(r->role, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(t.n_wanted, 1);
        ASSERT(!record_present(r));
        assert_on_list_only(&t, r, ETH1);
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, 0), ACK_DONE);
        ASSERT(record_present(r));
        {
                Object k;

                record_to_object(r, PROTO, &k);
                ASSERT(object_content_equal(&k, &base));
        }
        /* The mirror's owner giving up its claim later does not touch the policy's object. */
        records_unwant(&t, &mirror, ROLE_MIRROR_ROUTE);
        ASSERT(record_wanted(r) && record_present(r));
        assert_no_ops(&t, NOW);
        /* And the mirror cannot take it back. */
        ASSERT_INT(records_want(&t, &mirror, ROLE_MIRROR_ROUTE, BLOCK_NONE, NULL), -EBUSY);

        /* A tun route takes over a mirror's identity too (higher precedence). */
        {
                Object m2 = route("10.8.0.0/24", TABLE, 0, TUN5, "10.8.0.5");
                Object tun = route("10.8.0.0/24", TABLE, 0, TUN5, NULL);
                Record *rm = want(&t, &m2, ROLE_MIRROR_ROUTE);

                ASSERT(want(&t, &tun, ROLE_TUN_ROUTE) == rm);
                ASSERT_INT(rm->role, ROLE_TUN_ROUTE);
                ASSERT(!(rm->flags & RECORD_GATEWAY));
                ASSERT_INT(t.displaced, 2);
        }
        records_done(&t);
}

/* One tun route per subnet: a second device's claim is refused until the first gives it up; only the
 * holder (role and device) can give it up. Mirrors follow the main table: the newest wins. */
static void test_clash_tun_routes(void) {
        RecordTable t;
        Object a = route("10.8.0.0/24", TABLE, 0, TUN5, NULL), b = with_oif(a, TUN6);
        Object ma = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.2"), mb = with_oif(ma, TUN6);
        Record *r, *rm;

        records_init(&t);
        r = want(&t, &a, ROLE_TUN_ROUTE);
        ASSERT_INT(pass_one(&t, NOW, r, OP_ADD, 0), ACK_DONE);
        ASSERT_INT(records_want(&t, &b, ROLE_TUN_ROUTE, BLOCK_NONE, NULL), -EBUSY);
        ASSERT_INT(t.clashes, 1);
        ASSERT_INT(r->oif, TUN5);
        assert_on_list_only(&t, r, TUN5);
        /* The same claim again is no clash and no change. */
        ASSERT(want(&t, &a, ROLE_TUN_ROUTE) == r);
        ASSERT_INT(t.clashes, 1);
        assert_no_ops(&t, NOW);

        /* Unwant by another device, or by another role on the same device: nothing happens. */
        records_unwant(&t, &b, ROLE_TUN_ROUTE);
        records_unwant(&t, &a, ROLE_MIRROR_ROUTE);
        records_unwant(&t, &a, ROLE_DEFAULT_ROUTE);
        ASSERT(record_wanted(r) && record_present(r));
        /* By the holder: deleted. Then the second device's claim is taken. */
        records_unwant(&t, &a, ROLE_TUN_ROUTE);
        ASSERT(!record_wanted(r));
        ASSERT(want(&t, &b, ROLE_TUN_ROUTE) == r);
        ASSERT_INT(r->oif, TUN6);
        assert_on_list_only(&t, r, TUN6);
        /* held, not ours any more in content: a replace moves it */
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, 0), ACK_DONE);
        ASSERT(record_present(r));
        ASSERT_INT(r->held_oif, TUN6);

        /* Mirrors: a route moved to another device in the main table moves its copy. */
        rm = want(&t, &ma, ROLE_MIRROR_ROUTE);
        ASSERT_INT(pass_one(&t, NOW, rm, OP_ADD, 0), ACK_DONE);
        ASSERT(want(&t, &mb, ROLE_MIRROR_ROUTE) == rm);
        ASSERT_INT(t.clashes, 1);
        assert_on_list_only(&t, rm, TUN6);
        ASSERT_INT(pass_one(&t, NOW, rm, OP_REPLACE, 0), ACK_DONE);
        /* The old device's unwant is not the holder's. */
        records_unwant(&t, &ma, ROLE_MIRROR_ROUTE);
        ASSERT(record_wanted(rm));
        records_unwant(&t, &mb, ROLE_MIRROR_ROUTE);
        ASSERT(!record_wanted(rm));
        records_done(&t);
}

/* ---- ordering ---- */

static void test_ordering(void) {
        RecordTable t;
        Object stale1 = route("172.16.9.0/24", TABLE, 0, TUN5, "10.8.0.9");
        Object stale2 = source_rule("10.99.0.0/24", TABLE);
        Object rule = source_rule("10.10.10.0/24", TABLE), tun = route("10.8.0.0/24", TABLE, 0, TUN5, NULL);
        Object dflt = default_route("192.168.1.1", ETH1);
        Object mirror = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.2");
        Object fc = fail_closed(), v6 = route("fd00:aaaa::/64", TABLE, 1024, TUN5, "fd00:4242:4242:4242::2");
        Plan p;

        records_init(&t);
        /* Wanted first, gateway routes before device routes, so that sorting has work to do. */
        want(&t, &mirror, ROLE_MIRROR_ROUTE);
        want(&t, &dflt, ROLE_DEFAULT_ROUTE);
        want(&t, &v6, ROLE_MIRROR_ROUTE);
        want(&t, &tun, ROLE_TUN_ROUTE);
        want(&t, &fc, ROLE_FAIL_CLOSED);
        want(&t, &rule, ROLE_SOURCE_RULE);
        records_held(&t, &stale1);
        records_held(&t, &stale2);
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 8);
        for (size_t i = 0; i < p.n; i++) {
                const Op *op = &p.ops[i];
                int rank = op->action == OP_DELETE ? 0 : op->record->flags & RECORD_GATEWAY ? 2 : 1;

                if (i < 2)
                        ASSERT_INT(rank, 0);
                else if (i < 5)
                        ASSERT_INT(rank, 1); /* the rule, the tun route, the fail-closed route */
                else
                        ASSERT_INT(rank, 2); /* the default route and the two copies via gateways */
                ASSERT_INT(op->action, i < 2 ? OP_DELETE : OP_ADD);
        }
        ASSERT_INT(op_of(&p, get(&t, &rule)) >= 0, 1);
        ack_all(&t, &p, 0);
        ASSERT_INT(records_count(&t), 6);
        records_done(&t);
}

/* ---- restores: rate-limited per object ---- */

static void test_restore_rate_limit(void) {
        RecordTable t;
        Object o = source_rule("10.10.10.0/24", TABLE);
        ObjectKey key = object_key(&o);
        uint64_t now = NOW, due;
        Record *r;
        Plan p;

        records_init(&t);
        throttle_calls = 0;
        r = want(&t, &o, ROLE_SOURCE_RULE);
        ASSERT_INT(pass_one(&t, now, r, OP_ADD, 0), ACK_DONE);
        /* A burst of 10 restores at once. */
        for (unsigned i = 0; i < 10; i++) {
                records_gone(&t, &key);
                ASSERT_INT(pass_one(&t, now, r, OP_ADD, 0), ACK_RESTORED);
        }
        ASSERT_INT(r->restores, 10);
        /* The 11th waits half a second (2 a second), and says when. */
        records_gone(&t, &key);
        p = plan_at(&t, now);
        ASSERT_INT(p.n, 0);
        ASSERT_INT(p.throttled, 1);
        ASSERT(p.next_retry > now + 499 * MSEC && p.next_retry <= now + 501 * MSEC);
        due = p.next_retry;
        plan_done(&t, &p);
        ASSERT_INT(throttle_calls, 1);
        /* Marked dirty meanwhile (another event): still waits. */
        records_mark_dirty(&t, r);
        p = plan_at(&t, now + 100 * MSEC);
        ASSERT_INT(p.n, 0);
        ASSERT_INT(p.next_retry, due);
        plan_done(&t, &p);
        /* The retry timer: not yet, then due. */
        ASSERT_INT(plan_retry_due(&t, now + 200 * MSEC), due);
        ASSERT_INT(dirty_count(&t), 0);
        ASSERT_INT(plan_retry_due(&t, due), 0);
        ASSERT_INT(dirty_count(&t), 1);
        ASSERT_INT(pass_one(&t, due, r, OP_ADD, 0), ACK_RESTORED);
        ASSERT_INT(r->restores, 11);
        /* And so on, 2 a second: gone again at once waits another half second. */
        now = due;
        records_gone(&t, &key);
        p = plan_at(&t, now);
        ASSERT_INT(p.n, 0);
        ASSERT(p.next_retry > now + 499 * MSEC && p.next_retry <= now + 501 * MSEC);
        plan_done(&t, &p);
        ASSERT_INT(throttle_calls, 1); /* logged once per object */
        /* After a quiet while the burst is back: 10 more at once. */
        now += 60 * SEC;
        for (unsigned i = 0; i < 10; i++) {
                if (i > 0)
                        records_gone(&t, &key);
                ASSERT_INT(plan_retry_due(&t, now), 0);
                ASSERT_INT(pass_one(&t, now, r, OP_ADD, 0), ACK_RESTORED);
        }
        records_gone(&t, &key);
        p = plan_at(&t, now);
        ASSERT_INT(p.n, 0);
        plan_done(&t, &p);
        records_done(&t);
}

/* A first add (never held) and a re-add after a block are no restores and are not rate-limited. */
static void test_block(void) {
        RecordTable t;
        Object o = route("10.8.0.0/24", TABLE, 0, TUN5, NULL);
        Record *r = NULL;

        records_init(&t);
        ASSERT_INT(records_want(&t, &o, ROLE_TUN_ROUTE, BLOCK_DEVICE_DOWN, &r), 0);
        assert_no_ops(&t, NOW);
        ASSERT_INT(r->block, BLOCK_DEVICE_DOWN);
        records_set_block(&t, r, BLOCK_NONE);
        ASSERT_INT(dirty_count(&t), 1);
        ASSERT_INT(pass_one(&t, NOW, r, OP_ADD, 0), ACK_DONE);
        ASSERT(record_present(r));
        /* The device goes down: the kernel drops the route, we wait. Up again: added, no restore. */
        records_set_block(&t, r, BLOCK_DEVICE_DOWN);
        records_gone_record(&t, r);
        assert_no_ops(&t, NOW);
        records_set_block(&t, r, BLOCK_NONE);
        ASSERT_INT(pass_one(&t, NOW, r, OP_ADD, 0), ACK_DONE);
        ASSERT_INT(r->restores, 0);
        /* Blocked while held: left alone, neither deleted nor replaced. */
        records_set_block(&t, r, BLOCK_DEVICE_DOWN);
        assert_no_ops(&t, NOW);
        ASSERT(r->flags & RECORD_HELD);
        records_done(&t);
}

/* ---- failures: retried with backoff ---- */

static void test_retry_backoff(void) {
        RecordTable t;
        Object o = default_route("192.168.1.1", ETH1);
        uint64_t now = NOW, expect = 100 * MSEC;
        Record *r;
        Plan p;

        records_init(&t);
        r = want(&t, &o, ROLE_DEFAULT_ROUTE);
        ASSERT_INT(pass_one(&t, now, r, OP_ADD, -ENETUNREACH), ACK_FAILED_FIRST);
        ASSERT_INT(record_failures(r), 1);
        ASSERT_INT(t.n_failing, 1);
        ASSERT_INT(r->trouble->last_error, -ENETUNREACH);
        ASSERT_STREQ(r->trouble->last_error_text, "test error");
        ASSERT(!record_present(r));
        for (unsigned i = 2; i <= 12; i++) {
                uint64_t at = now + expect;

                /* Before it is due: the timer says when, nothing is sent, even when marked dirty. */
                ASSERT_INT(plan_retry_due(&t, at - 1), at);
                records_mark_dirty(&t, r);
                p = plan_at(&t, at - 1);
                ASSERT_INT(p.n, 0);
                ASSERT_INT(p.next_retry, at);
                plan_done(&t, &p);
                ASSERT_INT(plan_retry_due(&t, at), 0);
                ASSERT_INT(pass_one(&t, at, r, OP_ADD, -ENETUNREACH), ACK_FAILED);
                ASSERT_INT(record_failures(r), i);
                ASSERT_INT(t.n_failing, 1);
                now = at;
                expect = expect * 2 > 30 * SEC ? 30 * SEC : expect * 2;
        }
        ASSERT_INT(expect, 30 * SEC); /* 100 ms * 2^11 is beyond the cap */
        ASSERT_INT(r->trouble->retry_at, now + 30 * SEC);
        /* A device appeared: retried at once. */
        plan_retry_failing(&t);
        ASSERT_INT(r->trouble->retry_at, 0);
        ASSERT_INT(pass_one(&t, now + 1, r, OP_ADD, 0), ACK_DONE);
        ASSERT_INT(record_failures(r), 0);
        ASSERT_INT(t.n_failing, 0);
        ASSERT(record_present(r));
        ASSERT_INT(r->restores, 0); /* never held before: not a restore */
        records_done(&t);
}

/* n_failing counts the wanted records whose last operation failed, whatever happens to them meanwhile:
 * plan_retry_failing() relies on it. */
static void test_failing_count(void) {
        RecordTable t;
        Object o = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.2");
        Object o2 = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.3");
        Object k = o;
        Record *r;

        records_init(&t);
        /* Held by the kernel with another content: a replace, and it fails. */
        k.has_gateway = true;
        k.gateway = A(AF_INET, "10.8.0.9");
        records_held(&t, &k);
        r = want(&t, &o, ROLE_MIRROR_ROUTE);
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, -EINVAL), ACK_FAILED_FIRST);
        ASSERT_INT(t.n_failing, 1);
        /* The content changes: the failure count starts again, and so does the table's. */
        ASSERT(want(&t, &o2, ROLE_MIRROR_ROUTE) == r);
        ASSERT_INT(record_failures(r), 0);
        ASSERT_INT(t.n_failing, 0);
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, -EINVAL), ACK_FAILED_FIRST);
        ASSERT_INT(t.n_failing, 1);
        /* Unwanted while failing, wanted again before the delete went out. */
        records_unwant(&t, &o2, ROLE_MIRROR_ROUTE);
        ASSERT_INT(t.n_failing, 0);
        ASSERT(want(&t, &o2, ROLE_MIRROR_ROUTE) == r);
        ASSERT_INT(t.n_failing, 0);
        /* The kernel still holds the first content, not the one this record kept: not present. */
        ASSERT(!record_present(r));
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, -EINVAL), ACK_FAILED_FIRST);
        ASSERT_INT(t.n_failing, 1);
        /* ... so that a device appearing retries it at once. */
        plan_retry_failing(&t);
        ASSERT_INT(pass_one(&t, NOW + 1, r, OP_REPLACE, 0), ACK_DONE);
        ASSERT_INT(t.n_failing, 0);
        ASSERT(record_present(r));
        records_done(&t);
}

/* ---- operations in flight ---- */

/* Unwanted while its add is out: kept until the ack, then deleted. */
static void test_inflight_unwanted(void) {
        RecordTable t;
        Object o = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.2");
        Record *r;
        Plan p;

        records_init(&t);
        r = want(&t, &o, ROLE_MIRROR_ROUTE);
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 1);
        ASSERT(r->flags & RECORD_INFLIGHT);
        /* The device goes while the request is out (events are read between datagrams). */
        records_unwant(&t, &o, ROLE_MIRROR_ROUTE);
        ASSERT(get(&t, &o) == r);
        ASSERT(r->flags & RECORD_INFLIGHT);
        /* A plan made meanwhile leaves it alone. */
        {
                Plan q = plan_at(&t, NOW);

                ASSERT_INT(q.n, 0);
                plan_done(&t, &q);
        }
        ASSERT(get(&t, &o) == r);
        ASSERT_INT(plan_ack(&t, &p, 0, 0, NULL), ACK_DONE);
        plan_done(&t, &p);
        ASSERT(get(&t, &o) == r);
        ASSERT(r->flags & RECORD_HELD);
        ASSERT_INT(pass_one(&t, NOW, r, OP_DELETE, 0), ACK_DONE);
        ASSERT(!get(&t, &o));

        /* The same, and the add fails: nothing is held, the record goes with the plan. */
        r = want(&t, &o, ROLE_MIRROR_ROUTE);
        p = plan_at(&t, NOW);
        records_unwant(&t, &o, ROLE_MIRROR_ROUTE);
        (void) plan_ack(&t, &p, 0, -ENETUNREACH, "x");
        ASSERT_INT(t.n_failing, 0);
        plan_done(&t, &p);
        ASSERT(!get(&t, &o));
        ASSERT_INT(records_count(&t), 0);
        records_done(&t);
}

/* The content changes while the add is out: what the kernel got is the old content, replaced next. */
static void test_inflight_changed(void) {
        RecordTable t;
        Object a = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.2");
        Object b = route("172.16.1.0/24", TABLE, 0, TUN5, "10.8.0.3");
        Record *r;
        Plan p;

        records_init(&t);
        r = want(&t, &a, ROLE_MIRROR_ROUTE);
        p = plan_at(&t, NOW);
        ASSERT(want(&t, &b, ROLE_MIRROR_ROUTE) == r);
        ASSERT(r->flags & RECORD_CHANGED);
        ASSERT_INT(plan_ack(&t, &p, 0, 0, NULL), ACK_DONE);
        plan_done(&t, &p);
        ASSERT(!record_present(r));
        ASSERT(r->flags & RECORD_HELD);
        /* The echo of the old content does not make it present either. */
        records_held(&t, &a);
        ASSERT(!record_present(r));
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, 0), ACK_DONE);
        ASSERT(record_present(r));
        ASSERT(!(r->flags & RECORD_CHANGED));
        {
                Object k;

                record_to_object(r, PROTO, &k);
                ASSERT(object_content_equal(&k, &b));
        }
        /* A change while a replace is out: replaced once more. */
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 0);
        plan_done(&t, &p);
        records_gone_record(&t, r);
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 1);
        ASSERT(want(&t, &a, ROLE_MIRROR_ROUTE) == r);
        ASSERT_INT(plan_ack(&t, &p, 0, 0, NULL), ACK_RESTORED);
        plan_done(&t, &p);
        ASSERT(!record_present(r));
        ASSERT_INT(pass_one(&t, NOW, r, OP_REPLACE, 0), ACK_DONE);
        ASSERT(record_present(r));
        records_done(&t);
}

/* ---- per-device lists ---- */

static void test_oif_lists(void) {
        RecordTable t;
        Object tun = route("10.8.0.0/24", TABLE, 0, TUN5, NULL), dflt = default_route("192.168.1.1", 0);
        Object stale = route("172.16.9.0/24", TABLE, 0, 9, NULL), rule = source_rule("10.10.10.0/24", TABLE);
        Record *rt, *rd, *rs, *rr, *r, *next;
        size_t n;

        records_init(&t);
        rt = want(&t, &tun, ROLE_TUN_ROUTE);
        rd = want(&t, &dflt, ROLE_DEFAULT_ROUTE);
        rr = want(&t, &rule, ROLE_SOURCE_RULE);
        assert_on_list_only(&t, rt, TUN5);
        assert_on_list_only(&t, rd, 0);         /* no device until the kernel picks one */
        assert_on_list_only(&t, rr, 0);         /* rules are on no list */
        ASSERT(!records_oif_first(&t, ETH1));

        /* The kernel's choice of device for the default route puts it on that list, and moves it. */
        held(&t, with_oif(dflt, ETH1));
        assert_on_list_only(&t, rd, ETH1);
        ASSERT(record_present(rd));
        held(&t, with_oif(dflt, TUN7));
        assert_on_list_only(&t, rd, TUN7);
        ASSERT(record_present(rd));             /* any device satisfies "left to the kernel" */

        /* One tun route per subnet: another device's claim does not move it; the holder gives it up. */
        ASSERT_INT(want_ret(&t, with_oif(tun, TUN6), ROLE_TUN_ROUTE, BLOCK_NONE, NULL), -EBUSY);
        assert_on_list_only(&t, rt, TUN5);
        records_unwant(&t, &tun, ROLE_TUN_ROUTE);
        ASSERT(get(&t, &tun) == rt);            /* on the dirty list still */
        {
                Plan p = plan_at(&t, NOW);      /* the rule's add; the tun route is looked at and freed */

                ASSERT_INT(p.n, 1);
                ASSERT(p.ops[0].record == rr);
                ack_all(&t, &p, 0);
        }
        ASSERT(!get(&t, &tun));                 /* never held, nothing refers to it */
        ASSERT(!records_oif_first(&t, TUN5));
        rt = want_v(&t, with_oif(tun, TUN6), ROLE_TUN_ROUTE);
        assert_on_list_only(&t, rt, TUN6);

        /* A stale record is on the list of the device the kernel holds it on; adopted with the device left
         * to the kernel, it stays there. */
        records_held(&t, &stale);
        rs = get(&t, &stale);
        assert_on_list_only(&t, rs, 9);
        ASSERT(want_v(&t, with_oif(stale, 0), ROLE_MIRROR_ROUTE) == rs);
        assert_on_list_only(&t, rs, 9);
        ASSERT(record_present(rs));
        /* ... and wanted on another: moved. */
        ASSERT(want_v(&t, with_oif(stale, TUN7), ROLE_MIRROR_ROUTE) == rs);
        assert_on_list_only(&t, rs, TUN7);

        /* Freeing records while walking a list, the next taken first: three copies waiting for their
         * device to come up (wanted, not held, not dirty), unwanted one by one. */
        for (unsigned i = 0; i < 3; i++) {
                Object m = route("172.16.10.0/24", TABLE, i, TUN7, NULL);

                ASSERT_INT(records_want(&t, &m, ROLE_MIRROR_ROUTE, BLOCK_DEVICE_DOWN, NULL), 0);
        }
        {
                Plan p = plan_at(&t, NOW);      /* only the new tun route and the moved copy */

                ASSERT_INT(p.n, 2);
                ASSERT_INT(op_of(&p, rt), OP_ADD);
                ASSERT_INT(op_of(&p, rs), OP_REPLACE);
                ack_all(&t, &p, 0);
        }
        ASSERT(record_present(rs));
        n = 0;
        for (r = records_oif_first(&t, TUN7); r; r = next) {
                next = r->oif_next;
                if (r->role == ROLE_MIRROR_ROUTE && !(r->flags & RECORD_HELD)) {
                        records_unwant_record(&t, r);
                        n++;
                }
        }
        ASSERT_INT(n, 3);
        /* What is left on the list: the stale record adopted as a copy, and the default route. */
        n = 0;
        for (r = records_oif_first(&t, TUN7); r; r = r->oif_next) {
                ASSERT(r == rd || r == rs);
                n++;
        }
        ASSERT_INT(n, 2);
        ASSERT_INT(records_count(&t), 4);
        records_done(&t);
}

/* ---- the dirty list ---- */

static void test_dirty_no_duplicates(void) {
        RecordTable t;
        Object a = source_rule("10.10.10.0/24", TABLE), b = source_rule("10.20.0.0/24", TABLE);
        Record *ra, *rb;

        records_init(&t);
        ra = want(&t, &a, ROLE_SOURCE_RULE);
        rb = want(&t, &b, ROLE_SOURCE_RULE);
        ASSERT_INT(dirty_count(&t), 2);
        records_mark_dirty(&t, ra);
        records_mark_dirty(&t, rb);
        want(&t, &a, ROLE_SOURCE_RULE);
        records_held(&t, &a);
        records_gone_record(&t, ra);
        records_set_block(&t, ra, BLOCK_NO_GATEWAY);
        records_set_block(&t, ra, BLOCK_NONE);
        ASSERT_INT(dirty_count(&t), 2);
        ASSERT(t.dirty == rb);  /* newest first */
        {
                Plan p = plan_at(&t, NOW);

                ASSERT_INT(p.n, 2);
                ASSERT_INT(dirty_count(&t), 0);
                ASSERT(!(ra->flags & RECORD_DIRTY) && !(rb->flags & RECORD_DIRTY));
                ack_all(&t, &p, 0);
        }
        /* Present and unchanged: wanting again marks nothing. */
        want(&t, &a, ROLE_SOURCE_RULE);
        records_held(&t, &a);
        ASSERT_INT(dirty_count(&t), 0);
        /* After a full dump every record is looked at, the dirty list dropped without duplicates. */
        records_gone_record(&t, ra);
        t.all_dirty = true;
        {
                Plan p = plan_at(&t, NOW);

                ASSERT_INT(p.n, 1);
                ASSERT(p.ops[0].record == ra);
                ASSERT_INT(dirty_count(&t), 0);
                ASSERT(!t.all_dirty);
                ack_all(&t, &p, 0);
        }
        records_done(&t);
}

/* ---- freeing ---- */

static void test_gc(void) {
        RecordTable t;
        Object o = route("172.16.1.0/24", TABLE, 0, TUN5, NULL);
        Record *r;
        Plan p;

        records_init(&t);
        /* Wanted: kept. */
        r = want(&t, &o, ROLE_MIRROR_ROUTE);
        records_gc(&t, r);
        ASSERT(get(&t, &o) == r);
        /* Unwanted, never held, still on the dirty list: kept until the plan takes the list. */
        ASSERT(r->flags & RECORD_DIRTY);
        records_unwant_record(&t, r);
        ASSERT(get(&t, &o) == r);
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 0);
        plan_done(&t, &p);
        ASSERT(!get(&t, &o));

        /* Held and not wanted: kept (to be deleted). Gone: freed at once if not dirty. */
        records_held(&t, &o);
        r = get(&t, &o);
        records_gc(&t, r);
        ASSERT(get(&t, &o) == r);
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 1);
        /* In flight: kept while the kernel reports it gone. */
        records_gone_record(&t, r);
        ASSERT(get(&t, &o) == r);
        records_gc(&t, r);
        ASSERT(get(&t, &o) == r);
        (void) plan_ack(&t, &p, 0, -ESRCH, NULL);
        plan_done(&t, &p);
        ASSERT(!get(&t, &o));

        /* Held, wanted, then gone and unwanted: freed, and off its device list. */
        records_held(&t, &o);
        r = want(&t, &o, ROLE_MIRROR_ROUTE);
        p = plan_at(&t, NOW);
        ASSERT_INT(p.n, 0);
        plan_done(&t, &p);
        records_gone_record(&t, r);
        records_unwant_record(&t, r);
        ASSERT(get(&t, &o) == r);       /* dirty */
        p = plan_at(&t, NOW);
        plan_done(&t, &p);
        ASSERT(!get(&t, &o));
        ASSERT(!records_oif_first(&t, TUN5));
        ASSERT_INT(records_count(&t), 0);
        ASSERT_INT(t.n_wanted, 0);
        records_done(&t);
}

/* ---- our tables ---- */

static void test_tables(void) {
        RecordTable t;

        records_init(&t);
        ASSERT(!records_table_is_ours(&t, 200));
        ASSERT_INT(records_add_table(&t, 200), 0);
        ASSERT_INT(records_add_table(&t, 200), 0);
        ASSERT_INT(t.n_tables, 1);
        ASSERT(records_table_is_ours(&t, 200));
        ASSERT(!records_table_is_ours(&t, 300));
        for (uint32_t i = 1; i < RECORD_TABLES_MAX; i++)
                ASSERT_INT(records_add_table(&t, 1000 + i), 0);
        ASSERT_INT(records_add_table(&t, 5000), -ENOSPC);
        ASSERT(!records_table_is_ours(&t, 5000));
        ASSERT(records_table_is_ours(&t, 1000 + RECORD_TABLES_MAX - 1));
        records_done(&t);
}

int main(void) {
        RUN(test_want_held_gone);
        RUN(test_iif_rule_identity);
        RUN(test_adopt_equal);
        RUN(test_adopt_different);
        RUN(test_stale_deleted);
        RUN(test_clash_mirror_refused);
        RUN(test_clash_policy_takes_over);
        RUN(test_clash_tun_routes);
        RUN(test_ordering);
        RUN(test_restore_rate_limit);
        RUN(test_block);
        RUN(test_retry_backoff);
        RUN(test_failing_count);
        RUN(test_inflight_unwanted);
        RUN(test_inflight_changed);
        RUN(test_oif_lists);
        RUN(test_dirty_no_duplicates);
        RUN(test_gc);
        RUN(test_tables);
        TESTS_DONE();
}
