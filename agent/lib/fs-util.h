/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Files where someone else may have put something first: the runtime directory we keep our state and
 * socket in, and files whose paths others gave us. Nothing here logs; -errno. */

/* Whether path is a safe place for our files: a directory owned by uid or by root, writable by its owner
 * only, checked on the opened directory (fstat). A symlink at path is followed only if uid or root owns
 * it (systemd makes one for DynamicUser=); otherwise path is opened O_NOFOLLOW. 0 if so; -ENOTDIR when it
 * is not a directory, -ELOOP when it is a symlink another user owns, -EPERM when another user owns the
 * directory, -EACCES when group or others may write in it; other -errno (-ENOENT) when it cannot be
 * opened. */
int dir_check_owned(const char *path, uid_t uid);
/* What dir_check_owned()'s error means, for a log line. */
const char *dir_check_strerror(int r);

/* Writes all size bytes, going on after EINTR and short writes. */
int write_all(int fd, const void *data, size_t size);

/* Replaces dirfd/name (dirfd may be AT_FDCWD) with size bytes of data, atomically: written through the
 * fd of a new name.tmp (a stale one is unlinked first; unlink never follows a symlink) created with
 * O_CREAT|O_EXCL|O_NOFOLLOW and mode, then renamed over name. A symlink planted at either name is
 * replaced, never followed. No fsync: meant for /run, which a crash empties anyway. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

/* Reads a regular file (symlinks to one are followed) of at most max_size bytes into a NUL-terminated
 * buffer (the NUL not counted in *ret_size, which may be NULL). Never opens what is not a regular file
 * at the time it looks, and opens O_NONBLOCK, so a FIFO cannot hang it: -EISDIR for a directory, -EBADFD
 * for a FIFO, device or socket, -EFBIG when larger than max_size. */
int read_file_regular(const char *path, size_t max_size, char **ret, size_t *ret_size);
/* What read_file_regular()'s error means, for people ("not a regular file", "larger than the limit"). */
const char *read_file_strerror(int r);
