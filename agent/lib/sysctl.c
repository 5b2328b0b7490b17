/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "parse-util.h"
#include "sysctl.h"

static int sysctl_path(const char *path, char buf[static 256]) {
        if (strstr(path, "..") || path[0] == '/')
                return -EINVAL;
        if (snprintf(buf, 256, "/proc/sys/net/%s", path) >= 256)
                return -ENAMETOOLONG;
        return 0;
}

int sysctl_net_read_int(const char *path, int *ret) {
        _cleanup_(closep) int fd = -EBADF;
        char p[256], buf[32];
        ssize_t n;
        uint32_t v;
        int r;

        r = sysctl_path(path, p);
        if (r < 0)
                return r;
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        r = parse_u32(buf, &v);
        if (r < 0)
                return r;
        *ret = (int) v;
        return 0;
}

int sysctl_net_write(const char *path, const char *value) {
        _cleanup_(closep) int fd = -EBADF;
        char p[256];
        size_t len = strlen(value);
        int r;

        r = sysctl_path(path, p);
        if (r < 0)
                return r;
        fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (write(fd, value, len) != (ssize_t) len)
                return negative_errno();
        return 0;
}

int sysctl_net_ensure(const char *path, const char *value) {
        int current, r;
        uint32_t wanted;

        r = parse_u32(value, &wanted);
        if (r < 0)
                return r;
        if (sysctl_net_read_int(path, &current) >= 0 && current == (int) wanted)
                return 0;
        r = sysctl_net_write(path, value);
        return r < 0 ? r : 1;
}
