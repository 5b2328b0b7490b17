/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Receiving on a netlink socket, shared by rtnl.c and nft.c (each still the only one to touch its own
 * sockets). Only the kernel (port id 0) is believed: a datagram from another sender is dropped and
 * counted in *forged when that is not NULL. */

/* One datagram, without blocking: its length, 0 for one that was dropped, or -errno (-EAGAIN when none
 * is queued, -EMSGSIZE when it did not fit). */
ssize_t nl_recv_kernel(int fd, void *buf, size_t size, uint64_t *forged);

/* The next datagram from the kernel, waiting at most timeout_ms for each (-ETIMEDOUT). */
ssize_t nl_recv_kernel_wait(int fd, void *buf, size_t size, int timeout_ms, uint64_t *forged);
