/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exposition writer (lib/expo.c): names, escaping, float formatting, families, histograms, and
 * that the first error sticks and leaves no half line. lib/histogram.c's buckets too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "expo.h"
#include "histogram.h"
#include "macro.h"
#include "tests.h"

/* The writer into a buffer: open, run fn's calls, finish; returns the text and the finish result. */
typedef struct Buf {
        char *text;
        size_t size;
        FILE *f;
        Expo e;
} Buf;

static void buf_open(Buf *b) {
        *b = (Buf) {};
        b->f = open_memstream(&b->text, &b->size);
        ASSERT(b->f);
        expo_init(&b->e, b->f);
}

static int buf_close(Buf *b) {
        int r = expo_finish(&b->e);

        ASSERT(fclose(b->f) == 0);
        return r;
}

static char *escaped(void (*fn)(FILE *, const char *), const char *s) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT(f);
        fn(f, s);
        ASSERT(fclose(f) == 0);
        return text;
}

static void test_names(void) {
        ASSERT(expo_name_valid("vpnpolicy_up"));
        ASSERT(expo_name_valid("a:b_c9"));
        ASSERT(expo_name_valid("_x"));
        ASSERT(!expo_name_valid(""));
        ASSERT(!expo_name_valid(NULL));
        ASSERT(!expo_name_valid("9abc"));
        ASSERT(!expo_name_valid("a-b"));
        ASSERT(!expo_name_valid("a b"));
        ASSERT(!expo_name_valid("ä"));
        ASSERT(expo_label_name_valid("policy"));
        ASSERT(!expo_label_name_valid("__name__"));
        ASSERT(!expo_label_name_valid("a:b"));
        ASSERT(!expo_label_name_valid("1a"));
        ASSERT(!expo_label_name_valid(""));
        char longname[EXPO_NAME_MAX + 1];
        memset(longname, 'a', EXPO_NAME_MAX);
        longname[EXPO_NAME_MAX] = 0;
        ASSERT(!expo_name_valid(longname));
        longname[EXPO_NAME_MAX - 1] = 0;
        ASSERT(expo_name_valid(longname));
}

static void test_escaping(void) {
        _cleanup_(freep) char *a = escaped(expo_escape_label, "a\\b\"c\nd");
        _cleanup_(freep) char *b = escaped(expo_escape_help, "a\\b\"c\nd");
        _cleanup_(freep) char *c = escaped(expo_escape_label, "tun0 ünï {x=\"y\"}");

        ASSERT_STREQ(a, "a\\\\b\\\"c\\nd");
        ASSERT_STREQ(b, "a\\\\b\"c\\nd");       /* help keeps quotes */
        ASSERT_STREQ(c, "tun0 ünï {x=\\\"y\\\"}");
}

static void test_floats(void) {
        char buf[EXPO_FLOAT_MAX];

        ASSERT_STREQ(expo_format_float(0.1, buf), "0.1");
        ASSERT_STREQ(expo_format_float(1, buf), "1");
        ASSERT_STREQ(expo_format_float(0.0001, buf), "0.0001");
        ASSERT_STREQ(expo_format_float(1767225600.123456, buf), "1767225600.123456");
        ASSERT_STREQ(expo_format_float(INFINITY, buf), "+Inf");
        ASSERT_STREQ(expo_format_float(-INFINITY, buf), "-Inf");
        ASSERT_STREQ(expo_format_float(NAN, buf), "NaN");
        ASSERT_STREQ(expo_format_float(1e300, buf), "1e+300");
        /* Round trip for awkward values. */
        double v[] = { 1.0 / 3, 2.0 / 3, 123456789.123456789, 5e-324, 1.7976931348623157e308 };
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                ASSERT(strtod(expo_format_float(v[i], buf), NULL) == v[i]);
}

static void test_family_and_samples(void) {
        Buf b;

        buf_open(&b);
        ASSERT(expo_family(&b.e, "x_up", EXPO_GAUGE, "Help with \\ and\nnewline.") == 0);
        ASSERT(expo_sample_u64(&b.e, NULL, 1) == 0);
        ASSERT(expo_family(&b.e, "x_things_total", EXPO_COUNTER, "Things.") == 0);
        ASSERT(expo_sample_u64(&b.e, (const char *[]) { "policy", "a\"b", "device", NULL, "role", "r", NULL },
                               18446744073709551615ULL) == 0);
        ASSERT(expo_family(&b.e, "x_ratio", EXPO_GAUGE, "Ratio.") == 0);
        ASSERT(expo_sample(&b.e, (const char *[]) { "pool", "10.0.0.0/8", NULL }, 0.25) == 0);
        ASSERT_INT(buf_close(&b), 0);
        ASSERT_STREQ(b.text, "# HELP x_up Help with \\\\ and\\nnewline.\n"
                             "# TYPE x_up gauge\n"
                             "x_up 1\n"
                             "# HELP x_things_total Things.\n"
                             "# TYPE x_things_total counter\n"
                             "x_things_total{policy=\"a\\\"b\",role=\"r\"} 18446744073709551615\n"
                             "# HELP x_ratio Ratio.\n"
                             "# TYPE x_ratio gauge\n"
                             "x_ratio{pool=\"10.0.0.0/8\"} 0.25\n");
        free(b.text);
}

static void test_family_errors(void) {
        Buf b;

        buf_open(&b);
        ASSERT_INT(expo_family(&b.e, "x_things", EXPO_COUNTER, "A counter without _total."), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        ASSERT_STREQ(b.text, "");
        free(b.text);

        buf_open(&b);
        ASSERT_INT(expo_family(&b.e, "x_total", EXPO_GAUGE, "A gauge with _total."), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);

        buf_open(&b);
        ASSERT_INT(expo_family(&b.e, "x", EXPO_GAUGE, ""), -EINVAL);           /* no help */
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);

        buf_open(&b);
        ASSERT_INT(expo_family(&b.e, "x", (ExpoType) 7, "Bad type."), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);

        /* A family twice: -EEXIST, and it sticks. */
        buf_open(&b);
        ASSERT(expo_family(&b.e, "x", EXPO_GAUGE, "X.") == 0);
        ASSERT(expo_sample_u64(&b.e, NULL, 1) == 0);
        ASSERT_INT(expo_family(&b.e, "x", EXPO_GAUGE, "X again."), -EEXIST);
        ASSERT_INT(expo_family(&b.e, "y", EXPO_GAUGE, "Y."), -EEXIST);
        ASSERT_INT(buf_close(&b), -EEXIST);
        ASSERT_STREQ(b.text, "# HELP x X.\n# TYPE x gauge\nx 1\n");
        free(b.text);
}

static void test_sample_errors(void) {
        Buf b;

        /* A sample before any family. */
        buf_open(&b);
        ASSERT_INT(expo_sample_u64(&b.e, NULL, 1), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);

        /* A bad label name leaves no half line. */
        const char *bad[][3] = { { "__x", "v", NULL }, { "a-b", "v", NULL }, { "le", "1", NULL }, { "", "v", NULL } };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                buf_open(&b);
                ASSERT(expo_family(&b.e, "x", EXPO_GAUGE, "X.") == 0);
                ASSERT_INT(expo_sample(&b.e, bad[i], 1), -EINVAL);
                ASSERT_INT(expo_sample_u64(&b.e, NULL, 2), -EINVAL);    /* sticks */
                ASSERT_INT(buf_close(&b), -EINVAL);
                ASSERT_STREQ(b.text, "# HELP x X.\n# TYPE x gauge\n");
                free(b.text);
        }

        /* A plain sample in a histogram family. */
        buf_open(&b);
        ASSERT(expo_family(&b.e, "h_seconds", EXPO_HISTOGRAM, "H.") == 0);
        ASSERT_INT(expo_sample(&b.e, NULL, 1), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);
}

static void test_histogram(void) {
        const double bounds[] = { 0.001, 0.01, 0.1 };
        const uint64_t counts[] = { 2, 0, 3 };
        Buf b;

        buf_open(&b);
        ASSERT(expo_family(&b.e, "h_seconds", EXPO_HISTOGRAM, "H.") == 0);
        ASSERT(expo_histogram(&b.e, (const char *[]) { "policy", "p", NULL }, bounds, counts, 3, 6, 0.5) == 0);
        ASSERT_INT(buf_close(&b), 0);
        ASSERT_STREQ(b.text, "# HELP h_seconds H.\n"
                             "# TYPE h_seconds histogram\n"
                             "h_seconds_bucket{policy=\"p\",le=\"0.001\"} 2\n"
                             "h_seconds_bucket{policy=\"p\",le=\"0.01\"} 2\n"
                             "h_seconds_bucket{policy=\"p\",le=\"0.1\"} 5\n"
                             "h_seconds_bucket{policy=\"p\",le=\"+Inf\"} 6\n"
                             "h_seconds_sum{policy=\"p\"} 0.5\n"
                             "h_seconds_count{policy=\"p\"} 6\n");
        free(b.text);

        /* Bounds not ascending, counts above count, not a histogram family: refused, nothing written. */
        const double unsorted[] = { 0.1, 0.01, 1 };
        buf_open(&b);
        ASSERT(expo_family(&b.e, "h_seconds", EXPO_HISTOGRAM, "H.") == 0);
        ASSERT_INT(expo_histogram(&b.e, NULL, unsorted, counts, 3, 6, 0.5), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        ASSERT_STREQ(b.text, "# HELP h_seconds H.\n# TYPE h_seconds histogram\n");
        free(b.text);

        buf_open(&b);
        ASSERT(expo_family(&b.e, "h_seconds", EXPO_HISTOGRAM, "H.") == 0);
        ASSERT_INT(expo_histogram(&b.e, NULL, bounds, counts, 3, 4, 0.5), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);

        buf_open(&b);
        ASSERT(expo_family(&b.e, "g", EXPO_GAUGE, "G.") == 0);
        ASSERT_INT(expo_histogram(&b.e, NULL, bounds, counts, 3, 6, 0.5), -EINVAL);
        ASSERT_INT(buf_close(&b), -EINVAL);
        free(b.text);
}

static void test_stream_failure(void) {
        /* A full stream: finish says so. */
        FILE *f = fopen("/dev/full", "we");
        Expo e;

        if (!f)
                return;         /* no /dev/full in this sandbox */
        setvbuf(f, NULL, _IONBF, 0);
        expo_init(&e, f);
        (void) expo_family(&e, "x", EXPO_GAUGE, "X.");
        (void) expo_sample_u64(&e, NULL, 1);
        ASSERT_INT(expo_finish(&e), -EIO);
        fclose(f);
}

static void test_histogram_buckets(void) {
        Histogram h = {};

        histogram_observe(&h, 0);
        histogram_observe(&h, 100);             /* inclusive upper bound */
        histogram_observe(&h, 101);
        histogram_observe(&h, 1000000);
        histogram_observe(&h, 1000001);         /* above the last: count and sum only */
        ASSERT_INT(h.counts[0], 2);
        ASSERT_INT(h.counts[1], 1);
        ASSERT_INT(h.counts[HISTOGRAM_BUCKETS - 1], 1);
        ASSERT_INT(h.count, 5);
        ASSERT_INT(h.sum_usec, 0 + 100 + 101 + 1000000 + 1000001);
        for (size_t i = 1; i < HISTOGRAM_BUCKETS; i++)
                ASSERT(histogram_bounds_usec[i] > histogram_bounds_usec[i - 1]);
        ASSERT_INT(histogram_bounds_usec[0], 100);
        ASSERT_INT(histogram_bounds_usec[HISTOGRAM_BUCKETS - 1], 1000000);
}

int main(void) {
        RUN(test_names);
        RUN(test_escaping);
        RUN(test_floats);
        RUN(test_family_and_samples);
        RUN(test_family_errors);
        RUN(test_sample_errors);
        RUN(test_histogram);
        RUN(test_stream_failure);
        RUN(test_histogram_buckets);
        TESTS_DONE();
}
