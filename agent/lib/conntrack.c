/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <string.h>
#include <sys/socket.h>

#include "conntrack.h"
#include "macro.h"

typedef struct Flush {
        int family;
        const Prefix *sources;
        size_t n_sources;
        const InAddrUnion *nat;
        size_t n_nat;
        struct nfct_handle *del;
        int deleted;
        int error;
} Flush;

static void ct_addr(const struct nf_conntrack *ct, int family, enum nf_conntrack_attr v4, enum nf_conntrack_attr v6,
                    InAddrUnion *ret) {
        memset(ret, 0, sizeof(*ret));
        memcpy(ret->bytes, nfct_get_attr(ct, family == AF_INET ? v4 : v6), family_addr_size(family));
}

static bool flush_wants(const Flush *f, const struct nf_conntrack *ct) {
        InAddrUnion src, reply_dst;
        bool in_pool = false;

        if (!nfct_attr_is_set(ct, ATTR_STATUS) || !(nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_SRC_NAT))
                return false;
        if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) != f->family)
                return false;
        ct_addr(ct, f->family, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, &src);
        for (size_t i = 0; i < f->n_sources && !in_pool; i++)
                in_pool = prefix_contains(&f->sources[i], f->family, &src);
        if (!in_pool)
                return false;
        ct_addr(ct, f->family, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, &reply_dst);
        for (size_t i = 0; i < f->n_nat; i++)
                if (addr_equal(f->family, &f->nat[i], &reply_dst))
                        return true;
        return false;
}

static int flush_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *userdata) {
        Flush *f = userdata;

        if (!flush_wants(f, ct))
                return NFCT_CB_CONTINUE;
        /* On a handle of its own: the dump's socket is busy with the dump. Gone already is fine. */
        if (nfct_query(f->del, NFCT_Q_DESTROY, ct) >= 0)
                f->deleted++;
        else if (errno != ENOENT && f->error == 0)
                f->error = negative_errno();
        return NFCT_CB_CONTINUE;
}

int conntrack_flush_snat(int family, const Prefix *sources, size_t n_sources, const InAddrUnion *nat, size_t n_nat) {
        Flush f = { family, sources, n_sources, nat, n_nat };
        struct nfct_filter_dump *filter = NULL;
        struct nfct_handle *dump = NULL;
        int r = 0;

        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        if (n_sources == 0 || n_nat == 0)
                return 0;
        dump = nfct_open(CONNTRACK, 0);
        f.del = nfct_open(CONNTRACK, 0);
        filter = nfct_filter_dump_create();
        if (!dump || !f.del || !filter) {
                r = dump && f.del ? -ENOMEM : negative_errno();
                goto finish;
        }
        nfct_filter_dump_set_attr_u8(filter, NFCT_FILTER_DUMP_L3NUM, (uint8_t) family);
        if (nfct_callback_register(dump, NFCT_T_ALL, flush_cb, &f) < 0 ||
            nfct_query(dump, NFCT_Q_DUMP_FILTER, filter) < 0)
                r = negative_errno();
finish:
        if (filter)
                nfct_filter_dump_destroy(filter);
        if (f.del)
                nfct_close(f.del);
        if (dump)
                nfct_close(dump);
        if (r < 0)
                return r;
        return f.error < 0 && f.deleted == 0 ? f.error : f.deleted;
}
