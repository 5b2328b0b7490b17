/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The strict value parsers of parse-util.c: time spans (ProbeIntervalSec= and friends) here; numbers,
 * booleans and names are covered by test-addr and test-config. */

#include <inttypes.h>
#include <stdint.h>

#include "macro.h"
#include "parse-util.h"
#include "tests.h"

#define MS 1000ULL
#define SEC (1000ULL * MS)
#define MINUTE (60ULL * SEC)

static void check_timespan(const char *s, uint64_t want) {
        uint64_t v = 0;
        int r = parse_timespan(s, &v);

        if (r < 0 || v != want)
                fprintf(stderr, "parse_timespan(\"%s\"): r=%d v=%" PRIu64 ", want %" PRIu64 "\n", s, r, v,
                        want);
        ASSERT(r == 0 && v == want);
}

static void check_timespan_bad(const char *s, int want) {
        uint64_t v = 12345;
        int r = parse_timespan(s, &v);

        if (r != want)
                fprintf(stderr, "parse_timespan(\"%s\"): r=%d, want %d\n", s, r, want);
        ASSERT(r == want);
        ASSERT(v == 12345);     /* ret is written only on success */
}

static void test_timespan_valid(void) {
        check_timespan("0", 0);
        check_timespan("1", SEC);               /* a bare number is seconds, as in systemd */
        check_timespan("500ms", 500 * MS);
        check_timespan("1s", SEC);
        check_timespan("2.5s", 2500 * MS);
        check_timespan("1min", MINUTE);
        check_timespan("1m", MINUTE);
        check_timespan("1min 30s", 90 * SEC);
        check_timespan("1min30s", 90 * SEC);
        check_timespan("1h 2min 3s 4ms 5us", 3600 * SEC + 2 * MINUTE + 3 * SEC + 4 * MS + 5);
        check_timespan("1d", 86400 * SEC);
        check_timespan("2 days", 2 * 86400 * SEC);
        check_timespan("2 h", 2 * 3600 * SEC);
        check_timespan("3 hours", 3 * 3600 * SEC);
        check_timespan("10 sec", 10 * SEC);
        check_timespan("250msec", 250 * MS);
        check_timespan("7usec", 7);
        check_timespan("7us", 7);
        check_timespan("0.5ms", 500);
        check_timespan("1.000001s", SEC + 1);
        check_timespan("1.5000000s", 1500 * MS);        /* trailing zeros below a microsecond are exact */
        check_timespan("0.25min", 15 * SEC);
        check_timespan("1s\t500ms", 1500 * MS);
        check_timespan("007s", 7 * SEC);
        check_timespan("18446744073709551615us", UINT64_MAX);
}

static void test_timespan_invalid(void) {
        check_timespan_bad("", -EINVAL);
        check_timespan_bad(" 1s", -EINVAL);     /* inih trims values; blanks are only taken between parts */
        check_timespan_bad("-1s", -EINVAL);
        check_timespan_bad("+1s", -EINVAL);
        check_timespan_bad("1 2", -EINVAL);     /* a number without unit only alone */
        check_timespan_bad("1min 30", -EINVAL);
        check_timespan_bad("30 1min", -EINVAL);
        check_timespan_bad("1x", -EINVAL);
        check_timespan_bad("1S", -EINVAL);      /* units are lower case, as systemd's */
        check_timespan_bad("1 s s", -EINVAL);
        check_timespan_bad("1months", -EINVAL);
        check_timespan_bad(".5s", -EINVAL);
        check_timespan_bad("5.s", -EINVAL);
        check_timespan_bad("1.2.3s", -EINVAL);
        check_timespan_bad("0.5us", -EINVAL);   /* finer than a microsecond: never rounded silently */
        check_timespan_bad("1.0000001s", -EINVAL);
        check_timespan_bad("1s,2s", -EINVAL);
        check_timespan_bad("s", -EINVAL);
        check_timespan_bad("1s ", -EINVAL);
        check_timespan_bad("18446744073709551616us", -ERANGE);
        check_timespan_bad("18446744073709551615s", -ERANGE);
        check_timespan_bad("99999999999999999999", -ERANGE);
        check_timespan_bad("213503982d 9999999h", -ERANGE);
        check_timespan_bad("18446744073709551615us 1us", -ERANGE);
}

/* format_timespan() gives the text parse_timespan() reads back to the same value, in the shortest form. */
static void test_timespan_format(void) {
        static const struct {
                uint64_t usec;
                const char *text;
        } cases[] = {
                { 0, "0" },
                { 1, "1us" },
                { 500 * MS, "500ms" },
                { SEC, "1s" },
                { 1500 * MS, "1s 500ms" },
                { 30 * SEC, "30s" },
                { 90 * SEC, "1min 30s" },
                { 3600 * SEC, "1h" },
                { 86400 * SEC + 1, "1d 1us" },
                { UINT64_MAX, "213503982d 8h 1min 49s 551ms 615us" },
        };
        char buf[TIMESPAN_STRLEN];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v;

                ASSERT_STREQ(format_timespan(cases[i].usec, buf), cases[i].text);
                ASSERT(parse_timespan(buf, &v) == 0 && v == cases[i].usec);
        }
        /* A sweep over odd values: every one reads back. */
        for (uint64_t u = 1; u < UINT64_MAX / 3; u = u * 3 + 7) {
                uint64_t v;

                ASSERT(parse_timespan(format_timespan(u, buf), &v) == 0 && v == u);
        }
}

int main(void) {
        RUN(test_timespan_valid);
        RUN(test_timespan_invalid);
        RUN(test_timespan_format);
        TESTS_DONE();
}
