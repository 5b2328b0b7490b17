/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The probe packets (lib/icmp.c): requests built as RFC 792 and 4443 say, replies accepted only when they
 * answer exactly what we sent, and the kernel-side BPF filter run for real on a Unix datagram socket (the
 * kernel applies socket filters there too), so no root is needed. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "icmp.h"
#include "macro.h"
#include "tests.h"

static const uint64_t SECRET = 0x0123456789abcdefULL;

static IcmpEcho echo(uint16_t seq, uint32_t cookie) {
        return (IcmpEcho) { .id = 0x4242, .seq = seq, .cookie = cookie, .nonce = icmp_nonce(SECRET, cookie, seq) };
}

/* What the gateway sends back for a request: type 0 (or 129), checksum fixed; for IPv4 in an IP header. */
static size_t reply_of(int family, const uint8_t *req, uint8_t *out, const uint8_t src[4]) {
        uint8_t *icmp = out;
        size_t off = 0;

        if (family == AF_INET) {
                memset(out, 0, 20);
                out[0] = 0x45;
                out[2] = 0;
                out[3] = 20 + ICMP_ECHO_SIZE;
                out[8] = 64;
                out[9] = 1;
                memcpy(out + 12, src, 4);
                off = 20;
                icmp = out + off;
        }
        memcpy(icmp, req, ICMP_ECHO_SIZE);
        icmp[0] = family == AF_INET ? 0 : 129;
        icmp[2] = icmp[3] = 0;
        if (family == AF_INET) {
                uint16_t c = icmp_checksum(icmp, ICMP_ECHO_SIZE);
                icmp[2] = (uint8_t) (c >> 8);
                icmp[3] = (uint8_t) c;
        }
        return off + ICMP_ECHO_SIZE;
}

static void test_build(void) {
        IcmpEcho e = echo(7, 3);
        uint8_t buf[64];

        ASSERT_INT(icmp_echo_build(AF_INET, &e, buf, sizeof(buf)), ICMP_ECHO_SIZE);
        ASSERT_INT(buf[0], 8);
        ASSERT_INT(buf[1], 0);
        ASSERT_INT(icmp_checksum(buf, ICMP_ECHO_SIZE), 0);     /* a valid checksum sums to zero */
        ASSERT(buf[4] == 0x42 && buf[5] == 0x42 && buf[6] == 0 && buf[7] == 7);
        ASSERT(memcmp(buf + 8, "vpp1", 4) == 0);
        ASSERT_INT(icmp_echo_build(AF_INET6, &e, buf, sizeof(buf)), ICMP_ECHO_SIZE);
        ASSERT_INT(buf[0], 128);
        ASSERT(buf[2] == 0 && buf[3] == 0);                     /* the kernel's to fill */
        ASSERT_INT(icmp_echo_build(AF_INET, &e, buf, ICMP_ECHO_SIZE - 1), -ENOBUFS);
        ASSERT_INT(icmp_echo_build(AF_UNIX, &e, buf, sizeof(buf)), -EAFNOSUPPORT);
        /* RFC 1071's example. */
        ASSERT_INT(icmp_checksum((const uint8_t[]) { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 }, 8),
                   (uint16_t) ~0xddf2);
        ASSERT_INT(icmp_checksum((const uint8_t[]) { 0xff }, 1), 0x00ff);
}

static void test_nonce(void) {
        /* Different per stream, per sequence and per secret. */
        ASSERT(icmp_nonce(SECRET, 1, 1) != icmp_nonce(SECRET, 1, 2));
        ASSERT(icmp_nonce(SECRET, 1, 1) != icmp_nonce(SECRET, 2, 1));
        ASSERT(icmp_nonce(SECRET, 1, 1) != icmp_nonce(SECRET + 1, 1, 1));
        ASSERT(icmp_nonce(SECRET, 1, 1) == icmp_nonce(SECRET, 1, 1));
}

static void test_reply(int family) {
        const uint8_t src[4] = { 192, 168, 1, 1 };
        IcmpEcho e = echo(9, 5), got;
        uint8_t req[64], rep[128];
        InAddrUnion from = {};
        size_t n;

        ASSERT(icmp_echo_build(family, &e, req, sizeof(req)) > 0);
        n = reply_of(family, req, rep, src);
        ASSERT_INT(icmp_echo_reply_parse(family, rep, n, &got, &from), 0);
        ASSERT(icmp_echo_matches(&got, SECRET, 0x4242, 9, 5));
        if (family == AF_INET)
                ASSERT(memcmp(from.bytes, src, 4) == 0);
        /* Not the request we are waiting for. */
        ASSERT(!icmp_echo_matches(&got, SECRET, 0x4242, 10, 5));
        ASSERT(!icmp_echo_matches(&got, SECRET, 0x4243, 9, 5));
        ASSERT(!icmp_echo_matches(&got, SECRET, 0x4242, 9, 6));
        ASSERT(!icmp_echo_matches(&got, SECRET ^ 1, 0x4242, 9, 5));
        /* Our own request looped back is no reply. */
        ASSERT_INT(icmp_echo_reply_parse(AF_INET6, req, ICMP_ECHO_SIZE, &got, NULL), -ENOMSG);
}

static size_t v4_reply(uint8_t *rep) {
        const uint8_t src[4] = { 203, 0, 113, 1 };
        IcmpEcho e = echo(1, 1);
        uint8_t req[64];

        ASSERT(icmp_echo_build(AF_INET, &e, req, sizeof(req)) > 0);
        return reply_of(AF_INET, req, rep, src);
}

static int parse4(const uint8_t *buf, size_t n) {
        IcmpEcho got = { .id = 0xdead };
        InAddrUnion from = { .bytes = { 0xee } };
        int r = icmp_echo_reply_parse(AF_INET, buf, n, &got, &from);

        /* Out-parameters stay as they were on failure. */
        if (r < 0)
                ASSERT(got.id == 0xdead && from.bytes[0] == 0xee);
        return r;
}

/* The ICMP checksum of an IPv4 reply fixed up after a change. */
static void fix4(uint8_t *buf, size_t n) {
        uint16_t c;

        buf[22] = buf[23] = 0;
        c = icmp_checksum(buf + 20, n - 20);
        buf[22] = (uint8_t) (c >> 8);
        buf[23] = (uint8_t) c;
}

static void test_reply_malformed(void) {
        uint8_t rep[128], bad[128];
        size_t n = v4_reply(rep);
        IcmpEcho got;

        ASSERT_INT(parse4(rep, n), 0);
        ASSERT_INT(parse4(rep, 19), -EBADMSG);                         /* shorter than an IP header */
        ASSERT_INT(parse4(NULL, 0), -EBADMSG);
        memcpy(bad, rep, n);
        bad[0] = 0x65;                                                  /* IPv6 in an IPv4 socket */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        memcpy(bad, rep, n);
        bad[0] = 0x44;                                                  /* IHL 4: less than the header */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        bad[0] = 0x4f;                                                  /* IHL 15: beyond the datagram */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        memcpy(bad, rep, n);
        bad[3] = (uint8_t) (n + 1);                                     /* total length beyond the datagram */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        memcpy(bad, rep, n);
        bad[6] = 0x20;                                                  /* more fragments */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        memcpy(bad, rep, n);
        bad[9] = 17;                                                    /* UDP */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        memcpy(bad, rep, n);
        bad[n - 1] ^= 1;                                                /* payload changed: checksum fails */
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        memcpy(bad, rep, n);
        bad[20 + 1] = 1;                                                /* code 1, checksum right */
        fix4(bad, n);
        ASSERT_INT(parse4(bad, n), -EBADMSG);
        /* Well-formed, but not ours. */
        memcpy(bad, rep, n);
        bad[20] = 3;                                                    /* destination unreachable */
        fix4(bad, n);
        ASSERT_INT(parse4(bad, n), -ENOMSG);
        memcpy(bad, rep, n);
        bad[3] = (uint8_t) (n - 1);                                     /* one byte short of our size */
        fix4(bad, n - 1);
        ASSERT_INT(parse4(bad, n), -ENOMSG);
        memcpy(bad, rep, n);
        bad[20 + 8] = 'X';                                              /* another magic */
        fix4(bad, n);
        ASSERT_INT(parse4(bad, n), -ENOMSG);
        /* IPv6: exact size only. */
        ASSERT_INT(icmp_echo_reply_parse(AF_INET6, rep + 20, 7, &got, NULL), -EBADMSG);
        ASSERT_INT(icmp_echo_reply_parse(AF_INET6, rep + 20, ICMP_ECHO_SIZE - 1, &got, NULL), -ENOMSG);
        ASSERT_INT(icmp_echo_reply_parse(AF_UNIX, rep, n, &got, NULL), -EAFNOSUPPORT);
}

/* The BPF program, attached to the receiving end of a Unix datagram pair: what passes arrives. */
static bool filter_passes(int family, uint16_t id, const uint8_t *pkt, size_t len) {
        struct sock_filter prog[ICMP_FILTER_LEN];
        struct sock_fprog fprog = { .filter = prog };
        uint8_t buf[256];
        int sv[2], n;
        bool passed;

        n = icmp_filter_program(family, id, prog);
        ASSERT(n > 0 && n <= ICMP_FILTER_LEN);
        fprog.len = (unsigned short) n;
        ASSERT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) >= 0);
        ASSERT(setsockopt(sv[1], SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) >= 0);
        ASSERT(send(sv[0], pkt, len, 0) == (ssize_t) len);
        passed = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == (ssize_t) len;
        close(sv[0]);
        close(sv[1]);
        return passed;
}

static void test_filter(void) {
        uint8_t rep[128], other[128], opt[128];
        size_t n = v4_reply(rep);

        ASSERT(filter_passes(AF_INET, 0x4242, rep, n));
        ASSERT(!filter_passes(AF_INET, 0x4243, rep, n));                /* another identifier */
        memcpy(other, rep, n);
        other[20] = 8;                                                  /* a request, not a reply */
        ASSERT(!filter_passes(AF_INET, 0x4242, other, n));
        /* An IP header with options: the program finds ICMP after it. */
        memcpy(opt, rep, 20);
        opt[0] = 0x46;
        memset(opt + 20, 1, 4);                                         /* four NOP options */
        memcpy(opt + 24, rep + 20, n - 20);
        ASSERT(filter_passes(AF_INET, 0x4242, opt, n + 4));
        ASSERT(!filter_passes(AF_INET, 0x4242, rep, 10));               /* too short to say */
        /* IPv6: the message starts at the ICMPv6 header. */
        memcpy(other, rep + 20, ICMP_ECHO_SIZE);
        other[0] = 129;
        ASSERT(filter_passes(AF_INET6, 0x4242, other, ICMP_ECHO_SIZE));
        ASSERT(!filter_passes(AF_INET6, 0x1111, other, ICMP_ECHO_SIZE));
        other[0] = 128;
        ASSERT(!filter_passes(AF_INET6, 0x4242, other, ICMP_ECHO_SIZE));
        ASSERT_INT(icmp_filter_program(AF_UNIX, 1, (struct sock_filter[ICMP_FILTER_LEN]) {}), -EAFNOSUPPORT);
}

static void test_reply_v4(void) {
        test_reply(AF_INET);
}

static void test_reply_v6(void) {
        test_reply(AF_INET6);
}

int main(void) {
        RUN(test_build);
        RUN(test_nonce);
        RUN(test_reply_v4);
        RUN(test_reply_v6);
        RUN(test_reply_malformed);
        RUN(test_filter);
        TESTS_DONE();
}
