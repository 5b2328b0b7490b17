#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/pkg/test-packages.sh: the packages, built and tried on this machine (Debian 12, as root).
#   - builds the .deb (tests/pkg/build.sh deb), lintian: no errors (warnings listed);
#   - installs it with apt, checks what dpkg -L lists (binaries, units and drop-ins, man pages, hook,
#     example config as a conffile, docs, completion if any), runs the installed binaries
#     (`vpnpolicyd --check-config` on the shipped config), verifies the installed units;
#   - checks the service is neither started nor enabled (no systemd runs here: the maintainer scripts skip
#     systemctl; a temporary policy-rc.d refusing every start guards the case where one does);
#   - /etc/openvpn/up: made a link to the hook when absent, a file of the admin's left alone, the link
#     removed by purge only while it is ours;
#   - remove prints how to tear down and leaves the config; purge removes the config and the
#     rt_tables.d/rt_protos.d names; then nothing of the package is left (anything left is listed);
#   - builds the .rpm (tests/pkg/build.sh rpm) and checks `rpm -qlp`, its config file and scriptlets.
# Prints "# figure: deb-size-bytes N" (and rpm-size-bytes, installed size). Leaves the machine as it found
# it: a vpnpolicy package installed before is a reason to skip, not to purge it.
# Environment: PKG_OUT (default $BUILD/pkg) keeps the packages and build logs.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

PKG=vpnpolicy
HOOK=/usr/libexec/vpnpolicy/vpnpolicy-openvpn-up
UP=/etc/openvpn/up
RT_FILES=(/etc/iproute2/rt_tables.d/vpnpolicy.conf /etc/iproute2/rt_protos.d/vpnpolicy.conf)
OUT=${PKG_OUT:-$BUILD/pkg}
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
export DEBIAN_FRONTEND=noninteractive

for tool in dpkg-buildpackage dh lintian apt-get; do
        command -v "$tool" >/dev/null || die "$tool is missing (tests/run.sh installs it)"
done
if dpkg-query -W -f '${db:Status-Abbrev}' "$PKG" 2>/dev/null | grep_q '^[ihcuHU]'; then
        skip_test "the $PKG package is installed on this machine: not touching it"
fi

# A picture of everything a package could leave behind, to compare after purge. Paths, with a checksum
# for files (/etc/netns: other tests' namespaces come and go meanwhile).
snapshot() {
        local roots=(/etc /lib/systemd /usr/lib/systemd /usr/sbin /usr/libexec /usr/share/doc /usr/share/man/man5
                /usr/share/man/man8 /var/lib/systemd /var/lib/dpkg/info)
        # The shadow tools' backups (/etc/passwd- ...) change with every account edit, also our userdel below.
        local prune=(\( -path /etc/netns -o -path /etc/ld.so.cache -o -regex '/etc/g?shadow-' -o -regex '/etc/passwd-' \
                -o -regex '/etc/group-' \) -prune -o)
        {
                find "${roots[@]}" -xdev "${prune[@]}" ! -type f -printf '%p %y %l\n' 2>/dev/null
                find "${roots[@]}" -xdev "${prune[@]}" -type f -print0 2>/dev/null | xargs -0 -r md5sum |
                        sed -E 's/^\\?([0-9a-f]{32})  (.*)$/\2 f \1/'
        } | sort
}
packages() { dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' | sort; }

# ---------------------------------------------------------------------------------------------------------
info "building the .deb into $OUT"
rm -rf "$OUT"
mkdir -p "$OUT"
if ! bash "$SOURCE_ROOT/tests/pkg/build.sh" deb "$OUT/deb" >"$T/build-deb.out" 2>&1; then
        cat "$T/build-deb.out"
        die "building the .deb failed"
fi
deb=$(ls "$OUT"/deb/${PKG}_*.deb)
check "dpkg-buildpackage made ${deb##*/}" test -s "$deb"
info "figure: deb-size-bytes $(stat -c %s "$deb")"
info "figure: deb-installed-size-kib $(dpkg-deb -f "$deb" Installed-Size)"

lintian --pedantic --display-info "$OUT"/deb/${PKG}_*.changes >"$T/lintian.out" 2>&1 || true
grep -E '^[EWIPX]:' "$T/lintian.out" | sed 's/^/#   lintian: /' || true
check "lintian: no errors" eval '! grep -q "^E:" "$T/lintian.out"'
info "lintian warnings: $(grep -c '^W:' "$T/lintian.out" || true)"

# ---------------------------------------------------------------------------------------------------------
# Nothing may start the service here. Without systemd as PID 1 the maintainer scripts skip systemctl
# altogether ([ -d /run/systemd/system ]); a policy-rc.d that refuses every action covers the other case.
if [[ -d /run/systemd/system ]]; then
        info "systemd runs here: maintainer scripts would call deb-systemd-invoke (policy-rc.d refuses)"
else
        info "no systemd running (/run/systemd/system absent): maintainer scripts skip systemctl"
fi
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary, tests/pkg/test-packages.sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        defer rm -f /usr/sbin/policy-rc.d
fi
# Whatever happens, the package does not stay installed.
defer sh -c "dpkg-query -W $PKG >/dev/null 2>&1 && dpkg --purge $PKG >/dev/null 2>&1 || true"

# rt_tables.d/rt_protos.d names of ours present before (a hand install): kept aside, put back after.
for f in "${RT_FILES[@]}"; do
        if [[ -e $f ]]; then
                cp -a "$f" "$T/saved-${f//\//_}"
                defer cp -a "$T/saved-${f//\//_}" "$f"
                info "$f exists before the test: saved, put back at the end"
        fi
done

up_before=absent
[[ -d /etc/openvpn ]] || up_before=no-dir
[[ ! -e $UP && ! -L $UP ]] || up_before=present
# sig PATH: what PATH is (link target or content checksum), to see it untouched.
sig() { if [[ -L $1 ]]; then echo "-> $(readlink "$1")"; elif [[ -e $1 ]]; then md5sum <"$1"; else echo none; fi; }
up_sig=$(sig "$UP")
info "/etc/openvpn/up before: $up_before"

# The system user of the unit (sysusers.d) stays after purge, as Debian and systemd-sysusers leave system
# users (files it owned may remain, and a uid must not be handed out again). We take it away afterwards
# if the machine did not have it before, so that the comparison below sees the machine as it was.
user_before=$(getent passwd vpnpolicy || true)
[[ -n $user_before ]] || defer sh -c "getent passwd vpnpolicy >/dev/null && userdel vpnpolicy; true"
snapshot >"$T/before.files"
packages >"$T/before.pkgs"
daemons() { pgrep -f "^/usr/sbin/vpnpolicyd( |$)" || true; }

# ---------------------------------------------------------------------------------------------------------
info "install"
if ! "${APT[@]}" install --no-install-recommends "$deb" >"$T/install.out" 2>&1; then
        cat "$T/install.out"
        die "apt-get install $deb failed"
fi
check "dpkg: $PKG installed" eval '[[ $(dpkg-query -W -f "\${db:Status-Abbrev}" $PKG) == "ii " ]]'
dpkg -L "$PKG" >"$T/files"
for f in /usr/sbin/vpnpolicyd /usr/sbin/vpnpolicyctl "$HOOK" \
        /lib/systemd/system/vpnpolicyd.service /lib/systemd/system/vpnpolicyd.socket \
        /lib/systemd/system/openvpn-server@.service.d/vpnpolicy.conf \
        /lib/systemd/system/openvpn@.service.d/vpnpolicy.conf \
        /lib/systemd/system/wg-quick@.service.d/vpnpolicy.conf \
        /usr/share/man/man8/vpnpolicyd.8.gz /usr/share/man/man8/vpnpolicyctl.8.gz \
        /usr/share/man/man5/vpnpolicy.conf.5.gz /etc/vpnpolicy/vpnpolicy.conf \
        /usr/share/doc/vpnpolicy/README.md.gz /usr/share/doc/vpnpolicy/openvpn.md.gz \
        /usr/share/doc/vpnpolicy/copyright; do
        check "dpkg -L lists $f, and it is there" eval 'grep -qxF "$f" "$T/files" && test -e "$f"'
done
for f in /usr/sbin/vpnpolicyd /usr/sbin/vpnpolicyctl "$HOOK"; do
        check "$f is executable" test -x "$f"
done
check "the deb ships the bash completion" grep -q '^/usr/share/bash-completion/completions/vpnpolicyctl$' "$T/files"
if grep -q completion "$T/files"; then
        info "completion: $(grep completion "$T/files" | tr '\n' ' ')"
else
        info "no shell completion in this version"
fi
check "the config is a conffile" eval 'dpkg-query -W -f "\${Conffiles}\n" $PKG | grep_q "^ /etc/vpnpolicy/vpnpolicy.conf "'
check "the shipped config is the repository's example" cmp /etc/vpnpolicy/vpnpolicy.conf "$SOURCE_ROOT/packaging/vpnpolicy.conf"
check "vpnpolicyd --check-config passes on the shipped config" /usr/sbin/vpnpolicyd --check-config
check "vpnpolicyd --version is $(dpkg-deb -f "$deb" Version)" \
        eval '[[ $(/usr/sbin/vpnpolicyd --version) == "vpnpolicyd $(dpkg-deb -f "$deb" Version)" ]]'
check "vpnpolicyctl --help runs" /usr/sbin/vpnpolicyctl --help
check "the installed units name the installed daemon" grep -q '^ExecStart=/usr/sbin/vpnpolicyd$' /lib/systemd/system/vpnpolicyd.service
rc=0
out=$(systemd-analyze verify /lib/systemd/system/vpnpolicyd.service /lib/systemd/system/vpnpolicyd.socket 2>&1) || rc=$?
assert_eq "systemd-analyze verify on the installed units: exit 0, silent" "0|" "$rc|$out"
score=$(systemd-analyze security --offline=yes --no-pager /lib/systemd/system/vpnpolicyd.service 2>&1 |
        sed -n 's/.*Overall exposure level for vpnpolicyd\.service: \([0-9.]*\).*/\1/p')
check "installed unit: exposure level $score is at most 1.5" awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 1.5) }'

check "the service was not started" eval '[[ -z $(daemons) ]]'
check "the service is not enabled (no multi-user.target.wants link)" \
        test ! -e /etc/systemd/system/multi-user.target.wants/vpnpolicyd.service
check "the socket is not enabled (no sockets.target.wants link)" \
        test ! -e /etc/systemd/system/sockets.target.wants/vpnpolicyd.socket
case $up_before in
absent) check "/etc/openvpn/up was absent: now a link to the hook" eval '[[ -L $UP && $(readlink "$UP") == "$HOOK" ]]' ;;
present) assert_eq "/etc/openvpn/up was there: untouched" "$up_sig" "$(sig "$UP")" ;;
no-dir) check "no /etc/openvpn: no link made" test ! -e /etc/openvpn ;;
esac

# The names, as ExecStartPre=+ writes them on the first start: purge must take them away.
check "vpnpolicyd --install-names (as the unit's first start would)" /usr/sbin/vpnpolicyd --install-names
for f in "${RT_FILES[@]}"; do check "$f written" test -s "$f"; done

# ---------------------------------------------------------------------------------------------------------
info "remove"
"${APT[@]}" remove "$PKG" >"$T/remove.out" 2>&1 || { cat "$T/remove.out"; die "apt-get remove failed"; }
sed -n 's/^vpnpolicy: /#   remove says: /p' "$T/remove.out"
check "remove says how to tear down (vpnpolicyctl teardown, if available)" \
        grep -q 'vpnpolicyctl teardown.*if available' "$T/remove.out"
check "remove: the binaries are gone" test ! -e /usr/sbin/vpnpolicyd
check "remove: the config stays" test -f /etc/vpnpolicy/vpnpolicy.conf
check "remove: the names stay (routing stays as it is)" test -f "${RT_FILES[0]}"
[[ $up_before != absent ]] ||
        check "remove: says the /etc/openvpn/up link now dangles" grep -q "$UP still points to the removed hook" "$T/remove.out"

info "purge"
"${APT[@]}" purge "$PKG" >"$T/purge.out" 2>&1 || { cat "$T/purge.out"; die "apt-get purge failed"; }
check "purge: dpkg knows the package no more" eval '! dpkg-query -W -f "\${db:Status-Abbrev}" $PKG 2>/dev/null | grep_q "^[a-z]"'
check "purge: /etc/vpnpolicy is gone" test ! -e /etc/vpnpolicy
for f in "${RT_FILES[@]}"; do check "purge: $f is gone" test ! -e "$f"; done
case $up_before in
absent) check "purge: our /etc/openvpn/up link is gone" eval '[[ ! -e $UP && ! -L $UP ]]' ;;
present) assert_eq "purge: /etc/openvpn/up (not ours) is still there, untouched" "$up_sig" "$(sig "$UP")" ;;
esac

check "purge: the system user vpnpolicy stays (never removed, like every system user)" \
        eval '[[ $(getent passwd vpnpolicy | cut -d: -f7) == */nologin ]]'
if [[ -z $user_before ]]; then
        userdel vpnpolicy
        getent group vpnpolicy >/dev/null && groupdel vpnpolicy
fi
snapshot >"$T/after.files"
left=$(comm -13 "$T/before.files" "$T/after.files")
gone=$(comm -23 "$T/before.files" "$T/after.files")
[[ -z $left ]] || sed 's/^/#   left behind: /' <<<"$left"
[[ -z $gone ]] || sed 's/^/#   gone or changed: /' <<<"$gone"
assert_eq "after purge nothing of the package is left behind" "" "$left"
assert_eq "after purge nothing that was there before is missing or changed" "" "$gone"
assert_eq "the same packages as before" "$(cat "$T/before.pkgs")" "$(packages)"

# ---------------------------------------------------------------------------------------------------------
# The admin's own /etc/openvpn/up: never replaced, never removed.
if [[ $up_before == absent ]]; then
        info "an /etc/openvpn/up of the admin's"
        printf '#!/bin/sh\n# the admin'"'"'s own up script\nexit 0\n' >"$UP"
        chmod 0755 "$UP"
        defer rm -f "$UP"
        sum=$(md5sum <"$UP")
        dpkg -i "$deb" >"$T/install2.out" 2>&1 || { cat "$T/install2.out"; die "dpkg -i failed"; }
        check "install: the admin's /etc/openvpn/up is untouched" eval '[[ ! -L $UP && $(md5sum <"$UP") == "$sum" ]]'
        dpkg --purge "$PKG" >"$T/purge2.out" 2>&1 || { cat "$T/purge2.out"; die "dpkg --purge failed"; }
        check "purge: the admin's /etc/openvpn/up is still there, untouched" eval '[[ ! -L $UP && $(md5sum <"$UP") == "$sum" ]]'
        rm -f "$UP"
fi

# ---------------------------------------------------------------------------------------------------------
if command -v rpmbuild >/dev/null; then
        info "building the .rpm (Debian's rpm: tests/pkg/rpm-macros, --nodeps)"
        if bash "$SOURCE_ROOT/tests/pkg/build.sh" rpm "$OUT/rpm" >"$T/build-rpm.out" 2>&1; then
                rpm=$(ls "$OUT"/rpm/${PKG}-*.rpm)
                check "rpmbuild made ${rpm##*/}" test -s "$rpm"
                info "figure: rpm-size-bytes $(stat -c %s "$rpm")"
                rpm -qlp "$rpm" 2>/dev/null >"$T/rpm-files"
                sed 's/^/#   rpm -qlp: /' "$T/rpm-files" | grep -v '/\.build-id' || true
                unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
                for f in /usr/sbin/vpnpolicyd /usr/sbin/vpnpolicyctl "$HOOK" \
                        "$unitdir/vpnpolicyd.service" "$unitdir/vpnpolicyd.socket" \
                        "$unitdir/openvpn-server@.service.d/vpnpolicy.conf" "$unitdir/openvpn@.service.d/vpnpolicy.conf" \
                        "$unitdir/wg-quick@.service.d/vpnpolicy.conf" \
                        /usr/share/man/man8/vpnpolicyd.8 /usr/share/man/man8/vpnpolicyctl.8 \
                        /usr/share/man/man5/vpnpolicy.conf.5 /etc/vpnpolicy/vpnpolicy.conf \
                        /usr/share/bash-completion/completions/vpnpolicyctl; do
                        check "rpm -qlp lists $f" grep -qE "^$f(\.gz)?$" "$T/rpm-files"
                done
                check "rpm: the config is %config(noreplace)" \
                        eval '[[ $(rpm -qp --qf "[%{FILENAMES} %{FILEFLAGS:fflags}\n]" "$rpm" 2>/dev/null | grep "^/etc/vpnpolicy/vpnpolicy.conf ") == *n* ]]'
                rpm -qp --scripts "$rpm" >"$T/rpm-scripts" 2>/dev/null
                check "rpm scriptlets: /etc/openvpn/up made only if absent" grep -q '\[ ! -e /etc/openvpn/up \] && \[ ! -L /etc/openvpn/up \]' "$T/rpm-scripts"
                check "rpm scriptlets: removed on erase only if still ours" grep -q 'readlink /etc/openvpn/up)" = "'"$HOOK"'"' "$T/rpm-scripts"
                check "rpm scriptlets: systemd preset/disable/try-restart" eval \
                        'grep -q "preset\|install-system-units" "$T/rpm-scripts" && grep -q "disable --now" "$T/rpm-scripts" && grep -q try-restart "$T/rpm-scripts"'
        else
                cat "$T/build-rpm.out"
                check "rpmbuild -bb packaging/rpm/vpnpolicy.spec" false
        fi
else
        info "rpmbuild is missing: the .rpm is not built (tests/run.sh installs rpm)"
fi

finish
