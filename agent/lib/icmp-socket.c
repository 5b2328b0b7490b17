/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "icmp-socket.h"
#include "macro.h"
#include "time-util.h"

static int setsockopt_int(int fd, int level, int opt, int value) {
        return setsockopt(fd, level, opt, &value, sizeof(value)) < 0 ? negative_errno() : 0;
}

/* Only echo replies reach the socket's queue: the type filter first (cheap, per family), then our
 * identifier (BPF). */
static int socket_filter(int fd, int family, uint16_t id) {
        struct sock_filter prog[ICMP_FILTER_LEN];
        struct sock_fprog fprog = { .filter = prog };
        int n = icmp_filter_program(family, id, prog);

        if (n < 0)
                return n;
        fprog.len = (unsigned short) n;
        if (family == AF_INET) {
                struct icmp_filter f = { .data = ~(1U << ICMP_ECHOREPLY) };     /* a set bit blocks */
                if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f)) < 0)
                        return negative_errno();
        } else {
                struct icmp6_filter f;
                ICMP6_FILTER_SETBLOCKALL(&f);
                ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
                if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) < 0)
                        return negative_errno();
        }
        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
                return negative_errno();
        return 0;
}

/* What arrived between socket() and the filter is dropped unread. */
static void socket_flush(int fd) {
        uint8_t buf[ICMP_RECV_MAX];

        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                ;
}

int icmp_socket_open(int family, uint16_t id, uint32_t rcvbuf) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        fd = socket(family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
        if (fd < 0)
                return negative_errno();
        r = socket_filter(fd, family, id);
        if (r < 0)
                return r;
        r = setsockopt_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
        if (r < 0)
                return r;
        if (setsockopt_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int) rcvbuf) < 0)
                (void) setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, (int) rcvbuf);
        socket_flush(fd);
        return TAKE_FD(fd);
}

int icmp_socket_send(int fd, int family, const InAddrUnion *dst, int ifindex, uint32_t mark, const IcmpEcho *e) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } to = {};
        uint8_t buf[ICMP_ECHO_SIZE];
        socklen_t len;
        int r;

        r = icmp_echo_build(family, e, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (family == AF_INET) {
                to.in.sin_family = AF_INET;
                memcpy(&to.in.sin_addr, dst->bytes, 4);
                len = sizeof(to.in);
        } else {
                to.in6.sin6_family = AF_INET6;
                memcpy(&to.in6.sin6_addr, dst->bytes, 16);
                to.in6.sin6_scope_id = (uint32_t) MAX(ifindex, 0);
                len = sizeof(to.in6);
        }
        /* Per socket, not per message: a mark in a control message is ignored by raw IPv6 sockets of older
         * kernels. We are single-threaded, so setting it before each send is exact. */
        r = setsockopt_int(fd, SOL_SOCKET, SO_MARK, (int) mark);
        if (r < 0)
                return r;
        if (sendto(fd, buf, (size_t) ICMP_ECHO_SIZE, MSG_DONTWAIT, &to.sa, len) < 0)
                return negative_errno();
        return 0;
}

static uint64_t message_stamp(struct msghdr *msg) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
                    c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
                        struct timespec ts;

                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000U;
                }
        /* No stamp: now is later than the arrival, so a late verdict can only be stricter. */
        return now_realtime();
}

int icmp_socket_recv(int fd, int family, IcmpReceived *ret) {
        uint8_t buf[ICMP_RECV_MAX], control[CMSG_SPACE(sizeof(struct timespec)) + 64];
        struct sockaddr_in6 from = {};
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr msg = {
                .msg_name = &from,
                .msg_namelen = sizeof(from),
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control,
                .msg_controllen = sizeof(control),
        };
        IcmpReceived rx = {};
        ssize_t n;
        int r;

        n = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        if (msg.msg_flags & MSG_TRUNC)
                return -EBADMSG;
        r = icmp_echo_reply_parse(family, buf, (size_t) n, &rx.echo, &rx.source);
        if (r < 0)
                return r;
        if (family == AF_INET6) {
                if (msg.msg_namelen < sizeof(struct sockaddr_in6) || from.sin6_family != AF_INET6)
                        return -EBADMSG;
                memcpy(rx.source.bytes, &from.sin6_addr, 16);
        }
        rx.stamp_usec = message_stamp(&msg);
        *ret = rx;
        return 0;
}
