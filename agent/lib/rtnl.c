/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nl-util.h"
#include "rtnl.h"

#define RTNL_DUMP_RETRIES 16
#define RTNL_RECV_BUFFER (64U * 1024U)
/* netlink_sendmsg() refuses a message larger than the socket's send buffer; stay well below the default. */
#define RTNL_SEND_CHUNK (64U * 1024U)
#define RTNL_REPLY_TIMEOUT_MS 5000

struct Rtnl {
        struct mnl_socket *events;
        struct mnl_socket *requests;
        uint32_t requests_portid;
        uint32_t seq;
        sd_event_source *io;
        rtnl_message_handler_t on_event;
        rtnl_overrun_handler_t on_overrun;
        void *userdata;
        uint64_t forged;
        uint8_t *buf;
        uint8_t *chunk;         /* requests being sent */
};

static const unsigned rtnl_groups[] = {
        RTNLGRP_LINK,        RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
        RTNLGRP_IPV6_ROUTE,  RTNLGRP_IPV4_RULE,   RTNLGRP_IPV6_RULE,
        RTNLGRP_NEIGH,          /* a gateway's ARP/NDP entry failing is evidence of its health */
};

Rtnl *rtnl_free(Rtnl *r) {
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->io);
        if (r->events)
                mnl_socket_close(r->events);
        if (r->requests)
                mnl_socket_close(r->requests);
        free(r->buf);
        free(r->chunk);
        free(r);
        return NULL;
}

static int events_subscribe(Rtnl *r, uint32_t rcvbuf) {
        int k;

        k = nl_set_rcvbuf(r->events, rcvbuf);
        if (k < 0)
                return k;
        for (size_t i = 0; i < ELEMENTSOF(rtnl_groups); i++) {
                k = nl_setsockopt_int(r->events, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, (int) rtnl_groups[i]);
                if (k < 0)
                        return k;
        }
        return 0;
}

static ssize_t rtnl_recv(Rtnl *r, struct mnl_socket *nl) {
        return nl_recv_kernel(mnl_socket_get_fd(nl), r->buf, RTNL_RECV_BUFFER, &r->forged);
}

static void events_dispatch(Rtnl *r, size_t len) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) r->buf;
        int remaining = (int) len;

        for (; rtnl_message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining))
                if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
                        (void) r->on_event(nlh, r->userdata);
}

/* Reads and dispatches every event queued on the event socket. */
static int events_drain(Rtnl *r) {
        if (!r->events)
                return 0;
        for (;;) {
                ssize_t n = rtnl_recv(r, r->events);

                if (n == -EAGAIN)
                        return 0;
                if (n == -ENOBUFS) {
                        r->on_overrun(r->userdata);
                        continue;
                }
                if (n == -EINTR || n == -EMSGSIZE)
                        continue;
                if (n < 0)
                        return (int) n;
                events_dispatch(r, (size_t) n);
        }
}

static int on_events_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return events_drain(userdata);
}

int rtnl_drain_events(Rtnl *r) {
        return events_drain(r);
}

int rtnl_new(sd_event *e, uint32_t rcvbuf, rtnl_message_handler_t on_event, rtnl_overrun_handler_t on_overrun,
             void *userdata, Rtnl **ret) {
        _cleanup_(rtnl_freep) Rtnl *r = NULL;
        int k;

        r = calloc(1, sizeof(Rtnl));
        if (!r)
                return -ENOMEM;
        r->on_event = on_event;
        r->on_overrun = on_overrun;
        r->userdata = userdata;
        r->buf = malloc(RTNL_RECV_BUFFER);
        /* Zeroed: libmnl 1.0.4 leaves an attribute's alignment padding as it finds it (FRA_PROTOCOL's three
         * bytes), and what goes to the kernel should never be uninitialised memory. */
        r->chunk = calloc(1, RTNL_SEND_CHUNK);
        if (!r->buf || !r->chunk)
                return -ENOMEM;

        /* Without an event loop (the CLI): the request socket only. */
        if (e) {
                k = nl_socket_open(NETLINK_ROUTE, &r->events);
                if (k < 0)
                        return k;
                k = events_subscribe(r, rcvbuf);
                if (k < 0)
                        return k;
        }

        k = nl_socket_open(NETLINK_ROUTE, &r->requests);
        if (k < 0)
                return k;
        r->requests_portid = mnl_socket_get_portid(r->requests);
        (void) nl_set_rcvbuf(r->requests, RTNL_RCVBUF_REQUESTS);
        /* Lets the kernel filter route dumps by output device (net/ipv4/fib_frontend.c ip_valid_fib_dump_req). */
        k = nl_setsockopt_int(r->requests, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
        if (k < 0)
                return k;

        if (!e) {
                *ret = TAKE_PTR(r);
                return 0;
        }
        k = sd_event_add_io(e, &r->io, mnl_socket_get_fd(r->events), EPOLLIN, on_events_readable, r);
        if (k < 0)
                return k;
        /* Read events before any deferred reconcile runs, so a burst is coalesced into one pass. */
        (void) sd_event_source_set_priority(r->io, SD_EVENT_PRIORITY_NORMAL - 10);
        (void) sd_event_source_set_description(r->io, "rtnl-events");

        *ret = TAKE_PTR(r);
        return 0;
}

uint64_t rtnl_forged_messages(const Rtnl *r) {
        return r->forged;
}

uint32_t rtnl_requests_portid(const Rtnl *r) {
        return r->requests_portid;
}

uint32_t rtnl_event_portid(const Rtnl *r) {
        return r->events ? mnl_socket_get_portid(r->events) : 0;
}

/* Receives the next datagram of a reply on the request socket, waiting for it. */
static ssize_t requests_recv(Rtnl *r) {
        return nl_recv_kernel_wait(mnl_socket_get_fd(r->requests), r->buf, RTNL_RECV_BUFFER, RTNL_REPLY_TIMEOUT_MS,
                                   &r->forged);
}

static struct nlmsghdr *dump_request(void *buf, const RtnlDumpFilter *f, uint32_t seq) {
        uint16_t type = f->type;
        int family = f->family;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = seq;
        switch (type) {
        case RTM_GETLINK: {
                struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
                ifi->ifi_family = (uint8_t) family;
                break;
        }
        case RTM_GETADDR: {
                struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
                ifa->ifa_family = (uint8_t) family;
                break;
        }
        case RTM_GETRULE: {
                struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
                frh->family = (uint8_t) family;
                break;
        }
        default: {
                struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
                rtm->rtm_family = (uint8_t) family;
                if (f->oif > 0)
                        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) f->oif);
                if (f->table > 0)
                        mnl_attr_put_u32(nlh, RTA_TABLE, f->table);
                break;
        }
        }
        return nlh;
}

/* Returns 1 when the dump is complete, 0 when more datagrams follow, -EINTR when the kernel flagged the
 * dump as inconsistent, other -errno on failure. */
static int dump_process(Rtnl *r, size_t len, uint32_t seq, bool *intr, rtnl_message_handler_t handler,
                        void *userdata) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) r->buf;
        int remaining = (int) len;

        for (; rtnl_message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
                if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != r->requests_portid)
                        continue;       /* a late reply to an earlier request */
                if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                        *intr = true;
                if (nlh->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
                        return err->error < 0 ? err->error : -EPROTO;
                }
                if (nlh->nlmsg_type == NLMSG_DONE)
                        return *intr ? -EINTR : 1;
                (void) handler(nlh, userdata);
        }
        return 0;
}

static int dump_once(Rtnl *r, const RtnlDumpFilter *f, rtnl_message_handler_t handler, void *userdata) {
        uint8_t req[256];
        struct nlmsghdr *nlh;
        bool intr = false;
        uint32_t seq = ++r->seq;

        nlh = dump_request(req, f, seq);
        if (mnl_socket_sendto(r->requests, nlh, nlh->nlmsg_len) < 0)
                return negative_errno();
        for (;;) {
                ssize_t n = requests_recv(r);
                int k;

                if (n < 0)
                        return (int) n;
                k = dump_process(r, (size_t) n, seq, &intr, handler, userdata);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
}

int rtnl_dump_filtered(Rtnl *r, const RtnlDumpFilter *f, rtnl_message_handler_t handler, void *userdata) {
        int k = -EINTR;

        for (unsigned i = 0; i < RTNL_DUMP_RETRIES && k == -EINTR; i++)
                k = dump_once(r, f, handler, userdata);
        return k;
}

int rtnl_dump(Rtnl *r, uint16_t type, int family, int oif, rtnl_message_handler_t handler, void *userdata) {
        RtnlDumpFilter f = { .type = type, .family = family, .oif = oif };

        return rtnl_dump_filtered(r, &f, handler, userdata);
}

/* Returns 1 with *ret set when the answer to seq was in this datagram, 0 when it was not. */
static int call_process(Rtnl *r, size_t len, uint32_t seq, struct nlmsghdr **ret) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) r->buf;
        int remaining = (int) len;

        for (; rtnl_message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
                struct nlmsghdr *copy;

                if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != r->requests_portid)
                        continue;       /* a late reply to an earlier request */
                if (nlh->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
                        return err->error < 0 ? err->error : -EPROTO;
                }
                copy = malloc(nlh->nlmsg_len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, nlh, nlh->nlmsg_len);
                *ret = copy;
                return 1;
        }
        return 0;
}

int rtnl_call(Rtnl *r, struct nlmsghdr *nlh, struct nlmsghdr **ret) {
        struct nlmsghdr *reply = NULL;
        uint32_t seq = ++r->seq;

        nlh->nlmsg_flags = (uint16_t) ((nlh->nlmsg_flags | NLM_F_REQUEST) & ~NLM_F_DUMP);
        nlh->nlmsg_seq = seq;
        if (mnl_socket_sendto(r->requests, nlh, nlh->nlmsg_len) < 0)
                return negative_errno();
        for (;;) {
                ssize_t n = requests_recv(r);
                int k;

                if (n < 0)
                        return (int) n;
                k = call_process(r, (size_t) n, seq, &reply);
                if (k < 0)
                        return k;
                if (k > 0) {
                        *ret = reply;
                        return 0;
                }
        }
}

int rtnl_route_get(Rtnl *r, const RtnlRouteQuery *q, struct nlmsghdr **ret) {
        uint8_t req[256] = {};
        size_t size = q->family == AF_INET6 ? 16 : 4;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
        struct rtmsg *rtm;

        if (q->family != AF_INET && q->family != AF_INET6)
                return -EAFNOSUPPORT;
        nlh->nlmsg_type = RTM_GETROUTE;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t) q->family;
        /* Strict checking wants full-length addresses (inet_rtm_valid_getroute_req() in
         * net/ipv4/route.c); RTM_F_LOOKUP_TABLE makes IPv4 report the table the result came from,
         * IPv6 always does and refuses the flag. */
        rtm->rtm_dst_len = (uint8_t) (size * 8);
        rtm->rtm_flags = (q->fib_match ? RTM_F_FIB_MATCH : 0) | (q->family == AF_INET ? RTM_F_LOOKUP_TABLE : 0);
        mnl_attr_put(nlh, RTA_DST, size, q->dst);
        if (q->src) {
                rtm->rtm_src_len = (uint8_t) (size * 8);
                mnl_attr_put(nlh, RTA_SRC, size, q->src);
        }
        if (q->iif > 0)
                mnl_attr_put_u32(nlh, RTA_IIF, (uint32_t) q->iif);
        return rtnl_call(r, nlh, ret);
}

typedef struct SendState {
        uint32_t first_seq;
        size_t first, count;    /* the chunk in flight */
        size_t acked;
        rtnl_ack_handler_t on_ack;
        void *userdata;
} SendState;

static int ext_ack_attr_cb(const struct nlattr *attr, void *data) {
        const char **msg = data;

        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
                *msg = mnl_attr_get_str(attr);
        return MNL_CB_OK;
}

static const char *ext_ack_message(const struct nlmsghdr *nlh) {
        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
        const char *msg = NULL;
        size_t offset = sizeof(struct nlmsgerr);

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return NULL;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                offset += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
        if (offset >= mnl_nlmsg_get_payload_len(nlh))
                return NULL;
        (void) mnl_attr_parse(nlh, (unsigned) offset, ext_ack_attr_cb, &msg);
        return msg;
}

static void acks_process(Rtnl *r, size_t len, SendState *s) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) r->buf;
        int remaining = (int) len;

        for (; rtnl_message_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
                const struct nlmsgerr *err;
                uint32_t i = nlh->nlmsg_seq - s->first_seq;

                if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != r->requests_portid || i >= s->count)
                        continue;
                err = mnl_nlmsg_get_payload(nlh);
                s->on_ack(s->first + i, err->error, err->error < 0 ? ext_ack_message(nlh) : NULL, s->userdata);
                s->acked++;
        }
}

/* Builds requests from s->first on into the chunk buffer until it is full or none is left; sets
 * s->count and returns the bytes used. */
static int chunk_build(Rtnl *r, size_t n, rtnl_build_t build, SendState *s, size_t *ret_bytes) {
        size_t used = 0;

        s->count = 0;
        s->first_seq = r->seq + 1;
        while (s->first + s->count < n && used + RTNL_MESSAGE_MAX <= RTNL_SEND_CHUNK) {
                struct nlmsghdr *nlh;
                int k;

                /* mnl_nlmsg_put_header() and the builders' put_extra_header()/attr_put() clear what they
                 * write, padding included. */
                nlh = mnl_nlmsg_put_header(r->chunk + used);
                k = build(s->first + s->count, nlh, s->userdata);
                if (k < 0)
                        return k;
                nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
                nlh->nlmsg_seq = s->first_seq + (uint32_t) s->count;
                used += NLMSG_ALIGN(nlh->nlmsg_len);
                s->count++;
        }
        r->seq += (uint32_t) s->count;
        *ret_bytes = used;
        return 0;
}

/* The kernel handles a whole datagram of requests inside sendmsg() and queues one ack for each, so the
 * acks of a chunk are read before the next one goes out: they never pile up in the socket. */
static int chunk_send(Rtnl *r, size_t bytes, SendState *s) {
        if (mnl_socket_sendto(r->requests, r->chunk, bytes) < 0)
                return negative_errno();
        s->acked = 0;
        while (s->acked < s->count) {
                ssize_t n = requests_recv(r);
                if (n < 0)
                        return (int) n;
                acks_process(r, (size_t) n, s);
        }
        return 0;
}

int rtnl_send(Rtnl *r, size_t n, rtnl_build_t build, rtnl_ack_handler_t on_ack, void *userdata) {
        SendState s = { .on_ack = on_ack, .userdata = userdata };

        while (s.first < n) {
                size_t bytes;
                int k;

                k = chunk_build(r, n, build, &s, &bytes);
                if (k < 0)
                        return k;
                k = chunk_send(r, bytes, &s);
                if (k < 0)
                        return k;
                /* What the kernel announced meanwhile (the echoes of these requests, and whatever else
                 * happens) is read now, so that a burst does not overrun the event socket. */
                k = events_drain(r);
                if (k < 0)
                        return k;
                s.first += s.count;
        }
        return 0;
}
