/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opening and receiving on a netlink socket, shared by rtnl.c and nft.c (each still the only one to touch
 * its own sockets). */

struct mnl_socket;

/* A socket of bus (NETLINK_ROUTE, NETLINK_NETFILTER), non-blocking and close-on-exec, bound to a port id
 * the kernel picks, with NETLINK_CAP_ACK and NETLINK_EXT_ACK set where the kernel has them. */
int nl_socket_open(int bus, struct mnl_socket **ret);
int nl_setsockopt_int(struct mnl_socket *nl, int level, int opt, int value);
/* SO_RCVBUFFORCE / SO_SNDBUFFORCE need CAP_NET_ADMIN, which our callers have; without it, what
 * net.core.rmem_max / wmem_max allow. Fails only when the second attempt does. */
int nl_set_rcvbuf(struct mnl_socket *nl, size_t size);
int nl_set_sndbuf(struct mnl_socket *nl, size_t size);

/* Only the kernel (port id 0) is believed: a datagram from another sender is dropped and counted in
 * *forged when that is not NULL. */

/* One datagram, without blocking: its length, 0 for one that was dropped, or -errno (-EAGAIN when none
 * is queued, -EMSGSIZE when it did not fit). */
ssize_t nl_recv_kernel(int fd, void *buf, size_t size, uint64_t *forged);

/* The next datagram from the kernel, waiting at most timeout_ms for each (-ETIMEDOUT). */
ssize_t nl_recv_kernel_wait(int fd, void *buf, size_t size, int timeout_ms, uint64_t *forged);
