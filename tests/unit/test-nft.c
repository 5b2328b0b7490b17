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

/* libnftnl writes a counter reference's name without its NUL (mnl_attr_put_str() in expr/objref.c; the
 * kernel takes the attribute's length) and parses it back as if it had one, so the names are read here by
 * their length: NFTA_RULE_EXPRESSIONS { NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA { ... } } }. */
static int objref_names(const struct nlmsghdr *nlh, char ***ret) {
        const struct nlattr *exprs = NULL, *a;

        mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
                if (mnl_attr_get_type(a) == NFTA_RULE_EXPRESSIONS)
                        exprs = a;
        if (!exprs)
                return 0;
        mnl_attr_for_each_nested(a, exprs) {
                const struct nlattr *b, *name = NULL, *data = NULL;

                mnl_attr_for_each_nested(b, a) {
                        if (mnl_attr_get_type(b) == NFTA_EXPR_NAME)
                                name = b;
                        else if (mnl_attr_get_type(b) == NFTA_EXPR_DATA)
                                data = b;
                }
                if (!name || !data || !streq(mnl_attr_get_str(name), "objref"))
                        continue;
                mnl_attr_for_each_nested(b, data)
                        if (mnl_attr_get_type(b) == NFTA_OBJREF_IMM_NAME &&
                            strv_extendf(ret, "%.*s", (int) mnl_attr_get_payload_len(b),
                                         (const char *) mnl_attr_get_payload(b)) < 0)
                                return -ENOMEM;
        }
        return 0;
}

/* An expression's name, with what it names: "lookup:SET", "lookup:!SET" (inverted), "objref:COUNTER". */
static void expr_name(struct nftnl_expr *e, char **objrefs, size_t *n_objrefs, char *line, size_t size) {
        const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        char buf[128];

        if (streq(name, "lookup"))
                snprintf(buf, sizeof(buf), " lookup:%s%s",
                         nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV ? "!" : "",
                         nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
        else if (streq(name, "objref")) {
                ASSERT(*n_objrefs < strv_length(objrefs));
                snprintf(buf, sizeof(buf), " objref:%s", objrefs[(*n_objrefs)++]);
        } else
                snprintf(buf, sizeof(buf), " %s", name);
        strncat(line, buf, size - strlen(line) - 1);
}

/* "CHAIN: expr expr ..." with the names of the expressions. */
static void parse_rule(const struct nlmsghdr *nlh, Parsed *p) {
        _cleanup_strv_free_ char **objrefs = NULL;
        struct nftnl_rule *r = nftnl_rule_alloc();
        struct nftnl_expr_iter *it;
        size_t n_objrefs = 0;
        char line[1024];
        struct nftnl_expr *e;

        ASSERT(r && nftnl_rule_nlmsg_parse(nlh, r) >= 0);
        ASSERT(objref_names(nlh, &objrefs) >= 0);
        snprintf(line, sizeof(line), "%s:", nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
        it = nftnl_expr_iter_create(r);
        ASSERT(it);
        while ((e = nftnl_expr_iter_next(it)))
                expr_name(e, objrefs, &n_objrefs, line, sizeof(line));
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

static bool has_quiet(char **l, const char *s) {
        return strv_contains(l, s);
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

#define SEED_GATEWAY                                                                                     \
        { .name = "gateway", .has_ipv4 = true, .has_ipv6 = true, .ipv4.bytes = { 192, 168, 1, 1 },      \
          .ipv6.bytes = { 0xfd, 0, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, [15] = 1 } }

static void test_seed_spec(void) {
        Prefix pools[] = { P("10.10.10.0/24"), P("fd00:4242:4242:4242::/64") };
        char tunnels[][IFNAMSIZ] = { "tun0", "tun1" }, devices[][IFNAMSIZ] = { "eth1" };
        NftGateway gateways[] = { SEED_GATEWAY };
        NftPolicy policy = { .name = "vpn", .pools = pools, .n_pools = 2, .gateways = gateways, .n_gateways = 1,
                             .devices = devices, .n_devices = 1, .tunnels = tunnels, .n_tunnels = 2 };
        NftSpec spec = { .policies = &policy, .n_policies = 1, .leak_guard = true, .masquerade = true };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, false, &p);
        ASSERT(count_type(&p, NFT_MSG_DELTABLE) == 0);
        ASSERT(p.types[1] == NFT_MSG_NEWTABLE);
        ASSERT(has(p.tables, "vpnpolicy family=1 flags=0"));
        ASSERT(HAS_EXACTLY(p.chains, "forward filter hook=2 prio=0 policy=1",
                           "postrouting nat hook=4 prio=100 policy=1"));
        ASSERT(HAS_EXACTLY(p.sets, "pools4 key=7/4 flags=0x4", "pools6 key=8/16 flags=0x4",
                           "vpn/pools4 key=7/4 flags=0x4", "vpn/pools6 key=8/16 flags=0x4",
                           "vpn/tunnels key=41/16 flags=0", "vpn/gateways key=41/16 flags=0"));
        ASSERT(HAS_EXACTLY(p.objs, "vpn/pool-10.10.10.0/24-out type=1", "vpn/pool-10.10.10.0/24-in type=1",
                           "vpn/pool-fd00:4242:4242:4242::/64-out type=1", "vpn/pool-fd00:4242:4242:4242::/64-in type=1",
                           "vpn/gw-gateway type=1", "vpn/leak-drops type=1"));
        /* 2 counters per pool; per family: the pool guard, the tunnel guard, the gateway's counter,
         * masquerade */
        ASSERT(HAS_EXACTLY(p.rules, "forward: meta cmp payload cmp objref:vpn/pool-10.10.10.0/24-out",
                           "forward: meta cmp payload cmp objref:vpn/pool-10.10.10.0/24-in",
                           "forward: meta cmp payload cmp objref:vpn/pool-fd00:4242:4242:4242::/64-out",
                           "forward: meta cmp payload cmp objref:vpn/pool-fd00:4242:4242:4242::/64-in",
                           "forward: meta cmp payload lookup:vpn/pools4 meta lookup:!vpn/tunnels meta "
                           "lookup:!vpn/gateways objref:vpn/leak-drops immediate",
                           "forward: meta cmp payload lookup:vpn/pools6 meta lookup:!vpn/tunnels meta "
                           "lookup:!vpn/gateways objref:vpn/leak-drops immediate",
                           "forward: meta lookup:vpn/tunnels meta cmp payload lookup:!pools4 meta "
                           "lookup:!vpn/tunnels meta lookup:!vpn/gateways objref:vpn/leak-drops immediate",
                           "forward: meta lookup:vpn/tunnels meta cmp payload lookup:!pools6 meta "
                           "lookup:!vpn/tunnels meta lookup:!vpn/gateways objref:vpn/leak-drops immediate",
                           "forward: meta cmp payload lookup:vpn/pools4 rt cmp objref:vpn/gw-gateway",
                           "forward: meta cmp payload lookup:vpn/pools6 rt cmp objref:vpn/gw-gateway",
                           "postrouting: meta cmp payload lookup:vpn/pools4 meta lookup:vpn/gateways masq",
                           "postrouting: meta cmp payload lookup:vpn/pools6 meta lookup:vpn/gateways masq"));
        /* the guards come before the gateways' counters: a dropped packet did not leave */
        ASSERT(strstr(p.rules[4], "vpn/leak-drops") && strstr(p.rules[8], "vpn/gw-gateway"));
        /* intervals: start, and end (flag 1) at the first address past the pool */
        ASSERT(HAS_EXACTLY(p.elements, "pools4 0a0a0a00 flags=0", "pools4 0a0a0b00 flags=1",
                           "pools6 fd004242424242420000000000000000 flags=0",
                           "pools6 fd004242424242430000000000000000 flags=1", "vpn/pools4 0a0a0a00 flags=0",
                           "vpn/pools4 0a0a0b00 flags=1", "vpn/pools6 fd004242424242420000000000000000 flags=0",
                           "vpn/pools6 fd004242424242430000000000000000 flags=1",
                           "vpn/tunnels 74756e30000000000000000000000000 flags=0",
                           "vpn/tunnels 74756e31000000000000000000000000 flags=0",
                           "vpn/gateways 65746831000000000000000000000000 flags=0"));
        /* objects and sets come before the rules that name them */
        ASSERT(p.types[2] == NFT_MSG_NEWOBJ);
        ASSERT(p.types[p.n - 2] == NFT_MSG_NEWRULE);
}

/* Two policies: each one's guards and counters name its own sets; a device serving both is in both
 * tunnel sets; the sets of every pool hold both policies' pools. */
static void test_two_policies(void) {
        Prefix staff_pools[] = { P("10.1.0.0/24"), P("fd00:1::/64") }, guest_pools[] = { P("10.2.0.0/24") };
        char staff_tunnels[][IFNAMSIZ] = { "tunA", "tunAB" }, guest_tunnels[][IFNAMSIZ] = { "tunB", "tunAB" };
        char staff_devices[][IFNAMSIZ] = { "gwa" }, guest_devices[][IFNAMSIZ] = { "gwb" };
        NftGateway staff_gateways[] = { { .name = "nat-a", .has_ipv4 = true, .ipv4.bytes = { 192, 168, 10, 1 },
                                          .has_ipv6 = true, .ipv6.bytes = { 0xfd, 0, 0, 0xa, [15] = 1 } },
                                        { .name = "nat-a2", .has_ipv4 = true, .ipv4.bytes = { 192, 168, 10, 2 } } };
        NftGateway guest_gateways[] = { { .name = "nat-b", .has_ipv4 = true, .ipv4.bytes = { 192, 168, 20, 1 } } };
        NftPolicy policies[] = {
                { .name = "staff", .pools = staff_pools, .n_pools = 2, .gateways = staff_gateways, .n_gateways = 2,
                  .devices = staff_devices, .n_devices = 1, .tunnels = staff_tunnels, .n_tunnels = 2 },
                { .name = "guest", .pools = guest_pools, .n_pools = 1, .gateways = guest_gateways, .n_gateways = 1,
                  .devices = guest_devices, .n_devices = 1, .tunnels = guest_tunnels, .n_tunnels = 2 },
        };
        NftSpec spec = { .policies = policies, .n_policies = 2, .leak_guard = true };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, false, &p);
        ASSERT(HAS_EXACTLY(p.chains, "forward filter hook=2 prio=0 policy=1"));
        ASSERT_INT(strv_length(p.sets), 2 + 2 * 4);
        ASSERT(HAS_EXACTLY(p.objs, "staff/pool-10.1.0.0/24-out type=1", "staff/pool-10.1.0.0/24-in type=1",
                           "staff/pool-fd00:1::/64-out type=1", "staff/pool-fd00:1::/64-in type=1",
                           "staff/gw-nat-a type=1", "staff/gw-nat-a2 type=1", "staff/leak-drops type=1",
                           "guest/pool-10.2.0.0/24-out type=1", "guest/pool-10.2.0.0/24-in type=1",
                           "guest/gw-nat-b type=1", "guest/leak-drops type=1"));
        /* staff: 4 pool counters, 4 guards, 3 gateway counters (nat-a v4 and v6, nat-a2 v4); guest: 2, 4, 1 */
        ASSERT_INT(strv_length(p.rules), 11 + 7);
        ASSERT(has(p.rules, "forward: meta cmp payload lookup:guest/pools4 meta lookup:!guest/tunnels meta "
                            "lookup:!guest/gateways objref:guest/leak-drops immediate"));
        ASSERT(has(p.rules, "forward: meta lookup:staff/tunnels meta cmp payload lookup:!pools6 meta "
                            "lookup:!staff/tunnels meta lookup:!staff/gateways objref:staff/leak-drops immediate"));
        ASSERT(has(p.rules, "forward: meta cmp payload lookup:staff/pools6 rt cmp objref:staff/gw-nat-a"));
        ASSERT(has(p.rules, "forward: meta cmp payload lookup:staff/pools4 rt cmp objref:staff/gw-nat-a2"));
        ASSERT(!has_quiet(p.rules, "forward: meta cmp payload lookup:guest/pools6 rt cmp objref:guest/gw-nat-b"));
        /* staff's rules first, each policy's guards before its gateways' counters */
        ASSERT(strstr(p.rules[0], "staff/pool-10.1.0.0/24-out") && strstr(p.rules[11], "guest/pool-10.2.0.0/24-out"));
        ASSERT(strstr(p.rules[17], "guest/gw-nat-b"));
        ASSERT(HAS_EXACTLY(p.elements, "pools4 0a010000 flags=0", "pools4 0a010100 flags=1", "pools4 0a020000 flags=0",
                           "pools4 0a020100 flags=1", "pools6 fd000001000000000000000000000000 flags=0",
                           "pools6 fd000001000000010000000000000000 flags=1", "staff/pools4 0a010000 flags=0",
                           "staff/pools4 0a010100 flags=1", "staff/pools6 fd000001000000000000000000000000 flags=0",
                           "staff/pools6 fd000001000000010000000000000000 flags=1",
                           "staff/tunnels 74756e41000000000000000000000000 flags=0",
                           "staff/tunnels 74756e41420000000000000000000000 flags=0",
                           "staff/gateways 67776100000000000000000000000000 flags=0", "guest/pools4 0a020000 flags=0",
                           "guest/pools4 0a020100 flags=1", "guest/tunnels 74756e42000000000000000000000000 flags=0",
                           "guest/tunnels 74756e41420000000000000000000000 flags=0",
                           "guest/gateways 67776200000000000000000000000000 flags=0"));
}

/* The order of the devices does not matter and each is there once: the same bytes. */
static void test_device_order(void) {
        char a[][IFNAMSIZ] = { "tun1", "tun0", "tun1" }, b[][IFNAMSIZ] = { "tun0", "tun1" };
        char gw_a[][IFNAMSIZ] = { "eth2", "eth1" }, gw_b[][IFNAMSIZ] = { "eth1", "eth2", "eth1" };
        NftPolicy pa = { .name = "vpn", .tunnels = a, .n_tunnels = 3, .devices = gw_a, .n_devices = 2 };
        NftPolicy pb = { .name = "vpn", .tunnels = b, .n_tunnels = 2, .devices = gw_b, .n_devices = 3 };
        NftSpec sa = { .policies = &pa, .n_policies = 1, .leak_guard = true };
        NftSpec sb = { .policies = &pb, .n_policies = 1, .leak_guard = true };
        _cleanup_(freep) void *ba = NULL, *bb = NULL;
        size_t na = 0, nb = 0;

        ASSERT(nft_build_transaction(&sa, false, 7, &ba, &na) >= 0);
        ASSERT(nft_build_transaction(&sb, false, 7, &bb, &nb) >= 0);
        ASSERT(na == nb && memcmp(ba, bb, na) == 0);
}

static void test_replace_and_minimal(void) {
        NftSpec spec = { .priority = -5 };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, true, &p);
        ASSERT(p.types[1] == NFT_MSG_DELTABLE);
        ASSERT(p.types[2] == NFT_MSG_NEWTABLE);
        ASSERT(strv_length(p.chains) == 1);
        ASSERT(has(p.chains, "forward filter hook=2 prio=-5 policy=1"));
        ASSERT(HAS_EXACTLY(p.sets, "pools4 key=7/4 flags=0x4", "pools6 key=8/16 flags=0x4"));
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
        NftPolicy policy = { .name = "vpn", .pools = pools, .n_pools = ELEMENTSOF(pools) };
        NftSpec spec = { .policies = &policy, .n_policies = 1, .leak_guard = true };
        _cleanup_(parsed_done) Parsed p = {};

        build(&spec, false, &p);
        ASSERT(HAS_EXACTLY(p.elements, "pools4 0a000000 flags=0", "pools4 0a000100 flags=1", "pools4 0a800000 flags=0",
                           "pools4 0b000000 flags=1", "pools4 ffffff00 flags=0",
                           "pools6 00000000000000000000000000000000 flags=0", "vpn/pools4 0a000000 flags=0",
                           "vpn/pools4 0a000100 flags=1", "vpn/pools4 0a800000 flags=0", "vpn/pools4 0b000000 flags=1",
                           "vpn/pools4 ffffff00 flags=0", "vpn/pools6 00000000000000000000000000000000 flags=0"));
        ASSERT(strv_length(p.objs) == 2 * ELEMENTSOF(pools) + 1);
        ASSERT(streq(p.rules[0], "forward: meta cmp payload bitwise cmp objref:vpn/pool-10.0.0.128/25-out"));
        ASSERT(streq(p.rules[8], "forward: meta cmp objref:vpn/pool-::/0-out")); /* ::/0: any IPv6 */
        ASSERT(streq(p.rules[10], "forward: meta cmp payload bitwise cmp objref:vpn/pool-10.128.0.0/9-out"));
}

/* A thousand tunnels: several element messages, every name present once. */
static void test_many_tunnels(void) {
        static char tunnels[1000][IFNAMSIZ];
        NftPolicy policy = { .name = "vpn", .tunnels = tunnels, .n_tunnels = ELEMENTSOF(tunnels) };
        NftSpec spec = { .policies = &policy, .n_policies = 1 };
        _cleanup_(parsed_done) Parsed p = {};

        for (size_t i = 0; i < ELEMENTSOF(tunnels); i++)
                snprintf(tunnels[i], IFNAMSIZ, "tun%zu", i);
        build(&spec, false, &p);
        ASSERT(count_type(&p, NFT_MSG_NEWSETELEM) == 4);
        ASSERT(strv_length(p.elements) == 1000);
        ASSERT(has(p.elements, "vpn/tunnels 74756e39393900000000000000000000 flags=0")); /* tun999 */
}

static void assert_invalid(const NftPolicy *policies, size_t n) {
        NftSpec spec = { .policies = policies, .n_policies = n };
        void *buf = NULL;
        size_t size = 0;

        ASSERT_INT(nft_build_transaction(&spec, false, 1, &buf, &size), -EINVAL);
        ASSERT(!buf && size == 0);
}

static void test_invalid(void) {
        Prefix bad = { .family = AF_UNIX }, long_v4 = { .family = AF_INET, .prefixlen = 33 };
        Prefix twins[] = { P("10.0.0.0/8"), P("fd00::/8"), { .family = AF_INET, .prefixlen = 8, .addr.bytes = { 10, 1 } } };
        char empty[][IFNAMSIZ] = { "" }, full[1][IFNAMSIZ];
        NftGateway twice[] = { { .name = "a" }, { .name = "a" } }, slash[] = { { .name = "a/b" } };

        memset(full, 'x', IFNAMSIZ);
        assert_invalid(&(NftPolicy) { .name = "vpn", .pools = &bad, .n_pools = 1 }, 1);
        assert_invalid(&(NftPolicy) { .name = "vpn", .pools = &long_v4, .n_pools = 1 }, 1);
        assert_invalid(&(NftPolicy) { .name = "vpn", .pools = twins, .n_pools = 3 }, 1); /* names counters */
        assert_invalid(&(NftPolicy) { .name = "vpn", .tunnels = empty, .n_tunnels = 1 }, 1);
        assert_invalid(&(NftPolicy) { .name = "vpn", .devices = full, .n_devices = 1 }, 1);
        assert_invalid(&(NftPolicy) { .name = "vpn", .n_pools = 1 }, 1); /* no array */
        assert_invalid(&(NftPolicy) { .name = "vpn", .gateways = twice, .n_gateways = 2 }, 1);
        assert_invalid(&(NftPolicy) { .name = "vpn", .gateways = slash, .n_gateways = 1 }, 1);
        assert_invalid(&(NftPolicy) { .name = NULL }, 1);
        assert_invalid(&(NftPolicy) { .name = "" }, 1);
        assert_invalid(&(NftPolicy) { .name = "a/b" }, 1); /* '/' separates our names */
        assert_invalid((NftPolicy[]) { { .name = "vpn" }, { .name = "vpn" } }, 2);
        assert_invalid(NULL, 1);
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
        RUN(test_two_policies);
        RUN(test_device_order);
        RUN(test_replace_and_minimal);
        RUN(test_intervals);
        RUN(test_many_tunnels);
        RUN(test_invalid);
        RUN(test_events);
        TESTS_DONE();
}
