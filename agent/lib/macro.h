/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_ __attribute__((pure))
#define _warn_unused_result_ __attribute__((warn_unused_result))

/* IN_SET(x, a, b, c): x is one of the values. */
#define IN_SET(x, first, ...)                                                           \
        ({                                                                              \
                const __typeof__(first) _in_set_[] = { first, __VA_ARGS__ };            \
                bool _found_ = false;                                                   \
                for (size_t _i_ = 0; _i_ < sizeof(_in_set_) / sizeof(_in_set_[0]); _i_++) \
                        if ((x) == _in_set_[_i_]) {                                     \
                                _found_ = true;                                         \
                                break;                                                  \
                        }                                                               \
                _found_;                                                                \
        })

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand ownership on: returns the pointer and clears the variable so its cleanup does nothing. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _p_ = (p);        \
                (p) = NULL;                     \
                _p_;                            \
        })

#define TAKE_FD(fd)                             \
        ({                                      \
                int _fd_ = (fd);                \
                (fd) = -EBADF;                  \
                _fd_;                           \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

/* free() that returns NULL, for "p = mfree(p);". */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}

/* Define a cleanup helper for a destructor that accepts NULL and returns NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

#define streq(a, b) (strcmp((a), (b)) == 0)

/* -errno from the last libc call, never 0 even if libc forgot to set errno. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
