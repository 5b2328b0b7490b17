/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * floor-listener: the least a program can do to keep table T in step with tun devices, as the floor the
 * daemon is measured against (tests/bench/run.sh). libmnl, one event socket, one request socket, no
 * event loop library, no state but a bitmap of tun ifindexes.
 *
 *   floor-listener [--table T] [--prefix tun] [--proto P]
 *
 * On RTM_NEWADDR of a device whose name starts with the prefix it adds the address's connected subnet
 * to table T (RTM_DELADDR: deletes it); on a main-table RTM_NEWROUTE via such a device (not proto kernel,
 * unicast) it adds a copy to table T with the same destination, gateway, metric and onlink flag
 * (RTM_DELROUTE: deletes the copy). Everything queued on the event socket is read first, then the
 * requests go out in one sendmsg (up to 64 KiB each), without NLM_F_ACK: errors still come back and are
 * counted. No resync: after an overrun events are lost, and that is counted too. Prints its counters on
 * stderr at SIGTERM/SIGINT and exits 0.
 */
#include <getopt.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "bench-nl.h"

#define SEND_CHUNK (64U * 1024U)

static struct mnl_socket *ev, *rq;
static uint8_t evbuf[NLBUF_SIZE], out[SEND_CHUNK + 4096], errbuf[NLBUF_SIZE];
static size_t out_used;
static uint32_t seq;
static unsigned table = 200, proto = 212;
static const char *prefix = "tun";
static uint8_t *is_tun;
static size_t is_tun_size;
static unsigned long n_events, n_requests, n_errors, n_overruns, n_sends;

static void set_tun(uint32_t ifindex, bool v) {
        if (ifindex >= is_tun_size) {
                size_t s = (ifindex + 1) * 2;
                is_tun = realloc(is_tun, s);
                if (!is_tun)
                        die_errno("realloc");
                memset(is_tun + is_tun_size, 0, s - is_tun_size);
                is_tun_size = s;
        }
        is_tun[ifindex] = v;
}

static bool tun(uint32_t ifindex) {
        return ifindex < is_tun_size && is_tun[ifindex];
}

static void flush(void) {
        if (out_used == 0)
                return;
        if (mnl_socket_sendto(rq, out, out_used) < 0)
                n_errors++;
        n_sends++;
        out_used = 0;
}

static void *out_reserve(void) {
        if (out_used + 1024 > SEND_CHUNK)
                flush();
        return out + out_used;
}

static void out_commit(struct nlmsghdr *nlh) {
        nlh->nlmsg_seq = ++seq;
        out_used += NLMSG_ALIGN(nlh->nlmsg_len);
        n_requests++;
}

static int link_attr_cb(const struct nlattr *a, void *data) {
        if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                *(const char **) data = mnl_attr_get_str(a);
        return MNL_CB_OK;
}

static void on_link(const struct nlmsghdr *nlh) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        const char *name = NULL;

        if (nlh->nlmsg_type == RTM_DELLINK) {
                set_tun((uint32_t) ifi->ifi_index, false);
                return;
        }
        mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &name);
        set_tun((uint32_t) ifi->ifi_index, name && strncmp(name, prefix, strlen(prefix)) == 0);
}

typedef struct Addr {
        const uint8_t *local, *address;
} Addr;

static int addr_attr_cb(const struct nlattr *a, void *data) {
        Addr *x = data;

        if (mnl_attr_get_type(a) == IFA_LOCAL)
                x->local = mnl_attr_get_payload(a);
        else if (mnl_attr_get_type(a) == IFA_ADDRESS)
                x->address = mnl_attr_get_payload(a);
        return MNL_CB_OK;
}

static void on_addr(const struct nlmsghdr *nlh) {
        const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        size_t alen = ifa->ifa_family == AF_INET6 ? 16 : 4;
        unsigned plen = ifa->ifa_prefixlen;
        Addr x = {};
        uint8_t net[16] = {};

        if (!tun(ifa->ifa_index) || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
                return;
        mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &x);
        if (!x.address)
                return;
        if (ifa->ifa_family == AF_INET6 && x.address[0] == 0xfe && (x.address[1] & 0xc0) == 0x80)
                return;         /* link-local */
        if (plen == alen * 8 && (!x.local || memcmp(x.local, x.address, alen) == 0))
                return;         /* a host address without a peer: no subnet */
        memcpy(net, x.address, alen);
        for (unsigned i = 0; i < alen * 8; i++)
                if (i >= plen)
                        net[i / 8] &= (uint8_t) ~(0x80U >> (i % 8));
        out_commit(route_msg(out_reserve(), nlh->nlmsg_type == RTM_NEWADDR ? RTM_NEWROUTE : RTM_DELROUTE,
                             nlh->nlmsg_type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_REPLACE : 0, ifa->ifa_family, net,
                             (uint8_t) plen, NULL, ifa->ifa_index, table, (uint8_t) proto, 0, 0));
}

static void on_route(const struct nlmsghdr *nlh) {
        Route r;

        if (!route_parse(nlh, &r) || r.table != RT_TABLE_MAIN || !tun(r.oif) || r.protocol == RTPROT_KERNEL ||
            r.type != RTN_UNICAST || (r.flags & RTM_F_CLONED))
                return;
        out_commit(route_msg(out_reserve(), nlh->nlmsg_type, nlh->nlmsg_type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0,
                             r.family, r.dst, r.dst_len, r.has_gw ? r.gw : NULL, r.oif, table, (uint8_t) proto,
                             r.priority, r.flags & RTNH_F_ONLINK));
}

static void dispatch(const void *buf, int len) {
        for (const struct nlmsghdr *h = buf; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
                n_events++;
                switch (h->nlmsg_type) {
                case RTM_NEWLINK:
                case RTM_DELLINK:
                        on_link(h);
                        break;
                case RTM_NEWADDR:
                case RTM_DELADDR:
                        on_addr(h);
                        break;
                case RTM_NEWROUTE:
                case RTM_DELROUTE:
                        on_route(h);
                        break;
                }
        }
}

static void link_dump_cb(const struct nlmsghdr *h, void *userdata) {
        on_link(h);
}

static void drain_errors(void) {
        for (;;) {
                ssize_t n = recv(mnl_socket_get_fd(rq), errbuf, sizeof(errbuf), MSG_DONTWAIT);
                int len;

                if (n < 0) {
                        if (errno == ENOBUFS) {
                                n_errors++;
                                continue;
                        }
                        return;
                }
                len = (int) n;
                for (const struct nlmsghdr *h = (const void *) errbuf; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len))
                        if (h->nlmsg_type == NLMSG_ERROR && ((const struct nlmsgerr *) mnl_nlmsg_get_payload(h))->error)
                                n_errors++;
        }
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "table", required_argument, NULL, 't' },
                { "prefix", required_argument, NULL, 'p' },
                { "proto", required_argument, NULL, 'P' },
                {},
        };
        static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                                           RTNLGRP_IPV6_ROUTE, 0 };
        uint8_t req[256];
        struct nlmsghdr *nlh;
        sigset_t mask;
        int c, sfd;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 't': table = (unsigned) atoi(optarg); break;
                case 'p': prefix = optarg; break;
                case 'P': proto = (unsigned) atoi(optarg); break;
                default:
                        fprintf(stderr, "usage: floor-listener [--table T] [--prefix tun] [--proto P]\n");
                        return 2;
                }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0)
                die_errno("signalfd");

        /* Subscribe first, then learn which devices are tuns. */
        ev = nl_open(groups, 8 << 20, true);
        rq = nl_open(NULL, 8 << 20, false);
        nlh = mnl_nlmsg_put_header(req);
        nlh->nlmsg_type = RTM_GETLINK;
        mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
        if (nl_dump(rq, nlh, &seq, link_dump_cb, NULL) < 0)
                die_errno("link dump");
        fprintf(stderr, "floor-listener: ready\n");

        for (;;) {
                struct pollfd p[2] = { { .fd = mnl_socket_get_fd(ev), .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        die_errno("poll");
                if (p[1].revents)
                        break;
                for (;;) {
                        ssize_t n = recv(mnl_socket_get_fd(ev), evbuf, sizeof(evbuf), MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == ENOBUFS) {
                                        n_overruns++;
                                        continue;
                                }
                                break;
                        }
                        dispatch(evbuf, (int) n);
                }
                flush();
                drain_errors();
        }
        drain_errors();
        fprintf(stderr, "floor-listener: events %lu requests %lu sends %lu errors %lu overruns %lu\n", n_events,
                n_requests, n_sends, n_errors, n_overruns);
        return 0;
}
