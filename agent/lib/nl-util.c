/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include "macro.h"
#include "nl-util.h"

int nl_setsockopt_int(struct mnl_socket *nl, int level, int opt, int value) {
        if (setsockopt(mnl_socket_get_fd(nl), level, opt, &value, sizeof(value)) < 0)
                return negative_errno();
        return 0;
}

int nl_socket_open(int bus, struct mnl_socket **ret) {
        struct mnl_socket *nl;
        int r;

        nl = mnl_socket_open2(bus, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!nl)
                return negative_errno();
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = negative_errno();
                mnl_socket_close(nl);
                return r;
        }
        /* Errors carry only the header of the failed request (not the whole request), plus the
         * kernel's explanation text, which status shows. */
        (void) nl_setsockopt_int(nl, SOL_NETLINK, NETLINK_CAP_ACK, 1);
        (void) nl_setsockopt_int(nl, SOL_NETLINK, NETLINK_EXT_ACK, 1);
        *ret = nl;
        return 0;
}

static int set_buffer(struct mnl_socket *nl, int force, int plain, size_t size) {
        int v = (int) MIN(size, (size_t) INT32_MAX);

        if (nl_setsockopt_int(nl, SOL_SOCKET, force, v) >= 0)
                return 0;
        return nl_setsockopt_int(nl, SOL_SOCKET, plain, v);
}

int nl_set_rcvbuf(struct mnl_socket *nl, size_t size) {
        return set_buffer(nl, SO_RCVBUFFORCE, SO_RCVBUF, size);
}

int nl_set_sndbuf(struct mnl_socket *nl, size_t size) {
        return set_buffer(nl, SO_SNDBUFFORCE, SO_SNDBUF, size);
}

ssize_t nl_recv_kernel(int fd, void *buf, size_t size, uint64_t *forged) {
        struct sockaddr_nl sa = {};
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        n = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (n < 0)
                return negative_errno();
        if (msg.msg_flags & MSG_TRUNC)
                return -EMSGSIZE;
        if (msg.msg_namelen != sizeof(sa) || sa.nl_pid != 0) {
                if (forged)
                        (*forged)++;
                return 0;
        }
        return n;
}

static int wait_readable(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n;

        do
                n = poll(&p, 1, timeout_ms);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        return n == 0 ? -ETIMEDOUT : 0;
}

ssize_t nl_recv_kernel_wait(int fd, void *buf, size_t size, int timeout_ms, uint64_t *forged) {
        for (;;) {
                ssize_t n;
                int k;

                k = wait_readable(fd, timeout_ms);
                if (k < 0)
                        return k;
                n = nl_recv_kernel(fd, buf, size, forged);
                if (n == -EAGAIN || n == -EINTR || n == 0)
                        continue;
                return n;
        }
}
