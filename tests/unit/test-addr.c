/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prefix math and the strict parsers of addr.c and parse-util.c. */

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"
#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "tests.h"

static Prefix P(const char *s) {
        Prefix p;

        if (prefix_parse(s, &p) < 0) {
                fprintf(stderr, "cannot parse %s\n", s);
                exit(1);
        }
        return p;
}

/* Parses, prints, and checks the text comes back unchanged. */
static void check_round_trip(const char *s, int family, uint8_t len) {
        char buf[PREFIX_STRLEN];
        Prefix p = P(s);

        ASSERT(p.family == family);
        ASSERT(p.prefixlen == len);
        ASSERT(streq(prefix_to_string(&p, buf), s));
}

static void test_prefix_parse_good(void) {
        check_round_trip("10.0.0.0/8", AF_INET, 8);
        check_round_trip("0.0.0.0/0", AF_INET, 0);
        check_round_trip("192.168.1.1/32", AF_INET, 32);
        check_round_trip("255.255.255.255/32", AF_INET, 32);
        check_round_trip("::/0", AF_INET6, 0);
        check_round_trip("::1/128", AF_INET6, 128);
        check_round_trip("fd00:4242:4242:4242::/64", AF_INET6, 64);
        check_round_trip("2001:db8::/32", AF_INET6, 32);
        check_round_trip("::ffff:10.0.0.0/104", AF_INET6, 104);
}

static void test_prefix_parse_bad(void) {
        static const char *const bad[] = {
                "", "/", "/24", "10.0.0.1", "10.0.0.1/", "10.0.0.1/33", " 10.0.0.0/8", "10.0.0.0/8 ",
                "10.0.0.0 /8", "10.0.0.0/ 8", "10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/8/8",
                "10.0.0.0/0x8", "010.0.0.0/8", "10.0.0/8", "10.0.0.0.0/8", "::/129", "::/1280",
                "fe80::1%eth0/64", "fe80::%eth0/10", "fd00::/64x", "fd00:::/64", "hello/8", "10.0.0.0\n/8",
                "10.0.0.0/4294967304", "1111:2222:3333:4444:5555:6666:7777:8888:9999/64",
        };
        Prefix p;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (prefix_parse(bad[i], &p) >= 0) {
                        fprintf(stderr, "accepted \"%s\"\n", bad[i]);
                        ASSERT(false);
                }
        }
}

static void test_addr_parse(void) {
        InAddrUnion a;
        int family;

        ASSERT(addr_parse(AF_UNSPEC, "192.168.1.1", &family, &a) == 0);
        ASSERT(family == AF_INET);
        ASSERT(a.in.s_addr == htonl(0xc0a80101));
        ASSERT(addr_parse(AF_UNSPEC, "fd00:1010:1010:1010::1", &family, &a) == 0);
        ASSERT(family == AF_INET6);
        ASSERT(a.bytes[0] == 0xfd && a.bytes[15] == 1);
        ASSERT(addr_parse(AF_INET, "fd00::1", NULL, &a) == -EINVAL);
        ASSERT(addr_parse(AF_INET6, "10.0.0.1", NULL, &a) == -EINVAL);
        ASSERT(addr_parse(AF_UNSPEC, "fe80::1%eth0", NULL, &a) == -EINVAL);
        ASSERT(addr_parse(AF_UNSPEC, " 10.0.0.1", NULL, &a) == -EINVAL);
        ASSERT(addr_parse(AF_UNSPEC, "10.0.0.1 ", NULL, &a) == -EINVAL);
        ASSERT(addr_parse(AF_UNSPEC, "", NULL, &a) == -EINVAL);
        ASSERT(addr_parse(AF_UNSPEC, "10.0.0.1/32", NULL, &a) == -EINVAL);

        ASSERT(addr_parse(AF_INET, "0.0.0.0", NULL, &a) == 0 && addr_is_null(AF_INET, &a));
        ASSERT(addr_parse(AF_INET6, "::", NULL, &a) == 0 && addr_is_null(AF_INET6, &a));
        ASSERT(addr_parse(AF_INET6, "fe80::1", NULL, &a) == 0 && addr_is_link_local(AF_INET6, &a));
        ASSERT(addr_parse(AF_INET6, "febf::1", NULL, &a) == 0 && addr_is_link_local(AF_INET6, &a));
        ASSERT(addr_parse(AF_INET6, "fec0::1", NULL, &a) == 0 && !addr_is_link_local(AF_INET6, &a));
        ASSERT(addr_parse(AF_INET, "169.254.3.4", NULL, &a) == 0 && addr_is_link_local(AF_INET, &a));
        ASSERT(addr_parse(AF_INET, "169.255.3.4", NULL, &a) == 0 && !addr_is_link_local(AF_INET, &a));
}

/* s has host bits (or not); masked, it has none and prints as masked. */
static void check_mask(const char *s, bool host_bits, const char *masked) {
        char buf[PREFIX_STRLEN];
        Prefix p = P(s);

        ASSERT(prefix_has_host_bits(&p) == host_bits);
        prefix_mask(&p);
        ASSERT(!prefix_has_host_bits(&p));
        ASSERT_STREQ(prefix_to_string(&p, buf), masked);
}

static void test_prefix_mask(void) {
        check_mask("10.1.2.3/8", true, "10.0.0.0/8");
        check_mask("10.1.2.255/25", true, "10.1.2.128/25");
        check_mask("255.255.255.255/0", true, "0.0.0.0/0");
        check_mask("192.168.1.1/32", false, "192.168.1.1/32");
        check_mask("fd00:4242:4242:4242::1/64", true, "fd00:4242:4242:4242::/64");
        check_mask("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", true,
                   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
        check_mask("ffff::1/0", true, "::/0");
        check_mask("::1/128", false, "::1/128");
}

/* Whether prefix contains the address s of family (which must parse). */
static bool contains(const char *prefix, int family, const char *s) {
        Prefix p = P(prefix);
        InAddrUnion a;

        ASSERT(addr_parse(family, s, NULL, &a) == 0);
        return prefix_contains(&p, family, &a);
}

static void test_prefix_contains(void) {
        ASSERT(contains("10.10.10.0/24", AF_INET, "10.10.10.77"));
        ASSERT(!contains("10.10.10.0/24", AF_INET, "10.10.11.0"));
        ASSERT(!contains("10.10.10.0/24", AF_INET6, "::a0a:a01"));
        ASSERT(contains("0.0.0.0/0", AF_INET, "203.0.113.9"));
        ASSERT(contains("::/0", AF_INET6, "2001:db8::1"));
        ASSERT(!contains("::/0", AF_INET, "10.0.0.1"));
        ASSERT(contains("192.168.1.1/32", AF_INET, "192.168.1.1"));
        ASSERT(!contains("192.168.1.1/32", AF_INET, "192.168.1.0"));
        ASSERT(contains("fd00::1/128", AF_INET6, "fd00::1"));
        ASSERT(!contains("fd00::1/128", AF_INET6, "fd00::2"));
        ASSERT(contains("fd00:4242:4242:4242::/63", AF_INET6, "fd00:4242:4242:4243::5"));
        ASSERT(!contains("fd00:4242:4242:4242::/63", AF_INET6, "fd00:4242:4242:4244::5"));
}

static void test_prefix_overlaps(void) {
        Prefix a, b;

        a = P("10.0.0.0/8"), b = P("10.1.0.0/16");
        ASSERT(prefix_overlaps(&a, &b) && prefix_overlaps(&b, &a));
        a = P("10.0.0.0/16"), b = P("10.1.0.0/16");
        ASSERT(!prefix_overlaps(&a, &b) && !prefix_overlaps(&b, &a));
        a = P("0.0.0.0/0"), b = P("192.168.1.1/32");
        ASSERT(prefix_overlaps(&a, &b) && prefix_overlaps(&b, &a));
        a = P("192.168.1.1/32"), b = P("192.168.1.1/32");
        ASSERT(prefix_overlaps(&a, &b) && prefix_equal(&a, &b));
        a = P("192.168.1.1/32"), b = P("192.168.1.2/32");
        ASSERT(!prefix_overlaps(&a, &b) && !prefix_equal(&a, &b));
        a = P("::/0"), b = P("fd00::/8");
        ASSERT(prefix_overlaps(&a, &b));
        a = P("::/0"), b = P("0.0.0.0/0");
        ASSERT(!prefix_overlaps(&a, &b));
        a = P("fd00:4242:4242:4242::/64"), b = P("fd00:4242:4242:4243::/64");
        ASSERT(!prefix_overlaps(&a, &b));
        a = P("fd00:4242:4242:4242::/64"), b = P("fd00:4242:4242:4242:8000::/65");
        ASSERT(prefix_overlaps(&a, &b));
        a = P("10.0.0.0/8"), b = P("10.0.0.0/9");
        ASSERT(!prefix_equal(&a, &b));
}

static void test_netmask(void) {
        static const struct {
                const char *mask;
                int len;
        } cases[] = {
                { "255.255.255.0", 24 },   { "255.255.255.255", 32 }, { "0.0.0.0", 0 },
                { "255.255.255.252", 30 }, { "128.0.0.0", 1 },        { "255.254.0.0", 15 },
                { "255.0.255.0", -1 },     { "0.255.255.255", -1 },   { "255.255.255.253", -1 },
                { "254.255.255.255", -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct in_addr m;
                uint8_t len = 99;

                ASSERT(inet_pton(AF_INET, cases[i].mask, &m) == 1);
                if (cases[i].len < 0) {
                        ASSERT(netmask_to_prefixlen(&m, &len) == -EINVAL);
                        ASSERT(len == 99);
                } else {
                        ASSERT(netmask_to_prefixlen(&m, &len) == 0);
                        ASSERT(len == cases[i].len);
                }
        }
}

static void test_family(void) {
        ASSERT(family_addr_size(AF_INET) == 4 && family_addr_size(AF_INET6) == 16);
        ASSERT(family_max_prefixlen(AF_INET) == 32 && family_max_prefixlen(AF_INET6) == 128);
        ASSERT(streq(family_to_string(AF_INET), "ipv4") && streq(family_to_string(AF_INET6), "ipv6"));
        ASSERT(family_addr_size(AF_UNIX) == 0 && !family_to_string(AF_UNIX));
}

static void test_parse_u32(void) {
        uint32_t v = 7;
        uint64_t w = 7;

        ASSERT(parse_u32("0", &v) == 0 && v == 0);
        ASSERT(parse_u32("4294967295", &v) == 0 && v == UINT32_MAX);
        ASSERT(parse_u32("4294967296", &v) == -ERANGE);
        ASSERT(parse_u32("99999999999999999999999", &v) == -ERANGE);
        ASSERT(parse_u32("", &v) == -EINVAL);
        ASSERT(parse_u32("+1", &v) == -EINVAL);
        ASSERT(parse_u32("-1", &v) == -EINVAL);
        ASSERT(parse_u32(" 1", &v) == -EINVAL);
        ASSERT(parse_u32("1 ", &v) == -EINVAL);
        ASSERT(parse_u32("0x10", &v) == -EINVAL);
        ASSERT(parse_u32("1e3", &v) == -EINVAL);
        ASSERT(v == UINT32_MAX);
        ASSERT(parse_u64("18446744073709551615", &w) == 0 && w == UINT64_MAX);
        ASSERT(parse_u64("18446744073709551616", &w) == -ERANGE);
        ASSERT(parse_u64("18446744073709551620", &w) == -ERANGE);
        ASSERT(w == UINT64_MAX);
}

static void test_parse_bool(void) {
        bool b = false;

        ASSERT(parse_bool("yes", &b) == 0 && b);
        ASSERT(parse_bool("NO", &b) == 0 && !b);
        ASSERT(parse_bool("On", &b) == 0 && b);
        ASSERT(parse_bool("false", &b) == 0 && !b);
        ASSERT(parse_bool("1", &b) == 0 && b);
        ASSERT(parse_bool("0", &b) == 0 && !b);
        ASSERT(parse_bool("", &b) == -EINVAL);
        ASSERT(parse_bool("yess", &b) == -EINVAL);
        ASSERT(parse_bool(" yes", &b) == -EINVAL);
        ASSERT(!b);
        ASSERT(streq(yes_no(true), "yes") && streq(yes_no(false), "no"));
}

static void test_names(void) {
        static const char *const good_if[] = { "eth0", "tun0", "eth0.100", "br-lan", "a", "wg_0",
                                               "abcdefghijklmno" };
        static const char *const bad_if[] = { "", ".", "..", "abcdefghijklmnop", "eth 0", "eth0\n", "a/b",
                                              "eth0:1", "-x", "tun$x", "tun;ls", "a`b", "tun*" };

        for (size_t i = 0; i < ELEMENTSOF(good_if); i++)
                ASSERT(ifname_valid(good_if[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad_if); i++)
                ASSERT(!ifname_valid(bad_if[i]));
        ASSERT(!ifname_valid(NULL));

        ASSERT(rt_name_valid("vpn") && rt_name_valid("_x") && rt_name_valid("vpn-2.b_c"));
        ASSERT(!rt_name_valid("") && !rt_name_valid("2vpn") && !rt_name_valid("vpn table"));
        ASSERT(!rt_name_valid("-vpn") && !rt_name_valid("vpn#") && !rt_name_valid("vpn/x"));
        ASSERT(rt_name_valid("a23456789012345678901234567890123456789012345678901234567890123"));
        ASSERT(!rt_name_valid("a234567890123456789012345678901234567890123456789012345678901234"));

        ASSERT(glob_match("tun*", "tun0") && glob_match("tun*", "tun") && !glob_match("tun*", "tap0"));
        ASSERT(glob_match("t?p[0-9]", "tap7") && !glob_match("t?p[0-9]", "tapx"));
}

static void test_strv(void) {
        _cleanup_strv_free_ char **a = NULL, **b = NULL;

        ASSERT(strv_length(NULL) == 0);
        ASSERT(strv_extend(&a, "x") == 0);
        ASSERT(strv_extendf(&a, "%s-%d", "y", 2) == 0);
        ASSERT(strv_length(a) == 2 && streq(a[1], "y-2") && !a[2]);
        ASSERT(strv_contains(a, "x") && !strv_contains(a, "y"));
        b = strv_copy(a);
        ASSERT(b && strv_equal(a, b));
        ASSERT(strv_extend(&b, "z") == 0 && !strv_equal(a, b));
        ASSERT(strv_equal(NULL, NULL));
        b = strv_free(b);
        b = calloc(1, sizeof(char *));
        ASSERT(b && strv_equal(NULL, b) && strv_equal(b, NULL));
}

int main(void) {
        RUN(test_prefix_parse_good);
        RUN(test_prefix_parse_bad);
        RUN(test_addr_parse);
        RUN(test_prefix_mask);
        RUN(test_prefix_contains);
        RUN(test_prefix_overlaps);
        RUN(test_netmask);
        RUN(test_family);
        RUN(test_parse_u32);
        RUN(test_parse_bool);
        RUN(test_names);
        RUN(test_strv);
        TESTS_DONE();
}
