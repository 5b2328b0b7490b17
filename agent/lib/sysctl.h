/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* /proc/sys/net access. Paths are relative to /proc/sys/net, e.g. "ipv4/conf/tun0/send_redirects";
 * inside a network namespace they are that namespace's. */
int sysctl_net_read_int(const char *path, int *ret);
int sysctl_net_write(const char *path, const char *value);
/* Writes only if the value differs; returns 1 if it wrote, 0 if it was already so. */
int sysctl_net_ensure(const char *path, const char *value);
