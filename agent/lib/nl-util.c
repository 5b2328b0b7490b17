/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include "macro.h"
#include "nl-util.h"

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
