/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* The gateway probes' packets: ICMP and ICMPv6 echo requests we build, and the replies we accept. Pure: no
 * sockets, no clocks. Nothing that arrives is trusted: a reply counts only if it is an echo reply of the
 * exact length we send, with our identifier and an expected sequence number, and carries the payload we put
 * in that very request (a magic, the stream's cookie, and a nonce derived from a secret of the run, so that
 * an off-path sender cannot forge an answer for a gateway that is dead).
 *
 * Our payload (ICMP_PAYLOAD_SIZE bytes, after the 8-byte echo header), in network byte order:
 *   0..3  ICMP_MAGIC ("vpp1")
 *   4..7  cookie: which probe stream (gateway, family, destination) sent it
 *   8..15 nonce: icmp_nonce(secret, cookie, sequence) */

#define ICMP_HEADER_SIZE 8
#define ICMP_PAYLOAD_SIZE 16
#define ICMP_ECHO_SIZE (ICMP_HEADER_SIZE + ICMP_PAYLOAD_SIZE)
#define ICMP_MAGIC 0x76707031U
/* What an IPv4 raw socket hands over: the IP header (20 to 60 bytes) and the ICMP message. */
#define ICMP_RECV_MAX (60 + ICMP_ECHO_SIZE + 64)

typedef struct IcmpEcho {
        uint16_t id;            /* the ICMP identifier: one per run */
        uint16_t seq;
        uint32_t cookie;
        uint64_t nonce;
} IcmpEcho;

/* The nonce of a request: unpredictable without the secret, different for every stream and sequence. */
uint64_t icmp_nonce(uint64_t secret, uint32_t cookie, uint16_t seq);

/* An echo request (ICMP type 8, or ICMPv6 type 128) into buf. The IPv4 checksum is ours to compute; for
 * ICMPv6 the kernel fills it in (RFC 3542, section 3.1), the field is left 0. Returns the size
 * (ICMP_ECHO_SIZE), or -ENOBUFS, -EAFNOSUPPORT. */
int icmp_echo_build(int family, const IcmpEcho *e, uint8_t *buf, size_t size);

/* A received datagram: for IPv4 the whole packet as a raw socket passes it (IP header first), for IPv6
 * the ICMPv6 message alone (the kernel has verified its checksum). Checks the IP header (version, length,
 * protocol, no fragment), the ICMP checksum (IPv4), the type (echo reply), code 0, the exact length and the
 * magic; fills *ret and, for IPv4, *ret_source (may be NULL) with the IP source. -EBADMSG: malformed,
 * -ENOMSG: well-formed but not a reply to one of our probes. */
int icmp_echo_reply_parse(int family, const uint8_t *buf, size_t len, IcmpEcho *ret, InAddrUnion *ret_source);

/* Whether a parsed reply answers the request we sent: same identifier, sequence and cookie, and the nonce
 * of the run's secret. */
bool icmp_echo_matches(const IcmpEcho *reply, uint64_t secret, uint16_t id, uint16_t seq, uint32_t cookie);

/* A classic BPF socket filter that passes only echo replies with our identifier, so that the socket queues
 * nothing else (raw ICMP sockets see every ICMP packet the host receives). prog needs ICMP_FILTER_LEN
 * instructions. Returns the number of instructions. */
#define ICMP_FILTER_LEN 8
int icmp_filter_program(int family, uint16_t id, struct sock_filter prog[static ICMP_FILTER_LEN]);

/* RFC 1071 checksum of buf. */
uint16_t icmp_checksum(const uint8_t *buf, size_t len);
