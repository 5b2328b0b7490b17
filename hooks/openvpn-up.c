/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Installed as /etc/openvpn/up (a symlink): what OpenVPN runs when a tun device comes up. Same as
 * "vpnpolicyctl openvpn-hook", without a verb to type on OpenVPN's up line. */
#include "ctl.h"

int main(int argc, char *argv[]) {
        return ctl_openvpn_hook(argc, argv);
}
