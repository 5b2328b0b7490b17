/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"
#include "macro.h"

size_t family_addr_size(int family) {
        switch (family) {
        case AF_INET:
                return sizeof(struct in_addr);
        case AF_INET6:
                return sizeof(struct in6_addr);
        default:
                return 0;
        }
}

uint8_t family_max_prefixlen(int family) {
        return (uint8_t) (family_addr_size(family) * 8);
}

const char *family_to_string(int family) {
        switch (family) {
        case AF_INET:
                return "ipv4";
        case AF_INET6:
                return "ipv6";
        default:
                return NULL;
        }
}

/* inet_pton() already rejects blanks, trailing junk and zone ids ("fe80::1%eth0"); glibc's also rejects
 * IPv4 octets with leading zeros, which other resolvers would read as octal. */
int addr_parse(int family, const char *s, int *ret_family, InAddrUnion *ret) {
        static const int families[] = { AF_INET, AF_INET6 };
        InAddrUnion a = {};

        assert(s);

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                if (family != AF_UNSPEC && family != families[i])
                        continue;
                if (inet_pton(families[i], s, &a) != 1)
                        continue;
                if (ret_family)
                        *ret_family = families[i];
                if (ret)
                        *ret = a;
                return 0;
        }
        return -EINVAL;
}

bool addr_is_null(int family, const InAddrUnion *a) {
        static const InAddrUnion null = {};

        assert(a);
        return memcmp(a, &null, family_addr_size(family)) == 0;
}

bool addr_equal(int family, const InAddrUnion *a, const InAddrUnion *b) {
        assert(a);
        assert(b);
        return memcmp(a, b, family_addr_size(family)) == 0;
}

/* 169.254.0.0/16 (RFC 3927) and fe80::/10 (RFC 4291 2.5.6). */
bool addr_is_link_local(int family, const InAddrUnion *a) {
        assert(a);

        if (family == AF_INET)
                return a->bytes[0] == 169 && a->bytes[1] == 254;
        if (family == AF_INET6)
                return a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80;
        return false;
}

const char *addr_to_string(int family, const InAddrUnion *a, char buf[static ADDR_STRLEN]) {
        assert(a);

        if (!inet_ntop(family, a, buf, ADDR_STRLEN))
                return NULL;
        return buf;
}

/* The length is 1 to 3 digits without a leading zero ("/08" is rejected, like "010.0.0.1" is). */
static int prefixlen_parse(const char *s, uint8_t max, uint8_t *ret) {
        unsigned v = 0;
        size_t n = strlen(s);

        if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*p - '0');
        }
        if (v > max)
                return -ERANGE;

        *ret = (uint8_t) v;
        return 0;
}

int prefix_parse(const char *s, Prefix *ret) {
        char buf[ADDR_STRLEN];
        const char *slash;
        Prefix p = {};
        int r;

        assert(s);
        assert(ret);

        slash = strchr(s, '/');
        if (!slash || slash == s || (size_t) (slash - s) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, slash - s);
        buf[slash - s] = '\0';

        r = addr_parse(AF_UNSPEC, buf, &p.family, &p.addr);
        if (r < 0)
                return r;
        r = prefixlen_parse(slash + 1, family_max_prefixlen(p.family), &p.prefixlen);
        if (r < 0)
                return r;

        *ret = p;
        return 0;
}

/* True if the first n bits of a and b agree. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned n) {
        unsigned bytes = n / 8, rest = n % 8;
        uint8_t mask;

        if (memcmp(a, b, bytes) != 0)
                return false;
        if (rest == 0)
                return true;
        mask = (uint8_t) (0xff << (8 - rest));
        return ((a[bytes] ^ b[bytes]) & mask) == 0;
}

void prefix_mask(Prefix *p) {
        size_t size;
        unsigned bytes, rest;

        assert(p);

        size = family_addr_size(p->family);
        bytes = p->prefixlen / 8;
        rest = p->prefixlen % 8;
        assert(p->prefixlen <= size * 8);

        if (bytes >= size)
                return;
        if (rest != 0)
                p->addr.bytes[bytes++] &= (uint8_t) (0xff << (8 - rest));
        memset(p->addr.bytes + bytes, 0, sizeof(p->addr) - bytes);
}

bool prefix_has_host_bits(const Prefix *p) {
        Prefix masked;

        assert(p);

        masked = *p;
        prefix_mask(&masked);
        return !addr_equal(p->family, &p->addr, &masked.addr);
}

bool prefix_equal(const Prefix *a, const Prefix *b) {
        assert(a);
        assert(b);

        return a->family == b->family && a->prefixlen == b->prefixlen &&
                addr_equal(a->family, &a->addr, &b->addr);
}

bool prefix_contains(const Prefix *p, int family, const InAddrUnion *a) {
        assert(p);
        assert(a);

        return p->family == family && bits_equal(p->addr.bytes, a->bytes, p->prefixlen);
}

/* Two prefixes overlap exactly when the shorter one contains the longer one. */
bool prefix_overlaps(const Prefix *a, const Prefix *b) {
        assert(a);
        assert(b);

        return a->family == b->family &&
                bits_equal(a->addr.bytes, b->addr.bytes, MIN(a->prefixlen, b->prefixlen));
}

const char *prefix_to_string(const Prefix *p, char buf[static PREFIX_STRLEN]) {
        char a[ADDR_STRLEN];

        assert(p);

        if (!addr_to_string(p->family, &p->addr, a))
                return NULL;
        snprintf(buf, PREFIX_STRLEN, "%s/%u", a, p->prefixlen);
        return buf;
}

/* A netmask is contiguous when its inverse, in host order, is of the form 2^k - 1. */
int netmask_to_prefixlen(const struct in_addr *mask, uint8_t *ret) {
        uint32_t m, inv;

        assert(mask);
        assert(ret);

        m = ntohl(mask->s_addr);
        inv = ~m;
        if ((inv & (inv + 1)) != 0)
                return -EINVAL;

        *ret = (uint8_t) __builtin_popcount(m);
        return 0;
}
