/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>

typedef struct Manager Manager;

/* The event socket's handlers (rtnl_new()). */
int observed_handle_message(const struct nlmsghdr *nlh, void *userdata);
void observed_handle_overrun(void *userdata);

/* Reads everything from scratch: at start and after lost events. */
int observed_enumerate(Manager *m);
/* Re-reads our own tables and rules; returns how many differences it found. */
int observed_verify(Manager *m);
/* Re-reads the routes via the devices that changed, once they settled. */
int observed_confirm(Manager *m);
