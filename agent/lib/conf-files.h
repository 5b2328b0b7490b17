/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Drop-in directories (vpnpolicy.conf.d, rt_tables.d, networkd.conf.d, ...): the files named NAME.conf,
 * NAME not empty and not starting with '.', as systemd and iproute2 pick them. */

/* The drop-in names of dir (names, not paths) in strcmp() order, so the order depends neither on the
 * locale nor on the file system. *ret is a strv, NULL when there are none; a missing directory has none,
 * -ENOTDIR when dir is not a directory. */
int conf_files_list(const char *dir, char ***ret);
