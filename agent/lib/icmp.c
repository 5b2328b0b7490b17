/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "icmp.h"

/* include/uapi/linux/icmp.h and icmpv6.h; spelled out here so that the file needs no socket headers. */
#define ICMP4_ECHO_REPLY 0
#define ICMP4_ECHO_REQUEST 8
#define ICMP6_ECHO_REQUEST_TYPE 128
#define ICMP6_ECHO_REPLY_TYPE 129
#define IPV4_HEADER_MIN 20
#define IPPROTO_ICMP_NUMBER 1

static void put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static void put_be32(uint8_t *p, uint32_t v) {
        put_be16(p, (uint16_t) (v >> 16));
        put_be16(p + 2, (uint16_t) v);
}

static void put_be64(uint8_t *p, uint64_t v) {
        put_be32(p, (uint32_t) (v >> 32));
        put_be32(p + 4, (uint32_t) v);
}

static uint16_t get_be16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) get_be16(p) << 16 | get_be16(p + 2);
}

static uint64_t get_be64(const uint8_t *p) {
        return (uint64_t) get_be32(p) << 32 | get_be32(p + 4);
}

uint16_t icmp_checksum(const uint8_t *buf, size_t len) {
        uint32_t sum = 0;

        for (size_t i = 0; i + 1 < len; i += 2)
                sum += get_be16(buf + i);
        if (len & 1)
                sum += (uint32_t) buf[len - 1] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

/* The splitmix64 finalizer: not cryptography, but no one off the path ever sees a nonce, and without the
 * secret none can be predicted. */
uint64_t icmp_nonce(uint64_t secret, uint32_t cookie, uint16_t seq) {
        uint64_t x = secret ^ ((uint64_t) cookie << 16 | seq);

        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

int icmp_echo_build(int family, const IcmpEcho *e, uint8_t *buf, size_t size) {
        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        if (size < ICMP_ECHO_SIZE)
                return -ENOBUFS;
        memset(buf, 0, ICMP_ECHO_SIZE);
        buf[0] = family == AF_INET ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST_TYPE;
        put_be16(buf + 4, e->id);
        put_be16(buf + 6, e->seq);
        put_be32(buf + 8, ICMP_MAGIC);
        put_be32(buf + 12, e->cookie);
        put_be64(buf + 16, e->nonce);
        if (family == AF_INET)
                put_be16(buf + 2, icmp_checksum(buf, ICMP_ECHO_SIZE));
        return ICMP_ECHO_SIZE;
}

/* The ICMP message inside an IPv4 packet, checked as the kernel would before handing it to icmp_rcv(),
 * which a raw socket gets ahead of (raw_local_deliver() in net/ipv4/ip_input.c). */
static int ipv4_unwrap(const uint8_t *buf, size_t len, const uint8_t **ret, size_t *ret_len,
                       InAddrUnion *ret_source) {
        size_t ihl, total;

        if (len < IPV4_HEADER_MIN || buf[0] >> 4 != 4)
                return -EBADMSG;
        ihl = (size_t) (buf[0] & 0x0f) * 4;
        total = get_be16(buf + 2);
        if (ihl < IPV4_HEADER_MIN || ihl > len || total < ihl || total > len)
                return -EBADMSG;
        /* More fragments or an offset: the kernel reassembles before delivery, so this is forged. */
        if ((get_be16(buf + 6) & 0x3fff) != 0 || buf[9] != IPPROTO_ICMP_NUMBER)
                return -EBADMSG;
        memset(ret_source, 0, sizeof(*ret_source));
        memcpy(ret_source->bytes, buf + 12, 4);
        *ret = buf + ihl;
        *ret_len = total - ihl;
        return 0;
}

static int echo_reply_fields(int family, const uint8_t *icmp, size_t len, IcmpEcho *ret) {
        if (len < ICMP_HEADER_SIZE)
                return -EBADMSG;
        if (icmp[0] != (family == AF_INET ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY_TYPE))
                return -ENOMSG;
        if (icmp[1] != 0)
                return -EBADMSG;
        /* Someone else's ping (another size, another payload) that happens to use our identifier. */
        if (len != ICMP_ECHO_SIZE || get_be32(icmp + 8) != ICMP_MAGIC)
                return -ENOMSG;
        *ret = (IcmpEcho) {
                .id = get_be16(icmp + 4),
                .seq = get_be16(icmp + 6),
                .cookie = get_be32(icmp + 12),
                .nonce = get_be64(icmp + 16),
        };
        return 0;
}

int icmp_echo_reply_parse(int family, const uint8_t *buf, size_t len, IcmpEcho *ret, InAddrUnion *ret_source) {
        const uint8_t *icmp = buf;
        size_t icmp_len = len;
        InAddrUnion source = {};
        IcmpEcho e;
        int r;

        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        if (!buf)
                return -EBADMSG;
        if (family == AF_INET) {
                r = ipv4_unwrap(buf, len, &icmp, &icmp_len, &source);
                if (r < 0)
                        return r;
                if (icmp_len < ICMP_HEADER_SIZE || icmp_checksum(icmp, icmp_len) != 0)
                        return -EBADMSG;
        }
        r = echo_reply_fields(family, icmp, icmp_len, &e);
        if (r < 0)
                return r;
        *ret = e;
        if (ret_source && family == AF_INET)
                *ret_source = source;
        return 0;
}

bool icmp_echo_matches(const IcmpEcho *reply, uint64_t secret, uint16_t id, uint16_t seq, uint32_t cookie) {
        return reply->id == id && reply->seq == seq && reply->cookie == cookie &&
               reply->nonce == icmp_nonce(secret, cookie, seq);
}

int icmp_filter_program(int family, uint16_t id, struct sock_filter prog[static ICMP_FILTER_LEN]) {
        /* IPv4 raw sockets see the IP header: X = its length (the "msh" load), then ICMP at [X]. */
        const struct sock_filter v4[] = {
                BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
                BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP4_ECHO_REPLY, 0, 3),
                BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, id, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
                BPF_STMT(BPF_RET | BPF_K, 0),
        };
        /* IPv6 raw sockets start at the ICMPv6 header. */
        const struct sock_filter v6[] = {
                BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP6_ECHO_REPLY_TYPE, 0, 3),
                BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, id, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
                BPF_STMT(BPF_RET | BPF_K, 0),
        };
        _Static_assert(sizeof(v4) / sizeof(v4[0]) <= ICMP_FILTER_LEN, "raise ICMP_FILTER_LEN");

        if (family == AF_INET) {
                memcpy(prog, v4, sizeof(v4));
                return (int) (sizeof(v4) / sizeof(v4[0]));
        }
        if (family == AF_INET6) {
                memcpy(prog, v6, sizeof(v6));
                return (int) (sizeof(v6) / sizeof(v6[0]));
        }
        return -EAFNOSUPPORT;
}
