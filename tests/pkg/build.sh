#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/pkg/build.sh deb|rpm OUTDIR: build the Debian or RPM package of this checkout into OUTDIR, from a
# scratch copy of the tree (the checkout stays untouched: no ./debian, no build directory).
#   deb: packaging/debian copied to ./debian of the copy, `dpkg-buildpackage -us -uc -b`; OUTDIR gets the
#        .deb, .changes and .buildinfo, and deb-build.log.
#   rpm: a source tarball of the copy, `rpmbuild -bb --nodeps` with packaging/rpm/vpnpolicy.spec. On
#        Debian, rpm lacks Fedora's %meson and %systemd_* macros: tests/pkg/rpm-macros (test-only) defines
#        them, and --nodeps because no BuildRequires can be satisfied from an empty rpm database. On
#        Fedora/RHEL: `rpmbuild -bb packaging/rpm/vpnpolicy.spec` with the tarball in SOURCES.
# PKG_TREE=head packages the last commit (git archive) instead of the work tree's files (tracked ones
# and new ones that are not ignored).
set -euo pipefail

usage() { echo "usage: $0 deb|rpm OUTDIR" >&2; exit 2; }
(($# == 2)) || usage
what=$1
[[ $what == deb || $what == rpm ]] || usage
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
VERSION=$(sed -nE "s/^ *version *: *'([^']+)'.*/\1/p" "$ROOT/meson.build" | head -n1)
[[ -n $VERSION ]] || { echo "build.sh: no version in meson.build" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpnpolicy-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$tmp/vpnpolicy-$VERSION
mkdir -p "$src"
if [[ ${PKG_TREE:-} == head ]]; then
        git -C "$ROOT" archive --prefix="vpnpolicy-$VERSION/" HEAD | tar -x -C "$tmp"
elif git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
                while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
                xargs -0 -r cp -a --parents -t "$src")
else
        tar -C "$ROOT" --exclude='./build*' --exclude=./debian -cf - . | tar -C "$src" -xf -
fi

case $what in
deb)
        deb_version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
        [[ ${deb_version%%-*} == "$VERSION" ]] ||
                echo "build.sh: warning: debian/changelog says $deb_version, meson.build $VERSION" >&2
        rm -rf "$src/debian"
        cp -a "$src/packaging/debian" "$src/debian"
        rc=0
        (cd "$src" && dpkg-buildpackage -us -uc -b -jauto) >"$OUT/deb-build.log" 2>&1 || rc=$?
        if ((rc != 0)); then
                tail -n 40 "$OUT/deb-build.log" >&2
                echo "build.sh: dpkg-buildpackage failed (exit $rc), log in $OUT/deb-build.log" >&2
                exit 1
        fi
        cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$OUT/"
        ls "$OUT"/*.deb
        ;;
rpm)
        mkdir -p "$tmp/rpm/SOURCES"
        tar -C "$tmp" -czf "$tmp/rpm/SOURCES/vpnpolicy-$VERSION.tar.gz" "vpnpolicy-$VERSION"
        rc=0
        rpmbuild -bb --nodeps --load "$ROOT/tests/pkg/rpm-macros" --define "_topdir $tmp/rpm" \
                "$src/packaging/rpm/vpnpolicy.spec" >"$OUT/rpm-build.log" 2>&1 || rc=$?
        if ((rc != 0)); then
                tail -n 40 "$OUT/rpm-build.log" >&2
                echo "build.sh: rpmbuild failed (exit $rc), log in $OUT/rpm-build.log" >&2
                exit 1
        fi
        find "$tmp/rpm/RPMS" -name '*.rpm' -exec cp {} "$OUT/" \;
        ls "$OUT"/*.rpm
        ;;
esac
