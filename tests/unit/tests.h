/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The smallest harness that does the job: a failed assertion names file, line and expression and
 * exits 1; main() runs every TEST() and prints the line the test runner counts. */

#define ASSERT(expr)                                                                                 \
        do {                                                                                         \
                if (!(expr)) {                                                                       \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr); \
                        exit(1);                                                                     \
                }                                                                                    \
        } while (0)

/* ASSERT(a == b) for integers, printing both values when they differ. */
#define ASSERT_INT(a, b)                                                                                \
        do {                                                                                            \
                long long _a = (a), _b = (b);                                                           \
                if (_a != _b) {                                                                         \
                        fprintf(stderr, "%s:%d: assertion failed: %s == %s: %lld != %lld\n", __FILE__, \
                                __LINE__, #a, #b, _a, _b);                                              \
                        exit(1);                                                                        \
                }                                                                                       \
        } while (0)

/* The strings are equal (or both NULL), printing both when they differ. */
#define ASSERT_STREQ(a, b)                                                                                \
        do {                                                                                              \
                const char *_a = (a), *_b = (b);                                                          \
                if (_a && _b ? strcmp(_a, _b) != 0 : _a != _b) {                                          \
                        fprintf(stderr, "%s:%d: assertion failed: %s == %s: \"%s\" != \"%s\"\n", __FILE__, \
                                __LINE__, #a, #b, _a ?: "(null)", _b ?: "(null)");                        \
                        exit(1);                                                                          \
                }                                                                                         \
        } while (0)

#define RUN(fn)                                 \
        do {                                    \
                fn();                           \
                tests_passed++;                 \
                printf("ok %s\n", #fn);         \
        } while (0)

static unsigned tests_passed;

#define TESTS_DONE()                                                    \
        do {                                                            \
                printf("%u passed, 0 failed\n", tests_passed);          \
                return 0;                                               \
        } while (0)

/* A scratch directory, /tmp/PROGRAM-XXXXXX: tests_tmpdir() makes it on the first call and empties it on
 * every later one; the process that made it removes it at exit (a forked child does not). */

static inline int tests_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        return remove(path);
}

/* Removes path and everything below it, not following symlinks. */
static inline void tests_rm_rf(const char *path) {
        (void) nftw(path, tests_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char tests_dir[256];
static pid_t tests_dir_owner;

static inline void tests_tmpdir_remove(void) {
        if (tests_dir_owner == getpid())
                tests_rm_rf(tests_dir);
}

static inline const char *tests_tmpdir(void) {
        if (tests_dir_owner == 0) {
                snprintf(tests_dir, sizeof(tests_dir), "/tmp/%s-XXXXXX", program_invocation_short_name);
                ASSERT(mkdtemp(tests_dir));
                tests_dir_owner = getpid();
                ASSERT(atexit(tests_tmpdir_remove) == 0);
        } else {
                tests_rm_rf(tests_dir);
                ASSERT(mkdir(tests_dir, 0700) == 0);
        }
        return tests_dir;
}
