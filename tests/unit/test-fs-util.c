/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fs-util.c in a scratch directory: which runtime directories are refused, atomic writes that never
 * follow a planted symlink, and reads that take only regular files, never block and stay bounded. The
 * checks of other owners need root (chown) and are skipped without it. */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "macro.h"
#include "tests.h"

static char dir[PATH_MAX];

static void setup(void) {
        snprintf(dir, sizeof(dir), "%s", tests_tmpdir());
}

/* DIR/name, in one of two buffers the next calls but one overwrite. */
static const char *at(const char *name) {
        static char paths[2][PATH_MAX * 2];
        static unsigned i;

        i = (i + 1) % 2;
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, name);
        return paths[i];
}

static void write_at(const char *name, const char *content) {
        FILE *f = fopen(at(name), "we");

        ASSERT(f && fputs(content, f) >= 0 && fclose(f) == 0);
}

static char *read_at(const char *name) {
        char *text = NULL;

        ASSERT_INT(read_file_regular(at(name), 4096, &text, NULL), 0);
        return text;
}

static void test_dir_check_owned(void) {
        uid_t me = geteuid();

        setup();
        ASSERT(mkdir(at("d"), 0755) == 0);
        ASSERT_INT(dir_check_owned(at("d"), me), 0);
        ASSERT(chmod(at("d"), 0700) == 0);
        ASSERT_INT(dir_check_owned(at("d"), me), 0);
        ASSERT(chmod(at("d"), 0775) == 0);
        ASSERT_INT(dir_check_owned(at("d"), me), -EACCES);
        ASSERT(chmod(at("d"), 0757) == 0);
        ASSERT_INT(dir_check_owned(at("d"), me), -EACCES);
        ASSERT(chmod(at("d"), 01777) == 0);
        ASSERT_INT(dir_check_owned(at("d"), me), -EACCES);
        ASSERT(chmod(at("d"), 0755) == 0);

        /* Our own symlink is followed, and what it names is checked. */
        ASSERT(symlink(at("d"), at("link")) == 0);
        ASSERT_INT(dir_check_owned(at("link"), me), 0);
        ASSERT(chmod(at("d"), 0777) == 0);
        ASSERT_INT(dir_check_owned(at("link"), me), -EACCES);
        ASSERT(chmod(at("d"), 0755) == 0);

        write_at("file", "x");
        ASSERT_INT(dir_check_owned(at("file"), me), -ENOTDIR);
        ASSERT(symlink(at("file"), at("link-to-file")) == 0);
        ASSERT_INT(dir_check_owned(at("link-to-file"), me), -ENOTDIR);
        ASSERT_INT(dir_check_owned(at("missing"), me), -ENOENT);
        ASSERT(mkfifo(at("fifo"), 0600) == 0);
        ASSERT_INT(dir_check_owned(at("fifo"), me), -ENOTDIR);

        ASSERT(strcmp(dir_check_strerror(-EACCES), "writable by group or others") == 0);
        ASSERT(strcmp(dir_check_strerror(-ENOENT), strerror(ENOENT)) == 0);

        if (me != 0) {
                printf("%s: other owners skipped, not root\n", __func__);
                return;
        }
        /* Root's directory is fine for anyone; another user's is not, nor another user's symlink. */
        ASSERT_INT(dir_check_owned(at("d"), 65534), 0);
        ASSERT(chown(at("d"), 65534, 65534) == 0);
        ASSERT_INT(dir_check_owned(at("d"), 0), -EPERM);
        ASSERT_INT(dir_check_owned(at("d"), 65534), 0);
        ASSERT(chown(at("d"), 0, 0) == 0);
        ASSERT(lchown(at("link"), 65534, 65534) == 0);
        ASSERT_INT(dir_check_owned(at("link"), 0), -ELOOP);
        ASSERT_INT(dir_check_owned(at("link"), 65534), 0);
}

static void test_write_atomic(void) {
        struct stat st;
        _cleanup_(freep) char *a = NULL, *b = NULL, *c = NULL, *v = NULL;
        mode_t mask = umask(0);

        setup();
        ASSERT_INT(write_file_atomic_at(AT_FDCWD, at("f"), "one", 3, 0640), 0);
        a = read_at("f");
        ASSERT_STREQ(a, "one");
        ASSERT(lstat(at("f"), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640);
        ASSERT(access(at("f.tmp"), F_OK) < 0 && errno == ENOENT);

        /* Planted symlinks, at the temp name and at the name: neither target changes. */
        write_at("victim", "precious");
        write_at("victim2", "precious too");
        ASSERT(symlink(at("victim"), at("f.tmp")) == 0);
        ASSERT_INT(write_file_atomic_at(AT_FDCWD, at("f"), "two", 3, 0644), 0);
        ASSERT(unlink(at("f")) == 0);
        ASSERT(symlink(at("victim2"), at("f")) == 0);
        ASSERT_INT(write_file_atomic_at(AT_FDCWD, at("f"), "three", 5, 0644), 0);
        v = read_at("victim");
        ASSERT_STREQ(v, "precious");
        free(v);
        v = read_at("victim2");
        ASSERT_STREQ(v, "precious too");
        ASSERT(lstat(at("f"), &st) == 0 && S_ISREG(st.st_mode));
        b = read_at("f");
        ASSERT_STREQ(b, "three");

        /* A stale temp file (a crash before the rename), relative to a directory fd, and empty data. */
        write_at("g.tmp", "half a write");
        {
                _cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                ASSERT(dfd >= 0);
                ASSERT_INT(write_file_atomic_at(dfd, "g", "", 0, 0600), 0);
        }
        c = read_at("g");
        ASSERT_STREQ(c, "");
        ASSERT(access(at("g.tmp"), F_OK) < 0 && errno == ENOENT);

        /* Failures leave no temp file behind. */
        ASSERT(mkdir(at("h"), 0755) == 0);
        ASSERT(write_file_atomic_at(AT_FDCWD, at("h"), "x", 1, 0644) < 0);
        ASSERT(access(at("h.tmp"), F_OK) < 0 && errno == ENOENT);
        ASSERT_INT(write_file_atomic_at(AT_FDCWD, at("missing/f"), "x", 1, 0644), -ENOENT);
        umask(mask);
}

static void test_read_regular(void) {
        _cleanup_(freep) char *text = NULL;
        char big[4097];
        size_t size = 0;

        setup();
        write_at("f", "a\nb\n");
        ASSERT_INT(read_file_regular(at("f"), 4096, &text, &size), 0);
        ASSERT_STREQ(text, "a\nb\n");
        ASSERT_INT(size, 4);
        free(text), text = NULL;
        ASSERT(symlink(at("f"), at("link")) == 0);
        ASSERT_INT(read_file_regular(at("link"), 4096, &text, NULL), 0);
        ASSERT_STREQ(text, "a\nb\n");
        free(text), text = NULL;
        write_at("empty", "");
        ASSERT_INT(read_file_regular(at("empty"), 4096, &text, &size), 0);
        ASSERT_INT(size, 0);
        free(text), text = NULL;

        /* The limit: exactly max is read, one byte more is not. */
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        write_at("big", big);
        ASSERT_INT(read_file_regular(at("big"), 4096, &text, &size), 0);
        ASSERT_INT(size, 4096);
        free(text), text = NULL;
        ASSERT_INT(read_file_regular(at("big"), 4095, &text, NULL), -EFBIG);
        ASSERT(!text);
        /* A file of /proc says it has size 0: the limit still holds while reading. */
        ASSERT_INT(read_file_regular("/proc/self/status", 1024 * 1024, &text, &size), 0);
        ASSERT(size > 100 && strstr(text, "Pid:"));
        free(text), text = NULL;
        ASSERT_INT(read_file_regular("/proc/self/status", 16, &text, NULL), -EFBIG);

        /* What is not a regular file is refused at once: a FIFO does not block, /dev/zero is not read. */
        ASSERT(mkfifo(at("fifo"), 0600) == 0);
        ASSERT_INT(read_file_regular(at("fifo"), 4096, &text, NULL), -EBADFD);
        ASSERT_INT(read_file_regular("/dev/zero", 4096, &text, NULL), -EBADFD);
        ASSERT_INT(read_file_regular("/dev/null", 4096, &text, NULL), -EBADFD);
        ASSERT_INT(read_file_regular(dir, 4096, &text, NULL), -EISDIR);
        ASSERT_INT(read_file_regular(at("missing"), 4096, &text, NULL), -ENOENT);
        ASSERT(!text);
        ASSERT(strstr(read_file_strerror(-EBADFD), "not a regular file"));
}

int main(void) {
        RUN(test_dir_check_owned);
        RUN(test_write_atomic);
        RUN(test_read_regular);
        TESTS_DONE();
}
