# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/lib/nspawn.sh: boot this machine's own OS (the real systemd) in systemd-nspawn inside a network
# namespace of the test, with the build's binaries, and run commands in it from outside. Source it after
# common.sh; call nspawn_boot in the main shell (it registers the cleanup).
#
#   nspawn_prepare                        # $T/sys (-> /etc/systemd/system), $T/lib (overlay on
#                                         # /usr/lib/systemd/system: units as the package installs them)
#   nspawn_unit vpnpolicyd.service        # units/X, binary paths pointed at /opt/vpt (also drop-ins: DIR/FILE)
#   nspawn_enable multi-user.target vpnpolicyd.service
#   nspawn_boot "$NS" --bind="$T/vpnpolicy:/etc/vpnpolicy"
#   cin systemctl is-active vpnpolicyd
#
# The container: --volatile=yes (a tmpfs root, the host's /usr read-only, an empty /etc but for what is
# bound), --network-namespace-path= of NS with CAP_NET_ADMIN (nspawn grants it only with a private
# network of its own making), /etc/iproute2 from $T/iproute2, the build's vpnpolicyd, vpnpolicyctl and
# hook under /opt/vpt, /dev/net/tun. Skips the test (exit 77) when systemd-nspawn is missing or the
# container does not boot here. At the end (also on failure) the journal goes to $T/journal.txt and
# the container is powered off (killed after 15 s).

[[ -n ${_VPT_SOURCED:-} ]] || { echo "nspawn.sh: source common.sh first" >&2; exit 1; }
[[ -n ${_NSPAWN_SOURCED:-} ]] && return 0
_NSPAWN_SOURCED=1

command -v systemd-nspawn >/dev/null || skip_test "systemd-nspawn is missing (package systemd-container)"
command -v nsenter >/dev/null || skip_test "nsenter is missing (util-linux)"
[[ -x /lib/systemd/systemd || -x /usr/lib/systemd/systemd ]] || skip_test "no systemd to boot"
NSPAWN_HOOK=${HOOK:-$BUILD/hooks/vpnpolicy-openvpn-up}
NSPAWN_PID=
CPID=

nspawn_prepare() {
        mkdir -p "$T/sys" "$T/lib" "$T/iproute2/rt_tables.d" "$T/iproute2/rt_protos.d" || return 1
        printf '#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n' >"$T/iproute2/rt_tables"
        # Nothing else of this machine's enabled services (the bind hides /etc/systemd/system), no wizard.
        ln -sf /dev/null "$T/sys/systemd-firstboot.service"
        # For a sanitizer build (build-asan): LeakSanitizer needs ptrace, which SystemCallFilter= denies.
        mkdir -p "$T/sys/vpnpolicyd.service.d"
        printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$T/sys/vpnpolicyd.service.d/asan.conf"
}

# nspawn_unit PATH: units/PATH into the overlay, where the package puts it, binaries from the build.
nspawn_unit() {
        mkdir -p "$(dirname "$T/lib/$1")" &&
                sed -e 's|/usr/sbin/vpnpolicyd|/opt/vpt/agent/vpnpolicyd|g' \
                        -e 's|/usr/sbin/vpnpolicyctl|/opt/vpt/ctl/vpnpolicyctl|g' "$SOURCE_ROOT/units/$1" >"$T/lib/$1"
}

# nspawn_enable TARGET UNIT [AS]: enabled for TARGET (UNIT in /usr/lib/systemd/system, AS its instance name).
nspawn_enable() {
        mkdir -p "$T/sys/$1.wants" && ln -sf "/usr/lib/systemd/system/$2" "$T/sys/$1.wants/${3:-$2}"
}

_nspawn_find_pid() {
        local p inode
        inode=$(stat -L -c %i "/run/netns/$1") || return 1
        for p in /proc/[0-9]*; do
                [[ $(readlink "$p/ns/net" 2>/dev/null) == "net:[$inode]" ]] || continue
                grep -qE '^NSpid:.*\s1$' "$p/status" 2>/dev/null || continue
                CPID=${p#/proc/}
                return 0
        done
        return 1
}

# cin CMD...: CMD inside the container (its mount, pid, ipc, uts and network namespaces).
cin() { nsenter -t "$CPID" -m -u -i -n -p -- env PATH=/opt/vpt/ctl:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# cshow UNIT PROPERTY: one property of a unit in the container
cshow() { cin systemctl show -p "$2" --value "$1"; }

# The manager answers (the boot may go on: a unit may be waiting).
_nspawn_manager_up() { [[ $(cin systemctl is-system-running 2>/dev/null) =~ ^(starting|running|degraded)$ ]]; }

_nspawn_down() {
        [[ -n $NSPAWN_PID ]] && _vpt_alive "$NSPAWN_PID" || return 0
        if [[ -n $CPID ]]; then
                cin journalctl -q -b --no-pager -o short-monotonic >"$T/journal.txt" 2>&1 || true
                cin systemctl poweroff --no-block >/dev/null 2>&1 || true
        fi
        wait_until 15000 _vpt_dead "$NSPAWN_PID" || kill -KILL ${CPID:+"$CPID"} "$NSPAWN_PID" 2>/dev/null || true
}

# nspawn_boot NS [NSPAWN ARGS...]: boot in NS; returns once the container's systemd answers (sets CPID,
# NSPAWN_PID, NSPAWN_BOOT_MS).
nspawn_boot() {
        local ns=$1 d t0
        shift
        # nspawn leaves empty directories in /run/systemd: take away those it made (if still empty).
        for d in /run/systemd/nspawn /run/systemd/nspawn/propagate /run/systemd/nspawn-root; do  # undone LIFO
                [[ -e $d ]] || defer rmdir --ignore-fail-on-non-empty "$d"
        done
        [[ -e /run/systemd ]] || defer rmdir --ignore-fail-on-non-empty /run/systemd
        chmod -R go+rX "$T/sys" "$T/lib" "$T/iproute2"
        t0=$(now_ms)
        timeout --kill-after=10 "${NSPAWN_TIMEOUT:-250}" systemd-nspawn -q --register=no --keep-unit -D / --volatile=yes \
                --network-namespace-path="/run/netns/$ns" --capability=CAP_NET_ADMIN \
                --overlay-ro="/usr/lib/systemd/system:$T/lib:/usr/lib/systemd/system" \
                --bind-ro="$T/sys:/etc/systemd/system" --bind="$T/iproute2:/etc/iproute2" \
                --bind-ro="$(dirname "$VPNPOLICYD"):/opt/vpt/agent" --bind-ro="$(dirname "$VPNPOLICYCTL"):/opt/vpt/ctl" \
                --bind-ro="$(dirname "$NSPAWN_HOOK"):/opt/vpt/hooks" --bind=/dev/net/tun \
                --bind-ro="$SOURCE_ROOT/units/sysusers-vpnpolicy.conf:/etc/sysusers.d/vpnpolicy.conf" "$@" \
                -b systemd.unit=multi-user.target systemd.firstboot=off systemd.show_status=false \
                </dev/null >"$T/boot.log" 2>&1 &
        NSPAWN_PID=$!
        register_pid "$NSPAWN_PID"
        defer _nspawn_down
        if ! wait_until 20000 _nspawn_find_pid "$ns" || ! wait_until 30000 _nspawn_manager_up; then
                if ! _vpt_alive "$NSPAWN_PID"; then
                        sed 's/^/#   boot: /' "$T/boot.log" | tail -n 30
                        skip_test "the container did not boot here"
                fi
                die "the container's systemd did not answer in 30 s: $(cin systemctl is-system-running 2>&1 || true)"
        fi
        NSPAWN_BOOT_MS=$(($(now_ms) - t0))
        info "booted in $NSPAWN_BOOT_MS ms: $(cin systemctl --version | head -n1)"
}
