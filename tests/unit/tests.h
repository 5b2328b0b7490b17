/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <stdlib.h>

/* The smallest harness that does the job: a failed assertion names file, line and expression and
 * exits 1; main() runs every TEST() and prints the line the test runner counts. */

#define ASSERT(expr)                                                                                 \
        do {                                                                                         \
                if (!(expr)) {                                                                       \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr); \
                        exit(1);                                                                     \
                }                                                                                    \
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
