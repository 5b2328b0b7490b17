/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The probe replies (lib/icmp.c): whatever arrives on the raw ICMP sockets. The first byte picks the
 * family (even: IPv4, a whole IP packet; odd: IPv6, an ICMPv6 message), the rest is the datagram. */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "icmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint8_t buf[ICMP_RECV_MAX];
        InAddrUnion source;
        IcmpEcho e;
        int family;

        if (size < 1 || size - 1 > sizeof(buf))
                return 0;
        family = data[0] & 1 ? AF_INET6 : AF_INET;
        /* A buffer of exactly the datagram's size, as recvmsg() fills: reads beyond it are caught. */
        memcpy(buf, data + 1, size - 1);
        if (icmp_echo_reply_parse(family, buf, size - 1, &e, &source) < 0)
                return 0;
        (void) icmp_echo_matches(&e, 0x0123456789abcdefULL, e.id, e.seq, e.cookie);
        return 0;
}
