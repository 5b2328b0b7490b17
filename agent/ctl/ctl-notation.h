/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "ctl-kernel.h"
#include "fib.h"

#define NOTATION_STRLEN 512

/* iproute2 notation: "from 10.10.10.0/24 lookup vpn"; with full, as `ip rule del` takes it:
 * "pref 32765 from 10.10.10.0/24 lookup vpn proto vpnpolicy". */
const char *notation_rule(const CtlKernel *k, const FibRule *r, bool full, char buf[static NOTATION_STRLEN]);
/* "default via 192.168.1.1 dev eth1 proto vpnpolicy", as `ip route` shows it within a table. */
const char *notation_route(const CtlKernel *k, const FibRoute *r, char buf[static NOTATION_STRLEN]);
