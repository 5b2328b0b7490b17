/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <uthash.h>

typedef struct Manager Manager;
typedef struct Link Link;

/* The per-device sysctls we keep (ICMP redirects off), set once per device. */
typedef struct SysctlDone {
        int ifindex;
        UT_hash_handle hh;
} SysctlDone;

void sysctl_link_setup(Manager *m, Link *l);
void sysctl_link_forget(Manager *m, int ifindex);
void sysctl_link_done(Manager *m);
/* Pools are forwarded traffic: without forwarding nothing works. Check, or enable if told to. */
void sysctl_check_forwarding(Manager *m);
