#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The build dependencies meson.build asks for are the ones a user is told to install: README's "Install
# from source" (Debian's apt-get line and the RHEL dnf line) and its package build line, and the
# packages' own build dependencies (packaging/debian/control, packaging/rpm/vpnpolicy.spec). A library
# added to meson.build and forgotten in any of them (libnftnl was, in README) fails here. No root needed.
set -euo pipefail
ROOT=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
failed=0

# pkg-config name -> Debian package, RHEL package
declare -A DEB=([libmnl]=libmnl-dev [libnftnl]=libnftnl-dev [libnetfilter_conntrack]=libnetfilter-conntrack-dev
                [libsystemd]=libsystemd-dev [inih]=libinih-dev [jansson]=libjansson-dev [libmicrohttpd]=libmicrohttpd-dev)
declare -A RPM=([libmnl]=libmnl-devel [libnftnl]=libnftnl-devel [libnetfilter_conntrack]=libnetfilter_conntrack-devel
                [libsystemd]=systemd-devel [inih]=inih-devel [jansson]=jansson-devel [libmicrohttpd]=libmicrohttpd-devel)

fail() { echo "FAIL: $*"; failed=1; }

mapfile -t deps < <(grep -oP "^\w+ = dependency\('\K[^']+" "$ROOT/meson.build" | sort)
((${#deps[@]} > 0)) || fail "no dependency() found in meson.build"
# README's command lines, with their continuation lines joined
readme=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$ROOT/README.md")
apt_src=$(grep -m1 '^apt-get install meson ' <<<"$readme") || fail "README: no 'apt-get install meson ...' line"
apt_pkg=$(grep -m1 '^apt-get install build-essential ' <<<"$readme") || fail "README: no package build line"
dnf=$(grep -m1 -o 'dnf install [^`]*' <<<"$readme") || fail "README: no 'dnf install' line"
control=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$ROOT/packaging/debian/control")
spec=$(grep '^BuildRequires:' "$ROOT/packaging/rpm/vpnpolicy.spec")

has() { tr ' ,\t' '\n\n\n' <<<"$2" | grep -qx -- "$1"; }
for d in "${deps[@]}"; do
        deb=${DEB[$d]:-} rpm=${RPM[$d]:-}
        if [[ -z $deb || -z $rpm ]]; then
                fail "meson.build needs $d: add its Debian and RHEL package names to $0"
                continue
        fi
        has "$deb" "$apt_src" || fail "README's Install from source (apt-get) lacks $deb"
        has "$deb" "$apt_pkg" || fail "README's package build line lacks $deb"
        has "$rpm" "$dnf" || fail "README's RHEL line (dnf) lacks $rpm"
        has "$deb" "$control" || fail "packaging/debian/control Build-Depends lacks $deb"
        grep -q "pkgconfig($d)" <<<"$spec" || fail "packaging/rpm/vpnpolicy.spec lacks BuildRequires: pkgconfig($d)"
done
((failed)) || echo "ok: ${#deps[@]} build dependencies (${deps[*]}) named in README and packaging"
exit "$failed"
