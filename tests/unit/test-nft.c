/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Build-then-parse round trips of the nftables transaction (no kernel, no root): the batch nft_apply()
 * would send for a spec, parsed back with libnftnl's own parsers, and the event filter. */

#include <netinet/in.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "nft.h"
#include "strv.h"
#include "tests.h"

#define MAX_MESSAGES 256

typedef struct Parsed {
        uint16_t types[MAX_MESSAGES]; /* NFT_MSG_* or NFNL_MSG_BATCH_* */
        size_t n;
        char **tables, **chains, **sets, **objs, **rules, **elements; /* one line per object */
} Parsed;

static void parsed_done(Parsed *p) {
        strv_free(p->tables);
        strv_free(p->chains);
        strv_free(p->sets);
        strv_free(p->objs);
        strv_free(p->rules);
        strv_free(p->elements);
}

static size_t count_type(const Parsed *p, uint16_t type) {
        size_t c = 0;

        for (size_t i = 0; i < p->n; i++)
                c += p->types[i] == type;
        return c;
}

static void parse_table(const struct nlmsghdr *nlh, Parsed *p) {
        struct nftnl_table *t = nftnl_table_alloc();

        ASSERT(t && nftnl_table_nlmsg_parse(nlh, t) >= 0);
        ASSERT(strv_extendf(&p->tables, "%s family=%u flags=%u", nftnl_table_get_str(t, NFTNL_TABLE_NAME),
                            nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS)) >= 0);
        nftnl_table_free(t);
}

static void parse_chain(const struct nlmsghdr *nlh, Parsed *p) {
        struct nftnl_chain *c = nftnl_chain_alloc();

        ASSERT(c && nftnl_chain_nlmsg_parse(nlh, c) >= 0);
        ASSERT(streq(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE_NAME));
        ASSERT(strv_extendf(&p->chains, "%s %s hook=%u prio=%d policy=%u", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
                            nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
                            nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY)) >= 0);
        nftnl_chain_free(c);
}

static void parse_set(const struct nlmsghdr *nlh, Parsed *p) {
        struct nftnl_set *s = nftnl_set_alloc();

        ASSERT(s && nftnl_set_nlmsg_parse(nlh, s) >= 0);
        ASSERT(strv_extendf(&p->sets, "%s key=%u/%u flags=%#x", nftnl_set_get_str(s, NFTNL_SET_NAME),
                            nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
                            nftnl_set_get_u32(s, NFTNL_SET_FLAGS)) >= 0);
        nftnl_set_free(s);
}

static void parse_obj(const struct nlmsghdr *nlh, Parsed *p) {
        struct nftnl_obj *o = nftnl_obj_alloc();

        ASSERT(o && nftnl_obj_nlmsg_parse(nlh, o) >= 0);
        ASSERT(strv_extendf(&p->objs, "%s type=%u", nftnl_obj_get_str(o, NFTNL_OBJ_NAME),
                            nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE)) >= 0);
        nftnl_obj_free(o);
}

/* "CHAIN: expr expr ..." with the names of the expressions. */
static void parse_rule(const struct nlmsghdr *nlh, Parsed *p) {
        struct nftnl_rule *r = nftnl_rule_alloc();
        struct nftnl_expr_iter *it;
        char line[512];
        struct nftnl_expr *e;

        ASSERT(r && nftnl_rule_nlmsg_parse(nlh, r) >= 0);
        snprintf(line, sizeof(line), "%s:", nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
        it = nftnl_expr_iter_create(r);
        ASSERT(it);
        while ((e = nftnl_expr_iter_next(it))) {
                strncat(line, " ", sizeof(line) - strlen(line) - 1);
                strncat(line, nftnl_expr_get_str(e, NFTNL_EXPR_NAME), sizeof(line) - strlen(line) - 1);
        }
        nftnl_expr_iter_destroy(it);
        ASSERT(strv_extend(&p->rules, line) >= 0);
        nftnl_rule_free(r);
}

/* "SET HEX flags=F" per element. */
static void parse_elements(const struct nlmsghdr *nlh, Parsed *p) {
        struct nftnl_set *s = nftnl_set_alloc();
        struct nftnl_set_elems_iter *it;
        struct nftnl_set_elem *e;

        ASSERT(s && nftnl_set_elems_nlmsg_parse(nlh, s) >= 0);
        it = nftnl_set_elems_iter_create(s);
        ASSERT(it);
        while ((e = nftnl_set_elems_iter_next(it))) {
                char hex[2 * 16 + 1] = "";
                uint32_t len = 0;
                const uint8_t *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

                ASSERT(key && len <= 16);
                for (uint32_t i = 0; i < len; i++)
                        snprintf(hex + 2 * i, 3, "%02x", key[i]);
                ASSERT(strv_extendf(&p->elements, "%s %s flags=%u", nftnl_set_get_str(s, NFTNL_SET_NAME), hex,
                                    nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ?
                                            nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) :
                                            0) >= 0);
        }
        nftnl_set_elems_iter_destroy(it);
        nftnl_set_free(s);
}

static void parse_message(const struct nlmsghdr *nlh, Parsed *p) {
        static const struct {
                uint16_t type;
                void (*parse)(const struct nlmsghdr *nlh, Parsed *p);
        } parsers[] = {
                { NFT_MSG_NEWTABLE, parse_table }, { NFT_MSG_DELTABLE, parse_table },
                { NFT_MSG_NEWCHAIN, parse_chain }, { NFT_MSG_NEWSET, parse_set },
                { NFT_MSG_NEWOBJ, parse_obj },     { NFT_MSG_NEWRULE, parse_rule },
                { NFT_MSG_NEWSETELEM, parse_elements },
        };

        for (size_t i = 0; i < ELEMENTSOF(parsers); i++)
                if (parsers[i].type == NFNL_MSG_TYPE(nlh->nlmsg_type)) {
                        parsers[i].parse(nlh, p);
                        return;
                }
        ASSERT(!"unexpected message type");
}

/* Walks the batch: begin, messages (each with its ack flag and the next sequence number), end. */
static void parse_batch(const void *buf, size_t size, uint32_t seq, Parsed *p) {
        const struct nlmsghdr *nlh = buf;
        int remaining = (int) size;

        *p = (Parsed) {};
        for (; mnl_nlmsg_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining), seq++) {
                bool frame = nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || nlh->nlmsg_type == NFNL_MSG_BATCH_END;

                ASSERT(p->n < MAX_MESSAGES);
                ASSERT(nlh->nlmsg_seq == seq);
                p->types[p->n++] = frame ? nlh->nlmsg_type : NFNL_MSG_TYPE(nlh->nlmsg_type);
                if (frame)
                        continue;
                ASSERT(NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES);
                ASSERT(nlh->nlmsg_flags & NLM_F_ACK);
                ASSERT(((const struct nfgenmsg *) mnl_nlmsg_get_payload(nlh))->nfgen_family == NFPROTO_INET);
                parse_message(nlh, p);
        }
        ASSERT(remaining == 0);
        ASSERT(p->n >= 2);
        ASSERT(p->types[0] == NFNL_MSG_BATCH_BEGIN);
        ASSERT(p->types[p->n - 1] == NFNL_MSG_BATCH_END);
}

static void build(const NftSpec *spec, bool delete_first, Parsed *p) {
        _cleanup_(freep) void *buf = NULL;
        size_t size = 0;

        ASSERT(nft_build_transaction(spec, delete_first, 1000, &buf, &size) >= 0);
        ASSERT(buf && size > 0 && size % 4 == 0);
        parse_batch(buf, size, 1000, p);
}

static Prefix P(const char *s) {
        Prefix p;

        ASSERT(prefix_parse(s, &p) >= 0);
        return p;
}

static bool has(char **l, const char *s) {
        if (strv_contains(l, s))
                return true;
        fprintf(stderr, "missing: %s\n", s);
        STRV_FOREACH(i, l)
                fprintf(stderr, "  have: %s\n", *i);
        return false;
}

/* l holds exactly the strings of want (distinct, NULL-terminated), in any order. */
static bool has_exactly(char **l, const char *const *want) {
        size_t n;

        for (n = 0; want[n]; n++)
                if (!has(l, want[n]))
                        return false;
        if (strv_length(l) == n)
                return true;
        fprintf(stderr, "%zu entries, not %zu:\n", strv_length(l), n);
        STRV_FOREACH(i, l)
                fprintf(stderr, "  have: %s\n", *i);
        return false;
}

#define HAS_EXACTLY(l, ...) has_exactly((l), (const char *const[]) { __VA_ARGS__, NULL })

static void test_seed_spec(void) {
        Prefix pools[] = { P("10.10.10.0/24"), P("fd00:4242:4242:4242::/64") };
        char tunnels[][IFNAMSIZ] = { "tun0", "tun1" };
        NftSpec spec = { .pools = pools, .n_pools = 2, .tunnels = tunnels, .n_tunnels = 2,
                         .gateway_device = "eth1", .leak_guard = true, .masquerade = true };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, false, &p);
        ASSERT(count_type(&p, NFT_MSG_DELTABLE) == 0);
        ASSERT(p.types[1] == NFT_MSG_NEWTABLE);
        ASSERT(has(p.tables, "vpnpolicy family=1 flags=0"));
        ASSERT(HAS_EXACTLY(p.chains, "forward filter hook=2 prio=0 policy=1",
                           "postrouting nat hook=4 prio=100 policy=1"));
        ASSERT(HAS_EXACTLY(p.sets, "pools4 key=7/4 flags=0x4", "pools6 key=8/16 flags=0x4", "tunnels key=41/16 flags=0",
                           "gateway key=41/16 flags=0"));
        ASSERT(HAS_EXACTLY(p.objs, "pool-0-out type=1", "pool-0-in type=1", "pool-1-out type=1", "pool-1-in type=1",
                           "leak-drops type=1"));
        /* 2 counters per pool, leak guard and masquerade per family */
        ASSERT(strv_length(p.rules) == 8);
        ASSERT(streq(p.rules[0], "forward: meta cmp payload cmp objref"));
        ASSERT(streq(p.rules[4], "forward: meta cmp payload lookup meta lookup meta lookup objref immediate"));
        ASSERT(streq(p.rules[6], "postrouting: meta cmp payload lookup meta lookup masq"));
        /* intervals: start, and end (flag 1) at the first address past the pool */
        ASSERT(HAS_EXACTLY(p.elements, "pools4 0a0a0a00 flags=0", "pools4 0a0a0b00 flags=1",
                           "pools6 fd004242424242420000000000000000 flags=0",
                           "pools6 fd004242424242430000000000000000 flags=1",
                           "tunnels 74756e30000000000000000000000000 flags=0",
                           "tunnels 74756e31000000000000000000000000 flags=0",
                           "gateway 65746831000000000000000000000000 flags=0"));
        /* objects and sets come before the rules that name them */
        ASSERT(p.types[2] == NFT_MSG_NEWOBJ);
        ASSERT(p.types[p.n - 2] == NFT_MSG_NEWRULE);
}

static void test_replace_and_minimal(void) {
        NftSpec spec = { .priority = -5 };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, true, &p);
        ASSERT(p.types[1] == NFT_MSG_DELTABLE);
        ASSERT(p.types[2] == NFT_MSG_NEWTABLE);
        ASSERT(strv_length(p.chains) == 1);
        ASSERT(has(p.chains, "forward filter hook=2 prio=-5 policy=1"));
        ASSERT(strv_length(p.sets) == 4);
        ASSERT(strv_length(p.objs) == 0);
        ASSERT(strv_length(p.rules) == 0);
        ASSERT(strv_length(p.elements) == 0);
        ASSERT(count_type(&p, NFT_MSG_NEWSETELEM) == 0);
}

/* Overlapping and adjacent pools merge; a range reaching the top of the address space has no end
 * element; a partial-byte prefix loads the whole address and masks it, like nft(8). */
static void test_intervals(void) {
        Prefix pools[] = { P("10.0.0.128/25"), P("10.0.0.0/25"), P("10.0.0.64/26"), P("255.255.255.0/24"),
                           P("::/0"), P("10.128.0.0/9") };
        NftSpec spec = { .pools = pools, .n_pools = ELEMENTSOF(pools), .leak_guard = true };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, false, &p);
        ASSERT(HAS_EXACTLY(p.elements, "pools4 0a000000 flags=0", "pools4 0a000100 flags=1", "pools4 0a800000 flags=0",
                           "pools4 0b000000 flags=1", "pools4 ffffff00 flags=0",
                           "pools6 00000000000000000000000000000000 flags=0"));
        ASSERT(strv_length(p.objs) == 2 * ELEMENTSOF(pools) + 1);
        ASSERT(streq(p.rules[0], "forward: meta cmp payload bitwise cmp objref"));
        ASSERT(streq(p.rules[8], "forward: meta cmp objref")); /* ::/0: any IPv6 */
        ASSERT(streq(p.rules[10], "forward: meta cmp payload bitwise cmp objref"));
}

/* A thousand tunnels: several element messages, every name present once. */
static void test_many_tunnels(void) {
        static char tunnels[1000][IFNAMSIZ];
        NftSpec spec = { .tunnels = tunnels, .n_tunnels = ELEMENTSOF(tunnels) };
        _cleanup_(parsed_done) Parsed p = {};

        for (size_t i = 0; i < ELEMENTSOF(tunnels); i++)
                snprintf(tunnels[i], IFNAMSIZ, "tun%zu", i);
        build(&spec, false, &p);
        ASSERT(count_type(&p, NFT_MSG_NEWSETELEM) == 4);
        ASSERT(strv_length(p.elements) == 1000);
        ASSERT(has(p.elements, "tunnels 74756e39393900000000000000000000 flags=0")); /* tun999 */
}

static void test_invalid(void) {
        Prefix bad = { .family = AF_UNIX };
        char tunnels[][IFNAMSIZ] = { "" };
        NftSpec spec = { .pools = &bad, .n_pools = 1 };
        void *buf = NULL;
        size_t size = 0;

        ASSERT(nft_build_transaction(&spec, false, 1, &buf, &size) == -EINVAL);
        spec = (NftSpec) { .tunnels = tunnels, .n_tunnels = 1 };
        ASSERT(nft_build_transaction(&spec, false, 1, &buf, &size) == -EINVAL);
        spec = (NftSpec) {};
        memset(spec.gateway_device, 'x', IFNAMSIZ);
        ASSERT(nft_build_transaction(&spec, false, 1, &buf, &size) == -EINVAL);
        ASSERT(!buf && size == 0);
}

static struct nlmsghdr *event(uint8_t *buf, uint16_t type, uint16_t family, const char *table, uint32_t pid) {
        struct nlmsghdr *nlh;

        memset(buf, 0, 512);
        nlh = nftnl_nlmsg_build_hdr((char *) buf, type, family, 0, 1);
        nlh->nlmsg_pid = pid;
        if (table)
                mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table); /* attribute 1 names the table in each kind */
        return nlh;
}

static void test_events(void) {
        uint8_t buf[512];

        ASSERT(nft_event_is_foreign_change(event(buf, NFT_MSG_DELTABLE, NFPROTO_INET, "vpnpolicy", 7), 9));
        ASSERT(nft_event_is_foreign_change(event(buf, NFT_MSG_DELRULE, NFPROTO_INET, "vpnpolicy", 7), 9));
        ASSERT(nft_event_is_foreign_change(event(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET, "vpnpolicy", 0), 9));
        ASSERT(!nft_event_is_foreign_change(event(buf, NFT_MSG_DELTABLE, NFPROTO_INET, "vpnpolicy", 9), 9));
        ASSERT(!nft_event_is_foreign_change(event(buf, NFT_MSG_DELTABLE, NFPROTO_INET, "foreign", 7), 9));
        ASSERT(!nft_event_is_foreign_change(event(buf, NFT_MSG_DELTABLE, NFPROTO_IPV4, "vpnpolicy", 7), 9));
        ASSERT(!nft_event_is_foreign_change(event(buf, NFT_MSG_NEWGEN, NFPROTO_UNSPEC, "vpnpolicy", 7), 9));
        ASSERT(!nft_event_is_foreign_change(event(buf, NFT_MSG_DELTABLE, NFPROTO_INET, NULL, 7), 9));
}

int main(void) {
        RUN(test_seed_spec);
        RUN(test_replace_and_minimal);
        RUN(test_intervals);
        RUN(test_many_tunnels);
        RUN(test_invalid);
        RUN(test_events);
        TESTS_DONE();
}
