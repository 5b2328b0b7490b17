/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <time.h>

#include "json-scan.h"
#include "macro.h"
#include "varlink-client.h"

#define VARLINK_CLIENT_BUFFER_MIN 4096U

static uint64_t now_usec(void) {
        struct timespec ts = {};

        (void) clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for CLOCK_MONOTONIC */
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

uint64_t varlink_client_deadline(uint64_t timeout_usec) {
        uint64_t now = now_usec();

        return timeout_usec >= UINT64_MAX - now ? UINT64_MAX : now + timeout_usec;
}

/* Microseconds left until deadline, -ETIMEDOUT when none. */
static int64_t remaining_usec(uint64_t deadline) {
        uint64_t now;

        if (deadline == UINT64_MAX)
                return INT64_MAX;
        now = now_usec();
        if (now >= deadline)
                return -ETIMEDOUT;
        return (int64_t) MIN(deadline - now, (uint64_t) INT64_MAX);
}

int varlink_client_sockaddr(const char *path, struct sockaddr_un *ret, socklen_t *ret_len) {
        size_t l = strlen(path);

        if (l == 0)
                return -EINVAL;
        if (l >= sizeof(ret->sun_path))
                return -ENAMETOOLONG;

        *ret = (struct sockaddr_un) { .sun_family = AF_UNIX };
        memcpy(ret->sun_path, path, l);
        *ret_len = offsetof(struct sockaddr_un, sun_path) + l + 1;
        return 0;
}

static int client_wait(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int64_t left = remaining_usec(deadline);
                int n, timeout_ms;

                if (left < 0)
                        return (int) left;
                /* Round up, so we never wake just before the deadline and spin. */
                timeout_ms = left == INT64_MAX ? -1 : (int) MIN(left / 1000 + 1, (int64_t) INT32_MAX);
                n = poll(&p, 1, timeout_ms);
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (n > 0)
                        return 0;
        }
}

/* Blocking connect bounded by SO_SNDTIMEO: a non-blocking AF_UNIX connect to a full backlog fails with
 * EAGAIN and cannot be polled for completion (unix_stream_connect() in net/unix/af_unix.c). */
static int client_connect(const char *path, uint64_t deadline, int *ret_fd) {
        _cleanup_(closep) int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t sa_len;
        int64_t left;
        int flags, r;

        r = varlink_client_sockaddr(path, &sa, &sa_len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        left = remaining_usec(deadline);
        if (left < 0)
                return (int) left;
        if (left != INT64_MAX) {
                struct timeval tv = { .tv_sec = left / 1000000, .tv_usec = left % 1000000 };

                if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                        return -errno;
        }
        if (connect(fd, (const struct sockaddr *) &sa, sa_len) < 0)
                return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int client_send(int fd, const char *buf, size_t size, uint64_t deadline) {
        while (size > 0) {
                ssize_t n;
                int r;

                n = send(fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = client_wait(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                buf += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Grows buf to hold more, up to max + 1 bytes (the reply and its NUL). */
static int buffer_grow(char **buf, size_t *allocated, size_t max) {
        size_t want;
        char *p;

        if (*allocated > max)
                return -EMSGSIZE;
        want = *allocated < VARLINK_CLIENT_BUFFER_MIN ? VARLINK_CLIENT_BUFFER_MIN :
               *allocated > SIZE_MAX / 2 ? SIZE_MAX : *allocated * 2;
        want = MIN(want, max == SIZE_MAX ? SIZE_MAX : max + 1);
        p = realloc(*buf, want);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *allocated = want;
        return 0;
}

/* Reads up to the first NUL. Returns the message without it; anything after it is not ours to read. */
static int client_receive(int fd, uint64_t deadline, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;
                char *nul;
                int r;

                if (size == allocated) {
                        r = buffer_grow(&buf, &allocated, max);
                        if (r < 0)
                                return r;
                }
                n = recv(fd, buf + size, allocated - size, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = client_wait(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n == 0)
                        return -ECONNRESET;

                nul = memchr(buf + size, 0, (size_t) n);
                size += (size_t) n;
                if (nul) {
                        *ret_size = (size_t) (nul - buf);
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
        }
}

int varlink_client_transact(const char *path, const char *request, uint64_t deadline, size_t reply_max,
                            char **ret_reply, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        r = client_connect(path, deadline, &fd);
        if (r < 0)
                return r;
        r = client_send(fd, request, strlen(request) + 1, deadline);
        if (r < 0)
                return r;
        return client_receive(fd, deadline, reply_max, ret_reply, ret_size);
}

int varlink_client_reply_scan(const char *reply, size_t size, char error[static VARLINK_REPLY_TEXT_MAX],
                       char reason[static VARLINK_REPLY_TEXT_MAX]) {
        JsonScanField f[] = {
                { .key = "error", .value = error, .size = VARLINK_REPLY_TEXT_MAX },
                { .key = "parameters" },
                { .key = "parameters", .subkey = "reason", .value = reason, .size = VARLINK_REPLY_TEXT_MAX },
        };
        int r;

        r = json_scan(reply, size, f, ELEMENTSOF(f));
        if (r < 0)
                return r;
        if ((f[0].kind != JSON_KIND_ABSENT && f[0].kind != JSON_KIND_STRING) ||
            (f[1].kind != JSON_KIND_ABSENT && f[1].kind != JSON_KIND_OBJECT)) {
                error[0] = reason[0] = 0;
                return -EBADMSG;
        }
        if (f[2].kind != JSON_KIND_STRING)
                reason[0] = 0;
        return f[0].kind == JSON_KIND_STRING;
}
