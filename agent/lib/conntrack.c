/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdlib.h>
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
        struct nf_conntrack **doomed;   /* clones, deleted once the dump is over */
        size_t n_doomed, n_allocated;
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

/* Collected, not deleted here: deleting entries while the kernel walks the table can make the dump skip
 * others of the same hash bucket. */
static int flush_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *userdata) {
        Flush *f = userdata;
        struct nf_conntrack *copy;

        if (!flush_wants(f, ct))
                return NFCT_CB_CONTINUE;
        if (f->n_doomed == f->n_allocated) {
                size_t n = f->n_allocated ? 2 * f->n_allocated : 16;
                struct nf_conntrack **a = reallocarray(f->doomed, n, sizeof(*a));

                if (!a) {
                        f->error = -ENOMEM;
                        return NFCT_CB_STOP;
                }
                f->doomed = a;
                f->n_allocated = n;
        }
        copy = nfct_clone(ct);
        if (!copy) {
                f->error = -ENOMEM;
                return NFCT_CB_STOP;
        }
        f->doomed[f->n_doomed++] = copy;
        return NFCT_CB_CONTINUE;
}

/* Gone already (expired, or deleted by someone else meanwhile) is fine. */
static int flush_doomed(struct nfct_handle *h, Flush *f) {
        int deleted = 0;

        for (size_t i = 0; i < f->n_doomed; i++) {
                if (nfct_query(h, NFCT_Q_DESTROY, f->doomed[i]) >= 0)
                        deleted++;
                else if (errno != ENOENT && f->error == 0)
                        f->error = negative_errno();
                nfct_destroy(f->doomed[i]);
        }
        free(f->doomed);
        return deleted;
}

int conntrack_flush_snat(int family, const Prefix *sources, size_t n_sources, const InAddrUnion *nat, size_t n_nat) {
        Flush f = { family, sources, n_sources, nat, n_nat };
        struct nfct_filter_dump *filter = NULL;
        struct nfct_handle *h;
        int r = 0, deleted;

        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        if (n_sources == 0 || n_nat == 0)
                return 0;
        h = nfct_open(CONNTRACK, 0);
        if (!h)
                return negative_errno();
        filter = nfct_filter_dump_create();
        if (!filter)
                r = -ENOMEM;
        else {
                nfct_filter_dump_set_attr_u8(filter, NFCT_FILTER_DUMP_L3NUM, (uint8_t) family);
                if (nfct_callback_register(h, NFCT_T_ALL, flush_cb, &f) < 0 ||
                    nfct_query(h, NFCT_Q_DUMP_FILTER, filter) < 0)
                        r = negative_errno();
                nfct_filter_dump_destroy(filter);
        }
        deleted = flush_doomed(h, &f);
        nfct_close(h);
        if (r < 0)
                return r;
        return f.error < 0 && deleted == 0 ? f.error : deleted;
}
