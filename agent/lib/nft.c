/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <netinet/in.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <sys/socket.h>

#include "nft.h"
#include "nl-util.h"
#include "parse-util.h"
#include "strv.h"

/* Table flags: none. NFT_TABLE_F_OWNER (kernel 5.12) ties the table to the netlink socket that created it:
 * the kernel deletes it when that socket closes (net/netfilter/nf_tables_api.c, nft_rcv_nl_event()). The
 * design wants the opposite: SIGTERM leaves everything in place and a crash leaves routing intact.
 * NFT_TABLE_F_PERSIST, which keeps an owned table after its owner exits, arrived only in 6.9 (absent from
 * the UAPI headers of Debian 12's 6.1 and RHEL 9's 5.14), so it cannot be the baseline. Instead we restore
 * what others delete: NFNLGRP_NFTABLES events on a socket of our own call on_changed, and nft_apply()
 * rebuilds. Owner+persist could be layered on later for 6.9+ kernels (it also makes others' "flush
 * ruleset" skip our table), at the price of "nft delete table" failing with EPERM for the admin. */
#define NFT_TABLE_FLAGS 0U

static inline const char *strempty(const char *s) {
        return s ?: "";
}

#define CHAIN_FORWARD "forward"
#define CHAIN_POSTROUTING "postrouting"
/* nftables' datatype numbers (nftables include/datatype.h: TYPE_IPADDR, TYPE_IP6ADDR, TYPE_IFNAME). The
 * kernel keeps them opaque; "nft list" needs them to print elements as addresses and device names. */
enum {
        NFT_DATATYPE_IPADDR = 7,
        NFT_DATATYPE_IP6ADDR = 8,
        NFT_DATATYPE_IFNAME = 41,
};

#define NFT_RECV_BUFFER (128U * 1024U)
/* Room reserved for one message while libnftnl writes it (it does not bound its writes); more than the
 * largest message we build (a set element message, see tx_elements()). */
#define NFT_MESSAGE_MAX (32U * 1024U)
#define NFT_REQUEST_MAX 1024U
#define NFT_ELEMENTS_PER_MESSAGE 256U
#define NFT_REPLY_TIMEOUT_MS 5000
#define NFT_APPLY_RETRIES 8
#define NFT_RCVBUF_REQUESTS (1024U * 1024U)
#define NFT_RCVBUF_EVENTS (4U * 1024U * 1024U)
/* nftables sizes its receive buffer the same way: every message of a batch may get an ack. */
#define NFT_ACK_TRUESIZE 1024U

struct Nft {
        struct mnl_socket *requests;
        struct mnl_socket *events;
        uint32_t portid; /* of requests: our own transactions' events carry it */
        uint32_t seq;
        sd_event_source *io;
        nft_changed_handler_t on_changed;
        void *userdata;
        json_t *layout; /* of the last applied spec, for nft_counters() */
        char *error;
        uint8_t *buf;
        /* What the last successful nft_apply()/nft_apply_delta() left in the kernel, for the next delta. */
        void *applied;          /* NftModel */
        char **applied_signature;
};

/* ---------------------------------------------------------------------------------------------------
 * sockets */

/* One datagram, not waiting: its length, 0 for one not sent by the kernel (dropped), or -errno. */
static ssize_t nft_recv(Nft *n, struct mnl_socket *nl) {
        return nl_recv_kernel(mnl_socket_get_fd(nl), n->buf, NFT_RECV_BUFFER, NULL);
}

/* The next datagram on the request socket, waiting for it. */
static ssize_t requests_recv(Nft *n) {
        return nl_recv_kernel_wait(mnl_socket_get_fd(n->requests), n->buf, NFT_RECV_BUFFER, NFT_REPLY_TIMEOUT_MS,
                                   NULL);
}

static bool message_ok(const struct nlmsghdr *nlh, int len) {
        /* mnl_nlmsg_ok() compares (int) nlmsg_len: compare unsigned, as rtnl.h explains. */
        return len >= (int) sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
               nlh->nlmsg_len <= (unsigned) len;
}

/* ---------------------------------------------------------------------------------------------------
 * requests and dumps */

typedef int (*nft_message_handler_t)(const struct nlmsghdr *nlh, void *userdata);

/* 1 when the reply is complete, 0 when more datagrams follow, -EINTR when the kernel flagged a dump as
 * inconsistent, other -errno from the kernel. */
static int reply_process(Nft *n, size_t len, uint32_t seq, bool *intr, nft_message_handler_t handler,
                         void *userdata) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) n->buf;
        int remaining = (int) len;

        for (; message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
                if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != n->portid)
                        continue; /* late reply to an earlier request */
                if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                        *intr = true;
                if (nlh->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
                        if (err->error < 0)
                                return err->error;
                        return *intr ? -EINTR : 1;
                }
                if (nlh->nlmsg_type == NLMSG_DONE)
                        return *intr ? -EINTR : 1;
                if (handler) {
                        int k = handler(nlh, userdata);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

/* Sends one request and hands each message of the reply to handler. A dump ends with NLMSG_DONE, any
 * other request must carry NLM_F_ACK and ends with its ack. */
static int nft_request(Nft *n, struct nlmsghdr *nlh, nft_message_handler_t handler, void *userdata) {
        uint32_t seq = ++n->seq;
        bool intr = false;

        nlh->nlmsg_seq = seq;
        if (mnl_socket_sendto(n->requests, nlh, nlh->nlmsg_len) < 0)
                return negative_errno();
        for (;;) {
                ssize_t len = requests_recv(n);
                int k;

                if (len < 0)
                        return (int) len;
                k = reply_process(n, (size_t) len, seq, &intr, handler, userdata);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
}

static struct nlmsghdr *request_start(uint8_t buf[static NFT_REQUEST_MAX], uint16_t type, uint16_t flags) {
        memset(buf, 0, NFT_REQUEST_MAX);
        return nftnl_nlmsg_build_hdr((char *) buf, type, NFPROTO_INET, flags, 0);
}

static int gen_cb(const struct nlmsghdr *nlh, void *userdata) {
        struct nftnl_gen *g;
        uint32_t *genid = userdata;

        g = nftnl_gen_alloc();
        if (!g)
                return -ENOMEM;
        if (nftnl_gen_nlmsg_parse(nlh, g) >= 0 && nftnl_gen_is_set(g, NFTNL_GEN_ID))
                *genid = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
        nftnl_gen_free(g);
        return 0;
}

/* The ruleset generation: it changes with every commit (net/netfilter/nf_tables_api.c, base_seq). */
static int nft_get_genid(Nft *n, uint32_t *ret) {
        uint8_t buf[NFT_REQUEST_MAX];
        uint32_t genid = 0;
        int k;

        k = nft_request(n, request_start(buf, NFT_MSG_GETGEN, NLM_F_ACK), gen_cb, &genid);
        if (k < 0)
                return k;
        *ret = genid;
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * the model: a table as libnftnl objects, built from a spec or dumped from the kernel */

typedef struct PtrArray {
        void **items;
        size_t n, allocated;
} PtrArray;

/* Room for one more, so adding an object that was just allocated cannot fail. */
static int ptr_array_reserve(PtrArray *a) {
        void **items;
        size_t m;

        if (a->n < a->allocated)
                return 0;
        m = MAX(a->allocated * 2, (size_t) 8);
        items = reallocarray(a->items, m, sizeof(void *));
        if (!items)
                return -ENOMEM;
        a->items = items;
        a->allocated = m;
        return 0;
}

typedef struct NftModel {
        bool present;
        uint32_t table_flags;
        PtrArray chains; /* struct nftnl_chain */
        PtrArray sets;   /* struct nftnl_set, with their elements */
        PtrArray objs;   /* struct nftnl_obj */
        PtrArray rules;  /* struct nftnl_rule, in chain order */
        size_t unparsed; /* objects of our table libnftnl could not parse */
} NftModel;

static void model_done(NftModel *m) {
        for (size_t i = 0; i < m->chains.n; i++)
                nftnl_chain_free(m->chains.items[i]);
        for (size_t i = 0; i < m->sets.n; i++)
                nftnl_set_free(m->sets.items[i]);
        for (size_t i = 0; i < m->objs.n; i++)
                nftnl_obj_free(m->objs.items[i]);
        for (size_t i = 0; i < m->rules.n; i++)
                nftnl_rule_free(m->rules.items[i]);
        free(m->chains.items);
        free(m->sets.items);
        free(m->objs.items);
        free(m->rules.items);
        *m = (NftModel) {};
}

static struct nftnl_set *model_find_set(const NftModel *m, const char *name) {
        for (size_t i = 0; i < m->sets.n; i++)
                if (streq_ptr(nftnl_set_get_str(m->sets.items[i], NFTNL_SET_NAME), name))
                        return m->sets.items[i];
        return NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * expressions, the same bytecode nft(8) generates for the rules in nft.h's comments, so "nft list" shows
 * them in their usual notation */

static int rule_expr(struct nftnl_rule *r, const char *name, struct nftnl_expr **ret) {
        struct nftnl_expr *e = nftnl_expr_alloc(name);

        if (!e)
                return -ENOMEM;
        nftnl_rule_add_expr(r, e);
        *ret = e;
        return 0;
}

static int expr_meta_load(struct nftnl_rule *r, uint32_t key) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "meta", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
        return 0;
}

static int expr_cmp_eq(struct nftnl_rule *r, const void *data, uint32_t len) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "cmp", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
        return nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) < 0 ? -ENOMEM : 0;
}

static int expr_payload_load(struct nftnl_rule *r, uint32_t offset, uint32_t len) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "payload", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        return 0;
}

/* reg1 &= mask. NFTA_BITWISE_OP is left out: the kernel defaults it to NFT_BITWISE_BOOL and older kernels
 * (before 5.6) do not know it. */
static int expr_bitwise_mask(struct nftnl_rule *r, const uint8_t *mask, uint32_t len) {
        static const uint8_t zero[16] = {};
        struct nftnl_expr *e;
        int k = rule_expr(r, "bitwise", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        if (nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len) < 0 ||
            nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len) < 0)
                return -ENOMEM;
        return 0;
}

/* NFTA_LOOKUP_FLAGS is always set, even to 0: the kernel always dumps it (net/netfilter/nft_lookup.c,
 * nft_lookup_dump()), and the comparison with the kernel's rules renders what is set. */
static int expr_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id, bool invert) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "lookup", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
        if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0)
                return -ENOMEM;
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, invert ? NFT_LOOKUP_F_INV : 0);
        return 0;
}

static int expr_counter_ref(struct nftnl_rule *r, const char *counter) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "objref", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
        return nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, counter) < 0 ? -ENOMEM : 0;
}

static int expr_drop(struct nftnl_rule *r) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "immediate", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
        return 0;
}

/* "meta nfproto ipv4|ipv6": what nft puts before any ip/ip6 match in an inet table. */
static int match_nfproto(struct nftnl_rule *r, int family) {
        uint8_t proto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
        int k = expr_meta_load(r, NFT_META_NFPROTO);

        return k < 0 ? k : expr_cmp_eq(r, &proto, sizeof(proto));
}

/* Offsets of the addresses in struct iphdr and struct ipv6hdr. */
static uint32_t addr_offset(int family, bool source) {
        if (family == AF_INET)
                return source ? 12 : 16;
        return source ? 8 : 24;
}

/* "ip saddr 10.10.10.0/24", as nft(8) compiles it (so that "nft list" shows it so): a byte-aligned prefix
 * loads and compares its bytes only; any other loads the whole address and masks it first. */
static int match_prefix(struct nftnl_rule *r, const Prefix *pool, bool source) {
        Prefix masked = *pool, *p = &masked;
        bool aligned = p->prefixlen % 8 == 0;
        uint32_t len = aligned ? p->prefixlen / 8U : (uint32_t) family_addr_size(p->family);
        uint8_t mask[16] = {};
        int k;

        prefix_mask(p);
        k = match_nfproto(r, p->family);
        if (k < 0 || len == 0)
                return k;
        k = expr_payload_load(r, addr_offset(p->family, source), len);
        if (k < 0)
                return k;
        if (!aligned) {
                memset(mask, 0xff, p->prefixlen / 8U);
                mask[p->prefixlen / 8U] = (uint8_t) (0xffU << (8U - p->prefixlen % 8U));
                k = expr_bitwise_mask(r, mask, len);
                if (k < 0)
                        return k;
        }
        return expr_cmp_eq(r, p->addr.bytes, len);
}

/* Lookups name a set created in the same transaction by its id too (NFTA_LOOKUP_SET_ID). */
static uint32_t model_set_id(const NftModel *m, const char *name) {
        const struct nftnl_set *s = model_find_set(m, name);

        return s ? nftnl_set_get_u32(s, NFTNL_SET_ID) : 0;
}

/* "ip saddr @SET" or "ip saddr != @SET", ip6 likewise */
static int match_source_set(const NftModel *m, struct nftnl_rule *r, int family, const char *set, bool invert) {
        int k = match_nfproto(r, family);

        if (k >= 0)
                k = expr_payload_load(r, addr_offset(family, true), (uint32_t) family_addr_size(family));
        return k < 0 ? k : expr_lookup(r, set, model_set_id(m, set), invert);
}

/* "oifname @SET", "iifname != @SET" and so on */
static int match_ifname_set(const NftModel *m, struct nftnl_rule *r, uint32_t key, const char *set,
                            bool invert) {
        int k = expr_meta_load(r, key);

        return k < 0 ? k : expr_lookup(r, set, model_set_id(m, set), invert);
}

/* "rt ip nexthop ADDR" (after "meta nfproto"): the next hop of the route the packet took, known in the
 * forward hook (net/netfilter/nft_rt.c, nft_rt_get_eval()). */
static int match_nexthop(struct nftnl_rule *r, int family, const InAddrUnion *a) {
        struct nftnl_expr *e;
        int k = rule_expr(r, "rt", &e);

        if (k < 0)
                return k;
        nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, family == AF_INET ? NFT_RT_NEXTHOP4 : NFT_RT_NEXTHOP6);
        nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, NFT_REG_1);
        return expr_cmp_eq(r, a->bytes, (uint32_t) family_addr_size(family));
}

/* ---------------------------------------------------------------------------------------------------
 * names: the table's sets of every pool, and per policy "POLICY/...". A '/' is never part of a policy
 * or gateway name (rt_name_valid()), so no two names clash. Both stay far below NFT_SET_MAXNAMELEN and
 * NFT_OBJ_MAXNAMELEN (256). */

#define NFT_NAME_MAX 160
#define SET_POOLS4 "pools4"
#define SET_POOLS6 "pools6"

static const int families[] = { AF_INET, AF_INET6 };

typedef struct PolicyNames {
        char pools[2][NFT_NAME_MAX]; /* IPv4, IPv6 */
        char tunnels[NFT_NAME_MAX];
        char gateways[NFT_NAME_MAX];
        char leak[NFT_NAME_MAX];
} PolicyNames;

static void policy_names(const char *policy, PolicyNames *ret) {
        (void) snprintf(ret->pools[0], NFT_NAME_MAX, "%s/pools4", policy);
        (void) snprintf(ret->pools[1], NFT_NAME_MAX, "%s/pools6", policy);
        (void) snprintf(ret->tunnels, NFT_NAME_MAX, "%s/tunnels", policy);
        (void) snprintf(ret->gateways, NFT_NAME_MAX, "%s/gateways", policy);
        (void) snprintf(ret->leak, NFT_NAME_MAX, "%s/leak-drops", policy);
}

/* Named by the prefix, not by its place in the list: a counter carried over a rebuild (see
 * model_carry_counters()) stays with its pool. */
static void pool_counter_name(const char *policy, const char *prefix, bool out, char ret[static NFT_NAME_MAX]) {
        (void) snprintf(ret, NFT_NAME_MAX, "%s/pool-%s-%s", policy, prefix, out ? "out" : "in");
}

static const char *pool_text(const Prefix *pool, char ret[static PREFIX_STRLEN]) {
        Prefix p = *pool;

        prefix_mask(&p);
        return prefix_to_string(&p, ret);
}

static void gateway_counter_name(const char *policy, const char *gateway, char ret[static NFT_NAME_MAX]) {
        (void) snprintf(ret, NFT_NAME_MAX, "%s/gw-%s", policy, gateway);
}

/* ---------------------------------------------------------------------------------------------------
 * building the model from a spec */

static int model_new_rule(NftModel *m, const char *chain, struct nftnl_rule **ret) {
        struct nftnl_rule *r;

        if (ptr_array_reserve(&m->rules) < 0)
                return -ENOMEM;
        r = nftnl_rule_alloc();
        if (!r)
                return -ENOMEM;
        m->rules.items[m->rules.n++] = r;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
        if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME) < 0 ||
            nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0)
                return -ENOMEM;
        *ret = r;
        return 0;
}

/* "ip saddr PREFIX counter name POLICY/pool-PREFIX-out" (or daddr, -in) */
static int rule_pool_counter(NftModel *m, const NftPolicy *p, size_t index, bool source) {
        char name[NFT_NAME_MAX], text[PREFIX_STRLEN];
        struct nftnl_rule *r;
        int k;

        pool_counter_name(p->name, pool_text(&p->pools[index], text), source, name);
        k = model_new_rule(m, CHAIN_FORWARD, &r);
        if (k < 0)
                return k;
        k = match_prefix(r, &p->pools[index], source);
        return k < 0 ? k : expr_counter_ref(r, name);
}

/* "... oifname != @P/tunnels oifname != @P/gateways counter name P/leak-drops drop", how both guards end.
 * With no gateway device known the second test always holds: out by a tunnel only. */
static int rule_guard_end(const NftModel *m, struct nftnl_rule *r, const PolicyNames *n) {
        int k = match_ifname_set(m, r, NFT_META_OIFNAME, n->tunnels, true);

        if (k >= 0)
                k = match_ifname_set(m, r, NFT_META_OIFNAME, n->gateways, true);
        if (k >= 0)
                k = expr_counter_ref(r, n->leak);
        return k < 0 ? k : expr_drop(r);
}

/* "ip saddr @P/pools4 oifname != ... drop": the policy's pools leave by its tunnels and its gateways'
 * devices only. */
static int rule_pool_guard(NftModel *m, const PolicyNames *n, size_t fi) {
        struct nftnl_rule *r;
        int k = model_new_rule(m, CHAIN_FORWARD, &r);

        if (k >= 0)
                k = match_source_set(m, r, families[fi], n->pools[fi], false);
        return k < 0 ? k : rule_guard_end(m, r, n);
}

/* "iifname @P/tunnels ip saddr != @pools4 oifname != ... drop": what arrives from a tunnel is VPN traffic
 * whatever its source (a client's LAN behind an iroute keeps its own addresses), and leaves by the devices
 * the policy's pools may. Pool sources are left to their own pool's rule, so a tunnel serving several
 * policies carries each pool's traffic to that pool's gateways, and other sources only where all of its
 * policies allow. */
static int rule_tunnel_guard(NftModel *m, const PolicyNames *n, size_t fi) {
        struct nftnl_rule *r;
        int k = model_new_rule(m, CHAIN_FORWARD, &r);

        if (k >= 0)
                k = match_ifname_set(m, r, NFT_META_IIFNAME, n->tunnels, false);
        if (k >= 0)
                k = match_source_set(m, r, families[fi], fi == 0 ? SET_POOLS4 : SET_POOLS6, true);
        return k < 0 ? k : rule_guard_end(m, r, n);
}

static const InAddrUnion *gateway_addr(const NftGateway *g, size_t fi) {
        if (fi == 0)
                return g->has_ipv4 ? &g->ipv4 : NULL;
        return g->has_ipv6 ? &g->ipv6 : NULL;
}

/* "ip saddr @P/pools4 rt ip nexthop GW counter name P/gw-NAME": the policy's traffic by way of the
 * gateway, told by the route's next hop, so two gateways on one device count apart. After the guards:
 * what they drop did not go. */
static int rule_gateway_counter(NftModel *m, const NftPolicy *p, const PolicyNames *n, const NftGateway *g,
                                size_t fi) {
        const InAddrUnion *a = gateway_addr(g, fi);
        char name[NFT_NAME_MAX];
        struct nftnl_rule *r;
        int k;

        if (!a)
                return 0;
        gateway_counter_name(p->name, g->name, name);
        k = model_new_rule(m, CHAIN_FORWARD, &r);
        if (k >= 0)
                k = match_source_set(m, r, families[fi], n->pools[fi], false);
        if (k >= 0)
                k = match_nexthop(r, families[fi], a);
        return k < 0 ? k : expr_counter_ref(r, name);
}

/* "ip saddr @P/pools4 oifname @P/gateways masquerade" */
static int rule_masquerade(NftModel *m, const PolicyNames *n, size_t fi) {
        struct nftnl_expr *e;
        struct nftnl_rule *r;
        int k;

        k = model_new_rule(m, CHAIN_POSTROUTING, &r);
        if (k >= 0)
                k = match_source_set(m, r, families[fi], n->pools[fi], false);
        if (k >= 0)
                k = match_ifname_set(m, r, NFT_META_OIFNAME, n->gateways, false);
        return k < 0 ? k : rule_expr(r, "masq", &e);
}

/* A policy's rules, in this order: its pools' counters (what tries to leave), the guards, the gateways'
 * counters (what left). */
static int model_add_policy_rules(NftModel *m, const NftSpec *spec, const NftPolicy *p) {
        PolicyNames n;
        int k = 0;

        policy_names(p->name, &n);
        for (size_t i = 0; k >= 0 && i < p->n_pools; i++) {
                k = rule_pool_counter(m, p, i, true);
                if (k >= 0)
                        k = rule_pool_counter(m, p, i, false);
        }
        for (size_t fi = 0; k >= 0 && spec->leak_guard && fi < ELEMENTSOF(families); fi++)
                k = rule_pool_guard(m, &n, fi);
        for (size_t fi = 0; k >= 0 && spec->leak_guard && fi < ELEMENTSOF(families); fi++)
                k = rule_tunnel_guard(m, &n, fi);
        for (size_t g = 0; k >= 0 && g < p->n_gateways; g++)
                for (size_t fi = 0; k >= 0 && fi < ELEMENTSOF(families); fi++)
                        k = rule_gateway_counter(m, p, &n, &p->gateways[g], fi);
        for (size_t fi = 0; k >= 0 && spec->masquerade && fi < ELEMENTSOF(families); fi++)
                k = rule_masquerade(m, &n, fi);
        return k;
}

static int model_add_counter(NftModel *m, const char *name) {
        struct nftnl_obj *o;

        if (ptr_array_reserve(&m->objs) < 0)
                return -ENOMEM;
        o = nftnl_obj_alloc();
        if (!o)
                return -ENOMEM;
        m->objs.items[m->objs.n++] = o;
        nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
        nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
        /* nftnl_obj_set_str() returns nothing: a failed strdup() shows as an unset attribute. */
        nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, NFT_TABLE_NAME);
        nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
        if (!nftnl_obj_is_set(o, NFTNL_OBJ_TABLE) || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME))
                return -ENOMEM;
        return 0;
}

/* Named counters, so the figures survive set updates and are read without parsing rules. */
static int model_add_policy_counters(NftModel *m, const NftSpec *spec, const NftPolicy *p) {
        char name[NFT_NAME_MAX], text[PREFIX_STRLEN];
        int k = 0;

        for (size_t i = 0; k >= 0 && i < 2 * p->n_pools; i++) {
                pool_counter_name(p->name, pool_text(&p->pools[i / 2], text), i % 2 == 0, name);
                k = model_add_counter(m, name);
        }
        for (size_t g = 0; k >= 0 && g < p->n_gateways; g++) {
                gateway_counter_name(p->name, p->gateways[g].name, name);
                k = model_add_counter(m, name);
        }
        if (k >= 0 && spec->leak_guard) {
                PolicyNames n;

                policy_names(p->name, &n);
                k = model_add_counter(m, n.leak);
        }
        return k;
}

static int model_add_chain(NftModel *m, const char *name, const char *type, uint32_t hook, int32_t prio) {
        struct nftnl_chain *c;

        if (ptr_array_reserve(&m->chains) < 0)
                return -ENOMEM;
        c = nftnl_chain_alloc();
        if (!c)
                return -ENOMEM;
        m->chains.items[m->chains.n++] = c;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME) < 0 ||
            nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 || nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0)
                return -ENOMEM;
        return 0;
}

/* The postrouting chain sits at priority + 100: srcnat (NF_IP_PRI_NAT_SRC) for the default 0. */
static int model_add_chains(NftModel *m, const NftSpec *spec) {
        int k;

        k = model_add_chain(m, CHAIN_FORWARD, "filter", NF_INET_FORWARD, spec->priority);
        if (k < 0 || !spec->masquerade)
                return k;
        return model_add_chain(m, CHAIN_POSTROUTING, "nat", NF_INET_POST_ROUTING, spec->priority + 100);
}

/* nftables' byte orders (nftables include/datatype.h: BYTEORDER_HOST_ENDIAN, BYTEORDER_BIG_ENDIAN). */
enum {
        NFT_BYTEORDER_HOST = 1,
        NFT_BYTEORDER_BIG = 2,
};

/* The key's byte order in the set's user data, where nft(8) looks for it (NFTNL_UDATA_SET_KEYBYTEORDER):
 * without it "nft list" reads a device name as a big-endian number and prints "". Display only: the
 * kernel stores user data without looking at it. */
static int set_put_byteorder(struct nftnl_set *s, uint32_t byteorder) {
        struct nftnl_udata_buf *u;
        int k = -ENOMEM;

        u = nftnl_udata_buf_alloc(64);
        if (!u)
                return -ENOMEM;
        if (nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, byteorder) &&
            nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u)) >= 0)
                k = 0;
        nftnl_udata_buf_free(u);
        return k;
}

/* A set, numbered in the order made: the id names it within the transaction. */
static int model_add_set(NftModel *m, const char *name, uint32_t type, uint32_t len, uint32_t flags,
                         struct nftnl_set **ret) {
        struct nftnl_set *s;

        if (ptr_array_reserve(&m->sets) < 0)
                return -ENOMEM;
        s = nftnl_set_alloc();
        if (!s)
                return -ENOMEM;
        m->sets.items[m->sets.n++] = s;
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t) m->sets.n);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, len);
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
        if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME) < 0 ||
            nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0)
                return -ENOMEM;
        *ret = s;
        return set_put_byteorder(s, type == NFT_DATATYPE_IFNAME ? NFT_BYTEORDER_HOST : NFT_BYTEORDER_BIG);
}

static int set_add_element(struct nftnl_set *s, const void *key, uint32_t len, uint32_t flags) {
        struct nftnl_set_elem *e;

        e = nftnl_set_elem_alloc();
        if (!e)
                return -ENOMEM;
        if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len) < 0) {
                nftnl_set_elem_free(e);
                return -ENOMEM;
        }
        /* Start elements carry no flags: the kernel then stores and dumps none (nft_set_ext_add() only
         * for flags != 0), so built and dumped elements render alike. */
        if (flags != 0)
                nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, flags);
        nftnl_set_elem_add(s, e);
        return 0;
}

/* An address range [start, end), end absent when it reaches the top of the address space. */
typedef struct Interval {
        uint8_t start[16], end[16];
        bool open;
} Interval;

static void interval_from_prefix(const Prefix *p, size_t len, Interval *ret) {
        unsigned carry = 1;

        *ret = (Interval) {};
        memcpy(ret->start, p->addr.bytes, len);
        for (size_t i = 0; i < len; i++) {
                unsigned bits = i * 8 >= p->prefixlen ? 0 : MIN(8U, p->prefixlen - (unsigned) i * 8U);
                uint8_t host = (uint8_t) (0xffU >> bits);

                ret->start[i] &= (uint8_t) ~host;
                ret->end[i] = ret->start[i] | host;
        }
        for (size_t i = len; i > 0 && carry; i--) { /* end = last address + 1 */
                unsigned v = ret->end[i - 1] + carry;
                ret->end[i - 1] = (uint8_t) v;
                carry = v >> 8;
        }
        ret->open = carry != 0;
}

static int interval_cmp(const void *a, const void *b, void *len) {
        return memcmp(((const Interval *) a)->start, ((const Interval *) b)->start, *(const size_t *) len);
}

/* The pools of one family as sorted, merged intervals: overlapping or adjacent pools would otherwise be
 * elements the kernel's interval set rejects (net/netfilter/nft_set_rbtree.c overlap detection). */
static size_t pools_intervals(const Prefix *pools, size_t n_pools, int family, Interval *list) {
        size_t len = family_addr_size(family), n = 0, out = 0;

        for (size_t i = 0; i < n_pools; i++)
                if (pools[i].family == family)
                        interval_from_prefix(&pools[i], len, &list[n++]);
        qsort_r(list, n, sizeof(Interval), interval_cmp, &len);
        for (size_t i = 0; i < n; i++) {
                Interval *cur = out > 0 ? &list[out - 1] : NULL;

                if (cur && (cur->open || memcmp(list[i].start, cur->end, len) <= 0)) {
                        if (list[i].open)
                                cur->open = true;
                        else if (!cur->open && memcmp(list[i].end, cur->end, len) > 0)
                                memcpy(cur->end, list[i].end, len);
                        continue;
                }
                list[out++] = list[i];
        }
        return out;
}

/* Interval sets hold a start element per range and an end element (flagged) at its first address
 * past the range (net/netfilter/nft_set_rbtree.c). */
static int set_add_pools(struct nftnl_set *s, const Prefix *pools, size_t n_pools, int family) {
        _cleanup_(freep) Interval *list = NULL;
        size_t n, len = family_addr_size(family);
        int k;

        list = calloc(MAX(n_pools, (size_t) 1), sizeof(Interval));
        if (!list)
                return -ENOMEM;
        n = pools_intervals(pools, n_pools, family, list);
        for (size_t i = 0; i < n; i++) {
                k = set_add_element(s, list[i].start, (uint32_t) len, 0);
                if (k >= 0 && !list[i].open)
                        k = set_add_element(s, list[i].end, (uint32_t) len, NFT_SET_ELEM_INTERVAL_END);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int pool_set_add(NftModel *m, const char *name, const Prefix *pools, size_t n_pools, int family) {
        bool v4 = family == AF_INET;
        struct nftnl_set *s;
        int k;

        k = model_add_set(m, name, v4 ? NFT_DATATYPE_IPADDR : NFT_DATATYPE_IP6ADDR, v4 ? 4 : 16,
                          NFT_SET_INTERVAL, &s);
        return k < 0 ? k : set_add_pools(s, pools, n_pools, family);
}

static int ifname_cmp(const void *a, const void *b) {
        return strncmp(a, b, IFNAMSIZ);
}

/* Interface names as the kernel's meta expression loads them: IFNAMSIZ bytes, zero padded; each once,
 * as the kernel keeps them (and compares them so). */
static int set_add_ifnames(struct nftnl_set *s, char (*names)[IFNAMSIZ], size_t n) {
        _cleanup_(freep) char (*sorted)[IFNAMSIZ] = NULL;

        if (n == 0)
                return 0;
        sorted = calloc(n, IFNAMSIZ);
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                memcpy(sorted[i], names[i], strnlen(names[i], IFNAMSIZ - 1));
        qsort(sorted, n, IFNAMSIZ, ifname_cmp);
        for (size_t i = 0; i < n; i++) {
                int k;

                if (i > 0 && ifname_cmp(sorted[i - 1], sorted[i]) == 0)
                        continue;
                k = set_add_element(s, sorted[i], IFNAMSIZ, 0);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int ifname_set_add(NftModel *m, const char *name, char (*names)[IFNAMSIZ], size_t n) {
        struct nftnl_set *s;
        int k = model_add_set(m, name, NFT_DATATYPE_IFNAME, IFNAMSIZ, 0, &s);

        return k < 0 ? k : set_add_ifnames(s, names, n);
}

static int model_add_policy_sets(NftModel *m, const NftPolicy *p) {
        PolicyNames n;
        int k = 0;

        policy_names(p->name, &n);
        for (size_t fi = 0; k >= 0 && fi < ELEMENTSOF(families); fi++)
                k = pool_set_add(m, n.pools[fi], p->pools, p->n_pools, families[fi]);
        if (k >= 0)
                k = ifname_set_add(m, n.tunnels, p->tunnels, p->n_tunnels);
        if (k >= 0)
                k = ifname_set_add(m, n.gateways, p->devices, p->n_devices);
        return k;
}

/* The sets of every pool (what the tunnel guards leave to the pool guards), then each policy's. */
static int model_add_sets(NftModel *m, const NftSpec *spec) {
        _cleanup_(freep) Prefix *all = NULL;
        size_t n = 0;
        int k = 0;

        for (size_t i = 0; i < spec->n_policies; i++)
                n += spec->policies[i].n_pools;
        all = calloc(MAX(n, (size_t) 1), sizeof(Prefix));
        if (!all)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < spec->n_policies; i++)
                for (size_t j = 0; j < spec->policies[i].n_pools; j++)
                        all[n++] = spec->policies[i].pools[j];
        for (size_t fi = 0; k >= 0 && fi < ELEMENTSOF(families); fi++)
                k = pool_set_add(m, fi == 0 ? SET_POOLS4 : SET_POOLS6, all, n, families[fi]);
        for (size_t i = 0; k >= 0 && i < spec->n_policies; i++)
                k = model_add_policy_sets(m, &spec->policies[i]);
        return k;
}

static bool ifnames_valid(char (*names)[IFNAMSIZ], size_t n) {
        if (n > 0 && !names)
                return false;
        for (size_t i = 0; i < n; i++) {
                size_t l = strnlen(names[i], IFNAMSIZ);
                if (l == 0 || l == IFNAMSIZ)
                        return false;
        }
        return true;
}

static int prefix_cmp(const void *a, const void *b) {
        const Prefix *x = a, *y = b;

        if (x->family != y->family)
                return x->family < y->family ? -1 : 1;
        if (x->prefixlen != y->prefixlen)
                return x->prefixlen < y->prefixlen ? -1 : 1;
        return memcmp(x->addr.bytes, y->addr.bytes, family_addr_size(x->family));
}

/* Each pool once in its policy (it names counters), sorted to find twins in O(n log n). */
static int pools_validate(const Prefix *pools, size_t n) {
        _cleanup_(freep) Prefix *sorted = NULL;

        if (n == 0)
                return 0;
        if (!pools)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int f = pools[i].family;
                if ((f != AF_INET && f != AF_INET6) || pools[i].prefixlen > family_max_prefixlen(f))
                        return -EINVAL;
        }
        sorted = reallocarray(NULL, n, sizeof(Prefix));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                sorted[i] = (Prefix) { .family = pools[i].family, .prefixlen = pools[i].prefixlen };
                memcpy(sorted[i].addr.bytes, pools[i].addr.bytes, family_addr_size(pools[i].family));
                prefix_mask(&sorted[i]);
        }
        qsort(sorted, n, sizeof(Prefix), prefix_cmp);
        for (size_t i = 1; i < n; i++)
                if (prefix_cmp(&sorted[i - 1], &sorted[i]) == 0)
                        return -EINVAL;
        return 0;
}

/* Gateway names name counters: valid, and each once in its policy. */
static bool gateways_valid(const NftGateway *g, size_t n) {
        if (n > 0 && !g)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!rt_name_valid(g[i].name))
                        return false;
                for (size_t j = 0; j < i; j++)
                        if (streq(g[i].name, g[j].name))
                                return false;
        }
        return true;
}

static int spec_validate(const NftSpec *spec) {
        if (spec->n_policies > 0 && !spec->policies)
                return -EINVAL;
        for (size_t i = 0; i < spec->n_policies; i++) {
                const NftPolicy *p = &spec->policies[i];
                int k = pools_validate(p->pools, p->n_pools);

                if (k < 0)
                        return k;
                if (!rt_name_valid(p->name) || !gateways_valid(p->gateways, p->n_gateways) ||
                    !ifnames_valid(p->devices, p->n_devices) || !ifnames_valid(p->tunnels, p->n_tunnels))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (streq(p->name, spec->policies[j].name))
                                return -EINVAL;
        }
        if (spec->priority > INT32_MAX - 100)
                return -ERANGE;
        return 0;
}

static int model_build(const NftSpec *spec, NftModel *ret) {
        _cleanup_(model_done) NftModel m = { .present = true, .table_flags = NFT_TABLE_FLAGS };
        int k;

        k = spec_validate(spec);
        for (size_t i = 0; k >= 0 && i < spec->n_policies; i++)
                k = model_add_policy_counters(&m, spec, &spec->policies[i]);
        if (k >= 0)
                k = model_add_sets(&m, spec);
        if (k >= 0)
                k = model_add_chains(&m, spec);
        for (size_t i = 0; k >= 0 && i < spec->n_policies; i++)
                k = model_add_policy_rules(&m, spec, &spec->policies[i]);
        if (k < 0)
                return k;
        *ret = m;
        m = (NftModel) {};
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * comparing: a model as sorted text lines, one per object, covering what we decide (never handles,
 * use counts or counter values) */

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void strv_sort(char **l) {
        if (l)
                qsort(l, strv_length(l), sizeof(char *), str_cmp);
}

/* The rule's expressions, as nft --debug=netlink prints them. */
static int rule_render(const struct nftnl_rule *r, char **ret) {
        _cleanup_(freep) char *s = NULL;
        struct nftnl_expr_iter *it;
        struct nftnl_expr *e;
        size_t size = 0;
        FILE *f;
        int k = 0;

        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        it = nftnl_expr_iter_create(r);
        for (e = it ? nftnl_expr_iter_next(it) : NULL; e; e = nftnl_expr_iter_next(it)) {
                char buf[1024];
                int w = nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);

                if (w < 0 || w >= (int) sizeof(buf))
                        k = -E2BIG;
                fprintf(f, "[ %s %s] ", nftnl_expr_get_str(e, NFTNL_EXPR_NAME), buf);
        }
        if (it)
                nftnl_expr_iter_destroy(it);
        if (fclose(f) != 0 || !it)
                return -ENOMEM;
        if (k < 0)
                return k;
        *ret = TAKE_PTR(s);
        return 0;
}

static int signature_rules(const NftModel *m, char ***lines) {
        for (size_t i = 0; i < m->rules.n; i++) {
                const char *chain = nftnl_rule_get_str(m->rules.items[i], NFTNL_RULE_CHAIN);
                _cleanup_(freep) char *exprs = NULL;
                size_t index = 0;
                int k;

                for (size_t j = 0; j < i; j++)
                        index += streq_ptr(nftnl_rule_get_str(m->rules.items[j], NFTNL_RULE_CHAIN), chain);
                k = rule_render(m->rules.items[i], &exprs);
                if (k >= 0)
                        k = strv_extendf(lines, "rule %s %04zu %s", strempty(chain), index, exprs);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int signature_chain(const struct nftnl_chain *c, char ***lines) {
        const char *name = strempty(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));

        if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM))
                return strv_extendf(lines, "chain %s", name);
        return strv_extendf(lines, "chain %s type=%s hook=%u prio=%d policy=%u", name,
                            strempty(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE)),
                            nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
                            (int32_t) nftnl_chain_get_u32(c, NFTNL_CHAIN_PRIO),
                            nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY));
}

static void hex_encode(const uint8_t *p, size_t len, char *out, size_t size) {
        out[0] = '\0';
        for (size_t i = 0; p && i < len && 2 * i + 2 < size; i++)
                (void) snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Includes the user data: it holds the key byte order "nft list" needs. */
static int signature_set(const struct nftnl_set *s, char ***lines) {
        char udata[2 * 64 + 1];
        uint32_t len = 0;
        const void *u;

        u = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
        hex_encode(u, u ? len : 0, udata, sizeof(udata));
        return strv_extendf(lines, "set %s key=%u/%u data=%u/%u flags=%#x obj=%u udata=%s",
                            strempty(nftnl_set_get_str(s, NFTNL_SET_NAME)),
                            nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
                            nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE), nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN),
                            nftnl_set_get_u32(s, NFTNL_SET_FLAGS), nftnl_set_get_u32(s, NFTNL_SET_OBJ_TYPE), udata);
}

/* Everything but set elements: chains, rules, sets and their types, counters. */
static int model_signature(const NftModel *m, char ***ret) {
        _cleanup_strv_free_ char **lines = NULL;
        int k;

        k = strv_extendf(&lines, "table present=%d flags=%#x unparsed=%zu", m->present, m->table_flags,
                         m->unparsed);
        for (size_t i = 0; k >= 0 && i < m->chains.n; i++)
                k = signature_chain(m->chains.items[i], &lines);
        for (size_t i = 0; k >= 0 && i < m->sets.n; i++)
                k = signature_set(m->sets.items[i], &lines);
        for (size_t i = 0; k >= 0 && i < m->objs.n; i++)
                k = strv_extendf(&lines, "obj %s type=%u", strempty(nftnl_obj_get_str(m->objs.items[i], NFTNL_OBJ_NAME)),
                                 nftnl_obj_get_u32(m->objs.items[i], NFTNL_OBJ_TYPE));
        if (k >= 0)
                k = signature_rules(m, &lines);
        if (k < 0)
                return k;
        strv_sort(lines);
        *ret = TAKE_PTR(lines);
        return 0;
}

static int element_render(struct nftnl_set_elem *e, char ***lines) {
        char hex[2 * NFT_DATA_VALUE_MAXLEN + 1];
        const uint8_t *key;
        uint32_t len = 0;

        key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
        hex_encode(key, key ? len : 0, hex, sizeof(hex));
        /* nftnl_set_elem_get_u32() dereferences what an unset attribute returns: NULL. */
        return strv_extendf(lines, "%s flags=%#x", hex,
                            nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ?
                                    nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) :
                                    0U);
}

/* A set's elements as sorted lines "KEY flags=F"; an absent set has none. */
static int set_elements(const struct nftnl_set *s, char ***ret) {
        _cleanup_strv_free_ char **lines = NULL;
        struct nftnl_set_elems_iter *it;
        int k = 0;

        if (s) {
                it = nftnl_set_elems_iter_create(s);
                if (!it)
                        return -ENOMEM;
                /* _next() returns the current element and advances. */
                for (struct nftnl_set_elem *e; k >= 0 && (e = nftnl_set_elems_iter_next(it));)
                        k = element_render(e, &lines);
                nftnl_set_elems_iter_destroy(it);
        }
        if (k < 0)
                return k;
        strv_sort(lines);
        *ret = TAKE_PTR(lines);
        return 0;
}

static int set_elements_equal(const struct nftnl_set *a, const struct nftnl_set *b) {
        _cleanup_strv_free_ char **la = NULL, **lb = NULL;
        int k;

        k = set_elements(a, &la);
        if (k >= 0)
                k = set_elements(b, &lb);
        if (k < 0)
                return k;
        return strv_equal(la, lb);
}

/* ---------------------------------------------------------------------------------------------------
 * reading the kernel's table */

static bool ours(const char *table) {
        return streq_ptr(table, NFT_TABLE_NAME);
}

static int table_cb(const struct nlmsghdr *nlh, void *userdata) {
        NftModel *m = userdata;
        struct nftnl_table *t;

        t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        if (nftnl_table_nlmsg_parse(nlh, t) >= 0 && ours(nftnl_table_get_str(t, NFTNL_TABLE_NAME)) &&
            nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET) {
                m->present = true;
                m->table_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
        }
        nftnl_table_free(t);
        return 0;
}

/* The dump callback of one kind of object: keep what is of our table. Chain dumps cannot be filtered by
 * table (nf_tables_dump_chains()), the others are: there an object libnftnl cannot parse (an expression
 * it does not know, say) is someone else's addition to our table, and makes the structure differ. */
#define DEFINE_DUMP_CB(kind, table_attr, array, filtered)                                                  \
        static int kind##_cb(const struct nlmsghdr *nlh, void *userdata) {                                 \
                NftModel *m = userdata;                                                                     \
                struct nftnl_##kind *o;                                                                     \
                                                                                                            \
                if (ptr_array_reserve(&m->array) < 0 || !(o = nftnl_##kind##_alloc()))                      \
                        return -ENOMEM;                                                                     \
                if (nftnl_##kind##_nlmsg_parse(nlh, o) < 0)                                                 \
                        m->unparsed += filtered;                                                            \
                else if (ours(nftnl_##kind##_get_str(o, table_attr))) {                                     \
                        m->array.items[m->array.n++] = o;                                                   \
                        return 0;                                                                           \
                }                                                                                           \
                nftnl_##kind##_free(o);                                                                     \
                return 0;                                                                                   \
        }

DEFINE_DUMP_CB(chain, NFTNL_CHAIN_TABLE, chains, false)
DEFINE_DUMP_CB(set, NFTNL_SET_TABLE, sets, true)
DEFINE_DUMP_CB(obj, NFTNL_OBJ_TABLE, objs, true)
DEFINE_DUMP_CB(rule, NFTNL_RULE_TABLE, rules, true)

static int elements_cb(const struct nlmsghdr *nlh, void *userdata) {
        return nftnl_set_elems_nlmsg_parse(nlh, userdata) < 0 ? -EBADMSG : 0;
}

static int dump_table_objects(Nft *n, uint16_t type, uint16_t attr, nft_message_handler_t cb, void *userdata) {
        uint8_t buf[NFT_REQUEST_MAX];
        struct nlmsghdr *nlh = request_start(buf, type, NLM_F_DUMP);

        if (attr != 0)
                mnl_attr_put_strz(nlh, attr, NFT_TABLE_NAME);
        return nft_request(n, nlh, cb, userdata);
}

static int dump_elements(Nft *n, struct nftnl_set *s) {
        uint8_t buf[NFT_REQUEST_MAX];
        struct nlmsghdr *nlh = request_start(buf, NFT_MSG_GETSETELEM, NLM_F_DUMP);

        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE_NAME);
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nftnl_set_get_str(s, NFTNL_SET_NAME));
        return nft_request(n, nlh, elements_cb, s);
}

static int observe_contents(Nft *n, NftModel *m) {
        int k;

        k = dump_table_objects(n, NFT_MSG_GETCHAIN, 0, chain_cb, m);
        if (k >= 0)
                k = dump_table_objects(n, NFT_MSG_GETSET, NFTA_SET_TABLE, set_cb, m);
        if (k >= 0)
                k = dump_table_objects(n, NFT_MSG_GETOBJ, NFTA_OBJ_TABLE, obj_cb, m);
        if (k >= 0)
                k = dump_table_objects(n, NFT_MSG_GETRULE, NFTA_RULE_TABLE, rule_cb, m);
        for (size_t i = 0; k >= 0 && i < m->sets.n; i++)
                k = dump_elements(n, m->sets.items[i]);
        return k;
}

/* Our table as the kernel holds it, read between two reads of the generation id so that all dumps see
 * one ruleset; -EINTR when it changed meanwhile (try again). *ret_genid is for the transaction built
 * from what we read: the kernel refuses it if anything changed since (NFNL_BATCH_GENID). */
static int observe(Nft *n, NftModel *ret, uint32_t *ret_genid) {
        _cleanup_(model_done) NftModel m = {};
        uint32_t before, after;
        int k;

        k = nft_get_genid(n, &before);
        if (k >= 0)
                k = dump_table_objects(n, NFT_MSG_GETTABLE, 0, table_cb, &m);
        if (k >= 0 && m.present)
                k = observe_contents(n, &m);
        if (k == -ENOENT) /* our table or set went away between two dumps */
                return -EINTR;
        if (k >= 0)
                k = nft_get_genid(n, &after);
        if (k < 0)
                return k;
        if (before != after)
                return -EINTR;
        *ret = m;
        m = (NftModel) {};
        *ret_genid = after;
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * transactions */

typedef struct NftBatch {
        uint8_t *buf;
        size_t used, allocated;
        size_t open;      /* offset of the message being built, SIZE_MAX when none */
        uint32_t seq;     /* of the next message */
        uint32_t seq_begin;
        size_t n_messages; /* between begin and end; each asks for an ack */
} NftBatch;

static void batch_done(NftBatch *b) {
        free(b->buf);
        *b = (NftBatch) {};
}

/* Closes the previous message: builders only append, so its final length is known now. */
static void batch_close(NftBatch *b) {
        if (b->open != SIZE_MAX) {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) (b->buf + b->open);
                b->used = b->open + NLMSG_ALIGN(nlh->nlmsg_len);
                b->open = SIZE_MAX;
        }
}

static char *batch_next(NftBatch *b) {
        batch_close(b);
        if (b->allocated - b->used < NFT_MESSAGE_MAX) {
                size_t a = MAX(b->allocated * 2, b->used + NFT_MESSAGE_MAX);
                uint8_t *p = realloc(b->buf, a);
                if (!p)
                        return NULL;
                b->buf = p;
                b->allocated = a;
        }
        memset(b->buf + b->used, 0, NFT_MESSAGE_MAX);
        b->open = b->used;
        return (char *) b->buf + b->used;
}

/* Starts a transaction. A genid makes the kernel refuse it (-ERESTART) if the ruleset changed since we
 * read it (net/netfilter/nfnetlink.c, nfnetlink_rcv_batch(): valid_genid). */
static int batch_begin(NftBatch *b, uint32_t seq, bool check_genid, uint32_t genid) {
        struct nlmsghdr *nlh;
        char *p;

        *b = (NftBatch) { .open = SIZE_MAX, .seq = seq };
        p = batch_next(b);
        if (!p)
                return -ENOMEM;
        b->seq_begin = b->seq;
        nlh = nftnl_batch_begin(p, b->seq++);
        if (check_genid)
                mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
        return 0;
}

static struct nlmsghdr *batch_add(NftBatch *b, uint16_t type, uint16_t flags) {
        char *p = batch_next(b);

        if (!p)
                return NULL;
        b->n_messages++;
        return nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags | NLM_F_ACK, b->seq++);
}

static int batch_end(NftBatch *b) {
        char *p = batch_next(b);

        if (!p)
                return -ENOMEM;
        nftnl_batch_end(p, b->seq++);
        batch_close(b);
        return 0;
}

static int tx_table(NftBatch *b, uint16_t type, uint16_t flags) {
        struct nftnl_table *t;
        struct nlmsghdr *nlh;

        t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
        if (type == NFT_MSG_NEWTABLE)
                nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_FLAGS);
        nlh = nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME) < 0 ? NULL : batch_add(b, type, flags);
        if (nlh)
                nftnl_table_nlmsg_build_payload(nlh, t);
        nftnl_table_free(t);
        return nlh ? 0 : -ENOMEM;
}

/* One element: NFTA_LIST_ELEM { KEY { NFTA_DATA_VALUE }, FLAGS }. Built here rather than with
 * nftnl_set_elems_nlmsg_build_payload_iter(), which numbers the list entries 1, 2, 3... where the kernel's
 * dumps (and libnftnl's own parser) use NFTA_LIST_ELEM for each: so what we send parses back. */
static void element_put(struct nlmsghdr *nlh, struct nftnl_set_elem *e) {
        struct nlattr *elem, *key;
        const void *data;
        uint32_t len = 0;

        elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
        data = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
        key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
        mnl_attr_put(nlh, NFTA_DATA_VALUE, len, data);
        mnl_attr_nest_end(nlh, key);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
                mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS)));
        mnl_attr_nest_end(nlh, elem);
}

/* A set's elements, NFT_ELEMENTS_PER_MESSAGE per message: each element takes at most 48 bytes here, so
 * the list stays far below the 64 KiB a nested attribute can hold. */
static int tx_elements(NftBatch *b, const struct nftnl_set *s, uint16_t flags) {
        struct nftnl_set_elems_iter *it;
        struct nftnl_set_elem *e;
        struct nlmsghdr *nlh = NULL;
        struct nlattr *list = NULL;
        size_t n = 0;

        it = nftnl_set_elems_iter_create(s);
        if (!it)
                return -ENOMEM;
        /* _next() returns the current element and advances. */
        while ((e = nftnl_set_elems_iter_next(it))) {
                if (n++ % NFT_ELEMENTS_PER_MESSAGE == 0) {
                        if (list)
                                mnl_attr_nest_end(nlh, list);
                        nlh = batch_add(b, NFT_MSG_NEWSETELEM, flags);
                        if (!nlh)
                                break;
                        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE_NAME);
                        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nftnl_set_get_str(s, NFTNL_SET_NAME));
                        list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
                }
                element_put(nlh, e);
        }
        if (nlh && list)
                mnl_attr_nest_end(nlh, list);
        nftnl_set_elems_iter_destroy(it);
        return n > 0 && !nlh ? -ENOMEM : 0;
}

/* A DELSETELEM without elements flushes the set (nf_tables_delsetelem(): nft_set_flush()). */
static int tx_flush_set(NftBatch *b, const char *name) {
        struct nlmsghdr *nlh = batch_add(b, NFT_MSG_DELSETELEM, 0);

        if (!nlh)
                return -ENOMEM;
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE_NAME);
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
        return 0;
}

static int tx_objects(NftBatch *b, const NftModel *m) {
        const uint16_t create = NLM_F_CREATE | NLM_F_EXCL;
        struct nlmsghdr *nlh;
        int k = 0;

        for (size_t i = 0; i < m->objs.n; i++) {
                if (!(nlh = batch_add(b, NFT_MSG_NEWOBJ, create)))
                        return -ENOMEM;
                nftnl_obj_nlmsg_build_payload(nlh, m->objs.items[i]);
        }
        for (size_t i = 0; k >= 0 && i < m->sets.n; i++) {
                if (!(nlh = batch_add(b, NFT_MSG_NEWSET, create)))
                        return -ENOMEM;
                nftnl_set_nlmsg_build_payload(nlh, m->sets.items[i]);
                k = tx_elements(b, m->sets.items[i], NLM_F_CREATE);
        }
        for (size_t i = 0; k >= 0 && i < m->chains.n; i++) {
                if (!(nlh = batch_add(b, NFT_MSG_NEWCHAIN, create)))
                        return -ENOMEM;
                nftnl_chain_nlmsg_build_payload(nlh, m->chains.items[i]);
        }
        for (size_t i = 0; k >= 0 && i < m->rules.n; i++) {
                if (!(nlh = batch_add(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND)))
                        return -ENOMEM;
                nftnl_rule_nlmsg_build_payload(nlh, m->rules.items[i]);
        }
        return k;
}

/* The whole table in one transaction, after deleting the old one if there is one: all or nothing, so
 * there is never a half-built table. Objects come before the rules that name them. */
static int tx_replace(NftBatch *b, const NftModel *want, bool delete_first) {
        int k = 0;

        if (delete_first)
                k = tx_table(b, NFT_MSG_DELTABLE, 0);
        if (k >= 0)
                k = tx_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);
        if (k >= 0)
                k = tx_objects(b, want);
        return k;
}

/* Rewrites the elements of each set that differs: flush and add in one transaction, so no packet ever
 * sees a set in between. */
static int tx_update_elements(NftBatch *b, const NftModel *want, const NftModel *have) {
        for (size_t i = 0; i < want->sets.n; i++) {
                const struct nftnl_set *s = want->sets.items[i];
                const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);
                int k;

                k = set_elements_equal(s, model_find_set(have, name));
                if (k > 0)
                        continue;
                if (k >= 0)
                        k = tx_flush_set(b, name);
                if (k >= 0)
                        k = tx_elements(b, s, NLM_F_CREATE);
                if (k < 0)
                        return k;
        }
        return 0;
}

typedef struct AttrFind {
        uint16_t type;
        const char *str;
} AttrFind;

/* The string attribute of that type, validated (libmnl's attribute walk, which mnl_attr_for_each() cannot
 * do on a const message without casting the const away). */
static int attr_find_str_cb(const struct nlattr *attr, void *userdata) {
        AttrFind *f = userdata;

        if (mnl_attr_get_type(attr) == f->type && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
                f->str = mnl_attr_get_str(attr);
        return MNL_CB_OK;
}

static const char *attr_find_str(const struct nlmsghdr *nlh, size_t offset, uint16_t type) {
        AttrFind f = { .type = type };

        (void) mnl_attr_parse(nlh, (unsigned) offset, attr_find_str_cb, &f);
        return f.str;
}

static void set_error(Nft *n, const struct nlmsghdr *nlh) {
        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
        size_t offset = sizeof(struct nlmsgerr);
        const char *msg;

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                offset += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
        if (offset >= mnl_nlmsg_get_payload_len(nlh))
                return;
        msg = attr_find_str(nlh, offset, NLMSGERR_ATTR_MSG);
        if (msg) {
                free(n->error);
                n->error = strdup(msg);
        }
}

typedef struct AckState {
        size_t acked;
        int error;
        bool batch_failed;
} AckState;

static void acks_process(Nft *n, const NftBatch *b, size_t len, AckState *s) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) n->buf;
        int remaining = (int) len;

        for (; message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
                const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
                uint32_t i = nlh->nlmsg_seq - b->seq_begin;

                if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != n->portid || i > b->n_messages + 1)
                        continue;
                if (err->error < 0 && s->error == 0) {
                        s->error = err->error;
                        set_error(n, nlh);
                }
                /* An error for the begin or end message: the kernel refused the batch as a whole
                 * (stale genid, malformed batch), and no per-message acks follow. */
                if (i == 0 || i == b->n_messages + 1)
                        s->batch_failed = true;
                else
                        s->acked++;
        }
}

/* Sends the batch in one sendmsg() (nfnetlink takes a transaction only whole) and collects one ack per
 * message; the first error is the result. */
static int nft_transact(Nft *n, NftBatch *b) {
        AckState s = {};

        n->error = mfree(n->error);
        if (b->used > 64U * 1024U)
                (void) nl_set_sndbuf(n->requests, b->used + 64U * 1024U);
        if (b->n_messages * NFT_ACK_TRUESIZE > NFT_RCVBUF_REQUESTS)
                (void) nl_set_rcvbuf(n->requests, b->n_messages * NFT_ACK_TRUESIZE);
        if (mnl_socket_sendto(n->requests, b->buf, b->used) < 0)
                return negative_errno();
        n->seq = b->seq;
        while (s.acked < b->n_messages && !s.batch_failed) {
                ssize_t len = requests_recv(n);
                if (len < 0)
                        return (int) len;
                acks_process(n, b, (size_t) len, &s);
        }
        return s.error;
}

/* ---------------------------------------------------------------------------------------------------
 * the public interface */

int nft_build_transaction(const NftSpec *spec, bool delete_first, uint32_t seq, void **ret, size_t *ret_size) {
        _cleanup_(model_done) NftModel want = {};
        _cleanup_(batch_done) NftBatch b = {};
        int k;

        k = model_build(spec, &want);
        if (k >= 0)
                k = batch_begin(&b, seq, false, 0);
        if (k >= 0)
                k = tx_replace(&b, &want, delete_first);
        if (k >= 0)
                k = batch_end(&b);
        if (k < 0)
                return k;
        *ret_size = b.used;
        *ret = TAKE_PTR(b.buf);
        return 0;
}

static int counter_find(const NftModel *m, const char *name, uint64_t *ret_packets, uint64_t *ret_bytes) {
        for (size_t i = 0; i < m->objs.n; i++) {
                struct nftnl_obj *o = m->objs.items[i];

                if (nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER ||
                    !streq_ptr(nftnl_obj_get_str(o, NFTNL_OBJ_NAME), name))
                        continue;
                *ret_packets = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
                *ret_bytes = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
                return 1;
        }
        return 0;
}

/* A rebuild keeps the figures: each counter starts from the value of the one of its name in the table it
 * replaces (a counter object takes initial values, net/netfilter/nft_counter.c, nft_counter_do_init()). */
static void model_carry_counters(NftModel *want, const NftModel *have) {
        for (size_t i = 0; i < want->objs.n; i++) {
                struct nftnl_obj *o = want->objs.items[i];
                uint64_t packets = 0, bytes = 0;

                if (counter_find(have, nftnl_obj_get_str(o, NFTNL_OBJ_NAME), &packets, &bytes) <= 0)
                        continue;
                nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, packets);
                nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, bytes);
        }
}

static void applied_set(Nft *n, NftModel *want, char **signature) {
        NftModel *m = n->applied;

        if (!m && !(m = n->applied = calloc(1, sizeof(NftModel))))
                return;
        model_done(m);
        *m = *want;
        *want = (NftModel) {};
        strv_free(n->applied_signature);
        n->applied_signature = strv_copy(signature);
}

static void applied_forget(Nft *n) {
        if (n->applied)
                model_done(n->applied);
        n->applied_signature = strv_free(n->applied_signature);
}

static int apply_once(Nft *n, NftModel *want, char **want_signature) {
        _cleanup_(model_done) NftModel have = {};
        _cleanup_(batch_done) NftBatch b = {};
        _cleanup_strv_free_ char **have_signature = NULL;
        uint32_t genid;
        int k;

        k = observe(n, &have, &genid);
        if (k >= 0)
                k = model_signature(&have, &have_signature);
        if (k >= 0)
                k = batch_begin(&b, n->seq + 1, true, genid);
        if (k < 0)
                return k;
        if (!strv_equal(have_signature, want_signature)) {
                model_carry_counters(want, &have);
                k = tx_replace(&b, want, have.present);
        } else
                k = tx_update_elements(&b, want, &have);
        if (k < 0 || b.n_messages == 0)
                return k; /* already right: adopted as it is, counters and all */
        k = batch_end(&b);
        if (k >= 0)
                k = nft_transact(n, &b);
        return k < 0 ? k : 1;
}

static json_t *layout_policy(const NftPolicy *p) {
        json_t *pools = json_array(), *gateways = json_array(), *devices = json_array();
        char text[PREFIX_STRLEN];
        bool ok = pools && gateways && devices;

        for (size_t i = 0; ok && i < p->n_pools; i++) {
                Prefix q = p->pools[i];

                prefix_mask(&q);
                ok = json_array_append_new(pools, json_string(prefix_to_string(&q, text))) >= 0;
        }
        for (size_t i = 0; ok && i < p->n_gateways; i++)
                ok = json_array_append_new(gateways, json_string(p->gateways[i].name)) >= 0;
        for (size_t i = 0; ok && i < p->n_devices; i++) {
                const char *d = p->devices[i];

                ok = json_array_append_new(devices, json_stringn(d, strnlen(d, IFNAMSIZ))) >= 0;
        }
        if (!ok) {
                json_decref(pools);
                json_decref(gateways);
                json_decref(devices);
                return NULL;
        }
        return json_pack("{s:s, s:o, s:o, s:o}", "name", p->name, "pools", pools, "gateways", gateways,
                         "gateway_devices", devices);
}

/* What nft_counters() reports on: the policies, pools and gateways of the spec applied last, by name. */
static int remember_layout(Nft *n, const NftSpec *spec) {
        json_t *policies = json_array(), *layout;

        for (size_t i = 0; policies && i < spec->n_policies; i++)
                if (json_array_append_new(policies, layout_policy(&spec->policies[i])) < 0)
                        policies = (json_decref(policies), NULL);
        layout = json_pack("{s:b, s:o}", "leak_guard", spec->leak_guard, "policies", policies);
        if (!layout)
                return -ENOMEM;
        json_decref(n->layout);
        n->layout = layout;
        return 0;
}

int nft_apply(Nft *n, const NftSpec *spec) {
        _cleanup_(model_done) NftModel want = {};
        _cleanup_strv_free_ char **want_signature = NULL;
        int k;

        k = model_build(spec, &want);
        if (k >= 0)
                k = model_signature(&want, &want_signature);
        if (k >= 0)
                k = remember_layout(n, spec);
        if (k < 0)
                return k;
        /* -EINTR: the ruleset changed while we read it; -ERESTART: before our transaction got in. */
        k = -EINTR;
        for (unsigned i = 0; i < NFT_APPLY_RETRIES && (k == -EINTR || k == -ERESTART); i++)
                k = apply_once(n, &want, want_signature);
        if (k >= 0)
                applied_set(n, &want, want_signature);
        else
                applied_forget(n);
        return k;
}

/* The fast path: a set flushed and filled again is right whatever it held, so no read is needed; only a
 * table whose layout changed, or one that is gone (the transaction fails), takes the full way. */
int nft_apply_delta(Nft *n, const NftSpec *spec) {
        _cleanup_(model_done) NftModel want = {};
        _cleanup_(batch_done) NftBatch b = {};
        _cleanup_strv_free_ char **signature = NULL;
        int k;

        k = model_build(spec, &want);
        if (k >= 0)
                k = model_signature(&want, &signature);
        if (k < 0)
                return k;
        if (!n->applied || !n->applied_signature || !strv_equal(signature, n->applied_signature))
                return nft_apply(n, spec);
        k = batch_begin(&b, n->seq + 1, false, 0);
        if (k >= 0)
                k = tx_update_elements(&b, &want, n->applied);
        if (k < 0)
                return k;
        if (b.n_messages == 0)
                return 0;
        k = batch_end(&b);
        if (k >= 0)
                k = remember_layout(n, spec);
        if (k >= 0)
                k = nft_transact(n, &b);
        if (k < 0)
                return nft_apply(n, spec);
        applied_set(n, &want, signature);
        return 1;
}

int nft_remove(Nft *n) {
        _cleanup_(batch_done) NftBatch b = {};
        int k;

        k = batch_begin(&b, n->seq + 1, false, 0);
        if (k >= 0)
                k = tx_table(&b, NFT_MSG_DELTABLE, 0);
        if (k >= 0)
                k = batch_end(&b);
        if (k >= 0)
                k = nft_transact(n, &b);
        if (k == -ENOENT)
                return 0;
        return k < 0 ? k : 1;
}

int nft_present(Nft *n) {
        _cleanup_(model_done) NftModel m = {};
        int k;

        k = dump_table_objects(n, NFT_MSG_GETTABLE, 0, table_cb, &m);
        if (k == -ENOENT)
                return 0;
        return k < 0 ? k : m.present;
}

const char *nft_last_error(const Nft *n) {
        return n->error;
}

/* ---------------------------------------------------------------------------------------------------
 * counters */


static json_t *counter_json(const NftModel *m, const char *name) {
        uint64_t packets = 0, bytes = 0;

        (void) counter_find(m, name, &packets, &bytes);
        return json_pack("{s:I, s:I}", "packets", (json_int_t) packets, "bytes", (json_int_t) bytes);
}

/* Appends each pool of the policy to pools: {"policy", "prefix", "out_packets", ...}. */
static int counters_pools(const NftModel *m, const char *policy, json_t *prefixes, json_t *pools) {
        json_t *prefix;
        size_t i;

        json_array_foreach(prefixes, i, prefix) {
                uint64_t v[4] = {};
                char name[NFT_NAME_MAX];

                for (size_t d = 0; d < 2; d++) {
                        pool_counter_name(policy, json_string_value(prefix), d == 0, name);
                        (void) counter_find(m, name, &v[2 * d], &v[2 * d + 1]);
                }
                if (json_array_append_new(pools, json_pack("{s:s, s:O, s:I, s:I, s:I, s:I}", "policy", policy,
                                                           "prefix", prefix, "out_packets", (json_int_t) v[0],
                                                           "out_bytes", (json_int_t) v[1], "in_packets",
                                                           (json_int_t) v[2], "in_bytes", (json_int_t) v[3])) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static json_t *counters_gateways(const NftModel *m, const char *policy, json_t *names) {
        json_t *list = json_array(), *name;
        size_t i;

        json_array_foreach(names, i, name) {
                uint64_t packets = 0, bytes = 0;
                char counter[NFT_NAME_MAX];

                gateway_counter_name(policy, json_string_value(name), counter);
                (void) counter_find(m, counter, &packets, &bytes);
                if (json_array_append_new(list, json_pack("{s:O, s:I, s:I}", "name", name, "out_packets",
                                                          (json_int_t) packets, "out_bytes", (json_int_t) bytes)) < 0)
                        return json_decref(list), NULL;
        }
        return list;
}

/* One policy's figures; its pools go to pools, its drops are added to *leak (NULL without a guard). */
static json_t *counters_policy(const NftModel *m, json_t *layout, bool guard, json_t *pools, uint64_t leak[2]) {
        const char *policy = json_string_value(json_object_get(layout, "name"));
        json_t *drops = json_null();
        PolicyNames n;

        if (counters_pools(m, policy, json_object_get(layout, "pools"), pools) < 0)
                return NULL;
        policy_names(policy, &n);
        if (guard) {
                uint64_t packets = 0, bytes = 0;

                (void) counter_find(m, n.leak, &packets, &bytes);
                leak[0] += packets;
                leak[1] += bytes;
                drops = counter_json(m, n.leak);
        }
        return json_pack("{s:s, s:O, s:o*, s:o*}", "name", policy, "gateway_devices",
                         json_object_get(layout, "gateway_devices"), "leak_guard_drops", drops, "gateways",
                         counters_gateways(m, policy, json_object_get(layout, "gateways")));
}

static json_t *counters_json(const Nft *n, const NftModel *m) {
        json_t *pools = json_array(), *policies = json_array(), *layout, *leak = json_null();
        bool guard = json_is_true(json_object_get(n->layout, "leak_guard"));
        uint64_t sum[2] = {};
        size_t i;

        json_array_foreach(json_object_get(n->layout, "policies"), i, layout)
                if (json_array_append_new(policies, counters_policy(m, layout, guard, pools, sum)) < 0) {
                        json_decref(pools);
                        json_decref(policies);
                        return NULL;
                }
        if (guard)
                leak = json_pack("{s:I, s:I}", "packets", (json_int_t) sum[0], "bytes", (json_int_t) sum[1]);
        return json_pack("{s:o, s:o*, s:o, s:b}", "pools", pools, "leak_guard_drops", leak, "policies", policies,
                         "present", m->present);
}

int nft_counters(Nft *n, json_t **ret) {
        _cleanup_(model_done) NftModel m = {};
        json_t *j;
        int k;

        k = dump_table_objects(n, NFT_MSG_GETTABLE, 0, table_cb, &m);
        if (k >= 0 && m.present)
                k = dump_table_objects(n, NFT_MSG_GETOBJ, NFTA_OBJ_TABLE, obj_cb, &m);
        if (k == -ENOENT)
                m.present = false;
        else if (k < 0)
                return k;
        j = counters_json(n, &m);
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * events: someone else changed our table */

/* The attribute naming the table, per message kind (include/uapi/linux/netfilter/nf_tables.h). */
static int event_table_attr(uint16_t type) {
        switch (type) {
        case NFT_MSG_NEWTABLE:
        case NFT_MSG_DELTABLE:
                return NFTA_TABLE_NAME;
        case NFT_MSG_NEWCHAIN:
        case NFT_MSG_DELCHAIN:
                return NFTA_CHAIN_TABLE;
        case NFT_MSG_NEWRULE:
        case NFT_MSG_DELRULE:
                return NFTA_RULE_TABLE;
        case NFT_MSG_NEWSET:
        case NFT_MSG_DELSET:
                return NFTA_SET_TABLE;
        case NFT_MSG_NEWSETELEM:
        case NFT_MSG_DELSETELEM:
                return NFTA_SET_ELEM_LIST_TABLE;
        case NFT_MSG_NEWOBJ:
        case NFT_MSG_DELOBJ:
                return NFTA_OBJ_TABLE;
        case NFT_MSG_NEWFLOWTABLE:
        case NFT_MSG_DELFLOWTABLE:
                return NFTA_FLOWTABLE_TABLE;
        default:
                return -EINVAL; /* NFT_MSG_NEWGEN and the like name no table */
        }
}

/* Events carry the port id of the socket whose transaction caused them (nf_tables_api.c: notifications
 * are filled with ctx->portid), so our own are told apart and ignored. */
bool nft_event_is_foreign_change(const struct nlmsghdr *nlh, uint32_t own_portid) {
        const struct nfgenmsg *nfg;
        int want;

        if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES || nlh->nlmsg_pid == own_portid ||
            nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
                return false;
        want = event_table_attr(NFNL_MSG_TYPE(nlh->nlmsg_type));
        nfg = mnl_nlmsg_get_payload(nlh);
        if (want < 0 || nfg->nfgen_family != NFPROTO_INET)
                return false;
        return ours(attr_find_str(nlh, sizeof(struct nfgenmsg), (uint16_t) want));
}

static bool events_dispatch(Nft *n, size_t len) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) n->buf;
        int remaining = (int) len;
        bool changed = false;

        for (; message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining))
                changed = changed || nft_event_is_foreign_change(nlh, n->portid);
        return changed;
}

/* Reads everything queued, then calls on_changed at most once: "nft flush ruleset" sends one event per
 * object it deletes. A full receive queue (ENOBUFS) lost events: count it as a change. */
static int on_events_readable(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_,
                              void *userdata) {
        Nft *n = userdata;
        bool changed = false;

        for (;;) {
                ssize_t len = nft_recv(n, n->events);

                if (len == -EAGAIN)
                        break;
                if (len == -ENOBUFS)
                        changed = true;
                else if (len > 0)
                        changed = events_dispatch(n, (size_t) len) || changed;
                else if (len < 0 && len != -EINTR && len != -EMSGSIZE)
                        return (int) len;
        }
        if (changed && n->on_changed)
                n->on_changed(n->userdata);
        return 0;
}

static int events_open(Nft *n, sd_event *e) {
        int k;

        k = nl_socket_open(NETLINK_NETFILTER, &n->events);
        if (k < 0)
                return k;
        (void) nl_set_rcvbuf(n->events, NFT_RCVBUF_EVENTS);
        k = nl_setsockopt_int(n->events, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES);
        if (k < 0)
                return k;
        k = sd_event_add_io(e, &n->io, mnl_socket_get_fd(n->events), EPOLLIN, on_events_readable, n);
        if (k < 0)
                return k;
        (void) sd_event_source_set_priority(n->io, SD_EVENT_PRIORITY_NORMAL - 10);
        (void) sd_event_source_set_description(n->io, "nft-events");
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * life cycle */

Nft *nft_free(Nft *n) {
        if (!n)
                return NULL;
        sd_event_source_disable_unref(n->io);
        if (n->events)
                mnl_socket_close(n->events);
        if (n->requests)
                mnl_socket_close(n->requests);
        json_decref(n->layout);
        applied_forget(n);
        free(n->applied);
        free(n->error);
        free(n->buf);
        free(n);
        return NULL;
}

int nft_new(sd_event *e, nft_changed_handler_t on_changed, void *userdata, Nft **ret) {
        _cleanup_(nft_freep) Nft *n = NULL;
        int k;

        n = calloc(1, sizeof(Nft));
        if (!n)
                return -ENOMEM;
        n->on_changed = on_changed;
        n->userdata = userdata;
        n->buf = malloc(NFT_RECV_BUFFER);
        if (!n->buf)
                return -ENOMEM;

        /* Subscribe before the first dump, so no change between them goes unseen. */
        if (e) {
                k = events_open(n, e);
                if (k < 0)
                        return k;
        }
        k = nl_socket_open(NETLINK_NETFILTER, &n->requests);
        if (k < 0)
                return k;
        n->portid = mnl_socket_get_portid(n->requests);
        (void) nl_set_rcvbuf(n->requests, NFT_RCVBUF_REQUESTS);

        *ret = TAKE_PTR(n);
        return 0;
}
