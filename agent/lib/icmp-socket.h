/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "addr.h"
#include "icmp.h"

/* The probe sockets: raw ICMP and ICMPv6 sockets (CAP_NET_RAW), one per family, filtered in the kernel
 * down to echo replies with our identifier (ICMP_FILTER/ICMP6_FILTER and a BPF program), each reply
 * stamped with its arrival time by the kernel (SO_TIMESTAMPNS), so that replies need not be read the moment
 * they arrive: the round trip is measured from the stamp. Each request carries the firewall mark of its
 * gateway (SO_MARK, CAP_NET_ADMIN), which a rule "fwmark MARK lookup PROBE_TABLE" sends through that
 * gateway whatever the policy's default route is. */

/* A socket of the family, non-blocking and close-on-exec, receiving only our echo replies; rcvbuf bytes
 * of queue (SO_RCVBUFFORCE, else SO_RCVBUF). Returns the fd or -errno (-EPERM without CAP_NET_RAW). */
int icmp_socket_open(int family, uint16_t id, uint32_t rcvbuf);

/* One echo request to dst (ifindex: the scope of an IPv6 link-local destination, else 0) with the mark.
 * Returns 0 or -errno from the kernel (-ENETUNREACH, -EHOSTUNREACH, -ENETDOWN, ...). */
int icmp_socket_send(int fd, int family, const InAddrUnion *dst, int ifindex, uint32_t mark, const IcmpEcho *e);

typedef struct IcmpReceived {
        IcmpEcho echo;
        InAddrUnion source;
        uint64_t stamp_usec;    /* CLOCK_REALTIME, from the kernel's receive stamp */
} IcmpReceived;

/* The next queued datagram: 0 with *ret filled for a well-formed echo reply of ours, -EAGAIN when the
 * queue is empty, -EBADMSG or -ENOMSG for a datagram that is not one (read and dropped: call again), other
 * -errno on failure. */
int icmp_socket_recv(int fd, int family, IcmpReceived *ret);
