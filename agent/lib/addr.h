/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* Large enough for any IPv6 text form, and "/128". */
#define ADDR_STRLEN 46
#define PREFIX_STRLEN (ADDR_STRLEN + 4)

typedef union InAddrUnion {
        struct in_addr in;
        struct in6_addr in6;
        uint8_t bytes[16];
} InAddrUnion;

typedef struct Prefix {
        int family; /* AF_INET or AF_INET6 */
        uint8_t prefixlen;
        InAddrUnion addr;
} Prefix;

size_t family_addr_size(int family);
uint8_t family_max_prefixlen(int family);
const char *family_to_string(int family); /* "ipv4", "ipv6" */

/* Strict: no leading/trailing junk, no zone ids. family may be AF_UNSPEC to accept either. */
int addr_parse(int family, const char *s, int *ret_family, InAddrUnion *ret);
bool addr_is_null(int family, const InAddrUnion *a);
bool addr_equal(int family, const InAddrUnion *a, const InAddrUnion *b);
bool addr_is_link_local(int family, const InAddrUnion *a);
const char *addr_to_string(int family, const InAddrUnion *a, char buf[static ADDR_STRLEN]);

/* "ADDR/LEN", strict. A bare address is rejected: pools are always written with their length. */
int prefix_parse(const char *s, Prefix *ret);
bool prefix_has_host_bits(const Prefix *p);
void prefix_mask(Prefix *p);
bool prefix_equal(const Prefix *a, const Prefix *b);
bool prefix_contains(const Prefix *p, int family, const InAddrUnion *a);
bool prefix_overlaps(const Prefix *a, const Prefix *b);
const char *prefix_to_string(const Prefix *p, char buf[static PREFIX_STRLEN]);

/* 255.255.255.0 -> 24; a non-contiguous mask is -EINVAL. */
int netmask_to_prefixlen(const struct in_addr *mask, uint8_t *ret);
