/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "macro.h"

int dir_check_owned(const char *path, uid_t uid) {
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;
        bool link;

        /* A symlink is followed only if root or we made it: systemd makes the runtime directory one
         * (/run/vpnpolicy -> private/vpnpolicy) for DynamicUser= with RuntimeDirectoryPreserve=. One that
         * someone else planted (in a sticky /tmp, say) is not, and a name that was no symlink when we
         * looked is opened O_NOFOLLOW, so it cannot turn into one meanwhile. */
        if (lstat(path, &st) < 0)
                return negative_errno();
        link = S_ISLNK(st.st_mode);
        if (link && st.st_uid != uid && st.st_uid != 0)
                return -ELOOP;
        /* Then the checks on the opened directory (fstat), not on the name: what is checked is what we got. */
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (link ? 0 : O_NOFOLLOW));
        if (fd < 0)
                return errno == ELOOP ? -ENOTDIR : negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_uid != uid && st.st_uid != 0)
                return -EPERM;
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return -EACCES;
        return 0;
}

const char *dir_check_strerror(int r) {
        switch (r) {
        case -ENOTDIR:
                return "not a directory";
        case -ELOOP:
                return "a symbolic link that another user owns";
        case -EPERM:
                return "owned by another user";
        case -EACCES:
                return "writable by group or others";
        default:
                return strerror(-r);
        }
}

int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode) {
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp", name) < 0)
                return -ENOMEM;
        /* A temp file left by a crash, or planted: unlinkat() removes the entry itself, symlink or not. */
        if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
                return negative_errno();
        /* O_EXCL|O_NOFOLLOW: if anything reappeared at that name meanwhile, fail rather than follow it. */
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
        if (fd < 0)
                return negative_errno();
        r = write_all(fd, data, size);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = negative_errno();
        if (r < 0)
                (void) unlinkat(dirfd, tmp, 0);
        return r;
}

static int stat_regular(const struct stat *st, size_t max_size) {
        if (S_ISDIR(st->st_mode))
                return -EISDIR;
        if (!S_ISREG(st->st_mode))
                return -EBADFD;
        if ((uintmax_t) st->st_size > max_size)
                return -EFBIG;
        return 0;
}

/* Reads to the end, but never more than max_size + 1 bytes: a file that grows, or one of /proc that says
 * it has size 0, is still bounded. */
static int read_bounded(int fd, size_t hint, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0, allocated = MIN(hint, max_size) + 1;

        buf = malloc(allocated);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n == allocated - 1) {
                        size_t grown = MIN(MAX(allocated * 2, (size_t) 4096), max_size + 2);
                        char *p;

                        if (allocated >= max_size + 2)
                                return -EFBIG;
                        p = realloc(buf, grown);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = grown;
                }
                k = read(fd, buf + n, allocated - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_size)
                        return -EFBIG;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int read_file_regular(const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;
        int r;

        /* Look before opening: opening a device can have effects of its own (a tape rewinds, a serial line
         * hangs up), and a FIFO opened without O_NONBLOCK waits for a writer. */
        if (stat(path, &st) < 0)
                return negative_errno();
        r = stat_regular(&st, max_size);
        if (r < 0)
                return r;
        /* Then check what was opened: the name may have been swapped for something else meanwhile. */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        r = stat_regular(&st, max_size);
        if (r < 0)
                return r;
        return read_bounded(fd, (size_t) st.st_size, max_size, ret, ret_size);
}

const char *read_file_strerror(int r) {
        switch (r) {
        case -EISDIR:
                return "a directory, not a regular file";
        case -EBADFD:
                return "not a regular file (a FIFO, device or socket), skipped";
        case -EFBIG:
                return "larger than the size limit, skipped";
        default:
                return strerror(-r);
        }
}
