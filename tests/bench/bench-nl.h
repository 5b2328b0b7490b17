/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-nl.h: the little netlink plumbing the benchmark helpers share (libmnl, header-only, static
 * functions). Not the daemon's code on purpose: the baselines must not inherit its costs or its bugs.
 */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define NLBUF_SIZE (256U * 1024U)

static inline uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static inline void die_errno(const char *what) {
        fprintf(stderr, "%s: %s\n", what, strerror(errno));
        exit(2);
}

static inline void set_int_opt(struct mnl_socket *nl, int level, int opt, int value) {
        (void) setsockopt(mnl_socket_get_fd(nl), level, opt, &value, sizeof(value));
}

/* A NETLINK_ROUTE socket; groups: RTNLGRP_* numbers, 0-terminated; rcvbuf 0: the default. */
static inline struct mnl_socket *nl_open(const unsigned *groups, int rcvbuf, bool nonblock) {
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));

        if (!nl)
                die_errno("mnl_socket_open");
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                die_errno("mnl_socket_bind");
        if (rcvbuf > 0 && setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        set_int_opt(nl, SOL_NETLINK, NETLINK_CAP_ACK, 1);
        set_int_opt(nl, SOL_NETLINK, NETLINK_EXT_ACK, 1);
        for (const unsigned *g = groups; g && *g; g++)
                if (setsockopt(mnl_socket_get_fd(nl), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g, sizeof(*g)) < 0)
                        die_errno("NETLINK_ADD_MEMBERSHIP");
        return nl;
}

/* Sends one request with NLM_F_ACK and waits for its answer; returns 0 or -errno. */
static inline int nl_request(struct mnl_socket *nl, struct nlmsghdr *nlh, uint32_t *seq) {
        static uint8_t buf[NLBUF_SIZE];
        uint32_t portid = mnl_socket_get_portid(nl);

        nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = ++*seq;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                int len;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                len = (int) n;
                for (const struct nlmsghdr *r = (const void *) buf; mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len)) {
                        if (r->nlmsg_seq != *seq || r->nlmsg_pid != portid)
                                continue;
                        if (r->nlmsg_type == NLMSG_ERROR)
                                return ((const struct nlmsgerr *) mnl_nlmsg_get_payload(r))->error;
                }
        }
}

/* A dump: calls cb for every message of the answer. Returns 0 or -errno. */
static inline int nl_dump(struct mnl_socket *nl, struct nlmsghdr *nlh, uint32_t *seq,
                          void (*cb)(const struct nlmsghdr *, void *), void *userdata) {
        static uint8_t buf[NLBUF_SIZE];
        uint32_t portid = mnl_socket_get_portid(nl);

        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++*seq;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                int len;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                len = (int) n;
                for (const struct nlmsghdr *r = (const void *) buf; mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len)) {
                        if (r->nlmsg_seq != *seq || r->nlmsg_pid != portid)
                                continue;
                        if (r->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (r->nlmsg_type == NLMSG_ERROR) {
                                int e = ((const struct nlmsgerr *) mnl_nlmsg_get_payload(r))->error;
                                if (e)
                                        return e;
                                continue;
                        }
                        cb(r, userdata);
                }
        }
}

/* The parts of a route message the benchmarks look at. */
typedef struct Route {
        int family;
        uint32_t table;
        uint8_t dst_len, protocol, type, scope;
        uint32_t flags;
        uint8_t dst[16], gw[16];
        bool has_dst, has_gw;
        uint32_t oif, priority;
} Route;

static inline int route_attr_cb(const struct nlattr *a, void *data) {
        Route *r = data;
        size_t alen = r->family == AF_INET6 ? 16 : 4;

        switch (mnl_attr_get_type(a)) {
        case RTA_TABLE:
                if (mnl_attr_get_payload_len(a) >= 4)
                        r->table = mnl_attr_get_u32(a);
                break;
        case RTA_DST:
                if (mnl_attr_get_payload_len(a) >= alen) {
                        memcpy(r->dst, mnl_attr_get_payload(a), alen);
                        r->has_dst = true;
                }
                break;
        case RTA_GATEWAY:
                if (mnl_attr_get_payload_len(a) >= alen) {
                        memcpy(r->gw, mnl_attr_get_payload(a), alen);
                        r->has_gw = true;
                }
                break;
        case RTA_OIF:
                if (mnl_attr_get_payload_len(a) >= 4)
                        r->oif = mnl_attr_get_u32(a);
                break;
        case RTA_PRIORITY:
                if (mnl_attr_get_payload_len(a) >= 4)
                        r->priority = mnl_attr_get_u32(a);
                break;
        }
        return MNL_CB_OK;
}

static inline bool route_parse(const struct nlmsghdr *nlh, Route *r) {
        const struct rtmsg *rtm;

        if ((nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE) ||
            nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
                return false;
        rtm = mnl_nlmsg_get_payload(nlh);
        memset(r, 0, sizeof(*r));
        r->family = rtm->rtm_family;
        if (r->family != AF_INET && r->family != AF_INET6)
                return false;
        r->table = rtm->rtm_table;
        r->dst_len = rtm->rtm_dst_len;
        r->protocol = rtm->rtm_protocol;
        r->type = rtm->rtm_type;
        r->scope = rtm->rtm_scope;
        r->flags = rtm->rtm_flags;
        mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, r);
        return true;
}

/* A /dst_len route message for table, v4 or v6; gw may be NULL; oif 0: none. */
static inline struct nlmsghdr *route_msg(void *buf, uint16_t type, uint16_t flags, int family, const void *dst,
                                         uint8_t dst_len, const void *gw, uint32_t oif, uint32_t table,
                                         uint8_t protocol, uint32_t priority, uint32_t rtflags) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        size_t alen = family == AF_INET6 ? 16 : 4;

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        rtm->rtm_family = (uint8_t) family;
        rtm->rtm_dst_len = dst_len;
        rtm->rtm_table = table < 256 ? (uint8_t) table : RT_TABLE_UNSPEC;
        rtm->rtm_flags = rtflags;
        if (type == RTM_NEWROUTE) {
                rtm->rtm_protocol = protocol;
                rtm->rtm_type = RTN_UNICAST;
                rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        } else {
                rtm->rtm_scope = RT_SCOPE_NOWHERE;
        }
        if (dst_len > 0)
                mnl_attr_put(nlh, RTA_DST, alen, dst);
        if (gw)
                mnl_attr_put(nlh, RTA_GATEWAY, alen, gw);
        if (oif)
                mnl_attr_put_u32(nlh, RTA_OIF, oif);
        if (priority)
                mnl_attr_put_u32(nlh, RTA_PRIORITY, priority);
        mnl_attr_put_u32(nlh, RTA_TABLE, table);
        return nlh;
}

/* "a.b.c.d/len" -> host-order address and length; false on error. */
static inline bool parse_prefix4(const char *s, uint32_t *addr, unsigned *len) {
        char tmp[64], *slash;
        struct in_addr a;

        snprintf(tmp, sizeof(tmp), "%s", s);
        slash = strchr(tmp, '/');
        *len = 32;
        if (slash) {
                *slash = 0;
                *len = (unsigned) atoi(slash + 1);
        }
        if (inet_pton(AF_INET, tmp, &a) != 1 || *len > 32)
                return false;
        *addr = ntohl(a.s_addr);
        return true;
}
